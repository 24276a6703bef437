/* calib.h — calibration: activation statistics of a model over a token
 * stream, gathered with the backends' activation observer (backend.h) while
 * the CPU backend's reference kernels run the model in F32.
 *
 * The stream is either a text file tokenized with the model's own tokenizer
 * or a seeded stream of random token ids ("synth" or "synth:SEED"); it is
 * cut into chunks of n_ctx tokens, each starting with BOS when the model's
 * tokenizer adds one, each run from an empty cache. Per layer and per matmul
 * input (see enum dfit_calib_input) it keeps the per-channel sums of |x| and
 * x^2 and, on request, a strided sample of whole rows (for searches that
 * need the activations themselves), the per-head Gram matrices of the
 * attention output, and each block's mean cosine similarity between the
 * residual stream entering and leaving it.
 * Non-goals: sequential (layer-by-layer, quantized-prefix) calibration,
 * datasets other than plain text.
 */
#ifndef DFIT_COMPRESS_CALIB_H
#define DFIT_COMPRESS_CALIB_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/gguf.h"
#include "util/err.h"

/* Matmul inputs of a block, named after their first consumer. */
enum dfit_calib_input {
    DFIT_CALIB_ATTN_IN,   /* attn-norm output: attn_q, attn_k, attn_v */
    DFIT_CALIB_ATTN_OUT,  /* attention output: attn_output */
    DFIT_CALIB_FFN_IN,    /* ffn-norm output: ffn_gate, ffn_up */
    DFIT_CALIB_FFN_DOWN,  /* SwiGLU product: ffn_down */
    DFIT_CALIB_N_INPUTS
};

#define DFIT_CALIB_DEFAULT_TOKENS 512u
#define DFIT_CALIB_MAX_TOKENS (1u << 20)
#define DFIT_CALIB_DEFAULT_CTX 128u

struct dfit_calib_params {
    const char *source;      /* "synth", "synth:SEED" or a text file path */
    uint32_t n_tokens;       /* tokens to run; 0: DFIT_CALIB_DEFAULT_TOKENS */
    uint32_t n_ctx;          /* chunk length; 0: min(DEFAULT_CTX, n_ctx_train) */
    uint32_t n_sample;       /* rows of each input to keep (0: none) */
    bool head_gram;          /* gather per-head Gram matrices */
    int n_threads;           /* <= 0: 1 */
};

/* Statistics of one matmul input. */
struct dfit_calib_stats {
    int64_t n_in;
    uint64_t n_rows;         /* rows seen */
    double *sum_abs;         /* [n_in] sum over rows of |x_j| */
    double *sum_sq;          /* [n_in] sum over rows of x_j^2 */
    uint32_t n_sample;       /* rows kept */
    float *sample;           /* [n_sample][n_in], or NULL */
};

struct dfit_calib_layer {
    struct dfit_calib_stats in[DFIT_CALIB_N_INPUTS];
    double *head_gram;       /* [n_head][head_dim][head_dim] sum of a_h a_h^T, or NULL */
    double cos_sum;          /* sum over tokens of cos(block input, block output) */
    uint64_t cos_n;
};

struct dfit_calib {
    uint32_t n_layer, n_head, head_dim;
    uint32_t n_tokens;       /* tokens run */
    uint32_t n_ctx;          /* chunk length used */
    char source[160];        /* "synth:seed=1" or "file:NAME" */
    char sha256[65];         /* of the text file; "" for synth */
    struct dfit_calib_layer *layers;   /* [n_layer] */
    struct dfit_calib_stats output;    /* input of the output matrix (final normed) */
};

/* The calibration token stream for the model file g: n_tokens ids (fewer
 * when a text file is shorter; at least 16) in *tokens (caller frees), and
 * a description in source (cap bytes) and sha256 ("" for synth). Errors:
 * DFIT_EINVAL (bad "synth:SEED", text too short), DFIT_EIO (unreadable file),
 * the tokenizer's codes, DFIT_ENOMEM; *tokens NULL on failure. */
int dfit_calib_tokens(const struct dfit_gguf *g, const char *source, uint32_t n_tokens,
                      int32_t **tokens, uint32_t *n_out, char *desc, size_t cap, char *sha256,
                      struct dfit_err *err);

/* Runs the model at model_path over the calibration stream and gathers the
 * statistics. On failure *out is NULL: the reader's, tokenizer's and
 * backend's codes, DFIT_ENOMEM. */
int dfit_calib_collect(const char *model_path, const struct dfit_calib_params *p,
                       struct dfit_calib **out, struct dfit_err *err);
void dfit_calib_free(struct dfit_calib *c); /* accepts NULL */

/* sqrt(sum_sq[j]): the L2 norm of channel j over the calibration rows. */
static inline double dfit_calib_l2(const struct dfit_calib_stats *s, int64_t j)
{
    return s->sum_sq[j] > 0 ? sqrt(s->sum_sq[j]) : 0.0;
}

#endif
