/* kernels_avx2.c: AVX2 + FMA + F16C siblings of the reference kernels (compiled with those
 * flags only; used after a CPUID check). Each keeps the reference's 8-lane accumulation order,
 * so results differ from the reference only by fused multiply-add rounding. */
#include "engine/kernels/kernels.h"
#include "engine/kernels/kquants.h"

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

/* Q8_0 activation quantisation, bit-identical to the reference: per block the absmax (max is
 * exact in any order), d = absmax / 127 and 1 / d in scalar f32 as the reference computes them,
 * then each x * (1 / d) rounded half away from zero (roundf: truncate, then step away from zero
 * when the exact remainder is >= 0.5), clamped to +-127. */
static void from_f32_q8_0_avx2(const float *x, void *row, int64_t n) {
    mx_block_q8_0 *b = row;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 signmask = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t ib = 0; ib < n / MX_QK8_0; ib++) {
        const float *xb = x + ib * MX_QK8_0;
        __m256 v[4];
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(xb + 8 * i);
        const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], absmask), _mm256_and_ps(v[1], absmask)),
                                       _mm256_max_ps(_mm256_and_ps(v[2], absmask), _mm256_and_ps(v[3], absmask)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        const float amax = _mm_cvtss_f32(h);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[ib].d = mx_f32_to_f16(d);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; i++) {
            const __m256 s = _mm256_mul_ps(v[i], vid);
            __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 away = _mm256_cmp_ps(_mm256_and_ps(_mm256_sub_ps(s, t), absmask), half, _CMP_GE_OQ);
            t = _mm256_add_ps(t, _mm256_and_ps(away, _mm256_or_ps(_mm256_and_ps(s, signmask), one)));
            t = _mm256_min_ps(_mm256_max_ps(t, lo), hi);
            q[i] = _mm256_cvttps_epi32(t);
        }
        /* packs work within 128-bit halves; the permute puts the four groups of 8 back in order */
        const __m256i q16a = _mm256_packs_epi32(q[0], q[1]), q16b = _mm256_packs_epi32(q[2], q[3]);
        const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b), perm);
        _mm256_storeu_si256((__m256i *)b[ib].qs, q8);
    }
}

/* ---- Q8_0 x Q8_0: the integer path ------------------------------------------------------ */

/* The 32 int8 x int8 products of a block as 8 int32 lanes (lane j = elements 4j..4j+3), then
 * f32: maddubs needs an unsigned first operand, so it multiplies |w| by x carrying w's sign
 * (the sign trick). Exact: |pair sum| <= 2 * 128 * 127 < 2^15 does not saturate, as long as
 * x holds no -128 (this type's from_f32 clamps to +-127). */
static inline __m256 q8_0_block_sums(__m256i qw, __m256i aw, __m256i qx) {
    const __m256i s16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(qx, qw));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
}
static inline __m256i q8_0_load(const mx_block_q8_0 *b) {
    return _mm256_loadu_si256((const __m256i *)b->qs);
}
static inline __m256 q8_0_scale(const mx_block_q8_0 *b) {
    return _mm256_set1_ps(_cvtsh_ss(b->d));
}

/* The reference's operations: per block acc += (d_w * d_x) * sums as a multiply then an add. */
static float dot_q_q8_0_avx2(const void *row, const void *xq, int64_t n) {
    const mx_block_q8_0 *w = row, *x = xq;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < n / MX_QK8_0; ib++) {
        const __m256i qw = q8_0_load(&w[ib]);
        const __m256 p = q8_0_block_sums(qw, _mm256_sign_epi8(qw, qw), q8_0_load(&x[ib]));
        const __m256 d = _mm256_mul_ps(q8_0_scale(&w[ib]), q8_0_scale(&x[ib]));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(d, p));
    }
    return hsum8(acc);
}

/* Register tile of RR weight rows x TT tokens: per block each row's |w| and each token's bytes
 * are loaded once and reused across the tile; every (row, token) pair keeps its own accumulator
 * fed exactly as dot_q_q8_0_avx2 feeds its one, so each result equals that dot bit for bit. */
static inline __attribute__((always_inline)) void
q8_0_tile(const uint8_t *w, uint64_t rb, const uint8_t *x, uint64_t xb, float *y, int64_t ys,
          int64_t nb, const int RR, const int TT) {
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < RR; r++)
#pragma GCC unroll 4
        for (int t = 0; t < TT; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < nb; ib++) {
        __m256i qx[4];
        __m256 dx[4];
#pragma GCC unroll 4
        for (int t = 0; t < TT; t++) {
            const mx_block_q8_0 *bx = (const mx_block_q8_0 *)(x + (uint64_t)t * xb) + ib;
            qx[t] = q8_0_load(bx);
            dx[t] = q8_0_scale(bx);
        }
#pragma GCC unroll 4
        for (int r = 0; r < RR; r++) {
            const mx_block_q8_0 *bw = (const mx_block_q8_0 *)(w + (uint64_t)r * rb) + ib;
            const __m256i qw = q8_0_load(bw), aw = _mm256_sign_epi8(qw, qw);
            const __m256 dw = q8_0_scale(bw);
#pragma GCC unroll 4
            for (int t = 0; t < TT; t++) {
                const __m256 p = q8_0_block_sums(qw, aw, qx[t]);
                acc[r][t] = _mm256_add_ps(acc[r][t], _mm256_mul_ps(_mm256_mul_ps(dw, dx[t]), p));
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RR; r++)
#pragma GCC unroll 4
        for (int t = 0; t < TT; t++) y[t * ys + r] = hsum8(acc[r][t]);
}

#define Q8_0_TILE(R, T)                                                                          \
    static void q8_0_tile_##R##x##T(const uint8_t *w, uint64_t rb, const uint8_t *x,             \
                                    uint64_t xb, float *y, int64_t ys, int64_t nb) {             \
        q8_0_tile(w, rb, x, xb, y, ys, nb, R, T);                                                \
    }
