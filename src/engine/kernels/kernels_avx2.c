/* kernels_avx2.c: AVX2 + FMA + F16C siblings of the reference kernels (compiled with those
 * flags only; used after a CPUID check). Each keeps the reference's accumulation order (four
 * 8-lane accumulators, see kernels_ref.c), so results differ from the reference only by fused
 * multiply-add rounding. */
#include "engine/kernels/kernels.h"
#include "engine/kernels/kquants.h"

#include "common/util.h"
#include "engine/kernels/avx2_common.h"

#include <immintrin.h>
#include <math.h>

/* ---- one-line helpers ------------------------------------------------------------------ */

static inline __m256 load_i8x8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* The reference's order: runs of MX_DOT_RUN elements go round-robin to four independent
 * accumulators (fed side by side from four points a run apart); then (a0 + a1) + (a2 + a3),
 * the lanes by hsum8, and the n % 8 tail one by one. LOAD(i) widens the 8 weights from element
 * i to f32, WIDEN(i) the single weight i. */
#define RUN MX_DOT_RUN
/* Decode streams every weight from memory once, and the hardware prefetcher alone leaves the
 * loads waiting: each round of runs asks for the bytes DOT_PREFETCH ahead of it (measured on
 * the Gemma 3 1B shape, 2 threads: F16 decode 9.0 -> 10.3-10.6 tokens/s on a Zen 3 machine,
 * about the same for 1, 2 or 4 KiB ahead; on a Zen 5 machine with twice its bandwidth 4 KiB
 * gave 25.2-27.7 tok/s against 21.7-22.3 for 1 KiB, 24.3-25.0 for 2 KiB and 25.8-26.5 for 8 or
 * 16 KiB). Prefetches past the end of a row touch the next row or are dropped; they never
 * fault. */
#ifndef DOT_PREFETCH
#define DOT_PREFETCH 4096
#endif
#define DOT4(LOAD, WIDEN)                                                                     \
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                             \
    int64_t i = 0;                                                                          \
    for (; i + 4 * RUN <= n; i += 4 * RUN) {                                                \
        for (int off = 0; off < 4 * RUN * (int)sizeof *w; off += 64)                        \
            _mm_prefetch((const char *)(w + i) + DOT_PREFETCH + off, _MM_HINT_T0);          \
        for (int64_t k = i; k < i + RUN; k += 8) {                                          \
            a0 = _mm256_fmadd_ps(LOAD(k), _mm256_loadu_ps(x + k), a0);                      \
            a1 = _mm256_fmadd_ps(LOAD(k + RUN), _mm256_loadu_ps(x + k + RUN), a1);          \
            a2 = _mm256_fmadd_ps(LOAD(k + 2 * RUN), _mm256_loadu_ps(x + k + 2 * RUN), a2);  \
            a3 = _mm256_fmadd_ps(LOAD(k + 3 * RUN), _mm256_loadu_ps(x + k + 3 * RUN), a3);  \
        }                                                                                   \
    }                                                                                       \
    for (; i + 8 <= n; i += 8) { /* the last, incomplete round of runs */                  \
        const __m256 wv = LOAD(i), xv = _mm256_loadu_ps(x + i);                             \
        switch ((i / RUN) % 4) {                                                            \
        case 0: a0 = _mm256_fmadd_ps(wv, xv, a0); break;                                    \
        case 1: a1 = _mm256_fmadd_ps(wv, xv, a1); break;                                    \
        case 2: a2 = _mm256_fmadd_ps(wv, xv, a2); break;                                    \
        default: a3 = _mm256_fmadd_ps(wv, xv, a3); break;                                   \
        }                                                                                   \
    }                                                                                       \
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));          \
    for (; i < n; i++) s += WIDEN(i) * x[i];                                                \
    return s

#define L_F32(i) _mm256_loadu_ps(w + (i))
#define W_F32(i) (w[i])
#define L_F16(i) load_f16x8(w + (i))
#define W_F16(i) mx_f16_to_f32(w[i])
#define L_BF16(i) load_bf16x8(w + (i))
#define W_BF16(i) mx_bf16_to_f32(w[i])

