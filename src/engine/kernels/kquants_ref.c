/* kquants_ref.c: scalar reference kernels of the Q4_0, Q5_0, Q4_K, Q5_K and Q6_K weight types and of
 * the Q8_K activation type (layouts in kquants.h): decoding, quantisers, the f32-activation dot
 * and axpy, and the integer dot products against Q8_0 / Q8_K activations. */
#include "engine/kernels/kquants.h"

#include "common/util.h"

#include <math.h>

/* ---- shared pieces ------------------------------------------------------------------------ */

/* The lane reduction of kernels_ref.c: the f32 dot of these types must equal the F32 dot of the
 * decoded row bit for bit (prefill decodes tiles and uses the f32 kernels). */
static float lanes_sum(const float *acc) {
    float s0 = acc[0] + acc[4], s1 = acc[1] + acc[5], s2 = acc[2] + acc[6], s3 = acc[3] + acc[7];
    return (s0 + s2) + (s1 + s3);
}

/* Decode block by block into a small buffer and run the F32 reference dot's order (kernels.h:
 * runs of MX_DOT_RUN elements round-robin over four 8-lane accumulators). */
static float dot_by_blocks(mx_to_f32_fn dec, uint32_t bs, uint32_t bb, const void *row,
                           const float *x, int64_t n) {
    float acc[4][8] = {{0}}, buf[MX_QK_K];
    const uint8_t *p = row;
    for (int64_t ib = 0; ib < n / bs; ib++) {
        dec(p + (uint64_t)ib * bb, buf, bs);
        const float *xb = x + ib * bs;
        for (uint32_t i = 0; i < bs; i += 8) {
            float *a = acc[((ib * bs + i) / MX_DOT_RUN) % 4];
            for (int j = 0; j < 8; j++) a[j] += buf[i + j] * xb[i + j];
        }
    }
    float v[8];
    for (int j = 0; j < 8; j++) v[j] = (acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j]);
    return lanes_sum(v);
}
static void axpy_by_blocks(mx_to_f32_fn dec, uint32_t bs, uint32_t bb, float a, const void *row,
                           float *y, int64_t n) {
    float buf[MX_QK_K];
    const uint8_t *p = row;
    for (int64_t ib = 0; ib < n / bs; ib++) {
        dec(p + (uint64_t)ib * bb, buf, bs);
        for (uint32_t i = 0; i < bs; i++) y[ib * bs + i] += a * buf[i];
    }
}

/* Nearest integer, ties to even, NaN and huge values clamped first (no undefined cast). Adding
 * and subtracting 1.5 * 2^23 rounds a float of magnitude below 2^22 to an integer in the
 * default rounding mode (ties to even, like nearbyintf and the AVX2 conversion) without a libm
 * call; the clamp keeps |v| far below that. */
static int near_int(float v, int lo, int hi) {
    v = fminf(fmaxf(v, (float)lo), (float)hi);
    const float big = 12582912.0f; /* IEEE arithmetic: the compiler may not fold (v + c) - c */
    return (int)((v + big) - big);
}

/* Symmetric fit: the scale s minimising sum (x - s q)^2 with q = clamp(round(x / s), qmin, qmax).
 * Candidates put the largest-magnitude element on a level near either end of the range (never
 * beyond the end by more than half a step), each followed by one least-squares refinement. */
static float fit_sym(const float *x, int n, int qmin, int qmax) {
    float xm = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > fabsf(xm)) xm = x[i];
    if (xm == 0.0f || !isfinite(xm)) return 0.0f;
    float best_s = 0.0f;
    double best_e = INFINITY;
    for (int k = 0; k < 12; k++) {
        /* the extreme element lands on level t: qmin .. qmin/2 and qmax .. qmax/2 */
        const float t = k < 6 ? (float)qmin * (1.0f - (float)k / 12.0f)
                              : (float)qmax * (1.0f - (float)(k - 6) / 12.0f);
        float s = xm / t;
        for (int pass = 0; pass < 2; pass++) {
            double sxq = 0, sqq = 0, e = 0;
            const float inv = 1.0f / s;
            for (int i = 0; i < n; i++) {
                const int q = near_int(x[i] * inv, qmin, qmax);
                const double r = (double)x[i] - (double)s * q;
                e += r * r;
                sxq += (double)x[i] * q;
                sqq += (double)q * q;
            }
            if (e < best_e) best_e = e, best_s = s;
            if (sqq <= 0) break;
            const float s2 = (float)(sxq / sqq);
            const float lv = xm / s2;
            if (!(lv >= (float)qmin - 0.5f && lv <= (float)qmax + 0.5f)) break;
            s = s2;
        }
    }
    return best_s;
}

