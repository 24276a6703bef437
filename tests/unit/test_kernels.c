/* test_kernels — the CPU backend's fast kernel sets against the reference.
 *
 * Every kernel set this CPU can run is tested: scalar always (also on an
 * AVX-512 machine), avx2 and avx512 where present, and avx512 as it would
 * be without VNNI and BF16 (the AVX2 fallbacks inside it). Checks:
 *   (a) selection: names, "auto", missing features and unknown names;
 *   (b) the activation quantizer equals dfit_quantize_row_q8_0_ref bit for
 *       bit (quants, scales; correction = -q_off * sum), bf16 conversion
 *       equals dfit_f32_to_bf16;
 *   (c) each format's rows and gemm kernels against dfit_vec_dot_ref on
 *       random and adversarial matrices: n_in = 32k (k = 1..9) and odd
 *       lengths for the float formats, row ranges not aligned to any tile,
 *       1..17 tokens, zero blocks, scales from fp16 subnormals to 6e4,
 *       activations over many decades; with the tolerances stated at
 *       tol_float / tol_quant;
 *   (d) quantized integer block sums are exact: with unit scales every
 *       set equals the reference bit for bit (quants -128..127 included),
 *       and the scalar set equals it bit for bit on any data;
 *   (e) the matmul driver's results do not depend on the thread count or
 *       on how rows are chunked;
 *   (f) the non-matmul operators against ref_ops;
 *   (g) the whole forward pass of a tiny model: each set against the
 *       reference, batched prefill against token-by-token decode, 1 vs 2
 *       vs 3 threads, two sequences interleaved in one batch with a sparse
 *       `want` mask; the DFIT_CPU_KERNELS variable and the report.
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
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "cpu/ref_ops.h"
#include "model/llama.h"
#include "util/rng.h"
#include "util/threadpool.h"

#define U24 (1.0 / 16777216.0) /* float unit roundoff, 2^-24 */

/* ---- the kernel sets under test ------------------------------------------- */

#define MAX_SETS 5
static struct dfit_kern sets[MAX_SETS];
static int n_sets;

static void load_sets(void)
{
    if (n_sets)
        return;
    const struct dfit_cpu_features *f = dfit_cpu_features();
    struct dfit_err err = {0};
    assert_int_equal(dfit_kern_select("scalar", f, &sets[n_sets++], &err), 0);
    if (dfit_kern_select("avx2", f, &sets[n_sets], &err) == 0)
        n_sets++;
    if (dfit_kern_select("avx512", f, &sets[n_sets], &err) == 0) {
        n_sets++;
        if (f->avx512_vnni || f->avx512_bf16) { /* and without the extensions */
            struct dfit_cpu_features g = *f;
            g.avx512_vnni = g.avx512_bf16 = false;
            assert_int_equal(dfit_kern_select("avx512", &g, &sets[n_sets++], &err), 0);
        }
    }
    for (int i = 0; i < n_sets; i++)
        print_message("# kernel set %d: %s\n", i, sets[i].name);
}

/* ---- (a) selection ---------------------------------------------------------- */

static void expect_select_fail(const char *want, const struct dfit_cpu_features *f,
                               const char *needle)
{
    struct dfit_kern k;
    struct dfit_err err = {0};
    assert_int_equal(dfit_kern_select(want, f, &k, &err), DFIT_EUNSUPPORTED);
    print_message("# %s\n", err.msg);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' does not say '%s'", err.msg, needle);
}

static void test_select(void **state)
{
    (void)state;
    struct dfit_cpu_features none = {0}, avx2 = {0}, full = {0};
    avx2.avx = avx2.avx2 = avx2.fma = avx2.f16c = true;
    full = avx2;
    full.avx512f = full.avx512bw = full.avx512vl = full.avx512dq = true;
    full.avx512_vnni = full.avx512_bf16 = true;
    struct dfit_kern k;
    struct dfit_err err = {0};
    assert_int_equal(dfit_kern_select(NULL, &none, &k, &err), 0);
    assert_string_equal(k.name, "scalar");
    assert_int_equal(dfit_kern_select("auto", &avx2, &k, &err), 0);
    assert_string_equal(k.name, "avx2");
    assert_int_equal(dfit_kern_select("", &full, &k, &err), 0);
    assert_string_equal(k.name, "avx512-vnni-bf16");
    assert_int_equal(dfit_kern_select("avx2", &full, &k, &err), 0);
    assert_string_equal(k.name, "avx2");
    assert_int_equal(dfit_kern_select("scalar", &full, &k, &err), 0);
    assert_string_equal(k.name, "scalar");
    struct dfit_cpu_features f = full;
    f.avx512_bf16 = false;
    assert_int_equal(dfit_kern_select("avx512", &f, &k, &err), 0);
    assert_string_equal(k.name, "avx512-vnni");
    f.avx512_vnni = false;
    assert_int_equal(dfit_kern_select("avx512", &f, &k, &err), 0);
    assert_string_equal(k.name, "avx512");
    /* every table entry is filled, but regrouped Q4_0 only where VNNI is */
    for (int i = 0; i < DFIT_KFMT_COUNT; i++) {
        if (i == DFIT_KFMT_Q4_0_X4) {
            assert_null(k.fmt[i].rows);
            continue;
        }
        assert_non_null(k.fmt[i].rows);
        if (k.fmt[i].panel_rows)
            assert_true(k.fmt[i].pack && k.fmt[i].gemm && k.fmt[i].panel_bytes);
    }
    assert_int_equal(dfit_kern_select("avx512", &full, &k, &err), 0);
    assert_true(k.fmt[DFIT_KFMT_Q4_0_X4].rows && k.fmt[DFIT_KFMT_Q4_0_X4].pack &&
                k.fmt[DFIT_KFMT_Q4_0_X4].gemm);

    expect_select_fail("avx2", &none, "need avx2");
    f = avx2;
    f.fma = false;
    expect_select_fail("avx2", &f, "need fma");
    f = full;
    f.avx512bw = false;
    expect_select_fail("avx512", &f, "need avx512bw");
    expect_select_fail("avx512", &avx2, "need avx512f");
    expect_select_fail("neon", &full,
                       "'neon' not supported (choices: auto, ref, scalar, avx2, avx512)");
    assert_int_equal(dfit_kern_select("auto", &f, &k, &err), 0); /* falls back */
    assert_string_equal(k.name, "avx2");
}

