/* test_sparse — sparse repacks of pruned matrices and their kernels
 * (backends/cpu/sparse.h), against the reference dense products.
 *
 * Every layout with every kernel set this CPU can run (scalar always,
 * avx512 where present):
 *   (a) BITMAP (F32, F16, BF16) at sparsity 0.5, 0.7, 0.9, 2:4 (F32, F16,
 *       BF16) and BLOCKS (Q8_0, Q4_0) on random matrices with odd sizes,
 *       an all-zero row and a row without zeros, 1..17 tokens (rows shape)
 *       and 300 tokens (xt shape over two tiles), against
 *       dfit_vec_dot_ref per element. Tolerances, per element, with
 *       S = sum |w_i x_i| over the row:
 *         float formats: (n_in + 4) * 2^-24 * S (any summation order of
 *         n_in products each rounded once, against the reference's
 *         double sum; the values are the weight's own, not rounded);
 *         Q8_0/Q4_0: (8 nb + 8) * 2^-24 * sum_b |d_w d_x| * S_b, and the
 *         scalar kernel equal to the reference bit for bit (it follows
 *         its arithmetic, skipped blocks adding nothing);
 *   (b) results independent of the thread count (1, 2, 3) bit for bit;
 *   (c) the pattern checks: a 2:4 violation, too few zero blocks, a wrong
 *       type are DFIT_EINVAL naming where;
 *   (d) the "+dense" / DFIT_CPU_SPARSE=0 switch;
 *   (e) the forward pass of the tiny model pruned by dfit_compress_file
 *       (unstructured 0.7 and 2:4 in F32, F16, BF16; unstructured 0.98
 *       in Q8_0 and Q4_0, with the output matrix; blocks serve decode
 *       only) through the sparse kernels, prefill and decode, against the
 *       reference path and the same kernel set without sparse kernels:
 *       relative RMS error of the logits below 2e-5 (measured ~4e-7), and
 *       1.5e-2 for BF16 under avx512, whose dense output matrix takes bf16
 *       activations (test_kernels' bound; measured 5e-3);
 *   (f) a file whose matrix breaks its declared pattern (hand-edited)
 *       loads with that matrix dense, named in the kernels string, and
 *       still matches the reference.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "compress/compress.h"
#include "compress/synth.h"
#include "cpu_run_fixture.h"
#include "cpu/cpu_features.h"
#include "cpu/matmul.h"
#include "cpu/sparse.h"
#include "model/gguf.h"
#include "util/rng.h"

static char tmpdir[64];
static char tiny_path[3][128]; /* F32, F16, BF16 parents */

/* ---- kernel sets ---------------------------------------------------------- */

static bool have_avx512(void)
{
    const struct dfit_cpu_features *f = dfit_cpu_features();
    return f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx2 && f->fma &&
           f->f16c;
}

/* Kernel set i (0 scalar, 1 avx512); false when this CPU lacks it. */
static bool kern_at(int i, struct dfit_sparse_kern *k)
{
    dfit_sparse_kern_init_scalar(k);
    if (i == 0)
        return true;
    return have_avx512() && dfit_sparse_kern_init_avx512(k);
}

/* ---- random pruned matrices ----------------------------------------------------- */

enum shape { UNSTRUCT, TWO_FOUR, BLOCKY };

/* A dense weight of type t with n_out rows of n_in: normal values, zeros
 * by `shape` (UNSTRUCT: each element with probability sp; TWO_FOUR: 2 of
 * every 4; BLOCKY: each block of 32 with probability sp), row 0 all zero,
 * row 1 (unstructured, blocky) with no zeros. Fills *w; caller frees
 * w->data. */
