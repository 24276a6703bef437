/* cpu_fast.c — the CPU backend's fast forward pass (kernels "auto",
 * "scalar", "avx2", "avx512"): the llama block of cpu_backend.c's reference
 * pass, run through a kernel set (kernels.h) and matmul.c's driver:
 *   - Q, K and V share one activation preparation and one parallel
 *     region, as do gate and up;
 *   - RoPE angles are computed once per batch (dfit_kops_rope_table), not
 *     per layer and head;
 *   - K is cached transposed per KV head ([head_dim][n_ctx]), so
 *     attention scores 16 keys per FMA, and runs over tiles of up to 4
 *     consecutive tokens x heads, handed out dynamically;
 *   - in the last layer only the tokens whose logits are wanted go on after
 *     attention (the KV cache still gets every token), as llama.cpp does.
 * The activation observer (backend.h) sees the same inputs at the same
 * points as in the reference pass; with an observer every token goes on.
 * Non-goals: batch validation and state (cpu_backend.c), the kernels.
 */
#include <string.h>

#include "cpu/cpu_ctx.h"
#include "cpu/ref_ops.h"

/* out[i] = x . w[i]^T for n weights; consecutive weights of one type share
 * one activation preparation and one parallel region. */
static void fast_matmuls(struct cpu_ctx *c, int n, float *const out[],
                         const struct dfit_weight *const w[], const float *x, int64_t n_tok)
{
    /* weights with a sparse repack (sparse.h) take the sparse kernels */
    if (c->sparse && dfit_sparse_matmuls(c->sparse, c->mm, n, out, w, x, n_tok))
        return;
    for (int i = 0; i < n;) {
        int j = i + 1;
        while (j < n && w[j]->type == w[i]->type)
            j++;
        struct dfit_act a;
        dfit_mm_prepare(c->mm, &a, x, n_tok, w[i]->n_in, w[i]->type);
        dfit_mm_run(c->mm, j - i, out + i, w + i, &a);
        i = j;
    }
}

/* Keeps rows idx[0..n_keep) of a [n][width] matrix as its first rows
 * (idx increasing, so rows only move down). */
static void keep_rows(float *m, int64_t width, const int32_t *idx, int64_t n_keep)
{
    for (int64_t i = 0; i < n_keep; i++)
        if (idx[i] != i)
            memcpy(m + i * width, m + (int64_t)idx[i] * width, (size_t)width * sizeof(float));
}

/* Writes the batch's K rows (c->k, after RoPE) into their caches'
 * transposed slices, column pos: per run of consecutive positions of one
 * sequence, so that the stores of each row of K^T are contiguous. */
static void store_k_transposed(struct cpu_ctx *c, const struct dfit_batch *b, uint32_t il,
                               int64_t n)
{
    for (int64_t i0 = 0; i0 < n;) {
        int64_t len = 1;
        while (i0 + len < n && b->seq[i0 + len] == b->seq[i0] &&
               b->pos[i0 + len] == b->pos[i0] + len)
            len++;
        float *kc = cache_slice(c, c->k_cache, b->seq[i0], il) + b->pos[i0];
        for (int64_t e = 0; e < c->kv_dim; e++)
            for (int64_t i = 0; i < len; i++)
                kc[e * c->n_ctx + i] = c->k[(i0 + i) * c->kv_dim + e];
        i0 += len;
    }
}

/* One transformer block through the kernel set. In the last layer
 * (n_keep >= 0) only the n_keep tokens out_idx[] go on after attention:
 * on return x holds their rows first. */
