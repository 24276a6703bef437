/* test_accuracy — task accuracy and perplexity on the CPU backend with a
 * tiny random-weight model: a generation set whose answers are the model's
 * own greedy continuations (worked out here, one token at a time) scores
 * exactly the share of rows left intact; a multiple-choice set whose labels
 * are the choices this test finds most (or least) likely scores what it
 * should by both criteria; perplexity equals exp(mean NLL) of the second
 * halves of the chunks, computed here from the backend's logits, with its
 * standard error; results do not depend on how many sequences run at once;
 * a random model scores about 0 on the corpus tasks; the failure paths.
 * Real files in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "compress/corpus.h"
#include "compress/synth.h"
#include "model/tokenizer.h"
#include "run/accuracy.h"
#include "util/rng.h"
#include "tmpdir_fixture.h"


static int setup(void **state)
{
    (void)state;
    if (tmpdir_make("accuracy"))
        return -1;
    /* seed 5: one of the seeds whose greedy continuations end (newline or
     * EOS) within a few hundred random prompts; see the generation test */
    struct dfit_synth_params p = {.seed = 5, .type = DFIT_TYPE_F32};
    struct dfit_err err = {0};
    if (dfit_synth_preset("tiny", &p.shape, &err) || dfit_synth_write(&p, tmp("tiny.gguf"), &err)) {
        fprintf(stderr, "synth: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove();
    return 0;
}

static void near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.12g, want %.12g (tolerance %g)", got, want, tol);
}

/* ---- the model, driven directly ------------------------------------------------ */

struct ref {
    struct dfit_model *m;
    struct dfit_tokenizer *tok;
    const struct dfit_backend_ops *ops;
    void *ctx;
    int32_t n_vocab;
    uint32_t n_ctx;
    float *logits;      /* [n_ctx][n_vocab] */
};

static void ref_open(struct ref *r, uint32_t n_ctx)
{
    struct dfit_err err = {0};
    memset(r, 0, sizeof *r);
    assert_int_equal(dfit_model_open(tmp("tiny.gguf"), &r->m, &err), 0);
    assert_int_equal(dfit_tokenizer_from_gguf(r->m->gguf, &r->tok, &err), 0);
    r->ops = dfit_backend_find("cpu");
    assert_non_null(r->ops);
    struct dfit_backend_params bp = {.n_threads = 1, .n_ctx = n_ctx, .n_seq = 1, .n_batch_max = n_ctx};
    struct dfit_load_report lr;
    assert_int_equal(r->ops->load(r->m, &bp, &r->ctx, &lr, &err), 0);
    r->n_vocab = (int32_t)r->m->hp.n_vocab;
    r->n_ctx = n_ctx;
    r->logits = malloc((size_t)n_ctx * (size_t)r->n_vocab * sizeof *r->logits);
    assert_non_null(r->logits);
}

static void ref_close(struct ref *r)
{
    r->ops->unload(r->ctx);
    dfit_tokenizer_free(r->tok);
    dfit_model_free(r->m);
    free(r->logits);
}

/* Appends ids[0..n) at positions pos.. of sequence 0; logits of every token. */
static void ref_forward(struct ref *r, const int32_t *ids, uint32_t n, uint32_t pos)
{
    int32_t p[256], s[256];
    assert_true(n <= 256);
    for (uint32_t i = 0; i < n; i++) {
        p[i] = (int32_t)(pos + i);
        s[i] = 0;
    }
    struct dfit_batch b = {.n_tokens = n, .token = ids, .pos = p, .seq = s, .want = NULL};
    struct dfit_err err = {0};
    assert_int_equal(r->ops->forward(r->ctx, &b, r->logits, &err), 0);
}

static int32_t first_max(const float *x, int32_t n)
{
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

static double log_softmax_at(const float *x, int32_t n, int32_t at)
{
    double max = x[0], sum = 0.0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)x[i] - max);
    return (double)x[at] - max - log(sum);
}

/* The text greedy decoding gives after BOS + prompt, up to max tokens;
 * true when it ended at a newline or EOS with a non-empty text a CSV field
 * can hold (valid UTF-8, no NUL, no carriage return, no leading BOM). */
