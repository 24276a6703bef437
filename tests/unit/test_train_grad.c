/* test_train_grad — finite-difference checks of every backward function of
 * the trainer (compress/train_ops.h) and of the whole model's loss
 * (compress/train_pass.h).
 *
 * Method: for an op y = f(x), the scalar objective is L = sum_i r_i y_i
 * with a fixed random r (accumulated in double), so backward is fed
 * dout = r. Each checked input element is moved by +-h and the central
 * difference (L(x+h) - L(x-h)) / 2h is compared with the analytic gradient.
 * The ops compute in F32; with inputs of order 1 and h = 1e-2 the
 * difference's truncation error (h^2 f''') and its rounding error (about
 * 1e-7 * |L| / h) are both near 1e-4, so the tolerance is
 *     |fd - analytic| <= ATOL + RTOL * max(|fd|, |analytic|),
 * ATOL 2e-3, RTOL 2e-2 for the ops. Sizes are odd where they can be, so
 * the matmul's edge tiles are exercised beside its full ones.
 * Whole model: tiny shapes (dim 32, 2 layers, 4 query heads over 2 KV
 * heads, ffn 64, vocabulary 259, tied and untied), B 2 x T 6 tokens,
 * masked cross-entropy; for every tensor the 3 parameters with the largest
 * gradient and 2 random ones are checked with h = 1e-2 (ATOL 1e-4, RTOL
 * 5e-2: model gradients are of order 1e-3..1e-1), plus the directional
 * derivative along a random unit direction of the whole tensor.
 * Also: the blocked GEMM against a naive double product, thread-count
 * independence (1 vs 3 threads, bit for bit), attention rows summing to 1.
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

#include "compress/train_model.h"
#include "compress/train_ops.h"
#include "compress/train_pass.h"
#include "util/rng.h"
#include "util/threadpool.h"

#define H_OP 1e-2f
#define ATOL_OP 2e-3
#define RTOL_OP 2e-2

static struct dfit_rng rng;

static float *vec(int64_t n)
{
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    assert_non_null(p);
    return p;
}

static float *randn(int64_t n, float std)
{
    float *p = vec(n);
    for (int64_t i = 0; i < n; i++)
        p[i] = std * dfit_rng_normal(&rng);
    return p;
}

/* ---- generic checker ------------------------------------------------------ */

/* Computes the op's outputs from its (possibly perturbed) inputs. */
typedef void (*fwd_fn)(void *ctx);

struct op {
    fwd_fn fwd;
    void *ctx;
    const float *y;   /* outputs, [ny] */
    int64_t ny;
    const float *r;   /* objective weights, [ny] */
};

static double objective(const struct op *op)
{
    op->fwd(op->ctx);
    double s = 0.0;
    for (int64_t i = 0; i < op->ny; i++)
        s += (double)op->r[i] * op->y[i];
    return s;
}

/* Checks grad[i] for every i (n <= 64) or a fixed sample of 64. */
static void check_input(const char *name, const struct op *op, float *x, int64_t n, const float *grad,
                        float h, double atol, double rtol)
{
    int64_t n_check = n <= 64 ? n : 64;
    double worst = 0.0;
    for (int64_t c = 0; c < n_check; c++) {
        int64_t i = n <= 64 ? c : (int64_t)((c * 7919) % n);
        const float x0 = x[i];
        x[i] = x0 + h;
        const double lp = objective(op);
        x[i] = x0 - h;
        const double lm = objective(op);
        x[i] = x0;
        const double fd = (lp - lm) / (2.0 * (double)h), an = grad[i];
        const double tol = atol + rtol * fmax(fabs(fd), fabs(an));
        worst = fmax(worst, fabs(fd - an) / tol);
        if (fabs(fd - an) > tol)
            fail_msg("%s[%lld]: finite difference %.6g, analytic %.6g (tolerance %.3g)", name,
                     (long long)i, fd, an, tol);
    }
    assert_true(worst <= 1.0);
    objective(op); /* leave outputs at the unperturbed inputs */
}

/* ---- embedding -------------------------------------------------------------- */

