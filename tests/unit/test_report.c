/* test_report — the report's content on real results databases built
 * through the store API (report_fixture.h: a run with 3 targets, 3
 * variants with hostile names, 2 workloads, a failed cell, an INVALID
 * cell, a skipped target): the escaping functions, the store's report
 * queries, an unknown run, the recommendation summary (what `dfit run`
 * prints) against the report's, task accuracy per CSV eval set as the
 * quality axis and its table, and the "Does it pay?" table (theory beside
 * measurement and the verdict, names escaped, a run that recorded no
 * reference or costs).
 * Non-goals: plots and gnuplot, and hostile names in them
 * (test_report_gnuplot).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/escape.h"
#include "report/report.h"
#include "report_fixture.h"
#include "store/store.h"
#include "store/store_report.h"

/* The output of an escaper as a malloc'd string. */
static char *escaped(int (*fn)(FILE *, const char *), const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fn(f, s), 0);
    fclose(f);
    return buf;
}

/* ---- escaping ------------------------------------------------------------------------------ */

static void test_escape_html(void **state)
{
    (void)state;
    char *s = escaped(dfit_escape_html, "a&b<c>\"d'e\nf\tg");
    assert_string_equal(s, "a&amp;b&lt;c&gt;&quot;d&#39;e f\tg");
    free(s);
    s = escaped(dfit_escape_html, NULL);
    assert_string_equal(s, "");
    free(s);
}

static void test_escape_md(void **state)
{
    (void)state;
    char *s = escaped(dfit_escape_md, "a|b `c` [x](y) #h *e* _u_ <s> @m $x$ ~ &amp; k: v\nz");
    assert_string_equal(s, "a\\|b \\`c\\` \\[x\\](y) \\#h \\*e\\* \\_u\\_ \\<s\\> \\@m "
                           "\\$x\\$ \\~ \\&amp; k: v z");
    free(s);
    s = escaped(dfit_escape_md, "# title");
    assert_string_equal(s, "\\# title");
    free(s);
    s = escaped(dfit_escape_md, "- item - 1.5");
    assert_string_equal(s, "\\- item - 1.5");
    free(s);
    s = escaped(dfit_escape_md, "\\");
    assert_string_equal(s, "\\\\");
    free(s);
}

static void test_escape_plot_label(void **state)
{
    (void)state;
    char b[64];
    assert_string_equal(dfit_escape_plot_label(b, sizeof b, "a\"b\\c\td\ne", 40), "a'b/c d e");
    assert_string_equal(dfit_escape_plot_label(b, sizeof b, "x\xff\xc3(y", 40), "x?" "?(y");
    assert_string_equal(dfit_escape_plot_label(b, sizeof b, "abcdefg", 5), "abcde...");
    assert_string_equal(dfit_escape_plot_label(b, sizeof b, "abcde", 5), "abcde");
    /* é is one character of two bytes */
    assert_string_equal(dfit_escape_plot_label(b, sizeof b, "\xc3\xa9\xc3\xa9\xc3\xa9", 2),
                        "\xc3\xa9\xc3\xa9...");
    assert_string_equal(dfit_escape_plot_label(b, sizeof b, "", 5), "-");
    assert_string_equal(dfit_escape_plot_label(b, sizeof b, NULL, 5), "-");
    assert_string_equal(dfit_escape_plot_label(b, 8, "abcdefghij", 40), "abcd...");
    /* backquotes and system() stay text: only the data file ever sees them */
    assert_string_equal(dfit_escape_plot_label(b, sizeof b, "`x` system(\"y\")", 40),
                        "`x` system('y')");
}

static void test_escape_shell(void **state)
{
    (void)state;
    char *s = escaped(dfit_escape_shell, "it's a $dir");
    assert_string_equal(s, "'it'\\''s a $dir'");
    free(s);
}

/* ---- the store's report queries ------------------------------------------------------------ */

