/* sparse_model.c — a loaded model's sparse repacks (sparse.h): which
 * matrices to repack (from the dfit.prune.* metadata), repacking them on
 * the backend's threads into one arena, the load report's summary (which
 * fell back to dense and why), the kernels/DFIT_CPU_SPARSE switch, and the
 * forward pass's entry point that sends each product to the sparse driver
 * or the dense one.
 * Non-goals: the layouts (sparse_pack.c), the kernels (sparse_kern*.c).
 */
#include "cpu/sparse.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_PROJ 7 /* wq, wk, wv, wo, w_gate, w_up, w_down */

/* ---- a model's repacks ---------------------------------------------------------- */

bool dfit_sparse_wanted(const char *kernels, char *set, size_t n)
{
    bool on = true;
    if (kernels && strcmp(kernels, "dense") == 0) {
        kernels = "auto";
        on = false;
    }
    if (dfit_kern_option(kernels, "+dense", set, n))
        on = false;
    const char *env = getenv("DFIT_CPU_SPARSE");
    if (env && strcmp(env, "0") == 0)
        on = false;
    return on;
}

/* The weight behind slot i of s (i < n_layer*7: layer i/7, projection i%7;
 * else the output). */
static const struct dfit_weight *slot_weight(const struct dfit_model *m, int64_t i)
{
    if (i == (int64_t)m->hp.n_layer * N_PROJ)
        return &m->output;
    const struct dfit_llama_layer *L = &m->layers[i / N_PROJ];
    const struct dfit_weight *p[N_PROJ] = {&L->wq, &L->wk,     &L->wv,    &L->wo,
                                           &L->w_gate, &L->w_up, &L->w_down};
    return p[i % N_PROJ];
}

static struct dfit_sparse_mat **slot_ref(struct dfit_sparse *s, int64_t i)
{
    return i == (int64_t)s->m->hp.n_layer * N_PROJ ? &s->output : &s->layer[i];
}

const struct dfit_sparse_mat *dfit_sparse_find(const struct dfit_sparse *s,
                                               const struct dfit_weight *w)
{
    const struct dfit_model *m = s->m;
    if (w == &m->output)
        return s->output;
    const uintptr_t base = (uintptr_t)m->layers, p = (uintptr_t)w;
    const size_t ls = sizeof *m->layers;
    if (p < base || p >= base + (uintptr_t)m->hp.n_layer * ls)
        return NULL;
    const size_t il = (p - base) / ls, off = (p - base) % ls;
    static const size_t proj_off[N_PROJ] = {
        offsetof(struct dfit_llama_layer, wq),     offsetof(struct dfit_llama_layer, wk),
        offsetof(struct dfit_llama_layer, wv),     offsetof(struct dfit_llama_layer, wo),
        offsetof(struct dfit_llama_layer, w_gate), offsetof(struct dfit_llama_layer, w_up),
        offsetof(struct dfit_llama_layer, w_down)};
    for (int k = 0; k < N_PROJ; k++)
        if (off == proj_off[k])
            return s->layer[il * N_PROJ + (size_t)k];
    return NULL;
}

/* What the repack of one slot came to. */
enum slot_state { SLOT_SKIP, SLOT_TODO, SLOT_PACKED, SLOT_MISFIT, SLOT_NOPAY, SLOT_QUANT24 };

struct pack_job {
    struct dfit_sparse *s;
    enum dfit_sparse_layout *lay; /* [n_slot] */
    enum slot_state *state;       /* [n_slot] */
    int64_t n_slot;
    bool check_fraction; /* unstructured, scope matrix/row: each matrix holds S */
    double min_frac;     /* its zero fraction must reach this */
    int n_threads;
    atomic_long next;
    atomic_int nomem;
};

