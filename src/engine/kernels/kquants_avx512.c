/* kquants_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) siblings of the integer kernels of Q8_0,
 * Q4_0, Q5_0 and the K-quants (kernels_avx2.c, kquants_avx2.c): prefill's tile products, the
 * eight-row decode kernel of the 32-element block types and the K-quants' dots. Registered by
 * mx_kernels_avx512_fill() (kernels_avx512.c) over the AVX2 entries.
 *
 * The tile products take the AVX2 lane tiles' shape (kquants_avx2.c, "K-quant prefill with one
 * token per lane") with 16 tokens per group, one per 32-bit lane of a 512-bit vector, and
 * VNNI's vpdpbusd for the byte products: four products of an unsigned and a signed byte added
 * to each int32 lane exactly (no 16-bit intermediate, so no saturation to keep away from). The
 * weight levels are unsigned already (Q4_0 and Q4_K 0..15, Q5_0 and Q5_K 0..31, Q6_K 0..63;
 * Q8_0's bytes w are made w + 128) and take the unsigned side, the activation bytes the signed
 * side; a type's bias (Q4_0 -8, Q5_0 -16, Q6_K -32, Q8_0 -128) comes in as an exact per-token
 * correction -bias * sum(x) over the (sub-)block. So every lane holds the exact integer sums
 * dot_q forms (integer sums are the same whatever their order), and then takes dot_q's float
 * operations for its (sub-)block in dot_q's order, one operation per step: each result equals
 * dot_q bit for bit. Fewer than ZL_MIN_TOKENS tokens take the decode kernels further down. */
#include "engine/kernels/avx512_common.h"
#include "engine/kernels/kquants.h"

/* ---- the 16-token lane tile ---------------------------------------------------------------- */

#define ZL_TG 4              /* token groups of 16 per pass over a row */
#define ZL_XS_BYTES 20480    /* the re-laid-out segment of all the groups, the largest of the kinds */
#define ZL_MAX_ROWS 128
#define ZL_MIN_TOKENS 16

/* A type's tile: how to re-lay out a group of 16 tokens' activation blocks (blocks b0 ..
 * b0+nb-1 of tokens t0 .. t0+15, zeros past nt) as group g of the segment at `out`, and its
 * row kernels seg[m - 1][ng - 1] for m (1-2) rows from `row` on (rb bytes apart) against ng
 * (1..ZL_TG) groups over a segment of nb blocks, carrying one accumulator of 16 tokens per
 * row and group. A segment interleaves the groups: each re-laid-out vector of 16 tokens is
 * followed by the same vector of the next groups, so a row kernel reads the segment in order
 * (with the groups' segments apart instead, how fast the kernels ran depended on the distance
 * by up to 25%). */
typedef struct zl_kind {
    void (*pack)(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0, int nb, int g, void *out);
    void (*seg[2][ZL_TG])(const uint8_t *row, uint64_t rb, const void *xs, int nb, __m512 (*acc)[ZL_TG]);
    size_t wbsz, xbsz; /* bytes of a weight block, of a re-laid-out activation block (all groups) */
    int block;         /* elements per block */
    int seg_blocks;
    int rows;          /* rows per pass (<= ZL_MAX_ROWS): one re-layout serves them all */
} zl_kind;

/* Lane j of acc[i][g] to y[j * ys + i] for rows i < rn and tokens j < tn (both <= 16), leaving
 * zeros in acc[i][g] for the next pass: a 16 x 16 transpose (unpacks of 32 and 64 bits within
 * 128-bit quarters, then two rounds of quarter shuffles), so each token's rows go out by one
 * masked store. */
static inline void zl_store(__m512 (*acc)[ZL_TG], int g, int rn, int tn, float *y, int64_t ys) {
    __m512 v[16], t[16], u[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) {
        v[i] = i < rn ? acc[i][g] : _mm512_setzero_ps();
        if (i < rn) acc[i][g] = _mm512_setzero_ps();
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    /* u[4i + c], quarter q: element 4q + c of rows 4i .. 4i+3 */
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m512d a = _mm512_castps_pd(t[4 * i + h]), b = _mm512_castps_pd(t[4 * i + h + 2]);
            u[4 * i + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            u[4 * i + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const __m512 w0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), w1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        const __m512 x0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88), x1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        v[c] = _mm512_shuffle_f32x4(w0, x0, 0x88);
        v[8 + c] = _mm512_shuffle_f32x4(w0, x0, 0xDD);
        v[4 + c] = _mm512_shuffle_f32x4(w1, x1, 0x88);
        v[12 + c] = _mm512_shuffle_f32x4(w1, x1, 0xDD);
    }
    const __mmask16 m = (__mmask16)((1u << rn) - 1);
    for (int j = 0; j < tn; j++) _mm512_mask_storeu_ps(y + (int64_t)j * ys, m, v[j]);
}

/* The tile over rows x tokens (nt >= 16), the AVX2 lane tile's loops with groups of 16: k->rows
 * rows meet ZL_TG groups at a time, segment by segment (the segment stays in L1 while the rows
 * pass, two at a time), the segments of the rows LANE_PF_ROWS ahead prefetched; then the
 * lanes go out to their tokens. (Prefetching the outputs' lines before a pass, as the AVX2 tile
 * does, made the Q5_0 product 3% slower here.) */