/* ---- data ----------------------------------------------------------------- */

enum data_kind {
    DATA_RANDOM, /* N(0, 1) */
    DATA_RANGE,  /* blocks scaled over many decades, some zero blocks */
};

/* Fills x [n] (rows of row_len); for DATA_RANGE each 32-element block gets
 * a scale 10^u, u in [lo, hi], and one block in 7 is all zero. */
static void fill(float *x, int64_t n, int64_t row_len, enum data_kind kind, double lo, double hi,
                 uint64_t seed)
{
    struct dfit_rng r;
    dfit_rng_seed(&r, seed);
    double scale = 1.0;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = i % row_len;
        if (kind == DATA_RANGE && k % 32 == 0) {
            scale = pow(10.0, lo + (hi - lo) * dfit_rng_uniform(&r));
            if (dfit_rng_below(&r, 7) == 0)
                scale = 0.0;
        }
        x[i] = (float)(dfit_rng_normal(&r) * scale);
    }
}

/* A weight matrix of type t from F32 values. */
struct wmat {
    struct dfit_weight w;
    void *buf;
};

static void wmat_make(struct wmat *m, enum dfit_type t, const float *x, int64_t n_in, int64_t n_out)
{
    size_t rb;
    assert_true(dfit_type_row_bytes(t, n_in, &rb));
    m->buf = malloc(rb * (size_t)n_out + 64);
    assert_non_null(m->buf);
    for (int64_t r = 0; r < n_out; r++)
        dfit_row_from_f32(t, x + r * n_in, (uint8_t *)m->buf + r * rb, n_in);
    m->w = (struct dfit_weight){"w", t, n_in, n_out, rb, m->buf};
}

/* out[t][r] = dfit_vec_dot_ref, and the tolerance of each element for a
 * kernel set that converts activations to bf16 (bf16_act) or not. */
static void ref_matmul(const struct dfit_weight *w, const float *x, int64_t n_tok, double *ref,
                       double *tol, bool bf16_act)
{
    const int64_t n = w->n_in, nb = n / 32;
    float *wf = malloc((size_t)n * sizeof *wf);
    struct dfit_block_q8_0 *xq = malloc((size_t)(nb + 1) * sizeof *xq);
    assert_true(wf && xq);
    const bool quant = dfit_type_wants_q8_act(w->type);
    for (int64_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * n;
        if (quant)
            dfit_quantize_row_q8_0_ref(xt, xq, n);
        for (int64_t r = 0; r < w->n_out; r++) {
            const uint8_t *row = (const uint8_t *)w->data + r * w->row_bytes;
            ref[t * w->n_out + r] =
                dfit_vec_dot_ref(w->type, n, row, quant ? (void *)xq : (void *)xt);
            if (!quant) {
                /* any summation order of n exact products, each rounded
                 * once: (n + 4) u sum|w x|; bf16 activations add 2^-8 */
                dfit_row_to_f32(w->type, row, wf, n);
                double s = 0;
                for (int64_t k = 0; k < n; k++)
                    s += fabs((double)wf[k] * xt[k]);
                tol[t * w->n_out + r] = (n + 4) * U24 * s + (bf16_act ? s / 256.0 : 0.0) + 1e-30;
                continue;
            }
            /* exact integer partial sums, each scaled once and summed in
             * some order: (8 nb + 8) u sum_b |d_w d_x| sum_j |w_j x_j| */
            double s = 0;
            for (int64_t b = 0; b < nb; b++) {
                int8_t wq[32];
                float dw;
                if (w->type == DFIT_TYPE_Q8_0) {
                    const struct dfit_block_q8_0 *blk = (const struct dfit_block_q8_0 *)row + b;
                    memcpy(wq, blk->qs, 32);
                    dw = dfit_fp16_to_f32(blk->d);
                } else {
                    const struct dfit_block_q4_0 *blk = (const struct dfit_block_q4_0 *)row + b;
                    for (int j = 0; j < 16; j++) {
                        wq[j] = (int8_t)((blk->qs[j] & 15) - 8);
                        wq[j + 16] = (int8_t)((blk->qs[j] >> 4) - 8);
                    }
                    dw = dfit_fp16_to_f32(blk->d);
                }
                long a = 0;
                for (int j = 0; j < 32; j++)
                    a += labs((long)wq[j] * xq[b].qs[j]);
                s += fabs((double)dw * dfit_fp16_to_f32(xq[b].d)) * (double)a;
            }
            tol[t * w->n_out + r] = (8.0 * nb + 8) * U24 * s + 1e-30;
        }
    }
    free(wf);
    free(xq);
}

/* ---- (b) activation converters ------------------------------------------------ */

