/* report_html.c — report.html: one self-contained page (inline CSS, the
 * plots as inline SVG, no scripts, no external resources). Per target: the
 * recommendation and why, every other variant's place, the measurement
 * table, "Does it pay?" (report_payoff.c), the counter table, the plots;
 * then the variants, workloads, machine and method. User text goes through
 * dfit_report_text (escaped); the SVG comes from gnuplot (whose text output
 * is XML-escaped and whose labels came only from sanitised data files) and
 * is refused if it holds script or foreign content.
 * Non-goals: interactivity, styling beyond legibility.
 */
#include "report/report.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/fmt.h"

#define SVG_MAX_BYTES (16u << 20)

static const char css[] =
    "body{font-family:sans-serif;margin:1.5em auto;max-width:1500px;padding:0 1em;color:#222}"
    "h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}"
    "table{border-collapse:collapse;font-size:.82em;margin:.6em 0}"
    "th,td{border:1px solid #ccc;padding:.2em .45em;text-align:right;vertical-align:top}"
    "th{background:#f2f2f2}td.l,th.l{text-align:left}"
    ".scroll{overflow-x:auto}.rec{background:#eef7ee;border-left:4px solid #1e8449;"
    "padding:.6em 1em}.none{background:#fbeeee;border-left:4px solid #c0392b;padding:.6em 1em}"
    ".note{background:#fff7e0;border-left:4px solid #d4a017;padding:.5em 1em}"
    "figure{display:inline-block;margin:.5em;vertical-align:top}"
    "figure svg{max-width:100%;height:auto}figcaption{font-size:.85em;color:#555}"
    "code{background:#f4f4f4;padding:0 .2em}";

/* ---- inline SVG -------------------------------------------------------------------------- */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            size_t ncap = cap ? 2 * cap : 65536;
            char *nb = ncap <= SVG_MAX_BYTES ? realloc(buf, ncap) : NULL;
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Writes dir/plots/STEM.svg from its <svg element on, with its ids made
 * unique in the page (prefix pN-). false when the file is missing, too
 * large, or holds anything that is not plain drawing. */
static bool put_svg(const struct dfit_report_out *o, const struct dfit_report *r,
                    const char *stem, int n)
{
    char path[PATH_MAX];
    size_t len = 0;
    if (snprintf(path, sizeof path, "%s/plots/%s.svg", r->dir, stem) >= (int)sizeof path)
        return false;
    char *text = read_all(path, &len);
    if (!text)
        return false;
    char *start = strstr(text, "<svg");
    if (!start || strlen(text) != len || strcasestr(text, "<script") ||
        strcasestr(text, "<foreignobject") || strcasestr(text, "javascript:") ||
        strcasestr(text, "<iframe")) {
        free(text);
        return false;
    }
    static const char *const pats[] = {"id='", "id=\"", "href='#", "href=\"#", "url(#"};
    for (const char *p = start; *p;) {
        size_t k = 0, pl = 0;
        for (; k < 5; k++) {
            pl = strlen(pats[k]);
            if (strncmp(p, pats[k], pl) == 0)
                break;
        }
        if (k < 5) {
            fwrite(p, 1, pl, o->f);
            fprintf(o->f, "p%d-", n);
            p += pl;
        } else {
            fputc(*p++, o->f);
        }
    }
    free(text);
    return true;
}

static const char *const front_captions[DFIT_COST_COUNT] = {
    "Quality against p95 end-to-end latency", "Quality against peak memory",
    "Quality against USD per million output tokens"};
static const char *const cdf_captions[2] = {"End-to-end latency per request (CDF)",
                                            "Time to first token per request (CDF)"};

static void put_figure(const struct dfit_report_out *o, const struct dfit_report *r,
                       const char *stem, const char *caption, int *n_svg)
{
    if (!stem[0])
        return;
    dfit_report_markup(o, "<figure>");
    bool inlined = r->plots.status == DFIT_PLOTS_RENDERED && put_svg(o, r, stem, (*n_svg)++);
    if (!inlined)
        dfit_report_markup(o, "<p class=\"note\">Plot not rendered.</p>");
    dfit_report_markup(o, "<figcaption>");
    dfit_report_text(o, caption);
    dfit_report_markup(o, " — <a href=\"plots/%s.svg\">SVG</a>, <a href=\"plots/%s.png\">PNG"
                       "</a></figcaption></figure>\n", stem, stem);
}

