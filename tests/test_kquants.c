/* test_kquants.c: the Q4_0, Q5_0, Q4_K, Q5_K, Q6_K weight types and the Q8_K activation type:
 * decoding against a decoder written here from the GGUF format description (hand-built blocks
 * with known values, and quantiser output) and against golden data from an independent NumPy
 * decoder; quantisation error bounds derived from each format; the f32 dot equal to the F32 dot
 * of the decoded row; the integer dot against an exact double product; gemm_q equal to dot_q;
 * every AVX2 entry against its reference; and an engine-level check: a small random model in
 * a Q4_K_M-style mix (and in each type) against its F32 original, split-invariant. */
#include "check.h"
#include "engine_run.h"

#include "common/util.h"
#include "engine/engine.h"
#include "engine/kernels/kernels.h"
#include "model/gguf_write.h"

#include <stdint.h>

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static double urand(void) { /* uniform in [0, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}
static float nrand(void) { /* approximately N(0, 1): sum of 4 uniforms, scaled */
    return (float)((urand() + urand() + urand() + urand() - 2.0) * 1.7320508075688772);
}

static const mx_type WTYPES[] = {MX_TYPE_Q4_0, MX_TYPE_Q5_0, MX_TYPE_Q4_K, MX_TYPE_Q5_K, MX_TYPE_Q6_K};
static const char *tname(mx_type t) { return mx_type_get(t)->name; }

/* ---- A decoder written from the format description ---------------------------------------- */

static float h2f(const uint8_t *p) { return mx_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

/* Element e of the block at p: its level q, scale d1 and offset m1 (x = d1 * q - m1), with the
 * range of levels. Q4_0: 2 bytes f16 d, 16 bytes of nibbles. K-quants: see the layout notes. */
typedef struct elem { int q, qmin, qmax; float d1, m1; } elem;

static void kq_sc_m(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] % 64;
        *m = s[4 + j] % 64;
    } else { /* low 4 bits in bytes 8..11, top 2 bits in the top of bytes 0..3 / 4..7 */
        *sc = (s[8 + j - 4] % 16) + 16 * (s[j - 4] / 64);
        *m = (s[8 + j - 4] / 16) + 16 * (s[j] / 64);
    }
}

static elem decode_elem(mx_type t, const uint8_t *p, int e) {
    elem r = {0, 0, 0, 0.0f, 0.0f};
    if (t == MX_TYPE_Q4_0) {
        const uint8_t byte = p[2 + e % 16];
        r.q = (e < 16 ? byte % 16 : byte / 16) - 8;
        r.qmin = -8, r.qmax = 7;
        r.d1 = h2f(p);
    } else if (t == MX_TYPE_Q5_0) { /* f16 d, 4 bytes of fifth bits (bit e), 16 nibble bytes */
        const uint8_t byte = p[6 + e % 16];
        const int fifth = (p[2 + e / 8] >> (e % 8)) & 1;
        r.q = (e < 16 ? byte % 16 : byte / 16) + 16 * fifth - 16;
        r.qmin = -16, r.qmax = 15;
        r.d1 = h2f(p);
    } else if (t == MX_TYPE_Q4_K || t == MX_TYPE_Q5_K) {
        const int j = e / 32, l = e % 32; /* sub-block j reads qs[32 (j/2) + l] */
        const uint8_t *qs = p + 16 + (t == MX_TYPE_Q5_K ? 32 : 0), *qh = p + 16;
        int sc, m;
        kq_sc_m(p + 4, j, &sc, &m);
        const uint8_t byte = qs[32 * (j / 2) + l];
        r.q = j % 2 == 0 ? byte % 16 : byte / 16;
        r.qmax = 15;
        if (t == MX_TYPE_Q5_K) {
            r.q += 16 * ((qh[l] >> j) & 1);
            r.qmax = 31;
        }
        r.d1 = h2f(p) * (float)sc;
        r.m1 = h2f(p + 2) * (float)m;
    } else { /* Q6_K: ql[128], qh[64], scales[16], d */
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        const uint8_t lo = p[64 * h + l + (k % 2) * 32];
        const int low4 = k < 2 ? lo % 16 : lo / 16;
        const int hi2 = (p[128 + 32 * h + l] >> (2 * k)) % 4;
        r.q = low4 + 16 * hi2 - 32;
        r.qmin = -32, r.qmax = 31;
        r.d1 = h2f(p + 208) * (float)(int8_t)p[192 + e / 16];
    }
    return r;
}
static float elem_value(elem r) { return r.d1 * (float)r.q - r.m1; }

static uint32_t block_elems(mx_type t) { return mx_type_get(t)->block; }
static uint32_t block_bytes(mx_type t) { return mx_type_get(t)->bytes; }

/* Every element of every block decodes (to_f32) to exactly the value the format defines. */
static int decode_matches(mx_type t, const mx_type_kernels *k, const uint8_t *row, int64_t n) {
    float *out = malloc((size_t)n * 4);
    k->to_f32(row, out, n);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *blk = row + (uint64_t)(i / block_elems(t)) * block_bytes(t);
        const float want = elem_value(decode_elem(t, blk, (int)(i % block_elems(t))));
        if (memcmp(&want, &out[i], 4) != 0 && bad++ < 3)
            fprintf(stderr, "  %s element %lld: decoded %.9g, format says %.9g\n", tname(t),
                    (long long)i, (double)out[i], (double)want);
    }
    free(out);
    return bad;
}

