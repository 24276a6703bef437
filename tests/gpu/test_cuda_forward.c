/* test_cuda_forward — the CUDA backend's whole forward pass on dfit's `tiny`
 * synthetic model (dim 64, 2 layers, 4 query heads sharing 2 KV heads, FFN
 * 128, vocabulary 320) in every format, against the CPU reference backend.
 * Exits 77 when there is no CUDA device. Errors are relative RMS over all
 * compared logits (||cuda - cpu|| / ||cpu||), each printed.
 *   (a) decode path ("mmv,kv-f32": matrix-vector kernels, f32 cache), token
 *       by token: <= 1e-4 for every format (same activation quants as the
 *       CPU; only summation order differs);
 *   (b) cuBLAS path ("gemm,kv-f32"), one prefill batch: f32 <= 1e-4, f16
 *       <= 1e-2, bf16 <= 4e-2, Q8_0/Q4_0 <= 8e-2 (16-bit activations and
 *       f16-rounded weights against the CPU's Q8_0 activations);
 *   (c) Q8_0/Q4_0 through cuBLAS equal their f16 twins (the same weights
 *       dequantized and rounded to f16 by `compress`) through cuBLAS:
 *       <= 3e-3 (the dequantized tiles are the twin's weights exactly; the
 *       twin's embedding rows are f16-rounded, the original's are not);
 *   (d) default options (auto paths, f16 cache, CUDA graphs): prefill then
 *       decode, per-format bounds of (b) doubled;
 *   (e) prefill equals step-by-step decode ("mmv,kv-f32": <= 1e-6; the
 *       same kernels, 8 rows per launch against 1);
 *   (f) two sequences interleaved in one batch equal separate runs, with
 *       graphs on (<= 1e-6), and graphs equal eager runs (<= 1e-6);
 *   (g) seq_reset then re-run repeats the logits; memory, sync and the load
 *       report; a bad batch is rejected and leaves the caches as they were;
 *   (h) the activation observer sees the same calls (layer, name, shape) as
 *       on the CPU, with sums of squares within 1e-4.
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
#include "compress/convert.h"
#include "compress/synth.h"
#include "model/llama.h"

#define SEED 4321
#define N_CTX 64
#define N_FMT 5
#define N_PROMPT 16

static const enum dfit_type fmt_type[N_FMT] = {DFIT_TYPE_F32, DFIT_TYPE_F16, DFIT_TYPE_BF16,
                                               DFIT_TYPE_Q8_0, DFIT_TYPE_Q4_0};
static char tmpdir[64];
static char fmt_path[N_FMT][128];
static char twin_path[N_FMT][128]; /* Q8_0, Q4_0 converted to f16 */
static uint32_t n_vocab;
static const int32_t prompt[N_PROMPT] = {1, 300, 17, 42, 5, 99, 256, 3, 77, 12, 8, 150, 64, 2, 31, 9};

struct engine {
    const struct dfit_backend_ops *be;
    struct dfit_model *m;
    void *ctx;
    struct dfit_load_report rep;
};

static void engine_open(struct engine *e, const char *backend, const char *path,
                        const char *kernels, uint32_t n_seq, uint32_t n_batch_max)
{
    struct dfit_err err = {0};
    memset(e, 0, sizeof *e);
    e->be = dfit_backend_find(backend);
    assert_non_null(e->be);
    if (dfit_model_open(path, &e->m, &err))
        fail_msg("open %s: %s", path, err.msg);
    struct dfit_backend_params p = {.n_threads = 1, .n_ctx = N_CTX, .n_seq = n_seq,
                                    .n_batch_max = n_batch_max, .kernels = kernels};
    if (e->be->load(e->m, &p, &e->ctx, &e->rep, &err))
        fail_msg("load %s on %s (%s): %s", path, backend, kernels ? kernels : "default", err.msg);
}

static void engine_close(struct engine *e)
{
    e->be->unload(e->ctx);
    dfit_model_free(e->m);
}

/* Runs n tokens of sequence s from position p0 as one batch (all logits)
 * or one token at a time; logits [n][n_vocab]. */
