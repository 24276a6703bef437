/* store.c — the results database: opening (WAL, busy timeout, foreign keys),
 * the schema and its migration ladder, runs and their machine state, and
 * the variants, targets and workloads a run measures (see store.h).
 *
 * Schema versions: PRAGMA user_version holds the version. A new file gets
 * results/schema.sql whole, at DFIT_STORE_SCHEMA_VERSION. An older file
 * climbs the ladder one step at a time, upgrade[v] taking it from v to v+1,
 * all inside one BEGIN IMMEDIATE transaction that re-reads the version, so
 * processes opening the file at once migrate it exactly once. A new
 * version N+1 is: bump DFIT_STORE_SCHEMA_VERSION, bring results/schema.sql
 * (and the copy below) to the new schema, and write upgrade_N_to_N+1 into
 * upgrade[N]. Version 2 added the reference and per-token costs, version 3
 * the task_accuracy table.
 * Non-goals: cells (store_cells.c), task accuracy (store_tasks.c), export
 * (export_csv.c).
 */
#include "store/store.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

struct dfit_store {
    sqlite3 *db;
    char *path;
};

/* results/schema.sql, line by line (test_store compares them; one string
 * would pass the 4095 characters ISO C guarantees). */
static const char *const schema_lines[] = {
    "-- dfit results database, schema version 3 (PRAGMA user_version = 3).\n",
    "-- One run = one `dfit run SCENARIO`; one cell = variant x target x workload,\n",
    "-- written in one transaction with its raw samples and counters.\n",
    "-- Units are in the column names (_ns, _bytes, _mib, _ms, _per_s); times of\n",
    "-- day are ISO 8601 UTC text. NULL means \"not measured / not set\", never 0.\n",
    "-- This text is compiled into dfit (harness/store/store.c); a test keeps the\n",
    "-- two identical. It is always the newest schema: a change is a new schema\n",
    "-- version with an upgrade step in store.c's migration ladder.\n",
    "\n",
    "CREATE TABLE runs (\n",
    "    id              INTEGER PRIMARY KEY,\n",
    "    scenario        TEXT NOT NULL,\n",
    "    scenario_sha256 TEXT NOT NULL,\n",
    "    scenario_path   TEXT,\n",
    "    label           TEXT,\n",
    "    started_at      TEXT NOT NULL,\n",
    "    finished_at     TEXT,\n",
    "    status          TEXT NOT NULL\n",
    "                    CHECK (status IN ('running', 'done', 'failed', 'interrupted')),\n",
    "    n_resumes       INTEGER NOT NULL DEFAULT 0,\n",
    "    dfit_version    TEXT NOT NULL,\n",
    "    git_commit      TEXT NOT NULL,\n",
    "    build_type      TEXT NOT NULL,\n",
    "    compiler        TEXT NOT NULL,\n",
    "    compiler_flags  TEXT,\n",
    "    reference       TEXT\n",
    ");\n",
    "CREATE INDEX runs_by_scenario ON runs (scenario, scenario_sha256);\n",
    "\n",
    "CREATE TABLE machine_state (\n",
    "    run_id               INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,\n",
    "    hostname             TEXT,\n",
    "    kernel               TEXT,\n",
    "    cpu_model            TEXT,\n",
    "    cpu_flags            TEXT,\n",
    "    n_cpus               INTEGER,\n",
    "    n_cores              INTEGER,\n",
    "    governor             TEXT,\n",
    "    loadavg1_before      REAL,\n",
    "    loadavg5_before      REAL,\n",
    "    loadavg15_before     REAL,\n",
    "    loadavg1_after       REAL,\n",
    "    loadavg5_after       REAL,\n",
    "    loadavg15_after      REAL,\n",
    "    mem_total_bytes      INTEGER,\n",
    "    mem_available_bytes  INTEGER\n",
    ");\n",
    "\n",
    "CREATE TABLE variants (\n",
    "    id              INTEGER PRIMARY KEY,\n",
    "    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n",
    "    name            TEXT NOT NULL,\n",
    "    file            TEXT,\n",
    "    sha256          TEXT,\n",
    "    bytes           INTEGER,\n",
    "    n_params        INTEGER,\n",
    "    bits_per_weight REAL,\n",
    "    recipe          TEXT,\n",
    "    lineage         TEXT,\n",
    "    -- per-token cost from the file's shapes and dfit.prune.* (version 2;\n",
    "    -- NULL when unknown): see harness/run/token_cost.h and docs/results.md\n",
    "    bytes_per_token        INTEGER,\n",
    "    kv_values_per_pos      INTEGER,\n",
    "    flops_per_token        INTEGER,\n",
    "    sparse_flops_per_token INTEGER,\n",
    "    output_flops           INTEGER,\n",
    "    attn_flops_per_pos     INTEGER,\n",
    "    weight_type            TEXT,\n",
    "    prune_pattern          TEXT,\n",
    "    prune_sparsity         REAL,\n",
    "    UNIQUE (run_id, name)\n",
    ");\n",
    "\n",
    "CREATE TABLE targets (\n",
    "    id                   INTEGER PRIMARY KEY,\n",
    "    run_id               INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n",
    "    name                 TEXT NOT NULL,\n",
    "    backend              TEXT NOT NULL,\n",
    "    device               TEXT,\n",
    "    threads              INTEGER NOT NULL,\n",
    "    kernels              TEXT,\n",
    "    counters             TEXT,\n",
    "    memory_limit_mib     REAL,\n",
    "    price_per_hour       REAL,\n",
    "    time_limit_s         REAL,\n",
    "    slo_p95_ttft_ms      REAL,\n",
    "    slo_p95_tpot_ms      REAL,\n",
    "    slo_p95_e2e_ms       REAL,\n",
    "    slo_min_tokens_per_s REAL,\n",
    "    slo_max_memory_mib   REAL,\n",
    "    slo_max_usd_per_mtok REAL,\n",
    "    slo_min_quality      REAL,\n",
    "    UNIQUE (run_id, name)\n",
    ");\n",
    "\n",
    "CREATE TABLE workloads (\n",
    "    id              INTEGER PRIMARY KEY,\n",
    "    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n",
    "    name            TEXT NOT NULL,\n",
    "    mode            TEXT NOT NULL CHECK (mode IN ('single-stream', 'offline')),\n",
    "    prompt_tokens   INTEGER NOT NULL,\n",
    "    output_tokens   INTEGER NOT NULL,\n",
    "    batch           INTEGER NOT NULL,\n",
    "    min_duration_ms INTEGER NOT NULL,\n",
    "    min_requests    INTEGER NOT NULL,\n",
    "    warmup_requests INTEGER NOT NULL,\n",
    "    UNIQUE (run_id, name)\n",
    ");\n",
    "\n",
    "-- Summary statistics are NULL when their n is 0; quality metrics are NULL\n",
    "-- when quality is unavailable (q_reason says why).\n",
    "CREATE TABLE cells (\n",
    "    id                    INTEGER PRIMARY KEY,\n",
    "    run_id                INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n",
    "    variant               TEXT NOT NULL,\n",
    "    target                TEXT NOT NULL,\n",
    "    workload              TEXT NOT NULL,\n",
    "    written_at            TEXT NOT NULL,\n",
    "    status                TEXT NOT NULL\n",
    "                          CHECK (status IN ('ok', 'failed', 'crashed', 'timeout', 'oom', 'skipped')),\n",
    "    reason                TEXT,\n",
    "    wall_ns               INTEGER,\n",
    "    load_open_ns          INTEGER,\n",
    "    load_validate_ns      INTEGER,\n",
    "    load_prepare_ns       INTEGER,\n",
    "    load_first_forward_ns INTEGER,\n",
    "    load_cold_ns          INTEGER,\n",
    "    load_warm_ns          INTEGER,\n",
    "    n_requests            INTEGER NOT NULL,\n",
    "    n_gaps                INTEGER NOT NULL,\n",
    "    run_ns                INTEGER,\n",
    "    ttft_n INTEGER, ttft_mean_ns REAL, ttft_stdev_ns REAL, ttft_cv REAL,\n",
    "    ttft_p50_ns REAL, ttft_p90_ns REAL, ttft_p95_ns REAL, ttft_p99_ns REAL, ttft_max_ns REAL,\n",
    "    tpot_n INTEGER, tpot_mean_ns REAL, tpot_stdev_ns REAL, tpot_cv REAL,\n",
    "    tpot_p50_ns REAL, tpot_p90_ns REAL, tpot_p95_ns REAL, tpot_p99_ns REAL, tpot_max_ns REAL,\n",
    "    e2e_n INTEGER, e2e_mean_ns REAL, e2e_stdev_ns REAL, e2e_cv REAL,\n",
    "    e2e_p50_ns REAL, e2e_p90_ns REAL, e2e_p95_ns REAL, e2e_p99_ns REAL, e2e_max_ns REAL,\n",
    "    prefill_tokens_per_s  REAL,\n",
    "    decode_tokens_per_s   REAL,\n",
    "    output_tokens_per_s   REAL,\n",
    "    requests_per_s        REAL,\n",
    "    weight_bytes          INTEGER,\n",
    "    kv_bytes              INTEGER,\n",
    "    workspace_bytes       INTEGER,\n",
    "    peak_rss_bytes        INTEGER,\n",
    "    device_peak_bytes     INTEGER,\n",
    "    q_available           INTEGER NOT NULL CHECK (q_available IN (0, 1)),\n",
    "    q_reason              TEXT,\n",
    "    q_n_tokens            INTEGER,\n",
    "    ppl REAL, ppl_se REAL,\n",
    "    ppl_ratio REAL, ppl_ratio_se REAL,\n",
    "    kl_mean REAL, kl_se REAL, kl_p99 REAL,\n",
    "    top1 REAL, top1_se REAL,\n",
    "    rms_dp REAL, rms_dp_se REAL,\n",
    "    accuracy REAL, accuracy_se REAL,\n",
    "    usd_per_mtok          REAL,\n",
    "    valid                 INTEGER NOT NULL CHECK (valid IN (0, 1)),\n",
    "    invalid_reasons       TEXT,\n",
    "    kernels               TEXT,\n",
    "    UNIQUE (run_id, variant, target, workload),\n",
    "    FOREIGN KEY (run_id, variant) REFERENCES variants (run_id, name) ON DELETE CASCADE,\n",
    "    FOREIGN KEY (run_id, target) REFERENCES targets (run_id, name) ON DELETE CASCADE,\n",
    "    FOREIGN KEY (run_id, workload) REFERENCES workloads (run_id, name) ON DELETE CASCADE\n",
    ");\n",
    "CREATE INDEX cells_by_target ON cells (run_id, target);\n",
    "CREATE INDEX cells_by_workload ON cells (run_id, workload);\n",
    "\n",
    "-- One row per measured request, idx 0.. in the order they were issued.\n",
    "CREATE TABLE requests (\n",
    "    cell_id  INTEGER NOT NULL REFERENCES cells (id) ON DELETE CASCADE,\n",
    "    idx      INTEGER NOT NULL,\n",
    "    ttft_ns  INTEGER NOT NULL,\n",
    "    e2e_ns   INTEGER NOT NULL,\n",
    "    n_prompt INTEGER NOT NULL,\n",
    "    n_output INTEGER NOT NULL,\n",
    "    PRIMARY KEY (cell_id, idx)\n",
    ") WITHOUT ROWID;\n",
    "\n",
    "-- One row per inter-token gap: gap token_idx of request request_idx is the\n",
    "-- time from its output token token_idx to token token_idx + 1.\n",
    "CREATE TABLE gaps (\n",
    "    cell_id     INTEGER NOT NULL,\n",
    "    request_idx INTEGER NOT NULL,\n",
    "    token_idx   INTEGER NOT NULL,\n",
    "    gap_ns      INTEGER NOT NULL,\n",
    "    PRIMARY KEY (cell_id, request_idx, token_idx),\n",
    "    FOREIGN KEY (cell_id, request_idx) REFERENCES requests (cell_id, idx) ON DELETE CASCADE\n",
    ") WITHOUT ROWID;\n",
    "\n",
    "-- Hardware counters per phase, idx 0.. in the order recorded; an\n",
    "-- unavailable counter has value NULL and a reason, never a 0.\n",
    "CREATE TABLE counters (\n",
    "    cell_id   INTEGER NOT NULL REFERENCES cells (id) ON DELETE CASCADE,\n",
    "    idx       INTEGER NOT NULL,\n",
    "    phase     TEXT NOT NULL CHECK (phase IN ('load', 'prefill', 'decode')),\n",
    "    name      TEXT NOT NULL,\n",
    "    available INTEGER NOT NULL CHECK (available IN (0, 1)),\n",
    "    value     INTEGER,\n",
    "    reason    TEXT,\n",
    "    CHECK ((available = 1) = (value IS NOT NULL)),\n",
    "    PRIMARY KEY (cell_id, phase, name)\n",
    ") WITHOUT ROWID;\n",    "\n",
    "-- Task accuracy of a (variant, target) pair on each CSV eval set of the\n",
    "-- scenario (key `tasks`; version 3), measured once per pair beside its\n",
    "-- fidelity; the cells' accuracy is the one pooled over every set. idx is\n",
    "-- the set's place in the scenario's list. A set that could not be scored\n",
    "-- has NULL figures and a reason, never a 0.\n",
    "CREATE TABLE task_accuracy (\n",
    "    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n",
    "    variant     TEXT NOT NULL,\n",
    "    target      TEXT NOT NULL,\n",
    "    task        TEXT NOT NULL,\n",
    "    idx         INTEGER NOT NULL,\n",
    "    n_items     INTEGER,\n",
    "    n_correct   INTEGER,\n",
    "    accuracy    REAL,\n",
    "    accuracy_se REAL,\n",
    "    reason      TEXT,\n",
    "    CHECK ((accuracy IS NULL) = (reason IS NOT NULL)),\n",
    "    PRIMARY KEY (run_id, variant, target, task),\n",
    "    FOREIGN KEY (run_id, variant) REFERENCES variants (run_id, name) ON DELETE CASCADE,\n",
    "    FOREIGN KEY (run_id, target) REFERENCES targets (run_id, name) ON DELETE CASCADE\n",
    ") WITHOUT ROWID;\n",
};
#define N_SCHEMA_LINES (sizeof schema_lines / sizeof schema_lines[0])

