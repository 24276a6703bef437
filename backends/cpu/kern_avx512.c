/* kern_avx512.c — AVX-512 kernels for the float weight formats (F32, F16,
 * BF16), the activation converters and the non-matmul operators
 * (kernels.h). Every function carries its own target attribute, so this
 * file compiles with the project's portable flags and its code runs only
 * after dfit_kern_select has seen the features.
 *   rows: 4 rows x up to 4 tokens of 16-lane FMA dot products, weights
 *         converted in registers (F16 by vcvtph2ps, BF16 by a shift), or
 *         vdpbf16ps on BF16 activations where AVX512_BF16 exists;
 *   gemm: 32-row panels, rows in lanes (transposed 16x16 at a time),
 *         times 12 broadcast activations: 24 accumulators per tile.
 * Non-goals: quantized formats (kern_avx512_quant.c), non-x86 builds (the
 * file is empty there).
 */
#include "cpu/kernels.h"

#if defined(__x86_64__) || defined(__i386__)

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cpu/kern_x86.h"

enum { WF_F32, WF_F16, WF_BF16 }; /* weight element formats read as floats */

#define PANEL 32 /* gemm panel rows */
#define GT 12    /* gemm tokens per tile */

/* ---- weight loads --------------------------------------------------------- */

T_512 INLINE __m512 bf16_to_ps(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* 16 weights from element k of a row, as floats; masked lanes read 0. */
T_512 INLINE __m512 wload(const uint8_t *row, int64_t k, __mmask16 m, const int masked,
                          const int wf)
{
    if (wf == WF_F32)
        return masked ? _mm512_maskz_loadu_ps(m, (const float *)row + k)
                      : _mm512_loadu_ps((const float *)row + k);
    const uint16_t *p = (const uint16_t *)row + k;
    __m256i h = masked ? _mm256_maskz_loadu_epi16(m, p) : _mm256_loadu_si256((const __m256i *)p);
    return wf == WF_F16 ? _mm512_cvtph_ps(h) : bf16_to_ps(h);
}

/* ---- rows: F32 activations ------------------------------------------------- */

/* NR rows (w0, w0 + ws, ...) x NC tokens (x0, x0 + xs, ...) over n. */
T_512 INLINE void rows_tile(float *out, int64_t ldo, const uint8_t *w0, size_t ws,
                            const float *x0, size_t xs, int64_t n, const int NR, const int NC,
                            const int wf)
{
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NC; j++)
            acc[i][j] = _mm512_setzero_ps();
    struct prefetcher pf = prefetch_start(w0, NR * ws, (n + 15) / 16);
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 xv[4];
        prefetch_step(&pf, k / 16);
#pragma GCC unroll 4
        for (int j = 0; j < NC; j++)
            xv[j] = _mm512_loadu_ps(x0 + j * xs + k);
#pragma GCC unroll 4
        for (int i = 0; i < NR; i++) {
            __m512 wv = wload(w0 + i * ws, k, 0, 0, wf);
#pragma GCC unroll 4
            for (int j = 0; j < NC; j++)
                acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
    if (k < n) {
        const __mmask16 m = lanes16(n - k);
        __m512 xv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NC; j++)
            xv[j] = _mm512_maskz_loadu_ps(m, x0 + j * xs + k);
#pragma GCC unroll 4
        for (int i = 0; i < NR; i++) {
            __m512 wv = wload(w0 + i * ws, k, m, 1, wf);
#pragma GCC unroll 4
            for (int j = 0; j < NC; j++)
                acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NC; j++)
            out[j * ldo + i] = _mm512_reduce_add_ps(acc[i][j]);
}

#define ROWS_SWITCH(TILE, NR, ...)                                                                \
    switch (nt) {                                                                                 \
    case 1: TILE(__VA_ARGS__, NR, 1); break;                                                      \
    case 2: TILE(__VA_ARGS__, NR, 2); break;                                                      \
    case 3: TILE(__VA_ARGS__, NR, 3); break;                                                      \
    default: TILE(__VA_ARGS__, NR, 4); break;                                                     \
    }

#define ROWS_F32_TILE(o, wr, NR, NC) rows_tile(o, ldo, wr, w->row_bytes, xt, xs, n, NR, NC, wf)

T_512 INLINE void rows_float(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                             int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1,
                             const int wf)
{
    const int64_t n = w->n_in;
    const size_t xs = a->row_bytes / sizeof(float);
    const uint8_t *wd = w->data;
    for (int64_t t = t0; t < t1; t += 4) {
        const int nt = (int)(t1 - t < 4 ? t1 - t : 4);
        const float *xt = (const float *)a->data + t * xs;
        float *ot = out + t * ldo;
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4)
            ROWS_SWITCH(ROWS_F32_TILE, 4, ot + r, wd + (size_t)r * w->row_bytes)
        for (; r < r1; r++)
            ROWS_SWITCH(ROWS_F32_TILE, 1, ot + r, wd + (size_t)r * w->row_bytes)
    }
}

