/* cuda_plan.h — the CUDA backend's host-side planning, done before any
 * device call and unit-tested without a GPU: the kernel options parsed
 * from the `kernels` parameter, where every weight, cache and scratch
 * buffer lives in the device arenas and how large each is, which matrix
 * product path a batch takes, the cuBLAS arguments of a row-block product,
 * how quantized weights are dequantized tile by tile for it, and the
 * repacking of Q8_0/Q4_0 blocks into the split device layout
 * (cuda_layout.h).
 * Non-goals: device calls (cuda_backend.c, cuda_upload.c, cuda_forward.c),
 * batch validation and the graph cache (cuda_batch.h).
 */
#ifndef DFIT_BACKENDS_CUDA_PLAN_H
#define DFIT_BACKENDS_CUDA_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "model/llama.h"
#include "util/err.h"

/* Sanity caps on load parameters (as the CPU backend's). */
#define DFIT_CUDA_MAX_CTX (1u << 20)
#define DFIT_CUDA_MAX_SEQ 4096u
#define DFIT_CUDA_MAX_BATCH (1u << 16)

#define DFIT_CUDA_MMV_MAX_TOK 8       /* auto: matrix-vector kernels up to this many
                                         tokens (also their column limit per launch) */
#define DFIT_CUDA_GRAPH_MAX_TOK 64    /* batches of at most this many tokens are
                                         captured as CUDA graphs */
#define DFIT_CUDA_LOGITS_CHUNK 64u    /* output-matrix rows (tokens) per chunk */
#define DFIT_CUDA_DEQ_MAX_ELEMS ((int64_t)32 << 20) /* F16 dequantization tile */
#define DFIT_CUDA_BLAS_WS_BYTES ((uint64_t)32 << 20) /* cuBLAS workspace */
#define DFIT_CUDA_ALIGN 256u          /* every buffer starts on this boundary */

enum dfit_cuda_kv_type { DFIT_CUDA_KV_F16, DFIT_CUDA_KV_F32 };
enum dfit_cuda_mm { DFIT_CUDA_MM_AUTO, DFIT_CUDA_MM_MMV, DFIT_CUDA_MM_GEMM };

struct dfit_cuda_options {
    enum dfit_cuda_mm mm;   /* AUTO: MMV up to DFIT_CUDA_MMV_MAX_TOK tokens, else GEMM */
    enum dfit_cuda_kv_type kv;   /* KV-cache element type */
    bool graphs;            /* capture decode batches as CUDA graphs */
};

/* Parses the `kernels` parameter: NULL, "" or a comma-separated list of
 * "auto", "mmv" (matrix-vector kernels for every batch), "gemm" (cuBLAS
 * for every batch), "kv-f16" (default), "kv-f32", "graphs" (default),
 * "no-graphs". Later words override earlier ones. DFIT_EUNSUPPORTED
 * naming the word and listing the choices otherwise. */
int dfit_cuda_options_parse(const char *s, struct dfit_cuda_options *out, struct dfit_err *err);

/* Writes a short description ("mmv+cublas-f16 kv-f16 graphs") into buf. */
void dfit_cuda_options_describe(const struct dfit_cuda_options *o, char *buf, size_t cap);

/* The path of a matrix product over n_tok activation rows. */
enum dfit_cuda_mm dfit_cuda_mm_pick(const struct dfit_cuda_options *o, uint32_t n_tok);

/* ---- weight slots ------------------------------------------------------- */

enum {
    DFIT_CUDA_W_TOK_EMBD,
    DFIT_CUDA_W_OUTPUT_NORM,
    DFIT_CUDA_W_OUTPUT,
    DFIT_CUDA_W_GLOBALS
};
enum {
    DFIT_CUDA_L_ATTN_NORM,
    DFIT_CUDA_L_WQ,
    DFIT_CUDA_L_WK,
    DFIT_CUDA_L_WV,
    DFIT_CUDA_L_WO,
    DFIT_CUDA_L_FFN_NORM,
    DFIT_CUDA_L_GATE,
    DFIT_CUDA_L_UP,
    DFIT_CUDA_L_DOWN,
    DFIT_CUDA_L_COUNT
};

static inline uint32_t dfit_cuda_wslot(uint32_t il, int which)
{
    return DFIT_CUDA_W_GLOBALS + il * DFIT_CUDA_L_COUNT + (uint32_t)which;
}

/* One weight tensor as placed in the device weight arena. */
struct dfit_cuda_wplace {
    const struct dfit_weight *w; /* the host tensor (in the model's mapping) */
    uint64_t off_q, bytes_q;     /* rows (float types) or quants (Q8_0, Q4_0) */
    uint64_t off_d, bytes_d;     /* fp16 block scales; 0 bytes for float types */
    bool alias;                  /* shares the token embedding's bytes (tied output) */
};

