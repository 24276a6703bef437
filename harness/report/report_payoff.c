/* report_payoff.c — the "Does it pay?" table of a target in both formats:
 * per variant and workload, what the variant is (weight type, pruning),
 * its file size, the theoretical decode and prefill speed-ups against the
 * reference (payoff.h), the measured ones, and the verdict; in HTML each
 * row also gets a small bar chart (plain positioned boxes, no SVG) of
 * theory against measurement on a log scale. Numbers and fixed words
 * only, apart from names, which go through dfit_report_text.
 * Non-goals: computing anything (report.c and payoff.c do), plots files.
 */
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Chart geometry: ratios from 1/4x to 16x on a log2 axis. */
#define CHART_W 180.0
#define CHART_LO (-2.0)
#define CHART_HI 4.0

static const char *ratio(double v, char *b, size_t cap)
{
    return dfit_payoff_fmt_ratio(v, b, cap);
}

/* "2:4, 50 %", "ffn, 25 %", "none" */
static const char *pruned(const struct dfit_token_cost *c, char *b, size_t cap)
{
    if (!c)
        snprintf(b, cap, "?");
    else if (!c->prune_pattern[0])
        snprintf(b, cap, "none");
    else if (isfinite(c->prune_sparsity))
        snprintf(b, cap, "%s, %.0f %%", c->prune_pattern, 100.0 * c->prune_sparsity);
    else
        snprintf(b, cap, "%s", c->prune_pattern);
    return b;
}

static bool target_measured(const struct dfit_report *r, size_t t)
{
    const struct dfit_report_target *rt = &r->targets[t];
    return rt->n_cells > 0 && !rt->skipped;
}

/* The sentence above the table: the reference and how to read the rest. */
static void intro(const struct dfit_report_out *o, const struct dfit_report *r)
{
    dfit_report_text(o, "Against the reference variant ");
    dfit_report_strong(o, r->spec->variants[r->reference].name);
    dfit_report_text(o, r->reference_recorded
                            ? " on this target and workload. "
                            : " (the first variant: this run did not record its reference) on "
                              "this target and workload. ");
    dfit_report_text(o,
        "Theory: decode is bound by memory bandwidth, so its speed-up is the bytes the reference "
        "reads per decoded token over the variant's (weights, plus the KV cache at the "
        "workload's mean context); prefill is bound by compute, so its speed-up is the FLOPs "
        "per prompt token, reference over variant, with dense kernels (sparse: with a kernel "
        "that skips pruned zeros). Measured: decode and prefill tokens/s over the reference's. "
        "A variant pays when every speed-up its theory promises (1.2× or more) is at least "
        "three-quarters realised on a log scale, partly when some is a quarter realised, and "
        "does not pay otherwise (also when it promises none). Rules: docs/report.md.");
}

/* ---- Markdown ------------------------------------------------------------------------ */

void dfit_report_payoff_md(const struct dfit_report_out *o, const struct dfit_report *r, size_t t)
{
    char b[8][48];
    dfit_report_markup(o, "### Does it pay?\n\n");
    if (r->reference < 0 || !target_measured(r, t)) {
        dfit_report_text(o, r->reference < 0 ? "No variant was registered."
                                             : "No cell of this target was measured.");
        dfit_report_markup(o, "\n\n");
        return;
    }
    intro(o, r);
    dfit_report_markup(o, "\n\n| variant | workload | weights | pruned | file smaller | decode "
                          "theory | decode measured | prefill theory | prefill theory, sparse | "
                          "prefill measured | verdict |\n| --- | --- | --- | --- | ---: | ---: | "
                          "---: | ---: | ---: | ---: | --- |\n");
    for (size_t v = 0; v < r->spec->n_variants; v++)
        for (size_t w = 0; w < r->spec->n_workloads; w++) {
            const struct dfit_payoff *p = &dfit_report_cell_at(r, t, v, w)->pay;
            const struct dfit_token_cost *c = r->costs[v];
            dfit_report_markup(o, "| ");
            dfit_report_text(o, r->spec->variants[v].name);
            dfit_report_markup(o, " | ");
            dfit_report_text(o, r->spec->workloads[w].name);
            dfit_report_markup(o, " | ");
            dfit_report_text(o, c && c->weight_type[0] ? c->weight_type : "?");
            dfit_report_markup(o, " | ");
            dfit_report_text(o, pruned(c, b[0], sizeof b[0]));
            const double vals[6] = {p->file_ratio, p->decode_theory, p->decode_measured,
                                    p->prefill_theory, p->prefill_theory_sparse,
                                    p->prefill_measured};
            for (int i = 0; i < 6; i++) {
                dfit_report_markup(o, " | ");
                dfit_report_text(o, ratio(vals[i], b[1 + i], sizeof b[1 + i]));
            }
            dfit_report_markup(o, " | ");
            if (p->verdict == DFIT_PAYOFF_PAYS || p->verdict == DFIT_PAYOFF_NO)
                dfit_report_strong(o, p->text);
            else
                dfit_report_text(o, p->text);
            dfit_report_markup(o, " |\n");
        }
    dfit_report_markup(o, "\n");
}

/* ---- HTML ------------------------------------------------------------------------------ */

static double chart_x(double v)
{
    double l = log2(v);
    l = l < CHART_LO ? CHART_LO : l > CHART_HI ? CHART_HI : l;
    return (l - CHART_LO) / (CHART_HI - CHART_LO) * CHART_W;
}

