/* test_forward — the CPU reference backend's forward pass (kernels "ref";
 * the fast kernel sets are tested against it in test_kernels).
 *
 * Models are dfit's `tiny` synthetic shape (dim 64, 2 layers, 4 query heads
 * sharing 2 KV heads, FFN 128, vocabulary 320) written by dfit_synth_write
 * with one seed in F32, F16, BF16, Q8_0 and Q4_0 — the same weights, each
 * quantized from the F32 ones by the reference quantizers. Checks:
 *   (a) each format's logits agree with F32 within per-format tolerances,
 *       and Q8_0/Q4_0 closely match an F32 model of their dequantized
 *       weights;
 *   (b) a batched prefill equals the same prompt token by token;
 *   (c) two sequences interleaved in one batch equal two separate runs;
 *   (d) 1 thread equals 2 threads bit for bit;
 *   (e) seq_reset then re-run gives the same logits, other sequences intact;
 *   (f) the forward pass of a 1-layer F32 model equals an independent naive
 *       double-precision implementation written here;
 *   (g) bad batches and load parameters are rejected with messages.
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
#include "model/llama.h"
#include "util/rng.h"

#define SEED 1234
#define N_CTX 64
#define N_FMT 5

static const enum dfit_type fmt_type[N_FMT] = {DFIT_TYPE_F32, DFIT_TYPE_F16, DFIT_TYPE_BF16,
                                               DFIT_TYPE_Q8_0, DFIT_TYPE_Q4_0};
static char tmpdir[64];
static char fmt_path[N_FMT][128];
static char l1_path[128]; /* 1-layer F32 model with a tied output */
static uint32_t n_vocab;

static const struct dfit_backend_ops *cpu(void)
{
    const struct dfit_backend_ops *ops = dfit_backend_find("cpu");
    assert_non_null(ops);
    return ops;
}

/* ---- an engine: model + loaded backend -------------------------------- */

struct engine {
    struct dfit_model *m;
    void *ctx;
    struct dfit_load_report rep;
};

static void engine_open(struct engine *e, const char *path, int n_threads, uint32_t n_seq,
                        uint32_t n_batch_max)
{
    struct dfit_err err = {0};
    memset(e, 0, sizeof *e);
    if (dfit_model_open(path, &e->m, &err))
        fail_msg("open %s: %s", path, err.msg);
    struct dfit_backend_params p = {.n_threads = n_threads, .n_ctx = N_CTX, .n_seq = n_seq,
                                    .n_batch_max = n_batch_max, .kernels = "ref"};
    if (cpu()->load(e->m, &p, &e->ctx, &e->rep, &err))
        fail_msg("load %s: %s", path, err.msg);
}

static void engine_close(struct engine *e)
{
    cpu()->unload(e->ctx);
    dfit_model_free(e->m);
    memset(e, 0, sizeof *e);
}

/* Runs tokens tok[0..n) of sequence seq from position pos0, `chunk` tokens
 * per forward call, every token's logits wanted: logits [n][n_vocab]. */
static void run_seq(struct engine *e, int32_t seq, const int32_t *tok, int n, int32_t pos0,
                    int chunk, float *logits)
{
    int32_t pos[N_CTX], sq[N_CTX];
    struct dfit_err err = {0};
    assert_true(n <= N_CTX);
    for (int i = 0; i < n; i++) {
        pos[i] = pos0 + i;
        sq[i] = seq;
    }
    for (int i = 0; i < n; i += chunk) {
        int k = n - i < chunk ? n - i : chunk;
        struct dfit_batch b = {(uint32_t)k, tok + i, pos + i, sq + i, NULL};
        if (cpu()->forward(e->ctx, &b, logits + (size_t)i * n_vocab, &err))
            fail_msg("forward: %s", err.msg);
    }
}

static void random_tokens(int32_t *tok, int n, uint64_t seed)
{
    struct dfit_rng r;
    dfit_rng_seed(&r, seed);
    for (int i = 0; i < n; i++)
        tok[i] = (int32_t)dfit_rng_below(&r, n_vocab);
}

