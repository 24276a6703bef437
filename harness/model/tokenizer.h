/* tokenizer.h — llama's SentencePiece-style tokenizer from GGUF metadata.
 *
 * tokenizer.ggml.model = "llama": tokens, scores and token_type arrays;
 * encoding follows llama.cpp's SPM tokenizer (spaces become U+2581 "▁", a
 * leading "▁" is added, then greedy merging of adjacent symbols by the
 * highest score, with byte fallback to <0xXX> tokens for anything not in the
 * vocabulary); special tokens (bos/eos/unk) come from
 * tokenizer.ggml.{bos,eos,unknown}_token_id.
 * dfit's own models use a byte-level vocabulary written by
 * dfit_tokenizer_write_byte_vocab: <unk>, <s>, </s>, the 256 byte tokens, and
 * (when n_vocab > 259) extra unique pieces to reach the model's vocabulary
 * size — a valid "llama" vocabulary llama.cpp loads too.
 * Non-goals: BPE (gpt2) vocabularies, pre-tokenizer regexes.
 */
#ifndef DFIT_MODEL_TOKENIZER_H
#define DFIT_MODEL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "model/gguf.h"
#include "util/err.h"

/* llama.cpp token types */
enum dfit_token_type {
    DFIT_TOKEN_UNDEFINED = 0,
    DFIT_TOKEN_NORMAL = 1,
    DFIT_TOKEN_UNKNOWN = 2,
    DFIT_TOKEN_CONTROL = 3,
    DFIT_TOKEN_USER_DEFINED = 4,
    DFIT_TOKEN_UNUSED = 5,
    DFIT_TOKEN_BYTE = 6,
};

struct dfit_tokenizer;

/* Builds the tokenizer from g's tokenizer.ggml.* keys (g may be closed
 * afterwards: everything is copied). Errors name the key and index. */
int dfit_tokenizer_from_gguf(const struct dfit_gguf *g, struct dfit_tokenizer **out, struct dfit_err *err);
void dfit_tokenizer_free(struct dfit_tokenizer *t); /* accepts NULL */

int32_t dfit_tokenizer_n_vocab(const struct dfit_tokenizer *t);
int32_t dfit_tokenizer_bos(const struct dfit_tokenizer *t);  /* -1 if none */
int32_t dfit_tokenizer_eos(const struct dfit_tokenizer *t);  /* -1 if none */

/* Encodes len bytes of text (any bytes; invalid UTF-8 falls back to byte
 * tokens). With add_bos, the BOS id comes first. Writes at most n_max ids;
 * *n_out is the number the full encoding needs (so a caller can retry with
 * a bigger buffer): returns DFIT_ERANGE if it exceeds n_max. */
int dfit_tokenizer_encode(const struct dfit_tokenizer *t, const char *text, size_t len, int add_bos,
                          int32_t *ids, size_t n_max, size_t *n_out, struct dfit_err *err);

/* The piece as stored in the vocabulary ("▁the", "<0x0A>", "<s>"), or NULL
 * for an out-of-range id. */
const char *dfit_tokenizer_piece(const struct dfit_tokenizer *t, int32_t id);
enum dfit_token_type dfit_tokenizer_type(const struct dfit_tokenizer *t, int32_t id);

/* Appends the text of `id` (▁ -> space, <0xXX> -> that byte, control
 * tokens -> nothing) to buf; returns the number of bytes the text has
 * (may exceed cap: then nothing is written), or -1 for a bad id. */
int dfit_tokenizer_decode_piece(const struct dfit_tokenizer *t, int32_t id, char *buf, size_t cap);

/* Writes tokenizer.ggml.* keys of dfit's byte-level vocabulary with
 * n_vocab entries (n_vocab >= 259) into w. */
struct dfit_gguf_writer;
int dfit_tokenizer_write_byte_vocab(struct dfit_gguf_writer *w, uint32_t n_vocab, struct dfit_err *err);

#endif