static void test_quantizer_exact(void **state)
{
    (void)state;
    load_sets();
    enum { N = 32 * 40 };
    float *x = malloc(N * sizeof *x);
    struct dfit_block_q8_0 ref[N / 32];
    uint8_t *row = aligned_alloc(64, dfit_act_row_bytes(DFIT_ACT_Q8, N));
    assert_true(x && row);
    for (int c = 0; c < 6; c++) {
        if (c == 0)
            fill(x, N, N, DATA_RANDOM, 0, 0, 11);
        else if (c == 1)
            fill(x, N, N, DATA_RANGE, -12, 6, 12); /* d from 0 to fp16 subnormal to 6e4 */
        else if (c == 2)
            fill(x, N, N, DATA_RANGE, -40, -30, 13); /* float subnormal range */
        else if (c == 3) /* ties: x = (k + 0.5) * d exactly, and amax = 127 d */
            for (int i = 0; i < N; i++)
                x[i] = (i % 32 == 0) ? 127.0f : (float)((i * 37 % 255) - 127) + 0.5f;
        else if (c == 4) /* integers with block max 127: quants equal x */
            for (int i = 0; i < N; i++)
                x[i] = (i % 32 == 5) ? -127.0f : (float)((i * 53 % 255) - 127);
        else /* a constant block, a single spike, denormal neighbours */
            for (int i = 0; i < N; i++)
                x[i] = (i / 32) % 2 ? 3.25f : (i % 32 == 7 ? 1e4f : 1e-41f);
        dfit_quantize_row_q8_0_ref(x, ref, N);
        for (int s = 0; s < n_sets; s++)
            for (int32_t q_off = 0; q_off <= 128; q_off += 64) {
                sets[s].quantize_q8(row, x, N, q_off);
                struct dfit_act a = {DFIT_ACT_Q8, q_off, 1, N, 0, row};
                for (int b = 0; b < N / 32; b++) {
                    if (memcmp(dfit_act_q8_qs(&a, 0) + 32 * b, ref[b].qs, 32) != 0)
                        fail_msg("%s: case %d block %d: quants differ", sets[s].name, c, b);
                    float d = dfit_fp16_to_f32(ref[b].d);
                    if (memcmp(&dfit_act_q8_d(&a, 0)[b], &d, sizeof d) != 0)
                        fail_msg("%s: case %d block %d: scale %g, expected %g", sets[s].name, c, b,
                                 dfit_act_q8_d(&a, 0)[b], d);
                    int32_t sum = 0;
                    for (int j = 0; j < 32; j++)
                        sum += ref[b].qs[j];
                    assert_int_equal(dfit_act_q8_corr(&a, 0)[b], -q_off * sum);
                }
            }
    }
    free(x);
    free(row);
}

static void test_bf16_exact(void **state)
{
    (void)state;
    load_sets();
    enum { N = 77 };
    float x[N];
    fill(x, N, N, DATA_RANGE, -40, 38, 5);
    x[3] = NAN;
    x[4] = INFINITY;
    x[5] = 1.00390625f; /* a tie: rounds to even */
    x[6] = 1.01171875f; /* a tie: rounds up */
    dfit_bf16 y[96];
    for (int s = 0; s < n_sets; s++) {
        memset(y, 0xff, sizeof y);
        sets[s].to_bf16(y, x, N);
        for (int i = 0; i < N; i++)
            if (y[i] != dfit_f32_to_bf16(x[i]))
                fail_msg("%s: element %d: %04x, expected %04x", sets[s].name, i, y[i],
                         dfit_f32_to_bf16(x[i]));
        for (int i = N; i < 96; i++)
            assert_int_equal(y[i], 0); /* padded to 32 */
    }
}

/* ---- (c) matrix kernels against the reference ---------------------------------------- */

#define M_OUT 70
#define M_TOK 17

struct kcase {
    const struct dfit_kern *k;
    const struct wmat *m;
    const float *x; /* [M_TOK][n_in] */
    const double *ref, *tol;
    struct dfit_act a; /* prepared for up to M_TOK tokens */
    bool exact;        /* results must equal the reference */
};

static double worst; /* largest error / tolerance seen */

static const char *type_name(enum dfit_type t)
{
    return t == DFIT_TYPE_Q4_0_X4 ? "q4_0_x4" : dfit_type_info(t)->name;
}

static void check_out(const struct kcase *c, const char *shape, const float *out, int64_t r0,
                      int64_t r1, int64_t n_tok)
{
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t r = r0; r < r1; r++) {
            double y = out[t * M_OUT + r], e = c->ref[t * M_OUT + r];
            double err = fabs(y - e), tol = c->exact ? 0.0 : c->tol[t * M_OUT + r];
            if (!(err <= tol)) /* NaN fails too */
                fail_msg("%s %s %s n_in %lld: row %lld token %lld: %.9g, reference %.9g "
                         "(error %.3g > tolerance %.3g)",
                         c->k->name, type_name(c->m->w.type), shape,
                         (long long)c->m->w.n_in, (long long)r, (long long)t, y, e, err, tol);
            if (tol > 0 && err / tol > worst) {
                worst = err / tol;
                if (getenv("KDEBUG"))
                    print_message(
                        "# worst %.3g: %s %s %s n_in %lld r %lld t %lld y %.9g ref %.9g\n", worst,
                        c->k->name, type_name(c->m->w.type), shape,
                        (long long)c->m->w.n_in, (long long)r, (long long)t, y, e);
            }
        }
}

/* Prepares the activations of c->x with the set's own converters. */
static void prepare(struct kcase *c, void *buf)
{
    const struct dfit_kern_fmt *fm = &c->k->fmt[dfit_kfmt_of(c->m->w.type)];
    const int64_t n = c->m->w.n_in;
    c->a = (struct dfit_act){fm->act, fm->q_off, M_TOK, n, dfit_act_row_bytes(fm->act, n), buf};
    for (int64_t t = 0; t < M_TOK; t++) {
        uint8_t *row = (uint8_t *)buf + t * c->a.row_bytes;
        if (fm->act == DFIT_ACT_F32)
            memcpy(row, c->x + t * n, (size_t)n * sizeof(float));
        else if (fm->act == DFIT_ACT_BF16)
            c->k->to_bf16((dfit_bf16 *)row, c->x + t * n, n);
        else
            c->k->quantize_q8(row, c->x + t * n, n, fm->q_off);
    }
}

