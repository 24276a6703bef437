/* kern_avx512_quant.c — AVX512-VNNI kernels for Q8_0 and Q4_0 weights
 * against Q8_0-quantized activations (kernels.h).
 *   rows: two blocks per 512-bit step; weights as unsigned quants
 *         (Q8_0 w+128, Q4_0 the raw nibbles) against the signed activation
 *         quants, each dword lane started at -offset * (its 4 activation
 *         quants), so it ends holding the exact signed partial sum of its 4
 *         products; one FMA per step scales it by d_w*d_x. Q4_0 regrouped
 *         by 4 blocks (DFIT_TYPE_Q4_0_X4, the resident copy's) steps a
 *         whole 64-byte group of quants at a time.
 *   gemm: 32-row panels with rows in lanes: each dword lane holds 4
 *         consecutive quants of one row, stored unsigned (Q8_0 as w+128,
 *         Q4_0 as the raw nibble); vpdpbusd against 4 broadcast activation
 *         quants accumulates a whole block per lane, starting from the
 *         activation's correction -q_off*sum(x), so each lane ends the
 *         block holding the exact integer block sum before one FMA scales
 *         it. 2 x 6 tiles: 12 integer and 12 float accumulators.
 * Without VNNI the AVX2 kernels stay in the table.
 * Non-goals: float formats (kern_avx512.c), non-x86 builds.
 */
#include "cpu/kernels.h"

#if defined(__x86_64__) || defined(__i386__)

#include <string.h>

#include "cpu/kern_x86.h"

#define PANEL 32 /* gemm panel rows */
#define GT 6     /* gemm tokens per tile */
/* a packed block: [8 quads][PANEL rows] dwords, then d_w [PANEL] floats */
#define PBLOCK_QS (8 * PANEL * 4)
#define PBLOCK (PBLOCK_QS + PANEL * 4)

/* ---- rows ------------------------------------------------------------------ */

/* Blocks b and b+1 of a row as 64 unsigned quants (Q8_0 as w+128, Q4_0 as
 * the raw nibbles, in the order lo(b) lo(b+1) hi(b) hi(b+1) for Q4_0 — the
 * activations are permuted to match), and their two scales as fp16 in the
 * low words of an xmm. `two` = 0: block b+1 does not exist (zeros). */
T_512VNNI INLINE __m512i q_pair(const uint8_t *row, int64_t b, int two, __m128i *d, const int q4)
{
    if (q4) {
        const struct dfit_block_q4_0 *blk = (const struct dfit_block_q4_0 *)row + b;
        __m256i t = _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)blk[0].qs));
        __m128i h = _mm_cvtsi32_si128(blk[0].d);
        if (two) {
            t = _mm256_inserti128_si256(t, _mm_loadu_si128((const __m128i *)blk[1].qs), 1);
            h = _mm_insert_epi16(h, blk[1].d, 1);
        } else {
            t = _mm256_inserti128_si256(t, _mm_setzero_si128(), 1); /* meets zero activations */
        }
        *d = h;
        const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(t), _mm256_srli_epi16(t, 4), 1);
        return _mm512_and_si512(z, _mm512_set1_epi8(0x0f));
    }
    const struct dfit_block_q8_0 *blk = (const struct dfit_block_q8_0 *)row + b;
    __m512i z = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)blk[0].qs));
    __m128i h = _mm_cvtsi32_si128(blk[0].d);
    if (two) {
        z = _mm512_inserti64x4(z, _mm256_loadu_si256((const __m256i *)blk[1].qs), 1);
        h = _mm_insert_epi16(h, blk[1].d, 1);
    } else {
        z = _mm512_inserti64x4(z, _mm256_setzero_si256(), 1);
    }
    *d = h;
    return _mm512_xor_si512(z, _mm512_set1_epi8((char)0x80));
}

/* NR rows x NC tokens, two blocks per step: each dword lane starts at
 * -q_off * (its 4 activation quants) and vpdpbusd adds (w + q_off) * x, so
 * it ends holding the exact signed partial sum of its 4 products; one FMA
 * per step scales each lane by d_w*d_x of its block (Q8_0: lanes 0-7 block
 * b, 8-15 block b+1; Q4_0: lanes 0-3 and 8-11 block b, the others b+1). */
