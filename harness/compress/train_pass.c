/* train_pass.c — forward and backward of the whole model over a batch (see
 * train_pass.h), written in the order of the CPU reference backend's
 * block_forward so the two compute the same function:
 *   x = embed(tokens)
 *   per block: h = rmsnorm(x) ; q,k,v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ ; rope(q), rope(k)
 *              x = x + attention(q, k, v)·Woᵀ
 *              h = rmsnorm(x) ; x = x + (silu(h·Wgateᵀ) * h·Wupᵀ)·Wdownᵀ
 *   logits = rmsnorm(x)·Woutputᵀ
 * The backward pass keeps one gradient of the residual stream (dres): a
 * residual add passes its gradient unchanged to both branches, so each
 * branch reads dres and its input's gradient is added back into it.
 * Non-goals: activation recomputation, memory-saving fusions.
 */
#include "compress/train_pass.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "compress/train_ops.h"

void dfit_train_pass_free(struct dfit_train_pass *p)
{
    if (!p)
        return;
    float **bufs[] = {&p->rope_cos, &p->rope_sin, &p->resid, &p->resid_mid, &p->ln1, &p->ln1_rstd,
                      &p->q, &p->k, &p->v, &p->att, &p->atty, &p->ln2, &p->ln2_rstd, &p->gate,
                      &p->up, &p->hsw, &p->lnf, &p->lnf_rstd, &p->logits, &p->probs, &p->dlogits,
                      &p->losses, &p->dloss, &p->branch, &p->dres, &p->dln, &p->dq, &p->datty,
                      &p->dk, &p->dv, &p->dgate, &p->dup, &p->dh, &p->mm_scratch, &p->att_scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(*bufs[i]);
    free(p->tokens);
    free(p);
}

static float *alloc_f(uint64_t n, uint64_t *total)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / sizeof(float))
        return NULL;
    *total += n * sizeof(float);
    return malloc((size_t)n * sizeof(float));
}

/* Allocates every float buffer of p; false if one failed (p->bytes then
 * says how much was wanted). */
static bool alloc_buffers(struct dfit_train_pass *p, const struct dfit_train_model *m, int nth)
{
    const struct dfit_synth_shape *s = &m->shape;
    const uint64_t B = p->B_max, T = p->T_max, N = B * T, L = s->n_layer, D = s->n_embd,
                   F = s->n_ff, V = s->n_vocab, Q = (uint64_t)p->q_dim, KV = (uint64_t)p->kv_dim,
                   H2 = m->head_dim / 2;
    uint64_t mm = 0; /* the largest matrix, transposed by the matmul */
    for (size_t i = 0; i < m->n_tensors; i++) {
        uint64_t e = (uint64_t)(m->tensors[i].n_in * m->tensors[i].n_out);
        if (e > mm)
            mm = e;
    }
    struct {
        float **dst;
        uint64_t n;
    } plan[] = {
        {&p->rope_cos, T * H2},     {&p->rope_sin, T * H2},   {&p->resid, (L + 1) * N * D},
        {&p->resid_mid, L * N * D}, {&p->ln1, L * N * D},     {&p->ln1_rstd, L * N},
        {&p->q, L * N * Q},         {&p->k, L * N * KV},      {&p->v, L * N * KV},
        {&p->att, L * B * s->n_head * T * T},                 {&p->atty, L * N * Q},
        {&p->ln2, L * N * D},       {&p->ln2_rstd, L * N},    {&p->gate, L * N * F},
        {&p->up, L * N * F},        {&p->hsw, L * N * F},     {&p->lnf, N * D},
        {&p->lnf_rstd, N},          {&p->logits, N * V},      {&p->probs, N * V},
        {&p->dlogits, N * V},       {&p->losses, N},          {&p->dloss, N},
        {&p->branch, N * D},        {&p->dres, N * D},        {&p->dln, N * D},
        {&p->dq, N * Q},            {&p->datty, N * Q},       {&p->dk, N * KV},
        {&p->dv, N * KV},           {&p->dgate, N * F},       {&p->dup, N * F},
        {&p->dh, N * F},            {&p->mm_scratch, mm},     {&p->att_scratch, (uint64_t)nth * T},
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        *plan[i].dst = alloc_f(plan[i].n, &p->bytes);
        ok = ok && *plan[i].dst;
    }
    return ok;
}

