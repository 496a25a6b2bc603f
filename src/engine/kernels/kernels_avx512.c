/* kernels_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) siblings of the AVX2 kernels of
 * kernels_avx2.c where the wider registers pay: the f32 tile product of prefill (F32, F16 and
 * BF16 weights), attention over cache rows and the Q8_0 quantiser of the activations. The
 * integer types' products are in kquants_avx512.c; the dots of F32/F16/BF16 decode and the
 * other conversions stay those of the AVX2 set, which this set starts from. Every result
 * equals the AVX2 set's bit for bit but the attention scores, which sum in 16 lanes
 * (kernels.h); within the set prefill and decode agree exactly, as the engine needs. Compiled
 * with the AVX-512 flags for this file only; chosen at run time (kernels.c). */
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

/* ---- attention over f32 / f16 / bf16 rows ------------------------------------------------- */

/* Elements k .. k+15 of a cache row. */
static inline __attribute__((always_inline)) __m512 kv_load16(const int kind, const uint8_t *row, int64_t k) {
    if (kind == KV_F32) return _mm512_loadu_ps((const float *)row + k);
    const __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k));
    if (kind == KV_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Scores of KG rows x HG heads (KG * HG <= 16) with 16-lane chains: element k of the whole
 * groups of 16 in lane k % 16 in order of k, one 512-bit accumulator per row and head, so
 * each widened piece of 16 elements of a row meets the HG heads by one multiply-add each.
 * Each chain's halves are then added (lane i + lane i + 8), the eight sums reduced as
 * ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)), and the n % 16 tail added one by one. */
static inline __attribute__((always_inline)) void
zattn_scores_tile16(const int kind, const int KG, const int HG, const uint8_t *rows, uint64_t row_bytes,
                    const float *q, int64_t q_stride, float *s, int64_t s_stride, int64_t n, const char *pf,
                    int64_t pf_bytes) {
    __m512 acc[16];
#pragma GCC unroll 16
    for (int c = 0; c < KG * HG; c++) acc[c] = _mm512_setzero_ps();
    const int64_t ps = attn_pf_step(pf_bytes, n / 16);
    const char *pf_end = pf + pf_bytes;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        for (int64_t o = 0; o < ps && pf < pf_end; o += 64, pf += 64) _mm_prefetch(pf, _MM_HINT_T0);
        __m512 x[4];
#pragma GCC unroll 4
        for (int h = 0; h < HG; h++) x[h] = _mm512_loadu_ps(q + h * q_stride + k);
#pragma GCC unroll 8
        for (int r = 0; r < KG; r++) {
            const __m512 w = kv_load16(kind, rows + r * row_bytes, k);
#pragma GCC unroll 4
            for (int h = 0; h < HG; h++) acc[r * HG + h] = _mm512_fmadd_ps(w, x[h], acc[r * HG + h]);
        }
    }
    __m256 v[16];
#pragma GCC unroll 16
    for (int c = 0; c < 16; c++)
        v[c] = c < KG * HG ? _mm256_add_ps(_mm512_castps512_ps256(acc[c]), _mm512_extractf32x8_ps(acc[c], 1))
                           : _mm256_setzero_ps();
    float out[16];
    _mm256_storeu_ps(out, hsum8x8(v));
    if (KG * HG > 8) _mm256_storeu_ps(out + 8, hsum8x8(v + 8));
#pragma GCC unroll 8
    for (int r = 0; r < KG; r++)
