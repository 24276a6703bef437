/* train.h — the training loop of `dfit train`: batches of B sequences of T
 * tokens from a token stream (train_data.h), next-token cross-entropy over
 * the mask's answer tokens, AdamW, a linear warm-up then cosine decay to a
 * floor, global-norm gradient clipping, progress on a terminal, and
 * checkpoints every K steps and at the end (checkpoint.h).
 *
 * Optimizer: AdamW with beta1 0.9, beta2 0.95, eps 1e-8, bias correction,
 * and decoupled weight decay (p -= lr * wd * p) on the projection matrices
 * and an untied output matrix only — never on norms or the token embedding.
 * Schedule (step s counted from 0): lr * (s+1) / warmup while s < warmup,
 * then lr_min + (lr - lr_min) * (1 + cos(pi * progress)) / 2 with progress
 * = (s - warmup) / (steps - warmup).
 * Determinism: a run depends only on the recipe and the data — not on the
 * thread count (every op is split so that no sum's order depends on it) —
 * and a run resumed from a checkpoint ends with the same weights, bit for
 * bit, as one that never stopped.
 * Non-goals: gradient accumulation, mixed precision, evaluation sets,
 * learning-rate finders.
 */
#ifndef DFIT_COMPRESS_TRAIN_H
#define DFIT_COMPRESS_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "compress/checkpoint.h"
#include "compress/train_data.h"
#include "compress/train_model.h"
#include "util/err.h"

#define DFIT_TRAIN_BETA1 0.9f
#define DFIT_TRAIN_BETA2 0.95f
#define DFIT_TRAIN_ADAM_EPS 1e-8f

enum dfit_train_progress {
    DFIT_TRAIN_PROGRESS_NONE = 0,
    DFIT_TRAIN_PROGRESS_LINES = 1,  /* a line every log_every steps */
    DFIT_TRAIN_PROGRESS_LIVE = 2,   /* one line rewritten in place (a terminal) */
};

struct dfit_train_pass;

/* A loss that replaces the masked cross-entropy of a step (distillation,
 * compress/distill.h): called after the forward pass with the batch's
 * inputs, targets and mask ([B][T] each; mask NULL when every token
 * counts), it must set pass->dlogits to the gradient of the returned loss
 * with respect to pass->logits (it may use pass->probs, ->losses and
 * ->dloss as scratch) and write the rows that counted to *count. It cannot
 * fail: a loss that is not finite stops the run as a divergence. */
typedef double (*dfit_train_loss_fn)(void *user, struct dfit_train_pass *pass, const int32_t *inputs,
                                     const int32_t *targets, const uint8_t *mask, uint32_t B,
                                     uint32_t T, int64_t *count);

struct dfit_train_params {
    struct dfit_train_recipe recipe; /* steps, batch, seq, lr, lr_min, warmup,
                                        weight_decay, clip, seed; the trainer
                                        fills data_sha256, data_tokens, final_loss */
    int n_threads;                   /* <= 0: 1 */
    const char *ckpt_path;           /* NULL: no checkpoints */
    uint64_t ckpt_every;             /* steps between checkpoints; 0: only at the end */
    uint64_t stop_after;             /* stop (with a checkpoint) once this many steps
                                        are done, as if killed; 0: run all steps */
    enum dfit_train_progress progress;
    uint64_t log_every;              /* LINES mode; 0: 10 */
    FILE *log;                       /* progress goes here; NULL: stderr */
    volatile sig_atomic_t *stop_flag; /* nonzero: checkpoint and stop (SIGINT) */
    dfit_train_loss_fn loss;         /* NULL: masked next-token cross-entropy */
    void *loss_user;                 /* handed to loss */
};

/* What one step did. */
struct dfit_train_step_info {
    uint64_t step;          /* steps done after it */
    double loss;            /* masked mean cross-entropy of its batch */
    float lr;
    double grad_norm;       /* before clipping */
    int64_t n_targets;      /* tokens that counted in the loss */
};

struct dfit_trainer;

/* A trainer of m (borrowed, initialized or imported by the caller) on d
 * (borrowed). resume (may be NULL) continues a checkpointed run: its step,
 * cursor and losses are taken over (m must hold the checkpoint's weights
 * and moments). Checks the recipe (batch, seq <= n_ctx, steps, lr, ...),
 * naming the field: DFIT_EINVAL; DFIT_ENOMEM. *out NULL on failure. */
int dfit_trainer_create(struct dfit_train_model *m, const struct dfit_train_data *d,
                        const struct dfit_train_params *p, const struct dfit_train_state *resume,
                        struct dfit_trainer **out, struct dfit_err *err);
void dfit_trainer_free(struct dfit_trainer *t); /* accepts NULL */

/* The learning rate of step s (from 0) under recipe r. */
float dfit_train_lr(const struct dfit_train_recipe *r, uint64_t s);

/* One optimizer step on the next batch. Cannot fail once created. */
void dfit_trainer_step(struct dfit_trainer *t, struct dfit_train_step_info *info);

/* Runs steps until recipe.steps (or stop_after, or the stop flag), printing
 * progress and writing checkpoints. Returns 0, the checkpoint writer's
 * error, or DFIT_ERANGE when a step's loss or gradient norm is not finite
 * (no checkpoint is written of that state). *stopped_early (may be NULL)
 * tells whether it stopped before the last step. */
int dfit_trainer_run(struct dfit_trainer *t, int *stopped_early, struct dfit_err *err);

/* Writes a checkpoint of the current state to path. */
int dfit_trainer_checkpoint(const struct dfit_trainer *t, const char *path, struct dfit_err *err);

/* The state now, and the recipe with data_sha256, data_tokens and
 * final_loss (mean of the last up to 16 steps' losses) filled in. */
void dfit_trainer_state(const struct dfit_trainer *t, struct dfit_train_state *st);
void dfit_trainer_recipe(const struct dfit_trainer *t, struct dfit_train_recipe *r);
/* Bytes the run holds: the model's four parameter-sized buffers and the
 * pass's activations. */
uint64_t dfit_trainer_memory_bytes(const struct dfit_trainer *t);
/* Tokens per second of the steps run by this trainer (0 before any). */
double dfit_trainer_tokens_per_s(const struct dfit_trainer *t);

#endif