/* Asymmetric fit for K-quant sub-blocks: x ~ s q - mn with q in 0..qmax, s >= 0, mn >= 0 (the
 * format's mins are subtracted and unsigned). Candidates spread the range [min(x, 0), max(x)]
 * over a few level counts; each is refined by a least-squares fit of (s, mn) to its levels. */
static void fit_asym(const float *x, int n, int qmax, float *s_out, float *mn_out) {
    float lo = 0.0f, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    *s_out = 0.0f;
    *mn_out = -lo;
    if (!(hi > lo) || !isfinite(hi - lo)) return;
    double best_e = INFINITY;
    for (int k = 0; k < 9; k++) {
        float s = (hi - lo) / ((float)qmax - 1.0f + 0.25f * (float)k), mn = -lo;
        for (int pass = 0; pass < 3; pass++) {
            double e = 0, sq = 0, sqq = 0, sx = 0, sqx = 0;
            const float inv = 1.0f / s;
            for (int i = 0; i < n; i++) {
                const int q = near_int((x[i] + mn) * inv, 0, qmax);
                const double r = (double)x[i] - ((double)s * q - mn);
                e += r * r;
                sq += q;
                sqq += (double)q * q;
                sx += x[i];
                sqx += (double)q * x[i];
            }
            if (e < best_e) best_e = e, *s_out = s, *mn_out = mn;
            const double det = n * sqq - sq * sq;
            if (det <= 0) break;
            double ns = (n * sqx - sq * sx) / det, nm = (ns * sq - sx) / n;
            if (nm < 0) nm = 0, ns = sqq > 0 ? sqx / sqq : 0;
            if (!(ns > 0)) break;
            s = (float)ns;
            mn = (float)nm;
        }
    }
}

/* An f16 scale for values up to vmax with `levels` steps, and its f32 value. */
static float f16_scale(float vmax, int levels, uint16_t *h) {
    *h = mx_f32_to_f16(vmax / (float)levels);
    return mx_f16_to_f32(*h);
}

/* ---- Q4_0 --------------------------------------------------------------------------------- */

/* The 32 levels of a Q4_0 / Q5_0 block (q - 8, q - 16) and its scale. */
typedef float (*levels_fn)(const void *blk, int q[32]);
static float q4_0_levels(const void *blk, int q[32]) {
    const mx_block_q4_0 *b = blk;
    for (int j = 0; j < 16; j++) {
        q[j] = (b->qs[j] & 0x0F) - 8;
        q[j + 16] = (b->qs[j] >> 4) - 8;
    }
    return mx_f16_to_f32(b->d);
}
/* d * level, element by element: the dequantisation of Q4_0 and Q5_0. */
static void to_f32_by_levels(levels_fn levels, size_t bs, const void *row, float *out, int64_t n) {
    for (int64_t ib = 0; ib < n / 32; ib++, out += 32) {
        int q[32];
        const float d = levels((const uint8_t *)row + (size_t)ib * bs, q);
        for (int j = 0; j < 32; j++) out[j] = d * (float)q[j];
    }
}
/* Against Q8_0 activations, as a Q8_0 row of the same levels and scales would be (the levels
 * fit in int8, so this is Q8_0's dot_q exactly): per block the exact int32 sum P of level times
 * activation byte, times dw * dx (exact: two f16 values), added to one running sum in block
 * order. The AVX2 kernels perform the same operations (bit-identical). */
