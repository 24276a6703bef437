/* report_text.c — the report's words, shared by the HTML and Markdown
 * writers: escaped text and markup output, number formats, and the
 * sentences that explain a target's recommendation and every other
 * variant's place (rules in frontier.h). Everything textual goes through
 * dfit_report_text, which escapes it for the format; only literal markup
 * goes through dfit_report_markup.
 * Non-goals: page layout (report_html.c, report_md.c), the rules.
 */
#include "report/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "report/escape.h"
#include "util/fmt.h"

/* ---- output -------------------------------------------------------------------------- */

void dfit_report_text(const struct dfit_report_out *o, const char *s)
{
    if (o->md)
        dfit_escape_md(o->f, s);
    else
        dfit_escape_html(o->f, s);
}

void dfit_report_textf(const struct dfit_report_out *o, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    dfit_report_text(o, buf);
}

void dfit_report_markup(const struct dfit_report_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(o->f, fmt, ap);
    va_end(ap);
}

void dfit_report_strong(const struct dfit_report_out *o, const char *s)
{
    dfit_report_markup(o, o->md ? "**" : "<strong>");
    dfit_report_text(o, s);
    dfit_report_markup(o, o->md ? "**" : "</strong>");
}

/* ---- numbers ------------------------------------------------------------------------------ */

char *dfit_report_num(double v, char *buf, size_t cap)
{
    return dfit_frontier_fmt_value(v, buf, cap);
}

char *dfit_report_ms(const struct dfit_summary *s, double ns, char *buf, size_t cap)
{
    return dfit_frontier_fmt_value(s && s->n == 0 ? NAN : ns / 1e6, buf, cap);
}

char *dfit_report_bytes(uint64_t v, char *buf, size_t cap)
{
    if (!v) {
        snprintf(buf, cap, "n/a");
        return buf;
    }
    return dfit_fmt_bytes(buf, cap, v);
}

/* ---- cells ----------------------------------------------------------------------------------- */

void dfit_report_put_status(const struct dfit_report_out *o, const struct dfit_report_cell *rc)
{
    if (!rc->c) {
        dfit_report_text(o, "not measured (no cell in the run)");
        return;
    }
    dfit_report_text(o, dfit_cell_status_name(rc->c->r.status));
    if (rc->c->r.status != DFIT_CELL_OK && rc->c->r.reason[0]) {
        dfit_report_text(o, ": ");
        dfit_report_text(o, rc->c->r.reason);
    }
}

void dfit_report_put_validity(const struct dfit_report_out *o, const struct dfit_report_cell *rc)
{
    if (!rc->c || rc->c->r.status != DFIT_CELL_OK)
        return;
    if (rc->c->r.valid) {
        dfit_report_text(o, "VALID");
        return;
    }
    dfit_report_text(o, "INVALID");
    if (rc->c->r.invalid_reasons[0]) {
        dfit_report_text(o, ": ");
        dfit_report_text(o, rc->c->r.invalid_reasons);
    }
}

void dfit_report_put_quality(const struct dfit_report_out *o, const struct dfit_report_cell *rc)
{
    char a[32], b[32];
    if (!rc->c || rc->c->r.status != DFIT_CELL_OK) {
        dfit_report_text(o, "-");
    } else if (!isnan(rc->fit.quality)) {
        snprintf(a, sizeof a, "%.4f", rc->fit.quality);
        if (isfinite(rc->fit.quality_se))
            dfit_report_textf(o, "%s ± %s", a, dfit_report_num(rc->fit.quality_se, b, sizeof b));
        else
            dfit_report_text(o, a);
    } else {
        const struct dfit_quality *q = &rc->c->r.quality;
        dfit_report_text(o, "n/a (");
        dfit_report_text(o, !q->available ? (q->reason[0] ? q->reason : "not measured")
                                          : "no value on this target's quality axis");
        dfit_report_text(o, ")");
    }
}