T_512VNNI INLINE void q_rows_tile(float *out, int64_t ldo, const uint8_t *w0, size_t ws,
                                  const struct dfit_act *a, int64_t t, int64_t nb, const int NR,
                                  const int NC, const int q4)
{
    __m512 acc[4][4];
    const int8_t *xq[4];
    const float *xd[4];
#pragma GCC unroll 4
    for (int j = 0; j < NC; j++) {
        xq[j] = dfit_act_q8_qs(a, t + j);
        xd[j] = dfit_act_q8_d(a, t + j);
#pragma GCC unroll 4
        for (int i = 0; i < NR; i++)
            acc[i][j] = _mm512_setzero_ps();
    }
    const __m512i off = _mm512_set1_epi8(q4 ? 8 : (char)0x80);
    /* lo(b) lo(b+1) hi(b) hi(b+1): 128-bit parts 0, 2, 1, 3 of x */
    const __m512i xperm = _mm512_set_epi64(7, 6, 3, 2, 5, 4, 1, 0);
    const __m512i sidx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i sidx4 = _mm512_set_epi32(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0);
    struct prefetcher pf = prefetch_start(w0, NR * ws, (nb + 1) / 2);
    for (int64_t b = 0; b < nb; b += 2) {
        const int two = b + 1 < nb;
        prefetch_step(&pf, b / 2);
        __m512i xv[4], xc[4];
        __m128 dx[4];
#pragma GCC unroll 4
        for (int j = 0; j < NC; j++) {
            __m512i x = two ? _mm512_load_si512((const void *)(xq[j] + b * DFIT_QK))
                            : _mm512_castsi256_si512(
                                  _mm256_load_si256((const __m256i *)(xq[j] + b * DFIT_QK)));
            if (!two)
                x = _mm512_inserti64x4(x, _mm256_setzero_si256(), 1);
            if (q4)
                x = _mm512_permutexvar_epi64(xperm, x);
            xv[j] = x;
            xc[j] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                     _mm512_dpbusd_epi32(_mm512_setzero_si512(), off, x));
            dx[j] = two ? _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(xd[j] + b)))
                        : _mm_set_ss(xd[j][b]);
        }
#pragma GCC unroll 4
        for (int i = 0; i < NR; i++) {
            __m128i h;
            const __m512i wu = q_pair(w0 + i * ws, b, two, &h, q4);
            const __m128 dw = _mm_cvtph_ps(h);
#pragma GCC unroll 4
            for (int j = 0; j < NC; j++) {
                const __m512i p = _mm512_dpbusd_epi32(xc[j], wu, xv[j]);
                const __m512 s = _mm512_permutexvar_ps(
                    q4 ? sidx4 : sidx, _mm512_castps128_ps512(_mm_mul_ps(dw, dx[j])));
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NC; j++)
            out[j * ldo + i] = _mm512_reduce_add_ps(acc[i][j]);
}

#define ROWS_SWITCH(NR, ...)                                                                       \
    switch (nt) {                                                                                  \
    case 1: q_rows_tile(__VA_ARGS__, NR, 1, q4); break;                                            \
    case 2: q_rows_tile(__VA_ARGS__, NR, 2, q4); break;                                            \
    case 3: q_rows_tile(__VA_ARGS__, NR, 3, q4); break;                                            \
    default: q_rows_tile(__VA_ARGS__, NR, 4, q4); break;                                           \
    }

T_512VNNI INLINE void q_rows(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                             int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1,
                             const int q4)
{
    const int64_t nb = w->n_in / DFIT_QK;
    const uint8_t *wd = w->data;
    for (int64_t t = t0; t < t1; t += 4) {
        const int nt = (int)(t1 - t < 4 ? t1 - t : 4);
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4)
            ROWS_SWITCH(4, out + t * ldo + r, ldo, wd + (size_t)r * w->row_bytes, w->row_bytes, a,
                        t, nb)
        for (; r < r1; r++)
            ROWS_SWITCH(1, out + t * ldo + r, ldo, wd + (size_t)r * w->row_bytes, w->row_bytes, a,
                        t, nb)
    }
}

T_512VNNI static void rows_q8_0(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                                int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1)
{
    q_rows(out, ldo, w, r0, r1, a, t0, t1, 0);
}

T_512VNNI static void rows_q4_0(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                                int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1)
{
    q_rows(out, ldo, w, r0, r1, a, t0, t1, 1);
}

/* ---- rows: Q4_0 regrouped by 4 blocks (DFIT_TYPE_Q4_0_X4) -------------------- */

/* NR rows x NC tokens, a group of 4 blocks (128 weights) per step: one
 * 64-byte load of the group's quants, split into low and high nibbles; the
 * 4 blocks' activation quants split to match (each block's elements 0-15
 * against its low nibbles, 16-31 against its high ones), so dword lanes
 * 4i..4i+3 hold block i's partial sums, lane 4i starting from the block's
 * correction -8*sum(x). One FMA per step scales the lanes by d_w*d_x,
 * widened from the group's 4 scales. Per row and 128 weights: 12
 * operations, where the two-block form takes 28. */