static void make_weight(struct dfit_weight *w, enum dfit_type t, int64_t n_in, int64_t n_out,
                        enum shape sh, double sp, uint64_t seed)
{
    struct dfit_rng r;
    dfit_rng_seed(&r, seed);
    float *f = malloc((size_t)(n_in * n_out) * sizeof *f);
    assert_non_null(f);
    for (int64_t i = 0; i < n_out; i++) {
        float *row = f + i * n_in;
        for (int64_t k = 0; k < n_in; k++) {
            row[k] = dfit_rng_normal(&r);
            if (row[k] == 0.0f)
                row[k] = 1.0f;
        }
        if (i == 0) {
            memset(row, 0, (size_t)n_in * sizeof *row);
            continue;
        }
        if (i == 1 && sh != TWO_FOUR)
            continue;
        if (sh == UNSTRUCT)
            for (int64_t k = 0; k < n_in; k++)
                if (dfit_rng_uniform(&r) < sp)
                    row[k] = 0.0f;
        if (sh == TWO_FOUR)
            for (int64_t g = 0; g < n_in / 4; g++) {
                int a = (int)dfit_rng_below(&r, 4), b = (int)dfit_rng_below(&r, 3);
                b += b >= a;
                row[4 * g + a] = row[4 * g + b] = 0.0f;
                if (i == 2 && g % 3 == 0) /* fewer than 2 non-zeros in a group */
                    row[4 * g + (a + 1) % 4] = 0.0f;
            }
        if (sh == BLOCKY)
            for (int64_t b = 0; b < n_in / 32; b++)
                if (dfit_rng_uniform(&r) < sp)
                    memset(row + 32 * b, 0, 32 * sizeof *row);
    }
    size_t rb;
    assert_true(dfit_type_row_bytes(t, n_in, &rb));
    uint8_t *data = malloc(rb * (size_t)n_out);
    assert_non_null(data);
    for (int64_t i = 0; i < n_out; i++)
        dfit_row_from_f32(t, f + i * n_in, data + (size_t)i * rb, n_in);
    free(f);
    *w = (struct dfit_weight){.name = "test.weight", .type = t, .n_in = n_in, .n_out = n_out,
                              .row_bytes = rb, .data = data};
}

/* Activations [n_tok][n_in] over 6 decades, seeded. */
static float *make_x(int64_t n_tok, int64_t n_in, uint64_t seed)
{
    struct dfit_rng r;
    dfit_rng_seed(&r, seed);
    float *x = malloc((size_t)(n_tok * n_in) * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < n_tok * n_in; i++)
        x[i] = dfit_rng_normal(&r) * powf(10.0f, (float)dfit_rng_below(&r, 7) - 3.0f);
    return x;
}

/* ---- products: the sparse driver and the reference ------------------------------- */

struct rig {
    struct dfit_threadpool *tp;
    struct dfit_kern dk;     /* for Q8 activations */
    struct dfit_mm *mm;
    struct dfit_sparse_kern sk;
    struct dfit_sparse_exec *ex;
};

static void rig_open(struct rig *g, int kern, int n_threads, int64_t n_tok_max, int64_t n_in_max)
{
    struct dfit_err err = {0};
    assert_true(kern_at(kern, &g->sk));
    assert_int_equal(dfit_threadpool_create(n_threads, &g->tp, &err), 0);
    assert_int_equal(dfit_kern_select("auto", dfit_cpu_features(), &g->dk, &err), 0);
    int64_t nin = (n_in_max + 31) / 32 * 32;
    assert_int_equal(dfit_mm_create(&g->dk, g->tp, n_tok_max, nin, &g->mm, NULL, &err), 0);
    assert_int_equal(
        dfit_sparse_exec_create(&g->sk, g->tp, n_tok_max, n_in_max, &g->ex, NULL, &err), 0);
}

static void rig_close(struct rig *g)
{
    dfit_sparse_exec_free(g->ex);
    dfit_mm_free(g->mm);
    dfit_threadpool_free(g->tp);
}

/* out [n_tok][n_out] = x . s^T through the driver. */
static void sparse_product(struct rig *g, float *out, const struct dfit_sparse_mat *s,
                           const float *x, int64_t n_tok)
{
    struct dfit_act a = {.kind = DFIT_ACT_F32, .n_tok = n_tok, .n_in = s->n_in,
                         .row_bytes = (size_t)s->n_in * sizeof(float), .data = x};
    if (s->layout == DFIT_SPARSE_BLOCKS)
        dfit_mm_prepare(g->mm, &a, x, n_tok, s->n_in, s->type);
    float *const o[1] = {out};
    const struct dfit_sparse_mat *const sm[1] = {s};
    dfit_sparse_exec_run(g->ex, 1, o, sm, &a);
}

