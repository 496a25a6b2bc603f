/* kernels_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) siblings of the AVX2 kernels where the wider
 * registers pay, that is the arithmetic-bound products of prefill: the f32 tile product (F32,
 * F16 and BF16 weights) and Q8_0's tile product with VNNI's byte dot products. Decode's dots
 * (bound by memory bandwidth), attention and the conversions stay those of the AVX2 set, which
 * this set starts from. Every result equals the AVX2 set's dot of the same row and token bit
 * for bit, as the engine needs (prefill and decode agree exactly). Compiled with the AVX-512
 * flags for this file only; chosen at run time (kernels.c). */
#include "engine/kernels/avx512_common.h"

/* ---- f32 tile product ------------------------------------------------------------------ */

/* The packed operands (kernels.h) hold a weight block's 4 rows as 4 consecutive 8-float
 * vectors per group of 8 elements, so one 512-bit load takes two rows' lanes: lanes 0-7 row
 * 2q, lanes 8-15 row 2q + 1. A token's 8 floats are broadcast to both halves. Each lane then
 * meets exactly the operands, in exactly the order, of the AVX2 product's 8-lane accumulator
 * for its row and token, and the reduction at the end is the AVX2 one: the same bits.
 *
 * The register block is 8 rows (two packed weight blocks, four 512-bit vectors) x 6 tokens
 * (two packed token blocks): 24 accumulators, 4 loads and 6 broadcasts per 24 fused
 * multiply-adds. A group of Z_RG rows meets a group of Z_TG tokens chunk by chunk of Z_KC
 * elements of one stretch (the row pair's chunk stays in L1 while the token blocks stream
 * from L2); partial sums between chunks live in the scratch as [stretch][row pair][token
 * pair][24][16]. */
#define Z_RG 32  /* rows per group: Z_RG / 8 register blocks of rows */
#define Z_TG 48  /* tokens per group: Z_TG / 6 register blocks of tokens */
#define Z_KC 512 /* elements per chunk */
#define Z_PART (24 * 16)
_Static_assert(MX_GEMM_SCRATCH_FLOATS >= 4 * (Z_RG / 8) * (Z_TG / 6) * Z_PART, "gemm scratch");
_Static_assert(MX_GEMM_WB == 4 && MX_GEMM_XB == 3, "gemm block shape");

/* acc[q][t] (+)= w vector q times token t over nv groups of 8 elements, for nrb (1-2) weight
 * blocks at w0, w1 and ntb (1-2) token blocks at x0, x1; stored to p[(q * 6 + t) * 16]. */
static inline __attribute__((always_inline)) void
zgemm_kernel(const float *w0, const float *w1, const float *x0, const float *x1, int64_t nv, float *p,
             bool first, const int nrb, const int ntb) {
    __m512 acc[4][6];
#pragma GCC unroll 4
    for (int q = 0; q < 2 * nrb; q++)
#pragma GCC unroll 6
        for (int t = 0; t < 3 * ntb; t++) acc[q][t] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(p + (q * 6 + t) * 16);
    for (int64_t i = 0; i < nv; i++) {
        __m512 wv[4];
        wv[0] = _mm512_loadu_ps(w0 + 32 * i);
        wv[1] = _mm512_loadu_ps(w0 + 32 * i + 16);
        if (nrb > 1) {
            wv[2] = _mm512_loadu_ps(w1 + 32 * i);
            wv[3] = _mm512_loadu_ps(w1 + 32 * i + 16);
        }
#pragma GCC unroll 6
        for (int t = 0; t < 3 * ntb; t++) {
            const float *xt = (t < 3 ? x0 + 8 * t : x1 + 8 * (t - 3)) + 24 * i;
            const __m512 xv = _mm512_broadcast_f32x8(_mm256_loadu_ps(xt));
#pragma GCC unroll 4
            for (int q = 0; q < 2 * nrb; q++) acc[q][t] = _mm512_fmadd_ps(wv[q], xv, acc[q][t]);
        }
    }
#pragma GCC unroll 4
    for (int q = 0; q < 2 * nrb; q++)
#pragma GCC unroll 6
        for (int t = 0; t < 3 * ntb; t++) _mm512_storeu_ps(p + (q * 6 + t) * 16, acc[q][t]);
}

