/* llama.h — a llama-architecture model: hyper-parameters and weights read
 * from GGUF metadata and tensors with llama.cpp's names.
 *
 * Keys: general.architecture = "llama", llama.embedding_length,
 * llama.block_count, llama.feed_forward_length, llama.attention.head_count,
 * llama.attention.head_count_kv (default = head_count),
 * llama.attention.layer_norm_rms_epsilon, llama.rope.freq_base (default
 * 10000), llama.attention.key_length (head_dim; default n_embd/n_head;
 * value_length and rope.dimension_count must equal it when present),
 * llama.context_length, vocabulary size from tokenizer.ggml.tokens (or
 * llama.vocab_size). Tensors: token_embd.weight, blk.N.attn_{norm,q,k,v,
 * output}.weight, blk.N.ffn_{norm,gate,up,down}.weight, output_norm.weight,
 * optional output.weight (tied to token_embd when absent).
 * Weights stay in the GGUF mapping; nothing is converted here.
 * Shapes use ggml's order: ne[0] is the row length (input features), so a
 * matrix mapping n_in -> n_out has ne = {n_in, n_out}.
 * Non-goals: other architectures, biases, RoPE scaling variants.
 */
#ifndef DFIT_MODEL_LLAMA_H
#define DFIT_MODEL_LLAMA_H

#include <stdbool.h>
#include <stdint.h>

#include "model/gguf.h"
#include "model/types.h"
#include "util/err.h"

struct dfit_llama_hparams {
    uint32_t n_embd;       /* model width (dim) */
    uint32_t n_layer;
    uint32_t n_ff;         /* FFN hidden width */
    uint32_t n_head;
    uint32_t n_head_kv;    /* grouped-query attention: n_head % n_head_kv == 0 */
    uint32_t head_dim;     /* llama.attention.key_length if present (as in
                              llama.cpp; head-pruned models have
                              n_head*head_dim < n_embd), else n_embd / n_head;
                              even, for RoPE pairs */
    uint32_t n_ctx_train;  /* llama.context_length */
    uint32_t n_vocab;
    float rms_eps;
    float rope_freq_base;
};

/* A weight matrix (or vector) in its own format, inside the mapping. */
struct dfit_weight {
    const char *name;       /* points into the GGUF (tensor name) */
    enum dfit_type type;
    int64_t n_in;           /* ne[0]: row length */
    int64_t n_out;          /* ne[1]: rows (1 for vectors) */
    size_t row_bytes;
    const void *data;       /* n_out rows of row_bytes */
};

struct dfit_llama_layer {
    struct dfit_weight attn_norm;  /* [n_embd] F32 */
    struct dfit_weight wq;         /* n_embd -> n_head*head_dim */
    struct dfit_weight wk;         /* n_embd -> n_head_kv*head_dim */
    struct dfit_weight wv;         /* n_embd -> n_head_kv*head_dim */
    struct dfit_weight wo;         /* n_head*head_dim -> n_embd */
    struct dfit_weight ffn_norm;   /* [n_embd] F32 */
    struct dfit_weight w_gate;     /* n_embd -> n_ff */
    struct dfit_weight w_up;       /* n_embd -> n_ff */
    struct dfit_weight w_down;     /* n_ff -> n_embd */
};

struct dfit_model {
    struct dfit_gguf *gguf;            /* owned */
    struct dfit_llama_hparams hp;
    struct dfit_weight tok_embd;       /* n_embd -> n_vocab rows (row per token) */
    struct dfit_weight output_norm;    /* [n_embd] F32 */
    struct dfit_weight output;         /* n_embd -> n_vocab; == tok_embd if tied */
    bool output_tied;
    struct dfit_llama_layer *layers;   /* [n_layer], owned */
    uint64_t n_params;                 /* all tensors' elements */
    uint64_t weight_bytes;             /* all tensors' bytes */
};

/* Reads hyper-parameters and binds weights of an opened GGUF. Takes
 * ownership of g on success (dfit_model_free closes it); on failure g is
 * left to the caller and *out is NULL. Errors name the key or tensor:
 * "m.gguf: key 'llama.block_count': missing", "m.gguf: tensor
 * 'blk.3.attn_q.weight': shape {288, 200}, expected {288, 288}". */
int dfit_model_from_gguf(struct dfit_gguf *g, struct dfit_model **out, struct dfit_err *err);
/* dfit_gguf_open + dfit_model_from_gguf. */
int dfit_model_open(const char *path, struct dfit_model **out, struct dfit_err *err);
void dfit_model_free(struct dfit_model *m); /* accepts NULL */

/* Reads only the hyper-parameters (used by the above; exposed for tools). */
int dfit_llama_hparams_read(const struct dfit_gguf *g, struct dfit_llama_hparams *hp, struct dfit_err *err);

#endif