/* Checks out against dfit_vec_dot_ref with the tolerances in the header;
 * exact: bit for bit. Returns the worst error / tolerance. */
static double check_product(const float *out, const struct dfit_weight *w, const float *x,
                            int64_t n_tok, bool exact)
{
    const bool q = dfit_type_wants_q8_act(w->type);
    const int64_t nb = w->n_in / 32;
    struct dfit_block_q8_0 *xq = q ? malloc((size_t)nb * sizeof *xq) : NULL;
    float *wf = malloc((size_t)w->n_in * sizeof *wf), *xd = malloc((size_t)w->n_in * sizeof *xd);
    double worst = 0.0;
    for (int64_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * w->n_in;
        if (q) {
            dfit_quantize_row_q8_0_ref(xt, xq, w->n_in);
            dfit_dequantize_row_q8_0(xq, xd, w->n_in);
        }
        for (int64_t r = 0; r < w->n_out; r++) {
            const void *row = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
            const float ref = dfit_vec_dot_ref(w->type, w->n_in, row, q ? (const void *)xq : xt);
            const float got = out[t * w->n_out + r];
            if (exact) {
                if (memcmp(&ref, &got, sizeof ref) != 0)
                    fail_msg("row %lld token %lld: %.9g, reference %.9g (exact)", (long long)r,
                             (long long)t, (double)got, (double)ref);
                continue;
            }
            dfit_row_to_f32(w->type, row, wf, w->n_in);
            double tol;
            if (!q) {
                double s = 0.0;
                for (int64_t k = 0; k < w->n_in; k++)
                    s += fabs((double)wf[k] * xt[k]);
                tol = (double)(w->n_in + 4) * ldexp(1.0, -24) * s;
            } else {
                double s = 0.0;
                for (int64_t b = 0; b < nb; b++)
                    for (int k = 32 * (int)b; k < 32 * (int)b + 32; k++)
                        s += fabs((double)wf[k] * xd[k]);
                tol = (double)(8 * nb + 8) * ldexp(1.0, -24) * s;
            }
            const double e = fabs((double)got - ref);
            if (!(e <= tol))
                fail_msg("%s row %lld token %lld: %.9g, reference %.9g, error %.3g > %.3g",
                         dfit_type_info(w->type)->name, (long long)r, (long long)t, (double)got,
                         (double)ref, e, tol);
            if (tol > 0 && e / tol > worst)
                worst = e / tol;
        }
    }
    free(xq);
    free(wf);
    free(xd);
    return worst;
}

static const int64_t tok_counts[] = {1, 2, 3, 4, 5, 7, 17, 300};
#define N_TOK (sizeof tok_counts / sizeof tok_counts[0])

/* Packs w in layout l and checks every token count with every set. */
static void check_layout(const struct dfit_weight *w, enum dfit_sparse_layout l, uint64_t seed)
{
    struct dfit_err err = {0};
    struct dfit_sparse_mat *s = NULL;
    if (dfit_sparse_pack(w, l, 2, &s, &err))
        fail_msg("pack: %s", err.msg);
    assert_int_equal(s->n_nonzero, dfit_sparse_count_nonzero(w));
    assert_int_equal(s->unit_row[s->n_unit], w->n_out);
    float *x = make_x(300, w->n_in, seed);
    float *out = malloc((size_t)(300 * w->n_out) * sizeof *out);
    for (int k = 0; k < 2; k++) {
        struct rig g;
        struct dfit_sparse_kern probe;
        if (!kern_at(k, &probe))
            continue;
        rig_open(&g, k, 2, 300, w->n_in);
        for (size_t i = 0; i < N_TOK; i++) {
            memset(out, 0xff, (size_t)(tok_counts[i] * w->n_out) * sizeof *out);
            sparse_product(&g, out, s, x, tok_counts[i]);
            check_product(out, w, x, tok_counts[i], l == DFIT_SPARSE_BLOCKS && k == 0);
        }
        rig_close(&g);
    }
    free(out);
    free(x);
    dfit_sparse_mat_free(s);
}

