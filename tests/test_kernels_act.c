/* test_kernels_act.c: the gated activations (GELU-tanh and SiLU times the up projection), the
 * reference and AVX2 ones, against the formulas evaluated in double, over the range the
 * decoder meets and beyond (|x| up to 100: saturated tails), with odd lengths (scalar tails);
 * the softmax, RMSNorm, RoPE and attention bookkeeping kernels against their references. */
#include "check.h"

#include "common/util.h"
#include "engine/kernels/kernels.h"

#include <float.h>
#include <stdint.h>
#include <string.h>

static uint64_t g_rng = 0x13198A2E03707344ull;
static double drand(void) { /* uniform in [0, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}

static double gelu_exact(double x) {
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}
static double silu_exact(double x) { return x / (1.0 + exp(-x)); }

/* Both kernels evaluate one formula in f32 (a handful of roundings; the polynomial exp is
 * accurate to about 2 ulp), so each result is asked to be within 1e-6 relative (about 8 ulp)
 * plus 1e-7 |x b|: in the negative tail the reference's 1 + tanh(u) cancels (tanh is within
 * an ulp of -1, an absolute error of 2^-24 |x b| / 2) and the AVX2 one clamps e^-2u at e^88;
 * both are tiny next to |x b|, and the relative part checks everything else. */
static void check_fn(const char *name, mx_act_mul_fn fn, double (*exact)(double)) {
    enum { N = 4099 };
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
    double *want = malloc(N * sizeof(double));
    float *x_in = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) {
        double x = (drand() * 2.0 - 1.0) * (i < 3000 ? 8.0 : 100.0);
        if (i < 16) x = (double)(i - 8) * 0.25; /* small values around 0 exactly */
        a[i] = (float)x;
        b[i] = (float)(drand() * 4.0 - 2.0);
        want[i] = exact((double)a[i]) * (double)b[i];
        x_in[i] = a[i];
    }
    fn(a, b, N);
    double worst = 0.0;
    int bad = 0;
    for (int i = 0; i < N; i++) {
        const double err = fabs((double)a[i] - want[i]);
        const double allowed = 1e-6 * fabs(want[i]) + 1e-7 * fabs((double)x_in[i] * b[i]);
        if (!(err <= allowed)) bad++;
        if (allowed > 0 && err / allowed > worst) worst = err / allowed;
    }
    CHECK_MSG(bad == 0, "%s: %d values beyond the bound (worst %.3g of it)", name, bad, worst);
    printf("  %-16s worst error %.3g of the bound\n", name, worst);
    free(a);
    free(b);
    free(want);
    free(x_in);
}

/* Softmax blocks: s - m over (-60, 0] (and a few far below the exp's clamp at -87, and the
 * maximum itself), lengths 1..131 (scalar tails): each e^(s - m) within 4e-7 relative of the
 * double exp of the f32 difference plus 1e-37 absolute (the AVX2 exp gives exactly 0 below e^-87, where the true
 * value is under 1.7e-38), and the sum within 1e-6 relative of the double sum. */
static void check_exp_sum(const char *name, mx_exp_sum_fn fn) {
    enum { N = 131 };
    float s[N], in[N];
    int bad = 0, bad_sum = 0;
    for (int n = 1; n <= N; n += 13) {
        const float m = (float)(drand() * 20.0 - 10.0);
        for (int k = 0; k < n; k++) {
            in[k] = m - (float)(drand() * 60.0);
            if (k % 17 == 5) in[k] = m - 90.0f - (float)k; /* below the clamp */
            if (k == n / 2) in[k] = m;
            s[k] = in[k];
        }
        const float l = fn(s, n, m);
        double want_sum = 0.0;
        for (int k = 0; k < n; k++) {
            const float x = in[k] - m; /* rounded to f32 as the kernels do */
            const double want = exp((double)x);
            want_sum += want;
            if (!(fabs((double)s[k] - want) <= 4e-7 * want + 1e-37)) bad++;
        }
        if (!(fabs((double)l - want_sum) <= 1e-6 * want_sum)) bad_sum++;
    }
    CHECK_MSG(bad == 0 && bad_sum == 0, "%s: %d elements and %d sums beyond the bound", name, bad, bad_sum);
}

