/* runner_impl.h — the runner's state shared by runner.c (the sweep) and
 * runner_setup.c (scenario, plan, variants, store, run record, report).
 * Internal to the runner; not part of its interface.
 */
#ifndef DFIT_RUN_RUNNER_IMPL_H
#define DFIT_RUN_RUNNER_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "run/plan.h"
#include "run/progress.h"
#include "run/result.h"
#include "run/runner.h"
#include "run/scenario.h"
#include "run/variants.h"
#include "store/store.h"
#include "util/err.h"

struct runner {
    const struct dfit_runner_options *opt;
    FILE *out;
    struct dfit_progress *progress;
    struct dfit_scenario *scenario;
    char scenario_sha256[65];
    struct dfit_plan *plan;
    struct dfit_variant_set *variants;
    struct dfit_store *store;
    int64_t run_id;
    bool resumed;
    const char *reference_path;        /* into variants */
    int32_t *eval_tokens;              /* [n_eval_tokens]; NULL when eval_error says why */
    uint32_t n_eval_tokens;
    char eval_error[DFIT_REASON_MAX];
    int32_t *prompt_tokens;            /* [n_prompt_tokens] the stream prompts are cut from */
    uint32_t n_prompt_tokens;
    bool *todo;                        /* [plan->n_cells] runs in this invocation */
    struct dfit_quality *quality;      /* [n_variants * n_targets] */
    bool *quality_done;                /* [n_variants * n_targets] */
};

/* Everything before the first cell: scenario, --only-target, plan,
 * variants, token streams, store, run record, registration, the cells to
 * run. Fills res->db_path, run_id, n_cells, n_already. */
int dfit_runner_setup(struct runner *r, struct dfit_runner_result *res, struct dfit_err *err);
/* Builds or reuses the plan's variants in a child process and fills
 * r->variants from what it reports (runner_build.c). An interrupt sets
 * res->interrupted_by and fails. */
int dfit_runner_build_variants(struct runner *r, struct dfit_runner_result *res,
                               struct dfit_err *err);
/* Marks the run done (every cell of the scenario stored), interrupted
 * (stopped by a signal, or cells of other targets still missing after
 * --only-target) — with the load averages after. */
int dfit_runner_finish(struct runner *r, struct dfit_runner_result *res, struct dfit_err *err);
/* Writes the report next to the database and prints its path. */
int dfit_runner_report(struct runner *r, struct dfit_runner_result *res, struct dfit_err *err);
/* The report itself (runner_report.c): into res->report_dir, then its
 * path and the recommendation printed on r->out. */
int dfit_runner_write_report(struct runner *r, struct dfit_runner_result *res,
                             struct dfit_err *err);
/* Frees everything r owns. */
void dfit_runner_cleanup(struct runner *r);

#endif
