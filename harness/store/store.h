/* store.h — the results database: one SQLite file holding runs, the machine
 * each ran on, the variants, targets and workloads of each run, and every
 * cell with its raw samples and hardware counters (schema: results/schema.sql,
 * described in docs/results.md).
 *
 * The file is opened in WAL mode with a busy timeout and foreign keys on, so
 * several processes (the sweep's workers) may write it at once. A cell is
 * written in one BEGIN IMMEDIATE transaction — the cell row, its requests,
 * gaps and counters all land or none does — so a killed sweep loses nothing
 * it reported done, and `--resume` redoes only what is missing.
 * The schema version lives in PRAGMA user_version; opening an older file
 * migrates it, a newer one is refused.
 *
 * Every error names the database file and the operation, with SQLite's own
 * message. All SQL is fixed text with bound parameters.
 * Non-goals: statistics (run/), the frontier and report (report/), a
 * connection shared across fork() (each process opens its own).
 */
#ifndef DFIT_STORE_STORE_H
#define DFIT_STORE_STORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run/result.h"
#include "run/scenario.h"
#include "run/token_cost.h"
#include "util/err.h"

#define DFIT_STORE_SCHEMA_VERSION 3
#define DFIT_STORE_BUSY_TIMEOUT_MS 10000

struct dfit_store;
struct sqlite3;

/* The text of results/schema.sql, compiled in (store_schema.c; a test
 * keeps them equal), as a malloc'd string the caller frees; NULL when out
 * of memory. */
char *dfit_store_schema_sql(void);

/* ---- open and close (store.c) --------------------------------------------- */

/* Opens path read-write, creating the file and its parent directories if
 * needed, and brings the schema to DFIT_STORE_SCHEMA_VERSION (several
 * processes may do this at once). On failure *out is NULL:
 * DFIT_EIO (cannot create or open, not a database, busy past the timeout),
 * DFIT_EUNSUPPORTED (schema newer than this dfit), DFIT_EINVAL (an SQLite
 * file that is not a dfit results database). */
int dfit_store_open(const char *path, struct dfit_store **out, struct dfit_err *err);
/* Opens an existing database read-only (export, report). The schema must be
 * exactly DFIT_STORE_SCHEMA_VERSION: an older one is DFIT_EUNSUPPORTED
 * ("open it with a writing command to migrate"). DFIT_ENOTFOUND when the
 * file does not exist. On failure *out is NULL. */
int dfit_store_open_readonly(const char *path, struct dfit_store **out, struct dfit_err *err);
void dfit_store_close(struct dfit_store *s); /* accepts NULL */

const char *dfit_store_path(const struct dfit_store *s);
/* The connection, for read queries of the report; do not close it. */
struct sqlite3 *dfit_store_db(struct dfit_store *s);

/* ---- helpers the report shares (the store's own: store_impl.h) ---------- */

/* Sets err to "PATH: <op, printf-formatted>: <sqlite3_errmsg>" and returns
 * its code: DFIT_EINVAL for a constraint violation, DFIT_ENOMEM, else
 * DFIT_EIO. */
