/* rng.c: the sampler's random generator (xoshiro256** seeded by splitmix64) and a
 * deterministic exp/log pair, so that a seed reproduces a run on any machine. */
#include "generate/gen_internal.h"

#include <math.h>
#include <string.h>

/* ====================================================================================== */
/* xoshiro256**                                                                           */
/* ====================================================================================== */

/* splitmix64 step (Steele, Lea and Flood, 2014): turns one 64-bit seed into the 256-bit state
 * recommended by the xoshiro authors, never all zero. */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void mx_rng_seed(mx_rng *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mx_rng_next(mx_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mx_rng_uniform(mx_rng *rng) {
    /* The top 53 bits, scaled by 2^-53: every value is exact and < 1. */
    return (double)(mx_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* ====================================================================================== */
/* exp and log                                                                            */
/* ====================================================================================== */

/* ln 2 split in two (the classic Cody-Waite constants) so that k * LN2_HI is exact for the
 * |k| < 1100 that occur here. */
static const double LN2_HI = 6.93147180369123816490e-01;
static const double LN2_LO = 1.90821492927058770002e-10;

/* 2^(j/32) for j = 0..31, correctly rounded (computed with 60-digit decimal arithmetic). */
static const double EXP2_TAB[32] = {
    0x1.0000000000000p+0, 0x1.059b0d3158574p+0, 0x1.0b5586cf9890fp+0, 0x1.11301d0125b51p+0,
    0x1.172b83c7d517bp+0, 0x1.1d4873168b9aap+0, 0x1.2387a6e756238p+0, 0x1.29e9df51fdee1p+0,
    0x1.306fe0a31b715p+0, 0x1.371a7373aa9cbp+0, 0x1.3dea64c123422p+0, 0x1.44e086061892dp+0,
    0x1.4bfdad5362a27p+0, 0x1.5342b569d4f82p+0, 0x1.5ab07dd485429p+0, 0x1.6247eb03a5585p+0,
    0x1.6a09e667f3bcdp+0, 0x1.71f75e8ec5f74p+0, 0x1.7a11473eb0187p+0, 0x1.82589994cce13p+0,
    0x1.8ace5422aa0dbp+0, 0x1.93737b0cdc5e5p+0, 0x1.9c49182a3f090p+0, 0x1.a5503b23e255dp+0,
    0x1.ae89f995ad3adp+0, 0x1.b7f76f2fb5e47p+0, 0x1.c199bdd85529cp+0, 0x1.cb720dcef9069p+0,
    0x1.d5818dcfba487p+0, 0x1.dfc97337b9b5fp+0, 0x1.ea4afa2a490dap+0, 0x1.f50765b6e4540p+0};

double mx_det_exp(double x) {
    if (x != x) return x;
    if (x < -745.2) return 0.0;      /* below the smallest subnormal */
    if (x > 709.78) return HUGE_VAL; /* above DBL_MAX */
    /* x = (32 m + j) ln2/32 + r with |r| <= ln2/64; exp(x) = 2^m 2^(j/32) exp(r). The table
     * keeps the polynomial short: this runs once per vocabulary entry per sampled token. */
    /* Round to nearest by adding and removing 1.5 * 2^52 (exact in the default rounding mode,
     * and cheaper than floor(), which is a libm call without SSE4.1). */
    const double shifter = 0x1.8p52; /* IEEE arithmetic: (a + c) - c is not folded without -ffast-math */
    double kd = (x * 46.166241308446828 + shifter) - shifter; /* 32 / ln 2 */
    int k = (int)kd;
    double r = (x - kd * (LN2_HI / 32.0)) - kd * (LN2_LO / 32.0);
    /* Taylor to r^6/6!: the remainder is below 4e-18 for |r| <= 0.0109. */
    double p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    int j = k & 31;     /* two's complement: the non-negative remainder, also for k < 0 */
    int m = (k - j) / 32; /* exact */
    double y = EXP2_TAB[j] * p;
    if (m >= -1021 && m <= 1023) {
        /* 2^m built from its bits: exact, and much cheaper than ldexp. */
        uint64_t bits = (uint64_t)(m + 1023) << 52;
        double two_m;
        memcpy(&two_m, &bits, sizeof two_m);
        return y * two_m;
    }
    return ldexp(y, m);
}

double mx_det_log(double x) {
    if (x != x || x < 0) return NAN;
    if (x == 0) return -HUGE_VAL;
    if (isinf(x)) return x;
    int e;
    double m = frexp(x, &e); /* x = m 2^e, m in [0.5, 1) */
    if (m < 0.70710678118654752440) {
        m *= 2.0;
        e -= 1;
    }
    /* log m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716: 13 odd terms reach 1e-18. */
    double s = (m - 1.0) / (m + 1.0);
    double s2 = s * s;
    double sum = 0.0;
    for (int n = 25; n >= 1; n -= 2) sum = sum * s2 + 1.0 / n;
    double log_m = 2.0 * s * sum;
    return (double)e * LN2_HI + ((double)e * LN2_LO + log_m);
}
