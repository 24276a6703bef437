/* test_cuda_ops — each CUDA kernel against the CPU reference operators
 * (cpu/ref_ops.h, model/types.h) on random data, on the device. Exits 77
 * when there is no CUDA device. Every comparison prints its error, so a
 * device run's log shows how close each kernel is, not only pass/fail.
 *   (a) matrix-vector kernels, every format, 1/3/8 activation rows, vector
 *       and scalar paths, against dfit_ref_matmul: relative RMS error
 *       <= 1e-5 (float weights: f32 sums against double sums) and <= 1e-5
 *       for Q8_0/Q4_0 (same integer block sums, same activation quants);
 *       the device's Q8_0 activation quants equal the reference quantizer's;
 *   (b) cuBLAS products as the forward pass calls them: f32 (plain SGEMM)
 *       <= 1e-5; f16 and bf16 weights with 16-bit activations <= 2e-3 and
 *       <= 1e-2; Q8_0/Q4_0 dequantized to f16 tiles <= 2e-2 (the
 *       reference quantizes activations to Q8_0: ~0.5% per element);
 *   (c) embedding, add+RMSNorm, SwiGLU, f16/bf16 conversion (exact),
 *       dequantization (exact), row gathers (exact);
 *   (d) RoPE + K/V store + attention over f32 and f16 caches with head
 *       sizes 64, 128, 256 and 48: rotated q within 1e-5, attention output
 *       relative error <= 1e-5 (f32 cache) and <= 2e-3 (f16 cache; the
 *       reference reads the same f16-rounded rows, the rounding of k itself
 *       may differ by one f16 step).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/ref_ops.h"
#include "cuda/cuda_blas.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_layout.h"
#include "cuda/cuda_plan.h"
#include "util/rng.h"

#define CUDA_OK(x)                                                                                 \
    do {                                                                                           \
        cudaError_t e_ = (x);                                                                      \
        if (e_ != cudaSuccess)                                                                     \
            fail_msg("%s: %s", #x, cudaGetErrorString(e_));                                        \
    } while (0)
#define LAUNCH_OK(x)                                                                               \
    do {                                                                                           \
        int r_ = (x);                                                                              \
        if (r_ != 0)                                                                               \
            fail_msg("%s: %s", #x, cudaGetErrorString((cudaError_t)r_));                           \
        CUDA_OK(cudaDeviceSynchronize());                                                          \
    } while (0)

static void *dev_alloc(size_t n)
{
    void *d = NULL;
    CUDA_OK(cudaMalloc(&d, n ? n : 1));
    CUDA_OK(cudaMemset(d, 0xff, n ? n : 1)); /* NaN: unwritten outputs show */
    return d;
}

static void *dev_upload(const void *h, size_t n)
{
    void *d = dev_alloc(n);
    CUDA_OK(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice));
    return d;
}

static void download(void *h, const void *d, size_t n)
{
    CUDA_OK(cudaMemcpy(h, d, n, cudaMemcpyDeviceToHost));
}

static void fill_normal(float *x, int64_t n, uint64_t seed)
{
    struct dfit_rng r;
    dfit_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = dfit_rng_normal(&r);
}

/* ||got - ref|| / ||ref||, printed with its label; NaN counts as failure. */
static double rel_err(const char *label, const float *got, const float *ref, int64_t n)
{
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            printf("# %s: element %lld is %g\n", label, (long long)i, (double)got[i]);
            return INFINITY;
        }
        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    double e = den > 0 ? sqrt(num / den) : sqrt(num);
    printf("# %-40s rel err %.3e\n", label, e);
    return e;
}

/* ---- weights in every format ------------------------------------------------------------ */

struct hweight { /* a host weight in its file format */
    struct dfit_weight w;
    void *rows;
};

static void hweight_make(struct hweight *h, enum dfit_type t, int64_t n_in, int64_t n_out,
                         uint64_t seed)
{
    size_t rb;
    assert_true(dfit_type_row_bytes(t, n_in, &rb));
    float *f = malloc(sizeof(float) * (size_t)(n_in * n_out));
    h->rows = malloc(rb * (size_t)n_out);
    assert_true(f && h->rows);
    fill_normal(f, n_in * n_out, seed);
    for (int64_t r = 0; r < n_out; r++)
        dfit_row_from_f32(t, f + r * n_in, (uint8_t *)h->rows + r * rb, n_in);
    free(f);
    h->w = (struct dfit_weight){.name = "w", .type = t, .n_in = n_in, .n_out = n_out,
                                .row_bytes = rb, .data = h->rows};
}

