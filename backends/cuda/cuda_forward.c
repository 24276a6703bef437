/* cuda_forward.c — the CUDA backend's forward pass: the batch is checked on
 * the host, its ids are copied to the device, and the llama pass is
 * enqueued on the backend's stream, layer by layer, as the CPU reference
 * computes it (cpu_backend.c): embedding, fused residual add + RMSNorm,
 * Q/K/V products, RoPE with the K/V store, attention over the device
 * cache, output product, fused add + RMSNorm, gate/up products, SwiGLU,
 * down product; then the final norm and the output matrix for the wanted
 * tokens. Matrix products take the matrix-vector kernels (up to 8 tokens)
 * or cuBLAS (dfit_cuda_mm_pick). Batches of up to DFIT_CUDA_GRAPH_MAX_TOK
 * tokens are captured once per (tokens, wanted) shape as a CUDA graph and
 * re-launched; a failed capture turns graphs off for the context and the
 * pass runs eagerly. The call returns when the logits are on the host.
 * Non-goals: overlapping host and device work across calls, sampling.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cuda/cuda_ctx.h"

/* Which activation forms of the current matrix-product input are ready. */
struct act_state {
    const float *x;  /* the f32 input rows they were made from */
    uint32_t n;
    int64_t n_in;
    bool q8;         /* Q8_0 quants in WS_ACT_Q/D/S */
    int half;        /* -1: none, DFIT_CUK_F16 or DFIT_CUK_BF16 in WS_ACT_H */
};

#define CK(expr, what)                                                                             \
    do {                                                                                           \
        int ck_rc_ = (expr);                                                                       \
        if (ck_rc_ != 0)                                                                           \
            return dfit_cuda_fail(err, ck_rc_, what);                                              \
    } while (0)

/* Hands one matmul input to the activation observer: waits for the device
 * and copies the rows to the host. */
static int observe(struct cuda_ctx *c, uint32_t il, const char *weight, const float *x, uint32_t n,
                   int64_t n_in, struct dfit_err *err)
{
    if (!c->observe)
        return 0;
    CK((int)cudaMemcpyAsync(c->h_obs, x, (size_t)n * (size_t)n_in * sizeof(float),
                            cudaMemcpyDeviceToHost, c->stream),
       "copying activations for the observer");
    CK((int)cudaStreamSynchronize(c->stream), "waiting for activations for the observer");
    c->observe(c->observe_user, il, weight, c->h_obs, n, n_in);
    return 0;
}

