/* sparse_kern_avx512.c — AVX-512 sparse kernels (sparse.h). Every function
 * carries its own target attribute (kern_x86.h), as the dense kernels do,
 * so the file compiles with the project's portable flags and runs only
 * after the CPU's features were checked.
 *   BITMAP rows: 4 rows x up to 4 tokens; per 16 columns of a row, 16
 *     packed values are loaded (F16 by vcvtph2ps, BF16 by a shift) and
 *     vexpandps puts the first popcount(mask) of them in the mask's lanes,
 *     then one FMA per token against the dense activations;
 *   2:4 rows: per 32 columns, the 16 kept values meet the activations
 *     gathered by vpermt2ps from two registers at the positions decoded
 *     from the 32-bit selector word (shift, mask, add the group base);
 *   BLOCKS rows: per stored block, quants widened to 16 bits and
 *     vpmaddwd with the activation quants: exact int32 pair sums, scaled
 *     by d_w * d_x in one FMA;
 *   unpack: column indices by vpcompressd (register form) of the column
 *     numbers under the mask, values widened to F32;
 *   xt rows: per non-zero, one broadcast value times 16..64 tokens of its
 *     transposed activation column, up to 4 accumulators per row.
 * Non-goals: AVX2 (the scalar kernels run under that set), non-x86 builds
 * (the file is empty there and init returns false).
 */
#include "cpu/sparse.h"

#if defined(__x86_64__) || defined(__i386__)

#include <string.h>

#include "cpu/kern_x86.h"

enum { WF_F32, WF_F16, WF_BF16 };

static int wf_of(enum dfit_type t)
{
    return t == DFIT_TYPE_F16 ? WF_F16 : t == DFIT_TYPE_BF16 ? WF_BF16 : WF_F32;
}