struct embed_ctx {
    float *out, *wte;
    const int32_t *tok;
    int64_t N, D;
};

static void embed_fwd(void *p)
{
    struct embed_ctx *c = p;
    dfit_train_embed_forward(c->out, c->tok, c->wte, c->N, c->D);
}

static void test_embedding(void **state)
{
    (void)state;
    const int64_t V = 11, D = 9, N = 7;
    const int32_t tok[7] = {3, 0, 3, 10, 5, 3, 0}; /* repeats accumulate */
    struct embed_ctx c = {vec(N * D), randn(V * D, 1.0f), tok, N, D};
    float *r = randn(N * D, 1.0f), *dwte = vec(V * D);
    struct op op = {embed_fwd, &c, c.out, N * D, r};
    objective(&op);
    dfit_train_embed_backward(dwte, r, tok, N, D, NULL);
    check_input("embed dwte", &op, c.wte, V * D, dwte, H_OP, ATOL_OP, RTOL_OP);
    /* an untouched row has no gradient */
    for (int64_t i = 0; i < D; i++)
        assert_true(dwte[1 * D + i] == 0.0f);
    free(c.out), free(c.wte), free(r), free(dwte);
}

/* ---- RMSNorm ------------------------------------------------------------------ */

struct rms_ctx {
    float *out, *rstd, *inp, *w;
    int64_t N, D;
};

static void rms_fwd(void *p)
{
    struct rms_ctx *c = p;
    dfit_train_rmsnorm_forward(c->out, c->rstd, c->inp, c->w, c->N, c->D, 1e-5f, NULL);
}

static void test_rmsnorm(void **state)
{
    (void)state;
    const int64_t N = 3, D = 17;
    struct rms_ctx c = {vec(N * D), vec(N), randn(N * D, 1.0f), randn(D, 1.0f), N, D};
    float *r = randn(N * D, 1.0f), *dinp = vec(N * D), *dw = vec(D);
    struct op op = {rms_fwd, &c, c.out, N * D, r};
    objective(&op);
    dfit_train_rmsnorm_backward(dinp, dw, r, c.inp, c.w, c.rstd, N, D, NULL);
    check_input("rmsnorm dinp", &op, c.inp, N * D, dinp, H_OP, ATOL_OP, RTOL_OP);
    check_input("rmsnorm dw", &op, c.w, D, dw, H_OP, ATOL_OP, RTOL_OP);
    free(c.out), free(c.rstd), free(c.inp), free(c.w), free(r), free(dinp), free(dw);
}

/* ---- matmul --------------------------------------------------------------------- */

struct mm_ctx {
    float *out, *inp, *w, *scratch;
    int64_t N, I, O;
};

static void mm_fwd(void *p)
{
    struct mm_ctx *c = p;
    dfit_train_matmul_forward(c->out, c->inp, c->w, c->N, c->I, c->O, c->scratch, NULL);
}

static void check_matmul(int64_t N, int64_t I, int64_t O)
{
    struct mm_ctx c = {vec(N * O), randn(N * I, 1.0f), randn(O * I, 0.3f),
                       vec(dfit_train_matmul_scratch(N, I, O)), N, I, O};
    float *r = randn(N * O, 1.0f), *dinp = vec(N * I), *dw = vec(O * I);
    struct op op = {mm_fwd, &c, c.out, N * O, r};
    objective(&op);
    dfit_train_matmul_backward(dinp, dw, r, c.inp, c.w, N, I, O, c.scratch, NULL);
    char name[64];
    snprintf(name, sizeof name, "matmul %lldx%lldx%lld dinp", (long long)N, (long long)I, (long long)O);
    check_input(name, &op, c.inp, N * I, dinp, H_OP, ATOL_OP, RTOL_OP);
    snprintf(name, sizeof name, "matmul %lldx%lldx%lld dw", (long long)N, (long long)I, (long long)O);
    check_input(name, &op, c.w, O * I, dw, H_OP, ATOL_OP, RTOL_OP);
    free(c.out), free(c.inp), free(c.w), free(c.scratch), free(r), free(dinp), free(dw);
}