/* out[t][r] = dot(W row r, x row t) for the n rows of x, W = weight slot. */
static int matmul(struct cuda_ctx *c, struct act_state *as, float *out, uint32_t slot,
                  const float *x, uint32_t n, struct dfit_err *err)
{
    const struct dfit_cuda_wdev *w = &c->wd[slot];
    const bool quant = w->type == DFIT_CUK_Q8_0 || w->type == DFIT_CUK_Q4_0;
    if (as->x != x || as->n != n || as->n_in != w->n_in)
        *as = (struct act_state){.x = x, .n = n, .n_in = w->n_in, .q8 = false, .half = -1};
    int8_t *aq = cuda_ws(c, DFIT_CUDA_WS_ACT_Q);
    float *ad = cuda_ws(c, DFIT_CUDA_WS_ACT_D);
    int32_t *asum = cuda_ws(c, DFIT_CUDA_WS_ACT_S);
    uint16_t *ah = cuda_ws(c, DFIT_CUDA_WS_ACT_H);
    const int64_t n_in = w->n_in, n_out = w->n_out;

    if (dfit_cuda_mm_pick(&c->opt, n) == DFIT_CUDA_MM_MMV) {
        if (quant && !as->q8) {
            CK(dfit_cuk_quantize_q8(aq, ad, asum, x, (int)n, n_in, c->stream),
               "quantizing activations");
            as->q8 = true;
        }
        for (uint32_t t0 = 0; t0 < n; t0 += DFIT_CUDA_MMV_MAX_TOK) {
            const uint32_t nt = n - t0 < DFIT_CUDA_MMV_MAX_TOK ? n - t0 : DFIT_CUDA_MMV_MAX_TOK;
            const struct dfit_cuda_act a = {
                .x = x + (int64_t)t0 * n_in,
                .q = aq + (int64_t)t0 * n_in,
                .d = ad + (int64_t)t0 * (n_in / 32),
                .s = asum + (int64_t)t0 * (n_in / 32),
                .ld = n_in,
            };
            CK(dfit_cuk_mmv(out + (int64_t)t0 * n_out, n_out, w, &a, (int)nt, c->stream),
               "matrix-vector kernel");
        }
        return 0;
    }

    if (!c->blas)
        return dfit_err_set(err, DFIT_EINTERNAL, "cuda backend: cuBLAS path taken but not loaded");
    struct dfit_cuda_gemm g;
    int rc;
    if (w->type == DFIT_CUK_F32) {
        if ((rc = dfit_cuda_gemm_args(n_out, n, n_in, n_in, n_out, &g, err)))
            return rc;
        return dfit_cuda_blas_gemm(c->blas, DFIT_CUK_F32, DFIT_CUK_F32, &g, w->q, x, out, err);
    }
    const int want_half = w->type == DFIT_CUK_BF16 ? DFIT_CUK_BF16 : DFIT_CUK_F16;
    if (as->half != want_half) {
        CK(dfit_cuk_to_half(ah, want_half == DFIT_CUK_BF16, x, (int64_t)n * n_in, c->stream),
           "converting activations to 16 bits");
        as->half = want_half;
    }
    if (!quant) {
        if ((rc = dfit_cuda_gemm_args(n_out, n, n_in, n_in, n_out, &g, err)))
            return rc;
        return dfit_cuda_blas_gemm(c->blas, w->type, DFIT_CUK_F32, &g, w->q, ah, out, err);
    }
    /* Q8_0/Q4_0: dequantize a tile of rows to f16, then an f16 GEMM on it */
    uint16_t *deq = cuda_ws(c, DFIT_CUDA_WS_DEQ);
    const int64_t rows = dfit_cuda_deq_rows(n_in, n_out, c->plan.deq_elems);
    for (int64_t r0 = 0; r0 < n_out; r0 += rows) {
        const int64_t nr = n_out - r0 < rows ? n_out - r0 : rows;
        CK(dfit_cuk_dequant_f16(deq, w, r0, nr, c->stream), "dequantizing a weight tile");
        if ((rc = dfit_cuda_gemm_args(nr, n, n_in, n_in, n_out, &g, err)) ||
            (rc = dfit_cuda_blas_gemm(c->blas, DFIT_CUK_F16, DFIT_CUK_F32, &g, deq, ah, out + r0,
                                      err)))
            return rc;
    }
    return 0;
}

/* One transformer block over the n tokens on WS_X. The previous block's FFN
 * output (WS_XO) is added to the residual stream here (first != 0: none). */
static int block(struct cuda_ctx *c, uint32_t il, uint32_t n, const int32_t *pos,
                 const int32_t *seq, bool first, struct dfit_err *err)
{
    const struct dfit_llama_hparams *hp = &c->m->hp;
    const int d = (int)hp->n_embd;
    float *x = cuda_ws(c, DFIT_CUDA_WS_X), *xb = cuda_ws(c, DFIT_CUDA_WS_XB);
    float *xo = cuda_ws(c, DFIT_CUDA_WS_XO), *q = cuda_ws(c, DFIT_CUDA_WS_Q);
    float *k = cuda_ws(c, DFIT_CUDA_WS_K), *v = cuda_ws(c, DFIT_CUDA_WS_V);
    float *att = cuda_ws(c, DFIT_CUDA_WS_ATT), *hb = cuda_ws(c, DFIT_CUDA_WS_HB);
    float *hb2 = cuda_ws(c, DFIT_CUDA_WS_HB2);
    const struct dfit_cuda_wdev *wd = c->wd;
    struct act_state as = {.half = -1};
    int rc;
#define SLOT(which) dfit_cuda_wslot(il, DFIT_CUDA_L_##which)

    /* attention */
    CK(dfit_cuk_add_rmsnorm(xb, x, first ? NULL : xo, wd[SLOT(ATTN_NORM)].q, (int)n, d,
                            hp->rms_eps, c->stream),
       "attention norm");
    if ((rc = observe(c, il, "attn_norm", x, n, d, err)) ||
        (rc = observe(c, il, "attn_q", xb, n, d, err)) ||
        (rc = matmul(c, &as, q, SLOT(WQ), xb, n, err)) ||
        (rc = matmul(c, &as, k, SLOT(WK), xb, n, err)) ||
        (rc = matmul(c, &as, v, SLOT(WV), xb, n, err)))
        return rc;
    CK(dfit_cuk_rope_store(q, k, v, &c->kv, il, pos, seq, (int)n, (int)hp->n_head,
                           (int)hp->n_head_kv, (int)hp->head_dim, hp->rope_freq_base, c->stream),
       "RoPE and KV store");
    CK(dfit_cuk_attention(att, q, &c->kv, il, pos, seq, (int)n, (int)hp->n_head,
                          (int)hp->n_head_kv, (int)hp->head_dim, c->stream),
       "attention");
    if ((rc = observe(c, il, "attn_output", att, n, c->plan.q_dim, err)) ||
        (rc = matmul(c, &as, xo, SLOT(WO), att, n, err)))
        return rc;

    /* feed-forward (SwiGLU) */
    CK(dfit_cuk_add_rmsnorm(xb, x, xo, wd[SLOT(FFN_NORM)].q, (int)n, d, hp->rms_eps, c->stream),
       "FFN norm");
    as = (struct act_state){.half = -1}; /* xb was rewritten: its prepared forms are stale */
    if ((rc = observe(c, il, "ffn_gate", xb, n, d, err)) ||
        (rc = matmul(c, &as, hb, SLOT(GATE), xb, n, err)) ||
        (rc = matmul(c, &as, hb2, SLOT(UP), xb, n, err)))
        return rc;
    CK(dfit_cuk_swiglu(hb, hb, hb2, (int64_t)n * hp->n_ff, c->stream), "SwiGLU");
    if ((rc = observe(c, il, "ffn_down", hb, n, hp->n_ff, err)) ||
        (rc = matmul(c, &as, xo, SLOT(DOWN), hb, n, err)))
        return rc;
#undef SLOT
    return 0;
}