void dfit_report_put_derived(const struct dfit_report_out *o, double v, const char *why)
{
    char b[32];
    if (!isnan(v)) {
        dfit_report_text(o, dfit_report_num(v, b, sizeof b));
        return;
    }
    dfit_report_text(o, "n/a (");
    dfit_report_text(o, why ? why : "not measured");
    dfit_report_text(o, ")");
}

void dfit_report_put_task(const struct dfit_report_out *o, const struct dfit_task_accuracy *a)
{
    char b[32], se[32];
    if (!a) {
        dfit_report_text(o, "-");
    } else if (a->available) {
        snprintf(b, sizeof b, "%.4f", a->accuracy);
        dfit_report_textf(o, "%s ± %s (n %llu)", b, dfit_report_num(a->accuracy_se, se, sizeof se),
                          (unsigned long long)a->n_items);
    } else {
        dfit_report_text(o, "n/a (");
        dfit_report_text(o, a->reason[0] ? a->reason : "not measured");
        dfit_report_text(o, ")");
    }
}

void dfit_report_put_pooled(const struct dfit_report_out *o, const struct dfit_report *r, size_t t,
                            size_t v)
{
    char b[32], se[32];
    for (size_t w = 0; w < r->spec->n_workloads; w++) {
        const struct dfit_store_cell *c = dfit_report_cell_at(r, t, v, w)->c;
        if (c && c->r.quality.has_accuracy) {
            snprintf(b, sizeof b, "%.4f", c->r.quality.accuracy);
            dfit_report_textf(o, "%s ± %s", b, dfit_report_num(c->r.quality.accuracy_se, se, sizeof se));
            return;
        }
    }
    dfit_report_text(o, "-");
}

/* ---- the recommendation of a target -------------------------------------------------------- */

void dfit_report_summarise(const struct dfit_report *r, size_t t,
                           struct dfit_report_summary_target *o)
{
    const struct dfit_report_target *rt = &r->targets[t];
    const struct dfit_fit *f = rt->fit;
    memset(o, 0, sizeof *o);
    o->target = rt->spec->name;
    o->qaxis = rt->qaxis;
    o->variant = -1;
    o->quality = o->quality_se = o->p95_e2e_ms = o->memory_mib = o->usd_per_mtok = NAN;
    if (rt->n_cells == 0) {
        o->verdict = DFIT_VERDICT_NOT_RUN;
    } else if (rt->skipped) {
        o->verdict = DFIT_VERDICT_SKIPPED;
        o->skip_reason = rt->skip_reason ? rt->skip_reason : "";
    } else if (f->recommended >= 0) {
        o->verdict = DFIT_VERDICT_RECOMMENDED;
        o->variant = f->recommended;
    } else if (f->closest >= 0) {
        o->verdict = DFIT_VERDICT_CLOSEST;
        o->variant = f->closest;
    } else {
        o->verdict = DFIT_VERDICT_UNMEASURED;
    }
    if (o->variant < 0)
        return;
    const struct dfit_fit_variant *fv = &f->variants[o->variant];
    o->variant_name = r->spec->variants[o->variant].name;
    o->quality = fv->quality;
    o->quality_se = fv->quality_se;
    o->p95_e2e_ms = fv->p95_e2e_ms;
    o->memory_mib = fv->memory_mib;
    o->usd_per_mtok = fv->usd_per_mtok;
    o->invalid = fv->invalid;
    o->n_misses = fv->n_misses;
    const struct dfit_slo_miss *worst = NULL;
    for (int i = 0; i < fv->n_misses; i++)
        if (!worst || fv->misses[i].excess > worst->excess)
            worst = &fv->misses[i];
    if (worst) {
        char m[160];
        snprintf(o->miss, sizeof o->miss, "%s on workload %s", dfit_slo_miss_text(worst, m, sizeof m),
                 r->spec->workloads[worst->workload].name);
    }
}

