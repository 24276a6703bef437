/* export_csv.c — one CSV file per table of the results database, for
 * spreadsheets and other tools (see store.h, dfit_store_export_csv).
 *
 * Each file has a header row of column names, then one line per row:
 * NULL is an empty field, text is always quoted by libcsv (quotes doubled,
 * so commas, quotes and newlines survive), integers are bare and doubles
 * are bare with 17 significant digits (they read back to the same double).
 * A file is written under a temporary name and renamed when complete, so a
 * failed export never leaves a truncated CSV behind under the real name.
 * Non-goals: CSV import; spreadsheet formula escaping (a text starting
 * with '=' is exported as it is — the files are data, not documents).
 */
#include "store/store_impl.h"

#include <csv.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per table: the rows of one run (?1) or of every run (?1 = 0). */
static const struct table {
    const char *name;
    const char *sql;
} tables[] = {
    {"runs", "SELECT * FROM runs WHERE ?1 = 0 OR id = ?1 ORDER BY id"},
    {"machine_state", "SELECT * FROM machine_state WHERE ?1 = 0 OR run_id = ?1 ORDER BY run_id"},
    {"variants", "SELECT * FROM variants WHERE ?1 = 0 OR run_id = ?1 ORDER BY id"},
    {"targets", "SELECT * FROM targets WHERE ?1 = 0 OR run_id = ?1 ORDER BY id"},
    {"workloads", "SELECT * FROM workloads WHERE ?1 = 0 OR run_id = ?1 ORDER BY id"},
    {"cells", "SELECT * FROM cells WHERE ?1 = 0 OR run_id = ?1 ORDER BY id"},
    {"requests", "SELECT x.* FROM requests x JOIN cells c ON c.id = x.cell_id "
                 "WHERE ?1 = 0 OR c.run_id = ?1 ORDER BY x.cell_id, x.idx"},
    {"gaps", "SELECT x.* FROM gaps x JOIN cells c ON c.id = x.cell_id "
             "WHERE ?1 = 0 OR c.run_id = ?1 ORDER BY x.cell_id, x.request_idx, x.token_idx"},
    {"counters", "SELECT x.* FROM counters x JOIN cells c ON c.id = x.cell_id "
                 "WHERE ?1 = 0 OR c.run_id = ?1 ORDER BY x.cell_id, x.idx"},
    {"task_accuracy", "SELECT * FROM task_accuracy WHERE ?1 = 0 OR run_id = ?1 "
                      "ORDER BY run_id, target, variant, idx"},
};
#define N_TABLES (sizeof tables / sizeof tables[0])

/* Writes the current row's field i; returns false on a write error. */
static bool write_field(FILE *f, sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        return true;
    case SQLITE_INTEGER:
        return fprintf(f, "%" PRId64, (int64_t)sqlite3_column_int64(st, i)) > 0;
    case SQLITE_FLOAT:
        return fprintf(f, "%.17g", sqlite3_column_double(st, i)) > 0;
    default: { /* text (and blobs, as their bytes) */
        const void *p = sqlite3_column_blob(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        return csv_fwrite(f, p ? p : "", n) == 0;
    }
    }
}

static int export_table(struct dfit_store *s, const struct table *t, const char *dir,
                        int64_t run_id, struct dfit_err *err)
{
    char path[4096], tmp[4200];
    if (snprintf(path, sizeof path, "%s/%s.csv", dir, t->name) >= (int)sizeof path)
        return dfit_err_set(err, DFIT_ERANGE, "%s: export: directory name too long", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    sqlite3_stmt *st = NULL;
    FILE *f = NULL;
    int rc = dfit_store_prepare(s, t->sql, &st, t->name, err), step = SQLITE_DONE;
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    if (!(f = fopen(tmp, "w"))) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto fail;
    }
    int n_cols = sqlite3_column_count(st);
    bool ok = true;
    for (int i = 0; i < n_cols; i++)
        ok = ok && fprintf(f, "%s%s", i ? "," : "", sqlite3_column_name(st, i)) > 0;
    ok = ok && fputc('\n', f) != EOF;
    while (ok && (step = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; ok && i < n_cols; i++)
            ok = (i == 0 || fputc(',', f) != EOF) && write_field(f, st, i);
        ok = ok && fputc('\n', f) != EOF;
    }
    if (ok && step != SQLITE_DONE) {
        rc = dfit_store_fail(s, err, "export %s", t->name);
        goto fail;
    }
    if (!ok || fflush(f) != 0 || ferror(f)) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: write failed: %s", tmp, strerror(errno));
        goto fail;
    }
    int closed = fclose(f);
    f = NULL;
    if (closed != 0) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: write failed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: cannot rename to %s: %s", tmp, path,
                          strerror(errno));
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    if (f)
        fclose(f);
    remove(tmp);
    sqlite3_finalize(st);
    return rc;
}

int dfit_store_export_csv(struct dfit_store *s, const char *dir, int64_t run_id,
                          struct dfit_err *err)
{
    if (run_id < 0)
        return dfit_err_set(err, DFIT_EINVAL, "%s: export: run id %lld is negative",
                            dfit_store_path(s), (long long)run_id);
    if (run_id > 0) {
        struct dfit_store_run *run = NULL;
        int rc = dfit_store_get_run(s, run_id, &run, err);
        dfit_store_runs_free(run, run ? 1 : 0);
        if (rc)
            return rc;
    }
    int rc = dfit_store_mkdirs(dir, err);
    if (rc)
        return rc;
    /* one read transaction: every file sees the same snapshot */
    if (sqlite3_exec(dfit_store_db(s), "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return dfit_store_fail(s, err, "export: begin read transaction");
    for (size_t i = 0; i < N_TABLES && rc == 0; i++)
        rc = export_table(s, &tables[i], dir, run_id, err);
    dfit_store_rollback(s);
    return rc;
}
