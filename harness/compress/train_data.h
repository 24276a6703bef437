/* train_data.h — training tokens for `dfit train`: a token stream with an
 * optional per-token mask, and the batches drawn from it.
 *
 * Sources:
 *   - a token file (written by dfit_train_data_write, e.g. by a corpus
 *     generator): "DFITTOK1", u64 n_tokens, u32 flags (bit 0: a mask
 *     follows), u32 0, n × int32 ids, then (with the flag) n × u8 mask
 *     values 0 or 1; little-endian;
 *   - any other file is UTF-8 text, encoded with dfit's byte-level
 *     vocabulary of the model's size as one sequence with BOS first, every
 *     token a target;
 *   - arrays in memory (dfit_train_data_from_arrays).
 * mask[i] != 0 means token i is a target whose prediction counts in the
 * loss (an answer token); a NULL mask counts every token.
 *
 * Batches: the stream is cut into windows of T+1 tokens at stride T (window
 * w holds tokens [wT, wT+T], inputs its first T, targets its last T, the
 * mask of the targets). Each epoch visits every window once, in an order
 * shuffled by a seeded generator that runs on from epoch to epoch; the
 * cursor (epoch, index, the generator's state at the epoch's start) is all
 * a checkpoint needs to continue the same sequence of batches.
 * Non-goals: sharded or streamed corpora larger than memory, document
 * boundaries inside windows (attention may cross them, as in GPT
 * pre-training), padding.
 */
#ifndef DFIT_COMPRESS_TRAIN_DATA_H
#define DFIT_COMPRESS_TRAIN_DATA_H

#include <stdint.h>

#include "util/err.h"
#include "util/rng.h"

#define DFIT_TRAIN_TOKENS_MAGIC "DFITTOK1"

struct dfit_train_data {
    int32_t *tokens;     /* [n] owned */
    uint8_t *mask;       /* [n] owned, or NULL: every token is a target */
    uint64_t n;
    char sha256[65];     /* of the file (or of the arrays' bytes) */
};

/* Reads a token file or a text file (see above) for a model of n_vocab
 * tokens. Errors name the path and the field: DFIT_EIO, DFIT_EINVAL (bad
 * header, size, id out of range with its index, mask value), DFIT_ERANGE
 * (text over the tokenizer's 256 MiB), DFIT_ENOMEM. *out NULL on failure. */
int dfit_train_data_load(const char *path, uint32_t n_vocab, struct dfit_train_data **out,
                         struct dfit_err *err);
/* Copies arrays (mask may be NULL). Ids are checked against n_vocab. */
int dfit_train_data_from_arrays(const int32_t *tokens /* [n] */, const uint8_t *mask /* [n] */,
                                uint64_t n, uint32_t n_vocab, struct dfit_train_data **out,
                                struct dfit_err *err);
/* Writes a token file atomically (tmp + fsync + rename); mask may be NULL.
 * DFIT_EIO naming the path. */
int dfit_train_data_write(const char *path, const int32_t *tokens /* [n] */,
                          const uint8_t *mask /* [n] */, uint64_t n, struct dfit_err *err);
void dfit_train_data_free(struct dfit_train_data *d); /* accepts NULL */

/* Where the batches are in the data. */
struct dfit_train_cursor {
    uint64_t epoch;            /* epochs started (1 after the first draw) */
    uint64_t index;            /* next window within the epoch's order */
    struct dfit_rng rng_epoch; /* the order generator before this epoch's shuffle */
};

struct dfit_train_batcher;

/* A batcher over d (borrowed) for windows of T+1 tokens, seeded. Fails with
 * DFIT_EINVAL when d holds fewer than T+1 tokens. */
int dfit_train_batcher_create(const struct dfit_train_data *d, uint32_t T, uint64_t seed,
                              struct dfit_train_batcher **out, struct dfit_err *err);
void dfit_train_batcher_free(struct dfit_train_batcher *b); /* accepts NULL */
uint64_t dfit_train_batcher_windows(const struct dfit_train_batcher *b);
/* The cursor now, and a jump to a saved one (its window order is redrawn
 * from rng_epoch). Seeking fails with DFIT_EINVAL when the index is past
 * the windows of this data. */
void dfit_train_batcher_tell(const struct dfit_train_batcher *b, struct dfit_train_cursor *c);
int dfit_train_batcher_seek(struct dfit_train_batcher *b, const struct dfit_train_cursor *c,
                            struct dfit_err *err);
/* The next B windows: inputs, targets and the targets' mask (1 where the
 * data has no mask). */
void dfit_train_batcher_next(struct dfit_train_batcher *b, uint32_t B, int32_t *inputs /* [B][T] */,
                             int32_t *targets /* [B][T] */, uint8_t *mask /* [B][T] */);

#endif