/* ---- tables -------------------------------------------------------------------------------- */

static void td(const struct dfit_report_out *o, const char *text)
{
    dfit_report_markup(o, "<td>");
    dfit_report_text(o, text);
    dfit_report_markup(o, "</td>");
}

static void td_ms(const struct dfit_report_out *o, const struct dfit_summary *s, double ns)
{
    char b[32];
    td(o, dfit_report_ms(s, ns, b, sizeof b));
}

static void td_num(const struct dfit_report_out *o, double v)
{
    char b[32];
    td(o, dfit_report_num(v, b, sizeof b));
}

static void td_bytes(const struct dfit_report_out *o, uint64_t v)
{
    char b[32];
    td(o, dfit_report_bytes(v, b, sizeof b));
}

static void measurement_table(const struct dfit_report_out *o, const struct dfit_report *r,
                              size_t t)
{
    const struct dfit_report_target *rt = &r->targets[t];
    dfit_report_markup(o, "<div class=\"scroll\"><table>\n<tr><th class=\"l\" rowspan=\"2\">"
                       "variant</th><th class=\"l\" rowspan=\"2\">workload</th><th class=\"l\" "
                       "rowspan=\"2\">status</th><th class=\"l\" rowspan=\"2\">validity</th>"
                       "<th rowspan=\"2\">quality<br>");
    dfit_report_text(o, dfit_quality_axis_name(rt->qaxis));
    dfit_report_markup(o, "</th><th colspan=\"3\">TTFT ms</th><th colspan=\"3\">TPOT ms</th>"
                       "<th colspan=\"3\">end-to-end ms</th><th colspan=\"3\">tokens/s</th>"
                       "<th colspan=\"4\">memory</th><th colspan=\"2\">load ms</th>"
                       "<th rowspan=\"2\">USD/Mtok</th><th rowspan=\"2\">on frontier</th></tr>\n"
                       "<tr><th>p50</th><th>p95</th><th>p99</th><th>p50</th><th>p95</th>"
                       "<th>p99</th><th>p50</th><th>p95</th><th>p99</th><th>prefill</th>"
                       "<th>decode</th><th>output</th><th>weights</th><th>KV cache</th>"
                       "<th>peak RSS</th><th>device peak</th><th>cold</th><th>warm</th></tr>\n");
    for (size_t v = 0; v < r->spec->n_variants; v++)
        for (size_t w = 0; w < r->spec->n_workloads; w++) {
            const struct dfit_report_cell *rc = dfit_report_cell_at(r, t, v, w);
            dfit_report_markup(o, "<tr><td class=\"l\">");
            dfit_report_text(o, r->spec->variants[v].name);
            dfit_report_markup(o, "</td><td class=\"l\">");
            dfit_report_text(o, r->spec->workloads[w].name);
            dfit_report_markup(o, "</td><td class=\"l\">");
            dfit_report_put_status(o, rc);
            if (!rc->c || rc->c->r.status != DFIT_CELL_OK) {
                dfit_report_markup(o, "</td><td colspan=\"22\"></td></tr>\n");
                continue;
            }
            const struct dfit_cell_result *cr = &rc->c->r;
            dfit_report_markup(o, "</td><td class=\"l\">");
            dfit_report_put_validity(o, rc);
            dfit_report_markup(o, "</td><td>");
            dfit_report_put_quality(o, rc);
            dfit_report_markup(o, "</td>");
            td_ms(o, &cr->ttft, cr->ttft.p50), td_ms(o, &cr->ttft, cr->ttft.p95);
            td_ms(o, &cr->ttft, cr->ttft.p99);
            td_ms(o, &cr->tpot, cr->tpot.p50), td_ms(o, &cr->tpot, cr->tpot.p95);
            td_ms(o, &cr->tpot, cr->tpot.p99);
            td_ms(o, &cr->e2e, cr->e2e.p50), td_ms(o, &cr->e2e, cr->e2e.p95);
            td_ms(o, &cr->e2e, cr->e2e.p99);
            td_num(o, cr->prefill_tokens_per_s), td_num(o, cr->decode_tokens_per_s);
            td_num(o, cr->output_tokens_per_s);
            td_bytes(o, cr->weight_bytes), td_bytes(o, cr->kv_bytes);
            td_bytes(o, cr->peak_rss_bytes), td_bytes(o, cr->device_peak_bytes);
            td_ms(o, NULL, cr->load_cold_ns ? (double)cr->load_cold_ns : NAN);
            td_ms(o, NULL, cr->load_warm_ns ? (double)cr->load_warm_ns : NAN);
            td_num(o, rc->fit.usd_per_mtok);
            char fr[32] = "";
            for (int a = 0; a < DFIT_COST_COUNT; a++)
                if (rc->frontier[a])
                    snprintf(fr + strlen(fr), sizeof fr - strlen(fr), "%s%s", fr[0] ? ", " : "",
                             dfit_cost_axis_key((enum dfit_cost_axis)a));
            td(o, fr[0] ? fr : "-");
            dfit_report_markup(o, "</tr>\n");
        }
    dfit_report_markup(o, "</table></div>\n");
}