static void pack_one(struct pack_job *j, int64_t i)
{
    const struct dfit_weight *w = slot_weight(j->s->m, i);
    struct dfit_sparse_mat **sm = slot_ref(j->s, i);
    struct dfit_err err = {0};
    int rc = dfit_sparse_pack_in(w, j->lay[i], j->n_threads, j->s->arena, sm, &err);
    if (rc == DFIT_ENOMEM)
        atomic_store(&j->nomem, 1);
    j->state[i] = rc == 0                            ? SLOT_PACKED
                  : j->lay[i] == DFIT_SPARSE_BLOCKS ? SLOT_NOPAY
                                                     : SLOT_MISFIT;
    const double n = (double)w->n_in * (double)w->n_out;
    if (rc == 0 && j->check_fraction && n - (double)(*sm)->n_nonzero < j->min_frac * n) {
        dfit_sparse_mat_free(*sm); /* fewer zeros than declared */
        *sm = NULL;
        j->state[i] = SLOT_MISFIT;
    }
}

static void pack_worker(void *arg, int ith, int nth)
{
    (void)ith;
    (void)nth;
    struct pack_job *j = arg;
    for (;;) {
        long i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n_slot)
            break;
        if (j->state[i] == SLOT_TODO)
            pack_one(j, i);
    }
}

/* Appends "+LAYOUT(packed/declared[; dense: WHY])" for each layout used. */
static void make_summary(struct dfit_sparse *s, const struct pack_job *j)
{
    char *p = s->summary;
    size_t left = sizeof s->summary;
    for (int l = 0; l < DFIT_SPARSE_N_LAYOUT; l++) {
        int n_decl = 0, n_pack = 0;
        const char *why = NULL;
        for (int64_t i = 0; i < j->n_slot; i++) {
            if (j->state[i] == SLOT_SKIP || (int)j->lay[i] != l)
                continue;
            n_decl++;
            n_pack += j->state[i] == SLOT_PACKED;
            if (!why && j->state[i] == SLOT_MISFIT)
                why = slot_weight(s->m, i)->name;
            else if (!why && j->state[i] == SLOT_NOPAY)
                why = "few zero blocks";
            else if (!why && j->state[i] == SLOT_QUANT24)
                why = dfit_type_info(slot_weight(s->m, i)->type)->name;
        }
        if (n_decl == 0)
            continue;
        int w = why ? snprintf(p, left, "+%s(%d/%d; dense: %s)", dfit_sparse_layout_name(l),
                               n_pack, n_decl, why)
                    : snprintf(p, left, "+%s(%d/%d)", dfit_sparse_layout_name(l), n_pack, n_decl);
        if (w < 0 || (size_t)w >= left)
            break;
        p += w;
        left -= (size_t)w;
    }
}

void dfit_sparse_free(struct dfit_sparse *s)
{
    if (!s)
        return;
    if (s->layer)
        for (int64_t i = 0; i < (int64_t)s->m->hp.n_layer * N_PROJ; i++)
            dfit_sparse_mat_free(s->layer[i]);
    free(s->layer);
    dfit_sparse_mat_free(s->output);
    dfit_sparse_exec_free(s->exec);
    dfit_sparse_arena_free(s->arena);
    free(s);
}

/* Reads dfit.prune.*: 1 for a pattern to repack (layout, sparsity, scope
 * and include_output filled), 0 for none, or a negative DFIT_E*. */
static int read_pattern(const struct dfit_gguf *g, bool *is24, double *sparsity, bool *global,
                        bool *with_output, struct dfit_err *err)
{
    const struct dfit_gguf_str *pat = NULL, *scope = NULL;
    struct dfit_err e2 = {0};
    int rc = dfit_gguf_get_str(g, "dfit.prune.pattern", &pat, &e2);
    if (rc == DFIT_ENOTFOUND)
        return 0;
    if (rc)
        return dfit_err_set(err, rc, "%s", e2.msg);
    if (strcmp(pat->data, "unstructured") != 0 && strcmp(pat->data, "2:4") != 0)
        return 0; /* structured patterns shrink the matrices instead */
    *is24 = strcmp(pat->data, "2:4") == 0;
    float sp = 0.0f;
    rc = dfit_gguf_get_f32(g, "dfit.prune.sparsity", &sp, &e2);
    if (rc && rc != DFIT_ENOTFOUND)
        return dfit_err_set(err, rc, "%s", e2.msg);
    if (!(sp >= 0.0f && sp < 1.0f))
        return dfit_err_set(err, DFIT_EINVAL, "%s: key 'dfit.prune.sparsity': %g not in [0, 1)",
                            g->path, (double)sp);
    *sparsity = sp;
    *with_output = false;
    rc = dfit_gguf_get_bool(g, "dfit.prune.include_output", with_output, &e2);
    if (rc && rc != DFIT_ENOTFOUND)
        return dfit_err_set(err, rc, "%s", e2.msg);
    *global = dfit_gguf_get_str(g, "dfit.recipe.prune.scope", &scope, &e2) == 0 &&
              strcmp(scope->data, "global") == 0;
    return 1;
}

