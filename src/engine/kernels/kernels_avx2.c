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

/* The 32 int8 x int8 products of a block as 8 int32 lanes (lane j = elements 4j..4j+3):
 * maddubs needs an unsigned first operand, so it multiplies |w| by x carrying w's sign (the
 * sign trick). Exact: |pair sum| <= 2 * 128 * 127 < 2^15 does not saturate, as long as x holds
 * no -128 (this type's from_f32 clamps to +-127). */
static inline __m256i q8_0_block_lanes(const mx_block_q8_0 *w, const mx_block_q8_0 *x) {
    const __m256i qw = _mm256_loadu_si256((const __m256i *)w->qs);
    const __m256i qx = _mm256_loadu_si256((const __m256i *)x->qs);
    const __m256i s16 = _mm256_maddubs_epi16(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
    return _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
}
static inline float q8_0_d(const mx_block_q8_0 *w, const mx_block_q8_0 *x) {
    return _cvtsh_ss(w->d) * _cvtsh_ss(x->d);
}

/* The reference's operations: per block the exact int32 sum P, then acc = acc + (d_w d_x) * P
 * (multiply, then add), blocks in order. Four blocks share one horizontal reduction and one
 * vector multiply; the four additions stay sequential. */
static float dot_q_q8_0_avx2(const void *row, const void *xq, int64_t n) {
    const mx_block_q8_0 *w = row, *x = xq;
    const int64_t nb = n / MX_QK8_0;
    float acc = 0.0f;
    int64_t ib = 0;
    for (; ib + 4 <= nb; ib += 4) {
        const __m256i h01 = _mm256_hadd_epi32(q8_0_block_lanes(&w[ib], &x[ib]), q8_0_block_lanes(&w[ib + 1], &x[ib + 1]));
        const __m256i h23 = _mm256_hadd_epi32(q8_0_block_lanes(&w[ib + 2], &x[ib + 2]), q8_0_block_lanes(&w[ib + 3], &x[ib + 3]));
        const __m256i h = _mm256_hadd_epi32(h01, h23); /* [P0..P3 low halves | P0..P3 high halves] */
        const __m128i p = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        const __m128 dw = _mm_cvtph_ps(_mm_setr_epi16((short)w[ib].d, (short)w[ib + 1].d, (short)w[ib + 2].d,
                                                      (short)w[ib + 3].d, 0, 0, 0, 0));
        const __m128 dx = _mm_cvtph_ps(_mm_setr_epi16((short)x[ib].d, (short)x[ib + 1].d, (short)x[ib + 2].d,
                                                      (short)x[ib + 3].d, 0, 0, 0, 0));
        const __m128 t = _mm_mul_ps(_mm_mul_ps(dw, dx), _mm_cvtepi32_ps(p));
        float tv[4];
        _mm_storeu_ps(tv, t);
        acc = acc + tv[0];
        acc = acc + tv[1];
        acc = acc + tv[2];
        acc = acc + tv[3];
    }
    for (; ib < nb; ib++) {
        const __m256i v = q8_0_block_lanes(&w[ib], &x[ib]);
        __m128i p = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0x4E));
        p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xB1));
        const float t = q8_0_d(&w[ib], &x[ib]) * (float)_mm_cvtsi128_si32(p);
        acc = acc + t;
    }
    return acc;
}

/* Tile product with one token per SIMD lane. Tokens are taken in groups of 8; a group's
 * activation blocks are first re-laid out (a segment of Q8_SEG blocks at a time, in a stack
 * buffer that stays in L1) as, per block, the 8 tokens' f32 scales and then, per 4-byte chunk c
 * of the block, the 8 tokens' bytes 4c..4c+3 side by side. A weight row's chunk is then
 * broadcast and multiplied with all 8 tokens by one maddubs/madd pair, summed over the block's
 * 8 chunks in int32 (exact), and each lane takes acc = acc + (d_w d_x) * P exactly as
 * dot_q_q8_0_avx2 does: every result equals that dot bit for bit. Up to Q8_TG groups share
 * each broadcast weight chunk. The weight rows are read in place from the model. */
#define Q8_TG 4            /* token groups of 8 per pass over a row */
#define Q8_SEG 16          /* blocks per activation segment: Q8_TG * Q8_SEG * 288 bytes */
#define Q8_ROWS 128        /* rows per pass: one packing of a token group serves them all */
typedef struct q8_seg_block {
    float d[8];            /* the 8 tokens' scales */
    int32_t q[8][8];       /* [chunk][token]: bytes 4c..4c+3 of each token */
} q8_seg_block;

static void q8_0_pack(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0, int nb,
                      q8_seg_block *out) {
    for (int b = 0; b < nb; b++) {
        q8_seg_block *o = &out[b];
        for (int j = 0; j < 8; j++) {
            if (t0 + j >= nt) {
                o->d[j] = 0.0f;
                for (int c = 0; c < 8; c++) o->q[c][j] = 0;
                continue;
            }
            const mx_block_q8_0 *bx = (const mx_block_q8_0 *)(xq + (uint64_t)(t0 + j) * xb) + b0 + b;
            o->d[j] = _cvtsh_ss(bx->d);
            for (int c = 0; c < 8; c++) memcpy(&o->q[c][j], bx->qs + 4 * c, 4);
        }
    }
}