char *dfit_store_schema_sql(void)
{
    size_t len = 1;
    for (size_t i = 0; i < N_SCHEMA_LINES; i++)
        len += strlen(schema_lines[i]);
    char *sql = malloc(len), *p = sql;
    for (size_t i = 0; sql && i < N_SCHEMA_LINES; i++) {
        size_t n = strlen(schema_lines[i]);
        memcpy(p, schema_lines[i], n);
        p += n;
    }
    if (sql)
        *p = '\0';
    return sql;
}

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

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

/* NAN is NULL. */
static int bind_real(sqlite3_stmt *st, int i, double v)
{
    return isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
}

/* 0 is NULL (unknown); values past INT64_MAX are clamped (sizes never are). */
static int bind_size(sqlite3_stmt *st, int i, uint64_t v)
{
    if (v == 0)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_int64(st, i, v > INT64_MAX ? INT64_MAX : (sqlite3_int64)v);
}

static double column_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* Runs a statement that returns no rows; on failure err names the
 * operation (printf-formatted). */
static int step_done(struct dfit_store *s, sqlite3_stmt *st, struct dfit_err *err,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int step_done(struct dfit_store *s, sqlite3_stmt *st, struct dfit_err *err,
                     const char *fmt, ...)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    char op[DFIT_ERR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op, sizeof op, fmt, ap);
    va_end(ap);
    return dfit_store_fail(s, err, "%s", op);
}

