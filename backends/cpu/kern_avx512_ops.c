/* kern_avx512_ops.c — the AVX-512 activation converters and non-matmul
 * operators of the fast forward pass (kernels.h):
 *   quantize_q8: Q8_0 activation blocks equal to the reference quantizer's
 *                bit for bit (roundf emulated exactly: truncate, then step
 *                away from zero when the exact remainder is >= 1/2);
 *   to_bf16:     round to nearest even, as dfit_f32_to_bf16;
 *   rmsnorm, swiglu (vector exp), add;
 *   attn:        up to 4 queries x 64 keys per tile from K stored
 *                transposed (one load of 16 keys feeds every query, no
 *                horizontal sums), a vectorised softmax, and the weighted V
 *                sum with each V load shared by the tile's queries.
 * Non-goals: matrix products (kern_avx512.c, kern_avx512_quant.c), non-x86
 * builds (the file is empty there).
 */
#include "cpu/kernels.h"

#if defined(__x86_64__) || defined(__i386__)

#include <math.h>

#include "cpu/kern_x86.h"

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
        const float amax =
            _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
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
    const __mmask16 nan = _mm512_cmp_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000), _MM_CMPINT_NLE);
    r = _mm512_mask_mov_epi32(r, nan,
                              _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(64)));
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

/* Softmax of row a[0..n) in place (scaled scores in, probabilities times
 * their sum out), zeros in [n, n_max); returns 1 / sum. */
T_512 INLINE float softmax_row(float *a, int64_t n, int64_t n_max)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 m = lanes16(n - j);
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, a + j));
    }
    const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < n_max; j += 16) {
        const __mmask16 m = lanes16(n - j > 0 ? n - j : 0), mw = lanes16(n_max - j);
        const __m512 e =
            _mm512_maskz_mov_ps(m, exp512_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + j), vmax)));
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(a + j, mw, e);
    }
    return 1.0f / _mm512_reduce_add_ps(sum);
}

/* Scores of NQ queries for keys [j0, j0 + 64) (masked to n_max), from K
 * transposed: one load of 16 keys per dimension feeds every query. */
T_512 INLINE void scores_tile(float *att, int64_t as, const float *q, int64_t qs, const float *kt,
                              int64_t kts, int64_t j0, int64_t n_max, int hd, float scale,
                              const int NQ)
{
    __m512 acc[DFIT_ATTN_QT][4];
    __mmask16 m[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        int64_t left = n_max - j0 - 16 * c;
        m[c] = lanes16(left > 0 ? left : 0);
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++)
            acc[i][c] = _mm512_setzero_ps();
    }
    for (int d = 0; d < hd; d++) {
        const float *kr = kt + d * kts + j0;
        __m512 kv[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            kv[c] = _mm512_maskz_loadu_ps(m[c], kr + 16 * c);
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            const __m512 qb = _mm512_set1_ps(q[i * qs + d]);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                acc[i][c] = _mm512_fmadd_ps(kv[c], qb, acc[i][c]);
        }
    }
    const __m512 vs = _mm512_set1_ps(scale);
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            _mm512_mask_storeu_ps(att + i * as + j0 + 16 * c, m[c], _mm512_mul_ps(acc[i][c], vs));
}

/* out_i = inv_i * sum_j att_i[j] v_j for dimensions [d0, d0 + 64). */
T_512 INLINE void values_tile(float *out, int64_t os, const float *att, int64_t as,
                              const float *inv, const float *v, int64_t vs, int64_t n_max, int d0,
                              int hd, const int NQ)
{
    __m512 o[DFIT_ATTN_QT][4];
    __mmask16 m[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        int left = hd - d0 - 16 * c;
        m[c] = lanes16(left > 0 ? left : 0);
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++)
            o[i][c] = _mm512_setzero_ps();
    }
    for (int64_t j = 0; j < n_max; j++) {
        const float *vr = v + j * vs + d0;
        __m512 vv[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            vv[c] = _mm512_maskz_loadu_ps(m[c], vr + 16 * c);
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            const __m512 p = _mm512_set1_ps(att[i * as + j]);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                o[i][c] = _mm512_fmadd_ps(p, vv[c], o[i][c]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            _mm512_mask_storeu_ps(out + i * os + d0 + 16 * c, m[c],
                                  _mm512_mul_ps(o[i][c], _mm512_set1_ps(inv[i])));
}

T_512 INLINE void attn_q(float *out, int64_t os, const float *q, int64_t qs, const int64_t *n_kv,
                         const float *kt, int64_t kts, const float *v, int64_t vs, int hd,
                         float scale, float *att, int64_t as, const int NQ)
{
    int64_t n_max = 0;
    for (int i = 0; i < NQ; i++)
        n_max = n_kv[i] > n_max ? n_kv[i] : n_max;
    for (int64_t j0 = 0; j0 < n_max; j0 += 64)
        scores_tile(att, as, q, qs, kt, kts, j0, n_max, hd, scale, NQ);
    float inv[DFIT_ATTN_QT];
    for (int i = 0; i < NQ; i++)
        inv[i] = softmax_row(att + i * as, n_kv[i], n_max);
    for (int d0 = 0; d0 < hd; d0 += 64)
        values_tile(out, os, att, as, inv, v, vs, n_max, d0, hd, NQ);
}

T_512 static void attn(float *out, int64_t os, const float *q, int64_t qs, int nq,
                       const int64_t *n_kv, const float *kt, int64_t kts, const float *v,
                       int64_t vs, int hd, float scale, float *att, int64_t as)
{
    switch (nq) {
    case 1: attn_q(out, os, q, qs, n_kv, kt, kts, v, vs, hd, scale, att, as, 1); break;
    case 2: attn_q(out, os, q, qs, n_kv, kt, kts, v, vs, hd, scale, att, as, 2); break;
    case 3: attn_q(out, os, q, qs, n_kv, kt, kts, v, vs, hd, scale, att, as, 3); break;
    default: attn_q(out, os, q, qs, n_kv, kt, kts, v, vs, hd, scale, att, as, 4); break;
    }
}

/* ---- the set ------------------------------------------------------------------ */

void dfit_kern_init_avx512_ops(struct dfit_kern *k)
{
    k->quantize_q8 = quantize_q8;
    k->to_bf16 = to_bf16;
    k->rmsnorm = rmsnorm;
    k->swiglu = swiglu;
    k->add = add;
    k->attn = attn;
}

#else /* not x86 */

void dfit_kern_init_avx512_ops(struct dfit_kern *k)
{
    (void)k;
}

#endif