/* Hand-built blocks: every element gets a distinct, predictable level, so any slip in element
 * order, nibble choice, high-bit position or scale unpacking shows. The expected values are
 * written out here from the description, not through decode_elem. */
static void test_hand_built(void) {
    const mx_type_kernels *k;
    float out[256];
    { /* Q4_0: d = 0.5; byte j = (j) | (15 - j) << 4 -> element j = j - 8, element 16 + j = 7 - j */
        uint8_t b[18] = {0x00, 0x38};
        for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
        k = mx_kernels_ref(MX_TYPE_Q4_0);
        k->to_f32(b, out, 32);
        int bad = 0;
        for (int j = 0; j < 16; j++) {
            bad += out[j] != 0.5f * (float)(j - 8);
            bad += out[16 + j] != 0.5f * (float)(7 - j);
        }
        CHECK_MSG(bad == 0, "Q4_0 hand-built block: %d wrong elements", bad);
    }
    { /* Q5_0: d = 0.25; element j < 16: nibble j, fifth bit set for odd j -> j + 16 (j odd) - 16;
       * element 16 + j: nibble 15 - j, fifth bit set for j < 5 */
        uint8_t b[22] = {0x00, 0x34};
        uint32_t h = 0;
        for (int j = 0; j < 16; j++) {
            b[6 + j] = (uint8_t)(j | ((15 - j) << 4));
            if (j % 2) h |= 1u << j;
            if (j < 5) h |= 1u << (16 + j);
        }
        for (int i = 0; i < 4; i++) b[2 + i] = (uint8_t)(h >> (8 * i));
        mx_kernels_ref(MX_TYPE_Q5_0)->to_f32(b, out, 32);
        int bad = 0;
        for (int j = 0; j < 16; j++) {
            bad += out[j] != 0.25f * (float)(j + (j % 2 ? 16 : 0) - 16);
            bad += out[16 + j] != 0.25f * (float)(15 - j + (j < 5 ? 16 : 0) - 16);
        }
        CHECK_MSG(bad == 0, "Q5_0 hand-built block: %d wrong elements", bad);
        CHECK_EQ_INT(decode_matches(MX_TYPE_Q5_0, mx_kernels_ref(MX_TYPE_Q5_0), b, 32), 0);
    }
    /* K-quants share the 6-bit scales: sc = {1, 17, 33, 63, 5, 20, 47, 62},
     * m = {0, 3, 16, 40, 63, 31, 8, 50}, d = 0.25, dmin = 0.125, packed per the description. */
    static const int SC[8] = {1, 17, 33, 63, 5, 20, 47, 62}, M[8] = {0, 3, 16, 40, 63, 31, 8, 50};
    uint8_t scales[12];
    for (int j = 0; j < 4; j++) {
        scales[j] = (uint8_t)((SC[j] & 63) | ((SC[j + 4] >> 4) << 6));
        scales[4 + j] = (uint8_t)((M[j] & 63) | ((M[j + 4] >> 4) << 6));
        scales[8 + j] = (uint8_t)((SC[j + 4] & 15) | ((M[j + 4] & 15) << 4));
    }
    for (int t5 = 0; t5 < 2; t5++) { /* Q4_K, then Q5_K */
        uint8_t b[176] = {0x00, 0x34, 0x00, 0x30}; /* d = 0.25, dmin = 0.125 */
        memcpy(b + 4, scales, 12);
        uint8_t *qh = b + 16, *qs = b + 16 + (t5 ? 32 : 0);
        /* element 64c + l: level l % 16 (+16 when l is odd, Q5_K); element 64c + 32 + l:
         * level (l + 3c) % 16 (+16 when l % 3 == 0, Q5_K) */
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                qs[32 * c + l] = (uint8_t)((l % 16) | (((l + 3 * c) % 16) << 4));
                if (t5) qh[l] |= (uint8_t)(((l % 2) << (2 * c)) | ((l % 3 == 0) << (2 * c + 1)));
            }
        const mx_type t = t5 ? MX_TYPE_Q5_K : MX_TYPE_Q4_K;
        mx_kernels_ref(t)->to_f32(b, out, 256);
        int bad = 0;
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                const int qa = l % 16 + (t5 && l % 2 ? 16 : 0);
                const int qb = (l + 3 * c) % 16 + (t5 && l % 3 == 0 ? 16 : 0);
                const float wa = 0.25f * (float)SC[2 * c] * (float)qa - 0.125f * (float)M[2 * c];
                const float wb = 0.25f * (float)SC[2 * c + 1] * (float)qb - 0.125f * (float)M[2 * c + 1];
                bad += out[64 * c + l] != wa;
                bad += out[64 * c + 32 + l] != wb;
            }
        CHECK_MSG(bad == 0, "%s hand-built block: %d wrong elements", tname(t), bad);
        CHECK_EQ_INT(decode_matches(t, mx_kernels_ref(t), b, 256), 0);
    }
    { /* Q6_K: element e has level (e * 7) % 64 - 32; scales[j] = j * 9 - 70; d = 2^-6 */
        uint8_t b[210];
        memset(b, 0, sizeof b);
        for (int e = 0; e < 256; e++) {
            const int u = (e * 7) % 64, h = e / 128, k6 = (e % 128) / 32, l = e % 32;
            b[64 * h + l + 32 * (k6 % 2)] |= (uint8_t)((u % 16) << (k6 < 2 ? 0 : 4));
            b[128 + 32 * h + l] |= (uint8_t)((u / 16) << (2 * k6));
        }
        for (int j = 0; j < 16; j++) b[192 + j] = (uint8_t)(int8_t)(j * 9 - 70);
        b[208] = 0x00, b[209] = 0x24; /* f16 2^-6 */
        mx_kernels_ref(MX_TYPE_Q6_K)->to_f32(b, out, 256);
        int bad = 0;
        for (int e = 0; e < 256; e++)
            bad += out[e] != 0.015625f * (float)((e / 16) * 9 - 70) * (float)((e * 7) % 64 - 32);
        CHECK_MSG(bad == 0, "Q6_K hand-built block: %d wrong elements", bad);
    }
}