#define ZGEMM_KERNEL(R, T)                                                                      \
    static void zgemm_kernel_##R##_##T(const float *w0, const float *w1, const float *x0,      \
                                       const float *x1, int64_t nv, float *p, bool first) {    \
        zgemm_kernel(w0, w1, x0, x1, nv, p, first, R, T);                                       \
    }
ZGEMM_KERNEL(1, 1) ZGEMM_KERNEL(1, 2) ZGEMM_KERNEL(2, 1) ZGEMM_KERNEL(2, 2)
#undef ZGEMM_KERNEL
typedef void (*zgemm_kernel_fn)(const float *, const float *, const float *, const float *, int64_t, float *, bool);
static const zgemm_kernel_fn g_zgemm[2][2] = {{zgemm_kernel_1_1, zgemm_kernel_1_2}, {zgemm_kernel_2_1, zgemm_kernel_2_2}};

static void gemm_f32_avx512(const float *wp, int nr, const float *xp, int nt, float *y, int64_t ys,
                            int64_t n, float *part) {
    const int64_t n8 = n & ~(int64_t)7, tail = n - n8;
    /* stretch j of a block: elements [off[j], off[j + 1]) of the accumulator order */
    int64_t off[5] = {0};
    for (int64_t k = 0; k < n8; k += MX_DOT_RUN) off[(k / MX_DOT_RUN) % 4 + 1] += MX_MIN((int64_t)MX_DOT_RUN, n8 - k);
    for (int j = 0; j < 4; j++) off[j + 1] += off[j];
    const int nrb = (nr + 3) / 4, ntb = (nt + 2) / 3; /* packed blocks */
    const int64_t ps = (int64_t)(Z_RG / 8) * (Z_TG / 6) * Z_PART; /* distance between stretches */
    for (int rg = 0; rg < nrb; rg += Z_RG / 4) {
        const int rge = MX_MIN(nrb, rg + Z_RG / 4);
        for (int tg = 0; tg < ntb; tg += Z_TG / 3) {
            const int tge = MX_MIN(ntb, tg + Z_TG / 3);
            for (int j = 0; j < 4; j++) {
                int64_t c0 = off[j];
                do { /* an empty stretch still writes its zero partials */
                    const int64_t c1 = MX_MIN(c0 + Z_KC, off[j + 1]);
                    for (int rb = rg; rb < rge; rb += 2) {
                        const int rn = MX_MIN(2, rge - rb);
                        const float *w0 = wp + (int64_t)rb * 4 * n + c0 * 4;
                        for (int tb = tg; tb < tge; tb += 2) {
                            const int tn = MX_MIN(2, tge - tb);
                            const float *x0 = xp + (int64_t)tb * 3 * n + c0 * 3;
                            g_zgemm[rn - 1][tn - 1](w0, w0 + 4 * n, x0, x0 + 3 * n, (c1 - c0) / 8,
                                                   part + j * ps + ((rb - rg) / 2 * (Z_TG / 6) + (tb - tg) / 2) * Z_PART,
                                                   c0 == off[j]);
                        }
                    }
                    c0 = c1;
                } while (c0 < off[j + 1]);
            }
            /* row r of block rb sits in vector q = (rb % 2) * 2 + r / 2, lanes 8 (r % 2) on;
             * token t of block tb in column (tb % 2) * 3 + t */
            for (int rb = rg; rb < rge; rb++)
                for (int tb = tg; tb < tge; tb++) {
                    const float *pb = part + ((rb - rg) / 2 * (Z_TG / 6) + (tb - tg) / 2) * Z_PART;
                    for (int r = 0; r < 4 && rb * 4 + r < nr; r++)
                        for (int t = 0; t < 3 && tb * 3 + t < nt; t++) {
                            const int q = (rb - rg) % 2 * 2 + r / 2, c = (tb - tg) % 2 * 3 + t;
                            const float *v = pb + (q * 6 + c) * 16 + 8 * (r % 2);
                            float s = hsum8(_mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(v), _mm256_loadu_ps(v + ps)),
                                                          _mm256_add_ps(_mm256_loadu_ps(v + 2 * ps), _mm256_loadu_ps(v + 3 * ps))));
                            const float *wt = wp + (int64_t)rb * 4 * n + 4 * n8 + r * tail;
                            const float *xt = xp + (int64_t)tb * 3 * n + 3 * n8 + t * tail;
                            for (int64_t k = 0; k < tail; k++) s += wt[k] * xt[k];
                            y[(int64_t)(tb * 3 + t) * ys + rb * 4 + r] = s;
                        }
                }
        }
    }
}