static void test_store_spec(void **state)
{
    (void)state;
    char db[PATH_MAX];
    path_in(db, sizeof db, "results.db");
    struct dfit_store *s = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_store_open_readonly(db, &s, &err), 0);
    struct dfit_store_spec *sp = NULL;
    assert_int_equal(dfit_store_load_spec(s, 1, &sp, &err), 0);
    assert_int_equal(sp->n_variants, 3);
    assert_string_equal(sp->variants[1].name, name_quotes);
    assert_string_equal(sp->variants[2].name, name_system);
    assert_int_equal(sp->variants[0].n_params, 115008);
    assert_int_equal(sp->n_targets, 3);
    assert_string_equal(sp->targets[0].name, "edge");
    assert_int_equal(sp->targets[0].n_counters, 2);
    assert_string_equal(sp->targets[0].counters[1], "PAPI_TOT_CYC");
    assert_true(sp->targets[0].slo.p95_tpot_ms == 30);
    assert_true(isnan(sp->targets[0].slo.p95_e2e_ms));
    assert_true(isnan(sp->targets[1].price_per_hour));
    assert_int_equal(sp->targets[1].n_counters, 0);
    assert_int_equal(sp->n_workloads, 2);
    assert_int_equal(sp->workloads[1].mode, DFIT_MODE_OFFLINE);
    assert_int_equal(sp->workloads[1].batch, 4);
    dfit_store_spec_free(sp);

    /* an unknown run has nothing registered */
    assert_int_equal(dfit_store_load_spec(s, 99, &sp, &err), 0);
    assert_int_equal(sp->n_variants + sp->n_targets + sp->n_workloads, 0);
    dfit_store_spec_free(sp);

    struct dfit_store_cell *cells = NULL;
    size_t n = 0;
    assert_int_equal(dfit_store_load_cells(s, 1, false, &cells, &n, &err), 0);
    assert_int_equal(n, 12);
    struct dfit_store_latencies lat;
    assert_int_equal(dfit_store_load_latencies(s, cells[0].id, &lat, &err), 0);
    assert_int_equal(lat.n, 12);
    assert_int_equal(lat.n_prompt_tokens, 12 * 16);
    assert_int_equal(lat.n_output_tokens, 12 * 8);
    for (size_t i = 1; i < lat.n; i++)
        assert_true(lat.e2e_ms[i] >= lat.e2e_ms[i - 1] && lat.ttft_ms[i] >= lat.ttft_ms[i - 1]);
    assert_true(fabs(lat.ttft_ms[0] - 50.0) < 1e-6);
    dfit_store_latencies_clear(&lat);
    dfit_store_cells_free(cells, n);
    dfit_store_close(s);
}

static void test_unknown_run(void **state)
{
    (void)state;
    char db[PATH_MAX], dir[PATH_MAX], empty[PATH_MAX];
    path_in(db, sizeof db, "results.db");
    path_in(dir, sizeof dir, "none");
    struct dfit_store *s = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_store_open_readonly(db, &s, &err), 0);
    assert_int_equal(dfit_report_write(s, 7, dir, NULL, NULL, &err), DFIT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no run 7"));
    dfit_store_close(s);
    assert_false(exists(dir));

    path_in(empty, sizeof empty, "empty.db");
    assert_int_equal(dfit_store_open(empty, &s, &err), 0);
    assert_int_equal(dfit_report_write(s, 0, dir, NULL, NULL, &err), DFIT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no run"));
    dfit_store_close(s);
}

/* ---- the recommendation summary and task accuracy ---------------------------------------------- */

/* tasks.db: target t (p95 TPOT <= 5 ms, which every variant misses) and
 * target u (no SLO); variants a and b with task accuracy, b without
 * fidelity; per-set rows on t. */
static void build_tasks_db(const char *path)
{
    struct dfit_store *s = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_store_open(path, &s, &err), 0);
    struct dfit_run_info info = {.scenario = "tasks", .scenario_sha256 = "cd34"};
    int64_t run = 0;
    assert_int_equal(dfit_store_create_run(s, &info, NULL, &run, &err), 0);
    const char *vn[2] = {"a", "b <i>"};
    for (int i = 0; i < 2; i++) {
        struct dfit_store_variant v = {.name = vn[i], .bits_per_weight = NAN};
        assert_int_equal(dfit_store_add_variant(s, run, &v, &err), 0);
    }
    struct dfit_target_spec t = target("t", "cpu"), u = target("u", "cpu");
    t.slo.p95_tpot_ms = 5;
    assert_int_equal(dfit_store_add_target(s, run, &t, &err), 0);
    assert_int_equal(dfit_store_add_target(s, run, &u, &err), 0);
    struct dfit_workload_spec chat = {.name = "chat", .mode = DFIT_MODE_SINGLE_STREAM,
                                      .prompt_tokens = 16, .output_tokens = 8, .batch = 1,
                                      .min_duration_ms = 0, .min_requests = 1};
    assert_int_equal(dfit_store_add_workload(s, run, &chat, &err), 0);
    const struct cell_spec ca = {.ttft_ms = 50, .tpot_ms = 10, .top1 = 0.9, .tokens_per_s = 100,
                                 .rss_mib = 100, .valid = true};
    const struct cell_spec cb = {.ttft_ms = 50, .tpot_ms = 6, .top1 = 0.99, .tokens_per_s = 150,
                                 .rss_mib = 90, .valid = true};
    const struct quality_spec qa = {.accuracy = 0.5, .accuracy_se = 0.1};
    const struct quality_spec qb = {.accuracy = 0.25, .accuracy_se = 0.08, .no_fidelity = true};
    for (int i = 0; i < 2; i++) {
        write_ok_q(s, run, "a", i ? "u" : "t", "chat", &ca, &qa);
        write_ok_q(s, run, "b <i>", i ? "u" : "t", "chat", &cb, &qb);
    }
    const struct dfit_task_accuracy ta[2] = {
        {.task = "eval_add", .available = true, .n_items = 20, .n_correct = 10, .accuracy = 0.5,
         .accuracy_se = 0.1118},
        {.task = "eval <mc>", .available = false, .reason = "prompt does not fit | the context"}};
    assert_int_equal(dfit_store_put_task_accuracy(s, run, "a", "t", ta, 2, &err), 0);
    assert_int_equal(dfit_store_put_task_accuracy(s, run, "b <i>", "t", ta, 1, &err), 0);
    assert_int_equal(dfit_store_finish_run(s, run, DFIT_RUN_DONE, NULL, &err), 0);
    dfit_store_close(s);
}

