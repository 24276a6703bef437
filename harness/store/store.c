/* store.c — the results database's connection: opening (parent
 * directories, WAL, busy timeout, foreign keys, then the schema brought up
 * to date or checked), closing, and the helpers every store file shares
 * (errors that name the file, prepared statements, transactions, a row's
 * text copied out; store_impl.h).
 * Non-goals: the schema and its migrations (store_schema.c), runs and what
 * they measure (store_runs.c), cells (store_cells.c), task accuracy
 * (store_tasks.c), export (export_csv.c).
 */
#include "store/store_impl.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------- */

const char *dfit_store_path(const struct dfit_store *s) { return s->path; }
struct sqlite3 *dfit_store_db(struct dfit_store *s) { return s->db; }

static int code_of(sqlite3 *db)
{
    int rc = sqlite3_errcode(db) & 0xff;
    if (rc == SQLITE_CONSTRAINT)
        return DFIT_EINVAL;
    if (rc == SQLITE_NOMEM)
        return DFIT_ENOMEM;
    return DFIT_EIO;
}

int dfit_store_fail(struct dfit_store *s, struct dfit_err *err, const char *fmt, ...)
{
    char op[DFIT_ERR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op, sizeof op, fmt, ap);
    va_end(ap);
    return dfit_err_set(err, code_of(s->db), "%s: %s: %s", s->path, op, sqlite3_errmsg(s->db));
}

int dfit_store_prepare(struct dfit_store *s, const char *sql, sqlite3_stmt **st, const char *what,
                       struct dfit_err *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return dfit_store_fail(s, err, "prepare %s", what);
    }
    return 0;
}

int dfit_store_begin(struct dfit_store *s, const char *what, struct dfit_err *err)
{
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return dfit_store_fail(s, err, "%s: begin transaction", what);
    return 0;
}

int dfit_store_commit(struct dfit_store *s, const char *what, struct dfit_err *err)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = dfit_store_fail(s, err, "%s: commit", what);
        dfit_store_rollback(s);
        return rc;
    }
    return 0;
}

void dfit_store_rollback(struct dfit_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

char *dfit_store_copy_texts(sqlite3_stmt *st, const int *cols, const char **const *dst, int n)
{
    size_t total = 1;
    for (int i = 0; i < n; i++)
        total += (size_t)sqlite3_column_bytes(st, cols[i]) + 1;
    char *block = malloc(total), *p = block;
    if (!block)
        return NULL;
    for (int i = 0; i < n; i++) {
        const unsigned char *t = sqlite3_column_text(st, cols[i]);
        if (!t) {
            *dst[i] = NULL;
            continue;
        }
        size_t len = (size_t)sqlite3_column_bytes(st, cols[i]);
        memcpy(p, t, len);
        p[len] = '\0';
        *dst[i] = p;
        p += len + 1;
    }
    return block;
}

int dfit_store_mkdirs(const char *dir, struct dfit_err *err)
{
    size_t len = strlen(dir);
    char *p = malloc(len + 1);
    if (!p)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: create directory: out of memory", dir);
    memcpy(p, dir, len + 1);
    int rc = 0;
    for (size_t i = 1; i <= len && rc == 0; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        struct stat sb;
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            rc = dfit_err_set(err, DFIT_EIO, "%s: create directory: %s", p, strerror(errno));
        else if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
            rc = dfit_err_set(err, DFIT_EIO, "%s: not a directory", p);
        p[i] = c;
    }
    free(p);
    return rc;
}

/* ---- open and close ------------------------------------------------------------- */

static int open_db(const char *path, bool readonly, struct dfit_store **out, struct dfit_err *err)
{
    *out = NULL;
    if (!path || !*path)
        return dfit_err_set(err, DFIT_EINVAL, "results database: empty path");
    int rc = 0;
    struct dfit_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (readonly && access(path, F_OK) != 0) {
        rc = dfit_err_set(err, DFIT_ENOTFOUND, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (!readonly) {
        const char *slash = strrchr(path, '/');
        if (slash && slash != path) {
            char *dir = strndup(path, (size_t)(slash - path));
            rc = dir ? dfit_store_mkdirs(dir, err)
                     : dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", path);
            free(dir);
            if (rc)
                goto fail;
        }
    }
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: cannot open: %s", path,
                          s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, DFIT_STORE_BUSY_TIMEOUT_MS);
    if (!readonly) {
        sqlite3_stmt *st = NULL;
        if ((rc = dfit_store_prepare(s, "PRAGMA journal_mode = WAL", &st, "set WAL mode", err)))
            goto fail;
        /* Switching a new file to WAL needs an exclusive lock, and SQLite
         * answers SQLITE_BUSY at once (without the busy handler) while
         * another process is opening the same file: retry for as long as
         * the busy timeout allows. */
        int step = sqlite3_step(st);
        for (int waited_ms = 0;
             (step & 0xff) == SQLITE_BUSY && waited_ms < DFIT_STORE_BUSY_TIMEOUT_MS;
             waited_ms += 5) {
            sqlite3_reset(st);
            sqlite3_sleep(5);
            step = sqlite3_step(st);
        }
        const unsigned char *mode = step == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
        if (!mode || strcmp((const char *)mode, "wal") != 0) {
            rc = mode ? dfit_err_set(err, DFIT_EIO, "%s: set WAL mode: journal mode stays '%s'",
                                     path, (const char *)mode)
                      : dfit_store_fail(s, err, "set WAL mode");
            sqlite3_finalize(st);
            goto fail;
        }
        sqlite3_finalize(st);
        if (sqlite3_exec(s->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
            rc = dfit_store_fail(s, err, "set synchronous mode");
            goto fail;
        }
    }
    if (sqlite3_exec(s->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK) {
        rc = dfit_store_fail(s, err, "enable foreign keys");
        goto fail;
    }
    rc = readonly ? dfit_store_schema_check(s, err) : dfit_store_schema_migrate(s, err);
    if (rc)
        goto fail;
    *out = s;
    return 0;
fail:
    dfit_store_close(s);
    return rc;
}

int dfit_store_open(const char *path, struct dfit_store **out, struct dfit_err *err)
{
    return open_db(path, false, out, err);
}

int dfit_store_open_readonly(const char *path, struct dfit_store **out, struct dfit_err *err)
{
    return open_db(path, true, out, err);
}

void dfit_store_close(struct dfit_store *s)
{
    if (!s)
        return;
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
}
