/* sparse.h — sparse repacks of pruned weight matrices, made at backend
 * load, and the kernels that multiply by them.
 *
 * A model pruned by `dfit compress --prune unstructured:S | 2:4` stores its
 * zeros densely and says so in `dfit.prune.pattern`. At load the CPU
 * backend repacks each declared-pruned matrix (the seven projections of
 * every block; the output matrix with dfit.prune.include_output) into a
 * layout that skips the zeros, after checking that the matrix really has
 * the pattern; one that does not (a hand-edited file) stays dense and the
 * load report's kernels string names it.
 *
 * Layouts (values always in the weight's own element type, so the repack
 * rounds nothing and F16/BF16 keep their 2-byte stream):
 *   BITMAP  F32/F16/BF16 unstructured: per 16 elements of a row a 16-bit
 *           mask of the non-zeros, and the non-zero values packed in order;
 *           1 bit + (1 - s) * element size per weight.
 *   2:4     F32/F16/BF16 2:4: per group of 4 the 2 kept values and their
 *           two 2-bit positions (as NVIDIA's sparse tensor cores store
 *           it), 32 columns = 16 values + one 32-bit selector word.
 *   BLOCKS  Q8_0/Q4_0 unstructured: per row the list of blocks that are not
 *           all zero, the blocks themselves kept whole. Element-level
 *           sparsity inside a block does not pay for these formats (a
 *           block's 32 quants are read and multiplied together by one
 *           integer dot instruction), so only all-zero blocks are skipped,
 *           and only when at least DFIT_SPARSE_MIN_ZERO_BLOCKS of them are
 *           (unstructured pruning at S leaves a fraction S^32 of them zero:
 *           nothing below S = 0.96). Only decode uses them: products of
 *           DFIT_SPARSE_XT_MIN_TOK tokens or more keep the dense gemm on
 *           the mapping (a block-sparse gemm is not written; the rows
 *           kernel ran prefill at a third of the dense speed).
 * Quantized 2:4 matrices stay dense (docs/kernels.md says why).
 *
 * Repacking: sparse_pack.c (one matrix), sparse_model.c (a model's).
 * Kernels (sparse_kern.c, scalar; sparse_kern_avx512.c): a rows shape for
 * decode (each compressed row streamed once per 4 tokens: AVX-512 expands
 * the packed values into lanes against dense activations) and an xt shape
 * for prefill (each compressed row unpacked once per tile of up to 256
 * tokens into column indices and F32 values, then every non-zero meets the
 * tile's activations, transposed so that 16 tokens share one FMA). Rows are
 * split over threads in units of about equal non-zero count, handed out
 * dynamically; every output element's arithmetic depends only on the
 * kernel set and the shape, never on the thread count.
 * Non-goals: other patterns (structured pruning shrinks the matrices, so
 * the dense kernels already gain), GPUs, writing sparse files.
 */
#ifndef DFIT_BACKENDS_CPU_SPARSE_H
#define DFIT_BACKENDS_CPU_SPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "model/llama.h"
#include "util/err.h"
#include "util/threadpool.h"

/* BLOCKS repack only when at least this fraction of a matrix's blocks is
 * all zero (below it the block list costs more than it skips). */
#define DFIT_SPARSE_MIN_ZERO_BLOCKS 0.25
/* Products of at least this many tokens take the xt (prefill) shape. */
#define DFIT_SPARSE_XT_MIN_TOK 6
/* Tokens per xt tile: each compressed row is unpacked once per tile. */
#define DFIT_SPARSE_XT_TILE 256

enum dfit_sparse_layout {
    DFIT_SPARSE_BITMAP = 0,
    DFIT_SPARSE_2_4,
    DFIT_SPARSE_BLOCKS,
    DFIT_SPARSE_N_LAYOUT
};

/* "bitmap", "2:4", "blocks". */
const char *dfit_sparse_layout_name(enum dfit_sparse_layout l);

struct dfit_sparse_arena;

