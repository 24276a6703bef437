/* report_md.c — report.md: the report's summary in Markdown for a pull
 * request: the recommendations, per target the verdict, every variant's
 * place, a compact table and "Does it pay?" (report_payoff.c), links to the
 * plot files (PNG and SVG under plots/), and the machine. User text goes through dfit_report_text, which
 * escapes it as Markdown inline text that stays inside its table cell.
 * Non-goals: the full tables and counters (report.html has them).
 */
#include "report/report.h"

#include <math.h>
#include <string.h>

#include "config.h"

static void cell_sep(const struct dfit_report_out *o)
{
    dfit_report_markup(o, " | ");
}

static void put_num(const struct dfit_report_out *o, double v)
{
    char b[32];
    dfit_report_text(o, dfit_report_num(v, b, sizeof b));
}

static void summary(const struct dfit_report_out *o, const struct dfit_report *r)
{
    dfit_report_markup(o, "## Recommendations\n\n| target | recommended | quality | note |\n"
                          "| --- | --- | ---: | --- |\n");
    for (size_t t = 0; t < r->spec->n_targets; t++) {
        struct dfit_report_summary_target st;
        char line[1024];
        dfit_report_summarise(r, t, &st);
        dfit_report_markup(o, "| ");
        dfit_report_text(o, st.target);
        cell_sep(o);
        if (st.verdict == DFIT_VERDICT_RECOMMENDED) {
            dfit_report_strong(o, st.variant_name);
            cell_sep(o);
            put_num(o, st.quality);
            cell_sep(o);
            dfit_report_text(o, st.invalid ? "meets every SLO; flagged: INVALID cells"
                                           : "meets every SLO");
        } else {
            dfit_report_text(o, "none");
            cell_sep(o);
            cell_sep(o);
            dfit_report_text(o, dfit_report_summary_line(&st, line, sizeof line));
        }
        dfit_report_markup(o, " |\n");
    }
    dfit_report_markup(o, "\n");
}

/* Per variant, its task accuracy on each CSV eval set and pooled. */
static void task_table(const struct dfit_report_out *o, const struct dfit_report *r, size_t t)
{
    if (r->n_task_names == 0)
        return;
    dfit_report_markup(o, "Task accuracy:\n\n| variant |");
    for (size_t k = 0; k < r->n_task_names; k++) {
        dfit_report_markup(o, " ");
        dfit_report_text(o, r->task_names[k]);
        dfit_report_markup(o, " |");
    }
    dfit_report_markup(o, " all sets (pooled) |\n| --- |");
    for (size_t k = 0; k <= r->n_task_names; k++)
        dfit_report_markup(o, " ---: |");
    dfit_report_markup(o, "\n");
    for (size_t v = 0; v < r->spec->n_variants; v++) {
        dfit_report_markup(o, "| ");
        dfit_report_text(o, r->spec->variants[v].name);
        for (size_t k = 0; k < r->n_task_names; k++) {
            cell_sep(o);
            dfit_report_put_task(o, dfit_report_task(r, t, v, k));
        }
        cell_sep(o);
        dfit_report_put_pooled(o, r, t, v);
        dfit_report_markup(o, " |\n");
    }
    dfit_report_markup(o, "\n");
}

static void table(const struct dfit_report_out *o, const struct dfit_report *r, size_t t)
{
    dfit_report_markup(o, "| variant | workload | status | validity | quality | p95 TTFT ms | "
                          "p95 TPOT ms | p95 e2e ms | output tok/s | peak memory MiB | "
                          "USD/Mtok |\n| --- | --- | --- | --- | ---: | ---: | ---: | ---: | "
                          "---: | ---: | ---: |\n");
    for (size_t v = 0; v < r->spec->n_variants; v++)
        for (size_t w = 0; w < r->spec->n_workloads; w++) {
            const struct dfit_report_cell *rc = dfit_report_cell_at(r, t, v, w);
            dfit_report_markup(o, "| ");
            dfit_report_text(o, r->spec->variants[v].name);
            cell_sep(o);
            dfit_report_text(o, r->spec->workloads[w].name);
            cell_sep(o);
            dfit_report_put_status(o, rc);
            cell_sep(o);
            dfit_report_put_validity(o, rc);
            cell_sep(o);
            dfit_report_put_quality(o, rc);
            bool ok = rc->c && rc->c->r.status == DFIT_CELL_OK;
            const double vals[] = {rc->fit.p95_ttft_ms, rc->fit.p95_tpot_ms, rc->fit.p95_e2e_ms,
                                   rc->fit.tokens_per_s, rc->fit.memory_mib,
                                   rc->fit.usd_per_mtok};
            for (int i = 0; i < 6; i++) {
                cell_sep(o);
                if (ok)
                    put_num(o, vals[i]);
            }
            dfit_report_markup(o, " |\n");
        }
    dfit_report_markup(o, "\n");
}

static const char *const front_names[DFIT_COST_COUNT] = {
    "quality vs p95 e2e latency", "quality vs peak memory", "quality vs USD/Mtok"};
static const char *const cdf_names[2] = {"e2e latency CDF", "TTFT CDF"};