/* Golden data from an independent decoder (tools/reference/gguf_dequant.py, NumPy, written from
 * the format description; tests/data/kquants/PROVENANCE.md): random blocks of every type must
 * decode bit for bit to its values, with the reference and the AVX2 kernels. */
static void test_golden(void) {
    const mx_type types[] = {MX_TYPE_Q8_0, MX_TYPE_Q4_0, MX_TYPE_Q5_0, MX_TYPE_Q4_K, MX_TYPE_Q5_K, MX_TYPE_Q6_K};
    for (size_t ti = 0; ti < MX_ARRAY_LEN(types); ti++) {
        const mx_type t = types[ti];
        char path[128];
        char *blocks = NULL, *want = NULL;
        size_t nb = 0, nw = 0;
        snprintf(path, sizeof path, "kquants/%s.blocks", tname(t));
        CHECK_EQ_INT(mx_read_file(test_data(path), 1 << 20, &blocks, &nb), MIXLM_OK);
        snprintf(path, sizeof path, "kquants/%s.f32", tname(t));
        CHECK_EQ_INT(mx_read_file(test_data(path), 1 << 20, &want, &nw), MIXLM_OK);
        const int64_t n = (int64_t)(nb / block_bytes(t)) * block_elems(t);
        CHECK_MSG(blocks && want && n > 0 && nb % block_bytes(t) == 0 && nw == (size_t)n * 4,
                  "%s golden files: %zu block bytes, %zu value bytes", tname(t), nb, nw);
        if (blocks && want && n > 0 && nw == (size_t)n * 4) {
            float *got = malloc((size_t)n * 4);
            for (int set = 0; set < MX_ISA_COUNT; set++) {
                if (!mx_isa_available((mx_isa)set)) continue;
                const mx_type_kernels *k = mx_kernels_of((mx_isa)set, t);
                k->to_f32(blocks, got, n);
                int64_t bad = 0, first = -1;
                for (int64_t i = 0; i < n; i++)
                    if (memcmp(got + i, want + 4 * i, 4) != 0 && bad++ == 0) first = i;
                CHECK_MSG(bad == 0, "%s %s: %lld of %lld values differ from the independent decoder "
                          "(first at %lld)", mx_isa_name((mx_isa)set), tname(t), (long long)bad,
                          (long long)n, (long long)first);
            }
            /* and the test's own decoder from the description agrees too (Q8_0 aside) */
            if (t != MX_TYPE_Q8_0) {
                int64_t bad = 0;
                for (int64_t i = 0; i < n; i++) {
                    const float v = elem_value(decode_elem(t, (const uint8_t *)blocks + (uint64_t)(i / block_elems(t)) * block_bytes(t),
                                                           (int)(i % block_elems(t))));
                    bad += memcmp(&v, want + 4 * i, 4) != 0;
                }
                CHECK_MSG(bad == 0, "%s: test decoder differs at %lld values", tname(t), (long long)bad);
            }
            free(got);
        }
        free(blocks);
        free(want);
    }
}

/* ---- Quantisation error ------------------------------------------------------------------- */

/* Test rows: Gaussian blocks at several scales, with outliers, an all-zero block, a constant
 * block, an all-negative block and an all-positive one. */
static void fill_row(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = nrand() * (float)(0.02 * (1 + (i / 256) % 5));
    for (int64_t i = 0; i < n; i += 97) x[i] *= 6.0f; /* outliers */
    if (n >= 1024) {
        for (int i = 0; i < 32; i++) x[256 + i] = 0.0f;
        for (int i = 0; i < 32; i++) x[512 + i] = 0.37f;
        for (int i = 0; i < 64; i++) x[768 + i] = -fabsf(x[768 + i]) - 0.01f;
        for (int i = 0; i < 64; i++) x[896 + i] = fabsf(x[896 + i]) + 0.01f;
    }
}

