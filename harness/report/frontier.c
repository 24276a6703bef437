/* frontier.c — Pareto frontiers and the SLO-aware recommendation (rules in
 * frontier.h and docs/report.md). Pure functions on small arrays: the
 * quadratic loops are over variants, which number in the tens.
 * Non-goals: reading the store, choosing the quality axis, any output.
 */
#include "report/frontier.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *dfit_quality_axis_name(enum dfit_quality_axis a)
{
    switch (a) {
    case DFIT_QUALITY_ACCURACY: return "task accuracy";
    case DFIT_QUALITY_TOP1: return "top-1 agreement with the reference";
    default: return "none";
    }
}

const char *dfit_quality_axis_key(enum dfit_quality_axis a)
{
    switch (a) {
    case DFIT_QUALITY_ACCURACY: return "accuracy";
    case DFIT_QUALITY_TOP1: return "top1";
    default: return "none";
    }
}

static const char *const cost_keys[DFIT_COST_COUNT] = {"e2e", "mem", "usd"};
static const char *const cost_labels[DFIT_COST_COUNT] = {
    "p95 end-to-end latency (ms)", "peak memory (MiB)", "USD per million output tokens"};

const char *dfit_cost_axis_key(enum dfit_cost_axis a)
{
    return (unsigned)a < DFIT_COST_COUNT ? cost_keys[a] : "?";
}

const char *dfit_cost_axis_label(enum dfit_cost_axis a)
{
    return (unsigned)a < DFIT_COST_COUNT ? cost_labels[a] : "?";
}

/* ---- the frontier ------------------------------------------------------------ */

static bool dominates(double qj, double cj, double qi, double ci)
{
    return qj >= qi && cj <= ci && (qj > qi || cj < ci);
}

size_t dfit_frontier_compute(const double *quality, const double *cost, size_t n,
                             bool *on_frontier, int *dominated_by)
{
    size_t n_front = 0;
    for (size_t i = 0; i < n; i++) {
        bool known = !isnan(quality[i]) && !isnan(cost[i]);
        on_frontier[i] = known;
        for (size_t j = 0; known && j < n; j++)
            if (j != i && !isnan(quality[j]) && !isnan(cost[j]) &&
                dominates(quality[j], cost[j], quality[i], cost[i])) {
                on_frontier[i] = false;
                break;
            }
        n_front += on_frontier[i];
    }
    for (size_t i = 0; dominated_by && i < n; i++) {
        dominated_by[i] = -1;
        if (on_frontier[i] || isnan(quality[i]) || isnan(cost[i]))
            continue;
        for (size_t j = 0; j < n; j++) {
            if (!on_frontier[j] || !dominates(quality[j], cost[j], quality[i], cost[i]))
                continue;
            int b = dominated_by[i];
            if (b < 0 || cost[j] < cost[b] || (cost[j] == cost[b] && quality[j] > quality[b]))
                dominated_by[i] = (int)j;
        }
    }
    return n_front;
}

/* ---- SLOs ---------------------------------------------------------------------- */

static const char *const slo_names[DFIT_SLO_COUNT] = {
    "p95 TTFT", "p95 TPOT", "p95 e2e", "output tokens/s", "peak memory", "USD/Mtok", "quality"};
static const char *const slo_units[DFIT_SLO_COUNT] = {"ms", "ms", "ms", "tok/s", "MiB", "USD", ""};
static const char *const slo_keys[DFIT_SLO_COUNT] = {
    "p95_ttft_ms", "p95_tpot_ms", "p95_e2e_ms", "min_tokens_per_s",
    "max_memory_mib", "max_usd_per_mtok", "min_quality"};

const char *dfit_slo_name(enum dfit_slo_kind k)
{
    return (unsigned)k < DFIT_SLO_COUNT ? slo_names[k] : "?";
}

const char *dfit_slo_unit(enum dfit_slo_kind k)
{
    return (unsigned)k < DFIT_SLO_COUNT ? slo_units[k] : "";
}

