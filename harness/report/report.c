/* report.c — dfit_report_write: reads one run back from the store (in one
 * read transaction), applies the frontier and recommendation rules per
 * target (frontier.h) and "Does it pay?" per cell against the reference
 * variant (payoff.h), writes the plots (plots.h) and then report.html and
 * report.md (report_html.c, report_md.c), each to NAME.tmp and renamed.
 * Non-goals: the wording of the report (report_text.c and the two
 * formats), measuring, comparing runs.
 */
#include "report/report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/llama.h"
#include "run/token_cost.h"

/* ---- reading the run ------------------------------------------------------------- */

static int variant_index(const struct dfit_store_spec *sp, const char *name)
{
    for (size_t i = 0; i < sp->n_variants; i++)
        if (strcmp(sp->variants[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int workload_index(const struct dfit_store_spec *sp, const char *name)
{
    for (size_t i = 0; i < sp->n_workloads; i++)
        if (strcmp(sp->workloads[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int task_names(struct dfit_report *r, struct dfit_err *err);

static int load_run(struct dfit_store *s, int64_t run_id, struct dfit_report *r,
                    struct dfit_err *err)
{
    int rc;
    if (run_id == 0) {
        struct dfit_store_run *runs = NULL;
        size_t n = 0;
        if ((rc = dfit_store_list_runs(s, &runs, &n, err)))
            return rc;
        if (n == 0)
            return dfit_err_set(err, DFIT_ENOTFOUND, "%s: the database holds no run",
                                dfit_store_path(s));
        run_id = runs[n - 1].id;
        dfit_store_runs_free(runs, n);
    }
    if ((rc = dfit_store_get_run(s, run_id, &r->run, err)) ||
        (rc = dfit_store_load_spec(s, run_id, &r->spec, err)) ||
        (rc = dfit_store_load_cells(s, run_id, false, &r->cells, &r->n_cells, err)) ||
        (rc = dfit_store_load_task_accuracy(s, run_id, &r->task_rows, &r->n_task_rows, err)))
        return rc;
    return task_names(r, err);
}

/* The distinct eval sets of the run's task-accuracy rows, by their place
 * in the scenario's list (idx), then first appearance. */
static int task_names(struct dfit_report *r, struct dfit_err *err)
{
    int *idx = calloc(r->n_task_rows + 1, sizeof *idx);
    r->task_names = calloc(r->n_task_rows + 1, sizeof *r->task_names);
    if (!idx || !r->task_names) {
        free(idx);
        return dfit_err_set(err, DFIT_ENOMEM, "report: out of memory");
    }
    for (size_t i = 0; i < r->n_task_rows; i++) {
        const struct dfit_store_task_row *row = &r->task_rows[i];
        size_t k = 0;
        while (k < r->n_task_names && strcmp(r->task_names[k], row->a.task) != 0)
            k++;
        if (k < r->n_task_names)
            continue;
        for (k = r->n_task_names; k > 0 && idx[k - 1] > row->idx; k--) {
            r->task_names[k] = r->task_names[k - 1];
            idx[k] = idx[k - 1];
        }
        r->task_names[k] = row->a.task;
        idx[k] = row->idx;
        r->n_task_names++;
    }
    free(idx);
    return 0;
}

const struct dfit_task_accuracy *dfit_report_task(const struct dfit_report *r, size_t t, size_t v,
                                                  size_t k)
{
    if (t >= r->spec->n_targets || v >= r->spec->n_variants || k >= r->n_task_names)
        return NULL;
    for (size_t i = 0; i < r->n_task_rows; i++) {
        const struct dfit_store_task_row *row = &r->task_rows[i];
        if (strcmp(row->target, r->spec->targets[t].name) == 0 &&
            strcmp(row->variant, r->spec->variants[v].name) == 0 &&
            strcmp(row->a.task, r->task_names[k]) == 0)
            return &row->a;
    }
    return NULL;
}

/* ---- one cell ---------------------------------------------------------------------- */

static double p95_ms(const struct dfit_summary *sm)
{
    return sm->n ? sm->p95 / 1e6 : NAN;
}

static double mib(uint64_t bytes)
{
    return bytes ? (double)bytes / (1024.0 * 1024.0) : NAN;
}

/* Counter value of phase p under any of the names; *why gets the reason
 * when it is recorded unavailable, "not recorded" when absent. */
static double counter(const struct dfit_cell_result *cr, enum dfit_phase p,
                      const char *const *names, const char **why)
{
    for (uint32_t i = 0; i < cr->n_counters; i++) {
        const struct dfit_counter_value *v = &cr->counters[i];
        if (v->phase != p)
            continue;
        for (const char *const *n = names; *n; n++)
            if (strcmp(v->name, *n) == 0) {
                if (v->available)
                    return (double)v->value;
                *why = v->reason[0] ? v->reason : "unavailable";
                return NAN;
            }
    }
    *why = "not recorded";
    return NAN;
}

static void derive(const struct dfit_cell_result *cr, enum dfit_phase p, uint64_t tokens,
                   struct dfit_report_derived *d)
{
    static const char *const ins[] = {"PAPI_TOT_INS", "perf::INSTRUCTIONS", NULL};
    static const char *const cyc[] = {"PAPI_TOT_CYC", "perf::CYCLES", "perf::CPU-CYCLES", NULL};
    static const char *const l1[] = {"PAPI_L1_DCM", "perf::L1-DCACHE-LOAD-MISSES", NULL};
    static const char *const l2[] = {"PAPI_L2_DCM", NULL};
    static const char *const l3[] = {"PAPI_L3_TCM", "perf::LLC-LOAD-MISSES", NULL};
    static const char *const br[] = {"PAPI_BR_MSP", "perf::BRANCH-MISSES", NULL};
    const char *why_cyc = NULL;
    double n_ins = counter(cr, p, ins, &d->why_ins);
    double n_cyc = counter(cr, p, cyc, &why_cyc);
    d->ipc = n_ins / n_cyc;
    d->why_ipc = isnan(n_ins) ? d->why_ins : why_cyc;
    if (!isfinite(d->ipc)) {
        d->ipc = NAN;
        if (!d->why_ipc)
            d->why_ipc = "no cycles counted";
    }
    double t = tokens ? (double)tokens : NAN;
    const char *no_tokens = "no tokens in this phase";
    d->ins_per_token = n_ins / t;
    d->l1_dcm_per_token = counter(cr, p, l1, &d->why_l1) / t;
    d->l2_dcm_per_token = counter(cr, p, l2, &d->why_l2) / t;
    d->l3_tcm_per_token = counter(cr, p, l3, &d->why_l3) / t;
    d->br_msp_per_token = counter(cr, p, br, &d->why_br) / t;
    if (!tokens) {
        const char **w[] = {&d->why_ins, &d->why_l1, &d->why_l2, &d->why_l3, &d->why_br};
        for (int i = 0; i < 5; i++)
            if (!*w[i])
                *w[i] = no_tokens;
    }
}

/* Fills rc from its store cell for target t with quality axis qa. */
static void fill_cell(const struct dfit_target_spec *t, enum dfit_quality_axis qa,
                      struct dfit_report_cell *rc)
{
    struct dfit_fit_cell *f = &rc->fit;
    const struct dfit_store_cell *c = rc->c;
    *f = (struct dfit_fit_cell){.quality = NAN, .quality_se = NAN, .p95_ttft_ms = NAN,
                                .p95_tpot_ms = NAN, .p95_e2e_ms = NAN, .tokens_per_s = NAN,
                                .memory_mib = NAN, .usd_per_mtok = NAN};
    for (int a = 0; a < DFIT_COST_COUNT; a++)
        rc->dominated_by[a] = -1;
    if (!c)
        return;
    const struct dfit_cell_result *r = &c->r;
    f->present = true;
    f->status = r->status;
    f->valid = r->valid;
    if (r->status != DFIT_CELL_OK)
        return;
    if (qa == DFIT_QUALITY_ACCURACY && r->quality.has_accuracy) {
        f->quality = r->quality.accuracy;
        f->quality_se = r->quality.accuracy_se;
    } else if (r->quality.available && qa == DFIT_QUALITY_TOP1) {
        f->quality = r->quality.top1;
        f->quality_se = r->quality.top1_se;
    }
    f->p95_ttft_ms = p95_ms(&r->ttft);
    f->p95_tpot_ms = p95_ms(&r->tpot);
    f->p95_e2e_ms = p95_ms(&r->e2e);
    f->tokens_per_s = r->output_tokens_per_s;
    bool host = t->backend && strcmp(t->backend, "cpu") == 0;
    f->memory_mib = !host && r->device_peak_bytes ? mib(r->device_peak_bytes)
                                                  : mib(r->peak_rss_bytes);
    if (isfinite(t->price_per_hour) && f->tokens_per_s > 0)
        f->usd_per_mtok = t->price_per_hour / 3600.0 / f->tokens_per_s * 1e6;
    else if (isfinite(t->price_per_hour))
        f->usd_per_mtok = r->usd_per_mtok;
    derive(r, DFIT_PHASE_PREFILL, rc->lat.n_prompt_tokens, &rc->derived[DFIT_PHASE_PREFILL]);
    derive(r, DFIT_PHASE_DECODE, rc->lat.n_output_tokens, &rc->derived[DFIT_PHASE_DECODE]);
    derive(r, DFIT_PHASE_LOAD, 0, &rc->derived[DFIT_PHASE_LOAD]);
}

/* ---- "Does it pay?" ------------------------------------------------------------------ */

/* The reference variant (the one the run recorded; else the first, as the
 * scenario's default) and every variant's per-token cost: as registered,
 * else read from its file when that still opens. */
static int resolve_costs(struct dfit_report *r, struct dfit_err *err)
{
    size_t nv = r->spec->n_variants;
    r->reference = nv ? 0 : -1;
    if (r->run->info.reference) {
        int v = variant_index(r->spec, r->run->info.reference);
        if (v >= 0) {
            r->reference = v;
            r->reference_recorded = true;
        }
    }
    r->costs = calloc(nv ? nv : 1, sizeof *r->costs);
    r->costs_read_ = calloc(nv ? nv : 1, sizeof *r->costs_read_);
    if (!r->costs || !r->costs_read_)
        return dfit_err_set(err, DFIT_ENOMEM, "report: out of memory");
    for (size_t v = 0; v < nv; v++) {
        const struct dfit_store_variant *sv = &r->spec->variants[v];
        if (sv->has_cost) {
            r->costs[v] = &sv->cost;
            continue;
        }
        struct dfit_model *m = NULL;
        if (sv->file && dfit_model_open(sv->file, &m, NULL) == 0 &&
            dfit_token_cost_of_model(m, &r->costs_read_[v], NULL) == 0)
            r->costs[v] = &r->costs_read_[v];
        dfit_model_free(m);
    }
    return 0;
}

/* The payoff of every cell of target t against the reference's cell on the
 * same workload. */
static void payoff_target(struct dfit_report *r, size_t t)
{
    const struct dfit_report_target *rt = &r->targets[t];
    const uint32_t kv_bytes = rt->spec->backend && strcmp(rt->spec->backend, "cuda") == 0
                                  ? 2u : DFIT_TOKEN_COST_KV_F32;
    for (size_t w = 0; w < r->spec->n_workloads; w++) {
        const struct dfit_workload_spec *ws = &r->spec->workloads[w];
        const struct dfit_payoff_workload pw = {.prompt_tokens = ws->prompt_tokens,
                                                .output_tokens = ws->output_tokens,
                                                .batch = ws->batch, .kv_value_bytes = kv_bytes};
        struct dfit_payoff_side sides[2];
        for (size_t v = 0; v < r->spec->n_variants; v++) {
            size_t idx[2] = {r->reference >= 0 ? (size_t)r->reference : v, v};
            for (int i = 0; i < 2; i++) {
                const struct dfit_store_cell *c = dfit_report_cell_at(r, t, idx[i], w)->c;
                bool ok = c && c->r.status == DFIT_CELL_OK;
                sides[i] = (struct dfit_payoff_side){
                    .cost = r->costs[idx[i]], .file_bytes = r->spec->variants[idx[i]].bytes,
                    .decode_tokens_per_s = ok ? c->r.decode_tokens_per_s : NAN,
                    .prefill_tokens_per_s = ok ? c->r.prefill_tokens_per_s : NAN};
            }
            struct dfit_payoff *pay = &dfit_report_cell_at(r, t, v, w)->pay;
            dfit_payoff_compute(&sides[0], &sides[1], &pw, (int)v == r->reference, pay);
            if (r->reference < 0) {
                pay->verdict = DFIT_PAYOFF_NA;
                snprintf(pay->text, sizeof pay->text, "n/a: no reference variant");
            }
        }
    }
}

/* ---- one target --------------------------------------------------------------------- */

/* Task accuracy when every ok cell with quality (fidelity or task
 * accuracy) has task accuracy, else top-1 agreement when any has quality,
 * else none. */
static enum dfit_quality_axis choose_axis(const struct dfit_report *r, size_t t)
{
    size_t n_q = 0, n_acc = 0;
    for (size_t v = 0; v < r->spec->n_variants; v++)
        for (size_t w = 0; w < r->spec->n_workloads; w++) {
            const struct dfit_store_cell *c = dfit_report_cell_at(r, t, v, w)->c;
            if (!c || c->r.status != DFIT_CELL_OK ||
                (!c->r.quality.available && !c->r.quality.has_accuracy))
                continue;
            n_q++;
            n_acc += c->r.quality.has_accuracy;
        }
    return n_q == 0 ? DFIT_QUALITY_NONE : n_acc == n_q ? DFIT_QUALITY_ACCURACY : DFIT_QUALITY_TOP1;
}

/* The rules for target t; with_samples also reads each ok cell's
 * per-request latencies (the plots and the counter figures need them). */
static int analyse_target(struct dfit_store *s, struct dfit_report *r, size_t t, bool with_samples,
                          struct dfit_err *err)
{
    struct dfit_report_target *rt = &r->targets[t];
    size_t nv = r->spec->n_variants, nw = r->spec->n_workloads, ncell = nv * nw;
    rt->spec = &r->spec->targets[t];
    rt->cells = calloc(ncell ? ncell : 1, sizeof *rt->cells);
    rt->front = calloc(nw ? nw : 1, sizeof *rt->front);
    rt->cdf = calloc(nw ? nw : 1, sizeof *rt->cdf);
    struct dfit_fit_cell *fc = calloc(ncell ? ncell : 1, sizeof *fc);
    double *q = calloc(nv ? nv : 1, sizeof *q), *cost = calloc(nv ? nv : 1, sizeof *cost);
    bool *on = calloc(nv ? nv : 1, sizeof *on);
    int *dom = calloc(nv ? nv : 1, sizeof *dom);
    int rc = 0;
    if (!rt->cells || !rt->front || !rt->cdf || !fc || !q || !cost || !on || !dom) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "report: out of memory for target '%s'",
                          rt->spec->name);
        goto done;
    }
    size_t n_cells = 0, n_skipped = 0;
    for (size_t i = 0; i < r->n_cells; i++) {
        const struct dfit_store_cell *c = &r->cells[i];
        if (strcmp(c->target, rt->spec->name) != 0)
            continue;
        int v = variant_index(r->spec, c->variant), w = workload_index(r->spec, c->workload);
        if (v < 0 || w < 0)
            continue; /* foreign keys make this impossible in a dfit database */
        struct dfit_report_cell *rc_ = dfit_report_cell_at(r, t, (size_t)v, (size_t)w);
        rc_->c = c;
        n_cells++;
        if (c->r.status == DFIT_CELL_SKIPPED && !n_skipped++)
            rt->skip_reason = c->r.reason;
        if (with_samples && c->r.status == DFIT_CELL_OK && c->r.e2e.n > 0 &&
            (rc = dfit_store_load_latencies(s, c->id, &rc_->lat, err)))
            goto done;
    }
    rt->n_cells = n_cells;
    rt->skipped = n_cells > 0 && n_skipped == n_cells;
    rt->qaxis = choose_axis(r, t);
    for (size_t i = 0; i < nv * nw; i++) {
        fill_cell(rt->spec, rt->qaxis, &rt->cells[i]);
        fc[i] = rt->cells[i].fit;
    }
    if ((rc = dfit_fit_compute(&rt->spec->slo, fc, (int)nv, (int)nw, &rt->fit, err)))
        goto done;
    for (size_t w = 0; w < nw; w++)
        for (int a = 0; a < DFIT_COST_COUNT; a++) {
            for (size_t v = 0; v < nv; v++) {
                const struct dfit_fit_cell *f = &fc[v * nw + w];
                bool ok = f->present && f->status == DFIT_CELL_OK;
                q[v] = ok ? f->quality : NAN;
                cost[v] = !ok ? NAN : a == DFIT_COST_E2E ? f->p95_e2e_ms
                                    : a == DFIT_COST_MEMORY ? f->memory_mib : f->usd_per_mtok;
            }
            dfit_frontier_compute(q, cost, nv, on, dom);
            for (size_t v = 0; v < nv; v++) {
                dfit_report_cell_at(r, t, v, w)->frontier[a] = on[v];
                dfit_report_cell_at(r, t, v, w)->dominated_by[a] = dom[v];
            }
        }
done:
    free(fc);
    free(q);
    free(cost);
    free(on);
    free(dom);
    return rc;
}

/* ---- the whole run -------------------------------------------------------------------- */

/* Reads run run_id (0: the latest) in one read snapshot and applies the
 * rules to every target; full also reads the latency samples and computes
 * "Does it pay?". r is cleared by report_clear on any outcome. */
static int analyse(struct dfit_store *s, int64_t run_id, struct dfit_report *r, bool full,
                   struct dfit_err *err)
{
    sqlite3 *db = dfit_store_db(s);
    bool in_tx = false;
    int rc;
    if (run_id < 0)
        return dfit_err_set(err, DFIT_ENOTFOUND, "%s: no run %lld", r->db_path, (long long)run_id);
    if (sqlite3_get_autocommit(db)) { /* one snapshot for every read */
        if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
            return dfit_store_fail(s, err, "report: begin read");
        in_tx = true;
    }
    if ((rc = load_run(s, run_id, r, err)))
        goto done;
    if (!(r->targets = calloc(r->spec->n_targets ? r->spec->n_targets : 1, sizeof *r->targets))) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "report: out of memory");
        goto done;
    }
    if (full && (rc = resolve_costs(r, err)))
        goto done;
    for (size_t t = 0; t < r->spec->n_targets; t++) {
        if ((rc = analyse_target(s, r, t, full, err)))
            goto done;
        if (full)
            payoff_target(r, t);
    }
done:
    if (in_tx)
        sqlite3_exec(db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* ---- plots -------------------------------------------------------------------------- */

static int plot_target(struct dfit_plots *p, struct dfit_report *r, size_t t,
                       struct dfit_err *err)
{
    struct dfit_report_target *rt = &r->targets[t];
    size_t nv = r->spec->n_variants;
    struct dfit_plot_point *pts = calloc(nv ? nv : 1, sizeof *pts);
    struct dfit_plot_series *ser = calloc(nv ? nv : 1, sizeof *ser);
    int rc = 0;
    if (!pts || !ser) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "report: out of memory for plots");
        goto done;
    }
    const struct dfit_slo *slo = &rt->spec->slo;
    for (size_t w = 0; w < r->spec->n_workloads; w++) {
        char title[512];
        snprintf(title, sizeof title, "target %s, workload %s", rt->spec->name,
                 r->spec->workloads[w].name);
        for (int a = 0; a < DFIT_COST_COUNT; a++) {
            for (size_t v = 0; v < nv; v++) {
                const struct dfit_report_cell *c = dfit_report_cell_at(r, t, v, w);
                bool ok = c->fit.present && c->fit.status == DFIT_CELL_OK;
                pts[v] = (struct dfit_plot_point){
                    .quality = ok ? c->fit.quality : NAN, .quality_se = c->fit.quality_se,
                    .cost = !ok ? NAN : a == DFIT_COST_E2E ? c->fit.p95_e2e_ms
                          : a == DFIT_COST_MEMORY ? c->fit.memory_mib : c->fit.usd_per_mtok,
                    .on_frontier = c->frontier[a],
                    .recommended = rt->fit->recommended == (int)v,
                    .label = r->spec->variants[v].name};
            }
            struct dfit_plot_frontier f = {
                .target = (int)t, .workload = (int)w, .axis = (enum dfit_cost_axis)a,
                .quality = rt->qaxis, .title = title, .points = pts, .n_points = nv,
                .x_limit = a == DFIT_COST_E2E ? slo->p95_e2e_ms
                         : a == DFIT_COST_MEMORY ? slo->max_memory_mib : slo->max_usd_per_mtok,
                .y_limit = slo->min_quality};
            if ((rc = dfit_plots_add_frontier(p, &f, rt->front[w][a], err)))
                goto done;
        }
        for (int m = 0; m < 2; m++) {
            for (size_t v = 0; v < nv; v++) {
                const struct dfit_store_latencies *l = &dfit_report_cell_at(r, t, v, w)->lat;
                ser[v] = (struct dfit_plot_series){
                    .variant = (int)v, .label = r->spec->variants[v].name,
                    .values_ms = m == DFIT_CDF_E2E ? l->e2e_ms : l->ttft_ms, .n = l->n};
            }
            struct dfit_plot_cdf c = {
                .target = (int)t, .workload = (int)w, .metric = (enum dfit_cdf_metric)m,
                .series = ser, .n_series = nv,
                .x_limit = m == DFIT_CDF_E2E ? slo->p95_e2e_ms : slo->p95_ttft_ms};
            if ((rc = dfit_plots_add_cdf(p, &c, rt->cdf[w][m], err)))
                goto done;
        }
    }
done:
    free(pts);
    free(ser);
    return rc;
}

/* ---- writing ----------------------------------------------------------------------------- */

/* Writes dir/name through dir/name.tmp and a rename. */
static int write_file(const struct dfit_report *r, const char *name,
                      int (*fn)(const struct dfit_report *, FILE *), struct dfit_err *err)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    int n1 = snprintf(path, sizeof path, "%s/%s", r->dir, name);
    int n2 = snprintf(tmp, sizeof tmp, "%s/%s.tmp", r->dir, name);
    if (n1 < 0 || n2 < 0 || (size_t)n2 >= sizeof tmp)
        return dfit_err_set(err, DFIT_ERANGE, "%s: path too long", r->dir);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return dfit_err_set(err, DFIT_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    int bad = fn(r, f);
    bad |= ferror(f);
    bad |= fclose(f);
    if (bad) {
        int e = errno;
        remove(tmp);
        return dfit_err_set(err, DFIT_EIO, "%s: write failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return dfit_err_set(err, DFIT_EIO, "%s: cannot rename to %s: %s", tmp, name,
                            strerror(e));
    }
    return 0;
}

static void report_clear(struct dfit_report *r)
{
    for (size_t t = 0; r->targets && t < r->spec->n_targets; t++) {
        struct dfit_report_target *rt = &r->targets[t];
        for (size_t i = 0; rt->cells && i < r->spec->n_variants * r->spec->n_workloads; i++)
            dfit_store_latencies_clear(&rt->cells[i].lat);
        free(rt->cells);
        free(rt->front);
        free(rt->cdf);
        dfit_fit_free(rt->fit);
    }
    free(r->targets);
    dfit_store_task_rows_free(r->task_rows, r->n_task_rows);
    free(r->task_names);
    free(r->costs);
    free(r->costs_read_);
    dfit_store_cells_free(r->cells, r->n_cells);
    dfit_store_spec_free(r->spec);
    dfit_store_runs_free(r->run, r->run ? 1 : 0);
}

int dfit_report_write(struct dfit_store *s, int64_t run_id, const char *dir,
                      const struct dfit_report_options *opt, struct dfit_report_outcome *out,
                      struct dfit_err *err)
{
    struct dfit_report r = {.db_path = dfit_store_path(s), .dir = dir};
    struct dfit_plots *p = NULL;
    char plot_dir[PATH_MAX];
    int rc;
    if (out)
        memset(out, 0, sizeof *out);
    if ((rc = analyse(s, run_id, &r, true, err)))
        goto done;
    int n = snprintf(plot_dir, sizeof plot_dir, "%s/plots", dir);
    if (n < 0 || (size_t)n >= sizeof plot_dir) {
        rc = dfit_err_set(err, DFIT_ERANGE, "%s: path too long", dir);
        goto done;
    }
    if ((rc = dfit_plots_open(plot_dir, &p, err)))
        goto done;
    for (size_t t = 0; t < r.spec->n_targets; t++)
        if ((rc = plot_target(p, &r, t, err)))
            goto done;
    if ((rc = dfit_plots_render(p, &r.plots, err)) ||
        (rc = write_file(&r, "report.html", dfit_report_html, err)) ||
        (rc = write_file(&r, "report.md", dfit_report_md, err)))
        goto done;
    if (out) {
        out->run_id = r.run->id;
        out->plots = r.plots;
    }
    if ((r.plots.status == DFIT_PLOTS_NO_GNUPLOT || r.plots.status == DFIT_PLOTS_FAILED) &&
        !(opt && opt->quiet))
        fprintf(opt && opt->notes ? opt->notes : stderr, "dfit report: %s\n", r.plots.message);
done:
    dfit_plots_close(p);
    report_clear(&r);
    return rc;
}

/* ---- the recommendations alone ---------------------------------------------------------- */

static char *keep(char **at, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*at, s, n);
    char *r = *at;
    *at += n;
    return r;
}

int dfit_report_summary(struct dfit_store *s, int64_t run_id, struct dfit_report_summary **out,
                        struct dfit_err *err)
{
    struct dfit_report r = {.db_path = dfit_store_path(s)};
    struct dfit_report_summary *sum = NULL;
    *out = NULL;
    int rc = analyse(s, run_id, &r, false, err);
    if (rc)
        goto done;
    size_t nt = r.spec->n_targets, bytes = 0;
    if (!(sum = calloc(1, sizeof *sum)) ||
        !(sum->targets = calloc(nt ? nt : 1, sizeof *sum->targets)))
        goto nomem;
    for (size_t t = 0; t < nt; t++) {
        struct dfit_report_summary_target *st = &sum->targets[t];
        dfit_report_summarise(&r, t, st);
        const char *strs[] = {st->target, st->variant_name, st->skip_reason};
        for (int i = 0; i < 3; i++)
            bytes += strs[i] ? strlen(strs[i]) + 1 : 0;
    }
    char *at = sum->strings_ = malloc(bytes + 1);
    if (!at)
        goto nomem;
    for (size_t t = 0; t < nt; t++) {
        struct dfit_report_summary_target *st = &sum->targets[t];
        st->target = keep(&at, st->target);
        st->variant_name = keep(&at, st->variant_name);
        st->skip_reason = keep(&at, st->skip_reason);
    }
    sum->run_id = r.run->id;
    sum->n_targets = nt;
    *out = sum;
    sum = NULL;
    goto done;
nomem:
    rc = dfit_err_set(err, DFIT_ENOMEM, "report: out of memory");
done:
    dfit_report_summary_free(sum);
    report_clear(&r);
    return rc;
}

void dfit_report_summary_free(struct dfit_report_summary *sum)
{
    if (!sum)
        return;
    free(sum->targets);
    free(sum->strings_);
    free(sum);
}