/* ---- F32 ------------------------------------------------------------------------------- */

static float dot_f32_avx2(const void *row, const float *x, int64_t n) {
    const float *w = row;
    DOT4(L_F32, W_F32);
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
    DOT4(L_F16, W_F16);
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
    DOT4(L_BF16, W_BF16);
}
static void to_f32_bf16_avx2(const void *row, float *out, int64_t n) {
    const uint16_t *w = row;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_bf16x8(w + i));
    for (; i < n; i++) out[i] = mx_bf16_to_f32(w[i]);
}
/* mx_f32_to_bf16 eight at a time: round to nearest even by adding 0x7FFF plus the kept low
 * bit, a NaN kept a NaN by setting its quiet bit; the same bits. */
static void from_f32_bf16_avx2(const float *x, void *row, int64_t n) {
    uint16_t *w = row;
    const __m256i abs = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    const __m256i round = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1), quiet = _mm256_set1_epi32(0x40);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);
        const __m256i r = _mm256_srli_epi32(
            _mm256_add_epi32(u, _mm256_add_epi32(round, _mm256_and_si256(_mm256_srli_epi32(u, 16), one))), 16);
        const __m256i h = _mm256_blendv_epi8(r, _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet), nan);
        /* the 16-bit halves (all below 0x10000) packed within 128-bit lanes, then put in order */
        const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08);
        _mm_storeu_si128((__m128i *)(w + i), _mm256_castsi256_si128(p));
    }
    for (; i < n; i++) w[i] = mx_f32_to_bf16(x[i]);
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
/* acc += the 32 products of one block, in element order. */
static inline __m256 q8_0_block(const mx_block_q8_0 *b, const float *xb, __m256 acc) {
    const __m256 d = _mm256_set1_ps(mx_f16_to_f32(b->d));
    acc = _mm256_fmadd_ps(_mm256_mul_ps(d, load_i8x8(b->qs)), _mm256_loadu_ps(xb), acc);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(d, load_i8x8(b->qs + 8)), _mm256_loadu_ps(xb + 8), acc);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(d, load_i8x8(b->qs + 16)), _mm256_loadu_ps(xb + 16), acc);
    return _mm256_fmadd_ps(_mm256_mul_ps(d, load_i8x8(b->qs + 24)), _mm256_loadu_ps(xb + 24), acc);
}
static float dot_q8_0_avx2(const void *row, const float *x, int64_t n) {
    const mx_block_q8_0 *b = row;
    const int bpr = RUN / MX_QK8_0; /* blocks per run */
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0; /* in blocks */
    const int64_t nb = n / MX_QK8_0;
    for (; i + 4 * bpr <= nb; i += 4 * bpr)
        for (int64_t k = i; k < i + bpr; k++) {
            a0 = q8_0_block(b + k, x + k * MX_QK8_0, a0);
            a1 = q8_0_block(b + k + bpr, x + (k + bpr) * MX_QK8_0, a1);
            a2 = q8_0_block(b + k + 2 * bpr, x + (k + 2 * bpr) * MX_QK8_0, a2);
            a3 = q8_0_block(b + k + 3 * bpr, x + (k + 3 * bpr) * MX_QK8_0, a3);
        }
    for (; i < nb; i++) {
        switch ((i / bpr) % 4) {
        case 0: a0 = q8_0_block(b + i, x + i * MX_QK8_0, a0); break;
        case 1: a1 = q8_0_block(b + i, x + i * MX_QK8_0, a1); break;
        case 2: a2 = q8_0_block(b + i, x + i * MX_QK8_0, a2); break;
        default: a3 = q8_0_block(b + i, x + i * MX_QK8_0, a3); break;
        }
    }
    return hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
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
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(xb + 8 * i);
        const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], absmask), _mm256_and_ps(v[1], absmask)),
                                       _mm256_max_ps(_mm256_and_ps(v[2], absmask), _mm256_and_ps(v[3], absmask)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        const float amax = _mm_cvtss_f32(h);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[ib].d = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT); /* mx_f32_to_f16's bits */
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
#pragma GCC unroll 4
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
 * vector multiply; the four additions stay sequential. Decode and small batches take q8_0_rows4
 * (below); this dot serves the rows a four-row pass leaves over. */
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

