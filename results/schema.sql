-- dfit results database, schema version 3 (PRAGMA user_version = 3).
-- One run = one `dfit run SCENARIO`; one cell = variant x target x workload,
-- written in one transaction with its raw samples and counters.
-- Units are in the column names (_ns, _bytes, _mib, _ms, _per_s); times of
-- day are ISO 8601 UTC text. NULL means "not measured / not set", never 0.
-- This text is compiled into dfit (harness/store/store_schema.c); a test
-- keeps the two identical. It is always the newest schema: a change is a
-- new schema version with an upgrade step in store_schema.c's migration
-- ladder.

CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    scenario        TEXT NOT NULL,
    scenario_sha256 TEXT NOT NULL,
    scenario_path   TEXT,
    label           TEXT,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    status          TEXT NOT NULL
                    CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
    n_resumes       INTEGER NOT NULL DEFAULT 0,
    dfit_version    TEXT NOT NULL,
    git_commit      TEXT NOT NULL,
    build_type      TEXT NOT NULL,
    compiler        TEXT NOT NULL,
    compiler_flags  TEXT,
    reference       TEXT
);
CREATE INDEX runs_by_scenario ON runs (scenario, scenario_sha256);

CREATE TABLE machine_state (
    run_id               INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    hostname             TEXT,
    kernel               TEXT,
    cpu_model            TEXT,
    cpu_flags            TEXT,
    n_cpus               INTEGER,
    n_cores              INTEGER,
    governor             TEXT,
    loadavg1_before      REAL,
    loadavg5_before      REAL,
    loadavg15_before     REAL,
    loadavg1_after       REAL,
    loadavg5_after       REAL,
    loadavg15_after      REAL,
    mem_total_bytes      INTEGER,
    mem_available_bytes  INTEGER
);

CREATE TABLE variants (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    file            TEXT,
    sha256          TEXT,
    bytes           INTEGER,
    n_params        INTEGER,
    bits_per_weight REAL,
    recipe          TEXT,
    lineage         TEXT,
    -- per-token cost from the file's shapes and dfit.prune.* (version 2;
    -- NULL when unknown): see harness/run/token_cost.h and docs/results.md
    bytes_per_token        INTEGER,
    kv_values_per_pos      INTEGER,
    flops_per_token        INTEGER,
    sparse_flops_per_token INTEGER,
    output_flops           INTEGER,
    attn_flops_per_pos     INTEGER,
    weight_type            TEXT,
    prune_pattern          TEXT,
    prune_sparsity         REAL,
    UNIQUE (run_id, name)
);

CREATE TABLE targets (
    id                   INTEGER PRIMARY KEY,
    run_id               INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    backend              TEXT NOT NULL,
    device               TEXT,
    threads              INTEGER NOT NULL,
    kernels              TEXT,
    counters             TEXT,
    memory_limit_mib     REAL,
    price_per_hour       REAL,
    time_limit_s         REAL,
    slo_p95_ttft_ms      REAL,
    slo_p95_tpot_ms      REAL,
    slo_p95_e2e_ms       REAL,
    slo_min_tokens_per_s REAL,
    slo_max_memory_mib   REAL,
    slo_max_usd_per_mtok REAL,
    slo_min_quality      REAL,
    UNIQUE (run_id, name)
);

CREATE TABLE workloads (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    mode            TEXT NOT NULL CHECK (mode IN ('single-stream', 'offline')),
    prompt_tokens   INTEGER NOT NULL,
    output_tokens   INTEGER NOT NULL,
    batch           INTEGER NOT NULL,
    min_duration_ms INTEGER NOT NULL,
    min_requests    INTEGER NOT NULL,
    warmup_requests INTEGER NOT NULL,
    UNIQUE (run_id, name)
);

