/* tokenizer.c — llama's SentencePiece-style vocabulary (see tokenizer.h):
 * building and checking it (from arrays or GGUF metadata), the piece -> id
 * hash (open addressing), lookups, decoding of single pieces, and dfit's
 * byte-level vocabulary writer. Encoding lives in tokenizer_spm.c.
 * Non-goals: BPE vocabularies and merges lists; user-defined token
 * attributes (lstrip/rstrip); chat templates.
 */
#include "model/tokenizer.h"
#include "model/tokenizer_impl.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_BOS "tokenizer.ggml.bos_token_id"
#define KEY_EOS "tokenizer.ggml.eos_token_id"
#define KEY_UNK "tokenizer.ggml.unknown_token_id"
#define KEY_PAD "tokenizer.ggml.padding_token_id"
#define KEY_ADD_BOS "tokenizer.ggml.add_bos_token"
#define KEY_ADD_SPACE "tokenizer.ggml.add_space_prefix"

/* ---- piece -> id hash (open addressing, linear probing) ------------------ */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

int32_t dfit_tokenizer_find_piece(const struct dfit_tokenizer *t, const char *s, size_t n)
{
    if (n == 0 || n > t->max_len)
        return -1;
    for (uint64_t i = hash_bytes(s, n) & t->slot_mask;; i = (i + 1) & t->slot_mask) {
        int32_t id = t->slots[i];
        if (id < 0)
            return -1;
        if (t->len[id] == n && memcmp(t->arena + t->off[id], s, n) == 0)
            return id;
    }
}

/* Inserts id; returns the id already holding the same piece, or -1. */
static int32_t insert_piece(struct dfit_tokenizer *t, int32_t id)
{
    const char *s = t->arena + t->off[id];
    size_t n = t->len[id];
    uint64_t i = hash_bytes(s, n) & t->slot_mask;
    for (; t->slots[i] >= 0; i = (i + 1) & t->slot_mask) {
        int32_t o = t->slots[i];
        if (t->len[o] == n && memcmp(t->arena + t->off[o], s, n) == 0)
            return o;
    }
    t->slots[i] = id;
    return -1;
}