char *dfit_report_summary_line(const struct dfit_report_summary_target *t, char *buf, size_t cap)
{
    char a[32], b[32], c[32];
    const char *what = t->qaxis == DFIT_QUALITY_ACCURACY ? "task accuracy"
                     : t->qaxis == DFIT_QUALITY_TOP1 ? "top-1 agreement" : "quality";
    switch (t->verdict) {
    case DFIT_VERDICT_RECOMMENDED:
        snprintf(buf, cap, "%s (meets every SLO; %s %s, p95 e2e %s ms, peak memory %s MiB%s)",
                 t->variant_name, what, dfit_frontier_fmt_value(t->quality, a, sizeof a),
                 dfit_frontier_fmt_value(t->p95_e2e_ms, b, sizeof b),
                 dfit_frontier_fmt_value(t->memory_mib, c, sizeof c),
                 t->invalid ? "; flagged: INVALID cells" : "");
        break;
    case DFIT_VERDICT_CLOSEST:
        snprintf(buf, cap, "no variant meets every SLO; closest: %s%s%s%s%s", t->variant_name,
                 t->miss[0] ? " (" : "", t->miss, t->n_misses > 1 ? ", and more" : "",
                 t->miss[0] ? ")" : "");
        break;
    case DFIT_VERDICT_UNMEASURED:
        snprintf(buf, cap, "no variant was measured on every workload");
        break;
    case DFIT_VERDICT_SKIPPED:
        snprintf(buf, cap, "skipped: %s", t->skip_reason && *t->skip_reason ? t->skip_reason
                                                                          : "no reason recorded");
        break;
    case DFIT_VERDICT_NOT_RUN:
    default:
        snprintf(buf, cap, "not measured in this run");
        break;
    }
    return buf;
}

/* ---- SLOs and verdicts ------------------------------------------------------------------------- */

void dfit_report_put_slos(const struct dfit_report_out *o, const struct dfit_report_target *t)
{
    bool any = false;
    for (int k = 0; k < DFIT_SLO_COUNT; k++) {
        double lim = dfit_slo_limit(&t->spec->slo, (enum dfit_slo_kind)k);
        if (isnan(lim))
            continue;
        char b[32];
        const char *unit = dfit_slo_unit((enum dfit_slo_kind)k);
        dfit_report_textf(o, "%s%s %s %s%s%s", any ? ", " : "", dfit_slo_name((enum dfit_slo_kind)k),
                          dfit_slo_is_min((enum dfit_slo_kind)k) ? "≥" : "≤",
                          dfit_report_num(lim, b, sizeof b), *unit ? " " : "", unit);
        any = true;
    }
    if (!any)
        dfit_report_text(o, "none (every measured variant qualifies)");
}

static const char *vname(const struct dfit_report *r, size_t v)
{
    return r->spec->variants[v].name;
}

/* "p95 TPOT 41.2 ms > 30 ms on workload chat; ..." */
static void put_misses(const struct dfit_report_out *o, const struct dfit_report *r,
                       const struct dfit_fit_variant *fv)
{
    for (int i = 0; i < fv->n_misses; i++) {
        char b[160];
        const struct dfit_slo_miss *m = &fv->misses[i];
        dfit_report_textf(o, "%s%s on workload ", i ? "; " : "",
                          dfit_slo_miss_text(m, b, sizeof b));
        dfit_report_text(o, r->spec->workloads[m->workload].name);
    }
}

/* Why variant v is not measured: each workload whose cell is not ok. */
static void put_unmeasured(const struct dfit_report_out *o, const struct dfit_report *r, size_t t,
                           size_t v)
{
    bool first = true;
    for (size_t w = 0; w < r->spec->n_workloads; w++) {
        const struct dfit_report_cell *c = dfit_report_cell_at(r, t, v, w);
        if (c->c && c->c->r.status == DFIT_CELL_OK)
            continue;
        dfit_report_text(o, first ? "workload " : "; workload ");
        dfit_report_text(o, r->spec->workloads[w].name);
        dfit_report_text(o, ": ");
        dfit_report_put_status(o, c);
        first = false;
    }
}