static void zl_gemm(const zl_kind *k, const void *w, uint64_t rb, int nr, const void *xq, uint64_t xb, int nt,
                    float *y, int64_t ys, int64_t n) {
    const int64_t nb = n / k->block;
    _Alignas(64) uint8_t xs[ZL_XS_BYTES];
    _Alignas(64) __m512 acc[ZL_MAX_ROWS][ZL_TG]; /* zeroed once; each pass's zl_store leaves zeros */
    memset(acc, 0, sizeof acc[0] * (size_t)MX_MIN(nr, k->rows));
    for (int r0 = 0; r0 < nr; r0 += k->rows) {
        const int rn = MX_MIN(k->rows, nr - r0);
        for (int t0 = 0; t0 < nt; t0 += 16 * ZL_TG) {
            const int ng = MX_MIN(ZL_TG, (nt - t0 + 15) / 16);
            for (int64_t b0 = 0; b0 < nb; b0 += k->seg_blocks) {
                const int sn = (int)MX_MIN((int64_t)k->seg_blocks, nb - b0);
                for (int g = 0; g < ng; g++) k->pack(xq, xb, t0 + 16 * g, nt, b0, sn, g, xs);
                for (int r = 0; r < rn; r += 2) {
                    const int m = MX_MIN(2, rn - r);
                    for (int i = r + LANE_PF_ROWS; i < MX_MIN(rn, r + m + LANE_PF_ROWS); i++) {
                        const char *pf = (const char *)w + (uint64_t)(r0 + i) * rb + (size_t)b0 * k->wbsz;
                        for (size_t o = 0; o < (size_t)sn * k->wbsz; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
                    }
                    k->seg[m - 1][ng - 1]((const uint8_t *)w + (uint64_t)(r0 + r) * rb + (size_t)b0 * k->wbsz, rb, xs, sn,
                                          acc + r);
                }
            }
            for (int g = 0; g < ng; g++)
                for (int r = 0; r < rn; r += 16)
                    zl_store(acc + r, g, MX_MIN(16, rn - r), MX_MIN(16, nt - t0 - 16 * g),
                             y + (int64_t)(t0 + 16 * g) * ys + r0 + r, ys);
        }
    }
}

/* 16 rows of 8 dwords (32 bytes at p[i] + off) transposed: out[c] holds dword c of every row,
 * row i in lane i. Rows i and i + 8 share a vector (lanes 0-7, 8-15); the unpacks transpose
 * 4 x 4 blocks within each 128-bit quarter, and one two-source permute per output gathers its
 * four quarters. */
static inline __attribute__((always_inline)) void zl_transpose16x8(const uint8_t *const p[16], size_t off, __m512i out[8]) {
    __m512i r[8], t[8], u[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        r[i] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p[i] + off))),
                                  _mm256_loadu_si256((const __m256i *)(p[i + 8] + off)), 1);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        t[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    /* u[c] (u[4 + c]): quarters = dword c of rows 0-3 (4-7), dword c + 4 of rows 0-3 (4-7),
     * then the same of rows 8-11 (12-15) */
#pragma GCC unroll 2
    for (int k = 0; k < 2; k++) {
        u[4 * k + 0] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
        u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        out[c] = _mm512_permutex2var_epi64(u[c], lo, u[4 + c]);
        out[c + 4] = _mm512_permutex2var_epi64(u[c], hi, u[4 + c]);
    }
}

/* The start of blocks b0 .. of tokens t0 .. t0+15 (xbsz bytes per activation block) in p[j],
 * and the step to the next block in step[j]; a token from nt on reads `zero`, a block of zeros,
 * again and again. The tokens' activations come from far caches or memory (a whole step's
 * tokens are megabytes), so the same tokens' next nb blocks are asked for now: in cache by the
 * time the rows of this segment are done. */
static inline __attribute__((always_inline)) void zl_tokens(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0,
                                                            int nb, size_t xbsz, const void *zero,
                                                            const uint8_t *p[16], size_t step[16]) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) {
        const int on = t0 + j < nt;
        p[j] = on ? xq + (uint64_t)(t0 + j) * xb + (uint64_t)b0 * xbsz : (const uint8_t *)zero;
        step[j] = on ? xbsz : 0;
        if (on)
            for (size_t o = 0; o < (size_t)nb * xbsz; o += 64) _mm_prefetch((const char *)p[j] + (size_t)nb * xbsz + o, _MM_HINT_T0);
    }
}

/* ---- Q4_0 and Q5_0 ------------------------------------------------------------------------- */

/* The groups' Q8_0 blocks re-laid out: per group the 16 scales, each token's correction
 * -bias * (sum of the block's 32 bytes), per 4-byte chunk the 16 tokens' bytes. Per block and
 * token the lane starts from the correction and vpdpbusd adds u x for the block's 32 unsigned
 * levels u, so it ends at sum (u - bias) x, the exact P of dot_q (|P| < 2^15); then
 * acc = acc + (d_w d_x) P, dot_q's operations. */
typedef struct z0_block {
    float d[ZL_TG][16];
    int32_t corr[ZL_TG][16];
    int32_t q[8][ZL_TG][16]; /* [chunk][group][token] */
} z0_block;
#define Z0_SEG 8 /* blocks per segment */
_Static_assert(Z0_SEG * sizeof(z0_block) <= ZL_XS_BYTES, "lane segment");

static inline __attribute__((always_inline)) void z0_pack(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0,
                                                          int nb, int g, z0_block *out, const int bias) {
    static const mx_block_q8_0 zero; /* scale 0, bytes 0 */
    const uint8_t *p[16];
    size_t step[16];
    zl_tokens(xq, xb, t0, nt, b0, nb, sizeof(mx_block_q8_0), &zero, p, step);
    const __m512i vbias = _mm512_set1_epi8((char)bias);
    for (int b = 0; b < nb; b++) {
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) out[b].d[g][j] = _cvtsh_ss(((const mx_block_q8_0 *)p[j])->d);
        __m512i c16[8], s = _mm512_setzero_si512();
        zl_transpose16x8(p, offsetof(mx_block_q8_0, qs), c16);
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            _mm512_store_si512(out[b].q[c][g], c16[c]);
            s = _mm512_dpbusd_epi32(s, vbias, c16[c]); /* bias * the token's bytes, 4 at a time */
        }
        _mm512_store_si512(out[b].corr[g], _mm512_sub_epi32(_mm512_setzero_si512(), s));
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) p[j] += step[j];
    }
}
static void z0_pack_q4_0(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0, int nb, int g, void *out) {
    z0_pack(xq, xb, t0, nt, b0, nb, g, out, 8);
}
static void z0_pack_q5_0(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0, int nb, int g, void *out) {
    z0_pack(xq, xb, t0, nt, b0, nb, g, out, 16);
}
static void z0_pack_q8_0(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0, int nb, int g, void *out) {
    z0_pack(xq, xb, t0, nt, b0, nb, g, out, 128);
}

