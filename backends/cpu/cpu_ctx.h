/* cpu_ctx.h — the CPU backend's loaded state, shared by its reference
 * forward pass (cpu_backend.c) and its fast one (cpu_fast.c). Private to
 * the backend: nothing outside backends/cpu includes it.
 * Non-goal: an interface; the backend is reached through backend.h.
 */
#ifndef DFIT_BACKENDS_CPU_CTX_H
#define DFIT_BACKENDS_CPU_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "cpu/resident.h"
#include "cpu/sparse.h"
#include "util/threadpool.h"

struct cpu_ctx {
    const struct dfit_model *m; /* the loaded model, or its resident copy */
    uint32_t n_ctx, n_seq, n_batch_max;
    int64_t q_dim;  /* n_head * head_dim */
    int64_t kv_dim; /* n_head_kv * head_dim */
    struct dfit_threadpool *tp;

    /* KV cache, per sequence and layer: [n_seq][n_layer][n_ctx][kv_dim];
     * the fast path keeps each K slice transposed, [n_head_kv][head_dim][n_ctx],
     * and each V slice by head, [n_head_kv][n_ctx][head_dim] */
    float *k_cache;
    float *v_cache;
    uint32_t *seq_len;  /* [n_seq] positions held in the cache */
    uint32_t *seq_next; /* [n_seq] scratch for batch validation */

    /* run state for up to n_batch_max tokens */
    float *x;             /* [n_batch][n_embd] residual stream */
    float *xb;            /* [n_batch][n_embd] normed input of a block */
    float *xo;            /* [n_batch][n_embd] block output */
    float *q;             /* [n_batch][q_dim] */
    float *k;             /* [n_batch][kv_dim] */
    float *v;             /* [n_batch][kv_dim] */
    float *att_out;       /* [n_batch][q_dim] */
    float *hb;            /* [n_batch][n_ff] gate, then swiglu */
    float *hb2;           /* [n_batch][n_ff] up */
    void *act_q8;         /* [n_batch][max_in/32] block_q8_0 */
    float *att;           /* [n_threads][n_ctx] attention scores */
    const float **k_rows; /* [n_batch] -> token's (seq, layer) K slice */
    const float **v_rows; /* [n_batch] */
    int64_t *n_kv;        /* [n_batch] positions each token attends */

    /* fast path (kern_on): the kernel set, its matmul driver and scratch */
    bool kern_on;
    struct dfit_kern kern;
    struct dfit_mm *mm;
    float *rope_cs;     /* [n_batch][head_dim/2][2] cos, sin */
    int32_t *out_idx;   /* [n_batch] batch index of each wanted token */
    int32_t *tiles;     /* [n_batch + 1] attention query tiles */
    float *att_fast;    /* [n_threads][DFIT_ATTN_QT][att_stride] */
    int64_t att_stride; /* n_ctx rounded up to 16 */
    struct dfit_sparse *sparse; /* repacks of pruned matrices (sparse.h); NULL: none */
    struct dfit_resident *resident; /* m's matrices on huge pages (resident.h); NULL: none */

    uint64_t weight_bytes, kv_bytes, workspace_bytes;

    /* activation observer (backend.h), NULL when unused */
    void (*observe)(void *user, uint32_t layer, const char *weight, const float *x, uint32_t n_tok,
                    int64_t n_in);
    void *observe_user;
};

/* Start of sequence s's layer il slice of a cache: [n_ctx][kv_dim]. */
static inline float *cache_slice(const struct cpu_ctx *c, float *cache, int32_t s, uint32_t il)
{
    size_t idx = ((size_t)s * c->m->hp.n_layer + il) * c->n_ctx;
    return cache + idx * (size_t)c->kv_dim;
}

/* Hands one matmul input to the activation observer, if any. */
static inline void observe(const struct cpu_ctx *c, uint32_t il, const char *weight,
                           const float *x /* [n][n_in] */, int64_t n, int64_t n_in)
{
    if (c->observe)
        c->observe(c->observe_user, il, weight, x, (uint32_t)n, n_in);
}

/* The fast forward pass of batch b (already checked) through c->kern;
 * writes the wanted tokens' logits and appends K/V to the caches. */
void dfit_cpu_forward_fast(struct cpu_ctx *c, const struct dfit_batch *b, float *logits);

#endif
