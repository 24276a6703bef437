/* sparse_kern.c — the portable sparse kernels (sparse.h) and the parallel
 * driver that runs any kernel set's:
 *   rows shape (decode): each compressed row walked once per 4 tokens,
 *     F32 sums in stored order; BLOCKS follows the reference's arithmetic
 *     exactly (integer block sums, then one float multiply-add per block,
 *     skipped blocks adding nothing), so it equals dfit_vec_dot_ref bit
 *     for bit;
 *   xt shape (prefill, from DFIT_SPARSE_XT_MIN_TOK tokens): activations
 *     transposed once per tile of up to DFIT_SPARSE_XT_TILE tokens (in
 *     parallel), then per work unit, rows unpacked a group at a time into
 *     the thread's buffer and swept over the tile 64 tokens at a time.
 * Work units (rows of about equal non-zero count, made at repack) of all
 * the matrices of one call are handed out from one atomic counter.
 * Non-goals: SIMD (sparse_kern_avx512.c), repacking (sparse_pack.c).
 */
#include "cpu/sparse.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Block products round as written, as in types.c: no fused multiply-add. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define ST 4            /* rows shape: tokens per pass over a row */
#define GROUP_ROWS 64   /* xt shape: most rows unpacked at once */
#define BUF_MIN 16384   /* xt shape: unpacked entries per thread, at least */

/* ---- element conversions ---------------------------------------------------- */

static inline float f32_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Value i of a float-format values array. */
static inline float val_at(const void *val, enum dfit_type t, uint64_t i)
{
    switch (t) {
    case DFIT_TYPE_F16: return dfit_fp16_to_f32(((const dfit_fp16 *)val)[i]);
    case DFIT_TYPE_BF16: return f32_bits((uint32_t)((const dfit_bf16 *)val)[i] << 16);
    default: return ((const float *)val)[i];
    }
}

static inline int ctz16(unsigned m)
{
    return __builtin_ctz(m);
}

/* ---- rows shape ------------------------------------------------------------------ */

static void rows_bitmap(float *out, int64_t ldo, const struct dfit_sparse_mat *s, int64_t r0,
                        int64_t r1, const struct dfit_act *a)
{
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *mk = s->mask + r * s->n_grp;
        for (int64_t t = 0; t < a->n_tok; t += ST) {
            const int nt = (int)(a->n_tok - t < ST ? a->n_tok - t : ST);
            const float *x[ST];
            for (int j = 0; j < nt; j++)
                x[j] = dfit_act_row(a, t + j);
            float acc[ST] = {0};
            uint64_t v = s->row_off[r];
            for (int64_t c = 0; c < s->n_grp; c++)
                for (unsigned m = mk[c]; m; m &= m - 1) {
                    const int64_t k = 16 * c + ctz16(m);
                    const float w = val_at(s->val, s->type, v++);
                    for (int j = 0; j < nt; j++)
                        acc[j] += w * x[j][k];
                }
            for (int j = 0; j < nt; j++)
                out[(t + j) * ldo + r] = acc[j];
        }
    }
}

/* Column of value i (< 16) of 2:4 word c with selector word sw. */
static inline int64_t col_24(int64_t c, uint32_t sw, int i)
{
    return 32 * c + 4 * (i / 2) + ((sw >> (2 * i)) & 3);
}

static void rows_24(float *out, int64_t ldo, const struct dfit_sparse_mat *s, int64_t r0,
                    int64_t r1, const struct dfit_act *a)
{
    const int64_t rv = s->n_grp * 16, n_real = s->n_in / 2;
    for (int64_t r = r0; r < r1; r++) {
        const uint32_t *sel = s->sel + r * s->n_grp;
        for (int64_t t = 0; t < a->n_tok; t += ST) {
            const int nt = (int)(a->n_tok - t < ST ? a->n_tok - t : ST);
            const float *x[ST];
            for (int j = 0; j < nt; j++)
                x[j] = dfit_act_row(a, t + j);
            float acc[ST] = {0};
            for (int64_t e = 0; e < n_real; e++) {
                const int64_t k = col_24(e / 16, sel[e / 16], (int)(e % 16));
                const float w = val_at(s->val, s->type, (uint64_t)(r * rv + e));
                for (int j = 0; j < nt; j++)
                    acc[j] += w * x[j][k];
            }
            for (int j = 0; j < nt; j++)
                out[(t + j) * ldo + r] = acc[j];
        }
    }
}

