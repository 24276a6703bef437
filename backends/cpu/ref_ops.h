/* ref_ops.h — the reference operators of a llama forward pass, written for
 * clarity (as llama2.c's) and used as the correctness oracle for every
 * faster kernel and backend. One function per op, output first, a shape
 * comment on every pointer; rows are contiguous (row-major).
 *
 * Determinism: every output element is computed by exactly one thread, in an
 * order of operations that does not depend on the thread count or on how
 * many tokens share the call, so results are identical for any pool size
 * and for batched versus token-by-token runs.
 * Non-goals: speed, SIMD, weight repacking; weights are read in their own
 * format straight from the model file's mapping.
 */
#ifndef DFIT_BACKENDS_CPU_REF_OPS_H
#define DFIT_BACKENDS_CPU_REF_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "model/llama.h"
#include "util/threadpool.h"

/* out = x / sqrt(mean(x^2) + eps) * w (sum of squares in double). out may
 * alias x. */
void dfit_ref_rmsnorm(float *out /* [n] */, const float *x /* [n] */, const float *w /* [n] */,
                      int64_t n, float eps);

/* In-place RoPE, llama.cpp's "normal" mode: within each head, the adjacent
 * pair (x[2i], x[2i+1]) is rotated by the angle
 * pos * freq_base^(-2i/head_dim). */
void dfit_ref_rope(float *x /* [n_head][head_dim] */, int n_head, int head_dim, int32_t pos,
                   float freq_base);

/* In-place softmax with max subtraction (sum in double). n >= 1. */
void dfit_ref_softmax(float *x /* [n] */, int64_t n);

/* silu(x) = x / (1 + exp(-x)). */
float dfit_ref_silu(float x);

/* out = silu(gate) * up, elementwise. out may alias gate or up. */
void dfit_ref_swiglu(float *out /* [n] */, const float *gate /* [n] */, const float *up /* [n] */,
                     int64_t n);

/* out += x, elementwise (residual connection). */
void dfit_ref_add(float *out /* [n] */, const float *x /* [n] */, int64_t n);

/* One embedding row: out = tok_embd row `token`, converted to F32. */
void dfit_ref_embed(float *out /* [n_in] */, const struct dfit_weight *tok_embd, int32_t token);

/* Bytes of the activation buffer dfit_ref_matmul needs for n_tok rows of
 * n_in features (Q8_0 blocks; rounded up to whole blocks). */
size_t dfit_ref_act_bytes(int64_t n_tok, int64_t n_in);

/* Prepares the activation rows for weight type t: for Q8_0/Q4_0 weights,
 * quantizes each row of x ONCE into Q8_0 blocks in act_q8 and returns it;
 * for float weights returns x itself. Rows are split over tp's threads
 * (tp may be NULL: single-threaded). */
const void *dfit_ref_prepare_act(void *act_q8 /* [n_tok][n_in/32] block_q8_0 */,
                                 const float *x /* [n_tok][n_in] */, enum dfit_type t,
                                 int64_t n_tok, int64_t n_in, struct dfit_threadpool *tp);

/* out[t][r] = dot(W row r, activation row t) with the per-format reference
 * block dot product (dfit_vec_dot_ref). `act` is what dfit_ref_prepare_act
 * returned for w->type. Output rows are split over tp's threads. */
void dfit_ref_matmul_act(float *out /* [n_tok][w->n_out] */, const void *act /* [n_tok] rows */,
                         const struct dfit_weight *w, int64_t n_tok, struct dfit_threadpool *tp);

/* out = X · W^T: prepare_act + matmul_act. act_q8 holds
 * dfit_ref_act_bytes(n_tok, w->n_in) bytes (unused for float weights). */
void dfit_ref_matmul(float *out /* [n_tok][w->n_out] */, const float *x /* [n_tok][w->n_in] */,
                     const struct dfit_weight *w, int64_t n_tok, void *act_q8,
                     struct dfit_threadpool *tp);

/* Causal attention of one query head over n_kv cached positions:
 * out = softmax(q·k_j / sqrt(head_dim)) · v_j, j in [0, n_kv). k and v are
 * the first rows of the head's KV slice: row j starts at k + j*kv_stride.
 * att is scratch. */
void dfit_ref_attention_head(float *out /* [head_dim] */, const float *q /* [head_dim] */,
                             const float *k /* [n_kv][kv_stride] */,
                             const float *v /* [n_kv][kv_stride] */, int64_t n_kv,
                             int64_t kv_stride, int head_dim, float *att /* [n_kv] */);

/* Grouped-query attention for a batch: token t's query head h attends
 * KV head h / (n_head / n_head_kv) over the first n_kv[t] rows of its
 * sequence's cache (k[t], v[t]: rows of n_head_kv*head_dim floats).
 * (token, head) pairs are split over tp's threads; att holds one row of
 * att_stride >= max n_kv floats per thread. */
void dfit_ref_attention(float *out /* [n_tok][n_head*head_dim] */,
                        const float *q /* [n_tok][n_head*head_dim] */,
                        const float *const *k /* [n_tok] -> [n_kv[t]][n_head_kv*head_dim] */,
                        const float *const *v /* [n_tok] -> [n_kv[t]][n_head_kv*head_dim] */,
                        const int64_t *n_kv /* [n_tok] */, int64_t n_tok, int n_head,
                        int n_head_kv, int head_dim, float *att /* [n_threads][att_stride] */,
                        int64_t att_stride, struct dfit_threadpool *tp);

#endif