/* 16 consecutive values at p as floats (reads 64 or 32 bytes). */
T_512 INLINE __m512 vals16(const uint8_t *p, const int wf)
{
    if (wf == WF_F32)
        return _mm512_loadu_ps((const float *)p);
    const __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (wf == WF_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* 16 activations from element k of a row, masked past n. */
T_512 INLINE __m512 xload(const float *x, int64_t k, int64_t n)
{
    return k + 16 <= n ? _mm512_loadu_ps(x + k) : _mm512_maskz_loadu_ps(lanes16(n - k), x + k);
}

/* ---- BITMAP rows ---------------------------------------------------------------- */

T_512 INLINE void bm_tile(float *out, int64_t ldo, const struct dfit_sparse_mat *s, int64_t r,
                          const struct dfit_act *a, int64_t t, const int NR, const int NT,
                          const int wf)
{
    const size_t es = wf == WF_F32 ? 4 : 2;
    const uint16_t *mk[4];
    const uint8_t *vp[4];
    __m512 acc[4][4];
    const float *x[4];
#pragma GCC unroll 4
    for (int j = 0; j < NT; j++)
        x[j] = dfit_act_row(a, t + j);
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++) {
        mk[i] = s->mask + (r + i) * s->n_grp;
        vp[i] = (const uint8_t *)s->val + s->row_off[r + i] * es;
#pragma GCC unroll 4
        for (int j = 0; j < NT; j++)
            acc[i][j] = _mm512_setzero_ps();
    }
    for (int64_t c = 0; c < s->n_grp; c++) {
        __m512 xv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NT; j++)
            xv[j] = xload(x[j], 16 * c, s->n_in);
#pragma GCC unroll 4
        for (int i = 0; i < NR; i++) {
            const unsigned m = mk[i][c];
            _mm_prefetch((const char *)vp[i] + 512, _MM_HINT_T0);
            const __m512 w = _mm512_maskz_expand_ps((__mmask16)m, vals16(vp[i], wf));
            vp[i] += (size_t)__builtin_popcount(m) * es;
#pragma GCC unroll 4
            for (int j = 0; j < NT; j++)
                acc[i][j] = _mm512_fmadd_ps(w, xv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NT; j++)
            out[(t + j) * ldo + r + i] = _mm512_reduce_add_ps(acc[i][j]);
}

#define TOK_SWITCH(TILE, NR, ...)                                                                  \
    switch (nt) {                                                                                  \
    case 1: TILE(__VA_ARGS__, NR, 1, wf); break;                                                   \
    case 2: TILE(__VA_ARGS__, NR, 2, wf); break;                                                   \
    case 3: TILE(__VA_ARGS__, NR, 3, wf); break;                                                   \
    default: TILE(__VA_ARGS__, NR, 4, wf); break;                                                  \
    }

/* The rows driver of a sparse layout over its TILE (4 rows and 1..4
 * tokens at a time), specialised per weight format, and NAME, the entry
 * that dispatches on the matrix's element type. */
#define SPARSE_ROWS(NAME, TILE)                                                                    \
    T_512 INLINE void NAME##_drive(float *out, int64_t ldo, const struct dfit_sparse_mat *s,       \
                                   int64_t r0, int64_t r1, const struct dfit_act *a, const int wf) \
    {                                                                                              \
        for (int64_t t = 0; t < a->n_tok; t += 4) {                                                \
            const int nt = (int)(a->n_tok - t < 4 ? a->n_tok - t : 4);                             \
            int64_t r = r0;                                                                        \
            for (; r + 4 <= r1; r += 4)                                                            \
                TOK_SWITCH(TILE, 4, out, ldo, s, r, a, t)                                          \
            for (; r < r1; r++)                                                                    \
                TOK_SWITCH(TILE, 1, out, ldo, s, r, a, t)                                          \
        }                                                                                          \
    }                                                                                              \
    T_512 static void NAME##_f32(float *out, int64_t ldo, const struct dfit_sparse_mat *s,         \
                                 int64_t r0, int64_t r1, const struct dfit_act *a)                 \
    {                                                                                              \
        NAME##_drive(out, ldo, s, r0, r1, a, WF_F32);                                              \
    }                                                                                              \
    T_512 static void NAME##_f16(float *out, int64_t ldo, const struct dfit_sparse_mat *s,         \
                                 int64_t r0, int64_t r1, const struct dfit_act *a)                 \
    {                                                                                              \
        NAME##_drive(out, ldo, s, r0, r1, a, WF_F16);                                              \
    }                                                                                              \
    T_512 static void NAME##_bf16(float *out, int64_t ldo, const struct dfit_sparse_mat *s,        \
                                  int64_t r0, int64_t r1, const struct dfit_act *a)                \
    {                                                                                              \
        NAME##_drive(out, ldo, s, r0, r1, a, WF_BF16);                                             \
    }                                                                                              \
    static void NAME(float *out, int64_t ldo, const struct dfit_sparse_mat *s, int64_t r0,         \
                     int64_t r1, const struct dfit_act *a)                                         \
    {                                                                                              \
        switch (wf_of(s->type)) {                                                                  \
        case WF_F16: NAME##_f16(out, ldo, s, r0, r1, a); break;                                    \
        case WF_BF16: NAME##_bf16(out, ldo, s, r0, r1, a); break;                                  \
        default: NAME##_f32(out, ldo, s, r0, r1, a); break;                                        \
        }                                                                                          \
    }

SPARSE_ROWS(rows_bitmap, bm_tile)

/* ---- 2:4 rows -------------------------------------------------------------------- */

/* Positions in a 32-column word of its 16 values: group base + selector. */
T_512 INLINE __m512i pos24(uint32_t sw)
{
    const __m512i shift = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
                                            30);
    const __m512i base = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28,
                                           28);
    const __m512i p = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int)sw), shift),
                                       _mm512_set1_epi32(3));
    return _mm512_add_epi32(p, base);
}