/* The device copy of h in the device layout. */
static struct dfit_cuda_wdev dweight_make(const struct hweight *h, void **q, void **d)
{
    const struct dfit_weight *w = &h->w;
    const int64_t nb = w->n_in / 32 * w->n_out;
    *d = NULL;
    if (w->type == DFIT_TYPE_Q8_0 || w->type == DFIT_TYPE_Q4_0) {
        size_t qb = (size_t)(w->type == DFIT_TYPE_Q8_0 ? w->n_in : w->n_in / 2) * (size_t)w->n_out;
        uint8_t *hq = malloc(qb);
        uint16_t *hd = malloc((size_t)nb * 2);
        assert_true(hq && hd);
        if (w->type == DFIT_TYPE_Q8_0)
            dfit_cuda_repack_q8_0(w->data, nb, (int8_t *)hq, hd);
        else
            dfit_cuda_repack_q4_0(w->data, nb, hq, hd);
        *q = dev_upload(hq, qb);
        *d = dev_upload(hd, (size_t)nb * 2);
        free(hq);
        free(hd);
    } else {
        *q = dev_upload(w->data, w->row_bytes * (size_t)w->n_out);
    }
    return (struct dfit_cuda_wdev){.type = (int)w->type, .n_in = w->n_in, .n_out = w->n_out,
                                   .q = *q, .d = *d};
}

static const enum dfit_type all_types[] = {DFIT_TYPE_F32, DFIT_TYPE_F16, DFIT_TYPE_BF16,
                                           DFIT_TYPE_Q8_0, DFIT_TYPE_Q4_0};

/* ---- (a) matrix-vector -------------------------------------------------------------------- */

static void check_mmv(enum dfit_type t, int64_t n_in, int64_t n_out, int n_tok)
{
    struct hweight h;
    hweight_make(&h, t, n_in, n_out, 1000 + (uint64_t)t);
    void *dq, *dd;
    struct dfit_cuda_wdev w = dweight_make(&h, &dq, &dd);
    float *x = malloc(sizeof(float) * (size_t)(n_tok * n_in));
    float *ref = malloc(sizeof(float) * (size_t)(n_tok * n_out));
    float *got = malloc(sizeof(float) * (size_t)(n_tok * n_out));
    void *act = malloc(dfit_ref_act_bytes(n_tok, n_in) + 1);
    assert_true(x && ref && got && act);
    fill_normal(x, n_tok * n_in, 77);
    dfit_ref_matmul(ref, x, &h.w, n_tok, act, NULL);

    float *dx = dev_upload(x, sizeof(float) * (size_t)(n_tok * n_in));
    int8_t *aq = dev_alloc((size_t)(n_tok * n_in));
    float *ad = dev_alloc(sizeof(float) * (size_t)(n_tok * n_in / 32 + 1));
    int32_t *as = dev_alloc(sizeof(int32_t) * (size_t)(n_tok * n_in / 32 + 1));
    float *dout = dev_alloc(sizeof(float) * (size_t)(n_tok * n_out));
    const bool quant = t == DFIT_TYPE_Q8_0 || t == DFIT_TYPE_Q4_0;
    if (quant) {
        LAUNCH_OK(dfit_cuk_quantize_q8(aq, ad, as, dx, n_tok, n_in, NULL));
        /* the device's quants are the reference quantizer's */
        int8_t *hq = malloc((size_t)(n_tok * n_in));
        float *hd = malloc(sizeof(float) * (size_t)(n_tok * n_in / 32));
        assert_true(hq && hd);
        download(hq, aq, (size_t)(n_tok * n_in));
        download(hd, ad, sizeof(float) * (size_t)(n_tok * n_in / 32));
        const struct dfit_block_q8_0 *rb = act;
        for (int64_t b = 0; b < n_tok * n_in / 32; b++) {
            assert_memory_equal(hq + b * 32, rb[b].qs, 32);
            assert_true(hd[b] == dfit_fp16_to_f32(rb[b].d));
        }
        free(hq);
        free(hd);
    }
    const struct dfit_cuda_act a = {.x = dx, .q = aq, .d = ad, .s = as, .ld = n_in};
    LAUNCH_OK(dfit_cuk_mmv(dout, n_out, &w, &a, n_tok, NULL));
    download(got, dout, sizeof(float) * (size_t)(n_tok * n_out));
    char label[96];
    snprintf(label, sizeof label, "mmv %s %lldx%lld tok %d", dfit_type_info(t)->name,
             (long long)n_out, (long long)n_in, n_tok);
    assert_true(rel_err(label, got, ref, n_tok * n_out) <= 1e-5);
    cudaFree(dq);
    cudaFree(dd);
    cudaFree(dx);
    cudaFree(aq);
    cudaFree(ad);
    cudaFree(as);
    cudaFree(dout);
    free(x);
    free(ref);
    free(got);
    free(act);
    free(h.rows);
}

