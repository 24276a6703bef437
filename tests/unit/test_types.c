/* test_types — tensor types and their codecs (harness/model/types.c).
 *
 * Covers: the type table and ggml names; row sizes (blocks, overflow);
 * fp16 and bf16 conversions (special values, ties, subnormals, overflow,
 * exhaustive round trips, and a comparison with an independent
 * float-arithmetic fp16 encoder); Q8_0 and Q4_0 blocks against bytes
 * written out by hand; quantize -> dequantize error bounds on random data;
 * the reference dot products against double-precision references.
 * Non-goal: speed of the reference kernels.
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

#include "model/types.h"
#include "util/rng.h"

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- type table ------------------------------------------------------------ */

static void test_type_table(void **state)
{
    (void)state;
    const struct dfit_type_info *ti;
    ti = dfit_type_info(DFIT_TYPE_F32);
    assert_non_null(ti);
    assert_string_equal(ti->name, "f32");
    assert_int_equal(ti->block_size, 1);
    assert_int_equal(ti->block_bytes, 4);
    assert_false(ti->quantized);
    ti = dfit_type_info(DFIT_TYPE_F16);
    assert_string_equal(ti->name, "f16");
    assert_int_equal(ti->block_bytes, 2);
    ti = dfit_type_info(DFIT_TYPE_BF16);
    assert_string_equal(ti->name, "bf16");
    assert_int_equal(ti->block_bytes, 2);
    assert_false(ti->quantized);
    ti = dfit_type_info(DFIT_TYPE_Q8_0);
    assert_string_equal(ti->name, "q8_0");
    assert_int_equal(ti->block_size, 32);
    assert_int_equal(ti->block_bytes, 34);
    assert_true(ti->quantized);
    ti = dfit_type_info(DFIT_TYPE_Q4_0);
    assert_string_equal(ti->name, "q4_0");
    assert_int_equal(ti->block_size, 32);
    assert_int_equal(ti->block_bytes, 18);
    assert_true(ti->quantized);
    /* ggml types dfit does not support */
    static const uint32_t unsupported[] = {3, 4, 5, 6, 7, 9, 10, 12, 14, 24, 28, 29, 31, 34, 39, 40,
                                           1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        assert_null(dfit_type_info(unsupported[i]));
}

static void test_ggml_names(void **state)
{
    (void)state;
    static const struct {
        uint32_t id;
        const char *name;
    } known[] = {
        {0, "f32"},      {1, "f16"},      {2, "q4_0"},    {3, "q4_1"},     {6, "q5_0"},
        {7, "q5_1"},     {8, "q8_0"},     {9, "q8_1"},    {10, "q2_k"},    {11, "q3_k"},
        {12, "q4_k"},    {13, "q5_k"},    {14, "q6_k"},   {15, "q8_k"},    {16, "iq2_xxs"},
        {17, "iq2_xs"},  {18, "iq3_xxs"}, {19, "iq1_s"},  {20, "iq4_nl"},  {21, "iq3_s"},
        {22, "iq2_s"},   {23, "iq4_xs"},  {24, "i8"},     {25, "i16"},     {26, "i32"},
        {27, "i64"},     {28, "f64"},     {29, "iq1_m"},  {30, "bf16"},    {34, "tq1_0"},
        {35, "tq2_0"},   {39, "mxfp4"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        const char *n = dfit_type_ggml_name(known[i].id);
        assert_non_null(n);
        assert_string_equal(n, known[i].name);
    }
    /* the table's names agree for the supported types */
    static const uint32_t sup[] = {0, 1, 2, 8, 30};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(dfit_type_ggml_name(sup[i]), dfit_type_info(sup[i])->name);
    /* ids ggml never had in GGUF, or has not defined */
    assert_null(dfit_type_ggml_name(4));
    assert_null(dfit_type_ggml_name(5));
    assert_null(dfit_type_ggml_name(40));
    assert_null(dfit_type_ggml_name(1u << 20));
    assert_null(dfit_type_ggml_name(UINT32_MAX));
}

static void test_type_from_name(void **state)
{
    (void)state;
    enum dfit_type t = DFIT_TYPE_F32;
    assert_int_equal(dfit_type_from_name("q4_0", &t), 0);
    assert_int_equal(t, DFIT_TYPE_Q4_0);
    assert_int_equal(dfit_type_from_name("Q8_0", &t), 0);
    assert_int_equal(t, DFIT_TYPE_Q8_0);
    assert_int_equal(dfit_type_from_name("BF16", &t), 0);
    assert_int_equal(t, DFIT_TYPE_BF16);
    assert_int_equal(dfit_type_from_name("F16", &t), 0);
    assert_int_equal(t, DFIT_TYPE_F16);
    assert_int_equal(dfit_type_from_name("f32", &t), 0);
    assert_int_equal(t, DFIT_TYPE_F32);
    t = DFIT_TYPE_F16;
    static const char *bad[] = {"", "f", "f3", "f32 ", "f320", "q4_k", "q4_1", "q8", "bf", "fp16"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dfit_type_from_name(bad[i], &t), -1);
    assert_int_equal(dfit_type_from_name(NULL, &t), -1);
    assert_int_equal(t, DFIT_TYPE_F16); /* untouched on failure */
}

static void test_row_bytes(void **state)
{
    (void)state;
    size_t b = 12345;
    assert_true(dfit_type_row_bytes(DFIT_TYPE_F32, 7, &b));
    assert_int_equal(b, 28);
    assert_true(dfit_type_row_bytes(DFIT_TYPE_F16, 7, &b));
    assert_int_equal(b, 14);
    assert_true(dfit_type_row_bytes(DFIT_TYPE_BF16, 1, &b));
    assert_int_equal(b, 2);
    assert_true(dfit_type_row_bytes(DFIT_TYPE_Q8_0, 64, &b));
    assert_int_equal(b, 68);
    assert_true(dfit_type_row_bytes(DFIT_TYPE_Q4_0, 4096, &b));
    assert_int_equal(b, 128 * 18);
    assert_true(dfit_type_row_bytes(DFIT_TYPE_Q4_0, 0, &b));
    assert_int_equal(b, 0);
    /* not a multiple of the block */
    assert_false(dfit_type_row_bytes(DFIT_TYPE_Q8_0, 33, &b));
    assert_false(dfit_type_row_bytes(DFIT_TYPE_Q4_0, 31, &b));
    assert_false(dfit_type_row_bytes(DFIT_TYPE_Q4_0, 1, &b));
    /* negative, unsupported */
    assert_false(dfit_type_row_bytes(DFIT_TYPE_F32, -1, &b));
    assert_false(dfit_type_row_bytes(DFIT_TYPE_Q8_0, -32, &b));
    assert_false(dfit_type_row_bytes((enum dfit_type)3, 32, &b));
    assert_false(dfit_type_row_bytes((enum dfit_type)12, 256, &b));
    /* overflow: the byte count must fit both size_t and int64_t (file
     * offsets), so the limit is min(SIZE_MAX, INT64_MAX) */
    uint64_t lim = SIZE_MAX < (uint64_t)INT64_MAX ? SIZE_MAX : (uint64_t)INT64_MAX;
    assert_false(dfit_type_row_bytes(DFIT_TYPE_F32, INT64_MAX, &b));
    assert_false(dfit_type_row_bytes(DFIT_TYPE_F16, INT64_MAX, &b));
    assert_false(dfit_type_row_bytes(DFIT_TYPE_BF16, INT64_MAX / 2 + 1, &b));
    assert_false(dfit_type_row_bytes(DFIT_TYPE_Q8_0, INT64_MAX - 31, &b)); /* multiple of 32 */
    /* the largest n whose F32 size fits, and one past it */
    int64_t n = (int64_t)(lim / 4);
    assert_true(dfit_type_row_bytes(DFIT_TYPE_F32, n, &b));
    assert_true(b == (size_t)n * 4);
    assert_false(dfit_type_row_bytes(DFIT_TYPE_F32, n + 1, &b));
    /* Q8_0: blocks * 34 at and just past the limit */
    int64_t nblk = (int64_t)(lim / 34);
    assert_true(dfit_type_row_bytes(DFIT_TYPE_Q8_0, nblk * 32, &b));
    assert_true(b == (size_t)nblk * 34);
    assert_false(dfit_type_row_bytes(DFIT_TYPE_Q8_0, (nblk + 1) * 32, &b));
    /* failures leave *out alone */
    b = 777;
    assert_false(dfit_type_row_bytes(DFIT_TYPE_Q4_0, 33, &b));
    assert_int_equal(b, 777);
}

/* ---- fp16 ------------------------------------------------------------------ */

/* An independent fp32 -> fp16 encoder done with float arithmetic (the
 * rounding of a float addition does the round-to-nearest-even), in the
 * manner of ggml's software path. Needs IEEE float without flush-to-zero. */
static uint16_t fp16_oracle(float f)
{
    volatile float base = (fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
    uint32_t w = bits_of(f);
    uint32_t shl1_w = w + w;
    uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xff000000u;
    if (bias < 0x71000000u)
        bias = 0x71000000u;
    base = from_bits((bias >> 1) + 0x07800000u) + base;
    uint32_t b = bits_of(base);
    uint32_t nonsign = ((b >> 13) & 0x7c00u) + (b & 0x0fffu);
    return (uint16_t)((sign >> 16) | (shl1_w > 0xff000000u ? 0x7e00u : nonsign));
}

static void test_fp16_special(void **state)
{
    (void)state;
    static const struct {
        float f;
        uint16_t h;
    } enc[] = {
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {1.0f, 0x3c00},
        {-2.0f, 0xc000},
        {0.5f, 0x3800},
        {65504.0f, 0x7bff},            /* max finite */
        {-65504.0f, 0xfbff},
        {65519.99f, 0x7bff},           /* below the halfway point to 2^16 */
        {65520.0f, 0x7c00},            /* halfway: ties to even (inf) */
        {1e6f, 0x7c00},                /* overflow */
        {-1e6f, 0xfc00},
        {3.0e38f, 0x7c00},
        {INFINITY, 0x7c00},
        {-INFINITY, 0xfc00},
        {0x1p-14f, 0x0400},            /* smallest normal */
        {0x1p-24f, 0x0001},            /* smallest subnormal */
        {-0x1p-24f, 0x8001},
        {0x3ffp-24f, 0x03ff},          /* largest subnormal */
        {0x1p-25f, 0x0000},            /* half the smallest: ties to even (0) */
        {0x1.000002p-25f, 0x0001},     /* just above half */
        {0x3p-25f, 0x0002},            /* 1.5 ulp: ties to even (2) */
        {0x5p-25f, 0x0002},            /* 2.5 ulp: ties to even (2) */
        {0x1p-30f, 0x0000},            /* underflow */
        {-0x1p-30f, 0x8000},
        {0x1p-149f, 0x0000},           /* float subnormal */
        {1.0f + 0x1p-11f, 0x3c00},     /* tie between 0x3c00 and 0x3c01: even */
        {1.0f + 0x3p-11f, 0x3c02},     /* tie between 0x3c01 and 0x3c02: even */
        {1.0f + 0x1p-11f + 0x1p-23f, 0x3c01}, /* just above the tie */
        {2047.5f, 0x6800},             /* 2047.5: ulp 1 at [1024, 2048): tie -> 2048 */
        {0x1.ffcp-15f, 0x0400},        /* largest subnormal + 0.5 ulp: tie, even (normal) */
        {0x1.ffbp-15f, 0x03ff},        /* just below that tie */
        {0.333333343f, 0x3555},
    };
    for (size_t i = 0; i < sizeof enc / sizeof enc[0]; i++) {
        uint16_t got = dfit_f32_to_fp16(enc[i].f);
        if (got != enc[i].h)
            fail_msg("fp16(%a) = 0x%04x, want 0x%04x", (double)enc[i].f, got, enc[i].h);
    }
    /* NaN stays NaN (0x7e00, sign kept), whatever its payload */
    assert_int_equal(dfit_f32_to_fp16(NAN), 0x7e00);
    assert_int_equal(dfit_f32_to_fp16(from_bits(0x7f800001u)), 0x7e00);
    assert_int_equal(dfit_f32_to_fp16(from_bits(0x7fffffffu)), 0x7e00);
    assert_int_equal(dfit_f32_to_fp16(from_bits(0xffc00000u)), 0xfe00);

    static const struct {
        uint16_t h;
        float f;
    } dec[] = {
        {0x0000, 0.0f},       {0x3c00, 1.0f},     {0xc000, -2.0f},    {0x7bff, 65504.0f},
        {0x0400, 0x1p-14f},   {0x0001, 0x1p-24f}, {0x03ff, 0x3ffp-24f}, {0x8001, -0x1p-24f},
        {0x3555, 0.333251953125f}, {0x7c00, INFINITY}, {0xfc00, -INFINITY},
    };
    for (size_t i = 0; i < sizeof dec / sizeof dec[0]; i++)
        assert_true(bits_of(dfit_fp16_to_f32(dec[i].h)) == bits_of(dec[i].f));
    assert_true(bits_of(dfit_fp16_to_f32(0x8000)) == 0x80000000u); /* -0 */
    /* NaNs decode to quiet NaNs with the payload in the top mantissa bits */
    assert_true(bits_of(dfit_fp16_to_f32(0x7e00)) == 0x7fc00000u);
    assert_true(bits_of(dfit_fp16_to_f32(0xfe00)) == 0xffc00000u);
    assert_true(bits_of(dfit_fp16_to_f32(0x7c01)) == 0x7fc02000u);
    assert_true(bits_of(dfit_fp16_to_f32(0x7dff)) == 0x7fffe000u);
}

static void test_fp16_exhaustive(void **state)
{
    (void)state;
    /* every fp16: decode then encode gives it back; NaN stays NaN */
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float f = dfit_fp16_to_f32((dfit_fp16)h);
        bool is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan) {
            assert_true(isnan(f));
            assert_int_equal(dfit_f32_to_fp16(f), (h & 0x8000) | 0x7e00);
        } else {
            assert_false(isnan(f));
            if (dfit_f32_to_fp16(f) != h)
                fail_msg("round trip of 0x%04x gave 0x%04x", h, dfit_f32_to_fp16(f));
        }
    }
    /* every halfway point between neighbouring fp16 values (exact in
     * float), and the floats just either side of it: ties to even, and
     * the neighbours round to the nearer side */
    for (uint32_t h = 0; h < 0x7bff; h++) {
        float lo = dfit_fp16_to_f32((dfit_fp16)h), hi = dfit_fp16_to_f32((dfit_fp16)(h + 1));
        float mid = lo + (hi - lo) / 2;
        for (int s = 0; s < 2; s++) {
            float sg = s ? -1.0f : 1.0f;
            uint16_t sb = s ? 0x8000 : 0;
            uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
            assert_int_equal(dfit_f32_to_fp16(sg * mid), sb | even);
            assert_int_equal(dfit_f32_to_fp16(sg * nextafterf(mid, 0.0f)), sb | h);
            assert_int_equal(dfit_f32_to_fp16(sg * nextafterf(mid, INFINITY)), sb | (h + 1));
        }
    }
}

static void test_fp16_vs_oracle(void **state)
{
    (void)state;
    /* a 1-in-509 sample of all 2^32 float bit patterns (every exponent,
     * both signs, NaNs included) against the float-arithmetic encoder */
    uint32_t n_bad = 0;
    for (uint64_t u = 0; u <= UINT32_MAX; u += 509) {
        float f = from_bits((uint32_t)u);
        uint16_t got = dfit_f32_to_fp16(f), want = fp16_oracle(f);
        if (got != want && n_bad++ < 5)
            print_error("bits 0x%08x: got 0x%04x, oracle 0x%04x\n", (uint32_t)u, got, want);
    }
    assert_int_equal(n_bad, 0);
    /* and every fp16 halfway point against it too */
    for (uint32_t h = 0; h < 0x7c00; h++) {
        float lo = dfit_fp16_to_f32((dfit_fp16)h), hi = dfit_fp16_to_f32((dfit_fp16)(h + 1));
        float mid = lo + (hi - lo) / 2;
        assert_int_equal(dfit_f32_to_fp16(mid), fp16_oracle(mid));
        assert_int_equal(dfit_f32_to_fp16(-mid), fp16_oracle(-mid));
    }
}

/* ---- bf16 ------------------------------------------------------------------ */

static void test_bf16(void **state)
{
    (void)state;
    static const struct {
        uint32_t f;
        uint16_t h;
    } enc[] = {
        {0x00000000u, 0x0000}, /* 0 */
        {0x80000000u, 0x8000}, /* -0 */
        {0x3f800000u, 0x3f80}, /* 1 */
        {0xc0000000u, 0xc000}, /* -2 */
        {0x7f800000u, 0x7f80}, /* inf */
        {0xff800000u, 0xff80}, /* -inf */
        {0x3f808000u, 0x3f80}, /* tie, low half even: down */
        {0x3f818000u, 0x3f82}, /* tie, low half odd: up */
        {0x3f808001u, 0x3f81}, /* above the tie */
        {0x3f807fffu, 0x3f80}, /* below the tie */
        {0x7f7f0000u, 0x7f7f}, /* max finite bf16 */
        {0x7f7f8000u, 0x7f80}, /* tie at the top, odd: overflows to inf */
        {0x7f7fffffu, 0x7f80}, /* max float overflows to inf */
        {0x00000001u, 0x0000}, /* float subnormals round like the rest */
        {0x00008000u, 0x0000}, /* tie, even: 0 */
        {0x00018000u, 0x0002}, /* tie, odd: up */
        {0x00010000u, 0x0001}, /* smallest bf16 subnormal */
        {0x80018001u, 0x8002},
    };
    for (size_t i = 0; i < sizeof enc / sizeof enc[0]; i++) {
        uint16_t got = dfit_f32_to_bf16(from_bits(enc[i].f));
        if (got != enc[i].h)
            fail_msg("bf16(0x%08x) = 0x%04x, want 0x%04x", enc[i].f, got, enc[i].h);
    }
    /* NaN: top half with the quiet bit forced, never rounded into inf */
    assert_int_equal(dfit_f32_to_bf16(from_bits(0x7fc00000u)), 0x7fc0);
    assert_int_equal(dfit_f32_to_bf16(from_bits(0x7f800001u)), 0x7fc0);
    assert_int_equal(dfit_f32_to_bf16(from_bits(0x7fa00000u)), 0x7fe0);
    assert_int_equal(dfit_f32_to_bf16(from_bits(0x7fffffffu)), 0x7fff);
    assert_int_equal(dfit_f32_to_bf16(from_bits(0xff80ffffu)), 0xffc0);
    /* decode is the upper half; every bf16 round-trips, NaN stays NaN */
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float f = dfit_bf16_to_f32((dfit_bf16)h);
        assert_true(bits_of(f) == h << 16);
        if (isnan(f))
            assert_int_equal(dfit_f32_to_bf16(f), h | 0x40);
        else
            assert_int_equal(dfit_f32_to_bf16(f), h);
    }
}