/* Integer dot of stored block i (block b of its row) with token t's
 * activation quants. */
static int32_t block_dot(const struct dfit_sparse_mat *s, uint64_t i, const int8_t *xq)
{
    int32_t sumi = 0;
    if (s->type == DFIT_TYPE_Q8_0) {
        const struct dfit_block_q8_0 *q = (const struct dfit_block_q8_0 *)s->val + i;
        for (int l = 0; l < DFIT_QK; l++)
            sumi += q->qs[l] * xq[l];
    } else {
        const struct dfit_block_q4_0 *q = (const struct dfit_block_q4_0 *)s->val + i;
        for (int l = 0; l < DFIT_QK / 2; l++)
            sumi += ((q->qs[l] & 0x0f) - 8) * xq[l] + ((q->qs[l] >> 4) - 8) * xq[l + 16];
    }
    return sumi;
}

static void rows_blocks(float *out, int64_t ldo, const struct dfit_sparse_mat *s, int64_t r0,
                        int64_t r1, const struct dfit_act *a)
{
    const size_t bb = s->type == DFIT_TYPE_Q8_0 ? sizeof(struct dfit_block_q8_0)
                                                : sizeof(struct dfit_block_q4_0);
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < a->n_tok; t++) {
            const int8_t *xq = dfit_act_q8_qs(a, t);
            const float *xd = dfit_act_q8_d(a, t);
            float acc = 0.0f;
            for (uint64_t i = s->row_off[r]; i < s->row_off[r + 1]; i++) {
                const int64_t b = s->blk[i];
                dfit_fp16 dh;
                memcpy(&dh, (const uint8_t *)s->val + i * bb, sizeof dh);
                const float dw = dfit_fp16_to_f32(dh);
                const float sumi = (float)block_dot(s, i, xq + b * DFIT_QK);
                if (s->type == DFIT_TYPE_Q8_0)
                    acc += sumi * (dw * xd[b]);
                else
                    acc += sumi * dw * xd[b];
            }
            out[t * ldo + r] = acc;
        }
}

/* ---- xt shape ------------------------------------------------------------------- */

static int64_t unpack(int32_t *idx, float *val, const struct dfit_sparse_mat *s, int64_t r)
{
    if (s->layout == DFIT_SPARSE_BITMAP) {
        const uint16_t *mk = s->mask + r * s->n_grp;
        uint64_t v = s->row_off[r];
        int64_t n = 0;
        for (int64_t c = 0; c < s->n_grp; c++)
            for (unsigned m = mk[c]; m; m &= m - 1) {
                idx[n] = (int32_t)(16 * c + ctz16(m));
                val[n++] = val_at(s->val, s->type, v++);
            }
        return n;
    }
    const int64_t rv = s->n_grp * 16, n_real = s->n_in / 2;
    const uint32_t *sel = s->sel + r * s->n_grp;
    for (int64_t e = 0; e < n_real; e++) {
        idx[e] = (int32_t)col_24(e / 16, sel[e / 16], (int)(e % 16));
        val[e] = val_at(s->val, s->type, (uint64_t)(r * rv + e));
    }
    return n_real;
}

static void xt_rows(float *out, int64_t ldo, int n_rows, const int64_t *row, const int64_t *beg,
                    const int32_t *idx, const float *val, const float *xt, int64_t ldx,
                    int64_t n_tok)
{
    for (int64_t t = 0; t < n_tok; t += 16) {
        const int nt = (int)(n_tok - t < 16 ? n_tok - t : 16);
        for (int i = 0; i < n_rows; i++) {
            float acc[16] = {0};
            for (int64_t e = beg[i]; e < beg[i + 1]; e++) {
                const float v = val[e], *xr = xt + (int64_t)idx[e] * ldx + t;
                for (int l = 0; l < 16; l++)
                    acc[l] += v * xr[l];
            }
            for (int l = 0; l < nt; l++)
                out[(t + l) * ldo + row[i]] = acc[l];
        }
    }
}