/* A block's 32 unsigned levels in element order (kind: Z0_Q4_0, Z0_Q5_0, Z0_Q8_0). Q4_0 and
 * Q5_0: the 16 bytes of nibbles in both halves, the upper half shifted down by 4, masked;
 * Q5_0 adds 16 to element j where bit j of qh is set (the 32 bits are a byte mask as they
 * stand). Q8_0: the signed bytes w made w + 128 by an exclusive or of the sign bit. */
enum { Z0_Q4_0, Z0_Q5_0, Z0_Q8_0 };
static inline __m256i z0_levels(const uint8_t *blk, const int kind) {
    if (kind == Z0_Q8_0)
        return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)((const mx_block_q8_0 *)blk)->qs),
                                _mm256_set1_epi8((char)0x80));
    const uint8_t *qs = kind == Z0_Q5_0 ? ((const mx_block_q5_0 *)blk)->qs : ((const mx_block_q4_0 *)blk)->qs;
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    const __m256i u = _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
    if (kind == Z0_Q4_0) return u;
    uint32_t h;
    memcpy(&h, ((const mx_block_q5_0 *)blk)->qh, 4);
    return _mm256_mask_add_epi8(u, (__mmask32)h, u, _mm256_set1_epi8(16));
}
static inline size_t z0_block_bytes(const int kind) {
    return kind == Z0_Q8_0 ? sizeof(mx_block_q8_0) : kind == Z0_Q5_0 ? sizeof(mx_block_q5_0) : sizeof(mx_block_q4_0);
}

/* Decode and small batches of Q8_0, Q4_0 and Q5_0: rows8_levels (avx512_common.h) on the
 * unsigned levels, bias 128, 8 or 16. Measured (Zen 5, Q8_0, 1152-wide rows): one core with
 * the rows in L2 58 GB/s against 38 for the AVX2 four-row kernel; four sequences decoded
 * together (bench -b 4) 130 tok/s against 90. Q8_0's two rows take one exclusive or. */
static inline __m512i q8_0_levels2(const uint8_t *a, const uint8_t *b) {
    const __m256i lo = _mm256_loadu_si256((const __m256i *)(a + offsetof(mx_block_q8_0, qs)));
    const __m256i hi = _mm256_loadu_si256((const __m256i *)(b + offsetof(mx_block_q8_0, qs)));
    return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), _mm512_set1_epi8((char)0x80));
}
static inline __m512i q4_0_levels2(const uint8_t *a, const uint8_t *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(z0_levels(a, Z0_Q4_0)), z0_levels(b, Z0_Q4_0), 1);
}
static inline __m512i q5_0_levels2(const uint8_t *a, const uint8_t *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(z0_levels(a, Z0_Q5_0)), z0_levels(b, Z0_Q5_0), 1);
}
ROWS8_FNS(g_q8_0_rows8, q8_0_levels2, 128, sizeof(mx_block_q8_0))
ROWS8_FNS(g_q4_0_rows8, q4_0_levels2, 8, sizeof(mx_block_q4_0))
ROWS8_FNS(g_q5_0_rows8, q5_0_levels2, 16, sizeof(mx_block_q5_0))

/* nr (1-2) rows over a segment of nb blocks against ng groups; acc[i][g] carried. Two rows
 * share each load of the tokens' bytes and make twice the independent chains of vpdpbusd; a
 * row's 4 levels of a chunk are broadcast from the register that holds the block's levels. */
static inline __attribute__((always_inline)) void z0_row_seg(const uint8_t *row, uint64_t rb, const z0_block *xs, int nb,
                                                             __m512 (*acc)[ZL_TG], const int nr, const int ng,
                                                             const int kind) {
    const size_t bsz = z0_block_bytes(kind);
    __m512 a[2][ZL_TG];
#pragma GCC unroll 2
    for (int i = 0; i < nr; i++)
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++) a[i][g] = acc[i][g];
    for (int b = 0; b < nb; b++) {
        __m256i lv[2];
#pragma GCC unroll 2
        for (int i = 0; i < nr; i++) lv[i] = z0_levels(row + i * rb + (size_t)b * bsz, kind);
        __m512i p[2][ZL_TG];
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++)
#pragma GCC unroll 2
            for (int i = 0; i < nr; i++) p[i][g] = _mm512_load_si512(xs[b].corr[g]);
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            __m512i wv[2];
#pragma GCC unroll 2
            for (int i = 0; i < nr; i++) wv[i] = _mm512_set1_epi32(_mm256_extract_epi32(lv[i], c));
#pragma GCC unroll 4
            for (int g = 0; g < ng; g++) {
                __m512i x = _mm512_load_si512(xs[b].q[c][g]);
                if (nr > 1) __asm__("" : "+v"(x)); /* one load for both rows, not a memory operand of each */
#pragma GCC unroll 2
                for (int i = 0; i < nr; i++) p[i][g] = _mm512_dpbusd_epi32(p[i][g], wv[i], x);
            }
        }
