/* types.c — tensor element types: the type table, fp16/bf16 conversions,
 * the reference Q8_0/Q4_0 block codecs and the reference dot products
 * (see types.h).
 *
 * Everything here is scalar and written for clarity: these are the oracle
 * kernels the SIMD and CUDA kernels are tested against, and the codecs the
 * converter uses to write files llama.cpp reads bit for bit. Rounding
 * follows ggml's scalar code exactly (its software fp16 path, its bf16
 * rounding, quantize_row_q8_0_ref / quantize_row_q4_0_ref and the generic
 * vec_dot kernels), computed here with integer bit manipulation where ggml
 * uses float tricks, so the results do not depend on the FPU's
 * flush-to-zero mode.
 * Non-goals: speed; K-quants and other ggml formats; matrices (callers loop
 * over rows).
 */
#include "model/types.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Products and sums below must round as written (ggml's reference order):
 * no fused multiply-add. GCC does not contract in ISO C mode. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- type table ---------------------------------------------------------- */

static const struct dfit_type_info info_f32 = {"f32", 1, 4, false};
static const struct dfit_type_info info_f16 = {"f16", 1, 2, false};
static const struct dfit_type_info info_bf16 = {"bf16", 1, 2, false};
static const struct dfit_type_info info_q8_0 = {"q8_0", DFIT_QK, sizeof(struct dfit_block_q8_0),
                                                true};
static const struct dfit_type_info info_q4_0 = {"q4_0", DFIT_QK, sizeof(struct dfit_block_q4_0),
                                                true};

const struct dfit_type_info *dfit_type_info(uint32_t id)
{
    switch (id) {
    case DFIT_TYPE_F32: return &info_f32;
    case DFIT_TYPE_F16: return &info_f16;
    case DFIT_TYPE_Q4_0: return &info_q4_0;
    case DFIT_TYPE_Q8_0: return &info_q8_0;
    case DFIT_TYPE_BF16: return &info_bf16;
    default: return NULL;
    }
}

/* Every id ggml's enum ggml_type has defined. 4 and 5 (q4_2, q4_3) were
 * dropped before GGUF existed and are unknown; 31-33 and 36-38 are the
 * interleaved Q4_0/IQ4_NL layouts ggml has since removed, named so a file
 * that uses them is rejected with a recognisable name. */
static const char *const ggml_names[] = {
    [0] = "f32",       [1] = "f16",      [2] = "q4_0",      [3] = "q4_1",
    [6] = "q5_0",      [7] = "q5_1",     [8] = "q8_0",      [9] = "q8_1",
    [10] = "q2_k",     [11] = "q3_k",    [12] = "q4_k",     [13] = "q5_k",
    [14] = "q6_k",     [15] = "q8_k",    [16] = "iq2_xxs",  [17] = "iq2_xs",
    [18] = "iq3_xxs",  [19] = "iq1_s",   [20] = "iq4_nl",   [21] = "iq3_s",
    [22] = "iq2_s",    [23] = "iq4_xs",  [24] = "i8",       [25] = "i16",
    [26] = "i32",      [27] = "i64",     [28] = "f64",      [29] = "iq1_m",
    [30] = "bf16",     [31] = "q4_0_4_4", [32] = "q4_0_4_8", [33] = "q4_0_8_8",
    [34] = "tq1_0",    [35] = "tq2_0",   [36] = "iq4_nl_4_4", [37] = "iq4_nl_4_8",
    [38] = "iq4_nl_8_8", [39] = "mxfp4",
};

const char *dfit_type_ggml_name(uint32_t id)
{
    if (id >= sizeof ggml_names / sizeof ggml_names[0])
        return NULL;
    return ggml_names[id];
}

int dfit_type_from_name(const char *name, enum dfit_type *out)
{
    static const enum dfit_type supported[] = {DFIT_TYPE_F32, DFIT_TYPE_F16, DFIT_TYPE_BF16,
                                               DFIT_TYPE_Q8_0, DFIT_TYPE_Q4_0};
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++) {
        const char *want = dfit_type_info(supported[i])->name;
        size_t j = 0;
        while (want[j] && tolower((unsigned char)name[j]) == want[j])
            j++;
        if (!want[j] && !name[j]) {
            *out = supported[i];
            return 0;
        }
    }
    return -1;
}

