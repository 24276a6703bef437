/* store_cells.c — writing one cell (row, requests, gaps, counters) in one
 * transaction, and reading a run's cells back (see store.h).
 *
 * The cell row's measured columns are described once, in `cols` below
 * (name, kind, offset into struct dfit_cell_result, and when the value is
 * NULL), and both the INSERT and the SELECT are generated from that table,
 * so the two cannot drift apart. The SQL is built from these fixed names
 * only; every value is a bound parameter.
 * Non-goals: runs (store_runs.c), the schema (store_schema.c), CSV
 * (export_csv.c).
 */
#include "store/store_impl.h"

#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dfit_cell_result R;

enum kind { K_U64, K_U32, K_F64, K_TEXT, K_BOOL };
enum guard {
    G_NONE,
    G_NONZERO, /* NULL when the uint64_t at guard_off is 0 (summary n) */
    G_FLAG,    /* NULL when the bool at guard_off is false */
};

struct col {
    const char *name;
    unsigned char kind, guard;
    size_t off, size, guard_off;
};

#define FIELD_SIZE(f) sizeof(((R *)0)->f)
#define U64(n, f) {n, K_U64, G_NONE, offsetof(R, f), 0, 0}
#define U32(n, f) {n, K_U32, G_NONE, offsetof(R, f), 0, 0}
#define F64(n, f) {n, K_F64, G_NONE, offsetof(R, f), 0, 0}
#define TEXT(n, f) {n, K_TEXT, G_NONE, offsetof(R, f), FIELD_SIZE(f), 0}
#define BOOL(n, f) {n, K_BOOL, G_NONE, offsetof(R, f), 0, 0}
#define F64_IF(n, f, flag) {n, K_F64, G_FLAG, offsetof(R, f), 0, offsetof(R, flag)}
#define U64_IF(n, f, flag) {n, K_U64, G_FLAG, offsetof(R, f), 0, offsetof(R, flag)}
#define STAT(p, s, f, sfx) {p "_" #f sfx, K_F64, G_NONZERO, offsetof(R, s.f), 0, offsetof(R, s.n)}
#define SUMMARY(p, s)                                                                             \
    U64(p "_n", s.n), STAT(p, s, mean, "_ns"), STAT(p, s, stdev, "_ns"), STAT(p, s, cv, ""),     \
        STAT(p, s, p50, "_ns"), STAT(p, s, p90, "_ns"), STAT(p, s, p95, "_ns"),                  \
        STAT(p, s, p99, "_ns"), STAT(p, s, max, "_ns")

/* The cells columns after id, run_id, variant, target, workload, written_at
 * and status, in schema order. */