static void put_invalid_note(const struct dfit_report_out *o, const struct dfit_fit_variant *fv)
{
    if (fv->invalid)
        dfit_report_text(o, " Flagged: some of its cells are INVALID (see the validity column); "
                            "its figures may not be representative.");
}

/* "Of the other 3 variants, 1 misses an SLO, 1 was not measured on every
 * workload and 1 meets the SLOs with lower quality or at a higher cost." */
static void put_beaten(const struct dfit_report_out *o, const struct dfit_fit *f)
{
    int n[3] = {0, 0, 0}; /* misses, unmeasured, meets */
    for (int v = 0; v < f->n_variants; v++) {
        const struct dfit_fit_variant *x = &f->variants[v];
        if (v != f->recommended)
            n[!x->measured ? 1 : x->meets ? 2 : 0]++;
    }
    int total = n[0] + n[1] + n[2];
    if (total == 0)
        return;
    static const char *const what[3][2] = {
        {"misses an SLO", "miss an SLO"},
        {"was not measured on every workload", "were not measured on every workload"},
        {"meets the SLOs with lower quality or at a higher cost",
         "meet the SLOs with lower quality or at a higher cost"}};
    dfit_report_textf(o, " Of the other %d variant%s, ", total, total == 1 ? "" : "s");
    int shown = 0, parts = (n[0] > 0) + (n[1] > 0) + (n[2] > 0);
    for (int k = 0; k < 3; k++) {
        if (!n[k])
            continue;
        shown++;
        dfit_report_textf(o, "%s%d %s", shown == 1 ? "" : shown == parts ? " and " : ", ", n[k],
                          what[k][n[k] != 1]);
    }
    dfit_report_text(o, " (each one's reason is below).");
}

void dfit_report_put_verdict(const struct dfit_report_out *o, const struct dfit_report *r, size_t t)
{
    const struct dfit_report_target *rt = &r->targets[t];
    const struct dfit_fit *f = rt->fit;
    char b[32], se[32];
    if (rt->skipped) {
        dfit_report_text(o, "Target skipped: ");
        dfit_report_text(o, rt->skip_reason && *rt->skip_reason ? rt->skip_reason
                                                                 : "no reason recorded");
        dfit_report_text(o, ". No variant was measured on it, so there is no recommendation.");
        return;
    }
    if (rt->n_cells == 0) {
        dfit_report_text(o, "This run measured no cell on this target (it was left out of the "
                            "run, or the run stopped before reaching it), so there is no "
                            "recommendation.");
        return;
    }
    if (f->recommended < 0) {
        dfit_report_strong(o, "No variant meets every SLO of this target.");
        if (f->closest < 0) {
            dfit_report_text(o, " No variant was measured on every workload.");
            return;
        }
        const struct dfit_fit_variant *fv = &f->variants[f->closest];
        dfit_report_text(o, " Closest: ");
        dfit_report_strong(o, vname(r, (size_t)f->closest));
        dfit_report_text(o, ", which misses by the least: ");
        put_misses(o, r, fv);
        dfit_report_text(o, ".");
        put_invalid_note(o, fv);
        return;
    }
    size_t rec = (size_t)f->recommended;
    const struct dfit_fit_variant *fv = &f->variants[rec];
    int n_meet = 0, n_tied = 0;
    for (int v = 0; v < f->n_variants; v++) {
        n_meet += f->variants[v].meets;
        n_tied += v != (int)rec && f->variants[v].meets &&
                  (f->variants[v].quality == fv->quality ||
                   (isnan(f->variants[v].quality) && isnan(fv->quality)));
    }
    bool any_slo = false;
    for (int k = 0; k < DFIT_SLO_COUNT; k++)
        any_slo |= !isnan(dfit_slo_limit(&rt->spec->slo, (enum dfit_slo_kind)k));
    dfit_report_text(o, "Recommended: ");
    dfit_report_strong(o, vname(r, rec));
    if (any_slo) {
        dfit_report_text(o, ". It meets every SLO on every workload (");
        dfit_report_put_slos(o, rt);
        dfit_report_text(o, ")");
    } else {
        dfit_report_text(o, ". The target sets no SLOs, so every variant measured on every "
                            "workload qualifies; it");
    }
    if (n_meet == 1)
        dfit_report_text(o, any_slo ? " and is the only variant that does" : " is the only one");
    else if (isnan(fv->quality))
        dfit_report_textf(o, "%s no quality was measured, so it is the cheapest of the %d "
                          "variants that qualify", any_slo ? ";" : ":", n_meet);
    else
        dfit_report_textf(o, "%s has the highest %s of the %d variants that qualify",
                          any_slo ? " and" : "", dfit_quality_axis_name(rt->qaxis), n_meet);
    if (!isnan(fv->quality))
        dfit_report_textf(o, n_meet == 1 ? "; its %s is %s%s%s (the lowest over its workloads)"
                                         : ":%.0s %s%s%s (the lowest over its workloads)",
                          dfit_quality_axis_name(rt->qaxis),
                          dfit_report_num(fv->quality, b, sizeof b),
                          isfinite(fv->quality_se) ? " ± " : "",
                          isfinite(fv->quality_se) ? dfit_report_num(fv->quality_se, se, sizeof se)
                                                   : "");
    dfit_report_text(o, ".");
    if (n_tied)
        dfit_report_textf(o, " %d other variant%s tied on quality; the tie went to the cheaper "
                          "(lower USD/Mtok, then p95 e2e, then memory).", n_tied,
                          n_tied == 1 ? "" : "s");
    put_beaten(o, f);
    put_invalid_note(o, fv);
}