static float *alloc_logits(int n_rows)
{
    float *p = calloc((size_t)n_rows * n_vocab, sizeof *p);
    assert_non_null(p);
    return p;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static int argmax(const float *x, uint32_t n)
{
    int best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = (int)i;
    return best;
}

/* ---- (a) formats against F32 ------------------------------------------ */

#define A_STREAMS 3
#define A_LEN 60

/* Tolerances. Per weight, the formats' relative RMS rounding error is
 * about: F16 2.8e-4 (11-bit significand), BF16 2.3e-3 (8 bits), Q8_0 0.5%
 * (step max|w|/127 over a block of 32), Q4_0 8.6% (step max|w|/8); the
 * Q8_0/Q4_0 products add the activations' Q8_0 rounding (0.5%). Through
 * this 2-layer random model (chains of up to 5 products, SwiGLU and softmax)
 * the logits' relative RMS error comes out 3-6x the per-weight one:
 * measured 9.0e-4 (F16), 7.1e-3 (BF16), 3.2e-2 (Q8_0), 0.37 (Q4_0). The
 * bounds keep about 2x margin over those. Top-1 agreement over 180 rows
 * (standard error ~0.04 near 0.5) is measured 1.0, 1.0, 0.97 and 0.56; the
 * bounds sit several standard errors below. The Q4_0 bounds are loose by
 * nature, so test_quantized_matches_dequantized_twin checks the quantized
 * paths tightly. */
static const double tol_rel_rms[N_FMT] = {0.0, 2e-3, 1.5e-2, 6e-2, 0.6};
static const double tol_top1[N_FMT] = {1.0, 0.97, 0.95, 0.9, 0.4};

static void test_formats_agree_with_f32(void **state)
{
    (void)state;
    const int n_rows = A_STREAMS * A_LEN;
    float *logits[N_FMT];
    double rel[N_FMT] = {0}, top1[N_FMT] = {0};
    int32_t tok[A_STREAMS][A_LEN];
    for (int s = 0; s < A_STREAMS; s++)
        random_tokens(tok[s], A_LEN, 100 + (uint64_t)s);
    for (int f = 0; f < N_FMT; f++) {
        struct engine e;
        engine_open(&e, fmt_path[f], 2, A_STREAMS, 16);
        logits[f] = alloc_logits(n_rows);
        for (int s = 0; s < A_STREAMS; s++)
            run_seq(&e, s, tok[s], A_LEN, 0, 16, logits[f] + (size_t)s * A_LEN * n_vocab);
        engine_close(&e);
    }
    const size_t n = (size_t)n_rows * n_vocab;
    double ref_ss = 0;
    for (size_t i = 0; i < n; i++)
        ref_ss += (double)logits[0][i] * logits[0][i];
    double ref_rms = sqrt(ref_ss / (double)n);
    print_message("# f32 logits RMS %.4f\n", ref_rms);
    assert_true(ref_rms > 0.1 && ref_rms < 10.0); /* O(1) logits, as synth promises */
    for (int f = 1; f < N_FMT; f++) {
        double ss = 0;
        for (size_t i = 0; i < n; i++) {
            double dlt = (double)logits[f][i] - logits[0][i];
            ss += dlt * dlt;
        }
        rel[f] = sqrt(ss / ref_ss);
        int agree = 0;
        for (int r = 0; r < n_rows; r++)
            agree += argmax(logits[f] + (size_t)r * n_vocab, n_vocab) ==
                     argmax(logits[0] + (size_t)r * n_vocab, n_vocab);
        top1[f] = (double)agree / n_rows;
        print_message("# %s: relative RMS error %.3g (bound %.3g), top-1 agreement %.3f "
                      "(bound %.2f)\n",
                      dfit_type_info(fmt_type[f])->name, rel[f], tol_rel_rms[f], top1[f],
                      tol_top1[f]);
    }
    for (int f = 1; f < N_FMT; f++) {
        assert_true(rel[f] > 0.0); /* the formats really differ */
        assert_true(rel[f] <= tol_rel_rms[f]);
        assert_true(top1[f] >= tol_top1[f]);
    }
    /* coarser formats err more (F16 < BF16, Q8_0 < Q4_0), or the per-format
     * bounds would be checking nothing */
    assert_true(rel[1] < rel[2]);
    assert_true(rel[3] < rel[4]);
    for (int f = 0; f < N_FMT; f++)
        free(logits[f]);
}

/* Writes an F32 copy of the model at src whose every tensor is the
 * dequantized tensor of src: the same weights the quantized model holds. */
static void write_dequantized_twin(const char *src, const char *dst)
{
    struct dfit_err err = {0};
    struct dfit_gguf *g = NULL;
    struct dfit_gguf_writer *w = NULL;
    if (dfit_gguf_open(src, &g, &err) || dfit_gguf_writer_create(&w, &err) ||
        dfit_gguf_writer_copy_kv(w, g, &err))
        fail_msg("twin of %s: %s", src, err.msg);
    float **bufs = calloc(g->n_tensors, sizeof *bufs);
    assert_non_null(bufs);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct dfit_gguf_tensor *t = &g->tensors[i];
        size_t row_bytes;
        assert_true(dfit_type_row_bytes(t->type, t->ne[0], &row_bytes));
        bufs[i] = malloc(t->n_elements * sizeof(float));
        assert_non_null(bufs[i]);
        for (uint64_t r = 0; r < t->n_elements / (uint64_t)t->ne[0]; r++)
            dfit_row_to_f32(t->type, (const uint8_t *)t->data + r * row_bytes,
                            bufs[i] + r * (uint64_t)t->ne[0], t->ne[0]);
        if (dfit_gguf_writer_add_tensor(w, t->name.data, DFIT_TYPE_F32, t->n_dims, t->ne,
                                        bufs[i], NULL, NULL, &err))
            fail_msg("twin of %s: %s", src, err.msg);
    }
    if (dfit_gguf_writer_write(w, dst, &err))
        fail_msg("twin of %s: %s", src, err.msg);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        free(bufs[i]);
    free(bufs);
    dfit_gguf_writer_free(w);
    dfit_gguf_close(g);
}

