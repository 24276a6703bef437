/* test_calib_quant — the activation observer, calibration statistics and
 * activation-aware (AWQ-style) Q4_0 quantization, on real files made by
 * dfit_synth_write in a temporary directory.
 *   (a) the CPU backend, with its reference and its fast kernels, calls the
 *       observer once per distinct matmul input, in layer order, with the
 *       right widths and every token; the attn_q rows equal the RMS-normed
 *       residual rows (1e-5); observing leaves logits unchanged (1e-5);
 *   (b) calibration statistics: row counts, sample rows equal to observed
 *       rows, per-head Gram traces equal to the channel sums of squares
 *       (relative 1e-9), cosines in [-1, 1]; text files are tokenized with
 *       the model's tokenizer and hashed; bad sources are rejected;
 *   (c) AWQ's folded scales keep the F32 function (logits within 1e-3 of
 *       the parent's) while changing the weights;
 *   (d) on a parent with outlier input channels (some norm weights scaled
 *       up, as in trained LLMs) AWQ-Q4_0 has a lower mean KL divergence to
 *       the F32 parent than plain Q4_0, and the file is plain Q4_0 + F32
 *       norms with its recipe;
 *   (e) the fidelity table of every method (mean KL, top-1 vs F32); with
 *       DFIT_FIDELITY_PRESET=15m in the environment the same on the 15m
 *       shape (slow; for docs/compression.md).
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
#include "compress/awq.h"
#include "compress/calib.h"
#include "compress/compress.h"
#include "compress/synth.h"
#include "compress/wmodel.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "run/quality.h"
#include "util/rng.h"
#include "tmpdir_fixture.h"

static char g_plain[128];    /* tiny, F32, seed 7 */
static char g_outlier[128];  /* the same with outlier input channels */

/* Scales a few channels of every RMSNorm weight (attn, ffn, output) by
 * `factor`: the matmul inputs then have outlier channels. */
static int write_outlier(const char *in, const char *out, float factor)
{
    static const int ch[] = {3, 17, 40, 51};
    struct dfit_wmodel *wm = NULL;
    if (dfit_wmodel_open(in, &wm, NULL))
        return -1;
    for (uint64_t i = 0; i < wm->n_tensors; i++) {
        struct dfit_wtensor *t = &wm->t[i];
        if (t->n_dims != 1 || !strstr(t->name, "norm"))
            continue;
        float *w = dfit_wmodel_f32(wm, t, NULL);
        for (size_t k = 0; k < sizeof ch / sizeof ch[0]; k++)
            w[ch[k] % t->ne[0]] *= factor;
    }
    int rc = dfit_wmodel_write_f32(wm, 1, out, NULL);
    dfit_wmodel_free(wm);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    if (tmpdir_make("calib"))
        return -1;
    snprintf(g_plain, sizeof g_plain, "%s/plain.gguf", g_dir);
    snprintf(g_outlier, sizeof g_outlier, "%s/outlier.gguf", g_dir);
    struct dfit_synth_params p = {.seed = 7, .type = DFIT_TYPE_F32};
    if (dfit_synth_preset("tiny", &p.shape, NULL) || dfit_synth_write(&p, g_plain, NULL))
        return -1;
    return write_outlier(g_plain, g_outlier, 12.0f);
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove();
    return 0;
}

/* ---- a model on the CPU backend ------------------------------------------- */

struct engine {
    struct dfit_model *m;
    void *ctx;
};

static const struct dfit_backend_ops *cpu(void)
{
    const struct dfit_backend_ops *ops = dfit_backend_find("cpu");
    assert_non_null(ops);
    return ops;
}

typedef void (*observe_fn)(void *, uint32_t, const char *, const float *, uint32_t, int64_t);

static void engine_open_k(struct engine *e, const char *path, uint32_t n_ctx, const char *kernels,
                          observe_fn observe, void *user)
{
    struct dfit_err err = {0};
    if (dfit_model_open(path, &e->m, &err))
        fail_msg("open %s: %s", path, err.msg);
    struct dfit_backend_params p = {.n_threads = 1, .n_ctx = n_ctx, .n_seq = 1, .n_batch_max = n_ctx,
                                    .kernels = kernels, .observe = observe, .observe_user = user};
    if (cpu()->load(e->m, &p, &e->ctx, NULL, &err))
        fail_msg("load %s: %s", path, err.msg);
}