/* Decode and small batches: four rows against up to four tokens (rows4_levels, avx2_common.h);
 * a Q8_0 block's levels are its bytes. */
static inline __m256i q8_0_levels(const uint8_t *blk) {
    return _mm256_loadu_si256((const __m256i *)((const mx_block_q8_0 *)blk)->qs);
}

#define Q8_ROWS4(T)                                                                              \
    static void q8_0_rows4_##T(const uint8_t *w, uint64_t rb, const uint8_t *xq, uint64_t xb,  \
                               int64_t nb, float *out, int64_t ys) {                           \
        rows4_levels(q8_0_levels, 0, sizeof(mx_block_q8_0), w, rb, xq, xb, nb, out, ys, T);    \
    }
Q8_ROWS4(1) Q8_ROWS4(2) Q8_ROWS4(3) Q8_ROWS4(4)
#undef Q8_ROWS4
typedef void (*q8_rows4_fn)(const uint8_t *, uint64_t, const uint8_t *, uint64_t, int64_t, float *, int64_t);
static const q8_rows4_fn g_q8_rows4[4] = {q8_0_rows4_1, q8_0_rows4_2, q8_0_rows4_3, q8_0_rows4_4};

/* Tile product with one token per SIMD lane. Tokens are taken in groups of 8; a group's
 * activation blocks are first re-laid out (a segment of Q8_SEG blocks at a time, in a stack
 * buffer that stays in L1) as, per block, the 8 tokens' f32 scales and then, per 4-byte chunk c
 * of the block, the 8 tokens' bytes 4c..4c+3 side by side. A weight row's chunk is then
 * broadcast and multiplied with all 8 tokens by one maddubs/madd pair, summed over the block's
 * 8 chunks in int32 (exact), and each lane takes acc = acc + (d_w d_x) * P exactly as
 * dot_q_q8_0_avx2 does: every result equals that dot bit for bit. Up to Q8_TG groups share
 * each broadcast weight chunk. The weight rows are read in place from the model. */
#define Q8_TG LANE_TG      /* token groups of 8 per pass over a row */
#define Q8_SEG 16          /* blocks per activation segment: Q8_TG * Q8_SEG * 288 bytes */
#define Q8_ROWS 128        /* rows per pass: one packing of a token group serves them all */
#ifndef Q8_TILE_MIN_TOKENS
#define Q8_TILE_MIN_TOKENS 8 /* fewer tokens take q8_0_rows4 */
#endif
typedef struct q8_seg_block {
    float d[8];            /* the 8 tokens' scales */
    int32_t q[8][8];       /* [chunk][token]: bytes 4c..4c+3 of each token */
} q8_seg_block;

/* Re-lay out blocks b0 .. b0+nb-1 of tokens t0 .. t0+7 (zeros past nt). */
static void q8_0_pack(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0, int nb, void *outv) {
    q8_seg_block *out = outv;
    q8_0_lanes_pack(xq, xb, t0, nt, b0, nb, out->d, &out->q[0][0], NULL, sizeof *out / sizeof(float));
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
    static void q8_0_row_seg_##G(const uint8_t *row, const void *xs, int64_t seg_stride, int nb, \
                                 __m256 *acc) {                                                \
        q8_0_row_seg((const mx_block_q8_0 *)row, xs, seg_stride, nb, acc, G);                    \
    }
