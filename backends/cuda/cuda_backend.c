/* cuda_backend.c — the CUDA backend's entry points (backend.h): probe,
 * load (plan, allocate, upload, cuBLAS handle), seq_reset, memory, sync,
 * unload. The forward pass is in cuda_forward.c, the weight upload in
 * cuda_upload.c, the buffer plan in cuda_plan.c.
 * On a machine without a GPU or driver, probe and load fail with
 * DFIT_ENOTFOUND and CUDA's reason ("no CUDA device (cudaGetDeviceCount:
 * CUDA driver version is insufficient for CUDA runtime version)"): the
 * runtime is linked statically and finds no libcuda.so; nothing crashes.
 * Non-goals: several devices per context, sparse kernels (pruned files run
 * dense), KV-cache quantization beyond f16.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_ctx.h"
#include "util/fmt.h"

#ifndef DFIT_CUDA_ARCHS
#define DFIT_CUDA_ARCHS "?"
#endif

int dfit_cuda_fail(struct dfit_err *err, int cuda_rc, const char *what)
{
    const cudaError_t e = (cudaError_t)cuda_rc;
    const int code = e == cudaErrorMemoryAllocation ? DFIT_ENOMEM : DFIT_EINTERNAL;
    return dfit_err_set(err, code, "cuda backend: %s: %s (%s)", what, cudaGetErrorString(e),
                        cudaGetErrorName(e));
}

/* ---- probe ------------------------------------------------------------------ */

/* The number of devices, or DFIT_ENOTFOUND with CUDA's reason. */
static int device_count(int *n, struct dfit_err *err)
{
    *n = 0;
    cudaError_t e = cudaGetDeviceCount(n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        *n = 0;
        return dfit_err_set(err, DFIT_ENOTFOUND, "no CUDA device (cudaGetDeviceCount: %s)",
                            cudaGetErrorString(e));
    }
    if (*n <= 0)
        return dfit_err_set(err, DFIT_ENOTFOUND, "no CUDA device (cudaGetDeviceCount: 0 devices)");
    return 0;
}

static int cuda_probe(struct dfit_device_list *out, struct dfit_err *err)
{
    memset(out, 0, sizeof *out);
    int n;
    int rc = device_count(&n, err);
    if (rc)
        return rc;
    for (int i = 0; i < n && i < DFIT_MAX_DEVICES; i++) {
        struct cudaDeviceProp prop;
        cudaError_t e = cudaGetDeviceProperties(&prop, i);
        if (e != cudaSuccess)
            return dfit_cuda_fail(err, (int)e, "cudaGetDeviceProperties");
        prop.name[sizeof prop.name - 1] = '\0';
        snprintf(out->dev[i].name, sizeof out->dev[i].name, "%.96s (sm_%d%d, %d SMs)", prop.name,
                 prop.major, prop.minor, prop.multiProcessorCount);
        out->dev[i].memory_bytes = (uint64_t)prop.totalGlobalMem;
        out->n = i + 1;
    }
    return 0;
}

/* ---- load / unload ------------------------------------------------------------ */

/* The device index named by `device`: NULL, "", "cuda" -> 0; "N" or
 * "cuda:N". */
static int parse_device(const char *s, int n_dev, int *out, struct dfit_err *err)
{
    *out = 0;
    if (!s || !*s || strcmp(s, "cuda") == 0)
        return 0;
    const char *p = strncmp(s, "cuda:", 5) == 0 ? s + 5 : s;
    long v = 0;
    if (!*p || strlen(p) > 4)
        goto bad;
    for (const char *q = p; *q; q++) {
        if (!isdigit((unsigned char)*q))
            goto bad;
        v = v * 10 + (*q - '0');
    }
    if (v >= n_dev)
        return dfit_err_set(err, DFIT_ENOTFOUND,
                            "cuda backend: device '%.32s' not found (%d device%s: 0..%d)", s, n_dev,
                            n_dev == 1 ? "" : "s", n_dev - 1);
    *out = (int)v;
    return 0;
bad:
    return dfit_err_set(err, DFIT_EINVAL,
                        "cuda backend: device '%.32s' not understood (N, cuda:N or cuda)", s);
}

static void graph_exec_destroy(void *exec)
{
    cudaGraphExecDestroy((cudaGraphExec_t)exec);
}