static void test_mmv(void **state)
{
    (void)state;
    const int toks[] = {1, 3, 8};
    for (size_t i = 0; i < sizeof all_types / sizeof all_types[0]; i++)
        for (size_t k = 0; k < 3; k++) {
            check_mmv(all_types[i], 1024, 77, toks[k]);  /* vector path, odd row count */
            check_mmv(all_types[i], 96, 130, toks[k]);   /* a row shorter than a warp step */
        }
    /* float weights with rows not a multiple of 8: the scalar path */
    check_mmv(DFIT_TYPE_F32, 36, 50, 2);
    check_mmv(DFIT_TYPE_F16, 44, 50, 5);
    check_mmv(DFIT_TYPE_BF16, 20, 50, 8);
}

/* ---- (b) cuBLAS products ----------------------------------------------------------------------- */

static void check_gemm(struct dfit_cuda_blas *blas, enum dfit_type t, double tol)
{
    const int64_t n_in = 256, n_out = 200, n_tok = 24;
    struct hweight h;
    hweight_make(&h, t, n_in, n_out, 2000 + (uint64_t)t);
    void *dq, *dd;
    struct dfit_cuda_wdev w = dweight_make(&h, &dq, &dd);
    float *x = malloc(sizeof(float) * (size_t)(n_tok * n_in));
    float *ref = malloc(sizeof(float) * (size_t)(n_tok * n_out));
    float *got = malloc(sizeof(float) * (size_t)(n_tok * n_out));
    void *act = malloc(dfit_ref_act_bytes(n_tok, n_in));
    assert_true(x && ref && got && act);
    fill_normal(x, n_tok * n_in, 78);
    dfit_ref_matmul(ref, x, &h.w, n_tok, act, NULL);
    float *dx = dev_upload(x, sizeof(float) * (size_t)(n_tok * n_in));
    uint16_t *dh = dev_alloc(2 * (size_t)(n_tok * n_in));
    uint16_t *deq = dev_alloc(2 * (size_t)(n_in * n_out));
    float *dout = dev_alloc(sizeof(float) * (size_t)(n_tok * n_out));
    struct dfit_cuda_gemm g;
    struct dfit_err err = {0};
    int rc = 0;
    if (t == DFIT_TYPE_F32) {
        assert_int_equal(dfit_cuda_gemm_args(n_out, n_tok, n_in, n_in, n_out, &g, &err), 0);
        rc = dfit_cuda_blas_gemm(blas, DFIT_CUK_F32, DFIT_CUK_F32, &g, w.q, dx, dout, &err);
    } else if (t == DFIT_TYPE_F16 || t == DFIT_TYPE_BF16) {
        LAUNCH_OK(dfit_cuk_to_half(dh, t == DFIT_TYPE_BF16, dx, n_tok * n_in, NULL));
        assert_int_equal(dfit_cuda_gemm_args(n_out, n_tok, n_in, n_in, n_out, &g, &err), 0);
        rc = dfit_cuda_blas_gemm(blas, (int)t, DFIT_CUK_F32, &g, w.q, dh, dout, &err);
    } else { /* tiles of 64 rows, as the forward pass runs them */
        LAUNCH_OK(dfit_cuk_to_half(dh, 0, dx, n_tok * n_in, NULL));
        for (int64_t r0 = 0; r0 < n_out && rc == 0; r0 += 64) {
            int64_t nr = n_out - r0 < 64 ? n_out - r0 : 64;
            LAUNCH_OK(dfit_cuk_dequant_f16(deq, &w, r0, nr, NULL));
            assert_int_equal(dfit_cuda_gemm_args(nr, n_tok, n_in, n_in, n_out, &g, &err), 0);
            rc = dfit_cuda_blas_gemm(blas, DFIT_CUK_F16, DFIT_CUK_F32, &g, deq, dh, dout + r0, &err);
            CUDA_OK(cudaDeviceSynchronize());
        }
    }
    if (rc)
        fail_msg("%s", err.msg);
    CUDA_OK(cudaDeviceSynchronize());
    download(got, dout, sizeof(float) * (size_t)(n_tok * n_out));
    char label[64];
    snprintf(label, sizeof label, "cublas %s", dfit_type_info(t)->name);
    assert_true(rel_err(label, got, ref, n_tok * n_out) <= tol);
    cudaFree(dq);
    cudaFree(dd);
    cudaFree(dx);
    cudaFree(dh);
    cudaFree(deq);
    cudaFree(dout);
    free(x);
    free(ref);
    free(got);
    free(act);
    free(h.rows);
}

