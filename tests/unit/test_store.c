/* test_store — the results database on real SQLite files in a temporary
 * directory: schema and versions, the migration of version-1 and version-2
 * files, task accuracy per set (written, replaced, read back, refused), runs,
 * variants with their per-token cost, cells read back exactly, the
 * replacement and resume rules, rollback of a failed write, concurrent
 * writers in two processes, and CSV export parsed back with libcsv.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <csv.h>
#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"

#include "store/store.h"
#include "store/store_report.h"

static char tmpdir[256];

static void path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfit_test_store_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers --------------------------------------------------------------------- */

static struct dfit_store *open_ok(const char *name)
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
static int64_t sql_int(struct dfit_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(dfit_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void sql_text(struct dfit_store *s, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(dfit_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(out, cap, "%s", t ? (const char *)t : "(null)");
    sqlite3_finalize(st);
}

static const char SHA_A[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char SHA_B[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static int64_t new_run(struct dfit_store *s, const char *scenario, const char *sha)
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

static void add_names(struct dfit_store *s, int64_t run, const char *v, const char *t, const char *w)
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

static void fill_summary(struct dfit_summary *m, double base, uint64_t n)
{
    *m = (struct dfit_summary){.n = n, .mean = base * 1.1, .stdev = base / 7.0, .cv = 1.0 / 7.7,
                               .p50 = base, .p90 = base * 1.3, .p95 = base * 1.4 + 0.125,
                               .p99 = base * 1.9, .max = base * 2.0 + 1e-9};
}

/* A measured cell: n_req requests; request i has i % 4 gaps (so some have
 * none); three counters, one unavailable. */
static void make_result(struct dfit_cell_result *r, uint32_t n_req, uint64_t seed)
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

static void assert_same_double(double a, double b)
{
    /* stored as an 8-byte REAL: exact, tolerance 0; NAN (NULL) matches NAN */
    if (isnan(a) || isnan(b)) {
        assert_true(isnan(a) && isnan(b));
        return;
    }
    assert_memory_equal(&a, &b, sizeof a);
}

static void assert_same_summary(const struct dfit_summary *a, const struct dfit_summary *b)
{
    assert_int_equal(a->n, b->n);
    const double *x = &a->mean, *y = &b->mean;
    for (int i = 0; i < 8; i++) /* mean, stdev, cv, p50, p90, p95, p99, max */
        if (a->n)
            assert_same_double(x[i], y[i]);
        else
            assert_true(isnan(y[i])); /* no samples: stored NULL, read NAN */
}

static void assert_same_result(const struct dfit_cell_result *a, const struct dfit_cell_result *b)
{
    assert_int_equal(a->status, b->status);
    assert_string_equal(a->reason, b->reason);
    assert_int_equal(a->load_open_ns, b->load_open_ns);
    assert_int_equal(a->load_validate_ns, b->load_validate_ns);
    assert_int_equal(a->load_prepare_ns, b->load_prepare_ns);
    assert_int_equal(a->load_first_forward_ns, b->load_first_forward_ns);
    assert_int_equal(a->load_cold_ns, b->load_cold_ns);
    assert_int_equal(a->load_warm_ns, b->load_warm_ns);
    assert_int_equal(a->wall_ns, b->wall_ns);
    assert_int_equal(a->n_requests, b->n_requests);
    assert_int_equal(a->n_gaps, b->n_gaps);
    for (uint32_t i = 0; i < a->n_requests; i++) {
        assert_int_equal(a->requests[i].ttft_ns, b->requests[i].ttft_ns);
        assert_int_equal(a->requests[i].e2e_ns, b->requests[i].e2e_ns);
        assert_int_equal(a->requests[i].n_prompt, b->requests[i].n_prompt);
        assert_int_equal(a->requests[i].n_output, b->requests[i].n_output);
        assert_int_equal(a->requests[i].first_gap, b->requests[i].first_gap);
    }
    if (a->n_gaps)
        assert_memory_equal(a->gaps_ns, b->gaps_ns, a->n_gaps * sizeof *a->gaps_ns);
    assert_int_equal(a->run_ns, b->run_ns);
    assert_same_summary(&a->ttft, &b->ttft);
    assert_same_summary(&a->tpot, &b->tpot);
    assert_same_summary(&a->e2e, &b->e2e);
    assert_same_double(a->prefill_tokens_per_s, b->prefill_tokens_per_s);
    assert_same_double(a->decode_tokens_per_s, b->decode_tokens_per_s);
    assert_same_double(a->requests_per_s, b->requests_per_s);
    assert_same_double(a->output_tokens_per_s, b->output_tokens_per_s);
    assert_int_equal(a->weight_bytes, b->weight_bytes);
    assert_int_equal(a->kv_bytes, b->kv_bytes);
    assert_int_equal(a->workspace_bytes, b->workspace_bytes);
    assert_int_equal(a->peak_rss_bytes, b->peak_rss_bytes);
    assert_int_equal(a->device_peak_bytes, b->device_peak_bytes);
    assert_int_equal(a->n_counters, b->n_counters);
    for (uint32_t i = 0; i < a->n_counters; i++) {
        assert_string_equal(a->counters[i].name, b->counters[i].name);
        assert_int_equal(a->counters[i].phase, b->counters[i].phase);
        assert_int_equal(a->counters[i].available, b->counters[i].available);
        if (a->counters[i].available)
            assert_int_equal(a->counters[i].value, b->counters[i].value);
        assert_string_equal(a->counters[i].reason, b->counters[i].reason);
    }
    const struct dfit_quality *p = &a->quality, *q = &b->quality;
    assert_int_equal(p->available, q->available);
    assert_string_equal(p->reason, q->reason);
    if (p->available) {
        assert_int_equal(p->n_tokens, q->n_tokens);
        const double *x = &p->ppl, *y = &q->ppl;
        for (int i = 0; i < 12; i++) /* ppl .. rms_dp_se */
            assert_same_double(x[i], y[i]);
    }
    assert_int_equal(p->has_accuracy, q->has_accuracy);
    if (p->has_accuracy) {
        assert_same_double(p->accuracy, q->accuracy);
        assert_same_double(p->accuracy_se, q->accuracy_se);
    }
    assert_same_double(a->usd_per_mtok, b->usd_per_mtok);
    assert_int_equal(a->valid, b->valid);
    assert_string_equal(a->invalid_reasons, b->invalid_reasons);
    assert_string_equal(a->kernels, b->kernels);
}

static int write_cell(struct dfit_store *s, int64_t run, const char *v, const char *t,
                      const char *w, const struct dfit_cell_result *r, struct dfit_err *err)
{
    return dfit_store_write_cell(s, run, v, t, w, r, err);
}

/* ---- schema and opening ------------------------------------------------------------ */

static void test_schema_file_matches(void **state)
{
    (void)state;
    const char *root = getenv("DFIT_SOURCE_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/results/schema.sql", root ? root : DFIT_SOURCE_ROOT);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *file = calloc(1, 1 << 16);
    assert_non_null(file);
    size_t n = fread(file, 1, (1 << 16) - 1, f);
    fclose(f);
    char *embedded = dfit_store_schema_sql();
    assert_non_null(embedded);
    assert_int_equal(strlen(embedded), n);
    assert_string_equal(embedded, file);
    free(embedded);
    free(file);
}

static void test_open_creates_and_reopens(void **state)
{
    (void)state;
    struct dfit_store *s = open_ok("deep/er/results.db"); /* parents created */
    assert_int_equal(sql_int(s, "PRAGMA user_version"), DFIT_STORE_SCHEMA_VERSION);
    assert_int_equal(sql_int(s, "PRAGMA foreign_keys"), 1);
    assert_true(sql_int(s, "PRAGMA busy_timeout") >= 10000);
    char mode[32];
    sql_text(s, "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "wal");
    int64_t n_tables = sql_int(s, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'");
    assert_int_equal(n_tables, 10);
    int64_t run = new_run(s, "sc", SHA_A);
    dfit_store_close(s);

    s = open_ok("deep/er/results.db"); /* reopening changes nothing */
    assert_int_equal(sql_int(s, "PRAGMA user_version"), DFIT_STORE_SCHEMA_VERSION);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"),
                     n_tables);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(sql_int(s, "SELECT max(id) FROM runs"), run);
    char ok[16];
    sql_text(s, "PRAGMA integrity_check", ok, sizeof ok);
    assert_string_equal(ok, "ok");
    dfit_store_close(s);
    dfit_store_close(NULL);

    char path[512];
    path_in(path, sizeof path, "deep/er/results.db");
    struct dfit_err err = {0};
    assert_int_equal(dfit_store_open_readonly(path, &s, &err), 0);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM runs"), 1);
    dfit_store_close(s);
}

static void test_refuses_bad_files(void **state)
{
    (void)state;
    char path[512];
    struct dfit_err err = {0};
    struct dfit_store *s = (struct dfit_store *)&err; /* must come back NULL */

    /* a newer schema than this binary knows */
    path_in(path, sizeof path, "future.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(dfit_store_open(path, &s, &err), DFIT_EUNSUPPORTED);
    assert_null(s);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "schema version 99 is newer"));
    s = (struct dfit_store *)&err;
    assert_int_equal(dfit_store_open_readonly(path, &s, &err), DFIT_EUNSUPPORTED);
    assert_null(s);

    /* an SQLite file with other tables and no version */
    path_in(path, sizeof path, "other.db");
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(dfit_store_open(path, &s, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "not a dfit results database"));

    /* not an SQLite file at all */
    path_in(path, sizeof path, "text.db");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not a database\n", f);
    fclose(f);
    assert_int_equal(dfit_store_open(path, &s, &err), DFIT_EIO);
    assert_non_null(strstr(err.msg, path));
    assert_null(s);

    /* read-only open of a missing file creates nothing */
    path_in(path, sizeof path, "missing.db");
    assert_int_equal(dfit_store_open_readonly(path, &s, &err), DFIT_ENOTFOUND);
    assert_int_equal(access(path, F_OK), -1);
}

/* ---- version 2: migration, reference, per-token cost ------------------------------------ */

static const char *const v2_variant_cols[] = {
    "bytes_per_token", "kv_values_per_pos", "flops_per_token", "sparse_flops_per_token",
    "output_flops", "attn_flops_per_pos", "weight_type", "prune_pattern", "prune_sparsity"};

/* The columns of a table, comma-separated, as PRAGMA table_info lists them. */
static void table_columns(sqlite3 *db, const char *table, char *out, size_t cap)
{
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s:%s", out[0] ? "," : "",
                 (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2));
    sqlite3_finalize(st);
}

static void test_migrate_1_to_2(void **state)
{
    (void)state;
    /* a version-1 file: today's schema less the version-2 columns, with a
     * run and a variant written the version-1 way */
    char path[512];
    path_in(path, sizeof path, "v1.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *sql = dfit_store_schema_sql();
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    free(sql);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE runs DROP COLUMN reference", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE task_accuracy", NULL, NULL, NULL), SQLITE_OK);
    for (size_t i = 0; i < sizeof v2_variant_cols / sizeof v2_variant_cols[0]; i++) {
        char drop[128];
        snprintf(drop, sizeof drop, "ALTER TABLE variants DROP COLUMN %s", v2_variant_cols[i]);
        assert_int_equal(sqlite3_exec(db, drop, NULL, NULL, NULL), SQLITE_OK);
    }
    assert_int_equal(sqlite3_exec(db,
        "INSERT INTO runs (id, scenario, scenario_sha256, started_at, status, dfit_version, "
        "git_commit, build_type, compiler) VALUES (1, 'old', 'ab', '2025-01-01T00:00:00.000Z', "
        "'done', '0.0.9', 'x', 'release', 'gcc');"
        "INSERT INTO variants (run_id, name, file, bytes) VALUES (1, 'f32', 'm.gguf', 4000);"
        "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* a read-only open refuses to migrate */
    struct dfit_err err = {0};
    struct dfit_store *s = NULL;
    assert_int_equal(dfit_store_open_readonly(path, &s, &err), DFIT_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "schema version 1 is older"));

    s = open_ok("v1.db");
    assert_int_equal(sql_int(s, "PRAGMA user_version"), DFIT_STORE_SCHEMA_VERSION);
    char cols_migrated[4096], cols_fresh[4096];
    table_columns(dfit_store_db(s), "variants", cols_migrated, sizeof cols_migrated);
    struct dfit_store *f = open_ok("v2-fresh.db");
    table_columns(dfit_store_db(f), "variants", cols_fresh, sizeof cols_fresh);
    assert_string_equal(cols_migrated, cols_fresh); /* same columns, same order */
    table_columns(dfit_store_db(s), "runs", cols_migrated, sizeof cols_migrated);
    table_columns(dfit_store_db(f), "runs", cols_fresh, sizeof cols_fresh);
    assert_string_equal(cols_migrated, cols_fresh);
    dfit_store_close(f);

    /* the old rows read back with nothing recorded */
    struct dfit_store_run *run = NULL;
    assert_int_equal(dfit_store_get_run(s, 1, &run, &err), 0);
    assert_null(run->info.reference);
    dfit_store_runs_free(run, 1);
    struct dfit_store_spec *sp = NULL;
    assert_int_equal(dfit_store_load_spec(s, 1, &sp, &err), 0);
    assert_int_equal(sp->n_variants, 1);
    assert_false(sp->variants[0].has_cost);
    assert_int_equal(sp->variants[0].bytes, 4000);
    dfit_store_spec_free(sp);
    dfit_store_close(s);

    /* the migrated file is now current: a read-only open takes it */
    assert_int_equal(dfit_store_open_readonly(path, &s, &err), 0);
    dfit_store_close(s);
}

/* The CREATE statement of a table, as SQLite keeps it, without its blanks
 * and line breaks (the schema file lays it out on lines). */
static void table_sql(sqlite3 *db, const char *table, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_schema WHERE name = ?1", -1, &st,
                                        NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *t = (const char *)sqlite3_column_text(st, 0);
    size_t n = 0;
    for (; t && *t && n + 1 < cap; t++)
        if (*t != ' ' && *t != '\n')
            out[n++] = *t;
    out[n] = '\0';
    sqlite3_finalize(st);
}

/* Version 3: a version-2 file gets the task_accuracy table, the same as a
 * new file's; its rows read back. */
static void test_migrate_2_to_3(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "v2.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *sql = dfit_store_schema_sql();
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    free(sql);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE task_accuracy; PRAGMA user_version = 2;", NULL, NULL,
                                  NULL), SQLITE_OK);
    sqlite3_close(db);
    struct dfit_err err = {0};
    struct dfit_store *s = NULL;
    assert_int_equal(dfit_store_open_readonly(path, &s, &err), DFIT_EUNSUPPORTED);
    s = open_ok("v2.db");
    assert_int_equal(sql_int(s, "PRAGMA user_version"), 3);
    struct dfit_store *f = open_ok("v3-fresh.db");
    char migrated[2048], fresh[2048];
    table_columns(dfit_store_db(s), "task_accuracy", migrated, sizeof migrated);
    table_columns(dfit_store_db(f), "task_accuracy", fresh, sizeof fresh);
    assert_string_equal(migrated, fresh);
    table_sql(dfit_store_db(s), "task_accuracy", migrated, sizeof migrated);
    table_sql(dfit_store_db(f), "task_accuracy", fresh, sizeof fresh);
    assert_string_equal(migrated, fresh); /* constraints and keys too */
    dfit_store_close(f);
    dfit_store_close(s);
}

/* Task accuracy per (variant, target) and set: written whole, replaced
 * whole, read back in order, an unavailable set with its reason. */
static void test_task_accuracy(void **state)
{
    (void)state;
    struct dfit_store *s = open_ok("tasks.db");
    struct dfit_err err = {0};
    int64_t run = new_run(s, "sc", SHA_A);
    const char *hostile = "q\"'`touch X`$(touch X)<b>";
    add_names(s, run, "f32", "cpu", "w");
    add_names(s, run, hostile, "cpu", "w");
    add_names(s, run, "f32", "gpu<i>", "w");
    struct dfit_task_accuracy t[3] = {
        {.task = "eval_add", .available = true, .n_items = 40, .n_correct = 10, .accuracy = 0.25,
         .accuracy_se = 0.0684653196881458},
        {.task = "eval_mc \"x\"", .available = true, .n_items = 8, .n_correct = 0, .accuracy = 0.0,
         .accuracy_se = 0.0},
        {.task = "eval_long", .available = false, .reason = "an item does not fit the context"},
    };
    assert_int_equal(dfit_store_put_task_accuracy(s, run, hostile, "cpu", t, 3, &err), 0);
    assert_int_equal(dfit_store_put_task_accuracy(s, run, "f32", "gpu<i>", t, 1, &err), 0);
    assert_int_equal(dfit_store_put_task_accuracy(s, run, "f32", "cpu", t, 2, &err), 0);
    /* measured again (a resumed run): replaced whole */
    t[0].n_correct = 20;
    t[0].accuracy = 0.5;
    assert_int_equal(dfit_store_put_task_accuracy(s, run, "f32", "cpu", t, 1, &err), 0);

    struct dfit_store_task_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(dfit_store_load_task_accuracy(s, run, &rows, &n, &err), 0);
    assert_int_equal(n, 5);
    /* by target, then variant, in registration order, then idx */
    const char *want[][3] = {{"cpu", "f32", "eval_add"}, {"cpu", hostile, "eval_add"},
                             {"cpu", hostile, "eval_mc \"x\""}, {"cpu", hostile, "eval_long"},
                             {"gpu<i>", "f32", "eval_add"}};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(rows[i].target, want[i][0]);
        assert_string_equal(rows[i].variant, want[i][1]);
        assert_string_equal(rows[i].a.task, want[i][2]);
    }
    assert_true(rows[0].a.available);
    assert_int_equal(rows[0].a.n_items, 40);
    assert_int_equal(rows[0].a.n_correct, 20);
    assert_true(rows[0].a.accuracy == 0.5);
    assert_true(rows[0].a.accuracy_se == 0.0684653196881458);
    assert_true(rows[2].a.available && rows[2].a.accuracy == 0.0 && rows[2].a.n_correct == 0);
    assert_int_equal(rows[3].idx, 2);
    assert_false(rows[3].a.available);
    assert_true(isnan(rows[3].a.accuracy));
    assert_string_equal(rows[3].a.reason, "an item does not fit the context");
    dfit_store_task_rows_free(rows, n);
    dfit_store_task_rows_free(NULL, 0);

    /* refused, nothing changed: an unregistered variant, a repeated set, an
     * available set without a figure */
    assert_int_equal(dfit_store_put_task_accuracy(s, run, "nope", "cpu", t, 1, &err), DFIT_EINVAL);
    struct dfit_task_accuracy twice[2] = {t[0], t[0]};
    assert_int_equal(dfit_store_put_task_accuracy(s, run, hostile, "cpu", twice, 2, &err), DFIT_EINVAL);
    struct dfit_task_accuracy nan_acc = t[0];
    nan_acc.accuracy = NAN;
    assert_int_equal(dfit_store_put_task_accuracy(s, run, hostile, "cpu", &nan_acc, 1, &err),
                     DFIT_EINVAL);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM task_accuracy"), 5);
    /* n == 0 clears a pair */
    assert_int_equal(dfit_store_put_task_accuracy(s, run, hostile, "cpu", NULL, 0, &err), 0);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM task_accuracy"), 2);
    /* a run without rows */
    int64_t other = new_run(s, "sc", SHA_B);
    rows = (struct dfit_store_task_row *)&err;
    assert_int_equal(dfit_store_load_task_accuracy(s, other, &rows, &n, &err), 0);
    assert_null(rows);
    assert_int_equal(n, 0);
    dfit_store_close(s);
}

static void test_reference_and_cost(void **state)
{
    (void)state;
    struct dfit_store *s = open_ok("cost.db");
    struct dfit_err err = {0};
    struct dfit_run_info info = {.scenario = "sc", .scenario_sha256 = SHA_A, .reference = "f32"};
    int64_t run = 0;
    assert_int_equal(dfit_store_create_run(s, &info, NULL, &run, &err), 0);
    struct dfit_store_variant a = {.name = "f32", .bytes = 4000, .bits_per_weight = NAN,
                                   .has_cost = true,
                                   .cost = {.bytes_per_token = 378368, .kv_values_per_pos = 128,
                                            .flops_per_token = 147456,
                                            .sparse_flops_per_token = 73728,
                                            .output_flops = 40960, .attn_flops_per_pos = 512,
                                            .weight_type = "f32", .prune_pattern = "2:4",
                                            .prune_sparsity = 0.5}};
    struct dfit_store_variant b = {.name = "q4", .bytes = 700, .bits_per_weight = NAN,
                                   .has_cost = true,
                                   .cost = {.bytes_per_token = 54308, .kv_values_per_pos = 128,
                                            .flops_per_token = 147456,
                                            .sparse_flops_per_token = 147456,
                                            .output_flops = 40960, .attn_flops_per_pos = 512,
                                            .weight_type = "q4_0", .prune_sparsity = NAN}};
    struct dfit_store_variant c = {.name = "brought", .bits_per_weight = NAN}; /* no cost */
    assert_int_equal(dfit_store_add_variant(s, run, &a, &err), 0);
    assert_int_equal(dfit_store_add_variant(s, run, &b, &err), 0);
    assert_int_equal(dfit_store_add_variant(s, run, &c, &err), 0);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM variants WHERE bytes_per_token IS NULL"), 1);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM variants WHERE prune_sparsity IS NULL"), 2);

    struct dfit_store_run *r = NULL;
    assert_int_equal(dfit_store_get_run(s, run, &r, &err), 0);
    assert_string_equal(r->info.reference, "f32");
    dfit_store_runs_free(r, 1);
    struct dfit_store_spec *sp = NULL;
    assert_int_equal(dfit_store_load_spec(s, run, &sp, &err), 0);
    assert_int_equal(sp->n_variants, 3);
    for (int i = 0; i < 2; i++) {
        const struct dfit_store_variant *want = i ? &b : &a, *got = &sp->variants[i];
        assert_true(got->has_cost);
        assert_int_equal(got->cost.bytes_per_token, want->cost.bytes_per_token);
        assert_int_equal(got->cost.kv_values_per_pos, want->cost.kv_values_per_pos);
        assert_int_equal(got->cost.flops_per_token, want->cost.flops_per_token);
        assert_int_equal(got->cost.sparse_flops_per_token, want->cost.sparse_flops_per_token);
        assert_int_equal(got->cost.output_flops, want->cost.output_flops);
        assert_int_equal(got->cost.attn_flops_per_pos, want->cost.attn_flops_per_pos);
        assert_string_equal(got->cost.weight_type, want->cost.weight_type);
        assert_string_equal(got->cost.prune_pattern, want->cost.prune_pattern);
    }
    assert_same_double(sp->variants[0].cost.prune_sparsity, 0.5);
    assert_true(isnan(sp->variants[1].cost.prune_sparsity));
    assert_false(sp->variants[2].has_cost);
    dfit_store_spec_free(sp);

    /* re-registering without a cost clears it (the file measured says so) */
    b.has_cost = false;
    assert_int_equal(dfit_store_add_variant(s, run, &b, &err), 0);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM variants WHERE bytes_per_token IS NULL"), 2);
    dfit_store_close(s);
}