T_512 static void rows_f32(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                           int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1)
{
    rows_float(out, ldo, w, r0, r1, a, t0, t1, WF_F32);
}

T_512 static void rows_f16(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                           int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1)
{
    rows_float(out, ldo, w, r0, r1, a, t0, t1, WF_F16);
}

T_512 static void rows_bf16(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                            int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1)
{
    rows_float(out, ldo, w, r0, r1, a, t0, t1, WF_BF16);
}

/* ---- rows: BF16 weights x BF16 activations (vdpbf16ps) ---------------------- */

T_512BF16 INLINE void rows_dp_tile(float *out, int64_t ldo, const uint8_t *w0, size_t ws,
                                   const uint16_t *x0, size_t xs, int64_t n, const int NR,
                                   const int NC)
{
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NC; j++)
            acc[i][j] = _mm512_setzero_ps();
    /* activations are zero-padded to 32: only the weights need a mask */
    struct prefetcher pf = prefetch_start(w0, NR * ws, (n + 31) / 32);
    for (int64_t k = 0; k < n; k += 32) {
        prefetch_step(&pf, k / 32);
        const __mmask32 m = n - k >= 32 ? (__mmask32)0xffffffffu
                                        : (__mmask32)((1u << (n - k)) - 1);
        __m512i xv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NC; j++)
            xv[j] = _mm512_load_si512((const void *)(x0 + j * xs + k));
#pragma GCC unroll 4
        for (int i = 0; i < NR; i++) {
            __m512i wv = _mm512_maskz_loadu_epi16(m, (const uint16_t *)(w0 + i * ws) + k);
#pragma GCC unroll 4
            for (int j = 0; j < NC; j++)
                acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)wv, (__m512bh)xv[j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NC; j++)
            out[j * ldo + i] = _mm512_reduce_add_ps(acc[i][j]);
}

#define ROWS_DP_TILE(o, wr, NR, NC) rows_dp_tile(o, ldo, wr, w->row_bytes, xt, xs, n, NR, NC)

T_512BF16 static void rows_bf16_dp(float *out, int64_t ldo, const struct dfit_weight *w,
                                   int64_t r0, int64_t r1, const struct dfit_act *a, int64_t t0,
                                   int64_t t1)
{
    const int64_t n = w->n_in;
    const size_t xs = a->row_bytes / sizeof(uint16_t);
    const uint8_t *wd = w->data;
    for (int64_t t = t0; t < t1; t += 4) {
        const int nt = (int)(t1 - t < 4 ? t1 - t : 4);
        const uint16_t *xt = (const uint16_t *)a->data + t * xs;
        float *ot = out + t * ldo;
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4)
            ROWS_SWITCH(ROWS_DP_TILE, 4, ot + r, wd + (size_t)r * w->row_bytes)
        for (; r < r1; r++)
            ROWS_SWITCH(ROWS_DP_TILE, 1, ot + r, wd + (size_t)r * w->row_bytes)
    }
}

/* ---- gemm: packing ------------------------------------------------------------- */

static size_t panel_bytes_f32(int64_t n_in)
{
    return (size_t)n_in * PANEL * sizeof(float);
}

static size_t panel_bytes_pairs(int64_t n_in)
{
    return (size_t)((n_in + 1) / 2) * PANEL * sizeof(uint32_t);
}

/* Rows [r0, r0 + nr) as floats into panel[k][PANEL]; rows past nr are 0. */
T_512 INLINE void pack_float(void *panel, const struct dfit_weight *w, int64_t r0, int nr,
                             const int wf)
{
    float *p = panel;
    const int64_t n = w->n_in;
    for (int h = 0; h < PANEL / 16; h++) {
        const uint8_t *rows[16];
        for (int i = 0; i < 16; i++) {
            int ri = 16 * h + i;
            rows[i] = ri < nr ? (const uint8_t *)w->data + (size_t)(r0 + ri) * w->row_bytes
                              : NULL;
        }
        for (int64_t k = 0; k < n; k += 16) {
            const int kn = (int)(n - k < 16 ? n - k : 16);
            const __mmask16 m = lanes16(kn);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = rows[i] ? wload(rows[i], k, m, kn < 16, wf) : _mm512_setzero_ps();
            transpose16_ps(r);
            for (int i = 0; i < kn; i++)
                _mm512_store_ps(p + (k + i) * PANEL + 16 * h, r[i]);
        }
    }
}