#pragma GCC unroll 2
        for (int i = 0; i < nr; i++) {
            const __m512 dw = _mm512_set1_ps(_cvtsh_ss(block_scale(row + i * rb + (size_t)b * bsz)));
#pragma GCC unroll 4
            for (int g = 0; g < ng; g++) {
                const __m512 d = _mm512_mul_ps(dw, _mm512_load_ps(xs[b].d[g]));
                a[i][g] = _mm512_add_ps(a[i][g], _mm512_mul_ps(d, _mm512_cvtepi32_ps(p[i][g])));
            }
        }
    }
#pragma GCC unroll 2
    for (int i = 0; i < nr; i++)
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++) acc[i][g] = a[i][g];
}

#define Z0_ROW_SEG(R, G, F)                                                                        \
    static void z0_row_seg_##R##_##G##_##F(const uint8_t *row, uint64_t rb, const void *xs, int nb, \
                                           __m512 (*acc)[ZL_TG]) {                                 \
        z0_row_seg(row, rb, xs, nb, acc, R, G, F);                                                 \
    }
Z0_ROW_SEG(1, 1, 0) Z0_ROW_SEG(1, 2, 0) Z0_ROW_SEG(1, 3, 0) Z0_ROW_SEG(1, 4, 0)
Z0_ROW_SEG(2, 1, 0) Z0_ROW_SEG(2, 2, 0) Z0_ROW_SEG(2, 3, 0) Z0_ROW_SEG(2, 4, 0)
Z0_ROW_SEG(1, 1, 1) Z0_ROW_SEG(1, 2, 1) Z0_ROW_SEG(1, 3, 1) Z0_ROW_SEG(1, 4, 1)
Z0_ROW_SEG(2, 1, 1) Z0_ROW_SEG(2, 2, 1) Z0_ROW_SEG(2, 3, 1) Z0_ROW_SEG(2, 4, 1)
Z0_ROW_SEG(1, 1, 2) Z0_ROW_SEG(1, 2, 2) Z0_ROW_SEG(1, 3, 2) Z0_ROW_SEG(1, 4, 2)
Z0_ROW_SEG(2, 1, 2) Z0_ROW_SEG(2, 2, 2) Z0_ROW_SEG(2, 3, 2) Z0_ROW_SEG(2, 4, 2)
#undef Z0_ROW_SEG
static const zl_kind g_zl_q4_0 = {z0_pack_q4_0,
                                  {{z0_row_seg_1_1_0, z0_row_seg_1_2_0, z0_row_seg_1_3_0, z0_row_seg_1_4_0},
                                   {z0_row_seg_2_1_0, z0_row_seg_2_2_0, z0_row_seg_2_3_0, z0_row_seg_2_4_0}},
                                  sizeof(mx_block_q4_0), sizeof(z0_block), 32, Z0_SEG, ZL_MAX_ROWS};
static const zl_kind g_zl_q5_0 = {z0_pack_q5_0,
                                  {{z0_row_seg_1_1_1, z0_row_seg_1_2_1, z0_row_seg_1_3_1, z0_row_seg_1_4_1},
                                   {z0_row_seg_2_1_1, z0_row_seg_2_2_1, z0_row_seg_2_3_1, z0_row_seg_2_4_1}},
                                  sizeof(mx_block_q5_0), sizeof(z0_block), 32, Z0_SEG, ZL_MAX_ROWS};
static const zl_kind g_zl_q8_0 = {z0_pack_q8_0,
                                  {{z0_row_seg_1_1_2, z0_row_seg_1_2_2, z0_row_seg_1_3_2, z0_row_seg_1_4_2},
                                   {z0_row_seg_2_1_2, z0_row_seg_2_2_2, z0_row_seg_2_3_2, z0_row_seg_2_4_2}},
                                  sizeof(mx_block_q8_0), sizeof(z0_block), 32, Z0_SEG, ZL_MAX_ROWS};

/* ---- Q4_K, Q5_K and Q6_K ------------------------------------------------------------------- */

/* The groups' Q8_K superblocks re-laid out: per group the 16 scales, per pair of bsums (2k,
 * 2k + 1) the 16 tokens' pairs (two int16 in a dword), the same for the sums of the 32-element
 * sub-blocks, and per 4-byte chunk the 16 tokens' bytes. */
typedef struct zk_block {
    float d[ZL_TG][16];
    int32_t bs[8][ZL_TG][16];  /* [k][group][token]: bsums 2k, 2k + 1 */
    int32_t ss[4][ZL_TG][16];  /* [i][group][token]: bsums 4i + 4i+1, 4i+2 + 4i+3 */
    int32_t q[64][ZL_TG][16];  /* [chunk][group][token] */
} zk_block;
#define ZK_SEG 1 /* superblocks per segment */
_Static_assert(ZK_SEG * sizeof(zk_block) <= ZL_XS_BYTES, "lane segment");

static void zk_pack(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0, int nb, int g, void *outv) {
    static const mx_block_q8_k zero; /* scale 0, bytes 0, bsums 0 */
    zk_block *out = outv;
    const uint8_t *p[16];
    size_t step[16];
    zl_tokens(xq, xb, t0, nt, b0, nb, sizeof(mx_block_q8_k), &zero, p, step);
    for (int b = 0; b < nb; b++) {
        __m512i c16[8];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) out[b].d[g][j] = ((const mx_block_q8_k *)p[j])->d;
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) { /* 32 bytes (8 chunks) of every token at a time */
            zl_transpose16x8(p, offsetof(mx_block_q8_k, qs) + 32 * (size_t)s, c16);
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) _mm512_store_si512(out[b].q[8 * s + c][g], c16[c]);
        }
        zl_transpose16x8(p, offsetof(mx_block_q8_k, bsums), c16);
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) _mm512_store_si512(out[b].bs[k][g], c16[k]);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) { /* |sum| <= 32 * 128: two int16 */
            const __m512i s0 = _mm512_madd_epi16(c16[2 * i], _mm512_set1_epi16(1));
            const __m512i s1 = _mm512_madd_epi16(c16[2 * i + 1], _mm512_set1_epi16(1));
            _mm512_store_si512(out[b].ss[i][g], _mm512_mask_blend_epi16(0xAAAAAAAAu, s0, _mm512_slli_epi32(s1, 16)));
        }
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) p[j] += step[j];
    }
}