/* A Q8_0/Q4_0 model against an F32 model holding exactly its dequantized
 * weights: the only difference left is the Q8_0 rounding of the
 * activations (0.5% per element, amplified 3-6x as above: ~2-3% of the
 * logits), so a wrong block layout, scale or nibble order — which would
 * give errors like Q4_0's 37% or worse — cannot hide behind the loose
 * bounds of test_formats_agree_with_f32. The bound is 6%. */
static void test_quantized_matches_dequantized_twin(void **state)
{
    (void)state;
    enum { N = 48 };
    int32_t tok[N];
    random_tokens(tok, N, 9);
    for (int f = 3; f < N_FMT; f++) {
        char twin[160];
        snprintf(twin, sizeof twin, "%s/twin-%s.gguf", tmpdir, dfit_type_info(fmt_type[f])->name);
        write_dequantized_twin(fmt_path[f], twin);
        float *lq = alloc_logits(N), *lt = alloc_logits(N);
        struct engine e;
        engine_open(&e, fmt_path[f], 2, 1, 16);
        run_seq(&e, 0, tok, N, 0, 16, lq);
        engine_close(&e);
        engine_open(&e, twin, 2, 1, 16);
        assert_int_equal(e.m->layers[0].wq.type, DFIT_TYPE_F32);
        run_seq(&e, 0, tok, N, 0, 16, lt);
        engine_close(&e);
        double ss = 0, st = 0;
        for (size_t i = 0; i < (size_t)N * n_vocab; i++) {
            ss += ((double)lq[i] - lt[i]) * ((double)lq[i] - lt[i]);
            st += (double)lt[i] * lt[i];
        }
        double rel = sqrt(ss / st);
        print_message("# %s vs its dequantized F32 twin: relative RMS error %.3g (bound 0.06)\n",
                      dfit_type_info(fmt_type[f])->name, rel);
        assert_true(rel > 0.0 && rel <= 0.06);
        unlink(twin);
        free(lq);
        free(lt);
    }
}

/* ---- (b) batched prefill equals token by token ------------------------- */

/* The reference computes each output with the same operations whatever the
 * batch (per-row activation quantization, per-(row, token) dot products,
 * per-(token, head) attention over the same cache), so the two runs agree
 * to rounding at most; 1e-5 absolute on O(1) logits is far below any real
 * error (a wrong position or cache row moves logits by ~0.1). */
#define B_TOL 1e-5

static void check_batched_vs_sequential(int f)
{
    enum { N = 24 };
    int32_t tok[N];
    random_tokens(tok, N, 7);
    float *a = alloc_logits(N), *b = alloc_logits(N), *last = alloc_logits(1);
    struct engine e;
    engine_open(&e, fmt_path[f], 1, 1, N);
    run_seq(&e, 0, tok, N, 0, N, a);
    assert_int_equal(cpu()->seq_reset(e.ctx, 0), 0);
    run_seq(&e, 0, tok, N, 0, 1, b);
    double d = max_abs_diff(a, b, (size_t)N * n_vocab);
    print_message("# %s: batched vs sequential max |diff| %.3g\n",
                  dfit_type_info(fmt_type[f])->name, d);
    assert_true(d <= B_TOL);

    /* only the last token wanted: one row, equal to the last row above */
    assert_int_equal(cpu()->seq_reset(e.ctx, 0), 0);
    int32_t pos[N], seq[N];
    int8_t want[N];
    for (int i = 0; i < N; i++) {
        pos[i] = i;
        seq[i] = 0;
        want[i] = i == N - 1;
    }
    struct dfit_batch bt = {N, tok, pos, seq, want};
    struct dfit_err err = {0};
    assert_int_equal(cpu()->forward(e.ctx, &bt, last, &err), 0);
    assert_true(max_abs_diff(last, a + (size_t)(N - 1) * n_vocab, n_vocab) <= B_TOL);
    engine_close(&e);
    free(a);
    free(b);
    free(last);
}

