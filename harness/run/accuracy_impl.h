/* accuracy_impl.h — the model on its backend as accuracy.c drives it,
 * shared by accuracy_model.c (loading, running token streams, scoring
 * sequences) and accuracy.c (encoding, generation, multiple choice,
 * perplexity). Internal: include accuracy.h instead. */
#ifndef DFIT_RUN_ACCURACY_IMPL_H
#define DFIT_RUN_ACCURACY_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "compress/corpus.h"
#include "model/tokenizer.h"
#include "run/accuracy.h"
#include "util/err.h"

/* The model, its tokenizer and its backend context, with the buffers of
 * one stream of tokens. */
struct evaluator {
    struct dfit_model *m;
    struct dfit_tokenizer *tok;
    struct dfit_corpus_encoder enc;
    const struct dfit_backend_ops *ops;
    void *ctx;
    uint32_t n_ctx, n_seq, n_batch;
    int32_t n_vocab, eos;
    /* one stream of up to n_seq * n_ctx tokens, run n_batch at a time */
    int32_t *s_tok, *s_pos, *s_seq; /* [n_seq * n_ctx] */
    int8_t *s_want;                 /* [n_seq * n_ctx] */
    size_t s_cap;
    float *logits; /* [n_batch][n_vocab] */
};

/* One token sequence: a prompt to continue, or a sequence to score from
 * token `from` on (each scored token predicted by the logits before it). */
struct job {
    int32_t *ids;
    uint32_t n, from;
    double sum_lp; /* scoring: sum of log p of tokens from..n-1 */
};

/* The scoring of a list of jobs: which job and token each wanted row
 * belongs to, and sums over every scored token (for perplexity). */
struct score_group {
    struct evaluator *e;
    struct job **row_job; /* wanted ordinal -> job */
    int32_t *row_next;    /* wanted ordinal -> the token it predicts */
    double s1, s2;        /* sum of NLL and NLL^2 over every scored token */
    uint64_t n_scored;
};

/* Opens the model at path and its tokenizer (no backend yet); on failure
 * e is empty and err names path. */
int dfit_acc_open(struct evaluator *e, const char *path, const struct dfit_accuracy_params *p,
                  struct dfit_err *err);
/* Loads the backend for sequences of up to n_ctx tokens, p->n_seq at a
 * time. DFIT_EINVAL for too many sequences, DFIT_ENOMEM, the backend's
 * codes (err names path). */
int dfit_acc_load(struct evaluator *e, const char *path, const struct dfit_accuracy_params *p, uint32_t n_ctx,
                  struct dfit_err *err);
void dfit_acc_close(struct evaluator *e); /* frees everything; accepts an empty e */

/* Runs e->s_*[0..n) in calls of n_batch tokens; for each wanted token, in
 * order, calls on_row with its ordinal and its logits [n_vocab]. The
 * backend's codes. */
int dfit_acc_run_stream(struct evaluator *e, size_t n, void (*on_row)(void *, size_t, const float *), void *user,
                        struct dfit_err *err);
/* Scores jobs[0..n), n_seq at a time: each job's sum_lp, and g's sums. */
int dfit_acc_score_jobs(struct evaluator *e, struct job *jobs, size_t n, struct score_group *g,
                        struct dfit_err *err);

int32_t dfit_acc_argmax(const float *x, int32_t n);                     /* the first maximum */
double dfit_acc_log_prob(const float *logits, int32_t n, int32_t next); /* log softmax(logits)[next] */

#endif
