/* kern_x86.h — helpers shared by the x86 kernel files: the target
 * attributes each ISA's functions carry (so the rest of the binary stays
 * portable), and AVX-512 building blocks (a 16x16 transpose, exp).
 * Include only from kern_avx2.c / kern_avx512*.c, after <immintrin.h>.
 * Non-goal: anything called from outside those files.
 */
#ifndef DFIT_BACKENDS_CPU_KERN_X86_H
#define DFIT_BACKENDS_CPU_KERN_X86_H

#include <immintrin.h>

#define T_AVX2 __attribute__((target("avx2,fma,f16c")))
#define T_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define T_512VNNI                                                                                  \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,avx512vnni")))
#define T_512BF16                                                                                  \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,avx512bf16")))
#define INLINE static inline __attribute__((always_inline))

/* In-place transpose of 16 rows of 16 floats. */
T_512 INLINE void transpose16_ps(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
            t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    }
}

/* e^x, about 1 ulp over the float range (Cephes' expf polynomial); e^x
 * underflows to 0 below -104 and overflows to inf above 88.7. */
T_512 INLINE __m512 exp512_ps(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* Software prefetch for the rows kernels: while a group of rows (one
 * contiguous region of `span` bytes) is consumed over `steps` loop steps,
 * the group PREFETCH_GROUPS_AHEAD groups on is prefetched a slice per step
 * (the hardware prefetchers alone leave 4-row interleaved streams
 * latency-bound: decode ran at 45-75 % of the speed with prefetch). Two
 * groups ahead rather than one: 1-thread decode of the 110m model +8 % F32,
 * +12 % BF16, +10 % Q8_0, F16 and Q4_0 unchanged within noise
 * (docs/kernels.md). Prefetches past a matrix's end are harmless hints. */
#define PREFETCH_GROUPS_AHEAD 2

struct prefetcher {
    const char *next, *base;
    size_t adv;
};

static inline struct prefetcher prefetch_start(const void *group, size_t span, int64_t steps)
{
    struct prefetcher p;
    p.base = p.next = (const char *)group + PREFETCH_GROUPS_AHEAD * span;
    p.adv = (span + (size_t)steps - 1) / (size_t)steps;
    return p;
}

static inline void prefetch_step(struct prefetcher *p, int64_t step)
{
    for (const char *end = p->base + (size_t)(step + 1) * p->adv; p->next < end; p->next += 64)
        _mm_prefetch(p->next, _MM_HINT_T0);
}

/* Mask of the first n lanes: none for n <= 0, all 16 for n >= 16. */
static inline __mmask16 lanes16(int64_t n)
{
    if (n <= 0)
        return 0;
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

#endif
