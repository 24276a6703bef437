/* tokenizer_spm.c — encoding text as llama.cpp's SPM tokenizer does
 * (llm_tokenizer_spm in llama.cpp's src/llama-vocab.cpp), so that dfit and
 * llama.cpp give the same ids for the same text and vocabulary.
 *
 * Steps: spaces become "▁" (U+2581) and one "▁" is prepended (when the
 * vocabulary asks for it and the text is not empty); the text is split into
 * UTF-8 characters, their length taken from the lead byte as llama.cpp does
 * (so a stray continuation byte is a symbol of its own); then the adjacent
 * pair whose concatenation is a piece with the highest score is merged,
 * ties to the leftmost pair, until no pair is a piece (a binary heap of
 * candidate pairs whose stale entries are skipped: O(n log n) for n bytes);
 * last, a symbol that is a piece becomes its id, and one that is not (a
 * single character outside the vocabulary) falls back to the <0xXX> tokens
 * of its bytes (or single-byte pieces), else to one unknown token.
 * One deliberate difference: llama.cpp takes the lead byte's length even
 * when the bytes after it are not continuation bytes, so a truncated
 * sequence swallows what follows (e.g. the first byte of a "▁", and the
 * text no longer decodes to itself); dfit ends such a character at the
 * first byte that is not a continuation byte. Valid UTF-8 (and any text
 * without truncated sequences) splits exactly as in llama.cpp.
 * Non-goals: matching user-defined or control tokens inside the text
 * (llama.cpp's parse_special), unigram (sampling) tokenization,
 * normalization beyond the space escape.
 */
#include "model/tokenizer.h"
#include "model/tokenizer_impl.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct symbol {
    int32_t prev, next; /* neighbours in the chain, -1 at the ends */
    uint32_t off, n;    /* bytes of the escaped text; n == 0: merged away */
};

struct bigram {
    float score;
    int32_t left, right; /* symbol indices */
    uint32_t size;       /* bytes of the merged piece, to detect stale entries */
};

struct merge_state {
    const struct dfit_tokenizer *t;
    const char *text;      /* escaped text */
    struct symbol *sym;    /* [n_sym] */
    struct bigram *heap;   /* [cap] max-heap on (score, -left) */
    size_t n_heap;
};