/* dfit_report_summary (what `dfit run` prints) and the report's
 * Recommendations section give the same verdicts; the per-set table. */
static void test_summary_and_tasks(void **state)
{
    (void)state;
    char db[PATH_MAX], dir[PATH_MAX], line[1024], p[PATH_MAX + 32];
    struct dfit_store *s = NULL;
    struct dfit_err err = {0};
    struct dfit_report_summary *sum = NULL;

    /* results.db: a recommendation flagged INVALID, a skipped target, a
     * target without cells */
    path_in(db, sizeof db, "results.db");
    assert_int_equal(dfit_store_open_readonly(db, &s, &err), 0);
    if (dfit_report_summary(s, 0, &sum, &err) != 0)
        fail_msg("summary: %s", err.msg);
    dfit_store_close(s);
    assert_int_equal(sum->run_id, 1);
    assert_int_equal(sum->n_targets, 3);
    const struct dfit_report_summary_target *e = &sum->targets[0];
    assert_string_equal(e->target, "edge");
    assert_int_equal(e->verdict, DFIT_VERDICT_RECOMMENDED);
    assert_int_equal(e->qaxis, DFIT_QUALITY_TOP1);
    assert_int_equal(e->variant, 1);
    assert_string_equal(e->variant_name, name_quotes);
    assert_true(e->invalid);
    assert_true(fabs(e->quality - 0.97) < 1e-12);
    dfit_report_summary_line(e, line, sizeof line);
    assert_true(strncmp(line, name_quotes, strlen(name_quotes)) == 0);
    assert_non_null(strstr(line, " (meets every SLO; top-1 agreement 0.97, p95 e2e "));
    assert_non_null(strstr(line, "; flagged: INVALID cells)"));
    assert_int_equal(sum->targets[1].verdict, DFIT_VERDICT_SKIPPED);
    assert_string_equal(dfit_report_summary_line(&sum->targets[1], line, sizeof line),
                        "skipped: backend 'cuda' is not compiled in");
    assert_int_equal(sum->targets[2].verdict, DFIT_VERDICT_NOT_RUN);
    assert_int_equal(sum->targets[2].variant, -1);
    assert_null(sum->targets[2].variant_name);
    dfit_report_summary_free(sum);
    dfit_report_summary_free(NULL);

    /* tasks.db: the closest miss; task accuracy as the quality axis even
     * where fidelity is missing */
    path_in(db, sizeof db, "tasks.db");
    build_tasks_db(db);
    assert_int_equal(dfit_store_open_readonly(db, &s, &err), 0);
    if (dfit_report_summary(s, 0, &sum, &err) != 0)
        fail_msg("summary: %s", err.msg);
    const struct dfit_report_summary_target *t = &sum->targets[0], *u = &sum->targets[1];
    assert_int_equal(t->verdict, DFIT_VERDICT_CLOSEST);
    assert_int_equal(t->qaxis, DFIT_QUALITY_ACCURACY);
    assert_string_equal(t->variant_name, "b <i>");
    assert_int_equal(t->n_misses, 1);
    char want_t[1024];
    dfit_report_summary_line(t, want_t, sizeof want_t);
    assert_true(strncmp(want_t, "no variant meets every SLO; closest: b <i> (p95 TPOT 6.", 55) == 0);
    assert_non_null(strstr(want_t, " ms > 5 ms on workload chat)"));
    assert_int_equal(u->verdict, DFIT_VERDICT_RECOMMENDED);
    assert_int_equal(u->qaxis, DFIT_QUALITY_ACCURACY);
    assert_string_equal(u->variant_name, "a");
    assert_true(u->quality == 0.5 && u->quality_se == 0.1);
    dfit_report_summary_line(u, line, sizeof line);
    assert_true(strncmp(line, "a (meets every SLO; task accuracy 0.5, p95 e2e ", 47) == 0);

    /* the report says the same, and shows the accuracy per set */
    path_in(dir, sizeof dir, "tasks-report");
    const struct dfit_report_options opt = {.quiet = true};
    if (dfit_report_write(s, 0, dir, &opt, NULL, &err) != 0)
        fail_msg("report: %s", err.msg);
    dfit_store_close(s);
    snprintf(p, sizeof p, "%s/report.md", dir);
    char *md = slurp(p);
    char *want_md = escaped(dfit_escape_md, want_t);
    assert_non_null(strstr(md, want_md));
    assert_non_null(strstr(md, "| variant | eval\\_add | eval \\<mc\\> | all sets (pooled) |"));
    assert_non_null(strstr(md, "| a | 0.5000 ± 0.112 (n 20) | n/a (prompt does not fit \\| the context) | "
                               "0.5000 ± 0.1 |"));
    assert_non_null(strstr(md, "| b \\<i\\> | 0.5000 ± 0.112 (n 20) | \\- | 0.2500 ± 0.08 |"));
    free(want_md);
    free(md);
    snprintf(p, sizeof p, "%s/report.html", dir);
    char *html = slurp(p);
    char *want_html = escaped(dfit_escape_html, want_t);
    assert_non_null(strstr(html, want_html));
    assert_non_null(strstr(html, "<h3>Task accuracy</h3>"));
    assert_non_null(strstr(html, "<th>eval &lt;mc&gt;</th>"));
    assert_non_null(strstr(html, "Quality axis: task accuracy"));
    assert_null(strstr(html, "<mc>"));
    free(want_html);
    free(html);
    dfit_report_summary_free(sum);
}

