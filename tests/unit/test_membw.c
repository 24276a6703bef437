/* test_membw — the memory-bandwidth probe and the byte accounting of a
 * decoded token (run/membw.h, run/token_cost.h):
 *   (a) the probe returns a positive, finite bandwidth (median between min
 *       and max) and read every word of its buffer exactly once per
 *       repetition (the checksum is the sum of word indices), with 1 and 3
 *       threads, a size that is not a multiple of the read step, and every
 *       read loop this CPU runs;
 *   (b) bad parameters are refused with the right codes, and the defaults
 *       and the roofline arithmetic hold;
 *   (c) the bytes a decoded token reads, for the tiny synth model (dim 64,
 *       2 layers, 4 query heads sharing 2 KV heads of 16, FFN 128,
 *       vocabulary 320, untied output) in F32 and Q4_0, equal a hand
 *       computation from its tensor shapes, the sum of the file's tensor
 *       sizes less the embedding table plus one row, and the CPU backend's
 *       load-report weight_bytes plus one row; KV bytes at a context too;
 *       with a tied output, the whole table once (as the output) plus a row.
 * Buffers are small (8 MiB) so the program runs in well under a second.
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

#include "backend.h"
#include "compress/synth.h"
#include "cpu/cpu_features.h"
#include "model/gguf.h"
#include "model/llama.h"
#include "run/membw.h"
#include "run/token_cost.h"
#include "tmpdir_fixture.h"

#define PROBE_BYTES (8u << 20)


static int setup(void **state)
{
    (void)state;
    if (tmpdir_make("membw"))
        return -1;
    struct dfit_synth_params p = {.seed = 7, .type = DFIT_TYPE_F32};
    if (dfit_synth_preset("tiny", &p.shape, NULL) || dfit_synth_write(&p, tmp("f32.gguf"), NULL))
        return -1;
    p.type = DFIT_TYPE_Q4_0;
    if (dfit_synth_write(&p, tmp("q4_0.gguf"), NULL))
        return -1;
    p.type = DFIT_TYPE_F32;
    p.shape.tied_output = true;
    if (dfit_synth_write(&p, tmp("tied.gguf"), NULL))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove();
    return 0;
}

/* n(n-1)/2 mod 2^64: the sum of words 0..n-1 holding their own index. */
static uint64_t index_sum(uint64_t n)
{
    return n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2);
}

static void check_probe(uint64_t bytes, int threads, const char *simd)
{
    struct dfit_membw_params p = {.buffer_bytes = bytes, .n_threads = threads, .reps = 3,
                                  .simd = simd};
    struct dfit_membw_result r;
    struct dfit_err err = {0};
    int rc = dfit_membw_measure(&p, &r, &err);
    if (rc)
        fail_msg("probe %s x%d: %s", simd, threads, err.msg);
    assert_int_equal(r.buffer_bytes, bytes - bytes % 256);
    assert_int_equal(r.n_threads, threads);
    assert_int_equal(r.reps, 3);
    assert_true(isfinite(r.bytes_per_s) && r.bytes_per_s > 0);
    assert_true(r.min_bytes_per_s <= r.bytes_per_s && r.bytes_per_s <= r.max_bytes_per_s);
    assert_int_equal(r.checksum, index_sum(r.buffer_bytes / 8));
    assert_non_null(r.simd);
    if (simd && strcmp(simd, "auto") != 0)
        assert_string_equal(r.simd, simd);
}

/* ---- (a) the probe ------------------------------------------------------------------- */

static void test_probe_reads_every_word(void **state)
{
    (void)state;
    check_probe(PROBE_BYTES, 1, NULL);
    check_probe(PROBE_BYTES + 1000, 3, "auto"); /* slices and a rounded size */
    check_probe(PROBE_BYTES, 2, "generic");
    const struct dfit_cpu_features *f = dfit_cpu_features();
    if (f->avx2)
        check_probe(PROBE_BYTES, 2, "avx2");
    if (f->avx512f)
        check_probe(PROBE_BYTES, 2, "avx512");
}

