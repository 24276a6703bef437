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
 * Non-goals: BPE (gpt2) vocabularies, pre-tokenizer regexes, splitting out
 * user-defined or control tokens written in the text (llama.cpp's
 * parse_special), whole-sequence detokenization rules (leading-space strip).
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

/* An in-memory vocabulary for dfit_tokenizer_create (tests, tools). Every
 * array has n entries; the optional ones may be NULL. */
struct dfit_tokenizer_vocab {
    uint32_t n;                  /* number of pieces, 1 .. 1<<24 */
    const char *const *pieces;   /* [n] the piece texts */
    const size_t *piece_lens;    /* [n] byte lengths, or NULL: strlen */
    const float *scores;         /* [n] or NULL: all 0 */
    const int32_t *types;        /* [n] enum dfit_token_type, or NULL:
                                    "<0xXX>" pieces BYTE, others NORMAL */
    int32_t bos, eos, unk, pad;  /* special ids, -1 for none */
    int add_space_prefix;        /* prepend "▁" to the text (llama: 1) */
    int add_bos;                 /* the model's default (see _add_bos) */
};

/* Builds a tokenizer from v (everything is copied). Rejects: n == 0 or too
 * big, NULL, empty or over-long (> 1 MiB) pieces, duplicate pieces (naming
 * both indices), NaN scores, unknown token types, BYTE tokens not of the
 * form "<0xXX>", special ids out of range. Messages use the GGUF key names
 * ("key 'tokenizer.ggml.tokens': index 7: empty piece"). DFIT_EINVAL,
 * DFIT_ERANGE or DFIT_ENOMEM; *out is NULL on failure. */
int dfit_tokenizer_create(const struct dfit_tokenizer_vocab *v, struct dfit_tokenizer **out,
                          struct dfit_err *err);

/* Builds the tokenizer from g's tokenizer.ggml.* keys (g may be closed
 * afterwards: everything is copied). Errors name the file, the key and the
 * index: DFIT_ENOTFOUND (no model or tokens key), DFIT_EUNSUPPORTED (model
 * other than "llama"), DFIT_EINVAL (wrong key types, array lengths that
 * differ from tokens, what dfit_tokenizer_create rejects), DFIT_ENOMEM.
 * Absent optional keys take llama.cpp's defaults: scores 0, types NORMAL
 * (but "<0xXX>" pieces BYTE), bos 1, eos 2, unknown 0 (each only if in
 * range, else none), padding none, add_bos_token and add_space_prefix
 * true. */
int dfit_tokenizer_from_gguf(const struct dfit_gguf *g, struct dfit_tokenizer **out, struct dfit_err *err);
void dfit_tokenizer_free(struct dfit_tokenizer *t); /* accepts NULL */

int32_t dfit_tokenizer_n_vocab(const struct dfit_tokenizer *t);
int32_t dfit_tokenizer_bos(const struct dfit_tokenizer *t);  /* -1 if none */
int32_t dfit_tokenizer_eos(const struct dfit_tokenizer *t);  /* -1 if none */
int32_t dfit_tokenizer_unk(const struct dfit_tokenizer *t);  /* -1 if none */
int32_t dfit_tokenizer_pad(const struct dfit_tokenizer *t);  /* -1 if none */
/* Whether the model wants BOS first (tokenizer.ggml.add_bos_token). */
int dfit_tokenizer_add_bos(const struct dfit_tokenizer *t);

/* Encodes len bytes of text (any bytes; invalid UTF-8 falls back to byte
 * tokens). With add_bos, the BOS id comes first. Empty text gives no ids
 * (but BOS). Writes at most n_max ids (ids may be NULL when n_max is 0);
 * *n_out (may be NULL) is the number the full encoding needs (so a caller
 * can retry with a bigger buffer): returns DFIT_ERANGE if it exceeds n_max,
 * with the first n_max ids written. Other failures (*n_out 0): DFIT_EINVAL
 * (add_bos without a BOS token; a character with neither byte tokens nor
 * an unknown token to fall back to), DFIT_ERANGE (text over 256 MiB),
 * DFIT_ENOMEM. Thread-safe: t is only read. */
int dfit_tokenizer_encode(const struct dfit_tokenizer *t, const char *text, size_t len, int add_bos,
                          int32_t *ids, size_t n_max, size_t *n_out, struct dfit_err *err);

/* The id of the piece s[0..n) (exact bytes, e.g. "▁the"), or -1. */
int32_t dfit_tokenizer_find_piece(const struct dfit_tokenizer *t, const char *s, size_t n);
/* The piece's score (0 for an out-of-range id). */
float dfit_tokenizer_score(const struct dfit_tokenizer *t, int32_t id);

/* The piece as stored in the vocabulary ("▁the", "<0x0A>", "<s>"), or NULL
 * for an out-of-range id. */
const char *dfit_tokenizer_piece(const struct dfit_tokenizer *t, int32_t id);
enum dfit_token_type dfit_tokenizer_type(const struct dfit_tokenizer *t, int32_t id);

/* Writes the text of `id` to buf as llama.cpp's token_to_piece does
 * (special = false): normal pieces with ▁ -> space, user-defined pieces
 * verbatim, <0xXX> -> that byte, control, unknown, unused and undefined
 * tokens -> nothing. Returns the number of bytes the text has,
 * or -1 for a bad id; if that exceeds cap nothing is written, and a NUL
 * follows the text when cap leaves room for it. */
int dfit_tokenizer_decode_piece(const struct dfit_tokenizer *t, int32_t id, char *buf, size_t cap);

/* Writes tokenizer.ggml.* keys of dfit's byte-level vocabulary with
 * n_vocab entries into w: model "llama"; pieces 0 <unk> (UNKNOWN), 1 <s>,
 * 2 </s> (CONTROL), 3..258 <0x00>..<0xFF> (BYTE, score 0), then NORMAL
 * pieces "▁" and, for L = 1, 2, ..., every string of L printable ASCII
 * characters other than space, '<' and '>' (common characters first), bare
 * and after "▁", with scores -1, -2, ... in that order (shorter pieces
 * merge first); bos 1, eos 2, unknown 0, add_bos_token true. Same n_vocab,
 * same vocabulary. With n_vocab 259 there is no "▁" piece, so a space
 * encodes (and decodes) as the three bytes of U+2581, as in llama.cpp: text
 * round trips need n_vocab >= 260. DFIT_EINVAL if n_vocab < 259,
 * DFIT_ERANGE above 4Mi, DFIT_ENOMEM, or the writer's error. */
struct dfit_gguf_writer;
int dfit_tokenizer_write_byte_vocab(struct dfit_gguf_writer *w, uint32_t n_vocab, struct dfit_err *err);
/* The same vocabulary as a tokenizer, without a file (same errors, *out
 * NULL on failure); equal to what dfit_tokenizer_from_gguf builds from
 * the keys written above. */
int dfit_tokenizer_create_byte_vocab(uint32_t n_vocab, struct dfit_tokenizer **out, struct dfit_err *err);

#endif