T_512 INLINE void t24_tile(float *out, int64_t ldo, const struct dfit_sparse_mat *s, int64_t r,
                           const struct dfit_act *a, int64_t t, const int NR, const int NT,
                           const int wf)
{
    const size_t es = wf == WF_F32 ? 4 : 2;
    const int64_t rv = s->n_grp * 16;
    const uint32_t *sel[4];
    const uint8_t *vp[4];
    __m512 acc[4][4];
    const float *x[4];
#pragma GCC unroll 4
    for (int j = 0; j < NT; j++)
        x[j] = dfit_act_row(a, t + j);
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++) {
        sel[i] = s->sel + (r + i) * s->n_grp;
        vp[i] = (const uint8_t *)s->val + (size_t)((r + i) * rv) * es;
#pragma GCC unroll 4
        for (int j = 0; j < NT; j++)
            acc[i][j] = _mm512_setzero_ps();
    }
    for (int64_t c = 0; c < s->n_grp; c++) {
        __m512 xlo[4], xhi[4];
#pragma GCC unroll 4
        for (int j = 0; j < NT; j++) {
            xlo[j] = xload(x[j], 32 * c, s->n_in);
            xhi[j] = xload(x[j], 32 * c + 16, s->n_in);
        }
#pragma GCC unroll 4
        for (int i = 0; i < NR; i++) {
            _mm_prefetch((const char *)vp[i] + (size_t)c * 16 * es + 512, _MM_HINT_T0);
            const __m512 w = vals16(vp[i] + (size_t)c * 16 * es, wf);
            const __m512i p = pos24(sel[i][c]);
#pragma GCC unroll 4
            for (int j = 0; j < NT; j++)
                acc[i][j] =
                    _mm512_fmadd_ps(w, _mm512_permutex2var_ps(xlo[j], p, xhi[j]), acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NT; j++)
            out[(t + j) * ldo + r + i] = _mm512_reduce_add_ps(acc[i][j]);
}

SPARSE_ROWS(rows_24, t24_tile)

/* ---- BLOCKS rows ----------------------------------------------------------------- */

/* The 32 quants of a stored block as int16 (Q4_0: nibble - 8). */
T_512 INLINE __m512i block_q16(const uint8_t *blk, const int q4)
{
    if (!q4)
        return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(blk + 2)));
    const __m128i b = _mm_loadu_si128((const __m128i *)(blk + 2));
    const __m128i lo = _mm_and_si128(b, _mm_set1_epi8(0x0f));
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(0x0f));
    const __m256i q = _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
    return _mm512_cvtepi8_epi16(q);
}

T_512 INLINE void rows_blk(float *out, int64_t ldo, const struct dfit_sparse_mat *s, int64_t r0,
                           int64_t r1, const struct dfit_act *a, const int q4)
{
    const size_t bb = q4 ? sizeof(struct dfit_block_q4_0) : sizeof(struct dfit_block_q8_0);
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < a->n_tok; t++) {
            const int8_t *xq = dfit_act_q8_qs(a, t);
            const float *xd = dfit_act_q8_d(a, t);
            __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
            uint64_t i = s->row_off[r];
            const uint64_t end = s->row_off[r + 1];
            for (; i < end; i++) {
                const uint8_t *blk = (const uint8_t *)s->val + i * bb;
                const int64_t b = s->blk[i];
                uint16_t dh;
                memcpy(&dh, blk, sizeof dh);
                const float d = _cvtsh_ss(dh) * xd[b];
                const __m512i xv =
                    _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(xq + b * DFIT_QK)));
                const __m512 p =
                    _mm512_cvtepi32_ps(_mm512_madd_epi16(block_q16(blk, q4), xv));
                if (i & 1)
                    acc1 = _mm512_fmadd_ps(p, _mm512_set1_ps(d), acc1);
                else
                    acc0 = _mm512_fmadd_ps(p, _mm512_set1_ps(d), acc0);
            }
            out[t * ldo + r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
        }
}

T_512 static void rows_blocks(float *out, int64_t ldo, const struct dfit_sparse_mat *s, int64_t r0,
                              int64_t r1, const struct dfit_act *a)
{
    if (s->type == DFIT_TYPE_Q4_0)
        rows_blk(out, ldo, s, r0, r1, a, 1);
    else
        rows_blk(out, ldo, s, r0, r1, a, 0);
}

/* ---- unpack ---------------------------------------------------------------------- */

/* n values at p as floats into val (writes a multiple of 16). */
T_512 INLINE void widen(float *val, const uint8_t *p, int64_t n, const int wf)
{
    const size_t es = wf == WF_F32 ? 4 : 2;
    for (int64_t e = 0; e < n; e += 16)
        _mm512_storeu_ps(val + e, vals16(p + (size_t)e * es, wf));
}