static void test_matmul(void **state)
{
    (void)state;
    check_matmul(5, 19, 23);  /* edge tiles only */
    check_matmul(8, 40, 32);  /* full 4x16 tiles */
    check_matmul(9, 33, 35);  /* both */
}

/* C += A·B against a double-precision triple loop, sizes around the tile
 * and depth-block edges (4 x 16 tiles, blocks of 256). */
static void test_gemm_reference(void **state)
{
    (void)state;
    const int64_t shapes[][3] = {{1, 1, 1}, {4, 16, 256}, {7, 33, 300}, {13, 17, 513}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = randn(M * K, 1.0f), *B = randn(K * N, 1.0f), *C = randn(M * N, 1.0f);
        double *ref = calloc((size_t)(M * N), sizeof *ref);
        assert_non_null(ref);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = C[i * N + j];
                for (int64_t k = 0; k < K; k++)
                    acc += (double)A[i * K + k] * B[k * N + j];
                ref[i * N + j] = acc;
            }
        dfit_train_gemm(C, A, B, M, N, K, K, N, N, NULL);
        /* float sums of K products of N(0,1) terms: error ~ 1e-7 * K */
        for (int64_t i = 0; i < M * N; i++)
            if (fabs(C[i] - ref[i]) > 1e-6 * (double)K + 1e-5)
                fail_msg("gemm %lldx%lldx%lld: C[%lld] = %.7g, reference %.7g", (long long)M,
                         (long long)N, (long long)K, (long long)i, C[i], ref[i]);
        free(A), free(B), free(C), free(ref);
    }
}

/* ---- RoPE ------------------------------------------------------------------------ */

struct rope_ctx {
    float *out, *inp, *cos_t, *sin_t;
    int64_t N, T;
    int H, hd;
};

static void rope_fwd(void *p)
{
    struct rope_ctx *c = p;
    dfit_train_rope_forward(c->out, c->inp, c->cos_t, c->sin_t, c->N, c->T, c->H, c->hd);
}

static void test_rope(void **state)
{
    (void)state;
    const int64_t B = 2, T = 5, N = B * T;
    const int H = 3, hd = 8;
    struct rope_ctx c = {vec(N * H * hd), randn(N * H * hd, 1.0f), vec(T * hd / 2), vec(T * hd / 2),
                         N, T, H, hd};
    dfit_train_rope_tables(c.cos_t, c.sin_t, T, hd, 10000.0f);
    /* position 0 is the identity; position 1's first pair turns by 1 radian */
    assert_true(c.cos_t[0] == 1.0f && c.sin_t[0] == 0.0f);
    assert_true(fabsf(c.cos_t[hd / 2] - cosf(1.0f)) < 1e-6f && fabsf(c.sin_t[hd / 2] - sinf(1.0f)) < 1e-6f);
    float *r = randn(N * H * hd, 1.0f), *dinp = vec(N * H * hd);
    struct op op = {rope_fwd, &c, c.out, N * H * hd, r};
    objective(&op);
    dfit_train_rope_backward(dinp, r, c.cos_t, c.sin_t, N, T, H, hd);
    check_input("rope dinp", &op, c.inp, N * H * hd, dinp, H_OP, ATOL_OP, RTOL_OP);
    /* in place equals out of place */
    float *copy = vec(N * H * hd);
    memcpy(copy, c.inp, (size_t)(N * H * hd) * sizeof(float));
    dfit_train_rope_forward(copy, copy, c.cos_t, c.sin_t, N, T, H, hd);
    assert_memory_equal(copy, c.out, (size_t)(N * H * hd) * sizeof(float));
    free(c.out), free(c.inp), free(c.cos_t), free(c.sin_t), free(r), free(dinp), free(copy);
}

/* ---- attention -------------------------------------------------------------------- */

struct att_ctx {
    float *out, *att, *q, *k, *v;
    int64_t B, T;
    int H, HKV, hd;
    struct dfit_threadpool *tp;
};

static void att_fwd(void *p)
{
    struct att_ctx *c = p;
    dfit_train_attention_forward(c->out, c->att, c->q, c->k, c->v, c->B, c->T, c->H, c->HKV, c->hd, c->tp);
}

