/* cuda_roofline.h — the two ceilings of a CUDA device, measured, and decode
 * speed as a fraction of the bandwidth one: `dfit bench --roofline` on the
 * cuda backend calls these. Compiles without CUDA headers (only built when
 * HAVE_CUDA: callers guard the include with `#if HAVE_CUDA`).
 *   copy: cudaMemcpy device-to-device of copy_bytes, timed with CUDA
 *         events; bandwidth counts bytes read plus bytes written;
 *   gemm: a square cuBLAS GEMM of n x n x n, BF16 inputs and output, F32
 *         accumulation (tensor cores), on uniform random data (not zeros);
 *         FLOP/s = 2 n^3 / time.
 * Each is the median of `reps` timed runs after two warm-ups.
 * Non-goals: other precisions' peaks, L2 bandwidth, power.
 */
#ifndef DFIT_BACKENDS_CUDA_ROOFLINE_H
#define DFIT_BACKENDS_CUDA_ROOFLINE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

struct dfit_cuda_roofline_params {
    int device;            /* CUDA device index */
    uint64_t copy_bytes;   /* bytes per copy; 0: 1 GiB (capped at a quarter of free memory) */
    int gemm_n;            /* square GEMM size; 0: 8192 */
    int reps;              /* timed runs; 0: 10 */
};

struct dfit_cuda_roofline {
    char device[128];           /* "NVIDIA H100 80GB HBM3 (sm_90)" */
    uint64_t copy_bytes;        /* as measured */
    double copy_ms;             /* median time of one copy */
    double copy_bytes_per_s;    /* 2 * copy_bytes / copy_ms: read + written */
    int gemm_n;
    bool gemm_ok;               /* false: gemm_why says why (e.g. no cuBLAS) */
    char gemm_why[256];
    double gemm_ms;             /* median time of one GEMM */
    double gemm_flops_per_s;    /* 2 n^3 / gemm_ms */
};

/* Measures both ceilings on p->device. Fails with DFIT_ENOTFOUND when there
 * is no CUDA device (reason as the backend's probe), DFIT_ENOMEM when the
 * copy buffers do not fit, DFIT_EINTERNAL naming the CUDA call otherwise. A
 * GEMM that cannot run (cuBLAS missing, memory) is not a failure: gemm_ok
 * is false and gemm_why holds the reason. */
int dfit_cuda_roofline_measure(const struct dfit_cuda_roofline_params *p,
                               struct dfit_cuda_roofline *out, struct dfit_err *err);

/* Decode speed as a fraction of the bandwidth roofline. A decode step of
 * `batch` tokens reads weight_bytes (the load report's weight_bytes: every
 * matrix once per step) plus kv_bytes_read (the cache rows attended); at
 * bytes_per_s the fastest possible step takes (weight_bytes +
 * kv_bytes_read) / bytes_per_s, so
 *   fraction = (tokens_per_s / batch) * (weight_bytes + kv_bytes_read) / bytes_per_s.
 * Returns 0 for a non-positive bandwidth or batch. */
double dfit_cuda_roofline_decode_fraction(double bytes_per_s, uint64_t weight_bytes,
                                          uint64_t kv_bytes_read, uint32_t batch,
                                          double tokens_per_s);

/* KV-cache bytes one decode step reads: every layer's K and V rows of each
 * of `batch` sequences holding n_past positions (kv_elem_bytes: 2 for the
 * backend's default f16 cache, 4 with kernels "kv-f32"). */
uint64_t dfit_cuda_roofline_kv_bytes(uint32_t n_layer, uint32_t n_head_kv, uint32_t head_dim,
                                     uint32_t n_past, uint32_t batch, uint32_t kv_elem_bytes);

#endif