/* ---- open, schema, migrations ----------------------------------------------- */

static int pragma_int(struct dfit_store *s, const char *sql, int *out, struct dfit_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = dfit_store_prepare(s, sql, &st, sql, err);
    if (rc)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    else
        rc = dfit_store_fail(s, err, "%s", sql);
    sqlite3_finalize(st);
    return rc;
}

static int create_schema(struct dfit_store *s, struct dfit_err *err)
{
    int n_tables = 0;
    int rc = pragma_int(s, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'", &n_tables, err);
    if (rc)
        return rc;
    if (n_tables > 0)
        return dfit_err_set(err, DFIT_EINVAL,
                            "%s: not a dfit results database (it has %d tables but no schema "
                            "version)", s->path, n_tables);
    char *sql = dfit_store_schema_sql();
    if (!sql)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: create schema: out of memory", s->path);
    rc = 0;
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        rc = dfit_store_fail(s, err, "create schema version %d", DFIT_STORE_SCHEMA_VERSION);
    free(sql);
    return rc;
}

/* Version 2: the run's reference variant, and each variant's per-token
 * cost (token_cost.h) for the report's "Does it pay?". Columns are added at
 * the end, where results/schema.sql has them too. */
static int upgrade_1_to_2(struct dfit_store *s, struct dfit_err *err)
{
    static const char *const sql[] = {
        "ALTER TABLE runs ADD COLUMN reference TEXT",
        "ALTER TABLE variants ADD COLUMN bytes_per_token INTEGER",
        "ALTER TABLE variants ADD COLUMN kv_values_per_pos INTEGER",
        "ALTER TABLE variants ADD COLUMN flops_per_token INTEGER",
        "ALTER TABLE variants ADD COLUMN sparse_flops_per_token INTEGER",
        "ALTER TABLE variants ADD COLUMN output_flops INTEGER",
        "ALTER TABLE variants ADD COLUMN attn_flops_per_pos INTEGER",
        "ALTER TABLE variants ADD COLUMN weight_type TEXT",
        "ALTER TABLE variants ADD COLUMN prune_pattern TEXT",
        "ALTER TABLE variants ADD COLUMN prune_sparsity REAL",
    };
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        if (sqlite3_exec(s->db, sql[i], NULL, NULL, NULL) != SQLITE_OK)
            return dfit_store_fail(s, err, "migrate schema 1 to 2: %s", sql[i]);
    return 0;
}

/* Version 3: task accuracy per (variant, target) and CSV eval set (the
 * same table as results/schema.sql's; test_store compares the two). */
static int upgrade_2_to_3(struct dfit_store *s, struct dfit_err *err)
{
    static const char sql[] =
        "CREATE TABLE task_accuracy (run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE "
        "CASCADE, variant TEXT NOT NULL, target TEXT NOT NULL, task TEXT NOT NULL, "
        "idx INTEGER NOT NULL, n_items INTEGER, n_correct INTEGER, accuracy REAL, "
        "accuracy_se REAL, reason TEXT, CHECK ((accuracy IS NULL) = (reason IS NOT NULL)), "
        "PRIMARY KEY (run_id, variant, target, task), FOREIGN KEY (run_id, variant) "
        "REFERENCES variants (run_id, name) ON DELETE CASCADE, FOREIGN KEY (run_id, target) "
        "REFERENCES targets (run_id, name) ON DELETE CASCADE) WITHOUT ROWID";
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return dfit_store_fail(s, err, "migrate schema 2 to 3: create table task_accuracy");
    return 0;
}

/* upgrade[v] takes a file from version v to v + 1; [0] makes a new file
 * current in one step. */
typedef int (*upgrade_fn)(struct dfit_store *s, struct dfit_err *err);
static const upgrade_fn upgrade[DFIT_STORE_SCHEMA_VERSION] = {
    [0] = create_schema,
    [1] = upgrade_1_to_2,
    [2] = upgrade_2_to_3,
};

static int check_version(struct dfit_store *s, int v, struct dfit_err *err)
{
    if (v > DFIT_STORE_SCHEMA_VERSION)
        return dfit_err_set(err, DFIT_EUNSUPPORTED,
                            "%s: schema version %d is newer than this dfit understands (%d); "
                            "use a newer dfit, or another database file",
                            s->path, v, DFIT_STORE_SCHEMA_VERSION);
    return 0;
}

static int migrate(struct dfit_store *s, struct dfit_err *err)
{
    int v = 0;
    int rc = pragma_int(s, "PRAGMA user_version", &v, err);
    if (rc || (rc = check_version(s, v, err)) || v == DFIT_STORE_SCHEMA_VERSION)
        return rc;
    if ((rc = dfit_store_begin(s, "migrate schema", err)))
        return rc;
    /* another process may have migrated since the read above */
    if ((rc = pragma_int(s, "PRAGMA user_version", &v, err)) || (rc = check_version(s, v, err)))
        goto fail;
    while (v < DFIT_STORE_SCHEMA_VERSION) {
        int to = v == 0 ? DFIT_STORE_SCHEMA_VERSION : v + 1;
        if ((rc = upgrade[v](s, err)))
            goto fail;
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", to);
        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            rc = dfit_store_fail(s, err, "set schema version %d", to);
            goto fail;
        }
        v = to;
    }
    return dfit_store_commit(s, "migrate schema", err);
fail:
    dfit_store_rollback(s);
    return rc;
}

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
        const unsigned char *mode = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
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
    if (!readonly) {
        if ((rc = migrate(s, err)))
            goto fail;
    } else {
        int v = 0;
        if ((rc = pragma_int(s, "PRAGMA user_version", &v, err)) || (rc = check_version(s, v, err)))
            goto fail;
        if (v == 0) {
            rc = dfit_err_set(err, DFIT_EINVAL, "%s: not a dfit results database (no schema version)",
                              path);
            goto fail;
        }
        if (v < DFIT_STORE_SCHEMA_VERSION) {
            rc = dfit_err_set(err, DFIT_EUNSUPPORTED,
                              "%s: schema version %d is older than this dfit's (%d); open it with "
                              "a writing command (dfit run) to migrate it", path, v,
                              DFIT_STORE_SCHEMA_VERSION);
            goto fail;
        }
    }
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

