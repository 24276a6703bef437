/* overhead.h — `dfit run --overhead`: what the runner's bookkeeping adds
 * to each generated token.
 *
 * The same single-stream decode loop (a short prompt, then one-token
 * decode steps with greedy picks) runs in two forms, repetitions
 * interleaved after one warm-up of each:
 *   bare  forward + argmax only, no clock, no counters, nothing kept;
 *   kept  the runner's own loop (dfit_workload_drive) with PAPI counters
 *         read at the phase boundaries and every gap recorded, then the
 *         cell summarised and written to a SQLite file in one transaction.
 * The difference of the medians is the measured overhead; it is usually
 * smaller than the loop's run-to-run spread, so the parts are also timed
 * alone over many iterations (clock read + sample store, one counter
 * read, one cell's storage) and added up per token. The clock read and
 * sample store lie inside every measured gap; counter reads lie in TTFT
 * and the last gap; storage happens after the measured span.
 * Non-goals: the cost of forking workers and of quality measurement (per
 * cell and per pair, not per token).
 */
#ifndef DFIT_RUN_OVERHEAD_H
#define DFIT_RUN_OVERHEAD_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

struct dfit_overhead_params {
    const char *model_path;   /* NULL: a synth 15m F32 model made in a temporary directory */
    uint32_t n_tokens;        /* output tokens per repetition (>= 2) */
    uint32_t n_prompt;        /* prompt tokens; 0: 8 */
    uint32_t n_reps;          /* timed repetitions of each form (>= 1) */
    int n_threads;            /* backend threads; <= 0: 1 */
};

struct dfit_overhead_result {
    char model[PATH_MAX];
    uint64_t n_params;
    char kernels[128];
    /* the two loops, ns per output token over the repetitions */
    double bare_median, bare_min, bare_max;
    double kept_median, kept_min, kept_max;
    double measured_ns;           /* kept_median - bare_median (may be negative: noise) */
    /* the parts, timed alone */
    double clock_sample_ns;       /* one clock read + gap store (per token) */
    double counter_read_ns;       /* one read of every counter (2 per request) */
    int n_counters, n_counters_available;
    double store_cell_ns;         /* summarise + write one cell of n_tokens gaps */
    double parts_per_token_ns;    /* clock_sample + 2 counter reads / n + store / n */
    double in_timed_per_token_ns; /* the part inside measured latencies */
};

/* Runs the comparison. DFIT_EINVAL for n_tokens < 2 or n_reps < 1; the
 * model's, backend's, synth's and store's codes. Temporary files are
 * removed on every path. */
int dfit_overhead_measure(const struct dfit_overhead_params *p, struct dfit_overhead_result *out,
                          struct dfit_err *err);

/* The result as a small table on f. */
void dfit_overhead_print(FILE *f, const struct dfit_overhead_params *p,
                         const struct dfit_overhead_result *r);

#endif
