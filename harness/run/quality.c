/* quality.c — llama.cpp's KL-divergence statistics of a variant against
 * the reference (see quality.h): the per-token quantities and their
 * estimators, and the two-pass measurement (reference first, kept as
 * log-probabilities, then the variant).
 * Non-goals: task accuracy, strided perplexity, sampling.
 */
#include "run/quality.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer.h"

/* ---- the statistics ----------------------------------------------------- */

void dfit_log_softmax(float *out, const float *logits, int32_t n)
{
    float max = logits[0];
    for (int32_t i = 1; i < n; i++)
        if (logits[i] > max)
            max = logits[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)logits[i] - max);
    const double shift = max + log(sum);
    for (int32_t i = 0; i < n; i++)
        out[i] = (float)((double)logits[i] - shift);
}

/* Index of the first maximum. */
static int32_t argmax(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

int dfit_kld_acc_init(struct dfit_kld_acc *a, uint64_t cap, int32_t n_vocab, struct dfit_err *err)
{
    memset(a, 0, sizeof *a);
    if (n_vocab < 1)
        return dfit_err_set(err, DFIT_EINVAL, "quality: n_vocab %" PRId32 " < 1", n_vocab);
    if (cap > SIZE_MAX / sizeof(float))
        return dfit_err_set(err, DFIT_ENOMEM, "quality: %" PRIu64 " tokens is too many", cap);
    a->kld = malloc((size_t)(cap ? cap : 1) * sizeof *a->kld);
    a->scratch = malloc((size_t)n_vocab * sizeof *a->scratch);
    if (!a->kld || !a->scratch) {
        dfit_kld_acc_clear(a);
        return dfit_err_set(err, DFIT_ENOMEM, "quality: out of memory for %" PRIu64 " tokens",
                            cap);
    }
    a->cap = cap;
    a->n_vocab = n_vocab;
    return 0;
}

void dfit_kld_acc_clear(struct dfit_kld_acc *a)
{
    if (!a)
        return;
    free(a->kld);
    free(a->scratch);
    memset(a, 0, sizeof *a);
}

void dfit_kld_acc_add(struct dfit_kld_acc *a, const float *ref_logp, const float *logits,
                      int32_t next)
{
    const int32_t n = a->n_vocab;
    float *lp = a->scratch;
    dfit_log_softmax(lp, logits, n);

    const double nll = -(double)lp[next];
    const double nll_ref = -(double)ref_logp[next];
    a->sum_nll += nll;
    a->sum_nll2 += nll * nll;
    a->sum_nll_ref += nll_ref;
    a->sum_nll_ref2 += nll_ref * nll_ref;
    a->sum_nll_nll_ref += nll * nll_ref;

    double kld = 0.0;
    for (int32_t i = 0; i < n; i++) {
        const double lr = ref_logp[i];
        kld += exp(lr) * (lr - (double)lp[i]);
    }
    a->sum_kld += kld;
    a->sum_kld2 += kld * kld;
    if (a->count < a->cap)
        a->kld[a->count] = (float)kld;

    if (argmax(lp, n) == argmax(ref_logp, n))
        a->n_same_top++;

    const double dp = exp(-nll) - exp(-nll_ref);
    const double dp2 = dp * dp;
    a->sum_dp += dp;
    a->sum_dp2 += dp2;
    a->sum_dp4 += dp2 * dp2;
    a->count++;
}

/* llama.cpp's mean_and_uncertainty. */
static void mean_se(double sum, double sum2, uint64_t count, double *mean, double *se)
{
    *mean = *se = 0.0;
    if (count < 1)
        return;
    const double n = (double)count;
    const double f = sum / n;
    const double var = sum2 / n - f * f;
    *mean = f;
    *se = var > 0 && count > 10 ? sqrt(var / (n - 1)) : 0.0;
}

/* llama.cpp's covariance of the means. */
static double cov_of_means(double suma, double sumb, double sumab, uint64_t count)
{
    if (count < 10)
        return 0.0;
    const double n = (double)count;
    return (sumab / n - (suma / n) * (sumb / n)) / (n - 1);
}

static int cmp_float(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

/* llama.cpp's percentile of sorted values: linear interpolation at
 * fraction * (n - 1). */
static double percentile(const float *sorted, uint64_t n, double fraction)
{
    if (n == 0)
        return NAN;
    double p = fraction * (double)(n - 1);
    uint64_t ip = (uint64_t)p;
    p -= (double)ip;
    uint64_t ip1 = ip + 1 < n ? ip + 1 : n - 1;
    return (1 - p) * sorted[ip] + p * sorted[ip1];
}

void dfit_kld_acc_result(const struct dfit_kld_acc *a, struct dfit_quality *out)
{
    memset(out, 0, sizeof *out); /* task accuracy is added later (accuracy.h) */
    out->accuracy = out->accuracy_se = NAN;
    if (a->count == 0) {
        snprintf(out->reason, sizeof out->reason, "no token was scored");
        out->ppl = out->ppl_se = out->ppl_ratio = out->ppl_ratio_se = NAN;
        out->kl_mean = out->kl_se = out->kl_p99 = NAN;
        out->top1 = out->top1_se = out->rms_dp = out->rms_dp_se = NAN;
        return;
    }
    const uint64_t n = a->count;
    out->available = true;
    out->n_tokens = n;

    double lp, lp_se, lp_ref, lp_ref_se;
    mean_se(a->sum_nll, a->sum_nll2, n, &lp, &lp_se);
    mean_se(a->sum_nll_ref, a->sum_nll_ref2, n, &lp_ref, &lp_ref_se);
    out->ppl = exp(lp);
    out->ppl_se = out->ppl * lp_se;
    const double cov = cov_of_means(a->sum_nll, a->sum_nll_ref, a->sum_nll_nll_ref, n);
    double var_ratio = lp_se * lp_se + lp_ref_se * lp_ref_se - 2.0 * cov;
    const double ln_ratio = lp - lp_ref;
    out->ppl_ratio = exp(ln_ratio);
    out->ppl_ratio_se = out->ppl_ratio * (var_ratio > 0 ? sqrt(var_ratio) : 0.0);

    mean_se(a->sum_kld, a->sum_kld2, n, &out->kl_mean, &out->kl_se);
    uint64_t n_kept = n < a->cap ? n : a->cap;
    float *sorted = malloc((size_t)(n_kept ? n_kept : 1) * sizeof *sorted);
    if (sorted) {
        memcpy(sorted, a->kld, (size_t)n_kept * sizeof *sorted);
        qsort(sorted, (size_t)n_kept, sizeof *sorted, cmp_float);
        out->kl_p99 = percentile(sorted, n_kept, 0.99);
        free(sorted);
    } else {
        out->kl_p99 = NAN; /* out of memory for the sort: the percentile alone is missing */
    }

    out->top1 = (double)a->n_same_top / (double)n;
    out->top1_se = n > 1 ? sqrt(out->top1 * (1 - out->top1) / (double)(n - 1)) : 0.0;

    double mse, mse_se;
    mean_se(a->sum_dp2, a->sum_dp4, n, &mse, &mse_se);
    out->rms_dp = sqrt(mse);
    out->rms_dp_se = out->rms_dp > 0 ? 0.5 / out->rms_dp * mse_se : 0.0;
}

/* ---- the measurement ----------------------------------------------------- */

/* One model on the backend, ready to evaluate chunks. */
struct evaluator {
    struct dfit_model *m;
    void *ctx;
    const struct dfit_backend_ops *ops;
};

static void evaluator_close(struct evaluator *e)
{
    if (e->ctx)
        e->ops->unload(e->ctx);
    dfit_model_free(e->m);
    memset(e, 0, sizeof *e);
}

static int evaluator_open(struct evaluator *e, const char *path,
                          const struct dfit_backend_ops *ops, const struct dfit_quality_params *p,
                          uint32_t n_ctx, struct dfit_err *err)
{
    memset(e, 0, sizeof *e);
    e->ops = ops;
    int rc = dfit_model_open(path, &e->m, err);
    if (rc)
        return rc;
    struct dfit_backend_params bp = {
        .n_threads = p->n_threads,
        .n_ctx = n_ctx,
        .n_seq = 1,
        .n_batch_max = n_ctx,
        .kernels = p->kernels,
        .device = p->device,
    };
    struct dfit_load_report r;
    if ((rc = ops->load(e->m, &bp, &e->ctx, &r, err))) {
        dfit_err_prefix(err, "%s", path);
        evaluator_close(e);
    }
    return rc;
}

/* The shape of the work: chunk length, scored positions per chunk, chunks. */
struct plan {
    uint32_t n_ctx, first, n_scored, n_chunk;
    int32_t bos;                 /* BOS id replacing each chunk's first token, or -1 */
};

/* Evaluates chunk c: logits of its scored positions into logits
 * [n_scored][n_vocab]. */
static int eval_chunk(struct evaluator *e, const struct plan *pl, const int32_t *tokens, uint32_t c,
                      int32_t *tok, int32_t *pos, int32_t *seq, int8_t *want, float *logits,
                      struct dfit_err *err)
{
    const int32_t *chunk = tokens + (size_t)c * pl->n_ctx;
    for (uint32_t j = 0; j < pl->n_ctx; j++) {
        tok[j] = chunk[j];
        pos[j] = (int32_t)j;
        seq[j] = 0;
        want[j] = j >= pl->first && j + 1 < pl->n_ctx;
    }
    if (pl->bos >= 0)
        tok[0] = pl->bos;
    e->ops->seq_reset(e->ctx, -1);
    struct dfit_batch b = {
        .n_tokens = pl->n_ctx, .token = tok, .pos = pos, .seq = seq, .want = want};
    int rc = e->ops->forward(e->ctx, &b, logits, err);
    if (!rc && e->ops->sync)
        e->ops->sync(e->ctx);
    return rc;
}

static int plan_work(const struct dfit_model *m, const struct dfit_quality_params *p,
                     uint32_t n_tokens, struct plan *pl, struct dfit_err *err)
{
    memset(pl, 0, sizeof *pl);
    if (n_tokens < DFIT_QUALITY_MIN_TOKENS)
        return dfit_err_set(err, DFIT_EINVAL, "quality: %" PRIu32 " eval tokens, need at least %u",
                            n_tokens, DFIT_QUALITY_MIN_TOKENS);
    uint32_t n_ctx = p->n_ctx;
    if (n_ctx == 0) {
        n_ctx = m->hp.n_ctx_train < DFIT_QUALITY_MAX_CTX ? m->hp.n_ctx_train : DFIT_QUALITY_MAX_CTX;
        if (n_ctx > n_tokens)
            n_ctx = n_tokens;
    }
    if (n_ctx < 4 || n_ctx > n_tokens)
        return dfit_err_set(err, DFIT_EINVAL,
                            "quality: chunk of %" PRIu32 " tokens (need 4 .. %" PRIu32 ")", n_ctx,
                            n_tokens);
    pl->n_ctx = n_ctx;
    pl->first = n_ctx / 2;
    pl->n_scored = n_ctx - 1 - pl->first;
    pl->n_chunk = n_tokens / n_ctx;
    uint64_t cap = p->max_ref_bytes ? p->max_ref_bytes : DFIT_QUALITY_MAX_REF_BYTES;
    uint64_t chunk_bytes = (uint64_t)pl->n_scored * m->hp.n_vocab * sizeof(float);
    if (chunk_bytes > cap)
        return dfit_err_set(err, DFIT_ERANGE,
                            "quality: one chunk's reference log-probs (%" PRIu64
                            " bytes) exceed the cap of %" PRIu64 " bytes",
                            chunk_bytes, cap);
    if ((uint64_t)pl->n_chunk * chunk_bytes > cap)
        pl->n_chunk = (uint32_t)(cap / chunk_bytes);
    return 0;
}

int dfit_quality_measure(const char *reference_path, const char *variant_path,
                         const struct dfit_quality_params *p, const int32_t *tokens,
                         uint32_t n_tokens, struct dfit_quality *out, struct dfit_err *err)
{
    static const struct dfit_quality_params defaults = {0};
    struct dfit_err local;
    if (!p)
        p = &defaults;
    if (!err)
        err = &local;
    dfit_err_clear(err);
    struct evaluator e = {0};
    struct dfit_kld_acc acc = {0};
    struct dfit_tokenizer *t = NULL;
    float *ref_logp = NULL, *logits = NULL;
    int32_t *tok = NULL, *pos = NULL, *seq = NULL;
    int8_t *want = NULL;
    struct plan pl;
    int rc;

    const struct dfit_backend_ops *ops = p->backend ? p->backend : dfit_backend_find("cpu");
    if (!ops) {
        rc = dfit_err_set(err, DFIT_ENOTFOUND, "quality: no cpu backend in this build");
        goto fail;
    }

    /* the chunk plan and BOS from the reference's file */
    {
        struct dfit_model *m = NULL;
        if ((rc = dfit_model_open(reference_path, &m, err)))
            goto fail;
        rc = plan_work(m, p, n_tokens, &pl, err);
        const int32_t nv = (int32_t)m->hp.n_vocab;
        if (!rc && (rc = dfit_tokenizer_from_gguf(m->gguf, &t, err)) == 0) {
            pl.bos = dfit_tokenizer_add_bos(t) ? dfit_tokenizer_bos(t) : -1;
            if (pl.bos >= nv)
                pl.bos = -1;
        }
        dfit_model_free(m);
        if (rc)
            goto fail;
        for (uint32_t i = 0; i < pl.n_chunk * pl.n_ctx; i++)
            if (tokens[i] < 0 || tokens[i] >= nv) {
                rc = dfit_err_set(err, DFIT_EINVAL,
                                  "quality: eval token %" PRIu32 ": id %" PRId32
                                  " not in the vocabulary [0, %" PRId32 ")",
                                  i, tokens[i], nv);
                goto fail;
            }
        if ((rc = dfit_kld_acc_init(&acc, (uint64_t)pl.n_chunk * pl.n_scored, nv, err)))
            goto fail;
    }

    /* the reference: every chunk, log-probs of the scored positions kept */
    const size_t n_vocab = (size_t)acc.n_vocab;
    ref_logp = malloc((size_t)pl.n_chunk * pl.n_scored * n_vocab * sizeof *ref_logp);
    logits = malloc((size_t)pl.n_scored * n_vocab * sizeof *logits);
    tok = malloc(pl.n_ctx * sizeof *tok);
    pos = malloc(pl.n_ctx * sizeof *pos);
    seq = malloc(pl.n_ctx * sizeof *seq);
    want = malloc(pl.n_ctx * sizeof *want);
    if (!ref_logp || !logits || !tok || !pos || !seq || !want) {
        rc = dfit_err_set(err, DFIT_ENOMEM,
                          "quality: out of memory for the reference log-probs (%" PRIu32
                          " tokens x %zu)",
                          pl.n_chunk * pl.n_scored, n_vocab);
        goto fail;
    }
    if ((rc = evaluator_open(&e, reference_path, ops, p, pl.n_ctx, err)))
        goto fail;
    for (uint32_t c = 0; c < pl.n_chunk; c++) {
        if ((rc = eval_chunk(&e, &pl, tokens, c, tok, pos, seq, want, logits, err))) {
            dfit_err_prefix(err, "%s", reference_path);
            goto fail;
        }
        for (uint32_t j = 0; j < pl.n_scored; j++)
            dfit_log_softmax(ref_logp + ((size_t)c * pl.n_scored + j) * n_vocab,
                             logits + (size_t)j * n_vocab, (int32_t)n_vocab);
    }
    evaluator_close(&e);

    /* the variant, compared token by token */
    if ((rc = evaluator_open(&e, variant_path, ops, p, pl.n_ctx, err)))
        goto fail;
    if (e.m->hp.n_vocab != n_vocab) {
        rc = dfit_err_set(err, DFIT_EINVAL,
                          "quality: %s has %" PRIu32 " vocabulary entries, the reference %s %zu",
                          variant_path, e.m->hp.n_vocab, reference_path, n_vocab);
        goto fail;
    }
    for (uint32_t c = 0; c < pl.n_chunk; c++) {
        if ((rc = eval_chunk(&e, &pl, tokens, c, tok, pos, seq, want, logits, err))) {
            dfit_err_prefix(err, "%s", variant_path);
            goto fail;
        }
        const int32_t *chunk = tokens + (size_t)c * pl.n_ctx;
        for (uint32_t j = 0; j < pl.n_scored; j++)
            dfit_kld_acc_add(&acc, ref_logp + ((size_t)c * pl.n_scored + j) * n_vocab,
                             logits + (size_t)j * n_vocab, chunk[pl.first + j + 1]);
    }
    evaluator_close(&e);
    dfit_kld_acc_result(&acc, out);
    rc = 0;
    goto done;
fail:
    out->available = false;
    out->n_tokens = 0;
    snprintf(out->reason, sizeof out->reason, "%.*s", (int)sizeof out->reason - 1, err->msg);
done:
    evaluator_close(&e);
    dfit_kld_acc_clear(&acc);
    dfit_tokenizer_free(t);
    free(ref_logp);
    free(logits);
    free(tok);
    free(pos);
    free(seq);
    free(want);
    return rc;
}