T_512 static void pack_f32(void *panel, const struct dfit_weight *w, int64_t r0, int nr)
{
    pack_float(panel, w, r0, nr, WF_F32);
}

T_512 static void pack_f16(void *panel, const struct dfit_weight *w, int64_t r0, int nr)
{
    pack_float(panel, w, r0, nr, WF_F16);
}

T_512 static void pack_bf16(void *panel, const struct dfit_weight *w, int64_t r0, int nr)
{
    pack_float(panel, w, r0, nr, WF_BF16);
}

/* BF16 rows as element pairs (one dword each) into panel[k/2][PANEL]; an
 * odd row length gets a zero partner. */
T_512 static void pack_bf16_pairs(void *panel, const struct dfit_weight *w, int64_t r0, int nr)
{
    uint32_t *p = panel;
    const int64_t n = w->n_in, n_pairs = (n + 1) / 2;
    for (int h = 0; h < PANEL / 16; h++)
        for (int64_t k = 0; k < n_pairs; k += 16) {
            const int64_t left = n - 2 * k; /* elements from pair k on */
            const __mmask32 m = left >= 32 ? (__mmask32)0xffffffffu
                                           : (__mmask32)((1u << left) - 1);
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                int ri = 16 * h + i;
                r[i] = ri < nr ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(
                                     m, (const uint16_t *)((const uint8_t *)w->data +
                                                           (size_t)(r0 + ri) * w->row_bytes) +
                                            2 * k))
                               : _mm512_setzero_ps();
            }
            transpose16_ps(r);
            const int kn = (int)(n_pairs - k < 16 ? n_pairs - k : 16);
            for (int i = 0; i < kn; i++)
                _mm512_store_ps((float *)(p + (k + i) * PANEL + 16 * h), r[i]);
        }
}

/* ---- gemm: micro-kernels ------------------------------------------------------ */

static inline __mmask16 panel_mask(int nr, int h)
{
    return lanes16(nr - 16 * h > 0 ? nr - 16 * h : 0);
}

/* PANEL rows x NC tokens over n: x0 + j*xs is token j's row. */
T_512 INLINE void gemm_f32_tile(float *out, int64_t ldo, const float *panel, int nr,
                                const float *x0, size_t xs, int64_t n, const int NC)
{
    __m512 a0[GT], a1[GT];
#pragma GCC unroll 12
    for (int j = 0; j < NC; j++)
        a0[j] = a1[j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < n; k++) {
        const __m512 w0 = _mm512_load_ps(panel + k * PANEL);
        const __m512 w1 = _mm512_load_ps(panel + k * PANEL + 16);
#pragma GCC unroll 12
        for (int j = 0; j < NC; j++) {
            const __m512 xb = _mm512_set1_ps(x0[j * xs + k]);
            a0[j] = _mm512_fmadd_ps(w0, xb, a0[j]);
            a1[j] = _mm512_fmadd_ps(w1, xb, a1[j]);
        }
    }
    const __mmask16 m0 = panel_mask(nr, 0), m1 = panel_mask(nr, 1);
#pragma GCC unroll 12
    for (int j = 0; j < NC; j++) {
        _mm512_mask_storeu_ps(out + j * ldo, m0, a0[j]);
        _mm512_mask_storeu_ps(out + j * ldo + 16, m1, a1[j]);
    }
}

#define GEMM_SWITCH(TILE, ...)                                                                    \
    switch (nt) {                                                                                 \
    case 1: TILE(__VA_ARGS__, 1); break;                                                          \
    case 2: TILE(__VA_ARGS__, 2); break;                                                          \
    case 3: TILE(__VA_ARGS__, 3); break;                                                          \
    case 4: TILE(__VA_ARGS__, 4); break;                                                          \
    case 5: TILE(__VA_ARGS__, 5); break;                                                          \
    case 6: TILE(__VA_ARGS__, 6); break;                                                          \
    case 7: TILE(__VA_ARGS__, 7); break;                                                          \
    case 8: TILE(__VA_ARGS__, 8); break;                                                          \
    case 9: TILE(__VA_ARGS__, 9); break;                                                          \
    case 10: TILE(__VA_ARGS__, 10); break;                                                        \
    case 11: TILE(__VA_ARGS__, 11); break;                                                        \
    default: TILE(__VA_ARGS__, 12); break;                                                        \
    }