static void engine_open(struct engine *e, const char *path, uint32_t n_ctx, observe_fn observe, void *user)
{
    engine_open_k(e, path, n_ctx, NULL, observe, user);
}

static void engine_close(struct engine *e)
{
    cpu()->unload(e->ctx);
    dfit_model_free(e->m);
}

/* Logits [n][n_vocab] of tok[0..n) from an empty cache. */
static void engine_run(struct engine *e, const int32_t *tok, uint32_t n, float *logits)
{
    int32_t *pos = malloc(n * sizeof *pos), *seq = calloc(n, sizeof *seq);
    for (uint32_t i = 0; i < n; i++)
        pos[i] = (int32_t)i;
    struct dfit_err err = {0};
    struct dfit_batch b = {n, tok, pos, seq, NULL};
    cpu()->seq_reset(e->ctx, -1);
    if (cpu()->forward(e->ctx, &b, logits, &err))
        fail_msg("forward: %s", err.msg);
    free(pos);
    free(seq);
}

static void random_tokens(int32_t *tok, uint32_t n, uint32_t n_vocab, uint64_t seed)
{
    struct dfit_rng r;
    dfit_rng_seed(&r, seed);
    for (uint32_t i = 0; i < n; i++)
        tok[i] = (int32_t)dfit_rng_below(&r, n_vocab);
}

/* ---- (a) the observer ---------------------------------------------------- */

#define MAX_CALLS 64
struct obs_log {
    int n;
    uint32_t layer[MAX_CALLS];
    char name[MAX_CALLS][16];
    int64_t n_in[MAX_CALLS];
    uint32_t n_tok[MAX_CALLS];
    float *copy[MAX_CALLS];
};

static void log_observe(void *user, uint32_t layer, const char *weight, const float *x, uint32_t n_tok,
                        int64_t n_in)
{
    struct obs_log *l = user;
    if (l->n >= MAX_CALLS)
        return;
    int i = l->n++;
    l->layer[i] = layer;
    snprintf(l->name[i], sizeof l->name[i], "%s", weight);
    l->n_in[i] = n_in;
    l->n_tok[i] = n_tok;
    l->copy[i] = malloc((size_t)n_tok * (size_t)n_in * sizeof(float));
    memcpy(l->copy[i], x, (size_t)n_tok * (size_t)n_in * sizeof(float));
}

/* The observer with one kernel choice ("ref" or the backend's best). */
static void observer_case(const char *kernels)
{
    enum { N = 12 };
    struct obs_log log = {0};
    struct engine with, without;
    engine_open_k(&with, g_plain, 32, kernels, log_observe, &log);
    engine_open_k(&without, g_plain, 32, kernels, NULL, NULL);
    const uint32_t n_vocab = with.m->hp.n_vocab;
    int32_t tok[N];
    random_tokens(tok, N, n_vocab, 5);
    float *a = malloc((size_t)N * n_vocab * sizeof *a), *b = malloc((size_t)N * n_vocab * sizeof *b);
    engine_run(&with, tok, N, a);
    engine_run(&without, tok, N, b);
    for (size_t i = 0; i < (size_t)N * n_vocab; i++)
        assert_float_equal(a[i], b[i], 1e-5 * (1 + fabsf(b[i])));

    static const char *const order[5] = {"attn_norm", "attn_q", "attn_output", "ffn_gate", "ffn_down"};
    const int64_t width[5] = {64, 64, 64, 64, 128};
    if (log.n != 2 * 5 + 1)
        fail_msg("kernels %s: %d observer calls, expected 11", kernels ? kernels : "(best)", log.n);
    for (int i = 0; i < log.n; i++) {
        assert_int_equal(log.n_tok[i], N);
        if (i == 10) {
            assert_int_equal(log.layer[i], 2);
            assert_string_equal(log.name[i], "output_norm");
            assert_int_equal(log.n_in[i], 64);
            continue;
        }
        assert_int_equal(log.layer[i], (uint32_t)(i / 5));
        assert_string_equal(log.name[i], order[i % 5]);
        assert_int_equal(log.n_in[i], width[i % 5]);
    }
    /* attn_q input = rmsnorm(residual) * attn_norm weight */
    for (int L = 0; L < 2; L++) {
        const float *x = log.copy[L * 5], *xb = log.copy[L * 5 + 1];
        const float *w = with.m->layers[L].attn_norm.data;
        for (int t = 0; t < N; t++) {
            double ss = 0;
            for (int j = 0; j < 64; j++)
                ss += (double)x[t * 64 + j] * x[t * 64 + j];
            double s = 1.0 / sqrt(ss / 64 + with.m->hp.rms_eps);
            for (int j = 0; j < 64; j++)
                assert_float_equal(xb[t * 64 + j], x[t * 64 + j] * s * w[j], 1e-5);
        }
    }
    for (int i = 0; i < log.n; i++)
        free(log.copy[i]);
    free(a);
    free(b);
    engine_close(&with);
    engine_close(&without);
}

