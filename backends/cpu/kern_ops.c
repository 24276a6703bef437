/* kern_ops.c — the fast forward pass's non-matmul operators (see
 * matmul.h): RMSNorm, SwiGLU and residual adds split over tokens or
 * element ranges, RoPE from a per-batch angle table, and attention over
 * (token, head) pairs handed out dynamically (causal prefill gives later
 * tokens more work). Small inputs run on the calling thread: a parallel
 * region costs more than a few thousand elements of work.
 * Non-goals: the kernels themselves (kernels.h), fusing with matmuls.
 */
#include "cpu/matmul.h"

#include <math.h>
#include <stdatomic.h>

#define PAR_MIN_ELEMS (64 * 1024) /* below this, elementwise ops run inline */

static void run(struct dfit_threadpool *tp, bool parallel, dfit_task_fn fn, void *arg)
{
    if (parallel && dfit_threadpool_size(tp) > 1)
        dfit_threadpool_run(tp, fn, arg);
    else
        fn(arg, 0, 1);
}

/* ---- RMSNorm ------------------------------------------------------------------ */

struct rmsnorm_task {
    const struct dfit_kern *k;
    float *out;
    const float *x, *w;
    int64_t n_tok, n;
    float eps;
};

static void rmsnorm_worker(void *arg, int ith, int nth)
{
    const struct rmsnorm_task *t = arg;
    long lo, hi;
    dfit_split_range((long)t->n_tok, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++)
        t->k->rmsnorm(t->out + i * t->n, t->x + i * t->n, t->w, t->n, t->eps);
}

void dfit_kops_rmsnorm(const struct dfit_kern *k, struct dfit_threadpool *tp, float *out,
                       const float *x, const float *w, int64_t n_tok, int64_t n, float eps)
{
    struct rmsnorm_task t = {k, out, x, w, n_tok, n, eps};
    run(tp, n_tok * n >= PAR_MIN_ELEMS, rmsnorm_worker, &t);
}

/* ---- elementwise --------------------------------------------------------------- */

struct elem_task {
    const struct dfit_kern *k;
    float *out;
    const float *a, *b;
    int64_t n;
};

/* Splits [0, n) on multiples of 64 elements. */
static void elem_range(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi)
{
    long l, h;
    dfit_split_range((long)((n + 63) / 64), ith, nth, &l, &h);
    *lo = (int64_t)l * 64;
    *hi = (int64_t)h * 64 < n ? (int64_t)h * 64 : n;
}

static void swiglu_worker(void *arg, int ith, int nth)
{
    const struct elem_task *t = arg;
    int64_t lo, hi;
    elem_range(t->n, ith, nth, &lo, &hi);
    if (hi > lo)
        t->k->swiglu(t->out + lo, t->a + lo, t->b + lo, hi - lo);
}

void dfit_kops_swiglu(const struct dfit_kern *k, struct dfit_threadpool *tp, float *out,
                      const float *gate, const float *up, int64_t n)
{
    struct elem_task t = {k, out, gate, up, n};
    run(tp, n >= PAR_MIN_ELEMS, swiglu_worker, &t);
}

static void add_worker(void *arg, int ith, int nth)
{
    const struct elem_task *t = arg;
    int64_t lo, hi;
    elem_range(t->n, ith, nth, &lo, &hi);
    if (hi > lo)
        t->k->add(t->out + lo, t->a + lo, hi - lo);
}

void dfit_kops_add(const struct dfit_kern *k, struct dfit_threadpool *tp, float *out,
                   const float *x, int64_t n)
{
    struct elem_task t = {k, out, x, NULL, n};
    run(tp, n >= 4 * PAR_MIN_ELEMS, add_worker, &t);
}

/* ---- RoPE ---------------------------------------------------------------------- */