bool dfit_type_row_bytes(enum dfit_type t, int64_t n, size_t *out)
{
    const struct dfit_type_info *ti = dfit_type_info((uint32_t)t);
    if (!ti || n < 0 || n % ti->block_size != 0)
        return false;
    /* the size must fit both size_t and int64_t (file offsets) */
    const uint64_t lim = SIZE_MAX < (uint64_t)INT64_MAX ? SIZE_MAX : (uint64_t)INT64_MAX;
    uint64_t n_blocks = (uint64_t)(n / ti->block_size);
    if (n_blocks > lim / ti->block_bytes)
        return false;
    *out = (size_t)n_blocks * ti->block_bytes;
    return true;
}

/* ---- scalar conversions ---------------------------------------------------- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float dfit_fp16_to_f32(dfit_fp16 h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) /* inf, or NaN made quiet with its payload kept */
        return f32_from_bits(sign | 0x7f800000u | (mant << 13) | (mant ? 0x00400000u : 0));
    if (exp != 0) /* normal: rebias 15 -> 127 */
        return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
    /* zero or subnormal: mant * 2^-24, exact in float */
    float v = (float)mant * 0x1p-24f;
    return sign ? -v : v;
}

/* Round to nearest, ties to even; overflow to inf; NaN -> 0x7e00 with the
 * sign kept (ggml's software path drops the payload). */
dfit_fp16 dfit_f32_to_fp16(float f)
{
    uint32_t w = f32_bits(f);
    uint16_t sign = (uint16_t)((w >> 16) & 0x8000u);
    uint32_t a = w & 0x7fffffffu;
    if (a > 0x7f800000u)
        return sign | 0x7e00u;
    if (a >= 0x477ff000u) /* >= 65520: halfway to 2^16 rounds (to even) to inf */
        return sign | 0x7c00u;
    int32_t exp = (int32_t)(a >> 23) - 127; /* unbiased */
    uint32_t mant = (a & 0x7fffffu) | 0x800000u; /* 24-bit significand */
    uint32_t shift;  /* bits of `mant` dropped */
    uint32_t base;   /* fp16 bits before the mantissa is added */
    if (exp >= -14) { /* normal fp16: keep 11 bits of the significand */
        shift = 13;
        base = (uint32_t)(exp + 14) << 10; /* biased exp - 1: the implicit bit adds 1 */
    } else {          /* subnormal fp16: value/2^-24 rounded */
        if (exp < -25)
            return sign; /* below half the smallest subnormal */
        shift = (uint32_t)(-1 - exp); /* 14..24 */
        base = 0;
    }
    uint32_t q = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (q & 1)))
        q++;
    /* a carry out of the mantissa bumps the exponent, as it should */
    return (dfit_fp16)(sign | (base + q));
}

float dfit_bf16_to_f32(dfit_bf16 h)
{
    return f32_from_bits((uint32_t)h << 16);
}

dfit_bf16 dfit_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (dfit_bf16)((u >> 16) | 64); /* quiet NaN */
    return (dfit_bf16)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

/* ---- reference block codecs ------------------------------------------------ */

/* roundf(v) as int8 for |v| <= 127 (all finite ggml cases). v is
 * non-finite or out of range only when the input is non-finite or amax is
 * so small (< ~1e-36) that 1/d overflows; ggml's conversion is undefined
 * there, here it saturates and NaN gives 0. */
static int8_t q8_round(float v)
{
    if (isnan(v))
        return 0;
    float r = roundf(v);
    if (r > 127.0f)
        return 127;
    if (r < -128.0f)
        return -128;
    return (int8_t)r;
}