static void test_attention(void **state)
{
    (void)state;
    const int64_t B = 2, T = 5;
    const int H = 4, HKV = 2, hd = 6;
    const int64_t nq = B * T * H * hd, nkv = B * T * HKV * hd;
    struct att_ctx c = {vec(nq), vec(B * H * T * T), randn(nq, 1.0f), randn(nkv, 1.0f),
                        randn(nkv, 1.0f), B, T, H, HKV, hd, NULL};
    float *r = randn(nq, 1.0f), *dq = vec(nq), *dk = vec(nkv), *dv = vec(nkv), *scratch = vec(T);
    struct op op = {att_fwd, &c, c.out, nq, r};
    objective(&op);
    /* causal probabilities: rows sum to 1, zero above the diagonal */
    for (int64_t row = 0; row < B * H * T; row++) {
        const int64_t t = row % T;
        double s = 0.0;
        for (int64_t j = 0; j < T; j++) {
            s += c.att[row * T + j];
            if (j > t)
                assert_true(c.att[row * T + j] == 0.0f);
        }
        assert_true(fabs(s - 1.0) < 1e-6);
    }
    dfit_train_attention_backward(dq, dk, dv, r, c.att, c.q, c.k, c.v, B, T, H, HKV, hd, scratch, NULL);
    check_input("attention dq", &op, c.q, nq, dq, H_OP, ATOL_OP, RTOL_OP);
    check_input("attention dk (GQA)", &op, c.k, nkv, dk, H_OP, ATOL_OP, RTOL_OP);
    check_input("attention dv (GQA)", &op, c.v, nkv, dv, H_OP, ATOL_OP, RTOL_OP);
    free(c.out), free(c.att), free(c.q), free(c.k), free(c.v), free(r), free(dq), free(dk), free(dv),
        free(scratch);
}

/* ---- SwiGLU and residual ------------------------------------------------------------- */

struct sw_ctx {
    float *out, *gate, *up;
    int64_t n;
};

static void sw_fwd(void *p)
{
    struct sw_ctx *c = p;
    dfit_train_swiglu_forward(c->out, c->gate, c->up, c->n, NULL);
}

static void res_fwd(void *p)
{
    struct sw_ctx *c = p;
    dfit_train_residual_forward(c->out, c->gate, c->up, c->n);
}

static void test_swiglu_residual(void **state)
{
    (void)state;
    const int64_t n = 41;
    struct sw_ctx c = {vec(n), randn(n, 2.0f), randn(n, 1.0f), n};
    float *r = randn(n, 1.0f), *dg = vec(n), *du = vec(n);
    struct op op = {sw_fwd, &c, c.out, n, r};
    objective(&op);
    dfit_train_swiglu_backward(dg, du, r, c.gate, c.up, n, NULL);
    check_input("swiglu dgate", &op, c.gate, n, dg, H_OP, ATOL_OP, RTOL_OP);
    check_input("swiglu dup", &op, c.up, n, du, H_OP, ATOL_OP, RTOL_OP);

    struct op rop = {res_fwd, &c, c.out, n, r};
    memset(dg, 0, (size_t)n * sizeof(float));
    memset(du, 0, (size_t)n * sizeof(float));
    objective(&rop);
    dfit_train_residual_backward(dg, du, r, n);
    check_input("residual da", &rop, c.gate, n, dg, H_OP, ATOL_OP, RTOL_OP);
    check_input("residual db", &rop, c.up, n, du, H_OP, ATOL_OP, RTOL_OP);
    free(c.out), free(c.gate), free(c.up), free(r), free(dg), free(du);
}

/* ---- losses: the objective is the masked mean itself ---------------------------------- */

struct loss_ctx {
    float *logits, *probs, *losses, *dloss, *teacher;
    const int32_t *targets;
    const uint8_t *mask;
    int64_t N, V;
    float temp;
    float mean;   /* output: the loss */
};

