/* accuracy.h — task accuracy of a model on CSV eval sets, and perplexity
 * of a text file, on any backend (the CPU reference backend by default).
 *
 * Generation sets (prompt,answer): the model gets BOS (when it adds one)
 * and the prompt's tokens, then greedy decoding (argmax, the first maximum
 * on ties) generates until a token whose text holds a newline, EOS, or
 * strlen(answer) + 1 tokens; the text before the first newline must equal
 * the answer exactly (nothing else is trimmed).
 * Multiple-choice sets (prompt,choice_1..k,label): each choice c is scored
 * by the sum of log p(token | everything before it) over the tokens of
 * c + "\n", encoded as a continuation of the prompt (compress/corpus.h:
 * the same prompt/answer boundary training uses); the pick is the choice
 * with the largest sum (llama.cpp's HellaSwag criterion), or with
 * length_norm, the largest mean per token. Both are always reported.
 * Accuracy p over n items has standard error sqrt(p (1 - p) / n).
 *
 * Perplexity: the text is tokenized (no BOS), cut into chunks of n_ctx
 * tokens (a last partial chunk is dropped, as llama.cpp's perplexity tool
 * does); each chunk runs from an empty cache with its first token replaced
 * by BOS (when the model adds one) and only its second half is scored:
 * the logits at positions n_ctx/2 .. n_ctx-2 predict the next token.
 * ppl = exp(mean NLL); its standard error is ppl * se(NLL), se(NLL) =
 * sqrt((mean(NLL^2) - mean(NLL)^2) / (n - 1)) over the n scored tokens
 * (0 for n < 2).
 * Non-goals: sampling, few-shot prompt building, a task column inside one
 * CSV (one file per task), fidelity to a reference (run/quality.h).
 */
#ifndef DFIT_RUN_ACCURACY_H
#define DFIT_RUN_ACCURACY_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "run/eval_csv.h"
#include "run/result.h"
#include "util/err.h"

#define DFIT_ACCURACY_DEFAULT_SEQ 8u           /* sequences run at once */
#define DFIT_ACCURACY_MAX_SEQ 256u
#define DFIT_ACCURACY_PPL_MAX_CTX 256u         /* default perplexity chunk cap */
#define DFIT_ACCURACY_PPL_MAX_TOKENS (1u << 20) /* default text cap, tokens */

struct dfit_accuracy_params {
    const struct dfit_backend_ops *backend;  /* NULL: the "cpu" backend */
    int n_threads;
    const char *kernels;                     /* NULL: the backend's best */
    const char *device;                      /* NULL: its default */
    uint32_t n_seq;          /* sequences decoded or scored at once; 0: DFIT_ACCURACY_DEFAULT_SEQ */
    uint32_t limit;          /* score only the first `limit` items of each set; 0: all */
    bool length_norm;        /* multiple choice: pick by mean log-prob per token */
    uint32_t ppl_ctx;        /* perplexity chunk; 0: min(n_ctx_train, DFIT_ACCURACY_PPL_MAX_CTX,
                                tokens of the text) */
    uint32_t ppl_max_tokens; /* tokens of the text kept; 0: DFIT_ACCURACY_PPL_MAX_TOKENS */
};

/* The accuracy on one eval set. */
struct dfit_accuracy {
    char name[128];            /* the set's name (file name without .csv) */
    enum dfit_eval_kind kind;
    uint32_t n_choices;        /* multiple choice: k */
    uint64_t n_items;          /* items scored */
    uint64_t n_correct;        /* by the chosen criterion */
    double accuracy, accuracy_se;
    /* multiple choice: both criteria (generation: equal to the above) */
    uint64_t n_correct_sum, n_correct_norm;
    double accuracy_sum, accuracy_sum_se, accuracy_norm, accuracy_norm_se;
};

struct dfit_perplexity {
    uint64_t n_tokens;         /* scored tokens */
    uint32_t n_ctx, n_chunks;
    double nll, nll_se;        /* mean negative log-likelihood (nats) */
    double ppl, ppl_se;
};

struct dfit_accuracy_report {
    struct dfit_accuracy *sets;   /* [n_sets], owned */
    uint32_t n_sets;
    struct dfit_accuracy all;     /* every item of every set pooled */
    bool has_ppl;
    struct dfit_perplexity ppl;
};

/* Scores the model at model_path on sets[0..n_sets) (in memory) and, if
 * text_path is not NULL, measures perplexity on that text; the model is
 * loaded once. p may be NULL (defaults). On failure the report is empty
 * (dfit_accuracy_report_clear'ed) and the code is returned with err naming
 * the cause: DFIT_ENOTFOUND (no such backend), DFIT_EINVAL (no set and no
 * text; an item whose prompt and answer do not fit the model's context,
 * naming the set and row; a text with too few tokens: fewer than 4, or
 * fewer than the ppl_ctx asked for), the model reader's, tokenizer's and
 * backend's codes (DFIT_ENOMEM when memory runs out). Nothing leaks. */
int dfit_accuracy_run_sets(const char *model_path, const struct dfit_accuracy_params *p,
                           const struct dfit_eval_set *const *sets, uint32_t n_sets, const char *text_path,
                           struct dfit_accuracy_report *out, struct dfit_err *err);

/* The same on CSV files (dfit_eval_csv_read's errors as well). */
int dfit_accuracy_run(const char *model_path, const struct dfit_accuracy_params *p,
                      const char *const *csv_paths, uint32_t n_csv, const char *text_path,
                      struct dfit_accuracy_report *out, struct dfit_err *err);

void dfit_accuracy_report_clear(struct dfit_accuracy_report *r); /* frees; accepts NULL */

/* One CSV file: for the scenario runner. On failure *out is zeroed. */
int dfit_accuracy_csv(const char *model_path, const struct dfit_accuracy_params *p, const char *csv_path,
                      struct dfit_accuracy *out, struct dfit_err *err);

/* Perplexity of a text file alone. On failure *out is zeroed. */
int dfit_perplexity_text(const char *model_path, const struct dfit_accuracy_params *p, const char *text_path,
                         struct dfit_perplexity *out, struct dfit_err *err);

/* Copies an accuracy into a cell's quality record (has_accuracy,
 * accuracy, accuracy_se); the other fields are kept. */
void dfit_accuracy_to_quality(const struct dfit_accuracy *a, struct dfit_quality *q);

#endif
