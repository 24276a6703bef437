/* test_corpus — dfit's task corpus: every task's answers recomputed here
 * from the prompt text alone; each level's difficulty properties; the same
 * seed giving the same stream and eval sets; training text (as examples and
 * as tokens) never holding a prompt of any eval set; the answer mask
 * covering exactly the answer tokens and their newline, the prompt tokens
 * equal to what evaluation feeds; whole-example rows; multiple-choice sets
 * whose label is the right answer; the failure paths. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/corpus.h"
#include "model/tokenizer.h"

/* ---- an independent checker -------------------------------------------------- */

static int n_digits(unsigned long long v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

static int cmp_char(const void *a, const void *b)
{
    return *(const char *)a - *(const char *)b;
}

/* The answer to prompt, worked out from its text; writes the task it
 * recognised and a level it implies (0 when the text does not say). Fails
 * the test on a prompt it cannot read. */
static void solve(const char *prompt, char *answer, size_t cap, char *task, int *level)
{
    unsigned long long a, b;
    int n = -1;
    const size_t len = strlen(prompt);
    *level = 0;
    if (sscanf(prompt, "add: %llu+%llu=%n", &a, &b, &n) == 2 && (size_t)n == len) {
        snprintf(answer, cap, "%llu", a + b);
        strcpy(task, "add");
        *level = n_digits(a) > n_digits(b) ? n_digits(a) : n_digits(b);
    } else if (sscanf(prompt, "sub: %llu-%llu=%n", &a, &b, &n) == 2 && (size_t)n == len) {
        assert_true(b <= a);
        snprintf(answer, cap, "%llu", a - b);
        strcpy(task, "sub");
        *level = n_digits(a);
    } else if (sscanf(prompt, "succ: %llu=%n", &a, &n) == 1 && (size_t)n == len) {
        snprintf(answer, cap, "%llu", a + 1);
        strcpy(task, "succ");
        *level = n_digits(a);
    } else if (sscanf(prompt, "max: %llu,%llu=%n", &a, &b, &n) == 2 && (size_t)n == len) {
        assert_true(a != b);
        assert_int_equal(n_digits(a), n_digits(b));
        snprintf(answer, cap, "%llu", a > b ? a : b);
        strcpy(task, "max");
        *level = n_digits(a);
    } else if (strncmp(prompt, "copy: ", 6) == 0 || strncmp(prompt, "rev: ", 5) == 0) {
        const bool rev = prompt[0] == 'r';
        const char *s = prompt + (rev ? 5 : 6);
        size_t k = strlen(s);
        assert_true(k >= 3 && s[k - 1] == '|');
        k--;
        assert_true(k < cap);
        for (size_t i = 0; i < k; i++) {
            assert_true(s[i] >= 'a' && s[i] <= 'z');
            answer[i] = rev ? s[k - 1 - i] : s[i];
        }
        answer[k] = '\0';
        strcpy(task, rev ? "rev" : "copy");
        *level = (int)k / 2;
    } else if (strncmp(prompt, "sort: ", 6) == 0) {
        const char *s = prompt + 6;
        char items[16];
        size_t k = 0;
        for (size_t i = 0; s[i]; i += 2) {
            assert_true(k < sizeof items);
            items[k++] = s[i];
            assert_true(s[i + 1] == ',' || (s[i + 1] == '|' && s[i + 2] == '\0'));
            if (s[i + 1] == '|')
                break;
        }
        qsort(items, k, 1, cmp_char);
        for (size_t i = 0; i < k; i++) {
            answer[2 * i] = items[i];
            answer[2 * i + 1] = i + 1 < k ? ',' : '\0';
        }
        strcpy(task, "sort");
        *level = (int)k - 1;
    } else {
        char who[32], what[32], what2[32];
        assert_true(len > 2 && prompt[len - 2] == '?' && prompt[len - 1] == ' ');
        strcpy(task, "word");
        if (strstr(prompt, " bags with ")) {
            assert_int_equal(sscanf(prompt, "%31s has %llu bags with %llu %31s in each. How many %31[a-z]?", who, &a,
                                    &b, what, what2),
                             5);
            assert_string_equal(what, what2);
            snprintf(answer, cap, "%llu", a * b);
            *level = 4;
        } else if (strstr(prompt, " and buys ")) {
            assert_int_equal(sscanf(prompt, "%31s has %llu %31s and buys %llu more. How many?", who, &a, what, &b), 4);
            snprintf(answer, cap, "%llu", a + b);
            *level = a < 10 && b < 10 ? 1 : 3;
        } else {
            assert_int_equal(
                sscanf(prompt, "%31s has %llu %31s and gives away %llu. How many are left?", who, &a, what, &b), 4);
            assert_true(b <= a);
            snprintf(answer, cap, "%llu", a - b);
            *level = b < 10 ? 2 : 3;
        }
    }
}

static void check_example(const char *prompt, const char *answer)
{
    char want[128], task[8];
    int level;
    assert_null(strchr(prompt, '\n'));
    assert_null(strchr(answer, '\n'));
    assert_true(answer[0] != '\0');
    solve(prompt, want, sizeof want, task, &level);
    if (strcmp(want, answer) != 0)
        fail_msg("'%s': answer '%s', want '%s'", prompt, answer, want);
}

/* ---- examples ------------------------------------------------------------------------ */

static void test_answers_and_levels(void **state)
{
    (void)state;
    struct dfit_rng rng;
    dfit_rng_seed(&rng, 11);
    for (int t = 0; t < DFIT_TASK_COUNT; t++) {
        double mean_len[DFIT_CORPUS_MAX_LEVEL + 1] = {0};
        for (int level = 1; level <= DFIT_CORPUS_MAX_LEVEL; level++) {
            for (int i = 0; i < 300; i++) {
                struct dfit_corpus_example ex;
                dfit_corpus_draw((enum dfit_task)t, level, &rng, &ex);
                assert_int_equal(ex.task, t);
                assert_int_equal(ex.level, level);
                check_example(ex.prompt, ex.answer);
                char want[128], task[8];
                int implied;
                solve(ex.prompt, want, sizeof want, task, &implied);
                assert_string_equal(task, dfit_task_name((enum dfit_task)t));
                /* the level's property: digits, lengths, items, template */
                if (implied != level)
                    fail_msg("'%s' is not of level %d (reads as %d)", ex.prompt, level, implied);
                if (t == DFIT_TASK_COPY || t == DFIT_TASK_REV) {
                    size_t k = strlen(ex.answer);
                    assert_true(k == (size_t)(2 * level) || k == (size_t)(2 * level + 1));
                }
                mean_len[level] += (double)(strlen(ex.prompt) + strlen(ex.answer)) / 300.0;
            }
        }
        /* harder levels are longer (word problems differ by operation instead) */
        for (int level = 2; level <= DFIT_CORPUS_MAX_LEVEL && t != DFIT_TASK_WORD; level++)
            if (!(mean_len[level] > mean_len[level - 1]))
                fail_msg("task %s: level %d (%.2f bytes) not longer than level %d (%.2f)",
                         dfit_task_name((enum dfit_task)t), level, mean_len[level], level - 1, mean_len[level - 1]);
    }
    /* levels are clamped */
    struct dfit_corpus_example ex;
    dfit_corpus_draw(DFIT_TASK_ADD, 0, &rng, &ex);
    assert_int_equal(ex.level, 1);
    dfit_corpus_draw(DFIT_TASK_ADD, 9, &rng, &ex);
    assert_int_equal(ex.level, 4);

    enum dfit_task task;
    struct dfit_err err = {0};
    assert_int_equal(dfit_task_from_name("rev", &task, &err), 0);
    assert_int_equal(task, DFIT_TASK_REV);
    assert_int_equal(dfit_task_from_name("mul", &task, &err), DFIT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "'mul'"));
    assert_string_equal(dfit_task_name(DFIT_TASK_COUNT), "?");
}

