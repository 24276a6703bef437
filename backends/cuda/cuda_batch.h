/* cuda_batch.h — the host side of one CUDA forward call: validating a
 * batch against the sequences' cache lengths before any device work, packing
 * its ids into the compact input block the kernels read, and the cache of
 * CUDA graphs keyed by batch shape. No device calls: tested on the CPU.
 * Non-goals: the kernels and their launch order (cuda_forward.c).
 */
#ifndef DFIT_BACKENDS_CUDA_BATCH_H
#define DFIT_BACKENDS_CUDA_BATCH_H

#include <stdint.h>

#include "backend.h"
#include "util/err.h"

/* Checks batch b as the CPU backend does (non-empty, at most n_batch_max
 * tokens, ids in range, each sequence's positions continuing its cache
 * contiguously and fitting n_ctx, an output buffer when logits are wanted).
 * seq_next [n_seq] receives each sequence's length after the batch, and
 * *n_wanted the tokens whose logits are returned. DFIT_EINVAL naming the
 * token otherwise; nothing else is changed then. */
int dfit_cuda_batch_check(const struct dfit_batch *b, const float *logits, uint32_t n_batch_max,
                          uint32_t n_seq, uint32_t n_ctx, uint32_t n_vocab,
                          const uint32_t *seq_len /* [n_seq] */, uint32_t *seq_next /* [n_seq] */,
                          uint32_t *n_wanted, struct dfit_err *err);

/* The device input block of an n-token batch, as int32:
 *   [0, n)          token ids
 *   [n, 2n)         positions
 *   [2n, 3n)        sequence ids
 *   [3n, 3n + nw)   indices of the wanted tokens, in batch order
 * Offsets depend on n only, so a captured graph reads the right places. */
static inline uint32_t dfit_cuda_in_token(uint32_t n) { (void)n; return 0; }
static inline uint32_t dfit_cuda_in_pos(uint32_t n) { return n; }
static inline uint32_t dfit_cuda_in_seq(uint32_t n) { return 2 * n; }
static inline uint32_t dfit_cuda_in_want(uint32_t n) { return 3 * n; }

/* Writes b's input block into in [3*n + n_wanted] int32 and returns the
 * number of int32 written. b must have passed dfit_cuda_batch_check. */
uint32_t dfit_cuda_batch_pack(const struct dfit_batch *b, int32_t *in);

/* ---- graph cache ------------------------------------------------------------ */

#define DFIT_CUDA_GRAPH_SLOTS 16

struct dfit_cuda_graph_entry {
    uint32_t n_tok, n_wanted;  /* the key; n_tok == 0: empty slot */
    void *exec;                /* cudaGraphExec_t */
    uint64_t last_use;
};

struct dfit_cuda_graph_cache {
    struct dfit_cuda_graph_entry e[DFIT_CUDA_GRAPH_SLOTS];
    uint64_t clock;
};

/* The graph stored for (n_tok, n_wanted), or NULL; marks it used. */
void *dfit_cuda_graph_find(struct dfit_cuda_graph_cache *c, uint32_t n_tok, uint32_t n_wanted);

/* Stores exec for (n_tok, n_wanted) (n_tok >= 1, key not stored yet). When
 * every slot is taken the least recently used entry is replaced and its
 * exec returned for the caller to destroy; NULL otherwise. */
void *dfit_cuda_graph_put(struct dfit_cuda_graph_cache *c, uint32_t n_tok, uint32_t n_wanted,
                          void *exec);

/* Empties the cache, calling destroy on every stored exec. */
void dfit_cuda_graph_clear(struct dfit_cuda_graph_cache *c, void (*destroy)(void *exec));

#endif
