/* test_kernels.c: every SIMD kernel against its scalar reference (stated tolerances), the Q8_0
 * quantisation round-trip bound, the f32 helpers against double-precision formulas, the
 * reference switch, and the thread pool's work split. */
#include "check.h"

#include "common/util.h"
#include "engine/kernels/kernels.h"
#include "engine/threadpool.h"

#include <stdint.h>

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static const mx_type TYPES[] = {MX_TYPE_F32, MX_TYPE_F16, MX_TYPE_BF16, MX_TYPE_Q8_0};

/* Worst-case rounding error of a dot in the kernels' order (kernels.h): each of the 32 lanes
 * sums a chain of at most ceil(n / 32) products, then 2 + 3 additions join the lanes and up to
 * 7 tail products follow, so every product passes through at most k = ceil(n / 32) + 12
 * roundings and |computed - exact| <= k * u / (1 - k * u) * sum |w_i x_i| with u = 2^-24 (the
 * classic bound for recursive summation; a fused multiply-add only rounds less). */
static double dot_bound(int64_t n, double mag) {
    const double k = (double)((n + 31) / 32 + 12), u = 1.0 / 16777216.0;
    return k * u / (1.0 - k * u) * mag;
}

/* Dot products: the SIMD kernel keeps the reference's accumulation order and differs only by
 * fused multiply-add rounding; both are within dot_bound() of the exact dot, so they are
 * within twice that of each other (an indexing or conversion slip is far larger). */
static void simd_vs_ref(mx_isa isa) {
    const int64_t sizes[] = {32, 40, 64, 88, 224, 248, 256, 1176, 6912}; /* some end in an incomplete round of runs */
    for (size_t ti = 0; ti < MX_ARRAY_LEN(TYPES); ti++) {
        const mx_type t = TYPES[ti];
        const mx_type_kernels *r = mx_kernels_ref(t), *s = mx_kernels_of(isa, t);
        CHECK_MSG(r && s, "type %d has reference and SIMD kernels", (int)t);
        if (!r || !s) continue;
        for (size_t si = 0; si < MX_ARRAY_LEN(sizes); si++) {
            const int64_t n = t == MX_TYPE_Q8_0 ? sizes[si] & ~(int64_t)31 : sizes[si] + (int64_t)si; /* odd tails */
            float *w = malloc((size_t)n * 4), *x = malloc((size_t)n * 4), *a = malloc((size_t)n * 4),
                  *b = malloc((size_t)n * 4), *ya = malloc((size_t)n * 4), *yb = malloc((size_t)n * 4);
            void *row = malloc((size_t)mx_type_row_bytes(t, (uint64_t)n) + 64);
            void *row2 = malloc((size_t)mx_type_row_bytes(t, (uint64_t)n) + 64);
            for (int64_t i = 0; i < n; i++) {
                w[i] = frand() * 3.0f;
                x[i] = frand();
                ya[i] = yb[i] = frand();
            }
            r->from_f32(w, row, n);
            /* from_f32 */
            s->from_f32(w, row2, n);
            CHECK_MSG(memcmp(row, row2, (size_t)mx_type_row_bytes(t, (uint64_t)n)) == 0,
                      "type %d n %lld: SIMD from_f32 equals reference", (int)t, (long long)n);
            /* to_f32: conversions are exact, so equal bit for bit */
            r->to_f32(row, a, n);
            s->to_f32(row, b, n);
            CHECK_MSG(memcmp(a, b, (size_t)n * 4) == 0, "type %d n %lld: SIMD to_f32 equals reference",
                      (int)t, (long long)n);
            /* dot */
            double mag = 0.0;
            for (int64_t i = 0; i < n; i++) mag += fabs((double)a[i] * x[i]);
            const float dr = r->dot(row, x, n), ds = s->dot(row, x, n);
            CHECK_MSG(fabs((double)dr - ds) <= 2.0 * dot_bound(n, mag),
                      "type %d n %lld: dot simd %.9g vs ref %.9g (mag %g)", (int)t, (long long)n,
                      (double)ds, (double)dr, mag);
            /* and both near the exact dot of the dequantised row */
            double exact = 0.0;
            for (int64_t i = 0; i < n; i++) exact += (double)a[i] * x[i];
            CHECK_MSG(fabs(exact - dr) <= dot_bound(n, mag), "type %d: ref dot %.9g vs exact %.9g",
                      (int)t, (double)dr, exact);
            CHECK_MSG(fabs(exact - ds) <= dot_bound(n, mag), "type %d: SIMD dot %.9g vs exact %.9g",
                      (int)t, (double)ds, exact);
            /* axpy: one multiply-add per element; fused vs separate rounding only */
            r->axpy(0.37f, row, ya, n);
            s->axpy(0.37f, row, yb, n);
            float worst = 0.0f;
            for (int64_t i = 0; i < n; i++) worst = fmaxf(worst, fabsf(ya[i] - yb[i]));
            CHECK_MSG(worst <= 1e-6f, "type %d n %lld: axpy max diff %g", (int)t, (long long)n,
                      (double)worst);
            free(w); free(x); free(a); free(b); free(ya); free(yb); free(row); free(row2);
        }
    }
}

