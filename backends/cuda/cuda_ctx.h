/* cuda_ctx.h — the CUDA backend's loaded state, shared by its host files
 * (cuda_backend.c: load, unload, memory, probe; cuda_upload.c: weights to
 * the device; cuda_forward.c: the forward pass). Internal to backends/cuda.
 * Non-goals: anything a caller outside the backend needs (backend.h).
 */
#ifndef DFIT_BACKENDS_CUDA_CTX_H
#define DFIT_BACKENDS_CUDA_CTX_H

#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "cuda/cuda_batch.h"
#include "cuda/cuda_blas.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_plan.h"

struct cuda_ctx {
    const struct dfit_model *m;
    uint32_t n_ctx, n_seq, n_batch_max;
    struct dfit_cuda_options opt;
    struct dfit_cuda_plan plan;

    int device;
    cudaStream_t stream;
    uint8_t *d_weights;              /* the weight arena [plan.weight_bytes] */
    uint8_t *d_kv;                   /* K then V cache [plan.kv_bytes] */
    uint8_t *d_ws;                   /* the workspace arena [plan.workspace_bytes] */
    struct dfit_cuda_wdev *wd;       /* [plan.n_slots] device views of the weights */
    struct dfit_cuda_kv kv;
    struct dfit_cuda_blas *blas;     /* NULL unless plan.needs_gemm */

    int32_t *h_in;                   /* pinned [4*n_batch_max] input block staging */
    uint32_t *seq_len;               /* [n_seq] positions held in the caches */
    uint32_t *seq_next;              /* [n_seq] scratch for batch validation */

    struct dfit_cuda_graph_cache graphs;
    bool graphs_broken;              /* capture failed once: run eagerly from then on */
    char graph_note[160];            /* why, for the report */

    /* activation observer (backend.h), NULL when unused */
    void (*observe)(void *user, uint32_t layer, const char *weight, const float *x,
                    uint32_t n_tok, int64_t n_in);
    void *observe_user;
    float *h_obs;                    /* [n_batch_max][max(max_in, n_embd)] host copy */
};

/* Device pointer of workspace buffer i. */
static inline void *cuda_ws(const struct cuda_ctx *c, enum dfit_cuda_ws i)
{
    return c->d_ws + c->plan.ws[i].off;
}

/* Sets err to "cuda backend: WHAT: <CUDA's message>" for a failed call and
 * returns code (DFIT_ENOMEM for cudaErrorMemoryAllocation, else
 * DFIT_EINTERNAL). */
int dfit_cuda_fail(struct dfit_err *err, int cuda_rc, const char *what);

/* Copies every weight into the device arena in its device layout (repacking
 * Q8_0/Q4_0 on the way through pinned staging buffers) and waits for the
 * copies; fills c->wd. *ns receives the time it took. */
int dfit_cuda_upload(struct cuda_ctx *c, uint64_t *ns, struct dfit_err *err);

/* The backend's forward call (backend.h). */
int dfit_cuda_forward(void *ctx, const struct dfit_batch *b, float *logits, struct dfit_err *err);

#endif
