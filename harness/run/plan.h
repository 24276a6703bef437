/* plan.h — what a scenario will run here: its cells (variant × target ×
 * workload) in a stable order, which targets this machine can serve (the
 * backend is compiled in and its probe finds a device) with the reason when
 * not, and the order in which variants must be built (parents first).
 * Non-goals: building variants (variants.h) and running cells (the runner).
 */
#ifndef DFIT_RUN_PLAN_H
#define DFIT_RUN_PLAN_H

#include <stdbool.h>

#include "backend.h"
#include "run/result.h"
#include "run/scenario.h"
#include "util/err.h"

struct dfit_plan_target {
    const struct dfit_target_spec *spec;     /* into the scenario */
    const struct dfit_backend_ops *backend;  /* NULL when skipped */
    bool runnable;
    char reason[DFIT_REASON_MAX];            /* why skipped; "" when runnable */
    char note[DFIT_REASON_MAX];              /* a warning worth printing, or "" */
    struct dfit_device_list devices;         /* the probe's list (runnable only) */
};

struct dfit_plan_cell {
    char *id;             /* "variant/target/workload", owned by the plan */
    int variant;          /* index into scenario->variants */
    int target;           /* index into scenario->targets and plan->targets */
    int workload;         /* index into scenario->workloads */
    bool skipped;         /* its target cannot run here */
    const char *reason;   /* the target's reason when skipped, else "" */
};

struct dfit_plan {
    const struct dfit_scenario *scenario;  /* borrowed: must outlive the plan */
    struct dfit_plan_target *targets;      /* [n_targets], scenario order */
    int n_targets;
    struct dfit_plan_cell *cells;          /* [n_cells]: by target, then variant, then workload */
    int n_cells;
    int n_runnable;                        /* cells not skipped */
    int *build_order;                      /* [n_build] variant indexes, parents before children */
    int n_build;                           /* the selected cells' variants, the reference, ancestors */
};

struct dfit_plan_options {
    const char *only;     /* fnmatch(3) pattern over cell ids; NULL = every cell */
};

/* Plans s (which must outlive the plan); opt may be NULL. Probes each
 * distinct backend once. On failure *out is NULL: DFIT_ENOTFOUND when
 * `only` selects no cell, DFIT_ENOMEM. A target that cannot run here is not
 * an error: its cells are marked skipped with the reason. */
int dfit_plan_create(const struct dfit_scenario *s, const struct dfit_plan_options *opt,
                     struct dfit_plan **out, struct dfit_err *err);
void dfit_plan_free(struct dfit_plan *p); /* accepts NULL */

/* The cell with that id, or NULL. */
const struct dfit_plan_cell *dfit_plan_find(const struct dfit_plan *p, const char *id);

#endif