static void test_simd_vs_ref(void) {
    for (int set = MX_ISA_AVX2; set < MX_ISA_COUNT; set++) {
        if (mx_isa_available((mx_isa)set)) simd_vs_ref((mx_isa)set);
        else printf("test_kernels: no %s kernels on this CPU or build; their comparisons not run\n", mx_isa_name((mx_isa)set));
    }
}

/* Q8_0: per block d = absmax / 127 stored as f16 and q = round(x / d). Dequantised values differ
 * from x by at most d/2 from rounding plus 127 * |d - f16(d)| <= 127 * d * 2^-11 from the
 * scale's rounding: bound d * (0.5 + 127/2048) (plus f32 slack). */
static void test_q8_0_roundtrip(void) {
    const int64_t n = 32 * 64;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    mx_block_q8_0 *q = malloc((size_t)(n / 32) * sizeof *q);
    for (int64_t i = 0; i < n; i++) x[i] = frand() * (1.0f + (float)(i / 32) * 0.5f);
    for (int64_t i = 0; i < 32; i++) x[i] = 0.0f; /* an all-zero block */
    mx_kernels_ref(MX_TYPE_Q8_0)->from_f32(x, q, n);
    mx_kernels_ref(MX_TYPE_Q8_0)->to_f32(q, y, n);
    int bad = 0;
    for (int64_t ib = 0; ib < n / 32; ib++) {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[ib * 32 + i]));
        const double d = amax / 127.0;
        const double bound = d * (0.5 + 127.0 / 2048.0) + 1e-7 * amax;
        for (int i = 0; i < 32; i++)
            if (fabs((double)x[ib * 32 + i] - y[ib * 32 + i]) > bound) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(y[0] == 0.0f && y[31] == 0.0f);
    free(x); free(y); free(q);
}

static void test_helpers(void) {
    const int64_t n = 1152;
    float *x = malloc(n * 4), *w = malloc(n * 4), *y = malloc(n * 4);
    for (int64_t i = 0; i < n; i++) { x[i] = frand() * 10.0f; w[i] = 1.0f + frand() * 0.1f; }
    mx_rmsnorm(y, x, w, n, 1e-6f);
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    const double sc = 1.0 / sqrt(ss / n + 1e-6);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs(y[i] - x[i] * sc * w[i]));
    CHECK_MSG(worst <= 1e-5, "rmsnorm max diff %g vs double formula", worst);

    float a[5] = {-3.0f, -0.5f, 0.0f, 0.7f, 4.0f}, b[5] = {1, 2, 3, 4, 5}, c[5];
    memcpy(c, a, sizeof a);
    mx_gelu_tanh_mul(c, b, 5);
    for (int i = 0; i < 5; i++) {
        const double xx = a[i];
        const double g = 0.5 * xx * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (xx + 0.044715 * xx * xx * xx)));
        CHECK_NEAR(c[i], g * b[i], 1e-5);
    }
    memcpy(c, a, sizeof a);
    mx_silu_mul(c, b, 5);
    for (int i = 0; i < 5; i++) CHECK_NEAR(c[i], a[i] / (1.0 + exp(-(double)a[i])) * b[i], 1e-5);
    free(x); free(w); free(y);
}