mx_gemm_f32_fn mx_gemm_f32_avx512_fn(void) { return gemm_f32_avx512; }

/* ---- Q8_0 x Q8_0 tile product (VNNI) ------------------------------------------------------ */

/* One token per 32-bit lane, 16 tokens to a group, as the AVX2 lane tile does with 8. VNNI's
 * vpdpbusd adds four products of an unsigned and a signed byte to each lane exactly. The
 * weight byte w is made unsigned as w + 128 (an exclusive or of the sign bit), the token's
 * byte x stays signed, and each block's int32 sum starts from -128 times the token's sum of
 * the block's bytes (made once when the tokens are re-laid out):
 *   -128 sum x + sum (w + 128) x = sum w x,
 * the exact P of Q8_0's dot_q, for every byte value (no saturation: each lane's sum stays below
 * 2^22). Each lane then takes acc = acc + (d_w d_x) * P, the dot's operations, so every result
 * equals dot_q bit for bit. Per 4-byte chunk of a weight row: one broadcast, one exclusive or,
 * and one vpdpbusd per token group. Fewer than Z8_MIN_TOKENS tokens take the AVX2 product. */
#define Z8_TG 4           /* token groups of 16 per pass over a row */
#define Z8_SEG 8          /* blocks per activation segment: Z8_TG * Z8_SEG * 640 bytes */
#define Z8_ROWS 128       /* rows per pass: one re-layout of the tokens serves them all */
#define Z8_PF_ROWS 2      /* rows ahead whose segment is prefetched (as the AVX2 lane tile) */
#define Z8_MIN_TOKENS 16
typedef struct z8_block {
    float d[16];          /* the 16 tokens' scales */
    int32_t nsx[16];      /* -128 x each token's sum of the block's 32 bytes */
    int32_t q[8][16];     /* [chunk][token]: bytes 4c..4c+3 of each token */
} z8_block;

/* Blocks b0 .. b0+nb-1 of tokens t0 .. t0+15 (zeros past nt), re-laid out: two 8 x 8
 * transposes of 4-byte chunks per block (avx2_common.h). */
static void z8_pack(const uint8_t *xq, uint64_t xb, int t0, int nt, int64_t b0, int nb, z8_block *out) {
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int h = 0; h < 2; h++) {
        const mx_block_q8_0 *rows[8];
        for (int j = 0; j < 8; j++) {
            const int t = t0 + 8 * h + j;
            rows[j] = t < nt ? (const mx_block_q8_0 *)(xq + (uint64_t)t * xb) + b0 : NULL;
        }
        for (int b = 0; b < nb; b++) {
            __m256i r[8], c8[8];
            uint16_t hd[8];
            for (int j = 0; j < 8; j++) {
                r[j] = rows[j] ? _mm256_loadu_si256((const __m256i *)rows[j][b].qs) : _mm256_setzero_si256();
                hd[j] = rows[j] ? rows[j][b].d : 0;
            }
            _mm256_storeu_ps(out[b].d + 8 * h, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)hd)));
            transpose8_epi32(r, c8);
            __m256i s = _mm256_setzero_si256();
            for (int c = 0; c < 8; c++) {
                _mm256_storeu_si256((__m256i *)(out[b].q[c] + 8 * h), c8[c]);
                s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, c8[c]), ones16));
            }
            _mm256_storeu_si256((__m256i *)(out[b].nsx + 8 * h), _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(s, 7)));
        }
    }
}

/* One row against ng (1..Z8_TG) packed groups over one segment of nb blocks; acc[g] carried. */
static inline __attribute__((always_inline)) void
z8_row_seg(const mx_block_q8_0 *w, const z8_block *xs, int64_t gstride, int nb, __m512 *acc, const int ng) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 a[Z8_TG];
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) a[g] = acc[g];
    for (int b = 0; b < nb; b++) {
        __m512i p[Z8_TG];
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++) p[g] = _mm512_load_si512(xs[g * gstride + b].nsx);
        const int8_t *qs = w[b].qs;
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            int32_t wc;
            memcpy(&wc, qs + 4 * c, 4);
            const __m512i wu = _mm512_xor_si512(_mm512_set1_epi32(wc), flip);
