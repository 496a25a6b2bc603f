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

/* d * q is exact in f32, so this equals the F32 dot of the dequantised row (see the reference). */
static float dot_q8_0_avx2(const void *row, const float *x, int64_t n) {
    const mx_block_q8_0 *b = row;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < n / MX_QK8_0; ib++) {
        const float *xb = x + ib * MX_QK8_0;
        const __m256 d = _mm256_set1_ps(mx_f16_to_f32(b[ib].d));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(d, load_i8x8(b[ib].qs)), _mm256_loadu_ps(xb), acc);
        acc = _mm256_fmadd_ps(_mm256_mul_ps(d, load_i8x8(b[ib].qs + 8)), _mm256_loadu_ps(xb + 8), acc);
        acc = _mm256_fmadd_ps(_mm256_mul_ps(d, load_i8x8(b[ib].qs + 16)), _mm256_loadu_ps(xb + 16), acc);
        acc = _mm256_fmadd_ps(_mm256_mul_ps(d, load_i8x8(b[ib].qs + 24)), _mm256_loadu_ps(xb + 24), acc);
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

/* ---- f32 tile product: 4 rows x 3 tokens in registers ----------------------------------- */

/* Every (row, token) pair keeps its own 8-lane accumulator fed in the same order as
 * dot_f32_avx2, so each output equals that dot bit for bit; blocking only saves loads. */
static void gemm_f32_avx2(const float *w, int64_t ws, int nr, const float *x, int64_t xs, int nt,
                          float *y, int64_t ys, int64_t n) {
    const int64_t n8 = n & ~(int64_t)7;
    int r = 0;
    for (; r + 4 <= nr; r += 4) {
        int t = 0;
        for (; t + 3 <= nt; t += 3) {
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00,
                   a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
            const float *w0 = w + r * ws, *w1 = w0 + ws, *w2 = w1 + ws, *w3 = w2 + ws;
            const float *x0 = x + t * xs, *x1 = x0 + xs, *x2 = x1 + xs;
            for (int64_t k = 0; k < n8; k += 8) {
                const __m256 v0 = _mm256_loadu_ps(x0 + k), v1 = _mm256_loadu_ps(x1 + k),
                             v2 = _mm256_loadu_ps(x2 + k);
                __m256 c = _mm256_loadu_ps(w0 + k);
                a00 = _mm256_fmadd_ps(c, v0, a00);
                a01 = _mm256_fmadd_ps(c, v1, a01);
                a02 = _mm256_fmadd_ps(c, v2, a02);
                c = _mm256_loadu_ps(w1 + k);
                a10 = _mm256_fmadd_ps(c, v0, a10);
                a11 = _mm256_fmadd_ps(c, v1, a11);
                a12 = _mm256_fmadd_ps(c, v2, a12);
                c = _mm256_loadu_ps(w2 + k);
                a20 = _mm256_fmadd_ps(c, v0, a20);
                a21 = _mm256_fmadd_ps(c, v1, a21);
                a22 = _mm256_fmadd_ps(c, v2, a22);
                c = _mm256_loadu_ps(w3 + k);
                a30 = _mm256_fmadd_ps(c, v0, a30);
                a31 = _mm256_fmadd_ps(c, v1, a31);
                a32 = _mm256_fmadd_ps(c, v2, a32);
            }
            const __m256 acc[4][3] = {{a00, a01, a02}, {a10, a11, a12}, {a20, a21, a22}, {a30, a31, a32}};
            const float *wr[4] = {w0, w1, w2, w3}, *xr[3] = {x0, x1, x2};
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 3; j++) {
                    float s = hsum8(acc[i][j]);
                    for (int64_t k = n8; k < n; k++) s += wr[i][k] * xr[j][k];
                    y[(t + j) * ys + r + i] = s;
                }
        }
        for (; t < nt; t++)
            for (int i = 0; i < 4; i++) y[t * ys + r + i] = dot_f32_avx2(w + (r + i) * ws, x + t * xs, n);
    }
    for (; r < nr; r++)
        for (int t = 0; t < nt; t++) y[t * ys + r] = dot_f32_avx2(w + r * ws, x + t * xs, n);
}

mx_gemm_f32_fn mx_gemm_f32_avx2_fn(void) { return gemm_f32_avx2; }

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