/* Rows of the final normed stream that feed the output matrix: all of
 * WS_XB, or the wanted ones gathered into WS_XO. */
static const float *output_rows(const struct cuda_ctx *c, uint32_t n, uint32_t nw)
{
    return nw == n ? cuda_ws(c, DFIT_CUDA_WS_XB) : cuda_ws(c, DFIT_CUDA_WS_XO);
}

/* Logits of wanted rows [r0, r0 + nr) into WS_LOGITS. */
static int logits_chunk(struct cuda_ctx *c, uint32_t n, uint32_t nw, uint32_t r0, uint32_t nr,
                        struct dfit_err *err)
{
    struct act_state as = {.half = -1};
    const float *src = output_rows(c, n, nw) + (int64_t)r0 * c->m->hp.n_embd;
    return matmul(c, &as, cuda_ws(c, DFIT_CUDA_WS_LOGITS), DFIT_CUDA_W_OUTPUT, src, nr, err);
}

/* Everything a graph holds: the whole pass up to the first chunk of logits. */
static int enqueue_pass(struct cuda_ctx *c, uint32_t n, uint32_t nw, struct dfit_err *err)
{
    const struct dfit_llama_hparams *hp = &c->m->hp;
    const int32_t *in = cuda_ws(c, DFIT_CUDA_WS_INPUTS);
    const int32_t *tok = in + dfit_cuda_in_token(n), *pos = in + dfit_cuda_in_pos(n);
    const int32_t *seq = in + dfit_cuda_in_seq(n), *want = in + dfit_cuda_in_want(n);
    float *x = cuda_ws(c, DFIT_CUDA_WS_X), *xb = cuda_ws(c, DFIT_CUDA_WS_XB);
    float *xo = cuda_ws(c, DFIT_CUDA_WS_XO);
    int rc;

    CK(dfit_cuk_embed(x, &c->wd[DFIT_CUDA_W_TOK_EMBD], tok, (int)n, c->stream), "embedding");
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if ((rc = block(c, il, n, pos, seq, il == 0, err)))
            return rc;
    /* the last block's residual add, fused with the final norm (all rows) */
    CK(dfit_cuk_add_rmsnorm(xb, x, hp->n_layer > 0 ? xo : NULL,
                            c->wd[DFIT_CUDA_W_OUTPUT_NORM].q, (int)n, (int)hp->n_embd,
                            hp->rms_eps, c->stream),
       "output norm");
    if ((rc = observe(c, hp->n_layer, "output_norm", x, n, hp->n_embd, err)))
        return rc;
    if (nw == 0)
        return 0;
    if (nw < n)
        CK(dfit_cuk_gather_rows(xo, xb, want, (int)nw, hp->n_embd, c->stream),
           "gathering the wanted rows");
    return logits_chunk(c, n, nw, 0, nw < c->plan.logits_rows ? nw : c->plan.logits_rows, err);
}