Q8_ROW_SEG(1) Q8_ROW_SEG(2) Q8_ROW_SEG(3) Q8_ROW_SEG(4)
#undef Q8_ROW_SEG
_Static_assert(Q8_SEG * sizeof(q8_seg_block) <= LANE_SEG_BYTES && Q8_ROWS <= LANE_MAX_ROWS, "Q8_0 lane tile");
static const lane_kind g_lane_q8_0 = {q8_0_pack, {q8_0_row_seg_1, q8_0_row_seg_2, q8_0_row_seg_3, q8_0_row_seg_4},
                                      sizeof(mx_block_q8_0), sizeof(q8_seg_block), MX_QK8_0, Q8_SEG, Q8_ROWS};

static void gemm_q_q8_0_avx2(const void *w, uint64_t rb, int nr, const void *xq, uint64_t xb,
                             int nt, float *y, int64_t ys, int64_t n) {
    const int64_t nb = n / MX_QK8_0;
    if (nt < Q8_TILE_MIN_TOKENS) { /* too few tokens to fill the lanes: four rows and up to four tokens at a time */
        for (int t0 = 0; t0 < nt; t0 += 4) {
            const int tn = MX_MIN(4, nt - t0);
            const uint8_t *xt = (const uint8_t *)xq + (uint64_t)t0 * xb;
            int r = 0;
            for (; r + 4 <= nr; r += 4)
                g_q8_rows4[tn - 1]((const uint8_t *)w + (uint64_t)r * rb, rb, xt, xb, nb, y + t0 * ys + r, ys);
            for (; r < nr; r++)
                for (int t = 0; t < tn; t++)
                    y[(t0 + t) * ys + r] = dot_q_q8_0_avx2((const uint8_t *)w + (uint64_t)r * rb, xt + (uint64_t)t * xb, n);
        }
        return;
    }
    /* rows outer: a pass of Q8_ROWS rows (in L2 for short rows) meets every token group in
     * turn; each re-layout of a group's segment serves them all (under 2% of the work) */
    lane_gemm(&g_lane_q8_0, w, rb, nr, xq, xb, nt, y, ys, n);
}

/* ---- f32 tile product ------------------------------------------------------------------ */

/* Each output must equal dot_f32_avx2 of its row and token bit for bit (prefill and decode
 * agree exactly). The packed operands (kernels.h) hold each of the dot's four accumulators as
 * one contiguous stretch of a block, so the product is four plain products, one per stretch,
 * whose 8-lane results are added as the dot adds its accumulators.
 *
 * The register block is 4 rows x 3 tokens (12 accumulators, 3 token loads and 1 weight load of
 * the 16 registers; the packing pads the blocks, so every block is whole). A group of GEMM_RG
 * rows meets a group of GEMM_TG tokens chunk by chunk of GEMM_KC elements of one stretch: a row
 * block's chunk (12 KiB) stays in L1 while the group's token blocks stream past from L2; the
 * partial sums between chunks live in `scratch`, [stretch][row block][token block][12][8].
 * Measured on one Zen 3 core (Gemma 3 1B shapes, 512 tokens; bench/RESULTS.md): 62-65 GFLOPS
 * for rows of 1152 elements and about 50 for 6912, against 50 and 29-33 for the earlier
 * product on unpacked rows. */
#define GEMM_RG 32 /* rows per group (multiple of 4; scratch has room for GEMM_RG / 4 blocks) */
#define GEMM_TG 48 /* tokens per group (multiple of 3; GEMM_TG / 3 blocks) */
#define GEMM_KC 768
_Static_assert(MX_GEMM_SCRATCH_FLOATS >= 4 * (GEMM_RG / 4) * (GEMM_TG / 3) * 96, "gemm scratch");
_Static_assert(MX_GEMM_WB == 4 && MX_GEMM_XB == 3, "gemm block shape");

