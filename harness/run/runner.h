/* runner.h — `dfit run`: a scenario from file to report.
 *
 *   load the scenario ─► plan (cells; targets this machine cannot serve are
 *   skipped with the reason) ─► build or reuse the variants ─► open the
 *   results database ─► create a run (machine state, build info) or, with
 *   resume, reopen the latest unfinished run of the same scenario file ─►
 *   for each (variant, target) with cells to run: fidelity to the
 *   reference and task accuracy on the scenario's CSV eval sets, once, in a
 *   worker ─► each cell in plan order in its own
 *   worker (worker.h), skipped cells stored as skipped ─► finish the run ─►
 *   the report (frontier, recommendation, plots) next to the database, and
 *   the recommendation per target printed from the report's own summary.
 *
 * One cell's failure never stops the sweep. SIGINT/SIGTERM kill the running
 * worker, mark the run interrupted and stop; what was stored stays, and
 * resume redoes only cells that are missing or not ok. docs/runner.md has
 * the whole lifecycle.
 * Non-goals: measuring (cell.h, quality.h), the report's content
 * (report.h), parallel cells.
 */
#ifndef DFIT_RUN_RUNNER_H
#define DFIT_RUN_RUNNER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "run/progress.h"
#include "util/err.h"

struct dfit_runner_options {
    const char *scenario_path;        /* required */
    const char *db_path;              /* NULL: results/<scenario name>.db under the cwd */
    const char *only_target;          /* NULL: every target */
    const char *label;                /* stored on a new run; NULL: none */
    bool resume;                      /* continue the latest unfinished run */
    const char *cache_dir;            /* NULL: the variant cache's default */
    enum dfit_progress_mode progress; /* AUTO: live on a terminal */
    FILE *out;                        /* NULL: stdout */
};

struct dfit_runner_result {
    int64_t run_id;                   /* 0 when no run was created */
    int n_cells;                      /* cells in the (restricted) plan */
    int n_ok;                         /* ok, including those stored before a resume */
    int n_already;                    /* of which stored ok before this invocation */
    int n_failed;                     /* failed, crashed, timeout, oom */
    int n_skipped;
    int interrupted_by;               /* SIGINT or SIGTERM when interrupted, else 0 */
    bool usage_error;                 /* the error is about the options (exit status 2) */
    bool report_written;
    char db_path[PATH_MAX];
    char report_dir[PATH_MAX];        /* "" until written */
};

/* Runs the scenario as described above and fills *res (always, as far as
 * it got). Returns 0 when the sweep ran to its end or was interrupted
 * (res says which; failed cells are not an error) and the report was
 * written. Otherwise the code with err naming the file and the step:
 * DFIT_EINVAL for a bad scenario, an unknown --only-target (usage_error
 * set; the message lists the targets), or a resume that cannot be (no
 * unfinished run, the scenario file changed since: the message says to
 * start a new run); the variant builder's, store's and report's codes.
 * A run that was created is marked failed when the runner gives up. */
int dfit_runner_run(const struct dfit_runner_options *o, struct dfit_runner_result *res,
                    struct dfit_err *err);

/* The process exit status for a dfit_runner_run outcome: 2 usage error,
 * 1 failure or some cell not ok, 128 + signal when interrupted, 0 when
 * every cell that was not skipped is ok. */
int dfit_runner_exit_status(int rc, const struct dfit_runner_result *res);

/* A file-name-safe form of a scenario name (letters, digits, '.', '_',
 * '-'; anything else becomes '_'; no leading '.'; "scenario" when empty;
 * at most 64 bytes) into buf (cap >= 2). Returns buf. */
char *dfit_runner_safe_name(const char *name, char *buf, size_t cap);

#endif