#pragma GCC unroll 4
            for (int g = 0; g < ng; g++)
                p[g] = _mm512_dpbusd_epi32(p[g], wu, _mm512_load_si512(xs[g * gstride + b].q[c]));
        }
        const __m512 dw = _mm512_set1_ps(_cvtsh_ss(w[b].d));
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++) {
            const __m512 d = _mm512_mul_ps(dw, _mm512_load_ps(xs[g * gstride + b].d));
            a[g] = _mm512_add_ps(a[g], _mm512_mul_ps(d, _mm512_cvtepi32_ps(p[g])));
        }
    }
#pragma GCC unroll 4
    for (int g = 0; g < ng; g++) acc[g] = a[g];
}

#define Z8_ROW_SEG(G)                                                                            \
    static void z8_row_seg_##G(const mx_block_q8_0 *w, const z8_block *xs, int64_t gstride, int nb, \
                               __m512 *acc) {                                                  \
        z8_row_seg(w, xs, gstride, nb, acc, G);                                                  \
    }
Z8_ROW_SEG(1) Z8_ROW_SEG(2) Z8_ROW_SEG(3) Z8_ROW_SEG(4)
#undef Z8_ROW_SEG
typedef void (*z8_row_seg_fn)(const mx_block_q8_0 *, const z8_block *, int64_t, int, __m512 *);
static const z8_row_seg_fn g_z8_seg[Z8_TG] = {z8_row_seg_1, z8_row_seg_2, z8_row_seg_3, z8_row_seg_4};

static mx_gemm_q_fn g_q8_0_gemm_below; /* the AVX2 set's product, for the rows a pass leaves over */

/* Decode and small batches: rows8_levels (avx512_common.h) with the weight bytes made unsigned
 * (w + 128: an exclusive or of the sign bit, on both rows' blocks at once). Measured (Zen 5,
 * 1152-wide rows): one core with the rows in L2 58 GB/s against 38 for the AVX2 four-row
 * kernel; four sequences decoded together (bench -b 4) 130 tok/s against 90; one sequence,
 * bound by memory, no difference seen. */
static inline __m512i q8_0_levels2(const uint8_t *a, const uint8_t *b) {
    const __m256i lo = _mm256_loadu_si256((const __m256i *)(a + offsetof(mx_block_q8_0, qs)));
    const __m256i hi = _mm256_loadu_si256((const __m256i *)(b + offsetof(mx_block_q8_0, qs)));
    return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), _mm512_set1_epi8((char)0x80));
}
ROWS8_FNS(g_q8_0_rows8, q8_0_levels2, 128, sizeof(mx_block_q8_0))

