/* test_kernels_int.c: the integer path of the quantised types (activations quantised to the
 * type's vec_type, int8 x int8 block dots): every type with dot_q, reference and AVX2 tables;
 * the tile product equal to the dot bit for bit on odd tile shapes; the dot against an exact
 * double dot of the dequantised values; the Q8_0 activation quantiser's AVX2 sibling equal to
 * the reference byte for byte, on rounding ties and saturating values too. */
#include "check.h"

#include "common/util.h"
#include "engine/kernels/kernels.h"

#include <stdint.h>

static uint64_t g_rng = 0x243F6A8885A308D3ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* The kernel sets to test: the reference and those this CPU runs (each set needs the ones
 * below it, so they are the first n_sets()). */
static int n_sets(void) {
    int n = 0;
    while (n < MX_ISA_COUNT && mx_isa_available((mx_isa)n)) n++;
    return n;
}
static const mx_type_kernels *set_get(int set, mx_type t) {
    return mx_kernels_of((mx_isa)set, t);
}
static const char *set_name(int set) { return mx_isa_name((mx_isa)set); }

/* Weights of one matrix type quantised from random values, activations quantised to its
 * vec_type with the reference quantiser, both also dequantised for the exact dot. */
typedef struct qcase {
    int64_t n;
    int nr, nt;
    uint64_t rb, xb;
    uint8_t *w, *x;
    double *wd, *xd; /* dequantised, [nr][n] and [nt][n] */
} qcase;

static int qcase_make(mx_type t, int64_t n, int nr, int nt, qcase *c) {
    const mx_type_kernels *k = mx_kernels_ref(t);
    const mx_type_kernels *vk = mx_kernels_ref(k->vec_type);
    if (!vk) return 0;
    c->n = n;
    c->nr = nr;
    c->nt = nt;
    c->rb = mx_type_row_bytes(t, (uint64_t)n);
    c->xb = mx_type_row_bytes(k->vec_type, (uint64_t)n);
    c->w = malloc((size_t)(c->rb * (uint64_t)nr));
    c->x = malloc((size_t)(c->xb * (uint64_t)nt));
    c->wd = malloc((size_t)(nr * n) * sizeof(double));
    c->xd = malloc((size_t)(nt * n) * sizeof(double));
    float *f = malloc((size_t)n * sizeof(float));
    for (int r = 0; r < nr; r++) {
        /* rows of different magnitudes; some blocks with one large outlier */
        const float scale = 0.05f + (float)(r % 5);
        for (int64_t i = 0; i < n; i++) f[i] = frand() * scale * ((i % 97) == 3 ? 8.0f : 1.0f);
        k->from_f32(f, c->w + (uint64_t)r * c->rb, n);
        k->to_f32(c->w + (uint64_t)r * c->rb, f, n);
        for (int64_t i = 0; i < n; i++) c->wd[r * n + i] = f[i];
    }
    for (int tk = 0; tk < nt; tk++) {
        for (int64_t i = 0; i < n; i++) f[i] = frand() * (1.0f + (float)tk);
        if (tk == 1) memset(f, 0, 32 * sizeof(float)); /* an all-zero block */
        vk->from_f32(f, c->x + (uint64_t)tk * c->xb, n);
        vk->to_f32(c->x + (uint64_t)tk * c->xb, f, n);
        for (int64_t i = 0; i < n; i++) c->xd[tk * n + i] = f[i];
    }
    free(f);
    return 1;
}

static void qcase_free(qcase *c) {
    free(c->w);
    free(c->x);
    free(c->wd);
    free(c->xd);
}

/* The types with an integer path: every table entry with dot_q. */
static int int_types(mx_type *out) {
    int n = 0;
    for (int t = 0; t < MX_TYPE_COUNT; t++) {
        const mx_type_kernels *k = mx_kernels_ref((mx_type)t);
        if (k && k->dot_q) out[n++] = (mx_type)t;
    }
    return n;
}

/* Q8_0 dot_q against the exact dot of the dequantised values (other types' kernels test their
 * own float steps). The block products are exact integers; the float steps are one product d * sum (d exact) and one addition per block in
 * each of 8 lanes, then 3 pairwise additions: each rounds by at most 2^-24 of a partial sum
 * bounded by mag = sum |w_i x_i|, so |dot_q - exact| <= (2 * blocks + 3) * 2^-24 * mag. A bound
 * that is rigorous for these kernels, yet any indexing or scaling slip breaks it by orders of
 * magnitude. The reference and AVX2 dots perform the same operations: equal bit for bit. */