/* ---- runs and machine state ---------------------------------------------------- */

static const char *const run_status_names[] = {"running", "done", "failed", "interrupted"};

const char *dfit_store_run_status_name(enum dfit_run_status st)
{
    return (unsigned)st < 4 ? run_status_names[st] : "?";
}

static enum dfit_run_status run_status_from(const unsigned char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (strcmp(run_status_names[i], (const char *)name) == 0)
            return (enum dfit_run_status)i;
    return DFIT_RUN_FAILED;
}

/* What the preprocessor knows of how this file (and so dfit) was compiled. */
static const char build_flags[] = ""
#ifdef __OPTIMIZE__
    "optimized"
#else
    "not-optimized"
#endif
#ifdef NDEBUG
    " NDEBUG"
#endif
#ifdef __x86_64__
    " x86-64"
#endif
#ifdef __aarch64__
    " aarch64"
#endif
#ifdef __AVX2__
    " avx2"
#endif
#ifdef __FMA__
    " fma"
#endif
#ifdef __F16C__
    " f16c"
#endif
#ifdef __AVX512F__
    " avx512f"
#endif
#ifdef __ARM_NEON
    " neon"
#endif
    ;

#define NOW_SQL "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

static int put_machine(struct dfit_store *s, int64_t run_id, const struct dfit_machine_info *m,
                       struct dfit_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = dfit_store_prepare(s,
        "INSERT OR REPLACE INTO machine_state (run_id, hostname, kernel, cpu_model, cpu_flags, "
        "n_cpus, n_cores, governor, loadavg1_before, loadavg5_before, loadavg15_before, "
        "mem_total_bytes, mem_available_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
        "?11, ?12, ?13)", &st, "machine state", err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, m->hostname);
    bind_text(st, 3, m->kernel);
    bind_text(st, 4, m->cpu_model);
    bind_text(st, 5, m->cpu_flags);
    bind_size(st, 6, m->n_cpus > 0 ? (uint64_t)m->n_cpus : 0);
    bind_size(st, 7, m->n_cores > 0 ? (uint64_t)m->n_cores : 0);
    bind_text(st, 8, m->governor);
    for (int i = 0; i < 3; i++)
        bind_real(st, 9 + i, m->loadavg_before[i]);
    bind_size(st, 12, m->mem_total_bytes);
    bind_size(st, 13, m->mem_available_bytes);
    rc = step_done(s, st, err, "write machine state");
    sqlite3_finalize(st);
    return rc;
}

