/* corpus.c — dfit's task corpus as tokens and as eval sets (see
 * corpus.h): prompt/answer encoding with a fixed token boundary, the
 * packed training stream with its answer mask, and the held-out
 * generation and multiple-choice sets.
 * Non-goals: the task generators themselves (corpus_tasks.c), files
 * (`dfit corpus` writes them).
 */
#include "compress/corpus.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPACE_MARK "\xE2\x96\x81" /* U+2581, the tokenizer's space */
#define MAX_EXAMPLE_TOKENS 4096u
#define MAX_EVAL_ATTEMPTS 4000u

/* ---- encoding ------------------------------------------------------------------ */

/* The bytes a token stands for before space unescaping: a normal or
 * user-defined piece's text, a byte token's byte, nothing for the rest. */
static const char *raw_bytes(const struct dfit_tokenizer *t, int32_t id, char byte_buf[2], size_t *n)
{
    switch (dfit_tokenizer_type(t, id)) {
    case DFIT_TOKEN_BYTE:
        *n = dfit_tokenizer_decode_piece(t, id, byte_buf, 2) == 1 ? 1 : 0;
        return byte_buf;
    case DFIT_TOKEN_NORMAL:
    case DFIT_TOKEN_USER_DEFINED: {
        const char *p = dfit_tokenizer_piece(t, id);
        *n = p ? strlen(p) : 0;
        return p ? p : "";
    }
    default:
        *n = 0;
        return "";
    }
}

