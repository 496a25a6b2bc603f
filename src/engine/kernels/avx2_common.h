/* avx2_common.h: AVX2 helpers shared by kernels_avx2.c and kquants_avx2.c (included only by
 * files compiled with the AVX2 flags). */
#ifndef MX_AVX2_COMMON_H
#define MX_AVX2_COMMON_H

#include "common/util.h"
#include "engine/kernels/kernels.h"

#include <immintrin.h>
#include <string.h>

static inline __m256 load_f16x8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
static inline __m256 load_bf16x8(const uint16_t *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
/* The sum of 8 int32 lanes (exact in any order). */
static inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* Ask for the `bytes` at p + ahead, a line at a time (a hint: it never faults). */
static inline void prefetch_ahead(const void *p, size_t bytes, size_t ahead) {
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + ahead + o, _MM_HINT_T0);
}

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

/* 8 rows of 8 dwords transposed: out[c] holds dword c of every row, row j in lane j (the
 * re-layout of 8 tokens' activation bytes for the lane tiles, 4 bytes per dword). */
static inline void transpose8_epi32(const __m256i r[8], __m256i out[8]) {
    __m256i t[8], u[8];
    for (int k = 0; k < 4; k++) {
        t[2 * k] = _mm256_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm256_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 2; k++) {
        u[4 * k + 0] = _mm256_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 1] = _mm256_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 2] = _mm256_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
        u[4 * k + 3] = _mm256_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    for (int c = 0; c < 4; c++) {
        out[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
        out[c + 4] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
    }
}

/* Blocks b0 .. b0+nb-1 of 8 tokens' Q8_0 activation rows (tokens t0 .. t0+7; those from nt on
 * read as zeros), re-laid out for the lane tiles: per block the 8 scales as f32 (at
 * d + b * stride floats), then per 4-byte chunk c the 8 tokens' bytes 4c..4c+3 side by side
 * (an 8 x 8 transpose of chunks, at q + b * stride); with sx non-NULL, each token's sum of the
 * block's 32 bytes at sx + b * stride. `stride`: floats from one packed block to the next. */
static inline __attribute__((always_inline)) void
q8_0_lanes_pack(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0, int nb, float *d, int32_t *q,
                int32_t *sx, int64_t stride) {
    const mx_block_q8_0 *rows[8];
    for (int j = 0; j < 8; j++)
        rows[j] = t0 + j < nt ? (const mx_block_q8_0 *)(xq + (uint64_t)(t0 + j) * xb) + b0 : NULL;
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int b = 0; b < nb; b++) {
        __m256i r[8], c8[8];
        uint16_t h[8];
        for (int j = 0; j < 8; j++) {
            r[j] = rows[j] ? _mm256_loadu_si256((const __m256i *)rows[j][b].qs) : _mm256_setzero_si256();
            h[j] = rows[j] ? rows[j][b].d : 0;
        }
        _mm256_store_ps(d + b * stride, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h)));
        transpose8_epi32(r, c8);
        __m256i s = _mm256_setzero_si256();
        for (int c = 0; c < 8; c++) {
            _mm256_store_si256((__m256i *)(q + b * stride + 8 * c), c8[c]);
            if (sx) s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, c8[c]), ones16));
        }
        if (sx) _mm256_store_si256((__m256i *)(sx + b * stride), s);
    }
}

/* The f16 scale that starts a Q8_0, Q4_0 or Q5_0 block. */
static inline uint16_t block_scale(const uint8_t *blk) {
    uint16_t d;
    memcpy(&d, blk, 2);
    return d;
}

/* Four weight rows against up to four tokens' Q8_0 activation blocks (decode and small
 * batches), for any weight type of 32-element blocks that starts with an f16 scale and whose
 * levels fit in int8 (`levels` widens a block to 32 signed bytes; bsz: bytes per block). Per
 * block the four rows' exact sums P for one token land in the four lanes of one vector
 * (sum4_epi32) and lane r takes acc = acc + (d_w d_x) * P, Q8_0's dot_q operations: four
 * independent sequential accumulators per token, one per row. A block's levels (and their
 * magnitudes, for the sign trick: maddubs needs one unsigned operand) are made once for all
 * the tokens.
 * With bias > 0 the levels are an unsigned u (0..2^k - 1, k <= 5) less the bias (Q4_0: u - 8,
 * Q5_0: u - 16): `levels` gives the u, maddubs takes them directly (no sign trick), and the
 * bias comes off each 16-bit pair sum as maddubs(bias, x), made once per token and block for
 * the four rows. Each pair sum is then (u0 - b) x0 + (u1 - b) x1 exactly (|u x| pairs stay
 * below 2 * 31 * 127, the bias pairs below 2 * 16 * 127: no saturation): the same P.
 * The four rows are read as four streams, so a prefetch a fixed distance ahead of each would
 * mostly land in the rows being read; instead the next four rows are prefetched linearly,
 * 4 blocks per step, ROWS4_PREFETCH bytes ahead of their start. Measured on the mapped Q8_0
 * model (2 threads, 1152-wide rows, one token): 10.1 GB/s with per-stream prefetch, 18-19
 * GB/s this way (one row at a time with a per-row prefetch: 15-19 GB/s). */