/* acc[r][t] (+)= sum over nv vectors of w[r] * x[t], stored to p[(r * 3 + t) * 8]. */
static inline void gemm_kernel(const float *w, const float *x, int64_t nv, float *p, bool first) {
    __m256 acc[4][3];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 3
        for (int t = 0; t < 3; t++) acc[r][t] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(p + (r * 3 + t) * 8);
    for (int64_t i = 0; i < nv; i++, w += 32, x += 24) {
        const __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8), x2 = _mm256_loadu_ps(x + 16);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m256 c = _mm256_loadu_ps(w + r * 8);
            acc[r][0] = _mm256_fmadd_ps(c, x0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(c, x1, acc[r][1]);
            acc[r][2] = _mm256_fmadd_ps(c, x2, acc[r][2]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 3
        for (int t = 0; t < 3; t++) _mm256_storeu_ps(p + (r * 3 + t) * 8, acc[r][t]);
}

static void gemm_f32_avx2(const float *wp, int nr, const float *xp, int nt, float *y, int64_t ys,
                          int64_t n, float *part) {
    const int64_t n8 = n & ~(int64_t)7, tail = n - n8;
    /* stretch j of a block: elements [off[j], off[j + 1]) of the accumulator order */
    int64_t off[5] = {0};
    for (int64_t k = 0; k < n8; k += RUN) off[(k / RUN) % 4 + 1] += MX_MIN((int64_t)RUN, n8 - k);
    for (int j = 0; j < 4; j++) off[j + 1] += off[j];
    const int nrb = (nr + 3) / 4, ntb = (nt + 2) / 3;
    const int64_t ps = (int64_t)(GEMM_RG / 4) * (GEMM_TG / 3) * 96; /* distance between stretches */
    for (int rg = 0; rg < nrb; rg += GEMM_RG / 4) {
        const int rge = MX_MIN(nrb, rg + GEMM_RG / 4);
        for (int tg = 0; tg < ntb; tg += GEMM_TG / 3) {
            const int tge = MX_MIN(ntb, tg + GEMM_TG / 3);
            for (int j = 0; j < 4; j++) {
                int64_t c0 = off[j];
                do { /* an empty stretch still writes its zero partials */
                    const int64_t c1 = MX_MIN(c0 + GEMM_KC, off[j + 1]);
                    for (int rb = rg; rb < rge; rb++)
                        for (int tb = tg; tb < tge; tb++)
                            gemm_kernel(wp + (int64_t)rb * 4 * n + c0 * 4, xp + (int64_t)tb * 3 * n + c0 * 3,
                                        (c1 - c0) / 8, part + j * ps + ((rb - rg) * (GEMM_TG / 3) + tb - tg) * 96,
                                        c0 == off[j]);
                    c0 = c1;
                } while (c0 < off[j + 1]);
            }
            for (int rb = rg; rb < rge; rb++)
                for (int tb = tg; tb < tge; tb++) {
                    const float *pb = part + ((rb - rg) * (GEMM_TG / 3) + tb - tg) * 96;
                    for (int r = 0; r < 4 && rb * 4 + r < nr; r++)
                        for (int t = 0; t < 3 && tb * 3 + t < nt; t++) {
                            const float *q = pb + (r * 3 + t) * 8;
                            float s = hsum8(_mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(q), _mm256_loadu_ps(q + ps)),
                                                          _mm256_add_ps(_mm256_loadu_ps(q + 2 * ps), _mm256_loadu_ps(q + 3 * ps))));
                            const float *wt = wp + (int64_t)rb * 4 * n + 4 * n8 + r * tail;
                            const float *xt = xp + (int64_t)tb * 3 * n + 3 * n8 + t * tail;
                            for (int64_t k = 0; k < tail; k++) s += wt[k] * xt[k];
                            y[(int64_t)(tb * 3 + t) * ys + rb * 4 + r] = s;
                        }
                }
        }
    }
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

static float exp_sum_avx2(float *s, int64_t n, float m) {
    const __m256 vm = _mm256_set1_ps(m), lo = _mm256_set1_ps(-87.0f);
    __m256 acc = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        const __m256 x = _mm256_sub_ps(_mm256_loadu_ps(s + k), vm);
        const __m256 e = _mm256_and_ps(exp_avx2(x), _mm256_cmp_ps(x, lo, _CMP_GE_OQ)); /* 0 below e^-87 */
        _mm256_storeu_ps(s + k, e);
        acc = _mm256_add_ps(acc, e);
    }
    return hsum8(acc) + mx_exp_sum(s + k, n - k, m); /* the tail as the reference does it */
}