/* ---- Q8_0 hand-computed blocks -------------------------------------------- */

static void test_q8_0_blocks(void **state)
{
    (void)state;
    float x[4 * 32] = {0};
    /* block 0: amax 127 -> d = 1 (fp16 0x3c00), id = 1; roundf ties go
     * away from zero (2.5 -> 3, -2.5 -> -3, -3.5 -> -4, 63.5 -> 64) */
    const float b0[12] = {127, 2.5f, -2.5f, 0.5f, -0.5f, 1.49f, -126.6f, 63.5f,
                          0.4999f, -0.0f, 100.25f, -3.5f};
    memcpy(x, b0, sizeof b0);
    /* block 1: the largest magnitude is negative: amax 254 -> d = 2
     * (0x4000), id = 0.5; 5 -> 2.5 -> 3, 3 -> 1.5 -> 2, 1 -> 0.5 -> 1,
     * 7 -> 3.5 -> 4 */
    const float b1[8] = {5, -5, 3, 1, -1, -254, 7, -7};
    memcpy(x + 32, b1, sizeof b1);
    /* block 2: all zero -> d = 0, every quant 0 */
    /* block 3: amax 1 -> d = 1/127, fp16 0x2008 (0.00787353515625);
     * 0.25*127 = 31.75 -> 32, -0.1*127 = -12.7 -> -13 */
    const float b3[4] = {1.0f, 0.25f, -0.1f, -1.0f};
    memcpy(x + 96, b3, sizeof b3);

    static const uint8_t want[4][34] = {
        {0x00, 0x3c, 0x7f, 0x03, 0xfd, 0x01, 0xff, 0x01, 0x81, 0x40, 0x00, 0x00, 0x64, 0xfc},
        {0x00, 0x40, 0x03, 0xfd, 0x02, 0x01, 0xff, 0x81, 0x04, 0xfc},
        {0x00, 0x00},
        {0x08, 0x20, 0x7f, 0x20, 0xf3, 0x81},
    };
    struct dfit_block_q8_0 y[4];
    memset(y, 0xa5, sizeof y);
    dfit_quantize_row_q8_0_ref(x, y, 4 * 32);
    for (int i = 0; i < 4; i++)
        assert_memory_equal(&y[i], want[i], 34); /* little-endian d, then qs */

    /* dequantize: d * q exactly */
    float back[4 * 32];
    dfit_dequantize_row_q8_0(y, back, 4 * 32);
    static const float deq0[12] = {127, 3, -3, 1, -1, 1, -127, 64, 0, 0, 100, -4};
    for (int j = 0; j < 32; j++)
        assert_true(back[j] == (j < 12 ? deq0[j] : 0.0f));
    static const float deq1[8] = {6, -6, 4, 2, -2, -254, 8, -8};
    for (int j = 0; j < 32; j++)
        assert_true(back[32 + j] == (j < 8 ? deq1[j] : 0.0f));
    for (int j = 0; j < 32; j++)
        assert_true(back[64 + j] == 0.0f);
    assert_true(back[96] == 127 * 0.00787353515625f);
    assert_true(back[98] == -13 * 0.00787353515625f);
}