static void test_gemm(void **state)
{
    (void)state;
    struct dfit_cuda_blas *blas = NULL;
    struct dfit_err err = {0};
    void *ws = dev_alloc(DFIT_CUDA_BLAS_WS_BYTES);
    if (dfit_cuda_blas_create(NULL, ws, DFIT_CUDA_BLAS_WS_BYTES, &blas, &err))
        fail_msg("%s", err.msg);
    printf("# cuBLAS version %d\n", dfit_cuda_blas_version(blas));
    check_gemm(blas, DFIT_TYPE_F32, 1e-5);
    check_gemm(blas, DFIT_TYPE_F16, 2e-3);
    check_gemm(blas, DFIT_TYPE_BF16, 1e-2);
    check_gemm(blas, DFIT_TYPE_Q8_0, 2e-2);
    check_gemm(blas, DFIT_TYPE_Q4_0, 2e-2);
    dfit_cuda_blas_free(blas);
    cudaFree(ws);
}

/* ---- (c) elementwise and row-wise ---------------------------------------------------------------- */

static void test_rowwise(void **state)
{
    (void)state;
    enum { R = 5, N = 3000, V = 40 };
    float *x = malloc(sizeof(float) * R * N), *xo = malloc(sizeof(float) * R * N);
    float *w = malloc(sizeof(float) * N), *ref = malloc(sizeof(float) * R * N);
    float *got = malloc(sizeof(float) * R * N);
    assert_true(x && xo && w && ref && got);
    fill_normal(x, R * N, 1);
    fill_normal(xo, R * N, 2);
    fill_normal(w, N, 3);
    float *dx = dev_upload(x, sizeof(float) * R * N), *dxo = dev_upload(xo, sizeof(float) * R * N);
    float *dw = dev_upload(w, sizeof(float) * N), *dout = dev_alloc(sizeof(float) * R * N);
    /* add + RMSNorm */
    LAUNCH_OK(dfit_cuk_add_rmsnorm(dout, dx, dxo, dw, R, N, 1e-5f, NULL));
    for (int i = 0; i < R * N; i++)
        x[i] += xo[i];
    for (int r = 0; r < R; r++)
        dfit_ref_rmsnorm(ref + r * N, x + r * N, w, N, 1e-5f);
    download(got, dout, sizeof(float) * R * N);
    assert_true(rel_err("add+rmsnorm", got, ref, R * N) <= 1e-6);
    download(got, dx, sizeof(float) * R * N);
    assert_true(rel_err("add+rmsnorm residual", got, x, R * N) == 0.0);
    /* SwiGLU (out aliases gate) */
    dfit_ref_swiglu(ref, x, xo, R * N);
    LAUNCH_OK(dfit_cuk_swiglu(dx, dx, dxo, R * N, NULL));
    download(got, dx, sizeof(float) * R * N);
    assert_true(rel_err("swiglu", got, ref, R * N) <= 1e-6);
    /* 16-bit conversions: exact */
    uint16_t *dh = dev_alloc(2 * R * N), *hh = malloc(2 * R * N);
    assert_non_null(hh);
    for (int bf = 0; bf < 2; bf++) {
        LAUNCH_OK(dfit_cuk_to_half(dh, bf, dxo, R * N, NULL));
        download(hh, dh, 2 * R * N);
        for (int i = 0; i < R * N; i++)
            assert_int_equal(hh[i], bf ? dfit_f32_to_bf16(xo[i]) : dfit_f32_to_fp16(xo[i]));
    }
    /* row gather: exact */
    const int32_t idx[3] = {4, 0, 2};
    int32_t *didx = dev_upload(idx, sizeof idx);
    LAUNCH_OK(dfit_cuk_gather_rows(dout, dxo, didx, 3, N, NULL));
    download(got, dout, sizeof(float) * 3 * N);
    for (int r = 0; r < 3; r++)
        assert_memory_equal(got + r * N, xo + idx[r] * N, sizeof(float) * N);
    /* embedding and dequantization, every format: exact */
    const int32_t tok[4] = {7, 0, 39, 7};
    int32_t *dtok = dev_upload(tok, sizeof tok);
    for (size_t i = 0; i < sizeof all_types / sizeof all_types[0]; i++) {
        struct hweight h;
        hweight_make(&h, all_types[i], 96, V, 5);
        void *dq, *dd;
        struct dfit_cuda_wdev wd = dweight_make(&h, &dq, &dd);
        LAUNCH_OK(dfit_cuk_embed(dout, &wd, dtok, 4, NULL));
        download(got, dout, sizeof(float) * 4 * 96);
        for (int t = 0; t < 4; t++) {
            dfit_ref_embed(ref, &h.w, tok[t]);
            assert_memory_equal(got + t * 96, ref, sizeof(float) * 96);
        }
        if (all_types[i] == DFIT_TYPE_Q8_0 || all_types[i] == DFIT_TYPE_Q4_0) {
            LAUNCH_OK(dfit_cuk_dequant_f16(dh, &wd, 3, 10, NULL));
            download(hh, dh, 2 * 10 * 96);
            for (int r = 0; r < 10; r++) {
                dfit_ref_embed(ref, &h.w, 3 + r);
                for (int c = 0; c < 96; c++)
                    assert_int_equal(hh[r * 96 + c], dfit_f32_to_fp16(ref[c]));
            }
        }
        cudaFree(dq);
        cudaFree(dd);
        free(h.rows);
    }
    /* benchmark fill: in range, not constant */
    float *du = dev_alloc(sizeof(float) * N);
    LAUNCH_OK(dfit_cuk_fill_uniform(du, 0, N, 9, NULL));
    download(got, du, sizeof(float) * N);
    int distinct = 0;
    for (int i = 0; i < N; i++) {
        assert_true(got[i] >= -1.0f && got[i] < 1.0f);
        distinct += i > 0 && got[i] != got[i - 1];
    }
    assert_true(distinct > N / 2);
    cudaFree(du);
    cudaFree(dtok);
    cudaFree(didx);
    cudaFree(dh);
    cudaFree(dx);
    cudaFree(dxo);
    cudaFree(dw);
    cudaFree(dout);
    free(hh);
    free(x);
    free(xo);
    free(w);
    free(ref);
    free(got);
}

