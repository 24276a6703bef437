/* store_report.c — the report's read queries (store_report.h): a run's
 * variants, targets and workloads as registered, and a cell's per-request
 * latencies. Fixed SQL with bound parameters, on the store's connection.
 * Non-goals: writing, caching, the cell rows themselves (store_cells.c).
 */
#include "store/store_report.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_impl.h"

/* ---- column helpers ------------------------------------------------------------ */

/* A malloc'd copy of text column i in *out (NULL for NULL); false on OOM. */
static bool dup_text(sqlite3_stmt *st, int i, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return true;
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t && (*out = strdup(t)) != NULL;
}

static double real_col(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static uint64_t size_col(sqlite3_stmt *st, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(st, i);
    return v > 0 ? (uint64_t)v : 0;
}

/* Grows *arr (of elem-byte items) so that index n fits; false on OOM. */
static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? 2 * *cap : 8;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
    *arr = p;
    *cap = ncap;
    return true;
}

/* Splits "a,b,c" into names; NULL or "" gives none. */
static bool split_counters(const char *list, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!list || !*list)
        return true;
    int count = 1;
    for (const char *p = list; *p; p++)
        count += *p == ',';
    char **v = calloc((size_t)count, sizeof *v);
    if (!v)
        return false;
    const char *p = list;
    for (int i = 0; i < count; i++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!(v[i] = strndup(p, len))) {
            for (int j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return false;
        }
        p += len + (end != NULL);
    }
    *out = v;
    *n = count;
    return true;
}

/* Text column i into a fixed buffer ("" for NULL; cut to fit). */
static void text_into(sqlite3_stmt *st, int i, char *buf, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(buf, cap, "%s", t ? (const char *)t : "");
}

/* The per-token cost columns from column `first` on (bytes_per_token ..
 * prune_sparsity); has_cost is false when bytes_per_token is NULL. */
static void read_cost(sqlite3_stmt *st, int first, struct dfit_store_variant *v)
{
    struct dfit_token_cost *c = &v->cost;
    memset(c, 0, sizeof *c);
    c->prune_sparsity = NAN;
    v->has_cost = sqlite3_column_type(st, first) != SQLITE_NULL;
    if (!v->has_cost)
        return;
    uint64_t *n[] = {&c->bytes_per_token, &c->kv_values_per_pos, &c->flops_per_token,
                     &c->sparse_flops_per_token, &c->output_flops, &c->attn_flops_per_pos};
    for (int i = 0; i < 6; i++)
        *n[i] = size_col(st, first + i);
    text_into(st, first + 6, c->weight_type, sizeof c->weight_type);
    text_into(st, first + 7, c->prune_pattern, sizeof c->prune_pattern);
    if (c->prune_pattern[0])
        c->prune_sparsity = real_col(st, first + 8);
}

/* ---- the run's spec --------------------------------------------------------------- */

static int read_variants(struct dfit_store *s, int64_t run_id, struct dfit_store_spec *sp,
                         struct dfit_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = dfit_store_prepare(s, "SELECT name, file, sha256, bytes, n_params, bits_per_weight, "
                                "recipe, lineage, bytes_per_token, kv_values_per_pos, "
                                "flops_per_token, sparse_flops_per_token, output_flops, "
                                "attn_flops_per_pos, weight_type, prune_pattern, prune_sparsity "
                                "FROM variants WHERE run_id = ?1 ORDER BY id",
                                &st, "read variants", err), step;
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow((void **)&sp->variants, &cap, sp->n_variants, sizeof *sp->variants))
            goto oom;
        struct dfit_store_variant *v = &sp->variants[sp->n_variants++];
        char *t[5];
        static const int cols[5] = {0, 1, 2, 6, 7};
        bool ok = true;
        for (int i = 0; i < 5; i++) /* every copy is made, so each can be freed */
            ok = dup_text(st, cols[i], &t[i]) && ok;
        v->name = t[0], v->file = t[1], v->sha256 = t[2], v->recipe = t[3], v->lineage = t[4];
        v->bytes = size_col(st, 3);
        v->n_params = size_col(st, 4);
        v->bits_per_weight = real_col(st, 5);
        read_cost(st, 8, v);
        if (!ok || !v->name)
            goto oom;
    }
    if (step != SQLITE_DONE)
        rc = dfit_store_fail(s, err, "read variants of run %lld", (long long)run_id);
    sqlite3_finalize(st);
    return rc;
