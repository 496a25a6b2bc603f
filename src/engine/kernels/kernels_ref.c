/* kernels_ref.c: scalar reference kernels for every weight type the engine uses (F32, F16,
 * BF16, Q8_0) and the f32 helpers (RMSNorm, gated activations). SIMD siblings must agree with
 * these within the tolerances stated in tests/test_kernels.c. */
#include "engine/kernels/kernels.h"
#include "engine/kernels/kquants.h"

#include "common/util.h"

#include <math.h>

/* Every dot product accumulates in 4 x 8 = 32 f32 lanes: element i of the whole groups of 8
 * goes to accumulator (i / 64) % 4, lane i % 8, in order of i; that is, runs of 64 elements
 * go round-robin to the four accumulators. At the end the accumulators are added lane by lane
 * as (a0 + a1) + (a2 + a3), the 8 lanes pairwise as (l0+l4 + l2+l6) + (l1+l5 + l3+l7), then
 * the last n % 8 products one by one. An 8-wide SIMD dot feeds the four accumulators from four
 * points 64 elements apart (four chains hide the multiply-add latency; the reads stay
 * sequential at cache-line level, so a dot runs at memory speed), and the tile product makes
 * four passes over contiguous runs; so the reference and AVX2 results differ only by fused vs
 * separate multiply-add rounding, and the F16 and F32 dots of the same values agree exactly
 * (the engine relies on that when keys of a prefill chunk, kept in f32 but rounded to f16,
 * meet keys read back from an f16 cache). */
static float lanes_sum(const float *v) {
    float s0 = v[0] + v[4], s1 = v[1] + v[5], s2 = v[2] + v[6], s3 = v[3] + v[7];
    return (s0 + s2) + (s1 + s3);
}
static float acc4_sum(float acc[4][8]) {
    float v[8];
    for (int j = 0; j < 8; j++) v[j] = (acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j]);
    return lanes_sum(v);
}

/* The lane-order dot for any element widening W(i) of element i (inlined at each use). */
#define DOT_LANES(W)                                                                         \
    float acc[4][8] = {{0}};                                                                 \
    int64_t i = 0;                                                                           \
    for (; i + 8 <= n; i += 8)                                                               \
        for (int j = 0; j < 8; j++) acc[(i / MX_DOT_RUN) % 4][j] += W(i + j) * x[i + j];     \
    float s = acc4_sum(acc);                                                                 \
    for (; i < n; i++) s += W(i) * x[i];                                                     \
    return s

#define W_F32(i) (w[i])
#define W_F16(i) mx_f16_to_f32(w[i])
#define W_BF16(i) mx_bf16_to_f32(w[i])

/* ---- F32 ------------------------------------------------------------------------------- */

static float dot_f32_ref(const void *row, const float *x, int64_t n) {
    const float *w = row;
    DOT_LANES(W_F32);
}
static void to_f32_f32_ref(const void *row, float *out, int64_t n) {
    memcpy(out, row, (size_t)n * sizeof(float));
}
static void from_f32_f32_ref(const float *x, void *row, int64_t n) {
    memcpy(row, x, (size_t)n * sizeof(float));
}
static void axpy_f32_ref(float a, const void *row, float *y, int64_t n) {
    const float *w = row;
    for (int64_t i = 0; i < n; i++) y[i] += a * w[i];
}

/* ---- F16 ------------------------------------------------------------------------------- */

static float dot_f16_ref(const void *row, const float *x, int64_t n) {
    const uint16_t *w = row;
    DOT_LANES(W_F16);
}
static void to_f32_f16_ref(const void *row, float *out, int64_t n) {
    const uint16_t *w = row;
    for (int64_t i = 0; i < n; i++) out[i] = mx_f16_to_f32(w[i]);
}
static void from_f32_f16_ref(const float *x, void *row, int64_t n) {
    uint16_t *w = row;
    for (int64_t i = 0; i < n; i++) w[i] = mx_f32_to_f16(x[i]);
}
static void axpy_f16_ref(float a, const void *row, float *y, int64_t n) {
    const uint16_t *w = row;
    for (int64_t i = 0; i < n; i++) y[i] += a * mx_f16_to_f32(w[i]);
}