#define ROWS4_PREFETCH 1024
static inline __attribute__((always_inline)) void
rows4_levels(__m256i (*levels)(const uint8_t *), const int bias, const size_t bsz, const uint8_t *w,
             uint64_t rb, const uint8_t *xq, uint64_t xb, int64_t nb, float *out, int64_t ys, const int nt) {
    const char *pf = (const char *)w + 4 * rb + ROWS4_PREFETCH; /* prefetches never fault */
    const __m256i ones = _mm256_set1_epi16(1), vbias = _mm256_set1_epi8((char)bias);
    __m128 acc[4];
#pragma GCC unroll 4
    for (int t = 0; t < nt; t++) acc[t] = _mm_setzero_ps();
    for (int64_t ib = 0; ib < nb; ib++, pf += 4 * bsz) {
#pragma GCC unroll 4
        for (size_t o = 0; o < 4 * bsz; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
        const uint8_t *blk = w + (size_t)ib * bsz;
        __m256i lv[4], av[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            lv[r] = levels(blk + r * rb);
            av[r] = bias ? lv[r] : _mm256_sign_epi8(lv[r], lv[r]);
        }
        const __m128 dw = _mm_cvtph_ps(_mm_setr_epi16((short)block_scale(blk), (short)block_scale(blk + rb),
                                                      (short)block_scale(blk + 2 * rb),
                                                      (short)block_scale(blk + 3 * rb), 0, 0, 0, 0));
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            const mx_block_q8_0 *x = (const mx_block_q8_0 *)(xq + (uint64_t)t * xb) + ib;
            const __m256i qx = _mm256_loadu_si256((const __m256i *)x->qs);
            const __m256i bx = bias ? _mm256_maddubs_epi16(vbias, qx) : _mm256_setzero_si256();
            __m256i l[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                l[r] = _mm256_madd_epi16(bias ? _mm256_sub_epi16(_mm256_maddubs_epi16(av[r], qx), bx)
                                              : _mm256_maddubs_epi16(av[r], _mm256_sign_epi8(qx, lv[r])),
                                         ones);
            const __m128i p = sum4_epi32(l[0], l[1], l[2], l[3]);
            const __m128 d = _mm_mul_ps(dw, _mm_set1_ps(_cvtsh_ss(x->d)));
            acc[t] = _mm_add_ps(acc[t], _mm_mul_ps(d, _mm_cvtepi32_ps(p)));
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < nt; t++) _mm_storeu_ps(out + t * ys, acc[t]);
}

/* ---- Tile products with one token per lane (the quantised types' prefill) ------------------- */

#define LANE_TG 4             /* token groups of 8 per pass over a row */
#define LANE_SEG_BYTES 8192   /* one group's re-laid-out segment, the largest of the kinds */
#define LANE_MAX_ROWS 128
/* Rows ahead whose segment is prefetched: a pass reads its rows' segments a whole row apart,
 * and fetching a later row's segment while one runs paid (Q8_0 pp512, 2 threads, six
 * alternated pairs: 102.7 tok/s mean against 92.9 without, faster in 5 of 6). */
#define LANE_PF_ROWS 2

/* A type's lane tile: how to re-lay out a token group's activation blocks and its row kernels
 * for 1..LANE_TG groups (each over a segment of seg_blocks blocks): Q8_0 in kernels_avx2.c, the other
 * quantised types in kquants_avx2.c. */
typedef struct lane_kind {
    void (*pack)(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0, int nb, void *out);
    void (*seg[LANE_TG])(const uint8_t *row, const void *xs, int64_t gstride, int nb, __m256 *acc);
    size_t wbsz, xbsz; /* bytes of a weight block, of a re-laid-out activation block */
    int block;         /* elements per block */
    int seg_blocks;
    int rows;          /* rows per pass (<= LANE_MAX_ROWS): one re-layout serves them all */
} lane_kind;

/* The lane tile over rows x tokens (nt >= 8): k->rows rows meet LANE_TG groups of 8 tokens at a
 * time, segment by segment; results per lane, written out token by token. */
static inline void lane_gemm(const lane_kind *k, const void *w, uint64_t rb, int nr, const void *xq, uint64_t xb, int nt,
                      float *y, int64_t ys, int64_t n) {
    const int64_t nb = n / k->block;
    _Alignas(32) uint8_t xs[LANE_TG * LANE_SEG_BYTES];
    _Alignas(32) __m256 acc[LANE_MAX_ROWS][LANE_TG];
    for (int r0 = 0; r0 < nr; r0 += k->rows) {
        const int rn = MX_MIN(k->rows, nr - r0);
        for (int t0 = 0; t0 < nt; t0 += 8 * LANE_TG) {
            const int ng = MX_MIN(LANE_TG, (nt - t0 + 7) / 8);
            for (int r = 0; r < rn; r++)
                for (int g = 0; g < ng; g++) acc[r][g] = _mm256_setzero_ps();
            __asm__("" ::: "memory"); /* a plain loop, not a call to memset per pass */
            /* the outputs' lines, fetched now so that the write-out below does not wait for them */
            for (int t = t0; t < MX_MIN(nt, t0 + 8 * LANE_TG); t++)
                for (int r = 0; r < rn; r += 16) _mm_prefetch((const char *)(y + (int64_t)t * ys + r0 + r), _MM_HINT_T0);
            for (int64_t b0 = 0; b0 < nb; b0 += k->seg_blocks) {
                const int sn = (int)MX_MIN((int64_t)k->seg_blocks, nb - b0);
                for (int g = 0; g < ng; g++) k->pack(xq, xb, t0 + 8 * g, nt, b0, sn, xs + (size_t)g * k->seg_blocks * k->xbsz);
                for (int r = 0; r < rn; r++) {
                    if (r + LANE_PF_ROWS < rn) { /* a later row's segment, fetched while this one runs */
                        const char *pf = (const char *)w + (uint64_t)(r0 + r + LANE_PF_ROWS) * rb + (size_t)b0 * k->wbsz;
                        for (size_t o = 0; o < (size_t)sn * k->wbsz; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
                    }
                    k->seg[ng - 1]((const uint8_t *)w + (uint64_t)(r0 + r) * rb + (size_t)b0 * k->wbsz, xs,
                                   k->seg_blocks, sn, acc[r]);
                }
            }
            for (int g = 0; g < ng; g++)
                for (int j = 0; j < 8 && t0 + 8 * g + j < nt; j++) {
                    float *yt = y + (int64_t)(t0 + 8 * g + j) * ys + r0;
                    for (int r = 0; r < rn; r++) yt[r] = ((const float *)&acc[r][g])[j];
                }
        }
    }
}

/* ---- attention (kernels_avx2.c, kernels_avx512.c) ---- */

/* Row element types of a KV cache (the step's own keys and values are f32 scratch rows). */
enum { KV_F32, KV_F16, KV_BF16 };
static inline __attribute__((always_inline)) float kv_load1(const int kind, const uint8_t *row, int64_t k) {
    if (kind == KV_F32) return ((const float *)row)[k];
    if (kind == KV_F16) return mx_f16_to_f32(((const uint16_t *)row)[k]);
    return mx_bf16_to_f32(((const uint16_t *)row)[k]);
}
static inline __attribute__((always_inline)) int kv_size(const int kind) {
    return kind == KV_F32 ? 4 : 2;
}

/* The cache's rows are short, and a loop over them too brief for the hardware prefetcher to run
 * ahead: each row's lines are asked for when the row ATTN_PREFETCH_ROWS before it is used (a
 * hint that never faults). */
#ifndef ATTN_PREFETCH_ROWS
#define ATTN_PREFETCH_ROWS 12
#endif
/* Bytes of the lines to prefetch at each of `steps` steps so that pf_bytes are asked for
 * evenly across a loop (a burst of a whole tile's lines at once overflows the queue of
 * outstanding misses and leaves the loop's arithmetic waiting). */
static inline int64_t attn_pf_step(int64_t pf_bytes, int64_t steps) {
    return steps > 0 ? (pf_bytes + 64 * steps - 1) / (64 * steps) * 64 : 0;
}
static inline __attribute__((always_inline)) void attn_prefetch(const uint8_t *row, uint64_t bytes) {
    for (uint64_t o = 0; o < bytes; o += 64) _mm_prefetch((const char *)row + o, _MM_HINT_T0);
}

/* Each of the eight vectors' lanes summed as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)),
 * into lane i of the result for vector i. */
static inline __m256 hsum8x8(const __m256 v[8]) {
    const __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
    const __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

#define ATTN_VCHUNK 16
#ifndef ATTN_VPREFETCH
#define ATTN_VPREFETCH 2
#endif

static inline __attribute__((always_inline)) __m256 kv_load8(const int kind, const uint8_t *row, int64_t k) {
    if (kind == KV_F32) return _mm256_loadu_ps((const float *)row + k);
    if (kind == KV_F16) return load_f16x8((const uint16_t *)row + k);
    return load_bf16x8((const uint16_t *)row + k);
}

/* y_h += p_h * row for the nr (<= ATTN_VCHUNK) rows of a chunk in order and each head h: one
 * multiply-add per row and element, exactly the type's axpy row after row. The loop runs over
 * 16-element column slices outside and the rows inside, so each slice of HG heads' outputs
 * (2 * HG accumulators) stays in registers across the chunk's rows: 2 * HG independent chains
 * instead of one chain of four multiply-adds per head and piece of y, whose latency bounded
 * the earlier rows-outside kernel (66-79 ns per f16 row of 256 elements and 4 heads from L2,
 * against ~30 this way). The chunk (8 KiB of f16 rows) stays in L1 across its slices. */
static inline __attribute__((always_inline)) void
attn_values_slices(const int kind, const int HG, const float *p, int64_t p_stride, const uint8_t *row,
                   uint64_t row_bytes, int64_t nr, float *y, int64_t y_stride, int64_t n, const char *pf,
                   int64_t pf_step) {
    int64_t k = 0;
    for (; k + 16 <= n; k += 16, pf += pf_step) {
        for (int64_t o = 0; o < pf_step; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
        __m256 acc[4][2];
#pragma GCC unroll 4
        for (int h = 0; h < HG; h++) {
            acc[h][0] = _mm256_loadu_ps(y + h * y_stride + k);
            acc[h][1] = _mm256_loadu_ps(y + h * y_stride + k + 8);
        }
        for (int64_t r = 0; r < nr; r++) {
            const __m256 w0 = kv_load8(kind, row + r * row_bytes, k), w1 = kv_load8(kind, row + r * row_bytes, k + 8);
#pragma GCC unroll 4
            for (int h = 0; h < HG; h++) {
                const __m256 ph = _mm256_broadcast_ss(p + h * p_stride + r);
                acc[h][0] = _mm256_fmadd_ps(ph, w0, acc[h][0]);
                acc[h][1] = _mm256_fmadd_ps(ph, w1, acc[h][1]);
            }
        }
#pragma GCC unroll 4
        for (int h = 0; h < HG; h++) {
            _mm256_storeu_ps(y + h * y_stride + k, acc[h][0]);
            _mm256_storeu_ps(y + h * y_stride + k + 8, acc[h][1]);
        }
    }
    for (; k + 8 <= n; k += 8) {
        __m256 acc[4];
#pragma GCC unroll 4
        for (int h = 0; h < HG; h++) acc[h] = _mm256_loadu_ps(y + h * y_stride + k);
        for (int64_t r = 0; r < nr; r++) {
            const __m256 w = kv_load8(kind, row + r * row_bytes, k);
#pragma GCC unroll 4
            for (int h = 0; h < HG; h++) acc[h] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + h * p_stride + r), w, acc[h]);
        }
#pragma GCC unroll 4
        for (int h = 0; h < HG; h++) _mm256_storeu_ps(y + h * y_stride + k, acc[h]);
    }
    for (; k < n; k++)
        for (int h = 0; h < HG; h++)
            for (int64_t r = 0; r < nr; r++) y[h * y_stride + k] += p[h * p_stride + r] * kv_load1(kind, row + r * row_bytes, k);
}

/* The scores of nr rows, heads in groups of four, by `tile` (attn_scores_tile or a wider
 * sibling with the same arguments) over kg4 rows at a time for three or four heads, kg2 for
 * two, 8 for one (each a constant where the driver is inlined). The rows ATTN_PREFETCH_ROWS
 * ahead of a tile are asked for before it, or with `spread_pf` (and rows back to back) by the
 * tile itself across its loop: with the AVX-512 tile, whose four rows are a burst of 32 lines,
 * spreading them raised a cold pass of two threads over f16 rows from 54 to 67 GB/s, where a
 * plain read of the same rows gave 74 (the AVX2 tile was better with the burst). */
typedef void (*attn_tile_fn)(int kind, int KG, int HG, const uint8_t *rows, uint64_t row_bytes, const float *q,
                             int64_t q_stride, float *s, int64_t s_stride, int64_t n, const char *pf,
                             int64_t pf_bytes);
static inline __attribute__((always_inline)) void
attn_scores_drive(const attn_tile_fn tile, const bool spread_pf, const int kg4, const int kg2, const int kind,
                  const void *rows, uint64_t row_bytes, int64_t nr, const float *q, int64_t q_stride, int nq, float *s,
                  int64_t s_stride, int64_t n) {
    const uint8_t *base = rows;
    const uint64_t used = (uint64_t)n * kv_size(kind);
    const bool spread = spread_pf && row_bytes == used;
    for (int h0 = 0; h0 < nq; h0 += 4) {
        const int hg = MX_MIN(4, nq - h0);
        const float *qh = q + h0 * q_stride;
        float *sh = s + h0 * s_stride;
        int64_t r = 0;
#define SCORES_TILES(HG, KG)                                                                   \
    for (; r + KG <= nr; r += KG) {                                                            \
        const uint8_t *pf = base + (r + ATTN_PREFETCH_ROWS) * row_bytes;                       \
        if (!spread)                                                                           \
            for (int g = 0; g < KG; g++) attn_prefetch(pf + g * row_bytes, used);              \
        tile(kind, KG, HG, base + r * row_bytes, row_bytes, qh, q_stride, sh + r, s_stride, n,  \
             (const char *)pf, spread && h0 == 0 ? KG * (int64_t)used : 0);                    \
    }                                                                                          \
    for (; r < nr; r++)                                                                        \
        tile(kind, 1, HG, base + r * row_bytes, row_bytes, qh, q_stride, sh + r, s_stride, n,   \
             (const char *)base, 0)
        switch (hg) {
        case 4: SCORES_TILES(4, kg4); break;
        case 3: SCORES_TILES(3, kg4); break;
        case 2: SCORES_TILES(2, kg2); break;
        default: SCORES_TILES(1, 8); break;
        }
#undef SCORES_TILES
    }
}

/* The values of nr rows: chunks of ATTN_VCHUNK rows, heads in groups of four, each group by
 * `slices` (attn_values_slices or a wider sibling with the same arguments). */
typedef void (*attn_slices_fn)(int kind, int HG, const float *p, int64_t p_stride, const uint8_t *row,
                               uint64_t row_bytes, int64_t nr, float *y, int64_t y_stride, int64_t n,
                               const char *pf, int64_t pf_step);
static inline __attribute__((always_inline)) void
attn_values_drive(const attn_slices_fn slices, const int kind, const float *p, int64_t p_stride,
                  const void *rows, uint64_t row_bytes, int64_t nr, float *y, int64_t y_stride, int nq,
                  int64_t n) {
    const uint8_t *row = rows;
    const uint64_t used = (uint64_t)n * kv_size(kind);
    /* the chunk ATTN_VPREFETCH chunks ahead is asked for a slice at a time (a burst of a whole
     * chunk's lines overflows the queue of outstanding misses); cache rows are contiguous */
    const int64_t n_slices = MX_MAX((int64_t)1, n / 16);
    const int64_t pf_step = ((int64_t)ATTN_VCHUNK * (int64_t)used / n_slices + 63) & ~(int64_t)63;
    for (int64_t r = 0; r < nr; r += ATTN_VCHUNK, row += ATTN_VCHUNK * row_bytes) {
        const int64_t cn = MX_MIN((int64_t)ATTN_VCHUNK, nr - r);
        const char *pf = (const char *)row + ATTN_VPREFETCH * ATTN_VCHUNK * row_bytes;
        for (int h0 = 0; h0 < nq; h0 += 4, pf = (const char *)row) { /* later head groups: lines are in */
            const float *ph = p + h0 * p_stride + r;
            float *yh = y + h0 * y_stride;
            const int64_t st = h0 == 0 ? pf_step : 0;
            switch (MX_MIN(4, nq - h0)) {
            case 4: slices(kind, 4, ph, p_stride, row, row_bytes, cn, yh, y_stride, n, pf, st); break;
            case 3: slices(kind, 3, ph, p_stride, row, row_bytes, cn, yh, y_stride, n, pf, st); break;
            case 2: slices(kind, 2, ph, p_stride, row, row_bytes, cn, yh, y_stride, n, pf, st); break;
            default: slices(kind, 1, ph, p_stride, row, row_bytes, cn, yh, y_stride, n, pf, st); break;
            }
        }
    }
}

#endif
