/* store_tasks.c — task accuracy per (variant, target) and CSV eval set:
 * the task_accuracy table (schema version 3), written whole per pair in one
 * transaction (a resumed run measures a pair again and replaces its rows)
 * and read back for the report (see store.h).
 * Non-goals: the pooled accuracy (a cell column, store_cells.c), measuring.
 */
#include "store/store_impl.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 0 is stored as 0 here: an item count is a real value. */
static void bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
    sqlite3_bind_int64(st, i, v > INT64_MAX ? INT64_MAX : (sqlite3_int64)v);
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

int dfit_store_put_task_accuracy(struct dfit_store *s, int64_t run_id, const char *variant,
                                 const char *target, const struct dfit_task_accuracy *t,
                                 size_t n, struct dfit_err *err)
{
    sqlite3_stmt *del = NULL, *ins = NULL;
    int rc;
    if (!variant || !target || (n > 0 && !t))
        return dfit_err_set(err, DFIT_EINVAL, "%s: task accuracy: no variant, target or rows",
                            dfit_store_path(s));
    if ((rc = dfit_store_begin(s, "write task accuracy", err)))
        return rc;
    if ((rc = dfit_store_prepare(s, "DELETE FROM task_accuracy WHERE run_id = ?1 AND variant = ?2 "
                                 "AND target = ?3", &del, "delete task accuracy", err)) ||
        (rc = dfit_store_prepare(s, "INSERT INTO task_accuracy (run_id, variant, target, task, idx, "
                                 "n_items, n_correct, accuracy, accuracy_se, reason) VALUES (?1, ?2, "
                                 "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", &ins, "insert task accuracy",
                                 err)))
        goto fail;
    sqlite3_bind_int64(del, 1, run_id);
    sqlite3_bind_text(del, 2, variant, -1, SQLITE_STATIC);
    sqlite3_bind_text(del, 3, target, -1, SQLITE_STATIC);
    if (sqlite3_step(del) != SQLITE_DONE) {
        rc = dfit_store_fail(s, err, "delete the task accuracy of %s on %s", variant, target);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const struct dfit_task_accuracy *a = &t[i];
        if (!a->task[0]) {
            rc = dfit_err_set(err, DFIT_EINVAL, "%s: task accuracy of %s on %s: set %zu has no name",
                              dfit_store_path(s), variant, target, i);
            goto fail;
        }
        sqlite3_reset(ins);
        sqlite3_clear_bindings(ins);
        sqlite3_bind_int64(ins, 1, run_id);
        sqlite3_bind_text(ins, 2, variant, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, target, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, a->task, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 5, (sqlite3_int64)i);
        if (a->available) {
            bind_u64(ins, 6, a->n_items);
            bind_u64(ins, 7, a->n_correct);
            bind_real(ins, 8, a->accuracy);
            bind_real(ins, 9, a->accuracy_se);
        } else {
            sqlite3_bind_text(ins, 10, a->reason[0] ? a->reason : "not measured", -1, SQLITE_STATIC);
        }
        if (sqlite3_step(ins) != SQLITE_DONE) {
            rc = dfit_store_fail(s, err, "insert the task accuracy of %s on %s, set '%s'", variant,
                                 target, a->task);
            goto fail;
        }
    }
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    return dfit_store_commit(s, "write task accuracy", err);
fail:
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    dfit_store_rollback(s);
    return rc;
}

void dfit_store_task_rows_free(struct dfit_store_task_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].variant);
        free(rows[i].target);
    }
    free(rows);
}

/* Copies text column i into dst[cap] ("" for NULL, cut to fit). */
static void text_into(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

int dfit_store_load_task_accuracy(struct dfit_store *s, int64_t run_id,
                                  struct dfit_store_task_row **rows, size_t *n,
                                  struct dfit_err *err)
{
    sqlite3_stmt *st = NULL;
    struct dfit_store_task_row *out = NULL;
    size_t count = 0, cap = 0;
    int rc;
    *rows = NULL;
    *n = 0;
    if ((rc = dfit_store_prepare(s,
            "SELECT a.variant, a.target, a.idx, a.task, a.n_items, a.n_correct, a.accuracy, "
            "a.accuracy_se, a.reason FROM task_accuracy a "
            "LEFT JOIN targets t ON t.run_id = a.run_id AND t.name = a.target "
            "LEFT JOIN variants v ON v.run_id = a.run_id AND v.name = a.variant "
            "WHERE a.run_id = ?1 ORDER BY t.id, v.id, a.idx", &st, "read task accuracy", err)))
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            struct dfit_store_task_row *grown = realloc(out, ncap * sizeof *grown);
            if (!grown)
                goto nomem;
            out = grown;
            cap = ncap;
        }
        struct dfit_store_task_row *r = &out[count];
        memset(r, 0, sizeof *r);
        const unsigned char *v = sqlite3_column_text(st, 0), *t = sqlite3_column_text(st, 1);
        r->variant = strdup(v ? (const char *)v : "");
        r->target = strdup(t ? (const char *)t : "");
        count++;
        if (!r->variant || !r->target)
            goto nomem;
        r->idx = sqlite3_column_int(st, 2);
        text_into(st, 3, r->a.task, sizeof r->a.task);
        r->a.available = sqlite3_column_type(st, 6) != SQLITE_NULL;
        r->a.n_items = (uint64_t)sqlite3_column_int64(st, 4);
        r->a.n_correct = (uint64_t)sqlite3_column_int64(st, 5);
        r->a.accuracy = r->a.available ? sqlite3_column_double(st, 6) : NAN;
        r->a.accuracy_se = sqlite3_column_type(st, 7) == SQLITE_NULL ? NAN
                                                                     : sqlite3_column_double(st, 7);
        text_into(st, 8, r->a.reason, sizeof r->a.reason);
    }
    if (step != SQLITE_DONE) {
        rc = dfit_store_fail(s, err, "read task accuracy of run %lld", (long long)run_id);
        goto fail;
    }
    sqlite3_finalize(st);
    *rows = out;
    *n = count;
    return 0;
nomem:
    rc = dfit_err_set(err, DFIT_ENOMEM, "%s: read task accuracy: out of memory", dfit_store_path(s));
fail:
    sqlite3_finalize(st);
    dfit_store_task_rows_free(out, count);
    return rc;
}