static const struct col cols[] = {
    TEXT("reason", reason),
    U64("wall_ns", wall_ns),
    U64("load_open_ns", load_open_ns),
    U64("load_validate_ns", load_validate_ns),
    U64("load_prepare_ns", load_prepare_ns),
    U64("load_first_forward_ns", load_first_forward_ns),
    U64("load_cold_ns", load_cold_ns),
    U64("load_warm_ns", load_warm_ns),
    U32("n_requests", n_requests),
    U64("n_gaps", n_gaps),
    U64("run_ns", run_ns),
    SUMMARY("ttft", ttft),
    SUMMARY("tpot", tpot),
    SUMMARY("e2e", e2e),
    F64("prefill_tokens_per_s", prefill_tokens_per_s),
    F64("decode_tokens_per_s", decode_tokens_per_s),
    F64("output_tokens_per_s", output_tokens_per_s),
    F64("requests_per_s", requests_per_s),
    U64("weight_bytes", weight_bytes),
    U64("kv_bytes", kv_bytes),
    U64("workspace_bytes", workspace_bytes),
    U64("peak_rss_bytes", peak_rss_bytes),
    U64("device_peak_bytes", device_peak_bytes),
    BOOL("q_available", quality.available),
    TEXT("q_reason", quality.reason),
    U64_IF("q_n_tokens", quality.n_tokens, quality.available),
    F64_IF("ppl", quality.ppl, quality.available),
    F64_IF("ppl_se", quality.ppl_se, quality.available),
    F64_IF("ppl_ratio", quality.ppl_ratio, quality.available),
    F64_IF("ppl_ratio_se", quality.ppl_ratio_se, quality.available),
    F64_IF("kl_mean", quality.kl_mean, quality.available),
    F64_IF("kl_se", quality.kl_se, quality.available),
    F64_IF("kl_p99", quality.kl_p99, quality.available),
    F64_IF("top1", quality.top1, quality.available),
    F64_IF("top1_se", quality.top1_se, quality.available),
    F64_IF("rms_dp", quality.rms_dp, quality.available),
    F64_IF("rms_dp_se", quality.rms_dp_se, quality.available),
    F64_IF("accuracy", quality.accuracy, quality.has_accuracy),
    F64_IF("accuracy_se", quality.accuracy_se, quality.has_accuracy),
    F64("usd_per_mtok", usd_per_mtok),
    BOOL("valid", valid),
    TEXT("invalid_reasons", invalid_reasons),
    TEXT("kernels", kernels),
};
#define N_COLS (sizeof cols / sizeof cols[0])
#define N_FIXED 7 /* id, run_id, variant, target, workload, written_at, status */

#define AT(r, off, type) ((type *)(void *)((char *)(r) + (off)))
#define AT_C(r, off, type) ((const type *)(const void *)((const char *)(r) + (off)))

/* Builds "INSERT INTO cells (...) VALUES (...)" or the SELECT from cols. */
static char *cells_sql(bool insert)
{
    size_t cap = 256 + N_COLS * 40;
    char *sql = malloc(cap);
    if (!sql)
        return NULL;
    size_t len = (size_t)snprintf(sql, cap, "%s", insert
        ? "INSERT INTO cells (run_id, variant, target, workload, written_at, status"
        : "SELECT c.id, c.run_id, c.variant, c.target, c.workload, c.written_at, c.status");
    for (size_t i = 0; i < N_COLS; i++)
        len += (size_t)snprintf(sql + len, cap - len, insert ? ", %s" : ", c.%s", cols[i].name);
    if (insert) {
        len += (size_t)snprintf(sql + len, cap - len,
                                ") VALUES (?, ?, ?, ?, strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'), ?");
        for (size_t i = 0; i < N_COLS; i++)
            len += (size_t)snprintf(sql + len, cap - len, ", ?");
        snprintf(sql + len, cap - len, ")");
    } else {
        snprintf(sql + len, cap - len,
                 " FROM cells c JOIN variants v ON v.run_id = c.run_id AND v.name = c.variant "
                 "JOIN targets t ON t.run_id = c.run_id AND t.name = c.target "
                 "JOIN workloads w ON w.run_id = c.run_id AND w.name = c.workload "
                 "WHERE c.run_id = ?1 ORDER BY v.id, t.id, w.id, c.id");
    }
    return sql;
}

static size_t text_len(const char *s, size_t cap) { return strnlen(s, cap); }

