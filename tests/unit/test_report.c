/* test_report — the report end to end on a real results database built
 * through the store API (a run with 2 targets, 3 variants, 2 workloads, a
 * failed cell, an INVALID cell, a skipped target, and names that attack
 * HTML, Markdown and gnuplot), rendered with the real gnuplot: report.html
 * is self-contained with inline SVG and nothing unescaped, report.md
 * escapes its table text, the plots exist, the recommendation is the
 * expected variant, and no gnuplot command hidden in a name ran. Also the
 * path without gnuplot (PATH set to an empty directory): data and scripts
 * are written, the note gives a command, and that command renders them.
 * And the escaping functions, the store's report queries, the compiled-in
 * gnuplot templates against plots/, the recommendation summary (what
 * `dfit run` prints) against the report's, task accuracy per CSV eval set
 * as the quality axis and its table, and the "Does it pay?" table (theory
 * beside measurement and the verdict, names escaped, a run that recorded
 * no reference or costs).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/escape.h"
#include "report/plots.h"
#include "report/report.h"
#include "store/store.h"
#include "store/store_report.h"
#include "util/stats.h"

extern char **environ;

static char tmpdir[256];
static char canary[300];            /* must never be created */
static char name_script[64], name_quotes[600], name_system[600], name_batch[900];
static bool have_gnuplot;