static void run_kernels(struct kcase *c)
{
    /* one row; an unaligned start with a tail; everything; an unaligned
     * partial panel. Tokens: each side of the 4-, 6-, 8- and 12-token
     * tiles. */
    static const int64_t ranges[][2] = {{0, 1}, {3, 20}, {0, M_OUT}, {33, M_OUT}};
    static const int64_t toks[] = {1, 3, 4, 5, 7, 13, M_TOK};
    const struct dfit_kern_fmt *fm = &c->k->fmt[dfit_kfmt_of(c->m->w.type)];
    float *out = malloc(M_TOK * M_OUT * sizeof *out);
    void *panel =
        fm->panel_rows ? aligned_alloc(64, (fm->panel_bytes(c->m->w.n_in) + 63) / 64 * 64) : NULL;
    assert_non_null(out);
    for (size_t ti = 0; ti < sizeof toks / sizeof toks[0]; ti++) {
        struct dfit_act a = c->a;
        a.n_tok = toks[ti];
        for (size_t ri = 0; ri < sizeof ranges / sizeof ranges[0]; ri++) {
            const int64_t r0 = ranges[ri][0], r1 = ranges[ri][1];
            fm->rows(out, M_OUT, &c->m->w, r0, r1, &a, 0, a.n_tok);
            check_out(c, "rows", out, r0, r1, a.n_tok);
            if (!fm->panel_rows)
                continue;
            for (int64_t p = r0; p < r1; p += fm->panel_rows) {
                int nr = (int)(r1 - p < fm->panel_rows ? r1 - p : fm->panel_rows);
                fm->pack(panel, &c->m->w, p, nr);
                fm->gemm(out + p, M_OUT, panel, nr, &a, 0, a.n_tok);
            }
            check_out(c, "gemm", out, r0, r1, a.n_tok);
        }
    }
    free(out);
    free(panel);
}

static const enum dfit_type all_types[5] = {DFIT_TYPE_F32, DFIT_TYPE_F16, DFIT_TYPE_BF16,
                                            DFIT_TYPE_Q8_0, DFIT_TYPE_Q4_0};

/* A Q4_0 matrix m with 128-multiple rows regrouped by 4 blocks (the
 * resident copy's DFIT_TYPE_Q4_0_X4), run through every set that reads it
 * against m's reference results. */
static void check_x4(const struct wmat *m, const float *x, const double *ref, const double *tol,
                     bool exact, void *buf, uint64_t *n_checked)
{
    if (m->w.type != DFIT_TYPE_Q4_0 || m->w.n_in % 128 != 0)
        return;
    struct wmat x4 = *m;
    x4.buf = malloc(m->w.row_bytes * (size_t)m->w.n_out + 64);
    assert_non_null(x4.buf);
    dfit_q4_0_x4_repack(x4.buf, m->buf, m->w.row_bytes, m->w.n_in, 0, m->w.n_out);
    x4.w.data = x4.buf;
    x4.w.type = DFIT_TYPE_Q4_0_X4;
    for (int s = 0; s < n_sets; s++) {
        if (!sets[s].fmt[DFIT_KFMT_Q4_0_X4].rows)
            continue;
        struct kcase c = {&sets[s], &x4, x, ref, tol, {0}, exact};
        prepare(&c, buf);
        run_kernels(&c);
        (*n_checked)++;
    }
    free(x4.buf);
}

static void check_matrix(const struct wmat *m, const float *x, uint64_t *n_checked)
{
    double *ref = malloc(M_TOK * M_OUT * sizeof *ref), *tol = malloc(M_TOK * M_OUT * sizeof *tol);
    double *tol_bf = malloc(M_TOK * M_OUT * sizeof *tol_bf);
    void *buf = aligned_alloc(64, M_TOK * 2048); /* rows of <= 288 floats */
    assert_true(ref && tol && tol_bf && buf);
    ref_matmul(&m->w, x, M_TOK, ref, tol, false);
    ref_matmul(&m->w, x, M_TOK, ref, tol_bf, true);
    for (int s = 0; s < n_sets; s++) {
        struct kcase c = {&sets[s], m, x, ref, tol, {0}, false};
        prepare(&c, buf);
        if (c.a.kind == DFIT_ACT_BF16)
            c.tol = tol_bf;
        /* the scalar set follows the reference's quantized arithmetic */
        c.exact = s == 0 && dfit_type_wants_q8_act(m->w.type);
        run_kernels(&c);
        (*n_checked)++;
    }
    check_x4(m, x, ref, tol, false, buf, n_checked);
    free(ref);
    free(tol);
    free(tol_bf);
    free(buf);
}

static void test_matmul_vs_ref(void **state)
{
    (void)state;
    load_sets();
    static const int64_t n_ins[] = {32, 64, 96, 128, 160, 192, 224, 256, 288, 1, 7, 17, 33, 100};
    uint64_t n_checked = 0;
    worst = 0;
    for (int ti = 0; ti < 5; ti++) {
        const enum dfit_type t = all_types[ti];
        for (size_t ni = 0; ni < sizeof n_ins / sizeof n_ins[0]; ni++) {
            const int64_t n = n_ins[ni];
            if (n % 32 && dfit_type_info(t)->quantized)
                continue;
            float *w = malloc((size_t)(n * M_OUT) * sizeof *w),
                  *x = malloc((size_t)(n * M_TOK) * sizeof *x);
            assert_true(w && x);
            for (int kind = 0; kind < 3; kind++) {
                uint64_t seed = 1000 * ti + 10 * ni + kind;
                if (kind == 0) { /* plain random */
                    fill(w, n * M_OUT, n, DATA_RANDOM, 0, 0, seed);
                    fill(x, n * M_TOK, n, DATA_RANDOM, 0, 0, seed + 5);
                } else if (kind == 1) { /* weights over fp16's range, wide activations */
                    fill(w, n * M_OUT, n, DATA_RANGE, -9, 3, seed);
                    fill(x, n * M_TOK, n, DATA_RANGE, dfit_type_info(t)->quantized ? -6 : -20,
                         dfit_type_info(t)->quantized ? 5 : 20, seed + 5);
                } else { /* zero rows and tokens among random ones */
                    fill(w, n * M_OUT, n, DATA_RANDOM, 0, 0, seed);
                    fill(x, n * M_TOK, n, DATA_RANDOM, 0, 0, seed + 5);
                    for (int64_t i = 0; i < n; i++) {
                        w[5 * n + i] = w[40 * n + i] = 0.0f;
                        x[2 * n + i] = 0.0f;
                    }
                }
                struct wmat m;
                wmat_make(&m, t, w, n, M_OUT);
                check_matrix(&m, x, &n_checked);
                free(m.buf);
            }
            free(w);
            free(x);
        }
    }
    print_message("# %llu matrix cases, largest error / tolerance %.3g\n",
                  (unsigned long long)n_checked, worst);
}