/* The eight 6-bit scales and mins of a Q4_K / Q5_K block (mx_kq_scale_min), a byte each, sc_j
 * (m_j) in byte j of *sc8 (*mn8): sc 0..3 and m 0..3 are the low 6 bits of bytes 0..3 and
 * 4..7; sc (m) 4..7 the low (high) nibbles of bytes 8..11 with the top two bits of bytes 0..3
 * (4..7) as bits 4-5. */
static inline void zk45_scale_min(const uint8_t *scales, uint64_t *sc8, uint64_t *mn8) {
    uint32_t sw[3];
    memcpy(sw, scales, 12);
    const uint32_t sc03 = sw[0] & 0x3F3F3F3Fu, mn03 = sw[1] & 0x3F3F3F3Fu;
    const uint32_t sc47 = (sw[2] & 0x0F0F0F0Fu) | ((sw[0] >> 2) & 0x30303030u);
    const uint32_t mn47 = ((sw[2] >> 4) & 0x0F0F0F0Fu) | ((sw[1] >> 2) & 0x30303030u);
    *sc8 = sc03 | (uint64_t)sc47 << 32;
    *mn8 = mn03 | (uint64_t)mn47 << 32;
}

/* Q4_K and Q5_K: per sub-block j (32 elements, activation chunks 8j .. 8j+7) the exact
 * sum q y of each token by 8 vpdpbusd (|sum| < 2^17), times the 6-bit scale sc_j by an int32
 * multiply, added to isum; then msum = sum_j m_j (sum of sub-block j's bytes) by one vpdpwssd
 * per pair of sub-blocks (their sums against m_j, m_j+1 as 16-bit words), and mx_kq_combine's
 * steps lane by lane. Sub-blocks 2i and 2i + 1 go side by side (two chains per group): the 32
 * bytes qs[32i ..] hold them in their low and high nibbles, Q5_K's fifth bits are bits 2i and
 * 2i + 1 of qh[l]; each 4 levels are then broadcast from the register. */
static inline __attribute__((always_inline)) void zk45_row_block(const uint8_t *blk, const zk_block *xs, __m512 *acc,
                                                                 const int ng, const int five) {
    const mx_block_q4_k *b4 = (const mx_block_q4_k *)blk;
    const mx_block_q5_k *b5 = (const mx_block_q5_k *)blk;
    const uint8_t *scales = five ? b5->scales : b4->scales, *qs = five ? b5->qs : b4->qs;
    uint64_t sc8, mn8;
    zk45_scale_min(scales, &sc8, &mn8);
    const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
    const __m256i qh = five ? _mm256_loadu_si256((const __m256i *)b5->qh) : _mm256_setzero_si256();
    __m512i isum[ZL_TG], msum[ZL_TG];
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) isum[g] = _mm512_setzero_si512();
    for (int i = 0; i < 4; i++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * i));
        __m256i l[2] = {_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)};
        if (five) { /* bits 2i, 2i + 1 of qh[l] to bit 4 */
            const __m256i h = _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * i));
            l[0] = _mm256_or_si256(l[0], _mm256_and_si256(_mm256_slli_epi16(h, 4), bit4));
            l[1] = _mm256_or_si256(l[1], _mm256_and_si256(_mm256_slli_epi16(h, 3), bit4));
        }
        __m512i p[2][ZL_TG];
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++) p[0][g] = p[1][g] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++)
#pragma GCC unroll 2
            for (int k = 0; k < 2; k++) {
                const __m512i wv = _mm512_set1_epi32(_mm256_extract_epi32(l[k], c));
#pragma GCC unroll 4
                for (int g = 0; g < ng; g++)
                    p[k][g] = _mm512_dpbusd_epi32(p[k][g], wv, _mm512_load_si512(xs->q[8 * (2 * i + k) + c][g]));
            }
#pragma GCC unroll 2
        for (int k = 0; k < 2; k++) {
            const __m512i scj = _mm512_set1_epi32((int)(sc8 >> (8 * (2 * i + k)) & 0xFF));
#pragma GCC unroll 4
            for (int g = 0; g < ng; g++) isum[g] = _mm512_add_epi32(isum[g], _mm512_mullo_epi32(p[k][g], scj));
        }
    }
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) msum[g] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* m 2i, 2i + 1 as the two words of each dword */
        const __m512i mni = _mm512_set1_epi32((int)((mn8 >> (16 * i) & 0xFF) | (mn8 >> (16 * i + 8) & 0xFF) << 16));
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++) msum[g] = _mm512_dpwssd_epi32(msum[g], _mm512_load_si512(xs->ss[i][g]), mni);
    }
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(five ? b5->d : b4->d)), dmin = _mm512_set1_ps(_cvtsh_ss(five ? b5->dmin : b4->dmin));
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) { /* mx_kq_combine, lane by lane */
        const __m512 yd = _mm512_load_ps(xs->d[g]);
        const __m512 ta = _mm512_mul_ps(_mm512_mul_ps(yd, d), _mm512_cvtepi32_ps(isum[g]));
        const __m512 tb = _mm512_mul_ps(_mm512_mul_ps(yd, dmin), _mm512_cvtepi32_ps(msum[g]));
        acc[g] = _mm512_add_ps(acc[g], _mm512_sub_ps(ta, tb));
    }
}