/* ---- Q4_0 hand-computed blocks -------------------------------------------- */

static void test_q4_0_blocks(void **state)
{
    (void)state;
    float x[4 * 32] = {0};
    /* block 0: the largest magnitude is negative (-8, first; the later +8
     * has the same magnitude and does not replace it): d = -8/-8 = 1
     * (0x3c00), id = 1, q = MIN(15, trunc(x + 8.5)). Ties round up in x
     * (-1.5 -> 7.0 -> q 7, i.e. -1), unlike Q8_0. */
    const float b0[21] = {
        -8,    /* 0.5  -> 0  */
        8,     /* 16.5 -> 16 -> 15 (clamped) */
        -0.5f, /* 8.0  -> 8  */
        -0.75f,/* 7.75 -> 7  */
        0.49f, /* 8.99 -> 8  */
        0.5f,  /* 9.0  -> 9  */
        6.5f,  /* 15.0 -> 15 */
        6.49f, /* 14.99-> 14 */
        -7.6f, /* 0.9  -> 0  */
        -7.4f, /* 1.1  -> 1  */
        1.5f,  /* 10.0 -> 10 */
        -1.5f, /* 7.0  -> 7  */
        0,     /* 8.5  -> 8  */
        3,     /* 11.5 -> 11 */
        -3,    /* 5.5  -> 5  */
        2.4f,  /* 10.9 -> 10 */
        7.9f,  /* 16.4 -> 15 (clamped) */
        -2.5f, /* 6.0  -> 6  */
        2.5f,  /* 11.0 -> 11 */
        4,     /* 12.5 -> 12 */
        -4,    /* 4.5  -> 4  */
    };         /* 21..31: 0 -> 8 */
    memcpy(x, b0, sizeof b0);
    /* block 1: the largest magnitude is positive (16): d = 16/-8 = -2
     * (0xc000), id = -0.5 */
    const float b1[19] = {
        0,   /* 8.5  -> 8  */
        1,   /* 8.0  -> 8  */
        -1,  /* 9.0  -> 9  */
        3,   /* 7.0  -> 7  */
        -3,  /* 10.0 -> 10 */
        16,  /* 0.5  -> 0  */
        -16, /* 16.5 -> 15 (same magnitude, later: max stays 16) */
        5,   /* 6.0  -> 6  */
        -5,  /* 11.0 -> 11 */
        2,   /* 7.5  -> 7  */
        0, 0, 0, 0, 0, 0,
        14,   /* 1.5  -> 1  */
        -14,  /* 15.5 -> 15 */
        0.9f, /* 8.05 -> 8  */
    };
    memcpy(x + 32, b1, sizeof b1);
    /* block 2: all zero: max stays +0, d = 0/-8 = -0 (0x8000), id = 0,
     * every quant trunc(8.5) = 8 (the value zero): bytes 0x88 */
    /* block 3: equal magnitudes, positive first: max = 4, d = -0.5
     * (0xb800), id = -2: 4 -> 0, -4 -> 15 */
    x[96] = 4;
    x[97] = -4;
    x[96 + 16] = -4;
    x[96 + 17] = 4;

    static const uint8_t want[4][18] = {
        {0x00, 0x3c, 0xf0, 0x6f, 0xb8, 0xc7, 0x48, 0x89, 0x8f, 0x8e, 0x80, 0x81, 0x8a, 0x87, 0x88,
         0x8b, 0x85, 0x8a},
        {0x00, 0xc0, 0x18, 0xf8, 0x89, 0x87, 0x8a, 0x80, 0x8f, 0x86, 0x8b, 0x87, 0x88, 0x88, 0x88,
         0x88, 0x88, 0x88},
        {0x00, 0x80, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
         0x88, 0x88, 0x88},
        {0x00, 0xb8, 0xf0, 0x0f, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
         0x88, 0x88, 0x88},
    };
    struct dfit_block_q4_0 y[4];
    memset(y, 0xa5, sizeof y);
    dfit_quantize_row_q4_0_ref(x, y, 4 * 32);
    for (int i = 0; i < 4; i++)
        assert_memory_equal(&y[i], want[i], 18);

    /* dequantize: d * (q - 8), element j low nibble, j + 16 high */
    float back[4 * 32];
    dfit_dequantize_row_q4_0(y, back, 4 * 32);
    static const int q0[21] = {0, 15, 8, 7, 8, 9, 15, 14, 0, 1, 10, 7, 8, 11, 5, 10, 15, 6, 11, 12, 4};
    for (int j = 0; j < 32; j++)
        assert_true(back[j] == (float)((j < 21 ? q0[j] : 8) - 8));
    assert_true(back[32 + 5] == 16.0f);
    assert_true(back[32 + 6] == -14.0f);
    assert_true(back[32 + 17] == -14.0f);
    for (int j = 0; j < 32; j++)
        assert_true(back[64 + j] == 0.0f);
    assert_true(back[96] == 4.0f && back[97] == -3.5f);
}

