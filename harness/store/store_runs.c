/* store_runs.c — runs in the results database: created with the state of
 * the machine they ran on, finished, resumed, found and read back; and the
 * variants, targets and workloads each run registers (see store.h).
 * Registering is idempotent (ON CONFLICT ... DO UPDATE) so that --resume
 * can register everything again; a variant whose file changed is refused.
 * Non-goals: opening and the schema (store.c, store_schema.c), cells
 * (store_cells.c), task accuracy (store_tasks.c), export (export_csv.c).
 */
#include "store/store_impl.h"

#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* ---- binding and stepping ---------------------------------------------------------- */

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