int dfit_store_create_run(struct dfit_store *s, const struct dfit_run_info *info,
                          const struct dfit_machine_info *m, int64_t *run_id, struct dfit_err *err)
{
    *run_id = 0;
    if (!info->scenario || !*info->scenario || !info->scenario_sha256 || !*info->scenario_sha256)
        return dfit_err_set(err, DFIT_EINVAL, "%s: create run: scenario name and SHA-256 are "
                            "required", s->path);
    sqlite3_stmt *st = NULL;
    int rc = dfit_store_begin(s, "create run", err);
    if (rc)
        return rc;
    if ((rc = dfit_store_prepare(s,
            "INSERT INTO runs (scenario, scenario_sha256, scenario_path, label, started_at, "
            "status, dfit_version, git_commit, build_type, compiler, compiler_flags, reference) "
            "VALUES (?1, ?2, ?3, ?4, " NOW_SQL ", 'running', ?5, ?6, ?7, ?8, ?9, ?10)", &st,
            "create run", err)))
        goto fail;
    bind_text(st, 1, info->scenario);
    bind_text(st, 2, info->scenario_sha256);
    bind_text(st, 3, info->scenario_path);
    bind_text(st, 4, info->label);
    bind_text(st, 5, info->dfit_version ? info->dfit_version : DFIT_VERSION);
    bind_text(st, 6, info->git_commit ? info->git_commit : DFIT_GIT_COMMIT);
    bind_text(st, 7, info->build_type ? info->build_type : DFIT_BUILD_TYPE);
    bind_text(st, 8, info->compiler ? info->compiler : DFIT_COMPILER);
    bind_text(st, 9, info->compiler_flags ? info->compiler_flags : build_flags);
    bind_text(st, 10, info->reference);
    if ((rc = step_done(s, st, err, "create run")))
        goto fail;
    int64_t id = sqlite3_last_insert_rowid(s->db);
    if (m && (rc = put_machine(s, id, m, err)))
        goto fail;
    if ((rc = dfit_store_commit(s, "create run", err)))
        goto fail;
    sqlite3_finalize(st);
    *run_id = id;
    return 0;
fail:
    sqlite3_finalize(st);
    dfit_store_rollback(s);
    return rc;
}

/* Runs one UPDATE of a run (?1 = run id) and checks that the run exists. */
static int update_run(struct dfit_store *s, sqlite3_stmt *st, int64_t run_id, const char *what,
                      struct dfit_err *err)
{
    sqlite3_bind_int64(st, 1, run_id);
    int rc = step_done(s, st, err, "%s", what);
    if (!rc && sqlite3_changes(s->db) == 0)
        rc = dfit_err_set(err, DFIT_ENOTFOUND, "%s: %s: no run %lld", s->path, what,
                          (long long)run_id);
    return rc;
}

int dfit_store_finish_run(struct dfit_store *s, int64_t run_id, enum dfit_run_status status,
                          const double loadavg_after[3], struct dfit_err *err)
{
    sqlite3_stmt *st = NULL, *ms = NULL;
    int rc = dfit_store_begin(s, "finish run", err);
    if (rc)
        return rc;
    if ((rc = dfit_store_prepare(s, "UPDATE runs SET status = ?2, finished_at = " NOW_SQL
                                 " WHERE id = ?1", &st, "finish run", err)))
        goto done;
    bind_text(st, 2, dfit_store_run_status_name(status));
    if ((rc = update_run(s, st, run_id, "finish run", err)))
        goto done;
    if (loadavg_after) {
        if ((rc = dfit_store_prepare(s, "UPDATE machine_state SET loadavg1_after = ?2, "
                                     "loadavg5_after = ?3, loadavg15_after = ?4 WHERE run_id = ?1",
                                     &ms, "finish run", err)))
            goto done;
        sqlite3_bind_int64(ms, 1, run_id);
        for (int i = 0; i < 3; i++)
            bind_real(ms, 2 + i, loadavg_after[i]);
        if ((rc = step_done(s, ms, err, "finish run: machine state")))
            goto done;
    }
    rc = dfit_store_commit(s, "finish run", err);
done:
    sqlite3_finalize(st);
    sqlite3_finalize(ms);
    dfit_store_rollback(s);
    return rc;
}