T_512VNNI INLINE void q4x4_rows_tile(float *out, int64_t ldo, const uint8_t *w0, size_t ws,
                                     const struct dfit_act *a, int64_t t, int64_t ng, const int NR,
                                     const int NC)
{
    __m512 acc[4][4];
    const int8_t *xq[4];
    const float *xd[4];
    const int32_t *xcor[4];
#pragma GCC unroll 4
    for (int j = 0; j < NC; j++) {
        xq[j] = dfit_act_q8_qs(a, t + j);
        xd[j] = dfit_act_q8_d(a, t + j);
        xcor[j] = dfit_act_q8_corr(a, t + j);
#pragma GCC unroll 4
        for (int i = 0; i < NR; i++)
            acc[i][j] = _mm512_setzero_ps();
    }
    /* qwords of two blocks' activations A (b, b+1) and B (b+2, b+3) */
    const __m512i lo_idx = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0);
    const __m512i hi_idx = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
    const __m512i sidx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i cidx = _mm512_set_epi32(0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0);
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    struct prefetcher pf = prefetch_start(w0, NR * ws, ng);
    for (int64_t g = 0; g < ng; g++) {
        prefetch_step(&pf, g);
        __m512i xl[4], xh[4], xc[4];
        __m128 dx[4];
#pragma GCC unroll 4
        for (int j = 0; j < NC; j++) {
            const int8_t *q = xq[j] + g * 4 * DFIT_QK;
            const __m512i A = _mm512_load_si512((const void *)q);
            const __m512i B = _mm512_load_si512((const void *)(q + 64));
            xl[j] = _mm512_permutex2var_epi64(A, lo_idx, B);
            xh[j] = _mm512_permutex2var_epi64(A, hi_idx, B);
            xc[j] = _mm512_maskz_permutexvar_epi32(
                0x1111, cidx,
                _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(xcor[j] + 4 * g))));
            dx[j] = _mm_loadu_ps(xd[j] + 4 * g);
        }
#pragma GCC unroll 4
        for (int i = 0; i < NR; i++) {
            const uint8_t *grp = w0 + i * ws + g * DFIT_Q4_0_X4_GROUP;
            const __m512i v = _mm512_loadu_si512((const void *)grp);
            const __m512i lo = _mm512_and_si512(v, m4);
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            const __m128 dw = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(grp + 64)));
#pragma GCC unroll 4
            for (int j = 0; j < NC; j++) {
                const __m512i p =
                    _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(xc[j], lo, xl[j]), hi, xh[j]);
                const __m512 sc =
                    _mm512_permutexvar_ps(sidx, _mm512_castps128_ps512(_mm_mul_ps(dw, dx[j])));
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), sc, acc[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NC; j++)
            out[j * ldo + i] = _mm512_reduce_add_ps(acc[i][j]);
}

#define X4_SWITCH(NR, ...)                                                                         \
    switch (nt) {                                                                                  \
    case 1: q4x4_rows_tile(__VA_ARGS__, NR, 1); break;                                             \
    case 2: q4x4_rows_tile(__VA_ARGS__, NR, 2); break;                                             \
    case 3: q4x4_rows_tile(__VA_ARGS__, NR, 3); break;                                             \
    default: q4x4_rows_tile(__VA_ARGS__, NR, 4); break;                                            \
    }

T_512VNNI static void rows_q4_0_x4(float *out, int64_t ldo, const struct dfit_weight *w,
                                   int64_t r0, int64_t r1, const struct dfit_act *a, int64_t t0,
                                   int64_t t1)
{
    const int64_t ng = w->n_in / (4 * DFIT_QK);
    const uint8_t *wd = w->data;
    for (int64_t t = t0; t < t1; t += 4) {
        const int nt = (int)(t1 - t < 4 ? t1 - t : 4);
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4)
            X4_SWITCH(4, out + t * ldo + r, ldo, wd + (size_t)r * w->row_bytes, w->row_bytes, a, t,
                      ng)
        for (; r < r1; r++)
            X4_SWITCH(1, out + t * ldo + r, ldo, wd + (size_t)r * w->row_bytes, w->row_bytes, a, t,
                      ng)
    }
}

/* ---- gemm: packing ------------------------------------------------------------ */

