/* test_cuda_layout — the arithmetic the CUDA kernels share with the host
 * (backends/cuda/cuda_layout.h) and the Q8_0/Q4_0 repacking for upload, on
 * the CPU (runs without a GPU; built only with the CUDA backend):
 *   fp16/bf16 conversions equal model/types.c bit for bit (every fp16, 200k
 *   random floats); the Q8_0 activation quantizer equals
 *   dfit_quantize_row_q8_0_ref (scales and quants, exactly); the integer
 *   block dot products equal the reference block dots (integers exactly,
 *   the scaled sums exactly when summed in the reference's order); RoPE
 *   angles reproduce dfit_ref_rope exactly; the online softmax and its
 *   merge equal a direct softmax in double (1e-5); repacked weights read
 *   back every value of dfit_dequantize_row_* exactly.
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

#include "cpu/ref_ops.h"
#include "cuda/cuda_layout.h"
#include "cuda/cuda_plan.h"
#include "model/types.h"
#include "util/rng.h"

static void fill_normal(float *x, int64_t n, uint64_t seed)
{
    struct dfit_rng r;
    dfit_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = dfit_rng_normal(&r);
}

/* ---- shared arithmetic ---------------------------------------------------- */

static void test_half_conversions(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float a = dfit_cu_fp16_to_f32((uint16_t)h), b = dfit_fp16_to_f32((dfit_fp16)h);
        uint32_t ua, ub;
        memcpy(&ua, &a, 4);
        memcpy(&ub, &b, 4);
        assert_int_equal(ua, ub);
        assert_int_equal(dfit_cu_f32_to_bf16(dfit_cu_bf16_to_f32((uint16_t)h)),
                         dfit_f32_to_bf16(dfit_bf16_to_f32((dfit_bf16)h)));
    }
    struct dfit_rng r;
    dfit_rng_seed(&r, 7);
    for (int i = 0; i < 200000; i++) {
        uint32_t u = (uint32_t)dfit_rng_u64(&r);
        float f;
        memcpy(&f, &u, 4);
        assert_int_equal(dfit_cu_f32_to_fp16(f), dfit_f32_to_fp16(f));
        assert_int_equal(dfit_cu_f32_to_bf16(f), dfit_f32_to_bf16(f));
        float g = dfit_rng_normal(&r) * 1e-3f; /* the fp16 subnormal and normal range */
        assert_int_equal(dfit_cu_f32_to_fp16(g), dfit_f32_to_fp16(g));
    }
}

/* Quantizes a row as the device kernel does, block by block. */
static void cu_quantize_row(const float *x, int8_t *q, float *d, int32_t *s, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++) {
        float amax = 0.0f, id;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        d[b] = dfit_cu_q8_scale(amax, &id);
        s[b] = 0;
        for (int j = 0; j < 32; j++) {
            q[b * 32 + j] = (int8_t)dfit_cu_q8_quant(x[b * 32 + j], id);
            s[b] += q[b * 32 + j];
        }
    }
}

static void test_q8_activation_quantizer(void **state)
{
    (void)state;
    enum { N = 256 };
    float x[N];
    int8_t q[N];
    float d[N / 32];
    int32_t s[N / 32];
    struct dfit_block_q8_0 ref[N / 32];
    for (uint64_t seed = 1; seed <= 50; seed++) {
        fill_normal(x, N, seed);
        for (int i = 0; i < N; i++)
            x[i] *= (float)seed; /* several magnitudes */
        x[5] = 0.0f;
        memset(x + 64, 0, 32 * sizeof *x); /* an all-zero block */
        cu_quantize_row(x, q, d, s, N);
        dfit_quantize_row_q8_0_ref(x, ref, N);
        for (int b = 0; b < N / 32; b++) {
            assert_true(d[b] == dfit_fp16_to_f32(ref[b].d));
            assert_memory_equal(q + b * 32, ref[b].qs, 32);
        }
    }
}

/* Little-endian words of 16 bytes. */
static void words(const void *p, int w[4])
{
    memcpy(w, p, 16);
}

static void test_block_dots(void **state)
{
    (void)state;
    enum { N = 512, NB = N / 32 };
    float w[N], x[N];
    struct dfit_block_q8_0 w8[NB], x8[NB];
    struct dfit_block_q4_0 w4[NB];
    for (uint64_t seed = 1; seed <= 20; seed++) {
        fill_normal(w, N, seed);
        fill_normal(x, N, seed + 100);
        dfit_quantize_row_q8_0_ref(w, w8, N);
        dfit_quantize_row_q4_0_ref(w, w4, N);
        dfit_quantize_row_q8_0_ref(x, x8, N);
        int8_t xq[N], wq[N];
        uint8_t wn[N / 2];
        uint16_t wd8[NB], wd4[NB];
        float xd[NB];
        int32_t xs[NB];
        cu_quantize_row(x, xq, xd, xs, N);
        dfit_cuda_repack_q8_0(w8, NB, wq, wd8);
        dfit_cuda_repack_q4_0(w4, NB, wn, wd4);
        /* as the kernels sum: exact integer per block, scaled as the CPU */
        float s8 = 0.0f, s4 = 0.0f;
        for (int b = 0; b < NB; b++) {
            int wa[4], wb[4], xa[4], xb[4], wn4[4];
            words(wq + b * 32, wa);
            words(wq + b * 32 + 16, wb);
            words(xq + b * 32, xa);
            words(xq + b * 32 + 16, xb);
            words(wn + b * 16, wn4);
            int i8 = dfit_cu_q8_dot16(wa, xa) + dfit_cu_q8_dot16(wb, xb);
            int i4 = dfit_cu_q4_dot32(wn4, xa, xb) - 8 * xs[b];
            int r8 = 0, r4 = 0;
            for (int j = 0; j < 32; j++) {
                r8 += w8[b].qs[j] * x8[b].qs[j];
                int nib = j < 16 ? (w4[b].qs[j] & 15) : (w4[b].qs[j - 16] >> 4);
                r4 += (nib - 8) * x8[b].qs[j];
            }
            assert_int_equal(i8, r8);
            assert_int_equal(i4, r4);
            s8 += (float)i8 * (dfit_cu_fp16_to_f32(wd8[b]) * xd[b]);
            s4 += (float)i4 * dfit_cu_fp16_to_f32(wd4[b]) * xd[b];
        }
        /* same order of operations as the reference: equal */
        assert_true(s8 == dfit_vec_dot_q8_0_q8_0(N, w8, x8));
        assert_true(s4 == dfit_vec_dot_q4_0_q8_0(N, w4, x8));
    }
}