/* ---- construction --------------------------------------------------------- */

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The byte a "<0xXX>" piece stands for, or -1 if s is not of that form. */
static int byte_piece_value(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int hi = hex_val(s[3]), lo = hex_val(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static int check_special(int32_t id, uint32_t n, const char *key, struct dfit_err *err)
{
    if (id < -1 || (id >= 0 && (uint32_t)id >= n))
        return dfit_err_set(err, DFIT_EINVAL, "key '%s': token id %d out of range (n_vocab %u)", key,
                            (int)id, (unsigned)n);
    return 0;
}

/* Checks entry i of v and returns its length and type. */
static int check_entry(const struct dfit_tokenizer_vocab *v, uint32_t i, size_t *len, uint8_t *type,
                       struct dfit_err *err)
{
    const char *p = v->pieces[i];
    if (!p)
        return dfit_err_set(err, DFIT_EINVAL, "key '%s': index %u: NULL piece", KEY_TOKENS, (unsigned)i);
    size_t n = v->piece_lens ? v->piece_lens[i] : strlen(p);
    if (n == 0)
        return dfit_err_set(err, DFIT_EINVAL, "key '%s': index %u: empty piece", KEY_TOKENS, (unsigned)i);
    if (n > DFIT_TOKENIZER_MAX_PIECE_BYTES)
        return dfit_err_set(err, DFIT_EINVAL, "key '%s': index %u: piece of %zu bytes (max %u)",
                            KEY_TOKENS, (unsigned)i, n, DFIT_TOKENIZER_MAX_PIECE_BYTES);
    if (v->scores && isnan(v->scores[i]))
        return dfit_err_set(err, DFIT_EINVAL, "key '%s': index %u: score is NaN", KEY_SCORES, (unsigned)i);
    int32_t ty = byte_piece_value(p, n) >= 0 ? DFIT_TOKEN_BYTE : DFIT_TOKEN_NORMAL;
    if (v->types) {
        ty = v->types[i];
        if (ty < DFIT_TOKEN_UNDEFINED || ty > DFIT_TOKEN_BYTE)
            return dfit_err_set(err, DFIT_EINVAL, "key '%s': index %u: %d is not a token type (0..6)",
                                KEY_TYPES, (unsigned)i, (int)ty);
        if (ty == DFIT_TOKEN_BYTE && byte_piece_value(p, n) < 0) {
            char buf[64];
            return dfit_err_set(err, DFIT_EINVAL,
                                "key '%s': index %u: type BYTE but piece '%s' is not of the form <0xXX>",
                                KEY_TYPES, (unsigned)i, dfit_gguf_str_show(p, n, buf, sizeof buf));
        }
    }
    *len = n;
    *type = (uint8_t)ty;
    return 0;
}

int dfit_tokenizer_create(const struct dfit_tokenizer_vocab *v, struct dfit_tokenizer **out,
                          struct dfit_err *err)
{
    struct dfit_tokenizer *t = NULL;
    int rc;
    *out = NULL;
    if (!v || !v->pieces || v->n == 0)
        return dfit_err_set(err, DFIT_EINVAL, "key '%s': no pieces", KEY_TOKENS);
    if (v->n > DFIT_TOKENIZER_MAX_VOCAB)
        return dfit_err_set(err, DFIT_ERANGE, "key '%s': %u pieces (max %u)", KEY_TOKENS, (unsigned)v->n,
                            DFIT_TOKENIZER_MAX_VOCAB);
    if ((rc = check_special(v->bos, v->n, KEY_BOS, err)) || (rc = check_special(v->eos, v->n, KEY_EOS, err)) ||
        (rc = check_special(v->unk, v->n, KEY_UNK, err)) || (rc = check_special(v->pad, v->n, KEY_PAD, err)))
        return rc;

    uint32_t n = v->n;
    t = calloc(1, sizeof *t);
    if (!t)
        goto oom;
    t->n_vocab = n;
    t->bos = v->bos;
    t->eos = v->eos;
    t->unk = v->unk;
    t->pad = v->pad;
    t->add_space_prefix = v->add_space_prefix != 0;
    t->add_bos = v->add_bos != 0;
    t->off = malloc(n * sizeof *t->off);
    t->len = malloc(n * sizeof *t->len);
    t->score = malloc(n * sizeof *t->score);
    t->type = malloc(n);
    if (!t->off || !t->len || !t->score || !t->type)
        goto oom;

    size_t arena_bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t len = 0;
        if ((rc = check_entry(v, i, &len, &t->type[i], err)))
            goto fail;
        t->len[i] = (uint32_t)len;
        t->off[i] = arena_bytes;
        t->score[i] = v->scores ? v->scores[i] : 0.0f;
        arena_bytes += len + 1; /* <= 2^24 * (2^20 + 1): no overflow */
        if (len > t->max_len)
            t->max_len = (uint32_t)len;
    }
    t->arena = malloc(arena_bytes);
    uint32_t n_slots = 16;
    while (n_slots < 2 * n)
        n_slots *= 2;
    t->slot_mask = n_slots - 1;
    t->slots = malloc(n_slots * sizeof *t->slots);
    if (!t->arena || !t->slots)
        goto oom;
    memset(t->slots, 0xff, n_slots * sizeof *t->slots); /* all -1 */
    for (uint32_t i = 0; i < n; i++) {
        memcpy(t->arena + t->off[i], v->pieces[i], t->len[i]);
        t->arena[t->off[i] + t->len[i]] = '\0';
        int32_t dup = insert_piece(t, (int32_t)i);
        if (dup >= 0) {
            char buf[64];
            rc = dfit_err_set(err, DFIT_EINVAL, "key '%s': index %u: piece '%s' duplicates index %d",
                              KEY_TOKENS, (unsigned)i, dfit_gguf_str_show(v->pieces[i], t->len[i], buf, sizeof buf),
                              (int)dup);
            goto fail;
        }
    }
    /* llama.cpp's byte_to_token: "<0xXX>" (upper-case hex), else the piece
     * made of that single byte. */
    for (int b = 0; b < 256; b++) {
        char hex[7];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        char one = (char)b;
        t->byte_id[b] = dfit_tokenizer_find_piece(t, hex, 6);
        if (t->byte_id[b] < 0)
            t->byte_id[b] = dfit_tokenizer_find_piece(t, &one, 1);
    }
    *out = t;
    return 0;
oom:
    rc = dfit_err_set(err, DFIT_ENOMEM, "tokenizer: out of memory for %u pieces", (unsigned)v->n);
fail:
    dfit_tokenizer_free(t);
    return rc;
}

void dfit_tokenizer_free(struct dfit_tokenizer *t)
{
    if (!t)
        return;
    free(t->arena);
    free(t->off);
    free(t->len);
    free(t->score);
    free(t->type);
    free(t->slots);
    free(t);
}

/* ---- from GGUF ------------------------------------------------------------ */

/* An optional array of elem_type with exactly n entries; *out NULL if absent. */
static int optional_arr(const struct dfit_gguf *g, const char *key, enum dfit_gguf_type elem_type, uint64_t n,
                        const void **out, struct dfit_err *err)
{
    const struct dfit_gguf_value *a;
    *out = NULL;
    if (!dfit_gguf_find_kv(g, key))
        return 0;
    int rc = dfit_gguf_get_arr(g, key, elem_type, &a, err);
    if (rc)
        return rc;
    if (a->n != n)
        return dfit_err_set(err, DFIT_EINVAL, "%s: key '%s': %llu entries, but '%s' has %llu", g->path, key,
                            (unsigned long long)a->n, KEY_TOKENS, (unsigned long long)n);
    *out = a->arr;
    return 0;
}

/* An optional token id: absent -> def if in range, else -1. */
static int optional_id(const struct dfit_gguf *g, const char *key, int32_t def, uint64_t n, int32_t *out,
                       struct dfit_err *err)
{
    uint32_t v;
    if (!dfit_gguf_find_kv(g, key)) {
        *out = def >= 0 && (uint64_t)def < n ? def : -1;
        return 0;
    }
    int rc = dfit_gguf_get_u32(g, key, &v, err);
    if (rc)
        return rc;
    if (v >= n)
        return dfit_err_set(err, DFIT_EINVAL, "%s: key '%s': token id %u out of range (n_vocab %llu)", g->path,
                            key, (unsigned)v, (unsigned long long)n);
    *out = (int32_t)v;
    return 0;
}

static int optional_bool(const struct dfit_gguf *g, const char *key, bool def, int *out, struct dfit_err *err)
{
    bool b = def;
    int rc = dfit_gguf_find_kv(g, key) ? dfit_gguf_get_bool(g, key, &b, err) : 0;
    if (rc)
        return rc;
    *out = b;
    return 0;
}

int dfit_tokenizer_from_gguf(const struct dfit_gguf *g, struct dfit_tokenizer **out, struct dfit_err *err)
{
    const struct dfit_gguf_str *model, *strs;
    const struct dfit_gguf_value *tokens;
    const char **pieces = NULL;
    size_t *lens = NULL;
    struct dfit_tokenizer_vocab v = {0};
    const void *scores, *types;
    int rc;

    *out = NULL;
    if ((rc = dfit_gguf_get_str(g, KEY_MODEL, &model, err)))
        return rc;
    if (model->len != 5 || memcmp(model->data, "llama", 5) != 0) {
        char buf[64];
        return dfit_err_set(err, DFIT_EUNSUPPORTED,
                            "%s: key '%s': tokenizer model '%s' is not supported (only 'llama')", g->path,
                            KEY_MODEL, dfit_gguf_str_show(model->data, model->len, buf, sizeof buf));
    }
    if ((rc = dfit_gguf_get_arr(g, KEY_TOKENS, DFIT_GGUF_STRING, &tokens, err)))
        return rc;
    uint64_t n = tokens->n;
    if (n == 0 || n > DFIT_TOKENIZER_MAX_VOCAB)
        return dfit_err_set(err, n ? DFIT_ERANGE : DFIT_EINVAL, "%s: key '%s': %llu pieces (must be 1..%u)",
                            g->path, KEY_TOKENS, (unsigned long long)n, DFIT_TOKENIZER_MAX_VOCAB);
    if ((rc = optional_arr(g, KEY_SCORES, DFIT_GGUF_FLOAT32, n, &scores, err)) ||
        (rc = optional_arr(g, KEY_TYPES, DFIT_GGUF_INT32, n, &types, err)) ||
        (rc = optional_id(g, KEY_BOS, 1, n, &v.bos, err)) || (rc = optional_id(g, KEY_EOS, 2, n, &v.eos, err)) ||
        (rc = optional_id(g, KEY_UNK, 0, n, &v.unk, err)) || (rc = optional_id(g, KEY_PAD, -1, n, &v.pad, err)) ||
        (rc = optional_bool(g, KEY_ADD_BOS, true, &v.add_bos, err)) ||
        (rc = optional_bool(g, KEY_ADD_SPACE, true, &v.add_space_prefix, err)))
        return rc;

    pieces = malloc(n * sizeof *pieces);
    lens = malloc(n * sizeof *lens);
    if (!pieces || !lens) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory for %llu pieces", g->path, (unsigned long long)n);
        goto done;
    }
    strs = tokens->arr;
    for (uint64_t i = 0; i < n; i++) {
        pieces[i] = strs[i].data ? strs[i].data : "";
        lens[i] = (size_t)strs[i].len;
    }
    v.n = (uint32_t)n;
    v.pieces = pieces;
    v.piece_lens = lens;
    v.scores = scores;
    v.types = types;
    if ((rc = dfit_tokenizer_create(&v, out, err)))
        dfit_err_prefix(err, "%s", g->path);
done:
    free(pieces);
    free(lens);
    return rc;
}