static void counter_table(const struct dfit_report_out *o, const struct dfit_report *r, size_t t)
{
    dfit_report_markup(o, "<div class=\"scroll\"><table>\n<tr><th class=\"l\">variant</th>"
                       "<th class=\"l\">workload</th><th class=\"l\">phase</th><th>IPC</th>"
                       "<th>instructions/token</th><th>L1D misses/token</th>"
                       "<th>L2D misses/token</th><th>L3 misses/token</th>"
                       "<th>branch misses/token</th></tr>\n");
    bool any = false;
    for (size_t v = 0; v < r->spec->n_variants; v++)
        for (size_t w = 0; w < r->spec->n_workloads; w++) {
            const struct dfit_report_cell *rc = dfit_report_cell_at(r, t, v, w);
            if (!rc->c || rc->c->r.status != DFIT_CELL_OK)
                continue;
            for (int p = DFIT_PHASE_PREFILL; p <= DFIT_PHASE_DECODE; p++) {
                const struct dfit_report_derived *d = &rc->derived[p];
                any = true;
                dfit_report_markup(o, "<tr><td class=\"l\">");
                dfit_report_text(o, r->spec->variants[v].name);
                dfit_report_markup(o, "</td><td class=\"l\">");
                dfit_report_text(o, r->spec->workloads[w].name);
                dfit_report_markup(o, "</td><td class=\"l\">%s%s</td>",
                                   dfit_phase_name((enum dfit_phase)p),
                                   p == DFIT_PHASE_PREFILL ? " (per prompt token)"
                                                           : " (per output token)");
                const double vals[] = {d->ipc, d->ins_per_token, d->l1_dcm_per_token,
                                       d->l2_dcm_per_token, d->l3_tcm_per_token,
                                       d->br_msp_per_token};
                const char *const whys[] = {d->why_ipc, d->why_ins, d->why_l1, d->why_l2,
                                            d->why_l3, d->why_br};
                for (int i = 0; i < 6; i++) {
                    dfit_report_markup(o, "<td>");
                    dfit_report_put_derived(o, vals[i], whys[i]);
                    dfit_report_markup(o, "</td>");
                }
                dfit_report_markup(o, "</tr>\n");
            }
        }
    if (!any)
        dfit_report_markup(o, "<tr><td class=\"l\" colspan=\"9\">no cell was measured</td></tr>\n");
    dfit_report_markup(o, "</table></div>\n");
}

/* Per variant, its task accuracy on each CSV eval set of the run and
 * pooled over all of them; nothing when the run scored no set. */
static void task_table(const struct dfit_report_out *o, const struct dfit_report *r, size_t t)
{
    if (r->n_task_names == 0)
        return;
    dfit_report_markup(o, "<h3>Task accuracy</h3>\n<div class=\"scroll\"><table>\n<tr>"
                       "<th class=\"l\">variant</th>");
    for (size_t k = 0; k < r->n_task_names; k++) {
        dfit_report_markup(o, "<th>");
        dfit_report_text(o, r->task_names[k]);
        dfit_report_markup(o, "</th>");
    }
    dfit_report_markup(o, "<th>all sets (pooled)</th></tr>\n");
    for (size_t v = 0; v < r->spec->n_variants; v++) {
        dfit_report_markup(o, "<tr><td class=\"l\">");
        dfit_report_text(o, r->spec->variants[v].name);
        dfit_report_markup(o, "</td>");
        for (size_t k = 0; k < r->n_task_names; k++) {
            dfit_report_markup(o, "<td>");
            dfit_report_put_task(o, dfit_report_task(r, t, v, k));
            dfit_report_markup(o, "</td>");
        }
        dfit_report_markup(o, "<td>");
        dfit_report_put_pooled(o, r, t, v);
        dfit_report_markup(o, "</td></tr>\n");
    }
    dfit_report_markup(o, "</table></div>\n");
}