/* The tile product as the engine calls it: weights and tokens packed (kernels.h), then one
 * product; strided rows in, y[t * ys + r] out. */
static void packed_gemm(mx_gemm_f32_fn gemm, const float *w, int64_t ws, int nr, const float *x,
                        int64_t xs, int nt, float *y, int64_t ys, int64_t n) {
    float *wp = malloc((size_t)mx_gemm_packed_floats(nr, MX_GEMM_WB, n) * 4 + 4);
    float *xp = malloc((size_t)mx_gemm_packed_floats(nt, MX_GEMM_XB, n) * 4 + 4);
    float *scratch = malloc(MX_GEMM_SCRATCH_FLOATS * 4);
    for (int r = 0; r < nr; r += MX_GEMM_WB)
        mx_gemm_pack_block(w + r * ws, ws, MX_MIN(MX_GEMM_WB, nr - r), MX_GEMM_WB, n, wp + r * n);
    for (int t = 0; t < nt; t += MX_GEMM_XB)
        mx_gemm_pack_block(x + t * xs, xs, MX_MIN(MX_GEMM_XB, nt - t), MX_GEMM_XB, n, xp + t * n);
    gemm(wp, nr, xp, nt, y, ys, n, scratch);
    free(wp); free(xp); free(scratch);
}

/* The prefill path (dequantise a tile, f32 tile product) must give the same bits as the decode
 * path (the type's own dot): the f32 dot of a dequantised row equals the type's dot exactly,
 * and the tile product equals the f32 dot exactly, for each kernel set. */
static void test_prefill_equals_decode(void) {
    const int64_t n = 1152 + 32;
    const int nr = 7, nt = 5;
    float *w = malloc((size_t)(nr * n) * 4), *x = malloc((size_t)(nt * n) * 4), *deq = malloc((size_t)(nr * n) * 4);
    float y[5 * 7];
    for (int64_t i = 0; i < nr * n; i++) w[i] = frand();
    for (int64_t i = 0; i < nt * n; i++) x[i] = frand();
    for (int set = 0; set < MX_ISA_COUNT; set++) {
        if (!mx_isa_available((mx_isa)set)) continue;
        const mx_gemm_f32_fn gemm = mx_gemm_f32_of((mx_isa)set);
        const mx_type_kernels *f32 = mx_kernels_of((mx_isa)set, MX_TYPE_F32);
        for (size_t ti = 0; ti < MX_ARRAY_LEN(TYPES); ti++) {
            const mx_type_kernels *k = mx_kernels_of((mx_isa)set, TYPES[ti]);
            const uint64_t rb = mx_type_row_bytes(TYPES[ti], (uint64_t)n);
            uint8_t *q = malloc((size_t)(rb * nr));
            int same = 1;
            for (int r = 0; r < nr; r++) {
                k->from_f32(w + r * n, q + r * rb, n);
                k->to_f32(q + r * rb, deq + r * n, n);
            }
            packed_gemm(gemm, deq, n, nr, x, n, nt, y, nr, n);
            for (int t = 0; t < nt; t++)
                for (int r = 0; r < nr; r++) {
                    const float direct = k->dot(q + r * rb, x + t * n, n);
                    const float viaf32 = f32->dot(deq + r * n, x + t * n, n);
                    same &= direct == viaf32 && y[t * nr + r] == direct;
                }
            CHECK_MSG(same, "set %d type %d: type dot == f32 dot of dequantised == tile product",
                      set, (int)TYPES[ti]);
            free(q);
        }
    }
    free(w); free(x); free(deq);
}

/* Worst-case rounding error of an attention score (kernels.h): a chain of ceil(n / 8) products
 * (8 lanes) or ceil(n / 16) (16 lanes), then up to 4 additions joining lanes and up to 15 tail
 * products, so at most k = ceil(n / 8) + 19 roundings per product (the bound of dot_bound()). */
static double attn_bound(int64_t n, double mag) {
    const double k = (double)((n + 7) / 8 + 19), u = 1.0 / 16777216.0;
    return k * u / (1.0 - k * u) * mag;
}