void dfit_sparse_kern_init_scalar(struct dfit_sparse_kern *k)
{
    memset(k, 0, sizeof *k);
    strcpy(k->name, "scalar");
    k->rows[DFIT_SPARSE_BITMAP] = rows_bitmap;
    k->rows[DFIT_SPARSE_2_4] = rows_24;
    k->rows[DFIT_SPARSE_BLOCKS] = rows_blocks;
    k->unpack = unpack;
    k->xt_rows = xt_rows;
}

/* ---- the driver ------------------------------------------------------------------ */

struct run_task {
    int n;
    float *out[DFIT_MM_MAX_W];
    const struct dfit_sparse_mat *s[DFIT_MM_MAX_W];
    long first_unit[DFIT_MM_MAX_W + 1];
    const struct dfit_act *a;
    bool xt;          /* xt shape over tokens [t0, t0 + n_tok) */
    int64_t t0, n_tok, ldx;
    const float *x;   /* xt transpose: F32 rows [..][n_in] */
    int64_t n_in;
    atomic_long next;
};

struct dfit_sparse_exec {
    const struct dfit_sparse_kern *k;
    struct dfit_threadpool *tp;
    int n_threads;
    int64_t n_tok_max, n_in_max;
    int64_t tile;   /* xt tile tokens, a multiple of 16 */
    float *xt;      /* [n_in_max][tile] */
    int64_t cap;    /* unpacked entries per thread */
    int32_t *idx;   /* [n_threads][cap] */
    float *val;     /* [n_threads][cap] */
    struct run_task task;
};

void dfit_sparse_exec_free(struct dfit_sparse_exec *e)
{
    if (!e)
        return;
    free(e->xt);
    free(e->idx);
    free(e->val);
    free(e);
}

int dfit_sparse_exec_create(const struct dfit_sparse_kern *k, struct dfit_threadpool *tp,
                            int64_t n_tok_max, int64_t n_in_max, struct dfit_sparse_exec **out,
                            uint64_t *bytes, struct dfit_err *err)
{
    *out = NULL;
    struct dfit_sparse_exec *e = calloc(1, sizeof *e);
    if (!e)
        goto nomem;
    e->k = k;
    e->tp = tp;
    e->n_threads = dfit_threadpool_size(tp);
    e->n_tok_max = n_tok_max;
    e->n_in_max = n_in_max;
    e->tile = (n_tok_max + 15) / 16 * 16;
    if (e->tile > DFIT_SPARSE_XT_TILE)
        e->tile = DFIT_SPARSE_XT_TILE;
    e->cap = n_in_max + 16 > BUF_MIN ? n_in_max + 16 : BUF_MIN;
    const size_t xt_bytes = (size_t)(e->tile * n_in_max) * sizeof(float);
    const size_t buf = (size_t)e->cap * (size_t)e->n_threads;
    e->xt = aligned_alloc(64, (xt_bytes + 63) / 64 * 64);
    e->idx = malloc(buf * sizeof *e->idx);
    e->val = malloc(buf * sizeof *e->val);
    if (!e->xt || !e->idx || !e->val)
        goto nomem;
    if (bytes)
        *bytes = xt_bytes + buf * (sizeof *e->idx + sizeof *e->val);
    *out = e;
    return 0;
nomem:
    dfit_sparse_exec_free(e);
    return dfit_err_set(err, DFIT_ENOMEM,
                        "cpu backend: cannot allocate sparse scratch for %lld tokens of %lld",
                        (long long)n_tok_max, (long long)n_in_max);
}

/* xt[j][t] = x[t0 + t][j] for this worker's 16-column slices, zero past
 * n_tok; 16x16 blocks keep both sides in cache. */
static void transpose_worker(void *arg, int ith, int nth)
{
    struct dfit_sparse_exec *e = arg;
    const struct run_task *t = &e->task;
    long lo, hi;
    dfit_split_range((long)((t->n_in + 15) / 16), ith, nth, &lo, &hi);
    for (int64_t j0 = lo * 16; j0 < hi * 16 && j0 < t->n_in; j0 += 16) {
        const int64_t nj = t->n_in - j0 < 16 ? t->n_in - j0 : 16;
        for (int64_t t0 = 0; t0 < t->ldx; t0 += 16)
            for (int64_t j = j0; j < j0 + nj; j++)
                for (int64_t i = t0; i < t0 + 16; i++)
                    e->xt[j * t->ldx + i] = i < t->n_tok ? t->x[(t->t0 + i) * t->n_in + j] : 0.0f;
    }
}