/* ---- BF16 ------------------------------------------------------------------------------ */

static float dot_bf16_ref(const void *row, const float *x, int64_t n) {
    const uint16_t *w = row;
    DOT_LANES(W_BF16);
}
static void to_f32_bf16_ref(const void *row, float *out, int64_t n) {
    const uint16_t *w = row;
    for (int64_t i = 0; i < n; i++) out[i] = mx_bf16_to_f32(w[i]);
}
static void from_f32_bf16_ref(const float *x, void *row, int64_t n) {
    uint16_t *w = row;
    for (int64_t i = 0; i < n; i++) w[i] = mx_f32_to_bf16(x[i]);
}
static void axpy_bf16_ref(float a, const void *row, float *y, int64_t n) {
    const uint16_t *w = row;
    for (int64_t i = 0; i < n; i++) y[i] += a * mx_bf16_to_f32(w[i]);
}

/* ---- Q8_0 ------------------------------------------------------------------------------ */

/* Each element's weight d * q is exact in f32 (an 11-bit f16 scale times a 7-bit integer), so
 * summing (d * q[i]) * x[i] in the F32 dot's lane order gives exactly the F32 dot of the
 * dequantised row. Prefill relies on that: it dequantises tiles of rows once and runs the f32
 * kernels, and must produce the same bits as decode's direct dot. */
static float dot_q8_0_ref(const void *row, const float *x, int64_t n) {
    const mx_block_q8_0 *b = row;
#define W_Q8_0(i) (mx_f16_to_f32(b[(i) / MX_QK8_0].d) * (float)b[(i) / MX_QK8_0].qs[(i) % MX_QK8_0])
    DOT_LANES(W_Q8_0);
#undef W_Q8_0
}
static void to_f32_q8_0_ref(const void *row, float *out, int64_t n) {
    const mx_block_q8_0 *b = row;
    for (int64_t ib = 0; ib < n / MX_QK8_0; ib++) {
        const float d = mx_f16_to_f32(b[ib].d);
        for (int i = 0; i < MX_QK8_0; i++) out[ib * MX_QK8_0 + i] = d * (float)b[ib].qs[i];
    }
}
/* The scale is absmax / 127 rounded to f16; each value is x / d rounded to nearest, so the
 * round-trip error is at most d / 2 plus the f16 rounding of d (tests/test_kernels.c). */
