/* runner.c — `dfit run`'s sweep (see runner.h): plan, variants, run
 * record, fidelity and task accuracy per (variant, target), every cell in a
 * worker, finish, report. The setup steps that talk to the store and the variant cache
 * live in runner_setup.c.
 * Non-goals: measuring, storing rows (worker.h), the report's content.
 */
#include "run/runner.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "report/escape.h"
#include "run/machine.h"
#include "run/plan.h"
#include "run/runner_impl.h"
#include "run/worker.h"
#include "util/clock.h"

char *dfit_runner_safe_name(const char *name, char *buf, size_t cap)
{
    size_t n = 0;
    for (const char *p = name ? name : ""; *p && n + 1 < cap && n < 64; p++) {
        unsigned char c = (unsigned char)*p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || (c == '.' && n > 0);
        buf[n++] = ok ? (char)c : '_';
    }
    buf[n] = '\0';
    if (n == 0)
        snprintf(buf, cap, "scenario");
    return buf;
}

int dfit_runner_exit_status(int rc, const struct dfit_runner_result *res)
{
    if (res && res->interrupted_by)
        return 128 + res->interrupted_by;
    if (rc != 0)
        return res && res->usage_error ? 2 : 1;
    return res->n_failed > 0 ? 1 : 0;
}

/* ---- ticks while a worker runs ------------------------------------------------- */

struct tick_ctx {
    struct dfit_progress *progress;
    const char *what;
};

static void on_tick(void *user, uint64_t elapsed_ns)
{
    struct tick_ctx *t = user;
    dfit_progress_cell_tick(t->progress, t->what, elapsed_ns);
}

/* ---- fidelity and task accuracy of one (variant, target) pair ----------------------- */

/* "task accuracy 0.25 ± 0.068 over 2 sets (48 items)", or why not, into buf. */
static void task_note(const struct dfit_scenario *s, const struct dfit_quality *q,
                      const struct dfit_task_accuracy *tasks, char *buf, size_t cap)
{
    uint64_t n = 0;
    int n_bad = 0;
    const char *why = "";
    for (int i = 0; i < s->n_tasks; i++) {
        n += tasks[i].available ? tasks[i].n_items : 0;
        if (!tasks[i].available && !n_bad++)
            why = tasks[i].reason;
    }
    if (q->has_accuracy)
        snprintf(buf, cap, "; task accuracy %.4f ± %.4f over %d set%s (%" PRIu64 " items)",
                 q->accuracy, q->accuracy_se, s->n_tasks, s->n_tasks == 1 ? "" : "s", n);
    else
        snprintf(buf, cap, "; task accuracy not available: %d of %d set%s not scored: %.160s", n_bad,
                 s->n_tasks, s->n_tasks == 1 ? "" : "s", why);
}

/* Measures the pair of cell c in a quality worker into *q and stores its
 * per-set task accuracy. Fails only when the rows cannot be stored. */
