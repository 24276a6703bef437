/* kern_avx2.c — the AVX2 + FMA + F16C kernel set (kernels.h), for x86
 * CPUs without AVX-512 and the fallback of the AVX-512 set where it lacks
 * VNNI. Every function carries its own target attribute.
 *   rows: 8-lane FMA dot products, 4 rows x up to 2 tokens; F16 weights
 *         converted by vcvtph2ps, BF16 by a 16-bit shift (F32
 *         activations); Q8_0/Q4_0 by the sign trick on vpmaddubsw
 *         (|w| <= 128 times sign(w)*x, pairs <= 32512: no saturation) and
 *         vpmaddwd, exact per block, one FMA per block for d_w*d_x;
 *   gemm (float formats): 16-row panels packed as floats, 2 x 6 tiles.
 * Non-goals: AVX-512 (kern_avx512*.c), non-x86 builds (empty there).
 */
#include "cpu/kernels.h"

#if defined(__x86_64__) || defined(__i386__)

#include <math.h>
#include <string.h>

#include "cpu/kern_x86.h"

enum { WF_F32, WF_F16, WF_BF16 };

#define PANEL 16 /* gemm panel rows */
#define GT 6     /* gemm tokens per tile */

/* ---- helpers ------------------------------------------------------------------ */

T_AVX2 INLINE __m256 bf16x8_to_ps(__m128i h)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

T_AVX2 INLINE __m256 wload8(const uint8_t *row, int64_t k, const int wf)
{
    if (wf == WF_F32)
        return _mm256_loadu_ps((const float *)row + k);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + k));
    return wf == WF_F16 ? _mm256_cvtph_ps(h) : bf16x8_to_ps(h);
}

static inline float welem(const uint8_t *row, int64_t k, const int wf)
{
    if (wf == WF_F32)
        return ((const float *)row)[k];
    const dfit_fp16 h = ((const uint16_t *)row)[k];
    return wf == WF_F16 ? dfit_fp16_to_f32(h) : dfit_bf16_to_f32(h);
}

T_AVX2 INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* e^x for x in [-87, 88.7] (clamped; e^-87 stands for smaller results). */
T_AVX2 INLINE __m256 exp256_ps(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.7f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* 2^n for n in [-126, 128]: split in two factors so both are normal */
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256 s1 =
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    const __m256 s2 =
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* ---- rows: float formats --------------------------------------------------------- */

T_AVX2 INLINE void rows_tile(float *out, int64_t ldo, const uint8_t *w0, size_t ws, const float *x0,
                             size_t xs, int64_t n, const int NR, const int NC, const int wf)
{
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
#pragma GCC unroll 2
        for (int j = 0; j < NC; j++)
            acc[i][j] = _mm256_setzero_ps();
    struct prefetcher pf = prefetch_start(w0, NR * ws, (n + 7) / 8);
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 xv[2];
        prefetch_step(&pf, k / 8);
#pragma GCC unroll 2
        for (int j = 0; j < NC; j++)
            xv[j] = _mm256_loadu_ps(x0 + j * xs + k);
#pragma GCC unroll 4
        for (int i = 0; i < NR; i++) {
            const __m256 wv = wload8(w0 + i * ws, k, wf);
#pragma GCC unroll 2
            for (int j = 0; j < NC; j++)
                acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
#pragma GCC unroll 2
        for (int j = 0; j < NC; j++) {
            float s = hsum8(acc[i][j]);
            for (int64_t kk = k; kk < n; kk++)
                s += welem(w0 + i * ws, kk, wf) * x0[j * xs + kk];
            out[j * ldo + i] = s;
        }
}

#define ROWS_F_TILE(NR, NC)                                                                        \
    rows_tile(ot + r, ldo, wd + (size_t)r * w->row_bytes, w->row_bytes, xt, xs, n, NR, NC, wf)

T_AVX2 INLINE void rows_float(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                              int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1,
                              const int wf)
{
    const int64_t n = w->n_in;
    const size_t xs = a->row_bytes / sizeof(float);
    const uint8_t *wd = w->data;
    for (int64_t t = t0; t < t1; t += 2) {
        const int two = t + 1 < t1;
        const float *xt = (const float *)a->data + t * xs;
        float *ot = out + t * ldo;
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) {
            if (two)
                ROWS_F_TILE(4, 2);
            else
                ROWS_F_TILE(4, 1);
        }
        for (; r < r1; r++) {
            if (two)
                ROWS_F_TILE(1, 2);
            else
                ROWS_F_TILE(1, 1);
        }
    }
}

T_AVX2 static void rows_f32(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                            int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1)
{
    rows_float(out, ldo, w, r0, r1, a, t0, t1, WF_F32);
}

T_AVX2 static void rows_f16(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                            int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1)
{
    rows_float(out, ldo, w, r0, r1, a, t0, t1, WF_F16);
}

T_AVX2 static void rows_bf16(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                             int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1)
{
    rows_float(out, ldo, w, r0, r1, a, t0, t1, WF_BF16);
}

/* ---- rows: quantized formats -------------------------------------------------------- */

T_AVX2 INLINE __m256i q_block(const uint8_t *row, int64_t b, float *d, const int q4)
{
    if (q4) {
        const struct dfit_block_q4_0 *blk = (const struct dfit_block_q4_0 *)row + b;
        const __m128i q = _mm_loadu_si128((const __m128i *)blk->qs);
        const __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0x0f));
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0f));
        *d = _cvtsh_ss(blk->d);
        return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
    }
    const struct dfit_block_q8_0 *blk = (const struct dfit_block_q8_0 *)row + b;
    *d = _cvtsh_ss(blk->d);
    return _mm256_loadu_si256((const __m256i *)blk->qs);
}