static void test_batched_equals_sequential(void **state)
{
    (void)state;
    check_batched_vs_sequential(0); /* F32 */
    check_batched_vs_sequential(4); /* Q4_0: quantized activations too */
}

/* ---- (c) interleaved sequences ------------------------------------------ */

static void test_two_sequences_interleaved(void **state)
{
    (void)state;
    enum { NA = 10, NB = 7 };
    int32_t ta[NA + 1], tb[NB + 1];
    random_tokens(ta, NA + 1, 21);
    random_tokens(tb, NB + 1, 22);
    for (int f = 0; f < N_FMT; f += 3) { /* F32 and Q8_0 */
        /* separate runs: prefill, then one decode step */
        float *sa = alloc_logits(NA + 1), *sb = alloc_logits(NB + 1);
        struct engine e;
        engine_open(&e, fmt_path[f], 2, 1, 16);
        run_seq(&e, 0, ta, NA, 0, NA, sa);
        run_seq(&e, 0, ta + NA, 1, NA, 1, sa + (size_t)NA * n_vocab);
        assert_int_equal(cpu()->seq_reset(e.ctx, -1), 0);
        run_seq(&e, 0, tb, NB, 0, NB, sb);
        run_seq(&e, 0, tb + NB, 1, NB, 1, sb + (size_t)NB * n_vocab);
        engine_close(&e);

        /* one batch with A (sequence 1) and B (sequence 0) interleaved */
        int32_t tok[NA + NB], pos[NA + NB], seq[NA + NB];
        int row_of[NA + NB]; /* row in sa (>= 0) or in sb (-1 - row) */
        int n = 0;
        for (int i = 0; i < NA || i < NB; i++) {
            if (i < NA) {
                tok[n] = ta[i], pos[n] = i, seq[n] = 1, row_of[n] = i;
                n++;
            }
            if (i < NB) {
                tok[n] = tb[i], pos[n] = i, seq[n] = 0, row_of[n] = -1 - i;
                n++;
            }
        }
        float *lg = alloc_logits(NA + NB);
        struct dfit_err err = {0};
        engine_open(&e, fmt_path[f], 2, 2, 32);
        struct dfit_batch b = {(uint32_t)n, tok, pos, seq, NULL};
        if (cpu()->forward(e.ctx, &b, lg, &err))
            fail_msg("forward: %s", err.msg);
        for (int r = 0; r < n; r++) {
            const float *want = row_of[r] >= 0 ? sa + (size_t)row_of[r] * n_vocab
                                               : sb + (size_t)(-1 - row_of[r]) * n_vocab;
            assert_true(max_abs_diff(lg + (size_t)r * n_vocab, want, n_vocab) <= B_TOL);
        }
        /* both sequences decode one token in one batch */
        int32_t dt[2] = {tb[NB], ta[NA]}, dp[2] = {NB, NA}, ds[2] = {0, 1};
        struct dfit_batch d = {2, dt, dp, ds, NULL};
        if (cpu()->forward(e.ctx, &d, lg, &err))
            fail_msg("forward: %s", err.msg);
        assert_true(max_abs_diff(lg, sb + (size_t)NB * n_vocab, n_vocab) <= B_TOL);
        assert_true(max_abs_diff(lg + n_vocab, sa + (size_t)NA * n_vocab, n_vocab) <= B_TOL);
        engine_close(&e);
        free(lg);
        free(sa);
        free(sb);
    }
}

/* ---- (d) thread count --------------------------------------------------- */

static void run_workload(const char *path, int n_threads, float *out /* [2*(20+3)] rows */)
{
    enum { NP = 20, ND = 3 };
    int32_t t0[NP + ND], t1[NP + ND];
    random_tokens(t0, NP + ND, 31);
    random_tokens(t1, NP + ND, 32);
    struct engine e;
    engine_open(&e, path, n_threads, 2, 32);
    run_seq(&e, 0, t0, NP, 0, NP, out);
    run_seq(&e, 1, t1, NP, 0, 7, out + (size_t)NP * n_vocab);
    float *o = out + (size_t)2 * NP * n_vocab;
    for (int s = 0; s < ND; s++) {
        int32_t tok[2] = {t0[NP + s], t1[NP + s]}, pos[2] = {NP + s, NP + s}, seq[2] = {0, 1};
        struct dfit_batch b = {2, tok, pos, seq, NULL};
        struct dfit_err err = {0};
        if (cpu()->forward(e.ctx, &b, o + (size_t)2 * s * n_vocab, &err))
            fail_msg("forward: %s", err.msg);
    }
    engine_close(&e);
}