static void gemm_q_q8_0_avx512(const void *w, uint64_t rb, int nr, const void *xq, uint64_t xb,
                               int nt, float *y, int64_t ys, int64_t n) {
    const int64_t nb = n / MX_QK8_0;
    if (nt < Z8_MIN_TOKENS) {
        rows8_gemm(g_q8_0_rows8, g_q8_0_gemm_below, w, rb, nr, xq, xb, nt, y, ys, n);
        return;
    }
    _Alignas(64) z8_block xs[Z8_TG * Z8_SEG];
    _Alignas(64) __m512 acc[Z8_ROWS][Z8_TG];
    for (int r0 = 0; r0 < nr; r0 += Z8_ROWS) {
        const int rn = MX_MIN(Z8_ROWS, nr - r0);
        for (int t0 = 0; t0 < nt; t0 += 16 * Z8_TG) {
            const int ng = MX_MIN(Z8_TG, (nt - t0 + 15) / 16);
            for (int r = 0; r < rn; r++)
                for (int g = 0; g < ng; g++) acc[r][g] = _mm512_setzero_ps();
            __asm__("" ::: "memory"); /* a plain loop, not a call to memset per pass */
            for (int t = t0; t < MX_MIN(nt, t0 + 16 * Z8_TG); t++)
                for (int r = 0; r < rn; r += 16) _mm_prefetch((const char *)(y + (int64_t)t * ys + r0 + r), _MM_HINT_T0);
            for (int64_t b0 = 0; b0 < nb; b0 += Z8_SEG) {
                const int sn = (int)MX_MIN((int64_t)Z8_SEG, nb - b0);
                for (int g = 0; g < ng; g++) z8_pack(xq, xb, t0 + 16 * g, nt, b0, sn, xs + g * Z8_SEG);
                for (int r = 0; r < rn; r++) {
                    if (r + Z8_PF_ROWS < rn) {
                        const char *pf = (const char *)w + (uint64_t)(r0 + r + Z8_PF_ROWS) * rb + (size_t)b0 * sizeof(mx_block_q8_0);
                        for (size_t o = 0; o < (size_t)sn * sizeof(mx_block_q8_0); o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
                    }
                    g_z8_seg[ng - 1]((const mx_block_q8_0 *)((const uint8_t *)w + (uint64_t)(r0 + r) * rb) + b0, xs,
                                     Z8_SEG, sn, acc[r]);
                }
            }
            for (int g = 0; g < ng; g++)
                for (int j = 0; j < 16 && t0 + 16 * g + j < nt; j++) {
                    float *yt = y + (int64_t)(t0 + 16 * g + j) * ys + r0;
                    for (int r = 0; r < rn; r++) yt[r] = ((const float *)&acc[r][g])[j];
                }
        }
    }
}

/* ---- attention over f32 / f16 / bf16 rows ------------------------------------------------- */

/* Elements k .. k+15 of a cache row, and elements k .. k+7 in both halves. */
static inline __attribute__((always_inline)) __m512 kv_load16(const int kind, const uint8_t *row, int64_t k) {
    if (kind == KV_F32) return _mm512_loadu_ps((const float *)row + k);
    const __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k));
    if (kind == KV_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
static inline __attribute__((always_inline)) __m512 kv_load8x2(const int kind, const uint8_t *row, int64_t k) {
    if (kind == KV_F32) return _mm512_broadcast_f32x8(_mm256_loadu_ps((const float *)row + k));
    const __m256i h = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + k)));
    if (kind == KV_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Scores of KG rows x HG heads: the AVX2 tile's chains (one 8-lane accumulator per row and
 * head, element k in lane k % 8, the same reduction and tail) two to a 512-bit vector, heads
 * 2j and 2j + 1 in its halves, so each widened piece of a row (in both halves) meets two heads
 * per multiply-add: the same bits as the AVX2 tile. An odd last head fills both halves. */
static inline __attribute__((always_inline)) void
zattn_scores_tile(const int kind, const int KG, const int HG, const uint8_t *rows, uint64_t row_bytes,
                  const float *q, int64_t q_stride, float *s, int64_t s_stride, int64_t n) {
    const int HP = (HG + 1) / 2;
    __m512 acc[8];
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) acc[c] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m512 x[2];
#pragma GCC unroll 2
        for (int j = 0; j < HP; j++)
            x[j] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(q + 2 * j * q_stride + k)),
                                      _mm256_loadu_ps(q + MX_MIN(2 * j + 1, HG - 1) * q_stride + k), 1);
#pragma GCC unroll 8
        for (int r = 0; r < KG; r++) {
            const __m512 w = kv_load8x2(kind, rows + r * row_bytes, k);
#pragma GCC unroll 2
            for (int j = 0; j < HP; j++) acc[r * HP + j] = _mm512_fmadd_ps(w, x[j], acc[r * HP + j]);
        }
    }
    __m256 v[16];
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) {
        v[2 * c] = _mm512_castps512_ps256(acc[c]);
        v[2 * c + 1] = _mm512_extractf32x8_ps(acc[c], 1);
    }
    float out[16];
    _mm256_storeu_ps(out, hsum8x8(v));
    _mm256_storeu_ps(out + 8, hsum8x8(v + 8));
#pragma GCC unroll 8
    for (int r = 0; r < KG; r++)
#pragma GCC unroll 4
        for (int h = 0; h < HG; h++) {
            float t = out[(r * HP + h / 2) * 2 + h % 2];
            for (int64_t i = k; i < n; i++) t += kv_load1(kind, rows + r * row_bytes, i) * q[h * q_stride + i];
            s[h * s_stride + r] = t;
        }
}