static void ce_fwd(void *p)
{
    struct loss_ctx *c = p;
    dfit_train_ce_forward(c->losses, c->probs, c->logits, c->targets, c->N, c->V, NULL);
    c->mean = (float)dfit_train_masked_mean(c->dloss, c->losses, c->mask, c->N, NULL);
}

static void kl_fwd(void *p)
{
    struct loss_ctx *c = p;
    dfit_train_kl_forward(c->losses, c->probs, c->logits, c->teacher, c->temp, c->N, c->V, NULL);
    c->mean = (float)dfit_train_masked_mean(c->dloss, c->losses, c->mask, c->N, NULL);
}

static void test_cross_entropy_masked(void **state)
{
    (void)state;
    const int64_t N = 6, V = 13;
    const int32_t targets[6] = {0, 12, 5, 5, 7, 1};
    const uint8_t mask[6] = {1, 0, 1, 1, 0, 1};
    struct loss_ctx c = {randn(N * V, 2.0f), vec(N * V), vec(N), vec(N), NULL, targets, mask, N, V, 1.0f, 0};
    const float one = 1.0f;
    struct op op = {ce_fwd, &c, &c.mean, 1, &one};
    objective(&op);
    /* the loss is -log p[target] averaged over the 4 masked rows */
    double ref = 0.0;
    for (int64_t n = 0; n < N; n++)
        if (mask[n])
            ref -= log(c.probs[n * V + targets[n]]) / 4.0;
    assert_true(fabs(ref - c.mean) < 1e-5);
    float *dlogits = vec(N * V);
    dfit_train_ce_backward(dlogits, c.probs, targets, c.dloss, N, V, NULL);
    check_input("cross-entropy dlogits", &op, c.logits, N * V, dlogits, H_OP, 1e-4, RTOL_OP);
    /* unmasked rows get no gradient */
    for (int64_t j = 0; j < V; j++)
        assert_true(dlogits[1 * V + j] == 0.0f && dlogits[4 * V + j] == 0.0f);
    free(c.logits), free(c.probs), free(c.losses), free(c.dloss), free(dlogits);
}

static void test_kl_temperature(void **state)
{
    (void)state;
    const int64_t N = 4, V = 11;
    const float temp = 2.0f;
    const uint8_t mask[4] = {1, 1, 0, 1};
    float *teacher = randn(N * V, 1.5f);
    for (int64_t n = 0; n < N; n++) { /* softmax rows at the temperature, one exact zero */
        double s = 0.0;
        for (int64_t j = 0; j < V; j++)
            s += exp(teacher[n * V + j] / temp);
        s -= exp(teacher[n * V + 3] / temp);
        for (int64_t j = 0; j < V; j++)
            teacher[n * V + j] = j == 3 ? 0.0f : (float)(exp(teacher[n * V + j] / temp) / s);
    }
    struct loss_ctx c = {randn(N * V, 2.0f), vec(N * V), vec(N), vec(N), teacher, NULL, mask, N, V, temp, 0};
    const float one = 1.0f;
    struct op op = {kl_fwd, &c, &c.mean, 1, &one};
    objective(&op);
    assert_true(c.mean > 0.0f);
    float *dlogits = vec(N * V);
    dfit_train_kl_backward(dlogits, c.probs, teacher, c.dloss, temp, N, V, NULL);
    check_input("KL dlogits (temperature 2)", &op, c.logits, N * V, dlogits, H_OP, 1e-4, RTOL_OP);
    /* KL of a distribution to itself is 0 */
    for (int64_t i = 0; i < N * V; i++)
        c.logits[i] = teacher[i] > 0.0f ? temp * logf(teacher[i]) : -1e4f;
    objective(&op);
    assert_true(fabsf(c.mean) < 1e-5f);
    free(c.logits), free(c.probs), free(c.losses), free(c.dloss), free(teacher), free(dlogits);
}

/* ---- thread-count independence --------------------------------------------------------- */