/* Whether a comes out of the heap before b: higher score, then leftmost. */
static bool before(const struct bigram *a, const struct bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(struct merge_state *s, struct bigram b)
{
    size_t i = s->n_heap++;
    while (i > 0 && before(&b, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = b;
}

static struct bigram heap_pop(struct merge_state *s)
{
    struct bigram top = s->heap[0], last = s->heap[--s->n_heap];
    size_t i = 0, n = s->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0)
        s->heap[i] = last;
    return top;
}

/* Queues the pair (left, right) if its concatenation is a piece. */
static void try_bigram(struct merge_state *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    const struct symbol *l = &s->sym[left], *r = &s->sym[right];
    uint32_t size = l->n + r->n;
    int32_t id = dfit_tokenizer_find_piece(s->t, s->text + l->off, size);
    if (id < 0)
        return;
    heap_push(s, (struct bigram){s->t->score[id], left, right, size});
}

/* Length of the character at s[0..n): from the lead byte's high nibble as
 * llama.cpp's unicode_len_utf8 (1 for ASCII and stray continuation bytes,
 * 2, 3, 4 for 0xC0.., 0xE0.., 0xF0..), cut at the end of the text and, unlike
 * llama.cpp, at the first byte that is not a continuation byte. */
static uint32_t char_len(const unsigned char *s, size_t n)
{
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    uint32_t want = lookup[s[0] >> 4], k = 1;
    while (k < want && k < n && (s[k] & 0xC0) == 0x80)
        k++;
    return k;
}

/* Escapes text into a new buffer: optional leading "▁", ' ' -> "▁". */
static char *escape(const struct dfit_tokenizer *t, const char *text, size_t len, size_t *n_out)
{
    size_t n = t->add_space_prefix ? 3 : 0;
    for (size_t i = 0; i < len; i++)
        n += text[i] == ' ' ? 3 : 1;
    char *e = malloc(n ? n : 1);
    if (!e)
        return NULL;
    size_t o = 0;
    if (t->add_space_prefix) {
        memcpy(e, DFIT_TOKENIZER_SPACE_MARK, 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(e + o, DFIT_TOKENIZER_SPACE_MARK, 3);
            o += 3;
        } else {
            e[o++] = text[i];
        }
    }
    *n_out = n;
    return e;
}

int dfit_tokenizer_encode(const struct dfit_tokenizer *t, const char *text, size_t len, int add_bos,
                          int32_t *ids, size_t n_max, size_t *n_out, struct dfit_err *err)
{
    struct merge_state s = {.t = t};
    char *esc = NULL;
    size_t count = 0, n_esc = 0;
    int rc = 0;

#define EMIT(id)                   \
    do {                           \
        if (count < n_max)         \
            ids[count] = (id);     \
        count++;                   \
    } while (0)

    if (n_out)
        *n_out = 0;
    if ((!text && len > 0) || (!ids && n_max > 0))
        return dfit_err_set(err, DFIT_EINVAL, "tokenizer: encode: NULL buffer");
    if (len > DFIT_TOKENIZER_MAX_TEXT_BYTES)
        return dfit_err_set(err, DFIT_ERANGE, "tokenizer: encode: text of %zu bytes (max %u)", len,
                            DFIT_TOKENIZER_MAX_TEXT_BYTES);
    if (add_bos) {
        if (t->bos < 0)
            return dfit_err_set(err, DFIT_EINVAL, "tokenizer: encode: BOS requested but the vocabulary has none");
        EMIT(t->bos);
    }
    if (len == 0) /* llama.cpp: empty text gives no "▁" either */
        goto done;

    esc = escape(t, text, len, &n_esc);
    s.text = esc;
    s.sym = esc ? malloc(n_esc * sizeof *s.sym) : NULL;
    s.heap = s.sym ? malloc(3 * n_esc * sizeof *s.heap) : NULL; /* n-1 seeds + 2 per merge */
    if (!s.heap) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "tokenizer: encode: out of memory for %zu bytes of text", len);
        goto done;
    }
    int32_t n_sym = 0;
    for (uint32_t off = 0; off < n_esc; n_sym++) {
        uint32_t n = char_len((const unsigned char *)esc + off, n_esc - off);
        s.sym[n_sym] = (struct symbol){n_sym - 1, off + n < n_esc ? n_sym + 1 : -1, off, n};
        off += n;
    }
    for (int32_t i = 1; i < n_sym; i++)
        try_bigram(&s, i - 1, i);
    while (s.n_heap > 0) {
        struct bigram b = heap_pop(&s);
        struct symbol *l = &s.sym[b.left], *r = &s.sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue; /* stale: one side was merged since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s.sym[r->next].prev = b.left;
        try_bigram(&s, l->prev, b.left);
        try_bigram(&s, b.left, l->next);
    }
    for (int32_t i = 0; i >= 0; i = s.sym[i].next) {
        const struct symbol *y = &s.sym[i];
        const unsigned char *p = (const unsigned char *)esc + y->off;
        int32_t id = dfit_tokenizer_find_piece(t, esc + y->off, y->n);
        if (id >= 0) {
            EMIT(id);
            continue;
        }
        uint32_t j = 0; /* a merged symbol is a piece: this one is a character */
        while (j < y->n && t->byte_id[p[j]] >= 0)
            j++;
        if (j == y->n) {
            for (j = 0; j < y->n; j++)
                EMIT(t->byte_id[p[j]]);
        } else if (t->unk >= 0) {
            EMIT(t->unk);
        } else {
            rc = dfit_err_set(err, DFIT_EINVAL,
                              "tokenizer: encode: byte 0x%02X has no <0x%02X> token and there is no unknown token",
                              p[j], p[j]);
            goto done;
        }
    }
#undef EMIT
done:
    free(esc);
    free(s.sym);
    free(s.heap);
    if (rc)
        return rc;
    if (n_out)
        *n_out = count;
    if (count > n_max)
        return dfit_err_set(err, DFIT_ERANGE, "tokenizer: encode: %zu ids do not fit in a buffer of %zu", count,
                            n_max);
    return 0;
}