/* Attention kernels (kernels.h): each score belongs to its (row, head) alone, so a run of rows
 * and heads gives the same bits as one row and one head at a time, and F16/BF16 rows the same
 * bits as F32 rows holding the same values (the engine mixes cache rows with the step's f32
 * scratch rows); SIMD scores are within twice attn_bound() of the reference's; values are the
 * type's axpy row after row, bit for bit, also across a run split in two. Run lengths across
 * several chunks of rows, head counts across groups of four, lengths with and without a
 * half slice of 8 and an n % 8 tail; strides larger than a row check the addressing. */
static void test_attention(void) {
    static const mx_type kv_types[] = {MX_TYPE_F32, MX_TYPE_F16, MX_TYPE_BF16};
    const int64_t ns[] = {8, 13, 24, 64, 100, 200, 256, 259};
    enum { MAX_NR = 37, MAX_NQ = 5 }; /* values take chunks of 16 rows, heads in fours */
    for (int set = 0; set < MX_ISA_COUNT; set++) {
        if (!mx_isa_available((mx_isa)set)) continue;
        const mx_type_kernels *f32 = mx_kernels_of((mx_isa)set, MX_TYPE_F32);
        for (size_t ti = 0; ti < MX_ARRAY_LEN(kv_types); ti++) {
            const mx_type_kernels *k = mx_kernels_of((mx_isa)set, kv_types[ti]);
            const mx_type_kernels *ref = mx_kernels_ref(kv_types[ti]);
            CHECK_MSG(k && k->attn_scores && k->attn_values, "set %d type %d has attention kernels", set, (int)kv_types[ti]);
            if (!k || !k->attn_scores || !k->attn_values) continue;
            for (size_t ni = 0; ni < MX_ARRAY_LEN(ns); ni++) {
                const int64_t n = ns[ni], qs = n + 3, ys = n + 5;
                const uint64_t rb = mx_type_row_bytes(kv_types[ti], (uint64_t)n) + 64; /* a gap between rows */
                uint8_t *rows = calloc(MAX_NR, rb);
                float *rows32 = calloc(MAX_NR, (size_t)n * 4), *q = malloc(MAX_NQ * (size_t)qs * 4);
                float s[MAX_NQ * MAX_NR], s32[MAX_NQ * MAX_NR], p[MAX_NQ * MAX_NR];
                float *y = malloc(MAX_NQ * (size_t)ys * 4), *y32 = malloc(MAX_NQ * (size_t)ys * 4),
                      *want = malloc(MAX_NQ * (size_t)ys * 4), *w = malloc((size_t)n * 4);
                for (int r = 0; r < MAX_NR; r++) {
                    for (int64_t i = 0; i < n; i++) w[i] = frand() * 2.0f;
                    k->from_f32(w, rows + r * rb, n);
                    k->to_f32(rows + r * rb, rows32 + r * n, n);
                }
                for (int64_t i = 0; i < MAX_NQ * qs; i++) q[i] = frand();
                for (int i = 0; i < MAX_NQ * MAX_NR; i++) p[i] = frand();
                int ok = 1;
                for (int nq = 1; nq <= MAX_NQ; nq++)
                    for (int nr = 1; nr <= MAX_NR; nr += 2) {
                        k->attn_scores(rows, rb, nr, q, qs, nq, s, MAX_NR, n);
                        f32->attn_scores(rows32, (uint64_t)n * 4, nr, q, qs, nq, s32, MAX_NR, n);
                        for (int h = 0; h < nq; h++)
                            for (int r = 0; r < nr; r++) {
                                float one, want_ref;
                                k->attn_scores(rows + r * rb, rb, 1, q + h * qs, qs, 1, &one, 1, n);
                                ref->attn_scores(rows + r * rb, rb, 1, q + h * qs, qs, 1, &want_ref, 1, n);
                                double mag = 0;
                                for (int64_t i = 0; i < n; i++) mag += fabs((double)rows32[r * n + i] * q[h * qs + i]);
                                ok &= s[h * MAX_NR + r] == one && s32[h * MAX_NR + r] == one;
                                ok &= fabs((double)one - want_ref) <= 2 * attn_bound(n, mag);
                            }
                        for (int64_t i = 0; i < MAX_NQ * ys; i++) y[i] = y32[i] = want[i] = frand();
                        k->attn_values(p, MAX_NR, rows, rb, nr, y, ys, nq, n);
                        /* the same rows in two runs, split after the first */
                        f32->attn_values(p, MAX_NR, rows32, (uint64_t)n * 4, 1, y32, ys, nq, n);
                        f32->attn_values(p + 1, MAX_NR, rows32 + n, (uint64_t)n * 4, nr - 1, y32, ys, nq, n);
                        for (int r = 0; r < nr; r++)
                            for (int h = 0; h < nq; h++) k->axpy(p[h * MAX_NR + r], rows + r * rb, want + h * ys, n);
                        ok &= memcmp(y, want, MAX_NQ * (size_t)ys * 4) == 0 && memcmp(y32, want, MAX_NQ * (size_t)ys * 4) == 0;
                    }
                CHECK_MSG(ok, "set %d type %d n %lld: attention scores per (row, head) and near the reference, values == axpy, same for f32 rows",
                          set, (int)kv_types[ti], (long long)n);
                free(rows); free(rows32); free(q); free(y); free(y32); free(want); free(w);
            }
        }
    }
}

