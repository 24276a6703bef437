/* test_payoff — "Does it pay?" (report/payoff.h) on real files: the tiny
 * synth model (dim 64, 2 layers, 4 query heads sharing 2 KV heads of 16,
 * FFN 128, vocabulary 320, untied output) in F32, and made from it by
 * dfit_compress_file: Q4_0, FFN channels pruned by half, and 2:4.
 *   (a) theory, against hand computations from the shapes: F32 vs Q4_0
 *       bytes per decoded token (prefill FLOPs unchanged); FFN pruning's
 *       FLOPs ratio; 2:4 leaves the FLOPs of dense kernels as they are and
 *       halves the blocks' FLOPs only for a sparse kernel;
 *   (b) the verdict rules on hand-made costs: pays, partly, does not pay
 *       (a file 3.6x smaller that decodes 1.1x faster; 2:4 zeros multiplied
 *       by dense kernels), a regression of a phase that promised nothing,
 *       the thresholds' edges, the reference, and missing numbers;
 *   (c) the ratio format.
 * Ratios are compared with a relative tolerance of 1e-12 (they are
 * quotients of exact integers held in doubles).
 */
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

#include "compress/compress.h"
#include "compress/synth.h"
#include "model/llama.h"
#include "report/payoff.h"
#include "run/token_cost.h"
#include "tmpdir_fixture.h"

#define TOL 1e-12


static int compress(const char *out, const struct dfit_compress_params *p)
{
    struct dfit_err err = {0};
    int rc = dfit_compress_file(tmp("f32.gguf"), tmp(out), p, NULL, &err);
    if (rc)
        fprintf(stderr, "# compress %s: %s\n", out, err.msg);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    if (tmpdir_make("payoff"))
        return -1;
    struct dfit_synth_params sp = {.seed = 3, .type = DFIT_TYPE_F32};
    if (dfit_synth_preset("tiny", &sp.shape, NULL) || dfit_synth_write(&sp, tmp("f32.gguf"), NULL))
        return -1;
    struct dfit_compress_params q4 = {.have_to = true, .to = DFIT_TYPE_Q4_0, .n_threads = 1};
    struct dfit_compress_params ffn = {.prune = {.pattern = DFIT_PRUNE_FFN, .amount = 0.5},
                                       .n_threads = 1};
    struct dfit_compress_params s24 = {.prune = {.pattern = DFIT_PRUNE_2_4, .amount = 0.5},
                                       .n_threads = 1};
    if (compress("q4_0.gguf", &q4) || compress("ffn.gguf", &ffn) || compress("24.gguf", &s24))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove();
    return 0;
}

static struct dfit_token_cost cost_of(const char *name)
{
    struct dfit_model *m = NULL;
    struct dfit_err err = {0};
    struct dfit_token_cost c = {0};
    if (dfit_model_open(tmp(name), &m, &err) || dfit_token_cost_of_model(m, &c, &err))
        fail_msg("%s: %s", name, err.msg);
    dfit_model_free(m);
    return c;
}

static void assert_close(double got, double want)
{
    if (!(fabs(got - want) <= TOL * fabs(want)))
        fail_msg("got %.17g, want %.17g", got, want);
}

/* Prompt 16, output 9 (8 decode steps after the prefill's token), one
 * sequence, F32 cache: the decode steps attend 16 + 4.5 positions. */
static const struct dfit_payoff_workload W = {.prompt_tokens = 16, .output_tokens = 9, .batch = 1,
                                              .kv_value_bytes = 4};
#define CTX 20.5

/* Hand counts of the tiny shape. */
#define D 64.0
#define VOCAB 320.0
#define PER_LAYER(ff) (D * 64 + 2 * D * 32 + 64 * D + 3 * D * (ff)) /* weights */
#define KV_BYTES (128.0 * 4 * CTX)              /* 2 x 2 layers x 32 values, F32 */
#define ATTN (4.0 * 2 * 4 * 16 * (16 + 1) / 2)  /* per prompt token, mean ctx 8.5 */
#define OUTPUT (2 * D * VOCAB / 16)             /* the logits of one token in 16 */

static struct dfit_payoff pay(const struct dfit_token_cost *ref, const struct dfit_token_cost *var)
{
    struct dfit_payoff_side a = {.cost = ref, .file_bytes = 100, .decode_tokens_per_s = 10,
                                 .prefill_tokens_per_s = 10};
    struct dfit_payoff_side b = a;
    b.cost = var;
    struct dfit_payoff p;
    dfit_payoff_compute(&a, &b, &W, false, &p);
    return p;
}

/* ---- (a) theory ------------------------------------------------------------------------- */