/* A bar from 1x to v at height y: outlined for theory, filled for the
 * measurement. */
static void bar(const struct dfit_report_out *o, double v, double y, bool filled,
                const char *colour)
{
    if (!isfinite(v) || !(v > 0))
        return;
    double x1 = chart_x(1.0), x2 = chart_x(v);
    double x = x1 < x2 ? x1 : x2, w = fabs(x2 - x1);
    if (filled)
        dfit_report_markup(o, "<span style=\"position:absolute;left:%.0fpx;top:%.0fpx;"
                              "width:%.0fpx;height:5px;background:%s\"></span>", x, y + 2,
                           w < 1 ? 1 : w, colour);
    else
        dfit_report_markup(o, "<span style=\"position:absolute;left:%.0fpx;top:%.0fpx;"
                              "width:%.0fpx;height:7px;border:1px solid #777\"></span>", x, y,
                           w < 1 ? 1 : w);
}

static const char *verdict_colour(enum dfit_payoff_verdict v)
{
    return v == DFIT_PAYOFF_PAYS ? "#1e8449" : v == DFIT_PAYOFF_PARTLY ? "#d4a017"
         : v == DFIT_PAYOFF_NO   ? "#c0392b" : "#888";
}

/* Plain HTML boxes (no SVG, no script): a 180 x 26 px area, decode bars on
 * top, prefill below, the 1x line across. */
static void chart(const struct dfit_report_out *o, const struct dfit_payoff *p)
{
    char b[4][32];
    const char *col = verdict_colour(p->verdict);
    dfit_report_markup(o, "<span style=\"position:relative;display:inline-block;width:%.0fpx;"
                          "height:26px\" title=\"decode %s in theory, %s measured; prefill %s "
                          "in theory, %s measured\">", CHART_W,
                       ratio(p->decode_theory, b[0], 32), ratio(p->decode_measured, b[1], 32),
                       ratio(p->prefill_theory, b[2], 32), ratio(p->prefill_measured, b[3], 32));
    bar(o, p->decode_theory, 2, false, col);
    bar(o, p->decode_measured, 2, true, col);
    bar(o, p->prefill_theory, 15, false, col);
    bar(o, p->prefill_measured, 15, true, col);
    dfit_report_markup(o, "<span style=\"position:absolute;left:%.0fpx;top:0;width:1px;"
                          "height:26px;background:#222\"></span></span>", chart_x(1.0));
}

void dfit_report_payoff_html(const struct dfit_report_out *o, const struct dfit_report *r,
                             size_t t)
{
    char b[8][48];
    dfit_report_markup(o, "<h3>Does it pay?</h3>\n<p>");
    if (r->reference < 0 || !target_measured(r, t)) {
        dfit_report_text(o, r->reference < 0 ? "No variant was registered."
                                             : "No cell of this target was measured.");
        dfit_report_markup(o, "</p>\n");
        return;
    }
    intro(o, r);
    dfit_report_markup(o, " The chart: outlined bars are theory, filled bars the measurement, "
                          "decode above prefill, on a log scale from ¼× to 16× with 1× marked."
                          "</p>\n<div class=\"scroll\"><table>\n<tr><th class=\"l\">variant</th>"
                          "<th class=\"l\">workload</th><th class=\"l\">weights</th>"
                          "<th class=\"l\">pruned</th><th>file smaller</th><th>decode theory</th>"
                          "<th>decode measured</th><th>prefill theory</th>"
                          "<th>prefill theory, sparse</th><th>prefill measured</th>"
                          "<th class=\"l\">theory vs measured</th><th class=\"l\">verdict</th>"
                          "</tr>\n");
    for (size_t v = 0; v < r->spec->n_variants; v++)
        for (size_t w = 0; w < r->spec->n_workloads; w++) {
            const struct dfit_payoff *p = &dfit_report_cell_at(r, t, v, w)->pay;
            const struct dfit_token_cost *c = r->costs[v];
            dfit_report_markup(o, "<tr><td class=\"l\">");
            dfit_report_text(o, r->spec->variants[v].name);
            dfit_report_markup(o, "</td><td class=\"l\">");
            dfit_report_text(o, r->spec->workloads[w].name);
            dfit_report_markup(o, "</td><td class=\"l\">");
            dfit_report_text(o, c && c->weight_type[0] ? c->weight_type : "?");
            dfit_report_markup(o, "</td><td class=\"l\">");
            dfit_report_text(o, pruned(c, b[0], sizeof b[0]));
            dfit_report_markup(o, "</td>");
            const double vals[6] = {p->file_ratio, p->decode_theory, p->decode_measured,
                                    p->prefill_theory, p->prefill_theory_sparse,
                                    p->prefill_measured};
            for (int i = 0; i < 6; i++) {
                dfit_report_markup(o, "<td>");
                dfit_report_text(o, ratio(vals[i], b[1 + i], sizeof b[1 + i]));
                dfit_report_markup(o, "</td>");
            }
            dfit_report_markup(o, "<td class=\"l\">");
            chart(o, p);
            dfit_report_markup(o, "</td><td class=\"l\" style=\"border-left:4px solid %s\">",
                               verdict_colour(p->verdict));
            dfit_report_text(o, p->text);
            dfit_report_markup(o, "</td></tr>\n");
        }
    dfit_report_markup(o, "</table></div>\n");
}
