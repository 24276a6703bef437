/* store_schema.c — the results database's schema: results/schema.sql
 * compiled in, and the migration ladder that brings an older file to
 * DFIT_STORE_SCHEMA_VERSION (store_impl.h).
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
 * Non-goals: opening the file and its pragmas (store.c), the rows
 * (store_runs.c, store_cells.c, store_tasks.c).
 */
#include "store/store_impl.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* results/schema.sql, line by line (test_store compares them; one string
 * would pass the 4095 characters ISO C guarantees). */
static const char *const schema_lines[] = {
    "-- dfit results database, schema version 3 (PRAGMA user_version = 3).\n",
    "-- One run = one `dfit run SCENARIO`; one cell = variant x target x workload,\n",
    "-- written in one transaction with its raw samples and counters.\n",
    "-- Units are in the column names (_ns, _bytes, _mib, _ms, _per_s); times of\n",
    "-- day are ISO 8601 UTC text. NULL means \"not measured / not set\", never 0.\n",
    "-- This text is compiled into dfit (harness/store/store_schema.c); a test\n",
    "-- keeps the two identical. It is always the newest schema: a change is a\n",
    "-- new schema version with an upgrade step in store_schema.c's migration\n",
    "-- ladder.\n",
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


/* ---- the migration ladder ------------------------------------------------------- */

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

int dfit_store_schema_migrate(struct dfit_store *s, struct dfit_err *err)
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

int dfit_store_schema_check(struct dfit_store *s, struct dfit_err *err)
{
    int v = 0;
    int rc = pragma_int(s, "PRAGMA user_version", &v, err);
    if (rc || (rc = check_version(s, v, err)))
        return rc;
    if (v == 0)
        return dfit_err_set(err, DFIT_EINVAL, "%s: not a dfit results database (no schema version)",
                            s->path);
    if (v < DFIT_STORE_SCHEMA_VERSION)
        return dfit_err_set(err, DFIT_EUNSUPPORTED,
                            "%s: schema version %d is older than this dfit's (%d); open it with "
                            "a writing command (dfit run) to migrate it", s->path, v,
                            DFIT_STORE_SCHEMA_VERSION);
    return 0;
}
