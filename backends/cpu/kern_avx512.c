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
 * Non-goals: quantized formats (kern_avx512_quant.c), the converters and
 * non-matmul operators (kern_avx512_ops.c), non-x86 builds (the file is
 * empty there).
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
T_512 INLINE void rows_tile(float *out, int64_t ldo, const uint8_t *w0, size_t ws, const float *x0,
                            size_t xs, int64_t n, const int NR, const int NC, const int wf)
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

#define ROWS_SWITCH(TILE, NR, ...)                                                                 \
    switch (nt) {                                                                                  \
    case 1: TILE(__VA_ARGS__, NR, 1); break;                                                       \
    case 2: TILE(__VA_ARGS__, NR, 2); break;                                                       \
    case 3: TILE(__VA_ARGS__, NR, 3); break;                                                       \
    default: TILE(__VA_ARGS__, NR, 4); break;                                                      \
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
        const __mmask32 m = n - k >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << (n - k)) - 1);
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

T_512BF16 static void rows_bf16_dp(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                                   int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1)
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
            rows[i] = ri < nr ? (const uint8_t *)w->data + (size_t)(r0 + ri) * w->row_bytes : NULL;
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
            const __mmask32 m = left >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << left) - 1);
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

#define GEMM_SWITCH(TILE, ...)                                                                     \
    switch (nt) {                                                                                  \
    case 1: TILE(__VA_ARGS__, 1); break;                                                           \
    case 2: TILE(__VA_ARGS__, 2); break;                                                           \
    case 3: TILE(__VA_ARGS__, 3); break;                                                           \
    case 4: TILE(__VA_ARGS__, 4); break;                                                           \
    case 5: TILE(__VA_ARGS__, 5); break;                                                           \
    case 6: TILE(__VA_ARGS__, 6); break;                                                           \
    case 7: TILE(__VA_ARGS__, 7); break;                                                           \
    case 8: TILE(__VA_ARGS__, 8); break;                                                           \
    case 9: TILE(__VA_ARGS__, 9); break;                                                           \
    case 10: TILE(__VA_ARGS__, 10); break;                                                         \
    case 11: TILE(__VA_ARGS__, 11); break;                                                         \
    default: TILE(__VA_ARGS__, 12); break;                                                         \
    }

T_512 static void gemm_f32(float *out, int64_t ldo, const void *panel, int nr,
                           const struct dfit_act *a, int64_t t0, int64_t t1)
{
    const size_t xs = a->row_bytes / sizeof(float);
    for (int64_t t = t0; t < t1; t += GT) {
        const int nt = (int)(t1 - t < GT ? t1 - t : GT);
        GEMM_SWITCH(gemm_f32_tile, out + t * ldo, ldo, panel, nr, (const float *)a->data + t * xs,
                    xs, a->n_in)
    }
}

T_512BF16 INLINE void gemm_bf16_tile(float *out, int64_t ldo, const uint32_t *panel, int nr,
                                     const uint32_t *x0, size_t xs, int64_t n_pairs, const int NC)
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
    dfit_kern_init_avx512_ops(k);
}

#else /* not x86 */

void dfit_kern_init_avx512(struct dfit_kern *k, const struct dfit_cpu_features *f)
{
    (void)k;
    (void)f;
}

#endif