static float dotq_by_levels(levels_fn levels, size_t bs, const void *row, const void *xq, int64_t n) {
    const mx_block_q8_0 *y = xq;
    float acc = 0.0f;
    for (int64_t ib = 0; ib < n / 32; ib++) {
        int q[32];
        const float dd = levels((const uint8_t *)row + (size_t)ib * bs, q) * mx_f16_to_f32(y[ib].d);
        int32_t p = 0;
        for (int e = 0; e < 32; e++) p += q[e] * y[ib].qs[e];
        const float t = dd * (float)p;
        acc = acc + t;
    }
    return acc;
}
static void to_f32_q4_0_ref(const void *row, float *out, int64_t n) {
    to_f32_by_levels(q4_0_levels, sizeof(mx_block_q4_0), row, out, n);
}
static void from_f32_q4_0_ref(const float *x, void *row, int64_t n) {
    mx_block_q4_0 *b = row;
    for (int64_t ib = 0; ib < n / MX_QK4_0; ib++, x += MX_QK4_0) {
        const float s = fit_sym(x, MX_QK4_0, -8, 7);
        b[ib].d = mx_f32_to_f16(s);
        const float d = mx_f16_to_f32(b[ib].d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < 16; j++) {
            const int q0 = near_int(x[j] * id, -8, 7) + 8, q1 = near_int(x[j + 16] * id, -8, 7) + 8;
            b[ib].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}
static float dot_q4_0_ref(const void *row, const float *x, int64_t n) {
    return dot_by_blocks(to_f32_q4_0_ref, MX_QK4_0, sizeof(mx_block_q4_0), row, x, n);
}
static void axpy_q4_0_ref(float a, const void *row, float *y, int64_t n) {
    axpy_by_blocks(to_f32_q4_0_ref, MX_QK4_0, sizeof(mx_block_q4_0), a, row, y, n);
}
static float dotq_q4_0_ref(const void *row, const void *xq, int64_t n) {
    return dotq_by_levels(q4_0_levels, sizeof(mx_block_q4_0), row, xq, n);
}

/* ---- Q5_0 --------------------------------------------------------------------------------- */

static inline uint32_t q5_0_high(const mx_block_q5_0 *b) {
    return (uint32_t)b->qh[0] | ((uint32_t)b->qh[1] << 8) | ((uint32_t)b->qh[2] << 16) |
           ((uint32_t)b->qh[3] << 24);
}
static float q5_0_levels(const void *blk, int q[32]) {
    const mx_block_q5_0 *b = blk;
    const uint32_t h = q5_0_high(b);
    for (int j = 0; j < 16; j++) {
        q[j] = ((b->qs[j] & 0x0F) | (int)(((h >> j) & 1) << 4)) - 16;
        q[j + 16] = ((b->qs[j] >> 4) | (int)(((h >> (j + 16)) & 1) << 4)) - 16;
    }
    return mx_f16_to_f32(b->d);
}
static void to_f32_q5_0_ref(const void *row, float *out, int64_t n) {
    to_f32_by_levels(q5_0_levels, sizeof(mx_block_q5_0), row, out, n);
}
static void from_f32_q5_0_ref(const float *x, void *row, int64_t n) {
    mx_block_q5_0 *b = row;
    for (int64_t ib = 0; ib < n / MX_QK5_0; ib++, x += MX_QK5_0) {
        const float s = fit_sym(x, MX_QK5_0, -16, 15);
        b[ib].d = mx_f32_to_f16(s);
        const float d = mx_f16_to_f32(b[ib].d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t h = 0;
        for (int j = 0; j < 16; j++) {
            const int q0 = near_int(x[j] * id, -16, 15) + 16, q1 = near_int(x[j + 16] * id, -16, 15) + 16;
            b[ib].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            h |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        for (int k = 0; k < 4; k++) b[ib].qh[k] = (uint8_t)(h >> (8 * k));
    }
}
static float dot_q5_0_ref(const void *row, const float *x, int64_t n) {
    return dot_by_blocks(to_f32_q5_0_ref, MX_QK5_0, sizeof(mx_block_q5_0), row, x, n);
}
static void axpy_q5_0_ref(float a, const void *row, float *y, int64_t n) {
    axpy_by_blocks(to_f32_q5_0_ref, MX_QK5_0, sizeof(mx_block_q5_0), a, row, y, n);
}
/* Against Q8_0, in the same 8-lane order as Q4_0 (AVX2 equal bit for bit). */
static float dotq_q5_0_ref(const void *row, const void *xq, int64_t n) {
    return dotq_by_levels(q5_0_levels, sizeof(mx_block_q5_0), row, xq, n);
}

/* ---- Q4_K / Q5_K -------------------------------------------------------------------------- */

static void to_f32_q4_k_ref(const void *row, float *out, int64_t n) {
    const mx_block_q4_k *b = row;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, out += MX_QK_K) {
        const float d = mx_f16_to_f32(b[ib].d), dmin = mx_f16_to_f32(b[ib].dmin);
        for (int c = 0; c < 4; c++) {
            int sc0, m0, sc1, m1;
            mx_kq_scale_min(2 * c, b[ib].scales, &sc0, &m0);
            mx_kq_scale_min(2 * c + 1, b[ib].scales, &sc1, &m1);
            const float d0 = d * (float)sc0, o0 = dmin * (float)m0;
            const float d1 = d * (float)sc1, o1 = dmin * (float)m1;
            const uint8_t *q = b[ib].qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                out[64 * c + l] = d0 * (float)(q[l] & 0x0F) - o0;
                out[64 * c + 32 + l] = d1 * (float)(q[l] >> 4) - o1;
            }
        }
    }
}
static void to_f32_q5_k_ref(const void *row, float *out, int64_t n) {
    const mx_block_q5_k *b = row;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, out += MX_QK_K) {
        const float d = mx_f16_to_f32(b[ib].d), dmin = mx_f16_to_f32(b[ib].dmin);
        for (int c = 0; c < 4; c++) {
            int sc0, m0, sc1, m1;
            mx_kq_scale_min(2 * c, b[ib].scales, &sc0, &m0);
            mx_kq_scale_min(2 * c + 1, b[ib].scales, &sc1, &m1);
            const float d0 = d * (float)sc0, o0 = dmin * (float)m0;
            const float d1 = d * (float)sc1, o1 = dmin * (float)m1;
            const uint8_t *q = b[ib].qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                const int h0 = (b[ib].qh[l] >> (2 * c)) & 1, h1 = (b[ib].qh[l] >> (2 * c + 1)) & 1;
                out[64 * c + l] = d0 * (float)((q[l] & 0x0F) | (h0 << 4)) - o0;
                out[64 * c + 32 + l] = d1 * (float)((q[l] >> 4) | (h1 << 4)) - o1;
            }
        }
    }
}