/* Values: attn_values_slices (avx2_common.h) with 32-element slices, two 512-bit accumulators
 * per head (2 * HG independent chains), one widening per 16 elements of a row; the same
 * multiply-add per row and element, so the same bits; the last 31 elements or fewer by the
 * AVX2 slices. */
static inline __attribute__((always_inline)) void
zattn_values_slices(const int kind, const int HG, const float *p, int64_t p_stride, const uint8_t *row,
                    uint64_t row_bytes, int64_t nr, float *y, int64_t y_stride, int64_t n, const char *pf,
                    int64_t pf_step) {
    int64_t k = 0;
    for (; k + 32 <= n; k += 32, pf += 2 * pf_step) {
        for (int64_t o = 0; o < 2 * pf_step; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
        __m512 acc[4][2];
#pragma GCC unroll 4
        for (int h = 0; h < HG; h++) {
            acc[h][0] = _mm512_loadu_ps(y + h * y_stride + k);
            acc[h][1] = _mm512_loadu_ps(y + h * y_stride + k + 16);
        }
        for (int64_t r = 0; r < nr; r++) {
            const __m512 w0 = kv_load16(kind, row + r * row_bytes, k), w1 = kv_load16(kind, row + r * row_bytes, k + 16);
#pragma GCC unroll 4
            for (int h = 0; h < HG; h++) {
                const __m512 ph = _mm512_set1_ps(p[h * p_stride + r]);
                acc[h][0] = _mm512_fmadd_ps(ph, w0, acc[h][0]);
                acc[h][1] = _mm512_fmadd_ps(ph, w1, acc[h][1]);
            }
        }
#pragma GCC unroll 4
        for (int h = 0; h < HG; h++) {
            _mm512_storeu_ps(y + h * y_stride + k, acc[h][0]);
            _mm512_storeu_ps(y + h * y_stride + k + 16, acc[h][1]);
        }
    }
    if (k < n)
        attn_values_slices(kind, HG, p, p_stride, row + k * kv_size(kind), row_bytes, nr, y + k, y_stride, n - k, pf,
                           pf_step);
}

#define ATTN_AVX512(NAME, KIND)                                                                  \
    static void attn_scores_##NAME##_avx512(const void *rows, uint64_t row_bytes, int64_t nr,    \
                                            const float *q, int64_t q_stride, int nq, float *s,  \
                                            int64_t s_stride, int64_t n) {                       \
        attn_scores_drive(zattn_scores_tile, 4, 8, KIND, rows, row_bytes, nr, q, q_stride, nq, s, s_stride, n); \
    }                                                                                            \
    static void attn_values_##NAME##_avx512(const float *p, int64_t p_stride, const void *rows,  \
                                            uint64_t row_bytes, int64_t nr, float *y,            \
                                            int64_t y_stride, int nq, int64_t n) {               \
        attn_values_drive(zattn_values_slices, KIND, p, p_stride, rows, row_bytes, nr, y, y_stride, nq, n); \
    }
ATTN_AVX512(f32, KV_F32)
ATTN_AVX512(f16, KV_F16)
ATTN_AVX512(bf16, KV_BF16)
#undef ATTN_AVX512

void mx_kernels_avx512_fill(mx_type_kernels *t) {
    g_q8_0_gemm_below = t[MX_TYPE_Q8_0].gemm_q;
    if (g_q8_0_gemm_below) t[MX_TYPE_Q8_0].gemm_q = gemm_q_q8_0_avx512;
    mx_kquants_avx512_fill(t);
    static const struct {
        mx_type type;
        mx_attn_scores_fn scores;
        mx_attn_values_fn values;
    } attn[] = {{MX_TYPE_F32, attn_scores_f32_avx512, attn_values_f32_avx512},
                {MX_TYPE_F16, attn_scores_f16_avx512, attn_values_f16_avx512},
                {MX_TYPE_BF16, attn_scores_bf16_avx512, attn_values_bf16_avx512}};
    for (size_t i = 0; i < MX_ARRAY_LEN(attn); i++)
        if (t[attn[i].type].attn_scores) {
            t[attn[i].type].attn_scores = attn[i].scores;
            t[attn[i].type].attn_values = attn[i].values;
        }
}