/* Bounds derived from the formats: an element inside its sub-block's representable range
 * [d1 qmin - m1, d1 qmax - m1] widened by half a step is rounded to the nearest level, so its
 * error is at most d1 / 2 (slack 1e-5 of a step and 1e-6 relative for the f32 division); one
 * outside it (possible when a scale is rounded down to 6 or 8 bits or to f16) lands exactly on
 * the nearest end level. RMS error over Gaussian data: a uniform quantiser with step D has RMS
 * error D / sqrt(12); for blocks of N(0, s^2) the step is about range / levels (Q4_0: ~4.4 s / 15
 * over 32 elements; Q4_K ~4.2 s / 15 over sub-blocks of 32, less with the min; Q5_K half that;
 * Q6_K ~3.6 s / 63 over 16 elements, plus the 8-bit scales). Measured on these rows (printed):
 * Q4_0 0.107, Q5_0 0.059, Q4_K 0.079, Q5_K 0.038, Q6_K 0.021; the limits are 1.2-1.3x those,
 * well below what a
 * wrong scale choice or element order gives. */
static void test_roundtrip(void) {
    const int64_t n = 256 * 24;
    const struct { mx_type t; double rms_max; } cases[] = {
        {MX_TYPE_Q4_0, 0.13}, {MX_TYPE_Q5_0, 0.07}, {MX_TYPE_Q4_K, 0.096}, {MX_TYPE_Q5_K, 0.048}, {MX_TYPE_Q6_K, 0.027}};
    float *x = malloc(n * 4), *y = malloc(n * 4);
    for (size_t c = 0; c < MX_ARRAY_LEN(cases); c++) {
        const mx_type t = cases[c].t;
        const mx_type_kernels *k = mx_kernels_ref(t);
        const uint64_t rb = mx_type_row_bytes(t, (uint64_t)n);
        uint8_t *row = malloc(rb);
        fill_row(x, n);
        k->from_f32(x, row, n);
        k->to_f32(row, y, n);
        CHECK_EQ_INT(decode_matches(t, k, row, n), 0);
        int bad_in = 0, bad_out = 0, n_out = 0;
        double se = 0, sx = 0, worst_steps = 0;
        for (int64_t i = 0; i < n; i++) {
            const elem r = decode_elem(t, row + (uint64_t)(i / block_elems(t)) * block_bytes(t),
                                       (int)(i % block_elems(t)));
            const double step = fabs((double)r.d1);
            const double lo = fmin(r.d1 * (double)r.qmin, r.d1 * (double)r.qmax) - r.m1;
            const double hi = fmax(r.d1 * (double)r.qmin, r.d1 * (double)r.qmax) - r.m1;
            const double err = fabs((double)x[i] - y[i]);
            if (x[i] >= lo - step / 2 && x[i] <= hi + step / 2) {
                if (err > step * (0.5 + 1e-5) + 1e-6 * fabs(x[i])) bad_in++;
            } else {
                n_out++;
                const double end = x[i] < lo ? lo : hi;
                if (fabs(y[i] - end) > 1e-6 * fabs(end)) bad_out++;
            }
            if (step > 0) worst_steps = fmax(worst_steps, err / step);
            se += err * err;
            sx += (double)x[i] * x[i];
        }
        CHECK_MSG(bad_in == 0, "%s: %d in-range elements off by more than half a step", tname(t), bad_in);
        CHECK_MSG(bad_out == 0, "%s: %d out-of-range elements not on the end level", tname(t), bad_out);
        /* the zero block decodes to zeros, the constant block to (near) its constant */
        CHECK_MSG(y[256] == 0.0f && y[287] == 0.0f, "%s: zero block gives %g", tname(t), (double)y[256]);
        CHECK_MSG(fabs(y[512] - 0.37) <= 0.37 * 0.02, "%s: constant block gives %g", tname(t), (double)y[512]);
        const double rel = sqrt(se / sx);
        printf("  %s round trip: RMS error / RMS(x) %.4f (limit %.3f), %d elements clipped, worst %.2f steps\n",
               tname(t), rel, cases[c].rms_max, n_out, worst_steps);
        CHECK_MSG(rel <= cases[c].rms_max, "%s: relative RMS error %.4f > %.3f", tname(t), rel,
                  cases[c].rms_max);
        free(row);
    }
    free(x);
    free(y);
}

/* Q8_K activations: d = absmax / 127, every element within d/2 (+ f32 slack), bsums = sums of
 * each 16 levels, zero block stays zero. */