static bool greedy(struct ref *r, const char *prompt, int max, char *text, size_t cap)
{
    int32_t ids[128];
    size_t n = 0;
    assert_int_equal(dfit_tokenizer_encode(r->tok, prompt, strlen(prompt), 1, ids, 128, &n, NULL), 0);
    r->ops->seq_reset(r->ctx, -1);
    ref_forward(r, ids, (uint32_t)n, 0);
    const float *last = r->logits + (n - 1) * (size_t)r->n_vocab;
    size_t o = 0;
    for (int step = 0; step < max; step++) {
        int32_t t = first_max(last, r->n_vocab);
        if (t == dfit_tokenizer_eos(r->tok))
            return o > 0 && dfit_utf8_check(text, o, NULL, NULL) == 0 && (unsigned char)text[0] != 0xEF;
        char piece[64];
        int k = dfit_tokenizer_decode_piece(r->tok, t, piece, sizeof piece);
        assert_true(k >= 0 && k < (int)sizeof piece);
        for (int i = 0; i < k; i++) {
            if (piece[i] == '\n') {
                text[o] = '\0';
                return o > 0 && dfit_utf8_check(text, o, NULL, NULL) == 0 && (unsigned char)text[0] != 0xEF;
            }
            if (piece[i] == '\0' || piece[i] == '\r' || o + 1 >= cap)
                return false;
            text[o++] = piece[i];
        }
        text[o] = '\0';
        ref_forward(r, &t, 1, (uint32_t)(n + (size_t)step));
        last = r->logits;
    }
    return false;
}

static void random_text(struct dfit_rng *rng, char *out, int min_len, int max_len)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789+=:|, ";
    int n = min_len + (int)dfit_rng_below(rng, (uint64_t)(max_len - min_len + 1));
    for (int i = 0; i < n; i++)
        out[i] = alphabet[dfit_rng_below(rng, sizeof alphabet - 1)];
    out[n] = '\0';
}

/* ---- generation: exact match ------------------------------------------------------ */

static void test_generation_exact_match(void **state)
{
    (void)state;
    struct ref r;
    ref_open(&r, 128);
    struct dfit_err err = {0};
    struct dfit_eval_set *s = NULL;
    assert_int_equal(dfit_eval_set_create("own.csv", DFIT_EVAL_GEN, 0, &s, &err), 0);
    /* prompts whose greedy continuation ends (at a newline or EOS) soon */
    struct dfit_rng rng;
    dfit_rng_seed(&rng, 99);
    int found = 0, tried = 0;
    char prompts[3][32], answers[3][40];
    while (found < 3 && tried < 20000) {
        char prompt[32], text[40];
        random_text(&rng, prompt, 3, 8);
        tried++;
        if (greedy(&r, prompt, 8, text, sizeof text)) {
            strcpy(prompts[found], prompt);
            strcpy(answers[found], text);
            found++;
        }
    }
    if (found < 3)
        fail_msg("only %d of 3 prompts with an ending greedy continuation in %d tries", found, tried);
    /* rows 1-3 intact; row 4 a letter too long; row 5 a letter in front */
    for (int i = 0; i < 5; i++) {
        char answer[256];
        snprintf(answer, sizeof answer, "%s%s%s", i == 4 ? "x" : "", answers[i % 3], i == 3 ? "x" : "");
        if (dfit_eval_set_add_gen(s, prompts[i % 3], answer, &err) != 0)
            fail_msg("row %d: %s", i + 1, err.msg);
    }
    assert_int_equal(dfit_eval_csv_write(tmp("own.csv"), s, &err), 0);
    ref_close(&r);

    for (uint32_t seqs = 1; seqs <= 4; seqs += 3) {
        struct dfit_accuracy_params p = {.n_threads = 1, .n_seq = seqs};
        struct dfit_accuracy a;
        if (dfit_accuracy_csv(tmp("own.csv"), &p, tmp("own.csv"), &a, &err) == 0)
            fail_msg("a CSV file loaded as a model");
        assert_int_equal(dfit_accuracy_csv(tmp("tiny.gguf"), &p, tmp("own.csv"), &a, &err), 0);
        assert_string_equal(a.name, "own");
        assert_int_equal(a.kind, DFIT_EVAL_GEN);
        assert_int_equal(a.n_items, 5);
        assert_int_equal(a.n_correct, 3);
        near(a.accuracy, 3.0 / 5.0, 1e-12);
        near(a.accuracy_se, sqrt(0.6 * 0.4 / 5.0), 1e-12);
        near(a.accuracy_sum, a.accuracy, 0);
        /* only the first 3 rows: all intact */
        p.limit = 3;
        assert_int_equal(dfit_accuracy_csv(tmp("tiny.gguf"), &p, tmp("own.csv"), &a, &err), 0);
        assert_int_equal(a.n_items, 3);
        near(a.accuracy, 1.0, 0);
        near(a.accuracy_se, 0.0, 0);

        struct dfit_quality q = {.available = true, .ppl = 3.0};
        dfit_accuracy_to_quality(&a, &q);
        assert_true(q.has_accuracy);
        near(q.accuracy, 1.0, 0);
        near(q.ppl, 3.0, 0);
    }
    dfit_eval_set_free(s);
}