/* ---- "Does it pay?" -------------------------------------------------------------------------- */

/* pay.db: reference f32 (recorded), a Q4_0 variant with a hostile name
 * whose file is 3.6x smaller but decodes 1.1x faster, a 2:4 variant that
 * measures as the reference, and a variant with no recorded cost. */
static void build_pay_db(const char *path)
{
    struct dfit_store *s = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_store_open(path, &s, &err), 0);
    struct dfit_run_info info = {.scenario = "pay", .scenario_sha256 = "cd34", .reference = "f32"};
    int64_t run = 0;
    assert_int_equal(dfit_store_create_run(s, &info, NULL, &run, &err), 0);
    struct dfit_token_cost f32 = {.bytes_per_token = 3600000, .flops_per_token = 1000000,
                                  .sparse_flops_per_token = 1000000, .weight_type = "f32",
                                  .prune_sparsity = NAN};
    struct dfit_token_cost q4 = f32, s24 = f32;
    q4.bytes_per_token = 1000000;
    snprintf(q4.weight_type, sizeof q4.weight_type, "q4_0");
    s24.sparse_flops_per_token = 500000;
    snprintf(s24.prune_pattern, sizeof s24.prune_pattern, "2:4");
    s24.prune_sparsity = 0.5;
    const struct dfit_store_variant vs[4] = {
        {.name = "f32", .bytes = 3600, .bits_per_weight = NAN, .has_cost = true, .cost = f32},
        {.name = "q4 <b>x</b> | y", .bytes = 1000, .bits_per_weight = NAN, .has_cost = true,
         .cost = q4},
        {.name = "s24", .bytes = 3600, .bits_per_weight = NAN, .has_cost = true, .cost = s24},
        {.name = "nocost", .file = "/nonexistent/m.gguf", .bytes = 900, .bits_per_weight = NAN},
    };
    for (int i = 0; i < 4; i++)
        assert_int_equal(dfit_store_add_variant(s, run, &vs[i], &err), 0);
    struct dfit_target_spec cpu = target("cpu1", "cpu");
    assert_int_equal(dfit_store_add_target(s, run, &cpu, &err), 0);
    struct dfit_workload_spec w = {.name = "chat", .mode = DFIT_MODE_SINGLE_STREAM,
                                   .prompt_tokens = 16, .output_tokens = 8, .batch = 1,
                                   .min_duration_ms = 1000, .min_requests = 8,
                                   .warmup_requests = 1};
    assert_int_equal(dfit_store_add_workload(s, run, &w, &err), 0);
    const double decode[4] = {100, 110, 100, 150};
    for (int i = 0; i < 4; i++) {
        struct cell_spec cs = {50, 20, 0.97, 150, 700, true, 1000, decode[i]};
        write_ok(s, run, vs[i].name, "cpu1", "chat", &cs);
    }
    assert_int_equal(dfit_store_finish_run(s, run, DFIT_RUN_DONE, NULL, &err), 0);
    dfit_store_close(s);
}