static int measure_quality(struct runner *r, const struct dfit_plan_cell *c, struct dfit_quality *q,
                           bool *interrupted, struct dfit_err *err)
{
    const struct dfit_scenario *s = r->scenario;
    const struct dfit_target_spec *t = &s->targets[c->target];
    const struct dfit_variant_spec *v = &s->variants[c->variant];
    struct dfit_task_accuracy tasks[DFIT_SCENARIO_MAX_TASKS];
    *interrupted = false;
    memset(q, 0, sizeof *q);
    if (!r->eval_tokens && s->n_tasks == 0) {
        snprintf(q->reason, sizeof q->reason, "%s", r->eval_error);
        return 0;
    }
    const struct dfit_quality_params qp = {
        .backend = r->plan->targets[c->target].backend,
        .n_threads = t->threads,
        .kernels = t->kernels,
        .device = t->device,
    };
    struct tick_ctx tc = {r->progress, "measuring quality"};
    const struct dfit_quality_job job = {
        .reference_path = r->reference_path,
        .variant_path = r->variants->variants[c->variant].path,
        .params = &qp,
        .tokens = r->eval_tokens,
        .n_tokens = r->n_eval_tokens,
        .no_tokens_reason = r->eval_error,
        .time_limit_s = t->time_limit_s,
        .tick = on_tick,
        .tick_user = &tc,
        .task_paths = (const char *const *)s->tasks,
        .n_tasks = (uint32_t)s->n_tasks,
        .task_limit = s->task_limit,
        .tasks = tasks,
    };
    struct dfit_err e = {0};
    uint64_t t0 = dfit_now_ns();
    dfit_worker_quality(&job, q, interrupted, &e); /* a failure is in q->reason */
    if (*interrupted)
        return 0;
    double secs = (double)(dfit_now_ns() - t0) / 1e9;
    char acc[256] = "";
    if (s->n_tasks > 0)
        task_note(s, q, tasks, acc, sizeof acc);
    if (q->available)
        dfit_progress_note(r->progress,
                           "quality of %s on %s: top-1 %.2f%%, mean KL %.4g, PPL ratio %.4f (%" PRIu64
                           " tokens)%s, %.1f s", v->name, t->name, 100.0 * q->top1, q->kl_mean,
                           q->ppl_ratio, q->n_tokens, acc, secs);
    else
        dfit_progress_note(r->progress, "quality of %s on %s: not available: %s%s", v->name, t->name,
                           q->reason, acc);
    if (s->n_tasks == 0)
        return 0;
    return dfit_store_put_task_accuracy(r->store, r->run_id, v->name, t->name, tasks,
                                        (size_t)s->n_tasks, err);
}

/* ---- the sweep ------------------------------------------------------------------------- */

static void tally(struct dfit_runner_result *res, enum dfit_cell_status st)
{
    if (st == DFIT_CELL_OK)
        res->n_ok++;
    else if (st == DFIT_CELL_SKIPPED)
        res->n_skipped++;
    else
        res->n_failed++;
}

/* Runs the cells marked in r->todo in plan order. Stops at an interrupt or
 * when a row cannot be stored (returned). */
static int sweep(struct runner *r, struct dfit_runner_result *res, struct dfit_err *err)
{
    const struct dfit_scenario *s = r->scenario;
    const struct dfit_plan *p = r->plan;
    int rc = 0;
    for (int i = 0; i < p->n_cells && rc == 0; i++) {
        const struct dfit_plan_cell *c = &p->cells[i];
        if (!r->todo[i])
            continue;
        if ((res->interrupted_by = dfit_worker_interrupted()))
            break;
        const struct dfit_variant_spec *v = &s->variants[c->variant];
        const struct dfit_target_spec *t = &s->targets[c->target];
        const struct dfit_workload_spec *w = &s->workloads[c->workload];
        if (c->skipped) {
            struct dfit_cell_result cr;
            dfit_worker_blank_result(&cr, DFIT_CELL_SKIPPED, c->reason, NULL);
            if ((rc = dfit_store_write_cell(r->store, r->run_id, v->name, t->name, w->name, &cr, err)))
                break;
            dfit_progress_cell_skipped(r->progress, i + 1, v->name, t->name, w->name, c->reason);
            tally(res, DFIT_CELL_SKIPPED);
            continue;
        }
        int pair = c->variant * s->n_targets + c->target;
        if (!r->quality_done[pair]) {
            bool interrupted;
            dfit_progress_cell_begin(r->progress, i + 1, v->name, t->name, w->name,
                                     "measuring quality");
            if ((rc = measure_quality(r, c, &r->quality[pair], &interrupted, err)))
                break;
            if (interrupted) {
                res->interrupted_by = dfit_worker_interrupted();
                if (!res->interrupted_by)
                    res->interrupted_by = SIGINT;
                break;
            }
            r->quality_done[pair] = true;
        }

        struct tick_ctx tc = {r->progress, "running"};
        dfit_progress_cell_begin(r->progress, i + 1, v->name, t->name, w->name, "running");
        const struct dfit_cell_spec spec = {
            .scenario = s,
            .variant = v,
            .model_path = r->variants->variants[c->variant].path,
            .target = t,
            .workload = w,
            .prompt_tokens = r->prompt_tokens,
            .n_prompt_tokens = r->n_prompt_tokens,
            .seed = s->seed,
        };
        const struct dfit_cell_job job = {
            .store = &r->store,
            .db_path = res->db_path,
            .run_id = r->run_id,
            .spec = &spec,
            .quality = &r->quality[pair],
            .fault = dfit_worker_fault(v->name, t->name, w->name),
            .tick = on_tick,
            .tick_user = &tc,
        };
        struct dfit_cell_outcome oc;
        if ((rc = dfit_worker_cell(&job, &oc, err)))
            break;
        if (oc.interrupted) {
            res->interrupted_by = dfit_worker_interrupted();
            if (!res->interrupted_by)
                res->interrupted_by = SIGINT;
            break;
        }
        dfit_progress_cell_end(r->progress, oc.status, oc.reason, oc.wall_ns, true);
        tally(res, oc.status);
    }
    return rc; /* a signal after the last cell interrupts nothing */
}