/* The xt shape over rows [r0, r1) of s: unpacked in groups that fit the
 * thread's buffer, each group swept over the tile. */
static void run_xt(struct dfit_sparse_exec *e, int ith, float *out, const struct dfit_sparse_mat *s,
                   int64_t r0, int64_t r1)
{
    const struct run_task *t = &e->task;
    int32_t *idx = e->idx + (size_t)ith * (size_t)e->cap;
    float *val = e->val + (size_t)ith * (size_t)e->cap;
    int64_t row[GROUP_ROWS], beg[GROUP_ROWS + 1];
    const int64_t most = s->layout == DFIT_SPARSE_2_4 ? s->n_in / 2 : s->n_in;
    for (int64_t r = r0; r < r1;) {
        int n = 0;
        beg[0] = 0;
        while (r < r1 && n < GROUP_ROWS && beg[n] + most + 16 <= e->cap) {
            row[n] = r;
            beg[n + 1] = beg[n] + e->k->unpack(idx + beg[n], val + beg[n], s, r);
            n++;
            r++;
        }
        e->k->xt_rows(out + t->t0 * s->n_out, s->n_out, n, row, beg, idx, val, e->xt, t->ldx,
                      t->n_tok);
    }
}

static void run_worker(void *arg, int ith, int nth)
{
    (void)nth;
    struct dfit_sparse_exec *e = arg;
    struct run_task *t = &e->task;
    int wi = 0;
    for (;;) {
        long u = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (u >= t->first_unit[t->n])
            break;
        while (u >= t->first_unit[wi + 1])
            wi++;
        const struct dfit_sparse_mat *s = t->s[wi];
        const int64_t r0 = s->unit_row[u - t->first_unit[wi]];
        const int64_t r1 = s->unit_row[u - t->first_unit[wi] + 1];
        if (t->xt)
            run_xt(e, ith, t->out[wi], s, r0, r1);
        else
            e->k->rows[s->layout](t->out[wi], s->n_out, s, r0, r1, t->a);
    }
}

void dfit_sparse_exec_run(struct dfit_sparse_exec *e, int n, float *const out[],
                          const struct dfit_sparse_mat *const s[], const struct dfit_act *a)
{
    assert(n >= 1 && n <= DFIT_MM_MAX_W && a->n_tok <= e->n_tok_max && a->n_in <= e->n_in_max);
    struct run_task *t = &e->task;
    t->n = n;
    t->a = a;
    t->first_unit[0] = 0;
    for (int i = 0; i < n; i++) {
        assert(s[i]->n_in == a->n_in &&
               (s[i]->layout == DFIT_SPARSE_BLOCKS) == (a->kind == DFIT_ACT_Q8));
        t->out[i] = out[i];
        t->s[i] = s[i];
        t->first_unit[i + 1] = t->first_unit[i] + (long)s[i]->n_unit;
    }
    t->xt = a->kind == DFIT_ACT_F32 && a->n_tok >= DFIT_SPARSE_XT_MIN_TOK;
    if (!t->xt) {
        atomic_store_explicit(&t->next, 0, memory_order_relaxed);
        dfit_threadpool_run(e->tp, run_worker, e);
        return;
    }
    /* xt: one transpose and one parallel region per tile of tokens */
    t->x = a->data;
    t->n_in = a->n_in;
    assert(a->row_bytes == (size_t)a->n_in * sizeof(float));
    for (t->t0 = 0; t->t0 < a->n_tok; t->t0 += e->tile) {
        t->n_tok = a->n_tok - t->t0 < e->tile ? a->n_tok - t->t0 : e->tile;
        t->ldx = (t->n_tok + 15) / 16 * 16;
        dfit_threadpool_run(e->tp, transpose_worker, e);
        atomic_store_explicit(&t->next, 0, memory_order_relaxed);
        dfit_threadpool_run(e->tp, run_worker, e);
    }
}