/* ---- random round trips ---------------------------------------------------- */

/* Random test rows: normal data at varying scales, some blocks with an
 * outlier, some uniform, some with tiny or huge magnitudes. */
static void fill_random(float *x, int64_t n, uint64_t seed)
{
    struct dfit_rng r;
    dfit_rng_seed(&r, seed);
    for (int64_t b = 0; b < n / 32; b++) {
        static const float scales[] = {1.0f, 0.02f, 1e-4f, 30.0f, 1e3f, 1e-6f};
        float s = scales[b % 6];
        int kind = (int)(b % 5);
        for (int j = 0; j < 32; j++) {
            float v = kind == 3 ? 2.0f * dfit_rng_uniform(&r) - 1.0f : dfit_rng_normal(&r);
            x[b * 32 + j] = s * v;
        }
        if (kind == 1)
            x[b * 32 + (int)dfit_rng_below(&r, 32)] = s * 20.0f;
        if (kind == 2)
            x[b * 32 + (int)dfit_rng_below(&r, 32)] = -s * 20.0f;
    }
}

#define N_RAND (32 * 600)

static void test_q8_0_random_bound(void **state)
{
    (void)state;
    float *x = malloc(N_RAND * sizeof *x), *back = malloc(N_RAND * sizeof *back);
    struct dfit_block_q8_0 *y = malloc(N_RAND / 32 * sizeof *y);
    assert_non_null(x);
    assert_non_null(back);
    assert_non_null(y);
    fill_random(x, N_RAND, 1);
    dfit_quantize_row_q8_0_ref(x, y, N_RAND);
    dfit_dequantize_row_q8_0(y, back, N_RAND);
    for (int b = 0; b < N_RAND / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        double d = amax / 127.0f;                 /* the scale the quantizer used */
        double d16 = dfit_fp16_to_f32(y[b].d);    /* the scale stored */
        assert_true(y[b].d == dfit_f32_to_fp16((float)d));
        for (int j = 0; j < 32; j++) {
            double xv = x[b * 32 + j], xq = back[b * 32 + j];
            int q = y[b].qs[j];
            assert_true(q >= -127 && q <= 127);
            /* Bound: rounding x/d to q costs d/2 (plus 2e-5 d for the float
             * rounding of 1/d and x*id); storing d in fp16 costs
             * |q| * |d16 - d|; the float product q*d16 one rounding. */
            double bound = (0.5 + 2e-5) * d + abs(q) * fabs(d16 - d) + fabs(xq) * 0x1p-23;
            if (fabs(xv - xq) > bound)
                fail_msg("block %d elem %d: x %g back %g bound %g", b, j, xv, xq, bound);
        }
    }
    free(x);
    free(back);
    free(y);
}