/* ---- (d) exact integer sums ------------------------------------------------------------ */

static void test_quant_exact_unit_scales(void **state)
{
    (void)state;
    load_sets();
    static const int64_t n_ins[] = {32, 96, 128, 160, 224, 256, 288}; /* 128, 256: regrouped too */
    for (int q4 = 0; q4 < 2; q4++)
        for (size_t ni = 0; ni < sizeof n_ins / sizeof n_ins[0]; ni++) {
            const int64_t n = n_ins[ni];
            /* weights: any quants (Q8_0 -128..127), scale 1.0 */
            struct wmat m;
            const enum dfit_type t = q4 ? DFIT_TYPE_Q4_0 : DFIT_TYPE_Q8_0;
            size_t rb;
            assert_true(dfit_type_row_bytes(t, n, &rb));
            m.buf = malloc(rb * M_OUT);
            assert_non_null(m.buf);
            struct dfit_rng r;
            dfit_rng_seed(&r, 77 + (uint64_t)n);
            for (int64_t row = 0; row < M_OUT; row++)
                for (int64_t b = 0; b < n / 32; b++) {
                    uint8_t *blk = (uint8_t *)m.buf + row * rb + b * (q4 ? 18 : 34);
                    const dfit_fp16 one = 0x3c00;
                    memcpy(blk, &one, 2);
                    for (int j = 0; j < (q4 ? 16 : 32); j++)
                        blk[2 + j] = (uint8_t)dfit_rng_below(&r, 256);
                    if (!q4 && row % 3 == 0) /* saturated blocks */
                        memset(blk + 2, row % 2 ? 0x80 : 0x7f, 32);
                }
            m.w = (struct dfit_weight){"w", t, n, M_OUT, rb, m.buf};
            /* activations: integers with block max 127, so they quantize to
             * themselves with scale 1.0 */
            float *x = malloc((size_t)(n * M_TOK) * sizeof *x);
            assert_non_null(x);
            for (int64_t i = 0; i < n * M_TOK; i++)
                x[i] = i % 32 == 3 ? (i % 64 ? 127.0f : -127.0f)
                                   : (float)((int)dfit_rng_below(&r, 255) - 127);
            uint64_t n_checked = 0;
            double *ref = malloc(M_TOK * M_OUT * sizeof *ref),
                   *tol = malloc(M_TOK * M_OUT * sizeof *tol);
            void *buf = aligned_alloc(64, M_TOK * dfit_act_row_bytes(DFIT_ACT_Q8, 288));
            assert_true(ref && tol && buf);
            ref_matmul(&m.w, x, M_TOK, ref, tol, false);
            for (int s = 0; s < n_sets; s++) {
                struct kcase c = {&sets[s], &m, x, ref, tol, {0}, true};
                prepare(&c, buf);
                run_kernels(&c);
                n_checked++;
            }
            assert_true(n_checked == (uint64_t)n_sets);
            check_x4(&m, x, ref, tol, true, buf, &n_checked);
            free(ref);
            free(tol);
            free(buf);
            free(x);
            free(m.buf);
        }
}

/* ---- (e) the driver ---------------------------------------------------------------------- */

static void test_driver_threads(void **state)
{
    (void)state;
    load_sets();
    enum { N_IN = 96, N_TOK = 40 };
    static const int64_t n_outs[3] = {37, 100, 9};
    float *w = malloc(N_IN * 100 * sizeof *w), *x = malloc(N_IN * N_TOK * sizeof *x);
    assert_true(w && x);
    fill(x, N_IN * N_TOK, N_IN, DATA_RANDOM, 0, 0, 3);
    for (int s = 0; s < n_sets; s++)
        for (int ti = 0; ti < 5; ti++) {
            struct wmat m[3];
            const struct dfit_weight *wp[3];
            for (int i = 0; i < 3; i++) {
                fill(w, N_IN * n_outs[i], N_IN, DATA_RANDOM, 0, 0, 40 + (uint64_t)i);
                wmat_make(&m[i], all_types[ti], w, N_IN, n_outs[i]);
                wp[i] = &m[i].w;
            }
            static const int64_t toks[] = {1, 3, N_TOK};
            for (int tk = 0; tk < 3; tk++) {
                float *res[4][3];
                for (int nth = 1; nth <= 3; nth++) {
                    struct dfit_threadpool *tp = NULL;
                    struct dfit_mm *mm = NULL;
                    struct dfit_err err = {0};
                    assert_int_equal(dfit_threadpool_create(nth, &tp, &err), 0);
                    assert_int_equal(dfit_mm_create(&sets[s], tp, N_TOK, N_IN, &mm, NULL, &err), 0);
                    for (int i = 0; i < 3; i++) {
                        res[nth][i] = calloc((size_t)(N_TOK * n_outs[i]), sizeof(float));
                        assert_non_null(res[nth][i]);
                    }
                    struct dfit_act a;
                    dfit_mm_prepare(mm, &a, x, toks[tk], N_IN, all_types[ti]);
                    dfit_mm_run(mm, 3, res[nth], wp, &a);
                    if (nth == 1) /* one weight at a time agrees too */
                        for (int i = 0; i < 3; i++) {
                            float *o = calloc((size_t)(N_TOK * n_outs[i]), sizeof(float));
                            assert_non_null(o);
                            dfit_mm_matmul(mm, o, wp[i], x, toks[tk]);
                            assert_memory_equal(o, res[1][i], toks[tk] * n_outs[i] * sizeof(float));
                            free(o);
                        }
                    dfit_mm_free(mm);
                    dfit_threadpool_free(tp);
                }
                for (int i = 0; i < 3; i++) {
                    /* against the reference, loosely: the driver ran the kernels */
                    double *ref = malloc((size_t)(toks[tk] * n_outs[i]) * sizeof *ref);
                    double *tol = malloc((size_t)(toks[tk] * n_outs[i]) * sizeof *tol);
                    assert_true(ref && tol);
                    ref_matmul(wp[i], x, toks[tk], ref, tol, true);
                    for (int64_t e = 0; e < toks[tk] * n_outs[i]; e++)
                        assert_true(fabs(res[1][i][e] - ref[e]) <= tol[e]);
                    free(ref);
                    free(tol);
                    for (int nth = 2; nth <= 3; nth++)
                        assert_memory_equal(res[1][i], res[nth][i],
                                            toks[tk] * n_outs[i] * sizeof(float));
                    for (int nth = 1; nth <= 3; nth++)
                        free(res[nth][i]);
                }
            }
            for (int i = 0; i < 3; i++)
                free(m[i].buf);
        }
    free(w);
    free(x);
}