static void run_seq(struct engine *e, int32_t s, int32_t p0, const int32_t *tok, uint32_t n,
                    bool batched, float *logits)
{
    struct dfit_err err = {0};
    int32_t pos[N_CTX], seq[N_CTX];
    for (uint32_t i = 0; i < n; i++) {
        pos[i] = p0 + (int32_t)i;
        seq[i] = s;
    }
    if (batched) {
        struct dfit_batch b = {.n_tokens = n, .token = tok, .pos = pos, .seq = seq};
        if (e->be->forward(e->ctx, &b, logits, &err))
            fail_msg("forward: %s", err.msg);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct dfit_batch b = {.n_tokens = 1, .token = tok + i, .pos = pos + i, .seq = seq + i};
        if (e->be->forward(e->ctx, &b, logits + (size_t)i * n_vocab, &err))
            fail_msg("forward: %s", err.msg);
    }
}

static double rel_err(const char *label, const float *got, const float *ref, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            printf("# %s: logit %zu is %g\n", label, i, (double)got[i]);
            return INFINITY;
        }
        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    double r = den > 0 ? sqrt(num / den) : sqrt(num);
    printf("# %-44s rel err %.3e\n", label, r);
    return r;
}

static float *logits_alloc(uint32_t n)
{
    float *l = malloc(sizeof(float) * n * n_vocab);
    assert_non_null(l);
    return l;
}

/* CPU reference logits of the prompt, token by token. */
static void cpu_reference(int f, float *ref)
{
    struct engine cpu;
    engine_open(&cpu, "cpu", fmt_path[f], NULL, 1, N_PROMPT);
    run_seq(&cpu, 0, 0, prompt, N_PROMPT, false, ref);
    engine_close(&cpu);
}

/* ---- (a), (b), (d) against the CPU ----------------------------------------------------------- */

static void compare_with_cpu(const char *kernels, bool batched, const double tol[N_FMT])
{
    float *ref = logits_alloc(N_PROMPT), *got = logits_alloc(N_PROMPT);
    for (int f = 0; f < N_FMT; f++) {
        cpu_reference(f, ref);
        struct engine e;
        engine_open(&e, "cuda", fmt_path[f], kernels, 1, N_PROMPT);
        if (batched) { /* prefill 12 tokens (cuBLAS under auto), then decode 4 */
            run_seq(&e, 0, 0, prompt, N_PROMPT - 4, true, got);
            run_seq(&e, 0, N_PROMPT - 4, prompt + N_PROMPT - 4, 4, false,
                    got + (size_t)(N_PROMPT - 4) * n_vocab);
        } else {
            run_seq(&e, 0, 0, prompt, N_PROMPT, false, got);
        }
        char label[96];
        snprintf(label, sizeof label, "%s %s vs cpu", dfit_type_info(fmt_type[f])->name,
                 kernels ? kernels : "default");
        assert_true(rel_err(label, got, ref, (size_t)N_PROMPT * n_vocab) <= tol[f]);
        engine_close(&e);
    }
    free(ref);
    free(got);
}

static void test_decode_path_matches_cpu(void **state)
{
    (void)state;
    const double tol[N_FMT] = {1e-4, 1e-4, 1e-4, 1e-4, 1e-4};
    compare_with_cpu("mmv,kv-f32", false, tol);
}

static void test_gemm_path_matches_cpu(void **state)
{
    (void)state;
    const double tol[N_FMT] = {1e-4, 1e-2, 4e-2, 8e-2, 8e-2};
    compare_with_cpu("gemm,kv-f32", true, tol);
}

static void test_default_options_match_cpu(void **state)
{
    (void)state;
    const double tol[N_FMT] = {6e-3, 2e-2, 8e-2, 1.6e-1, 1.6e-1};
    compare_with_cpu(NULL, true, tol);
}

/* ---- (c) quantized GEMM path == f16 twin ----------------------------------------------------- */