/* Scratch buffers, as offsets into the workspace arena. */
enum dfit_cuda_ws {
    DFIT_CUDA_WS_X,       /* f32 [n_batch][n_embd] residual stream */
    DFIT_CUDA_WS_XB,      /* f32 [n_batch][n_embd] normed input of a block */
    DFIT_CUDA_WS_XO,      /* f32 [n_batch][n_embd] block output */
    DFIT_CUDA_WS_Q,       /* f32 [n_batch][q_dim] */
    DFIT_CUDA_WS_K,       /* f32 [n_batch][kv_dim] */
    DFIT_CUDA_WS_V,       /* f32 [n_batch][kv_dim] */
    DFIT_CUDA_WS_ATT,     /* f32 [n_batch][q_dim] attention output */
    DFIT_CUDA_WS_HB,      /* f32 [n_batch][n_ff] gate, then SwiGLU */
    DFIT_CUDA_WS_HB2,     /* f32 [n_batch][n_ff] up */
    DFIT_CUDA_WS_ACT_Q,   /* int8 [n_batch][max_in] activation quants */
    DFIT_CUDA_WS_ACT_D,   /* f32 [n_batch][max_in/32] activation block scales */
    DFIT_CUDA_WS_ACT_S,   /* int32 [n_batch][max_in/32] activation block quant sums */
    DFIT_CUDA_WS_ACT_H,   /* f16/bf16 [n_batch][max_in] GEMM activations */
    DFIT_CUDA_WS_DEQ,     /* f16 [deq_elems] dequantized weight tile */
    DFIT_CUDA_WS_LOGITS,  /* f32 [logits_rows][n_vocab] */
    DFIT_CUDA_WS_INPUTS,  /* int32 [4][n_batch] token, pos, seq, wanted index */
    DFIT_CUDA_WS_BLAS,    /* cuBLAS workspace */
    DFIT_CUDA_WS_COUNT
};

struct dfit_cuda_buf {
    uint64_t off, bytes;
};

struct dfit_cuda_plan {
    uint32_t n_slots;                /* DFIT_CUDA_W_GLOBALS + 9 * n_layer */
    struct dfit_cuda_wplace *slot;   /* [n_slots], owned */
    uint64_t weight_bytes;           /* the weight arena */
    uint64_t pass_bytes;             /* weight bytes one forward pass reads */

    enum dfit_cuda_kv_type kv;
    int64_t q_dim, kv_dim;           /* n_head*head_dim, n_head_kv*head_dim */
    uint64_t kv_elem_bytes;          /* 2 (f16) or 4 (f32) */
    uint64_t kv_elems;               /* per cache: n_seq*n_layer*n_ctx*kv_dim */
    uint64_t kv_bytes;               /* K and V caches together */

    struct dfit_cuda_buf ws[DFIT_CUDA_WS_COUNT];
    uint64_t workspace_bytes;        /* the workspace arena */
    int64_t max_in;                  /* widest matrix-product input */
    int64_t deq_elems;               /* dequantization tile capacity, 0 if unused */
    uint32_t logits_rows;            /* min(n_batch_max, DFIT_CUDA_LOGITS_CHUNK) */
    bool any_quant;                  /* some matrix is Q8_0 or Q4_0 */
    bool needs_gemm;                 /* some batch can take the cuBLAS path */
};

/* Plans the device buffers of model m for params p and options o. Fails
 * with DFIT_EINVAL naming the parameter out of range, DFIT_EUNSUPPORTED for
 * a weight type or shape the kernels lack ("cuda backend: head_dim 320
 * exceeds the attention kernel's 256"), DFIT_ERANGE when a size overflows,
 * DFIT_ENOMEM when the slot table cannot be allocated; on failure *out is
 * zeroed and nothing leaks. */
int dfit_cuda_plan_make(const struct dfit_model *m, const struct dfit_backend_params *p,
                        const struct dfit_cuda_options *o, struct dfit_cuda_plan *out,
                        struct dfit_err *err);
void dfit_cuda_plan_free(struct dfit_cuda_plan *plan); /* accepts a zeroed plan */

/* ---- cuBLAS arguments ----------------------------------------------------- */

/* A product out[t][i] = dot(W row i, x row t), for i < n_rows, t < n_tok,
 * with W rows of n_in elements back to back, x rows ldx elements apart and
 * out rows ldo elements apart, as one column-major cuBLAS GEMM:
 *   C (m x n, ldc) = op(A)(m x k) * B (k x n), transa = T, transb = N,
 * where A is W seen as column-major k x m (lda = n_in), B is x seen as
 * column-major k x n (ldb = ldx) and C is out (ldc = ldo). */
struct dfit_cuda_gemm {
    int m, n, k;
    int lda, ldb, ldc;
};

/* Fills g; DFIT_ERANGE when a dimension does not fit cuBLAS's int, and
 * DFIT_EINVAL when ldx < n_in or ldo < n_rows. */
int dfit_cuda_gemm_args(int64_t n_rows, int64_t n_tok, int64_t n_in, int64_t ldx, int64_t ldo,
                        struct dfit_cuda_gemm *g, struct dfit_err *err);

/* Rows of an n_in-wide quantized weight dequantized per tile of deq_elems
 * elements (at least 1, at most n_out). */
int64_t dfit_cuda_deq_rows(int64_t n_in, int64_t n_out, int64_t deq_elems);

/* ---- repacking for upload ------------------------------------------------- */

/* Splits n_blocks Q8_0 blocks (rows back to back) into quants
 * qs[n_blocks*32] and scales d[n_blocks]. */
void dfit_cuda_repack_q8_0(const struct dfit_block_q8_0 *src, int64_t n_blocks, int8_t *qs,
                           uint16_t *d);
/* Splits n_blocks Q4_0 blocks into packed nibbles qs[n_blocks*16] (bytes as
 * in the block) and scales d[n_blocks]. */
void dfit_cuda_repack_q4_0(const struct dfit_block_q4_0 *src, int64_t n_blocks, uint8_t *qs,
                           uint16_t *d);

#endif