/* Binds cols[i] of r at parameter p; DFIT_ERANGE for a u64 past INT64_MAX. */
static int bind_col(sqlite3_stmt *st, int p, const struct col *c, const R *r)
{
    bool null = (c->guard == G_NONZERO && *AT_C(r, c->guard_off, uint64_t) == 0) ||
                (c->guard == G_FLAG && !*AT_C(r, c->guard_off, bool));
    if (null)
        return sqlite3_bind_null(st, p) == SQLITE_OK ? 0 : DFIT_EIO;
    switch (c->kind) {
    case K_U32:
        return sqlite3_bind_int64(st, p, *AT_C(r, c->off, uint32_t)) == SQLITE_OK ? 0 : DFIT_EIO;
    case K_U64: {
        uint64_t v = *AT_C(r, c->off, uint64_t);
        if (v > INT64_MAX)
            return DFIT_ERANGE;
        return sqlite3_bind_int64(st, p, (sqlite3_int64)v) == SQLITE_OK ? 0 : DFIT_EIO;
    }
    case K_F64: {
        double v = *AT_C(r, c->off, double);
        return (isnan(v) ? sqlite3_bind_null(st, p) : sqlite3_bind_double(st, p, v)) == SQLITE_OK
                   ? 0 : DFIT_EIO;
    }
    case K_BOOL:
        return sqlite3_bind_int(st, p, *AT_C(r, c->off, bool) ? 1 : 0) == SQLITE_OK ? 0 : DFIT_EIO;
    default: {
        const char *t = AT_C(r, c->off, char);
        size_t n = text_len(t, c->size);
        return (n ? sqlite3_bind_text(st, p, t, (int)n, SQLITE_STATIC) : sqlite3_bind_null(st, p))
                       == SQLITE_OK ? 0 : DFIT_EIO;
    }
    }
}

/* Reads column i into r; false for an integer out of the field's range. */
static bool read_col(sqlite3_stmt *st, int i, const struct col *c, R *r)
{
    bool null = sqlite3_column_type(st, i) == SQLITE_NULL;
    sqlite3_int64 iv = sqlite3_column_int64(st, i);
    switch (c->kind) {
    case K_U32:
        if (iv < 0 || iv > UINT32_MAX)
            return false;
        *AT(r, c->off, uint32_t) = (uint32_t)iv;
        break;
    case K_U64:
        if (iv < 0)
            return false;
        *AT(r, c->off, uint64_t) = (uint64_t)iv;
        break;
    case K_F64:
        *AT(r, c->off, double) = null ? NAN : sqlite3_column_double(st, i);
        break;
    case K_BOOL:
        *AT(r, c->off, bool) = sqlite3_column_int(st, i) != 0;
        break;
    default: {
        char *t = AT(r, c->off, char);
        size_t n = null ? 0 : (size_t)sqlite3_column_bytes(st, i);
        if (n >= c->size)
            n = c->size - 1;
        if (n)
            memcpy(t, sqlite3_column_text(st, i), n);
        t[n] = '\0';
    }
    }
    return true;
}

/* ---- checking a result before writing it ------------------------------------- */

/* Result.h's sample layout: request i owns gaps [first_gap(i), first_gap(i+1)). */
static uint64_t gaps_end(const R *r, uint32_t i)
{
    return i + 1 < r->n_requests ? r->requests[i + 1].first_gap : r->n_gaps;
}

