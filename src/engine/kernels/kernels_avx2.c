/* kernels_avx2.c: AVX2 + FMA + F16C siblings of the reference kernels (compiled with those
 * flags only; used after a CPUID check). Each keeps the reference's 8-lane accumulation order,
 * so results differ from the reference only by fused multiply-add rounding. */
#include "engine/kernels/kernels.h"

#include "common/util.h"

#include <immintrin.h>

/* ---- one-line helpers ------------------------------------------------------------------ */

/* (a0+a4 + a2+a6) + (a1+a5 + a3+a7): the reference's lane reduction. */
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}
static inline __m256 load_f16x8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
static inline __m256 load_bf16x8(const uint16_t *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
static inline __m256 load_i8x8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* ---- F32 ------------------------------------------------------------------------------- */

static float dot_f32_avx2(const void *row, const float *x, int64_t n) {
    const float *w = row;
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), acc);
    float s = hsum8(acc);
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}
static void axpy_f32_avx2(float a, const void *row, float *y, int64_t n) {
    const float *w = row;
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(w + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * w[i];
}

/* ---- F16 ------------------------------------------------------------------------------- */

static float dot_f16_avx2(const void *row, const float *x, int64_t n) {
    const uint16_t *w = row;
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(x + i), acc);
    float s = hsum8(acc);
    for (; i < n; i++) s += mx_f16_to_f32(w[i]) * x[i];
    return s;
}
static void to_f32_f16_avx2(const void *row, float *out, int64_t n) {
    const uint16_t *w = row;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_f16x8(w + i));
    for (; i < n; i++) out[i] = mx_f16_to_f32(w[i]);
}
static void from_f32_f16_avx2(const float *x, void *row, int64_t n) {
    uint16_t *w = row;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(w + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) w[i] = mx_f32_to_f16(x[i]);
}
static void axpy_f16_avx2(float a, const void *row, float *y, int64_t n) {
    const uint16_t *w = row;
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_f16x8(w + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * mx_f16_to_f32(w[i]);
}

/* ---- BF16 ------------------------------------------------------------------------------ */

static float dot_bf16_avx2(const void *row, const float *x, int64_t n) {
    const uint16_t *w = row;
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), acc);
    float s = hsum8(acc);
    for (; i < n; i++) s += mx_bf16_to_f32(w[i]) * x[i];
    return s;
}
static void to_f32_bf16_avx2(const void *row, float *out, int64_t n) {
    const uint16_t *w = row;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_bf16x8(w + i));
    for (; i < n; i++) out[i] = mx_bf16_to_f32(w[i]);
}

static void axpy_bf16_avx2(float a, const void *row, float *y, int64_t n) {
    const uint16_t *w = row;
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_bf16x8(w + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * mx_bf16_to_f32(w[i]);
}

/* ---- Q8_0 ------------------------------------------------------------------------------ */

static float dot_q8_0_avx2(const void *row, const float *x, int64_t n) {
    const mx_block_q8_0 *b = row;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < n / MX_QK8_0; ib++) {
        const float *xb = x + ib * MX_QK8_0;
        __m256 bs = _mm256_mul_ps(load_i8x8(b[ib].qs), _mm256_loadu_ps(xb));
        bs = _mm256_fmadd_ps(load_i8x8(b[ib].qs + 8), _mm256_loadu_ps(xb + 8), bs);
        bs = _mm256_fmadd_ps(load_i8x8(b[ib].qs + 16), _mm256_loadu_ps(xb + 16), bs);
        bs = _mm256_fmadd_ps(load_i8x8(b[ib].qs + 24), _mm256_loadu_ps(xb + 24), bs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(mx_f16_to_f32(b[ib].d)), bs, acc);
    }
    return hsum8(acc);
}
static void to_f32_q8_0_avx2(const void *row, float *out, int64_t n) {
    const mx_block_q8_0 *b = row;
    for (int64_t ib = 0; ib < n / MX_QK8_0; ib++) {
        const __m256 d = _mm256_set1_ps(mx_f16_to_f32(b[ib].d));
        for (int i = 0; i < MX_QK8_0; i += 8)
            _mm256_storeu_ps(out + ib * MX_QK8_0 + i, _mm256_mul_ps(d, load_i8x8(b[ib].qs + i)));
    }
}

void mx_kernels_avx2_fill(mx_type_kernels *t) {
    t[MX_TYPE_F32].dot = dot_f32_avx2;
    t[MX_TYPE_F32].axpy = axpy_f32_avx2;
    t[MX_TYPE_F16].dot = dot_f16_avx2;
    t[MX_TYPE_F16].to_f32 = to_f32_f16_avx2;
    t[MX_TYPE_F16].from_f32 = from_f32_f16_avx2;
    t[MX_TYPE_F16].axpy = axpy_f16_avx2;
    t[MX_TYPE_BF16].dot = dot_bf16_avx2;
    t[MX_TYPE_BF16].to_f32 = to_f32_bf16_avx2;
    t[MX_TYPE_BF16].axpy = axpy_bf16_avx2;
    t[MX_TYPE_Q8_0].dot = dot_q8_0_avx2;
    t[MX_TYPE_Q8_0].to_f32 = to_f32_q8_0_avx2;
}