/* ---- (f) non-matmul operators -------------------------------------------------------------- */

static void test_ops(void **state)
{
    (void)state;
    load_sets();
    enum { N = 333 };
    float x[N], g[N], w[N], o[N], r[N];
    fill(x, N, N, DATA_RANDOM, 0, 0, 1);
    fill(w, N, N, DATA_RANDOM, 0, 0, 2);
    for (int i = 0; i < N; i++)
        g[i] = -40.0f + 80.0f * (float)i / N; /* silu over its whole shape */
    for (int s = 0; s < n_sets; s++) {
        const struct dfit_kern *k = &sets[s];
        for (int n = 1; n <= N; n += 37) {
            /* RMSNorm: float sum of squares, relative 1e-5 */
            k->rmsnorm(o, x, w, n, 1e-5f);
            dfit_ref_rmsnorm(r, x, w, n, 1e-5f);
            for (int i = 0; i < n; i++)
                assert_true(fabsf(o[i] - r[i]) <= 1e-5f * fabsf(r[i]) + 1e-30f);
            /* SwiGLU: exp within a few ulp, relative 1e-5 */
            k->swiglu(o, g, x, n);
            dfit_ref_swiglu(r, g, x, n);
            for (int i = 0; i < n; i++)
                if (!(fabsf(o[i] - r[i]) <= 1e-5f * fabsf(r[i]) + 1e-30f))
                    fail_msg("%s swiglu(%g, %g) = %g, reference %g", k->name, g[i], x[i], o[i],
                             r[i]);
            memcpy(o, x, sizeof o);
            memcpy(r, x, sizeof r);
            k->add(o, w, n);
            dfit_ref_add(r, w, n);
            assert_memory_equal(o, r, (size_t)n * sizeof(float));
        }
        /* attention tiles: 1..4 queries, each with its own causal length
         * (n_kv up to 70), odd and usual head sizes, K transposed; the
         * softmax weights sum to 1, so errors are relative to max |v| */
        static const int hds[] = {2, 6, 16, 48, 64, 80, 128};
        for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++) {
            const int hd = hds[hi], stride = 3 * hd, kt_stride = 83;
            for (int n_kv = 1; n_kv <= 70; n_kv += 23)
                for (int nq = 1; nq <= DFIT_ATTN_QT; nq++) {
                    enum { NQ = DFIT_ATTN_QT };
                    float *kv = malloc((size_t)(2 * 80 * stride) * sizeof *kv);
                    float *kt = malloc((size_t)(hd * kt_stride) * sizeof *kt);
                    float q[NQ][128], att[NQ * 80], out[NQ][128], ref[128], att_ref[80];
                    int64_t nk[NQ];
                    assert_true(kv && kt);
                    fill(kv, 2 * 80 * stride, stride, DATA_RANDOM, 0, 0, 9 + (uint64_t)n_kv);
                    const float *vrows = kv + 80 * stride;
                    for (int j = 0; j < 80; j++)
                        for (int d = 0; d < hd; d++)
                            kt[d * kt_stride + j] = kv[j * stride + d];
                    for (int i = 0; i < nq; i++) {
                        fill(q[i], hd, hd, DATA_RANDOM, 0, 0, 4 + (uint64_t)i);
                        for (int d = 0; d < hd; d++)
                            q[i][d] *= 3.0f; /* peaked softmax */
                        /* consecutive positions, and one query that sees less */
                        nk[i] = i == 2 ? (n_kv + 1) / 2 : n_kv + i;
                    }
                    k->attn(out[0], 128, q[0], 128, nq, nk, kt, kt_stride, vrows, stride, hd,
                            (float)(1.0 / sqrt(hd)), att, 80);
                    for (int i = 0; i < nq; i++) {
                        dfit_ref_attention_head(ref, q[i], kv, vrows, nk[i], stride, hd, att_ref);
                        double vmax = 0;
                        for (int j = 0; j < nk[i] * stride; j++)
                            vmax = fmax(vmax, fabs(vrows[j]));
                        for (int d = 0; d < hd; d++)
                            if (!(fabs(out[i][d] - ref[d]) <= 2e-5 * vmax))
                                fail_msg("%s attention hd %d query %d of %d (n_kv %lld): %g, "
                                         "reference %g",
                                         k->name, hd, i, nq, (long long)nk[i], out[i][d], ref[d]);
                    }
                    free(kv);
                    free(kt);
                }
        }
    }
    /* RoPE from the table equals the reference bit for bit */
    int32_t pos[3] = {0, 7, 1000};
    float cs[3 * 64];
    dfit_kops_rope_table(cs, pos, 3, 64, 10000.0f);
    for (int t = 0; t < 3; t++) {
        float a[4 * 64], b[4 * 64];
        fill(a, 4 * 64, 64, DATA_RANDOM, 0, 0, 70 + (uint64_t)t);
        memcpy(b, a, sizeof a);
        dfit_kops_rope(a, 4, 64, cs + t * 64);
        dfit_ref_rope(b, 4, 64, pos[t], 10000.0f);
        assert_memory_equal(a, b, sizeof a);
    }
}