int dfit_sparse_create(const struct dfit_model *m, const char *kern_name,
                       struct dfit_threadpool *tp, int64_t n_tok_max, int64_t n_in_max,
                       struct dfit_sparse **out, struct dfit_err *err)
{
    *out = NULL;
    bool is24 = false, global = false, with_output = false;
    double sparsity = 0.0;
    int rc = read_pattern(m->gguf, &is24, &sparsity, &global, &with_output, err);
    if (rc <= 0)
        return rc;
    const int64_t n_slot = (int64_t)m->hp.n_layer * N_PROJ + 1;
    struct pack_job j = {.n_slot = n_slot, .n_threads = dfit_threadpool_size(tp)};
    struct dfit_sparse *s = calloc(1, sizeof *s);
    j.s = s;
    j.lay = calloc((size_t)n_slot, sizeof *j.lay);
    j.state = calloc((size_t)n_slot, sizeof *j.state);
    if (!s || !j.lay || !j.state)
        goto nomem;
    s->m = m;
    s->layer = calloc((size_t)(n_slot - 1) + 1, sizeof *s->layer);
    if (!s->layer)
        goto nomem;
    for (int64_t i = 0; i < n_slot; i++) {
        const struct dfit_weight *w = slot_weight(m, i);
        const bool fl = w->type == DFIT_TYPE_F32 || w->type == DFIT_TYPE_F16 ||
                        w->type == DFIT_TYPE_BF16;
        if (i == n_slot - 1 && !with_output) {
            j.state[i] = SLOT_SKIP;
            continue;
        }
        j.lay[i] = is24 ? DFIT_SPARSE_2_4 : fl ? DFIT_SPARSE_BITMAP : DFIT_SPARSE_BLOCKS;
        j.state[i] = is24 && !fl ? SLOT_QUANT24 : SLOT_TODO;
        s->n_declared++;
    }
    /* unstructured: each matrix must hold the declared fraction of zeros
     * (scope matrix and row zero exactly round(S*n) per matrix or row; the
     * global scope spreads them unevenly, so only the total is checked) */
    j.check_fraction = !is24 && !global;
    j.min_frac = sparsity - 0.005;
    if (!is24 && global) {
        double n = 0.0, nz = 0.0;
        for (int64_t i = 0; i < n_slot; i++)
            if (j.state[i] == SLOT_TODO) {
                const struct dfit_weight *w = slot_weight(m, i);
                n += (double)w->n_in * (double)w->n_out;
                nz += (double)dfit_sparse_count_nonzero(w);
            }
        if (n - nz < j.min_frac * n)
            for (int64_t i = 0; i < n_slot; i++)
                if (j.state[i] == SLOT_TODO)
                    j.state[i] = SLOT_MISFIT;
    }
    size_t cap = 0; /* bound: values <= the dense bytes, masks n/8, pads */
    for (int64_t i = 0; i < n_slot; i++)
        if (j.state[i] == SLOT_TODO) {
            const struct dfit_weight *w = slot_weight(m, i);
            cap += (size_t)w->row_bytes * (size_t)w->n_out +
                   (size_t)(w->n_in + 31) * (size_t)w->n_out / 8 + 512;
        }
    if (cap && !(s->arena = dfit_sparse_arena_create(cap)))
        goto nomem;
    atomic_init(&j.next, 0);
    atomic_init(&j.nomem, 0);
    dfit_threadpool_run(tp, pack_worker, &j);
    if (atomic_load(&j.nomem))
        goto nomem;