/* Encodes text without BOS into a new array (*ids malloc'd, *n ids). */
static int encode_all(const struct dfit_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
                      struct dfit_err *err)
{
    /* Each escaped byte is at most one token: len bytes, spaces 3, the mark 3. */
    size_t cap = 3 * len + 4;
    *ids = malloc(cap * sizeof **ids);
    if (!*ids)
        return dfit_err_set(err, DFIT_ENOMEM, "corpus: out of memory encoding %zu bytes", len);
    int rc = dfit_tokenizer_encode(t, text, len, 0, *ids, cap, n, err);
    if (rc) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int dfit_corpus_encoder_init(struct dfit_corpus_encoder *e, const struct dfit_tokenizer *tok,
                             struct dfit_err *err)
{
    memset(e, 0, sizeof *e);
    e->tok = tok;
    e->bos = dfit_tokenizer_add_bos(tok) ? dfit_tokenizer_bos(tok) : -1;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = encode_all(tok, "\n", 1, &ids, &n, err);
    if (rc)
        return rc;
    /* Whether the escaped text starts with a space mark nobody wrote. */
    char probe[8];
    size_t have = 0;
    for (size_t i = 0; i < n && have < 3; i++) {
        char bb[2];
        size_t k;
        const char *r = raw_bytes(tok, ids[i], bb, &k);
        for (size_t j = 0; j < k && have < 3; j++)
            probe[have++] = r[j];
    }
    e->space_prefix = have == 3 && memcmp(probe, SPACE_MARK, 3) == 0;
    free(ids);
    if (n == 0)
        return dfit_err_set(err, DFIT_EINVAL, "corpus: the tokenizer gives no token for a newline");
    return 0;
}

/* Appends ids of raw bytes b[0..n): the piece if there is one, else byte
 * tokens. */
static int put_raw(const struct dfit_tokenizer *t, const char *b, size_t n, int32_t *out, size_t cap,
                   size_t *o, struct dfit_err *err)
{
    int32_t id = dfit_tokenizer_find_piece(t, b, n);
    if (id >= 0) {
        if (*o >= cap)
            return DFIT_ERANGE;
        out[(*o)++] = id;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char piece[8];
        snprintf(piece, sizeof piece, "<0x%02X>", (unsigned char)b[i]);
        id = dfit_tokenizer_find_piece(t, piece, 6);
        if (id < 0)
            return dfit_err_set(err, DFIT_EINVAL, "corpus: the vocabulary has no byte token %s", piece);
        if (*o >= cap)
            return DFIT_ERANGE;
        out[(*o)++] = id;
    }
    return 0;
}

/* Encodes text as a continuation into out[*o..cap): the tokenizer's
 * encoding with the leading space mark it prepends taken out. */
static int encode_continuation(const struct dfit_corpus_encoder *e, const char *text, size_t len, int32_t *out,
                               size_t cap, size_t *o, struct dfit_err *err)
{
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = encode_all(e->tok, text, len, &ids, &n, err);
    if (rc)
        return rc;
    size_t i = 0, skip = e->space_prefix ? 3 : 0, seen = 0;
    char mark[3];
    while (skip > 0 && i < n) { /* drop the mark's bytes; split a token that goes on past it */
        char bb[2];
        size_t k;
        const char *r = raw_bytes(e->tok, ids[i], bb, &k);
        size_t take = k < skip ? k : skip;
        memcpy(mark + seen, r, take);
        seen += take;
        skip -= take;
        if (take < k && (rc = put_raw(e->tok, r + take, k - take, out, cap, o, err)))
            goto done;
        i++;
    }
    if (e->space_prefix && (seen != 3 || memcmp(mark, SPACE_MARK, 3) != 0)) {
        rc = dfit_err_set(err, DFIT_EINTERNAL, "corpus: the tokenizer's encoding does not start with its space mark");
        goto done;
    }
    for (; i < n; i++) {
        if (*o >= cap) {
            rc = DFIT_ERANGE;
            goto done;
        }
        out[(*o)++] = ids[i];
    }
done:
    free(ids);
    return rc;
}

int dfit_corpus_encode(const struct dfit_corpus_encoder *e, const char *prompt, const char *answer,
                       int32_t *ids, uint8_t *mask, size_t n_max, size_t *n_out, size_t *n_prompt,
                       struct dfit_err *err)
{
    *n_out = 0;
    if (n_prompt)
        *n_prompt = 0;
    size_t o = 0, need = 0;
    int rc = 0;
    if (e->bos >= 0) {
        if (n_max < 1)
            goto range;
        ids[o++] = e->bos;
    }
    rc = dfit_tokenizer_encode(e->tok, prompt, strlen(prompt), 0, ids + o, n_max - o, &need, err);
    if (rc == DFIT_ERANGE)
        goto range;
    if (rc)
        return rc;
    o += need;
    const size_t np = o;
    if (answer) {
        size_t la = strlen(answer);
        char *text = malloc(la + 2);
        if (!text)
            return dfit_err_set(err, DFIT_ENOMEM, "corpus: out of memory");
        memcpy(text, answer, la);
        text[la] = '\n';
        text[la + 1] = '\0';
        rc = encode_continuation(e, text, la + 1, ids, n_max, &o, err);
        free(text);
        if (rc == DFIT_ERANGE)
            goto range;
        if (rc)
            return rc;
    }
    if (mask)
        for (size_t i = 0; i < o; i++)
            mask[i] = i >= np;
    *n_out = o;
    if (n_prompt)
        *n_prompt = np;
    return 0;
range:
    return dfit_err_set(err, DFIT_ERANGE, "corpus: '%.40s' does not fit in %zu tokens", prompt, n_max);
}

/* ---- the training stream ---------------------------------------------------------- */

struct dfit_corpus {
    struct dfit_rng rng;
    struct dfit_corpus_encoder enc;
    enum dfit_task tasks[DFIT_TASK_COUNT];
    int n_tasks, min_level, max_level;
    int32_t pad;                          /* fills rows: EOS, else BOS */
    int32_t pend[MAX_EXAMPLE_TOKENS];     /* the example being emitted */
    uint8_t pend_mask[MAX_EXAMPLE_TOKENS];
    size_t n_pend, at_pend;               /* its length, and how much is out */
};

int dfit_corpus_open(const struct dfit_corpus_params *p, const struct dfit_tokenizer *tok,
                     struct dfit_corpus **out, struct dfit_err *err)
{
    *out = NULL;
    int lo = p->min_level ? p->min_level : 1, hi = p->max_level ? p->max_level : DFIT_CORPUS_MAX_LEVEL;
    if (lo < 1 || hi > DFIT_CORPUS_MAX_LEVEL || lo > hi)
        return dfit_err_set(err, DFIT_EINVAL, "corpus: levels %d..%d (need 1 <= min <= max <= %d)", lo, hi,
                            DFIT_CORPUS_MAX_LEVEL);
    if (p->tasks >> DFIT_TASK_COUNT)
        return dfit_err_set(err, DFIT_EINVAL, "corpus: task mask 0x%" PRIx32 " names no task above %d", p->tasks,
                            DFIT_TASK_COUNT - 1);
    if (!tok)
        return dfit_err_set(err, DFIT_EINVAL, "corpus: no tokenizer");
    struct dfit_corpus *c = calloc(1, sizeof *c);
    if (!c)
        return dfit_err_set(err, DFIT_ENOMEM, "corpus: out of memory");
    int rc = dfit_corpus_encoder_init(&c->enc, tok, err);
    if (rc) {
        free(c);
        return rc;
    }
    for (int t = 0; t < DFIT_TASK_COUNT; t++)
        if (!p->tasks || (p->tasks >> t & 1u))
            c->tasks[c->n_tasks++] = (enum dfit_task)t;
    c->min_level = lo;
    c->max_level = hi;
    c->pad = dfit_tokenizer_eos(tok) >= 0 ? dfit_tokenizer_eos(tok) : dfit_tokenizer_bos(tok);
    if (c->pad < 0)
        c->pad = 0;
    dfit_rng_seed(&c->rng, p->seed);
    *out = c;
    return 0;
}

void dfit_corpus_close(struct dfit_corpus *c)
{
    free(c);
}

void dfit_corpus_next(struct dfit_corpus *c, struct dfit_corpus_example *ex)
{
    do {
        enum dfit_task t = c->tasks[dfit_rng_below(&c->rng, (uint64_t)c->n_tasks)];
        int level = c->min_level + (int)dfit_rng_below(&c->rng, (uint64_t)(c->max_level - c->min_level + 1));
        dfit_corpus_draw(t, level, &c->rng, ex);
    } while (dfit_corpus_is_eval(ex->prompt));
}

/* Draws and encodes the next example into pend. */
static int refill(struct dfit_corpus *c, struct dfit_err *err)
{
    struct dfit_corpus_example ex;
    dfit_corpus_next(c, &ex);
    c->n_pend = c->at_pend = 0;
    return dfit_corpus_encode(&c->enc, ex.prompt, ex.answer, c->pend, c->pend_mask, MAX_EXAMPLE_TOKENS, &c->n_pend,
                              NULL, err);
}

int dfit_corpus_fill(struct dfit_corpus *c, int32_t *tokens, uint8_t *mask, size_t n, struct dfit_err *err)
{
    for (size_t o = 0; o < n;) {
        int rc;
        if (c->at_pend == c->n_pend && (rc = refill(c, err)))
            return rc;
        size_t k = c->n_pend - c->at_pend;
        if (k > n - o)
            k = n - o;
        memcpy(tokens + o, c->pend + c->at_pend, k * sizeof *tokens);
        memcpy(mask + o, c->pend_mask + c->at_pend, k);
        c->at_pend += k;
        o += k;
    }
    return 0;
}

int dfit_corpus_fill_rows(struct dfit_corpus *c, int32_t *tokens, uint8_t *mask, size_t n_rows,
                          size_t n_ctx, struct dfit_err *err)
{
    if (n_ctx < 16)
        return dfit_err_set(err, DFIT_EINVAL, "corpus: rows of %zu tokens (need at least 16)", n_ctx);
    if (c->at_pend != 0) /* a half-emitted example from dfit_corpus_fill: rows start whole */
        c->at_pend = c->n_pend;
    for (size_t r = 0; r < n_rows; r++) {
        int32_t *row = tokens + r * n_ctx;
        uint8_t *rmask = mask + r * n_ctx;
        size_t o = 0;
        unsigned skipped = 0;
        for (;;) {
            int rc;
            if (c->at_pend == c->n_pend && (rc = refill(c, err)))
                return rc;
            if (c->n_pend > n_ctx) {
                c->at_pend = c->n_pend;
                if (++skipped > 1000)
                    return dfit_err_set(err, DFIT_EINVAL, "corpus: no example fits rows of %zu tokens", n_ctx);
                continue;
            }
            if (o + c->n_pend > n_ctx)
                break;
            memcpy(row + o, c->pend, c->n_pend * sizeof *row);
            memcpy(rmask + o, c->pend_mask, c->n_pend);
            o += c->n_pend;
            c->at_pend = c->n_pend;
        }
        for (; o < n_ctx; o++) {
            row[o] = c->pad;
            rmask[o] = 0;
        }
    }
    return 0;
}

int dfit_corpus_stream(const struct dfit_corpus_params *p, const struct dfit_tokenizer *tok, int32_t *tokens,
                       uint8_t *mask, size_t n, struct dfit_err *err)
{
    struct dfit_corpus *c = NULL;
    int rc = dfit_corpus_open(p, tok, &c, err);
    if (!rc)
        rc = dfit_corpus_fill(c, tokens, mask, n, err);
    dfit_corpus_close(c);
    return rc;
}

/* ---- eval sets ------------------------------------------------------------------------ */

/* Prompts already taken: open addressing on their hashes. */
struct seen {
    uint64_t *slot;
    size_t cap;
};

static bool seen_insert(struct seen *s, const char *prompt)
{
    uint64_t h = dfit_corpus_prompt_hash(prompt) | 1u;
    size_t i = (size_t)(h >> 7) & (s->cap - 1);
    while (s->slot[i]) {
        if (s->slot[i] == h)
            return false;
        i = (i + 1) & (s->cap - 1);
    }
    s->slot[i] = h;
    return true;
}

/* Draws up to n distinct eval-split examples of task, levels in turn;
 * calls add for each. */
static int draw_eval(enum dfit_task task, uint64_t seed, uint32_t n, struct dfit_eval_set *set,
                     int (*add)(struct dfit_eval_set *, const struct dfit_corpus_example *, struct dfit_rng *,
                                struct dfit_err *),
                     struct dfit_err *err)
{
    struct seen s = {0};
    s.cap = 64;
    while (s.cap < 2 * (size_t)n)
        s.cap *= 2;
    s.slot = calloc(s.cap, sizeof *s.slot);
    if (!s.slot)
        return dfit_err_set(err, DFIT_ENOMEM, "corpus: out of memory for %u eval items", (unsigned)n);
    struct dfit_rng rng;
    dfit_rng_seed(&rng, seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(task + 1)));
    bool exhausted[DFIT_CORPUS_MAX_LEVEL] = {false};
    int n_exhausted = 0, lvl = 0, rc = 0;
    while (set->n_items < n && n_exhausted < DFIT_CORPUS_MAX_LEVEL) {
        if (exhausted[lvl]) {
            lvl = (lvl + 1) % DFIT_CORPUS_MAX_LEVEL;
            continue;
        }
        struct dfit_corpus_example ex;
        bool found = false;
        for (unsigned a = 0; a < MAX_EVAL_ATTEMPTS && !found; a++) {
            dfit_corpus_draw(task, lvl + 1, &rng, &ex);
            found = dfit_corpus_is_eval(ex.prompt) && seen_insert(&s, ex.prompt);
        }
        if (!found) {
            exhausted[lvl] = true;
            n_exhausted++;
            continue;
        }
        if ((rc = add(set, &ex, &rng, err)))
            break;
        lvl = (lvl + 1) % DFIT_CORPUS_MAX_LEVEL;
    }
    free(s.slot);
    return rc;
}

