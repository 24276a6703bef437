/* cell.c — one cell measured inside a worker (see cell.h): counters, cold
 * and warm timed loads, the workload on the warm instance, memory, cost,
 * validity; failures classified as OOM or FAILED.
 * Non-goals: forking, time limits, storage, quality (measured per variant
 * and target, not per cell).
 */
#include "run/cell.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "backend.h"
#include "config.h"
#include "run/counters.h"
#include "run/load_timing.h"
#include "run/machine.h"
#include "run/workload.h"
#include "util/clock.h"

/* Appends "; "-separated text to r->invalid_reasons. */
static void add_reason(struct dfit_cell_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_reason(struct dfit_cell_result *r, const char *fmt, ...)
{
    size_t len = strlen(r->invalid_reasons), cap = sizeof r->invalid_reasons;
    if (len > 0 && len + 2 < cap) {
        memcpy(r->invalid_reasons + len, "; ", 3);
        len += 2;
    }
    if (len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->invalid_reasons + len, cap - len, fmt, ap);
    va_end(ap);
}

void dfit_cell_judge(struct dfit_cell_result *r, const struct dfit_workload_spec *w,
                     const char *build_type, bool compiler_optimized)
{
    r->invalid_reasons[0] = '\0';
    const uint64_t min_ns = w->min_duration_ms > UINT64_MAX / 1000000u
                                ? UINT64_MAX
                                : w->min_duration_ms * 1000000u;
    if (r->run_ns < min_ns)
        add_reason(r, "ran %.1f ms, below min_duration_ms %" PRIu64, (double)r->run_ns / 1e6,
                   w->min_duration_ms);
    if (r->n_requests < w->min_requests)
        add_reason(r, "recorded %" PRIu32 " requests, below min_requests %" PRIu32, r->n_requests,
                   w->min_requests);
    char why[200];
    if (!dfit_build_optimized(build_type, compiler_optimized, why, sizeof why))
        add_reason(r, "%s", why);
    r->valid = r->invalid_reasons[0] == '\0';
}

static bool compiled_optimized(void)
{
#if defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__)
    return true;
#else
    return false;
#endif
}

static int check_spec(const struct dfit_cell_spec *s, struct dfit_err *err)
{
    if (!s || !s->model_path || !s->target || !s->workload)
        return dfit_err_set(err, DFIT_EINVAL, "cell: model path, target and workload are required");
    if (!s->target->backend)
        return dfit_err_set(err, DFIT_EINVAL, "cell: target '%s' has no backend", s->target->name);
    if (!s->prompt_tokens || s->n_prompt_tokens == 0)
        return dfit_err_set(err, DFIT_EINVAL, "cell: empty prompt token stream");
    if (s->target->n_counters < 0 || (s->target->n_counters > 0 && !s->target->counters))
        return dfit_err_set(err, DFIT_EINVAL, "cell: target '%s': bad counter list",
                            s->target->name);
    return 0;
}

/* Memory figures after the run. */
static void fill_memory(struct dfit_cell_result *out, const struct dfit_loaded *l)
{
    out->weight_bytes = l->report.weight_bytes;
    out->kv_bytes = l->report.kv_bytes;
    out->workspace_bytes = l->report.workspace_bytes;
    struct dfit_memory mem;
    memset(&mem, 0, sizeof mem);
    if (l->ops->memory && l->ops->memory(l->ctx, &mem) == 0) {
        if (!out->weight_bytes)
            out->weight_bytes = mem.weight_bytes;
        if (!out->kv_bytes)
            out->kv_bytes = mem.kv_bytes;
        if (!out->workspace_bytes)
            out->workspace_bytes = mem.workspace_bytes;
        if (mem.device_total_bytes > 0)
            out->device_peak_bytes = mem.device_used_bytes;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0)
        out->peak_rss_bytes = (uint64_t)ru.ru_maxrss * 1024u;
}

int dfit_cell_measure(const struct dfit_cell_spec *spec, struct dfit_cell_result *out,
                      struct dfit_err *err)
{
    const uint64_t t_start = dfit_now_ns();
    struct dfit_err local;
    if (!err)
        err = &local;
    dfit_err_clear(err);
    const struct dfit_quality quality = out->quality;
    memset(out, 0, sizeof *out);
    out->quality = quality;
    out->usd_per_mtok = NAN;
    out->prefill_tokens_per_s = out->decode_tokens_per_s = NAN;
    out->requests_per_s = out->output_tokens_per_s = NAN;

    struct dfit_counters *ctr = NULL;
    struct dfit_loaded warm = {0};
    int rc = check_spec(spec, err);
    if (rc)
        goto fail;
    const struct dfit_target_spec *t = spec->target;
    const struct dfit_workload_spec *w = spec->workload;
    const struct dfit_backend_ops *ops = dfit_backend_find(t->backend);
    if (!ops) {
        rc = dfit_err_set(err, DFIT_ENOTFOUND, "cell: backend '%s' is not in this build",
                          t->backend);
        goto fail;
    }
    struct dfit_backend_params bp;
    if ((rc = dfit_workload_backend_params(t, w, &bp, err)))
        goto fail;
    if ((rc = dfit_counters_start((const char *const *)t->counters, t->n_counters, &ctr, err)))
        goto fail;

    /* cold load: the file evicted from the page cache first */
    struct dfit_load_times cold, times;
    if ((rc = dfit_load_evict(spec->model_path, err)))
        goto fail;
    if ((rc = dfit_counters_skip(ctr, err)))
        goto fail;
    {
        struct dfit_loaded l;
        rc = dfit_load_timed(spec->model_path, ops, &bp, spec->prompt_tokens[0], &l, &cold, err);
        if (rc) {
            dfit_err_prefix(err, "cold load");
            goto fail;
        }
        dfit_loaded_close(&l);
    }
    if ((rc = dfit_counters_skip(ctr, err)))
        goto fail;

    /* warm load: the instance the workload runs on */
    if ((rc = dfit_load_timed(spec->model_path, ops, &bp, spec->prompt_tokens[0], &warm, &times,
                              err))) {
        dfit_err_prefix(err, "warm load");
        goto fail;
    }
    if ((rc = dfit_counters_mark(ctr, DFIT_PHASE_LOAD, err)))
        goto fail;
    out->load_open_ns = times.open_ns;
    out->load_validate_ns = times.validate_ns;
    out->load_prepare_ns = times.prepare_ns;
    out->load_first_forward_ns = times.first_forward_ns;
    out->load_cold_ns = cold.total_ns;
    out->load_warm_ns = times.total_ns;
    snprintf(out->kernels, sizeof out->kernels, "%s", warm.report.kernels);

    const struct dfit_workload_io io = {
        .ops = ops,
        .ctx = warm.ctx,
        .n_vocab = warm.m->hp.n_vocab,
        .stream = spec->prompt_tokens,
        .n_stream = spec->n_prompt_tokens,
        .counters = ctr,
    };
    if ((rc = dfit_workload_drive(&io, w, out, err))) {
        dfit_err_prefix(err, "workload '%s'", w->name);
        goto fail;
    }

    fill_memory(out, &warm);
    if (isfinite(t->price_per_hour) && out->output_tokens_per_s > 0)
        out->usd_per_mtok = t->price_per_hour / 3600.0 / out->output_tokens_per_s * 1e6;
    dfit_cell_judge(out, w, DFIT_BUILD_TYPE, compiled_optimized());
    if ((rc = dfit_counters_export(ctr, bp.n_threads, &out->counters, &out->n_counters, err)))
        goto fail;

    dfit_loaded_close(&warm);
    dfit_counters_free(ctr);
    out->status = DFIT_CELL_OK;
    out->wall_ns = dfit_now_ns() - t_start;
    return 0;
fail:
    dfit_loaded_close(&warm);
    dfit_counters_free(ctr);
    dfit_cell_result_free_samples(out);
    out->status = rc == DFIT_ENOMEM ? DFIT_CELL_OOM : DFIT_CELL_FAILED;
    snprintf(out->reason, sizeof out->reason, "%.*s", (int)sizeof out->reason - 1, err->msg);
    out->valid = false;
    out->wall_ns = dfit_now_ns() - t_start;
    return rc;
}