/* ---- lookups ---------------------------------------------------------------- */

int32_t dfit_tokenizer_n_vocab(const struct dfit_tokenizer *t) { return (int32_t)t->n_vocab; }
int32_t dfit_tokenizer_bos(const struct dfit_tokenizer *t) { return t->bos; }
int32_t dfit_tokenizer_eos(const struct dfit_tokenizer *t) { return t->eos; }
int32_t dfit_tokenizer_unk(const struct dfit_tokenizer *t) { return t->unk; }
int32_t dfit_tokenizer_pad(const struct dfit_tokenizer *t) { return t->pad; }
int dfit_tokenizer_add_bos(const struct dfit_tokenizer *t) { return t->add_bos; }

float dfit_tokenizer_score(const struct dfit_tokenizer *t, int32_t id)
{
    return id < 0 || (uint32_t)id >= t->n_vocab ? 0.0f : t->score[id];
}

const char *dfit_tokenizer_piece(const struct dfit_tokenizer *t, int32_t id)
{
    if (id < 0 || (uint32_t)id >= t->n_vocab)
        return NULL;
    return t->arena + t->off[id];
}

enum dfit_token_type dfit_tokenizer_type(const struct dfit_tokenizer *t, int32_t id)
{
    if (id < 0 || (uint32_t)id >= t->n_vocab)
        return DFIT_TOKEN_UNDEFINED;
    return (enum dfit_token_type)t->type[id];
}

