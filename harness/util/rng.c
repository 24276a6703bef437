/* rng.c — xoshiro256** with splitmix64 seeding (see rng.h). */
#include "util/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void dfit_rng_seed(struct dfit_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t dfit_rng_u64(struct dfit_rng *r)
{
    uint64_t *s = r->s;
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

float dfit_rng_uniform(struct dfit_rng *r)
{
    return (float)(dfit_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

float dfit_rng_normal(struct dfit_rng *r)
{
    float u1 = dfit_rng_uniform(r);
    float u2 = dfit_rng_uniform(r);
    if (u1 < 1e-7f)
        u1 = 1e-7f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

uint64_t dfit_rng_below(struct dfit_rng *r, uint64_t n)
{
    /* rejection to avoid modulo bias */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = dfit_rng_u64(r);
    while (x >= limit);
    return x % n;
}