static float scale_max_avx2(float *s, int64_t n, float scale) {
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(s + k), vs);
        _mm256_storeu_ps(s + k, v);
        vm = _mm256_max_ps(v, vm); /* vm when v is NaN */
    }
    float lanes[8], m = mx_scale_max(s + k, n - k, scale);
    _mm256_storeu_ps(lanes, vm);
    for (int i = 0; i < 8; i++)
        if (lanes[i] > m) m = lanes[i];
    return m;
}

static void fold_avx2(float *o, const float *ob, float a, float b, int64_t n) {
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        _mm256_storeu_ps(o + k, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(o + k), va),
                                              _mm256_mul_ps(_mm256_loadu_ps(ob + k), vb)));
    mx_fold(o + k, ob + k, a, b, n - k);
}

/* ---- Attention over cached rows ----------------------------------------------------------- */

/* Scores of KG rows x HG heads, KG * HG <= 8 accumulator chains, one per (row, head) pair in
 * the order of kernels.h, so the tile shape never changes a result; each loaded (and widened)
 * piece of a row serves all HG heads. */
static inline __attribute__((always_inline)) void
attn_scores_tile(const int kind, const int KG, const int HG, const uint8_t *rows, uint64_t row_bytes,
                 const float *q, int64_t q_stride, float *s, int64_t s_stride, int64_t n, const char *pf,
                 int64_t pf_bytes) {
    __m256 acc[8];
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) acc[c] = _mm256_setzero_ps();
    (void)pf; /* the driver prefetches whole rows ahead for this tile (spread_pf false) */
    (void)pf_bytes;
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 x[4];
#pragma GCC unroll 4
        for (int h = 0; h < HG; h++) x[h] = _mm256_loadu_ps(q + h * q_stride + k);
#pragma GCC unroll 8
        for (int r = 0; r < KG; r++) {
            const __m256 w = kv_load8(kind, rows + r * row_bytes, k);
#pragma GCC unroll 4
            for (int h = 0; h < HG; h++) acc[r * HG + h] = _mm256_fmadd_ps(w, x[h], acc[r * HG + h]);
        }
    }
    float out[8];
    _mm256_storeu_ps(out, hsum8x8(acc));
#pragma GCC unroll 8
    for (int r = 0; r < KG; r++)
#pragma GCC unroll 4
        for (int h = 0; h < HG; h++) {
            float v = out[r * HG + h];
            for (int64_t t = k; t < n; t++) v += kv_load1(kind, rows + r * row_bytes, t) * q[h * q_stride + t];
            s[h * s_stride + r] = v;
        }
}

static inline __attribute__((always_inline)) void
attn_scores_kind(const int kind, const void *rows, uint64_t row_bytes, int64_t nr, const float *q,
                 int64_t q_stride, int nq, float *s, int64_t s_stride, int64_t n) {
    attn_scores_drive(attn_scores_tile, false, 2, 4, kind, rows, row_bytes, nr, q, q_stride, nq, s, s_stride, n);
}

static inline __attribute__((always_inline)) void
attn_values_kind(const int kind, const float *p, int64_t p_stride, const void *rows,
                 uint64_t row_bytes, int64_t nr, float *y, int64_t y_stride, int nq, int64_t n) {
    attn_values_drive(attn_values_slices, kind, p, p_stride, rows, row_bytes, nr, y, y_stride, nq, n);
}