int dfit_tokenizer_decode_piece(const struct dfit_tokenizer *t, int32_t id, char *buf, size_t cap)
{
    if (id < 0 || (uint32_t)id >= t->n_vocab)
        return -1;
    const char *p = t->arena + t->off[id];
    size_t n = t->len[id], o = 0;
    switch (t->type[id]) {
    case DFIT_TOKEN_NORMAL:
        for (size_t i = 0; i < n; o++) { /* count first: "▁" -> ' ' */
            bool mark = n - i >= 3 && memcmp(p + i, DFIT_TOKENIZER_SPACE_MARK, 3) == 0;
            i += mark ? 3 : 1;
        }
        if (o <= cap) {
            o = 0;
            for (size_t i = 0; i < n;) {
                bool mark = n - i >= 3 && memcmp(p + i, DFIT_TOKENIZER_SPACE_MARK, 3) == 0;
                buf[o++] = mark ? ' ' : p[i];
                i += mark ? 3 : 1;
            }
        }
        break;
    case DFIT_TOKEN_USER_DEFINED: /* verbatim, as llama.cpp */
        o = n;
        if (o <= cap)
            memcpy(buf, p, n);
        break;
    case DFIT_TOKEN_BYTE:
        o = 1;
        if (cap >= 1)
            buf[0] = (char)byte_piece_value(p, n);
        break;
    default: /* control, unknown, unused, undefined: no text */
        break;
    }
    if (o < cap)
        buf[o] = '\0';
    return (int)o;
}