/* ---- the split -------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_train_eval_disjoint(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_tokenizer *tok = NULL;
    assert_int_equal(dfit_tokenizer_create_byte_vocab(320, &tok, &err), 0);

    /* every eval prompt of every set, for two seeds */
    size_t n_eval = 0, cap = 0;
    char **eval = NULL;
    const uint64_t seeds[2] = {3, 99};
    for (int si = 0; si < 2; si++) {
        for (int t = 0; t < DFIT_TASK_COUNT; t++) {
            for (int mc = 0; mc < 2; mc++) {
                struct dfit_eval_set *s = NULL;
                int rc = mc ? dfit_corpus_eval_mc((enum dfit_task)t, seeds[si], 150, &s, &err)
                            : dfit_corpus_eval_gen((enum dfit_task)t, seeds[si], 150, &s, &err);
                if (mc && rc == DFIT_EUNSUPPORTED)
                    continue;
                assert_int_equal(rc, 0);
                assert_true(s->n_items >= 100);
                for (uint32_t i = 0; i < s->n_items; i++) {
                    assert_true(dfit_corpus_is_eval(s->items[i].prompt));
                    for (uint32_t j = 0; j < i; j++) /* distinct within a set */
                        assert_string_not_equal(s->items[i].prompt, s->items[j].prompt);
                    if (n_eval == cap) {
                        cap = cap ? 2 * cap : 1024;
                        eval = realloc(eval, cap * sizeof *eval);
                        assert_non_null(eval);
                    }
                    eval[n_eval++] = strdup(s->items[i].prompt);
                }
                dfit_eval_set_free(s);
            }
        }
    }
    qsort(eval, n_eval, sizeof *eval, cmp_str);

    /* training examples of both seeds: never an eval prompt */
    size_t n_seen = 0;
    for (int si = 0; si < 2; si++) {
        struct dfit_corpus_params p = {.seed = seeds[si]};
        struct dfit_corpus *c = NULL;
        assert_int_equal(dfit_corpus_open(&p, tok, &c, &err), 0);
        for (int i = 0; i < 40000; i++) {
            struct dfit_corpus_example ex;
            dfit_corpus_next(c, &ex);
            assert_false(dfit_corpus_is_eval(ex.prompt));
            const char *key = ex.prompt;
            if (bsearch(&key, eval, n_eval, sizeof *eval, cmp_str))
                fail_msg("training example '%s' is an eval prompt", ex.prompt);
            check_example(ex.prompt, ex.answer);
            n_seen++;
        }
        dfit_corpus_close(c);
    }
    assert_int_equal(n_seen, 80000);

    /* the held-out share of raw draws is near 1/8 */
    struct dfit_rng rng;
    dfit_rng_seed(&rng, 5);
    int n_held = 0;
    for (int i = 0; i < 16000; i++) {
        struct dfit_corpus_example ex;
        dfit_corpus_draw((enum dfit_task)(i % DFIT_TASK_COUNT), 4, &rng, &ex);
        n_held += dfit_corpus_is_eval(ex.prompt);
    }
    assert_in_range(n_held, 1600, 2400);

    for (size_t i = 0; i < n_eval; i++)
        free(eval[i]);
    free(eval);
    dfit_tokenizer_free(tok);
}

