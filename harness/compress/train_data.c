/* train_data.c — training token streams and their batches (see
 * train_data.h). Non-goals: streaming from disk, tokenizers other than the
 * byte-level vocabulary.
 */
#include "compress/train_data.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/checkpoint.h"
#include "model/tokenizer.h"
#include "util/sha256.h"

#define HEADER_BYTES 24
#define MAX_TEXT_BYTES (256u << 20) /* the tokenizer's cap */
#define MAX_TOKENS (UINT64_C(1) << 32)

void dfit_train_data_free(struct dfit_train_data *d)
{
    if (!d)
        return;
    free(d->tokens);
    free(d->mask);
    free(d);
}

static int check_ids(const int32_t *tokens, const uint8_t *mask, uint64_t n, uint32_t n_vocab,
                     const char *what, struct dfit_err *err)
{
    for (uint64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= n_vocab)
            return dfit_err_set(err, DFIT_EINVAL, "%s: token %" PRIu64 ": id %" PRId32
                                " not in [0, %u) (the model's vocabulary)",
                                what, i, tokens[i], n_vocab);
    for (uint64_t i = 0; mask && i < n; i++)
        if (mask[i] > 1)
            return dfit_err_set(err, DFIT_EINVAL, "%s: mask %" PRIu64 ": value %u, must be 0 or 1",
                                what, i, mask[i]);
    return 0;
}

int dfit_train_data_from_arrays(const int32_t *tokens, const uint8_t *mask, uint64_t n,
                                uint32_t n_vocab, struct dfit_train_data **out, struct dfit_err *err)
{
    *out = NULL;
    int rc;
    if (n == 0 || n > MAX_TOKENS)
        return dfit_err_set(err, DFIT_EINVAL, "train data: %" PRIu64 " tokens (must be 1..2^32)", n);
    if ((rc = check_ids(tokens, mask, n, n_vocab, "train data", err)))
        return rc;
    struct dfit_train_data *d = calloc(1, sizeof *d);
    if (!d)
        return dfit_err_set(err, DFIT_ENOMEM, "train data: out of memory");
    d->n = n;
    d->tokens = malloc((size_t)n * sizeof *d->tokens);
    d->mask = mask ? malloc((size_t)n) : NULL;
    if (!d->tokens || (mask && !d->mask)) {
        dfit_train_data_free(d);
        return dfit_err_set(err, DFIT_ENOMEM, "train data: out of memory for %" PRIu64 " tokens", n);
    }
    memcpy(d->tokens, tokens, (size_t)n * sizeof *tokens);
    if (mask)
        memcpy(d->mask, mask, (size_t)n);
    if ((rc = dfit_sha256_buffer(d->tokens, (size_t)n * sizeof *tokens, d->sha256, err))) {
        dfit_train_data_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

static uint64_t rd_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Whole file into memory (caller frees *buf). */
static int slurp(const char *path, unsigned char **buf, size_t *n, struct dfit_err *err)
{
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dfit_err_set(err, DFIT_EIO, "%s: cannot open: %s", path, strerror(errno));
    int rc = 0;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: cannot seek: %s", path, strerror(errno));
        goto out;
    }
    if ((uint64_t)size > (uint64_t)HEADER_BYTES + MAX_TOKENS * 5) {
        rc = dfit_err_set(err, DFIT_ERANGE, "%s: %ld bytes is too large", path, size);
        goto out;
    }
    *buf = malloc((size_t)size + 1);
    if (!*buf) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory for %ld bytes", path, size);
        goto out;
    }
    if (fread(*buf, 1, (size_t)size, f) != (size_t)size) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: read failed", path);
        free(*buf);
        *buf = NULL;
        goto out;
    }
    *n = (size_t)size;
out:
    fclose(f);
    return rc;
}