static void test_q4_0_random_bound(void **state)
{
    (void)state;
    float *x = malloc(N_RAND * sizeof *x), *back = malloc(N_RAND * sizeof *back);
    struct dfit_block_q4_0 *y = malloc(N_RAND / 32 * sizeof *y);
    assert_non_null(x);
    assert_non_null(back);
    assert_non_null(y);
    fill_random(x, N_RAND, 2);
    dfit_quantize_row_q4_0_ref(x, y, N_RAND);
    dfit_dequantize_row_q4_0(y, back, N_RAND);
    for (int b = 0; b < N_RAND / 32; b++) {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++)
            if (fabsf(x[b * 32 + j]) > amax) {
                amax = fabsf(x[b * 32 + j]);
                max = x[b * 32 + j];
            }
        double d = fabsf(max / -8.0f);            /* |scale| the quantizer used */
        double d16 = fabsf(dfit_fp16_to_f32(y[b].d));
        for (int j = 0; j < 32; j++) {
            double xv = x[b * 32 + j], xq = back[b * 32 + j];
            int q = j < 16 ? (y[b].qs[j] & 15) : (y[b].qs[j - 16] >> 4);
            /* Bound: trunc(x/d + 8.5) rounds x/d + 8 half up, so |x - d(q-8)|
             * <= d/2, except where q is clamped to 15 (x/d in (6.5, 8]
             * with x/d + 8.5 >= 16), where it is <= d; plus 2e-5 d for
             * the float rounding of 1/d and x*id, |q-8| * |d16 - d| for the
             * fp16 scale, one rounding of the float product. */
            double step = q == 15 ? 1.0 : 0.5;
            double bound = (step + 2e-5) * d + abs(q - 8) * fabs(d16 - d) + fabs(xq) * 0x1p-23;
            if (fabs(xv - xq) > bound)
                fail_msg("block %d elem %d: x %g back %g bound %g", b, j, xv, xq, bound);
        }
        /* the element of largest magnitude is exact up to the fp16 scale */
        for (int j = 0; j < 32; j++)
            if (x[b * 32 + j] == max)
                assert_true(fabs(back[b * 32 + j] - max) <= 8 * fabs(d16 - d) + d * 1e-6);
    }
    free(x);
    free(back);
    free(y);
}

