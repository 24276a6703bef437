/* cuda_blas.c — cuBLAS through dlopen (see cuda_blas.h): the library is
 * loaded once per process and never unloaded (unloading cuBLAS while the
 * CUDA runtime may still call into it is not safe); each backend context
 * owns one handle.
 * Non-goals: other cuBLAS entry points than the few dfit uses.
 */
#include "cuda/cuda_blas.h"

#include <cublas_api.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_kernels.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define CUBLAS_SONAME "libcublas.so." STR(CUBLAS_VER_MAJOR)

#ifndef DFIT_CUDA_LIBDIR
#define DFIT_CUDA_LIBDIR "/usr/local/cuda/lib64"
#endif

struct blas_fns {
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    cublasStatus_t (*set_workspace)(cublasHandle_t, void *, size_t);
    cublasStatus_t (*set_math_mode)(cublasHandle_t, cublasMath_t);
    cublasStatus_t (*get_version)(cublasHandle_t, int *);
    const char *(*status_string)(cublasStatus_t);
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                              const void *, const void *, cudaDataType, int, const void *,
                              cudaDataType, int, const void *, void *, cudaDataType, int,
                              cublasComputeType_t, cublasGemmAlgo_t);
};

static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static struct blas_fns lib_fns;
static const char *lib_name; /* non-NULL once loaded */

struct dfit_cuda_blas {
    cublasHandle_t h;
    int version;
};

static int resolve(void *dl, const char *name, struct blas_fns *f, struct dfit_err *err)
{
    static const struct {
        const char *sym;
        size_t off;
    } syms[] = {
        {"cublasCreate_v2", offsetof(struct blas_fns, create)},
        {"cublasDestroy_v2", offsetof(struct blas_fns, destroy)},
        {"cublasSetStream_v2", offsetof(struct blas_fns, set_stream)},
        {"cublasSetWorkspace_v2", offsetof(struct blas_fns, set_workspace)},
        {"cublasSetMathMode", offsetof(struct blas_fns, set_math_mode)},
        {"cublasGetVersion_v2", offsetof(struct blas_fns, get_version)},
        {"cublasGetStatusString", offsetof(struct blas_fns, status_string)},
        {"cublasGemmEx", offsetof(struct blas_fns, gemm_ex)},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *p = dlsym(dl, syms[i].sym);
        if (!p)
            return dfit_err_set(err, DFIT_ENOTFOUND, "cuBLAS not available: %s: symbol %s missing",
                                name, syms[i].sym);
        /* POSIX guarantees data and function pointers convert */
        memcpy((char *)f + syms[i].off, &p, sizeof p);
    }
    return 0;
}

int dfit_cuda_blas_load(const char *const *names, const char **lib_out, struct dfit_err *err)
{
    static const char *const defaults[] = {CUBLAS_SONAME, DFIT_CUDA_LIBDIR "/" CUBLAS_SONAME, NULL};
    if (lib_out)
        *lib_out = NULL;
    pthread_mutex_lock(&lib_lock);
    int rc = 0;
    if (lib_name)
        goto done;
    char why[768] = "";
    size_t used = 0;
    rc = DFIT_ENOTFOUND;
    for (const char *const *n = names ? names : defaults; *n; n++) {
        void *dl = dlopen(*n, RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
            const char *e = dlerror();
            int w = snprintf(why + used, sizeof why - used, "%s%s", used ? "; " : "",
                             e ? e : *n);
            if (w > 0)
                used = (size_t)w + used < sizeof why ? used + (size_t)w : sizeof why - 1;
            continue;
        }
        struct blas_fns f;
        if ((rc = resolve(dl, *n, &f, err)) != 0) {
            dlclose(dl);
            goto out;
        }
        lib_fns = f;
        lib_name = *n;
        rc = 0;
        goto done;
    }
    dfit_err_set(err, DFIT_ENOTFOUND, "cuBLAS not available: %s", why);
    goto out;
done:
    if (lib_out)
        *lib_out = lib_name;
out:
    pthread_mutex_unlock(&lib_lock);
    return rc;
}

