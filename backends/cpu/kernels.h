/* kernels.h — the CPU backend's fast kernel sets and the table that
 * dispatches to them.
 *
 * A kernel set ("scalar", "avx2", "avx512[-vnni][-bf16]") is a struct of
 * function pointers filled at backend load from the CPU's features: one
 * entry per weight format for the matrix products, plus the activation
 * converters and the non-matmul operators of the forward pass. Each set
 * starts from the one below it and overrides what its ISA does better, so
 * a feature the CPU lacks (VNNI, BF16) falls back to the next best kernel.
 * The reference operators (ref_ops.h) stay the oracle; they are not here.
 *
 * Matrix products come in two shapes (matmul.c chooses):
 *   rows: the dot-product form, out[t][r] = dot(W row r, act row t) over a
 *         few rows and tokens at a time, each weight row streamed once
 *         (decode: bandwidth-bound matrix-vector);
 *   gemm: weights packed panel by panel (panel_rows rows, rows in SIMD
 *         lanes) into a per-thread buffer, then an outer-product
 *         micro-kernel over tiles of tokens reuses every packed weight from
 *         registers (prefill: compute-bound matrix-matrix).
 * Activations are prepared once per matrix product in the layout the
 * weight format's kernels read (struct dfit_act).
 *
 * Every output element is computed by one kernel call with an order of
 * operations that depends only on the kernel set and on which shape ran
 * (rows or gemm), never on the thread count or the rows' grouping.
 * Non-goals: other weight formats, repacking weights at load, GPUs.
 */
#ifndef DFIT_BACKENDS_CPU_KERNELS_H
#define DFIT_BACKENDS_CPU_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu_features.h"
#include "model/llama.h"
#include "util/err.h"

/* Queries per attention tile (consecutive tokens of one sequence sharing
 * every K and V load). */
#define DFIT_ATTN_QT 4

/* Weight formats as table indices. */
enum dfit_kfmt {
    DFIT_KFMT_F32,
    DFIT_KFMT_F16,
    DFIT_KFMT_BF16,
    DFIT_KFMT_Q8_0,
    DFIT_KFMT_Q4_0,
    DFIT_KFMT_Q4_0_X4,
    DFIT_KFMT_COUNT
};

/* Q4_0 regrouped for decode, as the resident copy holds it (resident.h)
 * where the kernel set has kernels for it: each row's blocks in groups of
 * 4, a group being the 4 blocks' 16-byte quants (64 bytes) then their 4
 * fp16 scales (8 bytes) — 72 bytes, as 4 blocks take in the file, so a
 * row keeps its size. One 64-byte load then covers 128 weights. Only for
 * rows of a multiple of 128 weights; in memory only, never in a file (the
 * value is outside GGUF's type ids). */
#define DFIT_TYPE_Q4_0_X4 ((enum dfit_type)0x4000)
#define DFIT_Q4_0_X4_GROUP 72 /* bytes per 4 blocks */

/* Rows of Q4_0 (n_in a multiple of 128) regrouped into DFIT_TYPE_Q4_0_X4:
 * rows [r0, r1) of src, each row_bytes long, into dst (same offsets). */
void dfit_q4_0_x4_repack(uint8_t *dst, const uint8_t *src, size_t row_bytes, int64_t n_in,
                         int64_t r0, int64_t r1);

/* The table index of type t, or -1 for a type without kernels. */
int dfit_kfmt_of(enum dfit_type t);

/* Activation layouts. */
enum dfit_act_kind {
    DFIT_ACT_F32,  /* the F32 rows themselves */
    DFIT_ACT_BF16, /* bf16, round to nearest even, zero-padded to 32 */
    DFIT_ACT_Q8,   /* Q8_0 blocks, split: see below */
};

/* Prepared activation rows. A DFIT_ACT_Q8 row of n_in = 32*nb elements
 * holds, from its start (64-byte aligned):
 *   int8  qs[n_in]   the Q8_0 quants, as dfit_quantize_row_q8_0_ref's
 *   float d[nb]      each block's fp16 scale, converted to float
 *   int32 corr[nb]   -q_off * (sum of the block's quants): the integer
 *                    correction for weight quants stored with offset q_off
 *                    (Q8_0 weights read as w+128, Q4_0 nibbles as w+8). */
struct dfit_act {
    enum dfit_act_kind kind;
    int32_t q_off;
    int64_t n_tok, n_in;
    size_t row_bytes; /* stride between token rows */
    const void *data; /* [n_tok] rows */
};

/* Bytes of one prepared row (a multiple of 64). */
size_t dfit_act_row_bytes(enum dfit_act_kind kind, int64_t n_in);