T_AVX2 INLINE void q_rows_tile(float *out, int64_t ldo, const uint8_t *w0, size_t ws,
                               const struct dfit_act *a, int64_t t, int64_t nb, const int NR,
                               const int NC, const int q4)
{
    __m256 acc[4][2];
    const int8_t *xq[2];
    const float *xd[2];
    const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 2
    for (int j = 0; j < NC; j++) {
        xq[j] = dfit_act_q8_qs(a, t + j);
        xd[j] = dfit_act_q8_d(a, t + j);
#pragma GCC unroll 4
        for (int i = 0; i < NR; i++)
            acc[i][j] = _mm256_setzero_ps();
    }
    struct prefetcher pf = prefetch_start(w0, NR * ws, nb);
    for (int64_t b = 0; b < nb; b++) {
        prefetch_step(&pf, b);
#pragma GCC unroll 4
        for (int i = 0; i < NR; i++) {
            float d;
            const __m256i wq = q_block(w0 + i * ws, b, &d, q4);
            const __m256i wa = _mm256_abs_epi8(wq);
#pragma GCC unroll 2
            for (int j = 0; j < NC; j++) {
                const __m256i xv = _mm256_load_si256((const __m256i *)(xq[j] + b * DFIT_QK));
                const __m256i p16 = _mm256_maddubs_epi16(wa, _mm256_sign_epi8(xv, wq));
                const __m256i p = _mm256_madd_epi16(p16, ones);
                acc[i][j] =
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d * xd[j][b]), acc[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
#pragma GCC unroll 2
        for (int j = 0; j < NC; j++)
            out[j * ldo + i] = hsum8(acc[i][j]);
}

#define ROWS_Q_TILE(NR, NC)                                                                        \
    q_rows_tile(out + t * ldo + r, ldo, wd + (size_t)r * w->row_bytes, w->row_bytes, a, t, nb, NR, \
                NC, q4)

T_AVX2 INLINE void q_rows(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                          int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1,
                          const int q4)
{
    const int64_t nb = w->n_in / DFIT_QK;
    const uint8_t *wd = w->data;
    for (int64_t t = t0; t < t1; t += 2) {
        const int two = t + 1 < t1;
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) {
            if (two)
                ROWS_Q_TILE(4, 2);
            else
                ROWS_Q_TILE(4, 1);
        }
        for (; r < r1; r++) {
            if (two)
                ROWS_Q_TILE(1, 2);
            else
                ROWS_Q_TILE(1, 1);
        }
    }
}

T_AVX2 static void rows_q8_0(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                             int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1)
{
    q_rows(out, ldo, w, r0, r1, a, t0, t1, 0);
}

T_AVX2 static void rows_q4_0(float *out, int64_t ldo, const struct dfit_weight *w, int64_t r0,
                             int64_t r1, const struct dfit_act *a, int64_t t0, int64_t t1)
{
    q_rows(out, ldo, w, r0, r1, a, t0, t1, 1);
}

/* ---- gemm: float formats ----------------------------------------------------------- */

static size_t panel_bytes_f32(int64_t n_in)
{
    return (size_t)n_in * PANEL * sizeof(float);
}

T_AVX2 INLINE void pack_float(void *panel, const struct dfit_weight *w, int64_t r0, int nr,
                              const int wf)
{
    float *p = panel;
    const int64_t n = w->n_in;
    for (int i = 0; i < PANEL; i++) {
        if (i >= nr) {
            for (int64_t k = 0; k < n; k++)
                p[k * PANEL + i] = 0.0f;
            continue;
        }
        const uint8_t *row = (const uint8_t *)w->data + (size_t)(r0 + i) * w->row_bytes;
        int64_t k = 0;
        for (; k + 8 <= n; k += 8) {
            float tmp[8];
            _mm256_storeu_ps(tmp, wload8(row, k, wf));
            for (int l = 0; l < 8; l++)
                p[(k + l) * PANEL + i] = tmp[l];
        }
        for (; k < n; k++)
            p[k * PANEL + i] = welem(row, k, wf);
    }
}

T_AVX2 static void pack_f32(void *panel, const struct dfit_weight *w, int64_t r0, int nr)
{
    pack_float(panel, w, r0, nr, WF_F32);
}

T_AVX2 static void pack_f16(void *panel, const struct dfit_weight *w, int64_t r0, int nr)
{
    pack_float(panel, w, r0, nr, WF_F16);
}

T_AVX2 static void pack_bf16(void *panel, const struct dfit_weight *w, int64_t r0, int nr)
{
    pack_float(panel, w, r0, nr, WF_BF16);
}

T_AVX2 INLINE void gemm_tile(float *out, int64_t ldo, const float *panel, int nr, const float *x0,
                             size_t xs, int64_t n, const int NC)
{
    __m256 a0[GT], a1[GT];
#pragma GCC unroll 6
    for (int j = 0; j < NC; j++)
        a0[j] = a1[j] = _mm256_setzero_ps();
    for (int64_t k = 0; k < n; k++) {
        const __m256 w0 = _mm256_load_ps(panel + k * PANEL);
        const __m256 w1 = _mm256_load_ps(panel + k * PANEL + 8);
#pragma GCC unroll 6
        for (int j = 0; j < NC; j++) {
            const __m256 xb = _mm256_broadcast_ss(x0 + j * xs + k);
            a0[j] = _mm256_fmadd_ps(w0, xb, a0[j]);
            a1[j] = _mm256_fmadd_ps(w1, xb, a1[j]);
        }
    }
#pragma GCC unroll 6
    for (int j = 0; j < NC; j++) {
        if (nr == PANEL) {
            _mm256_storeu_ps(out + j * ldo, a0[j]);
            _mm256_storeu_ps(out + j * ldo + 8, a1[j]);
        } else {
            float tmp[PANEL];
            _mm256_storeu_ps(tmp, a0[j]);
            _mm256_storeu_ps(tmp + 8, a1[j]);
            memcpy(out + j * ldo, tmp, (size_t)nr * sizeof(float));
        }
    }
}

T_AVX2 static void gemm_f32(float *out, int64_t ldo, const void *panel, int nr,
                            const struct dfit_act *a, int64_t t0, int64_t t1)
{
    const size_t xs = a->row_bytes / sizeof(float);
    for (int64_t t = t0; t < t1; t += GT) {
        const int nt = (int)(t1 - t < GT ? t1 - t : GT);
        float *o = out + t * ldo;
        const float *x = (const float *)a->data + t * xs;
        switch (nt) {
        case 1: gemm_tile(o, ldo, panel, nr, x, xs, a->n_in, 1); break;
        case 2: gemm_tile(o, ldo, panel, nr, x, xs, a->n_in, 2); break;
        case 3: gemm_tile(o, ldo, panel, nr, x, xs, a->n_in, 3); break;
        case 4: gemm_tile(o, ldo, panel, nr, x, xs, a->n_in, 4); break;
        case 5: gemm_tile(o, ldo, panel, nr, x, xs, a->n_in, 5); break;
        default: gemm_tile(o, ldo, panel, nr, x, xs, a->n_in, 6); break;
        }
    }
}

/* ---- activation quantizer ------------------------------------------------------------ */

/* The reference's q8_round on 8 lanes: roundf, NaN to 0, saturated. */
T_AVX2 INLINE __m256i q8_lanes(__m256 v)
{
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
    const __m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
    const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 r = _mm256_add_ps(t, _mm256_and_ps(up, _mm256_or_ps(sign, _mm256_set1_ps(1.0f))));
    r = _mm256_and_ps(r, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
    r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvtps_epi32(r);
}

T_AVX2 static void quantize_q8(void *row, const float *x, int64_t n, int32_t q_off)
{
    const int64_t nb = n / DFIT_QK;
    int8_t *qs = row;
    float *d = (float *)(qs + n);
    int32_t *corr = (int32_t *)(d + nb);
    for (int64_t b = 0; b < nb; b++) {
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + b * DFIT_QK + 8 * i);
            m = _mm256_max_ps(m, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v[i]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float db = amax / 127.0f;
        const float id = db != 0.0f ? 1.0f / db : 0.0f;
        d[b] = _cvtsh_ss(_cvtss_sh(db, _MM_FROUND_TO_NEAREST_INT));
        __m256i q[4];
        for (int i = 0; i < 4; i++)
            q[i] = q8_lanes(_mm256_mul_ps(v[i], _mm256_set1_ps(id)));
        /* pack to bytes: packs interleave 128-bit lanes, a permute restores order */
        const __m256i q01 = _mm256_packs_epi32(q[0], q[1]);
        const __m256i q23 = _mm256_packs_epi32(q[2], q[3]);
        __m256i q8 = _mm256_packs_epi16(q01, q23);
        q8 = _mm256_permutevar8x32_epi32(q8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(qs + b * DFIT_QK), q8);
        const __m256i s =
            _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        corr[b] = -q_off * _mm_cvtsi128_si32(s4);
    }
}

/* ---- non-matmul operators ------------------------------------------------------------- */

T_AVX2 static void rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
    __m256 s = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 a = _mm256_loadu_ps(x + i);
        s = _mm256_fmadd_ps(a, a, s);
    }
    float ss = hsum8(s);
    for (; i < n; i++)
        ss += x[i] * x[i];
    const float scale = 1.0f / sqrtf(ss / (float)n + eps);
    const __m256 vs = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs),
                                                _mm256_loadu_ps(w + i)));
    for (; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

T_AVX2 static void swiglu(float *out, const float *gate, const float *up, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = exp256_ps(_mm256_sub_ps(_mm256_setzero_ps(), g));
        const __m256 s = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++)
        out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

/* Softmax of row a[0..n) in place, zeros in [n, n_max); returns 1 / sum. */
T_AVX2 INLINE float softmax_row(float *a, int64_t n, int64_t n_max)
{
    float max = -INFINITY;
    for (int64_t j = 0; j < n; j++)
        max = a[j] > max ? a[j] : max;
    __m256 vsum = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 e = exp256_ps(_mm256_sub_ps(_mm256_loadu_ps(a + j), _mm256_set1_ps(max)));
        _mm256_storeu_ps(a + j, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float sum = hsum8(vsum);
    for (; j < n; j++)
        sum += a[j] = expf(a[j] - max);
    for (; j < n_max; j++)
        a[j] = 0.0f;
    return 1.0f / sum;
}

/* NQ queries x 16 keys from K transposed; the key tail in scalar code. */
T_AVX2 INLINE void attn_q(float *out, int64_t os, const float *q, int64_t qs, const int64_t *n_kv,
                          const float *kt, int64_t kts, const float *v, int64_t vs, int hd,
                          float scale, float *att, int64_t as, const int NQ)
{
    int64_t n_max = 0;
    for (int i = 0; i < NQ; i++)
        n_max = n_kv[i] > n_max ? n_kv[i] : n_max;
    int64_t j0 = 0;
    for (; j0 + 16 <= n_max; j0 += 16) {
        __m256 acc[DFIT_ATTN_QT][2];
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++)
            acc[i][0] = acc[i][1] = _mm256_setzero_ps();
        for (int d = 0; d < hd; d++) {
            const __m256 k0 = _mm256_loadu_ps(kt + d * kts + j0);
            const __m256 k1 = _mm256_loadu_ps(kt + d * kts + j0 + 8);
#pragma GCC unroll 4
            for (int i = 0; i < NQ; i++) {
                const __m256 qb = _mm256_broadcast_ss(q + i * qs + d);
                acc[i][0] = _mm256_fmadd_ps(k0, qb, acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(k1, qb, acc[i][1]);
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            _mm256_storeu_ps(att + i * as + j0, _mm256_mul_ps(acc[i][0], _mm256_set1_ps(scale)));
            _mm256_storeu_ps(att + i * as + j0 + 8,
                             _mm256_mul_ps(acc[i][1], _mm256_set1_ps(scale)));
        }
    }
    for (int i = 0; i < NQ; i++)
        for (int64_t j = j0; j < n_max; j++) {
            float s = 0.0f;
            for (int d = 0; d < hd; d++)
                s += q[i * qs + d] * kt[d * kts + j];
            att[i * as + j] = s * scale;
        }
    float inv[DFIT_ATTN_QT];
    for (int i = 0; i < NQ; i++)
        inv[i] = softmax_row(att + i * as, n_kv[i], n_max);
    int d0 = 0;
    for (; d0 + 16 <= hd; d0 += 16) {
        __m256 o[DFIT_ATTN_QT][2];
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++)
            o[i][0] = o[i][1] = _mm256_setzero_ps();
        for (int64_t j = 0; j < n_max; j++) {
            const __m256 v0 = _mm256_loadu_ps(v + j * vs + d0);
            const __m256 v1 = _mm256_loadu_ps(v + j * vs + d0 + 8);
#pragma GCC unroll 4
            for (int i = 0; i < NQ; i++) {
                const __m256 p = _mm256_broadcast_ss(att + i * as + j);
                o[i][0] = _mm256_fmadd_ps(p, v0, o[i][0]);
                o[i][1] = _mm256_fmadd_ps(p, v1, o[i][1]);
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            _mm256_storeu_ps(out + i * os + d0, _mm256_mul_ps(o[i][0], _mm256_set1_ps(inv[i])));
            _mm256_storeu_ps(out + i * os + d0 + 8, _mm256_mul_ps(o[i][1], _mm256_set1_ps(inv[i])));
        }
    }
    for (int i = 0; i < NQ; i++)
        for (int d = d0; d < hd; d++) {
            float o = 0.0f;
            for (int64_t j = 0; j < n_max; j++)
                o += att[i * as + j] * v[j * vs + d];
            out[i * os + d] = o * inv[i];
        }
}

T_AVX2 static void attn(float *out, int64_t os, const float *q, int64_t qs, int nq,
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

/* ---- the set ---------------------------------------------------------------------------- */

void dfit_kern_init_avx2(struct dfit_kern *k)
{
    strcpy(k->name, "avx2");
    const dfit_kern_rows_fn rows[DFIT_KFMT_COUNT] = {rows_f32, rows_f16, rows_bf16, rows_q8_0,
                                                     rows_q4_0};
    const dfit_kern_pack_fn pack[3] = {pack_f32, pack_f16, pack_bf16};
    for (int f = 0; f < DFIT_KFMT_COUNT; f++) {
        struct dfit_kern_fmt *fm = &k->fmt[f];
        fm->rows = rows[f];
        fm->q_off = 0; /* the sign trick needs no correction */
        if (f < 3) {
            fm->act = DFIT_ACT_F32;
            fm->panel_rows = PANEL;
            fm->gemm_min_tok = 16;
            fm->panel_bytes = panel_bytes_f32;
            fm->pack = pack[f];
            fm->gemm = gemm_f32;
        }
    }
    k->quantize_q8 = quantize_q8;
    k->rmsnorm = rmsnorm;
    k->swiglu = swiglu;
    k->attn = attn;
}

#else /* not x86 */

void dfit_kern_init_avx2(struct dfit_kern *k)
{
    (void)k;
}

#endif