static int load_token_file(const char *path, const unsigned char *buf, size_t size, uint32_t n_vocab,
                           struct dfit_train_data **out, struct dfit_err *err)
{
    if (size < HEADER_BYTES)
        return dfit_err_set(err, DFIT_EINVAL, "%s: token file header: %zu bytes, need %d", path,
                            size, HEADER_BYTES);
    const uint64_t n = rd_u64(buf + 8);
    const uint32_t flags = rd_u32(buf + 16);
    if (flags > 1 || rd_u32(buf + 20) != 0)
        return dfit_err_set(err, DFIT_EINVAL, "%s: token file header: flags 0x%x (known: 0x1)", path,
                            flags);
    if (n == 0 || n > MAX_TOKENS)
        return dfit_err_set(err, DFIT_EINVAL, "%s: token file header: n_tokens %" PRIu64
                            " (must be 1..2^32)", path, n);
    const uint64_t want = HEADER_BYTES + n * (4 + (flags & 1));
    if (want != size)
        return dfit_err_set(err, DFIT_EINVAL, "%s: token file: %zu bytes, expected %" PRIu64
                            " for %" PRIu64 " tokens%s", path, size, want, n,
                            (flags & 1) ? " with a mask" : "");
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory for %" PRIu64 " tokens", path, n);
    for (uint64_t i = 0; i < n; i++)
        ids[i] = (int32_t)rd_u32(buf + HEADER_BYTES + 4 * i);
    const uint8_t *mask = (flags & 1) ? buf + HEADER_BYTES + 4 * n : NULL;
    int rc = dfit_train_data_from_arrays(ids, mask, n, n_vocab, out, err);
    free(ids);
    if (rc)
        dfit_err_prefix(err, "%s", path);
    return rc;
}