/* ---- tokens and the mask ------------------------------------------------------------ */

/* The text of ids[0..n) as the tokenizer writes it, with U+2581 (a space
 * spelt in byte tokens) read as a space. */
static void decode(const struct dfit_tokenizer *tok, const int32_t *ids, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char piece[64];
        int k = dfit_tokenizer_decode_piece(tok, ids[i], piece, sizeof piece);
        assert_true(k >= 0 && (size_t)k < sizeof piece && o + (size_t)k < cap);
        memcpy(out + o, piece, (size_t)k);
        o += (size_t)k;
    }
    out[o] = '\0';
    char *m;
    while ((m = strstr(out, "\xE2\x96\x81"))) {
        *m = ' ';
        memmove(m + 1, m + 3, strlen(m + 3) + 1);
    }
}

/* Checks one example's tokens (BOS first): mask 0 then 1, the prompt
 * tokens as evaluation encodes the prompt, the masked text the right
 * answer and its newline. */
static void check_tokens(const struct dfit_tokenizer *tok, const int32_t *ids, const uint8_t *mask, size_t n)
{
    assert_int_equal(ids[0], dfit_tokenizer_bos(tok));
    assert_int_equal(mask[0], 0);
    size_t k = 1;
    while (k < n && !mask[k])
        k++;
    assert_true(k > 1 && k < n);
    for (size_t i = k; i < n; i++)
        assert_int_equal(mask[i], 1);
    char prompt[256], answer[256];
    decode(tok, ids + 1, k - 1, prompt, sizeof prompt);
    decode(tok, ids + k, n - k, answer, sizeof answer);
    assert_int_equal(prompt[0], ' '); /* the tokenizer's leading space */
    size_t la = strlen(answer);
    assert_true(la >= 2 && answer[la - 1] == '\n');
    answer[la - 1] = '\0';
    check_example(prompt + 1, answer);
    assert_false(dfit_corpus_is_eval(prompt + 1));
    /* evaluation feeds exactly these prompt tokens */
    int32_t want[256];
    size_t nw = 0;
    assert_int_equal(dfit_tokenizer_encode(tok, prompt + 1, strlen(prompt + 1), 1, want, 256, &nw, NULL), 0);
    assert_int_equal(nw, k);
    assert_memory_equal(want, ids, k * sizeof *ids);
}

