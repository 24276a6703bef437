/* runner_setup.c — the runner's steps around the sweep (see runner_impl.h):
 * scenario and plan, the variants (built in a child: runner_build.c), the eval
 * and prompt token streams, the results database and the run record (new
 * or resumed), registering what the run measures, finishing the run and
 * writing the report.
 * Non-goals: running cells (runner.c, worker.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/llama.h"
#include "run/eval_data.h"
#include "run/machine.h"
#include "run/runner_impl.h"
#include "run/token_cost.h"
#include "util/sha256.h"

/* Prompt stream length: enough distinct prompts for the longest workload. */
#define PROMPT_STREAM_PROMPTS 16u
#define PROMPT_STREAM_MIN 256u
#define PROMPT_STREAM_MAX (1u << 20)

/* ---- variants ------------------------------------------------------------------- */

static int build_variants(struct runner *r, struct dfit_runner_result *res, struct dfit_err *err)
{
    int rc = dfit_runner_build_variants(r, res, err);
    if (rc)
        return rc;
    const struct dfit_variant_file *ref = dfit_variants_find(r->variants, r->scenario->reference);
    if (!ref || !ref->path)
        return dfit_err_set(err, DFIT_EINTERNAL, "%s: reference variant '%s' was not built",
                            r->scenario->path, r->scenario->reference);
    r->reference_path = ref->path;
    return 0;
}

/* Registers variant i (its file, hash, size, parameters and lineage). */
static int register_variant(struct runner *r, int i, struct dfit_err *err)
{
    const struct dfit_scenario *s = r->scenario;
    const struct dfit_variant_spec *v = &s->variants[i];
    const struct dfit_variant_file *f = &r->variants->variants[i];
    char recipe[256], lineage[512];
    struct dfit_model *m = NULL;
    int rc;
    if (v->file) {
        snprintf(recipe, sizeof recipe, "file=%s", v->file);
        snprintf(lineage, sizeof lineage, "brought by the scenario");
    } else {
        snprintf(recipe, sizeof recipe, "compress=%s from=%s", v->compress, v->from ? v->from : "base");
        const struct dfit_variant_file *parent =
            f->parent >= 0 ? &r->variants->variants[f->parent] : &r->variants->base;
        snprintf(lineage, sizeof lineage, "parent=%s parent_sha256=%s method=convert to=%s%s",
                 f->parent >= 0 ? s->variants[f->parent].name : s->base, parent->sha256,
                 v->compress, f->same_as_parent ? " (already of that type: the parent's file)" : "");
    }
    if ((rc = dfit_model_open(f->path, &m, err)))
        return dfit_err_prefix(err, "variant '%s'", v->name);
    struct dfit_store_variant sv = {
        .name = v->name,
        .file = f->path,
        .sha256 = f->sha256,
        .bytes = f->file_bytes,
        .n_params = m->n_params,
        .bits_per_weight = m->n_params ? 8.0 * (double)m->weight_bytes / (double)m->n_params : NAN,
        .recipe = recipe,
        .lineage = lineage,
    };
    /* what a token costs, for the report's "Does it pay?"; a file whose
     * dfit.prune.* metadata makes no sense is still measured, without it */
    sv.has_cost = dfit_token_cost_of_model(m, &sv.cost, NULL) == 0;
    dfit_model_free(m);
    rc = dfit_store_add_variant(r->store, r->run_id, &sv, err);
    if (rc == DFIT_EEXIST)
        dfit_err_prefix(err, "variant '%s' is not the file run %" PRId64 " measured; start a new run "
                        "(without --resume)", v->name, r->run_id);
    return rc;
}

static int register_all(struct runner *r, struct dfit_err *err)
{
    const struct dfit_scenario *s = r->scenario;
    const struct dfit_plan *p = r->plan;
    bool *seen_t = calloc((size_t)s->n_targets + 1, 1);
    bool *seen_v = calloc((size_t)s->n_variants + 1, 1);
    int rc = 0;
    if (!seen_t || !seen_v) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < p->n_cells; i++) {
        seen_t[p->cells[i].target] = true;
        seen_v[p->cells[i].variant] = true;
    }
    seen_v[dfit_scenario_variant(s, s->reference) - s->variants] = true;
    for (int i = 0; i < s->n_variants && !rc; i++)
        if (seen_v[i])
            rc = register_variant(r, i, err);
    for (int i = 0; i < s->n_targets && !rc; i++)
        if (seen_t[i])
            rc = dfit_store_add_target(r->store, r->run_id, &s->targets[i], err);
    for (int i = 0; i < s->n_workloads && !rc; i++)
        rc = dfit_store_add_workload(r->store, r->run_id, &s->workloads[i], err);