static void block_forward_fast(struct cpu_ctx *c, const struct dfit_batch *b, uint32_t il,
                               int64_t n_keep)
{
    const struct dfit_llama_hparams *hp = &c->m->hp;
    const struct dfit_llama_layer *L = &c->m->layers[il];
    const struct dfit_kern *k = &c->kern;
    struct dfit_threadpool *tp = c->tp;
    int64_t n = b->n_tokens;
    const int64_t d = hp->n_embd, hd = hp->head_dim;

    /* attention */
    observe(c, il, "attn_norm", c->x, n, d);
    dfit_kops_rmsnorm(k, tp, c->xb, c->x, L->attn_norm.data, n, d, hp->rms_eps);
    observe(c, il, "attn_q", c->xb, n, d);
    {
        float *const out[3] = {c->q, c->k, c->v};
        const struct dfit_weight *const w[3] = {&L->wq, &L->wk, &L->wv};
        fast_matmuls(c, 3, out, w, c->xb, n);
    }
    for (int64_t i = 0; i < n; i++) {
        const float *cs = c->rope_cs + i * hd;
        dfit_kops_rope(c->q + i * c->q_dim, (int)hp->n_head, (int)hd, cs);
        dfit_kops_rope(c->k + i * c->kv_dim, (int)hp->n_head_kv, (int)hd, cs);
        float *kc = cache_slice(c, c->k_cache, b->seq[i], il);
        float *vc = cache_slice(c, c->v_cache, b->seq[i], il);
        for (int64_t h = 0; h < hp->n_head_kv; h++) /* by head: [n_head_kv][n_ctx][hd] */
            memcpy(vc + ((size_t)h * c->n_ctx + (size_t)b->pos[i]) * (size_t)hd,
                   c->v + i * c->kv_dim + h * hd, (size_t)hd * sizeof(float));
        c->k_rows[i] = kc;
        c->v_rows[i] = vc;
        c->n_kv[i] = (int64_t)b->pos[i] + 1;
    }
    store_k_transposed(c, b, il, n);
    dfit_kops_attention(k, tp, c->att_out, c->q, c->k_rows, c->v_rows, c->n_kv, n, (int)hp->n_head,
                        (int)hp->n_head_kv, (int)hd, c->n_ctx, c->tiles, c->att_fast,
                        c->att_stride);
    if (n_keep >= 0 && n_keep < n) {
        keep_rows(c->att_out, c->q_dim, c->out_idx, n_keep);
        keep_rows(c->x, d, c->out_idx, n_keep);
        n = n_keep;
    }
    if (n == 0)
        return;
    observe(c, il, "attn_output", c->att_out, n, c->q_dim);
    {
        float *const out[1] = {c->xo};
        const struct dfit_weight *const w[1] = {&L->wo};
        fast_matmuls(c, 1, out, w, c->att_out, n);
    }
    dfit_kops_add(k, tp, c->x, c->xo, n * d);

    /* feed-forward (SwiGLU) */
    dfit_kops_rmsnorm(k, tp, c->xb, c->x, L->ffn_norm.data, n, d, hp->rms_eps);
    observe(c, il, "ffn_gate", c->xb, n, d);
    {
        float *const out[2] = {c->hb, c->hb2};
        const struct dfit_weight *const w[2] = {&L->w_gate, &L->w_up};
        fast_matmuls(c, 2, out, w, c->xb, n);
    }
    dfit_kops_swiglu(k, tp, c->hb, c->hb, c->hb2, n * hp->n_ff);
    observe(c, il, "ffn_down", c->hb, n, hp->n_ff);
    {
        float *const out[1] = {c->xo};
        const struct dfit_weight *const w[1] = {&L->w_down};
        fast_matmuls(c, 1, out, w, c->hb, n);
    }
    dfit_kops_add(k, tp, c->x, c->xo, n * d);
}

void dfit_cpu_forward_fast(struct cpu_ctx *c, const struct dfit_batch *b, float *logits)
{
    const struct dfit_model *m = c->m;
    const int64_t n = b->n_tokens, d = m->hp.n_embd;
    int64_t n_wanted = 0;
    for (int64_t i = 0; i < n; i++)
        if (!b->want || b->want[i])
            c->out_idx[n_wanted++] = (int32_t)i;

    for (int64_t i = 0; i < n; i++)
        dfit_ref_embed(c->x + i * d, &m->tok_embd, b->token[i]);
    dfit_kops_rope_table(c->rope_cs, b->pos, n, (int)m->hp.head_dim, m->hp.rope_freq_base);
    /* an activation observer sees every token: no early dropping then */
    for (uint32_t il = 0; il < m->hp.n_layer; il++)
        block_forward_fast(c, b, il, !c->observe && il + 1 == m->hp.n_layer ? n_wanted : -1);
    observe(c, m->hp.n_layer, "output_norm", c->x, n, d);
    if (m->hp.n_layer == 0 || c->observe)
        keep_rows(c->x, d, c->out_idx, n_wanted);
    if (n_wanted > 0) {
        dfit_kops_rmsnorm(&c->kern, c->tp, c->xb, c->x, m->output_norm.data, n_wanted, d,
                          m->hp.rms_eps);
        const struct dfit_weight *const w[1] = {&m->output};
        fast_matmuls(c, 1, &logits, w, c->xb, n_wanted);
    }
}