static size_t panel_bytes_q(int64_t n_in)
{
    return (size_t)(n_in / DFIT_QK) * PBLOCK;
}

/* Weight layouts the gemm packer reads. */
enum { LAYOUT_Q8_0, LAYOUT_Q4_0, LAYOUT_Q4_0_X4 };

/* The quants and the fp16 scale of block b of a row. */
static inline const uint8_t *blk_qs(const uint8_t *row, int64_t b, const int layout)
{
    if (layout == LAYOUT_Q4_0_X4)
        return row + (size_t)(b / 4) * DFIT_Q4_0_X4_GROUP + (size_t)(b % 4) * 16;
    return row + (size_t)b * (layout == LAYOUT_Q4_0 ? 18 : 34) + 2;
}
static inline const uint8_t *blk_d(const uint8_t *row, int64_t b, const int layout)
{
    if (layout == LAYOUT_Q4_0_X4)
        return row + (size_t)(b / 4) * DFIT_Q4_0_X4_GROUP + 64 + (size_t)(b % 4) * 2;
    return row + (size_t)b * (layout == LAYOUT_Q4_0 ? 18 : 34);
}

/* Block b of a row as 32 unsigned quants: Q8_0 as w+128, Q4_0 nibbles. */
T_512VNNI INLINE __m256i q_block_u8(const uint8_t *row, int64_t b, const int layout)
{
    if (layout != LAYOUT_Q8_0) {
        const __m128i q = _mm_loadu_si128((const __m128i *)blk_qs(row, b, layout));
        const __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0x0f));
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0f));
        return _mm256_set_m128i(hi, lo);
    }
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)blk_qs(row, b, layout)),
                            _mm256_set1_epi8((char)0x80));
}

T_512VNNI INLINE void pack_q(void *panel, const struct dfit_weight *w, int64_t r0, int nr,
                             const int layout)
{
    uint8_t *p = panel;
    const int64_t nb = w->n_in / DFIT_QK;
    for (int h = 0; h < PANEL / 16; h++) {
        const uint8_t *rows[16];
        for (int i = 0; i < 16; i++) {
            int ri = 16 * h + i;
            rows[i] = ri < nr ? (const uint8_t *)w->data + (size_t)(r0 + ri) * w->row_bytes : NULL;
        }
        /* two blocks at a time: 16 rows x 16 dwords, transposed */
        for (int64_t b = 0; b < nb; b += 2) {
            const int two = b + 1 < nb;
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                if (!rows[i]) {
                    r[i] = _mm512_setzero_ps();
                    continue;
                }
                __m256i lo = q_block_u8(rows[i], b, layout);
                __m256i hi = two ? q_block_u8(rows[i], b + 1, layout) : _mm256_setzero_si256();
                r[i] = _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
            }
            transpose16_ps(r);
            for (int k = 0; k < 8; k++) {
                _mm512_store_ps((float *)(p + b * PBLOCK + k * PANEL * 4 + h * 64), r[k]);
                if (two)
                    _mm512_store_ps((float *)(p + (b + 1) * PBLOCK + k * PANEL * 4 + h * 64),
                                    r[8 + k]);
            }
        }
    }
    for (int64_t b = 0; b < nb; b++) {
        float *d = (float *)(p + b * PBLOCK + PBLOCK_QS);
        for (int i = 0; i < PANEL; i++) {
            dfit_fp16 h16 = 0;
            if (i < nr)
                memcpy(&h16, blk_d((const uint8_t *)w->data + (size_t)(r0 + i) * w->row_bytes, b, layout),
                       sizeof h16);
            d[i] = _cvtsh_ss(h16);
        }
    }
}

T_512VNNI static void pack_q8_0(void *panel, const struct dfit_weight *w, int64_t r0, int nr)
{
    pack_q(panel, w, r0, nr, LAYOUT_Q8_0);
}

T_512VNNI static void pack_q4_0(void *panel, const struct dfit_weight *w, int64_t r0, int nr)
{
    pack_q(panel, w, r0, nr, LAYOUT_Q4_0);
}

T_512VNNI static void pack_q4_0_x4(void *panel, const struct dfit_weight *w, int64_t r0, int nr)
{
    pack_q(panel, w, r0, nr, LAYOUT_Q4_0_X4);
}

/* ---- gemm: micro-kernel ----------------------------------------------------------- */

