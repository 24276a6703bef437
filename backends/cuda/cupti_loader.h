/* cupti_loader.h — CUPTI opened at run time (dlopen "libcupti.so.<major>",
 * then the toolkit's library directory), for the GPU-side time of a
 * region: how many kernels ran and how long they ran in total, from CUPTI's
 * kernel activity records. That separates device busy time from launch and
 * host overhead in a forward pass. Where CUPTI is absent or cannot start
 * (no driver, a profiler already attached), it is unavailable with the
 * reason. CUPTI's activity API is process-wide: one dfit_cupti at a time.
 * Compiles without CUDA headers.
 * Non-goals: hardware counters (PAPI and ncu do those), per-kernel names.
 */
#ifndef DFIT_BACKENDS_CUDA_CUPTI_LOADER_H
#define DFIT_BACKENDS_CUDA_CUPTI_LOADER_H

#include <stdint.h>

#include "util/err.h"

struct dfit_cupti;

/* Opens CUPTI and checks that it can collect kernel records: names NULL
 * for the default candidates, or a NULL-terminated list (tests). Fails with
 * DFIT_ENOTFOUND and the reason ("CUPTI not available: libcupti.so.13:
 * cannot open shared object file ...", or the CUPTI call that failed and
 * its message, e.g. "cuptiActivityEnable(kernels): CUPTI_ERROR_UNKNOWN"
 * without a driver), DFIT_EEXIST when another dfit_cupti is open; *out NULL
 * then. */
int dfit_cupti_open(const char *const *names, struct dfit_cupti **out, struct dfit_err *err);

/* Starts collecting kernel records (counts from zero). */
int dfit_cupti_begin(struct dfit_cupti *c, struct dfit_err *err);

/* Flushes and stops; *n_kernels and *kernel_ns receive the kernels that
 * ran since begin and the sum of their durations. */
int dfit_cupti_end(struct dfit_cupti *c, uint64_t *n_kernels, uint64_t *kernel_ns,
                   struct dfit_err *err);

/* CUPTI's version number (cuptiGetVersion), 0 if unknown. */
uint32_t dfit_cupti_version(const struct dfit_cupti *c);

void dfit_cupti_close(struct dfit_cupti *c); /* accepts NULL */

#endif