void dfit_quantize_row_q8_0_ref(const float *x, struct dfit_block_q8_0 *y, int64_t k)
{
    /* x: [k], y: [k / 32] */
    assert(k % DFIT_QK == 0);
    for (int64_t i = 0; i < k / DFIT_QK; i++) {
        const float *xb = x + i * DFIT_QK;
        float amax = 0.0f;
        for (int j = 0; j < DFIT_QK; j++) {
            float v = fabsf(xb[j]);
            amax = amax > v ? amax : v; /* ggml's MAX(amax, v), NaN order too */
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = dfit_f32_to_fp16(d);
        for (int j = 0; j < DFIT_QK; j++) {
            const float x0 = xb[j] * id;
            y[i].qs[j] = q8_round(x0);
        }
    }
}

/* (int8_t)(v) truncated toward zero, then MIN(15, .), for v = x*id + 8.5 in
 * [0, 16.5] (all finite ggml cases). Outside that (non-finite input, or 1/d
 * overflowing) ggml is undefined; here it saturates to [0, 15] and NaN
 * gives 8 (the value zero). */
static uint8_t q4_trunc(float v)
{
    if (isnan(v))
        return 8;
    if (v >= 15.0f)
        return 15;
    if (v <= 0.0f)
        return 0;
    return (uint8_t)(int)v;
}

void dfit_quantize_row_q4_0_ref(const float *x, struct dfit_block_q4_0 *y, int64_t k)
{
    /* x: [k], y: [k / 32] */
    assert(k % DFIT_QK == 0);
    for (int64_t i = 0; i < k / DFIT_QK; i++) {
        const float *xb = x + i * DFIT_QK;
        float amax = 0.0f; /* largest magnitude ... */
        float max = 0.0f;  /* ... and its signed value; the first one wins a tie */
        for (int j = 0; j < DFIT_QK; j++) {
            if (amax < fabsf(xb[j])) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = dfit_f32_to_fp16(d);
        for (int j = 0; j < DFIT_QK / 2; j++) {
            const float x0 = xb[j] * id;
            const float x1 = xb[j + DFIT_QK / 2] * id;
            const uint8_t q0 = q4_trunc(x0 + 8.5f);
            const uint8_t q1 = q4_trunc(x1 + 8.5f);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void dfit_dequantize_row_q8_0(const struct dfit_block_q8_0 *x, float *y, int64_t k)
{
    /* x: [k / 32], y: [k] */
    assert(k % DFIT_QK == 0);
    for (int64_t i = 0; i < k / DFIT_QK; i++) {
        const float d = dfit_fp16_to_f32(x[i].d);
        for (int j = 0; j < DFIT_QK; j++)
            y[i * DFIT_QK + j] = x[i].qs[j] * d;
    }
}

void dfit_dequantize_row_q4_0(const struct dfit_block_q4_0 *x, float *y, int64_t k)
{
    /* x: [k / 32], y: [k] */
    assert(k % DFIT_QK == 0);
    for (int64_t i = 0; i < k / DFIT_QK; i++) {
        const float d = dfit_fp16_to_f32(x[i].d);
        for (int j = 0; j < DFIT_QK / 2; j++) {
            const int v0 = (x[i].qs[j] & 0x0f) - 8;
            const int v1 = (x[i].qs[j] >> 4) - 8;
            y[i * DFIT_QK + j] = v0 * d;
            y[i * DFIT_QK + j + DFIT_QK / 2] = v1 * d;
        }
    }
}

void dfit_row_from_f32(enum dfit_type t, const float *x, void *y, int64_t n)
{
    switch (t) {
    case DFIT_TYPE_F32:
        memcpy(y, x, (size_t)n * sizeof(float));
        return;
    case DFIT_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            ((dfit_fp16 *)y)[i] = dfit_f32_to_fp16(x[i]);
        return;
    case DFIT_TYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            ((dfit_bf16 *)y)[i] = dfit_f32_to_bf16(x[i]);
        return;
    case DFIT_TYPE_Q8_0:
        dfit_quantize_row_q8_0_ref(x, y, n);
        return;
    case DFIT_TYPE_Q4_0:
        dfit_quantize_row_q4_0_ref(x, y, n);
        return;
    }
    assert(!"dfit_row_from_f32: unsupported type");
}

void dfit_row_to_f32(enum dfit_type t, const void *x, float *y, int64_t n)
{
    switch (t) {
    case DFIT_TYPE_F32:
        memcpy(y, x, (size_t)n * sizeof(float));
        return;
    case DFIT_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            y[i] = dfit_fp16_to_f32(((const dfit_fp16 *)x)[i]);
        return;
    case DFIT_TYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            y[i] = dfit_bf16_to_f32(((const dfit_bf16 *)x)[i]);
        return;
    case DFIT_TYPE_Q8_0:
        dfit_dequantize_row_q8_0(x, y, n);
        return;
    case DFIT_TYPE_Q4_0:
        dfit_dequantize_row_q4_0(x, y, n);
        return;
    }
    assert(!"dfit_row_to_f32: unsupported type");
}

/* ---- reference dot products ------------------------------------------------ */

/* Float weights: each product rounded to float, summed in double (ggml's
 * generic ggml_vec_dot_f32 / _f16 / _bf16 with the activation in F32). */

float dfit_vec_dot_f32(int64_t n, const float *w, const float *x)
{
    /* w: [n], x: [n] */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(w[i] * x[i]);
    return (float)sum;
}

float dfit_vec_dot_f16(int64_t n, const dfit_fp16 *w, const float *x)
{
    /* w: [n], x: [n] */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(dfit_fp16_to_f32(w[i]) * x[i]);
    return (float)sum;
}

float dfit_vec_dot_bf16(int64_t n, const dfit_bf16 *w, const float *x)
{
    /* w: [n], x: [n] */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(dfit_bf16_to_f32(w[i]) * x[i]);
    return (float)sum;
}

/* Quantized weights: exact integer sum per block, then one float
 * multiply-add per block, in ggml's generic order. */

float dfit_vec_dot_q8_0_q8_0(int64_t n, const struct dfit_block_q8_0 *w,
                             const struct dfit_block_q8_0 *x)
{
    /* w: [n / 32], x: [n / 32] */
    assert(n % DFIT_QK == 0);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / DFIT_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < DFIT_QK; j++)
            sumi += w[i].qs[j] * x[i].qs[j];
        sumf += (float)sumi * (dfit_fp16_to_f32(w[i].d) * dfit_fp16_to_f32(x[i].d));
    }
    return sumf;
}

float dfit_vec_dot_q4_0_q8_0(int64_t n, const struct dfit_block_q4_0 *w,
                             const struct dfit_block_q8_0 *x)
{
    /* w: [n / 32], x: [n / 32] */
    assert(n % DFIT_QK == 0);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / DFIT_QK; i++) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < DFIT_QK / 2; j++) {
            const int v0 = (w[i].qs[j] & 0x0f) - 8; /* element j */
            const int v1 = (w[i].qs[j] >> 4) - 8;   /* element j + 16 */
            sumi0 += v0 * x[i].qs[j];
            sumi1 += v1 * x[i].qs[j + DFIT_QK / 2];
        }
        const int sumi = sumi0 + sumi1;
        sumf += (float)sumi * dfit_fp16_to_f32(w[i].d) * dfit_fp16_to_f32(x[i].d);
    }
    return sumf;
}

bool dfit_type_wants_q8_act(enum dfit_type t)
{
    return t == DFIT_TYPE_Q8_0 || t == DFIT_TYPE_Q4_0;
}

float dfit_vec_dot_ref(enum dfit_type t, int64_t n, const void *w, const void *act)
{
    switch (t) {
    case DFIT_TYPE_F32: return dfit_vec_dot_f32(n, w, act);
    case DFIT_TYPE_F16: return dfit_vec_dot_f16(n, w, act);
    case DFIT_TYPE_BF16: return dfit_vec_dot_bf16(n, w, act);
    case DFIT_TYPE_Q8_0: return dfit_vec_dot_q8_0_q8_0(n, w, act);
    case DFIT_TYPE_Q4_0: return dfit_vec_dot_q4_0_q8_0(n, w, act);
    }
    assert(!"dfit_vec_dot_ref: unsupported type");
    return NAN;
}