/* ---- multiple choice --------------------------------------------------------------- */

/* Total and per-token log-likelihood of choice + "\n" after BOS + prompt,
 * tokenized here: the prompt as the tokenizer encodes it, the choice (which
 * starts with a digit) as the tokenizer encodes it less its leading "▁". */
static void choice_ll(struct ref *r, const char *prompt, const char *choice, double *sum, double *mean)
{
    int32_t ids[128], tail[64];
    size_t np = 0, nt = 0;
    assert_int_equal(dfit_tokenizer_encode(r->tok, prompt, strlen(prompt), 1, ids, 128, &np, NULL), 0);
    char text[64];
    snprintf(text, sizeof text, "%s\n", choice);
    assert_int_equal(dfit_tokenizer_encode(r->tok, text, strlen(text), 0, tail, 64, &nt, NULL), 0);
    assert_int_equal(tail[0], dfit_tokenizer_find_piece(r->tok, "\xE2\x96\x81", 3)); /* "▁" alone */
    memcpy(ids + np, tail + 1, (nt - 1) * sizeof *ids);
    const size_t n = np + nt - 1;
    r->ops->seq_reset(r->ctx, -1);
    ref_forward(r, ids, (uint32_t)n, 0);
    *sum = 0.0;
    for (size_t j = np; j < n; j++)
        *sum += log_softmax_at(r->logits + (j - 1) * (size_t)r->n_vocab, r->n_vocab, ids[j]);
    *mean = *sum / (double)(n - np);
}

static void test_multiple_choice(void **state)
{
    (void)state;
    struct ref r;
    ref_open(&r, 128);
    struct dfit_err err = {0};
    struct dfit_eval_set *s = NULL;
    assert_int_equal(dfit_eval_set_create("pick", DFIT_EVAL_MC, 3, &s, &err), 0);
    struct dfit_rng rng;
    dfit_rng_seed(&rng, 5);
    enum { N = 7 };
    uint32_t want_sum = 0, want_mean = 0;
    for (int i = 0; i < N; i++) {
        char prompt[32], c[3][16];
        const char *choices[3];
        random_text(&rng, prompt, 4, 16);
        for (int k = 0; k < 3; k++) {
            c[k][0] = (char)('0' + (3 * i + k) % 10); /* distinct leading digits */
            random_text(&rng, c[k] + 1, 0, 6 + 2 * k);
            for (char *q = c[k] + 1; *q; q++)
                if (*q == ' ')
                    *q = 'z';
            choices[k] = c[k];
        }
        double sum[3], mean[3];
        uint32_t best = 0, worst = 0, best_mean = 0;
        for (int k = 0; k < 3; k++) {
            choice_ll(&r, prompt, c[k], &sum[k], &mean[k]);
            if (sum[k] > sum[best])
                best = (uint32_t)k;
            if (sum[k] < sum[worst])
                worst = (uint32_t)k;
            if (mean[k] > mean[best_mean])
                best_mean = (uint32_t)k;
        }
        assert_true(best != worst);
        /* even rows name the most likely choice, odd rows the least */
        uint32_t label = i % 2 == 0 ? best : worst;
        want_sum += label == best;
        want_mean += label == best_mean;
        assert_int_equal(dfit_eval_set_add_mc(s, prompt, choices, label, &err), 0);
    }
    assert_int_equal(want_sum, 4);
    assert_int_equal(dfit_eval_csv_write(tmp("pick.csv"), s, &err), 0);
    dfit_eval_set_free(s);
    ref_close(&r);

    for (uint32_t seqs = 1; seqs <= 8; seqs *= 8) {
        struct dfit_accuracy_params p = {.n_threads = 1, .n_seq = seqs};
        struct dfit_accuracy a;
        assert_int_equal(dfit_accuracy_csv(tmp("tiny.gguf"), &p, tmp("pick.csv"), &a, &err), 0);
        assert_int_equal(a.kind, DFIT_EVAL_MC);
        assert_int_equal(a.n_choices, 3);
        assert_int_equal(a.n_items, N);
        assert_int_equal(a.n_correct_sum, want_sum);
        assert_int_equal(a.n_correct_norm, want_mean);
        assert_int_equal(a.n_correct, want_sum);
        near(a.accuracy, (double)want_sum / N, 1e-12);
        near(a.accuracy_se, sqrt(a.accuracy * (1 - a.accuracy) / N), 1e-12);
        near(a.accuracy_norm, (double)want_mean / N, 1e-12);
        p.length_norm = true;
        assert_int_equal(dfit_accuracy_csv(tmp("tiny.gguf"), &p, tmp("pick.csv"), &a, &err), 0);
        assert_int_equal(a.n_correct, want_mean);
        near(a.accuracy, (double)want_mean / N, 1e-12);
        near(a.accuracy_se, a.accuracy_norm_se, 0);
    }
}