/* Q6_K: levels u = q + 32 (0..63); per 16-element sub-block s (chunks 4s .. 4s+3) the exact
 * sum u y by 4 vpdpbusd, times the int8 scale sc_s by an int32 multiply, added to isum; then
 * the bias, -32 sum_s sc_s bsums_s, by one vpdpwssd per pair of sub-blocks (the pair of bsums
 * against -32 sc_2k, -32 sc_2k+1, which fit 16 bits), and mx_kq_combine(yd, d, 0, isum, 0)
 * lane by lane. The levels are made 64 at a time in element order (the low nibbles of
 * ql[64h .. 64h+63] are elements 128h .. 128h+63, the high ones the next 64, their bits 4-5
 * the pairs of bits 2k, 2k+1 of qh[32h + l]) and broadcast 4 at a time; sub-blocks go two
 * side by side (two chains per group). Made a pair of sub-blocks at a time inside a loop, as
 * Q4_K's are, the product was 10% slower. */
static inline __attribute__((always_inline)) void zk6_row_block(const uint8_t *blk, const zk_block *xs, __m512 *acc,
                                                                const int ng) {
    const mx_block_q6_k *b = (const mx_block_q6_k *)blk;
    _Alignas(64) uint8_t lv[256];
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1); /* k = 0, 1 */
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1); /* k = 2, 3 */
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m512i v = _mm512_loadu_si512(b->ql + 64 * h);
        const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)));
        _mm512_store_si512(lv + 128 * h, _mm512_or_si512(_mm512_and_si512(v, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, shl), m2)));
        _mm512_store_si512(lv + 128 * h + 64, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4),
                                                              _mm512_and_si512(_mm512_srlv_epi16(qh, shr), m2)));
    }
    _Alignas(64) int32_t sc[16], sb[8];
    const __m512i s32 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->scales));
    _mm512_store_si512(sc, s32);
    /* -32 sc as 16-bit words: scales 2k, 2k + 1 in dword k */
    _mm256_store_si256((__m256i *)sb, _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales)),
                                                         _mm256_set1_epi16(-32)));
    __m512i isum[ZL_TG];
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) isum[g] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int s0 = 0; s0 < 16; s0 += 2) { /* sub-blocks s0 and s0 + 1 */
        __m512i p[2][ZL_TG];
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++) p[0][g] = p[1][g] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
#pragma GCC unroll 2
            for (int i = 0; i < 2; i++) {
                int32_t w4;
                memcpy(&w4, lv + 16 * (s0 + i) + 4 * c, 4);
                const __m512i wv = _mm512_set1_epi32(w4);
#pragma GCC unroll 4
                for (int g = 0; g < ng; g++)
                    p[i][g] = _mm512_dpbusd_epi32(p[i][g], wv, _mm512_load_si512(xs->q[4 * (s0 + i) + c][g]));
            }
#pragma GCC unroll 2
        for (int i = 0; i < 2; i++) {
            const __m512i scs = _mm512_set1_epi32(sc[s0 + i]);
#pragma GCC unroll 4
            for (int g = 0; g < ng; g++) isum[g] = _mm512_add_epi32(isum[g], _mm512_mullo_epi32(p[i][g], scs));
        }
    }
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        const __m512i sbk = _mm512_set1_epi32(sb[k]);
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++) isum[g] = _mm512_dpwssd_epi32(isum[g], _mm512_load_si512(xs->bs[k][g]), sbk);
    }
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(b->d)), zero = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) { /* mx_kq_combine(yd, d, 0, isum, 0), lane by lane */
        const __m512 yd = _mm512_load_ps(xs->d[g]);
        const __m512 ta = _mm512_mul_ps(_mm512_mul_ps(yd, d), _mm512_cvtepi32_ps(isum[g]));
        const __m512 tb = _mm512_mul_ps(_mm512_mul_ps(yd, zero), zero);
        acc[g] = _mm512_add_ps(acc[g], _mm512_sub_ps(ta, tb));
    }
}

/* nr rows over a segment of nb superblocks against ng groups, one row after the other; acc[i][g]
 * carried. type: 4 (Q4_K), 5 (Q5_K), 6 (Q6_K). */
static inline __attribute__((always_inline)) void zk_row_seg(const uint8_t *row, uint64_t rb, const zk_block *xs, int nb,
                                                             __m512 (*acc)[ZL_TG], const int nr, const int ng,
                                                             const int type) {
    const size_t bsz = type == 4 ? sizeof(mx_block_q4_k) : type == 5 ? sizeof(mx_block_q5_k) : sizeof(mx_block_q6_k);
    for (int i = 0; i < nr; i++)
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = row + i * rb + (size_t)b * bsz;
            if (type == 6) zk6_row_block(blk, xs + b, acc[i], ng);
            else zk45_row_block(blk, xs + b, acc[i], ng, type == 5);
        }
}

#define ZK_ROW_SEG(R, G, T)                                                                        \
    static void zk_row_seg_##R##_##G##_##T(const uint8_t *row, uint64_t rb, const void *xs, int nb, \
                                           __m512 (*acc)[ZL_TG]) {                                 \
        zk_row_seg(row, rb, xs, nb, acc, R, G, T);                                                 \
    }