static void from_f32_q8_0_ref(const float *x, void *row, int64_t n) {
    mx_block_q8_0 *b = row;
    for (int64_t ib = 0; ib < n / MX_QK8_0; ib++) {
        const float *xb = x + ib * MX_QK8_0;
        float amax = 0.0f;
        for (int i = 0; i < MX_QK8_0; i++) amax = fmaxf(amax, fabsf(xb[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[ib].d = mx_f32_to_f16(d);
        for (int i = 0; i < MX_QK8_0; i++) {
            float v = roundf(xb[i] * id);
            if (v > 127.0f) v = 127.0f;
            if (v < -127.0f) v = -127.0f;
            b[ib].qs[i] = (int8_t)v;
        }
    }
}
static void axpy_q8_0_ref(float a, const void *row, float *y, int64_t n) {
    const mx_block_q8_0 *b = row;
    for (int64_t ib = 0; ib < n / MX_QK8_0; ib++) {
        const float ad = a * mx_f16_to_f32(b[ib].d);
        for (int i = 0; i < MX_QK8_0; i++) y[ib * MX_QK8_0 + i] += ad * (float)b[ib].qs[i];
    }
}

/* ---- Q8_0 x Q8_0: the integer path ------------------------------------------------------ */

/* Block by block: the 32 products of int8 weights and int8 activations are summed exactly in
 * int32 (P), then one f32 accumulator takes acc = acc + d * P, with d = d_w * d_x (exact in
 * f32: a product of two f16 values) and d * P rounded once, as a multiply then an add (no
 * fused multiply-add), blocks in order. The AVX2 dot and tile product perform these float
 * operations in this order (the tile product keeps one token per SIMD lane), so all give the
 * same bits. */
static float dot_q_q8_0_ref(const void *row, const void *xq, int64_t n) {
    const mx_block_q8_0 *w = row, *x = xq;
    float acc = 0.0f;
    for (int64_t ib = 0; ib < n / MX_QK8_0; ib++) {
        int32_t p = 0;
        for (int i = 0; i < MX_QK8_0; i++) p += (int32_t)w[ib].qs[i] * (int32_t)x[ib].qs[i];
        const float d = mx_f16_to_f32(w[ib].d) * mx_f16_to_f32(x[ib].d);
        const float t = d * (float)p;
        acc = acc + t;
    }
    return acc;
}
static void gemm_q_q8_0_ref(const void *w, uint64_t row_bytes, int nr, const void *xq,
                            uint64_t xq_bytes, int nt, float *y, int64_t y_stride, int64_t n) {
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            y[t * y_stride + r] = dot_q_q8_0_ref((const uint8_t *)w + (uint64_t)r * row_bytes,
                                                 (const uint8_t *)xq + (uint64_t)t * xq_bytes, n);
}

/* ---- f32 tile product ------------------------------------------------------------------ */

/* The dot's accumulators walked over the packed operands (kernels.h): accumulator j is the
 * j-th stretch of each block, so every accumulator sees the dot's sequence of products. */
static void gemm_f32_ref(const float *wp, int nr, const float *xp, int nt, float *y,
                         int64_t y_stride, int64_t n, float *scratch) {
    (void)scratch;
    const int64_t n8 = n & ~(int64_t)7;
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++) {
            const float *w = wp + (int64_t)(r / MX_GEMM_WB) * MX_GEMM_WB * n + (r % MX_GEMM_WB) * 8;
            const float *x = xp + (int64_t)(t / MX_GEMM_XB) * MX_GEMM_XB * n + (t % MX_GEMM_XB) * 8;
            float acc[4][8] = {{0}};
            int64_t v = 0; /* vector index within the block */
            for (int j = 0; j < 4; j++)
                for (int64_t k0 = (int64_t)j * MX_DOT_RUN; k0 < n8; k0 += 4 * MX_DOT_RUN)
                    for (int64_t k = k0; k < MX_MIN(k0 + MX_DOT_RUN, n8); k += 8, v++)
                        for (int l = 0; l < 8; l++)
                            acc[j][l] += w[v * MX_GEMM_WB * 8 + l] * x[v * MX_GEMM_XB * 8 + l];
            float s = acc4_sum(acc);
            const float *wt = wp + (int64_t)(r / MX_GEMM_WB) * MX_GEMM_WB * n + MX_GEMM_WB * n8 + (r % MX_GEMM_WB) * (n - n8);
            const float *xt = xp + (int64_t)(t / MX_GEMM_XB) * MX_GEMM_XB * n + MX_GEMM_XB * n8 + (t % MX_GEMM_XB) * (n - n8);
            for (int64_t k = 0; k < n - n8; k++) s += wt[k] * xt[k];
            y[t * y_stride + r] = s;
        }
}

mx_gemm_f32_fn mx_gemm_f32_ref_fn(void) { return gemm_f32_ref; }

/* ---- Attention over cached rows (F32, F16, BF16) ----------------------------------------- */

/* The order of kernels.h: a score's lanes k % 8 over the whole groups of 8, the lanes as a
 * pairwise tree, then the tail; each row's values the type's axpy. */
#define ATTN_REF(NAME, T, W)                                                                  \
    static void attn_scores_##NAME##_ref(const void *rows, uint64_t row_bytes, int64_t nr,    \
                                         const float *q, int64_t q_stride, int nq, float *s,  \
                                         int64_t s_stride, int64_t n) {                       \
        for (int64_t r = 0; r < nr; r++) {                                                    \
            const T *w = (const T *)((const uint8_t *)rows + r * row_bytes);                  \
            for (int h = 0; h < nq; h++) {                                                    \
                const float *x = q + h * q_stride;                                            \
                float l[8] = {0};                                                             \
                int64_t k = 0;                                                                \
                for (; k + 8 <= n; k += 8)                                                    \
                    for (int j = 0; j < 8; j++) l[j] += W(k + j) * x[k + j];                  \
                float v = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));  \
                for (; k < n; k++) v += W(k) * x[k];                                          \
                s[h * s_stride + r] = v;                                                      \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
    static void attn_values_##NAME##_ref(const float *p, int64_t p_stride, const void *rows,  \
                                         uint64_t row_bytes, int64_t nr, float *y,            \
                                         int64_t y_stride, int nq, int64_t n) {               \
        for (int64_t r = 0; r < nr; r++)                                                      \
            for (int h = 0; h < nq; h++)                                                      \
                axpy_##NAME##_ref(p[h * p_stride + r], (const uint8_t *)rows + r * row_bytes, \
                                  y + h * y_stride, n);                                       \
    }
