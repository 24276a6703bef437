/* rng.h — a small seeded generator (xoshiro256** seeded by splitmix64) for
 * deterministic synthetic weights, test data and sampling. Same seed, same
 * stream, on every machine. Non-goal: cryptographic quality. */
#ifndef DFIT_UTIL_RNG_H
#define DFIT_UTIL_RNG_H

#include <stdint.h>

struct dfit_rng {
    uint64_t s[4];
};

void dfit_rng_seed(struct dfit_rng *r, uint64_t seed);
uint64_t dfit_rng_u64(struct dfit_rng *r);
/* Uniform in [0, 1) with 24 bits of precision. */
float dfit_rng_uniform(struct dfit_rng *r);
/* Standard normal (Box-Muller). */
float dfit_rng_normal(struct dfit_rng *r);
/* Uniform integer in [0, n), n > 0. */
uint64_t dfit_rng_below(struct dfit_rng *r, uint64_t n);

#endif