/* One row against ng (1..Q8_TG) packed groups over one segment of nb blocks; acc[g] carried. */
static inline __attribute__((always_inline)) void
q8_0_row_seg(const mx_block_q8_0 *w, const q8_seg_block *xs, int64_t seg_stride, int nb,
             __m256 *acc, const int ng) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 a[Q8_TG];
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) a[g] = acc[g];
    for (int b = 0; b < nb; b++) {
        __m256i p[Q8_TG];
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++) p[g] = _mm256_setzero_si256();
        const int8_t *qs = w[b].qs;
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            int32_t wc;
            memcpy(&wc, qs + 4 * c, 4);
            const __m256i wv = _mm256_set1_epi32(wc), aw = _mm256_sign_epi8(wv, wv);
#pragma GCC unroll 4
            for (int g = 0; g < ng; g++) {
                const __m256i xv = _mm256_load_si256((const __m256i *)xs[g * seg_stride + b].q[c]);
                const __m256i s16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, wv));
                p[g] = _mm256_add_epi32(p[g], _mm256_madd_epi16(s16, ones));
            }
            /* keep the 8 chunk sums as running totals: left free, the compiler regroups the
             * (exact) integer additions and spills the partial products */
#pragma GCC unroll 4
            for (int g = 0; g < ng; g++) __asm__("" : "+x"(p[g]));
        }
        const __m256 dw = _mm256_set1_ps(_cvtsh_ss(w[b].d));
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++) {
            const __m256 d = _mm256_mul_ps(dw, _mm256_load_ps(xs[g * seg_stride + b].d));
            a[g] = _mm256_add_ps(a[g], _mm256_mul_ps(d, _mm256_cvtepi32_ps(p[g])));
        }
    }
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) acc[g] = a[g];
}

#define Q8_ROW_SEG(G)                                                                            \
    static void q8_0_row_seg_##G(const mx_block_q8_0 *w, const q8_seg_block *xs,               \
                                 int64_t seg_stride, int nb, __m256 *acc) {                    \
        q8_0_row_seg(w, xs, seg_stride, nb, acc, G);                                             \
    }
Q8_ROW_SEG(1) Q8_ROW_SEG(2) Q8_ROW_SEG(3) Q8_ROW_SEG(4)
#undef Q8_ROW_SEG
typedef void (*q8_row_seg_fn)(const mx_block_q8_0 *, const q8_seg_block *, int64_t, int, __m256 *);
static const q8_row_seg_fn g_q8_row_seg[Q8_TG] = {q8_0_row_seg_1, q8_0_row_seg_2, q8_0_row_seg_3,
                                                  q8_0_row_seg_4};

static void gemm_q_q8_0_avx2(const void *w, uint64_t rb, int nr, const void *xq, uint64_t xb,
                             int nt, float *y, int64_t ys, int64_t n) {
    const int64_t nb = n / MX_QK8_0;
    if (nt < 4) { /* too few tokens to fill the lanes: the dots themselves */
        for (int t = 0; t < nt; t++)
            for (int r = 0; r < nr; r++)
                y[t * ys + r] = dot_q_q8_0_avx2((const uint8_t *)w + (uint64_t)r * rb,
                                                (const uint8_t *)xq + (uint64_t)t * xb, n);
        return;
    }
    _Alignas(32) q8_seg_block xs[Q8_TG * Q8_SEG];
    _Alignas(32) __m256 acc[Q8_ROWS][Q8_TG];
    /* rows outer: a chunk of rows (in L2 for short rows) meets every token group in turn;
     * each packing of a group's segment serves Q8_ROWS rows (under 2% of the work) */
    for (int r0 = 0; r0 < nr; r0 += Q8_ROWS) {
        const int rn = MX_MIN(Q8_ROWS, nr - r0);
        for (int t0 = 0; t0 < nt; t0 += 8 * Q8_TG) {
            const int ng = MX_MIN(Q8_TG, (nt - t0 + 7) / 8);
            for (int r = 0; r < rn; r++)
                for (int g = 0; g < ng; g++) acc[r][g] = _mm256_setzero_ps();
            __asm__("" ::: "memory"); /* a plain loop, not a call to memset per chunk */
            for (int64_t b0 = 0; b0 < nb; b0 += Q8_SEG) {
                const int sn = (int)MX_MIN((int64_t)Q8_SEG, nb - b0);
                for (int g = 0; g < ng; g++)
                    q8_0_pack(xq, xb, t0 + 8 * g, nt, b0, sn, &xs[g * Q8_SEG]);
                for (int r = 0; r < rn; r++)
                    g_q8_row_seg[ng - 1]((const mx_block_q8_0 *)((const uint8_t *)w + (uint64_t)(r0 + r) * rb) + b0,
                                         xs, Q8_SEG, sn, acc[r]);
            }
            /* out token by token, so that each token's row of y is written contiguously */
            for (int g = 0; g < ng; g++)
                for (int j = 0; j < 8 && t0 + 8 * g + j < nt; j++) {
                    float *yt = y + (int64_t)(t0 + 8 * g + j) * ys + r0;
                    for (int r = 0; r < rn; r++) yt[r] = ((const float *)&acc[r][g])[j];
                }
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