static void test_row_conversions(void **state)
{
    (void)state;
    enum { N = 256 };
    float x[N], back[N];
    fill_random(x, N, 3);
    uint8_t buf[N * 4];
    static const enum dfit_type types[] = {DFIT_TYPE_F32, DFIT_TYPE_F16, DFIT_TYPE_BF16,
                                           DFIT_TYPE_Q8_0, DFIT_TYPE_Q4_0};
    for (size_t t = 0; t < 5; t++) {
        size_t nb = 0;
        assert_true(dfit_type_row_bytes(types[t], N, &nb));
        memset(buf, 0, sizeof buf);
        dfit_row_from_f32(types[t], x, buf, N);
        dfit_row_to_f32(types[t], buf, back, N);
        /* the generic entry points agree with the specific codecs */
        uint8_t ref[N * 4];
        float ref_back[N];
        memset(ref, 0, sizeof ref);
        switch (types[t]) {
        case DFIT_TYPE_F32:
            memcpy(ref, x, sizeof x);
            memcpy(ref_back, x, sizeof x);
            break;
        case DFIT_TYPE_F16:
            for (int i = 0; i < N; i++) {
                dfit_fp16 h = dfit_f32_to_fp16(x[i]);
                memcpy(ref + 2 * i, &h, 2);
                ref_back[i] = dfit_fp16_to_f32(h);
            }
            break;
        case DFIT_TYPE_BF16:
            for (int i = 0; i < N; i++) {
                dfit_bf16 h = dfit_f32_to_bf16(x[i]);
                memcpy(ref + 2 * i, &h, 2);
                ref_back[i] = dfit_bf16_to_f32(h);
            }
            break;
        case DFIT_TYPE_Q8_0:
            dfit_quantize_row_q8_0_ref(x, (struct dfit_block_q8_0 *)ref, N);
            dfit_dequantize_row_q8_0((struct dfit_block_q8_0 *)ref, ref_back, N);
            break;
        case DFIT_TYPE_Q4_0:
            dfit_quantize_row_q4_0_ref(x, (struct dfit_block_q4_0 *)ref, N);
            dfit_dequantize_row_q4_0((struct dfit_block_q4_0 *)ref, ref_back, N);
            break;
        }
        assert_memory_equal(buf, ref, nb);
        assert_memory_equal(back, ref_back, sizeof back);
        /* a second pass through the format changes nothing: dequantized
         * values requantize to the same scale and quants */
        uint8_t buf2[N * 4];
        float back2[N];
        memset(buf2, 0, sizeof buf2);
        dfit_row_from_f32(types[t], back, buf2, N);
        dfit_row_to_f32(types[t], buf2, back2, N);
        for (int i = 0; i < N; i++)
            assert_true(back2[i] == back[i]); /* == : a -0 may come back +0 */
        if (!dfit_type_info(types[t])->quantized) {
            assert_memory_equal(buf2, buf, nb);
            continue;
        }
        /* the same blocks, except where fp16 d underflowed to 0 (scale
         * 1e-6 rows): the quants were made with the unrounded d, but the
         * block decodes, and so requantizes, to zeros */
        size_t bb = dfit_type_info(types[t])->block_bytes;
        for (size_t off = 0; off < nb; off += bb) {
            dfit_fp16 d;
            memcpy(&d, buf + off, sizeof d);
            if ((d & 0x7fff) != 0)
                assert_memory_equal(buf2 + off, buf + off, bb);
            else
                for (size_t j = 0; j < 32; j++)
                    assert_true(back[off / bb * 32 + j] == 0.0f);
        }
    }
}