/* "run 3 interrupted by SIGINT ..., resume with: dfit run --resume ..." */
static void print_resume_hint(struct runner *r, const struct dfit_runner_result *res)
{
    FILE *f = r->out;
    char sig[96];
    dfit_progress_free(r->progress); /* ends the live line */
    r->progress = NULL;
    fprintf(f, "run %" PRId64 " interrupted by %s: %d of %d cells stored; resume with:\n"
            "  dfit run --resume ", r->run_id,
            dfit_worker_signal_name(res->interrupted_by, sig, sizeof sig),
            res->n_ok + res->n_failed + res->n_skipped, res->n_cells);
    dfit_escape_shell(f, r->opt->scenario_path);
    fputs(" --db ", f);
    dfit_escape_shell(f, res->db_path);
    fputc('\n', f);
    fflush(f);
}

int dfit_runner_run(const struct dfit_runner_options *o, struct dfit_runner_result *res,
                    struct dfit_err *err)
{
    struct runner r;
    struct dfit_err local = {0};
    if (!err)
        err = &local;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    r.opt = o;
    r.out = o->out ? o->out : stdout;
    bool signals = false, finished = false;
    int rc;

    if ((rc = dfit_progress_create(r.out, o->progress, &r.progress, err)))
        goto fail;
    if ((rc = dfit_runner_setup(&r, res, err)))
        goto fail;

    if ((rc = dfit_worker_signals_begin(err)))
        goto fail;
    signals = true;
    rc = sweep(&r, res, err);
    dfit_worker_signals_end();
    signals = false;
    if (rc)
        goto fail;

    if ((rc = dfit_runner_finish(&r, res, err)))
        goto fail;
    finished = true; /* a report that fails does not change the run */
    if (res->interrupted_by) {
        print_resume_hint(&r, res);
    } else if ((rc = dfit_runner_report(&r, res, err))) {
        goto fail;
    }
    dfit_runner_cleanup(&r);
    return 0;
fail:
    /* the message may quote the scenario's text: no control characters on
     * the terminal */
    for (char *c = err->msg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    if (signals)
        dfit_worker_signals_end();
    if (r.store && r.run_id > 0 && !finished) {
        /* a resumed run stays resumable as it was; a new one failed */
        struct dfit_err e2 = {0};
        double la[3];
        dfit_machine_loadavg(la, NULL);
        dfit_store_finish_run(r.store, r.run_id, r.resumed ? DFIT_RUN_INTERRUPTED : DFIT_RUN_FAILED,
                              la, &e2);
    }
    dfit_runner_cleanup(&r);
    return rc;
}