ATTN_REF(f32, float, W_F32)
ATTN_REF(f16, uint16_t, W_F16)
ATTN_REF(bf16, uint16_t, W_BF16)

/* ---- The reference table ---------------------------------------------------------------- */

static const mx_type_kernels g_ref[MX_TYPE_COUNT] = {
    [MX_TYPE_F32] = {dot_f32_ref, to_f32_f32_ref, from_f32_f32_ref, axpy_f32_ref,
                     .attn_scores = attn_scores_f32_ref, .attn_values = attn_values_f32_ref},
    [MX_TYPE_F16] = {dot_f16_ref, to_f32_f16_ref, from_f32_f16_ref, axpy_f16_ref,
                     .attn_scores = attn_scores_f16_ref, .attn_values = attn_values_f16_ref},
    [MX_TYPE_BF16] = {dot_bf16_ref, to_f32_bf16_ref, from_f32_bf16_ref, axpy_bf16_ref,
                      .attn_scores = attn_scores_bf16_ref, .attn_values = attn_values_bf16_ref},
    [MX_TYPE_Q8_0] = {dot_q8_0_ref, to_f32_q8_0_ref, from_f32_q8_0_ref, axpy_q8_0_ref,
                      MX_TYPE_Q8_0, dot_q_q8_0_ref, gemm_q_q8_0_ref},
};

const mx_type_kernels *mx_kernels_ref(mx_type type) {
    if ((unsigned)type >= MX_TYPE_COUNT) return NULL;
    if (!g_ref[type].dot) return mx_kquants_ref(type); /* Q4_0, K-quants: kquants_ref.c */
    return &g_ref[type];
}

/* ---- f32 helpers ------------------------------------------------------------------------ */

void mx_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    const float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    if (w)
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
    else
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale;
}

void mx_rope_pairs(float *v, int hd, bool neox, const float *c, const float *s, int i0) {
    const int half = hd / 2;
    for (int i = i0; i < half; i++) {
        float *p0 = neox ? v + i : v + 2 * i, *p1 = neox ? v + i + half : v + 2 * i + 1;
        const float x0 = *p0, x1 = *p1;
        *p0 = x0 * c[i] - x1 * s[i];
        *p1 = x0 * s[i] + x1 * c[i];
    }
}

void mx_rope(float *v, int n_heads, int hd, bool neox, const float *c, const float *s) {
    for (int h = 0; h < n_heads; h++, v += hd) mx_rope_pairs(v, hd, neox, c, s, 0);
}

void mx_gelu_tanh_mul(float *a, const float *b, int64_t n) {
    const float c = 0.7978845608028654f; /* sqrt(2 / pi) */
    for (int64_t i = 0; i < n; i++) {
        const float x = a[i];
        a[i] = 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x))) * b[i];
    }
}

float mx_exp_sum(float *s, int64_t n, float m) {
    float l = 0.0f;
    for (int64_t k = 0; k < n; k++) {
        s[k] = expf(s[k] - m);
        l += s[k];
    }
    return l;
}

float mx_scale_max(float *s, int64_t n, float scale) {
    float m = -INFINITY;
    for (int64_t k = 0; k < n; k++) {
        s[k] *= scale;
        if (s[k] > m) m = s[k];
    }
    return m;
}

void mx_fold(float *o, const float *ob, float a, float b, int64_t n) {
    for (int64_t k = 0; k < n; k++) o[k] = o[k] * a + ob[k] * b;
}

void mx_silu_mul(float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float x = a[i];
        a[i] = x / (1.0f + expf(-x)) * b[i];
    }
}
