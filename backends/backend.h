/* backend.h — the one interface every compute backend implements.
 *
 * A backend is the system under test: it loads a model on a device and runs
 * forward passes over batches of tokens from several sequences, keeping a KV
 * cache per sequence. The harness owns the clock, the workload and every
 * measurement; a backend only reports what only it knows (time spent
 * preparing weights, bytes it holds, kernels it chose).
 * Backends are listed in a static table (registry.c) and found by name.
 * Non-goal: sampling — backends return logits; the harness picks tokens.
 */
#ifndef DFIT_BACKENDS_BACKEND_H
#define DFIT_BACKENDS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "model/llama.h"
#include "util/err.h"

struct dfit_backend_params {
    int n_threads;          /* worker threads (CPU); <= 0 means 1 */
    uint32_t n_ctx;         /* KV capacity per sequence, in tokens */
    uint32_t n_seq;         /* sequences held at once (ids 0..n_seq-1) */
    uint32_t n_batch_max;   /* most tokens one forward call may carry */
    const char *kernels;    /* backend-specific kernel choice; NULL = best */
    const char *device;     /* backend-specific device; NULL = default */
    /* Optional activation observer (calibration), NULL when unused. When
     * set, the forward pass calls it on the calling thread, in layer order,
     * once per distinct matmul input, with the batch's rows x [n_tok][n_in]
     * (valid only during the call) and `weight` naming the consumer:
     *   "attn_norm"    residual stream entering block `layer` (n_embd)
     *   "attn_q"       attn-norm output, input of attn_q, attn_k, attn_v
     *   "attn_output"  attention output, input of attn_output (n_head*head_dim)
     *   "ffn_gate"     ffn-norm output, input of ffn_gate and ffn_up
     *   "ffn_down"     SwiGLU product, input of ffn_down (n_ff)
     *   "output_norm"  final residual stream (layer == n_layer)
     * Every backend that implements it calls it at these points, whatever
     * its kernels. */
    void (*observe)(void *user, uint32_t layer, const char *weight, const float *x,
                    uint32_t n_tok, int64_t n_in);
    void *observe_user;
};

struct dfit_load_report {
    uint64_t prepare_ns;        /* repacking/converting/uploading weights */
    uint64_t weight_bytes;      /* weight bytes the backend reads per full pass */
    uint64_t kv_bytes;          /* KV cache allocated (all sequences) */
    uint64_t workspace_bytes;   /* activations and scratch */
    char kernels[128];          /* what was chosen, e.g. "ref" or "avx512-vnni" */
};

/* One forward call: tokens of any sequences, any positions. Tokens of the
 * same sequence must come in increasing position order, each position
 * either the next one after the cache's or within this batch. */
struct dfit_batch {
    uint32_t n_tokens;
    const int32_t *token;   /* [n_tokens] vocabulary ids */
    const int32_t *pos;     /* [n_tokens] position within its sequence */
    const int32_t *seq;     /* [n_tokens] sequence id, < n_seq */
    const int8_t *want;     /* [n_tokens] nonzero: return logits; NULL = all */
};

struct dfit_memory {
    uint64_t weight_bytes;
    uint64_t kv_bytes;
    uint64_t workspace_bytes;
    uint64_t device_total_bytes;  /* 0 for host-memory backends */
    uint64_t device_used_bytes;
};

#define DFIT_MAX_DEVICES 8
struct dfit_device_info {
    char name[128];             /* "AMD EPYC ... (avx512-vnni)", "NVIDIA H100" */
    uint64_t memory_bytes;
};
struct dfit_device_list {
    int n;
    struct dfit_device_info dev[DFIT_MAX_DEVICES];
};

struct dfit_backend_ops {
    const char *name;  /* "cpu", "cuda" */
    /* Lists usable devices. Returns 0 (n >= 1), or DFIT_ENOTFOUND with the
     * reason in err when the backend cannot run here. */
    int (*probe)(struct dfit_device_list *out, struct dfit_err *err);
    /* Prepares m (which must outlive ctx) for params. On failure *ctx is
     * NULL and nothing leaks. */
    int (*load)(const struct dfit_model *m, const struct dfit_backend_params *p, void **ctx,
                struct dfit_load_report *r, struct dfit_err *err);
    /* Runs the batch, appending its K/V to each sequence's cache, and writes
     * logits [n_wanted][n_vocab] in batch order for the wanted tokens.
     * Bad token ids, positions, sequences or sizes are DFIT_EINVAL. */
    int (*forward)(void *ctx, const struct dfit_batch *b, float *logits, struct dfit_err *err);
    /* Empties one sequence's cache (seq < 0: all). */
    int (*seq_reset)(void *ctx, int32_t seq);
    int (*memory)(void *ctx, struct dfit_memory *out);
    /* Waits until queued device work is done; NULL for synchronous backends. */
    int (*sync)(void *ctx);
    void (*unload)(void *ctx); /* accepts NULL */
};

/* The registry: backends compiled into this build. */
size_t dfit_backend_count(void);
const struct dfit_backend_ops *dfit_backend_at(size_t i);
/* NULL if no backend of that name is compiled in. */
const struct dfit_backend_ops *dfit_backend_find(const char *name);

#endif