static void test_q8_k(void) {
    const int64_t n = 256 * 4;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    mx_block_q8_k *b = malloc((n / 256) * sizeof *b);
    fill_row(x, n);
    for (int i = 0; i < 256; i++) x[i] = 0.0f;
    const mx_type_kernels *k = mx_kernels_ref(MX_TYPE_Q8_K);
    CHECK(k && k->from_f32 && k->to_f32);
    k->from_f32(x, b, n);
    k->to_f32(b, y, n);
    int bad = 0, bad_sums = 0;
    for (int64_t ib = 0; ib < n / 256; ib++) {
        float amax = 0.0f;
        for (int i = 0; i < 256; i++) amax = fmaxf(amax, fabsf(x[ib * 256 + i]));
        const double d = amax / 127.0;
        for (int i = 0; i < 256; i++)
            if (fabs((double)x[ib * 256 + i] - y[ib * 256 + i]) > d * (0.5 + 1e-5)) bad++;
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += b[ib].qs[16 * j + i];
            bad_sums += s != b[ib].bsums[j];
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(bad_sums, 0);
    CHECK(y[0] == 0.0f && b[0].d == 0.0f);
    free(x);
    free(y);
    free(b);
}

/* ---- Dot products --------------------------------------------------------------------------- */

/* The f32 dot equals the F32 dot of the decoded row bit for bit (prefill decodes tiles), and the
 * integer dot is close to the exact product of the decoded row with the decoded activations:
 * per block the integer sums are exact, and the float steps (scale products, int->float, the
 * difference of the scale and min terms, the running sum over blocks) each round by at most
 * 2^-24 relative to magnitudes bounded by mag = sum_i (|d1_i q_i| + |m1_i|) |a_i|, so
 * |dot_q - exact| <= (6 + n_blocks) 2^-24 mag. gemm_q, when present, equals dot_q bit for bit. */
static void check_dots(int set, const mx_type_kernels *k, mx_type t, const uint8_t *rows, int nr,
                       const float *xs, int nt, int64_t n) {
    const uint64_t rb = mx_type_row_bytes(t, (uint64_t)n);
    const mx_type_kernels *f32 = mx_kernels_of((mx_isa)set, MX_TYPE_F32);
    const mx_type_kernels *vk = mx_kernels_of((mx_isa)set, k->vec_type);
    CHECK_MSG(k->dot_q && vk && vk->from_f32, "%s: integer path present", tname(t));
    if (!k->dot_q || !vk) return;
    const uint64_t vb = mx_type_row_bytes(k->vec_type, (uint64_t)n);
    uint8_t *xq = malloc(vb * (uint64_t)nt);
    float *deq = malloc((size_t)n * 4), *xd = malloc((size_t)n * 4), *y = malloc((size_t)(nr * nt) * 4);
    int not_f32 = 0, not_close = 0, gemm_diff = 0;
    double worst = 0;
    for (int t_ = 0; t_ < nt; t_++) vk->from_f32(xs + t_ * n, xq + t_ * vb, n);
    if (k->gemm_q) k->gemm_q(rows, rb, nr, xq, vb, nt, y, nr, n);
    for (int r = 0; r < nr; r++) {
        k->to_f32(rows + r * rb, deq, n);
        for (int t_ = 0; t_ < nt; t_++) {
            const float *x = xs + t_ * n;
            if (k->dot(rows + r * rb, x, n) != f32->dot(deq, x, n)) not_f32++;
            vk->to_f32(xq + t_ * vb, xd, n);
            double exact = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                const elem e = decode_elem(t, rows + r * rb + (uint64_t)(i / block_elems(t)) * block_bytes(t),
                                           (int)(i % block_elems(t)));
                exact += (double)deq[i] * xd[i];
                mag += (fabs((double)e.d1 * e.q) + fabs((double)e.m1)) * fabs((double)xd[i]);
            }
            const float dq = k->dot_q(rows + r * rb, xq + t_ * vb, n);
            const double nb = (double)(n / block_elems(t));
            const double err = fabs(dq - exact), bound = (6.0 + nb) * 5.960464477539063e-08 * mag + 1e-30;
            worst = fmax(worst, err / bound);
            if (!(err <= bound)) not_close++;
            if (k->gemm_q && memcmp(&y[t_ * nr + r], &dq, 4) != 0) gemm_diff++;
        }
    }
    CHECK_MSG(not_f32 == 0, "set %d %s n %lld: %d f32 dots differ from the F32 dot of the decoded row",
              set, tname(t), (long long)n, not_f32);
    CHECK_MSG(not_close == 0, "set %d %s n %lld: %d integer dots outside the bound (worst %.2f of it)",
              set, tname(t), (long long)n, not_close, worst);
    CHECK_MSG(gemm_diff == 0, "set %d %s: %d gemm_q results differ from dot_q", set, tname(t), gemm_diff);
    free(xq);
    free(deq);
    free(xd);
    free(y);
}

static void test_dots(void) {
    const int64_t sizes[] = {256, 512, 2304, 6912};
    const int nr = 5, nt = 6;
    for (int set = 0; set < MX_ISA_COUNT; set++) {
        if (!mx_isa_available((mx_isa)set)) {
            printf("test_kquants: no %s kernels on this CPU or build; their dots not run\n", mx_isa_name((mx_isa)set));
            continue;
        }
        for (size_t ti = 0; ti < MX_ARRAY_LEN(WTYPES); ti++)
            for (size_t si = 0; si < MX_ARRAY_LEN(sizes); si++) {
                const mx_type t = WTYPES[ti];
                const int64_t n = sizes[si];
                const mx_type_kernels *k = mx_kernels_of((mx_isa)set, t);
                CHECK_MSG(k != NULL, "set %d: %s kernels", set, tname(t));
                if (!k) continue;
                const uint64_t rb = mx_type_row_bytes(t, (uint64_t)n);
                uint8_t *rows = malloc(rb * nr);
                float *w = malloc((size_t)n * 4), *xs = malloc((size_t)(n * nt) * 4);
                for (int r = 0; r < nr; r++) {
                    fill_row(w, n);
                    mx_kernels_ref(t)->from_f32(w, rows + r * rb, n);
                }
                for (int64_t i = 0; i < n * nt; i++) xs[i] = nrand() * (1.0f + (float)(i % 7));
                /* four-row passes and a row left over, with every count of tokens per pass */
                for (int m = 1; m <= nt; m++) check_dots(set, k, t, rows, nr, xs, m, n);
                free(rows);
                free(w);
                free(xs);
            }
    }
}