/* ---- (b) parameters ----------------------------------------------------------------- */

static void test_probe_errors(void **state)
{
    (void)state;
    struct dfit_membw_result r;
    struct dfit_err err = {0};
    struct dfit_membw_params p = {.buffer_bytes = DFIT_MEMBW_MIN_BYTES - 1};
    assert_int_equal(dfit_membw_measure(&p, &r, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "minimum"));
    assert_true(r.bytes_per_s == 0);
    p = (struct dfit_membw_params){.buffer_bytes = PROBE_BYTES, .simd = "sse9"};
    assert_int_equal(dfit_membw_measure(&p, &r, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "sse9"));
    p = (struct dfit_membw_params){.buffer_bytes = PROBE_BYTES, .n_threads = 5000};
    assert_int_equal(dfit_membw_measure(&p, &r, &err), DFIT_EINVAL);
    p = (struct dfit_membw_params){.buffer_bytes = PROBE_BYTES, .reps = 100000};
    assert_int_equal(dfit_membw_measure(&p, &r, &err), DFIT_EINVAL);
    if (!dfit_cpu_features()->avx512f) {
        p = (struct dfit_membw_params){.buffer_bytes = PROBE_BYTES, .simd = "avx512"};
        assert_int_equal(dfit_membw_measure(&p, &r, &err), DFIT_EUNSUPPORTED);
    }
}

static void test_defaults_and_roofline(void **state)
{
    (void)state;
    uint64_t def = dfit_membw_default_bytes(), llc = dfit_membw_llc_bytes();
    assert_true(def >= DFIT_MEMBW_MIN_BYTES);
    /* max(1 GiB, 8 x LLC) unless half the free memory is less */
    assert_true(def <= (8 * llc > (1ull << 30) ? 8 * llc : 1ull << 30));
    assert_true(fabs(dfit_membw_roofline_tokens_per_s(20e9, 100e6) - 200.0) < 1e-9);
    assert_true(dfit_membw_roofline_tokens_per_s(0, 100) == 0);
    assert_true(dfit_membw_roofline_tokens_per_s(1e9, 0) == 0);
    assert_true(dfit_membw_roofline_tokens_per_s(NAN, 1) == 0);
}

/* ---- (c) bytes per decoded token ------------------------------------------------------- */

/* Bytes of n elements of type t, by hand: 4 per F32, 18 per 32 in Q4_0. */
static uint64_t by_hand(enum dfit_type t, uint64_t n)
{
    return t == DFIT_TYPE_F32 ? 4 * n : n / 32 * 18;
}