static void test_observer(void **state)
{
    (void)state;
    observer_case("ref");
    observer_case(NULL);
}

/* ---- (b) calibration statistics ----------------------------------------------- */

static void test_calib_stats(void **state)
{
    (void)state;
    struct dfit_calib *c = NULL;
    struct dfit_err err = {0};
    struct dfit_calib_params p = {.source = "synth:11", .n_tokens = 100, .n_ctx = 32, .n_sample = 10,
                                  .head_gram = true, .n_threads = 2};
    if (dfit_calib_collect(g_plain, &p, &c, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(c->n_tokens, 100);
    assert_int_equal(c->n_ctx, 32);
    assert_string_equal(c->source, "synth:seed=11");
    assert_string_equal(c->sha256, "");
    for (uint32_t il = 0; il < 2; il++) {
        const struct dfit_calib_layer *L = &c->layers[il];
        for (int k = 0; k < DFIT_CALIB_N_INPUTS; k++) {
            const struct dfit_calib_stats *s = &L->in[k];
            assert_int_equal(s->n_rows, 100);
            assert_int_equal(s->n_sample, 10); /* rows 0, 10, ..., 90 */
            /* sums include the sample rows' values */
            for (int64_t j = 0; j < s->n_in; j++) {
                double sq = 0;
                for (uint32_t t = 0; t < s->n_sample; t++)
                    sq += (double)s->sample[t * s->n_in + j] * s->sample[t * s->n_in + j];
                assert_true(sq <= s->sum_sq[j] * (1 + 1e-9));
                assert_true(s->sum_abs[j] >= 0);
            }
        }
        /* trace of head h's Gram = sum of its channels' squares */
        const struct dfit_calib_stats *ao = &L->in[DFIT_CALIB_ATTN_OUT];
        for (uint32_t h = 0; h < c->n_head; h++) {
            double tr = 0, ss = 0;
            for (uint32_t a = 0; a < c->head_dim; a++) {
                tr += L->head_gram[((size_t)h * c->head_dim + a) * c->head_dim + a];
                ss += ao->sum_sq[h * c->head_dim + a];
            }
            assert_true(fabs(tr - ss) <= 1e-9 * ss);
        }
        assert_int_equal(L->cos_n, 100);
        assert_true(L->cos_sum <= 100 && L->cos_sum >= -100);
    }
    assert_int_equal(c->output.n_rows, 100);

    /* sample rows are observed rows: sample 0 of layer 0's attn_q input is
     * token 0's (BOS, id 1) embedding, RMS-normed, times attn_norm */
    struct dfit_model *m = NULL;
    assert_int_equal(dfit_model_open(g_plain, &m, NULL), 0);
    const float *e = (const float *)m->tok_embd.data + 64, *w = m->layers[0].attn_norm.data;
    double ss = 0;
    for (int j = 0; j < 64; j++)
        ss += (double)e[j] * e[j];
    const double scale = 1.0 / sqrt(ss / 64 + m->hp.rms_eps);
    for (int j = 0; j < 64; j++)
        assert_float_equal(c->layers[0].in[DFIT_CALIB_ATTN_IN].sample[j], e[j] * scale * w[j], 1e-5);
    dfit_model_free(m);
    dfit_calib_free(c);

    /* text: tokenized with the model's tokenizer */
    const char *text = "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.";
    FILE *f = fopen(tmp("calib.txt"), "w");
    fputs(text, f);
    fclose(f);
    struct dfit_gguf *g = NULL;
    struct dfit_tokenizer *tk = NULL;
    assert_int_equal(dfit_gguf_open(g_plain, &g, NULL), 0);
    assert_int_equal(dfit_tokenizer_from_gguf(g, &tk, NULL), 0);
    int32_t want[256], *got = NULL;
    size_t n_want = 0;
    uint32_t n_got = 0;
    char desc[160], sha[65];
    assert_int_equal(dfit_tokenizer_encode(tk, text, strlen(text), 0, want, 256, &n_want, NULL), 0);
    assert_int_equal(dfit_calib_tokens(g, tmp("calib.txt"), 40, &got, &n_got, desc, sizeof desc, sha, &err), 0);
    assert_int_equal(n_got, 40);
    assert_true(n_want > 40);
    assert_int_equal(err.code, 0); /* a text longer than needed is not an error */
    assert_string_equal(err.msg, "");
    assert_memory_equal(got, want, 40 * sizeof *got);
    assert_string_equal(desc, "file:calib.txt");
    assert_int_equal(strlen(sha), 64);
    char text_sha[65];
    memcpy(text_sha, sha, sizeof text_sha);
    free(got);
    assert_int_equal(dfit_calib_tokens(g, "synth:x1", 40, &got, &n_got, desc, sizeof desc, sha, &err), DFIT_EINVAL);
    assert_null(got);
    assert_int_equal(dfit_calib_tokens(g, "synth", 8, &got, &n_got, desc, sizeof desc, sha, &err), DFIT_EINVAL);
    assert_int_equal(dfit_calib_tokens(g, tmp("none.txt"), 40, &got, &n_got, desc, sizeof desc, sha, &err),
                     DFIT_EIO);
    dfit_tokenizer_free(tk);
    dfit_gguf_close(g);

    /* calibration from the text file runs, recording its hash */
    p.source = tmp("calib.txt");
    p.n_tokens = 64;
    if (dfit_calib_collect(g_plain, &p, &c, &err))
        fail_msg("%s", err.msg);
    assert_true(c->n_tokens >= 16 && c->n_tokens <= 64);
    assert_string_equal(c->sha256, text_sha);
    dfit_calib_free(c);
}

/* ---- fidelity --------------------------------------------------------------- */

struct fidelity {
    double kl, top1;
};

#define EVAL_CTX 64
#define EVAL_CHUNKS 4

static void log_softmax(double *out, const float *x, uint32_t n)
{
    double mx = x[0], sum = 0;
    for (uint32_t i = 1; i < n; i++)
        mx = fmax(mx, x[i]);
    for (uint32_t i = 0; i < n; i++)
        sum += exp(x[i] - mx);
    for (uint32_t i = 0; i < n; i++)
        out[i] = x[i] - mx - log(sum);
}

static uint32_t argmax(const double *x, uint32_t n)
{
    uint32_t b = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* Mean KL(ref || var) and top-1 agreement over every position of
 * n_chunks chunks of n_ctx random tokens (seed 1000 + chunk). */
static struct fidelity measure(const char *ref, const char *var, uint32_t n_ctx, uint32_t n_chunks)
{
    struct engine er, ev;
    engine_open(&er, ref, n_ctx, NULL, NULL);
    engine_open(&ev, var, n_ctx, NULL, NULL);
    const uint32_t V = er.m->hp.n_vocab;
    assert_int_equal(ev.m->hp.n_vocab, V);
    int32_t *tok = malloc(n_ctx * sizeof *tok);
    float *lr = malloc((size_t)n_ctx * V * sizeof *lr), *lv = malloc((size_t)n_ctx * V * sizeof *lv);
    double *pr = malloc(V * sizeof *pr), *pv = malloc(V * sizeof *pv);
    double kl = 0, agree = 0;
    for (uint32_t c = 0; c < n_chunks; c++) {
        random_tokens(tok, n_ctx, V, 1000 + c);
        engine_run(&er, tok, n_ctx, lr);
        engine_run(&ev, tok, n_ctx, lv);
        for (uint32_t t = 0; t < n_ctx; t++) {
            log_softmax(pr, lr + (size_t)t * V, V);
            log_softmax(pv, lv + (size_t)t * V, V);
            double k = 0;
            for (uint32_t i = 0; i < V; i++)
                k += exp(pr[i]) * (pr[i] - pv[i]);
            kl += k;
            agree += argmax(pr, V) == argmax(pv, V);
        }
    }
    free(tok);
    free(lr);
    free(lv);
    free(pr);
    free(pv);
    engine_close(&er);
    engine_close(&ev);
    return (struct fidelity){kl / (n_ctx * n_chunks), agree / (n_ctx * n_chunks)};
}

static void compress_ok(const char *in, const char *out, const char *to, const char *prune, const char *method,
                        const char *calib, struct dfit_compress_report *rep)
{
    struct dfit_compress_params p = {.n_threads = 2};
    struct dfit_err err = {0};
    if (to) {
        p.have_to = true;
        assert_int_equal(dfit_type_from_name(to, &p.to), 0);
    }
    if (prune && dfit_prune_parse(prune, &p.prune, &err))
        fail_msg("%s", err.msg);
    p.method = method && !strcmp(method, "awq") ? DFIT_QUANT_AWQ : DFIT_QUANT_PLAIN;
    p.calib = calib;
    if (dfit_compress_file(in, out, &p, rep, &err))
        fail_msg("compress %s: %s", out, err.msg);
}

/* ---- (c) folding keeps the function -------------------------------------------- */

static void test_awq_folding(void **state)
{
    (void)state;
    struct dfit_calib *cal = NULL;
    struct dfit_wmodel *wm = NULL, *par = NULL;
    struct dfit_err err = {0};
    struct dfit_calib_params cp = {.source = "synth", .n_tokens = 128, .n_sample = 64, .n_threads = 2};
    if (dfit_calib_collect(g_outlier, &cp, &cal, &err) || dfit_wmodel_open(g_outlier, &wm, &err) ||
        dfit_wmodel_open(g_outlier, &par, &err))
        fail_msg("%s", err.msg);
    struct dfit_awq_params ap = {.qtype = DFIT_TYPE_Q4_0, .n_threads = 2};
    struct dfit_awq_result res;
    if (dfit_awq_apply(wm, cal, &ap, &res, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(res.n_groups, 2 * 4 + 1);
    assert_true(res.n_scaled >= 5);
    assert_true(res.err_awq <= res.err_plain);
    print_message("# awq on the calibration sample: error %.4g -> %.4g, alphas", res.err_plain, res.err_awq);
    for (uint32_t i = 0; i < res.n_groups; i++)
        print_message(" %.2f", (double)res.alpha[i]);
    print_message("\n");
    /* the weights did change ... */
    struct dfit_wtensor *a = dfit_wmodel_find(wm, "blk.0.attn_norm.weight"),
                        *b = dfit_wmodel_find(par, "blk.0.attn_norm.weight");
    assert_memory_not_equal(dfit_wmodel_f32(wm, a, NULL), dfit_wmodel_f32(par, b, NULL), 64 * sizeof(float));
    /* ... but not what the F32 model computes */
    assert_int_equal(dfit_wmodel_write_f32(wm, 1, tmp("folded.gguf"), NULL), 0);
    struct fidelity f = measure(g_outlier, tmp("folded.gguf"), 32, 1);
    assert_true(f.kl < 1e-6);
    assert_true(f.top1 == 1.0);
    struct engine e1, e2;
    engine_open(&e1, g_outlier, 16, NULL, NULL);
    engine_open(&e2, tmp("folded.gguf"), 16, NULL, NULL);
    int32_t tok[16];
    random_tokens(tok, 16, e1.m->hp.n_vocab, 3);
    size_t n = 16 * (size_t)e1.m->hp.n_vocab;
    float *l1 = malloc(n * sizeof *l1), *l2 = malloc(n * sizeof *l2);
    engine_run(&e1, tok, 16, l1);
    engine_run(&e2, tok, 16, l2);
    for (size_t i = 0; i < n; i++)
        assert_float_equal(l1[i], l2[i], 1e-3 * (1 + fabsf(l1[i])));
    free(l1);
    free(l2);
    engine_close(&e1);
    engine_close(&e2);
    dfit_awq_result_clear(&res);
    dfit_calib_free(cal);
    dfit_wmodel_free(wm);
    dfit_wmodel_free(par);
}

/* ---- (d) AWQ beats plain rounding ------------------------------------------------- */

static void test_awq_beats_plain(void **state)
{
    (void)state;
    struct dfit_compress_report rep;
    compress_ok(g_outlier, tmp("plain_q4.gguf"), "q4_0", NULL, "plain", NULL, NULL);
    compress_ok(g_outlier, tmp("awq_q4.gguf"), "q4_0", NULL, "awq", NULL, &rep);
    struct fidelity plain = measure(g_outlier, tmp("plain_q4.gguf"), EVAL_CTX, EVAL_CHUNKS);
    struct fidelity awq = measure(g_outlier, tmp("awq_q4.gguf"), EVAL_CTX, EVAL_CHUNKS);
    print_message("# outlier parent: plain q4_0 KL %.5f top-1 %.3f; awq q4_0 KL %.5f top-1 %.3f\n", plain.kl,
                  plain.top1, awq.kl, awq.top1);
    assert_true(awq.kl < plain.kl);
    assert_true(rep.awq && rep.awq_scaled > 0);

    /* the file: plain Q4_0 matrices, F32 norms, the recipe */
    struct dfit_gguf *g = NULL;
    assert_int_equal(dfit_gguf_open(tmp("awq_q4.gguf"), &g, NULL), 0);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        assert_int_equal(g->tensors[i].type, g->tensors[i].n_dims >= 2 ? DFIT_TYPE_Q4_0 : DFIT_TYPE_F32);
    const struct dfit_gguf_str *s = NULL;
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.method", &s, NULL), 0);
    assert_string_equal(s->data, "awq");
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.quant.method", &s, NULL), 0);
    assert_string_equal(s->data, "awq");
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.calib.source", &s, NULL), 0);
    assert_string_equal(s->data, "synth:seed=1");
    const struct dfit_gguf_value *alpha = NULL;
    assert_int_equal(dfit_gguf_get_arr(g, "dfit.recipe.awq.alpha", DFIT_GGUF_FLOAT32, &alpha, NULL), 0);
    assert_int_equal(alpha->n, 9);
    uint32_t ft = 0;
    assert_int_equal(dfit_gguf_get_u32(g, "general.file_type", &ft, NULL), 0);
    assert_int_equal(ft, 2);
    dfit_gguf_close(g);

    /* prune + awq composes: the zeros survive the scaling and rounding */
    compress_ok(g_outlier, tmp("p_awq.gguf"), "q4_0", "unstructured:0.5", "awq", "synth", &rep);
    struct dfit_wmodel *wm = NULL;
    assert_int_equal(dfit_wmodel_open(tmp("p_awq.gguf"), &wm, NULL), 0);
    struct dfit_wtensor *t = dfit_wmodel_find(wm, "blk.1.attn_q.weight");
    const float *w = dfit_wmodel_f32(wm, t, NULL);
    uint64_t z = 0;
    for (uint64_t i = 0; i < t->n_elements; i++)
        z += w[i] == 0.0f;
    assert_true(z >= t->n_elements / 2);
    assert_int_equal(dfit_gguf_get_str(wm->g, "dfit.recipe.method", &s, NULL), 0);
    assert_string_equal(s->data, "prune+awq");
    dfit_wmodel_free(wm);
    assert_int_equal(access(tmp("p_awq.gguf.calib.gguf"), F_OK), -1);
}

/* ---- (e) the fidelity table ---------------------------------------------------------- */

/* Every method against the F32 parent with dfit's quality measurement
 * (run/quality.h: llama.cpp's KL statistics on the second half of each
 * chunk), printed as a Markdown table. */
static void test_fidelity_table(void **state)
{
    (void)state;
    const char *preset = getenv("DFIT_FIDELITY_PRESET");
    char parent[192];
    uint32_t n_ctx = EVAL_CTX, n_chunks = 8;
    if (preset && *preset) {
        struct dfit_synth_params sp = {.seed = 7, .type = DFIT_TYPE_F32};
        assert_int_equal(dfit_synth_preset(preset, &sp.shape, NULL), 0);
        assert_int_equal(dfit_synth_write(&sp, tmp("base.gguf"), NULL), 0);
        snprintf(parent, sizeof parent, "%s", tmp("outlier_base.gguf"));
        assert_int_equal(write_outlier(tmp("base.gguf"), parent, 12.0f), 0);
        unlink(tmp("base.gguf"));
        n_ctx = 128;
        n_chunks = 8;
    } else {
        snprintf(parent, sizeof parent, "%s", g_outlier);
        preset = "tiny";
    }
    static const struct {
        const char *to, *prune, *method, *calib;
    } rows[] = {
        {"f16", NULL, NULL, NULL},
        {"q8_0", NULL, NULL, NULL},
        {"q4_0", NULL, NULL, NULL},
        {"q4_0", NULL, "awq", NULL},
        {NULL, "unstructured:0.5", NULL, NULL},
        {NULL, "unstructured:0.5", NULL, "synth"},
        {NULL, "2:4", NULL, NULL},
        {NULL, "2:4", NULL, "synth"},
        {NULL, "heads", NULL, NULL},
        {NULL, "heads", NULL, "synth"},
        {NULL, "ffn:0.25", NULL, NULL},
        {NULL, "ffn:0.25", NULL, "synth"},
        {NULL, "layers:1", NULL, NULL},
        {NULL, "layers:1", NULL, "synth"},
        {"q4_0", "unstructured:0.5", "awq", "synth"},
    };
    enum { N_ROWS = sizeof rows / sizeof rows[0] };
    double kl[N_ROWS];
    struct dfit_gguf *g = NULL;
    struct dfit_llama_hparams hp;
    assert_int_equal(dfit_gguf_open(parent, &g, NULL), 0);
    assert_int_equal(dfit_llama_hparams_read(g, &hp, NULL), 0);
    dfit_gguf_close(g);
    const uint32_t n_tok = n_ctx * n_chunks;
    int32_t *tok = malloc(n_tok * sizeof *tok);
    random_tokens(tok, n_tok, hp.n_vocab, 1000);
    /* heads: half the KV groups on tiny (1 of 2); on 15m 2 of 6 (4 * 48
     * stays a multiple of 32 for q4_0) */
    const char *heads = hp.n_head_kv == 2 ? "heads:0.5" : "heads:0.34";
    print_message("# fidelity vs the F32 parent (%s, norm channels 3, 17, 40, 51 x12), "
                  "%u chunks of %u random tokens\n", preset, n_chunks, n_ctx);
    print_message("# | dfit compress flags | mean KL (se) | top-1 (se) |\n# | --- | ---: | ---: |\n");
    for (size_t i = 0; i < N_ROWS; i++) {
        const char *prune = rows[i].prune && !strcmp(rows[i].prune, "heads") ? heads : rows[i].prune;
        compress_ok(parent, tmp("variant.gguf"), rows[i].to, prune, rows[i].method, rows[i].calib, NULL);
        struct dfit_quality_params qp = {.n_threads = 2, .n_ctx = n_ctx};
        struct dfit_quality q;
        struct dfit_err err = {0};
        if (dfit_quality_measure(parent, tmp("variant.gguf"), &qp, tok, n_tok, &q, &err))
            fail_msg("quality of row %zu: %s", i, err.msg);
        kl[i] = q.kl_mean;
        char label[128] = "";
        size_t len = 0;
        if (prune)
            len += (size_t)snprintf(label + len, sizeof label - len, "--prune %s ", prune);
        if (rows[i].calib)
            len += (size_t)snprintf(label + len, sizeof label - len, "--calib %s ", rows[i].calib);
        if (rows[i].to)
            len += (size_t)snprintf(label + len, sizeof label - len, "--to %s ", rows[i].to);
        if (rows[i].method)
            len += (size_t)snprintf(label + len, sizeof label - len, "--method %s ", rows[i].method);
        label[len - 1] = '\0';
        print_message("# | `%s` | %.4f (%.4f) | %.3f (%.3f) |\n", label, q.kl_mean, q.kl_se, q.top1, q.top1_se);
        assert_true(q.available && isfinite(q.kl_mean) && q.kl_mean >= 0 && q.top1 >= 0 && q.top1 <= 1);
    }
    free(tok);
    assert_true(kl[0] < kl[1] && kl[1] < kl[2]); /* f16 < q8_0 < q4_0 */
    assert_true(kl[3] < kl[2]);                  /* awq < plain */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observer),
        cmocka_unit_test(test_calib_stats),
        cmocka_unit_test(test_awq_folding),
        cmocka_unit_test(test_awq_beats_plain),
        cmocka_unit_test(test_fidelity_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
