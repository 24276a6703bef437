/* payoff.c — theory, measured speed-ups and the verdict of "Does it pay?"
 * (rules in payoff.h and docs/report.md).
 * Non-goal: formatting tables (report_html.c, report_md.c).
 */
#include "report/payoff.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *dfit_payoff_verdict_name(enum dfit_payoff_verdict v)
{
    switch (v) {
    case DFIT_PAYOFF_REFERENCE: return "reference";
    case DFIT_PAYOFF_PAYS: return "pays";
    case DFIT_PAYOFF_PARTLY: return "partly";
    case DFIT_PAYOFF_NO: return "does not pay";
    case DFIT_PAYOFF_NA: break;
    }
    return "n/a";
}

char *dfit_payoff_fmt_ratio(double v, char *buf, size_t cap)
{
    if (!isfinite(v))
        snprintf(buf, cap, "n/a");
    else if (v >= 9.95)
        snprintf(buf, cap, "%.0f×", v);
    else if (v >= 0.995)
        snprintf(buf, cap, "%.1f×", v);
    else
        snprintf(buf, cap, "%.2f×", v);
    return buf;
}

/* a / b, NAN unless both are positive and finite. */
static double ratio(double a, double b)
{
    return isfinite(a) && isfinite(b) && a > 0 && b > 0 ? a / b : NAN;
}

/* Appends to the verdict text. */
__attribute__((format(printf, 2, 3))) static void put(struct dfit_payoff *o, const char *fmt, ...)
{
    size_t n = strlen(o->text);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->text + n, sizeof o->text - n, fmt, ap);
    va_end(ap);
}

/* "decode 3.3× faster" / "decode 0.80× (slower)". */
static void put_speed(struct dfit_payoff *o, const char *phase, double m)
{
    char b[32];
    put(o, "%s %s%s", phase, dfit_payoff_fmt_ratio(m, b, sizeof b),
        !isfinite(m) ? "" : m >= 1.0 ? " faster" : " (slower)");
}

/* "file 3.6× smaller" / "file same size" / "file 2.0× larger". */
static void put_file(struct dfit_payoff *o, double f)
{
    char b[32];
    if (!isfinite(f))
        put(o, "file size unknown");
    else if (f >= 1.05)
        put(o, "file %s smaller", dfit_payoff_fmt_ratio(f, b, sizeof b));
    else if (f <= 1.0 / 1.05)
        put(o, "file %s larger", dfit_payoff_fmt_ratio(1.0 / f, b, sizeof b));
    else
        put(o, "file same size");
}

static bool sparse_pattern(const struct dfit_token_cost *c)
{
    return strcmp(c->prune_pattern, "unstructured") == 0 || strcmp(c->prune_pattern, "2:4") == 0;
}

/* For unstructured and 2:4 variants whose zeros a sparse kernel could skip
 * for a worthwhile gain: says so. Returns whether it did. */
static bool put_sparse(const struct dfit_payoff_side *var, struct dfit_payoff *o)
{
    char b[32];
    if (!sparse_pattern(var->cost) ||
        !(o->prefill_theory_sparse >= DFIT_PAYOFF_PROMISE * o->prefill_theory))
        return false;
    put(o, "; its %s zeros are stored dense and multiplied by dense kernels (prefill %s in "
           "theory with a sparse kernel)", var->cost->prune_pattern,
        dfit_payoff_fmt_ratio(o->prefill_theory_sparse, b, sizeof b));
    return true;
}

/* ln(m) / ln(t): the share of a promised speed-up t > 1 that m reached. */
static double share(double m, double t)
{
    return m > 0 ? log(m) / log(t) : -INFINITY;
}