T_512 static void gemm_f32(float *out, int64_t ldo, const void *panel, int nr,
                           const struct dfit_act *a, int64_t t0, int64_t t1)
{
    const size_t xs = a->row_bytes / sizeof(float);
    for (int64_t t = t0; t < t1; t += GT) {
        const int nt = (int)(t1 - t < GT ? t1 - t : GT);
        GEMM_SWITCH(gemm_f32_tile, out + t * ldo, ldo, panel, nr,
                    (const float *)a->data + t * xs, xs, a->n_in)
    }
}

T_512BF16 INLINE void gemm_bf16_tile(float *out, int64_t ldo, const uint32_t *panel, int nr,
                                     const uint32_t *x0, size_t xs, int64_t n_pairs,
                                     const int NC)
{
    __m512 a0[GT], a1[GT];
#pragma GCC unroll 12
    for (int j = 0; j < NC; j++)
        a0[j] = a1[j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < n_pairs; k++) {
        const __m512i w0 = _mm512_load_si512((const void *)(panel + k * PANEL));
        const __m512i w1 = _mm512_load_si512((const void *)(panel + k * PANEL + 16));
#pragma GCC unroll 12
        for (int j = 0; j < NC; j++) {
            const __m512i xb = _mm512_set1_epi32((int)x0[j * xs + k]);
            a0[j] = _mm512_dpbf16_ps(a0[j], (__m512bh)w0, (__m512bh)xb);
            a1[j] = _mm512_dpbf16_ps(a1[j], (__m512bh)w1, (__m512bh)xb);
        }
    }
    const __mmask16 m0 = panel_mask(nr, 0), m1 = panel_mask(nr, 1);
#pragma GCC unroll 12
    for (int j = 0; j < NC; j++) {
        _mm512_mask_storeu_ps(out + j * ldo, m0, a0[j]);
        _mm512_mask_storeu_ps(out + j * ldo + 16, m1, a1[j]);
    }
}

T_512BF16 static void gemm_bf16_dp(float *out, int64_t ldo, const void *panel, int nr,
                                   const struct dfit_act *a, int64_t t0, int64_t t1)
{
    const size_t xs = a->row_bytes / sizeof(uint32_t);
    for (int64_t t = t0; t < t1; t += GT) {
        const int nt = (int)(t1 - t < GT ? t1 - t : GT);
        GEMM_SWITCH(gemm_bf16_tile, out + t * ldo, ldo, panel, nr,
                    (const uint32_t *)a->data + t * xs, xs, (a->n_in + 1) / 2)
    }
}

/* ---- activation converters ------------------------------------------------------- */

/* roundf (half away from zero) of each lane, exactly. */
T_512 INLINE __m512 round_away(__m512 v)
{
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t)); /* exact */
    const __m512 one = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u)),
        _mm512_castps_si512(_mm512_set1_ps(1.0f))));
    const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    return _mm512_mask_add_ps(t, up, t, one);
}

/* As the reference's q8_round: NaN to 0, then saturated to [-128, 127]. */
T_512 INLINE __m512i q8_lanes(__m512 v)
{
    __m512 r = round_away(v);
    r = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), r);
    r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f));
    return _mm512_cvtps_epi32(r);
}

