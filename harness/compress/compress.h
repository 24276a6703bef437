/* compress.h — the `dfit compress` pipeline: optional pruning (prune.h),
 * optional calibration (calib.h), then quantization, plain (convert.h) or
 * activation-aware (awq.h), writing one GGUF that records its recipe and
 * lineage in dfit.* metadata (keys in docs/compression.md).
 *
 * Order: prune (scores from calibration on the input when calib is set),
 * then, for AWQ, calibrate the pruned model (a temporary F32 file next to
 * the output) and scale, then round every matrix to `to` (or keep each
 * tensor's type when no `to` is given). Without pruning and AWQ it is
 * exactly dfit_convert_file.
 * Non-goals: distillation, fine-tuning after pruning, mixed per-tensor
 * types.
 */
#ifndef DFIT_COMPRESS_COMPRESS_H
#define DFIT_COMPRESS_COMPRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "compress/prune.h"
#include "model/types.h"
#include "util/err.h"

enum dfit_quant_method {
    DFIT_QUANT_PLAIN = 0,   /* round to nearest (the reference quantizers) */
    DFIT_QUANT_AWQ,         /* activation-aware scaling, then rounding */
};

#define DFIT_COMPRESS_DEFAULT_AWQ_SAMPLE 256u

struct dfit_compress_params {
    bool have_to;                  /* false: keep each tensor's type */
    enum dfit_type to;
    struct dfit_prune_params prune; /* pattern DFIT_PRUNE_NONE: no pruning */
    enum dfit_quant_method method;
    const char *calib;             /* "synth[:SEED]" or a text file; NULL: none
                                      (magnitude scores; AWQ then uses "synth") */
    uint32_t calib_tokens;         /* 0: DFIT_CALIB_DEFAULT_TOKENS */
    uint32_t awq_sample;           /* AWQ search rows; 0: DEFAULT_AWQ_SAMPLE */
    uint32_t awq_grid;             /* 0: DFIT_AWQ_DEFAULT_GRID */
    int n_threads;                 /* <= 0: 1 */
};

struct dfit_compress_report {
    bool pruned, awq;
    struct dfit_prune_result prune;
    uint32_t awq_groups, awq_scaled;
    double awq_err_plain, awq_err;   /* calibration output error, summed */
    char calib[160];                 /* calibration source used, "" for none */
    uint32_t calib_tokens;
};

/* Checks a parameter combination before any work: DFIT_EINVAL naming the
 * flag for AWQ without a quantized `to`, calibration with nothing to use
 * it, nothing to do (no `to`, no pruning). */
int dfit_compress_check(const struct dfit_compress_params *p, struct dfit_err *err);

/* Compresses in_path into out_path (written atomically; report may be
 * NULL). Fails with dfit_compress_check's codes, DFIT_EEXIST when out_path
 * is the input, and the reader's, pruner's (DFIT_EINVAL for an amount that
 * does not suit the model), calibration's, AWQ's and writer's codes
 * (DFIT_EINVAL naming the tensor when a pruned shape does not suit the
 * target type's block size); on failure an existing out_path stays as it
 * was and no temporary file is left. */
int dfit_compress_file(const char *in_path, const char *out_path, const struct dfit_compress_params *p,
                       struct dfit_compress_report *report, struct dfit_err *err);

#endif
