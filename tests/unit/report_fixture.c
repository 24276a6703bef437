/* report_fixture.c — the shared fixture of the report's tests
 * (report_fixture.h): the temporary directory, results.db with its hostile
 * names, files read back, and cells written with chosen figures.
 * Non-goals: tests (test_report*.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report_fixture.h"
#include "util/stats.h"

char tmpdir[256];
char canary[300];            /* must never be created */
char name_script[64], name_quotes[600], name_system[600], name_batch[900];

/* ---- files ------------------------------------------------------------------------------ */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

void path_in(char *buf, size_t cap, const char *rel)
{
    snprintf(buf, cap, "%s/%s", tmpdir, rel);
}

char *slurp(const char *path)
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

bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* ---- the database ------------------------------------------------------------------------ */

static void summarize(const uint64_t *x, size_t n, struct dfit_summary *out)
{
    assert_int_equal(dfit_stats_summarize_u64(x, n, out), 0);
}

/* Writes an ok cell with 12 requests of 8 output tokens each; with qs,
 * task accuracy too (and fidelity missing if qs says so). */
void write_ok_q(struct dfit_store *s, int64_t run, const char *v, const char *t, const char *w,
                const struct cell_spec *cs, const struct quality_spec *qs)
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

void write_ok(struct dfit_store *s, int64_t run, const char *v, const char *t, const char *w,
              const struct cell_spec *cs)
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

struct dfit_target_spec target(const char *name, const char *backend)
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

int report_fixture_setup(void **state)
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

int report_fixture_teardown(void **state)
{
    (void)state;
    if (getenv("DFIT_TEST_KEEP")) { /* for reading the reports by hand */
        fprintf(stderr, "# kept %s\n", tmpdir);
        return 0;
    }
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