const char *dfit_slo_key(enum dfit_slo_kind k)
{
    return (unsigned)k < DFIT_SLO_COUNT ? slo_keys[k] : "?";
}

double dfit_slo_limit(const struct dfit_slo *slo, enum dfit_slo_kind k)
{
    switch (k) {
    case DFIT_SLO_P95_TTFT: return slo->p95_ttft_ms;
    case DFIT_SLO_P95_TPOT: return slo->p95_tpot_ms;
    case DFIT_SLO_P95_E2E: return slo->p95_e2e_ms;
    case DFIT_SLO_MIN_TOKENS_PER_S: return slo->min_tokens_per_s;
    case DFIT_SLO_MAX_MEMORY: return slo->max_memory_mib;
    case DFIT_SLO_MAX_USD: return slo->max_usd_per_mtok;
    case DFIT_SLO_MIN_QUALITY: return slo->min_quality;
    default: return NAN;
    }
}

bool dfit_slo_is_min(enum dfit_slo_kind k)
{
    return k == DFIT_SLO_MIN_TOKENS_PER_S || k == DFIT_SLO_MIN_QUALITY;
}

static double cell_value(const struct dfit_fit_cell *c, enum dfit_slo_kind k)
{
    switch (k) {
    case DFIT_SLO_P95_TTFT: return c->p95_ttft_ms;
    case DFIT_SLO_P95_TPOT: return c->p95_tpot_ms;
    case DFIT_SLO_P95_E2E: return c->p95_e2e_ms;
    case DFIT_SLO_MIN_TOKENS_PER_S: return c->tokens_per_s;
    case DFIT_SLO_MAX_MEMORY: return c->memory_mib;
    case DFIT_SLO_MAX_USD: return c->usd_per_mtok;
    case DFIT_SLO_MIN_QUALITY: return c->quality;
    default: return NAN;
    }
}

/* How far v is past the limit, relative to it (absolute for a zero limit);
 * <= 0 when the SLO holds; INFINITY when v is unknown. */
static double excess(enum dfit_slo_kind k, double v, double limit)
{
    if (isnan(v))
        return INFINITY;
    double over = dfit_slo_is_min(k) ? limit - v : v - limit;
    return limit != 0 ? over / fabs(limit) : over;
}

/* ---- the recommendation -------------------------------------------------------- */

/* -1 when a is better (lower), 1 when b is, 0 when equal; NAN is worse
 * than any number and equal to NAN. */
static int cmp_low(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) - isnan(b);
    return (a > b) - (a < b);
}

/* The preference order of frontier.h on variants ia and ib of v: < 0 when
 * ia comes first. */
static int cmp_pref(const struct dfit_fit_variant *v, int ia, int ib)
{
    const struct dfit_fit_variant *a = &v[ia], *b = &v[ib];
    int c;
    if (a->measured != b->measured)
        return a->measured ? -1 : 1;
    if ((c = cmp_low(-a->quality, -b->quality)) ||
        (c = cmp_low(a->usd_per_mtok, b->usd_per_mtok)) ||
        (c = cmp_low(a->p95_e2e_ms, b->p95_e2e_ms)) ||
        (c = cmp_low(a->memory_mib, b->memory_mib)))
        return c;
    return (ia > ib) - (ia < ib);
}

/* Insertion sort of order[0..n) by cmp_pref (n is the number of variants). */
static void sort_pref(const struct dfit_fit_variant *v, int *order, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        int x = order[i];
        size_t j = i;
        for (; j > 0 && cmp_pref(v, order[j - 1], x) > 0; j--)
            order[j] = order[j - 1];
        order[j] = x;
    }
}

/* The cost comparison of the dominance rule on one axis: -1 j better, 0
 * equal, 1 j worse, 2 incomparable. */
static int cost_cmp(double j, double i)
{
    if (isnan(j) || isnan(i))
        return isnan(j) && isnan(i) ? 0 : 2;
    return (j > i) - (j < i);
}