#define ZK_ROW_SEGS(T)                                                                             \
    ZK_ROW_SEG(1, 1, T) ZK_ROW_SEG(1, 2, T) ZK_ROW_SEG(1, 3, T) ZK_ROW_SEG(1, 4, T)               \
    ZK_ROW_SEG(2, 1, T) ZK_ROW_SEG(2, 2, T) ZK_ROW_SEG(2, 3, T) ZK_ROW_SEG(2, 4, T)               \
    static const zl_kind g_zl_q##T##_k = {                                                         \
        zk_pack,                                                                                   \
        {{zk_row_seg_1_1_##T, zk_row_seg_1_2_##T, zk_row_seg_1_3_##T, zk_row_seg_1_4_##T},         \
         {zk_row_seg_2_1_##T, zk_row_seg_2_2_##T, zk_row_seg_2_3_##T, zk_row_seg_2_4_##T}},        \
        sizeof(mx_block_q##T##_k), sizeof(zk_block), MX_QK_K, ZK_SEG, ZL_MAX_ROWS};
ZK_ROW_SEGS(4)
ZK_ROW_SEGS(5)
ZK_ROW_SEGS(6)
#undef ZK_ROW_SEGS
#undef ZK_ROW_SEG

/* ---- K-quant decode (one token) ------------------------------------------------------------ */

/* Each superblock asks for the bytes ZD_PREFETCH ahead of it (rows are contiguous, so past a
 * row's end it fetches the next row; prefetches never fault). */
#ifndef ZD_PREFETCH
#define ZD_PREFETCH 4096
#endif

/* dot_q of Q4_K / Q5_K and Q6_K with 512-bit vectors: one row at a time (one linear stream
 * per thread), a superblock's 256 levels in four vectors of 64, each multiplied with the
 * token's 64 bytes by vpmaddubsw (unsigned levels, signed bytes: pair sums at most
 * 2 * 63 * 127, no saturation) and vpmaddwd against the sub-blocks' scales as 16-bit words: the
 * exact int32 isum (and msum) of the reference, whatever the order of the integer additions,
 * then mx_kq_combine's float steps per superblock in order: dot_q's bits. */

/* 64 levels of chunk c (sub-blocks 2c, 2c + 1) of a Q4_K / Q5_K block: the 32 bytes of qs in
 * both halves, the upper half shifted down by 4, masked; Q5_K adds 16 to element l of sub-block
 * j where bit j of qh[l] is set (qh in both halves of `qh2`). */
static inline __m512i zd45_levels(const uint8_t *qs, __m512i qh2, int c, const int five) {
    const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * c)));
    __m512i u = _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4)), _mm512_set1_epi8(0x0F));
    if (five) {
        const __m512i bits = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * c))),
                                                _mm256_set1_epi8((char)(1 << (2 * c + 1))), 1);
        u = _mm512_mask_add_epi8(u, _mm512_test_epi8_mask(qh2, bits), u, _mm512_set1_epi8(16));
    }
    return u;
}

static inline __attribute__((always_inline)) float dotq_kq45_avx512(const void *row, const void *xq, int64_t n,
                                                                    const int five) {
    const size_t bs = five ? sizeof(mx_block_q5_k) : sizeof(mx_block_q4_k);
    const mx_block_q8_k *y = xq;
    float s = 0.0f;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++) {
        const uint8_t *blk = (const uint8_t *)row + (size_t)ib * bs;
        prefetch_ahead(blk, bs, ZD_PREFETCH);
        const mx_block_q4_k *b4 = (const mx_block_q4_k *)blk;
        const mx_block_q5_k *b5 = (const mx_block_q5_k *)blk;
        uint64_t sc8, mn8;
        zk45_scale_min(five ? b5->scales : b4->scales, &sc8, &mn8);
        /* sc_j as 16-bit words: words 0-15 of vector c take sc_2c, words 16-31 sc_2c+1 */
        const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
        const __m512i qh2 = five ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)b5->qh)) : _mm512_setzero_si512();
        const uint8_t *qs = five ? b5->qs : b4->qs;
        __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m512i u = zd45_levels(qs, qh2, c, five);
            const __m512i scv = _mm512_permutexvar_epi16(
                _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * c)), _mm256_set1_epi16((short)(2 * c + 1)), 1), sc16);
            const __m512i x = _mm512_loadu_si512(y[ib].qs + 64 * c);
            acc = _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, x), scv));
        }
        const int32_t isum = _mm512_reduce_add_epi32(acc);
        /* msum = sum_j m_j (bsums 2j + bsums 2j+1): each min twice against the 16 bsums */
        const __m128i m8 = _mm_cvtsi64_si128((long long)mn8);
        const __m256i mv = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
        const int32_t msum = hsum_i32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[ib].bsums), mv));
        s += mx_kq_combine(y[ib].d, _cvtsh_ss(five ? b5->d : b4->d), _cvtsh_ss(five ? b5->dmin : b4->dmin), isum, msum);
    }
    return s;
}
static float dotq_q4_k_avx512(const void *row, const void *xq, int64_t n) { return dotq_kq45_avx512(row, xq, n, 0); }
static float dotq_q5_k_avx512(const void *row, const void *xq, int64_t n) { return dotq_kq45_avx512(row, xq, n, 1); }

/* Q6_K: half h (128 elements) is ql[64h .. 64h+63] (low nibbles: elements 0-63 of the half,
 * high nibbles: 64-127) and qh[32h .. 32h+31] in both halves of a vector, whose bits 2k, 2k+1
 * become bits 4-5 of element 32k + l: shifted per 16-bit word (left 4 and 2, right 0 and 2)
 * and masked to 0x30. Levels u = q + 32 (0..63); the bias -32 sum_j sc_j bsums_j per block. */
