/* avx2_common.h: small AVX2 helpers shared by kernels_avx2.c and kquants_avx2.c (included only
 * by files compiled with the AVX2 flags). */
#ifndef MX_AVX2_COMMON_H
#define MX_AVX2_COMMON_H

#include <immintrin.h>

/* (a0+a4 + a2+a6) + (a1+a5 + a3+a7): the reference's lane reduction. */
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

/* The exact int32 sums of four vectors of 8 lanes, sum of l_r into lane r: a 4 x 4 transpose
 * by unpacks and adds per 128-bit half, then the halves (10-14% faster than three horizontal
 * adds in the four-row kernels, measured with 4 tokens). */
static inline __m128i sum4_epi32(__m256i l0, __m256i l1, __m256i l2, __m256i l3) {
    const __m256i s01 = _mm256_add_epi32(_mm256_unpacklo_epi32(l0, l1), _mm256_unpackhi_epi32(l0, l1));
    const __m256i s23 = _mm256_add_epi32(_mm256_unpacklo_epi32(l2, l3), _mm256_unpackhi_epi32(l2, l3));
    const __m256i h = _mm256_add_epi32(_mm256_unpacklo_epi64(s01, s23), _mm256_unpackhi_epi64(s01, s23));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

#endif