T_512 static void quantize_q8(void *row, const float *x, int64_t n, int32_t q_off)
{
    const int64_t nb = n / DFIT_QK;
    int8_t *qs = row;
    float *d = (float *)(qs + n);
    int32_t *corr = (int32_t *)(d + nb);
    for (int64_t b = 0; b < nb; b++) {
        const __m512 v0 = _mm512_loadu_ps(x + b * DFIT_QK);
        const __m512 v1 = _mm512_loadu_ps(x + b * DFIT_QK + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float db = amax / 127.0f;
        const float id = db != 0.0f ? 1.0f / db : 0.0f;
        d[b] = _cvtsh_ss(_cvtss_sh(db, _MM_FROUND_TO_NEAREST_INT));
        const __m512 vid = _mm512_set1_ps(id);
        const __m512i q0 = q8_lanes(_mm512_mul_ps(v0, vid));
        const __m512i q1 = q8_lanes(_mm512_mul_ps(v1, vid));
        _mm_storeu_si128((__m128i *)(qs + b * DFIT_QK), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(qs + b * DFIT_QK + 16), _mm512_cvtepi32_epi8(q1));
        corr[b] = -q_off * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
}

/* dfit_f32_to_bf16 on 16 lanes: round to nearest even, NaN kept quiet. */
T_512 INLINE __m256i bf16_lanes(__m512 v)
{
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(
        _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmp_epu32_mask(
        _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000),
        _MM_CMPINT_NLE);
    r = _mm512_mask_mov_epi32(
        r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(64)));
    return _mm512_cvtepi32_epi16(r);
}

T_512 static void to_bf16(dfit_bf16 *y, const float *x, int64_t n)
{
    const int64_t n_pad = (n + 31) / 32 * 32;
    for (int64_t i = 0; i < n_pad; i += 16) {
        const __mmask16 m = lanes16(n - i > 0 ? n - i : 0);
        _mm256_storeu_si256((__m256i *)(y + i), bf16_lanes(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* ---- non-matmul operators ----------------------------------------------------------- */

T_512 static void rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        s0 = _mm512_fmadd_ps(a, a, s0);
        s1 = _mm512_fmadd_ps(b, b, s1);
    }
    for (; i < n; i += 16) {
        const __m512 a = _mm512_maskz_loadu_ps(lanes16(n - i), x + i);
        s0 = _mm512_fmadd_ps(a, a, s0);
    }
    const float ss = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    const __m512 scale = _mm512_set1_ps(1.0f / sqrtf(ss / (float)n + eps));
    for (i = 0; i < n; i += 16) {
        const __mmask16 m = lanes16(n - i);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), scale);
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i)));
    }
}

T_512 static void swiglu(float *out, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = lanes16(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        const __m512 e = exp512_ps(_mm512_sub_ps(_mm512_setzero_ps(), g));
        const __m512 s = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, up + i)));
    }
}

T_512 static void add(float *out, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = lanes16(n - i);
        _mm512_mask_storeu_ps(
            out + i, m,
            _mm512_add_ps(_mm512_maskz_loadu_ps(m, out + i), _mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* Sums of four vectors, in the four low lanes of the result. */
T_512 INLINE __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    /* 512 -> 256: add halves, interleaving a|b and c|d */
    const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44),
                                    _mm512_shuffle_f32x4(a, b, 0xee)); /* a.lo+a.hi | b.lo+b.hi */
    const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44),
                                    _mm512_shuffle_f32x4(c, d, 0xee));
    const __m512 abcd = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88),
                                      _mm512_shuffle_f32x4(ab, cd, 0xdd)); /* 4 x 128-bit sums */
    /* now lanes [4q .. 4q+3] of 128-bit part q hold partial sums of a, b, c, d */
    const __m512 t = _mm512_add_ps(_mm512_unpacklo_ps(abcd, abcd), _mm512_unpackhi_ps(abcd, abcd));
    const __m512 u = _mm512_add_ps(t, _mm512_permute_ps(t, 0x4e));
    /* each 128-bit part q holds its vector's sum in every lane */
    const __m512i idx = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(idx, u));
}