static void test_threads_bitwise(void **state)
{
    (void)state;
    const int rows = 2 * (20 + 3);
    for (int f = 0; f < N_FMT; f++) {
        float *a = alloc_logits(rows), *b = alloc_logits(rows), *c = alloc_logits(rows);
        run_workload(fmt_path[f], 1, a);
        run_workload(fmt_path[f], 2, b);
        run_workload(fmt_path[f], 3, c);
        assert_memory_equal(a, b, (size_t)rows * n_vocab * sizeof(float));
        assert_memory_equal(a, c, (size_t)rows * n_vocab * sizeof(float));
        free(a);
        free(b);
        free(c);
    }
}

/* ---- (e) seq_reset ------------------------------------------------------ */

static void test_seq_reset_rerun(void **state)
{
    (void)state;
    enum { N = 16 };
    int32_t t0[N + 1], t1[N + 1];
    random_tokens(t0, N + 1, 41);
    random_tokens(t1, N + 1, 42);
    float *a = alloc_logits(N), *b = alloc_logits(N), *c1 = alloc_logits(N + 1),
          *c2 = alloc_logits(1);
    struct engine e;
    engine_open(&e, fmt_path[3], 2, 2, N);
    run_seq(&e, 1, t1, N, 0, 5, c1); /* sequence 1, left running */
    run_seq(&e, 0, t0, N, 0, N, a);
    assert_int_equal(cpu()->seq_reset(e.ctx, 0), 0);
    run_seq(&e, 0, t0, N, 0, 3, b);
    assert_memory_equal(a, b, (size_t)N * n_vocab * sizeof(float));
    /* sequence 1 was not touched by sequence 0's reset */
    run_seq(&e, 1, t1 + N, 1, N, 1, c2);
    engine_close(&e);

    engine_open(&e, fmt_path[3], 2, 2, N);
    run_seq(&e, 1, t1, N + 1, 0, N, c1);
    assert_memory_equal(c1 + (size_t)N * n_vocab, c2, n_vocab * sizeof(float));
    /* reset of all sequences; a bad sequence id is refused */
    assert_int_equal(cpu()->seq_reset(e.ctx, -1), 0);
    assert_int_equal(cpu()->seq_reset(e.ctx, 2), DFIT_EINVAL);
    run_seq(&e, 0, t0, N, 0, N, b);
    assert_memory_equal(a, b, (size_t)N * n_vocab * sizeof(float));
    engine_close(&e);
    free(a);
    free(b);
    free(c1);
    free(c2);
}

/* ---- (f) naive double-precision reference ----------------------------- */

static const float *tensor_f32(const struct dfit_gguf *g, const char *name)
{
    const struct dfit_gguf_tensor *t = dfit_gguf_find_tensor(g, name);
    assert_non_null(t);
    assert_int_equal(t->type, DFIT_TYPE_F32);
    return t->data;
}

/* y[o] = sum_i W[o][i] x[i], W stored as n_out rows of n_in. */
static void naive_matvec(double *y, const float *w, const double *x, int n_in, int n_out)
{
    for (int o = 0; o < n_out; o++) {
        double s = 0;
        for (int i = 0; i < n_in; i++)
            s += (double)w[(size_t)o * n_in + i] * x[i];
        y[o] = s;
    }
}

static void naive_rmsnorm(double *y, const double *x, const float *w, int n, double eps)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    double r = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        y[i] = x[i] * r * w[i];
}

/* The naive model, or one with a classic mistake, to prove that the
 * comparison notices such mistakes. */
enum naive_variant {
    NAIVE_EXACT,
    NAIVE_NEOX_ROPE,  /* rotates pairs (i, i + hd/2) instead of (2i, 2i+1) */
    NAIVE_KV_MODULO,  /* query head h reads KV head h % n_head_kv */
};

/* Rotates each head's pairs (2i, 2i+1) by pos * base^(-2i/hd), written as
 * the complex product (re + i im) * e^{i theta}. */
static void naive_rope(double *v, int n_heads, int hd, int pos, double base,
                       enum naive_variant variant)
{
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < hd / 2; i++) {
            double theta = pos / pow(base, (2.0 * i) / hd);
            int a = h * hd + 2 * i, b = a + 1;
            if (variant == NAIVE_NEOX_ROPE)
                a = h * hd + i, b = a + hd / 2;
            double re = v[a], im = v[b];
            v[a] = re * cos(theta) - im * sin(theta);
            v[b] = re * sin(theta) + im * cos(theta);
        }
}