int dfit_store_resume_run(struct dfit_store *s, int64_t run_id, const struct dfit_machine_info *m,
                          struct dfit_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = dfit_store_begin(s, "resume run", err);
    if (rc)
        return rc;
    if ((rc = dfit_store_prepare(s, "UPDATE runs SET status = 'running', finished_at = NULL, "
                                 "n_resumes = n_resumes + 1 WHERE id = ?1", &st, "resume run", err)))
        goto done;
    if ((rc = update_run(s, st, run_id, "resume run", err)))
        goto done;
    if (m && (rc = put_machine(s, run_id, m, err)))
        goto done;
    rc = dfit_store_commit(s, "resume run", err);
done:
    sqlite3_finalize(st);
    dfit_store_rollback(s);
    return rc;
}

int dfit_store_find_run(struct dfit_store *s, const char *scenario, const char *scenario_sha256,
                        bool unfinished_only, int64_t *run_id, enum dfit_run_status *status,
                        struct dfit_err *err)
{
    *run_id = 0;
    sqlite3_stmt *st = NULL;
    int rc = dfit_store_prepare(s, "SELECT id, status FROM runs WHERE scenario = ?1 AND "
                                "scenario_sha256 = ?2 AND (?3 = 0 OR status <> 'done') "
                                "ORDER BY id DESC LIMIT 1", &st, "find run", err);
    if (rc)
        return rc;
    bind_text(st, 1, scenario);
    bind_text(st, 2, scenario_sha256);
    sqlite3_bind_int(st, 3, unfinished_only);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *run_id = sqlite3_column_int64(st, 0);
        if (status)
            *status = run_status_from(sqlite3_column_text(st, 1));
    } else if (step == SQLITE_DONE) {
        rc = dfit_err_set(err, DFIT_ENOTFOUND, "%s: no %srun of scenario '%s' with SHA-256 %s",
                          s->path, unfinished_only ? "unfinished " : "", scenario ? scenario : "",
                          scenario_sha256 ? scenario_sha256 : "");
    } else {
        rc = dfit_store_fail(s, err, "find run");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Column order of the run query below. */
enum { R_ID, R_STATUS, R_STARTED, R_FINISHED, R_RESUMES, R_SCENARIO, R_SHA, R_PATH, R_LABEL,
       R_VERSION, R_COMMIT, R_BUILD, R_COMPILER, R_FLAGS, R_N_CELLS, R_N_OK, R_HAS_M, R_HOST,
       R_KERNEL, R_CPU, R_CPU_FLAGS, R_GOVERNOR, R_N_CPUS, R_N_CORES, R_LOAD_BEFORE,
       R_LOAD_AFTER = R_LOAD_BEFORE + 3, R_MEM_TOTAL = R_LOAD_AFTER + 3, R_MEM_AVAIL,
       R_REFERENCE };

static const char run_sql[] =
    "SELECT r.id, r.status, r.started_at, r.finished_at, r.n_resumes, r.scenario, "
    "r.scenario_sha256, r.scenario_path, r.label, r.dfit_version, r.git_commit, r.build_type, "
    "r.compiler, r.compiler_flags, "
    "(SELECT count(*) FROM cells c WHERE c.run_id = r.id), "
    "(SELECT count(*) FROM cells c WHERE c.run_id = r.id AND c.status = 'ok'), "
    "m.run_id IS NOT NULL, m.hostname, m.kernel, m.cpu_model, m.cpu_flags, m.governor, m.n_cpus, "
    "m.n_cores, m.loadavg1_before, m.loadavg5_before, m.loadavg15_before, m.loadavg1_after, "
    "m.loadavg5_after, m.loadavg15_after, m.mem_total_bytes, m.mem_available_bytes, "
    "r.reference FROM runs r LEFT JOIN machine_state m ON m.run_id = r.id "
    "WHERE ?1 = 0 OR r.id = ?1 ORDER BY r.id";

static int read_run(sqlite3_stmt *st, struct dfit_store_run *r)
{
    memset(r, 0, sizeof *r);
    struct dfit_run_info *in = &r->info;
    struct dfit_machine_info *m = &r->machine;
    static const int cols[] = {R_STARTED, R_FINISHED, R_SCENARIO, R_SHA, R_PATH, R_LABEL,
                               R_VERSION, R_COMMIT, R_BUILD, R_COMPILER, R_FLAGS, R_HOST,
                               R_KERNEL, R_CPU, R_CPU_FLAGS, R_GOVERNOR, R_REFERENCE};
    const char **const dst[] = {&r->started_at, &r->finished_at, &in->scenario,
                                &in->scenario_sha256, &in->scenario_path, &in->label,
                                &in->dfit_version, &in->git_commit, &in->build_type,
                                &in->compiler, &in->compiler_flags, &m->hostname, &m->kernel,
                                &m->cpu_model, &m->cpu_flags, &m->governor, &in->reference};
    if (!(r->strings_ = dfit_store_copy_texts(st, cols, dst, (int)(sizeof cols / sizeof cols[0]))))
        return DFIT_ENOMEM;
    r->id = sqlite3_column_int64(st, R_ID);
    r->status = run_status_from(sqlite3_column_text(st, R_STATUS));
    r->n_resumes = sqlite3_column_int(st, R_RESUMES);
    r->n_cells = sqlite3_column_int64(st, R_N_CELLS);
    r->n_cells_ok = sqlite3_column_int64(st, R_N_OK);
    r->has_machine = sqlite3_column_int(st, R_HAS_M) != 0;
    m->n_cpus = sqlite3_column_int(st, R_N_CPUS);
    m->n_cores = sqlite3_column_int(st, R_N_CORES);
    for (int i = 0; i < 3; i++) {
        m->loadavg_before[i] = column_real(st, R_LOAD_BEFORE + i);
        r->loadavg_after[i] = column_real(st, R_LOAD_AFTER + i);
    }
    m->mem_total_bytes = (uint64_t)sqlite3_column_int64(st, R_MEM_TOTAL);
    m->mem_available_bytes = (uint64_t)sqlite3_column_int64(st, R_MEM_AVAIL);
    return 0;
}

static int query_runs(struct dfit_store *s, int64_t id, struct dfit_store_run **runs, size_t *n,
                      struct dfit_err *err)
{
    *runs = NULL;
    *n = 0;
    struct dfit_store_run *v = NULL;
    size_t count = 0, cap = 0;
    sqlite3_stmt *st = NULL;
    int rc = dfit_store_prepare(s, run_sql, &st, "list runs", err), step;
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            struct dfit_store_run *nv = realloc(v, ncap * sizeof *nv);
            if (!nv)
                goto oom;
            v = nv;
            cap = ncap;
        }
        if (read_run(st, &v[count]))
            goto oom;
        count++;
    }
    if (step != SQLITE_DONE) {
        rc = dfit_store_fail(s, err, "list runs");
        goto fail;
    }
    sqlite3_finalize(st);
    *runs = v;
    *n = count;
    return 0;