int dfit_train_pass_create(const struct dfit_train_model *m, uint32_t B, uint32_t T,
                           struct dfit_threadpool *tp, struct dfit_train_pass **out,
                           struct dfit_err *err)
{
    *out = NULL;
    if (B == 0 || T == 0 || T > m->shape.n_ctx)
        return dfit_err_set(err, DFIT_EINVAL,
                            "train pass: batch %u x %u tokens (need batch >= 1 and 1 <= seq <= ctx %u)",
                            B, T, m->shape.n_ctx);
    struct dfit_train_pass *p = calloc(1, sizeof *p);
    if (!p)
        return dfit_err_set(err, DFIT_ENOMEM, "train pass: out of memory");
    p->B_max = B;
    p->T_max = T;
    p->tp = tp;
    p->n_vocab = m->shape.n_vocab;
    p->q_dim = (int64_t)m->shape.n_head * m->head_dim;
    p->kv_dim = (int64_t)m->shape.n_head_kv * m->head_dim;
    p->tokens = malloc((size_t)B * T * sizeof *p->tokens);
    bool ok = alloc_buffers(p, m, tp ? dfit_threadpool_size(tp) : 1) && p->tokens;
    if (!ok) {
        int rc = dfit_err_set(err, DFIT_ENOMEM,
                              "train pass: cannot allocate %.1f MiB of activations for batch %u x %u",
                              (double)p->bytes / (1024.0 * 1024.0), B, T);
        dfit_train_pass_free(p);
        return rc;
    }
    dfit_train_rope_tables(p->rope_cos, p->rope_sin, T, (int)m->head_dim, m->shape.rope_freq_base);
    *out = p;
    return 0;
}

/* ---- forward ------------------------------------------------------------------ */

void dfit_train_pass_forward(struct dfit_train_pass *p, const struct dfit_train_model *m,
                             const int32_t *tokens, uint32_t B, uint32_t T)
{
    const struct dfit_synth_shape *s = &m->shape;
    const struct dfit_train_tensors *w = &m->w;
    const int64_t N = (int64_t)B * T, D = s->n_embd, F = s->n_ff, V = s->n_vocab, Q = p->q_dim,
                  KV = p->kv_dim;
    const int H = (int)s->n_head, HKV = (int)s->n_head_kv, hd = (int)m->head_dim;
    struct dfit_threadpool *tp = p->tp;
    float *mm = p->mm_scratch;
    p->B = B;
    p->T = T;
    memcpy(p->tokens, tokens, (size_t)N * sizeof *tokens);

    dfit_train_embed_forward(p->resid, tokens, w->tok_embd, N, D);
    for (uint32_t l = 0; l < s->n_layer; l++) {
        const struct dfit_train_layer *L = &w->layers[l];
        float *x = p->resid + l * N * D, *xm = p->resid_mid + l * N * D;
        float *ln1 = p->ln1 + l * N * D, *ln2 = p->ln2 + l * N * D;
        float *q = p->q + l * N * Q, *k = p->k + l * N * KV, *v = p->v + l * N * KV;
        float *atty = p->atty + l * N * Q, *att = p->att + (int64_t)l * B * H * T * T;
        float *gate = p->gate + l * N * F, *up = p->up + l * N * F, *hsw = p->hsw + l * N * F;

        dfit_train_rmsnorm_forward(ln1, p->ln1_rstd + l * N, x, L->attn_norm, N, D, s->rms_eps, tp);
        dfit_train_matmul_forward(q, ln1, L->wq, N, D, Q, mm, tp);
        dfit_train_matmul_forward(k, ln1, L->wk, N, D, KV, mm, tp);
        dfit_train_matmul_forward(v, ln1, L->wv, N, D, KV, mm, tp);
        dfit_train_rope_forward(q, q, p->rope_cos, p->rope_sin, N, T, H, hd);
        dfit_train_rope_forward(k, k, p->rope_cos, p->rope_sin, N, T, HKV, hd);
        dfit_train_attention_forward(atty, att, q, k, v, B, T, H, HKV, hd, tp);
        dfit_train_matmul_forward(p->branch, atty, L->wo, N, Q, D, mm, tp);
        dfit_train_residual_forward(xm, x, p->branch, N * D);

        dfit_train_rmsnorm_forward(ln2, p->ln2_rstd + l * N, xm, L->ffn_norm, N, D, s->rms_eps, tp);
        dfit_train_matmul_forward(gate, ln2, L->w_gate, N, D, F, mm, tp);
        dfit_train_matmul_forward(up, ln2, L->w_up, N, D, F, mm, tp);
        dfit_train_swiglu_forward(hsw, gate, up, N * F, tp);
        dfit_train_matmul_forward(p->branch, hsw, L->w_down, N, F, D, mm, tp);
        dfit_train_residual_forward(p->resid + (l + 1) * N * D, xm, p->branch, N * D);
    }
    dfit_train_rmsnorm_forward(p->lnf, p->lnf_rstd, p->resid + (int64_t)s->n_layer * N * D,
                               w->output_norm, N, D, s->rms_eps, tp);
    dfit_train_matmul_forward(p->logits, p->lnf, w->output, N, D, V, mm, tp);
}

