/* kern_scalar.c — the portable kernel set (kernels.h): plain C with no
 * intrinsics, blocked so that a 4-row x 4-token tile of dot products shares
 * every weight and activation load, with 8 float partial sums per dot
 * product that a compiler can keep in vector registers. Runs anywhere and
 * is the base every SIMD set overrides.
 * Quantized products follow the reference's order exactly (integer block
 * sums, then one float multiply-add per block), so on Q8_0/Q4_0 weights
 * they equal dfit_vec_dot_ref bit for bit.
 * Non-goals: a packed gemm shape (the tile is the blocking), SIMD.
 */
#include "cpu/kernels.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

/* Block products round as written, as in types.c: no fused multiply-add. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define SR 4    /* rows per tile */
#define ST 4    /* tokens per tile */
#define LANES 8 /* partial sums per dot product */

/* ---- element loaders ------------------------------------------------------ */

static float f16_table[1 << 16];
static pthread_once_t f16_once = PTHREAD_ONCE_INIT;

static void f16_table_init(void)
{
    for (uint32_t i = 0; i < (1u << 16); i++)
        f16_table[i] = dfit_fp16_to_f32((dfit_fp16)i);
}

static inline float load_f32(const void *row, int64_t k)
{
    return ((const float *)row)[k];
}

static inline float load_f16(const void *row, int64_t k)
{
    return f16_table[((const dfit_fp16 *)row)[k]];
}