static void test_quant_gemm_equals_f16_twin(void **state)
{
    (void)state;
    float *a = logits_alloc(N_PROMPT), *b = logits_alloc(N_PROMPT);
    for (int f = 3; f < N_FMT; f++) {
        struct engine q, t;
        engine_open(&q, "cuda", fmt_path[f], "gemm,kv-f32", 1, N_PROMPT);
        engine_open(&t, "cuda", twin_path[f], "gemm,kv-f32", 1, N_PROMPT);
        run_seq(&q, 0, 0, prompt, N_PROMPT, true, a);
        run_seq(&t, 0, 0, prompt, N_PROMPT, true, b);
        char label[64];
        snprintf(label, sizeof label, "%s gemm vs its f16 twin", dfit_type_info(fmt_type[f])->name);
        assert_true(rel_err(label, a, b, (size_t)N_PROMPT * n_vocab) <= 3e-3);
        engine_close(&q);
        engine_close(&t);
    }
    free(a);
    free(b);
}

/* ---- (e) prefill == decode, (f) batches and graphs ---------------------------------------------- */

static void test_prefill_equals_decode(void **state)
{
    (void)state;
    float *a = logits_alloc(N_PROMPT), *b = logits_alloc(N_PROMPT);
    for (int f = 0; f < N_FMT; f++) {
        struct engine e;
        engine_open(&e, "cuda", fmt_path[f], "mmv,kv-f32", 1, N_PROMPT);
        run_seq(&e, 0, 0, prompt, N_PROMPT, true, a);
        e.be->seq_reset(e.ctx, 0);
        run_seq(&e, 0, 0, prompt, N_PROMPT, false, b);
        char label[64];
        snprintf(label, sizeof label, "%s prefill vs decode", dfit_type_info(fmt_type[f])->name);
        assert_true(rel_err(label, a, b, (size_t)N_PROMPT * n_vocab) <= 1e-6);
        engine_close(&e);
    }
    free(a);
    free(b);
}

static void test_batches_equal_separate_runs(void **state)
{
    (void)state;
    enum { N = 6 };
    const int32_t t0[N] = {4, 8, 15, 16, 23, 42}, t1[N] = {100, 200, 3, 1, 2, 7};
    float *sep = logits_alloc(2 * N), *bat = logits_alloc(2 * N), *eag = logits_alloc(2 * N);
    for (int f = 0; f < N_FMT; f++) {
        struct engine e, g;
        engine_open(&e, "cuda", fmt_path[f], NULL, 2, 4);          /* graphs on */
        engine_open(&g, "cuda", fmt_path[f], "no-graphs", 2, 4);
        run_seq(&e, 0, 0, t0, N, false, sep);
        run_seq(&e, 1, 0, t1, N, false, sep + (size_t)N * n_vocab);
        e.be->seq_reset(e.ctx, -1);
        struct dfit_err err = {0};
        for (int32_t i = 0; i < N; i++) { /* both sequences' token i in one batch */
            int32_t tok[2] = {t0[i], t1[i]}, pos[2] = {i, i}, seq[2] = {0, 1};
            float two[2 * 320];
            assert_true(n_vocab <= 320);
            struct dfit_batch b = {.n_tokens = 2, .token = tok, .pos = pos, .seq = seq};
            if (e.be->forward(e.ctx, &b, two, &err))
                fail_msg("forward: %s", err.msg);
            memcpy(bat + (size_t)i * n_vocab, two, sizeof(float) * n_vocab);
            memcpy(bat + (size_t)(N + i) * n_vocab, two + n_vocab, sizeof(float) * n_vocab);
            if (g.be->forward(g.ctx, &b, two, &err))
                fail_msg("forward: %s", err.msg);
            memcpy(eag + (size_t)i * n_vocab, two, sizeof(float) * n_vocab);
            memcpy(eag + (size_t)(N + i) * n_vocab, two + n_vocab, sizeof(float) * n_vocab);
        }
        char label[64];
        snprintf(label, sizeof label, "%s batched vs separate", dfit_type_info(fmt_type[f])->name);
        assert_true(rel_err(label, bat, sep, (size_t)2 * N * n_vocab) <= 1e-6);
        snprintf(label, sizeof label, "%s graphs vs eager", dfit_type_info(fmt_type[f])->name);
        assert_true(rel_err(label, bat, eag, (size_t)2 * N * n_vocab) <= 1e-6);
        engine_close(&e);
        engine_close(&g);
    }
    free(sep);
    free(bat);
    free(eag);
}