static void test_stream_mask(void **state)
{
    (void)state;
    const uint32_t vocabs[3] = {259, 260, 320};
    const size_t N = 12000;
    int32_t *tokens = malloc(N * sizeof *tokens), *again = malloc(N * sizeof *again);
    uint8_t *mask = malloc(N), *mask2 = malloc(N);
    assert_non_null(tokens && again && mask && mask2);
    for (int v = 0; v < 3; v++) {
        struct dfit_tokenizer *tok = NULL;
        struct dfit_err err = {0};
        assert_int_equal(dfit_tokenizer_create_byte_vocab(vocabs[v], &tok, &err), 0);
        struct dfit_corpus_params p = {.seed = 21};
        assert_int_equal(dfit_corpus_stream(&p, tok, tokens, mask, N, &err), 0);
        const int32_t bos = dfit_tokenizer_bos(tok);
        assert_int_equal(tokens[0], bos);
        size_t start = 0, n_examples = 0, n_answer = 0;
        for (size_t i = 1; i <= N; i++) {
            if (i < N && tokens[i] != bos)
                continue;
            if (i < N) { /* a whole example: [start, i) */
                check_tokens(tok, tokens + start, mask + start, i - start);
                n_examples++;
            }
            start = i;
        }
        for (size_t i = 0; i < N; i++)
            n_answer += mask[i];
        assert_true(n_examples > 200);
        assert_true(n_answer > N / 20 && n_answer < N / 2);

        /* the same seed, the same stream, in one call or two; another seed differs */
        struct dfit_corpus *c = NULL;
        assert_int_equal(dfit_corpus_open(&p, tok, &c, &err), 0);
        assert_int_equal(dfit_corpus_fill(c, again, mask2, 1237, &err), 0);
        assert_int_equal(dfit_corpus_fill(c, again + 1237, mask2 + 1237, N - 1237, &err), 0);
        dfit_corpus_close(c);
        assert_memory_equal(tokens, again, N * sizeof *tokens);
        assert_memory_equal(mask, mask2, N);
        p.seed = 22;
        assert_int_equal(dfit_corpus_stream(&p, tok, again, mask2, N, &err), 0);
        assert_memory_not_equal(tokens, again, N * sizeof *tokens);
        dfit_tokenizer_free(tok);
    }
    free(tokens);
    free(again);
    free(mask);
    free(mask2);
}

static void test_encode_pairs(void **state)
{
    (void)state;
    struct dfit_tokenizer *tok = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_tokenizer_create_byte_vocab(320, &tok, &err), 0);
    struct dfit_corpus_encoder e;
    assert_int_equal(dfit_corpus_encoder_init(&e, tok, &err), 0);
    assert_true(e.space_prefix);
    assert_int_equal(e.bos, 1);
    /* "tzqk": 't' has a "▁t" piece, so the tokenizer alone would merge the
     * space mark into the answer's first token; as a continuation it is "t" */
    int32_t ids[64];
    uint8_t mask[64];
    size_t n = 0, np = 0;
    assert_int_equal(dfit_corpus_encode(&e, "rev: kqzt|", "tzqk", ids, mask, 64, &n, &np, &err), 0);
    assert_int_equal(n, np + 5);
    assert_int_equal(ids[np], dfit_tokenizer_find_piece(tok, "t", 1));
    assert_int_equal(ids[n - 1], dfit_tokenizer_find_piece(tok, "<0x0A>", 6));
    char text[64];
    decode(tok, ids + np, n - np, text, sizeof text);
    assert_string_equal(text, "tzqk\n");
    /* no answer: BOS and the prompt only */
    size_t n2 = 0;
    assert_int_equal(dfit_corpus_encode(&e, "rev: kqzt|", NULL, ids, NULL, 64, &n2, NULL, &err), 0);
    assert_int_equal(n2, np);
    /* too small a buffer */
    assert_int_equal(dfit_corpus_encode(&e, "rev: kqzt|", "tzqk", ids, mask, 8, &n, &np, &err), DFIT_ERANGE);
    assert_int_equal(n, 0);
    /* an answer that starts with a space keeps it */
    assert_int_equal(dfit_corpus_encode(&e, "q", " x", ids, mask, 64, &n, &np, &err), 0);
    decode(tok, ids + np, n - np, text, sizeof text);
    assert_string_equal(text, " x\n");
    dfit_tokenizer_free(tok);
}

