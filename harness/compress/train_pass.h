/* train_pass.h — the forward and backward pass of a whole llama model over
 * a batch of B sequences of T tokens, built from train_ops.h, keeping every
 * activation the backward pass needs (as llm.c's ActivationTensors).
 *
 * Use: forward (token ids -> logits), then a loss on the logits that writes
 * the logits' gradient (dfit_train_pass_ce for cross-entropy with an answer
 * mask, or train_ops' KL functions on pass->logits / pass->dlogits for
 * distillation), then backward, which ACCUMULATES the parameter gradients
 * into the model's grads (callers zero them per step).
 * A pass is built for at most B x T tokens and may run fewer sequences or
 * shorter ones (b <= B, t <= T) through the same buffers.
 * Non-goals: KV caching, incremental decoding, sequences of mixed lengths
 * in one batch.
 */
#ifndef DFIT_COMPRESS_TRAIN_PASS_H
#define DFIT_COMPRESS_TRAIN_PASS_H

#include <stdint.h>

#include "compress/train_model.h"
#include "util/err.h"
#include "util/threadpool.h"

struct dfit_train_pass {
    uint32_t B_max, T_max;         /* capacity */
    uint32_t B, T;                 /* shape of the last forward */
    uint32_t n_vocab;
    int64_t q_dim, kv_dim;         /* n_head*head_dim, n_head_kv*head_dim */
    struct dfit_threadpool *tp;    /* borrowed; may be NULL */
    uint64_t bytes;                /* everything the pass allocated */

    int32_t *tokens;               /* [B][T] inputs of the last forward (copy) */
    float *rope_cos, *rope_sin;    /* [T_max][head_dim/2] */

    /* saved activations; per-layer ones are [n_layer] consecutive blocks */
    float *resid;                  /* [n_layer+1][B*T][n_embd] residual stream: block inputs, then the last */
    float *resid_mid;              /* [n_layer][B*T][n_embd] after attention */
    float *ln1, *ln1_rstd;         /* [n_layer][B*T][n_embd], [n_layer][B*T] */
    float *q;                      /* [n_layer][B*T][q_dim] after RoPE */
    float *k;                      /* [n_layer][B*T][kv_dim] after RoPE */
    float *v;                      /* [n_layer][B*T][kv_dim] */
    float *att;                    /* [n_layer][B][n_head][T][T] probabilities */
    float *atty;                   /* [n_layer][B*T][q_dim] attention output */
    float *ln2, *ln2_rstd;         /* [n_layer][B*T][n_embd], [n_layer][B*T] */
    float *gate, *up, *hsw;        /* [n_layer][B*T][n_ff] gate, up, silu(gate)*up */
    float *lnf, *lnf_rstd;         /* [B*T][n_embd], [B*T] */
    float *logits;                 /* [B*T][n_vocab] */
    float *probs;                  /* [B*T][n_vocab] softmax of the last loss */
    float *dlogits;                /* [B*T][n_vocab] gradient, set by the loss */
    float *losses;                 /* [B*T] per-token loss */
    float *dloss;                  /* [B*T] weight of each token in the mean */

    /* scratch */
    float *branch;                 /* [B*T][n_embd] a block's branch output */
    float *dres;                   /* [B*T][n_embd] gradient of the residual stream */
    float *dln;                    /* [B*T][n_embd] */
    float *dq, *datty;             /* [B*T][q_dim] */
    float *dk, *dv;                /* [B*T][kv_dim] */
    float *dgate, *dup, *dh;       /* [B*T][n_ff] */
    float *mm_scratch;             /* the matmul's transposed weight */
    float *att_scratch;            /* [n_threads][T_max] */
};

/* Allocates a pass for model m and at most B x T tokens (T <= m's n_ctx).
 * tp (borrowed, may be NULL) runs the ops. DFIT_EINVAL / DFIT_ENOMEM (with
 * the bytes wanted); *out NULL on failure. */
int dfit_train_pass_create(const struct dfit_train_model *m, uint32_t B, uint32_t T,
                           struct dfit_threadpool *tp, struct dfit_train_pass **out,
                           struct dfit_err *err);
void dfit_train_pass_free(struct dfit_train_pass *p); /* accepts NULL */
/* Logits of B x T tokens (B <= B_max, T <= T_max; ids in [0, n_vocab),
 * checked by the caller) into p->logits, row b*T + t. */
void dfit_train_pass_forward(struct dfit_train_pass *p, const struct dfit_train_model *m,
                             const int32_t *tokens /* [B][T] */, uint32_t B, uint32_t T);

/* Cross-entropy of the last forward's logits against targets, averaged over
 * the rows whose mask is nonzero (all when mask is NULL); writes p->probs,
 * p->losses, p->dloss, and sets p->dlogits to the mean's gradient. Returns
 * the mean (0 when no row counts); *count (may be NULL) gets the rows. */
double dfit_train_pass_ce(struct dfit_train_pass *p, const int32_t *targets /* [B][T] */,
                          const uint8_t *mask /* [B][T] or NULL */, int64_t *count);

/* Back-propagates p->dlogits through the last forward, adding into m->grads. */
void dfit_train_pass_backward(struct dfit_train_pass *p, struct dfit_train_model *m);

#endif