static const enum dfit_type float_types[3] = {DFIT_TYPE_F32, DFIT_TYPE_F16, DFIT_TYPE_BF16};

static void test_bitmap(void **state)
{
    (void)state;
    static const int64_t n_in[] = {1, 7, 17, 33, 100, 300};
    static const double sp[] = {0.5, 0.7, 0.9};
    for (int f = 0; f < 3; f++)
        for (size_t i = 0; i < sizeof n_in / sizeof n_in[0]; i++)
            for (int j = 0; j < 3; j++) {
                struct dfit_weight w;
                make_weight(&w, float_types[f], n_in[i], 37, UNSTRUCT, sp[j], 100 + i * 3 + j);
                check_layout(&w, DFIT_SPARSE_BITMAP, 7 + i);
                free((void *)w.data);
            }
}

static void test_two_four(void **state)
{
    (void)state;
    static const int64_t n_in[] = {4, 12, 36, 100, 260};
    for (int f = 0; f < 3; f++)
        for (size_t i = 0; i < sizeof n_in / sizeof n_in[0]; i++) {
            struct dfit_weight w;
            make_weight(&w, float_types[f], n_in[i], 21, TWO_FOUR, 0.5, 200 + i);
            check_layout(&w, DFIT_SPARSE_2_4, 9 + i);
            free((void *)w.data);
        }
}

static void test_blocks(void **state)
{
    (void)state;
    const enum dfit_type qt[2] = {DFIT_TYPE_Q8_0, DFIT_TYPE_Q4_0};
    static const int64_t n_in[] = {32, 96, 288};
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < sizeof n_in / sizeof n_in[0]; i++) {
            struct dfit_weight w;
            make_weight(&w, qt[f], n_in[i], 29, BLOCKY, 0.6, 300 + i);
            check_layout(&w, DFIT_SPARSE_BLOCKS, 11 + i);
            free((void *)w.data);
        }
}

/* Unit scales and integer activations: every set exact. */
static void test_blocks_exact_unit_scales(void **state)
{
    (void)state;
    struct dfit_rng r;
    dfit_rng_seed(&r, 5);
    const int64_t n_in = 288, n_out = 9, nb = n_in / 32;
    struct dfit_block_q8_0 *q = calloc((size_t)(n_out * nb), sizeof *q);
    for (int64_t i = 0; i < n_out * nb; i++) {
        q[i].d = dfit_f32_to_fp16(1.0f);
        if (i % 3 == 0)
            continue; /* a zero block */
        for (int j = 0; j < 32; j++)
            q[i].qs[j] = (int8_t)((int)dfit_rng_below(&r, 256) - 128);
    }
    struct dfit_weight w = {.name = "unit", .type = DFIT_TYPE_Q8_0, .n_in = n_in, .n_out = n_out,
                            .row_bytes = (size_t)nb * sizeof *q, .data = q};
    float *x = malloc((size_t)(4 * n_in) * sizeof *x);
    for (int64_t i = 0; i < 4 * n_in; i++)
        x[i] = (float)((int)dfit_rng_below(&r, 255) - 127);
    for (int64_t i = 0; i < 4; i++)
        x[i * n_in] = 127.0f; /* every block's amax 127: d = 1, quants = x */
    for (int64_t i = 0; i < 4 * n_in; i += 32)
        x[i] = 127.0f;
    struct dfit_err err = {0};
    struct dfit_sparse_mat *s = NULL;
    assert_int_equal(dfit_sparse_pack(&w, DFIT_SPARSE_BLOCKS, 1, &s, &err), 0);
    float out[4 * 9];
    for (int k = 0; k < 2; k++) {
        struct dfit_sparse_kern probe;
        if (!kern_at(k, &probe))
            continue;
        struct rig g;
        rig_open(&g, k, 1, 4, n_in);
        sparse_product(&g, out, s, x, 4);
        check_product(out, &w, x, 4, true);
        rig_close(&g);
    }
    dfit_sparse_mat_free(s);
    free(x);
    free(q);
}