static void test_dot_q_exact(void) {
    const mx_type types[] = {MX_TYPE_Q8_0};
    const int nty = 1;
    const int64_t sizes[] = {32, 256, 1152, 6912};
    for (int ti = 0; ti < nty; ti++) {
        const mx_type t = types[ti];
        const int bs = (int)mx_type_get(t)->block;
        const int vbs = (int)mx_type_get(mx_kernels_ref(t)->vec_type)->block;
        for (size_t si = 0; si < MX_ARRAY_LEN(sizes); si++) {
            const int64_t n = sizes[si];
            if (n % bs || n % vbs) continue;
            qcase c;
            CHECK_MSG(qcase_make(t, n, 5, 3, &c), "type %d: vec_type %d has reference kernels",
                      (int)t, (int)mx_kernels_ref(t)->vec_type);
            int worst_ok = 1, same = 1;
            double worst = 0.0;
            for (int r = 0; r < c.nr; r++)
                for (int tk = 0; tk < c.nt; tk++) {
                    double exact = 0.0, mag = 0.0;
                    for (int64_t i = 0; i < n; i++) {
                        exact += c.wd[r * n + i] * c.xd[tk * n + i];
                        mag += fabs(c.wd[r * n + i] * c.xd[tk * n + i]);
                    }
                    const double bound = (2.0 * (double)(n / vbs) + 3.0) * ldexp(1.0, -24) * mag + 1e-30;
                    const float ref = mx_kernels_ref(t)->dot_q(c.w + r * c.rb, c.x + tk * c.xb, n);
                    const double err = fabs((double)ref - exact);
                    if (err > bound) worst_ok = 0;
                    if (mag > 0) worst = fmax(worst, err / mag);
                    for (int set = 1; set < n_sets(); set++) {
                        const float s = set_get(set, t)->dot_q(c.w + r * c.rb, c.x + tk * c.xb, n);
                        same &= s == ref;
                    }
                }
            CHECK_MSG(worst_ok, "type %d n %lld: ref dot_q within the rounding bound of the exact dot",
                      (int)t, (long long)n);
            CHECK_MSG(same, "type %d n %lld: AVX2 dot_q equals the reference bit for bit", (int)t,
                      (long long)n);
            printf("  type %-5s n %5lld: worst |dot_q - exact| / sum|w x| = %.2g\n",
                   mx_type_get(t)->name, (long long)n, worst);
            qcase_free(&c);
        }
    }
}

/* gemm_q == dot_q of the same table, bit for bit, for tile shapes that are not multiples of
 * any blocking (1..131 rows, 1..83 tokens: partial register tiles, partial groups of 8 and 16
 * tokens, more than one pass of tokens (32 or 64 a pass) and of rows (64 or 128 a pass)), a
 * length of 43 blocks of 32 that the lane tiles cut into segments of 16 or 8 with a partial
 * last one (5 blocks of 256 for the K-quants), and an output stride wider than the rows; decode's
 * shapes (1-4 tokens, several groups of 8 rows and a partial one) among them. */
static void test_gemm_q_equals_dot_q(void) {
    mx_type types[MX_TYPE_COUNT];
    const int nty = int_types(types);
    for (int ti = 0; ti < nty; ti++) {
        const mx_type t = types[ti];
        const int64_t n = mx_type_get(t)->block == 32 ? 1376 : 1280;
        qcase c;
        if (!qcase_make(t, n, 131, 83, &c)) continue;
        for (int set = 0; set < n_sets(); set++) {
            const mx_type_kernels *k = set_get(set, t);
            CHECK_MSG(k && k->gemm_q && k->dot_q, "type %d %s: gemm_q and dot_q", (int)t, set_name(set));
            if (!k || !k->gemm_q) continue;
            int same = 1;
            const int shapes[][2] = {{1, 1}, {1, 9}, {13, 1}, {2, 3}, {3, 2}, {4, 4}, {5, 3},
                                     {7, 5}, {8, 6}, {9, 7}, {13, 9}, {12, 8}, {11, 2},
                                     {64, 32}, {65, 33}, {70, 37}, {3, 17}, {16, 16},
                                     {17, 65}, {131, 20}, {129, 83}, {2, 80}, {64, 1},
                                     {37, 4}, {24, 3}, {131, 5}};
            for (size_t s = 0; s < MX_ARRAY_LEN(shapes); s++) {
                const int nr = shapes[s][0], nt = shapes[s][1];
                const int64_t ys = nr + 3;
                float *y = malloc((size_t)(nt * ys) * sizeof(float));
                for (int64_t i = 0; i < nt * ys; i++) y[i] = -12345.0f;
                k->gemm_q(c.w, c.rb, nr, c.x, c.xb, nt, y, ys, n);
                for (int tk = 0; tk < nt; tk++) {
                    for (int r = 0; r < nr; r++)
                        same &= y[tk * ys + r] == k->dot_q(c.w + r * c.rb, c.x + tk * c.xb, n);
                    for (int64_t r = nr; r < ys; r++) same &= y[tk * ys + r] == -12345.0f; /* untouched */
                }
                free(y);
            }
            CHECK_MSG(same, "type %s %s: gemm_q equals dot_q for every tile shape", mx_type_get(t)->name,
                      set_name(set));
        }
        qcase_free(&c);
    }
}

