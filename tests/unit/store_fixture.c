/* store_fixture.c — the shared fixture of the results-database tests
 * (store_fixture.h): the temporary directory, opening, raw SQL, runs with
 * their names registered, and a measured cell.
 * Non-goals: tests (test_store*.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_fixture.h"

static char tmpdir[256];

void path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

int store_fixture_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfit_test_store_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

int store_fixture_teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- stores, raw SQL, runs ------------------------------------------------------------ */

struct dfit_store *open_ok(const char *name)
{
    char path[512];
    path_in(path, sizeof path, name);
    struct dfit_err err = {0};
    struct dfit_store *s = NULL;
    int rc = dfit_store_open(path, &s, &err);
    if (rc)
        fprintf(stderr, "open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    return s;
}

/* One integer from raw SQL on the store's connection. */
int64_t sql_int(struct dfit_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(dfit_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

void sql_text(struct dfit_store *s, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(dfit_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(out, cap, "%s", t ? (const char *)t : "(null)");
    sqlite3_finalize(st);
}

const char SHA_A[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const char SHA_B[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

int64_t new_run(struct dfit_store *s, const char *scenario, const char *sha)
{
    struct dfit_run_info info = {.scenario = scenario, .scenario_sha256 = sha,
                                 .scenario_path = "scenarios/x.ini", .label = "nightly"};
    struct dfit_machine_info m = {.hostname = "bench-1", .kernel = "Linux 6.1", .cpu_model = "Test CPU",
                                  .cpu_flags = "sse2 avx2", .governor = "performance", .n_cpus = 8,
                                  .n_cores = 4, .loadavg_before = {0.5, 0.25, NAN},
                                  .mem_total_bytes = 16ull << 30, .mem_available_bytes = 0};
    struct dfit_err err = {0};
    int64_t id = 0;
    int rc = dfit_store_create_run(s, &info, &m, &id, &err);
    if (rc)
        fprintf(stderr, "create run: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_true(id > 0);
    return id;
}

void add_names(struct dfit_store *s, int64_t run, const char *v, const char *t, const char *w)
{
    struct dfit_err err = {0};
    struct dfit_store_variant var = {.name = v, .file = "m.gguf", .sha256 = SHA_A, .bytes = 1234,
                                     .n_params = 1000, .bits_per_weight = 4.5,
                                     .recipe = "compress=q4_0", .lineage = "parent=base"};
    struct dfit_target_spec tgt = {.name = (char *)t, .backend = "cpu", .threads = 4,
                                   .memory_limit_mib = NAN, .price_per_hour = 0.5,
                                   .time_limit_s = 600,
                                   .slo = {.p95_ttft_ms = 200, .p95_tpot_ms = NAN, .p95_e2e_ms = NAN,
                                           .min_tokens_per_s = NAN, .max_memory_mib = NAN,
                                           .max_usd_per_mtok = NAN, .min_quality = 0.9}};
    struct dfit_workload_spec wl = {.name = (char *)w, .mode = DFIT_MODE_OFFLINE, .prompt_tokens = 64,
                                    .output_tokens = 16, .batch = 4, .min_duration_ms = 1000,
                                    .min_requests = 8, .warmup_requests = 2};
    assert_int_equal(dfit_store_add_variant(s, run, &var, &err), 0);
    assert_int_equal(dfit_store_add_target(s, run, &tgt, &err), 0);
    assert_int_equal(dfit_store_add_workload(s, run, &wl, &err), 0);
}

/* ---- a measured cell ----------------------------------------------------------------- */

static void fill_summary(struct dfit_summary *m, double base, uint64_t n)
{
    *m = (struct dfit_summary){.n = n, .mean = base * 1.1, .stdev = base / 7.0, .cv = 1.0 / 7.7,
                               .p50 = base, .p90 = base * 1.3, .p95 = base * 1.4 + 0.125,
                               .p99 = base * 1.9, .max = base * 2.0 + 1e-9};
}

/* A measured cell: n_req requests; request i has i % 4 gaps (so some have
 * none); three counters, one unavailable. */
void make_result(struct dfit_cell_result *r, uint32_t n_req, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->status = DFIT_CELL_OK;
    r->load_open_ns = 1000 + seed;
    r->load_validate_ns = 2000;
    r->load_prepare_ns = 3000;
    r->load_first_forward_ns = 4000;
    r->load_cold_ns = 50000;
    r->load_warm_ns = 40000;
    r->wall_ns = 9000000000ull;
    r->n_requests = n_req;
    r->requests = calloc(n_req ? n_req : 1, sizeof *r->requests);
    uint64_t n_gaps = 0;
    for (uint32_t i = 0; i < n_req; i++)
        n_gaps += i % 4;
    r->gaps_ns = calloc(n_gaps ? n_gaps : 1, sizeof *r->gaps_ns);
    assert_non_null(r->requests);
    assert_non_null(r->gaps_ns);
    for (uint32_t i = 0; i < n_req; i++) {
        r->requests[i] = (struct dfit_request_sample){.ttft_ns = 1000000 + i * 17 + seed,
                                                      .e2e_ns = 5000000 + i * 31, .n_prompt = 64,
                                                      .n_output = 16 + i, .first_gap = (uint32_t)r->n_gaps};
        for (uint32_t k = 0; k < i % 4; k++)
            r->gaps_ns[r->n_gaps++] = 250000 + i * 1000 + k;
    }
    r->run_ns = 123456789;
    fill_summary(&r->ttft, 1e6, n_req);
    fill_summary(&r->tpot, 2.5e5, r->n_gaps);
    fill_summary(&r->e2e, 5e6, n_req);
    r->prefill_tokens_per_s = 1234.5;
    r->decode_tokens_per_s = 98.25;
    r->requests_per_s = 3.0 / 7.0;
    r->output_tokens_per_s = 77.7;
    r->weight_bytes = 5ull << 30;
    r->kv_bytes = 1 << 20;
    r->workspace_bytes = 4096;
    r->peak_rss_bytes = 6ull << 30;
    r->device_peak_bytes = 0;
    r->n_counters = 3;
    r->counters = calloc(3, sizeof *r->counters);
    assert_non_null(r->counters);
    r->counters[0] = (struct dfit_counter_value){.name = "PAPI_TOT_CYC", .phase = DFIT_PHASE_DECODE,
                                                 .available = true, .value = 9000000000LL};
    r->counters[1] = (struct dfit_counter_value){.name = "PAPI_TOT_INS", .phase = DFIT_PHASE_PREFILL,
                                                 .available = true, .value = 0};
    r->counters[2] = (struct dfit_counter_value){.name = "PAPI_L3_TCM", .phase = DFIT_PHASE_DECODE,
                                                 .available = false, .value = 0,
                                                 .reason = "Event does not exist"};
    r->quality = (struct dfit_quality){.available = true, .n_tokens = 4096, .ppl = 12.5,
                                       .ppl_se = 0.1, .ppl_ratio = 1.01, .ppl_ratio_se = 0.002,
                                       .kl_mean = 0.01, .kl_se = 0.0005, .kl_p99 = 0.2,
                                       .top1 = 0.97, .top1_se = 0.003, .rms_dp = 0.02,
                                       .rms_dp_se = 0.001, .has_accuracy = true,
                                       .accuracy = 0.75, .accuracy_se = 0.04};
    r->usd_per_mtok = NAN;
    r->valid = false;
    snprintf(r->invalid_reasons, sizeof r->invalid_reasons, "min duration not met; cv 0.12 > 0.05");
    snprintf(r->kernels, sizeof r->kernels, "q4_0-avx2");
}

void assert_same_double(double a, double b)
{
    /* stored as an 8-byte REAL: exact, tolerance 0; NAN (NULL) matches NAN */
    if (isnan(a) || isnan(b)) {
        assert_true(isnan(a) && isnan(b));
        return;
    }
    assert_memory_equal(&a, &b, sizeof a);
}

int write_cell(struct dfit_store *s, int64_t run, const char *v, const char *t, const char *w,
               const struct dfit_cell_result *r, struct dfit_err *err)
{
    return dfit_store_write_cell(s, run, v, t, w, r, err);
}
