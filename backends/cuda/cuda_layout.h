/* cuda_layout.h — the arithmetic the CUDA kernels share with the host: the
 * device layouts of the weight formats, fp16/bf16 conversions, the Q8_0
 * activation quantizer, the integer block dot products, RoPE angles and the
 * online-softmax merge. Every function here is plain C that nvcc compiles
 * as __host__ __device__ and gcc/clang compile as static inline, so the unit
 * tests on the CPU (tests/unit/test_cuda_host.c) run the very code the
 * kernels run, against the reference codecs of model/types.c.
 *
 * Device weight layouts (made at load by dfit_cuda_repack_*, see
 * cuda_plan.h): F32, F16 and BF16 rows as in the file, [n_out][n_in];
 * Q8_0 split into int8 quants [n_out][n_in] and fp16 scales
 * [n_out][n_in/32]; Q4_0 split into packed nibbles [n_out][n_in/2] (each
 * block's 16 bytes as in the file: element j in the low nibble of byte j,
 * element j+16 in the high nibble) and fp16 scales [n_out][n_in/32]. The
 * split makes every quant row 16-byte aligned, so kernels read weights with
 * 128-bit loads. Activations for the integer dot products are Q8_0 blocks,
 * split the same way: int8 quants [n_tok][n_in], float scales (the fp16
 * value, widened) [n_tok][n_in/32] and int32 quant sums [n_tok][n_in/32].
 * Non-goals: kernels, launch geometry (cuda_kernels.h).
 */
#ifndef DFIT_BACKENDS_CUDA_LAYOUT_H
#define DFIT_BACKENDS_CUDA_LAYOUT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define DFIT_HD __host__ __device__ __forceinline__
#else
#define DFIT_HD static inline
#endif

#define DFIT_CU_QK 32          /* elements per Q8_0 / Q4_0 block */
#define DFIT_CU_HEAD_DIM_MAX 256 /* attention kernel limit */

DFIT_HD uint32_t dfit_cu_f32_bits(float f)
{
#ifdef __CUDA_ARCH__
    return (uint32_t)__float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
#endif
}

DFIT_HD float dfit_cu_f32_from_bits(uint32_t u)
{
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

/* IEEE binary16 -> float, exact (NaN kept quiet, as model/types.c does). */
DFIT_HD float dfit_cu_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f)
        return dfit_cu_f32_from_bits(sign | 0x7f800000u | (mant << 13) | (mant ? 0x00400000u : 0));
    if (exp != 0)
        return dfit_cu_f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
    float v = (float)mant * 5.9604644775390625e-8f; /* 2^-24, exact */
    return sign ? -v : v;
}

/* float -> binary16, round to nearest even (bit-identical to
 * dfit_f32_to_fp16). */
DFIT_HD uint16_t dfit_cu_f32_to_fp16(float f)
{
    uint32_t w = dfit_cu_f32_bits(f);
    uint16_t sign = (uint16_t)((w >> 16) & 0x8000u);
    uint32_t a = w & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u)
        return (uint16_t)(sign | 0x7c00u);
    int32_t exp = (int32_t)(a >> 23) - 127;
    uint32_t mant = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift, base;
    if (exp >= -14) {
        shift = 13;
        base = (uint32_t)(exp + 14) << 10;
    } else {
        if (exp < -25)
            return sign;
        shift = (uint32_t)(-1 - exp);
        base = 0;
    }
    uint32_t q = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (q & 1)))
        q++;
    return (uint16_t)(sign | (base + q));
}

DFIT_HD float dfit_cu_bf16_to_f32(uint16_t h)
{
    return dfit_cu_f32_from_bits((uint32_t)h << 16);
}