static void test_threads_bitwise(void **state)
{
    (void)state;
    struct dfit_threadpool *tp = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_threadpool_create(3, &tp, &err), 0);
    const int64_t N = 37, I = 48, O = 70;
    float *inp = randn(N * I, 1.0f), *w = randn(O * I, 0.3f), *scratch = vec(I * O);
    float *o1 = vec(N * O), *o3 = vec(N * O), *r = randn(N * O, 1.0f);
    float *di1 = vec(N * I), *di3 = vec(N * I), *dw1 = vec(O * I), *dw3 = vec(O * I);
    dfit_train_matmul_forward(o1, inp, w, N, I, O, scratch, NULL);
    dfit_train_matmul_forward(o3, inp, w, N, I, O, scratch, tp);
    assert_memory_equal(o1, o3, (size_t)(N * O) * sizeof(float));
    dfit_train_matmul_backward(di1, dw1, r, inp, w, N, I, O, scratch, NULL);
    dfit_train_matmul_backward(di3, dw3, r, inp, w, N, I, O, scratch, tp);
    assert_memory_equal(di1, di3, (size_t)(N * I) * sizeof(float));
    assert_memory_equal(dw1, dw3, (size_t)(O * I) * sizeof(float));

    const int64_t B = 3, T = 7;
    const int H = 4, HKV = 2, hd = 8;
    const int64_t nq = B * T * H * hd, nkv = B * T * HKV * hd;
    float *q = randn(nq, 1.0f), *k = randn(nkv, 1.0f), *v = randn(nkv, 1.0f), *g = randn(nq, 1.0f);
    float *a1 = vec(nq), *a3 = vec(nq), *p1 = vec(B * H * T * T), *p3 = vec(B * H * T * T);
    float *gq1 = vec(nq), *gq3 = vec(nq), *gk1 = vec(nkv), *gk3 = vec(nkv), *gv1 = vec(nkv), *gv3 = vec(nkv);
    float *sc = vec(3 * T);
    dfit_train_attention_forward(a1, p1, q, k, v, B, T, H, HKV, hd, NULL);
    dfit_train_attention_forward(a3, p3, q, k, v, B, T, H, HKV, hd, tp);
    assert_memory_equal(a1, a3, (size_t)nq * sizeof(float));
    dfit_train_attention_backward(gq1, gk1, gv1, g, p1, q, k, v, B, T, H, HKV, hd, sc, NULL);
    dfit_train_attention_backward(gq3, gk3, gv3, g, p3, q, k, v, B, T, H, HKV, hd, sc, tp);
    assert_memory_equal(gq1, gq3, (size_t)nq * sizeof(float));
    assert_memory_equal(gk1, gk3, (size_t)nkv * sizeof(float));
    assert_memory_equal(gv1, gv3, (size_t)nkv * sizeof(float));
    dfit_threadpool_free(tp);
    float *bufs[] = {inp, w, scratch, o1, o3, r, di1, di3, dw1, dw3, q, k, v, g, a1, a3,
                     p1, p3, gq1, gq3, gk1, gk3, gv1, gv3, sc};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
}

/* ---- whole model -------------------------------------------------------------------------- */

#define MB 2
#define MT 6

struct model_ctx {
    struct dfit_train_model *m;
    struct dfit_train_pass *p;
    int32_t tok[MB * MT], tgt[MB * MT];
    uint8_t mask[MB * MT];
    float loss;
};

static void model_fwd(void *c_)
{
    struct model_ctx *c = c_;
    dfit_train_pass_forward(c->p, c->m, c->tok, MB, MT);
    c->loss = (float)dfit_train_pass_ce(c->p, c->tgt, c->mask, NULL);
}

/* The loss in double around a perturbation of the whole tensor along u. */
static double loss_along(struct model_ctx *c, float *x, const float *u, int64_t n, float h)
{
    for (int64_t i = 0; i < n; i++)
        x[i] += h * u[i];
    model_fwd(c);
    const double l = c->loss;
    for (int64_t i = 0; i < n; i++)
        x[i] -= h * u[i];
    return l;
}

