/* runner_report.c — the runner's last step: the report of the run
 * (report.h) next to the database, and on the terminal the recommendation
 * of each target and the report's path.
 *
 * The printed recommendation applies the rules of frontier.h to the stored
 * cells the way report.c fills them (quality axis: task accuracy when every
 * ok cell with quality has it, else top-1 agreement; p95s from the
 * summaries; memory from peak RSS, device memory off the CPU; USD per
 * million tokens from the target's price), so the line and the report
 * agree.
 * Non-goals: the report's content and files (report/).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "report/frontier.h"
#include "report/report.h"
#include "run/runner_impl.h"
#include "store/store_report.h"

/* printf to f with control characters of the result shown as '?'. */
static void say(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *f, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (const char *p = buf; *p; p++) {
        unsigned char c = (unsigned char)*p;
        fputc((c < 0x20 && c != '\n') || c == 0x7f ? '?' : c, f);
    }
}

static int variant_at(const struct dfit_store_spec *sp, const char *name)
{
    for (size_t i = 0; i < sp->n_variants; i++)
        if (sp->variants[i].name && strcmp(sp->variants[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int workload_at(const struct dfit_store_spec *sp, const char *name)
{
    for (size_t i = 0; i < sp->n_workloads; i++)
        if (sp->workloads[i].name && strcmp(sp->workloads[i].name, name) == 0)
            return (int)i;
    return -1;
}

static double mib(uint64_t bytes)
{
    return bytes ? (double)bytes / (1024.0 * 1024.0) : NAN;
}

static void fill(const struct dfit_target_spec *t, bool accuracy, const struct dfit_store_cell *c,
                 struct dfit_fit_cell *f)
{
    *f = (struct dfit_fit_cell){.quality = NAN, .quality_se = NAN, .p95_ttft_ms = NAN,
                                .p95_tpot_ms = NAN, .p95_e2e_ms = NAN, .tokens_per_s = NAN,
                                .memory_mib = NAN, .usd_per_mtok = NAN};
    if (!c)
        return;
    const struct dfit_cell_result *r = &c->r;
    f->present = true;
    f->status = r->status;
    f->valid = r->valid;
    if (r->status != DFIT_CELL_OK)
        return;
    if (r->quality.available && accuracy && r->quality.has_accuracy) {
        f->quality = r->quality.accuracy;
        f->quality_se = r->quality.accuracy_se;
    } else if (r->quality.available && !accuracy) {
        f->quality = r->quality.top1;
        f->quality_se = r->quality.top1_se;
    }
    f->p95_ttft_ms = r->ttft.n ? r->ttft.p95 / 1e6 : NAN;
    f->p95_tpot_ms = r->tpot.n ? r->tpot.p95 / 1e6 : NAN;
    f->p95_e2e_ms = r->e2e.n ? r->e2e.p95 / 1e6 : NAN;
    f->tokens_per_s = r->output_tokens_per_s;
    bool host = t->backend && strcmp(t->backend, "cpu") == 0;
    f->memory_mib = !host && r->device_peak_bytes ? mib(r->device_peak_bytes) : mib(r->peak_rss_bytes);
    if (isfinite(t->price_per_hour) && f->tokens_per_s > 0)
        f->usd_per_mtok = t->price_per_hour / 3600.0 / f->tokens_per_s * 1e6;
    else if (isfinite(t->price_per_hour))
        f->usd_per_mtok = r->usd_per_mtok;
}

/* One line for target t. */
static int print_target(FILE *out, const struct dfit_store_spec *sp, size_t t,
                        const struct dfit_store_cell *cells, size_t n_cells, struct dfit_err *err)
{
    const struct dfit_target_spec *ts = &sp->targets[t];
    const size_t nv = sp->n_variants, nw = sp->n_workloads;
    const struct dfit_store_cell **at = calloc(nv * nw + 1, sizeof *at);
    struct dfit_fit_cell *fc = calloc(nv * nw + 1, sizeof *fc);
    struct dfit_fit *fit = NULL;
    int rc = 0;
    if (!at || !fc) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "out of memory");
        goto done;
    }
    size_t n_here = 0, n_skipped = 0, n_q = 0, n_acc = 0;
    const char *skip_reason = "";
    for (size_t i = 0; i < n_cells; i++) {
        const struct dfit_store_cell *c = &cells[i];
        if (strcmp(c->target, ts->name) != 0)
            continue;
        int v = variant_at(sp, c->variant), w = workload_at(sp, c->workload);
        if (v < 0 || w < 0)
            continue;
        at[(size_t)v * nw + (size_t)w] = c;
        n_here++;
        if (c->r.status == DFIT_CELL_SKIPPED && !n_skipped++)
            skip_reason = c->r.reason;
        if (c->r.status == DFIT_CELL_OK && c->r.quality.available) {
            n_q++;
            n_acc += c->r.quality.has_accuracy;
        }
    }
    if (n_here == 0)
        goto done; /* not part of this invocation (--only-target) */
    if (n_skipped == n_here) {
        say(out, "  %s: skipped: %s\n", ts->name, skip_reason);
        goto done;
    }
    bool accuracy = n_q > 0 && n_acc == n_q;
    for (size_t i = 0; i < nv * nw; i++)
        fill(ts, accuracy, at[i], &fc[i]);
    if ((rc = dfit_fit_compute(&ts->slo, fc, (int)nv, (int)nw, &fit, err)))
        goto done;
    char a[32], b[32], c[32];
    if (fit->recommended >= 0) {
        const struct dfit_fit_variant *fv = &fit->variants[fit->recommended];
        say(out, "  %s: %s (meets every SLO; %s %s, p95 e2e %s ms, peak memory %s MiB)\n", ts->name,
            sp->variants[fit->recommended].name, n_q == 0 ? "quality" : accuracy ? "accuracy" : "top-1",
            dfit_frontier_fmt_value(fv->quality, a, sizeof a),
            dfit_frontier_fmt_value(fv->p95_e2e_ms, b, sizeof b),
            dfit_frontier_fmt_value(fv->memory_mib, c, sizeof c));
    } else if (fit->closest >= 0) {
        const struct dfit_fit_variant *fv = &fit->variants[fit->closest];
        char miss[160] = "";
        if (fv->n_misses > 0)
            dfit_slo_miss_text(&fv->misses[0], miss, sizeof miss);
        say(out, "  %s: no variant meets every SLO; closest: %s (%s%s%s)\n", ts->name,
            sp->variants[fit->closest].name, miss, fv->n_misses > 0 ? " on " : "",
            fv->n_misses > 0 ? sp->workloads[fv->misses[0].workload].name : "");
    } else {
        say(out, "  %s: no variant was measured on every workload\n", ts->name);
    }
done:
    dfit_fit_free(fit);
    free(at);
    free(fc);
    return rc;
}

static int print_recommendations(struct runner *r, FILE *out, struct dfit_err *err)
{
    struct dfit_store_spec *sp = NULL;
    struct dfit_store_cell *cells = NULL;
    size_t n = 0;
    int rc = dfit_store_load_spec(r->store, r->run_id, &sp, err);
    if (!rc)
        rc = dfit_store_load_cells(r->store, r->run_id, false, &cells, &n, err);
    if (!rc) {
        say(out, "recommendation per target (run %" PRId64 "):\n", r->run_id);
        for (size_t t = 0; t < sp->n_targets && !rc; t++)
            rc = print_target(out, sp, t, cells, n, err);
    }
    dfit_store_cells_free(cells, n);
    dfit_store_spec_free(sp);
    return rc;
}

int dfit_runner_write_report(struct runner *r, struct dfit_runner_result *res,
                             struct dfit_err *err)
{
    const bool quiet = r->opt->progress == DFIT_PROGRESS_QUIET;
    FILE *out = r->out;
    if (!quiet) {
        say(out, "cells: %d ok%s, %d failed, %d skipped\n", res->n_ok,
            res->n_already ? " (some from before the resume)" : "", res->n_failed, res->n_skipped);
        fflush(out);
    }
    const struct dfit_report_options ro = {.notes = stderr, .quiet = quiet};
    int rc = dfit_report_write(r->store, r->run_id, res->report_dir, &ro, NULL, err);
    if (rc)
        return rc;
    if (!quiet && (rc = print_recommendations(r, out, err)))
        return rc;
    say(out, "report: %s/report.html\n", res->report_dir);
    fflush(out);
    return 0;
}