/* The Q8_0 activation quantiser: every SIMD set equals the reference byte for byte on random
 * blocks and on the cases where rounding is delicate: exact halves (rounded away from zero:
 * 2.5 -> 3, -3.5 -> -4), values just below a half (0.49999997 -> 0), a block whose scale is
 * exactly 1, a zero block, tiny and huge magnitudes; at row lengths that end in every count of
 * a last group of sixteen blocks (the AVX-512 quantiser's unit). */
static void test_q8_0_quantiser(void) {
    const mx_type_kernels *r = mx_kernels_ref(MX_TYPE_Q8_0);
    enum { NB = 64 };
    float x[NB * 32];
    for (int i = 0; i < NB * 32; i++) x[i] = frand() * (1.0f + (float)(i / 32));
    /* block 0: scale 1 (absmax 127), ties and near-ties */
    const float ties[] = {127.0f, 2.5f, -3.5f, 0.5f, -0.5f, 0.49999997f, -0.49999997f, 1.5f,
                          -126.5f, 126.5f, 0.0f, -0.0f, 64.5f, -64.5f, 3.4999998f, 100.50001f};
    for (int i = 0; i < 32; i++) x[i] = ties[i % MX_ARRAY_LEN(ties)];
    for (int i = 32; i < 64; i++) x[i] = 0.0f;                     /* block 1: zeros */
    for (int i = 64; i < 96; i++) x[i] = frand() * 1e-30f;         /* block 2: tiny */
    for (int i = 96; i < 128; i++) x[i] = frand() * 1e30f;         /* block 3: huge (f16 scale inf) */
    for (int i = 128; i < 160; i++) x[i] = (float)(i - 144) * 0.25f; /* block 4: a ramp */
    for (int i = 17 * 32; i < 18 * 32; i++) x[i] = ties[(i + 5) % MX_ARRAY_LEN(ties)] * 0.5f;
    mx_block_q8_0 qr[NB], qs[NB];
    r->from_f32(x, qr, NB * 32);
    CHECK_EQ_INT(qr[0].qs[1], 3);
    CHECK_EQ_INT(qr[0].qs[2], -4);
    CHECK_EQ_INT(qr[0].qs[3], 1);
    CHECK_EQ_INT(qr[0].qs[4], -1);
    CHECK_EQ_INT(qr[0].qs[5], 0);
    CHECK_EQ_INT(qr[0].qs[9], 127);
    if (n_sets() < 2) printf("test_kernels_int: no AVX2 on this CPU or build; SIMD comparisons not run\n");
    for (int set = 1; set < n_sets(); set++) {
        const mx_type_kernels *s = set_get(set, MX_TYPE_Q8_0);
        for (int nb = 1; nb <= NB; nb += nb < 36 ? 1 : 9) {
            memset(qs, 0xA5, sizeof qs);
            s->from_f32(x, qs, (int64_t)nb * 32);
            int same = 1;
            for (int b = 0; b < nb; b++) {
                const int eq = memcmp(&qr[b], &qs[b], sizeof qr[b]) == 0;
                if (!eq) printf("  %s, %d blocks: block %d differs\n", set_name(set), nb, b);
                same &= eq;
            }
            for (int b = nb; b < NB; b++) same &= qs[b].qs[0] == (int8_t)0xA5; /* nothing past the row */
            CHECK_MSG(same, "%s Q8_0 from_f32 of %d blocks equals the reference byte for byte", set_name(set), nb);
        }
    }
}

/* The tables are consistent: a type with dot_q names a vec_type the engine can quantise to. */
static void test_tables(void) {
    for (int set = 0; set < n_sets(); set++)
        for (int t = 0; t < MX_TYPE_COUNT; t++) {
            const mx_type_kernels *k = set_get(set, (mx_type)t);
            if (!k || !k->dot_q) continue;
            const mx_type_kernels *vk = set_get(set, k->vec_type);
            CHECK_MSG(vk && vk->from_f32, "type %d %s: vec_type %d has from_f32", t, set_name(set),
                      (int)k->vec_type);
        }
    CHECK(mx_kernels_ref(MX_TYPE_Q8_0)->vec_type == MX_TYPE_Q8_0);
    CHECK(mx_kernels_ref(MX_TYPE_F32)->dot_q == NULL);
}