/* ---- (g) state, memory, report, bad batches ------------------------------------------------------ */

static void test_state_memory_report(void **state)
{
    (void)state;
    struct engine e;
    engine_open(&e, "cuda", fmt_path[3], NULL, 2, 16);
    printf("# load report: kernels '%s', prepare %.3f ms, weights %llu B, kv %llu B, ws %llu B\n",
           e.rep.kernels, (double)e.rep.prepare_ns / 1e6, (unsigned long long)e.rep.weight_bytes,
           (unsigned long long)e.rep.kv_bytes, (unsigned long long)e.rep.workspace_bytes);
    assert_non_null(strstr(e.rep.kernels, "cuda sm_"));
    assert_true(e.rep.prepare_ns > 0);
    assert_true(e.rep.weight_bytes > 0 && e.rep.kv_bytes > 0 && e.rep.workspace_bytes > 0);
    struct dfit_memory mem;
    assert_int_equal(e.be->memory(e.ctx, &mem), 0);
    assert_int_equal(mem.kv_bytes, e.rep.kv_bytes);
    assert_true(mem.device_total_bytes > 0 && mem.device_used_bytes > 0);
    assert_true(mem.weight_bytes >= e.m->weight_bytes); /* untied: every tensor on the device */
    assert_int_equal(e.be->sync(e.ctx), 0);

    float *a = logits_alloc(N_PROMPT), *b = logits_alloc(N_PROMPT);
    run_seq(&e, 0, 0, prompt, 8, true, a);
    /* a bad batch (position gap) is rejected and changes nothing */
    struct dfit_err err = {0};
    int32_t tok = 5, pos = 10, seq = 0;
    struct dfit_batch bad = {.n_tokens = 1, .token = &tok, .pos = &pos, .seq = &seq};
    assert_int_equal(e.be->forward(e.ctx, &bad, b, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "expected 8"));
    run_seq(&e, 0, 8, prompt + 8, 4, false, a + (size_t)8 * n_vocab);
    /* seq_reset and re-run: the same logits */
    assert_int_equal(e.be->seq_reset(e.ctx, 0), 0);
    assert_int_equal(e.be->seq_reset(e.ctx, 2), DFIT_EINVAL);
    run_seq(&e, 0, 0, prompt, 8, true, b);
    run_seq(&e, 0, 8, prompt + 8, 4, false, b + (size_t)8 * n_vocab);
    assert_true(rel_err("q8_0 re-run after seq_reset", b, a, (size_t)N_PROMPT * n_vocab) == 0.0);
    free(a);
    free(b);
    engine_close(&e);
}

/* ---- (h) the activation observer --------------------------------------------------------------- */

#define MAX_OBS 64
struct obs_log {
    int n;
    uint32_t layer[MAX_OBS], n_tok[MAX_OBS];
    int64_t n_in[MAX_OBS];
    char weight[MAX_OBS][16];
    double sum_sq[MAX_OBS];
};

static void observe(void *user, uint32_t layer, const char *weight, const float *x, uint32_t n_tok,
                    int64_t n_in)
{
    struct obs_log *o = user;
    if (o->n == MAX_OBS)
        return;
    int i = o->n++;
    o->layer[i] = layer;
    o->n_tok[i] = n_tok;
    o->n_in[i] = n_in;
    snprintf(o->weight[i], sizeof o->weight[i], "%s", weight);
    double s = 0.0;
    for (int64_t k = 0; k < (int64_t)n_tok * n_in; k++)
        s += (double)x[k] * x[k];
    o->sum_sq[i] = s;
}