void dfit_kops_rope_table(float *cs, const int32_t *pos, int64_t n_tok, int head_dim,
                          float freq_base)
{
    for (int i = 0; i < head_dim / 2; i++) {
        /* the reference's angle, to the bit */
        const double inv_freq = pow((double)freq_base, -2.0 * i / head_dim);
        for (int64_t t = 0; t < n_tok; t++) {
            double theta = (double)pos[t] * inv_freq;
            cs[(t * (head_dim / 2) + i) * 2] = (float)cos(theta);
            cs[(t * (head_dim / 2) + i) * 2 + 1] = (float)sin(theta);
        }
    }
}

void dfit_kops_rope(float *x, int n_head, int head_dim, const float *cs)
{
    for (int h = 0; h < n_head; h++) {
        float *p = x + (int64_t)h * head_dim;
        for (int i = 0; i < head_dim / 2; i++) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            const float x0 = p[2 * i], x1 = p[2 * i + 1];
            p[2 * i] = x0 * c - x1 * s;
            p[2 * i + 1] = x0 * s + x1 * c;
        }
    }
}

/* ---- attention ------------------------------------------------------------------ */

struct attn_task {
    const struct dfit_kern *k;
    float *out;
    const float *q;
    const float *const *kt;
    const float *const *vc;
    const int64_t *n_kv;
    const int32_t *tiles; /* [n_tiles + 1] first token of each tile, then n_tok */
    long n_tiles;
    int n_head, n_head_kv, head_dim;
    int64_t kt_stride;
    float *att;
    int64_t att_stride;
    atomic_long next;
};

static void attn_worker(void *arg, int ith, int nth)
{
    (void)nth;
    struct attn_task *t = arg;
    const int64_t q_dim = (int64_t)t->n_head * t->head_dim;
    const int group = t->n_head / t->n_head_kv;
    const float scale = (float)(1.0 / sqrt((double)t->head_dim));
    float *att = t->att + (int64_t)ith * DFIT_ATTN_QT * t->att_stride;
    const long n_items = t->n_tiles * t->n_head;
    for (;;) {
        long p = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (p >= n_items)
            break;
        /* from the end: the longest rows (last tokens) first */
        p = n_items - 1 - p;
        const long tile = p / t->n_head;
        const int h = (int)(p % t->n_head), kvh = h / group;
        const int64_t i = t->tiles[tile];
        const int nq = (int)(t->tiles[tile + 1] - i);
        t->k->attn(t->out + i * q_dim + (int64_t)h * t->head_dim, q_dim,
                   t->q + i * q_dim + (int64_t)h * t->head_dim, q_dim, nq, t->n_kv + i,
                   t->kt[i] + (int64_t)kvh * t->head_dim * t->kt_stride, t->kt_stride,
                   t->vc[i] + (int64_t)kvh * t->kt_stride * t->head_dim, t->head_dim,
                   t->head_dim, scale, att, t->att_stride);
    }
}

void dfit_kops_attention(const struct dfit_kern *k, struct dfit_threadpool *tp, float *out,
                         const float *q, const float *const *kt, const float *const *vc,
                         const int64_t *n_kv, int64_t n_tok, int n_head, int n_head_kv,
                         int head_dim, int64_t kt_stride, int32_t *tiles, float *att,
                         int64_t att_stride)
{
    /* tiles: runs of up to DFIT_ATTN_QT consecutive tokens of one sequence */
    long n_tiles = 0;
    for (int64_t i = 0; i < n_tok;) {
        int64_t len = 1;
        while (i + len < n_tok && len < DFIT_ATTN_QT && kt[i + len] == kt[i])
            len++;
        tiles[n_tiles++] = (int32_t)i;
        i += len;
    }
    tiles[n_tiles] = (int32_t)n_tok;
    struct attn_task t = {k,      out,       q,        kt,        vc,  n_kv,       tiles, n_tiles,
                          n_head, n_head_kv, head_dim, kt_stride, att, att_stride, 0};
    int64_t work = 0;
    for (int64_t i = 0; i < n_tok; i++)
        work += n_kv[i];
    /* decode over a short context: less work than a parallel region costs */
    run(tp, work * n_head * head_dim >= 128 * 1024, attn_worker, &t);
}