/* ---- SIMD sets against the reference ------------------------------------------------------------- */

/* to_f32, from_f32 (weights and Q8_K activations) bit for bit; the f32 dot within the F32
 * kernels' own tolerance (fused vs separate multiply-add: 1e-6 of sum |w x|); dot_q bit for
 * bit (exact integer sums, then the same float steps in the same order). axpy within 2^-22 of |y| + |a w| per element. */
static void simd_vs_ref(mx_isa isa) {
    const mx_type all[] = {MX_TYPE_Q4_0, MX_TYPE_Q5_0, MX_TYPE_Q4_K, MX_TYPE_Q5_K, MX_TYPE_Q6_K, MX_TYPE_Q8_K};
    const int64_t n = 256 * 27;
    float *x = malloc(n * 4), *a = malloc(n * 4), *b = malloc(n * 4), *ya = malloc(n * 4),
          *yb = malloc(n * 4);
    for (size_t ti = 0; ti < MX_ARRAY_LEN(all); ti++) {
        const mx_type t = all[ti];
        const mx_type_kernels *r = mx_kernels_ref(t), *s = mx_kernels_of(isa, t);
        CHECK_MSG(r && s, "%s has reference and SIMD tables", tname(t));
        if (!r || !s) continue;
        const uint64_t rb = mx_type_row_bytes(t, (uint64_t)n);
        uint8_t *q1 = malloc(rb), *q2 = malloc(rb);
        for (int rep = 0; rep < 3; rep++) {
            fill_row(x, n);
            if (rep == 2)
                for (int64_t i = 0; i < n; i++) x[i] *= 1000.0f;
            r->from_f32(x, q1, n);
            s->from_f32(x, q2, n);
            CHECK_MSG(memcmp(q1, q2, rb) == 0, "%s: SIMD from_f32 equals reference", tname(t));
            r->to_f32(q1, a, n);
            s->to_f32(q1, b, n);
            CHECK_MSG(memcmp(a, b, (size_t)n * 4) == 0, "%s: SIMD to_f32 equals reference", tname(t));
            for (int64_t i = 0; i < n; i++) x[i] = nrand(), ya[i] = yb[i] = nrand();
            double mag = 0;
            for (int64_t i = 0; i < n; i++) mag += fabs((double)a[i] * x[i]);
            const float dr = r->dot(q1, x, n), ds = s->dot(q1, x, n);
            CHECK_MSG(fabs((double)dr - ds) <= 1e-6 * mag, "%s: dot SIMD %.9g vs ref %.9g", tname(t),
                      (double)ds, (double)dr);
            r->axpy(0.37f, q1, ya, n);
            s->axpy(0.37f, q1, yb, n);
            double worst = 0.0; /* in units of the magnitudes summed: one rounding either way */
            for (int64_t i = 0; i < n; i++)
                worst = fmax(worst, fabs((double)ya[i] - yb[i]) /
                                        (fabs((double)ya[i]) + 0.37 * fabs((double)a[i]) + 1e-30));
            CHECK_MSG(worst <= 2.384185791015625e-07, "%s: axpy max relative diff %g", tname(t), worst);
            if (!r->dot_q) continue;
            CHECK(s->dot_q && s->vec_type == r->vec_type);
            const uint64_t vb = mx_type_row_bytes(r->vec_type, (uint64_t)n);
            uint8_t *xq = malloc(vb);
            mx_kernels_ref(r->vec_type)->from_f32(x, xq, n);
            const float qr = r->dot_q(q1, xq, n), qs = s->dot_q(q1, xq, n);
            CHECK_MSG(memcmp(&qr, &qs, 4) == 0, "%s: dot_q SIMD %.9g vs ref %.9g (bit for bit)",
                      tname(t), (double)qs, (double)qr);
            free(xq);
        }
        free(q1);
        free(q2);
    }
    free(x); free(a); free(b); free(ya); free(yb);
}

static void test_simd_vs_ref(void) {
    for (int set = MX_ISA_AVX2; set < MX_ISA_COUNT; set++) {
        if (mx_isa_available((mx_isa)set)) simd_vs_ref((mx_isa)set);
        else printf("test_kquants: no %s kernels on this CPU or build; their comparisons not run\n", mx_isa_name((mx_isa)set));
    }
}


/* ---- Engine level: a small random Gemma 3 in a Q4_K_M-style mix -------------------------- */

enum { EL = 4, EE = 256, EF = 512, EH = 4, EKV = 2, EHD = 64, EV = 256, ENT = 24 };

/* The mix of tools/dev/gen-random-model --type q4_k_m (docs/engine.md): Q6_K for the tied
 * embedding and for attn_v / ffn_down of layers with more_bits(i), Q4_K elsewhere; rows that are
 * not whole superblocks fall back (Q4_K -> Q5_0, Q6_K -> Q8_0). */
