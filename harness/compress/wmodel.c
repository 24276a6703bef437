/* wmodel.c — an editable F32 view of a llama GGUF model and its writer
 * (see wmodel.h).
 *
 * Tensors keep pointing into the source mapping until a pass asks for
 * their F32 values; untouched tensors whose output type equals their
 * source type are copied byte for byte, everything else is encoded row by
 * row with the reference codecs, rows split across threads.
 * Non-goals: recipe and lineage metadata, streaming edited tensors.
 */
#include "compress/wmodel.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/threadpool.h"

#define PAR_MIN_ELEMENTS (1 << 16) /* smaller tensors are encoded inline */

int dfit_wmodel_open(const char *path, struct dfit_wmodel **out, struct dfit_err *err)
{
    struct dfit_model *m = NULL;
    struct dfit_wmodel *wm = NULL;
    int rc;
    *out = NULL;
    if ((rc = dfit_model_open(path, &m, err)))
        return rc;
    wm = calloc(1, sizeof *wm);
    if (!wm) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    wm->g = m->gguf;
    m->gguf = NULL; /* the model binding only validated it */
    wm->hp = wm->hp0 = m->hp;
    wm->n_tensors = wm->g->n_tensors;
    wm->t = calloc(wm->n_tensors ? (size_t)wm->n_tensors : 1, sizeof *wm->t);
    if (!wm->t) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (uint64_t i = 0; i < wm->n_tensors; i++) {
        const struct dfit_gguf_tensor *s = &wm->g->tensors[i];
        struct dfit_wtensor *t = &wm->t[i];
        snprintf(t->name, sizeof t->name, "%s", s->name.data);
        t->n_dims = s->n_dims;
        memcpy(t->ne, s->ne, sizeof t->ne);
        t->n_elements = s->n_elements;
        t->src = s;
        t->src_type = s->type;
    }
    dfit_model_free(m);
    *out = wm;
    return 0;
fail:
    dfit_model_free(m);
    dfit_wmodel_free(wm);
    return rc;
}

void dfit_wmodel_free(struct dfit_wmodel *wm)
{
    if (!wm)
        return;
    for (uint64_t i = 0; wm->t && i < wm->n_tensors; i++)
        free(wm->t[i].f32);
    free(wm->t);
    dfit_gguf_close(wm->g);
    free(wm);
}

struct dfit_wtensor *dfit_wmodel_find(struct dfit_wmodel *wm, const char *name)
{
    for (uint64_t i = 0; i < wm->n_tensors; i++)
        if (!wm->t[i].removed && strcmp(wm->t[i].name, name) == 0)
            return &wm->t[i];
    return NULL;
}

struct dfit_wtensor *dfit_wmodel_layer(struct dfit_wmodel *wm, uint32_t il, const char *suffix)
{
    char name[DFIT_GGUF_MAX_NAME + 1];
    snprintf(name, sizeof name, "blk.%" PRIu32 ".%s.weight", il, suffix);
    return dfit_wmodel_find(wm, name);
}

/* Rows of a tensor (elements / row length). */
static int64_t n_rows(const struct dfit_wtensor *t)
{
    return (int64_t)(t->n_elements / (uint64_t)t->ne[0]);
}

float *dfit_wmodel_f32(struct dfit_wmodel *wm, struct dfit_wtensor *t, struct dfit_err *err)
{
    (void)wm;
    if (t->f32)
        return t->f32;
    if (!t->src) {
        dfit_err_set(err, DFIT_EINTERNAL, "wmodel: tensor '%s' has no data", t->name);
        return NULL;
    }
    if (t->n_elements > SIZE_MAX / sizeof(float) ||
        !(t->f32 = malloc((size_t)t->n_elements * sizeof(float)))) {
        dfit_err_set(err, DFIT_ENOMEM, "wmodel: out of memory for tensor '%s' as f32", t->name);
        return NULL;
    }
    size_t rb = 0;
    dfit_type_row_bytes(t->src->type, t->ne[0], &rb); /* the reader checked it */
    const uint8_t *src = t->src->data;
    for (int64_t r = 0; r < n_rows(t); r++)
        dfit_row_to_f32(t->src->type, src + (size_t)r * rb, t->f32 + (size_t)r * (size_t)t->ne[0],
                        t->ne[0]);
    return t->f32;
}

void dfit_wtensor_replace(struct dfit_wtensor *t, float *data, int64_t ne0, int64_t ne1)
{
    free(t->f32);
    t->f32 = data;
    t->src = NULL;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->n_dims = ne1 == 1 && t->n_dims == 1 ? 1 : 2;
    for (int i = 2; i < DFIT_GGUF_MAX_DIMS; i++)
        t->ne[i] = 1;
    t->n_elements = (uint64_t)ne0 * (uint64_t)ne1;
}