static int check_result(const R *r, char *why, size_t cap)
{
    if ((unsigned)r->status > DFIT_CELL_SKIPPED)
        return snprintf(why, cap, "status %d is not a cell status", (int)r->status), DFIT_EINVAL;
    if ((r->n_requests && !r->requests) || (r->n_gaps && !r->gaps_ns) ||
        (r->n_counters && !r->counters))
        return snprintf(why, cap, "a sample count is set but its array is NULL"), DFIT_EINVAL;
    if (r->n_gaps && !r->n_requests)
        return snprintf(why, cap, "%llu gaps but no requests", (unsigned long long)r->n_gaps),
               DFIT_EINVAL;
    for (uint32_t i = 0; i < r->n_requests; i++) {
        const struct dfit_request_sample *q = &r->requests[i];
        uint64_t start = q->first_gap, end = gaps_end(r, i);
        if ((i == 0 && start != 0) || end < start || end > r->n_gaps)
            return snprintf(why, cap, "request %u: gaps [%llu, %llu) are not within the %llu "
                            "gaps stored request by request", i, (unsigned long long)start,
                            (unsigned long long)end, (unsigned long long)r->n_gaps), DFIT_EINVAL;
        if (q->ttft_ns > INT64_MAX || q->e2e_ns > INT64_MAX)
            return snprintf(why, cap, "request %u: time past INT64_MAX ns", i), DFIT_ERANGE;
    }
    for (uint64_t g = 0; g < r->n_gaps; g++)
        if (r->gaps_ns[g] > INT64_MAX)
            return snprintf(why, cap, "gap %llu past INT64_MAX ns", (unsigned long long)g),
                   DFIT_ERANGE;
    for (uint32_t i = 0; i < r->n_counters; i++) {
        const struct dfit_counter_value *c = &r->counters[i];
        if ((unsigned)c->phase >= DFIT_PHASE_COUNT || !text_len(c->name, sizeof c->name))
            return snprintf(why, cap, "counter %u: bad phase or empty name", i), DFIT_EINVAL;
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------------ */

struct writer {
    struct dfit_store *s;
    sqlite3_stmt *find, *del, *cell, *req, *gap, *ctr;
    char ctx[DFIT_ERR_MSG_MAX / 2]; /* "write cell (v, t, w) of run N" */
};

/* err = "PATH: ctx: <op>: <sqlite3_errmsg>". */
static int wfail(struct writer *w, struct dfit_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int wfail(struct writer *w, struct dfit_err *err, const char *fmt, ...)
{
    char op[DFIT_ERR_MSG_MAX / 4];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op, sizeof op, fmt, ap);
    va_end(ap);
    return dfit_store_fail(w->s, err, "%s: %s", w->ctx, op);
}

static int write_samples(struct writer *w, int64_t cell_id, const R *r, struct dfit_err *err)
{
    for (uint32_t i = 0; i < r->n_requests; i++) {
        const struct dfit_request_sample *q = &r->requests[i];
        sqlite3_reset(w->req);
        sqlite3_bind_int64(w->req, 1, cell_id);
        sqlite3_bind_int64(w->req, 2, i);
        sqlite3_bind_int64(w->req, 3, (sqlite3_int64)q->ttft_ns);
        sqlite3_bind_int64(w->req, 4, (sqlite3_int64)q->e2e_ns);
        sqlite3_bind_int64(w->req, 5, q->n_prompt);
        sqlite3_bind_int64(w->req, 6, q->n_output);
        if (sqlite3_step(w->req) != SQLITE_DONE)
            return wfail(w, err, "insert request %u", i);
        uint64_t end = gaps_end(r, i);
        for (uint64_t g = q->first_gap; g < end; g++) {
            sqlite3_reset(w->gap);
            sqlite3_bind_int64(w->gap, 1, cell_id);
            sqlite3_bind_int64(w->gap, 2, i);
            sqlite3_bind_int64(w->gap, 3, (sqlite3_int64)(g - q->first_gap));
            sqlite3_bind_int64(w->gap, 4, (sqlite3_int64)r->gaps_ns[g]);
            if (sqlite3_step(w->gap) != SQLITE_DONE)
                return wfail(w, err, "insert gap %llu of request %u",
                                       (unsigned long long)(g - q->first_gap), i);
        }
    }
    for (uint32_t i = 0; i < r->n_counters; i++) {
        const struct dfit_counter_value *c = &r->counters[i];
        sqlite3_reset(w->ctr);
        sqlite3_bind_int64(w->ctr, 1, cell_id);
        sqlite3_bind_int64(w->ctr, 2, i);
        sqlite3_bind_text(w->ctr, 3, dfit_phase_name(c->phase), -1, SQLITE_STATIC);
        sqlite3_bind_text(w->ctr, 4, c->name, (int)text_len(c->name, sizeof c->name), SQLITE_STATIC);
        sqlite3_bind_int(w->ctr, 5, c->available);
        if (c->available)
            sqlite3_bind_int64(w->ctr, 6, c->value);
        else
            sqlite3_bind_null(w->ctr, 6);
        size_t n = text_len(c->reason, sizeof c->reason);
        if (n)
            sqlite3_bind_text(w->ctr, 7, c->reason, (int)n, SQLITE_STATIC);
        else
            sqlite3_bind_null(w->ctr, 7);
        if (sqlite3_step(w->ctr) != SQLITE_DONE)
            return wfail(w, err, "insert counter %s/%.*s", dfit_phase_name(c->phase),
                                   (int)text_len(c->name, sizeof c->name), c->name);
    }
    return 0;
}

/* Inside the transaction: apply the replacement rule, then insert. */
static int write_locked(struct writer *w, int64_t run_id, const char *const names[3], const R *r,
                        struct dfit_err *err)
{
    sqlite3_bind_int64(w->find, 1, run_id);
    for (int i = 0; i < 3; i++)
        sqlite3_bind_text(w->find, 2 + i, names[i], -1, SQLITE_STATIC);
    int step = sqlite3_step(w->find);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return wfail(w, err, "look up the cell");
    if (step == SQLITE_ROW) {
        char old[16];
        const unsigned char *t = sqlite3_column_text(w->find, 1);
        snprintf(old, sizeof old, "%s", t ? (const char *)t : "?");
        if (strcmp(old, "ok") == 0)
            return dfit_err_set(err, DFIT_EEXIST, "%s: %s: already written with status ok; "
                                "not replaced", dfit_store_path(w->s), w->ctx);
        sqlite3_bind_int64(w->del, 1, sqlite3_column_int64(w->find, 0));
        sqlite3_reset(w->find);
        if (sqlite3_step(w->del) != SQLITE_DONE)
            return wfail(w, err, "delete the earlier %s cell", old);
    }

    sqlite3_bind_int64(w->cell, 1, run_id);
    for (int i = 0; i < 3; i++)
        sqlite3_bind_text(w->cell, 2 + i, names[i], -1, SQLITE_STATIC);
    sqlite3_bind_text(w->cell, 5, dfit_cell_status_name(r->status), -1, SQLITE_STATIC);
    for (size_t i = 0; i < N_COLS; i++) {
        int rc = bind_col(w->cell, 6 + (int)i, &cols[i], r);
        if (rc == DFIT_ERANGE)
            return dfit_err_set(err, rc, "%s: %s: column %s: value past INT64_MAX",
                                dfit_store_path(w->s), w->ctx, cols[i].name);
        if (rc)
            return wfail(w, err, "bind column %s", cols[i].name);
    }
    if (sqlite3_step(w->cell) != SQLITE_DONE)
        return wfail(w, err, "insert cell");
    return write_samples(w, sqlite3_last_insert_rowid(dfit_store_db(w->s)), r, err);
}

int dfit_store_write_cell(struct dfit_store *s, int64_t run_id, const char *variant,
                          const char *target, const char *workload,
                          const struct dfit_cell_result *r, struct dfit_err *err)
{
    const char *const names[3] = {variant, target, workload};
    const char *path = dfit_store_path(s);
    if (!variant || !target || !workload || !*variant || !*target || !*workload)
        return dfit_err_set(err, DFIT_EINVAL, "%s: write cell: empty variant, target or workload "
                            "name", path);
    char why[DFIT_ERR_MSG_MAX / 2];
    int rc = check_result(r, why, sizeof why);
    if (rc)
        return dfit_err_set(err, rc, "%s: write cell (%s, %s, %s) of run %lld: %s", path, variant,
                            target, workload, (long long)run_id, why);

    struct writer w = {.s = s};
    snprintf(w.ctx, sizeof w.ctx, "write cell (%s, %s, %s) of run %lld", variant, target, workload,
             (long long)run_id);
    char *insert = cells_sql(true);
    if (!insert)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: write cell: out of memory", path);
    if ((rc = dfit_store_prepare(s, "SELECT id, status FROM cells WHERE run_id = ?1 AND "
                                 "variant = ?2 AND target = ?3 AND workload = ?4", &w.find,
                                 "find cell", err)) ||
        (rc = dfit_store_prepare(s, "DELETE FROM cells WHERE id = ?1", &w.del, "delete cell",
                                 err)) ||
        (rc = dfit_store_prepare(s, insert, &w.cell, "insert cell", err)) ||
        (rc = dfit_store_prepare(s, "INSERT INTO requests (cell_id, idx, ttft_ns, e2e_ns, "
                                 "n_prompt, n_output) VALUES (?, ?, ?, ?, ?, ?)", &w.req,
                                 "insert request", err)) ||
        (rc = dfit_store_prepare(s, "INSERT INTO gaps (cell_id, request_idx, token_idx, gap_ns) "
                                 "VALUES (?, ?, ?, ?)", &w.gap, "insert gap", err)) ||
        (rc = dfit_store_prepare(s, "INSERT INTO counters (cell_id, idx, phase, name, available, "
                                 "value, reason) VALUES (?, ?, ?, ?, ?, ?, ?)", &w.ctr,
                                 "insert counter", err)))
        goto done;
    if ((rc = dfit_store_begin(s, w.ctx, err)))
        goto done;
    if ((rc = write_locked(&w, run_id, names, r, err)) == 0)
        rc = dfit_store_commit(s, w.ctx, err);
    dfit_store_rollback(s); /* no-op after a commit */
done:
    sqlite3_finalize(w.find);
    sqlite3_finalize(w.del);
    sqlite3_finalize(w.cell);
    sqlite3_finalize(w.req);
    sqlite3_finalize(w.gap);
    sqlite3_finalize(w.ctr);
    free(insert);
    return rc;
}

int dfit_store_cell_exists(struct dfit_store *s, int64_t run_id, const char *variant,
                           const char *target, const char *workload, bool *exists,
                           enum dfit_cell_status *status, struct dfit_err *err)
{
    *exists = false;
    sqlite3_stmt *st = NULL;
    int rc = dfit_store_prepare(s, "SELECT status FROM cells WHERE run_id = ?1 AND variant = ?2 "
                                "AND target = ?3 AND workload = ?4", &st, "find cell", err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, variant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, target, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, workload, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        enum dfit_cell_status cs = DFIT_CELL_FAILED;
        if (!dfit_cell_status_from_name((const char *)sqlite3_column_text(st, 0), &cs))
            rc = dfit_err_set(err, DFIT_EINVAL, "%s: cell (%s, %s, %s): unknown status '%s'",
                              dfit_store_path(s), variant, target, workload,
                              sqlite3_column_text(st, 0));
        *exists = rc == 0;
        if (status && !rc)
            *status = cs;
    } else if (step != SQLITE_DONE) {
        rc = dfit_store_fail(s, err, "find cell (%s, %s, %s)", variant, target, workload);
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- reading ---------------------------------------------------------------------- */

struct reader {
    struct dfit_store *s;
    sqlite3_stmt *req, *gap, *ctr;
};

static int read_samples(struct reader *rd, struct dfit_store_cell *c, struct dfit_err *err)
{
    R *r = &c->r;
    uint64_t n_req = r->n_requests, n_gaps = r->n_gaps; /* from the cell row */
    r->n_requests = 0;
    r->n_gaps = 0;
    if ((n_req && !(r->requests = calloc(n_req, sizeof *r->requests))) ||
        (n_gaps && !(r->gaps_ns = malloc(n_gaps * sizeof *r->gaps_ns))))
        return dfit_err_set(err, DFIT_ENOMEM, "%s: cell %lld: out of memory for samples",
                            dfit_store_path(rd->s), (long long)c->id);
    int step;
    sqlite3_reset(rd->req);
    sqlite3_bind_int64(rd->req, 1, c->id);
    while ((step = sqlite3_step(rd->req)) == SQLITE_ROW) {
        if (r->n_requests == n_req || sqlite3_column_int64(rd->req, 0) != r->n_requests)
            goto inconsistent;
        struct dfit_request_sample *q = &r->requests[r->n_requests++];
        q->ttft_ns = (uint64_t)sqlite3_column_int64(rd->req, 1);
        q->e2e_ns = (uint64_t)sqlite3_column_int64(rd->req, 2);
        q->n_prompt = (uint32_t)sqlite3_column_int64(rd->req, 3);
        q->n_output = (uint32_t)sqlite3_column_int64(rd->req, 4);
    }
    if (step != SQLITE_DONE)
        return dfit_store_fail(rd->s, err, "read requests of cell %lld", (long long)c->id);
    sqlite3_reset(rd->gap);
    sqlite3_bind_int64(rd->gap, 1, c->id);
    uint32_t cur = 0; /* request whose gaps come next */
    while ((step = sqlite3_step(rd->gap)) == SQLITE_ROW) {
        int64_t req = sqlite3_column_int64(rd->gap, 0);
        if (r->n_gaps == n_gaps || req < cur || req >= r->n_requests)
            goto inconsistent;
        while (cur < req)
            r->requests[++cur].first_gap = (uint32_t)r->n_gaps;
        r->gaps_ns[r->n_gaps++] = (uint64_t)sqlite3_column_int64(rd->gap, 1);
    }
    if (step != SQLITE_DONE)
        return dfit_store_fail(rd->s, err, "read gaps of cell %lld", (long long)c->id);
    while (cur + 1 < r->n_requests)
        r->requests[++cur].first_gap = (uint32_t)r->n_gaps;
    if (r->n_requests != n_req || r->n_gaps != n_gaps)
        goto inconsistent;
    return 0;
inconsistent:
    return dfit_err_set(err, DFIT_EINVAL, "%s: cell %lld: stored samples do not match its "
                        "n_requests (%llu) and n_gaps (%llu)", dfit_store_path(rd->s),
                        (long long)c->id, (unsigned long long)n_req, (unsigned long long)n_gaps);
}

static int read_counters(struct reader *rd, struct dfit_store_cell *c, struct dfit_err *err)
{
    R *r = &c->r;
    uint32_t cap = 0;
    int step;
    sqlite3_reset(rd->ctr);
    sqlite3_bind_int64(rd->ctr, 1, c->id);
    while ((step = sqlite3_step(rd->ctr)) == SQLITE_ROW) {
        if (r->n_counters == cap) {
            uint32_t ncap = cap ? 2 * cap : 8;
            struct dfit_counter_value *v = realloc(r->counters, ncap * sizeof *v);
            if (!v)
                return dfit_err_set(err, DFIT_ENOMEM, "%s: cell %lld: out of memory for counters",
                                    dfit_store_path(rd->s), (long long)c->id);
            r->counters = v;
            cap = ncap;
        }
        struct dfit_counter_value *v = &r->counters[r->n_counters];
        memset(v, 0, sizeof *v);
        const char *phase = (const char *)sqlite3_column_text(rd->ctr, 0);
        if (!dfit_phase_from_name(phase, &v->phase))
            return dfit_err_set(err, DFIT_EINVAL, "%s: cell %lld: counter phase '%s' unknown",
                                dfit_store_path(rd->s), (long long)c->id, phase ? phase : "");
        const char *name = (const char *)sqlite3_column_text(rd->ctr, 1);
        const char *reason = (const char *)sqlite3_column_text(rd->ctr, 4);
        snprintf(v->name, sizeof v->name, "%s", name ? name : "");
        v->available = sqlite3_column_int(rd->ctr, 2) != 0;
        v->value = sqlite3_column_int64(rd->ctr, 3);
        snprintf(v->reason, sizeof v->reason, "%s", reason ? reason : "");
        r->n_counters++;
    }
    if (step != SQLITE_DONE)
        return dfit_store_fail(rd->s, err, "read counters of cell %lld", (long long)c->id);
    return 0;
}

static int read_cell(sqlite3_stmt *st, struct reader *rd, bool with_samples,
                     struct dfit_store_cell *c, struct dfit_err *err)
{
    memset(c, 0, sizeof *c);
    static const int text_cols[] = {2, 3, 4, 5};
    const char **const dst[] = {&c->variant, &c->target, &c->workload, &c->written_at};
    if (!(c->strings_ = dfit_store_copy_texts(st, text_cols, dst, 4)))
        return dfit_err_set(err, DFIT_ENOMEM, "%s: read cells: out of memory",
                            dfit_store_path(rd->s));
    c->id = sqlite3_column_int64(st, 0);
    c->run_id = sqlite3_column_int64(st, 1);
    const char *status = (const char *)sqlite3_column_text(st, 6);
    if (!dfit_cell_status_from_name(status, &c->r.status))
        return dfit_err_set(err, DFIT_EINVAL, "%s: cell %lld: unknown status '%s'",
                            dfit_store_path(rd->s), (long long)c->id, status ? status : "");
    for (size_t i = 0; i < N_COLS; i++)
        if (!read_col(st, N_FIXED + (int)i, &cols[i], &c->r))
            return dfit_err_set(err, DFIT_EINVAL, "%s: cell %lld: column %s: %lld is out of range",
                                dfit_store_path(rd->s), (long long)c->id, cols[i].name,
                                sqlite3_column_int64(st, N_FIXED + (int)i));
    c->r.quality.has_accuracy = !isnan(c->r.quality.accuracy);
    int rc = with_samples ? read_samples(rd, c, err) : 0;
    if (!with_samples) {
        c->r.n_requests = 0;
        c->r.n_gaps = 0;
    }
    return rc ? rc : read_counters(rd, c, err);
}

int dfit_store_load_cells(struct dfit_store *s, int64_t run_id, bool with_samples,
                          struct dfit_store_cell **cells, size_t *n, struct dfit_err *err)
{
    *cells = NULL;
    *n = 0;
    struct reader rd = {.s = s};
    struct dfit_store_cell *v = NULL;
    size_t count = 0, cap = 0;
    sqlite3_stmt *st = NULL;
    char *select = cells_sql(false);
    int rc = 0, step;
    if (!select) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: read cells: out of memory", dfit_store_path(s));
        goto fail;
    }
    if ((rc = dfit_store_prepare(s, select, &st, "read cells", err)) ||
        (rc = dfit_store_prepare(s, "SELECT idx, ttft_ns, e2e_ns, n_prompt, n_output FROM "
                                 "requests WHERE cell_id = ?1 ORDER BY idx", &rd.req,
                                 "read requests", err)) ||
        (rc = dfit_store_prepare(s, "SELECT request_idx, gap_ns FROM gaps WHERE cell_id = ?1 "
                                 "ORDER BY request_idx, token_idx", &rd.gap, "read gaps", err)) ||
        (rc = dfit_store_prepare(s, "SELECT phase, name, available, value, reason FROM counters "
                                 "WHERE cell_id = ?1 ORDER BY idx", &rd.ctr, "read counters", err)))
        goto fail;
    sqlite3_bind_int64(st, 1, run_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            struct dfit_store_cell *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = dfit_err_set(err, DFIT_ENOMEM, "%s: read cells: out of memory",
                                  dfit_store_path(s));
                goto fail;
            }
            v = nv;
            cap = ncap;
        }
        rc = read_cell(st, &rd, with_samples, &v[count], err);
        count++; /* a half-read cell is freed with the rest */
        if (rc)
            goto fail;
    }
    if (step != SQLITE_DONE) {
        rc = dfit_store_fail(s, err, "read cells of run %lld", (long long)run_id);
        goto fail;
    }
    *cells = v;
    *n = count;
    v = NULL;
    count = 0;
fail:
    sqlite3_finalize(st);
    sqlite3_finalize(rd.req);
    sqlite3_finalize(rd.gap);
    sqlite3_finalize(rd.ctr);
    free(select);
    dfit_store_cells_free(v, count);
    return rc;
}

void dfit_store_cells_free(struct dfit_store_cell *cells, size_t n)
{
    for (size_t i = 0; cells && i < n; i++) {
        dfit_cell_result_free_samples(&cells[i].r);
        free(cells[i].strings_);
    }
    free(cells);
}