/* Shared K-quant superblock quantiser: fit each 32-element sub-block, quantise the eight scales
 * and mins to 6 bits under f16 superblock scales, then the elements under the scales actually
 * stored. Writes d, dmin, packed scales and the levels (0..qmax) to q[256]. */
static void quantize_kq_superblock(const float *x, int qmax, uint16_t *d_h, uint16_t *dmin_h,
                                   uint8_t *scales, uint8_t *q) {
    float s[8], mn[8], smax = 0.0f, mmax = 0.0f;
    for (int j = 0; j < 8; j++) {
        fit_asym(x + 32 * j, 32, qmax, &s[j], &mn[j]);
        smax = fmaxf(smax, s[j]);
        mmax = fmaxf(mmax, mn[j]);
    }
    const float d = f16_scale(smax, 63, d_h), dmin = f16_scale(mmax, 63, dmin_h);
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)(d > 0.0f ? near_int(s[j] / d, 0, 63) : 0);
        m[j] = (uint8_t)(dmin > 0.0f ? near_int(mn[j] / dmin, 0, 63) : 0);
    }
    mx_kq_pack_scale_min(sc, m, scales);
    for (int j = 0; j < 8; j++) {
        const float d1 = d * (float)sc[j], o1 = dmin * (float)m[j];
        for (int l = 0; l < 32; l++)
            q[32 * j + l] = (uint8_t)(d1 > 0.0f ? near_int((x[32 * j + l] + o1) / d1, 0, qmax) : 0);
    }
}
static void from_f32_q4_k_ref(const float *x, void *row, int64_t n) {
    mx_block_q4_k *b = row;
    uint8_t q[MX_QK_K];
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, x += MX_QK_K) {
        quantize_kq_superblock(x, 15, &b[ib].d, &b[ib].dmin, b[ib].scales, q);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[ib].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
}
static void from_f32_q5_k_ref(const float *x, void *row, int64_t n) {
    mx_block_q5_k *b = row;
    uint8_t q[MX_QK_K];
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, x += MX_QK_K) {
        quantize_kq_superblock(x, 31, &b[ib].d, &b[ib].dmin, b[ib].scales, q);
        memset(b[ib].qh, 0, sizeof b[ib].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                const int a = q[64 * c + l], e = q[64 * c + 32 + l];
                b[ib].qs[32 * c + l] = (uint8_t)((a & 0x0F) | ((e & 0x0F) << 4));
                b[ib].qh[l] |= (uint8_t)(((a >> 4) << (2 * c)) | ((e >> 4) << (2 * c + 1)));
            }
    }
}
static float dot_q4_k_ref(const void *row, const float *x, int64_t n) {
    return dot_by_blocks(to_f32_q4_k_ref, MX_QK_K, sizeof(mx_block_q4_k), row, x, n);
}
static void axpy_q4_k_ref(float a, const void *row, float *y, int64_t n) {
    axpy_by_blocks(to_f32_q4_k_ref, MX_QK_K, sizeof(mx_block_q4_k), a, row, y, n);
}
static float dot_q5_k_ref(const void *row, const float *x, int64_t n) {
    return dot_by_blocks(to_f32_q5_k_ref, MX_QK_K, sizeof(mx_block_q5_k), row, x, n);
}
static void axpy_q5_k_ref(float a, const void *row, float *y, int64_t n) {
    axpy_by_blocks(to_f32_q5_k_ref, MX_QK_K, sizeof(mx_block_q5_k), a, row, y, n);
}