static inline const int8_t *dfit_act_q8_qs(const struct dfit_act *a, int64_t t)
{
    return (const int8_t *)a->data + (size_t)t * a->row_bytes;
}
static inline const float *dfit_act_q8_d(const struct dfit_act *a, int64_t t)
{
    return (const float *)(dfit_act_q8_qs(a, t) + a->n_in);
}
static inline const int32_t *dfit_act_q8_corr(const struct dfit_act *a, int64_t t)
{
    return (const int32_t *)(dfit_act_q8_d(a, t) + a->n_in / 32);
}
static inline const void *dfit_act_row(const struct dfit_act *a, int64_t t)
{
    return (const uint8_t *)a->data + (size_t)t * a->row_bytes;
}

/* Dot-product form: out[t * ldo + r] = dot(W row r, act row t) for r in
 * [r0, r1) and t in [t0, t1). */
typedef void (*dfit_kern_rows_fn)(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                                  int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1);
/* Packs rows [r0, r0 + nr) of w (nr <= panel_rows) into panel. */
typedef void (*dfit_kern_pack_fn)(void *panel, const struct dfit_weight *w, int64_t r0, int nr);
/* Outer-product form over a packed panel of nr rows starting at output
 * column 0: out[t * ldo + i] = dot(panel row i, act row t) for i < nr, t in
 * [t0, t1). */
typedef void (*dfit_kern_gemm_fn)(float *out, int64_t ldo, const void *panel, int nr,
                                  const struct dfit_act *a, int64_t t0, int64_t t1);

struct dfit_kern_fmt {
    enum dfit_act_kind act; /* activation layout the kernels read */
    int32_t q_off;          /* DFIT_ACT_Q8: weight quant offset */
    dfit_kern_rows_fn rows; /* always set */
    int panel_rows;         /* 0: no gemm shape */
    int64_t gemm_min_tok;   /* gemm shape from this many tokens */
    size_t (*panel_bytes)(int64_t n_in);
    dfit_kern_pack_fn pack;
    dfit_kern_gemm_fn gemm;
};

struct dfit_kern {
    char name[32]; /* "scalar", "avx2", "avx512-vnni-bf16", ... */
    struct dfit_kern_fmt fmt[DFIT_KFMT_COUNT];

    /* One activation row into DFIT_ACT_Q8 (n % 32 == 0): quants and
     * scales equal dfit_quantize_row_q8_0_ref's for finite x. */
    void (*quantize_q8)(void *row, const float *x, int64_t n, int32_t q_off);
    /* One row into bf16, zero-padded to a multiple of 32 elements. */
    void (*to_bf16)(dfit_bf16 *y, const float *x, int64_t n);

    /* Non-matmul operators (their ref_ops.h namesakes, with float sums). */
    void (*rmsnorm)(float *out, const float *x, const float *w, int64_t n, float eps);
    void (*swiglu)(float *out, const float *gate, const float *up, int64_t n);
    void (*add)(float *out, const float *x, int64_t n);
    /* Causal attention of nq <= DFIT_ATTN_QT queries of one head over one
     * KV head: out_i = softmax_j(scale * q_i . k_j) . v_j over j < n_kv[i].
     * Query i is q + i*q_stride, its output out + i*out_stride. K is
     * stored transposed: element d of key j at kt[d * kt_stride + j]; V
     * row j at v + j*v_stride. att is scratch of nq rows of att_stride
     * floats (att_stride >= max n_kv, a multiple of 16). */
    void (*attn)(float *out, int64_t out_stride, const float *q, int64_t q_stride, int nq,
                 const int64_t *n_kv, const float *kt, int64_t kt_stride, const float *v,
                 int64_t v_stride, int head_dim, float scale, float *att, int64_t att_stride);
};

/* Fills *out with kernel set `want` for the CPU features f:
 *   NULL, "" or "auto": the best set f allows;
 *   "scalar", "avx2", "avx512": that set (avx512 with VNNI and BF16 kernels
 *   where f has them).
 * Fails with DFIT_EUNSUPPORTED naming the missing feature ("cpu backend:
 * kernels 'avx512' need avx512bw, which this CPU lacks") or listing the
 * choices for an unknown name. "ref" is not a kernel set: the caller runs
 * the reference operators instead. */
int dfit_kern_select(const char *want, const struct dfit_cpu_features *f, struct dfit_kern *out,
                     struct dfit_err *err);

/* Whether the kernels string ends in option `suffix` ("+dense", "+mmap");
 * writes it without the option into set (n bytes, truncated). A string
 * that is nothing but the option keeps it (the selector then names it). */
bool dfit_kern_option(const char *kernels, const char *suffix, char *set, size_t n);

/* The per-ISA layers, each applied over the previous (kern_*.c). */
void dfit_kern_init_scalar(struct dfit_kern *k);
void dfit_kern_init_avx2(struct dfit_kern *k);
void dfit_kern_init_avx512(struct dfit_kern *k, const struct dfit_cpu_features *f);
void dfit_kern_init_avx512_ops(struct dfit_kern *k);
void dfit_kern_init_avx512_quant(struct dfit_kern *k, const struct dfit_cpu_features *f);

#endif