/* ---- perplexity ------------------------------------------------------------------------ */

static const char TEXT[] =
    "The quick brown fox jumps over the lazy dog. A small model reads this text twice, "
    "then a third time, and each time it is a little less surprised by what comes next. "
    "Numbers too: 12 plus 30 is 42, and 42 minus 30 is 12. Sorting 5, 1, 3 gives 1, 3, 5. "
    "Reversing abc gives cba; copying kqzt gives kqzt. That is all there is to it, really.";

static void test_perplexity(void **state)
{
    (void)state;
    FILE *f = fopen(tmp("text.txt"), "w");
    assert_non_null(f);
    fputs(TEXT, f);
    fclose(f);

    struct ref r;
    ref_open(&r, 128);
    int32_t ids[1024];
    size_t n = 0;
    assert_int_equal(dfit_tokenizer_encode(r.tok, TEXT, strlen(TEXT), 0, ids, 1024, &n, NULL), 0);
    const uint32_t C = 32;
    const size_t n_chunks = n / C;
    assert_true(n_chunks >= 3);
    double s1 = 0;
    size_t count = 0;
    for (size_t c = 0; c < n_chunks; c++) {
        int32_t chunk[32];
        memcpy(chunk, ids + c * C, sizeof chunk);
        chunk[0] = dfit_tokenizer_bos(r.tok);
        r.ops->seq_reset(r.ctx, -1);
        ref_forward(&r, chunk, C, 0);
        for (uint32_t j = C / 2; j + 1 < C; j++) {
            double nll = -log_softmax_at(r.logits + (size_t)j * r.n_vocab, r.n_vocab, chunk[j + 1]);
            s1 += nll;
            count++;
        }
    }
    ref_close(&r);
    const double mean = s1 / (double)count;
    double var = 0; /* two-pass, to check the one-pass estimator */
    {
        struct ref r2;
        ref_open(&r2, 128);
        for (size_t c = 0; c < n_chunks; c++) {
            int32_t chunk[32];
            memcpy(chunk, ids + c * C, sizeof chunk);
            chunk[0] = dfit_tokenizer_bos(r2.tok);
            r2.ops->seq_reset(r2.ctx, -1);
            ref_forward(&r2, chunk, C, 0);
            for (uint32_t j = C / 2; j + 1 < C; j++) {
                double d = -log_softmax_at(r2.logits + (size_t)j * r2.n_vocab, r2.n_vocab, chunk[j + 1]) - mean;
                var += d * d;
            }
        }
        ref_close(&r2);
        var /= (double)(count - 1);
    }
    const double se = sqrt(var / (double)count);

    struct dfit_err err = {0};
    for (uint32_t seqs = 1; seqs <= 4; seqs *= 4) {
        struct dfit_accuracy_params p = {.n_threads = 1, .ppl_ctx = C, .n_seq = seqs};
        struct dfit_perplexity pp;
        assert_int_equal(dfit_perplexity_text(tmp("tiny.gguf"), &p, tmp("text.txt"), &pp, &err), 0);
        assert_int_equal(pp.n_ctx, C);
        assert_int_equal(pp.n_chunks, n_chunks);
        assert_int_equal(pp.n_tokens, count);
        assert_int_equal(count, n_chunks * (C / 2 - 1));
        near(pp.nll, mean, 1e-9);
        near(pp.ppl, exp(mean), 1e-9 * exp(mean));
        near(pp.nll_se, se, 1e-9);
        near(pp.ppl_se, exp(mean) * se, 1e-9 * exp(mean));
        assert_true(pp.ppl > 1.0 && pp.ppl_se > 0.0);
    }
    /* default chunk: the model's context (128) when the text is longer */
    struct dfit_perplexity pp;
    assert_int_equal(dfit_perplexity_text(tmp("tiny.gguf"), NULL, tmp("text.txt"), &pp, &err), 0);
    assert_int_equal(pp.n_ctx, n >= 128 ? 128 : n);
    assert_int_equal(pp.n_chunks, n / pp.n_ctx);

    /* failures: too short a text, chunks past the model's context */
    f = fopen(tmp("short.txt"), "w");
    assert_non_null(f);
    fputs("ab", f);
    fclose(f);
    assert_int_equal(dfit_perplexity_text(tmp("tiny.gguf"), NULL, tmp("short.txt"), &pp, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "short.txt"));
    struct dfit_accuracy_params big = {.ppl_ctx = 200};
    assert_int_equal(dfit_perplexity_text(tmp("tiny.gguf"), &big, tmp("text.txt"), &pp, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "context of 128"));
    assert_int_equal(dfit_perplexity_text(tmp("tiny.gguf"), NULL, tmp("absent.txt"), &pp, &err), DFIT_EIO);
    near(pp.ppl, 0, 0);
}