Q8_0_TILE(1, 1) Q8_0_TILE(1, 2) Q8_0_TILE(1, 3) Q8_0_TILE(1, 4)
Q8_0_TILE(2, 1) Q8_0_TILE(2, 2) Q8_0_TILE(2, 3) Q8_0_TILE(2, 4)
Q8_0_TILE(3, 1) Q8_0_TILE(3, 2) Q8_0_TILE(3, 3) Q8_0_TILE(3, 4)
Q8_0_TILE(4, 1) Q8_0_TILE(4, 2) Q8_0_TILE(4, 3) Q8_0_TILE(4, 4)
#undef Q8_0_TILE

typedef void (*q8_0_tile_fn)(const uint8_t *, uint64_t, const uint8_t *, uint64_t, float *, int64_t, int64_t);
static const q8_0_tile_fn g_q8_0_tiles[4][4] = {
    {q8_0_tile_1x1, q8_0_tile_1x2, q8_0_tile_1x3, q8_0_tile_1x4},
    {q8_0_tile_2x1, q8_0_tile_2x2, q8_0_tile_2x3, q8_0_tile_2x4},
    {q8_0_tile_3x1, q8_0_tile_3x2, q8_0_tile_3x3, q8_0_tile_3x4},
    {q8_0_tile_4x1, q8_0_tile_4x2, q8_0_tile_4x3, q8_0_tile_4x4},
};
/* The main tile (rows x tokens); edges use the smaller tiles. */
#ifndef MX_Q8_0_RR
#define MX_Q8_0_RR 4
#endif
#ifndef MX_Q8_0_TT
#define MX_Q8_0_TT 2
#endif

/* Token groups outside, row groups inside: a group's activation blocks stay in L1 while the
 * caller's panel of rows (sized for L2 by the engine) streams past them. */
static void gemm_q_q8_0_avx2(const void *w, uint64_t rb, int nr, const void *xq, uint64_t xb,
                             int nt, float *y, int64_t ys, int64_t n) {
    const int64_t nb = n / MX_QK8_0;
    for (int t = 0; t < nt; t += MX_Q8_0_TT) {
        const int tt = MX_MIN(MX_Q8_0_TT, nt - t);
        for (int r = 0; r < nr; r += MX_Q8_0_RR) {
            const int rr = MX_MIN(MX_Q8_0_RR, nr - r);
            g_q8_0_tiles[rr - 1][tt - 1]((const uint8_t *)w + (uint64_t)r * rb, rb,
                                         (const uint8_t *)xq + (uint64_t)t * xb, xb,
                                         y + (int64_t)t * ys + r, ys, nb);
        }
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

/* ---- gated activations ------------------------------------------------------------------ */

/* e^x for x <= 88: n = round(x log2 e), r = x - n ln 2 in two steps (Cody-Waite; r in
 * [-0.35, 0.35]), e^r by its Taylor polynomial to degree 7 (truncation < 1e-8 relative), times
 * 2^n built in the exponent bits. Below -87 the result is clamped to e^-87 (callers add 1). */
static inline __m256 exp_avx2(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3). */
static void gelu_tanh_mul_avx2(float *a, const float *b, int64_t n) {
    const __m256 c2 = _mm256_set1_ps(-2.0f * 0.7978845608028654f), k = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(a + i);
        const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        const __m256 z = _mm256_mul_ps(c2, _mm256_fmadd_ps(k, x3, x));
        const __m256 g = _mm256_div_ps(x, _mm256_add_ps(one, exp_avx2(z)));
        _mm256_storeu_ps(a + i, _mm256_mul_ps(g, _mm256_loadu_ps(b + i)));
    }
    if (i < n) mx_gelu_tanh_mul(a + i, b + i, n - i);
}

static void silu_mul_avx2(float *a, const float *b, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(a + i);
        const __m256 g = _mm256_div_ps(x, _mm256_add_ps(one, exp_avx2(_mm256_xor_ps(x, neg))));
        _mm256_storeu_ps(a + i, _mm256_mul_ps(g, _mm256_loadu_ps(b + i)));
    }
    if (i < n) mx_silu_mul(a + i, b + i, n - i);
}

mx_act_mul_fn mx_gelu_tanh_mul_avx2_fn(void) { return gelu_tanh_mul_avx2; }
mx_act_mul_fn mx_silu_mul_avx2_fn(void) { return silu_mul_avx2; }

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
    t[MX_TYPE_Q8_0].from_f32 = from_f32_q8_0_avx2;
    t[MX_TYPE_Q8_0].dot_q = dot_q_q8_0_avx2;
    t[MX_TYPE_Q8_0].gemm_q = gemm_q_q8_0_avx2;
    mx_kquants_avx2_fill(t); /* Q4_0, K-quants, Q8_K: kquants_avx2.c */
}