static void test_theory_f32_vs_q4_0(void **state)
{
    (void)state;
    struct dfit_token_cost f32 = cost_of("f32.gguf"), q4 = cost_of("q4_0.gguf");
    /* Q4_0: 18 bytes per 32 weights; norms stay F32 */
    const double mats = 2 * PER_LAYER(128) + D * VOCAB, norms = (2 * 2 * D + D) * 4;
    assert_int_equal(f32.bytes_per_token, (uint64_t)(mats * 4 + norms + D * 4));
    assert_int_equal(q4.bytes_per_token, (uint64_t)(mats / 32 * 18 + norms + D / 32 * 18));
    assert_int_equal(q4.flops_per_token, f32.flops_per_token);
    struct dfit_payoff p = pay(&f32, &q4);
    assert_close(p.decode_theory, ((double)f32.bytes_per_token + KV_BYTES) /
                                      ((double)q4.bytes_per_token + KV_BYTES));
    assert_true(p.decode_theory > 4.0); /* 378,368 vs 54,308 bytes, KV aside */
    assert_close(p.prefill_theory, 1.0);
    assert_close(p.prefill_theory_sparse, 1.0);
    assert_string_equal(q4.weight_type, "q4_0");
}

static void test_theory_ffn_pruned(void **state)
{
    (void)state;
    struct dfit_token_cost f32 = cost_of("f32.gguf"), ffn = cost_of("ffn.gguf");
    assert_int_equal(f32.flops_per_token, (uint64_t)(2 * 2 * PER_LAYER(128)));
    assert_int_equal(ffn.flops_per_token, (uint64_t)(2 * 2 * PER_LAYER(64)));
    assert_int_equal(ffn.sparse_flops_per_token, ffn.flops_per_token); /* no zeros kept */
    assert_string_equal(ffn.prune_pattern, "ffn");
    struct dfit_payoff p = pay(&f32, &ffn);
    assert_close(p.prefill_theory, (2 * 2 * PER_LAYER(128) + OUTPUT + ATTN) /
                                       (2 * 2 * PER_LAYER(64) + OUTPUT + ATTN));
    assert_close(p.prefill_theory_sparse, p.prefill_theory);
    assert_true(p.decode_theory > 1.0 && p.decode_theory < 1.5);
}

static void test_theory_2_4(void **state)
{
    (void)state;
    struct dfit_token_cost f32 = cost_of("f32.gguf"), s24 = cost_of("24.gguf");
    assert_string_equal(s24.prune_pattern, "2:4");
    assert_close(s24.prune_sparsity, 0.5);
    assert_int_equal(s24.bytes_per_token, f32.bytes_per_token); /* zeros stored dense */
    assert_int_equal(s24.flops_per_token, f32.flops_per_token); /* dense kernels */
    assert_int_equal(s24.sparse_flops_per_token, f32.flops_per_token / 2);
    struct dfit_payoff p = pay(&f32, &s24);
    assert_close(p.decode_theory, 1.0);
    assert_close(p.prefill_theory, 1.0);
    assert_close(p.prefill_theory_sparse, (2 * 2 * PER_LAYER(128) + OUTPUT + ATTN) /
                                              (2 * PER_LAYER(128) + OUTPUT + ATTN));
    /* measured the same as the reference: does not pay, and says why */
    assert_int_equal(p.verdict, DFIT_PAYOFF_NO);
    assert_non_null(strstr(p.text, "file same size"));
    assert_non_null(strstr(p.text, "sparse kernel"));
}

/* ---- (b) verdicts ------------------------------------------------------------------------ */

/* Costs with no KV, no output and no attention, so theory is the plain
 * ratio of bytes (decode) and FLOPs (prefill). */
static struct dfit_token_cost flat(uint64_t bytes, uint64_t flops)
{
    struct dfit_token_cost c = {.bytes_per_token = bytes, .flops_per_token = flops,
                                .sparse_flops_per_token = flops, .prune_sparsity = NAN};
    snprintf(c.weight_type, sizeof c.weight_type, "f32");
    return c;
}

static struct dfit_payoff judge(const struct dfit_token_cost *ref, const struct dfit_token_cost *var,
                                uint64_t ref_file, uint64_t var_file, double decode,
                                double prefill)
{
    struct dfit_payoff_side a = {.cost = ref, .file_bytes = ref_file, .decode_tokens_per_s = 100,
                                 .prefill_tokens_per_s = 1000};
    struct dfit_payoff_side b = {.cost = var, .file_bytes = var_file,
                                 .decode_tokens_per_s = 100 * decode,
                                 .prefill_tokens_per_s = 1000 * prefill};
    struct dfit_payoff p;
    dfit_payoff_compute(&a, &b, &W, false, &p);
    return p;
}