static void graph_destroy(void *exec)
{
    cudaGraphExecDestroy((cudaGraphExec_t)exec);
}

/* Captures the pass for (n, nw) as a graph; NULL (and graphs off for this
 * context, with the reason kept) when capture or instantiation fails. */
static cudaGraphExec_t capture(struct cuda_ctx *c, uint32_t n, uint32_t nw)
{
    struct dfit_err cerr = {0};
    cudaGraph_t g = NULL;
    cudaGraphExec_t exec = NULL;
    cudaError_t e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed);
    if (e != cudaSuccess) {
        snprintf(c->graph_note, sizeof c->graph_note, "cudaStreamBeginCapture: %s",
                 cudaGetErrorString(e));
        goto broken;
    }
    int rc = enqueue_pass(c, n, nw, &cerr);
    e = cudaStreamEndCapture(c->stream, &g);
    if (rc != 0 || e != cudaSuccess || !g) {
        snprintf(c->graph_note, sizeof c->graph_note, "capture: %.140s",
                 rc ? cerr.msg : cudaGetErrorString(e));
        goto broken;
    }
    e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) {
        snprintf(c->graph_note, sizeof c->graph_note, "cudaGraphInstantiate: %s",
                 cudaGetErrorString(e));
        exec = NULL;
        goto broken;
    }
    void *old = dfit_cuda_graph_put(&c->graphs, n, nw, exec);
    if (old)
        graph_destroy(old);
    return exec;
broken:
    if (g)
        cudaGraphDestroy(g);
    (void)cudaGetLastError(); /* clear the capture's error state */
    c->graphs_broken = true;
    fprintf(stderr, "dfit: cuda backend: CUDA graphs off, running eagerly (%s)\n", c->graph_note);
    return NULL;
}

int dfit_cuda_forward(void *ctx, const struct dfit_batch *b, float *logits, struct dfit_err *err)
{
    struct cuda_ctx *c = ctx;
    uint32_t nw;
    int rc = dfit_cuda_batch_check(b, logits, c->n_batch_max, c->n_seq, c->n_ctx,
                                   c->m->hp.n_vocab, c->seq_len, c->seq_next, &nw, err);
    if (rc)
        return rc;
    const uint32_t n = b->n_tokens;
    const uint32_t n_in = dfit_cuda_batch_pack(b, c->h_in);
    CK((int)cudaMemcpyAsync(cuda_ws(c, DFIT_CUDA_WS_INPUTS), c->h_in, n_in * sizeof(int32_t),
                            cudaMemcpyHostToDevice, c->stream),
       "copying the batch to the device");

    cudaGraphExec_t exec = NULL;
    if (c->opt.graphs && !c->graphs_broken && !c->observe && n <= DFIT_CUDA_GRAPH_MAX_TOK) {
        exec = dfit_cuda_graph_find(&c->graphs, n, nw);
        if (!exec)
            exec = capture(c, n, nw);
    }
    if (exec)
        CK((int)cudaGraphLaunch(exec, c->stream), "launching the forward graph");
    else if ((rc = enqueue_pass(c, n, nw, err)))
        return rc;

    /* logits, chunk by chunk (graphs hold the first chunk's product) */
    const size_t row_bytes = (size_t)c->m->hp.n_vocab * sizeof(float);
    for (uint32_t r0 = 0; r0 < nw; r0 += c->plan.logits_rows) {
        const uint32_t nr = nw - r0 < c->plan.logits_rows ? nw - r0 : c->plan.logits_rows;
        if (r0 > 0 && (rc = logits_chunk(c, n, nw, r0, nr, err)))
            return rc;
        CK((int)cudaMemcpyAsync(logits + (size_t)r0 * c->m->hp.n_vocab,
                                cuda_ws(c, DFIT_CUDA_WS_LOGITS), nr * row_bytes,
                                cudaMemcpyDeviceToHost, c->stream),
           "copying logits to the host");
    }
    CK((int)cudaStreamSynchronize(c->stream), "running the forward pass");
    memcpy(c->seq_len, c->seq_next, c->n_seq * sizeof *c->seq_len);
    return 0;
}