static void check_bytes(const char *file, enum dfit_type t)
{
    struct dfit_model *m = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_model_open(file, &m, &err), 0);
    struct dfit_token_cost c;
    assert_int_equal(dfit_token_cost_of_model(m, &c, &err), 0);

    /* the tiny shape: d 64, 2 layers, q 4x16, kv 2x16, ff 128, vocab 320 */
    const uint64_t d = 64, L = 2, q = 64, kv = 32, ff = 128, vocab = 320;
    const uint64_t per_layer = d * q + 2 * d * kv + q * d + 3 * d * ff; /* 36,864 */
    uint64_t want = L * (by_hand(t, per_layer) + 2 * 4 * d)             /* matrices, 2 norms */
                    + 4 * d                                             /* output_norm */
                    + by_hand(t, d * vocab)                             /* output */
                    + by_hand(t, d);                                    /* one embedding row */
    assert_int_equal(c.bytes_per_token, want);
    if (t == DFIT_TYPE_F32)
        assert_int_equal(want, 378368);

    /* the same from the file's own tensor sizes */
    uint64_t from_file = 0;
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        const struct dfit_gguf_tensor *g = &m->gguf->tensors[i];
        if (strcmp(g->name.data, "token_embd.weight") == 0)
            from_file += g->n_bytes / (uint64_t)g->ne[1]; /* one row of it */
        else
            from_file += g->n_bytes;
    }
    assert_int_equal(c.bytes_per_token, from_file);

    /* and from the CPU backend's load report */
    const struct dfit_backend_ops *be = dfit_backend_find("cpu");
    assert_non_null(be);
    struct dfit_backend_params bp = {.n_threads = 1, .n_ctx = 16, .n_seq = 1, .n_batch_max = 4};
    struct dfit_load_report rep;
    void *ctx = NULL;
    assert_int_equal(be->load(m, &bp, &ctx, &rep, &err), 0);
    assert_int_equal(rep.weight_bytes + m->tok_embd.row_bytes, c.bytes_per_token);
    be->unload(ctx);

    /* KV: 2 (K, V) x 2 layers x 2 KV heads x 16 = 128 values per position;
     * tg8 attends 1..8 positions, 4.5 on average, F32 */
    assert_int_equal(c.kv_values_per_pos, 128);
    double ctx_mean = dfit_token_cost_mean_ctx(0, 8);
    assert_true(fabs(ctx_mean - 4.5) < 1e-12);
    double bytes = dfit_token_cost_decode_bytes(&c, ctx_mean, 1, DFIT_TOKEN_COST_KV_F32);
    assert_true(fabs(bytes - ((double)want + 128.0 * 4.0 * 4.5)) < 1e-6);
    /* a batch of 4 shares the weights, not the KV rows */
    bytes = dfit_token_cost_decode_bytes(&c, ctx_mean, 4, DFIT_TOKEN_COST_KV_F32);
    assert_true(fabs(bytes - ((double)want / 4.0 + 128.0 * 4.0 * 4.5)) < 1e-6);

    assert_string_equal(c.weight_type, t == DFIT_TYPE_F32 ? "f32" : "q4_0");
    assert_string_equal(c.prune_pattern, "");
    assert_true(isnan(c.prune_sparsity));
    dfit_model_free(m);
}

static void test_token_bytes_f32(void **state)
{
    (void)state;
    check_bytes(tmp("f32.gguf"), DFIT_TYPE_F32);
}

static void test_token_bytes_q4_0(void **state)
{
    (void)state;
    check_bytes(tmp("q4_0.gguf"), DFIT_TYPE_Q4_0);
}

/* A tied output reads the whole embedding table as the output matrix, and
 * one row of it for the token's embedding. */
static void test_token_bytes_tied(void **state)
{
    (void)state;
    struct dfit_model *m = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_model_open(tmp("tied.gguf"), &m, &err), 0);
    assert_true(m->output_tied);
    struct dfit_token_cost c;
    assert_int_equal(dfit_token_cost_of_model(m, &c, &err), 0);
    const uint64_t d = 64, per_layer = 36864, vocab = 320;
    assert_int_equal(c.bytes_per_token, 2 * (per_layer + 2 * d) * 4 + 4 * d + d * vocab * 4 + 4 * d);
    assert_int_equal(c.bytes_per_token, m->weight_bytes + m->tok_embd.row_bytes);
    assert_int_equal(c.output_flops, 2 * d * vocab);
    const struct dfit_backend_ops *be = dfit_backend_find("cpu");
    struct dfit_backend_params bp = {.n_threads = 1, .n_ctx = 16, .n_seq = 1, .n_batch_max = 4};
    struct dfit_load_report rep;
    void *ctx = NULL;
    assert_int_equal(be->load(m, &bp, &ctx, &rep, &err), 0);
    assert_int_equal(rep.weight_bytes + m->tok_embd.row_bytes, c.bytes_per_token);
    be->unload(ctx);
    dfit_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_reads_every_word),
        cmocka_unit_test(test_probe_errors),
        cmocka_unit_test(test_defaults_and_roofline),
        cmocka_unit_test(test_token_bytes_f32),
        cmocka_unit_test(test_token_bytes_q4_0),
        cmocka_unit_test(test_token_bytes_tied),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