static void test_rows(void **state)
{
    (void)state;
    struct dfit_tokenizer *tok = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_tokenizer_create_byte_vocab(320, &tok, &err), 0);
    struct dfit_corpus_params p = {.seed = 4, .tasks = 1u << DFIT_TASK_WORD | 1u << DFIT_TASK_ADD};
    struct dfit_corpus *c = NULL;
    assert_int_equal(dfit_corpus_open(&p, tok, &c, &err), 0);
    enum { R = 20, T = 64 };
    int32_t tokens[R * T];
    uint8_t mask[R * T];
    /* a half-emitted example is dropped: rows start whole */
    assert_int_equal(dfit_corpus_fill(c, tokens, mask, 5, &err), 0);
    assert_int_equal(dfit_corpus_fill_rows(c, tokens, mask, R, T, &err), 0);
    const int32_t bos = dfit_tokenizer_bos(tok), eos = dfit_tokenizer_eos(tok);
    for (int r = 0; r < R; r++) {
        const int32_t *row = tokens + r * T;
        const uint8_t *m = mask + r * T;
        assert_int_equal(row[0], bos);
        int end = T;
        while (end > 0 && row[end - 1] == eos) {
            assert_int_equal(m[end - 1], 0);
            end--;
        }
        assert_true(end > 0);
        int start = 0;
        for (int i = 1; i <= end; i++) {
            if (i < end && row[i] != bos)
                continue;
            check_tokens(tok, row + start, m + start, (size_t)(i - start));
            assert_int_equal(row[i - 1], dfit_tokenizer_find_piece(tok, "<0x0A>", 6)); /* whole */
            start = i;
        }
    }
    assert_int_equal(dfit_corpus_fill_rows(c, tokens, mask, 1, 8, &err), DFIT_EINVAL);
    /* rows too short for any word problem */
    struct dfit_corpus *w = NULL;
    struct dfit_corpus_params pw = {.seed = 4, .tasks = 1u << DFIT_TASK_WORD};
    assert_int_equal(dfit_corpus_open(&pw, tok, &w, &err), 0);
    assert_int_equal(dfit_corpus_fill_rows(w, tokens, mask, 1, 16, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "no example fits"));
    dfit_corpus_close(w);
    dfit_corpus_close(c);
    dfit_corpus_close(NULL);
    dfit_tokenizer_free(tok);
}

/* ---- eval sets ---------------------------------------------------------------------------- */