/* ---- dfit's byte-level vocabulary ---------------------------------------- */

/* Printable ASCII without space, '<' and '>' (so no merge of extra pieces
 * can ever spell "<s>" or "<0x41>"), common characters first so that a
 * small vocabulary's merges are English-like. */
static const char EXTRA_ALPHABET[] = "etaoinshrdlcumwfgypbvkjxqz"
                                     "ETAOINSHRDLCUMWFGYPBVKJXQZ"
                                     "0123456789"
                                     ".,'-\"?!:;()/&%$#@*+=_[]{}\\^`|~";
#define N_ALPHA 92
_Static_assert(sizeof EXTRA_ALPHABET == N_ALPHA + 1, "alphabet is printable ASCII less space, < and >");
#define N_BYTE_VOCAB_BASE 259u
#define MAX_BYTE_VOCAB (1u << 22)

/* dfit's byte-level vocabulary as arrays (owned; free with byte_vocab_free). */
struct byte_vocab {
    const char **pieces; /* [n] into arena */
    char *arena;
    float *scores;       /* [n] */
    int32_t *types;      /* [n] */
};

static void byte_vocab_free(struct byte_vocab *bv)
{
    free(bv->pieces);
    free(bv->arena);
    free(bv->scores);
    free(bv->types);
}