/* ---- helpers ------------------------------------------------------------------------ */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void path_in(char *buf, size_t cap, const char *rel)
{
    snprintf(buf, cap, "%s/%s", tmpdir, rel);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Whether every c in s follows a backslash. */
static bool all_escaped(const char *s, char c)
{
    for (const char *p = strchr(s, c); p; p = strchr(p + 1, c))
        if (p == s || p[-1] != '\\')
            return false;
    return true;
}

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

/* ---- the database ------------------------------------------------------------------------ */

struct cell_spec {
    double ttft_ms, tpot_ms, top1, tokens_per_s;
    uint64_t rss_mib;
    bool valid;
    double prefill_tps, decode_tps;   /* 0: 900 and 95 */
};

/* What a cell's quality holds beyond top-1 (write_ok_q). */
struct quality_spec {
    double accuracy, accuracy_se;     /* task accuracy pooled over the sets */
    bool no_fidelity;                 /* fidelity unavailable */
};

static void summarize(const uint64_t *x, size_t n, struct dfit_summary *out)
{
    assert_int_equal(dfit_stats_summarize_u64(x, n, out), 0);
}

/* Writes an ok cell with 12 requests of 8 output tokens each; with qs,
 * task accuracy too (and fidelity missing if qs says so). */
static void write_ok_q(struct dfit_store *s, int64_t run, const char *v, const char *t,
                       const char *w, const struct cell_spec *cs, const struct quality_spec *qs)
{
    enum { NR = 12, NG = 7 };
    struct dfit_request_sample req[NR];
    uint64_t gaps[NR * NG], ttft[NR], e2e[NR];
    for (int i = 0; i < NR; i++) {
        uint64_t sum = 0;
        for (int j = 0; j < NG; j++) {
            gaps[i * NG + j] = (uint64_t)(cs->tpot_ms * 1e6 * (1 + 0.01 * j));
            sum += gaps[i * NG + j];
        }
        ttft[i] = (uint64_t)(cs->ttft_ms * 1e6 * (1 + 0.02 * i));
        e2e[i] = ttft[i] + sum;
        req[i] = (struct dfit_request_sample){.ttft_ns = ttft[i], .e2e_ns = e2e[i],
                                              .n_prompt = 16, .n_output = 8,
                                              .first_gap = (uint32_t)(i * NG)};
    }
    struct dfit_counter_value ctr[5] = {
        {.name = "PAPI_TOT_INS", .phase = DFIT_PHASE_PREFILL, .available = true, .value = 4800000},
        {.name = "PAPI_TOT_CYC", .phase = DFIT_PHASE_PREFILL, .available = true, .value = 2400000},
        {.name = "PAPI_TOT_INS", .phase = DFIT_PHASE_DECODE, .available = true, .value = 9600000},
        {.name = "PAPI_TOT_CYC", .phase = DFIT_PHASE_DECODE, .available = true, .value = 6400000},
        {.name = "PAPI_L3_TCM", .phase = DFIT_PHASE_DECODE, .available = false,
         .reason = "<not exposed> & \"vm\""},
    };
    struct dfit_cell_result r = {
        .status = DFIT_CELL_OK, .load_cold_ns = 250000000, .load_warm_ns = 40000000,
        .requests = req, .n_requests = NR, .gaps_ns = gaps, .n_gaps = NR * NG,
        .run_ns = 2000000000, .prefill_tokens_per_s = cs->prefill_tps > 0 ? cs->prefill_tps : 900,
        .decode_tokens_per_s = cs->decode_tps > 0 ? cs->decode_tps : 95,
        .requests_per_s = 6, .output_tokens_per_s = cs->tokens_per_s,
        .weight_bytes = 120u << 20, .kv_bytes = 8u << 20, .peak_rss_bytes = cs->rss_mib << 20,
        .counters = ctr, .n_counters = 5,
        .quality = {.available = !(qs && qs->no_fidelity), .n_tokens = 512, .ppl = 12,
                    .ppl_se = 0.3, .ppl_ratio = 1.01, .ppl_ratio_se = 0.004, .kl_mean = 0.01,
                    .kl_se = 0.001, .kl_p99 = 0.1, .top1 = cs->top1, .top1_se = 0.004,
                    .rms_dp = 0.02, .rms_dp_se = 0.001, .has_accuracy = qs != NULL,
                    .accuracy = qs ? qs->accuracy : NAN, .accuracy_se = qs ? qs->accuracy_se : NAN},
        .usd_per_mtok = NAN, .valid = cs->valid, .wall_ns = 3000000000};
    if (!cs->valid)
        snprintf(r.invalid_reasons, sizeof r.invalid_reasons, "min_duration_ms not met <1000>");
    snprintf(r.kernels, sizeof r.kernels, "ref");
    summarize(ttft, NR, &r.ttft);
    summarize(e2e, NR, &r.e2e);
    summarize(gaps, NR * NG, &r.tpot);
    struct dfit_err err = {0};
    int rc = dfit_store_write_cell(s, run, v, t, w, &r, &err);
    if (rc)
        fail_msg("write cell: %s", err.msg);
}

static void write_ok(struct dfit_store *s, int64_t run, const char *v, const char *t,
                     const char *w, const struct cell_spec *cs)
{
    write_ok_q(s, run, v, t, w, cs, NULL);
}

static void write_status(struct dfit_store *s, int64_t run, const char *v, const char *t,
                         const char *w, enum dfit_cell_status st, const char *reason)
{
    struct dfit_cell_result r = {.status = st, .usd_per_mtok = NAN};
    r.quality.accuracy = r.quality.accuracy_se = NAN;
    snprintf(r.reason, sizeof r.reason, "%s", reason);
    struct dfit_err err = {0};
    int rc = dfit_store_write_cell(s, run, v, t, w, &r, &err);
    if (rc)
        fail_msg("write cell: %s", err.msg);
}

static struct dfit_target_spec target(const char *name, const char *backend)
{
    struct dfit_target_spec t = {.name = (char *)name, .backend = (char *)backend, .threads = 2,
                                 .memory_limit_mib = NAN, .price_per_hour = NAN,
                                 .time_limit_s = 600};
    t.slo = (struct dfit_slo){NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    return t;
}

/* results.db: run 1 with targets edge (cpu) and gpu (every cell skipped),
 * the three hostile variant names, workloads chat and a hostile batch. */
static void build_db(const char *path)
{
    struct dfit_store *s = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_store_open(path, &s, &err), 0);
    struct dfit_run_info info = {.scenario = "demo <b>", .scenario_sha256 = "ab12",
                                 .scenario_path = "scenarios/demo.ini", .label = "pr-42"};
    struct dfit_machine_info m = {.hostname = "host", .kernel = "Linux 6.1",
                                  .cpu_model = "Test CPU <x86>", .cpu_flags = "avx2",
                                  .governor = "performance", .n_cpus = 4, .n_cores = 2,
                                  .loadavg_before = {0.5, 0.4, 0.3},
                                  .mem_total_bytes = 8ull << 30,
                                  .mem_available_bytes = 6ull << 30};
    int64_t run = 0;
    assert_int_equal(dfit_store_create_run(s, &info, &m, &run, &err), 0);
    const char *vnames[3] = {name_script, name_quotes, name_system};
    for (int i = 0; i < 3; i++) {
        struct dfit_store_variant v = {.name = vnames[i], .file = "m.gguf", .bytes = 1000,
                                       .n_params = 115008, .bits_per_weight = 8.5,
                                       .recipe = "compress=q8_0"};
        assert_int_equal(dfit_store_add_variant(s, run, &v, &err), 0);
    }
    struct dfit_target_spec edge = target("edge", "cpu");
    edge.price_per_hour = 1.0;
    edge.slo.p95_ttft_ms = 200;
    edge.slo.p95_tpot_ms = 30;
    edge.slo.min_quality = 0.9;
    edge.slo.max_memory_mib = 4096;
    char *ctrs[] = {"PAPI_TOT_INS", "PAPI_TOT_CYC"};
    edge.counters = ctrs;
    edge.n_counters = 2;
    struct dfit_target_spec gpu = target("gpu", "cuda");
    assert_int_equal(dfit_store_add_target(s, run, &edge, &err), 0);
    assert_int_equal(dfit_store_add_target(s, run, &gpu, &err), 0);
    struct dfit_target_spec idle = target("idle", "cpu"); /* no cell at all */
    assert_int_equal(dfit_store_add_target(s, run, &idle, &err), 0);
    struct dfit_workload_spec chat = {.name = "chat", .mode = DFIT_MODE_SINGLE_STREAM,
                                      .prompt_tokens = 16, .output_tokens = 8, .batch = 1,
                                      .min_duration_ms = 1000, .min_requests = 8,
                                      .warmup_requests = 1};
    struct dfit_workload_spec batch = chat;
    batch.name = name_batch;
    batch.mode = DFIT_MODE_OFFLINE;
    batch.batch = 4;
    assert_int_equal(dfit_store_add_workload(s, run, &chat, &err), 0);
    assert_int_equal(dfit_store_add_workload(s, run, &batch, &err), 0);

    /* script: best quality, misses TPOT; quotes: meets (INVALID on batch);
     * system: fails on batch */
    const struct cell_spec c0 = {50, 40, 0.99, 120, 900, true, 0, 0};
    const struct cell_spec c1 = {50, 20, 0.97, 150, 700, true, 0, 0};
    struct cell_spec c1b = c1;
    c1b.valid = false;
    const struct cell_spec c2 = {40, 10, 0.95, 200, 600, true, 0, 0};
    write_ok(s, run, name_script, "edge", "chat", &c0);
    write_ok(s, run, name_script, "edge", name_batch, &c0);
    write_ok(s, run, name_quotes, "edge", "chat", &c1);
    write_ok(s, run, name_quotes, "edge", name_batch, &c1b);
    write_ok(s, run, name_system, "edge", "chat", &c2);
    write_status(s, run, name_system, "edge", name_batch, DFIT_CELL_FAILED,
                 "worker: load <failed> | out of memory");
    for (int i = 0; i < 3; i++) {
        write_status(s, run, vnames[i], "gpu", "chat", DFIT_CELL_SKIPPED,
                     "backend 'cuda' is not compiled in");
        write_status(s, run, vnames[i], "gpu", name_batch, DFIT_CELL_SKIPPED,
                     "backend 'cuda' is not compiled in");
    }
    const double after[3] = {0.6, 0.5, 0.4};
    assert_int_equal(dfit_store_finish_run(s, run, DFIT_RUN_DONE, after, &err), 0);
    dfit_store_close(s);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfit_test_report_XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    path_in(canary, sizeof canary, "CANARY");
    snprintf(name_script, sizeof name_script, "<script>alert(1)</script>");
    snprintf(name_quotes, sizeof name_quotes, "q8 \"quotes\" | pipe `touch %s` [x](y) #h",
             canary);
    snprintf(name_system, sizeof name_system, "f16 system(\"touch %s\") 'x'\nnewline", canary);
    snprintf(name_batch, sizeof name_batch, "batch `touch %s` $(touch %s)", canary, canary);
    char db[PATH_MAX];
    path_in(db, sizeof db, "results.db");
    build_db(db);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (getenv("DFIT_TEST_KEEP")) { /* for reading the reports by hand */
        fprintf(stderr, "# kept %s\n", tmpdir);
        return 0;
    }
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes the report of the latest run into tmpdir/rel. */
static struct dfit_report_outcome report_into(const char *rel, FILE *notes)
{
    char db[PATH_MAX], dir[PATH_MAX];
    path_in(db, sizeof db, "results.db");
    path_in(dir, sizeof dir, rel);
    struct dfit_store *s = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_store_open_readonly(db, &s, &err), 0);
    struct dfit_report_options opt = {.notes = notes};
    struct dfit_report_outcome out;
    int rc = dfit_report_write(s, 0, dir, &opt, &out, &err);
    dfit_store_close(s);
    if (rc)
        fail_msg("report: %s", err.msg);
    assert_int_equal(out.run_id, 1);
    return out;
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

static void test_templates_match_sources(void **state)
{
    (void)state;
    const char *root = getenv("DFIT_SOURCE_ROOT");
    assert_non_null(root);
    static const char *const names[] = {"frontier.gp", "latency_cdf.gp"};
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/plots/%s", root, names[i]);
        char *file = slurp(path), *text = dfit_plots_template(names[i]);
        assert_non_null(file);
        assert_non_null(text);
        assert_string_equal(text, file);
        free(file);
        free(text);
    }
    assert_null(dfit_plots_template("other.gp"));
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

/* ---- the report with gnuplot ------------------------------------------------------------------- */

static void check_no_canary(const char *rel_dir)
{
    char p[PATH_MAX];
    assert_false(exists(canary));
    snprintf(p, sizeof p, "%s/%s/plots/CANARY", tmpdir, rel_dir);
    assert_false(exists(p));
    assert_false(exists("CANARY"));
}

static void test_report_with_gnuplot(void **state)
{
    (void)state;
    struct dfit_report_outcome out = report_into("out", NULL);
    if (out.plots.status != DFIT_PLOTS_RENDERED)
        fail_msg("plots: %s", out.plots.message);
    check_no_canary("out");

    char path[PATH_MAX];
    /* the plots: target 0 on both workloads, nothing for the skipped target */
    static const char *const stems[] = {"front_t0_w0_e2e", "front_t0_w0_mem", "front_t0_w0_usd",
                                        "front_t0_w1_e2e", "front_t0_w1_mem", "front_t0_w1_usd",
                                        "cdf_t0_w0_e2e", "cdf_t0_w0_ttft", "cdf_t0_w1_e2e",
                                        "cdf_t0_w1_ttft"};
    for (size_t i = 0; i < sizeof stems / sizeof stems[0]; i++)
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s/out/plots/%s.%s", tmpdir, stems[i], k ? "png" : "svg");
            if (file_size(path) <= 0)
                fail_msg("%s: missing or empty", path);
        }
    snprintf(path, sizeof path, "%s/out/plots/front_t1_w0_e2e.svg", tmpdir);
    assert_false(exists(path));
    /* the failed cell has no latency series */
    snprintf(path, sizeof path, "%s/out/plots/cdf_t0_w1_e2e_v2.dat", tmpdir);
    assert_false(exists(path));
    snprintf(path, sizeof path, "%s/out/plots/cdf_t0_w1_e2e_v1.dat", tmpdir);
    assert_true(file_size(path) > 0);

    /* report.html: self-contained, escaped, inline SVG */
    snprintf(path, sizeof path, "%s/out/report.html", tmpdir);
    char *html = slurp(path);
    assert_non_null(html);
    assert_null(strcasestr(html, "<script"));
    assert_null(strstr(html, "\"quotes\""));
    assert_null(strstr(html, "<x86>"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(html, "q8 &quot;quotes&quot; | pipe `touch "));
    assert_non_null(strstr(html, "&#39;x&#39; newline")); /* the newline is a space */
    assert_non_null(strstr(html, "<svg"));
    assert_null(strstr(html, "<?xml"));
    assert_null(strcasestr(html, "<link"));
    assert_null(strcasestr(html, "src=\"http"));
    assert_null(strcasestr(html, "href=\"http"));
    assert_non_null(strstr(html, "Recommended: <strong>q8 &quot;quotes&quot; | pipe"));
    assert_non_null(strstr(html, "Target skipped: backend &#39;cuda&#39; is not compiled in"));
    assert_non_null(strstr(html, "failed: worker: load &lt;failed&gt; | out of memory"));
    assert_non_null(strstr(html, "INVALID: min_duration_ms not met &lt;1000&gt;"));
    assert_non_null(strstr(html, "p95 TPOT 42.4 ms &gt; 30 ms on workload chat"));
    assert_non_null(strstr(html, "n/a (&lt;not exposed&gt; &amp; &quot;vm&quot;)"));
    assert_non_null(strstr(html, "Test CPU &lt;x86&gt;"));
    assert_non_null(strstr(html, "This run measured no cell on this target"));
    assert_non_null(strstr(html, "Of the other 2 variants, 1 misses an SLO and 1 was not "
                                 "measured on every workload"));
    assert_null(strstr(html, "plots were not rendered"));
    /* the IPC of prefill: 4.8M instructions / 2.4M cycles */
    assert_non_null(strstr(html, "<td>2</td>"));
    free(html);

    /* report.md: table text escaped, one line per row */
    snprintf(path, sizeof path, "%s/out/report.md", tmpdir);
    char *md = slurp(path);
    assert_non_null(md);
    assert_true(all_escaped(md, '<'));
    assert_true(all_escaped(md, '`'));
    assert_non_null(strstr(md, "\\<script\\>alert(1)\\</script\\>"));
    assert_non_null(strstr(md, "q8 \"quotes\" \\| pipe \\`touch "));
    assert_null(strstr(md, " `touch")); /* every backquote is escaped */
    assert_null(strstr(md, "\nnewline"));
    assert_non_null(strstr(md, "Recommended: **q8 \"quotes\" \\| pipe"));
    assert_non_null(strstr(md, "(plots/front_t0_w0_e2e.png)"));
    assert_non_null(strstr(md, "(plots/cdf_t0_w1_ttft.svg)"));
    assert_non_null(strstr(md, "\\#h"));
    free(md);

    /* the temporaries were renamed away */
    snprintf(path, sizeof path, "%s/out/report.html.tmp", tmpdir);
    assert_false(exists(path));
    check_no_canary("out");
}

/* Labels reached the data files intact (as text) and no script names them. */
static void test_plot_files_hold_no_user_text_in_scripts(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/out/plots/render.gp", tmpdir);
    char *render = slurp(path);
    assert_non_null(render);
    assert_null(strstr(render, "touch"));
    assert_null(strstr(render, tmpdir));
    assert_non_null(strstr(render, "call \"frontier.gp\" \"front_t0_w0_e2e\" \"e2e\" \"top1\" "
                                   "\"none\" \"0.9\" \"1\""));
    assert_non_null(strstr(render, "call \"latency_cdf.gp\" \"cdf_t0_w0_ttft\" \"ttft\" "
                                   "\"0 1 2\" \"200\""));
    free(render);
    snprintf(path, sizeof path, "%s/out/plots/front_t0_w0_e2e_pts.dat", tmpdir);
    char *pts = slurp(path);
    assert_non_null(pts);
    assert_non_null(strstr(pts, "\"<script>alert(1)</script>\""));
    assert_non_null(strstr(pts, "\"q8 'quotes' | pipe `touch ")); /* " became ' */
    assert_non_null(strstr(pts, "\"target edge, workload chat\""));
    free(pts);
    snprintf(path, sizeof path, "%s/out/plots/front_t0_w0_e2e.svg", tmpdir);
    char *svg = slurp(path);
    assert_non_null(svg);
    assert_null(strstr(svg, "<script"));
    assert_non_null(strstr(svg, "&lt;script>alert(1)&lt;/script>"));
    free(svg);
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

/* ---- without gnuplot ------------------------------------------------------------------------- */

static void test_report_without_gnuplot(void **state)
{
    (void)state;
    char empty_bin[512], dir[512], path[PATH_MAX];
    path_in(empty_bin, sizeof empty_bin, "emptybin");
    assert_int_equal(mkdir(empty_bin, 0755), 0);
    path_in(dir, sizeof dir, "nognuplot");
    char *old_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    assert_non_null(old_path);
    assert_int_equal(setenv("PATH", empty_bin, 1), 0);

    char *notes_text = NULL;
    size_t notes_len = 0;
    FILE *notes = open_memstream(&notes_text, &notes_len);
    assert_non_null(notes);
    struct dfit_report_outcome out = report_into("nognuplot", notes);
    fclose(notes);
    assert_int_equal(setenv("PATH", old_path, 1), 0);
    free(old_path);

    assert_int_equal(out.plots.status, DFIT_PLOTS_NO_GNUPLOT);
    char want[1024];
    snprintf(want, sizeof want, "cd '%s/plots' && gnuplot render.gp", dir);
    assert_non_null(strstr(out.plots.message, want));
    assert_non_null(strstr(notes_text, want));
    assert_non_null(strstr(notes_text, "gnuplot was not found"));
    free(notes_text);

    /* data and scripts are there, images are not */
    static const char *const files[] = {"render.gp", "frontier.gp", "latency_cdf.gp",
                                        "front_t0_w0_e2e_pts.dat", "front_t0_w0_e2e_front.dat",
                                        "cdf_t0_w0_e2e_v0.dat"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/plots/%s", dir, files[i]);
        if (file_size(path) <= 0)
            fail_msg("%s: missing or empty", path);
    }
    snprintf(path, sizeof path, "%s/plots/front_t0_w0_e2e.svg", dir);
    assert_false(exists(path));
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = slurp(path);
    assert_non_null(html);
    assert_non_null(strstr(html, "The plots were not rendered: gnuplot was not found"));
    assert_null(strstr(html, "<svg"));
    free(html);
    snprintf(path, sizeof path, "%s/report.md", dir);
    char *md = slurp(path);
    assert_non_null(strstr(md, "Plots not rendered: gnuplot was not found"));
    free(md);

    /* the command the note gives renders them (gnuplot is back on PATH) */
    if (have_gnuplot) {
        char sh[] = "sh", c[] = "-c";
        char *argv[] = {sh, c, want, NULL};
        pid_t pid;
        int st = 0;
        posix_spawn_file_actions_t fa; /* gnuplot's warnings are not the test's output */
        assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
        assert_int_equal(posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0), 0);
        assert_int_equal(posix_spawn_file_actions_adddup2(&fa, 1, 2), 0);
        assert_int_equal(posix_spawnp(&pid, "sh", &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        snprintf(path, sizeof path, "%s/plots/front_t0_w0_e2e.svg", dir);
        assert_true(file_size(path) > 0);
        snprintf(path, sizeof path, "%s/plots/cdf_t0_w1_ttft.png", dir);
        assert_true(file_size(path) > 0);
    }
    check_no_canary("nognuplot");
}

/* A gnuplot that records how it was started and fails: the report is
 * still written, and says why the plots are missing. */
static void test_report_gnuplot_fails(void **state)
{
    (void)state;
    char bin[512], fake[600], path[PATH_MAX];
    path_in(bin, sizeof bin, "fakebin");
    assert_int_equal(mkdir(bin, 0755), 0);
    snprintf(fake, sizeof fake, "%s/gnuplot", bin);
    FILE *f = fopen(fake, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nprintf '%s\\n' \"$PWD\" \"$#\" \"$@\" > ../started.txt\n"
          "echo 'line 1: gnuplot broke' >&2\nexit 3\n", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(fake, 0755), 0);
    char *old_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    char new_path[2048];
    snprintf(new_path, sizeof new_path, "%s:%s", bin, old_path);
    assert_int_equal(setenv("PATH", new_path, 1), 0);
    FILE *notes = fopen("/dev/null", "w");
    struct dfit_report_outcome out = report_into("failing", notes);
    fclose(notes);
    assert_int_equal(setenv("PATH", old_path, 1), 0);
    free(old_path);

    assert_int_equal(out.plots.status, DFIT_PLOTS_FAILED);
    assert_non_null(strstr(out.plots.message, "gnuplot failed (exit status 3"));
    assert_non_null(strstr(out.plots.message, "gnuplot render.gp"));
    /* started in the plot directory with the one argument render.gp */
    snprintf(path, sizeof path, "%s/failing/started.txt", tmpdir);
    char *started = slurp(path);
    assert_non_null(started);
    char want[700];
    snprintf(want, sizeof want, "%s/failing/plots\n1\nrender.gp\n", tmpdir);
    assert_string_equal(started, want);
    free(started);
    snprintf(path, sizeof path, "%s/failing/plots/render.log", tmpdir);
    char *log = slurp(path);
    assert_non_null(strstr(log, "gnuplot broke"));
    free(log);
    snprintf(path, sizeof path, "%s/failing/report.html", tmpdir);
    char *html = slurp(path);
    assert_non_null(strstr(html, "The plots were not rendered: gnuplot failed"));
    assert_null(strstr(html, "<svg"));
    free(html);
}

/* ---- main ---------------------------------------------------------------------------------------- */

static bool gnuplot_on_path(void)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    for (const char *p = path ? path : ""; p && *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/gnuplot", (int)len, p);
        if (access(buf, X_OK) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

int main(void)
{
    have_gnuplot = gnuplot_on_path();
    const struct CMUnitTest always[] = {
        cmocka_unit_test(test_escape_html),
        cmocka_unit_test(test_escape_md),
        cmocka_unit_test(test_escape_plot_label),
        cmocka_unit_test(test_escape_shell),
        cmocka_unit_test(test_store_spec),
        cmocka_unit_test(test_templates_match_sources),
        cmocka_unit_test(test_unknown_run),
        cmocka_unit_test(test_summary_and_tasks),
        cmocka_unit_test(test_payoff_section),
        cmocka_unit_test(test_report_without_gnuplot),
        cmocka_unit_test(test_report_gnuplot_fails),
    };
    const struct CMUnitTest with_gnuplot[] = {
        cmocka_unit_test(test_escape_html),
        cmocka_unit_test(test_escape_md),
        cmocka_unit_test(test_escape_plot_label),
        cmocka_unit_test(test_escape_shell),
        cmocka_unit_test(test_store_spec),
        cmocka_unit_test(test_templates_match_sources),
        cmocka_unit_test(test_unknown_run),
        cmocka_unit_test(test_summary_and_tasks),
        cmocka_unit_test(test_payoff_section),
        cmocka_unit_test(test_report_with_gnuplot),
        cmocka_unit_test(test_plot_files_hold_no_user_text_in_scripts),
        cmocka_unit_test(test_report_without_gnuplot),
        cmocka_unit_test(test_report_gnuplot_fails),
    };
    if (!have_gnuplot) {
        fprintf(stderr, "# gnuplot is not on PATH: the rendering tests are left out\n");
        return cmocka_run_group_tests(always, setup, teardown);
    }
    return cmocka_run_group_tests(with_gnuplot, setup, teardown);
}