static void test_verdict_quantized(void **state)
{
    (void)state;
    struct dfit_token_cost ref = flat(3600, 1000), q = flat(1000, 1000);
    /* the misuse: 3.6x fewer bytes, 1.1x the speed */
    struct dfit_payoff p = judge(&ref, &q, 3600, 1000, 1.1, 1.0);
    assert_close(p.decode_theory, 3.6);
    assert_close(p.decode_measured, 1.1);
    assert_close(p.file_ratio, 3.6);
    assert_int_equal(p.verdict, DFIT_PAYOFF_NO);
    assert_string_equal(p.text, "does not pay: file 3.6× smaller, decode 1.1× faster "
                                "(3.6× in theory)");
    /* 3.3x of 3.6x: share ln 3.3 / ln 3.6 = 0.93 */
    p = judge(&ref, &q, 3600, 1000, 3.3, 1.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_PAYS);
    assert_string_equal(p.text, "pays: decode 3.3× faster (3.6× in theory)");
    /* 2x of 3.6x: share 0.54 */
    p = judge(&ref, &q, 3600, 1000, 2.0, 1.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_PARTLY);
    assert_string_equal(p.text, "partly: decode 2.0× faster (3.6× in theory)");
    /* the edges: exactly 3.6^0.75 pays, just under is partly; 3.6^0.25
     * is partly, just under does not pay */
    p = judge(&ref, &q, 3600, 1000, pow(3.6, 0.75) * (1 + 1e-9), 1.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_PAYS);
    p = judge(&ref, &q, 3600, 1000, pow(3.6, 0.75) * (1 - 1e-9), 1.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_PARTLY);
    p = judge(&ref, &q, 3600, 1000, pow(3.6, 0.25) * (1 + 1e-9), 1.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_PARTLY);
    p = judge(&ref, &q, 3600, 1000, pow(3.6, 0.25) * (1 - 1e-9), 1.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_NO);
    /* slower than the reference */
    p = judge(&ref, &q, 3600, 1000, 0.8, 1.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_NO);
    assert_non_null(strstr(p.text, "decode 0.80× (slower)"));
    /* decode pays, but prefill, which promised nothing, lost 40 %: partly */
    p = judge(&ref, &q, 3600, 1000, 3.4, 0.6);
    assert_int_equal(p.verdict, DFIT_PAYOFF_PARTLY);
    assert_string_equal(p.text, "partly: decode 3.4× faster (3.6× in theory), but prefill "
                                "0.60× (slower)");
    /* a 5 % loss is within the 0.9 allowance */
    p = judge(&ref, &q, 3600, 1000, 3.4, 0.95);
    assert_int_equal(p.verdict, DFIT_PAYOFF_PAYS);
}

static void test_verdict_structured_and_sparse(void **state)
{
    (void)state;
    /* structured pruning: fewer bytes and FLOPs, both promised */
    struct dfit_token_cost ref = flat(2000, 2000), ffn = flat(1000, 1000);
    struct dfit_payoff p = judge(&ref, &ffn, 2000, 1000, 1.9, 1.8);
    assert_int_equal(p.verdict, DFIT_PAYOFF_PAYS);
    assert_string_equal(p.text, "pays: decode 1.9× faster (2.0× in theory), prefill 1.8× faster "
                                "(2.0× in theory)");
    /* one phase realised, the other not at all: partly */
    p = judge(&ref, &ffn, 2000, 1000, 1.9, 1.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_PARTLY);

    /* unstructured zeros stored dense: nothing promised to dense kernels */
    struct dfit_token_cost un = flat(2000, 2000);
    un.sparse_flops_per_token = 1000;
    snprintf(un.prune_pattern, sizeof un.prune_pattern, "unstructured");
    un.prune_sparsity = 0.5;
    p = judge(&ref, &un, 2000, 2000, 1.0, 1.0);
    assert_close(p.prefill_theory, 1.0);
    assert_close(p.prefill_theory_sparse, 2.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_NO);
    assert_string_equal(p.text, "does not pay: file same size, decode 1.0× faster; its "
                                "unstructured zeros are stored dense and multiplied by dense "
                                "kernels (prefill 2.0× in theory with a sparse kernel)");
    /* quantized and sparse: decode promised by the bytes, the zeros noted */
    un.bytes_per_token = 500;
    p = judge(&ref, &un, 2000, 500, 3.8, 1.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_PAYS);
    assert_non_null(strstr(p.text, "pays: decode 3.8× faster (4.0× in theory); its unstructured"));

    /* a promise under 1.2x is not judged (noise): 1.15x fewer bytes */
    struct dfit_token_cost small = flat(1739, 2000); /* 2000 / 1739 = 1.15 */
    p = judge(&ref, &small, 2000, 1739, 1.15, 1.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_NO);
    assert_string_equal(p.text, "does not pay: file 1.2× smaller, decode 1.1× faster; theory "
                                "promises under 1.2× (decode 1.15×, prefill 1.00×)");

    /* nothing fewer at all: F16 against an F16 reference, say */
    struct dfit_token_cost same = flat(2000, 2000);
    p = judge(&ref, &same, 2000, 2000, 1.0, 1.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_NO);
    assert_non_null(strstr(p.text, "no fewer bytes and needs no fewer FLOPs"));
    /* more bytes (F32 against an F16 reference) */
    struct dfit_token_cost big = flat(4000, 2000);
    p = judge(&ref, &big, 2000, 4000, 0.5, 1.0);
    assert_int_equal(p.verdict, DFIT_PAYOFF_NO);
    assert_non_null(strstr(p.text, "file 2.0× larger"));
}