static bool variant_dominates(const struct dfit_fit_variant *j, const struct dfit_fit_variant *i)
{
    if (!j->measured || !i->measured || isnan(j->quality) || isnan(i->quality) ||
        j->quality < i->quality)
        return false;
    bool strict = j->quality > i->quality;
    const double cj[3] = {j->usd_per_mtok, j->p95_e2e_ms, j->memory_mib};
    const double ci[3] = {i->usd_per_mtok, i->p95_e2e_ms, i->memory_mib};
    for (int a = 0; a < 3; a++) {
        int c = cost_cmp(cj[a], ci[a]);
        if (c > 0)
            return false;
        strict |= c < 0;
    }
    return strict;
}

static double max_or_nan(double acc, double v)
{
    return isnan(acc) || isnan(v) ? NAN : (v > acc ? v : acc);
}

/* Fills v from its cells and appends its misses at *next. */
static void judge_variant(const struct dfit_slo *slo, const struct dfit_fit_cell *cells,
                          int n_workloads, struct dfit_fit_variant *v,
                          struct dfit_slo_miss **next)
{
    v->measured = true;
    v->misses = *next;
    for (int w = 0; w < n_workloads; w++) {
        const struct dfit_fit_cell *c = &cells[w];
        if (!c->present || c->status != DFIT_CELL_OK)
            v->measured = false;
        else if (!c->valid)
            v->invalid = true;
    }
    v->quality = v->quality_se = v->usd_per_mtok = v->p95_e2e_ms = v->memory_mib = NAN;
    v->dominated_by = -1;
    if (!v->measured || n_workloads == 0) {
        v->measured = v->measured && n_workloads > 0;
        v->miss = INFINITY;
        return;
    }
    v->quality = cells[0].quality;
    v->quality_se = cells[0].quality_se;
    v->usd_per_mtok = cells[0].usd_per_mtok;
    v->p95_e2e_ms = cells[0].p95_e2e_ms;
    v->memory_mib = cells[0].memory_mib;
    for (int w = 0; w < n_workloads; w++) {
        const struct dfit_fit_cell *c = &cells[w];
        if (w > 0) {
            if (isnan(c->quality) || isnan(v->quality))
                v->quality = v->quality_se = NAN;
            else if (c->quality < v->quality)
                v->quality = c->quality, v->quality_se = c->quality_se;
            v->usd_per_mtok = max_or_nan(v->usd_per_mtok, c->usd_per_mtok);
            v->p95_e2e_ms = max_or_nan(v->p95_e2e_ms, c->p95_e2e_ms);
            v->memory_mib = max_or_nan(v->memory_mib, c->memory_mib);
        }
        for (int k = 0; k < DFIT_SLO_COUNT; k++) {
            double limit = dfit_slo_limit(slo, (enum dfit_slo_kind)k);
            if (isnan(limit))
                continue;
            double value = cell_value(c, (enum dfit_slo_kind)k);
            double e = excess((enum dfit_slo_kind)k, value, limit);
            if (e <= 0)
                continue;
            **next = (struct dfit_slo_miss){.kind = (enum dfit_slo_kind)k, .workload = w,
                                            .measured = value, .limit = limit, .excess = e};
            (*next)++;
            v->n_misses++;
            if (e > v->miss)
                v->miss = e;
        }
    }
    v->meets = v->n_misses == 0;
}

int dfit_fit_compute(const struct dfit_slo *slo, const struct dfit_fit_cell *cells,
                     int n_variants, int n_workloads, struct dfit_fit **out,
                     struct dfit_err *err)
{
    *out = NULL;
    if (n_variants < 0 || n_workloads < 0 || (!cells && n_variants && n_workloads) || !slo)
        return dfit_err_set(err, DFIT_EINVAL, "fit: bad arguments (%d variants, %d workloads)",
                            n_variants, n_workloads);
    size_t nv = (size_t)n_variants, nw = (size_t)n_workloads;
    struct dfit_fit *f = calloc(1, sizeof *f);
    int *order = NULL;
    if (!f)
        goto oom;
    f->n_variants = n_variants;
    f->n_workloads = n_workloads;
    f->recommended = f->closest = -1;
    f->variants = calloc(nv ? nv : 1, sizeof *f->variants);
    f->misses_ = calloc(nv * nw * DFIT_SLO_COUNT + 1, sizeof *f->misses_);
    order = calloc(nv ? nv : 1, sizeof *order);
    if (!f->variants || !f->misses_ || !order)
        goto oom;