-- Summary statistics are NULL when their n is 0; quality metrics are NULL
-- when quality is unavailable (q_reason says why).
CREATE TABLE cells (
    id                    INTEGER PRIMARY KEY,
    run_id                INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    variant               TEXT NOT NULL,
    target                TEXT NOT NULL,
    workload              TEXT NOT NULL,
    written_at            TEXT NOT NULL,
    status                TEXT NOT NULL
                          CHECK (status IN ('ok', 'failed', 'crashed', 'timeout', 'oom', 'skipped')),
    reason                TEXT,
    wall_ns               INTEGER,
    load_open_ns          INTEGER,
    load_validate_ns      INTEGER,
    load_prepare_ns       INTEGER,
    load_first_forward_ns INTEGER,
    load_cold_ns          INTEGER,
    load_warm_ns          INTEGER,
    n_requests            INTEGER NOT NULL,
    n_gaps                INTEGER NOT NULL,
    run_ns                INTEGER,
    ttft_n INTEGER, ttft_mean_ns REAL, ttft_stdev_ns REAL, ttft_cv REAL,
    ttft_p50_ns REAL, ttft_p90_ns REAL, ttft_p95_ns REAL, ttft_p99_ns REAL, ttft_max_ns REAL,
    tpot_n INTEGER, tpot_mean_ns REAL, tpot_stdev_ns REAL, tpot_cv REAL,
    tpot_p50_ns REAL, tpot_p90_ns REAL, tpot_p95_ns REAL, tpot_p99_ns REAL, tpot_max_ns REAL,
    e2e_n INTEGER, e2e_mean_ns REAL, e2e_stdev_ns REAL, e2e_cv REAL,
    e2e_p50_ns REAL, e2e_p90_ns REAL, e2e_p95_ns REAL, e2e_p99_ns REAL, e2e_max_ns REAL,
    prefill_tokens_per_s  REAL,
    decode_tokens_per_s   REAL,
    output_tokens_per_s   REAL,
    requests_per_s        REAL,
    weight_bytes          INTEGER,
    kv_bytes              INTEGER,
    workspace_bytes       INTEGER,
    peak_rss_bytes        INTEGER,
    device_peak_bytes     INTEGER,
    q_available           INTEGER NOT NULL CHECK (q_available IN (0, 1)),
    q_reason              TEXT,
    q_n_tokens            INTEGER,
    ppl REAL, ppl_se REAL,
    ppl_ratio REAL, ppl_ratio_se REAL,
    kl_mean REAL, kl_se REAL, kl_p99 REAL,
    top1 REAL, top1_se REAL,
    rms_dp REAL, rms_dp_se REAL,
    accuracy REAL, accuracy_se REAL,
    usd_per_mtok          REAL,
    valid                 INTEGER NOT NULL CHECK (valid IN (0, 1)),
    invalid_reasons       TEXT,
    kernels               TEXT,
    UNIQUE (run_id, variant, target, workload),
    FOREIGN KEY (run_id, variant) REFERENCES variants (run_id, name) ON DELETE CASCADE,
    FOREIGN KEY (run_id, target) REFERENCES targets (run_id, name) ON DELETE CASCADE,
    FOREIGN KEY (run_id, workload) REFERENCES workloads (run_id, name) ON DELETE CASCADE
);
CREATE INDEX cells_by_target ON cells (run_id, target);
CREATE INDEX cells_by_workload ON cells (run_id, workload);

-- One row per measured request, idx 0.. in the order they were issued.
CREATE TABLE requests (
    cell_id  INTEGER NOT NULL REFERENCES cells (id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    ttft_ns  INTEGER NOT NULL,
    e2e_ns   INTEGER NOT NULL,
    n_prompt INTEGER NOT NULL,
    n_output INTEGER NOT NULL,
    PRIMARY KEY (cell_id, idx)
) WITHOUT ROWID;

-- One row per inter-token gap: gap token_idx of request request_idx is the
-- time from its output token token_idx to token token_idx + 1.
CREATE TABLE gaps (
    cell_id     INTEGER NOT NULL,
    request_idx INTEGER NOT NULL,
    token_idx   INTEGER NOT NULL,
    gap_ns      INTEGER NOT NULL,
    PRIMARY KEY (cell_id, request_idx, token_idx),
    FOREIGN KEY (cell_id, request_idx) REFERENCES requests (cell_id, idx) ON DELETE CASCADE
) WITHOUT ROWID;

-- Hardware counters per phase, idx 0.. in the order recorded; an
-- unavailable counter has value NULL and a reason, never a 0.
CREATE TABLE counters (
    cell_id   INTEGER NOT NULL REFERENCES cells (id) ON DELETE CASCADE,
    idx       INTEGER NOT NULL,
    phase     TEXT NOT NULL CHECK (phase IN ('load', 'prefill', 'decode')),
    name      TEXT NOT NULL,
    available INTEGER NOT NULL CHECK (available IN (0, 1)),
    value     INTEGER,
    reason    TEXT,
    CHECK ((available = 1) = (value IS NOT NULL)),
    PRIMARY KEY (cell_id, phase, name)
) WITHOUT ROWID;

-- Task accuracy of a (variant, target) pair on each CSV eval set of the
-- scenario (key `tasks`; version 3), measured once per pair beside its
-- fidelity; the cells' accuracy is the one pooled over every set. idx is
-- the set's place in the scenario's list. A set that could not be scored
-- has NULL figures and a reason, never a 0.
CREATE TABLE task_accuracy (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    variant     TEXT NOT NULL,
    target      TEXT NOT NULL,
    task        TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    n_items     INTEGER,
    n_correct   INTEGER,
    accuracy    REAL,
    accuracy_se REAL,
    reason      TEXT,
    CHECK ((accuracy IS NULL) = (reason IS NOT NULL)),
    PRIMARY KEY (run_id, variant, target, task),
    FOREIGN KEY (run_id, variant) REFERENCES variants (run_id, name) ON DELETE CASCADE,
    FOREIGN KEY (run_id, target) REFERENCES targets (run_id, name) ON DELETE CASCADE
) WITHOUT ROWID;
