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

#endif