static void judge(const struct dfit_payoff_side *var, struct dfit_payoff *o)
{
    char b2[32];
    const double th[2] = {o->decode_theory, o->prefill_theory};
    const double ms[2] = {o->decode_measured, o->prefill_measured};
    static const char *const names[2] = {"decode", "prefill"};
    bool promised[2], any = false;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < 2; i++) {
        promised[i] = isfinite(th[i]) && th[i] >= DFIT_PAYOFF_PROMISE;
        any |= promised[i];
        if (!promised[i])
            continue;
        if (!isfinite(ms[i])) {
            o->verdict = DFIT_PAYOFF_NA;
            put(o, "n/a: %s not measured against the reference", names[i]);
            return;
        }
        double s = share(ms[i], th[i]);
        lo = s < lo ? s : lo;
        hi = s > hi ? s : hi;
    }
    if (!any) {
        o->verdict = DFIT_PAYOFF_NO;
        put(o, "does not pay: ");
        put_file(o, o->file_ratio);
        put(o, ", ");
        put_speed(o, isfinite(ms[0]) ? "decode" : "prefill", isfinite(ms[0]) ? ms[0] : ms[1]);
        if (put_sparse(var, o))
            return;
        if ((isfinite(th[0]) && th[0] > 1.005) || th[1] > 1.005) { /* two decimals: 1.15 < 1.2 */
            put(o, "; theory promises under %.1f× (", DFIT_PAYOFF_PROMISE);
            if (isfinite(th[0]))
                put(o, "decode %.2f×, ", th[0]);
            put(o, "prefill %.2f×)", th[1]);
        } else
            put(o, "; it reads no fewer bytes and needs no fewer FLOPs per token");
        return;
    }
    /* a phase that promises nothing but got clearly slower */
    int slow = -1;
    for (int i = 0; i < 2 && slow < 0; i++)
        if (!promised[i] && isfinite(ms[i]) && isfinite(th[i]) &&
            ms[i] < DFIT_PAYOFF_REGRESSION * (th[i] < 1.0 ? th[i] : 1.0))
            slow = i;
    if (lo >= DFIT_PAYOFF_PAYS_SHARE && slow < 0) {
        o->verdict = DFIT_PAYOFF_PAYS;
        put(o, "pays: ");
    } else if (hi >= DFIT_PAYOFF_PARTLY_SHARE) {
        o->verdict = DFIT_PAYOFF_PARTLY;
        put(o, "partly: ");
    } else {
        o->verdict = DFIT_PAYOFF_NO;
        put(o, "does not pay: ");
        put_file(o, o->file_ratio);
        put(o, ", ");
    }
    bool first = true;
    for (int i = 0; i < 2; i++) {
        if (!promised[i])
            continue;
        put(o, "%s", first ? "" : ", ");
        put_speed(o, names[i], ms[i]);
        put(o, " (%s in theory)", dfit_payoff_fmt_ratio(th[i], b2, sizeof b2));
        first = false;
    }
    if (slow >= 0) {
        put(o, ", but ");
        put_speed(o, names[slow], ms[slow]);
    }
    put_sparse(var, o);
}

void dfit_payoff_compute(const struct dfit_payoff_side *ref, const struct dfit_payoff_side *var,
                         const struct dfit_payoff_workload *w, bool is_reference,
                         struct dfit_payoff *out)
{
    memset(out, 0, sizeof *out);
    out->file_ratio = ratio((double)ref->file_bytes, (double)var->file_bytes);
    out->decode_theory = out->prefill_theory = out->prefill_theory_sparse = NAN;
    out->decode_measured = ratio(var->decode_tokens_per_s, ref->decode_tokens_per_s);
    out->prefill_measured = ratio(var->prefill_tokens_per_s, ref->prefill_tokens_per_s);
    if (ref->cost && var->cost && w->output_tokens > 1) {
        /* the first output token comes from the prefill; output - 1 are
         * decoded one step each after the prompt */
        double ctx = dfit_token_cost_mean_ctx(w->prompt_tokens, w->output_tokens - 1);
        out->decode_theory =
            ratio(dfit_token_cost_decode_bytes(ref->cost, ctx, w->batch, w->kv_value_bytes),
                  dfit_token_cost_decode_bytes(var->cost, ctx, w->batch, w->kv_value_bytes));
    }
    if (ref->cost && var->cost) {
        double ref_flops = dfit_token_cost_prefill_flops(ref->cost, w->prompt_tokens, false);
        out->prefill_theory =
            ratio(ref_flops, dfit_token_cost_prefill_flops(var->cost, w->prompt_tokens, false));
        out->prefill_theory_sparse =
            ratio(ref_flops, dfit_token_cost_prefill_flops(var->cost, w->prompt_tokens, true));
    }
    if (is_reference) {
        out->verdict = DFIT_PAYOFF_REFERENCE;
        put(out, "reference");
        return;
    }
    if (!ref->cost || !var->cost) {
        out->verdict = DFIT_PAYOFF_NA;
        put(out, "n/a: no per-token cost recorded for %s",
            ref->cost ? "this variant" : var->cost ? "the reference" : "either variant");
        return;
    }
    judge(var, out);
}