/* Against Q8_K activations: per superblock the exact integers isum = sum_j sc_j sum q y and
 * msum = sum_j m_j sum y (the latter from the activation's bsums), then mx_kq_combine(). */
static float dotq_q4_k_ref(const void *row, const void *xq, int64_t n) {
    const mx_block_q4_k *b = row;
    const mx_block_q8_k *y = xq;
    float s = 0.0f;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++) {
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m;
            mx_kq_scale_min(j, b[ib].scales, &sc, &m);
            const uint8_t *q = b[ib].qs + 32 * (j / 2);
            const int8_t *yq = y[ib].qs + 32 * j;
            const int sh = (j & 1) * 4;
            int32_t sum = 0;
            for (int l = 0; l < 32; l++) sum += ((q[l] >> sh) & 0x0F) * yq[l];
            isum += sc * sum;
            msum += m * (y[ib].bsums[2 * j] + y[ib].bsums[2 * j + 1]);
        }
        s += mx_kq_combine(y[ib].d, mx_f16_to_f32(b[ib].d), mx_f16_to_f32(b[ib].dmin), isum, msum);
    }
    return s;
}
static float dotq_q5_k_ref(const void *row, const void *xq, int64_t n) {
    const mx_block_q5_k *b = row;
    const mx_block_q8_k *y = xq;
    float s = 0.0f;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++) {
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m;
            mx_kq_scale_min(j, b[ib].scales, &sc, &m);
            const uint8_t *q = b[ib].qs + 32 * (j / 2);
            const int8_t *yq = y[ib].qs + 32 * j;
            const int sh = (j & 1) * 4;
            int32_t sum = 0;
            for (int l = 0; l < 32; l++)
                sum += (((q[l] >> sh) & 0x0F) | (((b[ib].qh[l] >> j) & 1) << 4)) * yq[l];
            isum += sc * sum;
            msum += m * (y[ib].bsums[2 * j] + y[ib].bsums[2 * j + 1]);
        }
        s += mx_kq_combine(y[ib].d, mx_f16_to_f32(b[ib].d), mx_f16_to_f32(b[ib].dmin), isum, msum);
    }
    return s;
}