/* ---- sections ------------------------------------------------------------------------------- */

static void target_section(const struct dfit_report_out *o, const struct dfit_report *r,
                           size_t t, int *n_svg)
{
    const struct dfit_report_target *rt = &r->targets[t];
    const struct dfit_target_spec *ts = rt->spec;
    char b[32];
    dfit_report_markup(o, "<h2 id=\"target-%zu\">Target ", t);
    dfit_report_text(o, ts->name);
    dfit_report_markup(o, "</h2>\n<p>");
    dfit_report_textf(o, "Backend %s, %d thread%s", ts->backend, ts->threads,
                      ts->threads == 1 ? "" : "s");
    if (ts->device) {
        dfit_report_text(o, ", device ");
        dfit_report_text(o, ts->device);
    }
    if (ts->kernels) {
        dfit_report_text(o, ", kernels ");
        dfit_report_text(o, ts->kernels);
    }
    if (isfinite(ts->memory_limit_mib))
        dfit_report_textf(o, ", memory limit %s MiB", dfit_report_num(ts->memory_limit_mib, b, 32));
    if (isfinite(ts->price_per_hour))
        dfit_report_textf(o, ", price %s USD/hour", dfit_report_num(ts->price_per_hour, b, 32));
    else
        dfit_report_text(o, ", no price (no cost axis)");
    dfit_report_markup(o, ".<br>SLOs: ");
    dfit_report_put_slos(o, rt);
    dfit_report_markup(o, ".<br>Quality axis: ");
    dfit_report_text(o, dfit_quality_axis_name(rt->qaxis));
    dfit_report_text(o, rt->qaxis == DFIT_QUALITY_ACCURACY
                            ? " (every measured variant was scored on the task eval sets)."
                        : rt->qaxis == DFIT_QUALITY_TOP1
                            ? " (task accuracy was not measured for every variant)."
                            : " (no quality was measured on this target).");
    dfit_report_markup(o, "</p>\n<div class=\"%s\">",
                       rt->fit->recommended >= 0 ? "rec" : "none");
    dfit_report_put_verdict(o, r, t);
    dfit_report_markup(o, "</div>\n<h3>Every variant</h3>\n<ul>\n");
    for (size_t v = 0; v < r->spec->n_variants; v++) {
        dfit_report_markup(o, "<li>");
        dfit_report_strong(o, r->spec->variants[v].name);
        dfit_report_text(o, ": ");
        dfit_report_put_why(o, r, t, v);
        dfit_report_markup(o, "</li>\n");
    }
    dfit_report_markup(o, "</ul>\n");
    task_table(o, r, t);
    dfit_report_markup(o, "<h3>Measurements</h3>\n");
    measurement_table(o, r, t);
    dfit_report_payoff_html(o, r, t);
    dfit_report_markup(o, "<h3>Hardware counters</h3>\n");
    counter_table(o, r, t);
    dfit_report_markup(o, "<h3>Plots</h3>\n");
    if (r->plots.status != DFIT_PLOTS_RENDERED && r->plots.status != DFIT_PLOTS_NONE) {
        dfit_report_markup(o, "<p class=\"note\">The plots were not rendered: ");
        dfit_report_text(o, r->plots.message);
        dfit_report_markup(o, "</p>\n");
    }
    for (size_t w = 0; w < r->spec->n_workloads; w++) {
        dfit_report_markup(o, "<h4>Workload ");
        dfit_report_text(o, r->spec->workloads[w].name);
        dfit_report_markup(o, "</h4>\n<div>");
        bool any = false;
        for (int a = 0; a < DFIT_COST_COUNT; a++) {
            put_figure(o, r, rt->front[w][a], front_captions[a], n_svg);
            any |= rt->front[w][a][0] != '\0';
        }
        for (int m = 0; m < 2; m++) {
            put_figure(o, r, rt->cdf[w][m], cdf_captions[m], n_svg);
            any |= rt->cdf[w][m][0] != '\0';
        }
        if (!any)
            dfit_report_markup(o, "<p>No measured points to plot on this workload.</p>");
        dfit_report_markup(o, "</div>\n");
    }
}