static void test_threads_bitwise(void **state)
{
    (void)state;
    struct dfit_weight w;
    make_weight(&w, DFIT_TYPE_F16, 300, 97, UNSTRUCT, 0.7, 17);
    struct dfit_err err = {0};
    float *x = make_x(40, 300, 3);
    float *out[3];
    for (int k = 0; k < 2; k++) {
        struct dfit_sparse_kern probe;
        if (!kern_at(k, &probe))
            continue;
        for (int64_t nt = 1; nt <= 40; nt += 39) {
            for (int th = 1; th <= 3; th++) {
                /* units are cut for the thread count, as at load */
                struct dfit_sparse_mat *s = NULL;
                assert_int_equal(dfit_sparse_pack(&w, DFIT_SPARSE_BITMAP, th, &s, &err), 0);
                out[th - 1] = malloc((size_t)(nt * 97) * sizeof(float));
                struct rig g;
                rig_open(&g, k, th, 40, 300);
                sparse_product(&g, out[th - 1], s, x, nt);
                rig_close(&g);
                dfit_sparse_mat_free(s);
                if (th > 1)
                    assert_memory_equal(out[0], out[th - 1], (size_t)(nt * 97) * sizeof(float));
            }
            for (int th = 0; th < 3; th++)
                free(out[th]);
        }
    }
    free(x);
    free((void *)w.data);
}

static void test_pack_rejects(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_sparse_mat *s = (void *)1;
    struct dfit_weight w;
    make_weight(&w, DFIT_TYPE_F32, 16, 5, TWO_FOUR, 0.5, 1);
    float *row3 = (float *)((uint8_t *)w.data + 3 * w.row_bytes);
    row3[4] = row3[5] = row3[6] = row3[7] = 1.0f; /* row 3, group 1: 4 non-zeros */
    assert_int_equal(dfit_sparse_pack(&w, DFIT_SPARSE_2_4, 1, &s, &err), DFIT_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "tensor 'test.weight': not 2:4: row 3, columns 4..7: 4 non-zeros"));
    assert_int_equal(dfit_sparse_pack(&w, DFIT_SPARSE_BLOCKS, 1, &s, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "f32 matrix cannot take layout blocks"));
    free((void *)w.data);

    make_weight(&w, DFIT_TYPE_F32, 18, 5, UNSTRUCT, 0.5, 1); /* 18: not a multiple of 4 */
    assert_int_equal(dfit_sparse_pack(&w, DFIT_SPARSE_2_4, 1, &s, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "row length 18 is not a multiple of 4"));
    free((void *)w.data);

    make_weight(&w, DFIT_TYPE_Q8_0, 64, 8, BLOCKY, 0.0, 1); /* only row 0's blocks zero */
    assert_int_equal(dfit_sparse_pack(&w, DFIT_SPARSE_BLOCKS, 1, &s, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "2 of 16 blocks all zero, fewer than 25%"));
    assert_int_equal(dfit_sparse_pack(&w, DFIT_SPARSE_BITMAP, 1, &s, &err), DFIT_EINVAL);
    free((void *)w.data);
}

static void test_wanted(void **state)
{
    (void)state;
    char set[32];
    unsetenv("DFIT_CPU_SPARSE");
    assert_true(dfit_sparse_wanted(NULL, set, sizeof set));
    assert_string_equal(set, "auto");
    assert_true(dfit_sparse_wanted("avx512", set, sizeof set));
    assert_string_equal(set, "avx512");
    assert_false(dfit_sparse_wanted("scalar+dense", set, sizeof set));
    assert_string_equal(set, "scalar");
    assert_false(dfit_sparse_wanted("dense", set, sizeof set));
    assert_string_equal(set, "auto");
    setenv("DFIT_CPU_SPARSE", "0", 1);
    assert_false(dfit_sparse_wanted("auto", set, sizeof set));
    assert_string_equal(set, "auto");
    setenv("DFIT_CPU_SPARSE", "1", 1);
    assert_true(dfit_sparse_wanted("auto", set, sizeof set));
    unsetenv("DFIT_CPU_SPARSE");
}