/* ---- dot products ---------------------------------------------------------- */

#define N_DOT (32 * 64)

/* Double-precision dot of two float rows; also returns sum |a_i b_i|. */
static double dot_ref(int64_t n, const float *a, const float *b, double *abs_sum)
{
    double s = 0, as = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)a[i] * b[i];
        as += fabs((double)a[i] * b[i]);
    }
    *abs_sum = as;
    return s;
}

static void test_dot_float_weights(void **state)
{
    (void)state;
    static float w[N_DOT], x[N_DOT], wd[N_DOT];
    static dfit_fp16 wh[N_DOT];
    static dfit_bf16 wb[N_DOT];
    for (uint64_t seed = 10; seed < 14; seed++) {
        fill_random(w, N_DOT, seed);
        fill_random(x, N_DOT, seed + 100);
        for (int i = 0; i < N_DOT; i++)
            x[i] /= 1 + (i % 7); /* decorrelate the scales */
        double abs_sum;
        /* Tolerance for all three: each product rounded to float (2^-24
         * relative), the double sum (n 2^-53, negligible), the final
         * rounding to float (2^-24 |result|): <= 2^-22 sum |w x|. */
        double ref = dot_ref(N_DOT, w, x, &abs_sum);
        float got = dfit_vec_dot_f32(N_DOT, w, x);
        assert_true(fabs(got - ref) <= 0x1p-22 * abs_sum);
        assert_true(dfit_vec_dot_ref(DFIT_TYPE_F32, N_DOT, w, x) == got);

        dfit_row_from_f32(DFIT_TYPE_F16, w, wh, N_DOT);
        dfit_row_to_f32(DFIT_TYPE_F16, wh, wd, N_DOT);
        ref = dot_ref(N_DOT, wd, x, &abs_sum);
        got = dfit_vec_dot_f16(N_DOT, wh, x);
        assert_true(fabs(got - ref) <= 0x1p-22 * abs_sum);
        assert_true(dfit_vec_dot_ref(DFIT_TYPE_F16, N_DOT, wh, x) == got);

        dfit_row_from_f32(DFIT_TYPE_BF16, w, wb, N_DOT);
        dfit_row_to_f32(DFIT_TYPE_BF16, wb, wd, N_DOT);
        ref = dot_ref(N_DOT, wd, x, &abs_sum);
        got = dfit_vec_dot_bf16(N_DOT, wb, x);
        assert_true(fabs(got - ref) <= 0x1p-22 * abs_sum);
        assert_true(dfit_vec_dot_ref(DFIT_TYPE_BF16, N_DOT, wb, x) == got);
    }
    assert_false(dfit_type_wants_q8_act(DFIT_TYPE_F32));
    assert_false(dfit_type_wants_q8_act(DFIT_TYPE_F16));
    assert_false(dfit_type_wants_q8_act(DFIT_TYPE_BF16));
    assert_true(dfit_type_wants_q8_act(DFIT_TYPE_Q8_0));
    assert_true(dfit_type_wants_q8_act(DFIT_TYPE_Q4_0));
}