int dfit_wmodel_keep_layers(struct dfit_wmodel *wm, const bool *keep, struct dfit_err *err)
{
    const uint32_t n_layer = wm->hp.n_layer;
    uint32_t *new_index = malloc(n_layer * sizeof *new_index);
    if (!new_index)
        return dfit_err_set(err, DFIT_ENOMEM, "wmodel: out of memory");
    uint32_t n_kept = 0;
    for (uint32_t il = 0; il < n_layer; il++)
        new_index[il] = keep[il] ? n_kept++ : UINT32_MAX;
    if (n_kept == 0) {
        free(new_index);
        return dfit_err_set(err, DFIT_EINVAL, "wmodel: removing every block leaves no model");
    }
    for (uint64_t i = 0; i < wm->n_tensors; i++) {
        struct dfit_wtensor *t = &wm->t[i];
        unsigned il;
        int end = 0;
        if (t->removed || sscanf(t->name, "blk.%u.%n", &il, &end) != 1 || end == 0 || il >= n_layer)
            continue;
        if (new_index[il] == UINT32_MAX) {
            t->removed = true;
            continue;
        }
        /* the new index has no more digits than the old: rename in place */
        char prefix[24];
        int n_prefix = snprintf(prefix, sizeof prefix, "blk.%" PRIu32 ".", new_index[il]);
        memmove(t->name + n_prefix, t->name + end, strlen(t->name + end) + 1);
        memcpy(t->name, prefix, (size_t)n_prefix);
    }
    wm->hp.n_layer = n_kept;
    free(new_index);
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

static enum dfit_type out_type(const struct dfit_wtensor *t, int to)
{
    if (to == DFIT_WMODEL_KEEP_TYPES)
        return t->src_type;
    return t->n_dims >= 2 ? (enum dfit_type)to : DFIT_TYPE_F32;
}

int dfit_wmodel_check_types(const struct dfit_wmodel *wm, int to, struct dfit_err *err)
{
    if (to != DFIT_WMODEL_KEEP_TYPES && !dfit_type_info((uint32_t)to))
        return dfit_err_set(err, DFIT_EUNSUPPORTED, "wmodel: tensor type id %d is not supported", to);
    for (uint64_t i = 0; i < wm->n_tensors; i++) {
        const struct dfit_wtensor *t = &wm->t[i];
        enum dfit_type ty = out_type(t, to);
        size_t rb;
        if (!t->removed && !dfit_type_row_bytes(ty, t->ne[0], &rb))
            return dfit_err_set(err, DFIT_EINVAL,
                                "tensor '%s': row length %" PRId64
                                " is not a multiple of %" PRId64 ", the %s block size",
                                t->name, t->ne[0], dfit_type_info(ty)->block_size,
                                dfit_type_info(ty)->name);
    }
    return 0;
}

struct write_ctx {
    struct dfit_threadpool *tp;
    float *scratch;    /* [n_threads][max_row] */
    int64_t max_row;
};

struct fill_user {
    struct write_ctx *c;
    const struct dfit_wtensor *t;
};

struct row_job {
    const struct dfit_wtensor *t;
    enum dfit_type to;
    size_t src_rb, dst_rb;
    uint8_t *dst;      /* [rows][dst_rb] */
    float *scratch;    /* [nth][max_row] */
    int64_t max_row;
};

static void encode_rows(void *arg, int ith, int nth)
{
    const struct row_job *j = arg;
    const struct dfit_wtensor *t = j->t;
    const int64_t n = t->ne[0];
    float *tmp = j->scratch + (size_t)ith * (size_t)j->max_row; /* [n] */
    long lo, hi;
    dfit_split_range((long)n_rows(t), ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        const float *row = t->f32 ? t->f32 + (size_t)r * (size_t)n : tmp;
        if (!t->f32)
            dfit_row_to_f32(t->src->type, (const uint8_t *)t->src->data + (size_t)r * j->src_rb,
                            tmp, n);
        dfit_row_from_f32(j->to, row, j->dst + (size_t)r * j->dst_rb, n);
    }
}

static int fill_tensor(void *user, const struct dfit_gguf_tensor *gt, void *dst, struct dfit_err *err)
{
    const struct fill_user *u = user;
    const struct dfit_wtensor *t = u->t;
    if (!t->f32 && !t->src)
        return dfit_err_set(err, DFIT_EINTERNAL, "wmodel: tensor '%s' has no data", t->name);
    if (!t->f32 && t->src->type == gt->type) {
        memcpy(dst, t->src->data, gt->n_bytes);
        return 0;
    }
    struct row_job j = {.t = t, .to = gt->type, .dst = dst, .scratch = u->c->scratch,
                        .max_row = u->c->max_row};
    if (t->ne[0] > j.max_row || !dfit_type_row_bytes(gt->type, t->ne[0], &j.dst_rb) ||
        (t->src && !dfit_type_row_bytes(t->src->type, t->ne[0], &j.src_rb)) ||
        j.dst_rb * (uint64_t)n_rows(t) != gt->n_bytes)
        return dfit_err_set(err, DFIT_EINTERNAL, "wmodel: tensor '%s': unexpected shape", t->name);
    if (t->n_elements < PAR_MIN_ELEMENTS || dfit_threadpool_size(u->c->tp) == 1)
        encode_rows(&j, 0, 1);
    else
        dfit_threadpool_run(u->c->tp, encode_rows, &j);
    return 0;
}

/* Sets the llama.* shape keys that differ from the source's. */
static int set_shape_keys(const struct dfit_wmodel *wm, struct dfit_gguf_writer *w, struct dfit_err *err)
{
    const struct dfit_llama_hparams *hp = &wm->hp, *h0 = &wm->hp0;
    int rc = 0;
    if (hp->n_layer != h0->n_layer)
        rc = dfit_gguf_writer_set_u32(w, "llama.block_count", hp->n_layer, err);
    if (!rc && hp->n_ff != h0->n_ff)
        rc = dfit_gguf_writer_set_u32(w, "llama.feed_forward_length", hp->n_ff, err);
    if (!rc && hp->n_head != h0->n_head)
        rc = dfit_gguf_writer_set_u32(w, "llama.attention.head_count", hp->n_head, err);
    if (!rc && (hp->n_head_kv != h0->n_head_kv ||
                dfit_gguf_find_kv(wm->g, "llama.attention.head_count_kv")))
        rc = dfit_gguf_writer_set_u32(w, "llama.attention.head_count_kv", hp->n_head_kv, err);
    /* llama's head_dim defaults to n_embd / n_head: say it when that no
     * longer holds (or the source said it) */
    if (!rc && ((uint64_t)hp->n_head * hp->head_dim != hp->n_embd ||
                dfit_gguf_find_kv(wm->g, "llama.attention.key_length")))
        rc = dfit_gguf_writer_set_u32(w, "llama.attention.key_length", hp->head_dim, err);
    if (!rc && ((uint64_t)hp->n_head * hp->head_dim != hp->n_embd ||
                dfit_gguf_find_kv(wm->g, "llama.attention.value_length")))
        rc = dfit_gguf_writer_set_u32(w, "llama.attention.value_length", hp->head_dim, err);
    return rc;
}

int dfit_wmodel_write(struct dfit_wmodel *wm, struct dfit_gguf_writer *w, int to, int n_threads,
                      const char *path, struct dfit_err *err)
{
    struct write_ctx c = {0};
    struct fill_user *users = NULL;
    int rc;
    if ((rc = dfit_wmodel_check_types(wm, to, err)) || (rc = set_shape_keys(wm, w, err)))
        goto fail;
    c.max_row = 1;
    for (uint64_t i = 0; i < wm->n_tensors; i++)
        if (!wm->t[i].removed && wm->t[i].ne[0] > c.max_row)
            c.max_row = wm->t[i].ne[0];
    if ((rc = dfit_threadpool_create(n_threads, &c.tp, err)))
        goto fail;
    c.scratch = malloc((size_t)dfit_threadpool_size(c.tp) * (size_t)c.max_row * sizeof(float));
    users = calloc(wm->n_tensors ? (size_t)wm->n_tensors : 1, sizeof *users);
    if (!c.scratch || !users) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "wmodel: out of memory");
        goto fail;
    }
    for (uint64_t i = 0; i < wm->n_tensors; i++) {
        const struct dfit_wtensor *t = &wm->t[i];
        if (t->removed)
            continue;
        users[i] = (struct fill_user){.c = &c, .t = t};
        if ((rc = dfit_gguf_writer_add_tensor(w, t->name, out_type(t, to), t->n_dims, t->ne, NULL,
                                              fill_tensor, &users[i], err)))
            goto fail;
    }
    rc = dfit_gguf_writer_write(w, path, err);
fail:
    free(users);
    free(c.scratch);
    dfit_threadpool_free(c.tp);
    return rc;
}

int dfit_wmodel_write_f32(struct dfit_wmodel *wm, int n_threads, const char *path, struct dfit_err *err)
{
    struct dfit_gguf_writer *w = NULL;
    int rc;
    if (!(rc = dfit_gguf_writer_create(&w, err)) && !(rc = dfit_gguf_writer_copy_kv(w, wm->g, err)) &&
        !(rc = dfit_gguf_writer_set_u32(w, "general.file_type", 0, err)))
        rc = dfit_wmodel_write(wm, w, DFIT_TYPE_F32, n_threads, path, err);
    dfit_gguf_writer_free(w);
    return rc;
}