/* The tile product equals the F32 dot bit for bit for every shape: rows and tokens that fill
 * no register block, groups of rows and tokens and chunks of a quarter that are cut short,
 * lengths below one group per quarter, quarters of unequal size, and n % 8 tails. Strides
 * larger than n check the addressing. */
static void test_gemm_shapes(void) {
    const int64_t ns[] = {1, 7, 8, 24, 33, 64, 100, 250, 259, 1000, 1152, 2091, 4150};
    const int shapes[][2] = {{1, 1}, {3, 2}, {4, 3}, {5, 4}, {7, 13}, {16, 12}, {17, 25}, {33, 7}, {6, 50}, {37, 52}};
    for (int set = 0; set < MX_ISA_COUNT; set++) {
        if (!mx_isa_available((mx_isa)set)) continue;
        const mx_gemm_f32_fn gemm = mx_gemm_f32_of((mx_isa)set);
        const mx_dot_fn dot = mx_kernels_of((mx_isa)set, MX_TYPE_F32)->dot;
        for (size_t ni = 0; ni < MX_ARRAY_LEN(ns); ni++)
            for (size_t si = 0; si < MX_ARRAY_LEN(shapes); si++) {
                const int64_t n = ns[ni], ws = n + 3, xs = n + 5;
                const int nr = shapes[si][0], nt = shapes[si][1];
                const int64_t ys = nr + 2;
                float *w = malloc((size_t)(nr * ws) * 4), *x = malloc((size_t)(nt * xs) * 4);
                float *y = malloc((size_t)(nt * ys) * 4);
                for (int64_t i = 0; i < nr * ws; i++) w[i] = frand();
                for (int64_t i = 0; i < nt * xs; i++) x[i] = frand();
                for (int64_t i = 0; i < nt * ys; i++) y[i] = 12345.0f;
                packed_gemm(gemm, w, ws, nr, x, xs, nt, y, ys, n);
                int same = 1, untouched = 1;
                for (int t = 0; t < nt; t++) {
                    for (int r = 0; r < nr; r++) same &= y[t * ys + r] == dot(w + r * ws, x + t * xs, n);
                    untouched &= y[t * ys + nr] == 12345.0f && y[t * ys + nr + 1] == 12345.0f;
                }
                CHECK_MSG(same && untouched, "set %d n %lld rows %d tokens %d: tile product == dot",
                          set, (long long)n, nr, nt);
                free(w); free(x); free(y);
            }
    }
}

/* The roofline's bandwidth measurement runs and gives a positive, finite figure (its value
 * depends on the machine and its load, so nothing more can be asserted). */
