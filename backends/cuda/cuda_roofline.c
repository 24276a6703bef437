/* cuda_roofline.c — device-to-device copy bandwidth and cuBLAS BF16 GEMM
 * rate of a CUDA device (see cuda_roofline.h), timed with CUDA events.
 * Non-goals: tuning the GEMM shape for the very peak.
 */
#include "cuda/cuda_roofline.h"

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_blas.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_plan.h"

#define WARMUPS 2

static int fail(struct dfit_err *err, cudaError_t e, const char *what)
{
    (void)cudaGetLastError();
    return dfit_err_set(err, e == cudaErrorMemoryAllocation ? DFIT_ENOMEM : DFIT_EINTERNAL,
                        "roofline: %s: %s", what, cudaGetErrorString(e));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One op to time: a copy or a GEMM. */
struct op {
    void *dst;
    const void *src;
    size_t bytes;
    struct dfit_cuda_blas *blas;
    struct dfit_cuda_gemm g;
    const void *a, *b;
    void *c;
};

static int run_op(const struct op *o, cudaStream_t st, struct dfit_err *err)
{
    if (!o->blas) {
        cudaError_t e = cudaMemcpyAsync(o->dst, o->src, o->bytes, cudaMemcpyDeviceToDevice, st);
        return e == cudaSuccess ? 0 : fail(err, e, "cudaMemcpyAsync");
    }
    return dfit_cuda_blas_gemm(o->blas, DFIT_CUK_BF16, DFIT_CUK_BF16, &o->g, o->a, o->b, o->c, err);
}

/* Median milliseconds of reps runs of o after WARMUPS. */
static int time_op(const struct op *o, cudaStream_t st, int reps, double *ms, struct dfit_err *err)
{
    cudaEvent_t t0 = NULL, t1 = NULL;
    double *v = calloc((size_t)reps, sizeof *v);
    int rc = 0;
    cudaError_t e;
    if (!v)
        return dfit_err_set(err, DFIT_ENOMEM, "roofline: out of memory");
    if ((e = cudaEventCreate(&t0)) != cudaSuccess || (e = cudaEventCreate(&t1)) != cudaSuccess) {
        rc = fail(err, e, "cudaEventCreate");
        goto out;
    }
    for (int i = 0; i < WARMUPS + reps; i++) {
        float f = 0.0f;
        if ((e = cudaEventRecord(t0, st)) != cudaSuccess) {
            rc = fail(err, e, "cudaEventRecord");
            goto out;
        }
        if ((rc = run_op(o, st, err)))
            goto out;
        if ((e = cudaEventRecord(t1, st)) != cudaSuccess ||
            (e = cudaEventSynchronize(t1)) != cudaSuccess ||
            (e = cudaEventElapsedTime(&f, t0, t1)) != cudaSuccess) {
            rc = fail(err, e, "timing with events");
            goto out;
        }
        if (i >= WARMUPS)
            v[i - WARMUPS] = f;
    }
    *ms = median(v, reps);
out:
    if (t0)
        cudaEventDestroy(t0);
    if (t1)
        cudaEventDestroy(t1);
    free(v);
    return rc;
}

/* The BF16 GEMM part; failures land in out->gemm_why. */
static void measure_gemm(const struct dfit_cuda_roofline_params *p, cudaStream_t st, int reps,
                         struct dfit_cuda_roofline *out)
{
    const int n = p->gemm_n > 0 ? p->gemm_n : 8192;
    struct dfit_err err = {0};
    void *a = NULL, *b = NULL, *c = NULL;
    struct dfit_cuda_blas *blas = NULL;
    const size_t bytes = (size_t)n * (size_t)n * 2;
    cudaError_t e;
    out->gemm_n = n;
    if ((e = cudaMalloc(&a, bytes)) != cudaSuccess || (e = cudaMalloc(&b, bytes)) != cudaSuccess ||
        (e = cudaMalloc(&c, bytes)) != cudaSuccess) {
        fail(&err, e, "cudaMalloc of the GEMM operands");
        goto out;
    }
    int rc = dfit_cuk_fill_uniform(a, 1, (int64_t)n * n, 1, st);
    if (rc == 0)
        rc = dfit_cuk_fill_uniform(b, 1, (int64_t)n * n, 2, st);
    if (rc != 0) {
        fail(&err, (cudaError_t)rc, "filling the GEMM operands");
        goto out;
    }
    struct op o = {.a = a, .b = b, .c = c};
    if (dfit_cuda_blas_create(st, NULL, 0, &blas, &err) ||
        dfit_cuda_gemm_args(n, n, n, n, n, &o.g, &err))
        goto out;
    o.blas = blas;
    if (time_op(&o, st, reps, &out->gemm_ms, &err))
        goto out;
    out->gemm_ok = true;
    out->gemm_flops_per_s = 2.0 * (double)n * n * n / (out->gemm_ms * 1e-3);
out:
    if (!out->gemm_ok)
        snprintf(out->gemm_why, sizeof out->gemm_why, "%.250s", err.msg[0] ? err.msg : "unknown");
    cudaStreamSynchronize(st);
    dfit_cuda_blas_free(blas);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
}

int dfit_cuda_roofline_measure(const struct dfit_cuda_roofline_params *p,
                               struct dfit_cuda_roofline *out, struct dfit_err *err)
{
    memset(out, 0, sizeof *out);
    int n_dev = 0, rc = 0;
    cudaError_t e = cudaGetDeviceCount(&n_dev);
    if (e != cudaSuccess || n_dev <= 0) {
        (void)cudaGetLastError();
        return dfit_err_set(err, DFIT_ENOTFOUND, "no CUDA device (cudaGetDeviceCount: %s)",
                            e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    }
    if (p->device < 0 || p->device >= n_dev)
        return dfit_err_set(err, DFIT_ENOTFOUND, "roofline: device %d not found (%d devices)",
                            p->device, n_dev);
    if ((e = cudaSetDevice(p->device)) != cudaSuccess)
        return fail(err, e, "cudaSetDevice");
    struct cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, p->device)) != cudaSuccess)
        return fail(err, e, "cudaGetDeviceProperties");
    prop.name[sizeof prop.name - 1] = '\0';
    snprintf(out->device, sizeof out->device, "%.100s (sm_%d%d)", prop.name, prop.major, prop.minor);
    const int reps = p->reps > 0 ? p->reps : 10;

    size_t free_b = 0, total_b = 0;
    if ((e = cudaMemGetInfo(&free_b, &total_b)) != cudaSuccess)
        return fail(err, e, "cudaMemGetInfo");
    uint64_t bytes = p->copy_bytes ? p->copy_bytes : (uint64_t)1 << 30;
    if (!p->copy_bytes && bytes > free_b / 4)
        bytes = free_b / 4 / 256 * 256;
    out->copy_bytes = bytes;

    cudaStream_t st = NULL;
    void *src = NULL, *dst = NULL;
    if ((e = cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking)) != cudaSuccess) {
        st = NULL;
        rc = fail(err, e, "cudaStreamCreate");
        goto out;
    }
    if ((e = cudaMalloc(&src, bytes)) != cudaSuccess || (e = cudaMalloc(&dst, bytes)) != cudaSuccess) {
        rc = fail(err, e, "cudaMalloc of the copy buffers");
        goto out;
    }
    if ((rc = dfit_cuk_fill_uniform(src, 0, (int64_t)(bytes / 4), 3, st)) != 0) {
        rc = fail(err, (cudaError_t)rc, "filling the copy buffer");
        goto out;
    }
    struct op o = {.dst = dst, .src = src, .bytes = bytes};
    if ((rc = time_op(&o, st, reps, &out->copy_ms, err)))
        goto out;
    out->copy_bytes_per_s = 2.0 * (double)bytes / (out->copy_ms * 1e-3);
    cudaFree(src);
    cudaFree(dst);
    src = dst = NULL;
    measure_gemm(p, st, reps, out);
out:
    if (st)
        cudaStreamSynchronize(st);
    cudaFree(src);
    cudaFree(dst);
    if (st)
        cudaStreamDestroy(st);
    return rc;
}

double dfit_cuda_roofline_decode_fraction(double bytes_per_s, uint64_t weight_bytes,
                                          uint64_t kv_bytes_read, uint32_t batch,
                                          double tokens_per_s)
{
    if (bytes_per_s <= 0.0 || batch == 0)
        return 0.0;
    const double step_bytes = (double)weight_bytes + (double)kv_bytes_read;
    return tokens_per_s / batch * step_bytes / bytes_per_s;
}

uint64_t dfit_cuda_roofline_kv_bytes(uint32_t n_layer, uint32_t n_head_kv, uint32_t head_dim,
                                     uint32_t n_past, uint32_t batch, uint32_t kv_elem_bytes)
{
    return 2ull * n_layer * n_head_kv * head_dim * (uint64_t)n_past * batch * kv_elem_bytes;
}
