/* resident.c — copies the matrices the fast path streams into anonymous
 * memory on transparent huge pages (resident.h says why and what). */
#include "cpu/resident.h"

#include "cpu/kernels.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((size_t)2 << 20)
#define ALIGN 64

bool dfit_resident_wanted(const char *kernels, char *set, size_t n)
{
    bool on = !dfit_kern_option(kernels, "+mmap", set, n);
    const char *env = getenv("DFIT_CPU_RESIDENT");
    if (env && strcmp(env, "0") == 0)
        on = false;
    return on;
}

/* The matrices a forward pass streams, in a fixed order: the source's in
 * sw, the copy's in dw. Returns how many (n_layer * 7 + 1). */
static int streamed(const struct dfit_model *src, struct dfit_model *dst,
                    const struct dfit_weight **sw, struct dfit_weight **dw)
{
    int n = 0;
    for (uint32_t il = 0; il < src->hp.n_layer; il++) {
        const struct dfit_llama_layer *S = &src->layers[il];
        struct dfit_llama_layer *D = &dst->layers[il];
        const struct dfit_weight *s[] = {&S->wq, &S->wk, &S->wv, &S->wo,
                                         &S->w_gate, &S->w_up, &S->w_down};
        struct dfit_weight *d[] = {&D->wq, &D->wk, &D->wv, &D->wo, &D->w_gate, &D->w_up, &D->w_down};
        for (size_t k = 0; k < sizeof s / sizeof s[0]; k++) {
            sw[n] = s[k];
            dw[n++] = d[k];
        }
    }
    /* tied: the token embedding's bytes, read whole by the output product;
     * the copy's tok_embd keeps the mapping for its one-row lookups */
    sw[n] = &src->output;
    dw[n++] = &dst->output;
    return n;
}

struct copy_job {
    struct dfit_weight **w;  /* the copy's weights, data still pointing at the source */
    uint8_t **dst;           /* [n] destination of each */
    bool *x4;                /* [n] regroup this Q4_0 matrix (kernels.h) rather than copy */
    int n;
    bool release;            /* MADV_DONTNEED the source ranges afterwards */
};

static size_t weight_bytes(const struct dfit_weight *w)
{
    return (size_t)w->n_out * w->row_bytes;
}

/* Each worker copies its share of every matrix, so the copy is spread
 * evenly whatever the sizes; first touch is the copy itself. */
static void copy_task(void *arg, int ith, int nth)
{
    const struct copy_job *j = arg;
    const long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < j->n; i++) {
        const struct dfit_weight *w = j->w[i];
        const size_t nb = weight_bytes(w);
        const uint8_t *src = w->data;
        long lo, hi;
        size_t a, b;
        if (j->x4[i]) { /* whole rows */
            dfit_split_range((long)w->n_out, ith, nth, &lo, &hi);
            dfit_q4_0_x4_repack(j->dst[i], src, w->row_bytes, w->n_in, lo, hi);
            a = (size_t)lo * w->row_bytes;
            b = (size_t)hi * w->row_bytes;
        } else { /* pages */
            dfit_split_range((long)((nb + 4095) / 4096), ith, nth, &lo, &hi);
            a = (size_t)lo * 4096;
            b = (size_t)hi * 4096 < nb ? (size_t)hi * 4096 : nb;
            if (a < b)
                memcpy(j->dst[i] + a, src + a, b - a);
        }
        if (a >= b)
            continue;
        if (j->release && page > 0) {
            /* whole pages inside [a, b) only: a neighbour may still be read */
            uintptr_t s = ((uintptr_t)(src + a) + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
            uintptr_t e = (uintptr_t)(src + b) & ~((uintptr_t)page - 1);
            if (e > s)
                (void)madvise((void *)s, e - s, MADV_DONTNEED);
        }
    }
}

int dfit_resident_create(const struct dfit_model *m, struct dfit_threadpool *tp, bool q4_x4,
                         bool (*skip)(void *user, const struct dfit_weight *w), void *user,
                         struct dfit_resident **out, struct dfit_err *err)
{
    *out = NULL;
    struct dfit_resident *r = calloc(1, sizeof *r);
    const int cap = (int)m->hp.n_layer * 7 + 1;
    struct dfit_weight **w = calloc((size_t)cap, sizeof *w);
    uint8_t **dst = calloc((size_t)cap, sizeof *dst);
    bool *x4 = calloc((size_t)cap, sizeof *x4);
    if (!r || !w || !dst || !x4)
        goto nomem;
    r->model = *m;
    r->layers = malloc((size_t)m->hp.n_layer * sizeof *r->layers);
    if (!r->layers)
        goto nomem;
    memcpy(r->layers, m->layers, (size_t)m->hp.n_layer * sizeof *r->layers);
    r->model.layers = r->layers;

    /* which matrices, and where each goes; skip() sees the source's weight */
    const struct dfit_weight **sw = calloc((size_t)cap, sizeof *sw);
    struct dfit_weight **dw = calloc((size_t)cap, sizeof *dw);
    if (!sw || !dw) {
        free(sw);
        free(dw);
        goto nomem;
    }
    const int n_all = streamed(m, &r->model, sw, dw);
    int n = 0;
    size_t total = 0;
    for (int i = 0; i < n_all; i++) {
        if (weight_bytes(sw[i]) == 0 || (skip && skip(user, sw[i])))
            continue;
        w[n] = dw[i];
        x4[n] = q4_x4 && sw[i]->type == DFIT_TYPE_Q4_0 && sw[i]->n_in % (4 * DFIT_QK) == 0;
        total = (total + ALIGN - 1) / ALIGN * ALIGN;
        dst[n] = (uint8_t *)(uintptr_t)total; /* an offset until the mapping exists */
        total += weight_bytes(sw[i]);
        n++;
    }
    free(sw);
    free(dw);
    if (n == 0) {
        free(w);
        free(dst);
        free(x4);
        *out = r;
        return 0;
    }
    r->map_bytes = total + HUGE_PAGE;
    void *map = mmap(NULL, r->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                     0);
    if (map == MAP_FAILED) {
        r->map = NULL;
        goto nomem;
    }
    r->map = map;
    uint8_t *base = (uint8_t *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
#ifdef MADV_HUGEPAGE
    r->huge = madvise(base, total, MADV_HUGEPAGE) == 0; /* advice: 4 KiB pages otherwise */
#endif
    for (int i = 0; i < n; i++)
        dst[i] = base + (uintptr_t)dst[i];

    struct copy_job job = {
        .w = w, .dst = dst, .x4 = x4, .n = n, .release = m->gguf && m->gguf->file_mapped};
    dfit_threadpool_run(tp, copy_task, &job);
    for (int i = 0; i < n; i++) {
        w[i]->data = dst[i];
        if (x4[i]) {
            w[i]->type = DFIT_TYPE_Q4_0_X4;
            r->n_x4++;
        }
    }
    r->bytes = total;
    free(w);
    free(dst);
    free(x4);
    *out = r;
    return 0;
nomem:
    free(w);
    free(dst);
    free(x4);
    dfit_resident_free(r);
    return dfit_err_set(err, DFIT_ENOMEM,
                        "cpu backend: cannot allocate the resident copy of the weights "
                        "(kernels \"SET+mmap\" reads them from the file's mapping)");
}

void dfit_resident_free(struct dfit_resident *r)
{
    if (!r)
        return;
    if (r->map)
        munmap(r->map, r->map_bytes);
    free(r->layers);
    free(r);
}