T_512VNNI INLINE void gemm_q_tile(float *out, int64_t ldo, const uint8_t *panel, int nr,
                                  const struct dfit_act *a, int64_t t, int64_t nb, const int NC)
{
    __m512 f0[GT], f1[GT];
    const int8_t *xq[GT];
    const float *xd[GT];
    const int32_t *xc[GT];
#pragma GCC unroll 6
    for (int j = 0; j < NC; j++) {
        xq[j] = dfit_act_q8_qs(a, t + j);
        xd[j] = dfit_act_q8_d(a, t + j);
        xc[j] = dfit_act_q8_corr(a, t + j);
        f0[j] = f1[j] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = panel + b * PBLOCK;
        __m512i i0[GT], i1[GT];
#pragma GCC unroll 6
        for (int j = 0; j < NC; j++)
            i0[j] = i1[j] = _mm512_set1_epi32(xc[j][b]);
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            const __m512i w0 = _mm512_load_si512((const void *)(pb + k * PANEL * 4));
            const __m512i w1 = _mm512_load_si512((const void *)(pb + k * PANEL * 4 + 64));
#pragma GCC unroll 6
            for (int j = 0; j < NC; j++) {
                int32_t x4;
                memcpy(&x4, xq[j] + b * DFIT_QK + 4 * k, sizeof x4);
                const __m512i xb = _mm512_set1_epi32(x4);
                i0[j] = _mm512_dpbusd_epi32(i0[j], w0, xb);
                i1[j] = _mm512_dpbusd_epi32(i1[j], w1, xb);
            }
        }
        const __m512 d0 = _mm512_load_ps((const float *)(pb + PBLOCK_QS));
        const __m512 d1 = _mm512_load_ps((const float *)(pb + PBLOCK_QS + 64));
#pragma GCC unroll 6
        for (int j = 0; j < NC; j++) {
            const __m512 dx = _mm512_set1_ps(xd[j][b]);
            f0[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0[j]), _mm512_mul_ps(d0, dx), f0[j]);
            f1[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[j]), _mm512_mul_ps(d1, dx), f1[j]);
        }
    }
    const __mmask16 m0 = lanes16(nr), m1 = lanes16(nr > 16 ? nr - 16 : 0);
#pragma GCC unroll 6
    for (int j = 0; j < NC; j++) {
        _mm512_mask_storeu_ps(out + j * ldo, m0, f0[j]);
        _mm512_mask_storeu_ps(out + j * ldo + 16, m1, f1[j]);
    }
}

T_512VNNI static void gemm_q(float *out, int64_t ldo, const void *panel, int nr,
                             const struct dfit_act *a, int64_t t0, int64_t t1)
{
    const int64_t nb = a->n_in / DFIT_QK;
    for (int64_t t = t0; t < t1; t += GT) {
        const int nt = (int)(t1 - t < GT ? t1 - t : GT);
        float *o = out + t * ldo;
        switch (nt) {
        case 1: gemm_q_tile(o, ldo, panel, nr, a, t, nb, 1); break;
        case 2: gemm_q_tile(o, ldo, panel, nr, a, t, nb, 2); break;
        case 3: gemm_q_tile(o, ldo, panel, nr, a, t, nb, 3); break;
        case 4: gemm_q_tile(o, ldo, panel, nr, a, t, nb, 4); break;
        case 5: gemm_q_tile(o, ldo, panel, nr, a, t, nb, 5); break;
        default: gemm_q_tile(o, ldo, panel, nr, a, t, nb, 6); break;
        }
    }
}

/* ---- the set ---------------------------------------------------------------------- */

void dfit_kern_init_avx512_quant(struct dfit_kern *k, const struct dfit_cpu_features *f)
{
    if (!f->avx512_vnni)
        return; /* the AVX2 kernels stay */
    const dfit_kern_rows_fn rows[3] = {rows_q8_0, rows_q4_0, rows_q4_0_x4};
    const dfit_kern_pack_fn pack[3] = {pack_q8_0, pack_q4_0, pack_q4_0_x4};
    const int32_t q_off[3] = {128, 8, 8};
    for (int i = 0; i < 3; i++) {
        struct dfit_kern_fmt *fm = &k->fmt[DFIT_KFMT_Q8_0 + i];
        fm->act = DFIT_ACT_Q8;
        fm->q_off = q_off[i];
        fm->rows = rows[i];
        fm->panel_rows = PANEL;
        fm->gemm_min_tok = 6;
        fm->panel_bytes = panel_bytes_q;
        fm->pack = pack[i];
        fm->gemm = gemm_q;
    }
}

#else /* not x86 */

void dfit_kern_init_avx512_quant(struct dfit_kern *k, const struct dfit_cpu_features *f)
{
    (void)k;
    (void)f;
}

#endif
