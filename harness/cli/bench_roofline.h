/* bench_roofline.h — `dfit bench --roofline`: the bandwidth ceiling of the
 * backend's memory (the host's streaming read bandwidth for cpu, run/membw.h;
 * the device's copy bandwidth for cuda, cuda/cuda_roofline.h) and each tg
 * test's decode speed beside it: roofline tokens/s = bandwidth / bytes read
 * per decoded token, those bytes being the backend's load-report
 * weight_bytes (every matrix and norm once, the output matrix) plus one
 * token_embd row plus the KV cache the step attends at the test's mean
 * context (run/token_cost.h).
 * Non-goals: the compute ceiling (prefill), other backends' memories.
 */
#ifndef DFIT_CLI_BENCH_ROOFLINE_H
#define DFIT_CLI_BENCH_ROOFLINE_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "cli/bench_report.h"
#include "model/llama.h"
#include "util/err.h"

/* What a loaded model gives every tg row of one (file, thread count). */
struct dfit_bench_roof_base {
    const struct dfit_bench_membw *bw;
    uint64_t weight_bytes;          /* per decode step, embedding row included */
    uint64_t kv_values_per_pos;     /* K and V values cached per position */
    uint32_t kv_value_bytes;        /* 4: F32 cache (cpu), 2: F16 (cuda) */
};

/* Whether --roofline can measure backend `name` (cpu; cuda when built in). */
bool dfit_bench_roofline_supported(const char *name);

/* Measures the ceiling for `threads` threads into *out (buffer_bytes 0:
 * the probe's default; reps <= 0: 5). cuda measures its device once and
 * reports it at every thread count. Errors as dfit_membw_measure and
 * dfit_cuda_roofline_measure; DFIT_EUNSUPPORTED for another backend. */
int dfit_bench_roofline_measure(const char *backend, uint32_t threads, uint64_t buffer_bytes,
                                int reps, struct dfit_bench_membw *out, struct dfit_err *err);

/* The per-model part, from the load report (its weight_bytes; the model's
 * own count when the backend reports none). DFIT_EINVAL when the model's
 * dfit.prune.* metadata is malformed. */
int dfit_bench_roofline_base(const char *backend, const struct dfit_model *m,
                             const struct dfit_load_report *rep,
                             const struct dfit_bench_membw *bw,
                             struct dfit_bench_roof_base *out, struct dfit_err *err);

/* The row's numbers for a tgN test whose median speed was median_ts. */
void dfit_bench_roofline_row(const struct dfit_bench_roof_base *b, uint32_t n_gen,
                             double median_ts, struct dfit_bench_roof *out);

#endif