static void test_verdict_reference_and_missing(void **state)
{
    (void)state;
    struct dfit_token_cost ref = flat(3600, 1000), q = flat(1000, 1000);
    struct dfit_payoff_side a = {.cost = &ref, .file_bytes = 3600, .decode_tokens_per_s = 100,
                                 .prefill_tokens_per_s = 1000};
    struct dfit_payoff p;
    dfit_payoff_compute(&a, &a, &W, true, &p);
    assert_int_equal(p.verdict, DFIT_PAYOFF_REFERENCE);
    assert_string_equal(dfit_payoff_verdict_name(p.verdict), "reference");
    assert_close(p.decode_theory, 1.0);
    assert_close(p.decode_measured, 1.0);

    /* a cost unknown (a run recorded before schema 2, file gone) */
    struct dfit_payoff_side b = {.cost = NULL, .file_bytes = 1000, .decode_tokens_per_s = 300,
                                 .prefill_tokens_per_s = 1000};
    dfit_payoff_compute(&a, &b, &W, false, &p);
    assert_int_equal(p.verdict, DFIT_PAYOFF_NA);
    assert_true(isnan(p.decode_theory));
    assert_close(p.decode_measured, 3.0); /* measured still shown */
    assert_non_null(strstr(p.text, "no per-token cost"));

    /* a promised phase not measured (the variant's cell failed) */
    b = (struct dfit_payoff_side){.cost = &q, .file_bytes = 1000, .decode_tokens_per_s = NAN,
                                  .prefill_tokens_per_s = NAN};
    dfit_payoff_compute(&a, &b, &W, false, &p);
    assert_int_equal(p.verdict, DFIT_PAYOFF_NA);
    assert_non_null(strstr(p.text, "decode not measured"));
    assert_true(isnan(p.decode_measured));

    /* one output token: no decode phase, so only prefill is judged */
    struct dfit_payoff_workload w1 = W;
    w1.output_tokens = 1;
    b.decode_tokens_per_s = NAN;
    b.prefill_tokens_per_s = 1000;
    dfit_payoff_compute(&a, &b, &w1, false, &p);
    assert_true(isnan(p.decode_theory));
    assert_int_equal(p.verdict, DFIT_PAYOFF_NO);
    assert_non_null(strstr(p.text, "prefill 1.0× faster"));
}

/* ---- (c) format ------------------------------------------------------------------------------ */

static void test_fmt_ratio(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(dfit_payoff_fmt_ratio(3.6, b, sizeof b), "3.6×");
    assert_string_equal(dfit_payoff_fmt_ratio(12.34, b, sizeof b), "12×");
    assert_string_equal(dfit_payoff_fmt_ratio(0.854, b, sizeof b), "0.85×");
    assert_string_equal(dfit_payoff_fmt_ratio(1.0, b, sizeof b), "1.0×");
    assert_string_equal(dfit_payoff_fmt_ratio(NAN, b, sizeof b), "n/a");
    assert_string_equal(dfit_payoff_verdict_name(DFIT_PAYOFF_NO), "does not pay");
    assert_string_equal(dfit_payoff_verdict_name(DFIT_PAYOFF_PARTLY), "partly");
    assert_string_equal(dfit_payoff_verdict_name(DFIT_PAYOFF_NA), "n/a");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_theory_f32_vs_q4_0),
        cmocka_unit_test(test_theory_ffn_pruned),
        cmocka_unit_test(test_theory_2_4),
        cmocka_unit_test(test_verdict_quantized),
        cmocka_unit_test(test_verdict_structured_and_sparse),
        cmocka_unit_test(test_verdict_reference_and_missing),
        cmocka_unit_test(test_fmt_ratio),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