T_512 static int64_t unpack(int32_t *idx, float *val, const struct dfit_sparse_mat *s, int64_t r)
{
    const int wf = wf_of(s->type);
    const size_t es = wf == WF_F32 ? 4 : 2;
    if (s->layout == DFIT_SPARSE_BITMAP) {
        const uint16_t *mk = s->mask + r * s->n_grp;
        const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        int64_t n = 0;
        for (int64_t c = 0; c < s->n_grp; c++) {
            const __mmask16 m = mk[c];
            const __m512i cols = _mm512_add_epi32(iota, _mm512_set1_epi32((int)(16 * c)));
            _mm512_storeu_si512(idx + n, _mm512_maskz_compress_epi32(m, cols));
            n += __builtin_popcount(m);
        }
        const uint8_t *p = (const uint8_t *)s->val + s->row_off[r] * es;
        if (wf == WF_F16)
            widen(val, p, n, WF_F16);
        else if (wf == WF_BF16)
            widen(val, p, n, WF_BF16);
        else
            widen(val, p, n, WF_F32);
        return n;
    }
    const int64_t rv = s->n_grp * 16;
    const uint32_t *sel = s->sel + r * s->n_grp;
    for (int64_t c = 0; c < s->n_grp; c++)
        _mm512_storeu_si512(idx + 16 * c,
                            _mm512_add_epi32(pos24(sel[c]), _mm512_set1_epi32((int)(32 * c))));
    const uint8_t *p = (const uint8_t *)s->val + (size_t)(r * rv) * es;
    if (wf == WF_F16)
        widen(val, p, rv, WF_F16);
    else if (wf == WF_BF16)
        widen(val, p, rv, WF_BF16);
    else
        widen(val, p, rv, WF_F32);
    return s->n_in / 2;
}

/* ---- xt rows --------------------------------------------------------------------- */

T_512 INLINE void xt_one(float *out, int64_t ldo, int64_t row, const int32_t *idx,
                         const float *val, int64_t n, const float *xt, int64_t ldx, int64_t t,
                         int64_t n_tok, const int U)
{
    __m512 acc[4];
#pragma GCC unroll 4
    for (int u = 0; u < U; u++)
        acc[u] = _mm512_setzero_ps();
    const float *x0 = xt + t;
    for (int64_t e = 0; e < n; e++) {
        const __m512 v = _mm512_set1_ps(val[e]);
        const float *xr = x0 + (int64_t)idx[e] * ldx;
#pragma GCC unroll 4
        for (int u = 0; u < U; u++)
            acc[u] = _mm512_fmadd_ps(v, _mm512_load_ps(xr + 16 * u), acc[u]);
    }
    float tmp[64];
#pragma GCC unroll 4
    for (int u = 0; u < U; u++)
        _mm512_storeu_ps(tmp + 16 * u, acc[u]);
    const int64_t nt = n_tok - t < 16 * U ? n_tok - t : 16 * U;
    for (int64_t l = 0; l < nt; l++)
        out[(t + l) * ldo + row] = tmp[l];
}

T_512 static void xt_rows(float *out, int64_t ldo, int n_rows, const int64_t *row,
                          const int64_t *beg, const int32_t *idx, const float *val,
                          const float *xt, int64_t ldx, int64_t n_tok)
{
    for (int64_t t = 0; t < n_tok; t += 64) {
        const int64_t left = ldx - t;
        for (int i = 0; i < n_rows; i++) {
            const int32_t *ix = idx + beg[i];
            const float *vl = val + beg[i];
            const int64_t n = beg[i + 1] - beg[i];
            if (left >= 64)
                xt_one(out, ldo, row[i], ix, vl, n, xt, ldx, t, n_tok, 4);
            else if (left >= 48)
                xt_one(out, ldo, row[i], ix, vl, n, xt, ldx, t, n_tok, 3);
            else if (left >= 32)
                xt_one(out, ldo, row[i], ix, vl, n, xt, ldx, t, n_tok, 2);
            else
                xt_one(out, ldo, row[i], ix, vl, n, xt, ldx, t, n_tok, 1);
        }
    }
}

bool dfit_sparse_kern_init_avx512(struct dfit_sparse_kern *k)
{
    strcpy(k->name, "avx512");
    k->rows[DFIT_SPARSE_BITMAP] = rows_bitmap;
    k->rows[DFIT_SPARSE_2_4] = rows_24;
    k->rows[DFIT_SPARSE_BLOCKS] = rows_blocks;
    k->unpack = unpack;
    k->xt_rows = xt_rows;
    return true;
}

#else /* not x86 */

bool dfit_sparse_kern_init_avx512(struct dfit_sparse_kern *k)
{
    (void)k;
    return false;
}

#endif