static void cuda_unload(void *p)
{
    struct cuda_ctx *c = p;
    if (!c)
        return;
    if (c->stream) {
        cudaSetDevice(c->device);
        cudaStreamSynchronize(c->stream);
    }
    dfit_cuda_graph_clear(&c->graphs, graph_exec_destroy);
    dfit_cuda_blas_free(c->blas);
    if (c->d_weights)
        cudaFree(c->d_weights);
    if (c->d_kv)
        cudaFree(c->d_kv);
    if (c->d_ws)
        cudaFree(c->d_ws);
    if (c->h_in)
        cudaFreeHost(c->h_in);
    if (c->stream)
        cudaStreamDestroy(c->stream);
    dfit_cuda_plan_free(&c->plan);
    free(c->wd);
    free(c->seq_len);
    free(c->seq_next);
    free(c->h_obs);
    free(c);
}

/* cudaMalloc of one arena; DFIT_ENOMEM naming it, its size and what is free. */
static int arena_alloc(uint8_t **p, uint64_t bytes, const char *what, struct dfit_err *err)
{
    *p = NULL;
    cudaError_t e = cudaMalloc((void **)p, bytes ? (size_t)bytes : 1);
    if (e == cudaSuccess)
        return 0;
    *p = NULL;
    (void)cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    char need[32], avail[32];
    return dfit_err_set(err, e == cudaErrorMemoryAllocation ? DFIT_ENOMEM : DFIT_EINTERNAL,
                        "cuda backend: cannot allocate the %s (%s; %s of device memory free): %s",
                        what, dfit_fmt_bytes(need, sizeof need, bytes),
                        dfit_fmt_bytes(avail, sizeof avail, (uint64_t)free_b), cudaGetErrorString(e));
}

static int cuda_load(const struct dfit_model *m, const struct dfit_backend_params *p, void **out,
                     struct dfit_load_report *r, struct dfit_err *err)
{
    *out = NULL;
    struct cuda_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return dfit_err_set(err, DFIT_ENOMEM, "cuda backend: out of memory");
    int rc, n_dev;
    cudaError_t e;
    c->m = m;
    c->n_ctx = p->n_ctx;
    c->n_seq = p->n_seq;
    c->n_batch_max = p->n_batch_max;
    c->observe = p->observe;
    c->observe_user = p->observe_user;
    /* everything that can fail without the device first */
    if ((rc = dfit_cuda_options_parse(p->kernels, &c->opt, err)) ||
        (rc = dfit_cuda_plan_make(m, p, &c->opt, &c->plan, err)))
        goto fail;
    if ((rc = device_count(&n_dev, err)) || (rc = parse_device(p->device, n_dev, &c->device, err)))
        goto fail;
    if ((e = cudaSetDevice(c->device)) != cudaSuccess) {
        rc = dfit_cuda_fail(err, (int)e, "cudaSetDevice");
        goto fail;
    }
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        c->stream = NULL;
        rc = dfit_cuda_fail(err, (int)e, "cudaStreamCreate");
        goto fail;
    }
    if ((rc = dfit_cuk_check_launch(c->stream)) != 0) {
        int major = 0, minor = 0;
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, c->device);
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, c->device);
        rc = dfit_err_set(err, DFIT_EUNSUPPORTED,
                          "cuda backend: device %d (sm_%d%d) cannot run this build's kernels "
                          "(built for gpu_archs %s): %s",
                          c->device, major, minor, DFIT_CUDA_ARCHS,
                          cudaGetErrorString((cudaError_t)rc));
        (void)cudaGetLastError();
        goto fail;
    }

    const uint32_t n_slots = c->plan.n_slots;
    c->wd = calloc(n_slots, sizeof *c->wd);
    c->seq_len = calloc(c->n_seq, sizeof *c->seq_len);
    c->seq_next = calloc(c->n_seq, sizeof *c->seq_next);
    if (c->observe) {
        int64_t w = c->plan.max_in > (int64_t)m->hp.n_embd ? c->plan.max_in : m->hp.n_embd;
        c->h_obs = malloc((size_t)c->n_batch_max * (size_t)w * sizeof(float));
    }
    if (!c->wd || !c->seq_len || !c->seq_next || (c->observe && !c->h_obs)) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "cuda backend: out of memory");
        goto fail;
    }
    if ((rc = arena_alloc(&c->d_weights, c->plan.weight_bytes, "weights", err)) ||
        (rc = arena_alloc(&c->d_kv, c->plan.kv_bytes, "KV cache", err)) ||
        (rc = arena_alloc(&c->d_ws, c->plan.workspace_bytes, "workspace", err)))
        goto fail;
    if ((e = cudaHostAlloc((void **)&c->h_in, 4 * (size_t)c->n_batch_max * sizeof(int32_t),
                           cudaHostAllocDefault)) != cudaSuccess) {
        c->h_in = NULL;
        rc = dfit_cuda_fail(err, (int)e, "allocating pinned input memory");
        goto fail;
    }
    c->kv = (struct dfit_cuda_kv){
        .k = c->d_kv,
        .v = c->d_kv + c->plan.kv_bytes / 2,
        .f32 = c->plan.kv == DFIT_CUDA_KV_F32,
        .n_layer = m->hp.n_layer,
        .n_ctx = c->n_ctx,
    };
    /* poison the cache and scratch with NaN (all bits set): a kernel that
     * reads what nothing wrote shows in the logits instead of hiding */
    if ((e = cudaMemsetAsync(c->d_kv, 0xff, c->plan.kv_bytes, c->stream)) != cudaSuccess ||
        (e = cudaMemsetAsync(c->d_ws, 0xff, c->plan.workspace_bytes, c->stream)) != cudaSuccess) {
        rc = dfit_cuda_fail(err, (int)e, "clearing device memory");
        goto fail;
    }
    if (c->plan.needs_gemm &&
        (rc = dfit_cuda_blas_create(c->stream, cuda_ws(c, DFIT_CUDA_WS_BLAS),
                                    c->plan.ws[DFIT_CUDA_WS_BLAS].bytes, &c->blas, err)))
        goto fail;
    uint64_t prepare_ns = 0;
    if ((rc = dfit_cuda_upload(c, &prepare_ns, err)))
        goto fail;

    if (r) {
        memset(r, 0, sizeof *r);
        r->prepare_ns = prepare_ns;
        r->weight_bytes = c->plan.pass_bytes;
        r->kv_bytes = c->plan.kv_bytes;
        r->workspace_bytes = c->plan.workspace_bytes;
        int major = 0, minor = 0;
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, c->device);
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, c->device);
        char opts[64];
        dfit_cuda_options_describe(&c->opt, opts, sizeof opts);
        snprintf(r->kernels, sizeof r->kernels, "cuda sm_%d%d %s", major, minor, opts);
    }
    *out = c;
    return 0;