/* One repacked matrix (n_in -> n_out, ggml's row = one output). */
struct dfit_sparse_mat {
    struct dfit_sparse_arena *arena; /* NULL: mask, sel, blk and val on the
                                        heap; else in its set's arena */
    enum dfit_sparse_layout layout;
    enum dfit_type type; /* the weight's (and the values') element type */
    int64_t n_in, n_out;
    int64_t n_grp;     /* per row: BITMAP 16-column masks, 2:4 32-column
                          words, BLOCKS n_in/32 blocks */
    uint64_t n_val;    /* values (BITMAP, 2:4 incl. padding) or blocks stored */
    uint64_t n_nonzero; /* non-zero elements of the matrix */
    uint64_t *row_off; /* BITMAP, BLOCKS: [n_out + 1] first value/block of
                          each row; NULL for 2:4 (n_grp*16 values a row) */
    uint16_t *mask;    /* BITMAP: [n_out][n_grp], bit j of mask c: column
                          16c+j is non-zero (bits past n_in are 0) */
    uint32_t *sel;     /* 2:4: [n_out][n_grp], bits 2i..2i+1 of word c: the
                          position in its group of 4 of value i of the
                          word's 16 (value i is in group i/2, column
                          32c + 4(i/2) + sel) */
    uint16_t *blk;     /* BLOCKS: [n_val] block index of each stored block */
    void *val;         /* values in `type`: BITMAP [n_val], 2:4
                          [n_out][n_grp*16], BLOCKS [n_val] blocks; 64
                          zero bytes of padding after the last */
    int64_t n_unit;    /* thread work units (rows of about equal work) */
    int64_t *unit_row; /* [n_unit + 1] first row of each unit */
    uint64_t bytes;    /* bytes held, all read by one product */
};

/* Repacks w into layout l, splitting rows into work units for n_threads.
 * Checks the pattern: DFIT_EINVAL when w does not fit l (a group of 4
 * with more than 2 non-zeros for 2:4, naming the row and column; a type
 * the layout does not take; BLOCKS with fewer than
 * DFIT_SPARSE_MIN_ZERO_BLOCKS zero blocks, or rows of 2^16 blocks or
 * more), DFIT_ENOMEM. On failure *out is NULL. */
int dfit_sparse_pack(const struct dfit_weight *w, enum dfit_sparse_layout l, int n_threads,
                     struct dfit_sparse_mat **out, struct dfit_err *err);
void dfit_sparse_mat_free(struct dfit_sparse_mat *s); /* accepts NULL */

/* Non-zero elements of w (zero: +0 or -0 for floats, a zero quant or
 * scale for Q8_0/Q4_0). */
uint64_t dfit_sparse_count_nonzero(const struct dfit_weight *w);

/* An anonymous mapping of cap bytes (2 MiB-aligned, advised into huge
 * pages; pages cost memory only once touched) from which matrices packed
 * in parallel take their large arrays; NULL when out of memory. */
struct dfit_sparse_arena *dfit_sparse_arena_create(size_t cap);
void dfit_sparse_arena_free(struct dfit_sparse_arena *a); /* accepts NULL */
/* dfit_sparse_pack with mask/sel/blk/val in arena a (NULL: the heap), which
 * must then outlive *out. DFIT_ENOMEM also when a is full. */
int dfit_sparse_pack_in(const struct dfit_weight *w, enum dfit_sparse_layout l, int n_threads,
                        struct dfit_sparse_arena *a, struct dfit_sparse_mat **out,
                        struct dfit_err *err);

/* ---- kernels ------------------------------------------------------------- */

/* The rows shape: out[t * ldo + r] = dot(row r, act row t) for r in
 * [r0, r1) and every t < a->n_tok. a is F32 rows for BITMAP and 2:4, Q8
 * rows (dfit_mm_prepare; only quants and scales are read) for BLOCKS. */
typedef void (*dfit_sparse_rows_fn)(float *out, int64_t ldo, const struct dfit_sparse_mat *s,
                                    int64_t r0, int64_t r1, const struct dfit_act *a);

struct dfit_sparse_kern {
    char name[16]; /* "scalar", "avx512" */
    dfit_sparse_rows_fn rows[DFIT_SPARSE_N_LAYOUT];
    /* Unpacks row r of a BITMAP or 2:4 matrix: its stored values' column
     * indices (increasing) and values as F32; returns how many. idx and
     * val hold at least n_in + 16 entries. (2:4 rows include their kept
     * zeros.) */
    int64_t (*unpack)(int32_t *idx, float *val, const struct dfit_sparse_mat *s, int64_t r);
    /* The xt shape over unpacked rows: for row i < n_rows, entries
     * [beg[i], beg[i+1]) of idx/val, out[t * ldo + row[i]] = sum over its
     * entries e of val[e] * xt[idx[e] * ldx + t], t < n_tok; xt is the
     * activations transposed, [n_in][ldx], ldx a multiple of 16 >= n_tok,
     * zero past n_tok. */
    void (*xt_rows)(float *out, int64_t ldo, int n_rows, const int64_t *row, const int64_t *beg,
                    const int32_t *idx, const float *val, const float *xt, int64_t ldx,
                    int64_t n_tok);
};