/* float -> bfloat16, round to nearest even, NaN made quiet (as types.c). */
DFIT_HD uint16_t dfit_cu_f32_to_bf16(float f)
{
    uint32_t u = dfit_cu_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

/* ---- Q8_0 activation quantizer ----------------------------------------- */

/* Scale of a block whose largest magnitude is amax, as the reference
 * quantizer computes it: d = amax/127 stored as fp16; *id = 1/d (of the
 * float d, before rounding to fp16; 0 for an all-zero block). Returns the
 * fp16 value of d, widened. */
DFIT_HD float dfit_cu_q8_scale(float amax, float *id)
{
    const float d = amax / 127.0f;
    *id = d != 0.0f ? 1.0f / d : 0.0f;
    return dfit_cu_fp16_to_f32(dfit_cu_f32_to_fp16(d));
}

/* One quant: round(x*id) clamped to int8, NaN to 0 (types.c's q8_round). */
DFIT_HD int dfit_cu_q8_quant(float x, float id)
{
    float v = x * id;
    if (v != v)
        return 0;
    float r = roundf(v);
    if (r > 127.0f)
        return 127;
    if (r < -128.0f)
        return -128;
    return (int)r;
}

/* ---- integer block dot products ----------------------------------------- */

/* Sum of the four signed byte products of a and b (__dp4a on the device). */
DFIT_HD int dfit_cu_dot4_i8(int a, int b)
{
#ifdef __CUDA_ARCH__
    return __dp4a(a, b, 0);
#else
    int s = 0;
    for (int i = 0; i < 4; i++)
        s += (int)(int8_t)(uint8_t)((uint32_t)a >> (8 * i)) *
             (int)(int8_t)(uint8_t)((uint32_t)b >> (8 * i));
    return s;
#endif
}

/* Q8_0 half block (16 quants) against 16 activation quants, each given as
 * four little-endian 32-bit words. */
DFIT_HD int dfit_cu_q8_dot16(const int w[4], const int x[4])
{
    int s = 0;
    for (int i = 0; i < 4; i++)
        s += dfit_cu_dot4_i8(w[i], x[i]);
    return s;
}

/* Q4_0 block: 16 bytes of nibbles (four words) against the block's 32
 * activation quants (xlo: elements 0..15, xhi: 16..31, four words each).
 * Returns sum(q_j * x_j) over the raw nibbles q_j in [0, 15]; the caller
 * subtracts 8 * sum(x_j) for the offset. */
DFIT_HD int dfit_cu_q4_dot32(const int w[4], const int xlo[4], const int xhi[4])
{
    int s = 0;
    for (int i = 0; i < 4; i++) {
        const int lo = w[i] & 0x0f0f0f0f;
        const int hi = (int)(((uint32_t)w[i] >> 4) & 0x0f0f0f0fu);
        s += dfit_cu_dot4_i8(lo, xlo[i]);
        s += dfit_cu_dot4_i8(hi, xhi[i]);
    }
    return s;
}

/* ---- element access in the device layouts (embedding, dequantization) --- */

/* Element i of row r of a Q8_0 weight in the split layout. */
DFIT_HD float dfit_cu_q8_0_get(const int8_t *qs, const uint16_t *d, int64_t n_in, int64_t r,
                               int64_t i)
{
    return (float)qs[r * n_in + i] * dfit_cu_fp16_to_f32(d[r * (n_in / DFIT_CU_QK) + i / DFIT_CU_QK]);
}

/* Element i of row r of a Q4_0 weight in the split layout. */
DFIT_HD float dfit_cu_q4_0_get(const uint8_t *qs, const uint16_t *d, int64_t n_in, int64_t r,
                               int64_t i)
{
    const int64_t blk = i / DFIT_CU_QK;
    const int j = (int)(i % DFIT_CU_QK);
    const uint8_t byte = qs[r * (n_in / 2) + blk * 16 + (j & 15)];
    const int q = j < 16 ? (byte & 0x0f) : (byte >> 4);
    return (float)(q - 8) * dfit_cu_fp16_to_f32(d[r * (n_in / DFIT_CU_QK) + blk]);
}

/* ---- RoPE ----------------------------------------------------------------- */

/* cos and sin of the angle of pair i (elements 2i, 2i+1) at position pos:
 * pos * freq_base^(-2i/head_dim), in double as dfit_ref_rope does. */
DFIT_HD void dfit_cu_rope_cs(int32_t pos, int i, int head_dim, float freq_base, float *c,
                             float *s)
{
    const double theta = (double)pos * pow((double)freq_base, -2.0 * i / head_dim);
    *c = (float)cos(theta);
    *s = (float)sin(theta);
}

/* ---- online softmax ------------------------------------------------------- */

/* Running state of softmax(s_j) . v_j over a stream of scores: the largest
 * score seen and the sum of exp(s_j - m). The output accumulator is kept
 * beside it, scaled by the same exp(-m). */
struct dfit_cu_softmax {
    float m;  /* -INFINITY before the first score */
    float l;
};

/* Adds score s: returns the factor by which the caller multiplies its
 * accumulator before adding exp(s - m_new) * v (written to *p). */
DFIT_HD float dfit_cu_softmax_add(struct dfit_cu_softmax *st, float s, float *p)
{
    const float m_new = s > st->m ? s : st->m;
    const float alpha = expf(st->m - m_new); /* 0 when st->m is -inf */
    *p = expf(s - m_new);
    st->l = st->l * alpha + *p;
    st->m = m_new;
    return alpha;
}

/* Merges state b into a: returns the factors for a's and b's accumulators
 * (acc = acc_a * *fa + acc_b * *fb). Either state may be empty (m = -inf,
 * l = 0). */
DFIT_HD void dfit_cu_softmax_merge(struct dfit_cu_softmax *a, struct dfit_cu_softmax b, float *fa,
                                   float *fb)
{
    const float m = a->m > b.m ? a->m : b.m;
    if (m == -INFINITY) {
        *fa = 0.0f;
        *fb = 0.0f;
        return;
    }
    *fa = expf(a->m - m);
    *fb = expf(b.m - m);
    a->l = a->l * *fa + b.l * *fb;
    a->m = m;
}

#endif
