/* train_model.h — a llama model held for training: every parameter in F32,
 * with its gradient and AdamW's two moments, in four parallel buffers of
 * the same layout (as llm.c's ParameterTensors). Seeded initialization,
 * export to a llama GGUF that dfit's loader and llama.cpp read (the keys,
 * tensor names, shapes and byte-level vocabulary that `dfit synth` writes,
 * plus dfit.train.* recipe metadata), and import of any llama GGUF dfit
 * reads (weights of every supported type converted to F32), so pruned or
 * quantized models can be trained further.
 * The shape is dfit's struct dfit_synth_shape (and its presets and checks).
 * Non-goals: mixed precision, sharding, biases, other architectures.
 */
#ifndef DFIT_COMPRESS_TRAIN_MODEL_H
#define DFIT_COMPRESS_TRAIN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compress/synth.h"
#include "model/types.h"
#include "util/err.h"

struct dfit_gguf_writer;

/* Views of one layer's tensors inside a parameter-layout buffer. */
struct dfit_train_layer {
    float *attn_norm;   /* [n_embd] */
    float *wq;          /* [n_head*head_dim][n_embd] */
    float *wk;          /* [n_head_kv*head_dim][n_embd] */
    float *wv;          /* [n_head_kv*head_dim][n_embd] */
    float *wo;          /* [n_embd][n_head*head_dim] */
    float *ffn_norm;    /* [n_embd] */
    float *w_gate;      /* [n_ff][n_embd] */
    float *w_up;        /* [n_ff][n_embd] */
    float *w_down;      /* [n_embd][n_ff] */
};

/* Views of all tensors of one buffer (parameters, or their gradients). */
struct dfit_train_tensors {
    float *tok_embd;                  /* [n_vocab][n_embd] */
    struct dfit_train_layer *layers;  /* [n_layer], owned by the model */
    float *output_norm;               /* [n_embd] */
    float *output;                    /* [n_vocab][n_embd]; == tok_embd when tied */
};

/* One tensor of the layout, in GGUF file order. */
struct dfit_train_tensor {
    char name[64];      /* llama.cpp name: "blk.3.attn_q.weight" */
    size_t offset;      /* first float within a buffer */
    int64_t n_in;       /* ne[0], row length */
    int64_t n_out;      /* ne[1]: rows; 1 for a vector */
    bool matrix;        /* 2-D (a norm vector otherwise) */
    bool decay;         /* AdamW decays it: projections and an untied output,
                           not norms, not the token embedding */
};

struct dfit_train_model {
    struct dfit_synth_shape shape;
    uint32_t head_dim;
    size_t n_params;                   /* floats in each buffer */
    float *params;                     /* [n_params] owned */
    float *grads;                      /* [n_params] owned */
    float *adam_m;                     /* [n_params] owned: first moment */
    float *adam_v;                     /* [n_params] owned: second moment */
    struct dfit_train_tensors w;       /* views into params */
    struct dfit_train_tensors g;       /* views into grads */
    size_t n_tensors;
    struct dfit_train_tensor *tensors; /* [n_tensors] owned */
};

/* The recipe of a training run, written into the exported model as
 * dfit.train.* keys and kept in checkpoints. */
struct dfit_train_recipe {
    uint64_t steps;          /* optimizer steps of the whole run */
    uint32_t batch;          /* sequences per step */
    uint32_t seq;            /* tokens per sequence */
    float lr;                /* peak learning rate */
    float lr_min;            /* floor of the cosine decay */
    uint64_t warmup;         /* linear warm-up steps */
    float weight_decay;      /* decoupled, on matrices only */
    float clip;              /* global gradient-norm clip; 0: none */
    uint64_t seed;           /* init and data order */
    char data_sha256[65];    /* SHA-256 of the training data file ("" if none) */
    uint64_t data_tokens;    /* tokens in the training data */
    uint32_t all_tokens;     /* 1: every target token counts in the loss,
                                ignoring the data's answer mask */
    float final_loss;        /* mean training loss of the last steps */
    char parent_sha256[65];  /* SHA-256 of the model training started from
                                (--init), "" for a fresh init */
    char parent_name[64];    /* its file name (no directory) */
};

/* Allocates a model of shape s (checked with dfit_synth_shape_check),
 * parameters, gradients and moments zeroed. DFIT_EINVAL naming the field,
 * DFIT_ENOMEM; *out NULL on failure. */
int dfit_train_model_create(const struct dfit_synth_shape *s, struct dfit_train_model **out,
                            struct dfit_err *err);
void dfit_train_model_free(struct dfit_train_model *m); /* accepts NULL */

/* llama-style initialization from seed: every matrix N(0, 0.02^2), the
 * residual projections (attn_output, ffn_down) scaled by 1/sqrt(2 n_layer),
 * norms 1; moments zeroed. Each tensor has its own stream, seeded by
 * (seed, tensor name). Cannot fail. */
void dfit_train_model_init(struct dfit_train_model *m, uint64_t seed);

/* The tensor of that name, or NULL. */
const struct dfit_train_tensor *dfit_train_model_find(const struct dfit_train_model *m,
                                                      const char *name);

/* Adds the model to a GGUF writer: llama.* and general.* keys, the
 * byte-level vocabulary, and every tensor with matrices encoded as `type`
 * (F32, F16 or BF16; norms stay F32). The writer borrows m's parameters:
 * they must stay unchanged until dfit_gguf_writer_write. Callers may add
 * more keys. DFIT_EUNSUPPORTED for a quantized type, else the writer's
 * errors. */
int dfit_train_model_add_to_writer(const struct dfit_train_model *m, enum dfit_type type,
                                   struct dfit_gguf_writer *w, struct dfit_err *err);

/* Writes the model to path atomically (tmp + fsync + rename), with the
 * recipe (may be NULL) as dfit.recipe.* and dfit.train.* keys (and
 * dfit.parent.sha256 / .name when it names a parent). Errors as
 * above, prefixed with the path; an existing file at path stays as it was. */
int dfit_train_model_export(const struct dfit_train_model *m, enum dfit_type type,
                            const struct dfit_train_recipe *recipe, const char *path,
                            struct dfit_err *err);

/* Reads a llama GGUF (any type dfit supports; see dfit_model_open) into a
 * new model: parameters converted to F32, gradients and moments zeroed.
 * Fails with the loader's errors, or DFIT_EINVAL when the shape fails
 * dfit_synth_shape_check (naming the field); *out NULL on failure. */
int dfit_train_model_import(const char *path, struct dfit_train_model **out, struct dfit_err *err);

#endif