/* ---- the forward pass of pruned models --------------------------------------------- */

#define N_PROMPT 11
#define N_DECODE 3
#define N_LOGITS (N_PROMPT + N_DECODE)

/* Runs path with `kernels` (cpu_run_fixture.h); logits [N_LOGITS][n_vocab]
 * into *out (NULL: allocated). Returns the load report. */
static struct dfit_load_report run_model(const char *path, const char *kernels, float **out)
{
    struct dfit_memory mem;
    struct dfit_load_report rep = cpu_run_fixture(path, kernels, N_PROMPT, N_DECODE, out, &mem);
    assert_true(mem.weight_bytes > 0);
    return rep;
}

static double rel_rms(const float *a, const float *ref, size_t n)
{
    double d = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        s += (double)ref[i] * ref[i];
    }
    return sqrt(d / s);
}

static void prune_to(const char *in, const char *out, enum dfit_prune_pattern pat, double amount,
                     bool have_to, enum dfit_type to, bool with_output)
{
    struct dfit_compress_params cp = {.have_to = have_to, .to = to, .n_threads = 1};
    cp.prune = (struct dfit_prune_params){.pattern = pat, .amount = amount,
                                          .include_output = with_output};
    struct dfit_err err = {0};
    if (dfit_compress_file(in, out, &cp, NULL, &err))
        fail_msg("compress %s: %s", out, err.msg);
}

/* Runs path with sparse kernels (set `set`), its reference and the same
 * set dense; checks the kernels string holds `want`. tol: relative RMS
 * error of the logits against both. */
static void check_forward_tol(const char *path, const char *set, const char *want, double tol)
{
    float *sp = NULL, *ref = NULL, *dense = NULL;
    char dense_set[40];
    /* the dense run reads the mapping (+mmap), so it prepares nothing; the
     * sparse run copies its dense matrices (the output) to resident memory */
    snprintf(dense_set, sizeof dense_set, "%s+dense+mmap", set);
    struct dfit_load_report rs = run_model(path, set, &sp);
    struct dfit_load_report rd = run_model(path, dense_set, &dense);
    run_model(path, "ref", &ref);
    if (!strstr(rs.kernels, want))
        fail_msg("%s: kernels '%s', expected '%s'", path, rs.kernels, want);
    assert_true(strstr(rd.kernels, "+mmap") && !strstr(rd.kernels, "(")); /* nothing repacked */
    assert_true(rs.prepare_ns > 0);
    assert_int_equal(rd.prepare_ns, 0);
    assert_true(rs.weight_bytes < rd.weight_bytes);
    const size_t n = (size_t)N_LOGITS * 320;
    const double e_ref = rel_rms(sp, ref, n), e_dense = rel_rms(sp, dense, n);
    if (!(e_ref < tol && e_dense < tol))
        fail_msg("%s (%s): relative RMS error %.3g against ref, %.3g against dense", path,
                 rs.kernels, e_ref, e_dense);
    free(sp);
    free(ref);
    free(dense);
}

/* F32 activations everywhere: only summation orders differ. */
static void check_forward(const char *path, const char *set, const char *want)
{
    check_forward_tol(path, set, want, 2e-5);
}

static void test_forward_pruned(void **state)
{
    (void)state;
    char path[160];
    const char *sets[2] = {"scalar", "avx512"};
    for (int k = 0; k < 2; k++) {
        if (k == 1 && !have_avx512())
            continue;
        for (int f = 0; f < 3; f++) {
            snprintf(path, sizeof path, "%s/u70-%d.gguf", tmpdir, f);
            prune_to(tiny_path[f], path, DFIT_PRUNE_UNSTRUCTURED, 0.7, false, 0, false);
            /* BF16 under avx512: the dense matrices left (the output) take
             * bf16 activations, test_kernels' bound */
            const double tol = k == 1 && f == 2 ? 1.5e-2 : 2e-5;
            check_forward_tol(path, sets[k], "+bitmap(14/14)", tol);
            unlink(path);
            snprintf(path, sizeof path, "%s/24-%d.gguf", tmpdir, f);
            prune_to(tiny_path[f], path, DFIT_PRUNE_2_4, 0.5, false, 0, f == 1);
            check_forward_tol(path, sets[k], f == 1 ? "+2:4(15/15)" : "+2:4(14/14)", tol);
            unlink(path);
        }
        const enum dfit_type qt[2] = {DFIT_TYPE_Q8_0, DFIT_TYPE_Q4_0};
        for (int f = 0; f < 2; f++) {
            snprintf(path, sizeof path, "%s/u98-q%d.gguf", tmpdir, f);
            prune_to(tiny_path[0], path, DFIT_PRUNE_UNSTRUCTURED, 0.98, true, qt[f], true);
            check_forward(path, sets[k], "+blocks(15/15)");
            unlink(path);
        }
    }
}