static inline float load_bf16(const void *row, int64_t k)
{
    uint32_t u = (uint32_t)((const dfit_bf16 *)row)[k] << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- float formats: 4 x 4 tiles of dot products ---------------------------- */

static inline int tile_len(int64_t left, int max)
{
    return (int)(left < max ? left : max);
}

/* One tile: rows wr[SR], activation rows xr[ST] (tails repeat the last
 * pointer, their sums are dropped). */
#define DEFINE_ROWS_FLOAT(NAME, LOAD)                                                              \
    static void NAME(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0, int64_t r1, \
                     const struct dfit_act *a, int64_t t0, int64_t t1)                             \
    {                                                                                              \
        const int64_t n = w->n_in;                                                                 \
        for (int64_t r = r0; r < r1; r += SR) {                                                    \
            const int nr = tile_len(r1 - r, SR);                                                   \
            const void *wr[SR];                                                                    \
            for (int i = 0; i < SR; i++)                                                           \
                wr[i] =                                                                            \
                    (const uint8_t *)w->data + (size_t)(r + (i < nr ? i : nr - 1)) * w->row_bytes; \
            for (int64_t t = t0; t < t1; t += ST) {                                                \
                const int nt = tile_len(t1 - t, ST);                                               \
                const float *xr[ST];                                                               \
                for (int j = 0; j < ST; j++)                                                       \
                    xr[j] = dfit_act_row(a, t + (j < nt ? j : nt - 1));                            \
                float acc[SR][ST][LANES] = {{{0}}};                                                \
                int64_t k = 0;                                                                     \
                for (; k + LANES <= n; k += LANES)                                                 \
                    for (int i = 0; i < SR; i++) {                                                 \
                        float wv[LANES];                                                           \
                        for (int l = 0; l < LANES; l++)                                            \
                            wv[l] = LOAD(wr[i], k + l);                                            \
                        for (int j = 0; j < ST; j++)                                               \
                            for (int l = 0; l < LANES; l++)                                        \
                                acc[i][j][l] += wv[l] * xr[j][k + l];                              \
                    }                                                                              \
                for (; k < n; k++)                                                                 \
                    for (int i = 0; i < SR; i++)                                                   \
                        for (int j = 0; j < ST; j++)                                               \
                            acc[i][j][k % LANES] += LOAD(wr[i], k) * xr[j][k];                     \
                for (int i = 0; i < nr; i++)                                                       \
                    for (int j = 0; j < nt; j++) {                                                 \
                        const float *s = acc[i][j];                                                \
                        out[(t + j) * ldo + r + i] =                                               \
                            ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));     \
                    }                                                                              \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_ROWS_FLOAT(rows_f32, load_f32)
DEFINE_ROWS_FLOAT(rows_f16, load_f16)
DEFINE_ROWS_FLOAT(rows_bf16, load_bf16)

/* ---- quantized formats ---------------------------------------------------- */

/* Q8_0 / Q4_0 rows against DFIT_ACT_Q8 activations, the reference's
 * arithmetic: per block an exact integer sum, then
 *   Q8_0: sumf += (float)sumi * (d_w * d_x)
 *   Q4_0: sumf += (float)sumi * d_w * d_x */
static void rows_q8_0(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0, int64_t r1,
                      const struct dfit_act *a, int64_t t0, int64_t t1)
{
    const int64_t nb = w->n_in / DFIT_QK;
    for (int64_t r = r0; r < r1; r += SR) {
        const int nr = tile_len(r1 - r, SR);
        for (int64_t t = t0; t < t1; t += ST) {
            const int nt = tile_len(t1 - t, ST);
            float acc[SR][ST] = {{0}};
            for (int64_t b = 0; b < nb; b++)
                for (int i = 0; i < nr; i++) {
                    const struct dfit_block_q8_0 *wb =
                        (const struct dfit_block_q8_0 *)((const uint8_t *)w->data +
                                                         (size_t)(r + i) * w->row_bytes) +
                        b;
                    const float dw = f16_table[wb->d];
                    for (int j = 0; j < nt; j++) {
                        const int8_t *xq = dfit_act_q8_qs(a, t + j) + b * DFIT_QK;
                        int32_t sumi = 0;
                        for (int l = 0; l < DFIT_QK; l++)
                            sumi += wb->qs[l] * xq[l];
                        acc[i][j] += (float)sumi * (dw * dfit_act_q8_d(a, t + j)[b]);
                    }
                }
            for (int i = 0; i < nr; i++)
                for (int j = 0; j < nt; j++)
                    out[(t + j) * ldo + r + i] = acc[i][j];
        }
    }
}

static void rows_q4_0(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0, int64_t r1,
                      const struct dfit_act *a, int64_t t0, int64_t t1)
{
    const int64_t nb = w->n_in / DFIT_QK;
    for (int64_t r = r0; r < r1; r += SR) {
        const int nr = tile_len(r1 - r, SR);
        for (int64_t t = t0; t < t1; t += ST) {
            const int nt = tile_len(t1 - t, ST);
            float acc[SR][ST] = {{0}};
            for (int64_t b = 0; b < nb; b++)
                for (int i = 0; i < nr; i++) {
                    const struct dfit_block_q4_0 *wb =
                        (const struct dfit_block_q4_0 *)((const uint8_t *)w->data +
                                                         (size_t)(r + i) * w->row_bytes) +
                        b;
                    const float dw = f16_table[wb->d];
                    int8_t wq[DFIT_QK];
                    for (int l = 0; l < DFIT_QK / 2; l++) {
                        wq[l] = (int8_t)((wb->qs[l] & 0x0f) - 8);
                        wq[l + DFIT_QK / 2] = (int8_t)((wb->qs[l] >> 4) - 8);
                    }
                    for (int j = 0; j < nt; j++) {
                        const int8_t *xq = dfit_act_q8_qs(a, t + j) + b * DFIT_QK;
                        int32_t sumi = 0;
                        for (int l = 0; l < DFIT_QK; l++)
                            sumi += wq[l] * xq[l];
                        acc[i][j] += (float)sumi * dw * dfit_act_q8_d(a, t + j)[b];
                    }
                }
            for (int i = 0; i < nr; i++)
                for (int j = 0; j < nt; j++)
                    out[(t + j) * ldo + r + i] = acc[i][j];
        }
    }
}

/* ---- activation converters -------------------------------------------------- */

/* As types.c's q8_round: roundf, saturated, NaN to 0. */
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

static void quantize_q8(void *row, const float *x, int64_t n, int32_t q_off)
{
    const int64_t nb = n / DFIT_QK;
    int8_t *qs = row;
    float *d = (float *)(qs + n);
    int32_t *corr = (int32_t *)(d + nb);
    for (int64_t b = 0; b < nb; b++) {
        const float *xb = x + b * DFIT_QK;
        float amax = 0.0f;
        for (int l = 0; l < DFIT_QK; l++) {
            float v = fabsf(xb[l]);
            amax = amax > v ? amax : v;
        }
        const float db = amax / 127.0f;
        const float id = db != 0.0f ? 1.0f / db : 0.0f;
        d[b] = dfit_fp16_to_f32(dfit_f32_to_fp16(db));
        int32_t sum = 0;
        for (int l = 0; l < DFIT_QK; l++) {
            qs[b * DFIT_QK + l] = q8_round(xb[l] * id);
            sum += qs[b * DFIT_QK + l];
        }
        corr[b] = -q_off * sum;
    }
}

static void to_bf16(dfit_bf16 *y, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i < n; i++)
        y[i] = dfit_f32_to_bf16(x[i]);
    for (; i % 32; i++)
        y[i] = 0;
}

/* ---- non-matmul operators ------------------------------------------------------ */

static void rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
    float ss[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++)
            ss[l] += x[i + l] * x[i + l];
    for (; i < n; i++)
        ss[i % LANES] += x[i] * x[i];
    float s = ((ss[0] + ss[4]) + (ss[2] + ss[6])) + ((ss[1] + ss[5]) + (ss[3] + ss[7]));
    const float scale = 1.0f / sqrtf(s / (float)n + eps);
    for (i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

static void swiglu(float *out, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

static void add(float *out, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] += x[i];
}

/* Attention of nq queries from K stored transposed: each query's scores
 * are rows of K^T scaled and summed (contiguous over keys), then the
 * softmax, then V rows scaled and summed (contiguous over dimensions). */
static void attn(float *out, int64_t os, const float *q, int64_t qs, int nq, const int64_t *n_kv,
                 const float *kt, int64_t kts, const float *v, int64_t vs, int hd, float scale,
                 float *att, int64_t as)
{
    for (int i = 0; i < nq; i++) {
        float *a = att + i * as;
        const int64_t n = n_kv[i];
        for (int64_t j = 0; j < n; j++)
            a[j] = 0.0f;
        for (int d = 0; d < hd; d++) {
            const float qd = q[i * qs + d];
            const float *kr = kt + d * kts;
            for (int64_t j = 0; j < n; j++)
                a[j] += qd * kr[j];
        }
        float max = -INFINITY;
        for (int64_t j = 0; j < n; j++) {
            a[j] *= scale;
            max = a[j] > max ? a[j] : max;
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < n; j++) {
            a[j] = expf(a[j] - max);
            sum += a[j];
        }
        const float inv = 1.0f / sum;
        float *o = out + i * os;
        for (int d = 0; d < hd; d++)
            o[d] = 0.0f;
        for (int64_t j = 0; j < n; j++) {
            const float *vj = v + j * vs;
            for (int d = 0; d < hd; d++)
                o[d] += a[j] * vj[d];
        }
        for (int d = 0; d < hd; d++)
            o[d] *= inv;
    }
}

/* ---- the set ----------------------------------------------------------------------- */

void dfit_kern_init_scalar(struct dfit_kern *k)
{
    pthread_once(&f16_once, f16_table_init);
    memset(k, 0, sizeof *k);
    strcpy(k->name, "scalar");
    const dfit_kern_rows_fn rows[DFIT_KFMT_COUNT] = {rows_f32, rows_f16, rows_bf16, rows_q8_0,
                                                     rows_q4_0};
    for (int f = 0; f < DFIT_KFMT_COUNT; f++) {
        k->fmt[f].act = f >= DFIT_KFMT_Q8_0 ? DFIT_ACT_Q8 : DFIT_ACT_F32;
        k->fmt[f].rows = rows[f];
    }
    /* The scalar Q8_0 kernel reads the weights' own signed quants. */
    k->fmt[DFIT_KFMT_Q8_0].q_off = 0;
    k->fmt[DFIT_KFMT_Q4_0].q_off = 0;
    k->quantize_q8 = quantize_q8;
    k->to_bf16 = to_bf16;
    k->rmsnorm = rmsnorm;
    k->swiglu = swiglu;
    k->add = add;
    k->attn = attn;
}