/* ---- Q6_K --------------------------------------------------------------------------------- */

/* Level (-32..31) of element e (0..255) of a Q6_K block. */
static inline int q6_level(const mx_block_q6_k *b, int e) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    const uint8_t lo = b->ql[64 * h + l + 32 * (k & 1)];
    const int nib = k < 2 ? (lo & 0x0F) : (lo >> 4);
    const int hb = (b->qh[32 * h + l] >> (2 * k)) & 3;
    return (nib | (hb << 4)) - 32;
}
static void to_f32_q6_k_ref(const void *row, float *out, int64_t n) {
    const mx_block_q6_k *b = row;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, out += MX_QK_K) {
        const float d = mx_f16_to_f32(b[ib].d);
        for (int j = 0; j < 16; j++) {
            const float dj = d * (float)b[ib].scales[j];
            for (int i = 0; i < 16; i++) out[16 * j + i] = dj * (float)q6_level(&b[ib], 16 * j + i);
        }
    }
}
static void from_f32_q6_k_ref(const float *x, void *row, int64_t n) {
    mx_block_q6_k *b = row;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, x += MX_QK_K) {
        float s[16], smax = 0.0f;
        for (int j = 0; j < 16; j++) {
            s[j] = fit_sym(x + 16 * j, 16, -32, 31);
            smax = fmaxf(smax, fabsf(s[j]));
        }
        const float d = f16_scale(smax, 127, &b[ib].d);
        memset(b[ib].ql, 0, sizeof b[ib].ql);
        memset(b[ib].qh, 0, sizeof b[ib].qh);
        for (int j = 0; j < 16; j++) {
            b[ib].scales[j] = (int8_t)(d > 0.0f ? near_int(s[j] / d, -127, 127) : 0);
            const float dj = d * (float)b[ib].scales[j];
            for (int i = 0; i < 16; i++) {
                const int e = 16 * j + i;
                const int u = (dj != 0.0f ? near_int(x[e] / dj, -32, 31) : 0) + 32;
                const int h = e / 128, k = (e % 128) / 32, l = e % 32;
                b[ib].ql[64 * h + l + 32 * (k & 1)] |= (uint8_t)((u & 0x0F) << (k < 2 ? 0 : 4));
                b[ib].qh[32 * h + l] |= (uint8_t)((u >> 4) << (2 * k));
            }
        }
    }
}
static float dot_q6_k_ref(const void *row, const float *x, int64_t n) {
    return dot_by_blocks(to_f32_q6_k_ref, MX_QK_K, sizeof(mx_block_q6_k), row, x, n);
}
static void axpy_q6_k_ref(float a, const void *row, float *y, int64_t n) {
    axpy_by_blocks(to_f32_q6_k_ref, MX_QK_K, sizeof(mx_block_q6_k), a, row, y, n);
}
static float dotq_q6_k_ref(const void *row, const void *xq, int64_t n) {
    const mx_block_q6_k *b = row;
    const mx_block_q8_k *y = xq;
    float s = 0.0f;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++) {
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int32_t sum = 0;
            for (int i = 0; i < 16; i++) sum += q6_level(&b[ib], 16 * j + i) * y[ib].qs[16 * j + i];
            isum += b[ib].scales[j] * sum;
        }
        s += mx_kq_combine(y[ib].d, mx_f16_to_f32(b[ib].d), 0.0f, isum, 0);
    }
    return s;
}

/* ---- Q8_K (activations) ------------------------------------------------------------------- */

static void to_f32_q8_k_ref(const void *row, float *out, int64_t n) {
    const mx_block_q8_k *b = row;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, out += MX_QK_K)
        for (int i = 0; i < MX_QK_K; i++) out[i] = b[ib].d * (float)b[ib].qs[i];
}
/* Symmetric, d = absmax / 127 and q = round-half-even(x * (127 / absmax)) clamped to +-127 (the
 * AVX2 sibling computes the same operations, so both give the same bytes). */
