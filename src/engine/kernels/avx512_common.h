/* avx512_common.h: pieces shared by the AVX-512 kernel files (kernels_avx512.c,
 * kquants_avx512.c), which include it after avx2_common.h and are compiled with the AVX-512
 * flags. */
#ifndef MX_AVX512_COMMON_H
#define MX_AVX512_COMMON_H

#include "engine/kernels/avx2_common.h"

/* Decode and small batches of the 32-element block types (Q8_0, Q4_0, Q5_0): eight rows
 * against up to four Q8_0 tokens, bound by memory bandwidth when the kernel keeps up with it.
 *
 * levels2(a, b) gives the unsigned levels u of the blocks at a (lanes 0-7 of the 512-bit
 * vector, as 32 bytes) and at b (lanes 8-15), where the type's level is u - bias (Q8_0: w + 128
 * by an exclusive or of the sign bit, bias 128; Q4_0: the nibbles, bias 8; Q5_0: the nibbles
 * and the fifth bit, bias 16). A vector holds one block of rows r and r + 4. Per block and token
 * vpdpbusd adds the four products of each lane's u with the token's signed bytes, starting from
 * -bias times the token's bytes summed in the same lanes (one vpdpbusd of the bias with the
 * token's bytes, made once per block for all eight rows), so after the block every lane holds
 * its exact share of P = sum (u - bias) x. A 4 x 4 transpose per 128-bit quarter and one add
 * of quarters then give P of the eight rows in eight lanes, and lane r takes
 * acc = acc + (d_w d_x) * P: dot_q's operations, the same bits. The next eight rows (one
 * contiguous range) are fetched linearly a fixed distance ahead, as the AVX2 four-row kernel
 * does for four. Every block starts with its f16 scale. */
#define ROWS8_PREFETCH 1024
static inline __attribute__((always_inline)) void
rows8_levels(__m512i (*levels2)(const uint8_t *, const uint8_t *), const int bias, const size_t bsz,
             const uint8_t *w, uint64_t rb, const uint8_t *xq, uint64_t xb, int64_t nb, float *out,
             int64_t ys, const int nt) {
    const char *pf = (const char *)w + 8 * rb + ROWS8_PREFETCH; /* prefetches never fault */
    const __m256i vbias = _mm256_set1_epi8((char)bias), zero = _mm256_setzero_si256();
    __m256 acc[4];
#pragma GCC unroll 4
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < nb; ib++, pf += 8 * bsz) {
#pragma GCC unroll 5
        for (size_t o = 0; o < 8 * bsz; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
        const uint8_t *blk = w + (size_t)ib * bsz;
        __m512i wu[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) wu[r] = levels2(blk + r * rb, blk + (r + 4) * rb);
        /* the eight rows' scales (eight scalar loads: a vpgatherdd made the kernel a third slower) */
        const __m256 dw = _mm256_cvtph_ps(_mm_setr_epi16((short)block_scale(blk), (short)block_scale(blk + rb),
                                                         (short)block_scale(blk + 2 * rb), (short)block_scale(blk + 3 * rb),
                                                         (short)block_scale(blk + 4 * rb), (short)block_scale(blk + 5 * rb),
                                                         (short)block_scale(blk + 6 * rb), (short)block_scale(blk + 7 * rb)));
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            const mx_block_q8_0 *x = (const mx_block_q8_0 *)(xq + (uint64_t)t * xb) + ib;
            const __m256i qx = _mm256_loadu_si256((const __m256i *)x->qs);
            const __m256i c = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, vbias, qx));
            const __m512i qx2 = _mm512_broadcast_i64x4(qx), c2 = _mm512_broadcast_i64x4(c);
            __m512i l[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) l[r] = _mm512_dpbusd_epi32(c2, wu[r], qx2);
            /* after the transpose, 128-bit quarters 0 and 1 hold partial sums of rows 0-3,
             * quarters 2 and 3 those of rows 4-7 */
            const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(l[0], l[1]), _mm512_unpackhi_epi32(l[0], l[1]));
            const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(l[2], l[3]), _mm512_unpackhi_epi32(l[2], l[3]));
            const __m512i h = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
            /* quarters (0, 2) + (1, 3): rows 0-3 then 4-7 */
            const __m512i hs = _mm512_add_epi32(h, _mm512_shuffle_i64x2(h, h, 0xB1));
            const __m256i p = _mm512_castsi512_si256(_mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 4, 5, 0, 1, 4, 5), hs));
            const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(x->d)));
            acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(d, _mm256_cvtepi32_ps(p)));
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < nt; t++) _mm256_storeu_ps(out + t * ys, acc[t]);
}

/* The row functions of rows8_levels for 1..4 tokens, and the table `name` of them. */
typedef void (*rows8_fn)(const uint8_t *w, uint64_t rb, const uint8_t *xq, uint64_t xb, int64_t nb,
                         float *out, int64_t ys);
#define ROWS8_FN(name, levels2, bias, bsz, T)                                                        \
    static void name##_##T(const uint8_t *w, uint64_t rb, const uint8_t *xq, uint64_t xb, int64_t nb,  \
                           float *out, int64_t ys) {                                                 \
        rows8_levels(levels2, bias, bsz, w, rb, xq, xb, nb, out, ys, T);                              \
    }
#define ROWS8_FNS(name, levels2, bias, bsz)                                                          \
    ROWS8_FN(name, levels2, bias, bsz, 1)                                                            \
    ROWS8_FN(name, levels2, bias, bsz, 2)                                                            \
    ROWS8_FN(name, levels2, bias, bsz, 3)                                                            \
    ROWS8_FN(name, levels2, bias, bsz, 4)                                                            \
    static const rows8_fn name[4] = {name##_1, name##_2, name##_3, name##_4};

/* y = the product of rows 0 .. nr/8*8 - 1 with nt tokens (four at a time) by a ROWS8_FNS
 * table; the rows past the last whole eight by `below` (the AVX2 set's gemm_q). */
static inline void rows8_gemm(const rows8_fn fns[4], mx_gemm_q_fn below, const void *w, uint64_t rb, int nr,
                              const void *xq, uint64_t xb, int nt, float *y, int64_t ys, int64_t n) {
    const int r8 = nr / 8 * 8;
    for (int t0 = 0; t0 < nt; t0 += 4) {
        const int tn = MX_MIN(4, nt - t0);
        const uint8_t *xt = (const uint8_t *)xq + (uint64_t)t0 * xb;
        for (int r = 0; r < r8; r += 8) fns[tn - 1]((const uint8_t *)w + (uint64_t)r * rb, rb, xt, xb, n / 32, y + t0 * ys + r, ys);
    }
    if (r8 < nr) below((const uint8_t *)w + (uint64_t)r8 * rb, rb, nr - r8, xq, xb, nt, y + r8, ys, n);
}

#endif /* MX_AVX512_COMMON_H */
