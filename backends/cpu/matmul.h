/* matmul.h — the fast forward pass's parallel drivers: matrix products
 * through a kernel set (kernels.h) over a thread pool, and the non-matmul
 * operators split over tokens or (token, head) pairs.
 *
 * A matrix product is prepare (the activations converted once for the
 * weight format) then run (one parallel region over the output rows of one
 * or more weights that share those activations, e.g. Q, K and V). Rows are
 * handed out in chunks from an atomic counter; each chunk runs the rows
 * kernel (few tokens) or is packed panel by panel for the gemm kernel
 * (many tokens). A chunk's results do not depend on which thread ran it.
 * Non-goals: sharing work across forward calls, NUMA placement.
 */
#ifndef DFIT_BACKENDS_CPU_MATMUL_H
#define DFIT_BACKENDS_CPU_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "cpu/kernels.h"
#include "util/err.h"
#include "util/threadpool.h"

#define DFIT_MM_MAX_W 4 /* weights per run */

struct dfit_mm;

/* A driver for products of up to n_tok_max tokens with rows of up to
 * n_in_max features; panels are sized for n_in_max. k and tp must outlive
 * it. On failure *out is NULL (DFIT_ENOMEM). *bytes gets the scratch held. */
int dfit_mm_create(const struct dfit_kern *k, struct dfit_threadpool *tp, int64_t n_tok_max,
                   int64_t n_in_max, struct dfit_mm **out, uint64_t *bytes, struct dfit_err *err);
void dfit_mm_free(struct dfit_mm *mm); /* accepts NULL */

/* Prepares x's rows for weights of type t into the driver's activation
 * buffer (or points at x for F32 activations). Valid until the next
 * prepare. n_tok <= n_tok_max, n_in <= n_in_max. */
void dfit_mm_prepare(struct dfit_mm *mm, struct dfit_act *a, const float *x, int64_t n_tok,
                     int64_t n_in, enum dfit_type t);

/* out[i] = act . w[i]^T, out[i] [a->n_tok][w[i]->n_out], for n <= DFIT_MM_MAX_W
 * weights of the type a was prepared for, all with n_in == a->n_in. */
void dfit_mm_run(struct dfit_mm *mm, int n, float *const out[], const struct dfit_weight *const w[],
                 const struct dfit_act *a);

/* prepare + run for one weight. */
void dfit_mm_matmul(struct dfit_mm *mm, float *out, const struct dfit_weight *w, const float *x,
                    int64_t n_tok);

/* ---- non-matmul operators (kern_ops.c) ------------------------------------ */

/* out[t] = rmsnorm(x[t]) * w for each of n_tok rows of n. */
void dfit_kops_rmsnorm(const struct dfit_kern *k, struct dfit_threadpool *tp,
                       float *out /* [n_tok][n] */, const float *x /* [n_tok][n] */,
                       const float *w /* [n] */, int64_t n_tok, int64_t n, float eps);

/* out = silu(gate) * up, elementwise over n. */
void dfit_kops_swiglu(const struct dfit_kern *k, struct dfit_threadpool *tp, float *out /* [n] */,
                      const float *gate /* [n] */, const float *up /* [n] */, int64_t n);

/* out += x, elementwise over n. */
void dfit_kops_add(const struct dfit_kern *k, struct dfit_threadpool *tp, float *out /* [n] */,
                   const float *x /* [n] */, int64_t n);

/* The RoPE angles of n_tok positions, as dfit_ref_rope computes them (in
 * double, rounded to float): cs[t][i] = {cos, sin} of
 * pos[t] * freq_base^(-2i/head_dim), i < head_dim/2. */
void dfit_kops_rope_table(float *cs /* [n_tok][head_dim/2][2] */, const int32_t *pos /* [n_tok] */,
                          int64_t n_tok, int head_dim, float freq_base);

/* In-place RoPE of one token's heads with its row of the table above;
 * equals dfit_ref_rope. */
void dfit_kops_rope(float *x /* [n_head][head_dim] */, int n_head, int head_dim,
                    const float *cs /* [head_dim/2][2] */);

/* Grouped-query causal attention, as dfit_ref_attention, through the
 * kernel set's attention tile: runs of up to DFIT_ATTN_QT consecutive
 * tokens with the same cache form one tile per head, and (tile, head)
 * pairs are handed out dynamically. Token t's K is stored transposed:
 * kt[t] is its sequence's [n_head_kv][head_dim][kt_stride] slice (key j in
 * column j); vc[t] its V slice by head, [n_head_kv][kt_stride][head_dim]
 * (each head's values one contiguous run, read as one stream). tiles is
 * [n_tok + 1] scratch; att holds DFIT_ATTN_QT * att_stride floats per
 * thread (att_stride >= every n_kv, a multiple of 16). */
void dfit_kops_attention(const struct dfit_kern *k, struct dfit_threadpool *tp,
                         float *out /* [n_tok][n_head*head_dim] */,
                         const float *q /* [n_tok][n_head*head_dim] */,
                         const float *const *kt /* [n_tok] -> K^T slice */,
                         const float *const *vc /* [n_tok] -> V slice by head */,
                         const int64_t *n_kv /* [n_tok] */, int64_t n_tok, int n_head,
                         int n_head_kv, int head_dim, int64_t kt_stride,
                         int32_t *tiles /* [n_tok + 1] */,
                         float *att /* [n_threads][DFIT_ATTN_QT][att_stride] */,
                         int64_t att_stride);

#endif