oom:
    sqlite3_finalize(st);
    return dfit_err_set(err, DFIT_ENOMEM, "%s: read variants: out of memory", dfit_store_path(s));
}

static int read_targets(struct dfit_store *s, int64_t run_id, struct dfit_store_spec *sp,
                        struct dfit_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = dfit_store_prepare(s,
        "SELECT name, backend, device, threads, kernels, counters, memory_limit_mib, "
        "price_per_hour, time_limit_s, slo_p95_ttft_ms, slo_p95_tpot_ms, slo_p95_e2e_ms, "
        "slo_min_tokens_per_s, slo_max_memory_mib, slo_max_usd_per_mtok, slo_min_quality "
        "FROM targets WHERE run_id = ?1 ORDER BY id", &st, "read targets", err), step;
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow((void **)&sp->targets, &cap, sp->n_targets, sizeof *sp->targets))
            goto oom;
        struct dfit_target_spec *t = &sp->targets[sp->n_targets++];
        bool ok = dup_text(st, 0, &t->name);
        ok = dup_text(st, 1, &t->backend) && ok;
        ok = dup_text(st, 2, &t->device) && ok;
        ok = dup_text(st, 4, &t->kernels) && ok;
        if (!ok || !t->name || !t->backend ||
            !split_counters((const char *)sqlite3_column_text(st, 5), &t->counters,
                            &t->n_counters))
            goto oom;
        t->threads = sqlite3_column_int(st, 3);
        t->memory_limit_mib = real_col(st, 6);
        t->price_per_hour = real_col(st, 7);
        t->time_limit_s = real_col(st, 8);
        t->slo = (struct dfit_slo){
            .p95_ttft_ms = real_col(st, 9), .p95_tpot_ms = real_col(st, 10),
            .p95_e2e_ms = real_col(st, 11), .min_tokens_per_s = real_col(st, 12),
            .max_memory_mib = real_col(st, 13), .max_usd_per_mtok = real_col(st, 14),
            .min_quality = real_col(st, 15)};
    }
    if (step != SQLITE_DONE)
        rc = dfit_store_fail(s, err, "read targets of run %lld", (long long)run_id);
    sqlite3_finalize(st);
    return rc;
oom:
    sqlite3_finalize(st);
    return dfit_err_set(err, DFIT_ENOMEM, "%s: read targets: out of memory", dfit_store_path(s));
}

static int read_workloads(struct dfit_store *s, int64_t run_id, struct dfit_store_spec *sp,
                          struct dfit_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = dfit_store_prepare(s,
        "SELECT name, mode, prompt_tokens, output_tokens, batch, min_duration_ms, min_requests, "
        "warmup_requests FROM workloads WHERE run_id = ?1 ORDER BY id", &st, "read workloads",
        err), step;
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow((void **)&sp->workloads, &cap, sp->n_workloads, sizeof *sp->workloads))
            goto oom;
        struct dfit_workload_spec *w = &sp->workloads[sp->n_workloads++];
        if (!dup_text(st, 0, &w->name) || !w->name)
            goto oom;
        const char *mode = (const char *)sqlite3_column_text(st, 1);
        if (mode && strcmp(mode, "offline") == 0) {
            w->mode = DFIT_MODE_OFFLINE;
        } else if (mode && strcmp(mode, "single-stream") == 0) {
            w->mode = DFIT_MODE_SINGLE_STREAM;
        } else {
            rc = dfit_err_set(err, DFIT_EINVAL, "%s: run %lld: workload '%s': unknown mode '%s'",
                              dfit_store_path(s), (long long)run_id, w->name, mode ? mode : "");
            sqlite3_finalize(st);
            return rc;
        }
        int64_t v[6];
        for (int i = 0; i < 6; i++) {
            v[i] = sqlite3_column_int64(st, 2 + i);
            if (v[i] < 0 || (i != 3 && v[i] > UINT32_MAX)) {
                rc = dfit_err_set(err, DFIT_EINVAL, "%s: run %lld: workload '%s': %s %lld out "
                                  "of range", dfit_store_path(s), (long long)run_id, w->name,
                                  sqlite3_column_name(st, 2 + i), (long long)v[i]);
                sqlite3_finalize(st);
                return rc;
            }
        }
        w->prompt_tokens = (uint32_t)v[0];
        w->output_tokens = (uint32_t)v[1];
        w->batch = (uint32_t)v[2];
        w->min_duration_ms = (uint64_t)v[3];
        w->min_requests = (uint32_t)v[4];
        w->warmup_requests = (uint32_t)v[5];
    }
    if (step != SQLITE_DONE)
        rc = dfit_store_fail(s, err, "read workloads of run %lld", (long long)run_id);
    sqlite3_finalize(st);
    return rc;