/* The whole model for T tokens at positions 0..T-1, logits [T][n_vocab]. */
static void naive_forward(const struct dfit_model *m, const int32_t *tok, int T,
                          enum naive_variant variant, double *logits)
{
    const struct dfit_gguf *g = m->gguf;
    const struct dfit_llama_hparams *hp = &m->hp;
    const int D = (int)hp->n_embd, H = (int)hp->n_head, HKV = (int)hp->n_head_kv;
    const int hd = D / H, F = (int)hp->n_ff, V = (int)hp->n_vocab, KVD = HKV * hd;
    double *x = calloc((size_t)T * D, sizeof *x), *xn = calloc((size_t)D, sizeof *xn);
    double *Q = calloc((size_t)T * D, sizeof *Q), *K = calloc((size_t)T * KVD, sizeof *K);
    double *Vv = calloc((size_t)T * KVD, sizeof *Vv), *att = calloc((size_t)D, sizeof *att);
    double *o = calloc((size_t)D, sizeof *o), *gt = calloc((size_t)F, sizeof *gt);
    double *up = calloc((size_t)F, sizeof *up), *p = calloc((size_t)T, sizeof *p);
    assert_true(x && xn && Q && K && Vv && att && o && gt && up && p);

    const float *emb = tensor_f32(g, "token_embd.weight");
    for (int t = 0; t < T; t++)
        for (int i = 0; i < D; i++)
            x[t * D + i] = emb[(size_t)tok[t] * D + i];

    for (uint32_t l = 0; l < hp->n_layer; l++) {
        char nm[64];
#define W(suffix) (snprintf(nm, sizeof nm, "blk.%u." suffix ".weight", l), tensor_f32(g, nm))
        const float *an = W("attn_norm"), *wq = W("attn_q"), *wk = W("attn_k"),
                    *wv = W("attn_v"), *wo = W("attn_output"), *fn = W("ffn_norm"),
                    *wg = W("ffn_gate"), *wu = W("ffn_up"), *wd = W("ffn_down");
#undef W
        for (int t = 0; t < T; t++) {
            naive_rmsnorm(xn, x + t * D, an, D, hp->rms_eps);
            naive_matvec(Q + t * D, wq, xn, D, D);
            naive_matvec(K + t * KVD, wk, xn, D, KVD);
            naive_matvec(Vv + t * KVD, wv, xn, D, KVD);
            naive_rope(Q + t * D, H, hd, t, hp->rope_freq_base, variant);
            naive_rope(K + t * KVD, HKV, hd, t, hp->rope_freq_base, variant);
        }
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < H; h++) {
                int kvh = h * HKV / H; /* KV head h / (H/HKV) */
                if (variant == NAIVE_KV_MODULO)
                    kvh = h % HKV;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    double s = 0;
                    for (int i = 0; i < hd; i++)
                        s += Q[t * D + h * hd + i] * K[j * KVD + kvh * hd + i];
                    p[j] = s / sqrt((double)hd);
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j <= t; j++)
                    sum += p[j] = exp(p[j] - mx);
                for (int i = 0; i < hd; i++) {
                    double acc = 0;
                    for (int j = 0; j <= t; j++)
                        acc += p[j] / sum * Vv[j * KVD + kvh * hd + i];
                    att[h * hd + i] = acc;
                }
            }
            naive_matvec(o, wo, att, D, D);
            for (int i = 0; i < D; i++)
                x[t * D + i] += o[i];
            naive_rmsnorm(xn, x + t * D, fn, D, hp->rms_eps);
            naive_matvec(gt, wg, xn, D, F);
            naive_matvec(up, wu, xn, D, F);
            for (int i = 0; i < F; i++)
                gt[i] = gt[i] / (1.0 + exp(-gt[i])) * up[i];
            naive_matvec(o, wd, gt, F, D);
            for (int i = 0; i < D; i++)
                x[t * D + i] += o[i];
        }
    }
    const float *on = tensor_f32(g, "output_norm.weight");
    const float *out = dfit_gguf_find_tensor(g, "output.weight") ? tensor_f32(g, "output.weight")
                                                                 : emb;
    for (int t = 0; t < T; t++) {
        naive_rmsnorm(xn, x + t * D, on, D, hp->rms_eps);
        naive_matvec(logits + (size_t)t * V, out, xn, D, V);
    }
    free(x), free(xn), free(Q), free(K), free(Vv), free(att), free(o), free(gt), free(up),
        free(p);
}

/* Tolerance: the backend works in F32 (24-bit significands, ~6e-8 relative
 * rounding) with dot products accumulated in double; over one layer of
 * length-64/128 products the logits carry errors of order 1e-6. We allow
 * 1e-4 absolute on O(1) logits, while a real mistake moves them by ~1e-2
 * or more — checked below against the naive model with the two classic
 * mistakes (NeoX RoPE pairing, wrong KV head for a query head). */
#define F_TOL 1e-4