static void plot_links(const struct dfit_report_out *o, const struct dfit_report *r, size_t t)
{
    const struct dfit_report_target *rt = &r->targets[t];
    if (r->plots.status != DFIT_PLOTS_RENDERED && r->plots.status != DFIT_PLOTS_NONE) {
        dfit_report_markup(o, "Plots not rendered: ");
        dfit_report_text(o, r->plots.message);
        dfit_report_markup(o, "\n\n");
    }
    for (size_t w = 0; w < r->spec->n_workloads; w++) {
        bool any = false;
        for (int k = 0; k < DFIT_COST_COUNT + 2; k++) {
            const char *stem = k < DFIT_COST_COUNT ? rt->front[w][k] : rt->cdf[w][k - DFIT_COST_COUNT];
            const char *name = k < DFIT_COST_COUNT ? front_names[k] : cdf_names[k - DFIT_COST_COUNT];
            if (!stem[0])
                continue;
            if (!any) {
                dfit_report_markup(o, "Plots, workload ");
                dfit_report_text(o, r->spec->workloads[w].name);
                dfit_report_markup(o, ":");
            }
            dfit_report_markup(o, "%s [%s](plots/%s.png) ([SVG](plots/%s.svg))", any ? " ·" : "",
                               name, stem, stem);
            any = true;
        }
        if (any)
            dfit_report_markup(o, "\n\n");
        if (rt->front[w][DFIT_COST_E2E][0] && r->plots.status == DFIT_PLOTS_RENDERED)
            dfit_report_markup(o, "![quality vs p95 e2e latency](plots/%s.png)\n\n",
                               rt->front[w][DFIT_COST_E2E]);
    }
}

static void target(const struct dfit_report_out *o, const struct dfit_report *r, size_t t)
{
    const struct dfit_report_target *rt = &r->targets[t];
    dfit_report_markup(o, "## Target ");
    dfit_report_text(o, rt->spec->name);
    dfit_report_markup(o, "\n\n");
    dfit_report_text(o, "Backend ");
    dfit_report_text(o, rt->spec->backend);
    dfit_report_textf(o, ", %d thread%s. SLOs: ", rt->spec->threads,
                      rt->spec->threads == 1 ? "" : "s");
    dfit_report_put_slos(o, rt);
    dfit_report_text(o, ". Quality axis: ");
    dfit_report_text(o, dfit_quality_axis_name(rt->qaxis));
    dfit_report_markup(o, ".\n\n");
    dfit_report_put_verdict(o, r, t);
    dfit_report_markup(o, "\n\n");
    for (size_t v = 0; v < r->spec->n_variants; v++) {
        dfit_report_markup(o, "- ");
        dfit_report_strong(o, r->spec->variants[v].name);
        dfit_report_text(o, ": ");
        dfit_report_put_why(o, r, t, v);
        dfit_report_markup(o, "\n");
    }
    dfit_report_markup(o, "\n");
    task_table(o, r, t);
    table(o, r, t);
    dfit_report_payoff_md(o, r, t);
    plot_links(o, r, t);
}

int dfit_report_md(const struct dfit_report *r, FILE *f)
{
    const struct dfit_report_out o = {.f = f, .md = true};
    const struct dfit_store_run *run = r->run;
    dfit_report_markup(&o, "# dfit report: scenario ");
    dfit_report_text(&o, run->info.scenario);
    dfit_report_markup(&o, ", run %lld\n\n", (long long)run->id);
    dfit_report_textf(&o, "Run status %s; %lld cells, %lld ok; started %s, finished %s.",
                      dfit_store_run_status_name(run->status), (long long)run->n_cells,
                      (long long)run->n_cells_ok, run->started_at ? run->started_at : "?",
                      run->finished_at ? run->finished_at : "not yet");
    dfit_report_markup(&o, " The full report, with every measurement, counter and plot: "
                           "[report.html](report.html).\n\n");
    summary(&o, r);
    for (size_t t = 0; t < r->spec->n_targets; t++)
        target(&o, r, t);
    dfit_report_markup(&o, "## Machine\n\n");
    const struct dfit_machine_info *m = &run->machine;
    if (run->has_machine) {
        dfit_report_markup(&o, "- CPU: ");
        dfit_report_text(&o, m->cpu_model ? m->cpu_model : "unknown");
        if (m->n_cores > 0 && m->n_cpus > 0)
            dfit_report_textf(&o, " (%d cores, %d logical CPUs)", m->n_cores, m->n_cpus);
        dfit_report_text(&o, ", governor ");
        dfit_report_text(&o, m->governor ? m->governor : "unknown");
        if (!isnan(m->loadavg_before[0]))
            dfit_report_textf(&o, ", load %.2f before", m->loadavg_before[0]);
        if (!isnan(run->loadavg_after[0]))
            dfit_report_textf(&o, ", %.2f after", run->loadavg_after[0]);
        dfit_report_markup(&o, "\n- Kernel: ");
        dfit_report_text(&o, m->kernel ? m->kernel : "unknown");
        dfit_report_markup(&o, "\n");
    }
    dfit_report_markup(&o, "- Build: ");
    dfit_report_textf(&o, "dfit %s (%s), %s, %s", run->info.dfit_version, run->info.git_commit,
                      run->info.build_type, run->info.compiler);
    dfit_report_markup(&o, "\n\n## Method\n\n");
    dfit_report_text(&o, "Each cell ran in its own worker process; latencies are nearest-rank "
                         "percentiles over the measured requests; quality is task accuracy when "
                         "every variant has it, else top-1 agreement with the reference. The "
                         "recommendation is the highest-quality variant meeting every SLO on "
                         "every workload, ties to the cheaper. Rules: docs/report.md.");
    dfit_report_markup(&o, "\n");
    return ferror(f) ? -1 : 0;
}
