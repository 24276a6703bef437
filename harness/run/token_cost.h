/* token_cost.h — what one token costs a backend, from a model's tensor
 * types and shapes and its dfit.prune.* metadata: the bytes a decode step
 * must read and the FLOPs a token needs. Decode of a few sequences is
 * bound by memory bandwidth (every weight is read once per step), prefill
 * by compute (every weight is used once per token), so these two numbers
 * are the theory `dfit bench --roofline` and the report's "Does it pay?"
 * section compare measurements with (docs/measurement.md, docs/report.md).
 *
 *   bytes_per_token    every block matrix and norm, the final norm and the
 *                      output matrix once, plus one token_embd row (the
 *                      whole table only as the tied output matrix): the CPU
 *                      backend's load-report weight_bytes plus that row
 *   kv_values_per_pos  K and V values cached per position of context:
 *                      2 * n_layer * n_head_kv * head_dim (bytes: times the
 *                      cache's element size, 4 for the CPU backend's F32)
 *   flops_per_token    2 * the weights of the blocks' seven projections
 *                      (one multiply-add per weight), dense kernels
 *   sparse_flops_per_token  the same for a kernel that skips the weights
 *                      unstructured or 2:4 pruning set to zero
 *                      (dfit.prune.sparsity of the prunable matrices)
 *   output_flops       2 * the output matrix's weights: one token's logits
 *   attn_flops_per_pos 4 * n_layer * n_head * head_dim: Q·K and the
 *                      weighted sum of V, per token and attended position
 * Structured pruning (heads, ffn, layers) shows in the shapes; quantization
 * in the bytes only (a Q4_0 weight is still one multiply-add).
 * Non-goals: measuring anything, non-matmul work (norms, RoPE, softmax),
 * sparse storage formats.
 */
#ifndef DFIT_RUN_TOKEN_COST_H
#define DFIT_RUN_TOKEN_COST_H

#include <stdbool.h>
#include <stdint.h>

#include "model/llama.h"
#include "util/err.h"

/* Bytes per cached K or V value in the CPU backend's F32 cache. */
#define DFIT_TOKEN_COST_KV_F32 4u

struct dfit_token_cost {
    uint64_t bytes_per_token;
    uint64_t kv_values_per_pos;
    uint64_t flops_per_token;
    uint64_t sparse_flops_per_token;
    uint64_t output_flops;
    uint64_t attn_flops_per_pos;
    char weight_type[16];      /* the 2-D weights' type ("q4_0"), or "mixed" */
    char prune_pattern[16];    /* dfit.prune.pattern; "" when not pruned */
    double prune_sparsity;     /* dfit.prune.sparsity; NAN when not pruned */
};

/* Fills *out from m's shapes, types and metadata. DFIT_EINVAL (naming the
 * file and key) when dfit.prune.pattern is not a string, or
 * dfit.prune.sparsity is not a number in [0, 1]; *out is zeroed then. */
int dfit_token_cost_of_model(const struct dfit_model *m, struct dfit_token_cost *out,
                             struct dfit_err *err);

/* Bytes one decoded token reads when `batch` sequences decode together at
 * a mean context of n_ctx positions: the weights shared by the batch,
 * bytes_per_token / batch, plus its own KV rows, kv_values_per_pos *
 * kv_value_bytes * n_ctx. batch 0 counts as 1. */
double dfit_token_cost_decode_bytes(const struct dfit_token_cost *c, double n_ctx, uint32_t batch,
                                    uint32_t kv_value_bytes);

/* FLOPs per prompt token of a prefill of n_prompt tokens into an empty
 * cache with logits for the last token only (as `dfit bench` and the
 * runner ask): the blocks' matrices (sparse_flops_per_token when `sparse`),
 * output_flops / n_prompt, and attention at the mean context
 * (n_prompt + 1) / 2. n_prompt 0 counts as 1. */
double dfit_token_cost_prefill_flops(const struct dfit_token_cost *c, uint32_t n_prompt,
                                     bool sparse);

/* Mean positions a decode step attends when `n_gen` tokens are decoded
 * one at a time after n_past cached ones: n_past + (n_gen + 1) / 2 (`dfit
 * bench`'s tgN has n_past 0). */
double dfit_token_cost_mean_ctx(uint32_t n_past, uint32_t n_gen);

#endif
