/* corpus.h — dfit's task corpus: small tasks of graded difficulty written
 * as byte-level text, for training dfit's default model (`dfit train`) and
 * for measuring its task accuracy (`dfit eval`).
 *
 * An example is a prompt and an answer; as text it is one line,
 * PROMPT ANSWER "\n" with nothing between them (prompts end in their own
 * separator: "add: 47+385=" "432", "copy: kqzt|" "kqzt", "Ann has 3 apples
 * and buys 4 more. How many? " "7"). The answer ends at the newline;
 * neither part ever contains one. Tasks (docs/tasks-and-eval.md lists
 * every form): add, sub, succ, max (numbers of `level` digits), copy, rev
 * (strings of 2*level or 2*level+1 letters), sort (level+1 digits or
 * letters), word (templated word problems, level 1..4: one-digit sums,
 * differences, two-digit sums or differences, products). Levels 1..4.
 *
 * Held-out split: an example belongs to evaluation iff
 * dfit_corpus_prompt_hash(prompt) % DFIT_CORPUS_EVAL_MOD == 0, whatever
 * the seed, so training text never holds a prompt of any eval set.
 *
 * As tokens (what training sees and what evaluation feeds): BOS (when the
 * model adds one), then the prompt encoded as the tokenizer encodes any
 * text, then the answer and its newline encoded as a continuation (the
 * tokenizer's leading space mark left out), so the prompt/answer boundary
 * is always a token boundary and the model is trained on exactly the
 * prompt tokens it is evaluated on. The mask is 1 on the answer's tokens
 * and its newline, 0 on BOS and the prompt.
 * Non-goals: natural-language data, tokenizers other than dfit's
 * tokenizer interface, curricula (the level mix is uniform).
 */
#ifndef DFIT_COMPRESS_CORPUS_H
#define DFIT_COMPRESS_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/tokenizer.h"
#include "run/eval_csv.h"
#include "util/err.h"
#include "util/rng.h"

enum dfit_task {
    DFIT_TASK_ADD = 0,  /* "add: 47+385="   -> "432" */
    DFIT_TASK_SUB,      /* "sub: 385-47="   -> "338" */
    DFIT_TASK_SUCC,     /* "succ: 399="     -> "400" */
    DFIT_TASK_MAX,      /* "max: 47,38="    -> "47" */
    DFIT_TASK_COPY,     /* "copy: kqzt|"    -> "kqzt" */
    DFIT_TASK_REV,      /* "rev: kqzt|"     -> "tzqk" */
    DFIT_TASK_SORT,     /* "sort: 5,1,3|"   -> "1,3,5" */
    DFIT_TASK_WORD,     /* "Ann has 3 apples and buys 4 more. How many? " -> "7" */
    DFIT_TASK_COUNT
};

#define DFIT_CORPUS_MAX_LEVEL 4
#define DFIT_CORPUS_EVAL_MOD 8u
/* Buffer size of a prompt or an answer (NUL included); every task's text
 * fits well inside. */
#define DFIT_CORPUS_TEXT_MAX 128

const char *dfit_task_name(enum dfit_task t); /* "add", ...; "?" if out of range */
/* 0 and *out, or DFIT_ENOTFOUND listing the names in err. */
int dfit_task_from_name(const char *name, enum dfit_task *out, struct dfit_err *err);

struct dfit_corpus_example {
    enum dfit_task task;
    int level;                           /* 1..DFIT_CORPUS_MAX_LEVEL */
    char prompt[DFIT_CORPUS_TEXT_MAX];
    char answer[DFIT_CORPUS_TEXT_MAX];
};

/* ---- examples (corpus_tasks.c) ----------------------------------------------- */

/* Draws one example of task at level (clamped to 1..4) from rng, train or
 * eval alike. Deterministic in the rng's state. */
void dfit_corpus_draw(enum dfit_task task, int level, struct dfit_rng *rng, struct dfit_corpus_example *ex);
/* FNV-1a of the prompt's bytes, finished with a 64-bit mixer. */
uint64_t dfit_corpus_prompt_hash(const char *prompt);
/* Whether a prompt belongs to the held-out (eval) split. */
bool dfit_corpus_is_eval(const char *prompt);

/* ---- tokens ---------------------------------------------------------------------- */

/* What the encoding needs of a tokenizer, worked out once. */
struct dfit_corpus_encoder {
    const struct dfit_tokenizer *tok;   /* borrowed */
    int32_t bos;                        /* put first, or -1 (the model adds none) */
    bool space_prefix;                  /* the tokenizer prepends a space mark */
};