static void observed_run(const char *backend, const char *kernels, struct obs_log *o, float *logits)
{
    struct dfit_err err = {0};
    struct dfit_model *m = NULL;
    if (dfit_model_open(fmt_path[0], &m, &err))
        fail_msg("open: %s", err.msg);
    const struct dfit_backend_ops *be = dfit_backend_find(backend);
    struct dfit_backend_params p = {.n_threads = 1, .n_ctx = N_CTX, .n_seq = 1, .n_batch_max = 4,
                                    .kernels = kernels, .observe = observe, .observe_user = o};
    void *ctx = NULL;
    if (be->load(m, &p, &ctx, NULL, &err))
        fail_msg("load on %s: %s", backend, err.msg);
    int32_t pos[4] = {0, 1, 2, 3}, seq[4] = {0};
    struct dfit_batch b = {.n_tokens = 4, .token = prompt, .pos = pos, .seq = seq};
    if (be->forward(ctx, &b, logits, &err))
        fail_msg("forward on %s: %s", backend, err.msg);
    be->unload(ctx);
    dfit_model_free(m);
}

static void test_observer_matches_cpu(void **state)
{
    (void)state;
    struct obs_log *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    float *la = logits_alloc(4), *lb = logits_alloc(4);
    assert_true(a && b);
    observed_run("cpu", NULL, a, la);
    observed_run("cuda", "mmv,kv-f32", b, lb);
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->n, 5 * 2 + 1); /* 5 per block (tiny has 2), then output_norm */
    for (int i = 0; i < a->n; i++) {
        assert_int_equal(a->layer[i], b->layer[i]);
        assert_string_equal(a->weight[i], b->weight[i]);
        assert_int_equal(a->n_tok[i], b->n_tok[i]);
        assert_int_equal(a->n_in[i], b->n_in[i]);
        double e = fabs(b->sum_sq[i] - a->sum_sq[i]) / (a->sum_sq[i] + 1e-30);
        printf("# observe %u %-12s sum of squares rel err %.3e\n", a->layer[i], a->weight[i], e);
        assert_true(e <= 1e-4);
    }
    assert_true(rel_err("observed run logits", lb, la, (size_t)4 * n_vocab) <= 1e-4);
    free(a);
    free(b);
    free(la);
    free(lb);
}

/* ---- setup -------------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfit-test-cuda-forward-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    struct dfit_synth_params sp = {.seed = SEED, .name = "test"};
    if (dfit_synth_preset("tiny", &sp.shape, &err))
        goto fail;
    sp.shape.tied_output = false;
    n_vocab = sp.shape.n_vocab;
    for (int f = 0; f < N_FMT; f++) {
        sp.type = fmt_type[f];
        snprintf(fmt_path[f], sizeof fmt_path[f], "%s/tiny-%s.gguf", tmpdir,
                 dfit_type_info(fmt_type[f])->name);
        if (dfit_synth_write(&sp, fmt_path[f], &err))
            goto fail;
    }
    for (int f = 3; f < N_FMT; f++) {
        struct dfit_convert_params cp = {.to = DFIT_TYPE_F16, .n_threads = 1};
        snprintf(twin_path[f], sizeof twin_path[f], "%s/twin-%d.gguf", tmpdir, f);
        if (dfit_convert_file(fmt_path[f], twin_path[f], &cp, &err))
            goto fail;
    }
    return 0;
fail:
    fprintf(stderr, "setup: %s\n", err.msg);
    return -1;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int f = 0; f < N_FMT; f++) {
        unlink(fmt_path[f]);
        if (twin_path[f][0])
            unlink(twin_path[f]);
    }
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    struct dfit_device_list dl;
    struct dfit_err err = {0};
    const struct dfit_backend_ops *cuda = dfit_backend_find("cuda");
    if (!cuda || cuda->probe(&dl, &err) != 0) {
        printf("SKIP: %s\n", cuda ? err.msg : "cuda backend not compiled in");
        return 77;
    }
    printf("# device 0: %s\n", dl.dev[0].name);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_path_matches_cpu),
        cmocka_unit_test(test_gemm_path_matches_cpu),
        cmocka_unit_test(test_default_options_match_cpu),
        cmocka_unit_test(test_quant_gemm_equals_f16_twin),
        cmocka_unit_test(test_prefill_equals_decode),
        cmocka_unit_test(test_batches_equal_separate_runs),
        cmocka_unit_test(test_state_memory_report),
        cmocka_unit_test(test_observer_matches_cpu),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
