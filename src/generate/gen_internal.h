/* gen_internal.h: helpers of the generation module shared by its files and its tests: the
 * seeded random generator and the exp/log used by sampling. */
#ifndef MX_GEN_INTERNAL_H
#define MX_GEN_INTERNAL_H

#include "common/util.h"

#include <stdint.h>

/* ---- Random numbers ----------------------------------------------------------------------- */

/* xoshiro256** (Blackman and Vigna, 2018), seeded through splitmix64 so that every 64-bit seed
 * (0 included) gives a well-mixed state. Our own generator, not libc's, so that a seed means the
 * same stream on every platform. */
typedef struct mx_rng {
    uint64_t s[4];
} mx_rng;

void mx_rng_seed(mx_rng *rng, uint64_t seed);
uint64_t mx_rng_next(mx_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double mx_rng_uniform(mx_rng *rng);

/* ---- Deterministic exp and log ----------------------------------------------------------- */

/* exp and log in plain double arithmetic (no FMA, no table, no libm dispatch), so that the
 * probabilities that decide a draw are bit-identical on every x86-64 or ARM machine whatever
 * libm it has. Relative error about 1e-16. mx_det_exp(-inf) = 0; mx_det_log(0) = -inf. */
double mx_det_exp(double x);
double mx_det_log(double x);

#endif /* MX_GEN_INTERNAL_H */