/* ---- runs ----------------------------------------------------------------------------- */

static void test_runs(void **state)
{
    (void)state;
    struct dfit_store *s = open_ok("runs.db");
    struct dfit_err err = {0};
    int64_t a = new_run(s, "sc", SHA_A);
    int64_t b = new_run(s, "sc", SHA_A);
    int64_t other = new_run(s, "sc", SHA_B);
    int64_t found = 0;
    enum dfit_run_status st = DFIT_RUN_DONE;

    assert_int_equal(dfit_store_find_run(s, "sc", SHA_A, true, &found, &st, &err), 0);
    assert_int_equal(found, b);
    assert_int_equal(st, DFIT_RUN_RUNNING);
    const double after[3] = {1.5, NAN, 0.75};
    assert_int_equal(dfit_store_finish_run(s, b, DFIT_RUN_DONE, after, &err), 0);
    assert_int_equal(dfit_store_find_run(s, "sc", SHA_A, true, &found, &st, &err), 0);
    assert_int_equal(found, a); /* b is done */
    assert_int_equal(dfit_store_find_run(s, "sc", SHA_A, false, &found, &st, &err), 0);
    assert_int_equal(found, b);
    assert_int_equal(st, DFIT_RUN_DONE);
    assert_int_equal(dfit_store_finish_run(s, a, DFIT_RUN_INTERRUPTED, NULL, &err), 0);
    assert_int_equal(dfit_store_finish_run(s, other, DFIT_RUN_DONE, NULL, &err), 0);
    assert_int_equal(dfit_store_find_run(s, "sc", SHA_A, true, &found, &st, &err), 0);
    assert_int_equal(found, a);
    assert_int_equal(st, DFIT_RUN_INTERRUPTED);
    assert_int_equal(dfit_store_find_run(s, "sc", SHA_B, true, &found, NULL, &err), DFIT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no unfinished run of scenario 'sc'"));
    assert_int_equal(dfit_store_find_run(s, "nope", SHA_A, false, &found, NULL, &err), DFIT_ENOTFOUND);
    assert_int_equal(dfit_store_finish_run(s, 999, DFIT_RUN_DONE, NULL, &err), DFIT_ENOTFOUND);

    struct dfit_machine_info m2 = {.hostname = "bench-2", .n_cpus = 2,
                                   .loadavg_before = {NAN, NAN, NAN}};
    assert_int_equal(dfit_store_resume_run(s, a, &m2, &err), 0);
    assert_int_equal(dfit_store_resume_run(s, 12345, NULL, &err), DFIT_ENOTFOUND);

    struct dfit_store_run *runs = NULL;
    size_t n = 0;
    assert_int_equal(dfit_store_list_runs(s, &runs, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(runs[0].id, a);
    assert_int_equal(runs[0].status, DFIT_RUN_RUNNING);
    assert_null(runs[0].finished_at);
    assert_int_equal(runs[0].n_resumes, 1);
    assert_string_equal(runs[0].machine.hostname, "bench-2");
    assert_null(runs[0].machine.kernel);
    const struct dfit_store_run *rb = &runs[1];
    assert_int_equal(rb->id, b);
    assert_int_equal(rb->status, DFIT_RUN_DONE);
    assert_non_null(rb->finished_at);
    assert_int_equal(strlen(rb->started_at), 24); /* 2024-01-02T03:04:05.678Z */
    assert_string_equal(rb->info.scenario, "sc");
    assert_string_equal(rb->info.scenario_sha256, SHA_A);
    assert_string_equal(rb->info.scenario_path, "scenarios/x.ini");
    assert_string_equal(rb->info.label, "nightly");
    assert_string_equal(rb->info.dfit_version, DFIT_VERSION);
    assert_string_equal(rb->info.git_commit, DFIT_GIT_COMMIT);
    assert_string_equal(rb->info.build_type, DFIT_BUILD_TYPE);
    assert_string_equal(rb->info.compiler, DFIT_COMPILER);
    assert_non_null(rb->info.compiler_flags);
    assert_true(rb->has_machine);
    assert_string_equal(rb->machine.hostname, "bench-1");
    assert_string_equal(rb->machine.governor, "performance");
    assert_string_equal(rb->machine.cpu_flags, "sse2 avx2");
    assert_int_equal(rb->machine.n_cpus, 8);
    assert_int_equal(rb->machine.n_cores, 4);
    assert_same_double(rb->machine.loadavg_before[0], 0.5);
    assert_true(isnan(rb->machine.loadavg_before[2]));
    assert_int_equal(rb->machine.mem_total_bytes, 16ull << 30);
    assert_int_equal(rb->machine.mem_available_bytes, 0); /* unknown */
    assert_same_double(rb->loadavg_after[0], 1.5);
    assert_true(isnan(rb->loadavg_after[1]));
    dfit_store_runs_free(runs, n);

    struct dfit_store_run *one = NULL;
    assert_int_equal(dfit_store_get_run(s, other, &one, &err), 0);
    assert_string_equal(one->info.scenario_sha256, SHA_B);
    dfit_store_runs_free(one, 1);
    assert_int_equal(dfit_store_get_run(s, 4242, &one, &err), DFIT_ENOTFOUND);
    assert_null(one);

    struct dfit_run_info bad = {.scenario = "x"};
    int64_t id = 7;
    assert_int_equal(dfit_store_create_run(s, &bad, NULL, &id, &err), DFIT_EINVAL);
    assert_int_equal(id, 0);
    dfit_store_close(s);
}

/* ---- cells ------------------------------------------------------------------------------ */

static void test_cell_roundtrip(void **state)
{
    (void)state;
    struct dfit_store *s = open_ok("cells.db");
    struct dfit_err err = {0};
    int64_t run = new_run(s, "sc", SHA_A);
    add_names(s, run, "q4", "edge", "chat");
    add_names(s, run, "q8", "edge", "chat");

    struct dfit_cell_result r, f;
    make_result(&r, 9, 1);
    int rc = write_cell(s, run, "q4", "edge", "chat", &r, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    /* a failed cell: no samples, quality unavailable, a reason */
    memset(&f, 0, sizeof f);
    f.status = DFIT_CELL_OOM;
    f.usd_per_mtok = NAN;
    snprintf(f.reason, sizeof f.reason, "worker exceeded 512 MiB");
    snprintf(f.quality.reason, sizeof f.quality.reason, "not measured: the cell failed");
    assert_int_equal(write_cell(s, run, "q8", "edge", "chat", &f, &err), 0);

    /* what is NULL in the database */
    assert_int_equal(sql_int(s, "SELECT value IS NULL FROM counters WHERE name = 'PAPI_L3_TCM'"), 1);
    assert_int_equal(sql_int(s, "SELECT value FROM counters WHERE name = 'PAPI_TOT_INS'"), 0);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM counters WHERE value IS NULL AND "
                                "reason = 'Event does not exist'"), 1);
    assert_int_equal(sql_int(s, "SELECT usd_per_mtok IS NULL FROM cells WHERE variant = 'q4'"), 1);
    assert_int_equal(sql_int(s, "SELECT ttft_p95_ns IS NULL AND ppl IS NULL AND accuracy IS NULL "
                                "FROM cells WHERE variant = 'q8'"), 1);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM gaps"), r.n_gaps);
    /* the schema itself refuses a 0 standing in for an unavailable counter */
    assert_int_not_equal(sqlite3_exec(dfit_store_db(s), "INSERT INTO counters (cell_id, idx, "
                                      "phase, name, available, value) SELECT id, 9, 'load', 'X', "
                                      "0, 0 FROM cells LIMIT 1", NULL, NULL, NULL), SQLITE_OK);

    struct dfit_store_cell *cells = NULL;
    size_t n = 0;
    rc = dfit_store_load_cells(s, run, true, &cells, &n, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 2);
    assert_string_equal(cells[0].variant, "q4"); /* variants in the order added */
    assert_string_equal(cells[0].target, "edge");
    assert_string_equal(cells[0].workload, "chat");
    assert_int_equal(cells[0].run_id, run);
    assert_non_null(cells[0].written_at);
    assert_same_result(&r, &cells[0].r);
    assert_string_equal(cells[1].variant, "q8");
    assert_int_equal(cells[1].r.status, DFIT_CELL_OOM);
    assert_same_result(&f, &cells[1].r);
    dfit_store_cells_free(cells, n);

    /* without samples: arrays NULL, counts 0, summaries keep n; counters kept */
    assert_int_equal(dfit_store_load_cells(s, run, false, &cells, &n, &err), 0);
    assert_null(cells[0].r.requests);
    assert_null(cells[0].r.gaps_ns);
    assert_int_equal(cells[0].r.n_requests, 0);
    assert_int_equal(cells[0].r.ttft.n, 9);
    assert_int_equal(cells[0].r.n_counters, 3);
    dfit_store_cells_free(cells, n);
    dfit_store_cells_free(NULL, 0);

    /* a run with no cells */
    int64_t empty = new_run(s, "sc", SHA_A);
    cells = (struct dfit_store_cell *)&err;
    assert_int_equal(dfit_store_load_cells(s, empty, true, &cells, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(cells);

    char ok[16];
    sql_text(s, "PRAGMA integrity_check", ok, sizeof ok);
    assert_string_equal(ok, "ok");
    assert_int_equal(sql_int(s, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    dfit_cell_result_free_samples(&r);
    assert_null(r.requests);
    assert_int_equal(r.n_gaps, 0);
    dfit_store_close(s);
}

static void test_replace_and_resume_rules(void **state)
{
    (void)state;
    struct dfit_store *s = open_ok("rules.db");
    struct dfit_err err = {0};
    int64_t run = new_run(s, "sc", SHA_A);
    add_names(s, run, "v", "t", "w");
    add_names(s, run, "v", "t", "w"); /* registering again (resume) is a no-op */
    assert_int_equal(sql_int(s, "SELECT count(*) FROM variants"), 1);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM targets"), 1);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM workloads"), 1);
    assert_int_equal(sql_int(s, "SELECT slo_p95_tpot_ms IS NULL AND slo_p95_ttft_ms = 200 "
                                "FROM targets"), 1);
    struct dfit_store_variant other = {.name = "v", .sha256 = SHA_B, .bits_per_weight = NAN};
    assert_int_equal(dfit_store_add_variant(s, run, &other, &err), DFIT_EEXIST);
    assert_non_null(strstr(err.msg, "variant 'v'"));

    bool exists = true;
    enum dfit_cell_status st = DFIT_CELL_OK;
    assert_int_equal(dfit_store_cell_exists(s, run, "v", "t", "w", &exists, &st, &err), 0);
    assert_false(exists);

    struct dfit_cell_result bad, good, again;
    make_result(&bad, 5, 1);
    bad.status = DFIT_CELL_CRASHED;
    snprintf(bad.reason, sizeof bad.reason, "killed by signal 11");
    assert_int_equal(write_cell(s, run, "v", "t", "w", &bad, &err), 0);
    assert_int_equal(dfit_store_cell_exists(s, run, "v", "t", "w", &exists, &st, &err), 0);
    assert_true(exists);
    assert_int_equal(st, DFIT_CELL_CRASHED);

    /* a crashed cell is replaced, samples and all */
    make_result(&good, 12, 2);
    assert_int_equal(write_cell(s, run, "v", "t", "w", &good, &err), 0);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM cells"), 1);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM requests"), 12);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM gaps"), good.n_gaps);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM counters"), 3);
    assert_int_equal(dfit_store_cell_exists(s, run, "v", "t", "w", &exists, &st, &err), 0);
    assert_int_equal(st, DFIT_CELL_OK);

    /* an ok cell is never replaced */
    make_result(&again, 3, 3);
    assert_int_equal(write_cell(s, run, "v", "t", "w", &again, &err), DFIT_EEXIST);
    assert_non_null(strstr(err.msg, "already written with status ok"));
    assert_non_null(strstr(err.msg, "(v, t, w) of run"));
    assert_int_equal(sql_int(s, "SELECT count(*) FROM requests"), 12);
    struct dfit_store_cell *cells = NULL;
    size_t n = 0;
    assert_int_equal(dfit_store_load_cells(s, run, true, &cells, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_same_result(&good, &cells[0].r);
    dfit_store_cells_free(cells, n);

    /* the same names in another run are another cell */
    int64_t run2 = new_run(s, "sc", SHA_A);
    add_names(s, run2, "v", "t", "w");
    assert_int_equal(write_cell(s, run2, "v", "t", "w", &again, &err), 0);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM cells"), 2);
    dfit_cell_result_free_samples(&bad);
    dfit_cell_result_free_samples(&good);
    dfit_cell_result_free_samples(&again);
    dfit_store_close(s);
}

static int64_t total_rows(struct dfit_store *s)
{
    return sql_int(s, "SELECT (SELECT count(*) FROM cells) + (SELECT count(*) FROM requests) + "
                      "(SELECT count(*) FROM gaps) + (SELECT count(*) FROM counters)");
}

static void test_failed_write_rolls_back(void **state)
{
    (void)state;
    struct dfit_store *s = open_ok("rollback.db");
    struct dfit_err err = {0};
    int64_t run = new_run(s, "sc", SHA_A);
    add_names(s, run, "v", "t", "w");

    /* a duplicate counter fails at its INSERT, after the cell row, the
     * requests and the gaps went in: all of it must vanish */
    struct dfit_cell_result r;
    make_result(&r, 20, 1);
    r.counters[2] = r.counters[0];
    assert_int_equal(write_cell(s, run, "v", "t", "w", &r, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "insert counter decode/PAPI_TOT_CYC"));
    assert_non_null(strstr(err.msg, "UNIQUE constraint failed"));
    assert_int_equal(total_rows(s), 0);

    /* the same failure while replacing a timed-out cell keeps the old one */
    struct dfit_cell_result old;
    make_result(&old, 4, 9);
    old.status = DFIT_CELL_TIMEOUT;
    assert_int_equal(write_cell(s, run, "v", "t", "w", &old, &err), 0);
    int64_t before = total_rows(s);
    assert_int_equal(write_cell(s, run, "v", "t", "w", &r, &err), DFIT_EINVAL);
    assert_int_equal(total_rows(s), before);
    struct dfit_store_cell *cells = NULL;
    size_t n = 0;
    assert_int_equal(dfit_store_load_cells(s, run, true, &cells, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_same_result(&old, &cells[0].r);
    dfit_store_cells_free(cells, n);

    /* an unregistered variant: the foreign key refuses it */
    r.counters[2].phase = DFIT_PHASE_LOAD;
    assert_int_equal(write_cell(s, run, "nope", "t", "w", &r, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "FOREIGN KEY"));
    assert_int_equal(total_rows(s), before);

    /* samples out of result.h's layout are refused before any write */
    r.requests[5].first_gap = r.requests[4].first_gap - 1;
    int64_t run2 = new_run(s, "sc", SHA_A);
    add_names(s, run2, "v", "t", "w");
    assert_int_equal(write_cell(s, run2, "v", "t", "w", &r, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "request 4"));
    r.requests[5].first_gap = r.requests[4].first_gap;
    r.n_requests = 0; /* gaps without requests */
    assert_int_equal(write_cell(s, run2, "v", "t", "w", &r, &err), DFIT_EINVAL);
    r.n_requests = 20;
    r.gaps_ns[3] = UINT64_MAX;
    assert_int_equal(write_cell(s, run2, "v", "t", "w", &r, &err), DFIT_ERANGE);
    r.gaps_ns[3] = 1;
    r.load_cold_ns = (uint64_t)INT64_MAX + 1;
    assert_int_equal(write_cell(s, run2, "v", "t", "w", &r, &err), DFIT_ERANGE);
    assert_non_null(strstr(err.msg, "load_cold_ns"));
    assert_int_equal(total_rows(s), before);
    /* and with everything fixed it goes in */
    r.load_cold_ns = 1;
    assert_int_equal(write_cell(s, run2, "v", "t", "w", &r, &err), 0);

    char ok[16];
    sql_text(s, "PRAGMA integrity_check", ok, sizeof ok);
    assert_string_equal(ok, "ok");
    dfit_cell_result_free_samples(&r);
    dfit_cell_result_free_samples(&old);
    dfit_store_close(s);
}

/* ---- concurrency ------------------------------------------------------------------------------ */

#define N_OWN 30
#define N_SHARED 20

/* Child: open its own connection and write N_OWN cells of its own plus the
 * N_SHARED cells both children try; exits with how many shared ones it won,
 * or 200+ on an unexpected error. */
static int writer_child(const char *path, int64_t run, int who, int start_fd)
{
    char c;
    if (read(start_fd, &c, 1) < 0) /* wait for the start signal (EOF) */
        return 201;
    struct dfit_err err = {0};
    struct dfit_store *s = NULL;
    if (dfit_store_open(path, &s, &err)) {
        fprintf(stderr, "child %d: %s\n", who, err.msg);
        return 202;
    }
    struct dfit_cell_result r;
    int won = 0, rc = 0;
    for (int i = 0; i < N_OWN + N_SHARED && rc == 0; i++) {
        make_result(&r, 6, (uint64_t)(who * 1000 + i));
        char w[32];
        snprintf(w, sizeof w, "w%d", i % 10);
        const char *v = i < N_OWN ? (who ? "v1" : "v0") : "shared";
        const char *t = i < N_OWN ? (i < 10 ? "t0" : i < 20 ? "t1" : "t2") : (i < N_OWN + 10 ? "t0" : "t1");
        int wr = dfit_store_write_cell(s, run, v, t, w, &r, &err);
        if (wr == 0 && i >= N_OWN)
            won++;
        else if (wr && !(wr == DFIT_EEXIST && i >= N_OWN)) {
            fprintf(stderr, "child %d: %s\n", who, err.msg);
            rc = 203;
        }
        dfit_cell_result_free_samples(&r);
    }
    dfit_store_close(s);
    return rc ? rc : won;
}

/* Forks two children that start together; returns their exit codes. */
static void run_two(const char *path, int64_t run, int codes[2], bool open_only)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid[2];
    for (int k = 0; k < 2; k++) {
        pid[k] = fork();
        assert_true(pid[k] >= 0);
        if (pid[k] == 0) {
            close(fds[1]);
            int code;
            if (open_only) {
                char c;
                struct dfit_err err = {0};
                struct dfit_store *s = NULL;
                code = read(fds[0], &c, 1) < 0 ? 201 : dfit_store_open(path, &s, &err) ? 202 : 0;
                if (code)
                    fprintf(stderr, "child %d: %s\n", k, err.msg);
                dfit_store_close(s);
            } else {
                code = writer_child(path, run, k, fds[0]);
            }
            _exit(code);
        }
    }
    close(fds[0]);
    close(fds[1]); /* start */
    for (int k = 0; k < 2; k++) {
        int status = 0;
        assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
        assert_true(WIFEXITED(status));
        codes[k] = WEXITSTATUS(status);
    }
}

static void test_concurrent_writers(void **state)
{
    (void)state;
    char path[512];
    int codes[2];

    /* two processes creating the same new file at once */
    path_in(path, sizeof path, "race/new.db");
    run_two(path, 0, codes, true);
    assert_int_equal(codes[0], 0);
    assert_int_equal(codes[1], 0);
    struct dfit_store *s = open_ok("race/new.db");
    assert_int_equal(sql_int(s, "PRAGMA user_version"), DFIT_STORE_SCHEMA_VERSION);
    dfit_store_close(s);

    /* two processes writing cells at once */
    s = open_ok("concurrent.db");
    int64_t run = new_run(s, "sc", SHA_A);
    const char *vs[] = {"v0", "v1", "shared"}, *ts[] = {"t0", "t1", "t2"};
    for (int i = 0; i < 10; i++) {
        char w[32];
        snprintf(w, sizeof w, "w%d", i);
        for (int k = 0; k < 3; k++)
            add_names(s, run, vs[k], ts[k], w);
    }
    path_in(path, sizeof path, "concurrent.db");
    run_two(path, run, codes, false);
    assert_true(codes[0] < 200);
    assert_true(codes[1] < 200);
    assert_int_equal(codes[0] + codes[1], N_SHARED); /* each shared cell won once */

    assert_int_equal(sql_int(s, "SELECT count(*) FROM cells"), 2 * N_OWN + N_SHARED);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM (SELECT 1 FROM cells GROUP BY run_id, "
                                "variant, target, workload HAVING count(*) > 1)"), 0);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM cells WHERE variant = 'v0'"), N_OWN);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM cells WHERE variant = 'v1'"), N_OWN);
    assert_int_equal(sql_int(s, "SELECT count(*) FROM requests"), 6 * (2 * N_OWN + N_SHARED));
    assert_int_equal(sql_int(s, "SELECT count(*) FROM counters"), 3 * (2 * N_OWN + N_SHARED));
    char ok[16];
    sql_text(s, "PRAGMA integrity_check", ok, sizeof ok);
    assert_string_equal(ok, "ok");
    dfit_store_close(s);
}