static int add_gen(struct dfit_eval_set *set, const struct dfit_corpus_example *ex, struct dfit_rng *rng,
                   struct dfit_err *err)
{
    (void)rng;
    return dfit_eval_set_add_gen(set, ex->prompt, ex->answer, err);
}

static int add_mc(struct dfit_eval_set *set, const struct dfit_corpus_example *ex, struct dfit_rng *rng,
                  struct dfit_err *err)
{
    char text[4][24];
    const char *choices[4];
    uint32_t n = 0, label = 0;
    if (ex->task == DFIT_TASK_MAX) {
        uint64_t a = 0, b = 0;
        if (sscanf(ex->prompt, "max: %" SCNu64 ",%" SCNu64 "=", &a, &b) != 2)
            return dfit_err_set(err, DFIT_EINTERNAL, "corpus: cannot read '%s'", ex->prompt);
        snprintf(text[0], sizeof text[0], "%" PRIu64, a);
        snprintf(text[1], sizeof text[1], "%" PRIu64, b);
        n = 2;
        label = b > a;
    } else {
        const uint64_t c = strtoull(ex->answer, NULL, 10);
        const int64_t delta[6] = {1, -1, 10, -10, 100, -100};
        uint64_t cand[6];
        uint32_t nc = 0;
        for (int i = 0; i < 6; i++)
            if (delta[i] > 0 || c >= (uint64_t)-delta[i])
                cand[nc++] = c + (uint64_t)delta[i];
        for (uint32_t i = nc; i > 1; i--) { /* shuffle the candidates, keep three */
            uint32_t j = (uint32_t)dfit_rng_below(rng, i);
            uint64_t t = cand[i - 1];
            cand[i - 1] = cand[j];
            cand[j] = t;
        }
        uint64_t v[4] = {c, cand[0], cand[1], cand[2]};
        n = 4;
        for (uint32_t i = n; i > 1; i--) {
            uint32_t j = (uint32_t)dfit_rng_below(rng, i);
            uint64_t t = v[i - 1];
            v[i - 1] = v[j];
            v[j] = t;
        }
        for (uint32_t i = 0; i < n; i++) {
            snprintf(text[i], sizeof text[i], "%" PRIu64, v[i]);
            if (v[i] == c)
                label = i;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        choices[i] = text[i];
    return dfit_eval_set_add_mc(set, ex->prompt, choices, label, err);
}

int dfit_corpus_eval_gen(enum dfit_task task, uint64_t seed, uint32_t n_items, struct dfit_eval_set **out,
                         struct dfit_err *err)
{
    *out = NULL;
    if ((unsigned)task >= DFIT_TASK_COUNT || n_items == 0)
        return dfit_err_set(err, DFIT_EINVAL, "corpus: eval set of task %d with %u items", (int)task,
                            (unsigned)n_items);
    char name[64];
    snprintf(name, sizeof name, "eval_%s", dfit_task_name(task));
    struct dfit_eval_set *s = NULL;
    int rc = dfit_eval_set_create(name, DFIT_EVAL_GEN, 0, &s, err);
    if (!rc)
        rc = draw_eval(task, seed, n_items, s, add_gen, err);
    if (rc) {
        dfit_eval_set_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int dfit_corpus_eval_mc(enum dfit_task task, uint64_t seed, uint32_t n_items, struct dfit_eval_set **out,
                        struct dfit_err *err)
{
    *out = NULL;
    if ((unsigned)task >= DFIT_TASK_COUNT || n_items == 0)
        return dfit_err_set(err, DFIT_EINVAL, "corpus: eval set of task %d with %u items", (int)task,
                            (unsigned)n_items);
    if (task != DFIT_TASK_MAX && task != DFIT_TASK_ADD && task != DFIT_TASK_SUB && task != DFIT_TASK_SUCC &&
        task != DFIT_TASK_WORD)
        return dfit_err_set(err, DFIT_EUNSUPPORTED,
                            "corpus: no multiple-choice form of task '%s' (max, add, sub, succ, word have one)",
                            dfit_task_name(task));
    char name[64];
    snprintf(name, sizeof name, "eval_%s_mc", dfit_task_name(task));
    struct dfit_eval_set *s = NULL;
    int rc = dfit_eval_set_create(name, DFIT_EVAL_MC, task == DFIT_TASK_MAX ? 2 : 4, &s, err);
    if (!rc) /* other prompts than the generation set's: its own seed */
        rc = draw_eval(task, seed ^ 0x6d635f7365747321ull, n_items, s, add_mc, err);
    if (rc) {
        dfit_eval_set_free(s);
        return rc;
    }
    *out = s;
    return 0;
}
