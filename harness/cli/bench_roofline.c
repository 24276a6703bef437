/* bench_roofline.c — the bandwidth ceiling per backend and the roofline
 * numbers of a tg row (see bench_roofline.h).
 * Non-goal: printing (bench_report.c).
 */
#include "cli/bench_roofline.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "run/membw.h"
#include "run/token_cost.h"
#if HAVE_CUDA
#include "cuda/cuda_roofline.h"
#endif

#define CUDA_KV_VALUE_BYTES 2u /* the CUDA backend's default F16 cache */

bool dfit_bench_roofline_supported(const char *name)
{
    return strcmp(name, "cpu") == 0 || (HAVE_CUDA && strcmp(name, "cuda") == 0);
}

#if HAVE_CUDA
/* The device's copy bandwidth, measured once per process. */
static int measure_cuda(struct dfit_bench_membw *out, struct dfit_err *err)
{
    static struct dfit_cuda_roofline cr;
    static bool done = false;
    if (!done) {
        const struct dfit_cuda_roofline_params p = {.device = 0};
        int rc = dfit_cuda_roofline_measure(&p, &cr, err);
        if (rc)
            return rc;
        done = true;
    }
    snprintf(out->method, sizeof out->method, "cuda copy");
    out->buffer_bytes = cr.copy_bytes;
    out->reps = 10;
    out->bytes_per_s = out->min_bytes_per_s = out->max_bytes_per_s = cr.copy_bytes_per_s;
    return 0;
}
#endif

int dfit_bench_roofline_measure(const char *backend, uint32_t threads, uint64_t buffer_bytes,
                                int reps, struct dfit_bench_membw *out, struct dfit_err *err)
{
    memset(out, 0, sizeof *out);
    out->threads = threads;
#if HAVE_CUDA
    if (strcmp(backend, "cuda") == 0)
        return measure_cuda(out, err);
#endif
    if (strcmp(backend, "cpu") != 0)
        return dfit_err_set(err, DFIT_EUNSUPPORTED, "--roofline: no bandwidth probe for backend '%s'",
                            backend);
    struct dfit_membw_result r;
    const struct dfit_membw_params p = {.buffer_bytes = buffer_bytes, .n_threads = (int)threads,
                                        .reps = reps};
    int rc = dfit_membw_measure(&p, &r, err);
    if (rc)
        return rc;
    snprintf(out->method, sizeof out->method, "read %s", r.simd);
    out->buffer_bytes = r.buffer_bytes;
    out->llc_bytes = r.llc_bytes;
    out->reps = r.reps;
    out->bytes_per_s = r.bytes_per_s;
    out->min_bytes_per_s = r.min_bytes_per_s;
    out->max_bytes_per_s = r.max_bytes_per_s;
    return 0;
}

int dfit_bench_roofline_base(const char *backend, const struct dfit_model *m,
                             const struct dfit_load_report *rep,
                             const struct dfit_bench_membw *bw,
                             struct dfit_bench_roof_base *out, struct dfit_err *err)
{
    struct dfit_token_cost c;
    int rc = dfit_token_cost_of_model(m, &c, err);
    if (rc)
        return rc;
    *out = (struct dfit_bench_roof_base){
        .bw = bw,
        .weight_bytes = rep->weight_bytes ? rep->weight_bytes + m->tok_embd.row_bytes
                                          : c.bytes_per_token,
        .kv_values_per_pos = c.kv_values_per_pos,
        .kv_value_bytes = strcmp(backend, "cuda") == 0 ? CUDA_KV_VALUE_BYTES
                                                       : DFIT_TOKEN_COST_KV_F32,
    };
    return 0;
}

void dfit_bench_roofline_row(const struct dfit_bench_roof_base *b, uint32_t n_gen,
                             double median_ts, struct dfit_bench_roof *out)
{
    out->bw = b->bw;
    out->weight_bytes = b->weight_bytes;
    out->mean_ctx = dfit_token_cost_mean_ctx(0, n_gen);
    out->kv_bytes = (double)b->kv_values_per_pos * b->kv_value_bytes * out->mean_ctx;
    out->bytes_per_token = (double)out->weight_bytes + out->kv_bytes;
    out->roofline_ts = dfit_membw_roofline_tokens_per_s(b->bw->bytes_per_s, out->bytes_per_token);
    out->fraction = out->roofline_ts > 0 ? median_ts / out->roofline_ts : NAN;
}
