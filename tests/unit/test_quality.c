/* test_quality — llama.cpp's KL-divergence statistics: the per-token
 * formulas on distributions worked out by hand, the estimators against a
 * two-pass reference computation, a model against itself (KL 0, top-1 1,
 * ratio 1), and a tiny F32 synth model against its Q8_0 and Q4_0
 * conversions (Q4_0 further from the reference than Q8_0); eval token
 * streams (synth and text) and the failure paths. Real files in a temporary
 * directory. */
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

#include "compress/convert.h"
#include "compress/synth.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "run/eval_data.h"
#include "run/quality.h"
#include "tmpdir_fixture.h"


static int setup(void **state)
{
    (void)state;
    if (tmpdir_make("quality"))
        return -1;
    struct dfit_synth_params p = {.seed = 7, .type = DFIT_TYPE_F32};
    struct dfit_err err = {0};
    if (dfit_synth_preset("tiny", &p.shape, &err) || dfit_synth_write(&p, tmp("ref.gguf"), &err))
        return -1;
    struct dfit_convert_params q8 = {.to = DFIT_TYPE_Q8_0, .n_threads = 1};
    struct dfit_convert_params q4 = {.to = DFIT_TYPE_Q4_0, .n_threads = 1};
    if (dfit_convert_file(tmp("ref.gguf"), tmp("q8.gguf"), &q8, &err) ||
        dfit_convert_file(tmp("ref.gguf"), tmp("q4.gguf"), &q4, &err)) {
        fprintf(stderr, "convert: %s\n", err.msg);
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

#define near(got, want, tol) near_at(#got, got, want, tol)
static void near_at(const char *what, double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: got %.12g, want %.12g (tolerance %g)", what, got, want, tol);
}

/* ---- formulas by hand ------------------------------------------------------ */

/* Reference p = (0.5, 0.3, 0.2), variant q = (0.4, 0.4, 0.2) (given as
 * logits shifted by 5: log-softmax must not care); next token 1.
 *   KL = 0.5 ln(0.5/0.4) + 0.3 ln(0.3/0.4) + 0.2 ln 1 = 0.0252671539...
 *   dp = 0.4 - 0.3 = 0.1; nll = -ln 0.4; ppl = 2.5; ratio = 0.3/0.4
 *   top-1: reference 0, variant a tie of 0 and 1: the first, 0: agree */
static void test_formulas_by_hand(void **state)
{
    (void)state;
    float ref_logp[3], ref_logits[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    float var_logits[3] = {logf(0.4f) + 5, logf(0.4f) + 5, logf(0.2f) + 5};
    dfit_log_softmax(ref_logp, ref_logits, 3);
    near(ref_logp[0], log(0.5), 1e-6);
    near(ref_logp[1], log(0.3), 1e-6);

    struct dfit_kld_acc a;
    assert_int_equal(dfit_kld_acc_init(&a, 4, 3, NULL), 0);
    dfit_kld_acc_add(&a, ref_logp, var_logits, 1);
    struct dfit_quality q = {.has_accuracy = true, .accuracy = 0.25};
    dfit_kld_acc_result(&a, &q);
    assert_true(q.available);
    assert_int_equal(q.n_tokens, 1);
    const double kl = 0.5 * log(0.5 / 0.4) + 0.3 * log(0.3 / 0.4);
    near(kl, 0.0252671539, 1e-9);
    near(q.kl_mean, kl, 1e-6);
    near(q.kl_p99, kl, 1e-6);
    near(q.top1, 1.0, 0);
    near(q.rms_dp, 0.1, 1e-6);
    near(q.ppl, 2.5, 1e-5);
    near(q.ppl_ratio, 0.75, 1e-6);
    /* one token: llama.cpp gives no uncertainty below 11 tokens */
    near(q.kl_se, 0, 0);
    near(q.ppl_se, 0, 0);
    near(q.top1_se, 0, 0);
    /* task accuracy is not this function's: cleared, for accuracy.h to fill */
    assert_false(q.has_accuracy);
    assert_true(isnan(q.accuracy));

    /* next token 2: p_ref = p_var = 0.2, dp = 0, same KL */
    dfit_kld_acc_add(&a, ref_logp, var_logits, 2);
    dfit_kld_acc_result(&a, &q);
    near(q.rms_dp, sqrt(0.1 * 0.1 / 2), 1e-6);
    near(q.ppl, exp((-log(0.4) - log(0.2)) / 2), 1e-5);
    near(q.ppl_ratio, exp((-log(0.4) + log(0.3)) / 2), 1e-6);

    /* the variant's argmax differs: reference 0, variant 2 */
    float var2[3] = {logf(0.2f), logf(0.3f), logf(0.5f)};
    dfit_kld_acc_add(&a, ref_logp, var2, 0);
    dfit_kld_acc_result(&a, &q);
    near(q.top1, 2.0 / 3.0, 1e-12);
    dfit_kld_acc_clear(&a);
    dfit_kld_acc_clear(NULL);

    struct dfit_kld_acc empty;
    assert_int_equal(dfit_kld_acc_init(&empty, 0, 3, NULL), 0);
    dfit_kld_acc_result(&empty, &q);
    assert_false(q.available);
    assert_true(strlen(q.reason) > 0);
    dfit_kld_acc_clear(&empty);
    assert_int_equal(dfit_kld_acc_init(&empty, 1, 0, NULL), DFIT_EINVAL);
}

/* Mean and standard error by two passes: sqrt(sum (x - mean)^2 / n / (n-1)). */
static void two_pass(const double *x, int n, double *mean, double *se)
{
    double m = 0, v = 0;
    for (int i = 0; i < n; i++)
        m += x[i];
    m /= n;
    for (int i = 0; i < n; i++)
        v += (x[i] - m) * (x[i] - m);
    *mean = m;
    *se = sqrt(v / n / (n - 1));
}

/* 40 tokens over four distribution pairs: the estimators against a direct
 * two-pass computation from the per-token values (tolerance 1e-9 relative
 * to the value, the float log-probs' rounding kept out by computing the
 * per-token values from the same floats). */
static void test_estimators_against_two_pass(void **state)
{
    (void)state;
    enum { N = 40, V = 4 };
    const float probs[4][2][V] = {
        {{0.4f, 0.3f, 0.2f, 0.1f}, {0.35f, 0.35f, 0.2f, 0.1f}},
        {{0.7f, 0.1f, 0.1f, 0.1f}, {0.5f, 0.2f, 0.2f, 0.1f}},
        {{0.25f, 0.25f, 0.25f, 0.25f}, {0.1f, 0.2f, 0.3f, 0.4f}},
        {{0.1f, 0.6f, 0.2f, 0.1f}, {0.1f, 0.55f, 0.25f, 0.1f}},
    };
    struct dfit_kld_acc a;
    assert_int_equal(dfit_kld_acc_init(&a, N, V, NULL), 0);
    double kl[N], nll[N], nll_ref[N], dp2[N], diff[N];
    int same = 0;
    for (int t = 0; t < N; t++) {
        int k = t % 4, next = (t / 4) % V;
        float rl[V], vl[V], rlp[V], vlp[V];
        for (int i = 0; i < V; i++) {
            rl[i] = logf(probs[k][0][i]);
            vl[i] = logf(probs[k][1][i]) - 1.0f;
        }
        dfit_log_softmax(rlp, rl, V);
        dfit_log_softmax(vlp, vl, V);
        dfit_kld_acc_add(&a, rlp, vl, next);
        kl[t] = 0;
        for (int i = 0; i < V; i++)
            kl[t] += exp((double)rlp[i]) * ((double)rlp[i] - vlp[i]);
        nll[t] = -(double)vlp[next];
        nll_ref[t] = -(double)rlp[next];
        double dp = exp(-nll[t]) - exp(-nll_ref[t]);
        dp2[t] = dp * dp;
        diff[t] = nll[t] - nll_ref[t];
        int am_r = 0, am_v = 0;
        for (int i = 1; i < V; i++) {
            if (rlp[i] > rlp[am_r])
                am_r = i;
            if (vlp[i] > vlp[am_v])
                am_v = i;
        }
        same += am_r == am_v;
    }
    struct dfit_quality q;
    memset(&q, 0, sizeof q);
    dfit_kld_acc_result(&a, &q);
    assert_int_equal(q.n_tokens, N);

    double m, se;
    two_pass(kl, N, &m, &se);
    near(q.kl_mean, m, 1e-9 * fabs(m) + 1e-12);
    near(q.kl_se, se, 1e-7 * se);
    assert_true(q.kl_se > 0);

    two_pass(nll, N, &m, &se);
    near(q.ppl, exp(m), 1e-9 * exp(m));
    near(q.ppl_se, exp(m) * se, 1e-7 * exp(m) * se);

    /* the ratio's uncertainty: the standard error of the mean difference
     * of the two log-prob series, which is what se^2 + se_ref^2 - 2 cov is */
    two_pass(diff, N, &m, &se);
    near(q.ppl_ratio, exp(m), 1e-9 * exp(m));
    near(q.ppl_ratio_se, exp(m) * se, 1e-6 * exp(m) * se);
    assert_true(q.ppl_ratio_se > 0);

    two_pass(dp2, N, &m, &se);
    near(q.rms_dp, sqrt(m), 1e-9);
    near(q.rms_dp_se, 0.5 / sqrt(m) * se, 1e-6 * se);

    double p = (double)same / N;
    near(q.top1, p, 1e-15);
    near(q.top1_se, sqrt(p * (1 - p) / (N - 1)), 1e-12);

    /* p99 of 40 values: between the two largest, at 0.99 * 39 = 38.61 */
    double s[N];
    memcpy(s, kl, sizeof s);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (s[j] < s[i]) {
                double x = s[i];
                s[i] = s[j];
                s[j] = x;
            }
    near(q.kl_p99, 0.39 * s[38] + 0.61 * s[39], 1e-6 * s[39]);
    dfit_kld_acc_clear(&a);
}

/* ---- on real models ------------------------------------------------------- */

static int32_t *synth_tokens(uint32_t n, uint64_t seed)
{
    struct dfit_tokenizer *t = NULL;
    assert_int_equal(dfit_tokenizer_create_byte_vocab(320, &t, NULL), 0);
    int32_t *ids = NULL;
    assert_int_equal(dfit_eval_synth(t, n, seed, &ids, NULL), 0);
    dfit_tokenizer_free(t);
    return ids;
}

static void measure_ok(const char *ref, const char *var, const int32_t *tok, uint32_t n,
                       struct dfit_quality *q)
{
    struct dfit_err err = {0};
    struct dfit_quality_params p = {.n_threads = 1};
    memset(q, 0, sizeof *q);
    int rc = dfit_quality_measure(ref, var, &p, tok, n, q, &err);
    if (rc)
        fail_msg("quality %s vs %s: %s", ref, var, err.msg);
    assert_true(q->available);
}

static void test_reference_against_itself(void **state)
{
    (void)state;
    int32_t *tok = synth_tokens(512, 1);
    struct dfit_quality q;
    measure_ok(tmp("ref.gguf"), tmp("ref.gguf"), tok, 512, &q);
    /* tiny: n_ctx_train 128 -> 4 chunks of 128, 63 scored positions each */
    assert_int_equal(q.n_tokens, 4 * 63);
    near(q.kl_mean, 0, 0);
    near(q.kl_p99, 0, 0);
    near(q.kl_se, 0, 0);
    near(q.top1, 1, 0);
    near(q.top1_se, 0, 0);
    near(q.ppl_ratio, 1, 0);
    /* the ratio's uncertainty comes from var(a) + var(b) - 2 cov(a, b) of the
     * two identical log-prob series, each a difference of large sums that
     * cancels only to double rounding: zero up to ~1e-9 */
    near(q.ppl_ratio_se, 0, 1e-8);
    near(q.rms_dp, 0, 0);
    assert_true(isfinite(q.ppl) && q.ppl > 1);
    assert_true(q.ppl_se > 0);
    free(tok);
}

static void test_quantized_variants_are_ordered(void **state)
{
    (void)state;
    int32_t *tok = synth_tokens(512, 2);
    struct dfit_quality q8, q4;
    measure_ok(tmp("ref.gguf"), tmp("q8.gguf"), tok, 512, &q8);
    measure_ok(tmp("ref.gguf"), tmp("q4.gguf"), tok, 512, &q4);
    assert_int_equal(q8.n_tokens, 252);
    assert_int_equal(q4.n_tokens, 252);

    assert_true(q8.kl_mean > 0);
    assert_true(q4.kl_mean > q8.kl_mean);
    assert_true(q4.kl_p99 > q8.kl_p99);
    assert_true(q8.kl_p99 >= q8.kl_mean);
    assert_true(q8.top1 >= q4.top1);
    assert_true(q4.top1 < 1);
    assert_true(q4.rms_dp > q8.rms_dp);
    assert_true(q8.rms_dp > 0);
    /* standard errors: positive, and small next to what they qualify with
     * 252 tokens */
    const struct dfit_quality *qs[2] = {&q8, &q4};
    for (int i = 0; i < 2; i++) {
        const struct dfit_quality *q = qs[i];
        assert_true(q->kl_se > 0 && q->kl_se < q->kl_mean);
        assert_true(q->ppl_se > 0 && q->ppl_se < 0.2 * q->ppl);
        assert_true(q->ppl_ratio_se > 0 && q->ppl_ratio_se < 0.1);
        assert_true(q->rms_dp_se > 0 && q->rms_dp_se < q->rms_dp);
        assert_true(fabs(q->ppl_ratio - 1) < 0.5);
    }
    assert_true(q4.top1_se > 0 && q4.top1_se < 0.1);
    free(tok);
}

static void test_failures_and_caps(void **state)
{
    (void)state;
    int32_t *tok = synth_tokens(512, 3);
    struct dfit_quality q;
    struct dfit_err err = {0};
    struct dfit_quality_params p = {.n_threads = 1};

    /* too few tokens */
    assert_int_equal(dfit_quality_measure(tmp("ref.gguf"), tmp("q8.gguf"), &p, tok, 5, &q, &err),
                     DFIT_EINVAL);
    assert_false(q.available);
    assert_non_null(strstr(q.reason, "eval tokens"));

    /* a token outside the vocabulary */
    tok[100] = 320;
    assert_int_equal(dfit_quality_measure(tmp("ref.gguf"), tmp("q8.gguf"), &p, tok, 512, &q, &err),
                     DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "vocabulary"));
    tok[100] = 5;

    /* a missing file */
    assert_true(dfit_quality_measure(tmp("nope.gguf"), tmp("q8.gguf"), &p, tok, 512, &q, &err) !=
                0);
    assert_false(q.available);

    /* the reference log-prob cap: one chunk is 63 x 320 floats = 80,640
     * bytes; a cap of two chunks scores two */
    p.max_ref_bytes = 2 * 63 * 320 * 4 + 100;
    measure_ok(tmp("ref.gguf"), tmp("ref.gguf"), tok, 512, &q);
    memset(&q, 0, sizeof q);
    assert_int_equal(dfit_quality_measure(tmp("ref.gguf"), tmp("q8.gguf"), &p, tok, 512, &q, &err),
                     0);
    assert_int_equal(q.n_tokens, 2 * 63);
    p.max_ref_bytes = 1000;
    assert_int_equal(dfit_quality_measure(tmp("ref.gguf"), tmp("q8.gguf"), &p, tok, 512, &q, &err),
                     DFIT_ERANGE);

    /* an explicit chunk length: 64 tokens -> 8 chunks of 31 scored */
    p.max_ref_bytes = 0;
    p.n_ctx = 64;
    assert_int_equal(dfit_quality_measure(tmp("ref.gguf"), tmp("q8.gguf"), &p, tok, 512, &q, &err),
                     0);
    assert_int_equal(q.n_tokens, 8 * 31);
    free(tok);
}

/* ---- eval data -------------------------------------------------------------- */

static void test_eval_synth_stream(void **state)
{
    (void)state;
    struct dfit_tokenizer *t = NULL;
    assert_int_equal(dfit_tokenizer_create_byte_vocab(320, &t, NULL), 0);
    int32_t *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(dfit_eval_synth(t, 1000, 9, &a, NULL), 0);
    assert_int_equal(dfit_eval_synth(t, 1000, 9, &b, NULL), 0);
    assert_int_equal(dfit_eval_synth(t, 1000, 10, &c, NULL), 0);
    assert_memory_equal(a, b, 1000 * sizeof *a);
    assert_memory_not_equal(a, c, 1000 * sizeof *a);
    int distinct = 0;
    bool seen[320] = {false};
    for (int i = 0; i < 1000; i++) {
        assert_true(a[i] >= 3 && a[i] < 320); /* never <unk>, <s>, </s> */
        enum dfit_token_type ty = dfit_tokenizer_type(t, a[i]);
        assert_true(ty == DFIT_TOKEN_NORMAL || ty == DFIT_TOKEN_BYTE);
        if (!seen[a[i]]) {
            seen[a[i]] = true;
            distinct++;
        }
    }
    assert_true(distinct > 250); /* spread over the vocabulary */
    free(a);
    free(b);
    free(c);
    assert_int_equal(dfit_eval_synth(t, 0, 9, &a, NULL), DFIT_EINVAL);
    assert_null(a);
    dfit_tokenizer_free(t);
}

static void test_eval_text_file(void **state)
{
    (void)state;
    const char *text = "The quick brown fox jumps over the lazy dog. "
                       "Pack my box with five dozen liquor jugs.\n";
    FILE *f = fopen(tmp("eval.txt"), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);

    struct dfit_tokenizer *t = NULL;
    assert_int_equal(dfit_tokenizer_create_byte_vocab(320, &t, NULL), 0);
    int32_t want[512];
    size_t n_want = 0;
    assert_int_equal(dfit_tokenizer_encode(t, text, strlen(text), 0, want, 512, &n_want, NULL), 0);
    assert_true(n_want > 10);

    int32_t *ids = NULL;
    uint32_t n = 0;
    assert_int_equal(dfit_eval_text(tmp("eval.txt"), t, 512, &ids, &n, NULL), 0);
    assert_int_equal(n, n_want); /* shorter than asked: all of it */
    assert_memory_equal(ids, want, n * sizeof *ids);
    free(ids);
    assert_int_equal(dfit_eval_text(tmp("eval.txt"), t, 10, &ids, &n, NULL), 0);
    assert_int_equal(n, 10); /* cut to eval_tokens */
    assert_memory_equal(ids, want, 10 * sizeof *ids);
    free(ids);
    dfit_tokenizer_free(t);

    /* through the model file's tokenizer */
    assert_int_equal(dfit_eval_load(tmp("eval.txt"), tmp("ref.gguf"), 512, 1, &ids, &n, NULL), 0);
    assert_int_equal(n, n_want);
    assert_memory_equal(ids, want, n * sizeof *ids);
    free(ids);
    assert_int_equal(dfit_eval_load("synth", tmp("ref.gguf"), 64, 1, &ids, &n, NULL), 0);
    assert_int_equal(n, 64);
    free(ids);

    struct dfit_err err = {0};
    assert_int_equal(dfit_eval_load(tmp("missing.txt"), tmp("ref.gguf"), 64, 1, &ids, &n, &err),
                     DFIT_EIO);
    assert_null(ids);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err.msg, "missing.txt"));
    f = fopen(tmp("empty.txt"), "w");
    fclose(f);
    assert_int_equal(dfit_eval_load(tmp("empty.txt"), tmp("ref.gguf"), 64, 1, &ids, &n, &err),
                     DFIT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formulas_by_hand),
        cmocka_unit_test(test_estimators_against_two_pass),
        cmocka_unit_test(test_reference_against_itself),
        cmocka_unit_test(test_quantized_variants_are_ordered),
        cmocka_unit_test(test_failures_and_caps),
        cmocka_unit_test(test_eval_synth_stream),
        cmocka_unit_test(test_eval_text_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