static int byte_vocab_build(uint32_t n_vocab, struct byte_vocab *bv, struct dfit_err *err)
{
    memset(bv, 0, sizeof *bv);
    if (n_vocab < N_BYTE_VOCAB_BASE)
        return dfit_err_set(err, DFIT_EINVAL, "byte vocabulary: n_vocab %u is below %u (<unk>, <s>, </s>, 256 bytes)",
                            (unsigned)n_vocab, N_BYTE_VOCAB_BASE);
    if (n_vocab > MAX_BYTE_VOCAB)
        return dfit_err_set(err, DFIT_ERANGE, "byte vocabulary: n_vocab %u is above %u", (unsigned)n_vocab,
                            MAX_BYTE_VOCAB);
    /* Longest extra string: "▁" alone, then 2 * 92^L pieces of each length L. */
    uint32_t max_l = 0;
    for (uint64_t have = N_BYTE_VOCAB_BASE + 1, group = 2 * N_ALPHA; have < n_vocab; group *= N_ALPHA) {
        max_l++;
        have += group;
    }
    size_t piece_cap = 3 + max_l + 1; /* "▁" + L characters + NUL */
    if (piece_cap < 7)
        piece_cap = 7; /* "<0xXX>" + NUL */
    bv->pieces = malloc(n_vocab * sizeof *bv->pieces);
    bv->arena = malloc((size_t)n_vocab * piece_cap);
    bv->scores = malloc(n_vocab * sizeof *bv->scores);
    bv->types = malloc(n_vocab * sizeof *bv->types);
    if (!bv->pieces || !bv->arena || !bv->scores || !bv->types) {
        byte_vocab_free(bv);
        memset(bv, 0, sizeof *bv);
        return dfit_err_set(err, DFIT_ENOMEM, "byte vocabulary: out of memory for %u pieces", (unsigned)n_vocab);
    }
    char *arena = bv->arena;
    float *scores = bv->scores;
    int32_t *types = bv->types;
    for (uint32_t i = 0; i < n_vocab; i++)
        bv->pieces[i] = arena + (size_t)i * piece_cap;
    static const char *const specials[3] = {"<unk>", "<s>", "</s>"};
    for (uint32_t i = 0; i < 3; i++) {
        strcpy(arena + i * piece_cap, specials[i]);
        scores[i] = 0.0f;
        types[i] = i == 0 ? DFIT_TOKEN_UNKNOWN : DFIT_TOKEN_CONTROL;
    }
    for (uint32_t b = 0; b < 256; b++) {
        snprintf(arena + (3 + b) * piece_cap, piece_cap, "<0x%02X>", (unsigned)b);
        scores[3 + b] = 0.0f;
        types[3 + b] = DFIT_TOKEN_BYTE;
    }
    /* Extras: "▁", then for L = 1, 2, ...: each string s of L characters
     * (odometer order over EXTRA_ALPHABET) as s and "▁"s. All distinct and
     * distinct from the pieces above; scores fall with the order, so shorter
     * and earlier pieces merge first. */
    uint32_t digit[32] = {0};
    uint32_t l = 0;
    for (uint32_t id = N_BYTE_VOCAB_BASE; id < n_vocab; id++) {
        char *p = arena + (size_t)id * piece_cap;
        uint32_t k = id - N_BYTE_VOCAB_BASE; /* 0: "▁", odd: s, even: "▁"s */
        size_t o = 0;
        if (k % 2 == 1) { /* next string: advance the odometer */
            uint32_t d = l;
            while (d > 0 && ++digit[d - 1] == N_ALPHA)
                digit[--d] = 0;
            if (d == 0) /* every string of length l done (or the start) */
                digit[l++] = 0;
        }
        if (k % 2 == 0) {
            memcpy(p, DFIT_TOKENIZER_SPACE_MARK, 3);
            o = 3;
        }
        for (uint32_t d = 0; k > 0 && d < l; d++)
            p[o++] = EXTRA_ALPHABET[digit[d]];
        p[o] = '\0';
        scores[id] = -(float)(k + 1);
        types[id] = DFIT_TOKEN_NORMAL;
    }
    return 0;
}

int dfit_tokenizer_write_byte_vocab(struct dfit_gguf_writer *w, uint32_t n_vocab, struct dfit_err *err)
{
    struct byte_vocab bv;
    int rc = byte_vocab_build(n_vocab, &bv, err);
    if (rc)
        return rc;
    if ((rc = dfit_gguf_writer_set_str(w, KEY_MODEL, "llama", err)) ||
        (rc = dfit_gguf_writer_set_arr_str(w, KEY_TOKENS, bv.pieces, n_vocab, err)) ||
        (rc = dfit_gguf_writer_set_arr(w, KEY_SCORES, DFIT_GGUF_FLOAT32, bv.scores, n_vocab, err)) ||
        (rc = dfit_gguf_writer_set_arr(w, KEY_TYPES, DFIT_GGUF_INT32, bv.types, n_vocab, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, KEY_BOS, 1, err)) || (rc = dfit_gguf_writer_set_u32(w, KEY_EOS, 2, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, KEY_UNK, 0, err)) ||
        (rc = dfit_gguf_writer_set_bool(w, KEY_ADD_BOS, true, err)))
        dfit_err_prefix(err, "byte vocabulary");
    byte_vocab_free(&bv);
    return rc;
}

int dfit_tokenizer_create_byte_vocab(uint32_t n_vocab, struct dfit_tokenizer **out, struct dfit_err *err)
{
    struct byte_vocab bv;
    *out = NULL;
    int rc = byte_vocab_build(n_vocab, &bv, err);
    if (rc)
        return rc;
    struct dfit_tokenizer_vocab v = {
        .n = n_vocab, .pieces = bv.pieces, .scores = bv.scores, .types = bv.types,
        .bos = 1, .eos = 2, .unk = 0, .pad = -1, .add_space_prefix = 1, .add_bos = 1,
    };
    rc = dfit_tokenizer_create(&v, out, err);
    byte_vocab_free(&bv);
    return rc;
}
