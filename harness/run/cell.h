/* cell.h — measuring one cell (variant × target × workload) inside a
 * worker process: load the variant on the target's backend (timed and
 * broken down, cold and warm), warm up, drive the workload while the
 * harness clock, PAPI counters and sample buffers record, then summarise
 * into a struct dfit_cell_result. The caller (the worker) stores it.
 * Non-goals: forking, time limits and storage (runner.h), fidelity to the
 * reference (quality.h: measured once per variant and target and handed in).
 */
#ifndef DFIT_RUN_CELL_H
#define DFIT_RUN_CELL_H

#include <stdbool.h>
#include <stdint.h>

#include "run/result.h"
#include "run/scenario.h"
#include "util/err.h"

struct dfit_cell_spec {
    const struct dfit_scenario *scenario;
    const struct dfit_variant_spec *variant;
    const char *model_path;                 /* the variant's materialised file */
    const struct dfit_target_spec *target;
    const struct dfit_workload_spec *workload;
    const int32_t *prompt_tokens;           /* token stream prompts are cut from */
    uint32_t n_prompt_tokens;
    uint64_t seed;
};

/* Fills *out (status OK, or FAILED/OOM with the reason; err also set on
 * failure). Sample arrays in *out are owned by the caller afterwards
 * (dfit_cell_result_free_samples). */
int dfit_cell_measure(const struct dfit_cell_spec *spec, struct dfit_cell_result *out,
                      struct dfit_err *err);

/* What dfit_cell_measure does, in order (docs/measurement.md has every
 * quantity's definition and unit):
 *  1. starts the PAPI counters (the target's list, or the defaults);
 *  2. evicts the model file from the page cache and loads it, timed (the
 *     cold load; its counts belong to no phase), then unloads it;
 *  3. loads it again, timed (the warm load: the load_*_ns breakdown and the
 *     load phase's counters are this load's);
 *  4. drives the workload on the warm instance (run/workload.h);
 *  5. fills memory (the load report's bytes, peak RSS from getrusage, the
 *     backend's device memory in use), cost, validity and counters.
 * out->quality is left as the caller set it (quality is measured once per
 * variant and target, run/quality.h). wall_ns is the time spent in this
 * call (the runner may replace it with the worker's whole life).
 * Statuses: DFIT_ENOMEM anywhere (the backend, the mapping, the samples
 * under the worker's RLIMIT_AS) gives OOM; any other error FAILED; the
 * reason is err's message. On failure the sample arrays are freed. */

/* Sets r->valid and r->invalid_reasons ("; "-separated) by MLPerf
 * LoadGen's rule: VALID only if the run lasted at least w->min_duration_ms,
 * recorded at least w->min_requests requests, and the build gives valid
 * measurements (machine.h: dfit_build_optimized(build_type,
 * compiler_optimized)). dfit_cell_measure calls it with this binary's
 * build; it is exported so the rule can be checked for other builds. */
void dfit_cell_judge(struct dfit_cell_result *r, const struct dfit_workload_spec *w,
                     const char *build_type, bool compiler_optimized);

#endif