#pragma GCC unroll 4
        for (int h = 0; h < HG; h++) {
            float t = out[r * HG + h];
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
        attn_scores_drive(zattn_scores_tile16, true, 4, 8, KIND, rows, row_bytes, nr, q, q_stride, nq, s, s_stride, n); \
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

/* ---- Q8_0 quantisation of the activations ------------------------------------------------ */

/* Sixteen blocks at a time, so the per-block scalar work of the AVX2 quantiser (the largest
 * magnitude, d = amax / 127, id = 1 / d, the f16 scale) becomes vector work: the blocks'
 * largest magnitudes are gathered into one vector by a max tree over 256-, 128-, 64- and
 * 32-bit pieces, after which lane 4i + q holds block 4q + i (hence `order`). The
 * divisions are IEEE operations like the scalar ones and the f16 conversion rounds to nearest
 * even as mx_f32_to_f16 does (the two agree on every float but NaN), so the bytes equal the
 * reference's: q = roundf(x id) (half away from zero: trunc, then one step away where the
 * dropped part is at least a half), clamped to +-127. A last group of fewer than 16 blocks
 * reads zeros in place of the missing ones and stores only its own. */
static void from_f32_q8_0_avx512(const float *x, void *row, int64_t n) {
    mx_block_q8_0 *b = row;
    const int64_t nb = n / MX_QK8_0;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    const __m512 sign = _mm512_set1_ps(-0.0f), one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    const __m512 hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (int64_t ib = 0; ib < nb; ib += 16) {
        const int cnt = (int)MX_MIN((int64_t)16, nb - ib);
        const float *xg = x + ib * MX_QK8_0;
        __m512 m[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            m[j] = j < cnt ? _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(xg + 32 * j), absmask),
                                           _mm512_and_ps(_mm512_loadu_ps(xg + 32 * j + 16), absmask))
                           : _mm512_setzero_ps();
        /* 16 -> 8 vectors: halves; lanes 0-7 block 2i, 8-15 block 2i + 1 */
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            m[i] = _mm512_max_ps(_mm512_shuffle_f32x4(m[2 * i], m[2 * i + 1], 0x44),
                                 _mm512_shuffle_f32x4(m[2 * i], m[2 * i + 1], 0xEE));
        /* 8 -> 4: quarter q of m[k] holds block 4k + q */
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            m[k] = _mm512_max_ps(_mm512_shuffle_f32x4(m[2 * k], m[2 * k + 1], 0x88),
                                 _mm512_shuffle_f32x4(m[2 * k], m[2 * k + 1], 0xDD));
        /* 4 -> 2: in quarter q of m[p], lanes 0-1 block 8p + q, lanes 2-3 block 8p + 4 + q */
#pragma GCC unroll 2
        for (int p = 0; p < 2; p++)
            m[p] = _mm512_max_ps(_mm512_shuffle_ps(m[2 * p], m[2 * p + 1], 0x44),
                                 _mm512_shuffle_ps(m[2 * p], m[2 * p + 1], 0xEE));
        /* 2 -> 1: lane 4q + i holds block 4i + q; put block j in lane j */
        const __m512 amax = _mm512_permutexvar_ps(order, _mm512_max_ps(_mm512_shuffle_ps(m[0], m[1], 0x88),
                                                                        _mm512_shuffle_ps(m[0], m[1], 0xDD)));
        const __m512 d = _mm512_div_ps(amax, hi);
        const __m512 id = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_OQ), one, d);
        uint16_t dh[16];
        float idv[16];
        _mm256_storeu_si256((__m256i *)dh, _mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        _mm512_storeu_ps(idv, id);
        for (int j = 0; j < cnt; j++) {
            const __m512 vid = _mm512_set1_ps(idv[j]);
            mx_block_q8_0 *bj = b + ib + j;
            bj->d = dh[j];
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                const __m512 sc = _mm512_mul_ps(_mm512_loadu_ps(xg + 32 * j + 16 * h), vid);
                __m512 t = _mm512_roundscale_ps(sc, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
                const __mmask16 away = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_sub_ps(sc, t), absmask), half, _CMP_GE_OQ);
                t = _mm512_mask_add_ps(t, away, t, _mm512_or_ps(_mm512_and_ps(sc, sign), one));
                t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
                _mm_storeu_si128((__m128i *)(bj->qs + 16 * h), _mm512_cvtsepi32_epi8(_mm512_cvttps_epi32(t)));
            }
        }
    }
}

void mx_kernels_avx512_fill(mx_type_kernels *t) {
    mx_kquants_avx512_fill(t);
    t[MX_TYPE_Q8_0].from_f32 = from_f32_q8_0_avx512;
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
