/* eval_data.h — the token stream quality is scored on: the scenario's eval
 * text file tokenized with the model's own tokenizer (no BOS: quality adds
 * one per chunk, as llama.cpp's perplexity tool does), or "synth", a
 * seeded random stream of ordinary tokens (normal and byte pieces; never
 * control or unknown tokens), for models without meaningful text.
 * Non-goals: task data sets (CSV), downloading corpora.
 */
#ifndef DFIT_RUN_EVAL_DATA_H
#define DFIT_RUN_EVAL_DATA_H

#include <stdint.h>

#include "model/tokenizer.h"
#include "util/err.h"

/* Largest eval text file read (the stream is cut to n_tokens anyway). */
#define DFIT_EVAL_MAX_FILE_BYTES (256u << 20)

/* A random stream of n_tokens ordinary tokens of t's vocabulary, the same
 * for the same seed. *out is malloc'd (the caller frees it). DFIT_EINVAL
 * when n_tokens is 0 or the vocabulary has no ordinary token, DFIT_ENOMEM;
 * on failure *out is NULL. */
int dfit_eval_synth(const struct dfit_tokenizer *t, uint32_t n_tokens, uint64_t seed,
                    int32_t **out, struct dfit_err *err);

/* Reads the text file at path and tokenizes it with t (without BOS),
 * keeping the first n_tokens tokens (fewer when the text is shorter:
 * *n_out says how many). *out is malloc'd. DFIT_EIO naming the file when it
 * cannot be read, DFIT_EINVAL when it is empty or gives no token, the
 * tokenizer's codes, DFIT_ERANGE over DFIT_EVAL_MAX_FILE_BYTES,
 * DFIT_ENOMEM; on failure *out is NULL and *n_out 0. */
int dfit_eval_text(const char *path, const struct dfit_tokenizer *t, uint32_t n_tokens,
                   int32_t **out, uint32_t *n_out, struct dfit_err *err);

/* The scenario's choice: eval == "synth" (or NULL) uses dfit_eval_synth,
 * anything else is a text file path. The tokenizer comes from the model
 * file at model_path. Same codes as above plus the GGUF reader's and
 * tokenizer's for the model. */
int dfit_eval_load(const char *eval, const char *model_path, uint32_t n_tokens, uint64_t seed,
                   int32_t **out, uint32_t *n_out, struct dfit_err *err);

#endif