static int more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }
static mx_type mix_type(const char *name, int64_t n_in) {
    mx_type t = MX_TYPE_Q4_K;
    int il = -1;
    if (!strcmp(name, "token_embd.weight")) t = MX_TYPE_Q6_K;
    else if (sscanf(name, "blk.%d.", &il) == 1 && (strstr(name, "attn_v.") || strstr(name, "ffn_down.")) &&
             more_bits(il, EL))
        t = MX_TYPE_Q6_K;
    if (n_in % 256) t = t == MX_TYPE_Q4_K ? MX_TYPE_Q5_0 : MX_TYPE_Q8_0;
    return t;
}

/* Writes the F32 model (N(0, 1/fan_in) matrices, norms 1 + 0.1 N(0, 1)) and loads it. */
static mixlm_model *make_f32_model(void) {
    mx_gguf_writer *w = mx_gguf_writer_new();
    if (!w) return NULL;
    mx_gguf_w_str(w, "general.architecture", "gemma3");
    mx_gguf_w_u32(w, "gemma3.context_length", 1024);
    mx_gguf_w_u32(w, "gemma3.block_count", EL);
    mx_gguf_w_u32(w, "gemma3.embedding_length", EE);
    mx_gguf_w_u32(w, "gemma3.feed_forward_length", EF);
    mx_gguf_w_u32(w, "gemma3.attention.head_count", EH);
    mx_gguf_w_u32(w, "gemma3.attention.head_count_kv", EKV);
    mx_gguf_w_u32(w, "gemma3.attention.key_length", EHD);
    mx_gguf_w_u32(w, "gemma3.attention.value_length", EHD);
    mx_gguf_w_f32(w, "gemma3.attention.layer_norm_rms_epsilon", 1e-6f);
    mx_gguf_w_f32(w, "gemma3.rope.freq_base", 1000000.0f);
    mx_gguf_w_u32(w, "gemma3.attention.sliding_window", 8);
    mx_gguf_w_u32(w, "gemma3.attention.sliding_window_pattern", 2);
    mx_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 2);
    mx_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 1);
    float *bufs[2 + EL * 13];
    int nb = 0;
    char name[64];
#define KQ_T(nm, in, out, is_norm)                                                            \
    do {                                                                                      \
        const int64_t ne_[2] = {(in), (out)};                                                 \
        float *d_ = malloc((size_t)((in) * (out)) * 4);                                       \
        for (int64_t i_ = 0; i_ < (in) * (out); i_++)                                         \
            d_[i_] = is_norm ? 1.0f + 0.1f * nrand() : nrand() / sqrtf((float)(in));          \
        bufs[nb++] = d_;                                                                      \
        mx_gguf_w_tensor(w, nm, MX_TYPE_F32, is_norm ? 1 : 2, ne_, d_,                        \
                         (uint64_t)((in) * (out)) * 4);                                       \
    } while (0)
    KQ_T("token_embd.weight", EE, EV, 0);
    for (int l = 0; l < EL; l++) {
#define NM(s) (snprintf(name, sizeof name, "blk.%d." s, l), name)
        KQ_T(NM("attn_norm.weight"), EE, 1, 1);
        KQ_T(NM("attn_q.weight"), EE, EH * EHD, 0);
        KQ_T(NM("attn_k.weight"), EE, EKV * EHD, 0);
        KQ_T(NM("attn_v.weight"), EE, EKV * EHD, 0);
        KQ_T(NM("attn_q_norm.weight"), EHD, 1, 1);
        KQ_T(NM("attn_k_norm.weight"), EHD, 1, 1);
        KQ_T(NM("attn_output.weight"), EH * EHD, EE, 0);
        KQ_T(NM("post_attention_norm.weight"), EE, 1, 1);
        KQ_T(NM("ffn_norm.weight"), EE, 1, 1);
        KQ_T(NM("ffn_gate.weight"), EE, EF, 0);
        KQ_T(NM("ffn_up.weight"), EE, EF, 0);
        KQ_T(NM("ffn_down.weight"), EF, EE, 0);
        KQ_T(NM("post_ffw_norm.weight"), EE, 1, 1);
#undef NM
    }
    KQ_T("output_norm.weight", EE, 1, 1);
#undef KQ_T
    const char *path = test_tmp("kquants-f32.gguf");
    mixlm_status st = mx_gguf_w_write_file(w, path);
    mx_gguf_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    mixlm_model *m = NULL;
    if (!st) st = mixlm_model_load(path, &m);
    CHECK_MSG(st == MIXLM_OK, "random F32 model: %s", mixlm_last_error());
    return st ? NULL : m;
}

typedef struct conv_model { mixlm_model m; mx_tensor *tensors; void **bufs; } conv_model;