static void from_f32_q8_k_ref(const float *x, void *row, int64_t n) {
    mx_block_q8_k *b = row;
    for (int64_t ib = 0; ib < n / MX_QK_K; ib++, x += MX_QK_K) {
        float amax = 0.0f;
        for (int i = 0; i < MX_QK_K; i++) amax = fmaxf(amax, fabsf(x[i]));
        const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        b[ib].d = amax / 127.0f;
        for (int i = 0; i < MX_QK_K; i++) b[ib].qs[i] = (int8_t)near_int(x[i] * id, -127, 127);
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += b[ib].qs[16 * j + i];
            b[ib].bsums[j] = (int16_t)sum;
        }
    }
}
static float dot_q8_k_ref(const void *row, const float *x, int64_t n) {
    return dot_by_blocks(to_f32_q8_k_ref, MX_QK_K, sizeof(mx_block_q8_k), row, x, n);
}
static void axpy_q8_k_ref(float a, const void *row, float *y, int64_t n) {
    axpy_by_blocks(to_f32_q8_k_ref, MX_QK_K, sizeof(mx_block_q8_k), a, row, y, n);
}

/* ---- tile products: dot_q per (row, token), so equal to it bit for bit ------------------- */

#define GEMM_Q_BY_DOT(name, dotq)                                                                \
    static void name(const void *w, uint64_t row_bytes, int nr, const void *xq, uint64_t xq_bytes, \
                     int nt, float *y, int64_t y_stride, int64_t n) {                          \
        for (int t = 0; t < nt; t++)                                                           \
            for (int r = 0; r < nr; r++)                                                       \
                y[t * y_stride + r] = dotq((const uint8_t *)w + (uint64_t)r * row_bytes,       \
                                           (const uint8_t *)xq + (uint64_t)t * xq_bytes, n);   \
    }
GEMM_Q_BY_DOT(gemmq_q4_0_ref, dotq_q4_0_ref)
GEMM_Q_BY_DOT(gemmq_q5_0_ref, dotq_q5_0_ref)
GEMM_Q_BY_DOT(gemmq_q4_k_ref, dotq_q4_k_ref)
GEMM_Q_BY_DOT(gemmq_q5_k_ref, dotq_q5_k_ref)
GEMM_Q_BY_DOT(gemmq_q6_k_ref, dotq_q6_k_ref)

/* ---- table ---------------------------------------------------------------------------------- */

static const mx_type_kernels g_kq_ref[MX_TYPE_COUNT] = {
    [MX_TYPE_Q4_0] = {dot_q4_0_ref, to_f32_q4_0_ref, from_f32_q4_0_ref, axpy_q4_0_ref,
                      MX_TYPE_Q8_0, dotq_q4_0_ref, gemmq_q4_0_ref},
    [MX_TYPE_Q5_0] = {dot_q5_0_ref, to_f32_q5_0_ref, from_f32_q5_0_ref, axpy_q5_0_ref,
                      MX_TYPE_Q8_0, dotq_q5_0_ref, gemmq_q5_0_ref},
    [MX_TYPE_Q4_K] = {dot_q4_k_ref, to_f32_q4_k_ref, from_f32_q4_k_ref, axpy_q4_k_ref,
                      MX_TYPE_Q8_K, dotq_q4_k_ref, gemmq_q4_k_ref},
    [MX_TYPE_Q5_K] = {dot_q5_k_ref, to_f32_q5_k_ref, from_f32_q5_k_ref, axpy_q5_k_ref,
                      MX_TYPE_Q8_K, dotq_q5_k_ref, gemmq_q5_k_ref},
    [MX_TYPE_Q6_K] = {dot_q6_k_ref, to_f32_q6_k_ref, from_f32_q6_k_ref, axpy_q6_k_ref,
                      MX_TYPE_Q8_K, dotq_q6_k_ref, gemmq_q6_k_ref},
    [MX_TYPE_Q8_K] = {dot_q8_k_ref, to_f32_q8_k_ref, from_f32_q8_k_ref, axpy_q8_k_ref,
                      MX_TYPE_F32, NULL, NULL},
};

const mx_type_kernels *mx_kquants_ref(mx_type type) {
    if ((unsigned)type >= MX_TYPE_COUNT || !g_kq_ref[type].dot) return NULL;
    return &g_kq_ref[type];
}