static void check_model(bool tied)
{
    struct dfit_synth_shape s = {32, 2, 64, 4, 2, 259, 16, tied, 1e-5f, 10000.0f};
    struct dfit_err err = {0};
    struct model_ctx c = {0};
    if (dfit_train_model_create(&s, &c.m, &err) || dfit_train_pass_create(c.m, MB, MT, NULL, &c.p, &err))
        fail_msg("create: %s", err.msg);
    dfit_train_model_init(c.m, 7);
    /* larger weights than the init's, so every gradient is well above the
     * differences' noise */
    for (size_t i = 0; i < c.m->n_tensors; i++) {
        const struct dfit_train_tensor *t = &c.m->tensors[i];
        float *p = c.m->params + t->offset;
        for (int64_t j = 0; j < t->n_in * t->n_out; j++)
            p[j] = t->matrix ? 0.3f * dfit_rng_normal(&rng) : 1.0f + 0.2f * dfit_rng_normal(&rng);
    }
    for (int i = 0; i < MB * MT; i++) {
        c.tok[i] = (int32_t)dfit_rng_below(&rng, 259);
        c.tgt[i] = (int32_t)dfit_rng_below(&rng, 259);
        c.mask[i] = (uint8_t)(i % 3 != 1);
    }
    model_fwd(&c);
    memset(c.m->grads, 0, c.m->n_params * sizeof(float));
    dfit_train_pass_backward(c.p, c.m);
    const float one = 1.0f;
    struct op op = {model_fwd, &c, &c.loss, 1, &one};
    const float h = 1e-2f;
    for (size_t ti = 0; ti < c.m->n_tensors; ti++) {
        const struct dfit_train_tensor *t = &c.m->tensors[ti];
        float *x = c.m->params + t->offset;
        const float *g = c.m->grads + t->offset;
        const int64_t n = t->n_in * t->n_out;
        int64_t pick[5] = {0, 0, 0, 0, 0};
        for (int k = 0; k < 3; k++) { /* the three largest |g| */
            int64_t best = -1;
            for (int64_t i = 0; i < n; i++) {
                bool taken = false;
                for (int j = 0; j < k; j++)
                    taken = taken || pick[j] == i;
                if (!taken && (best < 0 || fabsf(g[i]) > fabsf(g[best])))
                    best = i;
            }
            pick[k] = best;
        }
        pick[3] = (int64_t)dfit_rng_below(&rng, (uint64_t)n);
        pick[4] = (int64_t)dfit_rng_below(&rng, (uint64_t)n);
        char name[160];
        for (int k = 0; k < 5; k++) {
            float *xi = x + pick[k];
            snprintf(name, sizeof name, "model (%s) %s element %lld, offset", tied ? "tied" : "untied",
                     t->name, (long long)pick[k]);
            check_input(name, &op, xi, 1, g + pick[k], h, 1e-4, 5e-2);
        }
        /* directional derivative along a random unit direction */
        float *u = randn(n, 1.0f);
        double norm = 0.0, gu = 0.0;
        for (int64_t i = 0; i < n; i++)
            norm += (double)u[i] * u[i];
        for (int64_t i = 0; i < n; i++) {
            u[i] = (float)(u[i] / sqrt(norm));
            gu += (double)g[i] * u[i];
        }
        const double fd = (loss_along(&c, x, u, n, h) - loss_along(&c, x, u, n, -h)) / (2.0 * h);
        if (fabs(fd - gu) > 1e-4 + 5e-2 * fmax(fabs(fd), fabs(gu)))
            fail_msg("model (%s) %s: directional derivative %.6g, analytic %.6g", tied ? "tied" : "untied",
                     t->name, fd, gu);
        free(u);
    }
    dfit_train_pass_free(c.p);
    dfit_train_model_free(c.m);
}

static void test_model_tied(void **state)
{
    (void)state;
    check_model(true);
}

static void test_model_untied(void **state)
{
    (void)state;
    check_model(false);
}

int main(void)
{
    dfit_rng_seed(&rng, 20240611);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_gemm_reference),
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_swiglu_residual),
        cmocka_unit_test(test_cross_entropy_masked),
        cmocka_unit_test(test_kl_temperature),
        cmocka_unit_test(test_threads_bitwise),
        cmocka_unit_test(test_model_tied),
        cmocka_unit_test(test_model_untied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