/* ---- (g) the forward pass ---------------------------------------------------------------- */

#define N_FMT 5
#define FT 20 /* tokens */
static char tmpdir[64];
static char fmt_path[N_FMT][128];
static uint32_t n_vocab;

static const struct dfit_backend_ops *cpu(void)
{
    const struct dfit_backend_ops *ops = dfit_backend_find("cpu");
    assert_non_null(ops);
    return ops;
}

/* Runs FT tokens of one sequence, `chunk` per call, all logits wanted;
 * returns the load report's kernel name in name (if non-NULL). */
static void run_model(const char *path, const char *kernels, int n_threads, int chunk,
                      float *logits, char *name)
{
    struct dfit_err err = {0};
    struct dfit_model *m = NULL;
    void *ctx = NULL;
    struct dfit_load_report rep;
    if (dfit_model_open(path, &m, &err))
        fail_msg("open %s: %s", path, err.msg);
    struct dfit_backend_params p = {
        .n_threads = n_threads, .n_ctx = 32, .n_seq = 1, .n_batch_max = FT, .kernels = kernels};
    if (cpu()->load(m, &p, &ctx, &rep, &err))
        fail_msg("load %s (%s): %s", path, kernels ? kernels : "NULL", err.msg);
    if (name)
        strcpy(name, rep.kernels);
    int32_t tok[FT], pos[FT], seq[FT];
    struct dfit_rng r;
    dfit_rng_seed(&r, 5);
    for (int i = 0; i < FT; i++) {
        tok[i] = (int32_t)dfit_rng_below(&r, n_vocab);
        pos[i] = i;
        seq[i] = 0;
    }
    for (int i = 0; i < FT; i += chunk) {
        int k = FT - i < chunk ? FT - i : chunk;
        struct dfit_batch b = {(uint32_t)k, tok + i, pos + i, seq + i, NULL};
        if (cpu()->forward(ctx, &b, logits + (size_t)i * n_vocab, &err))
            fail_msg("forward: %s", err.msg);
    }
    cpu()->unload(ctx);
    dfit_model_free(m);
}

static double rel_rms(const float *a, const float *ref, size_t n)
{
    double ss = 0, sr = 0;
    for (size_t i = 0; i < n; i++) {
        ss += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        sr += (double)ref[i] * ref[i];
    }
    return sqrt(ss / sr);
}

/* Relative RMS error of the logits against the reference, per format.
 * The fast sets sum in float where the reference sums in double, and the
 * quantized paths can flip an activation quant's rounding on such a
 * difference (a step of 1/127 of the block's max); BF16 on AVX512_BF16
 * also rounds activations to bf16 (2^-9 relative each). Measured on this
 * tiny model: F32/F16 ~1e-7, BF16 ~3e-3 (bf16 activations) or ~1e-7,
 * Q8_0/Q4_0 ~1e-4..1e-3. The bounds keep several-fold margins. */
static const double tol_vs_ref[N_FMT] = {2e-5, 2e-5, 1.5e-2, 1e-2, 1e-2};
/* Batched prefill (gemm shape) against token by token (rows shape): the
 * same arithmetic in another order, so the float-sum differences above. */
static const double tol_batch[N_FMT] = {2e-5, 2e-5, 1e-3, 1e-2, 1e-2};

static void test_forward_fast(void **state)
{
    (void)state;
    load_sets();
    const size_t n = (size_t)FT * n_vocab;
    float *ref = malloc(n * sizeof *ref), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    assert_true(ref && a && b);
    static const char *const kernels[] = {"auto", "scalar", "avx2", "avx512"};
    const struct dfit_cpu_features *f = dfit_cpu_features();
    for (int fi = 0; fi < N_FMT; fi++) {
        run_model(fmt_path[fi], "ref", 2, FT, ref, NULL);
        for (int ki = 0; ki < 4; ki++) {
            struct dfit_kern probe;
            if (dfit_kern_select(kernels[ki], f, &probe, NULL))
                continue; /* not on this CPU */
            char name[128];
            run_model(fmt_path[fi], kernels[ki], 2, FT, a, name);
            assert_string_equal(name, probe.name);
            run_model(fmt_path[fi], kernels[ki], 2, 1, b, NULL);
            double e_ref = rel_rms(a, ref, n), e_batch = rel_rms(a, b, n);
            print_message(
                "# %s %s: vs ref %.3g (bound %.3g), prefill vs decode %.3g (bound %.3g)\n",
                dfit_type_info(all_types[fi])->name, name, e_ref, tol_vs_ref[fi], e_batch,
                tol_batch[fi]);
            assert_true(e_ref <= tol_vs_ref[fi]);
            assert_true(e_batch <= tol_batch[fi]);
            assert_true(rel_rms(b, ref, n) <= tol_vs_ref[fi]);
            /* the thread count changes nothing */
            run_model(fmt_path[fi], kernels[ki], 1, 7, a, NULL);
            run_model(fmt_path[fi], kernels[ki], 3, 7, b, NULL);
            assert_memory_equal(a, b, n * sizeof(float));
        }
    }
    free(ref);
    free(a);
    free(b);
}

/* Two sequences interleaved in one batch, and a sparse `want` mask, on the
 * fast path: against separate runs with every logit wanted. The shapes
 * differ (a 17-token batch runs gemm, the 10- and 7-token runs may run
 * rows), so the bounds are tol_batch's. */