/* ---- several sets, the corpus tasks, failures ------------------------------------------ */

static void test_sets_and_failures(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_eval_set *add = NULL, *mx = NULL;
    assert_int_equal(dfit_corpus_eval_gen(DFIT_TASK_ADD, 1, 40, &add, &err), 0);
    assert_int_equal(dfit_corpus_eval_mc(DFIT_TASK_MAX, 1, 40, &mx, &err), 0);
    const struct dfit_eval_set *sets[2] = {add, mx};
    struct dfit_accuracy_report rep;
    struct dfit_accuracy_params p = {.n_threads = 2};
    assert_int_equal(dfit_accuracy_run_sets(tmp("tiny.gguf"), &p, sets, 2, NULL, &rep, &err), 0);
    assert_int_equal(rep.n_sets, 2);
    assert_false(rep.has_ppl);
    assert_string_equal(rep.sets[0].name, "eval_add");
    assert_string_equal(rep.sets[1].name, "eval_max_mc");
    assert_true(rep.sets[0].accuracy <= 0.05); /* random weights: about never right */
    assert_int_equal(rep.all.n_items, 80);
    assert_int_equal(rep.all.n_correct, rep.sets[0].n_correct + rep.sets[1].n_correct);
    near(rep.all.accuracy, (double)rep.all.n_correct / 80.0, 1e-12);
    dfit_accuracy_report_clear(&rep);
    dfit_accuracy_report_clear(NULL);

    /* a prompt that does not fit the model's context (128 tokens) */
    struct dfit_eval_set *big = NULL;
    assert_int_equal(dfit_eval_set_create("big", DFIT_EVAL_GEN, 0, &big, &err), 0);
    char prompt[400];
    memset(prompt, 'q', 300);
    prompt[300] = '\0';
    assert_int_equal(dfit_eval_set_add_gen(big, "fine", "x", &err), 0);
    assert_int_equal(dfit_eval_set_add_gen(big, prompt, "x", &err), 0);
    const struct dfit_eval_set *one[1] = {big};
    assert_int_equal(dfit_accuracy_run_sets(tmp("tiny.gguf"), NULL, one, 1, NULL, &rep, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "big: item 2"));
    assert_non_null(strstr(err.msg, "context of 128"));
    assert_null(rep.sets);
    assert_int_equal(dfit_eval_csv_write(tmp("big.csv"), big, &err), 0);
    struct dfit_accuracy a;
    assert_int_equal(dfit_accuracy_csv(tmp("tiny.gguf"), NULL, tmp("big.csv"), &a, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "big: row 3 (line 3)"));

    /* nothing to do; a bad CSV; a missing model; too many sequences */
    assert_int_equal(dfit_accuracy_run_sets(tmp("tiny.gguf"), NULL, NULL, 0, NULL, &rep, &err), DFIT_EINVAL);
    FILE *f = fopen(tmp("bad.csv"), "w");
    assert_non_null(f);
    fputs("prompt,answer\nq,\n", f);
    fclose(f);
    assert_int_equal(dfit_accuracy_csv(tmp("tiny.gguf"), NULL, tmp("bad.csv"), &a, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "bad.csv: row 2 (line 2), column 2 (answer): empty answer"));
    assert_int_not_equal(dfit_accuracy_run_sets(tmp("none.gguf"), NULL, sets, 2, NULL, &rep, &err), 0);
    assert_non_null(strstr(err.msg, "none.gguf"));
    struct dfit_accuracy_params many = {.n_seq = DFIT_ACCURACY_MAX_SEQ + 1};
    assert_int_equal(dfit_accuracy_run_sets(tmp("tiny.gguf"), &many, sets, 2, NULL, &rep, &err), DFIT_EINVAL);

    dfit_eval_set_free(big);
    dfit_eval_set_free(add);
    dfit_eval_set_free(mx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generation_exact_match),
        cmocka_unit_test(test_multiple_choice),
        cmocka_unit_test(test_perplexity),
        cmocka_unit_test(test_sets_and_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