double dfit_train_pass_ce(struct dfit_train_pass *p, const int32_t *targets, const uint8_t *mask,
                          int64_t *count)
{
    const int64_t N = (int64_t)p->B * p->T;
    const int64_t V = p->n_vocab;
    dfit_train_ce_forward(p->losses, p->probs, p->logits, targets, N, V, p->tp);
    double mean = dfit_train_masked_mean(p->dloss, p->losses, mask, N, count);
    memset(p->dlogits, 0, (size_t)(N * V) * sizeof(float));
    dfit_train_ce_backward(p->dlogits, p->probs, targets, p->dloss, N, V, p->tp);
    return mean;
}

/* ---- backward ------------------------------------------------------------------ */

static void zero(float *x, int64_t n)
{
    memset(x, 0, (size_t)n * sizeof(float));
}

void dfit_train_pass_backward(struct dfit_train_pass *p, struct dfit_train_model *m)
{
    const struct dfit_synth_shape *s = &m->shape;
    const struct dfit_train_tensors *w = &m->w, *g = &m->g;
    const uint32_t B = p->B, T = p->T;
    const int64_t N = (int64_t)B * T, D = s->n_embd, F = s->n_ff, V = s->n_vocab, Q = p->q_dim,
                  KV = p->kv_dim;
    const int H = (int)s->n_head, HKV = (int)s->n_head_kv, hd = (int)m->head_dim;
    struct dfit_threadpool *tp = p->tp;

    /* head: logits = rmsnorm(x_L) · outputᵀ */
    zero(p->dln, N * D);
    zero(p->dres, N * D);
    dfit_train_matmul_backward(p->dln, g->output, p->dlogits, p->lnf, w->output, N, D, V, NULL, tp);
    dfit_train_rmsnorm_backward(p->dres, g->output_norm, p->dln, p->resid + (int64_t)s->n_layer * N * D,
                                w->output_norm, p->lnf_rstd, N, D, tp);

    for (uint32_t l = s->n_layer; l-- > 0;) {
        const struct dfit_train_layer *L = &w->layers[l], *GL = &g->layers[l];
        const float *x = p->resid + l * N * D, *xm = p->resid_mid + l * N * D;
        const float *ln1 = p->ln1 + l * N * D, *ln2 = p->ln2 + l * N * D;
        const float *q = p->q + l * N * Q, *k = p->k + l * N * KV, *v = p->v + l * N * KV;
        const float *atty = p->atty + l * N * Q, *att = p->att + (int64_t)l * B * H * T * T;
        const float *gate = p->gate + l * N * F, *up = p->up + l * N * F, *hsw = p->hsw + l * N * F;

        /* feed-forward branch: dres is the gradient of its output */
        zero(p->dh, N * F);
        dfit_train_matmul_backward(p->dh, GL->w_down, p->dres, hsw, L->w_down, N, F, D, NULL, tp);
        zero(p->dgate, N * F);
        zero(p->dup, N * F);
        dfit_train_swiglu_backward(p->dgate, p->dup, p->dh, gate, up, N * F, tp);
        zero(p->dln, N * D);
        dfit_train_matmul_backward(p->dln, GL->w_gate, p->dgate, ln2, L->w_gate, N, D, F, NULL, tp);
        dfit_train_matmul_backward(p->dln, GL->w_up, p->dup, ln2, L->w_up, N, D, F, NULL, tp);
        dfit_train_rmsnorm_backward(p->dres, GL->ffn_norm, p->dln, xm, L->ffn_norm,
                                    p->ln2_rstd + l * N, N, D, tp);

        /* attention branch: dres is now the gradient of resid_mid */
        zero(p->datty, N * Q);
        dfit_train_matmul_backward(p->datty, GL->wo, p->dres, atty, L->wo, N, Q, D, NULL, tp);
        zero(p->dq, N * Q);
        zero(p->dk, N * KV);
        zero(p->dv, N * KV);
        dfit_train_attention_backward(p->dq, p->dk, p->dv, p->datty, att, q, k, v, B, T, H, HKV, hd,
                                      p->att_scratch, tp);
        dfit_train_rope_backward(p->dq, p->dq, p->rope_cos, p->rope_sin, N, T, H, hd);
        dfit_train_rope_backward(p->dk, p->dk, p->rope_cos, p->rope_sin, N, T, HKV, hd);
        zero(p->dln, N * D);
        dfit_train_matmul_backward(p->dln, GL->wq, p->dq, ln1, L->wq, N, D, Q, NULL, tp);
        dfit_train_matmul_backward(p->dln, GL->wk, p->dk, ln1, L->wk, N, D, KV, NULL, tp);
        dfit_train_matmul_backward(p->dln, GL->wv, p->dv, ln1, L->wv, N, D, KV, NULL, tp);
        dfit_train_rmsnorm_backward(p->dres, GL->attn_norm, p->dln, x, L->attn_norm,
                                    p->ln1_rstd + l * N, N, D, tp);
    }
    dfit_train_embed_backward(g->tok_embd, p->dres, p->tokens, N, D, tp);
}
