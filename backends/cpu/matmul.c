/* matmul.c — kernel-set selection and the matrix-product driver (see
 * kernels.h and matmul.h): activation preparation, the choice between the
 * rows and gemm shapes, and the split of output rows over the thread pool.
 * Non-goals: the kernels themselves (kern_*.c), the non-matmul operators
 * (kern_ops.c).
 */
#include "cpu/matmul.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- formats and activation layouts ---------------------------------------- */

int dfit_kfmt_of(enum dfit_type t)
{
    if (t == DFIT_TYPE_Q4_0_X4)
        return DFIT_KFMT_Q4_0_X4;
    switch (t) {
    case DFIT_TYPE_F32: return DFIT_KFMT_F32;
    case DFIT_TYPE_F16: return DFIT_KFMT_F16;
    case DFIT_TYPE_BF16: return DFIT_KFMT_BF16;
    case DFIT_TYPE_Q8_0: return DFIT_KFMT_Q8_0;
    case DFIT_TYPE_Q4_0: return DFIT_KFMT_Q4_0;
    }
    return -1;
}

static size_t round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

size_t dfit_act_row_bytes(enum dfit_act_kind kind, int64_t n_in)
{
    switch (kind) {
    case DFIT_ACT_F32: return (size_t)n_in * sizeof(float);
    case DFIT_ACT_BF16: return round_up((size_t)n_in, 32) * sizeof(dfit_bf16);
    case DFIT_ACT_Q8: {
        size_t nb = (size_t)n_in / DFIT_QK;
        return round_up((size_t)n_in + nb * sizeof(float) + nb * sizeof(int32_t), 64);
    }
    }
    return 0;
}

/* ---- selection ----------------------------------------------------------------- */

struct feature_need {
    bool have;
    const char *name;
};

/* 0 if every need is met, else DFIT_EUNSUPPORTED naming the first missing. */
static int check_needs(const char *set, const struct feature_need *need, size_t n,
                       struct dfit_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (!need[i].have)
            return dfit_err_set(err, DFIT_EUNSUPPORTED,
                                "cpu backend: kernels '%s' need %s, which this CPU lacks (or "
                                "DFIT_CPU_FEATURES hides)",
                                set, need[i].name);
    return 0;
}

void dfit_q4_0_x4_repack(uint8_t *dst, const uint8_t *src, size_t row_bytes, int64_t n_in,
                         int64_t r0, int64_t r1)
{
    const int64_t n_grp = n_in / (4 * DFIT_QK);
    for (int64_t r = r0; r < r1; r++) {
        const struct dfit_block_q4_0 *blk =
            (const struct dfit_block_q4_0 *)(src + (size_t)r * row_bytes);
        uint8_t *g = dst + (size_t)r * row_bytes;
        for (int64_t gi = 0; gi < n_grp; gi++, blk += 4, g += DFIT_Q4_0_X4_GROUP)
            for (int i = 0; i < 4; i++) {
                memcpy(g + 16 * i, blk[i].qs, 16);
                memcpy(g + 64 + 2 * i, &blk[i].d, 2);
            }
    }
}

bool dfit_kern_option(const char *kernels, const char *suffix, char *set, size_t n)
{
    const char *k = kernels && kernels[0] ? kernels : "auto";
    size_t len = strlen(k);
    const size_t ls = strlen(suffix);
    const bool has = len > ls && strcmp(k + len - ls, suffix) == 0;
    if (has)
        len -= ls;
    if (n > 0)
        snprintf(set, n, "%.*s", (int)len, k);
    return has;
}

int dfit_kern_select(const char *want, const struct dfit_cpu_features *f, struct dfit_kern *out,
                     struct dfit_err *err)
{
    const struct feature_need avx2[] = {{f->avx2, "avx2"}, {f->fma, "fma"}, {f->f16c, "f16c"}};
    const struct feature_need avx512[] = {{f->avx2, "avx2"},         {f->fma, "fma"},
                                          {f->f16c, "f16c"},         {f->avx512f, "avx512f"},
                                          {f->avx512bw, "avx512bw"}, {f->avx512vl, "avx512vl"},
                                          {f->avx512dq, "avx512dq"}};
    const size_t n2 = sizeof avx2 / sizeof avx2[0], n512 = sizeof avx512 / sizeof avx512[0];
    int level;
    if (!want || !want[0] || strcmp(want, "auto") == 0) {
        level = check_needs("avx512", avx512, n512, NULL) == 0 ? 2
                : check_needs("avx2", avx2, n2, NULL) == 0     ? 1
                                                               : 0;
    } else if (strcmp(want, "scalar") == 0) {
        level = 0;
    } else if (strcmp(want, "avx2") == 0) {
        int rc = check_needs(want, avx2, n2, err);
        if (rc)
            return rc;
        level = 1;
    } else if (strcmp(want, "avx512") == 0) {
        int rc = check_needs(want, avx512, n512, err);
        if (rc)
            return rc;
        level = 2;
    } else {
        return dfit_err_set(err, DFIT_EUNSUPPORTED,
                            "cpu backend: kernels '%.64s' not supported (choices: auto, ref, "
                            "scalar, avx2, avx512)",
                            want);
    }
    dfit_kern_init_scalar(out);
    if (level >= 1)
        dfit_kern_init_avx2(out);
    if (level >= 2) {
        dfit_kern_init_avx512(out, f);
        dfit_kern_init_avx512_quant(out, f);
    }
    return 0;
}