static int load_text(const char *path, const unsigned char *buf, size_t size, uint32_t n_vocab,
                     struct dfit_train_data **out, struct dfit_err *err)
{
    struct dfit_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc;
    if (size > MAX_TEXT_BYTES) {
        rc = dfit_err_set(err, DFIT_ERANGE, "%s: text of %zu bytes exceeds %u", path, size,
                          MAX_TEXT_BYTES);
        goto out;
    }
    if ((rc = dfit_tokenizer_create_byte_vocab(n_vocab, &tok, err)))
        goto out;
    /* usually at most one id per byte (+ BOS and a leading "▁"); without a
     * "▁" piece (n_vocab 259) a space takes three, so retry at the size the
     * encoder asks for */
    size_t cap = size + 2;
    for (int attempt = 0; attempt < 2; attempt++) {
        free(ids);
        ids = malloc(cap * sizeof *ids);
        if (!ids) {
            rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        rc = dfit_tokenizer_encode(tok, (const char *)buf, size, 1, ids, cap, &n, err);
        if (rc != DFIT_ERANGE || n <= cap)
            break;
        cap = n;
    }
    if (rc)
        goto out;
    rc = dfit_train_data_from_arrays(ids, NULL, n, n_vocab, out, err);
out:
    if (rc && err && !strstr(err->msg, path))
        dfit_err_prefix(err, "%s", path);
    free(ids);
    dfit_tokenizer_free(tok);
    return rc;
}

int dfit_train_data_load(const char *path, uint32_t n_vocab, struct dfit_train_data **out,
                         struct dfit_err *err)
{
    *out = NULL;
    unsigned char *buf = NULL;
    size_t size = 0;
    int rc = slurp(path, &buf, &size, err);
    if (rc)
        return rc;
    if (size >= 8 && memcmp(buf, DFIT_TRAIN_TOKENS_MAGIC, 8) == 0)
        rc = load_token_file(path, buf, size, n_vocab, out, err);
    else
        rc = load_text(path, buf, size, n_vocab, out, err);
    if (rc == 0 && (rc = dfit_sha256_buffer(buf, size, (*out)->sha256, err))) {
        dfit_train_data_free(*out);
        *out = NULL;
    }
    free(buf);
    return rc;
}

int dfit_train_data_write(const char *path, const int32_t *tokens, const uint8_t *mask, uint64_t n,
                          struct dfit_err *err)
{
    struct dfit_ckpt_file f;
    int rc = dfit_ckpt_file_open(&f, path, err);
    if (rc)
        return rc;
    unsigned char h[HEADER_BYTES] = {0};
    memcpy(h, DFIT_TRAIN_TOKENS_MAGIC, 8);
    for (int i = 0; i < 8; i++)
        h[8 + i] = (unsigned char)(n >> (8 * i));
    h[16] = mask ? 1 : 0;
    dfit_ckpt_file_write(&f, h, sizeof h);
    for (uint64_t i = 0; i < n; i++) {
        const uint32_t v = (uint32_t)tokens[i];
        const unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                                    (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
        dfit_ckpt_file_write(&f, b, 4);
    }
    if (mask)
        dfit_ckpt_file_write(&f, mask, (size_t)n);
    return dfit_ckpt_file_commit(&f, err);
}

/* ---- batches ----------------------------------------------------------------- */

struct dfit_train_batcher {
    const struct dfit_train_data *d;
    uint32_t T;
    uint64_t n_windows;
    uint64_t *order;               /* [n_windows] this epoch's window order */
    struct dfit_rng rng;           /* runs on across epochs */
    struct dfit_train_cursor cur;
};

int dfit_train_batcher_create(const struct dfit_train_data *d, uint32_t T, uint64_t seed,
                              struct dfit_train_batcher **out, struct dfit_err *err)
{
    *out = NULL;
    if (T == 0 || d->n < (uint64_t)T + 1)
        return dfit_err_set(err, DFIT_EINVAL,
                            "train data: %" PRIu64 " tokens, need at least seq + 1 = %" PRIu64
                            " for one window",
                            d->n, (uint64_t)T + 1);
    struct dfit_train_batcher *b = calloc(1, sizeof *b);
    if (!b)
        return dfit_err_set(err, DFIT_ENOMEM, "train data: out of memory");
    b->d = d;
    b->T = T;
    b->n_windows = (d->n - 1) / T;
    b->order = malloc((size_t)b->n_windows * sizeof *b->order);
    if (!b->order) {
        free(b);
        return dfit_err_set(err, DFIT_ENOMEM, "train data: out of memory");
    }
    dfit_rng_seed(&b->rng, seed ^ 0x6461746161646174ull); /* a stream apart from the init's */
    b->cur.rng_epoch = b->rng;
    *out = b;
    return 0;
}

void dfit_train_batcher_free(struct dfit_train_batcher *b)
{
    if (!b)
        return;
    free(b->order);
    free(b);
}

uint64_t dfit_train_batcher_windows(const struct dfit_train_batcher *b)
{
    return b->n_windows;
}

/* Starts the next epoch: a Fisher-Yates shuffle drawn from the generator. */
static void new_epoch(struct dfit_train_batcher *b)
{
    b->cur.rng_epoch = b->rng;
    for (uint64_t i = 0; i < b->n_windows; i++)
        b->order[i] = i;
    for (uint64_t i = b->n_windows; i > 1; i--) {
        uint64_t j = dfit_rng_below(&b->rng, i);
        uint64_t t = b->order[i - 1];
        b->order[i - 1] = b->order[j];
        b->order[j] = t;
    }
    b->cur.epoch++;
    b->cur.index = 0;
}

void dfit_train_batcher_tell(const struct dfit_train_batcher *b, struct dfit_train_cursor *c)
{
    *c = b->cur;
}

int dfit_train_batcher_seek(struct dfit_train_batcher *b, const struct dfit_train_cursor *c,
                            struct dfit_err *err)
{
    if (c->index > b->n_windows || (c->epoch == 0 && c->index != 0))
        return dfit_err_set(err, DFIT_EINVAL,
                            "train data: cursor at window %" PRIu64 " of epoch %" PRIu64
                            ", but the data has %" PRIu64 " windows (is it the same data?)",
                            c->index, c->epoch, b->n_windows);
    b->rng = c->rng_epoch;
    b->cur = *c;
    if (c->epoch > 0) {
        b->cur.epoch = c->epoch - 1;
        new_epoch(b);
        b->cur.index = c->index;
    }
    return 0;
}

void dfit_train_batcher_next(struct dfit_train_batcher *b, uint32_t B, int32_t *inputs,
                             int32_t *targets, uint8_t *mask)
{
    const uint32_t T = b->T;
    for (uint32_t r = 0; r < B; r++) {
        if (b->cur.epoch == 0 || b->cur.index == b->n_windows)
            new_epoch(b);
        const uint64_t start = b->order[b->cur.index++] * T;
        const int32_t *tok = b->d->tokens + start;
        memcpy(inputs + (size_t)r * T, tok, (size_t)T * sizeof *tok);
        memcpy(targets + (size_t)r * T, tok + 1, (size_t)T * sizeof *tok);
        for (uint32_t t = 0; t < T; t++)
            mask[(size_t)r * T + t] = b->d->mask ? b->d->mask[start + 1 + t] : 1;
    }
}
