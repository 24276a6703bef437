/* store_impl.h — what the store's own files (harness/store/) share and
 * nothing outside them uses: the connection itself, prepared statements,
 * transactions, copying a row's text out, and the schema steps store.c
 * runs when it opens a file (store_schema.c).
 * Non-goals: the public API (store.h: open, runs, cells, export, and the
 * helpers the report shares), the report's queries (store_report.h).
 */
#ifndef DFIT_STORE_STORE_IMPL_H
#define DFIT_STORE_STORE_IMPL_H

#include <sqlite3.h>

#include "store/store.h"
#include "util/err.h"

struct dfit_store {
    sqlite3 *db;
    char *path;
};

/* ---- statements and transactions (store.c) ---------------------------------- */

/* Prepares fixed SQL text; on failure reports "prepare <what>". */
int dfit_store_prepare(struct dfit_store *s, const char *sql, struct sqlite3_stmt **st,
                       const char *what, struct dfit_err *err);
/* BEGIN IMMEDIATE (waits up to the busy timeout), COMMIT, and ROLLBACK when
 * a transaction is still open (never fails). `what` names the operation. */
int dfit_store_begin(struct dfit_store *s, const char *what, struct dfit_err *err);
int dfit_store_commit(struct dfit_store *s, const char *what, struct dfit_err *err);
void dfit_store_rollback(struct dfit_store *s);
/* Copies the text columns cols[0..n) of st's current row into one malloc'd
 * block, which it returns (the caller frees it); *dst[i] points at column
 * cols[i]'s copy, or is NULL for a NULL column. NULL on out-of-memory. */
char *dfit_store_copy_texts(struct sqlite3_stmt *st, const int *cols, const char **const *dst,
                            int n);

/* ---- the schema (store_schema.c) ---------------------------------------------- */

/* Brings a file opened for writing to DFIT_STORE_SCHEMA_VERSION: creates
 * the schema in an empty file, or climbs the migration ladder, in one
 * BEGIN IMMEDIATE transaction (rolled back whole on failure).
 * DFIT_EUNSUPPORTED for a newer schema, DFIT_EINVAL for an SQLite file
 * with tables but no schema version, DFIT_ENOMEM or DFIT_EIO otherwise,
 * each naming the file. */
int dfit_store_schema_migrate(struct dfit_store *s, struct dfit_err *err);
/* Checks that a file opened read-only is exactly at
 * DFIT_STORE_SCHEMA_VERSION, changing nothing: DFIT_EINVAL without a
 * schema version, DFIT_EUNSUPPORTED for an older ("open it with a writing
 * command") or a newer one, DFIT_EIO when it cannot be read; each names
 * the file. */
int dfit_store_schema_check(struct dfit_store *s, struct dfit_err *err);

#endif