static void summary_section(const struct dfit_report_out *o, const struct dfit_report *r)
{
    dfit_report_markup(o, "<h2 id=\"summary\">Recommendations</h2>\n<table>\n<tr>"
                       "<th class=\"l\">target</th><th class=\"l\">recommended variant</th>"
                       "<th>quality</th><th class=\"l\">note</th></tr>\n");
    for (size_t t = 0; t < r->spec->n_targets; t++) {
        struct dfit_report_summary_target st;
        char b[32], line[1024];
        dfit_report_summarise(r, t, &st);
        dfit_report_markup(o, "<tr><td class=\"l\"><a href=\"#target-%zu\">", t);
        dfit_report_text(o, st.target);
        dfit_report_markup(o, "</a></td><td class=\"l\">");
        if (st.verdict == DFIT_VERDICT_RECOMMENDED) {
            dfit_report_strong(o, st.variant_name);
            dfit_report_markup(o, "</td><td>");
            dfit_report_text(o, dfit_report_num(st.quality, b, sizeof b));
            dfit_report_markup(o, "</td><td class=\"l\">");
            dfit_report_text(o, st.invalid ? "meets every SLO; flagged: INVALID cells"
                                           : "meets every SLO");
        } else {
            dfit_report_text(o, "none");
            dfit_report_markup(o, "</td><td></td><td class=\"l\">");
            dfit_report_text(o, dfit_report_summary_line(&st, line, sizeof line));
        }
        dfit_report_markup(o, "</td></tr>\n");
    }
    dfit_report_markup(o, "</table>\n");
}

static void row2(const struct dfit_report_out *o, const char *key, const char *value)
{
    dfit_report_markup(o, "<tr><th class=\"l\">");
    dfit_report_text(o, key);
    dfit_report_markup(o, "</th><td class=\"l\">");
    dfit_report_text(o, value && *value ? value : "unknown");
    dfit_report_markup(o, "</td></tr>\n");
}

static void spec_sections(const struct dfit_report_out *o, const struct dfit_report *r)
{
    char b1[32], b2[32], b3[32];
    dfit_report_markup(o, "<h2 id=\"variants\">Variants</h2>\n<div class=\"scroll\"><table>\n"
                       "<tr><th class=\"l\">name</th><th class=\"l\">file</th>"
                       "<th class=\"l\">SHA-256</th><th>size</th><th>parameters</th>"
                       "<th>bits/weight</th><th>weights read per token</th>"
                       "<th>MFLOP per token (dense, sparse)</th><th class=\"l\">recipe</th>"
                       "<th class=\"l\">lineage</th></tr>\n");
    for (size_t v = 0; v < r->spec->n_variants; v++) {
        const struct dfit_store_variant *sv = &r->spec->variants[v];
        const char *cols[] = {sv->name, sv->file, sv->sha256};
        dfit_report_markup(o, "<tr>");
        for (int i = 0; i < 3; i++) {
            dfit_report_markup(o, "<td class=\"l\">");
            dfit_report_text(o, cols[i] ? cols[i] : "-");
            dfit_report_markup(o, "</td>");
        }
        td(o, dfit_report_bytes(sv->bytes, b1, sizeof b1));
        td(o, sv->n_params ? dfit_fmt_u64(b2, sizeof b2, sv->n_params) : "n/a");
        td(o, dfit_report_num(sv->bits_per_weight, b3, sizeof b3));
        const struct dfit_token_cost *c = r->costs ? r->costs[v] : NULL; /* token_cost.h */
        td(o, c ? dfit_report_bytes(c->bytes_per_token, b1, sizeof b1) : "n/a");
        if (c) {
            char b4[32];
            dfit_report_num((double)c->flops_per_token / 1e6, b2, sizeof b2);
            dfit_report_num((double)c->sparse_flops_per_token / 1e6, b4, sizeof b4);
            dfit_report_markup(o, "<td>");
            dfit_report_textf(o, "%s, %s", b2, b4);
            dfit_report_markup(o, "</td>");
        } else {
            td(o, "n/a");
        }
        dfit_report_markup(o, "<td class=\"l\">");
        dfit_report_text(o, sv->recipe ? sv->recipe : "-");
        dfit_report_markup(o, "</td><td class=\"l\">");
        dfit_report_text(o, sv->lineage ? sv->lineage : "-");
        dfit_report_markup(o, "</td></tr>\n");
    }
    dfit_report_markup(o, "</table></div>\n<h2 id=\"workloads\">Workloads</h2>\n<table>\n"
                       "<tr><th class=\"l\">name</th><th class=\"l\">mode</th>"
                       "<th>prompt tokens</th><th>output tokens</th><th>batch</th>"
                       "<th>min duration ms</th><th>min requests</th><th>warm-up requests</th>"
                       "</tr>\n");
    for (size_t w = 0; w < r->spec->n_workloads; w++) {
        const struct dfit_workload_spec *ws = &r->spec->workloads[w];
        dfit_report_markup(o, "<tr><td class=\"l\">");
        dfit_report_text(o, ws->name);
        dfit_report_markup(o, "</td><td class=\"l\">%s</td><td>%u</td><td>%u</td><td>%u</td>"
                           "<td>%llu</td><td>%u</td><td>%u</td></tr>\n",
                           dfit_workload_mode_name(ws->mode), ws->prompt_tokens,
                           ws->output_tokens, ws->batch, (unsigned long long)ws->min_duration_ms,
                           ws->min_requests, ws->warmup_requests);
    }
    dfit_report_markup(o, "</table>\n");
}