static void test_rope_angles(void **state)
{
    (void)state;
    enum { NH = 3, HD = 64 };
    float x[NH * HD], y[NH * HD];
    const int32_t pos[] = {0, 1, 17, 4095, 131071};
    for (size_t k = 0; k < sizeof pos / sizeof pos[0]; k++) {
        fill_normal(x, NH * HD, 3 + k);
        memcpy(y, x, sizeof x);
        dfit_ref_rope(y, NH, HD, pos[k], 500000.0f);
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < HD / 2; i++) {
                float c, s, *p = x + h * HD + 2 * i;
                dfit_cu_rope_cs(pos[k], i, HD, 500000.0f, &c, &s);
                float x0 = p[0], x1 = p[1];
                assert_true(x0 * c - x1 * s == y[h * HD + 2 * i]);
                assert_true(x0 * s + x1 * c == y[h * HD + 2 * i + 1]);
            }
    }
}

static void test_online_softmax(void **state)
{
    (void)state;
    enum { N = 37, D = 5, PARTS = 4 };
    float s[N], v[N][D];
    fill_normal(s, N, 11);
    fill_normal(&v[0][0], N * D, 12);
    for (int i = 0; i < N; i++)
        s[i] *= 6.0f;
    /* reference: softmax then weighted sum, in double */
    double mx = s[0], sum = 0.0, ref[D] = {0};
    for (int i = 1; i < N; i++)
        mx = s[i] > mx ? s[i] : mx;
    for (int i = 0; i < N; i++)
        sum += exp(s[i] - mx);
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++)
            ref[d] += exp(s[i] - mx) / sum * v[i][d];
    /* as the kernel: parts round-robin, each online, then merged (one
     * part stays empty, as a warp with no positions does) */
    struct dfit_cu_softmax st[PARTS + 1];
    float acc[PARTS + 1][D] = {{0}};
    for (int p = 0; p <= PARTS; p++)
        st[p] = (struct dfit_cu_softmax){-INFINITY, 0.0f};
    for (int i = 0; i < N; i++) {
        int p = i % PARTS;
        float pw, alpha = dfit_cu_softmax_add(&st[p], s[i], &pw);
        for (int d = 0; d < D; d++)
            acc[p][d] = acc[p][d] * alpha + pw * v[i][d];
    }
    struct dfit_cu_softmax tot = st[PARTS]; /* the empty one first */
    float o[D] = {0};
    for (int p = 0; p < PARTS; p++) {
        float fa, fb;
        dfit_cu_softmax_merge(&tot, st[p], &fa, &fb);
        for (int d = 0; d < D; d++)
            o[d] = o[d] * fa + acc[p][d] * fb;
    }
    for (int d = 0; d < D; d++)
        assert_true(fabs(o[d] / tot.l - ref[d]) < 1e-5);
}

/* ---- repacking ----------------------------------------------------------------- */

static void test_repack_keeps_values(void **state)
{
    (void)state;
    enum { R = 3, N = 96, NB = N / 32 };
    float w[R * N], ref[N];
    struct dfit_block_q8_0 b8[R * NB];
    struct dfit_block_q4_0 b4[R * NB];
    int8_t q8[R * N];
    uint8_t q4[R * N / 2];
    uint16_t d8[R * NB], d4[R * NB];
    fill_normal(w, R * N, 5);
    for (int r = 0; r < R; r++) {
        dfit_quantize_row_q8_0_ref(w + r * N, b8 + r * NB, N);
        dfit_quantize_row_q4_0_ref(w + r * N, b4 + r * NB, N);
    }
    dfit_cuda_repack_q8_0(b8, R * NB, q8, d8);
    dfit_cuda_repack_q4_0(b4, R * NB, q4, d4);
    for (int r = 0; r < R; r++) {
        dfit_dequantize_row_q8_0(b8 + r * NB, ref, N);
        for (int i = 0; i < N; i++)
            assert_true(dfit_cu_q8_0_get(q8, d8, N, r, i) == ref[i]);
        dfit_dequantize_row_q4_0(b4 + r * NB, ref, N);
        for (int i = 0; i < N; i++)
            assert_true(dfit_cu_q4_0_get(q4, d4, N, r, i) == ref[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_conversions),
        cmocka_unit_test(test_q8_activation_quantizer),
        cmocka_unit_test(test_block_dots),
        cmocka_unit_test(test_rope_angles),
        cmocka_unit_test(test_online_softmax),
        cmocka_unit_test(test_repack_keeps_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