#define ATTN_AVX2(NAME, KIND)                                                                  \
    static void attn_scores_##NAME##_avx2(const void *rows, uint64_t row_bytes, int64_t nr,    \
                                          const float *q, int64_t q_stride, int nq, float *s,  \
                                          int64_t s_stride, int64_t n) {                       \
        attn_scores_kind(KIND, rows, row_bytes, nr, q, q_stride, nq, s, s_stride, n);         \
    }                                                                                          \
    static void attn_values_##NAME##_avx2(const float *p, int64_t p_stride, const void *rows,  \
                                          uint64_t row_bytes, int64_t nr, float *y,            \
                                          int64_t y_stride, int nq, int64_t n) {               \
        attn_values_kind(KIND, p, p_stride, rows, row_bytes, nr, y, y_stride, nq, n);         \
    }
ATTN_AVX2(f32, KV_F32)
ATTN_AVX2(f16, KV_F16)
ATTN_AVX2(bf16, KV_BF16)

/* RMSNorm (kernels.h): the squares widened to double (exact), summed in four 4-lane
 * accumulators fed in turn by groups of 4, joined as (a0 + a1) + (a2 + a3) and then lane by
 * lane, then the tail in order; scale as the reference; out = (x * scale) * w per element. */
static void rmsnorm_avx2(float *out, const float *x, const float *w, int64_t n, float eps) {
    __m256d a[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4 * j));
            a[j] = _mm256_fmadd_pd(d, d, a[j]);
        }
    }
    const __m256d s = _mm256_add_pd(_mm256_add_pd(a[0], a[1]), _mm256_add_pd(a[2], a[3]));
    double lanes[4];
    _mm256_storeu_pd(lanes, s);
    double ss = ((lanes[0] + lanes[1]) + lanes[2]) + lanes[3];
    for (; i < n; i++) ss += (double)x[i] * (double)x[i];
    const float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    const __m256 vs = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
        _mm256_storeu_ps(out + i, w ? _mm256_mul_ps(v, _mm256_loadu_ps(w + i)) : v);
    }
    for (; i < n; i++) out[i] = w ? x[i] * scale * w[i] : x[i] * scale;
}

/* RoPE (kernels.h): the reference's products, difference and sum, eight pairs at a time. The
 * interleaved form takes 16 elements (8 pairs) as two vectors; a shuffle gathers the pairs'
 * first and second elements (pairs in the order 0 1 4 5 2 3 6 7, which the tables are
 * permuted to match) and the unpacks put them back in place. */
static inline __attribute__((always_inline)) void rope_pairs(__m256 x0, __m256 x1, __m256 c, __m256 s, __m256 *y0,
                                                             __m256 *y1) {
    *y0 = _mm256_sub_ps(_mm256_mul_ps(x0, c), _mm256_mul_ps(x1, s));
    *y1 = _mm256_add_ps(_mm256_mul_ps(x0, s), _mm256_mul_ps(x1, c));
}
static void rope_avx2(float *v, int n_heads, int hd, bool neox, const float *c, const float *s) {
    const int half = hd / 2;
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    for (int h = 0; h < n_heads; h++, v += hd) {
        int i = 0;
        __m256 y0, y1;
        if (neox) {
            for (; i + 8 <= half; i += 8) {
                rope_pairs(_mm256_loadu_ps(v + i), _mm256_loadu_ps(v + i + half), _mm256_loadu_ps(c + i),
                           _mm256_loadu_ps(s + i), &y0, &y1);
                _mm256_storeu_ps(v + i, y0);
                _mm256_storeu_ps(v + i + half, y1);
            }
        } else {
            for (; i + 8 <= half; i += 8) {
                const __m256 a = _mm256_loadu_ps(v + 2 * i), b = _mm256_loadu_ps(v + 2 * i + 8);
                rope_pairs(_mm256_shuffle_ps(a, b, 0x88), _mm256_shuffle_ps(a, b, 0xDD),
                           _mm256_permutevar8x32_ps(_mm256_loadu_ps(c + i), order),
                           _mm256_permutevar8x32_ps(_mm256_loadu_ps(s + i), order), &y0, &y1);
                _mm256_storeu_ps(v + 2 * i, _mm256_unpacklo_ps(y0, y1));
                _mm256_storeu_ps(v + 2 * i + 8, _mm256_unpackhi_ps(y0, y1));
            }
        }
        mx_rope_pairs(v, hd, neox, c, s, i);
    }
}