static void machine_section(const struct dfit_report_out *o, const struct dfit_report *r)
{
    const struct dfit_store_run *run = r->run;
    const struct dfit_machine_info *m = &run->machine;
    char b[128], c[64];
    dfit_report_markup(o, "<h2 id=\"machine\">Machine and build</h2>\n<table>\n");
    if (run->has_machine) {
        row2(o, "CPU", m->cpu_model);
        char cores[24] = "unknown", cpus[24] = "unknown";
        if (m->n_cores > 0)
            snprintf(cores, sizeof cores, "%d", m->n_cores);
        if (m->n_cpus > 0)
            snprintf(cpus, sizeof cpus, "%d", m->n_cpus);
        snprintf(b, sizeof b, "%s physical cores, %s logical CPUs", cores, cpus);
        row2(o, "cores", b);
        row2(o, "frequency governor", m->governor);
        const double *la = m->loadavg_before, *lb = run->loadavg_after;
        if (isnan(la[0]))
            snprintf(b, sizeof b, "not recorded before; ");
        else
            snprintf(b, sizeof b, "%.2f %.2f %.2f before; ", la[0], la[1], la[2]);
        if (isnan(lb[0]))
            snprintf(b + strlen(b), sizeof b - strlen(b), "not recorded after");
        else
            snprintf(b + strlen(b), sizeof b - strlen(b), "%.2f %.2f %.2f after", lb[0], lb[1],
                     lb[2]);
        row2(o, "load average (1, 5, 15 min)", b);
        snprintf(b, sizeof b, "%s total, ", dfit_report_bytes(m->mem_total_bytes, c, sizeof c));
        snprintf(b + strlen(b), sizeof b - strlen(b), "%s available at the start",
                 dfit_report_bytes(m->mem_available_bytes, c, sizeof c));
        row2(o, "memory", b);
        row2(o, "kernel", m->kernel);
        row2(o, "host", m->hostname);
    } else {
        row2(o, "machine", "not recorded for this run");
    }
    row2(o, "compiler", run->info.compiler);
    row2(o, "build type", run->info.build_type);
    row2(o, "compiler flags", run->info.compiler_flags);
    row2(o, "dfit version (run)", run->info.dfit_version);
    row2(o, "commit (run)", run->info.git_commit);
    row2(o, "dfit that wrote this report", DFIT_VERSION " (" DFIT_GIT_COMMIT ")");
    dfit_report_markup(o, "</table>\n");
}