static void test_eval_sets(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    for (int t = 0; t < DFIT_TASK_COUNT; t++) {
        struct dfit_eval_set *a = NULL, *b = NULL;
        assert_int_equal(dfit_corpus_eval_gen((enum dfit_task)t, 8, 200, &a, &err), 0);
        assert_int_equal(dfit_corpus_eval_gen((enum dfit_task)t, 8, 200, &b, &err), 0);
        char name[32];
        snprintf(name, sizeof name, "eval_%s", dfit_task_name((enum dfit_task)t));
        assert_string_equal(a->name, name);
        assert_int_equal(a->kind, DFIT_EVAL_GEN);
        assert_int_equal(a->n_items, b->n_items);
        int levels_seen[5] = {0};
        for (uint32_t i = 0; i < a->n_items; i++) {
            assert_string_equal(a->items[i].prompt, b->items[i].prompt); /* same seed, same set */
            assert_string_equal(a->items[i].answer, b->items[i].answer);
            check_example(a->items[i].prompt, a->items[i].answer);
            char want[128], task[8];
            int level;
            solve(a->items[i].prompt, want, sizeof want, task, &level);
            if (level >= 1 && level <= 4)
                levels_seen[level]++;
        }
        /* small prompt spaces (succ: 10 and 90 numbers of 1 and 2 digits, max:
         * 90 one-digit pairs) hold few held-out prompts; the others fill in */
        for (int l = t == DFIT_TASK_SUCC ? 3 : 2; l <= 4; l++)
            if (levels_seen[l] < 20)
                fail_msg("%s: %d items of level %d", a->name, levels_seen[l], l);
        assert_int_equal(a->n_items, 200);
        dfit_eval_set_free(a);
        dfit_eval_set_free(b);
    }

    const enum dfit_task mc_tasks[] = {DFIT_TASK_MAX, DFIT_TASK_ADD, DFIT_TASK_SUB, DFIT_TASK_SUCC, DFIT_TASK_WORD};
    for (size_t i = 0; i < sizeof mc_tasks / sizeof mc_tasks[0]; i++) {
        struct dfit_eval_set *s = NULL;
        assert_int_equal(dfit_corpus_eval_mc(mc_tasks[i], 8, 120, &s, &err), 0);
        assert_int_equal(s->kind, DFIT_EVAL_MC);
        assert_int_equal(s->n_choices, mc_tasks[i] == DFIT_TASK_MAX ? 2 : 4);
        uint32_t label_count[4] = {0};
        for (uint32_t k = 0; k < s->n_items; k++) {
            const struct dfit_eval_item *it = &s->items[k];
            char want[128], task[8];
            int level;
            solve(it->prompt, want, sizeof want, task, &level);
            assert_string_equal(it->choices[it->label], want);
            for (uint32_t c = 0; c < s->n_choices; c++) {
                assert_true(it->choices[c][0] >= '0' && it->choices[c][0] <= '9');
                for (uint32_t d = 0; d < c; d++)
                    assert_string_not_equal(it->choices[c], it->choices[d]);
            }
            if (mc_tasks[i] == DFIT_TASK_MAX) {
                char both[64];
                snprintf(both, sizeof both, "max: %s,%s=", it->choices[0], it->choices[1]);
                assert_string_equal(both, it->prompt);
            }
            label_count[it->label]++;
        }
        for (uint32_t c = 0; c < s->n_choices; c++) /* the right answer moves around */
            assert_true(label_count[c] > s->n_items / (4 * s->n_choices));
        dfit_eval_set_free(s);
    }
}

static void test_failures(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_tokenizer *tok = NULL;
    assert_int_equal(dfit_tokenizer_create_byte_vocab(320, &tok, &err), 0);
    struct dfit_corpus *c = (struct dfit_corpus *)1;
    struct dfit_corpus_params bad_levels = {.min_level = 3, .max_level = 2};
    assert_int_equal(dfit_corpus_open(&bad_levels, tok, &c, &err), DFIT_EINVAL);
    assert_null(c);
    struct dfit_corpus_params hi = {.max_level = 5};
    assert_int_equal(dfit_corpus_open(&hi, tok, &c, &err), DFIT_EINVAL);
    struct dfit_corpus_params tasks = {.tasks = 1u << DFIT_TASK_COUNT};
    assert_int_equal(dfit_corpus_open(&tasks, tok, &c, &err), DFIT_EINVAL);
    struct dfit_corpus_params ok = {0};
    assert_int_equal(dfit_corpus_open(&ok, NULL, &c, &err), DFIT_EINVAL);
    /* one task at one level: only that */
    struct dfit_corpus_params one = {.seed = 1, .tasks = 1u << DFIT_TASK_SORT, .min_level = 2, .max_level = 2};
    assert_int_equal(dfit_corpus_open(&one, tok, &c, &err), 0);
    for (int i = 0; i < 100; i++) {
        struct dfit_corpus_example ex;
        dfit_corpus_next(c, &ex);
        assert_int_equal(ex.task, DFIT_TASK_SORT);
        assert_int_equal(ex.level, 2);
    }
    dfit_corpus_close(c);

    struct dfit_eval_set *s = (struct dfit_eval_set *)1;
    assert_int_equal(dfit_corpus_eval_mc(DFIT_TASK_COPY, 1, 10, &s, &err), DFIT_EUNSUPPORTED);
    assert_null(s);
    assert_non_null(strstr(err.msg, "'copy'"));
    assert_int_equal(dfit_corpus_eval_gen(DFIT_TASK_ADD, 1, 0, &s, &err), DFIT_EINVAL);
    assert_int_equal(dfit_corpus_eval_gen(DFIT_TASK_COUNT, 1, 10, &s, &err), DFIT_EINVAL);
    dfit_tokenizer_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_and_levels),
        cmocka_unit_test(test_train_eval_disjoint),
        cmocka_unit_test(test_stream_mask),
        cmocka_unit_test(test_encode_pairs),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_eval_sets),
        cmocka_unit_test(test_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