/* Overwrites n floats of tensor `name` of the F32 file at path from
 * element `first`. */
static void poke_f32(const char *path, const char *name, int64_t first, const float *v, size_t n)
{
    struct dfit_err err = {0};
    struct dfit_gguf *g = NULL;
    assert_int_equal(dfit_gguf_open(path, &g, &err), 0);
    const struct dfit_gguf_tensor *t = dfit_gguf_find_tensor(g, name);
    assert_non_null(t);
    assert_int_equal(t->type, DFIT_TYPE_F32);
    const off_t off = (off_t)(g->data_offset + t->offset + (uint64_t)first * sizeof(float));
    dfit_gguf_close(g);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, v, n * sizeof *v, off), (ssize_t)(n * sizeof *v));
    close(fd);
}

static void test_fallback(void **state)
{
    (void)state;
    char path[160];
    const float three[3] = {0.25f, -0.5f, 0.75f};
    snprintf(path, sizeof path, "%s/24-bad.gguf", tmpdir);
    prune_to(tiny_path[0], path, DFIT_PRUNE_2_4, 0.5, false, 0, false);
    poke_f32(path, "blk.1.ffn_up.weight", 64 * 5 + 8, three, 3); /* row 5, group 2 */
    check_forward(path, have_avx512() ? "avx512" : "scalar",
                  "+2:4(13/14; dense: blk.1.ffn_up.weight)");
    unlink(path);

    float *fill = malloc(64 * 64 * sizeof *fill);
    for (int i = 0; i < 64 * 64; i++)
        fill[i] = 0.01f * (float)(i % 7 + 1);
    snprintf(path, sizeof path, "%s/u70-bad.gguf", tmpdir);
    prune_to(tiny_path[0], path, DFIT_PRUNE_UNSTRUCTURED, 0.7, false, 0, false);
    poke_f32(path, "blk.0.attn_q.weight", 0, fill, 64 * 40); /* 62.5% non-zero */
    check_forward(path, "scalar", "+bitmap(13/14; dense: blk.0.attn_q.weight)");
    unlink(path);
    free(fill);

    /* an unpruned file: nothing repacked, nothing in the kernels string */
    float *a = NULL;
    struct dfit_load_report r = run_model(tiny_path[0], "scalar+mmap", &a);
    assert_string_equal(r.kernels, "scalar+mmap");
    assert_int_equal(r.prepare_ns, 0);
    free(a);
}

/* ---- setup ------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfit-test-sparse-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    struct dfit_synth_params sp = {.seed = 42, .name = "test"};
    if (dfit_synth_preset("tiny", &sp.shape, &err))
        goto fail;
    for (int f = 0; f < 3; f++) {
        sp.type = float_types[f];
        snprintf(tiny_path[f], sizeof tiny_path[f], "%s/tiny-%d.gguf", tmpdir, f);
        if (dfit_synth_write(&sp, tiny_path[f], &err))
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
    for (int f = 0; f < 3; f++)
        unlink(tiny_path[f]);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bitmap),
        cmocka_unit_test(test_two_four),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_blocks_exact_unit_scales),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_pack_rejects),
        cmocka_unit_test(test_wanted),
        cmocka_unit_test(test_forward_pruned),
        cmocka_unit_test(test_fallback),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