T_512 static void attn_head(float *out, const float *q, const float *k, const float *v,
                            int64_t n_kv, int64_t kv_stride, int head_dim, float scale,
                            float *att)
{
    /* scores, four keys at a time */
    __m512 qv[16];
    const int nq = (head_dim + 15) / 16;
    if (nq > 16) { /* head_dim > 256: not a llama shape; plain loops */
        float max = -INFINITY;
        for (int64_t j = 0; j < n_kv; j++) {
            float s = 0.0f;
            for (int d = 0; d < head_dim; d++)
                s += q[d] * k[j * kv_stride + d];
            att[j] = s * scale;
            max = att[j] > max ? att[j] : max;
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < n_kv; j++)
            sum += att[j] = expf(att[j] - max);
        for (int d = 0; d < head_dim; d++) {
            float o = 0.0f;
            for (int64_t j = 0; j < n_kv; j++)
                o += att[j] * v[j * kv_stride + d];
            out[d] = o / sum;
        }
        return;
    }
    for (int c = 0; c < nq; c++)
        qv[c] = _mm512_maskz_loadu_ps(lanes16(head_dim - 16 * c), q + 16 * c);
    const __m128 vscale = _mm_set1_ps(scale);
    int64_t j = 0;
    for (; j + 4 <= n_kv; j += 4) {
        __m512 s[4];
        for (int i = 0; i < 4; i++) {
            const float *kj = k + (j + i) * kv_stride;
            s[i] = _mm512_mul_ps(qv[0], _mm512_maskz_loadu_ps(lanes16(head_dim), kj));
            for (int c = 1; c < nq; c++)
                s[i] = _mm512_fmadd_ps(
                    qv[c], _mm512_maskz_loadu_ps(lanes16(head_dim - 16 * c), kj + 16 * c), s[i]);
        }
        _mm_storeu_ps(att + j, _mm_mul_ps(hsum4(s[0], s[1], s[2], s[3]), vscale));
    }
    for (; j < n_kv; j++) {
        const float *kj = k + j * kv_stride;
        __m512 s = _mm512_setzero_ps();
        for (int c = 0; c < nq; c++)
            s = _mm512_fmadd_ps(qv[c],
                                _mm512_maskz_loadu_ps(lanes16(head_dim - 16 * c), kj + 16 * c), s);
        att[j] = _mm512_reduce_add_ps(s) * scale;
    }
    /* softmax */
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (j = 0; j < n_kv; j += 16)
        mx = _mm512_mask_max_ps(mx, lanes16(n_kv - j), mx, _mm512_maskz_loadu_ps(lanes16(n_kv - j), att + j));
    const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (j = 0; j < n_kv; j += 16) {
        const __mmask16 m = lanes16(n_kv - j);
        const __m512 e = exp512_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, att + j), vmax));
        sum = _mm512_mask_add_ps(sum, m, sum, e);
        _mm512_mask_storeu_ps(att + j, m, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    /* weighted sum of V, 4 vectors of the head at a time */
    for (int c0 = 0; c0 < nq; c0 += 4) {
        const int nc = nq - c0 < 4 ? nq - c0 : 4;
        __m512 o[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                       _mm512_setzero_ps()};
        for (j = 0; j < n_kv; j++) {
            const __m512 p = _mm512_set1_ps(att[j]);
            const float *vj = v + j * kv_stride + 16 * c0;
            for (int c = 0; c < nc; c++)
                o[c] = _mm512_fmadd_ps(
                    p, _mm512_maskz_loadu_ps(lanes16(head_dim - 16 * (c0 + c)), vj + 16 * c), o[c]);
        }
        for (int c = 0; c < nc; c++)
            _mm512_mask_storeu_ps(out + 16 * (c0 + c), lanes16(head_dim - 16 * (c0 + c)),
                                  _mm512_mul_ps(o[c], inv));
    }
}

/* ---- the set ---------------------------------------------------------------------- */

void dfit_kern_init_avx512(struct dfit_kern *k, const struct dfit_cpu_features *f)
{
    snprintf(k->name, sizeof k->name, "avx512%s%s", f->avx512_vnni ? "-vnni" : "",
             f->avx512_bf16 ? "-bf16" : "");
    const dfit_kern_rows_fn rows[3] = {rows_f32, rows_f16, rows_bf16};
    const dfit_kern_pack_fn pack[3] = {pack_f32, pack_f16, pack_bf16};
    for (int i = 0; i < 3; i++) {
        struct dfit_kern_fmt *fm = &k->fmt[i];
        fm->act = DFIT_ACT_F32;
        fm->rows = rows[i];
        fm->panel_rows = PANEL;
        fm->gemm_min_tok = 8;
        fm->panel_bytes = panel_bytes_f32;
        fm->pack = pack[i];
        fm->gemm = gemm_f32;
    }
    if (f->avx512_bf16) {
        struct dfit_kern_fmt *fm = &k->fmt[DFIT_KFMT_BF16];
        fm->act = DFIT_ACT_BF16;
        fm->rows = rows_bf16_dp;
        fm->panel_bytes = panel_bytes_pairs;
        fm->pack = pack_bf16_pairs;
        fm->gemm = gemm_bf16_dp;
    }
    k->quantize_q8 = quantize_q8;
    k->to_bf16 = to_bf16;
    k->rmsnorm = rmsnorm;
    k->swiglu = swiglu;
    k->add = add;
    k->attn_head = attn_head;
}

#else /* not x86 */

void dfit_kern_init_avx512(struct dfit_kern *k, const struct dfit_cpu_features *f)
{
    (void)k;
    (void)f;
}

#endif