static void test_matches_naive_reference(void **state)
{
    (void)state;
    enum { T = 24 };
    int32_t tok[T];
    random_tokens(tok, T, 51);
    struct engine e;
    engine_open(&e, l1_path, 2, 1, 8);
    assert_int_equal(e.m->hp.n_layer, 1);
    assert_true(e.m->output_tied);
    float *lg = alloc_logits(T);
    run_seq(&e, 0, tok, T, 0, 8, lg);
    const size_t n = (size_t)T * n_vocab;
    double *ref = calloc(n, sizeof *ref), *bad = calloc(n, sizeof *bad);
    assert_true(ref && bad);
    naive_forward(e.m, tok, T, NAIVE_EXACT, ref);
    double d = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs(lg[i] - ref[i]));
        mag = fmax(mag, fabs(ref[i]));
    }
    print_message("# naive: max |logit| %.3f, max |diff| %.3g (bound %.0e)\n", mag, d, F_TOL);
    assert_true(mag > 0.5);
    assert_true(d <= F_TOL);
    /* the comparison is discriminating */
    for (int v = NAIVE_NEOX_ROPE; v <= NAIVE_KV_MODULO; v++) {
        naive_forward(e.m, tok, T, (enum naive_variant)v, bad);
        double d_bad = 0;
        for (size_t i = 0; i < n; i++)
            d_bad = fmax(d_bad, fabs(lg[i] - bad[i]));
        print_message("# naive with mistake %d: max |diff| %.3g\n", v, d_bad);
        assert_true(d_bad > 100 * F_TOL);
    }
    engine_close(&e);
    free(lg);
    free(ref);
    free(bad);
}

/* ---- (g) rejections ------------------------------------------------------ */

static void expect_bad_batch(struct engine *e, uint32_t n, const int32_t *tok, const int32_t *pos,
                             const int32_t *seq, const char *needle)
{
    struct dfit_err err = {0};
    float *lg = alloc_logits((int)(n ? n : 1));
    struct dfit_batch b = {n, tok, pos, seq, NULL};
    int rc = cpu()->forward(e->ctx, &b, lg, &err);
    print_message("# %s\n", err.msg);
    assert_int_equal(rc, DFIT_EINVAL);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' does not say '%s'", err.msg, needle);
    free(lg);
}

static void test_bad_batches(void **state)
{
    (void)state;
    struct engine e;
    engine_open(&e, fmt_path[0], 1, 2, 4);
    const int32_t z[5] = {0, 0, 0, 0, 0}, inc[5] = {0, 1, 2, 3, 4};
    int32_t big = (int32_t)n_vocab, neg = -1, one = 1, two = 2;
    expect_bad_batch(&e, 1, &big, z, z, "token 0: id 320");
    expect_bad_batch(&e, 1, &neg, z, z, "id -1");
    expect_bad_batch(&e, 1, z, &one, z, "position 1 of sequence 0, expected 0");
    expect_bad_batch(&e, 2, z, z, z, "token 1: position 0 of sequence 0, expected 1");
    expect_bad_batch(&e, 1, z, z, &two, "sequence 2 not in [0, 2)");
    expect_bad_batch(&e, 5, z, inc, z, "exceeds n_batch_max 4");
    expect_bad_batch(&e, 0, z, z, z, "empty batch");

    /* the rejected batches left the caches empty: a valid run matches a
     * fresh engine's bit for bit */
    int32_t tok[4];
    random_tokens(tok, 4, 61);
    float *a = alloc_logits(4), *b = alloc_logits(4);
    run_seq(&e, 0, tok, 4, 0, 4, a);
    /* a gap after a filled cache, then the context limit */
    int32_t p5 = 5;
    expect_bad_batch(&e, 1, z, &p5, z, "position 5 of sequence 0, expected 4");
    engine_close(&e);
    struct engine f;
    engine_open(&f, fmt_path[0], 1, 2, 4);
    run_seq(&f, 0, tok, 4, 0, 4, b);
    assert_memory_equal(a, b, (size_t)4 * n_vocab * sizeof(float));
    engine_close(&f);

    /* a sequence cannot grow past n_ctx */
    struct dfit_err err = {0};
    struct dfit_model *m = NULL;
    assert_int_equal(dfit_model_open(fmt_path[0], &m, &err), 0);
    void *ctx = NULL;
    struct dfit_backend_params p = {.n_threads = 1, .n_ctx = 3, .n_seq = 1, .n_batch_max = 4};
    assert_int_equal(cpu()->load(m, &p, &ctx, NULL, &err), 0);
    e.ctx = ctx;
    expect_bad_batch(&e, 4, tok, inc, z, "does not fit n_ctx 3");
    struct dfit_batch ok = {3, tok, inc, z, NULL};
    assert_int_equal(cpu()->forward(ctx, &ok, a, &err), 0);
    expect_bad_batch(&e, 1, tok, inc + 3, z, "does not fit n_ctx 3");
    cpu()->unload(ctx);
    dfit_model_free(m);
    free(a);
    free(b);
}