static void test_read_bandwidth(void) {
    const double bw = mx_read_bandwidth(2, (uint64_t)64 << 20, 1);
    CHECK_MSG(bw > 0.0 && bw < 1e6, "read bandwidth %g GB/s", bw);
    /* ranges at odd addresses and of odd lengths (each read from its first 32-byte boundary in
     * whole 256-byte stretches), more threads than stretches, and nothing to read */
    uint8_t *buf = aligned_alloc(64, 3 << 20);
    memset(buf, 1, 3 << 20);
    const mx_byte_range r[3] = {{buf + 1, (1 << 20) - 7}, {buf + (1 << 20) + 5, 300}, {buf + (2 << 20), 1 << 20}};
    /* trimmed: (2^20 - 7 - 31) / 256 whole stretches from buf + 32, one from buf + 2^20 + 32,
     * all of the aligned third */
    const uint64_t want = ((1 << 20) - 38) / 256 * 256 + 256 + (1 << 20);
    for (int th = 1; th <= 3; th++) {
        uint64_t got = 0;
        const double g = mx_read_ranges_bandwidth(r, 3, th, 2, &got);
        CHECK_MSG(g > 0.0 && g < 1e6, "ranges, %d threads: %g GB/s", th, g);
        CHECK_MSG(got == 2 * want, "ranges, %d threads: %llu bytes read, want %llu", th,
                  (unsigned long long)got, (unsigned long long)(2 * want));
    }
    uint64_t got = 0;
    CHECK(mx_read_ranges_bandwidth(&r[1], 1, 4, 1, &got) > 0.0); /* one stretch, 4 threads */
    CHECK_EQ_INT(got, 256);
    const mx_byte_range tiny = {buf + 3, 200};
    CHECK(mx_read_ranges_bandwidth(&tiny, 1, 2, 1, &got) == 0.0);
    CHECK_EQ_INT(got, 0);
    CHECK(mx_read_ranges_bandwidth(r, 0, 2, 1, NULL) == 0.0);
    free(buf);
}

static void test_force_reference(void) {
    mixlm_force_reference_kernels(true);
    CHECK_EQ_STR(mx_kernels_isa(), "reference");
    CHECK(mx_kernels_get(MX_TYPE_Q8_0)->dot == mx_kernels_ref(MX_TYPE_Q8_0)->dot);
    mixlm_force_reference_kernels(false);
    const mx_isa best = mx_isa_available(MX_ISA_AVX512) ? MX_ISA_AVX512 : mx_isa_available(MX_ISA_AVX2) ? MX_ISA_AVX2 : MX_ISA_REF;
    CHECK_EQ_STR(mx_kernels_isa(), mx_isa_name(best));
    CHECK_EQ_STR(mixlm_kernels_isa(), mx_isa_name(best));
    /* a limit picks the most capable set at or below it; unknown names change nothing */
    CHECK(mixlm_kernels_limit("avx2"));
    CHECK_EQ_STR(mx_kernels_isa(), mx_isa_name(best < MX_ISA_AVX2 ? best : MX_ISA_AVX2));
    CHECK(mx_kernels_get(MX_TYPE_Q8_0)->gemm_q == (best >= MX_ISA_AVX2 ? mx_kernels_of(MX_ISA_AVX2, MX_TYPE_Q8_0)->gemm_q
                                                                       : mx_kernels_ref(MX_TYPE_Q8_0)->gemm_q));
    CHECK(mixlm_kernels_limit("reference"));
    CHECK_EQ_STR(mx_kernels_isa(), "reference");
    CHECK(!mixlm_kernels_limit("avx1024"));
    CHECK_EQ_STR(mx_kernels_isa(), "reference");
    CHECK(mixlm_kernels_limit(NULL));
    CHECK_EQ_STR(mx_kernels_isa(), mx_isa_name(best));
    CHECK(mixlm_kernels_limit("avx512"));
    CHECK_EQ_STR(mx_kernels_isa(), mx_isa_name(best));
    CHECK(mx_kernels_get(MX_TYPE_F32)->dot == mx_kernels_of(best, MX_TYPE_F32)->dot);
    CHECK(mx_kernels_gemm_f32() == mx_gemm_f32_of(best));
    CHECK(mx_isa_available(MX_ISA_AVX512) == mx_kernels_have_avx512());
    CHECK(mx_kernels_get(MX_TYPE_Q2_K) == NULL); /* not a type this engine uses (yet) */
}