fail:
    cuda_unload(c);
    return rc;
}

/* ---- state ------------------------------------------------------------------------ */

static int cuda_seq_reset(void *p, int32_t seq)
{
    struct cuda_ctx *c = p;
    if (seq >= 0 && (uint32_t)seq >= c->n_seq)
        return DFIT_EINVAL;
    if (seq < 0)
        memset(c->seq_len, 0, c->n_seq * sizeof *c->seq_len);
    else
        c->seq_len[seq] = 0;
    return 0;
}

static int cuda_memory(void *p, struct dfit_memory *out)
{
    const struct cuda_ctx *c = p;
    memset(out, 0, sizeof *out);
    out->weight_bytes = c->plan.weight_bytes;
    out->kv_bytes = c->plan.kv_bytes;
    out->workspace_bytes = c->plan.workspace_bytes;
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(c->device) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        (void)cudaGetLastError();
        return DFIT_EINTERNAL;
    }
    out->device_total_bytes = total_b;
    out->device_used_bytes = total_b - free_b;
    return 0;
}

static int cuda_sync(void *p)
{
    const struct cuda_ctx *c = p;
    if (cudaSetDevice(c->device) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess)
        return DFIT_EINTERNAL;
    return 0;
}

static int cuda_forward(void *p, const struct dfit_batch *b, float *logits, struct dfit_err *err)
{
    const struct cuda_ctx *c = p;
    cudaError_t e = cudaSetDevice(c->device);
    if (e != cudaSuccess)
        return dfit_cuda_fail(err, (int)e, "cudaSetDevice");
    return dfit_cuda_forward(p, b, logits, err);
}

const struct dfit_backend_ops dfit_backend_cuda = {
    .name = "cuda",
    .probe = cuda_probe,
    .load = cuda_load,
    .forward = cuda_forward,
    .seq_reset = cuda_seq_reset,
    .memory = cuda_memory,
    .sync = cuda_sync,
    .unload = cuda_unload,
};