    s->kern = (struct dfit_sparse_kern){0};
    dfit_sparse_kern_init_scalar(&s->kern);
    if (kern_name && strncmp(kern_name, "avx512", 6) == 0)
        dfit_sparse_kern_init_avx512(&s->kern);
    for (int64_t i = 0; i < n_slot; i++) {
        const struct dfit_sparse_mat *sm = *slot_ref(s, i);
        if (!sm)
            continue;
        const struct dfit_weight *w = slot_weight(m, i);
        s->n_packed++;
        s->bytes += sm->bytes;
        s->dense_bytes += (uint64_t)w->row_bytes * (uint64_t)w->n_out;
    }
    make_summary(s, &j);
    if (s->n_packed > 0 &&
        (rc = dfit_sparse_exec_create(&s->kern, tp, n_tok_max, n_in_max, &s->exec,
                                      &s->scratch_bytes, err)))
        goto fail;
    free(j.lay);
    free(j.state);
    *out = s;
    return 0;
nomem:
    rc = dfit_err_set(err, DFIT_ENOMEM, "cpu backend: out of memory repacking pruned matrices");
fail:
    free(j.lay);
    free(j.state);
    dfit_sparse_free(s);
    return rc;
}

/* ---- products ---------------------------------------------------------------------- */

bool dfit_sparse_matmuls(struct dfit_sparse *s, struct dfit_mm *mm, int n, float *const out[],
                         const struct dfit_weight *const w[], const float *x, int64_t n_tok)
{
    const struct dfit_sparse_mat *sf[DFIT_MM_MAX_W], *sb[DFIT_MM_MAX_W];
    float *of[DFIT_MM_MAX_W], *ob[DFIT_MM_MAX_W], *od[DFIT_MM_MAX_W];
    const struct dfit_weight *wd[DFIT_MM_MAX_W];
    int nf = 0, nb = 0, nd = 0;
    for (int i = 0; i < n; i++) {
        const struct dfit_sparse_mat *sm = s->exec ? dfit_sparse_find(s, w[i]) : NULL;
        if (sm && sm->layout == DFIT_SPARSE_BLOCKS && n_tok >= DFIT_SPARSE_XT_MIN_TOK)
            sm = NULL; /* blocks serve decode; prefill keeps the dense VNNI gemm */
        if (sm && sm->layout != DFIT_SPARSE_BLOCKS) {
            sf[nf] = sm;
            of[nf++] = out[i];
        } else if (sm) {
            sb[nb] = sm;
            ob[nb++] = out[i];
        } else {
            wd[nd] = w[i];
            od[nd++] = out[i];
        }
    }
    if (nf + nb == 0)
        return false;
    const int64_t n_in = w[0]->n_in;
    struct dfit_act a;
    if (nf) {
        a = (struct dfit_act){.kind = DFIT_ACT_F32, .n_tok = n_tok, .n_in = n_in,
                              .row_bytes = (size_t)n_in * sizeof(float), .data = x};
        dfit_sparse_exec_run(s->exec, nf, of, sf, &a);
    }
    if (nb) {
        dfit_mm_prepare(mm, &a, x, n_tok, n_in, sb[0]->type);
        dfit_sparse_exec_run(s->exec, nb, ob, sb, &a);
    }
    /* the rest, dense: consecutive weights of one type share a preparation */
    for (int i = 0; i < nd;) {
        int k = i + 1;
        while (k < nd && wd[k]->type == wd[i]->type)
            k++;
        dfit_mm_prepare(mm, &a, x, n_tok, n_in, wd[i]->type);
        dfit_mm_run(mm, k - i, od + i, wd + i, &a);
        i = k;
    }
    return true;
}