/* ---- (d) RoPE, K/V store, attention --------------------------------------------------------------- */

static float f16_round(float v)
{
    return dfit_fp16_to_f32(dfit_f32_to_fp16(v));
}

static void check_attention(int hd, int kv_f32)
{
    enum { NSEQ = 2, NL = 2, NCTX = 40, NH = 4, NKV = 2, NT = 5, IL = 1 };
    const int kv_dim = NKV * hd, q_dim = NH * hd;
    const int32_t seq[NT] = {0, 1, 0, 1, 1}, pos[NT] = {30, 0, 31, 1, 2};
    const size_t cache_n = (size_t)NSEQ * NL * NCTX * kv_dim;
    float *kc = malloc(sizeof(float) * cache_n), *vc = malloc(sizeof(float) * cache_n);
    float *q = malloc(sizeof(float) * NT * q_dim), *k = malloc(sizeof(float) * NT * kv_dim);
    float *v = malloc(sizeof(float) * NT * kv_dim), *ref = malloc(sizeof(float) * NT * q_dim);
    float *got = malloc(sizeof(float) * NT * q_dim), *att = malloc(sizeof(float) * NCTX);
    assert_true(kc && vc && q && k && v && ref && got && att);
    fill_normal(kc, (int64_t)cache_n, 21);
    fill_normal(vc, (int64_t)cache_n, 22);
    fill_normal(q, NT * q_dim, 23);
    fill_normal(k, NT * kv_dim, 24);
    fill_normal(v, NT * kv_dim, 25);
    if (!kv_f32)
        for (size_t i = 0; i < cache_n; i++) {
            kc[i] = f16_round(kc[i]);
            vc[i] = f16_round(vc[i]);
        }
    /* device caches from the host ones */
    const size_t eb = kv_f32 ? 4 : 2;
    void *hk = malloc(eb * cache_n), *hv = malloc(eb * cache_n);
    assert_true(hk && hv);
    for (size_t i = 0; i < cache_n; i++) {
        if (kv_f32) {
            ((float *)hk)[i] = kc[i];
            ((float *)hv)[i] = vc[i];
        } else {
            ((uint16_t *)hk)[i] = dfit_f32_to_fp16(kc[i]);
            ((uint16_t *)hv)[i] = dfit_f32_to_fp16(vc[i]);
        }
    }
    struct dfit_cuda_kv kv = {.k = dev_upload(hk, eb * cache_n), .v = dev_upload(hv, eb * cache_n),
                              .f32 = kv_f32, .n_layer = NL, .n_ctx = NCTX};
    float *dq = dev_upload(q, sizeof(float) * NT * q_dim), *dk = dev_upload(k, sizeof(float) * NT * kv_dim);
    float *dv = dev_upload(v, sizeof(float) * NT * kv_dim), *dout = dev_alloc(sizeof(float) * NT * q_dim);
    int32_t *dpos = dev_upload(pos, sizeof pos), *dseq = dev_upload(seq, sizeof seq);
    LAUNCH_OK(dfit_cuk_rope_store(dq, dk, dv, &kv, IL, dpos, dseq, NT, NH, NKV, hd, 10000.0f, NULL));
    LAUNCH_OK(dfit_cuk_attention(dout, dq, &kv, IL, dpos, dseq, NT, NH, NKV, hd, NULL));
    /* reference: rope, store (rounded as the cache is), attend */
    for (int t = 0; t < NT; t++) {
        dfit_ref_rope(q + t * q_dim, NH, hd, pos[t], 10000.0f);
        dfit_ref_rope(k + t * kv_dim, NKV, hd, pos[t], 10000.0f);
        size_t row = (((size_t)seq[t] * NL + IL) * NCTX + (size_t)pos[t]) * kv_dim;
        for (int j = 0; j < kv_dim; j++) {
            kc[row + j] = kv_f32 ? k[t * kv_dim + j] : f16_round(k[t * kv_dim + j]);
            vc[row + j] = kv_f32 ? v[t * kv_dim + j] : f16_round(v[t * kv_dim + j]);
        }
    }
    for (int t = 0; t < NT; t++)
        for (int h = 0; h < NH; h++) {
            size_t base = (((size_t)seq[t] * NL + IL) * NCTX) * kv_dim + (size_t)(h / (NH / NKV)) * hd;
            dfit_ref_attention_head(ref + t * q_dim + h * hd, q + t * q_dim + h * hd, kc + base,
                                    vc + base, pos[t] + 1, kv_dim, hd, att);
        }
    char label[64];
    download(got, dq, sizeof(float) * NT * q_dim);
    snprintf(label, sizeof label, "rope q hd %d", hd);
    assert_true(rel_err(label, got, q, NT * q_dim) <= 1e-5);
    download(got, dout, sizeof(float) * NT * q_dim);
    snprintf(label, sizeof label, "attention hd %d kv-%s", hd, kv_f32 ? "f32" : "f16");
    assert_true(rel_err(label, got, ref, NT * q_dim) <= (kv_f32 ? 1e-5 : 2e-3));
    cudaFree(kv.k);
    cudaFree(kv.v);
    cudaFree(dq);
    cudaFree(dk);
    cudaFree(dv);
    cudaFree(dout);
    cudaFree(dpos);
    cudaFree(dseq);
    free(hk);
    free(hv);
    free(kc);
    free(vc);
    free(q);
    free(k);
    free(v);
    free(ref);
    free(got);
    free(att);
}

static void test_attention(void **state)
{
    (void)state;
    const int hds[] = {64, 128, 256, 48};
    for (size_t i = 0; i < sizeof hds / sizeof hds[0]; i++) {
        check_attention(hds[i], 1);
        check_attention(hds[i], 0);
    }
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
        cmocka_unit_test(test_mmv),
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_rowwise),
        cmocka_unit_test(test_attention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