mx_act_mul_fn mx_gelu_tanh_mul_avx2_fn(void) { return gelu_tanh_mul_avx2; }
mx_rope_fn mx_rope_avx2_fn(void) { return rope_avx2; }
mx_rmsnorm_fn mx_rmsnorm_avx2_fn(void) { return rmsnorm_avx2; }
mx_act_mul_fn mx_silu_mul_avx2_fn(void) { return silu_mul_avx2; }
mx_exp_sum_fn mx_exp_sum_avx2_fn(void) { return exp_sum_avx2; }
mx_scale_max_fn mx_scale_max_avx2_fn(void) { return scale_max_avx2; }
mx_fold_fn mx_fold_avx2_fn(void) { return fold_avx2; }

void mx_kernels_avx2_fill(mx_type_kernels *t) {
    t[MX_TYPE_F32].dot = dot_f32_avx2;
    t[MX_TYPE_F32].axpy = axpy_f32_avx2;
    t[MX_TYPE_F16].dot = dot_f16_avx2;
    t[MX_TYPE_F16].to_f32 = to_f32_f16_avx2;
    t[MX_TYPE_F16].from_f32 = from_f32_f16_avx2;
    t[MX_TYPE_F16].axpy = axpy_f16_avx2;
    t[MX_TYPE_BF16].dot = dot_bf16_avx2;
    t[MX_TYPE_BF16].to_f32 = to_f32_bf16_avx2;
    t[MX_TYPE_BF16].from_f32 = from_f32_bf16_avx2;
    t[MX_TYPE_BF16].axpy = axpy_bf16_avx2;
    t[MX_TYPE_F32].attn_scores = attn_scores_f32_avx2;
    t[MX_TYPE_F32].attn_values = attn_values_f32_avx2;
    t[MX_TYPE_F16].attn_scores = attn_scores_f16_avx2;
    t[MX_TYPE_F16].attn_values = attn_values_f16_avx2;
    t[MX_TYPE_BF16].attn_scores = attn_scores_bf16_avx2;
    t[MX_TYPE_BF16].attn_values = attn_values_bf16_avx2;
    t[MX_TYPE_Q8_0].dot = dot_q8_0_avx2;
    t[MX_TYPE_Q8_0].to_f32 = to_f32_q8_0_avx2;
    t[MX_TYPE_Q8_0].from_f32 = from_f32_q8_0_avx2;
    t[MX_TYPE_Q8_0].dot_q = dot_q_q8_0_avx2;
    t[MX_TYPE_Q8_0].gemm_q = gemm_q_q8_0_avx2;
    mx_kquants_avx2_fill(t); /* Q4_0, K-quants, Q8_K: kquants_avx2.c */
}

/* ---- memory read bandwidth ------------------------------------------------------------- */

/* Reads `bytes` (a multiple of 256, 32-byte aligned) with 256-bit loads into four independent
 * accumulators; the result only keeps the loads from being optimised away. */
uint64_t mx_read_sweep_avx2(const void *p, size_t bytes) {
    const __m256i *v = p;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < bytes / 32; i += 8) {
        a0 = _mm256_add_epi64(a0, _mm256_add_epi64(_mm256_load_si256(v + i), _mm256_load_si256(v + i + 4)));
        a1 = _mm256_add_epi64(a1, _mm256_add_epi64(_mm256_load_si256(v + i + 1), _mm256_load_si256(v + i + 5)));
        a2 = _mm256_add_epi64(a2, _mm256_add_epi64(_mm256_load_si256(v + i + 2), _mm256_load_si256(v + i + 6)));
        a3 = _mm256_add_epi64(a3, _mm256_add_epi64(_mm256_load_si256(v + i + 3), _mm256_load_si256(v + i + 7)));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    return (uint64_t)_mm256_extract_epi64(s, 0) + (uint64_t)_mm256_extract_epi64(s, 3);
}