static const char *status_str(cublasStatus_t s)
{
    const char *m = lib_fns.status_string ? lib_fns.status_string(s) : NULL;
    return m ? m : "unknown cuBLAS status";
}

int dfit_cuda_blas_create(void *stream, void *workspace, size_t workspace_bytes,
                          struct dfit_cuda_blas **out, struct dfit_err *err)
{
    *out = NULL;
    int rc = dfit_cuda_blas_load(NULL, NULL, err);
    if (rc)
        return rc;
    struct dfit_cuda_blas *b = calloc(1, sizeof *b);
    if (!b)
        return dfit_err_set(err, DFIT_ENOMEM, "cuBLAS: out of memory");
    cublasStatus_t s = lib_fns.create(&b->h);
    if (s != CUBLAS_STATUS_SUCCESS) {
        free(b);
        return dfit_err_set(err, DFIT_EINTERNAL, "cublasCreate: %s", status_str(s));
    }
    const char *what = "cublasSetStream";
    s = lib_fns.set_stream(b->h, (cudaStream_t)stream);
    if (s == CUBLAS_STATUS_SUCCESS && workspace) {
        what = "cublasSetWorkspace";
        s = lib_fns.set_workspace(b->h, workspace, workspace_bytes);
    }
    if (s == CUBLAS_STATUS_SUCCESS) {
        what = "cublasSetMathMode";
        s = lib_fns.set_math_mode(b->h, CUBLAS_DEFAULT_MATH);
    }
    if (s != CUBLAS_STATUS_SUCCESS) {
        lib_fns.destroy(b->h);
        free(b);
        return dfit_err_set(err, DFIT_EINTERNAL, "%s: %s", what, status_str(s));
    }
    if (lib_fns.get_version(b->h, &b->version) != CUBLAS_STATUS_SUCCESS)
        b->version = 0;
    *out = b;
    return 0;
}

void dfit_cuda_blas_free(struct dfit_cuda_blas *b)
{
    if (!b)
        return;
    lib_fns.destroy(b->h);
    free(b);
}

int dfit_cuda_blas_version(const struct dfit_cuda_blas *b)
{
    return b ? b->version : 0;
}

static bool data_type(int t, cudaDataType *out)
{
    switch (t) {
    case DFIT_CUK_F32: *out = CUDA_R_32F; return true;
    case DFIT_CUK_F16: *out = CUDA_R_16F; return true;
    case DFIT_CUK_BF16: *out = CUDA_R_16BF; return true;
    default: return false;
    }
}

int dfit_cuda_blas_gemm(struct dfit_cuda_blas *b, int ab_type, int c_type,
                        const struct dfit_cuda_gemm *g, const void *A, const void *B, void *C,
                        struct dfit_err *err)
{
    cudaDataType ab, ct;
    if (!data_type(ab_type, &ab) || !data_type(c_type, &ct) ||
        (c_type != DFIT_CUK_F32 && c_type != DFIT_CUK_BF16))
        return dfit_err_set(err, DFIT_EINVAL, "cuBLAS GEMM: types %d x %d -> %d not supported",
                            ab_type, ab_type, c_type);
    const float alpha = 1.0f, beta = 0.0f;
    cublasStatus_t s = lib_fns.gemm_ex(b->h, CUBLAS_OP_T, CUBLAS_OP_N, g->m, g->n, g->k, &alpha, A,
                                       ab, g->lda, B, ab, g->ldb, &beta, C, ct, g->ldc,
                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
        return dfit_err_set(err, DFIT_EINTERNAL,
                            "cublasGemmEx (m %d, n %d, k %d, types %d -> %d): %s", g->m, g->n, g->k,
                            ab_type, c_type, status_str(s));
    return 0;
}
