/* prune.h — pruning a llama model held as a dfit_wmodel.
 *
 * Patterns (see docs/compression.md for the scores and the metadata):
 *   unstructured  zero the given fraction of the prunable weights with the
 *                 lowest scores, exactly round(s*n) of them per matrix, per
 *                 row or over all prunable matrices at once (global);
 *   2:4           in every group of four consecutive weights of a row, zero
 *                 the two with the lowest scores;
 *   heads         remove the same number of attention heads from every
 *                 layer, in units of one KV head with its n_head/n_head_kv
 *                 query heads (so grouped-query attention stays uniform);
 *   ffn           remove the same number of FFN channels from every layer,
 *                 keeping n_ff a multiple of 32;
 *   layers        remove whole blocks and renumber the rest.
 * The prunable matrices are the seven projections of every block; with
 * include_output the output matrix too (token_embd when tied). Scores are
 * weight magnitudes, or activation-aware with calibration statistics: Wanda's
 * |W_ij|*||X_j||_2, a head's or channel's output contribution norm over the
 * calibration tokens, a block's 1 - cos(input, output) of the residual
 * stream. Ties go to the lower index (pruned first).
 * Non-goals: weight updates after pruning (SparseGPT-style), other N:M
 * patterns, non-uniform structured pruning (it would leave llama GGUF).
 */
#ifndef DFIT_COMPRESS_PRUNE_H
#define DFIT_COMPRESS_PRUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "compress/calib.h"
#include "compress/wmodel.h"
#include "util/err.h"

enum dfit_prune_pattern {
    DFIT_PRUNE_NONE = 0,
    DFIT_PRUNE_UNSTRUCTURED,
    DFIT_PRUNE_2_4,
    DFIT_PRUNE_HEADS,
    DFIT_PRUNE_FFN,
    DFIT_PRUNE_LAYERS,
};

enum dfit_prune_scope {
    DFIT_PRUNE_SCOPE_MATRIX = 0,  /* one threshold per matrix */
    DFIT_PRUNE_SCOPE_GLOBAL,      /* one threshold over all prunable matrices */
    DFIT_PRUNE_SCOPE_ROW,         /* one threshold per output row (Wanda's) */
};

struct dfit_prune_params {
    enum dfit_prune_pattern pattern;
    double amount;               /* unstructured: sparsity in [0, 1); heads,
                                    ffn: fraction in (0, 1); layers: count */
    enum dfit_prune_scope scope; /* unstructured only */
    bool include_output;         /* unstructured, 2:4: the output matrix too */
};

struct dfit_prune_result {
    uint64_t n_considered;   /* parameters of the prunable matrices before */
    uint64_t n_pruned;       /* of them now zero (unstructured, 2:4) or removed */
    double sparsity;         /* n_pruned / n_considered */
    char score[96];          /* the score used, e.g. "|W_ij|*||X_j||_2" */
    char removed[1024];      /* structured: what was removed, per layer */
};

/* "unstructured", "2:4", "heads", "ffn", "layers" ("none" for NONE). */
const char *dfit_prune_pattern_name(enum dfit_prune_pattern p);
/* "matrix", "global", "row". */
const char *dfit_prune_scope_name(enum dfit_prune_scope s);

/* Parses a --prune value: "unstructured:S" (S in [0, 1)), "2:4",
 * "heads:F", "ffn:F" (F in (0, 1)), "layers:N" (N >= 1). DFIT_EINVAL with
 * the expected forms in err otherwise; scope and include_output are left
 * as they were in *out. */
int dfit_prune_parse(const char *spec, struct dfit_prune_params *out, struct dfit_err *err);
/* "matrix", "global", "row" -> *out; DFIT_EINVAL otherwise. */
int dfit_prune_scope_parse(const char *s, enum dfit_prune_scope *out, struct dfit_err *err);

/* Whether p's activation-aware score needs per-head Gram matrices. */
bool dfit_prune_needs_head_gram(const struct dfit_prune_params *p);

/* Prunes wm in place (updating wm->hp for structured patterns). cal NULL:
 * magnitude scores; otherwise statistics gathered on wm's current shape.
 * Errors (wm may be partly pruned then; discard it): DFIT_EINVAL when the
 * amount does not suit the model (no unit would be removed, all would be,
 * n_ff would drop below 32, a row length not a multiple of 4 for 2:4),
 * DFIT_EINTERNAL when cal does not match wm's shape, DFIT_ENOMEM. */
int dfit_prune_apply(struct dfit_wmodel *wm, const struct dfit_prune_params *p,
                     const struct dfit_calib *cal, struct dfit_prune_result *res,
                     struct dfit_err *err);

/* The structured patterns (prune_structured.c), called by dfit_prune_apply
 * with the same contract. */
int dfit_prune_heads(struct dfit_wmodel *wm, double fraction, const struct dfit_calib *cal,
                     struct dfit_prune_result *res, struct dfit_err *err);
int dfit_prune_ffn(struct dfit_wmodel *wm, double fraction, const struct dfit_calib *cal,
                   struct dfit_prune_result *res, struct dfit_err *err);
int dfit_prune_layers(struct dfit_wmodel *wm, uint32_t n_remove, const struct dfit_calib *cal,
                      struct dfit_prune_result *res, struct dfit_err *err);

/* The seven per-layer projections' suffixes, in file order, and the
 * calibration input of each. */
#define DFIT_PRUNE_N_PROJ 7
extern const char *const dfit_prune_proj[DFIT_PRUNE_N_PROJ];
extern const enum dfit_calib_input dfit_prune_proj_input[DFIT_PRUNE_N_PROJ];

#endif