/* Checks a quantized dot product: against the double dot of the
 * dequantized rows (what the integer kernel computes exactly, up to float
 * rounding), and against the dot of the original float rows (up to the
 * quantization error, computed element by element). */
static void check_quant_dot(float got, const float *w, const float *wq, const float *x,
                            const float *xq)
{
    const int nb = N_DOT / 32;
    /* per-block terms d_w d_x sumi are exact in double from the
     * dequantized values (q*d is exact in float: 8 + 11 significant bits) */
    double ref = 0, abs_terms = 0;
    for (int b = 0; b < nb; b++) {
        double t = 0;
        for (int j = 0; j < 32; j++)
            t += (double)wq[b * 32 + j] * xq[b * 32 + j];
        ref += t;
        abs_terms += fabs(t);
    }
    /* Tolerance: per block, d_w*d_x and the scaling each round once, then
     * a float sum over nb blocks: <= (nb + 2) 2^-24 sum_b |term_b|. */
    double tol = (nb + 2) * 0x1p-24 * abs_terms + 1e-30;
    if (fabs(got - ref) > tol)
        fail_msg("quantized dot %.9g, dequantized reference %.9g, tol %g", (double)got, ref, tol);
    /* Against the unquantized dot: |w.x - wq.xq| <= sum |w - wq||x| +
     * |wq||x - xq|, plus the tolerance above. */
    double exact = 0, qerr = 0;
    for (int i = 0; i < N_DOT; i++) {
        exact += (double)w[i] * x[i];
        qerr += fabs((double)w[i] - wq[i]) * fabs(x[i]) + fabs(wq[i]) * fabs((double)x[i] - xq[i]);
    }
    assert_true(fabs(got - exact) <= qerr + tol);
}

static void test_dot_quantized(void **state)
{
    (void)state;
    static float w[N_DOT], x[N_DOT], wq[N_DOT], xq[N_DOT];
    static struct dfit_block_q8_0 w8[N_DOT / 32], x8[N_DOT / 32];
    static struct dfit_block_q4_0 w4[N_DOT / 32];
    for (uint64_t seed = 20; seed < 24; seed++) {
        fill_random(w, N_DOT, seed);
        fill_random(x, N_DOT, seed + 100);
        dfit_quantize_row_q8_0_ref(x, x8, N_DOT);
        dfit_dequantize_row_q8_0(x8, xq, N_DOT);

        dfit_quantize_row_q8_0_ref(w, w8, N_DOT);
        dfit_dequantize_row_q8_0(w8, wq, N_DOT);
        float got = dfit_vec_dot_q8_0_q8_0(N_DOT, w8, x8);
        check_quant_dot(got, w, wq, x, xq);
        assert_true(dfit_vec_dot_ref(DFIT_TYPE_Q8_0, N_DOT, w8, x8) == got);

        dfit_quantize_row_q4_0_ref(w, w4, N_DOT);
        dfit_dequantize_row_q4_0(w4, wq, N_DOT);
        got = dfit_vec_dot_q4_0_q8_0(N_DOT, w4, x8);
        check_quant_dot(got, w, wq, x, xq);
        assert_true(dfit_vec_dot_ref(DFIT_TYPE_Q4_0, N_DOT, w4, x8) == got);
    }
}

static void test_dot_quantized_hand(void **state)
{
    (void)state;
    /* one block each, small integers so every step is exact:
     * w = Q8_0 with d = 1 (amax 127), x = Q8_0 with d = 2 (amax 254) */
    float w[32] = {127, -3, 2}, x[32] = {254, 10, -6};
    struct dfit_block_q8_0 w8, x8;
    dfit_quantize_row_q8_0_ref(w, &w8, 32);
    dfit_quantize_row_q8_0_ref(x, &x8, 32);
    /* x quants: 127, 5, -3; sumi = 127*127 - 3*5 + 2*(-3) = 16108; * 1 * 2 */
    assert_true(dfit_vec_dot_q8_0_q8_0(32, &w8, &x8) == 32216.0f);
    /* Q4_0 w: max -8 -> d = 1, quants 8 + w: w = -8, 7, 1 at 0, 1, 16 */
    float w4f[32] = {-8, 7};
    w4f[16] = 1;
    float x2[32] = {127, 2};
    x2[16] = -5;
    struct dfit_block_q4_0 w4;
    dfit_quantize_row_q4_0_ref(w4f, &w4, 32);
    dfit_quantize_row_q8_0_ref(x2, &x8, 32); /* d = 1, quants 127, 2, ..., -5 */
    /* sumi = -8*127 + 7*2 + 1*(-5) = -1007 */
    assert_true(dfit_vec_dot_q4_0_q8_0(32, &w4, &x8) == -1007.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_ggml_names),
        cmocka_unit_test(test_type_from_name),
        cmocka_unit_test(test_row_bytes),
        cmocka_unit_test(test_fp16_special),
        cmocka_unit_test(test_fp16_exhaustive),
        cmocka_unit_test(test_fp16_vs_oracle),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_q8_0_blocks),
        cmocka_unit_test(test_q4_0_blocks),
        cmocka_unit_test(test_q8_0_random_bound),
        cmocka_unit_test(test_q4_0_random_bound),
        cmocka_unit_test(test_row_conversions),
        cmocka_unit_test(test_dot_float_weights),
        cmocka_unit_test(test_dot_quantized),
        cmocka_unit_test(test_dot_quantized_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