/* Fails with DFIT_EINVAL when tok cannot encode a newline. */
int dfit_corpus_encoder_init(struct dfit_corpus_encoder *e, const struct dfit_tokenizer *tok,
                             struct dfit_err *err);

/* Encodes BOS, prompt, then (unless answer is NULL) answer + "\n" as a
 * continuation, into ids[0..n_max) with mask (may be NULL) 0 on BOS and
 * prompt and 1 on the rest. *n_out gets the count, *n_prompt (may be NULL)
 * the tokens before the answer. DFIT_ERANGE when n_max is too small (*n_out
 * then 0), the tokenizer's codes otherwise. */
int dfit_corpus_encode(const struct dfit_corpus_encoder *e, const char *prompt, const char *answer,
                       int32_t *ids, uint8_t *mask, size_t n_max, size_t *n_out, size_t *n_prompt,
                       struct dfit_err *err);

/* ---- the training stream ----------------------------------------------------------- */

struct dfit_corpus_params {
    uint64_t seed;
    uint32_t tasks;        /* bit (1u << task) for each task drawn; 0: all */
    int min_level;         /* 0: 1 */
    int max_level;         /* 0: DFIT_CORPUS_MAX_LEVEL */
};

/* A deterministic endless stream of training examples (never an eval
 * prompt): task uniform over the chosen tasks, level uniform over
 * min..max. Same params, same stream. */
struct dfit_corpus;

/* tok is borrowed and must outlive c. DFIT_EINVAL for bad params (no task,
 * levels outside 1..4 or min > max) or an unusable tokenizer, DFIT_ENOMEM;
 * *out NULL on failure. */
int dfit_corpus_open(const struct dfit_corpus_params *p, const struct dfit_tokenizer *tok,
                     struct dfit_corpus **out, struct dfit_err *err);
void dfit_corpus_close(struct dfit_corpus *c); /* accepts NULL */

/* The next training example as text (what dfit_corpus_fill would encode
 * next, when no example is half emitted). */
void dfit_corpus_next(struct dfit_corpus *c, struct dfit_corpus_example *ex);

/* Fills tokens[0..n) and mask[0..n) with packed examples, each one BOS,
 * prompt, answer and newline; an example cut at the end of the buffer goes
 * on at the start of the next call. mask[i] is 1 when tokens[i] is an
 * answer token or the answer's newline: when training predicts tokens[i]
 * from tokens[..i-1], weight that loss by mask[i]. Fails only on the
 * tokenizer's errors (DFIT_ERANGE for an example over 4096 tokens). */
int dfit_corpus_fill(struct dfit_corpus *c, int32_t *tokens, uint8_t *mask, size_t n, struct dfit_err *err);

/* Fills n_rows rows of n_ctx tokens, each starting at an example's BOS and
 * holding whole examples; the rest of a row is EOS (or BOS when the model
 * has no EOS) with mask 0. Examples longer than n_ctx are skipped.
 * DFIT_EINVAL when n_ctx is below 16 or no example fits it. */
int dfit_corpus_fill_rows(struct dfit_corpus *c, int32_t *tokens, uint8_t *mask, size_t n_rows,
                          size_t n_ctx, struct dfit_err *err);

/* Open, fill n tokens, close. */
int dfit_corpus_stream(const struct dfit_corpus_params *p, const struct dfit_tokenizer *tok, int32_t *tokens,
                       uint8_t *mask, size_t n, struct dfit_err *err);

/* ---- eval sets -------------------------------------------------------------------- */

/* A generation set of up to n_items distinct eval-split examples of task,
 * levels taken in turn 1, 2, 3, 4, 1, ... (a level whose eval prompts run
 * out leaves its turns to the others, so small prompt spaces give fewer
 * items). Named "eval_<task>". DFIT_EINVAL (bad task or n_items 0),
 * DFIT_ENOMEM; *out NULL on failure. */
int dfit_corpus_eval_gen(enum dfit_task task, uint64_t seed, uint32_t n_items, struct dfit_eval_set **out,
                         struct dfit_err *err);

/* A multiple-choice set named "eval_<task>_mc" from the same eval-split
 * prompts: for max, the two numbers are the choices; for add, sub, succ
 * and word, the answer and three distractors (the answer +-1, +-10,
 * +-100, never negative), in a random order; label the answer's place.
 * DFIT_EUNSUPPORTED for the other tasks. */
int dfit_corpus_eval_mc(enum dfit_task task, uint64_t seed, uint32_t n_items, struct dfit_eval_set **out,
                        struct dfit_err *err);

#endif