/* ---- CSV export -------------------------------------------------------------------------------- */

#define MAX_FIELDS 128
#define MAX_ROWS 64

struct csv_table {
    int n_rows, n_fields[MAX_ROWS];
    char *field[MAX_ROWS][MAX_FIELDS]; /* NULL = empty unquoted (NULL) field */
    int row, col;
};

static void on_field(void *data, size_t len, void *t)
{
    struct csv_table *tb = t;
    if (tb->row < MAX_ROWS && tb->col < MAX_FIELDS) {
        char *f = NULL;
        if (data) {
            f = malloc(len + 1);
            assert_non_null(f);
            memcpy(f, data, len);
            f[len] = '\0';
        }
        tb->field[tb->row][tb->col] = f;
    }
    tb->col++;
}

static void on_row(int c, void *t)
{
    (void)c;
    struct csv_table *tb = t;
    if (tb->row < MAX_ROWS)
        tb->n_fields[tb->row] = tb->col;
    tb->row++;
    tb->col = 0;
    tb->n_rows = tb->row;
}

static struct csv_table *read_csv(const char *dir, const char *table)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s.csv", dir, table);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct csv_table *tb = calloc(1, sizeof *tb);
    assert_non_null(tb);
    struct csv_parser p;
    assert_int_equal(csv_init(&p, CSV_STRICT | CSV_EMPTY_IS_NULL | CSV_STRICT_FINI), 0);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        assert_int_equal(csv_parse(&p, buf, n, on_field, on_row, tb), n);
    assert_int_equal(csv_fini(&p, on_field, on_row, tb), 0);
    csv_free(&p);
    fclose(f);
    return tb;
}