oom:
    rc = dfit_err_set(err, DFIT_ENOMEM, "%s: list runs: out of memory", s->path);
fail:
    sqlite3_finalize(st);
    dfit_store_runs_free(v, count);
    return rc;
}

int dfit_store_list_runs(struct dfit_store *s, struct dfit_store_run **runs, size_t *n,
                         struct dfit_err *err)
{
    return query_runs(s, 0, runs, n, err);
}

int dfit_store_get_run(struct dfit_store *s, int64_t run_id, struct dfit_store_run **run,
                       struct dfit_err *err)
{
    size_t n = 0;
    *run = NULL;
    if (run_id <= 0)
        return dfit_err_set(err, DFIT_ENOTFOUND, "%s: no run %lld", s->path, (long long)run_id);
    int rc = query_runs(s, run_id, run, &n, err);
    if (!rc && n == 0)
        rc = dfit_err_set(err, DFIT_ENOTFOUND, "%s: no run %lld", s->path, (long long)run_id);
    return rc;
}

void dfit_store_runs_free(struct dfit_store_run *runs, size_t n)
{
    for (size_t i = 0; runs && i < n; i++)
        free(runs[i].strings_);
    free(runs);
}

/* ---- variants, targets, workloads ----------------------------------------------- */

int dfit_store_add_variant(struct dfit_store *s, int64_t run_id, const struct dfit_store_variant *v,
                           struct dfit_err *err)
{
    if (!v->name || !*v->name)
        return dfit_err_set(err, DFIT_EINVAL, "%s: add variant: empty name", s->path);
    sqlite3_stmt *st = NULL;
    int rc = dfit_store_begin(s, "add variant", err);
    if (rc)
        return rc;
    if ((rc = dfit_store_prepare(s, "SELECT sha256 FROM variants WHERE run_id = ?1 AND name = ?2",
                                 &st, "add variant", err)))
        goto done;
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, v->name);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW && v->sha256 && sqlite3_column_type(st, 0) != SQLITE_NULL &&
        strcmp((const char *)sqlite3_column_text(st, 0), v->sha256) != 0) {
        rc = dfit_err_set(err, DFIT_EEXIST, "%s: run %lld: variant '%s' was file SHA-256 %s, now "
                          "%s: its cells measured another file; start a new run", s->path,
                          (long long)run_id, v->name, sqlite3_column_text(st, 0), v->sha256);
        goto done;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = dfit_store_fail(s, err, "add variant '%s'", v->name);
        goto done;
    }
    sqlite3_finalize(st);
    if ((rc = dfit_store_prepare(s,
            "INSERT INTO variants (run_id, name, file, sha256, bytes, n_params, bits_per_weight, "
            "recipe, lineage, bytes_per_token, kv_values_per_pos, flops_per_token, "
            "sparse_flops_per_token, output_flops, attn_flops_per_pos, weight_type, "
            "prune_pattern, prune_sparsity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
            "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) "
            "ON CONFLICT (run_id, name) DO UPDATE SET file = excluded.file, "
            "sha256 = coalesce(excluded.sha256, sha256), bytes = excluded.bytes, "
            "n_params = excluded.n_params, bits_per_weight = excluded.bits_per_weight, "
            "recipe = excluded.recipe, lineage = excluded.lineage, "
            "bytes_per_token = excluded.bytes_per_token, "
            "kv_values_per_pos = excluded.kv_values_per_pos, "
            "flops_per_token = excluded.flops_per_token, "
            "sparse_flops_per_token = excluded.sparse_flops_per_token, "
            "output_flops = excluded.output_flops, "
            "attn_flops_per_pos = excluded.attn_flops_per_pos, "
            "weight_type = excluded.weight_type, prune_pattern = excluded.prune_pattern, "
            "prune_sparsity = excluded.prune_sparsity", &st, "add variant", err)))
        goto done;
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, v->name);
    bind_text(st, 3, v->file);
    bind_text(st, 4, v->sha256);
    bind_size(st, 5, v->bytes);
    bind_size(st, 6, v->n_params);
    bind_real(st, 7, v->bits_per_weight);
    bind_text(st, 8, v->recipe);
    bind_text(st, 9, v->lineage);
    if (v->has_cost) { /* else every cost column stays NULL */
        const struct dfit_token_cost *c = &v->cost;
        const uint64_t n[] = {c->bytes_per_token, c->kv_values_per_pos, c->flops_per_token,
                              c->sparse_flops_per_token, c->output_flops, c->attn_flops_per_pos};
        for (int i = 0; i < 6; i++) /* a 0 (no sparse FLOPs left, say) is a real value */
            sqlite3_bind_int64(st, 10 + i, n[i] > INT64_MAX ? INT64_MAX : (sqlite3_int64)n[i]);
        bind_text(st, 16, c->weight_type[0] ? c->weight_type : NULL);
        bind_text(st, 17, c->prune_pattern[0] ? c->prune_pattern : NULL);
        bind_real(st, 18, c->prune_pattern[0] ? c->prune_sparsity : NAN);
    }
    if ((rc = step_done(s, st, err, "add variant '%s'", v->name)))
        goto done;
    rc = dfit_store_commit(s, "add variant", err);