out:
    free(seen_t);
    free(seen_v);
    return rc;
}

/* ---- the run record ---------------------------------------------------------------- */

/* The latest unfinished run of this scenario file, or an error that says
 * why there is none to resume. */
static int find_resumable(struct runner *r, const char *db, struct dfit_err *err)
{
    const struct dfit_scenario *s = r->scenario;
    struct dfit_err e = {0};
    int rc = dfit_store_find_run(r->store, s->name, r->scenario_sha256, true, &r->run_id, NULL, &e);
    if (rc != DFIT_ENOTFOUND) {
        if (rc)
            *err = e;
        return rc;
    }
    struct dfit_store_run *runs = NULL;
    size_t n = 0;
    if ((rc = dfit_store_list_runs(r->store, &runs, &n, err)))
        return rc;
    const struct dfit_store_run *latest = NULL;
    for (size_t i = 0; i < n; i++)
        if (runs[i].info.scenario && strcmp(runs[i].info.scenario, s->name) == 0)
            latest = &runs[i];
    if (latest && latest->status != DFIT_RUN_DONE && latest->info.scenario_sha256 &&
        strcmp(latest->info.scenario_sha256, r->scenario_sha256) != 0)
        rc = dfit_err_set(err, DFIT_EINVAL,
                          "%s: cannot resume run %" PRId64 ": the scenario file changed since it "
                          "started (SHA-256 %.12s… then, %.12s… now), so its cells measured another "
                          "scenario; start a new run (without --resume)", s->path, latest->id,
                          latest->info.scenario_sha256, r->scenario_sha256);
    else if (latest)
        rc = dfit_err_set(err, DFIT_EINVAL,
                          "%s: nothing to resume: the latest run of scenario '%s' (run %" PRId64
                          ") is %s; start a new run (without --resume)", db, s->name, latest->id,
                          dfit_store_run_status_name(latest->status));
    else
        rc = dfit_err_set(err, DFIT_EINVAL,
                          "%s: nothing to resume: no run of scenario '%s' in this database; start "
                          "a new run (without --resume)", db, s->name);
    dfit_store_runs_free(runs, n);
    return rc;
}

static int open_run(struct runner *r, struct dfit_runner_result *res, struct dfit_err *err)
{
    const struct dfit_runner_options *o = r->opt;
    struct dfit_machine m;
    int rc = dfit_machine_read(&m, err);
    if (rc)
        return rc;
    if (o->resume) {
        if (!(rc = find_resumable(r, res->db_path, err)))
            rc = dfit_store_resume_run(r->store, r->run_id, &m.info, err);
        r->resumed = rc == 0;
        if (!rc && o->label)
            dfit_progress_note(r->progress, "note: --label is kept from the run's start; ignored "
                               "with --resume");
    } else {
        struct dfit_run_info info = {
            .scenario = r->scenario->name,
            .scenario_sha256 = r->scenario_sha256,
            .scenario_path = o->scenario_path,
            .label = o->label,
            .reference = r->scenario->reference,
        };
        dfit_machine_build_info(&info);
        rc = dfit_store_create_run(r->store, &info, &m.info, &r->run_id, err);
    }
    dfit_machine_clear(&m);
    if (!rc)
        res->run_id = r->run_id;
    return rc;
}

/* ---- token streams -------------------------------------------------------------------- */

static int load_tokens(struct runner *r, struct dfit_err *err)
{
    const struct dfit_scenario *s = r->scenario;
    struct dfit_err e = {0};
    if (dfit_eval_load(s->eval, r->reference_path, s->eval_tokens, s->seed, &r->eval_tokens,
                       &r->n_eval_tokens, &e) != 0) {
        snprintf(r->eval_error, sizeof r->eval_error, "eval data: %.200s", e.msg);
        dfit_progress_note(r->progress, "quality will not be measured: %s", r->eval_error);
    }
    uint32_t longest = 1;
    for (int i = 0; i < s->n_workloads; i++)
        if (s->workloads[i].prompt_tokens > longest)
            longest = s->workloads[i].prompt_tokens;
    uint64_t n = (uint64_t)longest * PROMPT_STREAM_PROMPTS;
    n = n < PROMPT_STREAM_MIN ? PROMPT_STREAM_MIN : n > PROMPT_STREAM_MAX ? PROMPT_STREAM_MAX : n;
    int rc = dfit_eval_load(s->eval, r->reference_path, (uint32_t)n, s->seed + 1, &r->prompt_tokens,
                            &r->n_prompt_tokens, err);
    if (rc)
        return dfit_err_prefix(err, "prompt tokens");
    return 0;
}