/* ---- the driver ------------------------------------------------------------------ */

struct mm_task {
    struct dfit_mm *mm;
    const struct dfit_act *a;
    const struct dfit_kern_fmt *fmt;
    bool gemm;
    int n;
    float *out[DFIT_MM_MAX_W];
    const struct dfit_weight *w[DFIT_MM_MAX_W];
    long first_unit[DFIT_MM_MAX_W + 1]; /* units of weight i: [first[i], first[i+1]) */
    int64_t chunk;                      /* rows per unit */
    atomic_long next;                   /* next unit to hand out */
};

struct prep_task {
    struct dfit_mm *mm;
    struct dfit_act *a;
    const float *x; /* [n_tok][n_in] */
};

struct dfit_mm {
    const struct dfit_kern *k;
    struct dfit_threadpool *tp;
    int n_threads;
    int64_t n_tok_max, n_in_max;
    uint8_t *act;    /* [n_tok_max] prepared rows */
    uint8_t *panels; /* [n_threads][panel_bytes] */
    size_t panel_bytes;
    struct mm_task task;
};

void dfit_mm_free(struct dfit_mm *mm)
{
    if (!mm)
        return;
    free(mm->act);
    free(mm->panels);
    free(mm);
}

int dfit_mm_create(const struct dfit_kern *k, struct dfit_threadpool *tp, int64_t n_tok_max,
                   int64_t n_in_max, struct dfit_mm **out, uint64_t *bytes, struct dfit_err *err)
{
    *out = NULL;
    struct dfit_mm *mm = calloc(1, sizeof *mm);
    if (!mm)
        goto nomem;
    mm->k = k;
    mm->tp = tp;
    mm->n_threads = dfit_threadpool_size(tp);
    mm->n_tok_max = n_tok_max;
    mm->n_in_max = n_in_max;
    size_t row = dfit_act_row_bytes(DFIT_ACT_Q8, n_in_max);
    size_t row_bf16 = dfit_act_row_bytes(DFIT_ACT_BF16, n_in_max);
    if (row_bf16 > row)
        row = row_bf16;
    size_t act_bytes = round_up(row * (size_t)n_tok_max, 64);
    mm->act = aligned_alloc(64, act_bytes);
    for (int f = 0; f < DFIT_KFMT_COUNT; f++)
        if (k->fmt[f].panel_rows > 0) {
            size_t pb = round_up(k->fmt[f].panel_bytes(n_in_max), 64);
            if (pb > mm->panel_bytes)
                mm->panel_bytes = pb;
        }
    if (mm->panel_bytes)
        mm->panels = aligned_alloc(64, mm->panel_bytes * (size_t)mm->n_threads);
    if (!mm->act || (mm->panel_bytes && !mm->panels))
        goto nomem;
    if (bytes)
        *bytes = act_bytes + mm->panel_bytes * (size_t)mm->n_threads;
    *out = mm;
    return 0;
nomem:
    dfit_mm_free(mm);
    return dfit_err_set(err, DFIT_ENOMEM,
                        "cpu backend: cannot allocate matmul scratch for %lld tokens of %lld",
                        (long long)n_tok_max, (long long)n_in_max);
}

static void prep_rows(struct prep_task *p, long lo, long hi)
{
    const struct dfit_kern *k = p->mm->k;
    struct dfit_act *a = p->a;
    uint8_t *dst = (uint8_t *)p->mm->act;
    for (long t = lo; t < hi; t++) {
        const float *x = p->x + t * a->n_in;
        if (a->kind == DFIT_ACT_Q8)
            k->quantize_q8(dst + (size_t)t * a->row_bytes, x, a->n_in, a->q_off);
        else
            k->to_bf16((dfit_bf16 *)(dst + (size_t)t * a->row_bytes), x, a->n_in);
    }
}