void dfit_sparse_kern_init_scalar(struct dfit_sparse_kern *k);
/* Overrides with AVX-512 (F, BW, VL, DQ) kernels; false (k unchanged) in a
 * build without x86 intrinsics. The caller checks the CPU's features. */
bool dfit_sparse_kern_init_avx512(struct dfit_sparse_kern *k);

/* ---- the parallel driver (sparse_kern.c) -------------------------------- */

struct dfit_sparse_exec;

/* A driver for products of up to n_tok_max tokens of up to n_in_max
 * features over tp (which, like k, must outlive it). On failure *out is
 * NULL (DFIT_ENOMEM). *bytes gets the scratch held. */
int dfit_sparse_exec_create(const struct dfit_sparse_kern *k, struct dfit_threadpool *tp,
                            int64_t n_tok_max, int64_t n_in_max, struct dfit_sparse_exec **out,
                            uint64_t *bytes, struct dfit_err *err);
void dfit_sparse_exec_free(struct dfit_sparse_exec *e); /* accepts NULL */

/* out[i] = act . s[i]^T for n <= DFIT_MM_MAX_W matrices of one kind (all
 * BITMAP/2:4 with a F32 act, or all BLOCKS with a Q8 act), all with n_in ==
 * a->n_in, in one parallel region (per tile of tokens for the xt shape). */
void dfit_sparse_exec_run(struct dfit_sparse_exec *e, int n, float *const out[],
                          const struct dfit_sparse_mat *const s[], const struct dfit_act *a);

/* ---- a loaded model's repacks (sparse_model.c) ---------------------------- */

struct dfit_sparse {
    const struct dfit_model *m;
    struct dfit_sparse_mat **layer; /* [n_layer][7] (prune.h's order); NULL: dense */
    struct dfit_sparse_mat *output; /* NULL: dense */
    struct dfit_sparse_kern kern;
    struct dfit_sparse_exec *exec;
    struct dfit_sparse_arena *arena; /* the repacks' arrays (huge pages) */
    int n_declared, n_packed;  /* matrices the metadata declares pruned, repacked */
    uint64_t bytes;            /* bytes the repacks hold */
    uint64_t dense_bytes;      /* bytes of the dense matrices they replace */
    uint64_t scratch_bytes;    /* the driver's */
    char summary[96];          /* "+2:4(28/28)", "+bitmap(27/28; dense:
                                  blk.3.attn_q.weight)" for the load report */
};

/* Whether sparse kernels are wanted, and the kernel-set name without the
 * option: `kernels` "SET+dense" (or "dense", meaning auto) or the
 * environment's DFIT_CPU_SPARSE=0 turn them off. Writes the set name
 * ("auto" for "dense") into set (n bytes, truncated). */
bool dfit_sparse_wanted(const char *kernels, char *set, size_t n);

/* Repacks m's declared-pruned matrices (dfit.prune.pattern unstructured
 * or 2:4) for kernel set `kern_name` (AVX-512 sparse kernels when it
 * starts with "avx512", else scalar) on tp's threads, with a driver for
 * n_tok_max tokens of n_in_max features. *out is NULL (and 0 returned)
 * when the model declares no such pattern. A matrix that does not fit the
 * declared pattern stays dense (counted in summary); a malformed
 * dfit.prune.* key is DFIT_EINVAL naming it; DFIT_ENOMEM. On failure
 * *out is NULL and nothing leaks. */
int dfit_sparse_create(const struct dfit_model *m, const char *kern_name,
                       struct dfit_threadpool *tp, int64_t n_tok_max, int64_t n_in_max,
                       struct dfit_sparse **out, struct dfit_err *err);
void dfit_sparse_free(struct dfit_sparse *s); /* accepts NULL */

/* The repack of weight w of s->m (a layer projection or the output), or
 * NULL when it stays dense. */
const struct dfit_sparse_mat *dfit_sparse_find(const struct dfit_sparse *s,
                                               const struct dfit_weight *w);

/* out[i] = x . w[i]^T for n <= DFIT_MM_MAX_W weights of s->m sharing x
 * [n_tok][n_in]: the repacked ones through the sparse driver (one
 * parallel region; BLOCKS repacks only below DFIT_SPARSE_XT_MIN_TOK
 * tokens), the others through mm. Returns false, doing nothing, when none
 * of them is taken by the sparse driver. */
bool dfit_sparse_matmuls(struct dfit_sparse *s, struct dfit_mm *mm, int n, float *const out[],
                         const struct dfit_weight *const w[], const float *x, int64_t n_tok);

#endif
