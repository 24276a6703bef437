/* accuracy_model.c — the model on its backend for accuracy.c (see
 * accuracy_impl.h): loading with the context the longest item needs,
 * running streams of tokens of several sequences in calls of at most
 * n_batch tokens, and scoring sequences by their log-likelihood.
 * Non-goals: what is scored and how it is judged (accuracy.c).
 */
#include "run/accuracy_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BATCH 512u

/* ---- the model on its backend ------------------------------------------------ */

void dfit_acc_close(struct evaluator *e)
{
    if (e->ctx)
        e->ops->unload(e->ctx);
    dfit_tokenizer_free(e->tok);
    dfit_model_free(e->m);
    free(e->s_tok);
    free(e->s_pos);
    free(e->s_seq);
    free(e->s_want);
    free(e->logits);
    memset(e, 0, sizeof *e);
}

/* Opens the model and its tokenizer (no backend yet). */
int dfit_acc_open(struct evaluator *e, const char *path, const struct dfit_accuracy_params *p,
                  struct dfit_err *err)
{
    memset(e, 0, sizeof *e);
    e->ops = p->backend ? p->backend : dfit_backend_find("cpu");
    if (!e->ops)
        return dfit_err_set(err, DFIT_ENOTFOUND, "accuracy: no cpu backend in this build");
    int rc = dfit_model_open(path, &e->m, err);
    if (!rc && (rc = dfit_tokenizer_from_gguf(e->m->gguf, &e->tok, err)) == 0)
        rc = dfit_corpus_encoder_init(&e->enc, e->tok, err);
    if (rc) {
        dfit_err_prefix(err, "%s", path);
        dfit_acc_close(e);
        return rc;
    }
    e->n_vocab = (int32_t)e->m->hp.n_vocab;
    e->eos = dfit_tokenizer_eos(e->tok);
    return 0;
}

/* Loads the backend for sequences of up to n_ctx tokens. */
int dfit_acc_load(struct evaluator *e, const char *path, const struct dfit_accuracy_params *p, uint32_t n_ctx,
                  struct dfit_err *err)
{
    e->n_ctx = n_ctx ? n_ctx : 1;
    e->n_seq = p->n_seq ? p->n_seq : DFIT_ACCURACY_DEFAULT_SEQ;
    if (e->n_seq > DFIT_ACCURACY_MAX_SEQ)
        return dfit_err_set(err, DFIT_EINVAL, "accuracy: %u sequences at once (at most %u)", (unsigned)e->n_seq,
                            DFIT_ACCURACY_MAX_SEQ);
    /* logits of a call stay near 64 MiB whatever the vocabulary */
    uint32_t nb = (uint32_t)((16u << 20) / (uint32_t)e->n_vocab);
    nb = nb < 16 ? 16 : nb > MAX_BATCH ? MAX_BATCH : nb;
    e->n_batch = nb < e->n_seq ? e->n_seq : nb;
    e->s_cap = (size_t)e->n_seq * e->n_ctx;
    e->s_tok = malloc(e->s_cap * sizeof *e->s_tok);
    e->s_pos = malloc(e->s_cap * sizeof *e->s_pos);
    e->s_seq = malloc(e->s_cap * sizeof *e->s_seq);
    e->s_want = malloc(e->s_cap * sizeof *e->s_want);
    e->logits = malloc((size_t)e->n_batch * (size_t)e->n_vocab * sizeof *e->logits);
    if (!e->s_tok || !e->s_pos || !e->s_seq || !e->s_want || !e->logits)
        return dfit_err_set(err, DFIT_ENOMEM, "accuracy: out of memory for %u sequences of %u tokens",
                            (unsigned)e->n_seq, (unsigned)e->n_ctx);
    struct dfit_backend_params bp = {
        .n_threads = p->n_threads,
        .n_ctx = e->n_ctx,
        .n_seq = e->n_seq,
        .n_batch_max = e->n_batch,
        .kernels = p->kernels,
        .device = p->device,
    };
    struct dfit_load_report r;
    int rc = e->ops->load(e->m, &bp, &e->ctx, &r, err);
    if (rc)
        dfit_err_prefix(err, "%s", path);
    return rc;
}

/* Runs s_*[0..n) in calls of n_batch tokens; for each wanted token, in
 * order, calls on_row with its ordinal and its logits. */
int dfit_acc_run_stream(struct evaluator *e, size_t n, void (*on_row)(void *, size_t, const float *), void *user,
                        struct dfit_err *err)
{
    size_t k = 0;
    for (size_t at = 0; at < n;) {
        uint32_t m = (uint32_t)(n - at < e->n_batch ? n - at : e->n_batch);
        struct dfit_batch b = {.n_tokens = m,
                               .token = e->s_tok + at,
                               .pos = e->s_pos + at,
                               .seq = e->s_seq + at,
                               .want = e->s_want + at};
        int rc = e->ops->forward(e->ctx, &b, e->logits, err);
        if (!rc && e->ops->sync)
            rc = e->ops->sync(e->ctx);
        if (rc)
            return rc;
        size_t row = 0;
        for (uint32_t i = 0; i < m; i++)
            if (e->s_want[at + i])
                on_row(user, k++, e->logits + row++ * (size_t)e->n_vocab);
        at += m;
    }
    return 0;
}

/* Index of the first maximum. */
int32_t dfit_acc_argmax(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* log softmax(logits)[next], in double. */
double dfit_acc_log_prob(const float *logits, int32_t n, int32_t next)
{
    float max = logits[0];
    for (int32_t i = 1; i < n; i++)
        if (logits[i] > max)
            max = logits[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)logits[i] - max);
    return (double)logits[next] - max - log(sum);
}

/* ---- scoring ------------------------------------------------------------------------------- */

static void score_take(void *user, size_t k, const float *logits)
{
    struct score_group *g = user;
    const double lp = dfit_acc_log_prob(logits, g->e->n_vocab, g->row_next[k]);
    g->row_job[k]->sum_lp += lp;
    g->s1 -= lp;
    g->s2 += lp * lp;
    g->n_scored++;
}

/* Scores jobs[0..n), n_seq at a time. */
int dfit_acc_score_jobs(struct evaluator *e, struct job *jobs, size_t n, struct score_group *g,
                        struct dfit_err *err)
{
    g->e = e;
    g->row_job = malloc(e->s_cap * sizeof *g->row_job);
    g->row_next = malloc(e->s_cap * sizeof *g->row_next);
    int rc = 0;
    if (!g->row_job || !g->row_next) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "accuracy: out of memory");
        goto done;
    }
    for (size_t base = 0; base < n && !rc; base += e->n_seq) {
        const size_t m = n - base < e->n_seq ? n - base : e->n_seq;
        e->ops->seq_reset(e->ctx, -1);
        size_t len = 0, k = 0;
        for (size_t j = 0; j < m; j++) {
            struct job *jb = &jobs[base + j];
            jb->sum_lp = 0.0;
            for (uint32_t t = 0; t < jb->n; t++, len++) {
                e->s_tok[len] = jb->ids[t];
                e->s_pos[len] = (int32_t)t;
                e->s_seq[len] = (int32_t)j;
                e->s_want[len] = t + 1 >= jb->from && t + 1 < jb->n;
                if (e->s_want[len]) {
                    g->row_job[k] = jb;
                    g->row_next[k++] = jb->ids[t + 1];
                }
            }
        }
        rc = dfit_acc_run_stream(e, len, score_take, g, err);
    }
done:
    free(g->row_job);
    free(g->row_next);
    g->row_job = NULL;
    g->row_next = NULL;
    return rc;
}