oom:
    sqlite3_finalize(st);
    return dfit_err_set(err, DFIT_ENOMEM, "%s: read workloads: out of memory",
                        dfit_store_path(s));
}

int dfit_store_load_spec(struct dfit_store *s, int64_t run_id, struct dfit_store_spec **out,
                         struct dfit_err *err)
{
    *out = NULL;
    struct dfit_store_spec *sp = calloc(1, sizeof *sp);
    if (!sp)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: read run %lld: out of memory",
                            dfit_store_path(s), (long long)run_id);
    int rc;
    if ((rc = read_variants(s, run_id, sp, err)) || (rc = read_targets(s, run_id, sp, err)) ||
        (rc = read_workloads(s, run_id, sp, err))) {
        dfit_store_spec_free(sp);
        return rc;
    }
    *out = sp;
    return 0;
}

void dfit_store_spec_free(struct dfit_store_spec *sp)
{
    if (!sp)
        return;
    for (size_t i = 0; i < sp->n_variants; i++) {
        struct dfit_store_variant *v = &sp->variants[i];
        free((char *)v->name);
        free((char *)v->file);
        free((char *)v->sha256);
        free((char *)v->recipe);
        free((char *)v->lineage);
    }
    for (size_t i = 0; i < sp->n_targets; i++) {
        struct dfit_target_spec *t = &sp->targets[i];
        free(t->name);
        free(t->backend);
        free(t->device);
        free(t->kernels);
        for (int j = 0; j < t->n_counters; j++)
            free(t->counters[j]);
        free(t->counters);
    }
    for (size_t i = 0; i < sp->n_workloads; i++)
        free(sp->workloads[i].name);
    free(sp->variants);
    free(sp->targets);
    free(sp->workloads);
    free(sp);
}

/* ---- request latencies ---------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int dfit_store_load_latencies(struct dfit_store *s, int64_t cell_id,
                              struct dfit_store_latencies *out, struct dfit_err *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    size_t cap_t = 0, cap_e = 0;
    int rc = dfit_store_prepare(s, "SELECT ttft_ns, e2e_ns, n_prompt, n_output FROM requests "
                                "WHERE cell_id = ?1 ORDER BY idx", &st, "read requests", err),
        step;
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, cell_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow((void **)&out->ttft_ms, &cap_t, out->n, sizeof *out->ttft_ms) ||
            !grow((void **)&out->e2e_ms, &cap_e, out->n, sizeof *out->e2e_ms)) {
            rc = dfit_err_set(err, DFIT_ENOMEM, "%s: cell %lld: out of memory for requests",
                              dfit_store_path(s), (long long)cell_id);
            goto fail;
        }
        out->ttft_ms[out->n] = (double)sqlite3_column_int64(st, 0) / 1e6;
        out->e2e_ms[out->n] = (double)sqlite3_column_int64(st, 1) / 1e6;
        out->n_prompt_tokens += size_col(st, 2);
        out->n_output_tokens += size_col(st, 3);
        out->n++;
    }
    if (step != SQLITE_DONE) {
        rc = dfit_store_fail(s, err, "read requests of cell %lld", (long long)cell_id);
        goto fail;
    }
    sqlite3_finalize(st);
    if (out->n) {
        qsort(out->ttft_ms, out->n, sizeof *out->ttft_ms, cmp_double);
        qsort(out->e2e_ms, out->n, sizeof *out->e2e_ms, cmp_double);
    }
    return 0;
fail:
    sqlite3_finalize(st);
    dfit_store_latencies_clear(out);
    return rc;
}

void dfit_store_latencies_clear(struct dfit_store_latencies *l)
{
    if (!l)
        return;
    free(l->ttft_ms);
    free(l->e2e_ms);
    memset(l, 0, sizeof *l);
}
