/* test_store_export — CSV export of the results database
 * (dfit_store_export_csv), parsed back with libcsv: hostile text (commas,
 * quotes, newlines, markup) intact, NULL as an empty field, doubles to the
 * same bits, one run or every run, task_accuracy.csv, and the errors.
 * Non-goals: writing and reading the database (test_store,
 * test_store_cells).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store_fixture.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_export),
        cmocka_unit_test(test_csv_export_tasks),
    };
    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