/* The largest magnitudes the integer sums can meet: every weight level at its top (Q4_K 15,
 * Q5_K 31, Q6_K 63 / -32, Q4_0 15, Q5_0 31, Q8_0 +-127), scales at their largest, and every
 * activation byte +127 or -127 (the quantisers' range), for rows 0-2 all positive, then
 * alternating signs: the tile products (which add several byte products in 16 bits before
 * widening) must still equal dot_q. 6 rows x 19 tokens, 3 superblocks. */
static void test_gemm_q_extremes(void) {
    mx_type types[MX_TYPE_COUNT];
    const int nty = int_types(types);
    const int64_t n = 768;
    const int nr = 6, nt = 19;
    for (int ti = 0; ti < nty; ti++) {
        const mx_type t = types[ti];
        const mx_type vt = mx_kernels_ref(t)->vec_type;
        const uint64_t rb = mx_type_row_bytes(t, (uint64_t)n), xb = mx_type_row_bytes(vt, (uint64_t)n);
        uint8_t *w = malloc(rb * nr), *x = malloc(xb * nt);
        float *y = malloc(sizeof(float) * nr * nt);
        const uint64_t wblk = mx_type_get(t)->bytes, xblk = mx_type_get(vt)->bytes;
        for (int r = 0; r < nr; r++)
            for (uint64_t b = 0; b < rb / wblk; b++) {
                uint8_t *p = w + r * rb + b * wblk;
                memset(p, r < 3 ? 0xFF : 0x80 | (uint8_t)(b * 7 + (uint64_t)r), wblk);
                if (t == MX_TYPE_Q6_K) {
                    p[wblk - 2] = 0x00; /* d = 1.0 (f16 0x3C00, little-endian) */
                    p[wblk - 1] = 0x3C;
                    memset(p + 192, r % 2 ? 0x81 : 0x7F, 16); /* scales +127 / -127 */
                } else {
                    p[0] = 0x00; /* d = 1.0 */
                    p[1] = 0x3C;
                    if (t == MX_TYPE_Q4_K || t == MX_TYPE_Q5_K) {
                        p[2] = 0x00; /* dmin = 0.5 */
                        p[3] = 0x38;
                    }
                    if (t == MX_TYPE_Q8_0) memset(p + 2, r < 3 || (b + (uint64_t)r) % 2 ? 0x7F : 0x81, 32);
                }
            }
        for (int k = 0; k < nt; k++)
            for (uint64_t b = 0; b < xb / xblk; b++) {
                uint8_t *p = x + k * xb + b * xblk;
                const int8_t v = k % 2 ? -127 : 127;
                if (vt == MX_TYPE_Q8_K) {
                    mx_block_q8_k *q = (mx_block_q8_k *)p;
                    q->d = 1.0f;
                    for (int i = 0; i < MX_QK_K; i++) q->qs[i] = k % 3 == 2 && i % 2 ? (int8_t)-v : v;
                    for (int j = 0; j < 16; j++) {
                        int sum = 0;
                        for (int i = 0; i < 16; i++) sum += q->qs[16 * j + i];
                        q->bsums[j] = (int16_t)sum;
                    }
                } else {
                    mx_block_q8_0 *q = (mx_block_q8_0 *)p;
                    q->d = 0x3C00;
                    for (int i = 0; i < 32; i++) q->qs[i] = k % 3 == 2 && i % 2 ? (int8_t)-v : v;
                }
            }
        for (int set = 0; set < n_sets(); set++) {
            const mx_type_kernels *k = set_get(set, t);
            if (!k || !k->gemm_q) continue;
            k->gemm_q(w, rb, nr, x, xb, nt, y, nr, n);
            int bad = 0;
            for (int r = 0; r < nr; r++)
                for (int tk = 0; tk < nt; tk++) {
                    const float want = k->dot_q(w + r * rb, x + tk * xb, n);
                    bad += memcmp(&want, &y[tk * nr + r], 4) != 0;
                }
            CHECK_MSG(bad == 0, "type %s %s: %d extreme tile results differ from dot_q", mx_type_get(t)->name,
                      set_name(set), bad);
        }
        free(w), free(x), free(y);
    }
}

int main(void) {
    test_tables();
    test_q8_0_quantiser();
    test_dot_q_exact();
    test_gemm_q_equals_dot_q();
    test_gemm_q_extremes();
    return check_summary("test_kernels_int");
}