/* ---- setup ------------------------------------------------------------------------------ */

static int check_only_target(struct runner *r, struct dfit_runner_result *res, struct dfit_err *err)
{
    const struct dfit_scenario *s = r->scenario;
    const char *t = r->opt->only_target;
    if (!t || dfit_scenario_target(s, t))
        return 0;
    char list[512] = "";
    for (int i = 0; i < s->n_targets; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", s->targets[i].name);
    }
    res->usage_error = true;
    return dfit_err_set(err, DFIT_EINVAL, "--only-target: '%s' is not a target of %s (targets: %s)",
                        t, s->path, list);
}

static void print_plan(struct runner *r)
{
    const struct dfit_scenario *s = r->scenario;
    const struct dfit_plan *p = r->plan;
    dfit_progress_note(r->progress,
                       "scenario %s (%s): %d variant%s × %d target%s × %d workload%s = %d cells%s%s; "
                       "%d runnable here", s->name, s->path, s->n_variants, s->n_variants == 1 ? "" : "s",
                       s->n_targets, s->n_targets == 1 ? "" : "s", s->n_workloads,
                       s->n_workloads == 1 ? "" : "s", p->n_cells,
                       r->opt->only_target ? " of target " : "",
                       r->opt->only_target ? r->opt->only_target : "", p->n_runnable);
    for (int t = 0; t < p->n_targets; t++) {
        const struct dfit_plan_target *pt = &p->targets[t];
        if (!pt->runnable)
            dfit_progress_note(r->progress, "target %s (%s): skipped: %s", pt->spec->name,
                               pt->spec->backend, pt->reason);
        else if (pt->note[0])
            dfit_progress_note(r->progress, "target %s: note: %s", pt->spec->name, pt->note);
    }
}

/* Which cells run now: all, or on resume those without an ok row. */
static int pick_cells(struct runner *r, struct dfit_runner_result *res, struct dfit_err *err)
{
    const struct dfit_scenario *s = r->scenario;
    const struct dfit_plan *p = r->plan;
    int n_todo = 0, n_runnable = 0;
    for (int i = 0; i < p->n_cells; i++) {
        const struct dfit_plan_cell *c = &p->cells[i];
        r->todo[i] = true;
        if (r->resumed) {
            bool exists = false;
            enum dfit_cell_status st = DFIT_CELL_FAILED;
            int rc = dfit_store_cell_exists(r->store, r->run_id, s->variants[c->variant].name,
                                            s->targets[c->target].name,
                                            s->workloads[c->workload].name, &exists, &st, err);
            if (rc)
                return rc;
            if (exists && st == DFIT_CELL_OK) {
                r->todo[i] = false;
                res->n_already++;
                res->n_ok++;
            }
        }
        n_todo += r->todo[i];
        n_runnable += r->todo[i] && !c->skipped;
    }
    dfit_progress_plan(r->progress, p->n_cells, n_runnable);
    if (r->resumed)
        dfit_progress_note(r->progress, "resuming run %" PRId64 ": %d of %d cells already ok, %d to "
                           "run", r->run_id, res->n_already, p->n_cells, n_todo);
    return 0;
}