static void free_csv(struct csv_table *tb)
{
    for (int r = 0; r < MAX_ROWS; r++)
        for (int c = 0; c < MAX_FIELDS; c++)
            free(tb->field[r][c]);
    free(tb);
}

static int column(const struct csv_table *tb, const char *name)
{
    for (int c = 0; c < tb->n_fields[0]; c++)
        if (tb->field[0][c] && strcmp(tb->field[0][c], name) == 0)
            return c;
    fail_msg("no column %s", name);
    return -1;
}

static void test_csv_export(void **state)
{
    (void)state;
    const char *v = "q4, \"fast\"\nline two <script>alert('x')</script>";
    const char *t = "edge,\"box\"";
    const char *w = "chat\r\n\"quoted\",";
    struct dfit_store *s = open_ok("export.db");
    struct dfit_err err = {0};
    int64_t run1 = new_run(s, "sc", SHA_A);
    add_names(s, run1, "plain", "t", "w");
    int64_t run2 = new_run(s, "sc", SHA_A);
    add_names(s, run2, v, t, w);
    struct dfit_cell_result r;
    make_result(&r, 5, 1);
    snprintf(r.reason, sizeof r.reason, "a \"reason\", with\nnewline");
    assert_int_equal(write_cell(s, run2, v, t, w, &r, &err), 0);
    assert_int_equal(write_cell(s, run1, "plain", "t", "w", &r, &err), 0);

    char dir[512];
    path_in(dir, sizeof dir, "csv/out");
    int rc = dfit_store_export_csv(s, dir, run2, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);

    struct csv_table *cells = read_csv(dir, "cells");
    assert_int_equal(cells->n_rows, 2); /* header + run 2's cell */
    assert_int_equal(cells->n_fields[1], cells->n_fields[0]);
    assert_string_equal(cells->field[1][column(cells, "variant")], v);
    assert_string_equal(cells->field[1][column(cells, "target")], t);
    assert_string_equal(cells->field[1][column(cells, "workload")], w);
    assert_string_equal(cells->field[1][column(cells, "reason")], r.reason);
    assert_string_equal(cells->field[1][column(cells, "status")], "ok");
    assert_null(cells->field[1][column(cells, "usd_per_mtok")]); /* NULL: empty, unquoted */
    assert_string_equal(cells->field[1][column(cells, "n_requests")], "5");
    /* a double reads back to the same bits */
    double rps = strtod(cells->field[1][column(cells, "requests_per_s")], NULL);
    assert_same_double(rps, r.requests_per_s);
    free_csv(cells);

    struct csv_table *vars = read_csv(dir, "variants");
    assert_int_equal(vars->n_rows, 2);
    assert_string_equal(vars->field[1][column(vars, "name")], v);
    assert_string_equal(vars->field[1][column(vars, "bits_per_weight")], "4.5");
    free_csv(vars);

    struct csv_table *runs = read_csv(dir, "runs");
    assert_int_equal(runs->n_rows, 2);
    assert_string_equal(runs->field[1][column(runs, "label")], "nightly");
    free_csv(runs);

    struct csv_table *reqs = read_csv(dir, "requests");
    assert_int_equal(reqs->n_rows, 1 + 5);
    free_csv(reqs);
    struct csv_table *ctrs = read_csv(dir, "counters");
    assert_int_equal(ctrs->n_rows, 1 + 3);
    assert_null(ctrs->field[3][column(ctrs, "value")]);
    assert_string_equal(ctrs->field[3][column(ctrs, "reason")], "Event does not exist");
    free_csv(ctrs);
    const char *others[] = {"machine_state", "targets", "workloads", "gaps"};
    for (int i = 0; i < 4; i++) {
        struct csv_table *tb = read_csv(dir, others[i]);
        assert_true(tb->n_rows >= 2);
        free_csv(tb);
    }

    /* every run */
    path_in(dir, sizeof dir, "csv/all");
    assert_int_equal(dfit_store_export_csv(s, dir, 0, &err), 0);
    cells = read_csv(dir, "cells");
    assert_int_equal(cells->n_rows, 3);
    free_csv(cells);

    /* errors */
    assert_int_equal(dfit_store_export_csv(s, dir, 77, &err), DFIT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no run 77"));
    char file[512];
    path_in(file, sizeof file, "plainfile");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    path_in(dir, sizeof dir, "plainfile/sub");
    assert_int_equal(dfit_store_export_csv(s, dir, 0, &err), DFIT_EIO);
    assert_non_null(strstr(err.msg, "plainfile"));
    dfit_cell_result_free_samples(&r);
    dfit_store_close(s);
}

/* task_accuracy.csv: one run's rows, hostile names intact. */
static void test_csv_export_tasks(void **state)
{
    (void)state;
    const char *v = "q\"x'`touch X` <script>";
    struct dfit_store *s = open_ok("export-tasks.db");
    struct dfit_err err = {0};
    int64_t run = new_run(s, "sc", SHA_A);
    add_names(s, run, v, "t,1", "w");
    const struct dfit_task_accuracy t[2] = {
        {.task = "eval_add", .available = true, .n_items = 4, .n_correct = 1, .accuracy = 0.25,
         .accuracy_se = 0.21650635094610965},
        {.task = "eval_x", .available = false, .reason = "a \"reason\", with a comma"}};
    assert_int_equal(dfit_store_put_task_accuracy(s, run, v, "t,1", t, 2, &err), 0);
    char dir[512];
    path_in(dir, sizeof dir, "csv/tasks");
    assert_int_equal(dfit_store_export_csv(s, dir, run, &err), 0);
    struct csv_table *tb = read_csv(dir, "task_accuracy");
    assert_int_equal(tb->n_rows, 3);
    assert_string_equal(tb->field[1][column(tb, "variant")], v);
    assert_string_equal(tb->field[1][column(tb, "target")], "t,1");
    assert_string_equal(tb->field[1][column(tb, "task")], "eval_add");
    assert_string_equal(tb->field[1][column(tb, "n_correct")], "1");
    assert_same_double(strtod(tb->field[1][column(tb, "accuracy_se")], NULL), 0.21650635094610965);
    assert_null(tb->field[2][column(tb, "accuracy")]);
    assert_string_equal(tb->field[2][column(tb, "reason")], t[1].reason);
    free_csv(tb);
    dfit_store_close(s);
}

static void test_names(void **state)
{
    (void)state;
    enum dfit_cell_status cs;
    for (int i = 0; i <= DFIT_CELL_SKIPPED; i++) {
        assert_true(dfit_cell_status_from_name(dfit_cell_status_name((enum dfit_cell_status)i), &cs));
        assert_int_equal(cs, i);
    }
    assert_string_equal(dfit_cell_status_name(DFIT_CELL_TIMEOUT), "timeout");
    assert_false(dfit_cell_status_from_name("OK", &cs));
    assert_false(dfit_cell_status_from_name(NULL, &cs));
    enum dfit_phase ph;
    assert_true(dfit_phase_from_name("prefill", &ph));
    assert_int_equal(ph, DFIT_PHASE_PREFILL);
    assert_string_equal(dfit_phase_name(DFIT_PHASE_DECODE), "decode");
    assert_string_equal(dfit_phase_name(DFIT_PHASE_COUNT), "?");
    assert_string_equal(dfit_store_run_status_name(DFIT_RUN_INTERRUPTED), "interrupted");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_schema_file_matches),
        cmocka_unit_test(test_open_creates_and_reopens),
        cmocka_unit_test(test_refuses_bad_files),
        cmocka_unit_test(test_migrate_1_to_2),
        cmocka_unit_test(test_migrate_2_to_3),
        cmocka_unit_test(test_task_accuracy),
        cmocka_unit_test(test_reference_and_cost),
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_cell_roundtrip),
        cmocka_unit_test(test_replace_and_resume_rules),
        cmocka_unit_test(test_failed_write_rolls_back),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_csv_export),
        cmocka_unit_test(test_csv_export_tasks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