/* A copy of the model with every matrix quantised (type MX_TYPE_COUNT: the mix). */
static int convert_model(const mixlm_model *src, mx_type type, conv_model *out) {
    memset(out, 0, sizeof *out);
    out->m = *src;
    out->tensors = calloc((size_t)src->n_tensors, sizeof *out->tensors);
    out->bufs = calloc((size_t)src->n_tensors, sizeof *out->bufs);
    if (!out->tensors || !out->bufs) return 0;
    for (int i = 0; i < src->n_tensors; i++) {
        const mx_tensor *t = &src->tensors[i];
        out->tensors[i] = *t;
        if (t->n_dims != 2) continue;
        const mx_type ty = type == MX_TYPE_COUNT ? mix_type(t->name, t->ne[0]) : type;
        const uint64_t rb = mx_type_row_bytes(ty, (uint64_t)t->ne[0]);
        uint8_t *buf = mx_aligned_alloc(64, (size_t)(rb * (uint64_t)t->ne[1]));
        if (!buf) return 0;
        for (int64_t r = 0; r < t->ne[1]; r++)
            mx_kernels_ref(ty)->from_f32((const float *)t->data + r * t->ne[0], buf + (uint64_t)r * rb, t->ne[0]);
        out->bufs[i] = buf;
        out->tensors[i].type = ty;
        out->tensors[i].data = buf;
        out->tensors[i].nbytes = rb * (uint64_t)t->ne[1];
    }
    out->m.tensors = out->tensors;
    return 1;
}
static void convert_free(conv_model *c) {
    for (int i = 0; c->bufs && i < c->m.n_tensors; i++) free(c->bufs[i]);
    free(c->bufs);
    free(c->tensors);
}

static mixlm_status run_engine(const mixlm_model *m, int threads, int chunk, const int32_t *tok,
                               float *out) {
    return engine_logits(m, threads, chunk, MX_TYPE_F32, false, tok, ENT, EV, out);
}

/* Quantised copies against the F32 original. Random-weight models amplify weight errors (logits
 * here reach ~7); the worst max |diff| measured over two seeds of this model (printed) is Q8_0
 * 0.12, Q6_K 0.33, Q5_K 0.56, Q5_0 0.60, mix 0.92, Q4_K 1.23, Q4_0 1.32: the order of the
 * formats' element errors (RMS 0.005, 0.021, 0.038, 0.059, -, 0.079, 0.107 of the weights' RMS),
 * with the integer path's 8-bit activations as a floor. Bounds are ~1.5x those. Every copy must
 * also give bit-identical logits whether the 24 tokens are fed at once, one at a time or 5 at a
 * time (prefill and decode agree), with 1 or 2 threads. */
static void test_engine_mix(void) {
    g_rng = 0x5851F42D4C957F2Dull; /* the same model whichever tests ran before (AVX2 or not) */
    mixlm_model *m = make_f32_model();
    if (!m) return;
    int32_t tok[ENT];
    tok[0] = 2;
    for (int i = 1; i < ENT; i++) tok[i] = 4 + (int32_t)(urand() * (EV - 4));
    const size_t n = (size_t)ENT * EV;
    float *ref = malloc(n * 4), *got = malloc(n * 4), *other = malloc(n * 4);
    CHECK_EQ_INT(run_engine(m, 2, 0, tok, ref), MIXLM_OK);
    double lmax = 0;
    for (size_t i = 0; i < n; i++) lmax = fmax(lmax, fabs(ref[i]));
    const struct { mx_type t; const char *name; double bound; } cases[] = {
        {MX_TYPE_COUNT, "Q4_K_M mix", 1.4}, {MX_TYPE_Q4_0, "Q4_0", 1.9}, {MX_TYPE_Q5_0, "Q5_0", 0.9},
        {MX_TYPE_Q4_K, "Q4_K", 1.85},       {MX_TYPE_Q5_K, "Q5_K", 0.85}, {MX_TYPE_Q6_K, "Q6_K", 0.5},
        {MX_TYPE_Q8_0, "Q8_0", 0.18}};
    for (size_t c = 0; c < MX_ARRAY_LEN(cases); c++) {
        conv_model cm;
        if (!convert_model(m, cases[c].t, &cm)) {
            CHECK_MSG(0, "convert %s", cases[c].name);
            convert_free(&cm);
            continue;
        }
        mixlm_status st = run_engine(&cm.m, 2, 0, tok, got);
        CHECK_MSG(st == MIXLM_OK, "%s: %s", cases[c].name, mixlm_last_error());
        const double d = check_max_abs_diff(got, ref, n);
        const int agree = check_argmax_agree(ref, got, ENT, EV);
        printf("  %-10s weights: max |logit diff| vs F32 %.3g (max |logit| %.2f), argmax %d/%d\n",
               cases[c].name, d, lmax, agree, ENT);
        CHECK_MSG(d <= cases[c].bound, "%s: max |diff| %.3g > %.3g", cases[c].name, d, cases[c].bound);
        const int chunks[] = {1, 5};
        for (size_t k = 0; k < MX_ARRAY_LEN(chunks); k++) {
            st = run_engine(&cm.m, 2, chunks[k], tok, other);
            CHECK_MSG(!st && check_max_abs_diff(other, got, n) == 0.0, "%s: chunk %d vs whole: %.3g",
                      cases[c].name, chunks[k], check_max_abs_diff(other, got, n));
        }
        st = run_engine(&cm.m, 1, 5, tok, other);
        CHECK_MSG(!st && check_max_abs_diff(other, got, n) == 0.0, "%s: 1 thread vs 2: %.3g",
                  cases[c].name, check_max_abs_diff(other, got, n));
        convert_free(&cm);
    }
    free(ref);
    free(got);
    free(other);
    mixlm_model_free(m);
}

int main(void) {
    test_hand_built();
    test_golden();
    test_roundtrip();
    test_q8_k();
    test_dots();
    test_simd_vs_ref();
    test_engine_mix();
    return check_summary("test_kquants");
}
