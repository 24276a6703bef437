/* quality.h — fidelity of a variant to the reference variant, as
 * llama.cpp's perplexity tool with --kl-divergence defines it.
 *
 * The eval token stream is split into chunks of n_ctx tokens; each chunk is
 * evaluated from an empty cache, its first token replaced by BOS when the
 * model adds one, and only its second half is scored: the logits at
 * positions first = n_ctx/2 .. n_ctx-2 predict the next token. Per scored
 * token, from the reference's and the variant's log-softmax:
 *   KL(ref || variant) = sum_i p_ref(i) (log p_ref(i) - log p_var(i))
 *   top-1 agreement: argmax of both is the same token (first maximum)
 *   dp = p_var(next) - p_ref(next)
 *   nll = -log p_var(next), nll_ref = -log p_ref(next)
 * and over all scored tokens, with llama.cpp's estimators:
 *   mean and standard error of x: mean = S/n, se = sqrt((S2/n - mean^2) /
 *     (n-1)), 0 when that variance is not positive or n <= 10
 *   ppl = exp(mean nll), se = ppl * se(nll)
 *   ln ratio = mean nll - mean nll_ref, se = sqrt(se^2 + se_ref^2 - 2 cov),
 *     cov = (S(nll nll_ref)/n - mean nll mean nll_ref) / (n-1) (0 for
 *     n < 10); ppl_ratio = exp(ln ratio), se = ppl_ratio * se(ln ratio)
 *   KL mean and se as above; p99 KL by linear interpolation between the
 *     sorted values at 0.99 (n-1)
 *   top-1 = agreeing / n, se = sqrt(p (1-p) / (n-1))
 *   RMS dp = sqrt(mean dp^2), se = se(dp^2) / (2 RMS dp)
 * Differences from llama.cpp, both in exactness's favour: the reference's
 * log-probabilities are kept as floats (llama.cpp stores them as 16-bit
 * steps over a 16-nat range and drops terms below -16 from the KL sum), so
 * a model compared with itself gives exactly KL 0, top-1 1 and ratio 1.
 *
 * The reference runs over every chunk first, keeping its log-probabilities
 * of the scored positions (n_scored x n_vocab floats, capped by
 * max_ref_bytes: chunks past the cap are dropped and n_tokens says how many
 * tokens were scored); it is unloaded before the variant is loaded.
 * Non-goals: task accuracy (CSV eval sets), strided perplexity.
 */
#ifndef DFIT_RUN_QUALITY_H
#define DFIT_RUN_QUALITY_H

#include <stdint.h>

#include "backend.h"
#include "run/result.h"
#include "util/err.h"

/* Default chunk length cap (tokens) and reference log-prob memory cap. */
#define DFIT_QUALITY_MAX_CTX 256u
#define DFIT_QUALITY_MAX_REF_BYTES (1024ull << 20)
/* Fewest eval tokens a measurement accepts (one chunk of 8 scores 3). */
#define DFIT_QUALITY_MIN_TOKENS 8u

/* ---- the statistics, on log-probabilities ---------------------------- */

/* Running sums of the per-token quantities above. */
struct dfit_kld_acc {
    double sum_nll, sum_nll2, sum_nll_ref, sum_nll_ref2, sum_nll_nll_ref;
    double sum_kld, sum_kld2;
    double sum_dp, sum_dp2, sum_dp4;
    uint64_t n_same_top, count;
    float *kld;                  /* [cap] per-token KL, for the percentile */
    uint64_t cap;
    float *scratch;              /* [n_vocab] the variant's log-softmax */
    int32_t n_vocab;
};

/* Prepares an accumulator for up to cap tokens over n_vocab entries.
 * DFIT_EINVAL (n_vocab < 1), DFIT_ENOMEM; on failure *a is zeroed. */
int dfit_kld_acc_init(struct dfit_kld_acc *a, uint64_t cap, int32_t n_vocab, struct dfit_err *err);
void dfit_kld_acc_clear(struct dfit_kld_acc *a); /* frees; accepts NULL */
/* Scores one token: ref_logp is the reference's log-softmax [n_vocab],
 * logits the variant's raw logits [n_vocab], next the actual next token
 * (0 <= next < n_vocab, checked by the caller). A token past cap adds to
 * every sum but not to the percentile. */
void dfit_kld_acc_add(struct dfit_kld_acc *a, const float *ref_logp, const float *logits,
                      int32_t next);
/* The statistics so far; available is false (with a reason) for no token.
 * Overwrites all of *out: the task-accuracy fields come back cleared
 * (has_accuracy false), for dfit_accuracy_to_quality to fill afterwards. */
void dfit_kld_acc_result(const struct dfit_kld_acc *a, struct dfit_quality *out);

/* out[i] = logits[i] - max - log(sum_j exp(logits[j] - max)); out may be
 * logits. */
void dfit_log_softmax(float *out, const float *logits, int32_t n);

/* ---- the measurement ----------------------------------------------------- */

struct dfit_quality_params {
    const struct dfit_backend_ops *backend;  /* NULL: the "cpu" backend */
    int n_threads;
    const char *kernels;                     /* NULL: the backend's best */
    const char *device;                      /* NULL: its default */
    uint32_t n_ctx;       /* chunk length; 0: min(n_ctx_train, DFIT_QUALITY_MAX_CTX),
                             and at most the number of tokens */
    uint64_t max_ref_bytes;                  /* 0: DFIT_QUALITY_MAX_REF_BYTES */
};

/* Measures the variant at variant_path against the reference at
 * reference_path on tokens[0..n_tokens) (ids of the models' shared
 * vocabulary; no BOS needed). p may be NULL (defaults). On success
 * out->available is true. On failure out->available is false with the
 * reason (err's message) and the code is returned: DFIT_EINVAL (fewer than
 * DFIT_QUALITY_MIN_TOKENS tokens, a token id outside the vocabulary, models
 * whose vocabularies differ in size, chunk shorter than 4), DFIT_ERANGE (not
 * even one chunk fits max_ref_bytes), DFIT_ENOTFOUND (no such backend), the
 * model reader's and backend's codes (DFIT_ENOMEM when memory runs out).
 * Nothing leaks on any path. */
int dfit_quality_measure(const char *reference_path, const char *variant_path,
                         const struct dfit_quality_params *p, const int32_t *tokens,
                         uint32_t n_tokens, struct dfit_quality *out, struct dfit_err *err);

#endif