static void test_interleaved_and_want(void **state)
{
    (void)state;
    enum { NA = 10, NB = 7, N = NA + NB };
    for (int fi = 0; fi < N_FMT; fi += 3) { /* F32 and Q8_0 */
        struct dfit_err err = {0};
        struct dfit_model *m = NULL;
        void *ctx = NULL;
        assert_int_equal(dfit_model_open(fmt_path[fi], &m, &err), 0);
        struct dfit_backend_params p = {.n_threads = 2, .n_ctx = 32, .n_seq = 2, .n_batch_max = N,
                                        .kernels = "auto"};
        assert_int_equal(cpu()->load(m, &p, &ctx, NULL, &err), 0);
        int32_t ta[NA], tb[NB], pa[NA], pb[NB], sa[NA], sb[NB];
        struct dfit_rng r;
        dfit_rng_seed(&r, 61);
        for (int i = 0; i < NA; i++)
            ta[i] = (int32_t)dfit_rng_below(&r, n_vocab), pa[i] = i, sa[i] = 0;
        for (int i = 0; i < NB; i++)
            tb[i] = (int32_t)dfit_rng_below(&r, n_vocab), pb[i] = i, sb[i] = 1;
        float *la = malloc((size_t)NA * n_vocab * sizeof *la);
        float *lb = malloc((size_t)NB * n_vocab * sizeof *lb);
        float *lg = malloc((size_t)N * n_vocab * sizeof *lg);
        assert_true(la && lb && lg);
        struct dfit_batch ba = {NA, ta, pa, sa, NULL}, bb = {NB, tb, pb, sb, NULL};
        assert_int_equal(cpu()->forward(ctx, &ba, la, &err), 0);
        assert_int_equal(cpu()->forward(ctx, &bb, lb, &err), 0);
        /* interleaved: A0 B0 A1 B1 ... then the rest of A; logits wanted
         * for a sparse subset, returned in batch order */
        int32_t tok[N], pos[N], seq[N];
        int8_t want[N];
        const float *expect[N];
        int n = 0, n_wanted = 0;
        for (int i = 0; i < NA || i < NB; i++) {
            if (i < NA) {
                tok[n] = ta[i], pos[n] = i, seq[n] = 0, want[n] = i % 3 == 1 || i == NA - 1;
                expect[n++] = la + (size_t)i * n_vocab;
            }
            if (i < NB) {
                tok[n] = tb[i], pos[n] = i, seq[n] = 1, want[n] = i == 0 || i == NB - 1;
                expect[n++] = lb + (size_t)i * n_vocab;
            }
        }
        assert_int_equal(cpu()->seq_reset(ctx, -1), 0);
        struct dfit_batch bi = {N, tok, pos, seq, want};
        assert_int_equal(cpu()->forward(ctx, &bi, lg, &err), 0);
        for (int i = 0; i < N; i++) {
            if (!want[i])
                continue;
            double e = rel_rms(lg + (size_t)n_wanted * n_vocab, expect[i], n_vocab);
            if (!(e <= tol_batch[fi]))
                fail_msg("%s: batch token %d (wanted row %d): relative error %.3g > %.3g",
                         dfit_type_info(all_types[fi])->name, i, n_wanted, e, tol_batch[fi]);
            n_wanted++;
        }
        assert_int_equal(n_wanted, 6);
        cpu()->unload(ctx);
        dfit_model_free(m);
        free(la);
        free(lb);
        free(lg);
    }
}

static void test_env_and_errors(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_model *m = NULL;
    assert_int_equal(dfit_model_open(fmt_path[0], &m, &err), 0);
    struct dfit_backend_params p = {.n_threads = 1, .n_ctx = 8, .n_seq = 1, .n_batch_max = 4};
    struct dfit_load_report rep;
    void *ctx = NULL;
    assert_int_equal(setenv("DFIT_CPU_KERNELS", "scalar", 1), 0);
    assert_int_equal(cpu()->load(m, &p, &ctx, &rep, &err), 0);
    assert_string_equal(rep.kernels, "scalar");
    cpu()->unload(ctx);
    assert_int_equal(setenv("DFIT_CPU_KERNELS", "ref", 1), 0);
    assert_int_equal(cpu()->load(m, &p, &ctx, &rep, &err), 0);
    assert_string_equal(rep.kernels, "ref");
    cpu()->unload(ctx);
    /* the parameter wins over the variable */
    p.kernels = "auto";
    assert_int_equal(cpu()->load(m, &p, &ctx, &rep, &err), 0);
    struct dfit_kern best;
    assert_int_equal(dfit_kern_select(NULL, dfit_cpu_features(), &best, &err), 0);
    assert_string_equal(rep.kernels, best.name);
    cpu()->unload(ctx);
    p.kernels = NULL;
    assert_int_equal(setenv("DFIT_CPU_KERNELS", "sse9", 1), 0);
    ctx = (void *)1;
    assert_int_equal(cpu()->load(m, &p, &ctx, &rep, &err), DFIT_EUNSUPPORTED);
    assert_null(ctx);
    assert_non_null(strstr(err.msg, "'sse9' not supported"));
    unsetenv("DFIT_CPU_KERNELS");
    dfit_model_free(m);
}

/* ---- setup ------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    unsetenv("DFIT_CPU_KERNELS");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfit-test-kernels-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    struct dfit_synth_params sp = {.seed = 99, .name = "test"};
    if (dfit_synth_preset("tiny", &sp.shape, &err))
        goto fail;
    sp.shape.tied_output = false;
    n_vocab = sp.shape.n_vocab;
    for (int f = 0; f < N_FMT; f++) {
        sp.type = all_types[f];
        snprintf(fmt_path[f], sizeof fmt_path[f], "%s/tiny-%s.gguf", tmpdir,
                 dfit_type_info(all_types[f])->name);
        if (dfit_synth_write(&sp, fmt_path[f], &err))
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
    for (int f = 0; f < N_FMT; f++)
        unlink(fmt_path[f]);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_quantizer_exact),
        cmocka_unit_test(test_bf16_exact),
        cmocka_unit_test(test_matmul_vs_ref),
        cmocka_unit_test(test_quant_exact_unit_scales),
        cmocka_unit_test(test_driver_threads),
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_forward_fast),
        cmocka_unit_test(test_interleaved_and_want),
        cmocka_unit_test(test_env_and_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