static void prep_worker(void *arg, int ith, int nth)
{
    struct prep_task *p = arg;
    long lo, hi;
    dfit_split_range((long)p->a->n_tok, ith, nth, &lo, &hi);
    prep_rows(p, lo, hi);
}

void dfit_mm_prepare(struct dfit_mm *mm, struct dfit_act *a, const float *x, int64_t n_tok,
                     int64_t n_in, enum dfit_type t)
{
    assert(n_tok <= mm->n_tok_max && n_in <= mm->n_in_max && dfit_kfmt_of(t) >= 0);
    const struct dfit_kern_fmt *fmt = &mm->k->fmt[dfit_kfmt_of(t)];
    a->kind = fmt->act;
    a->q_off = fmt->q_off;
    a->n_tok = n_tok;
    a->n_in = n_in;
    a->row_bytes = dfit_act_row_bytes(fmt->act, n_in);
    if (fmt->act == DFIT_ACT_F32) {
        a->data = x;
        return;
    }
    a->data = mm->act;
    struct prep_task p = {mm, a, x};
    if (n_tok >= 8 && mm->n_threads > 1)
        dfit_threadpool_run(mm->tp, prep_worker, &p);
    else
        prep_rows(&p, 0, (long)n_tok);
}

static void mm_worker(void *arg, int ith, int nth)
{
    (void)nth;
    struct mm_task *t = arg;
    const struct dfit_kern_fmt *fmt = t->fmt;
    const struct dfit_act *a = t->a;
    int wi = 0;
    for (;;) {
        long u = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
        if (u >= t->first_unit[t->n])
            break;
        while (u >= t->first_unit[wi + 1])
            wi++;
        const struct dfit_weight *w = t->w[wi];
        int64_t r0 = (int64_t)(u - t->first_unit[wi]) * t->chunk;
        int64_t r1 = r0 + t->chunk < w->n_out ? r0 + t->chunk : w->n_out;
        if (!t->gemm) {
            fmt->rows(t->out[wi], w->n_out, w, r0, r1, a, 0, a->n_tok);
            continue;
        }
        void *panel = t->mm->panels + (size_t)ith * t->mm->panel_bytes;
        for (int64_t p = r0; p < r1; p += fmt->panel_rows) {
            int nr = (int)(r1 - p < fmt->panel_rows ? r1 - p : fmt->panel_rows);
            fmt->pack(panel, w, p, nr);
            fmt->gemm(t->out[wi] + p, w->n_out, panel, nr, a, 0, a->n_tok);
        }
    }
}

void dfit_mm_run(struct dfit_mm *mm, int n, float *const out[], const struct dfit_weight *const w[],
                 const struct dfit_act *a)
{
    assert(n >= 1 && n <= DFIT_MM_MAX_W);
    struct mm_task *t = &mm->task;
    t->mm = mm;
    t->a = a;
    t->fmt = &mm->k->fmt[dfit_kfmt_of(w[0]->type)];
    t->gemm = t->fmt->panel_rows > 0 && a->n_tok >= t->fmt->gemm_min_tok;
    t->n = n;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        assert(w[i]->type == w[0]->type && w[i]->n_in == a->n_in);
        t->out[i] = out[i];
        t->w[i] = w[i];
        total += w[i]->n_out;
    }
    if (t->gemm) {
        t->chunk = t->fmt->panel_rows;
    } else {
        /* about 8 units per thread, whole multiples of 16 rows */
        int64_t c = total / ((int64_t)mm->n_threads * 8);
        c = c < 16 ? 16 : c > 512 ? 512 : c;
        t->chunk = (c + 15) / 16 * 16;
    }
    t->first_unit[0] = 0;
    for (int i = 0; i < n; i++)
        t->first_unit[i + 1] = t->first_unit[i] + (long)((w[i]->n_out + t->chunk - 1) / t->chunk);
    atomic_store_explicit(&t->next, 0, memory_order_relaxed);
    dfit_threadpool_run(mm->tp, mm_worker, t);
}

void dfit_mm_matmul(struct dfit_mm *mm, float *out, const struct dfit_weight *w, const float *x,
                    int64_t n_tok)
{
    struct dfit_act a;
    dfit_mm_prepare(mm, &a, x, n_tok, w->n_in, w->type);
    dfit_mm_run(mm, 1, &out, &w, &a);
}