int dfit_store_fail(struct dfit_store *s, struct dfit_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* mkdir -p; DFIT_EIO naming the directory. */
int dfit_store_mkdirs(const char *dir, struct dfit_err *err);

/* ---- runs (store_runs.c) ----------------------------------------------------- */

enum dfit_run_status {
    DFIT_RUN_RUNNING = 0,     /* started (or resumed), not finished */
    DFIT_RUN_DONE = 1,        /* every cell was attempted */
    DFIT_RUN_FAILED = 2,      /* the runner itself gave up */
    DFIT_RUN_INTERRUPTED = 3, /* stopped by a signal; resumable */
};
const char *dfit_store_run_status_name(enum dfit_run_status st); /* "running", ... */

/* What a run is: its scenario and the binary that ran it. Build fields left
 * NULL are filled from this binary (version, commit, build type, compiler,
 * and the flags the preprocessor reveals: optimisation, NDEBUG, ISA). */
struct dfit_run_info {
    const char *scenario;          /* scenario name (required) */
    const char *scenario_sha256;   /* hex SHA-256 of the scenario file (required) */
    const char *scenario_path;     /* as given on the command line; may be NULL */
    const char *label;             /* user's label; may be NULL */
    const char *dfit_version;
    const char *git_commit;
    const char *build_type;
    const char *compiler;
    const char *compiler_flags;
    const char *reference;         /* the scenario's reference variant; may be
                                      NULL (runs of schema version 1 read back
                                      NULL) */
};

/* The machine a run ran on, as it was when the run (re)started. Unknown
 * values: NULL strings, 0 counts and sizes, NAN load averages (stored NULL). */
struct dfit_machine_info {
    const char *hostname;
    const char *kernel;            /* e.g. "Linux 6.1.0-18-amd64" */
    const char *cpu_model;
    const char *cpu_flags;         /* space-separated, as /proc/cpuinfo */
    const char *governor;          /* cpufreq scaling governor */
    int n_cpus;                    /* online logical CPUs */
    int n_cores;                   /* physical cores */
    double loadavg_before[3];      /* 1, 5 and 15 minute load averages */
    uint64_t mem_total_bytes;
    uint64_t mem_available_bytes;
};

/* Inserts a run with status "running" and started_at = now, and its machine
 * state (m may be NULL). *run_id gets the new id. DFIT_EINVAL when the
 * scenario name or hash is missing. */
int dfit_store_create_run(struct dfit_store *s, const struct dfit_run_info *info,
                          const struct dfit_machine_info *m, int64_t *run_id,
                          struct dfit_err *err);
/* Sets status and finished_at = now, and the load averages after the run
 * (loadavg_after may be NULL). DFIT_ENOTFOUND for an unknown run. */
int dfit_store_finish_run(struct dfit_store *s, int64_t run_id, enum dfit_run_status status,
                          const double loadavg_after[3], struct dfit_err *err);
/* Marks a run "running" again for --resume: finished_at = NULL, n_resumes
 * + 1, and, when m is non-NULL, its machine state replaced by m (the state
 * the remaining cells run under). DFIT_ENOTFOUND for an unknown run. */
int dfit_store_resume_run(struct dfit_store *s, int64_t run_id, const struct dfit_machine_info *m,
                          struct dfit_err *err);
/* The latest run (highest id) of the scenario with this name and file hash;
 * with unfinished_only, only runs whose status is not "done". status may be
 * NULL. DFIT_ENOTFOUND (with a message) when there is none. */
int dfit_store_find_run(struct dfit_store *s, const char *scenario, const char *scenario_sha256,
                        bool unfinished_only, int64_t *run_id, enum dfit_run_status *status,
                        struct dfit_err *err);

/* A run read back. Every string points into `strings_`, which the struct
 * owns; free arrays of these with dfit_store_runs_free. */
struct dfit_store_run {
    int64_t id;
    enum dfit_run_status status;
    const char *started_at;        /* ISO 8601 UTC */
    const char *finished_at;       /* NULL while running */
    int n_resumes;
    int64_t n_cells, n_cells_ok;   /* cells written / with status ok */
    struct dfit_run_info info;
    bool has_machine;
    struct dfit_machine_info machine;
    double loadavg_after[3];       /* NAN until finished */
    char *strings_;
};
/* All runs, oldest first; *runs is NULL when there are none. On failure
 * *runs is NULL and *n is 0. */
int dfit_store_list_runs(struct dfit_store *s, struct dfit_store_run **runs, size_t *n,
                         struct dfit_err *err);
/* One run; DFIT_ENOTFOUND when there is no such id. On failure *run is NULL.
 * Free with dfit_store_runs_free(run, 1). */
int dfit_store_get_run(struct dfit_store *s, int64_t run_id, struct dfit_store_run **run,
                       struct dfit_err *err);
void dfit_store_runs_free(struct dfit_store_run *runs, size_t n); /* accepts NULL */

/* ---- what a run measures (store_runs.c) -------------------------------------- */

/* A variant as built: the file measured, its hash and size, how it was
 * made, and what one token costs to run it (token_cost.h). Unknown values:
 * NULL strings, 0 sizes, NAN bits_per_weight, has_cost false (then cost is
 * not stored; a variant registered by schema version 1 reads back so). */
struct dfit_store_variant {
    const char *name;
    const char *file;
    const char *sha256;
    uint64_t bytes;
    uint64_t n_params;
    double bits_per_weight;
    const char *recipe;            /* e.g. "compress=q4_0 from=base" */
    const char *lineage;           /* parent hash, method, parameters, calibration */
    bool has_cost;
    struct dfit_token_cost cost;
};

/* Registering is idempotent, for --resume: the same name in the same run
 * updates the row (a NULL sha256 keeps the recorded one). A variant whose recorded sha256 differs from v->sha256
 * (both known) is refused with DFIT_EEXIST: its cells measured another file,
 * so start a new run. */
int dfit_store_add_variant(struct dfit_store *s, int64_t run_id, const struct dfit_store_variant *v,
                           struct dfit_err *err);
/* Targets and workloads are stored as the scenario states them (SLOs left
 * NAN are NULL); re-adding one updates it. DFIT_EINVAL for an empty name,
 * or for a run id that does not exist (foreign key); DFIT_EIO otherwise. */
int dfit_store_add_target(struct dfit_store *s, int64_t run_id, const struct dfit_target_spec *t,
                          struct dfit_err *err);
int dfit_store_add_workload(struct dfit_store *s, int64_t run_id,
                            const struct dfit_workload_spec *w, struct dfit_err *err);

/* ---- cells (store_cells.c) ---------------------------------------------------- */

/* Whether the run has a cell for (variant, target, workload); if so and
 * status is non-NULL, its status. --resume skips cells whose status is ok.
 * On a database error *exists is false and the code is DFIT_EIO. */
int dfit_store_cell_exists(struct dfit_store *s, int64_t run_id, const char *variant,
                           const char *target, const char *workload, bool *exists,
                           enum dfit_cell_status *status, struct dfit_err *err);

/* Writes one cell — row, requests, gaps, counters — in one BEGIN IMMEDIATE
 * transaction, committed whole or rolled back whole.
 * Replacement rule: if the run already has this cell and its status is
 * "ok", nothing is written and DFIT_EEXIST is returned; a cell with any
 * other status (failed, crashed, timeout, oom, skipped) is replaced, samples
 * and counters included, in the same transaction. The variant, target and
 * workload must have been added to the run (DFIT_EINVAL "FOREIGN KEY
 * constraint failed" otherwise; any constraint violation is DFIT_EINVAL,
 * e.g. two counters with the same phase and name). Samples must follow result.h's layout
 * (DFIT_EINVAL otherwise, before anything is written). Values above
 * INT64_MAX are DFIT_ERANGE. NAN doubles are stored as NULL. */
int dfit_store_write_cell(struct dfit_store *s, int64_t run_id, const char *variant,
                          const char *target, const char *workload,
                          const struct dfit_cell_result *r, struct dfit_err *err);

/* A cell read back. Strings point into `strings_`; r's arrays are malloc'd
 * (requests and gaps only when samples were asked for; counters always).
 * NULL columns read back as NAN (doubles), 0 (integers) or "" (text). */
struct dfit_store_cell {
    int64_t id;
    int64_t run_id;
    const char *variant, *target, *workload;
    const char *written_at;        /* ISO 8601 UTC */
    struct dfit_cell_result r;
    char *strings_;
};
/* The run's cells ordered by variant, target, workload (insertion order of
 * each). Without samples r.requests and r.gaps_ns are NULL and their counts
 * 0 (the summaries' n still tell how many there were). On failure *cells is
 * NULL and *n is 0. Free with dfit_store_cells_free. */
int dfit_store_load_cells(struct dfit_store *s, int64_t run_id, bool with_samples,
                          struct dfit_store_cell **cells, size_t *n, struct dfit_err *err);
void dfit_store_cells_free(struct dfit_store_cell *cells, size_t n); /* accepts NULL */

/* ---- task accuracy (store_tasks.c) -------------------------------------------------- */

/* Replaces the task-accuracy rows of (variant, target) in run_id by
 * t[0..n) (idx = position in t) in one BEGIN IMMEDIATE transaction; n == 0
 * deletes them. The variant and target must have been added to the run
 * (DFIT_EINVAL otherwise, as for any constraint: an empty or repeated task
 * name, an available row with a NAN accuracy); DFIT_EIO naming the
 * database otherwise. Nothing is changed on failure. */
int dfit_store_put_task_accuracy(struct dfit_store *s, int64_t run_id, const char *variant,
                                 const char *target, const struct dfit_task_accuracy *t,
                                 size_t n, struct dfit_err *err);

/* One task-accuracy row read back; variant and target are malloc'd. */
struct dfit_store_task_row {
    char *variant, *target;
    int idx;
    struct dfit_task_accuracy a;   /* a.available false: a.reason says why */
};
/* Every task-accuracy row of run_id, by target, variant (registration
 * order) and idx. None: *rows NULL, *n 0. On failure (DFIT_EIO,
 * DFIT_ENOMEM) *rows is NULL and *n 0. Free with dfit_store_task_rows_free. */
int dfit_store_load_task_accuracy(struct dfit_store *s, int64_t run_id,
                                  struct dfit_store_task_row **rows, size_t *n,
                                  struct dfit_err *err);
void dfit_store_task_rows_free(struct dfit_store_task_row *rows, size_t n); /* accepts NULL */

/* ---- export (export_csv.c) ------------------------------------------------------ */

/* Writes one CSV file per table into dir (created if needed): runs.csv,
 * machine_state.csv, variants.csv, targets.csv, workloads.csv, cells.csv,
 * requests.csv, gaps.csv, counters.csv, task_accuracy.csv. A header row names the columns;
 * NULL is an empty field, text is always quoted (RFC 4180, through libcsv),
 * numbers are bare (doubles with 17 significant digits). run_id > 0 limits
 * every file to that run (DFIT_ENOTFOUND if it does not exist); 0 exports
 * all. Errors name the file (DFIT_EIO). */
int dfit_store_export_csv(struct dfit_store *s, const char *dir, int64_t run_id,
                          struct dfit_err *err);

#endif
