/* train_ops.h — forward and backward of every operator of a llama model,
 * in F32, for training and distillation (as llm.c's train_gpt2.c: one
 * function pair per op, outputs first, a shape comment on every pointer).
 *
 * Conventions:
 *   - N rows of a batch are B sequences of T tokens, row n = b*T + t; a
 *     token's position is t (every sequence starts at position 0).
 *   - Matrices use ggml's layout: W maps n_in -> n_out and is stored as
 *     n_out rows of n_in floats, so a matmul computes X · Wᵀ.
 *   - Backward functions ACCUMULATE (+=) into every gradient they are given
 *     (callers zero them first), except where a comment says "writes".
 *     A NULL gradient pointer skips that gradient.
 *   - tp may be NULL (single-threaded). Work is split over the rows, columns
 *     or (sequence, head) pairs that a worker owns alone, and every output
 *     element is computed in an order that does not depend on the split, so
 *     results are identical for any thread count.
 *   - RoPE, attention scaling, SwiGLU and RMSNorm follow the CPU reference
 *     backend (backends/cpu/ref_ops.c) in every convention, so a model
 *     trained here runs there with the same outputs up to rounding.
 * Non-goals: other precisions, biases, dropout, fused kernels, SIMD
 * intrinsics (the matrix product is plain C blocked for auto-vectorisation).
 */
#ifndef DFIT_COMPRESS_TRAIN_OPS_H
#define DFIT_COMPRESS_TRAIN_OPS_H

#include <stdint.h>

#include "util/threadpool.h"

/* ---- embedding ---------------------------------------------------------- */

/* out[n] = wte[tokens[n]]; token ids must be in [0, V) (caller checks). */
void dfit_train_embed_forward(float *out /* [N][D] */, const int32_t *tokens /* [N] */,
                              const float *wte /* [V][D] */, int64_t N, int64_t D);
/* dwte[tokens[n]] += dout[n]. */
void dfit_train_embed_backward(float *dwte /* [V][D] */, const float *dout /* [N][D] */,
                               const int32_t *tokens /* [N] */, int64_t N, int64_t D,
                               struct dfit_threadpool *tp);

/* ---- RMSNorm ------------------------------------------------------------ */

/* out = inp * rstd * w with rstd = 1/sqrt(mean(inp^2) + eps) per row (sum of
 * squares in double, as the reference backend); rstd is kept for backward. */
void dfit_train_rmsnorm_forward(float *out /* [N][D] */, float *rstd /* [N] */,
                                const float *inp /* [N][D] */, const float *w /* [D] */, int64_t N,
                                int64_t D, float eps, struct dfit_threadpool *tp);
void dfit_train_rmsnorm_backward(float *dinp /* [N][D] */, float *dw /* [D] */,
                                 const float *dout /* [N][D] */, const float *inp /* [N][D] */,
                                 const float *w /* [D] */, const float *rstd /* [N] */, int64_t N,
                                 int64_t D, struct dfit_threadpool *tp);

/* ---- matrix product: out = inp · wᵀ ------------------------------------- */

/* Floats of scratch dfit_train_matmul_forward needs for these sizes (it
 * transposes w there); the backward function uses none (NULL is fine). */
int64_t dfit_train_matmul_scratch(int64_t N, int64_t n_in, int64_t n_out);
/* Writes out = inp · wᵀ. */
void dfit_train_matmul_forward(float *out /* [N][n_out] */, const float *inp /* [N][n_in] */,
                               const float *w /* [n_out][n_in] */, int64_t N, int64_t n_in,
                               int64_t n_out, float *scratch, struct dfit_threadpool *tp);
/* dinp += dout · w;  dw += doutᵀ · inp. */
void dfit_train_matmul_backward(float *dinp /* [N][n_in] */, float *dw /* [n_out][n_in] */,
                                const float *dout /* [N][n_out] */, const float *inp /* [N][n_in] */,
                                const float *w /* [n_out][n_in] */, int64_t N, int64_t n_in,
                                int64_t n_out, float *scratch, struct dfit_threadpool *tp);

/* C += A · B, all row-major with leading dimensions (the kernel under the
 * matmuls; exposed for tests and other trainers). Rows of C are split over
 * tp's threads. */
void dfit_train_gemm(float *C /* [M][ldc] */, const float *A /* [M][lda] */,
                     const float *B /* [K][ldb] */, int64_t M, int64_t N, int64_t K, int64_t lda,
                     int64_t ldb, int64_t ldc, struct dfit_threadpool *tp);

/* ---- RoPE (llama.cpp "normal" mode) -------------------------------------- */

/* Tables for positions 0..T-1: pair i of a head at position t is rotated by
 * theta = t * freq_base^(-2i/head_dim), computed in double as the reference
 * backend does, then rounded to float. */
void dfit_train_rope_tables(float *cos_t /* [T][head_dim/2] */, float *sin_t /* [T][head_dim/2] */,
                            int64_t T, int head_dim, float freq_base);
/* Writes out = rotate(inp) for each of n_head heads of each row; row n is at
 * position n % T. out may alias inp. */
void dfit_train_rope_forward(float *out /* [N][n_head*head_dim] */,
                             const float *inp /* [N][n_head*head_dim] */,
                             const float *cos_t /* [T][head_dim/2] */,
                             const float *sin_t /* [T][head_dim/2] */, int64_t N, int64_t T,
                             int n_head, int head_dim);