/* Attention's bookkeeping against the reference: every length 0..40 (every tail of the
 * 8-wide body) and 128, values over many magnitudes with a NaN, infinities and zeros of both
 * signs planted in body and tail positions. scale_max: the same scaled scores bit for bit and
 * the same maximum (NaNs passed over; a zero's sign may differ); fold: the same bits. */
static void check_scale_max_fold(const char *name, mx_scale_max_fn scale_max, mx_fold_fn fold) {
    enum { N = 128 };
    float s1[N], s2[N], o1[N], o2[N], ob[N];
    int bad_s = 0, bad_m = 0, bad_f = 0, cases = 0;
    for (int n = 0; n <= N; n = n < 40 ? n + 1 : N + 1) {
        for (int plant = -1; plant < 6; plant++) {
            for (int k = 0; k < n; k++) {
                s1[k] = (float)((drand() - 0.5) * pow(10.0, drand() * 8.0 - 4.0));
                o1[k] = (float)((drand() - 0.5) * 100.0);
                ob[k] = (float)((drand() - 0.5) * 100.0);
            }
            if (plant >= 0 && n > 0) { /* one special value, in the body or the tail */
                const float special[6] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 3.0e38f};
                const int at = (int)(drand() * n);
                s1[at] = special[plant];
                ob[at] = special[plant];
            }
            memcpy(s2, s1, sizeof s1);
            memcpy(o2, o1, sizeof o1);
            const float scale = (float)(drand() * 2.0 - 0.5);
            const float m1 = mx_scale_max(s1, n, scale), m2 = scale_max(s2, n, scale);
            bad_s += memcmp(s1, s2, (size_t)n * sizeof(float)) != 0;
            bad_m += !(m1 == m2 || (isnan(m1) && isnan(m2)));
            const float a = (float)drand(), b = (float)drand();
            mx_fold(o1, ob, a, b, n);
            fold(o2, ob, a, b, n);
            bad_f += memcmp(o1, o2, (size_t)n * sizeof(float)) != 0;
            cases++;
        }
    }
    CHECK_MSG(bad_s == 0 && bad_m == 0 && bad_f == 0,
              "%s: of %d cases, %d scaled scores, %d maxima and %d folds differ from the reference", name,
              cases, bad_s, bad_m, bad_f);
}

/* RMSNorm against the reference: lengths 1..300 (every tail of the 16-lane sum and the 8-wide
 * products) and the model widths, with and without a weight, in place and not, magnitudes from
 * 1e-20 to 1e20 (the double sum takes the squares of any float). The two sums differ only in
 * the order of exact squares' additions, so the scale is the same float or one ulp away and
 * each output within 4 * FLT_EPSILON (relative) of the reference's. */
static void check_rmsnorm(const char *name, mx_rmsnorm_fn fn) {
    enum { MAXN = 6912 };
    static float x[MAXN], w[MAXN], want[MAXN], got[MAXN];
    const int64_t widths[] = {256, 1152, 2048, 6912};
    int bad = 0, cases = 0;
    for (int c = 0; c < 300 + 4; c++) {
        const int64_t n = c < 300 ? c + 1 : widths[c - 300];
        const double mag = pow(10.0, (double)(c % 9) * 5.0 - 20.0);
        for (int64_t i = 0; i < n; i++) {
            x[i] = (float)((drand() * 2.0 - 1.0) * mag);
            w[i] = (float)(0.5 + drand());
        }
        for (int variant = 0; variant < 3; variant++) {
            const float *wv = variant == 1 ? NULL : w;
            mx_rmsnorm(want, x, wv, n, 1e-6f);
            if (variant == 2) { /* in place */
                memcpy(got, x, (size_t)n * sizeof(float));
                fn(got, got, wv, n, 1e-6f);
            } else {
                fn(got, x, wv, n, 1e-6f);
            }
            for (int64_t i = 0; i < n; i++)
                if (!(fabs((double)got[i] - want[i]) <= 4.0 * FLT_EPSILON * fabs((double)want[i]))) {
                    if (bad < 5) printf("  %s n %lld variant %d: [%lld] %.9g vs %.9g\n", name, (long long)n, variant,
                                        (long long)i, (double)got[i], (double)want[i]);
                    bad++;
                }
            cases++;
        }
    }
    CHECK_MSG(bad == 0, "%s: %d elements of %d cases beyond 4 float eps of the reference", name, bad, cases);
}

