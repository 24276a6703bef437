/* test_store — the results database on real SQLite files in a temporary
 * directory: the schema file against the compiled-in one, opening,
 * creating and reopening, bad files refused, the migration of version-1
 * and version-2 files, the run's reference and variants with their
 * per-token cost, runs (created, finished, resumed, found, read back), and
 * the status names. Cells and task accuracy: test_store_cells; CSV export:
 * test_store_export (shared fixture: store_fixture.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#include "store/store.h"
#include "store/store_report.h"
#include "store_fixture.h"

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
        cmocka_unit_test(test_reference_and_cost),
        cmocka_unit_test(test_runs),
    };
    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