typedef struct pool_ctx { int hits[8]; int64_t covered[100]; } pool_ctx;
static void pool_fn(void *p, int ith, int nth) {
    pool_ctx *c = p;
    c->hits[ith]++;
    int64_t r0, r1;
    mx_split_rows(100, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) c->covered[r]++;
}

static void test_pool(void) {
    for (int n = 1; n <= 4; n++) {
        mx_pool *pool = NULL;
        CHECK_EQ_INT(mx_pool_create(n, &pool), MIXLM_OK);
        pool_ctx c;
        memset(&c, 0, sizeof c);
        for (int rep = 0; rep < 50; rep++) mx_pool_run(pool, pool_fn, &c);
        for (int i = 0; i < n; i++) CHECK_EQ_INT(c.hits[i], 50);
        int ok = 1;
        for (int r = 0; r < 100; r++) ok &= c.covered[r] == 50;
        CHECK_MSG(ok, "every row covered once per run with %d threads", n);
        mx_pool_free(pool);
    }
    mx_pool_free(NULL);
    mx_pool *bad = NULL;
    CHECK(mx_pool_create(0, &bad) != MIXLM_OK && bad == NULL);
}

/* The 16-bit conversions (the engine writes and rounds the KV cache with the active set's) on
 * the values where rounding is delicate: exact ties to even and odd, the carry into the
 * exponent, the largest finite values and the first that overflow, subnormal results, zeros
 * and infinities, NaNs (BF16 keeps the reference's bits; F16 only has to stay a NaN). Each
 * value in every position of a row of 37, so the SIMD body and the scalar tail both meet it. */
static void test_half_conversions(void) {
    static const uint32_t bits[] = {
        0x3F808000, 0x3F818000, 0x3F80FFFF, 0x3FFF8000, 0x7F7FFFFF, 0x7F7F8000, 0xFF7FFFFF, /* bf16 */
        0x3F801000, 0x3F803000, 0x3F800FFF, 0x477FE000, 0x477FEFFF, 0x477FF000, 0xC77FF000, /* f16 */
        0x33800000, 0x33000001, 0x33000000, 0x387FC000, 0x38800000, 0x00000001, 0x80000001,
        0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001, 0x7F800001};
    enum { N = 37 };
    const mx_type types[] = {MX_TYPE_F16, MX_TYPE_BF16};
    for (int set = 1; set < MX_ISA_COUNT; set++) {
        if (!mx_isa_available((mx_isa)set)) continue;
        for (int ti = 0; ti < 2; ti++) {
            const mx_type_kernels *r = mx_kernels_ref(types[ti]), *k = mx_kernels_of((mx_isa)set, types[ti]);
            int ok = 1;
            for (size_t b = 0; b < MX_ARRAY_LEN(bits); b++)
                for (int pos = 0; pos < N; pos++) {
                    float x[N];
                    uint16_t want[N], got[N];
                    for (int i = 0; i < N; i++) x[i] = frand();
                    memcpy(&x[pos], &bits[b], 4);
                    r->from_f32(x, want, N);
                    k->from_f32(x, got, N);
                    const int nan = (bits[b] & 0x7FFFFFFF) > 0x7F800000;
                    for (int i = 0; i < N; i++) {
                        if (i == pos && nan && types[ti] == MX_TYPE_F16)
                            ok &= (got[i] & 0x7C00) == 0x7C00 && (got[i] & 0x03FF) != 0;
                        else
                            ok &= got[i] == want[i];
                    }
                }
            CHECK_MSG(ok, "set %d type %d: from_f32 on ties, overflow, subnormals, zeros, infinities, NaNs",
                      set, (int)types[ti]);
        }
    }
}

int main(void) {
    test_half_conversions();
    test_simd_vs_ref();
    test_q8_0_roundtrip();
    test_helpers();
    test_prefill_equals_decode();
    test_gemm_shapes();
    test_attention();
    test_read_bandwidth();
    test_force_reference();
    test_pool();
    return check_summary("test_kernels");
}