done:
    sqlite3_finalize(st);
    dfit_store_rollback(s);
    return rc;
}

int dfit_store_add_target(struct dfit_store *s, int64_t run_id, const struct dfit_target_spec *t,
                          struct dfit_err *err)
{
    if (!t->name || !*t->name || !t->backend)
        return dfit_err_set(err, DFIT_EINVAL, "%s: add target: empty name or backend", s->path);
    size_t len = 1;
    for (int i = 0; i < t->n_counters; i++)
        len += strlen(t->counters[i]) + 1;
    char *counters = calloc(1, len);
    if (!counters)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: add target: out of memory", s->path);
    for (int i = 0; i < t->n_counters; i++) {
        if (i)
            strcat(counters, ",");
        strcat(counters, t->counters[i]);
    }
    sqlite3_stmt *st = NULL;
    int rc = dfit_store_prepare(s,
        "INSERT INTO targets (run_id, name, backend, device, threads, kernels, counters, "
        "memory_limit_mib, price_per_hour, time_limit_s, slo_p95_ttft_ms, slo_p95_tpot_ms, "
        "slo_p95_e2e_ms, slo_min_tokens_per_s, slo_max_memory_mib, slo_max_usd_per_mtok, "
        "slo_min_quality) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
        "?15, ?16, ?17) ON CONFLICT (run_id, name) DO UPDATE SET backend = excluded.backend, "
        "device = excluded.device, threads = excluded.threads, kernels = excluded.kernels, "
        "counters = excluded.counters, memory_limit_mib = excluded.memory_limit_mib, "
        "price_per_hour = excluded.price_per_hour, time_limit_s = excluded.time_limit_s, "
        "slo_p95_ttft_ms = excluded.slo_p95_ttft_ms, slo_p95_tpot_ms = excluded.slo_p95_tpot_ms, "
        "slo_p95_e2e_ms = excluded.slo_p95_e2e_ms, "
        "slo_min_tokens_per_s = excluded.slo_min_tokens_per_s, "
        "slo_max_memory_mib = excluded.slo_max_memory_mib, "
        "slo_max_usd_per_mtok = excluded.slo_max_usd_per_mtok, "
        "slo_min_quality = excluded.slo_min_quality", &st, "add target", err);
    if (rc)
        goto done;
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, t->name);
    bind_text(st, 3, t->backend);
    bind_text(st, 4, t->device);
    sqlite3_bind_int(st, 5, t->threads);
    bind_text(st, 6, t->kernels);
    bind_text(st, 7, t->n_counters ? counters : NULL);
    bind_real(st, 8, t->memory_limit_mib);
    bind_real(st, 9, t->price_per_hour);
    bind_real(st, 10, t->time_limit_s);
    const double slo[] = {t->slo.p95_ttft_ms, t->slo.p95_tpot_ms, t->slo.p95_e2e_ms,
                          t->slo.min_tokens_per_s, t->slo.max_memory_mib,
                          t->slo.max_usd_per_mtok, t->slo.min_quality};
    for (int i = 0; i < 7; i++)
        bind_real(st, 11 + i, slo[i]);
    rc = step_done(s, st, err, "add target '%s'", t->name);
done:
    sqlite3_finalize(st);
    free(counters);
    return rc;
}

int dfit_store_add_workload(struct dfit_store *s, int64_t run_id,
                            const struct dfit_workload_spec *w, struct dfit_err *err)
{
    if (!w->name || !*w->name)
        return dfit_err_set(err, DFIT_EINVAL, "%s: add workload: empty name", s->path);
    sqlite3_stmt *st = NULL;
    int rc = dfit_store_prepare(s,
        "INSERT INTO workloads (run_id, name, mode, prompt_tokens, output_tokens, batch, "
        "min_duration_ms, min_requests, warmup_requests) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
        "?9) ON CONFLICT (run_id, name) DO UPDATE SET mode = excluded.mode, "
        "prompt_tokens = excluded.prompt_tokens, output_tokens = excluded.output_tokens, "
        "batch = excluded.batch, min_duration_ms = excluded.min_duration_ms, "
        "min_requests = excluded.min_requests, warmup_requests = excluded.warmup_requests",
        &st, "add workload", err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    bind_text(st, 2, w->name);
    bind_text(st, 3, w->mode == DFIT_MODE_OFFLINE ? "offline" : "single-stream");
    sqlite3_bind_int64(st, 4, w->prompt_tokens);
    sqlite3_bind_int64(st, 5, w->output_tokens);
    sqlite3_bind_int64(st, 6, w->batch);
    sqlite3_bind_int64(st, 7, w->min_duration_ms > INT64_MAX ? INT64_MAX
                                                             : (sqlite3_int64)w->min_duration_ms);
    sqlite3_bind_int64(st, 8, w->min_requests);
    sqlite3_bind_int64(st, 9, w->warmup_requests);
    rc = step_done(s, st, err, "add workload '%s'", w->name);
    sqlite3_finalize(st);
    return rc;
}
