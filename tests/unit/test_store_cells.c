/* test_store_cells — what a run measures, written to and read back from
 * real SQLite files: cells read back exactly (samples, counters, NULLs),
 * the replacement and resume rules, rollback of a failed write, concurrent
 * writers in two processes (and two processes creating one file), and task
 * accuracy per set (written, replaced, read back, refused).
 * Non-goals: opening, the schema and runs (test_store), CSV export
 * (test_store_export).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "store_fixture.h"

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

/* ---- task accuracy ---------------------------------------------------------------------- */

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cell_roundtrip),
        cmocka_unit_test(test_replace_and_resume_rules),
        cmocka_unit_test(test_failed_write_rolls_back),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_task_accuracy),
    };
    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
