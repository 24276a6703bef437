/* cpu_features.h — run-time detection of the x86 SIMD features dfit's CPU
 * kernels can use (CPUID plus XGETBV, so a feature counts only when the OS
 * saves its registers). Setting DFIT_CPU_FEATURES=scalar (or "avx2") in the
 * environment caps what is reported, to force the portable fallbacks.
 * On non-x86 machines everything reads false. */
#ifndef DFIT_BACKENDS_CPU_FEATURES_H
#define DFIT_BACKENDS_CPU_FEATURES_H

#include <stdbool.h>
#include <stddef.h>

struct dfit_cpu_features {
    bool sse42, avx, avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq;
    bool avx512_vnni, avx512_bf16, avx_vnni;
    char model[64];            /* CPU brand string, trimmed */
};

/* Detected once and cached; honours DFIT_CPU_FEATURES. Thread-safe. */
const struct dfit_cpu_features *dfit_cpu_features(void);
/* Detects afresh, ignoring the cache (tests use this after setenv). */
void dfit_cpu_features_detect(struct dfit_cpu_features *out);
/* "avx512f avx512bw ... f16c" into buf. */
char *dfit_cpu_features_str(const struct dfit_cpu_features *f, char *buf, size_t cap);
/* The best SIMD level name: "avx512-vnni-bf16", "avx512", "avx2", "scalar". */
const char *dfit_cpu_features_level(const struct dfit_cpu_features *f);

#endif