void dfit_report_put_why(const struct dfit_report_out *o, const struct dfit_report *r, size_t t,
                         size_t v)
{
    const struct dfit_fit *f = r->targets[t].fit;
    const struct dfit_fit_variant *fv = &f->variants[v];
    char a[32], b[32];
    if ((int)v == f->recommended) {
        dfit_report_text(o, "recommended");
    } else if (!fv->measured) {
        dfit_report_text(o, "not measured on every workload: ");
        put_unmeasured(o, r, t, v);
    } else if (!fv->meets) {
        dfit_report_text(o, (int)v == f->closest ? "closest to the SLOs; misses " : "misses ");
        put_misses(o, r, fv);
    } else if (fv->dominated_by >= 0) {
        dfit_report_text(o, "meets every SLO but is dominated by ");
        dfit_report_text(o, vname(r, (size_t)fv->dominated_by));
        dfit_report_text(o, " (quality at least as high, no cost higher)");
    } else if (f->recommended >= 0) {
        const struct dfit_fit_variant *rv = &f->variants[f->recommended];
        if (!isnan(fv->quality) && !isnan(rv->quality) && fv->quality < rv->quality) {
            dfit_report_textf(o, "meets every SLO; lower quality than %s (%s vs %s)",
                              vname(r, (size_t)f->recommended),
                              dfit_report_num(fv->quality, a, sizeof a),
                              dfit_report_num(rv->quality, b, sizeof b));
        } else if (isnan(fv->quality) && !isnan(rv->quality)) {
            dfit_report_text(o, "meets every SLO; its quality was not measured");
        } else {
            dfit_report_text(o, "meets every SLO; same quality as ");
            dfit_report_text(o, vname(r, (size_t)f->recommended));
            dfit_report_text(o, " but costs more (USD/Mtok, then p95 e2e, then memory)");
        }
    }
    if (fv->measured && fv->dominated_by >= 0 && !fv->meets) {
        dfit_report_text(o, "; also dominated by ");
        dfit_report_text(o, vname(r, (size_t)fv->dominated_by));
    }
    if (fv->invalid)
        dfit_report_text(o, " [INVALID cells]");
}