    struct dfit_slo_miss *next = f->misses_;
    for (size_t v = 0; v < nv; v++) {
        judge_variant(slo, &cells[v * nw], n_workloads, &f->variants[v], &next);
        order[v] = (int)v;
    }
    sort_pref(f->variants, order, nv);
    for (size_t r = 0; r < nv; r++) {
        struct dfit_fit_variant *v = &f->variants[order[r]];
        v->rank = (int)r;
        if (f->recommended < 0 && v->meets)
            f->recommended = order[r];
    }
    for (size_t r = 0; f->recommended < 0 && r < nv; r++) {
        const struct dfit_fit_variant *v = &f->variants[order[r]];
        if (!v->measured)
            continue;
        const struct dfit_fit_variant *c = f->closest < 0 ? NULL : &f->variants[f->closest];
        if (!c || v->miss < c->miss || (v->miss == c->miss && v->n_misses < c->n_misses))
            f->closest = order[r];
    }
    for (size_t i = 0; i < nv; i++)
        for (size_t r = 0; r < nv; r++) {
            size_t j = (size_t)order[r];
            if (j != i && variant_dominates(&f->variants[j], &f->variants[i])) {
                f->variants[i].dominated_by = (int)j;
                break;
            }
        }
    free(order);
    *out = f;
    return 0;
oom:
    free(order);
    dfit_fit_free(f);
    return dfit_err_set(err, DFIT_ENOMEM, "fit: out of memory for %d variants x %d workloads",
                        n_variants, n_workloads);
}

void dfit_fit_free(struct dfit_fit *f)
{
    if (!f)
        return;
    free(f->variants);
    free(f->misses_);
    free(f);
}

/* ---- text ------------------------------------------------------------------------ */

char *dfit_frontier_fmt_value(double v, char *buf, size_t cap)
{
    double a = fabs(v);
    if (isnan(v)) {
        snprintf(buf, cap, "n/a");
        return buf;
    }
    if (isinf(v) || a >= 1e12 || (a < 1e-4 && a > 0)) {
        snprintf(buf, cap, "%.3g", v);
        return buf;
    }
    /* three significant digits, trailing zeros dropped */
    int decimals = a > 0 ? 2 - (int)floor(log10(a)) : 0;
    if (decimals < 0)
        decimals = 0;
    snprintf(buf, cap, "%.*f", decimals, v);
    if (strchr(buf, '.')) {
        size_t n = strlen(buf);
        while (n > 0 && buf[n - 1] == '0')
            buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '.')
            buf[--n] = '\0';
    }
    return buf;
}

char *dfit_slo_miss_text(const struct dfit_slo_miss *m, char *buf, size_t cap)
{
    char mv[32], lv[32];
    const char *unit = dfit_slo_unit(m->kind);
    const char *sp = *unit ? " " : "";
    dfit_frontier_fmt_value(m->limit, lv, sizeof lv);
    if (isnan(m->measured))
        snprintf(buf, cap, "%s not measured (limit %s%s%s)", dfit_slo_name(m->kind), lv, sp, unit);
    else
        snprintf(buf, cap, "%s %s%s%s %s %s%s%s", dfit_slo_name(m->kind),
                 dfit_frontier_fmt_value(m->measured, mv, sizeof mv), sp, unit,
                 dfit_slo_is_min(m->kind) ? "<" : ">", lv, sp, unit);
    return buf;
}