static void expect_bad_load(const struct dfit_model *m, struct dfit_backend_params p, int code,
                            const char *needle)
{
    struct dfit_err err = {0};
    void *ctx = (void *)(uintptr_t)1;
    int rc = cpu()->load(m, &p, &ctx, NULL, &err);
    print_message("# %s\n", err.msg);
    assert_int_equal(rc, code);
    assert_null(ctx);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' does not say '%s'", err.msg, needle);
}

static void test_load_params_report_probe(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_device_list dl;
    assert_int_equal(cpu()->probe(&dl, &err), 0);
    assert_int_equal(dl.n, 1);
    assert_true(strlen(dl.dev[0].name) > 0);
    assert_non_null(strchr(dl.dev[0].name, '('));
    assert_true(dl.dev[0].memory_bytes > (1u << 20));
    assert_null(cpu()->sync);
    cpu()->unload(NULL);

    struct dfit_model *m = NULL;
    assert_int_equal(dfit_model_open(fmt_path[4], &m, &err), 0);
    const struct dfit_backend_params good = {.n_threads = 2, .n_ctx = 32, .n_seq = 3,
                                             .n_batch_max = 8, .kernels = "ref"};
    struct dfit_backend_params p = good;
    p.n_ctx = 0;
    expect_bad_load(m, p, DFIT_EINVAL, "n_ctx 0");
    p = good, p.n_seq = 0;
    expect_bad_load(m, p, DFIT_EINVAL, "n_seq 0");
    p = good, p.n_batch_max = 0;
    expect_bad_load(m, p, DFIT_EINVAL, "n_batch_max 0");
    p = good, p.n_ctx = 1u << 30;
    expect_bad_load(m, p, DFIT_EINVAL, "n_ctx");
    p = good, p.kernels = "neon";
    expect_bad_load(m, p, DFIT_EUNSUPPORTED,
                    "'neon' not supported (choices: auto, ref, scalar, avx2, avx512)");
    p = good, p.device = "gpu1";
    expect_bad_load(m, p, DFIT_ENOTFOUND, "device 'gpu1' not found");

    void *ctx = NULL;
    struct dfit_load_report r;
    p = good, p.device = dl.dev[0].name;
    assert_int_equal(cpu()->load(m, &p, &ctx, &r, &err), 0);
    const struct dfit_llama_hparams *hp = &m->hp;
    uint64_t kv = 2ull * 3 * hp->n_layer * 32 * hp->n_head_kv * hp->head_dim * sizeof(float);
    assert_int_equal(r.kv_bytes, kv);
    assert_string_equal(r.kernels, "ref");
    assert_true(r.workspace_bytes > 0);
    /* per pass: everything but the (untied) embedding table */
    assert_int_equal(r.weight_bytes,
                     m->weight_bytes - (uint64_t)m->tok_embd.row_bytes * m->tok_embd.n_out);
    struct dfit_memory mem;
    assert_int_equal(cpu()->memory(ctx, &mem), 0);
    assert_int_equal(mem.kv_bytes, kv);
    assert_int_equal(mem.workspace_bytes, r.workspace_bytes);
    assert_int_equal(mem.weight_bytes, m->weight_bytes);
    assert_int_equal(mem.device_total_bytes, 0);
    cpu()->unload(ctx);
    dfit_model_free(m);
}

/* ---- setup --------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfit-test-forward-XXXXXX");
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
    sp.type = DFIT_TYPE_F32;
    sp.shape.n_layer = 1;
    sp.shape.tied_output = true;
    sp.shape.rope_freq_base = 100.0f; /* faster rotations: a wrong angle shows */
    snprintf(l1_path, sizeof l1_path, "%s/l1.gguf", tmpdir);
    if (dfit_synth_write(&sp, l1_path, &err))
        goto fail;
    return 0;
fail:
    fprintf(stderr, "setup: %s\n", err.msg);
    return -1;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int f = 0; f < N_FMT; f++)
        unlink(fmt_path[f]);
    unlink(l1_path);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats_agree_with_f32),
        cmocka_unit_test(test_quantized_matches_dequantized_twin),
        cmocka_unit_test(test_batched_equals_sequential),
        cmocka_unit_test(test_two_sequences_interleaved),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_seq_reset_rerun),
        cmocka_unit_test(test_matches_naive_reference),
        cmocka_unit_test(test_bad_batches),
        cmocka_unit_test(test_load_params_report_probe),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