static float dotq_q6_k_avx512(const void *row, const void *xq, int64_t n) {
    const mx_block_q6_k *b = row;
    const mx_block_q8_k *y = xq;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i sl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i sr = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
    float s = 0.0f;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++) {
        prefetch_ahead(&b[ib], sizeof b[ib], ZD_PREFETCH);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b[ib].scales));
        const __m512i sc = _mm512_castsi256_si512(sc16);
        __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m512i ql = _mm512_loadu_si512(b[ib].ql + 64 * h);
            const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b[ib].qh + 32 * h)));
            __m512i u[2];
            u[0] = _mm512_ternarylogic_epi32(m4, ql, _mm512_and_si512(_mm512_sllv_epi16(qh, sl), m30), 0xCA);
            u[1] = _mm512_ternarylogic_epi32(m4, _mm512_srli_epi16(ql, 4), _mm512_and_si512(_mm512_srlv_epi16(qh, sr), m30), 0xCA);
#pragma GCC unroll 2
            for (int k = 0; k < 2; k++) { /* elements 128h + 64k .. + 63: sub-blocks 8h + 4k .. + 3 */
                const int j0 = 8 * h + 4 * k;
                const __m512i scv = _mm512_permutexvar_epi16(
                    _mm512_setr_epi32(j0 * 0x10001, j0 * 0x10001, j0 * 0x10001, j0 * 0x10001,
                                      (j0 + 1) * 0x10001, (j0 + 1) * 0x10001, (j0 + 1) * 0x10001, (j0 + 1) * 0x10001,
                                      (j0 + 2) * 0x10001, (j0 + 2) * 0x10001, (j0 + 2) * 0x10001, (j0 + 2) * 0x10001,
                                      (j0 + 3) * 0x10001, (j0 + 3) * 0x10001, (j0 + 3) * 0x10001, (j0 + 3) * 0x10001),
                    sc);
                const __m512i x = _mm512_loadu_si512(y[ib].qs + 128 * h + 64 * k);
                acc = _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u[k], x), scv));
            }
        }
        const int32_t bsum = hsum_i32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[ib].bsums), sc16));
        s += mx_kq_combine(y[ib].d, _cvtsh_ss(b[ib].d), 0.0f, _mm512_reduce_add_epi32(acc) - 32 * bsum, 0);
    }
    return s;
}

/* ---- registration -------------------------------------------------------------------------- */

static mx_gemm_q_fn g_below[MX_TYPE_COUNT]; /* the AVX2 set's products, for fewer tokens */

/* gemm_q of the six types: the 16-token tile from ZL_MIN_TOKENS tokens; below that the eight-row
 * kernel (Q8_0, Q4_0, Q5_0), the dot (K-quants, one token) or the AVX2 set's product. */
#define GEMM_ZL(name, kind, type, rows8, dot)                                             \
    static void name(const void *w, uint64_t rb, int nr, const void *xq, uint64_t xb, int nt, float *y, \
                     int64_t ys, int64_t n) {                                                     \
        const rows8_fn *r8 = rows8;                                                               \
        const mx_dot_q_fn dot1 = dot;                                                             \
        if (nt == 1 && dot1)                                                                      \
            for (int r = 0; r < nr; r++) y[r] = dot1((const uint8_t *)w + (uint64_t)r * rb, xq, n); \
        else if (nt < ZL_MIN_TOKENS && r8) rows8_gemm(r8, g_below[type], w, rb, nr, xq, xb, nt, y, ys, n); \
        else if (nt < ZL_MIN_TOKENS) g_below[type](w, rb, nr, xq, xb, nt, y, ys, n);              \
        else zl_gemm(&kind, w, rb, nr, xq, xb, nt, y, ys, n);                                     \
    }
GEMM_ZL(gemm_q_q8_0_avx512, g_zl_q8_0, MX_TYPE_Q8_0, g_q8_0_rows8, NULL)
GEMM_ZL(gemm_q_q4_0_avx512, g_zl_q4_0, MX_TYPE_Q4_0, g_q4_0_rows8, NULL)
GEMM_ZL(gemm_q_q5_0_avx512, g_zl_q5_0, MX_TYPE_Q5_0, g_q5_0_rows8, NULL)
GEMM_ZL(gemm_q_q4_k_avx512, g_zl_q4_k, MX_TYPE_Q4_K, NULL, dotq_q4_k_avx512)
GEMM_ZL(gemm_q_q5_k_avx512, g_zl_q5_k, MX_TYPE_Q5_K, NULL, dotq_q5_k_avx512)
GEMM_ZL(gemm_q_q6_k_avx512, g_zl_q6_k, MX_TYPE_Q6_K, NULL, dotq_q6_k_avx512)
#undef GEMM_ZL

void mx_kquants_avx512_fill(mx_type_kernels *t) {
    static const struct {
        mx_type type;
        mx_gemm_q_fn fn;
    } entries[] = {{MX_TYPE_Q8_0, gemm_q_q8_0_avx512}, {MX_TYPE_Q4_0, gemm_q_q4_0_avx512},
                   {MX_TYPE_Q5_0, gemm_q_q5_0_avx512}, {MX_TYPE_Q4_K, gemm_q_q4_k_avx512},
                   {MX_TYPE_Q5_K, gemm_q_q5_k_avx512}, {MX_TYPE_Q6_K, gemm_q_q6_k_avx512}};
    for (size_t i = 0; i < MX_ARRAY_LEN(entries); i++) {
        g_below[entries[i].type] = t[entries[i].type].gemm_q;
        if (g_below[entries[i].type]) t[entries[i].type].gemm_q = entries[i].fn;
    }
    if (t[MX_TYPE_Q4_K].dot_q) t[MX_TYPE_Q4_K].dot_q = dotq_q4_k_avx512;
    if (t[MX_TYPE_Q5_K].dot_q) t[MX_TYPE_Q5_K].dot_q = dotq_q5_k_avx512;
    if (t[MX_TYPE_Q6_K].dot_q) t[MX_TYPE_Q6_K].dot_q = dotq_q6_k_avx512;
}