/* RoPE against the reference, bit for bit (the same rounded products, no fused multiply-add):
 * both pair layouts, head sizes with and without a tail of fewer than 8 pairs, several heads
 * (the tables are shared by the heads), tables from real angles; and a rotation by angle 0
 * leaves the vector as it was. */
static void check_rope(const char *name, mx_rope_fn fn) {
    const int hds[] = {2, 6, 16, 18, 34, 64, 128, 256};
    enum { MAXV = 5 * 256 };
    static float v[MAXV], want[MAXV], c[128], sn[128];
    int bad = 0, cases = 0;
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
        for (int neox = 0; neox < 2; neox++)
            for (int nh = 1; nh <= 5; nh += 2) {
                const int hd = hds[hi], half = hd / 2;
                const double pos = drand() * 4096.0;
                for (int i = 0; i < half; i++) {
                    const double ang = pos * pow(10000.0, -2.0 * i / hd);
                    c[i] = (float)cos(ang);
                    sn[i] = (float)sin(ang);
                }
                for (int i = 0; i < nh * hd; i++) v[i] = want[i] = (float)(drand() * 8.0 - 4.0);
                mx_rope(want, nh, hd, neox, c, sn);
                fn(v, nh, hd, neox, c, sn);
                bad += memcmp(v, want, (size_t)(nh * hd) * sizeof(float)) != 0;
                cases++;
                for (int i = 0; i < half; i++) {
                    c[i] = 1.0f;
                    sn[i] = 0.0f;
                }
                memcpy(want, v, (size_t)(nh * hd) * sizeof(float));
                fn(v, nh, hd, neox, c, sn);
                bad += memcmp(v, want, (size_t)(nh * hd) * sizeof(float)) != 0;
                cases++;
            }
    CHECK_MSG(bad == 0, "%s: %d of %d cases differ from the reference", name, bad, cases);
}

int main(void) {
    check_exp_sum("exp_sum ref", mx_exp_sum);
    check_rope("rope ref", mx_rope);
    check_fn("gelu ref", mx_gelu_tanh_mul, gelu_exact);
    check_fn("silu ref", mx_silu_mul, silu_exact);
    if (mx_kernels_have_avx2()) {
        check_exp_sum("exp_sum avx2", mx_exp_sum_avx2_fn());
        check_scale_max_fold("scale_max/fold avx2", mx_scale_max_avx2_fn(), mx_fold_avx2_fn());
        CHECK(mx_kernels_scale_max() == mx_scale_max_avx2_fn() && mx_kernels_fold() == mx_fold_avx2_fn());
        check_rmsnorm("rmsnorm avx2", mx_rmsnorm_avx2_fn());
        check_rope("rope avx2", mx_rope_avx2_fn());
        CHECK(mx_kernels_rope() == mx_rope_avx2_fn());
        CHECK(mx_kernels_rmsnorm() == mx_rmsnorm_avx2_fn());
        check_fn("gelu avx2", mx_gelu_tanh_mul_avx2_fn(), gelu_exact);
        check_fn("silu avx2", mx_silu_mul_avx2_fn(), silu_exact);
        CHECK(mx_kernels_gelu_tanh_mul() == mx_gelu_tanh_mul_avx2_fn());
        mixlm_force_reference_kernels(true);
        CHECK(mx_kernels_gelu_tanh_mul() == mx_gelu_tanh_mul);
        CHECK(mx_kernels_silu_mul() == mx_silu_mul);
        CHECK(mx_kernels_rmsnorm() == mx_rmsnorm);
        CHECK(mx_kernels_rope() == mx_rope);
        CHECK(mx_kernels_scale_max() == mx_scale_max && mx_kernels_fold() == mx_fold);
        mixlm_force_reference_kernels(false);
    } else {
        printf("test_kernels_act: no AVX2 on this CPU or build; SIMD activations not run\n");
    }
    return check_summary("test_kernels_act");
}