static void method_section(const struct dfit_report_out *o)
{
    dfit_report_markup(o, "<h2 id=\"method\">Method</h2>\n<ul>\n<li>");
    dfit_report_text(o,
        "Every cell (variant × target × workload) ran in its own worker process: load the "
        "variant on the target's backend (timed: cold, with the file evicted from the page "
        "cache, and warm), warm up, drive the workload, then score quality; one database "
        "transaction per cell.");
    dfit_report_markup(o, "</li>\n<li>");
    dfit_report_text(o,
        "TTFT: request submitted to first output token. TPOT: gap between consecutive output "
        "tokens. End-to-end: submitted to last token. Percentiles are nearest-rank over the "
        "measured requests (warm-up excluded). Output tokens/s: generated tokens over the "
        "measured span.");
    dfit_report_markup(o, "</li>\n<li>");
    dfit_report_text(o,
        "Quality: task accuracy pooled over the scenario's CSV eval sets (each set's accuracy is in "
        "the target's task accuracy table) when every measured variant of the target "
        "has it, else top-1 agreement with the reference variant's argmax (as llama.cpp's "
        "perplexity tool defines it); ± is the standard error. The min_quality SLO applies to "
        "that axis.");
    dfit_report_markup(o, "</li>\n<li>");
    dfit_report_text(o,
        "Memory: peak RSS of the worker on CPU targets, device peak on others (peak RSS when "
        "the device reports none). USD/Mtok: price per hour / 3600 / output tokens/s × 10⁶.");
    dfit_report_markup(o, "</li>\n<li>");
    dfit_report_text(o,
        "Pareto frontier (per workload and cost axis): the variants no other variant beats, "
        "i.e. none has at least their quality at no more cost with one of them strictly better. "
        "Recommendation: the highest-quality variant that meets every SLO on every workload "
        "(quality is the lowest over workloads, costs the highest), ties to the lower USD/Mtok, "
        "then p95 e2e, then memory. INVALID cells (minimum duration or count not met, unoptimised "
        "build) may still be recommended but are flagged.");
    dfit_report_markup(o, "</li>\n<li>");
    dfit_report_text(o, "The rules in full: docs/report.md; the database: docs/results.md "
                        "(in the dfit source tree).");
    dfit_report_markup(o, "</li>\n</ul>\n");
}

int dfit_report_html(const struct dfit_report *r, FILE *f)
{
    const struct dfit_report_out o = {.f = f, .md = false};
    const struct dfit_store_run *run = r->run;
    int n_svg = 0;
    dfit_report_markup(&o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                       "<title>");
    dfit_report_textf(&o, "dfit report: %s, run %lld", run->info.scenario, (long long)run->id);
    dfit_report_markup(&o, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", css);
    dfit_report_textf(&o, "dfit report: scenario %s, run %lld", run->info.scenario,
                      (long long)run->id);
    dfit_report_markup(&o, "</h1>\n<p>");
    dfit_report_textf(&o, "Run status %s; started %s, finished %s", dfit_store_run_status_name(run->status),
                      run->started_at ? run->started_at : "?",
                      run->finished_at ? run->finished_at : "not yet");
    if (run->n_resumes)
        dfit_report_textf(&o, " (resumed %d time%s)", run->n_resumes, run->n_resumes == 1 ? "" : "s");
    dfit_report_textf(&o, "; %lld cells, %lld ok.", (long long)run->n_cells,
                      (long long)run->n_cells_ok);
    if (run->info.label)
        dfit_report_textf(&o, " Label: %s.", run->info.label);
    dfit_report_markup(&o, "<br>");
    dfit_report_textf(&o, "Scenario file %s (SHA-256 %s); results database %s.",
                      run->info.scenario_path ? run->info.scenario_path : "(not recorded)",
                      run->info.scenario_sha256, r->db_path);
    dfit_report_markup(&o, "</p>\n");
    if (r->plots.status == DFIT_PLOTS_NO_GNUPLOT || r->plots.status == DFIT_PLOTS_FAILED) {
        dfit_report_markup(&o, "<p class=\"note\">The plots were not rendered: ");
        dfit_report_text(&o, r->plots.message);
        dfit_report_markup(&o, "</p>\n");
    }
    summary_section(&o, r);
    for (size_t t = 0; t < r->spec->n_targets; t++)
        target_section(&o, r, t, &n_svg);
    spec_sections(&o, r);
    machine_section(&o, r);
    method_section(&o);
    dfit_report_markup(&o, "</body>\n</html>\n");
    return ferror(f) ? -1 : 0;
}