static void test_payoff_section(void **state)
{
    (void)state;
    char db[PATH_MAX], dir[512], path[PATH_MAX];
    path_in(db, sizeof db, "pay.db");
    path_in(dir, sizeof dir, "pay");
    build_pay_db(db);
    struct dfit_store *s = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_store_open_readonly(db, &s, &err), 0);
    struct dfit_report_options opt = {.quiet = true};
    int rc = dfit_report_write(s, 0, dir, &opt, NULL, &err);
    dfit_store_close(s);
    if (rc)
        fail_msg("report: %s", err.msg);

    snprintf(path, sizeof path, "%s/report.md", dir);
    char *md = slurp(path);
    assert_non_null(md);
    assert_non_null(strstr(md, "### Does it pay?"));
    assert_non_null(strstr(md, "Against the reference variant **f32** on this target"));
    assert_non_null(strstr(md, "| f32 | chat | f32 | none | 1.0× | 1.0× | 1.0× | 1.0× | 1.0× | "
                               "1.0× | reference |"));
    /* the misuse, in bold, beside the theory: 3.6x fewer bytes, 1.1x faster */
    assert_non_null(strstr(md, "| q4 \\<b\\>x\\</b\\> \\| y | chat | q4\\_0 | none | 3.6× | "
                               "3.6× | 1.1× | 1.0× | 1.0× | 1.0× | **does not pay: file 3.6× "
                               "smaller, decode 1.1× faster (3.6× in theory)** |"));
    assert_non_null(strstr(md, "| s24 | chat | f32 | 2:4, 50 % | 1.0× | 1.0× | 1.0× | 1.0× | "
                               "2.0× | 1.0× | **does not pay: file same size, decode 1.0× "
                               "faster; its 2:4 zeros are stored dense"));
    assert_non_null(strstr(md, "| nocost | chat | ? | ? | 4.0× | n/a | 1.5× | n/a | n/a | 1.0× "
                               "| n/a: no per-token cost recorded for this variant |"));
    free(md);

    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = slurp(path);
    assert_non_null(html);
    assert_non_null(strstr(html, "<h3>Does it pay?</h3>"));
    assert_non_null(strstr(html, "q4 &lt;b&gt;x&lt;/b&gt; | y"));
    assert_null(strstr(html, "<b>x</b>"));
    assert_non_null(strstr(html, "does not pay: file 3.6× smaller, decode 1.1× faster"));
    /* the bar chart is plain boxes, with the numbers in its title */
    assert_non_null(strstr(html, "title=\"decode 3.6× in theory, 1.1× measured; prefill 1.0× in "
                                 "theory, 1.0× measured\""));
    free(html);

    /* a run without a recorded reference: the first variant stands in */
    path_in(db, sizeof db, "results.db");
    path_in(dir, sizeof dir, "pay-old");
    assert_int_equal(dfit_store_open_readonly(db, &s, &err), 0);
    assert_int_equal(dfit_report_write(s, 0, dir, &opt, NULL, &err), 0);
    dfit_store_close(s);
    snprintf(path, sizeof path, "%s/report.md", dir);
    md = slurp(path);
    assert_non_null(md);
    assert_non_null(strstr(md, "(the first variant: this run did not record its reference)"));
    assert_non_null(strstr(md, "n/a: no per-token cost recorded for either variant"));
    free(md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_html),
        cmocka_unit_test(test_escape_md),
        cmocka_unit_test(test_escape_plot_label),
        cmocka_unit_test(test_escape_shell),
        cmocka_unit_test(test_store_spec),
        cmocka_unit_test(test_unknown_run),
        cmocka_unit_test(test_summary_and_tasks),
        cmocka_unit_test(test_payoff_section),
    };
    return cmocka_run_group_tests(tests, report_fixture_setup, report_fixture_teardown);
}