/* Writes dinp = rotateᵀ(dout) (the inverse rotation). dinp may alias dout. */
void dfit_train_rope_backward(float *dinp /* [N][n_head*head_dim] */,
                              const float *dout /* [N][n_head*head_dim] */,
                              const float *cos_t /* [T][head_dim/2] */,
                              const float *sin_t /* [T][head_dim/2] */, int64_t N, int64_t T,
                              int n_head, int head_dim);

/* ---- causal grouped-query attention ------------------------------------- */

/* Query head h attends KV head h / (n_head / n_head_kv) over positions
 * 0..t of its own sequence: att = softmax(q·k / sqrt(head_dim)), out =
 * att · v. att keeps the probabilities (zero above the diagonal). */
void dfit_train_attention_forward(float *out /* [B][T][n_head*head_dim] */,
                                  float *att /* [B][n_head][T][T] */,
                                  const float *q /* [B][T][n_head*head_dim] */,
                                  const float *k /* [B][T][n_head_kv*head_dim] */,
                                  const float *v /* [B][T][n_head_kv*head_dim] */, int64_t B,
                                  int64_t T, int n_head, int n_head_kv, int head_dim,
                                  struct dfit_threadpool *tp);
/* Split over (sequence, KV head) pairs so the heads sharing a KV head
 * accumulate into dk and dv in one fixed order. scratch holds T floats per
 * thread of tp (T floats when tp is NULL). */
void dfit_train_attention_backward(float *dq /* [B][T][n_head*head_dim] */,
                                   float *dk /* [B][T][n_head_kv*head_dim] */,
                                   float *dv /* [B][T][n_head_kv*head_dim] */,
                                   const float *dout /* [B][T][n_head*head_dim] */,
                                   const float *att /* [B][n_head][T][T] */,
                                   const float *q /* [B][T][n_head*head_dim] */,
                                   const float *k /* [B][T][n_head_kv*head_dim] */,
                                   const float *v /* [B][T][n_head_kv*head_dim] */, int64_t B,
                                   int64_t T, int n_head, int n_head_kv, int head_dim,
                                   float *scratch /* [n_threads][T] */, struct dfit_threadpool *tp);

/* ---- SwiGLU and residual -------------------------------------------------- */

/* out = silu(gate) * up, silu(x) = x / (1 + exp(-x)). */
void dfit_train_swiglu_forward(float *out /* [n] */, const float *gate /* [n] */,
                               const float *up /* [n] */, int64_t n, struct dfit_threadpool *tp);
void dfit_train_swiglu_backward(float *dgate /* [n] */, float *dup /* [n] */,
                                const float *dout /* [n] */, const float *gate /* [n] */,
                                const float *up /* [n] */, int64_t n, struct dfit_threadpool *tp);

/* out = a + b (out may alias a or b). */
void dfit_train_residual_forward(float *out /* [n] */, const float *a /* [n] */,
                                 const float *b /* [n] */, int64_t n);
/* da += dout; db += dout (neither may alias dout). */
void dfit_train_residual_backward(float *da /* [n] */, float *db /* [n] */,
                                  const float *dout /* [n] */, int64_t n);

/* ---- losses over the vocabulary ------------------------------------------ */

/* probs = softmax(logits); losses[n] = -log probs[n][targets[n]] (computed
 * from the log-sum-exp in double). Targets must be in [0, V). */
void dfit_train_ce_forward(float *losses /* [N] */, float *probs /* [N][V] */,
                           const float *logits /* [N][V] */, const int32_t *targets /* [N] */,
                           int64_t N, int64_t V, struct dfit_threadpool *tp);
/* dlogits[n] += dloss[n] * (probs[n] - onehot(targets[n])). */
void dfit_train_ce_backward(float *dlogits /* [N][V] */, const float *probs /* [N][V] */,
                            const int32_t *targets /* [N] */, const float *dloss /* [N] */,
                            int64_t N, int64_t V, struct dfit_threadpool *tp);

/* Distillation: probs = softmax(logits / temp) and losses[n] =
 * KL(teacher[n] || probs[n]) = sum_j p_j (log p_j - log q_j), with teacher
 * rows being probabilities at the same temperature that sum to 1 (the
 * gradient below assumes it; terms with p_j = 0 count 0). The gradient has the 1/temp of the chain rule but no temp^2
 * factor: callers that want Hinton's scaling put it into dloss. */
void dfit_train_kl_forward(float *losses /* [N] */, float *probs /* [N][V] */,
                           const float *logits /* [N][V] */, const float *teacher /* [N][V] */,
                           float temp, int64_t N, int64_t V, struct dfit_threadpool *tp);
/* dlogits[n] += dloss[n] * (probs[n] - teacher[n]) / temp. */
void dfit_train_kl_backward(float *dlogits /* [N][V] */, const float *probs /* [N][V] */,
                            const float *teacher /* [N][V] */, const float *dloss /* [N] */,
                            float temp, int64_t N, int64_t V, struct dfit_threadpool *tp);

/* The mean of losses over the rows whose mask is nonzero (every row when
 * mask is NULL), summed in double in row order; writes dloss[n] =
 * (mask[n] != 0) / count, the gradient of that mean. Returns 0 and writes
 * zeros when no row counts. *count (may be NULL) gets the count. */
double dfit_train_masked_mean(float *dloss /* [N] */, const float *losses /* [N] */,
                              const uint8_t *mask /* [N] or NULL */, int64_t N, int64_t *count);

#endif
