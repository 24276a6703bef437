/* cuda_kernels.h — the C interface of the CUDA kernels (cuda_ops.cu,
 * cuda_mmv.cu, cuda_attn.cu): one launcher per operator, output first, a
 * shape comment on every pointer. Every pointer here is a device pointer
 * except `w` and `a` themselves (host structs describing device buffers);
 * `stream` is a cudaStream_t. Each launcher only enqueues work and returns
 * 0, or the cudaError_t of the launch as a positive int (the host glue turns
 * it into a message with cudaGetErrorString). It compiles without the CUDA
 * headers, so host code and tests include it freely.
 * Non-goals: allocation, synchronization, cuBLAS (cuda_blas.h).
 */
#ifndef DFIT_BACKENDS_CUDA_KERNELS_H
#define DFIT_BACKENDS_CUDA_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Weight type ids: enum dfit_type's values (model/types.h, which C++
 * cannot include; cuda_plan.c checks that they agree). */
enum {
    DFIT_CUK_F32 = 0,
    DFIT_CUK_F16 = 1,
    DFIT_CUK_Q4_0 = 2,
    DFIT_CUK_Q8_0 = 8,
    DFIT_CUK_BF16 = 30
};

/* A weight on the device, in the layouts of cuda_layout.h. */
struct dfit_cuda_wdev {
    int type;            /* DFIT_CUK_*, the weight's enum dfit_type */
    int64_t n_in, n_out;
    const void *q;       /* rows (F32/F16/BF16) or quants (Q8_0/Q4_0) */
    const uint16_t *d;   /* fp16 block scales (Q8_0/Q4_0), else NULL */
};

/* Activation rows of a matrix-vector product. Float weights read x; Q8_0
 * and Q4_0 weights read the quantized rows (dfit_cuk_quantize_q8). ld is
 * the distance between rows in elements (of x, and of q; d and s rows are
 * ld/32 apart). */
struct dfit_cuda_act {
    const float *x;      /* [n_tok][ld] */
    const int8_t *q;     /* [n_tok][ld] */
    const float *d;      /* [n_tok][ld/32] */
    const int32_t *s;    /* [n_tok][ld/32] */
    int64_t ld;
};

/* out row t = row tok[t] of w converted to f32. */
int dfit_cuk_embed(float *out /* [n_tok][w->n_in] */, const struct dfit_cuda_wdev *w,
                   const int32_t *tok /* [n_tok] */, int n_tok, void *stream);

/* Per row: x += xo (when xo is not NULL, x is updated in place), then
 * out = x / sqrt(mean(x^2) + eps) * w. */
int dfit_cuk_add_rmsnorm(float *out /* [n_rows][n] */, float *x /* [n_rows][n] */,
                         const float *xo /* [n_rows][n] or NULL */, const float *w /* [n] */,
                         int n_rows, int n, float eps, void *stream);

/* x += xo, elementwise. */
int dfit_cuk_add(float *x /* [n] */, const float *xo /* [n] */, int64_t n, void *stream);

/* The KV caches, [n_seq][n_layer][n_ctx][kv_dim] each, f16 or f32. */
struct dfit_cuda_kv {
    void *k, *v;
    int f32;             /* 1: float elements, 0: half */
    uint32_t n_layer, n_ctx;
};

/* RoPE (llama.cpp normal mode) on q and k of each token at pos[t], then
 * k and v of token t stored into layer il of sequence seq[t]'s caches at
 * row pos[t]. k is left rotated. */
int dfit_cuk_rope_store(float *q /* [n_tok][n_head*hd] */, float *k /* [n_tok][n_head_kv*hd] */,
                        const float *v /* [n_tok][n_head_kv*hd] */, const struct dfit_cuda_kv *kv,
                        uint32_t il, const int32_t *pos /* [n_tok] */,
                        const int32_t *seq /* [n_tok] */, int n_tok, int n_head, int n_head_kv,
                        int hd, float freq_base, void *stream);

/* Causal grouped-query attention: token t's head h attends positions
 * 0..pos[t] of layer il of sequence seq[t]'s caches (KV head
 * h / (n_head/n_head_kv)), scores scaled by 1/sqrt(hd). hd <= 256. */
int dfit_cuk_attention(float *out /* [n_tok][n_head*hd] */, const float *q /* [n_tok][n_head*hd] */,
                       const struct dfit_cuda_kv *kv, uint32_t il, const int32_t *pos /* [n_tok] */,
                       const int32_t *seq /* [n_tok] */, int n_tok, int n_head, int n_head_kv,
                       int hd, void *stream);

/* out = silu(gate) * up, elementwise; out may alias gate. */
int dfit_cuk_swiglu(float *out /* [n] */, const float *gate /* [n] */, const float *up /* [n] */,
                    int64_t n, void *stream);

/* Each row of x quantized to Q8_0 blocks as dfit_quantize_row_q8_0_ref
 * does (n % 32 == 0): quants q, scales d (fp16 value widened) and the sum of
 * each block's quants s. */
int dfit_cuk_quantize_q8(int8_t *q /* [n_rows][n] */, float *d /* [n_rows][n/32] */,
                         int32_t *s /* [n_rows][n/32] */, const float *x /* [n_rows][n] */,
                         int n_rows, int64_t n, void *stream);

/* y = x rounded to f16 (bf16 = 0) or bf16 (bf16 = 1), to nearest even. */
int dfit_cuk_to_half(uint16_t *y /* [n] */, int bf16, const float *x /* [n] */, int64_t n,
                     void *stream);

/* Rows [r0, r0 + n_rows) of a Q8_0 or Q4_0 weight, dequantized to f16. */
int dfit_cuk_dequant_f16(uint16_t *y /* [n_rows][w->n_in] */, const struct dfit_cuda_wdev *w,
                         int64_t r0, int64_t n_rows, void *stream);

/* dst row i = src row idx[i]. */
int dfit_cuk_gather_rows(float *dst /* [n_rows][n] */, const float *src /* [..][n] */,
                         const int32_t *idx /* [n_rows] */, int n_rows, int64_t n, void *stream);

/* Matrix-vector product for 1 <= n_tok <= 8 activation rows:
 * out[t*ldo + r] = dot(W row r, activation row t) for r < w->n_out, each
 * weight row read once for all n_tok rows (bandwidth-bound decode). Float
 * weights: f32 activations, f32 sums. Q8_0/Q4_0: integer block dot products
 * (__dp4a) against the Q8_0 activations, scaled per block. */
int dfit_cuk_mmv(float *out /* [n_tok][ldo] */, int64_t ldo, const struct dfit_cuda_wdev *w,
                 const struct dfit_cuda_act *a, int n_tok, void *stream);

/* Fills n elements (f32: bf16 = 0; bf16: bf16 = 1) with uniform values in
 * [-1, 1) from a counter-based hash of (seed, index): benchmark data that is
 * not zeros. */
int dfit_cuk_fill_uniform(void *y /* [n] */, int bf16, int64_t n, uint32_t seed, void *stream);

/* Launches an empty kernel and waits for it: fails with
 * cudaErrorNoKernelImageForDevice (or the like) when this build has no code
 * for the device's architecture. */
int dfit_cuk_check_launch(void *stream);

#ifdef __cplusplus
}
#endif

#endif
