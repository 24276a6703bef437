/* cuda_blas.h — cuBLAS opened at run time (dlopen), for the CUDA backend's
 * large-batch matrix products and the roofline's GEMM.
 *
 * Why dlopen: this CUDA toolkit ships cuBLAS only as shared libraries
 * (libcublas.so.N, libcublasLt.so.N, no static archives), and linking them
 * would stop dfit from starting at all on a machine without them. Opened on
 * first use instead, a missing cuBLAS becomes a load error with its reason,
 * and everything else still runs. libcublas carries its own CUDA runtime,
 * so it works beside dfit's static one (device pointers and streams are
 * the driver's and are shared).
 * Non-goals: cuBLASLt's own API, batched or strided-batched products.
 */
#ifndef DFIT_BACKENDS_CUDA_BLAS_H
#define DFIT_BACKENDS_CUDA_BLAS_H

#include <stddef.h>

#include "cuda/cuda_plan.h"
#include "util/err.h"

/* Loads the cuBLAS library and resolves the functions dfit uses, once per
 * process (later calls return the first success at once). names: NULL for
 * the default candidates ("libcublas.so.<major>" on the loader's path, then
 * in the toolkit's library directory found at configure time), or a
 * NULL-terminated list to try instead (tests). Fails with DFIT_ENOTFOUND
 * and the loader's reason for each candidate ("cuBLAS not available:
 * libcublas.so.13: cannot open shared object file ...") or naming the
 * missing symbol. Does not touch the device. *lib_out (may be NULL)
 * receives the library's file name. */
int dfit_cuda_blas_load(const char *const *names, const char **lib_out, struct dfit_err *err);

struct dfit_cuda_blas;

/* Loads cuBLAS (as above) and creates a handle bound to stream (a
 * cudaStream_t) with the given device workspace, so that its products can
 * be captured in CUDA graphs. Fails with the loader's codes or
 * DFIT_EINTERNAL naming the cuBLAS status; *out is NULL then. */
int dfit_cuda_blas_create(void *stream, void *workspace, size_t workspace_bytes,
                          struct dfit_cuda_blas **out, struct dfit_err *err);
void dfit_cuda_blas_free(struct dfit_cuda_blas *b); /* accepts NULL */

/* C = op(A) * B as g describes (dfit_cuda_gemm_args), A and B of type
 * ab_type (DFIT_CUK_F32, _F16 or _BF16), C of c_type (DFIT_CUK_F32 or
 * _BF16), accumulated in f32: plain SGEMM for f32 (no TF32), tensor cores
 * for f16/bf16. Enqueued on the handle's stream. DFIT_EINVAL for other
 * types, DFIT_EINTERNAL with the cuBLAS status otherwise. */
int dfit_cuda_blas_gemm(struct dfit_cuda_blas *b, int ab_type, int c_type,
                        const struct dfit_cuda_gemm *g, const void *A, const void *B, void *C,
                        struct dfit_err *err);

/* cuBLAS's version as an integer (major*10000 + minor*100 + patch), or 0. */
int dfit_cuda_blas_version(const struct dfit_cuda_blas *b);

#endif