int dfit_runner_setup(struct runner *r, struct dfit_runner_result *res, struct dfit_err *err)
{
    const struct dfit_runner_options *o = r->opt;
    int rc;
    if ((rc = dfit_scenario_load(o->scenario_path, &r->scenario, err)))
        return rc;
    if ((rc = dfit_sha256_file(o->scenario_path, r->scenario_sha256, err)))
        return rc;
    if ((rc = check_only_target(r, res, err)))
        return rc;
    /* the pattern: any variant, then the target with fnmatch's special
     * characters escaped (a name may hold '*', '?', '[' and '\\', never
     * '/'), then any workload */
    char only[2 * DFIT_SCENARIO_NAME_MAX + 8] = "*/";
    size_t k = 2;
    for (const char *c = o->only_target ? o->only_target : ""; *c && k + 4 < sizeof only; c++) {
        if (strchr("*?[]\\", *c))
            only[k++] = '\\';
        only[k++] = *c;
    }
    memcpy(only + k, "/*", 3);
    const struct dfit_plan_options po = {.only = o->only_target ? only : NULL};
    if ((rc = dfit_plan_create(r->scenario, &po, &r->plan, err)))
        return rc;
    res->n_cells = r->plan->n_cells;
    print_plan(r);

    const int n_pairs = r->scenario->n_variants * r->scenario->n_targets;
    if (!(r->todo = calloc((size_t)r->plan->n_cells + 1, sizeof *r->todo)) ||
        !(r->quality = calloc((size_t)n_pairs + 1, sizeof *r->quality)) ||
        !(r->quality_done = calloc((size_t)n_pairs + 1, sizeof *r->quality_done)))
        return dfit_err_set(err, DFIT_ENOMEM, "out of memory");

    if ((rc = build_variants(r, res, err)) || (rc = load_tokens(r, err)))
        return rc;

    char safe[72];
    dfit_runner_safe_name(r->scenario->name, safe, sizeof safe);
    if (o->db_path)
        snprintf(res->db_path, sizeof res->db_path, "%s", o->db_path);
    else
        snprintf(res->db_path, sizeof res->db_path, "results/%s.db", safe);
    if ((rc = dfit_store_open(res->db_path, &r->store, err)))
        return rc;
    if ((rc = open_run(r, res, err)))
        return rc;
    dfit_progress_note(r->progress, "%s run %" PRId64 " in %s", r->resumed ? "resumed" : "started",
                       r->run_id, res->db_path);
    if ((rc = register_all(r, err)))
        return rc;
    return pick_cells(r, res, err);
}

/* ---- finish, report, cleanup ------------------------------------------------------------ */

int dfit_runner_finish(struct runner *r, struct dfit_runner_result *res, struct dfit_err *err)
{
    const struct dfit_scenario *s = r->scenario;
    enum dfit_run_status st = DFIT_RUN_DONE;
    if (res->interrupted_by) {
        st = DFIT_RUN_INTERRUPTED;
    } else if (r->opt->only_target) {
        /* done only when every cell of the scenario has a row */
        struct dfit_store_cell *cells = NULL;
        size_t n = 0;
        int rc = dfit_store_load_cells(r->store, r->run_id, false, &cells, &n, err);
        if (rc)
            return rc;
        dfit_store_cells_free(cells, n);
        size_t all = (size_t)s->n_variants * (size_t)s->n_targets * (size_t)s->n_workloads;
        if (n < all) {
            st = DFIT_RUN_INTERRUPTED;
            dfit_progress_note(r->progress, "run %" PRId64 " covers %zu of the scenario's %zu cells; "
                               "'dfit run --resume' without --only-target completes it",
                               r->run_id, n, all);
        }
    }
    double la[3];
    dfit_machine_loadavg(la, NULL);
    return dfit_store_finish_run(r->store, r->run_id, st, la, err);
}

int dfit_runner_report(struct runner *r, struct dfit_runner_result *res, struct dfit_err *err)
{
    char safe[72], dbdir[PATH_MAX];
    dfit_runner_safe_name(r->scenario->name, safe, sizeof safe);
    snprintf(dbdir, sizeof dbdir, "%s", res->db_path);
    int n = snprintf(res->report_dir, sizeof res->report_dir, "%s/%s-run%" PRId64, dirname(dbdir),
                     safe, r->run_id);
    if (n < 0 || (size_t)n >= sizeof res->report_dir)
        return dfit_err_set(err, DFIT_ERANGE, "%s: report directory name too long", res->db_path);
    dfit_progress_free(r->progress); /* the report prints its own summary */
    r->progress = NULL;
    int rc = dfit_runner_write_report(r, res, err);
    if (rc)
        return rc;
    res->report_written = true;
    return 0;
}

void dfit_runner_cleanup(struct runner *r)
{
    dfit_progress_free(r->progress);
    dfit_store_close(r->store);
    free(r->eval_tokens);
    free(r->prompt_tokens);
    free(r->todo);
    free(r->quality);
    free(r->quality_done);
    dfit_variants_free(r->variants);
    dfit_plan_free(r->plan);
    dfit_scenario_free(r->scenario);
    memset(r, 0, sizeof *r);
}
