/* convert.c — re-encodes a GGUF model's matrices into another tensor type
 * (see convert.h).
 *
 * Every tensor with two or more dimensions is converted row by row: the
 * source row is decoded to F32 from its own blocks and encoded into the
 * target type with the reference codec, rows split across threads. A matrix
 * already of the target type is copied verbatim (re-quantizing a quantized
 * row would change nothing useful and could lose bits). 1-D tensors (norms)
 * are written as F32, as llama.cpp keeps them.
 *
 * Lineage: all metadata is copied; the parent's recipe (dfit.recipe.*,
 * dfit.parent.*) is folded into one "key=value; ..." entry appended to the
 * string array dfit.lineage (oldest first), and the new file gets
 * dfit.parent.{sha256,name} and dfit.recipe.{method,to}.
 * Non-goals: mixed per-tensor types; pruning and calibrated quantization
 * (compress.c, which reuses the lineage and output-path checks here).
 */
#include "compress/convert.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/gguf.h"
#include "util/sha256.h"
#include "util/threadpool.h"

#define PAR_MIN_ELEMENTS (1 << 16) /* smaller tensors are converted inline */

uint32_t dfit_convert_file_type(enum dfit_type t)
{
    switch (t) {
    case DFIT_TYPE_F32: return 0;   /* LLAMA_FTYPE_ALL_F32 */
    case DFIT_TYPE_F16: return 1;   /* LLAMA_FTYPE_MOSTLY_F16 */
    case DFIT_TYPE_Q4_0: return 2;  /* LLAMA_FTYPE_MOSTLY_Q4_0 */
    case DFIT_TYPE_Q8_0: return 7;  /* LLAMA_FTYPE_MOSTLY_Q8_0 */
    case DFIT_TYPE_BF16: return 32; /* LLAMA_FTYPE_MOSTLY_BF16 */
    }
    return 0;
}

struct conv_ctx {
    struct dfit_threadpool *tp;   /* owned */
    float *scratch;               /* [n_threads][max_row] */
    int64_t max_row;
};

/* What one output tensor is made from (the fill callback's user data). */
struct conv_tensor {
    struct conv_ctx *c;
    const struct dfit_gguf_tensor *src;
};

struct row_job {
    enum dfit_type from, to;
    int64_t n_in;           /* row length */
    int64_t n_rows;
    size_t src_row_bytes, dst_row_bytes;
    const uint8_t *src;     /* [n_rows][src_row_bytes] */
    uint8_t *dst;           /* [n_rows][dst_row_bytes] */
    float *scratch;         /* [nth][max_row] */
    int64_t max_row;
};

static void convert_rows(void *arg, int ith, int nth)
{
    struct row_job *j = arg;
    float *row = j->scratch + (size_t)ith * (size_t)j->max_row; /* [n_in] */
    long lo, hi;
    dfit_split_range((long)j->n_rows, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        dfit_row_to_f32(j->from, j->src + (size_t)r * j->src_row_bytes, row, j->n_in);
        dfit_row_from_f32(j->to, row, j->dst + (size_t)r * j->dst_row_bytes, j->n_in);
    }
}

static int fill_tensor(void *user, const struct dfit_gguf_tensor *t, void *dst, struct dfit_err *err)
{
    const struct conv_tensor *ct = user;
    const struct dfit_gguf_tensor *s = ct->src;
    if (s->type == t->type) {
        if (s->n_bytes != t->n_bytes)
            return dfit_err_set(err, DFIT_EINTERNAL, "convert: tensor '%s': size mismatch", t->name.data);
        memcpy(dst, s->data, t->n_bytes);
        return 0;
    }
    struct row_job j = {
        .from = s->type,
        .to = t->type,
        .n_in = t->ne[0],
        .n_rows = (int64_t)(t->n_elements / (uint64_t)t->ne[0]),
        .src = s->data,
        .dst = dst,
        .scratch = ct->c->scratch,
        .max_row = ct->c->max_row,
    };
    if (j.n_in > j.max_row || !dfit_type_row_bytes(j.from, j.n_in, &j.src_row_bytes) ||
        !dfit_type_row_bytes(j.to, j.n_in, &j.dst_row_bytes) ||
        j.src_row_bytes * (uint64_t)j.n_rows != s->n_bytes ||
        j.dst_row_bytes * (uint64_t)j.n_rows != t->n_bytes)
        return dfit_err_set(err, DFIT_EINTERNAL, "convert: tensor '%s': unexpected shape or size",
                            t->name.data);
    if (t->n_elements < PAR_MIN_ELEMENTS || dfit_threadpool_size(ct->c->tp) == 1)
        convert_rows(&j, 0, 1);
    else
        dfit_threadpool_run(ct->c->tp, convert_rows, &j);
    return 0;
}

/* ---- output path ------------------------------------------------------- */

static bool same_file(const struct stat *a, const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_dev == a->st_dev && st.st_ino == a->st_ino;
}

static bool same_realpath(const char *a, const char *b)
{
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    bool same = ra && rb && strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}

int dfit_convert_check_out_path(const char *in_path, const char *out_path, struct dfit_err *err)
{
    struct stat in_st;
    if (stat(in_path, &in_st) != 0)
        return dfit_err_set(err, DFIT_EIO, "%s: cannot stat: %s", in_path, strerror(errno));
    if (same_file(&in_st, out_path) || same_realpath(in_path, out_path))
        return dfit_err_set(err, DFIT_EEXIST, "%s: output is the input file %s; refusing to overwrite it",
                            out_path, in_path);
    size_t n = strlen(out_path);
    char *tmp = malloc(n + 5);
    if (!tmp)
        return dfit_err_set(err, DFIT_ENOMEM, "convert: out of memory");
    memcpy(tmp, out_path, n);
    memcpy(tmp + n, ".tmp", 5);
    bool clash = same_file(&in_st, tmp);
    free(tmp);
    if (clash)
        return dfit_err_set(err, DFIT_EEXIST,
                            "%s: the temporary file %s.tmp is the input file; refusing to overwrite it",
                            out_path, out_path);
    return 0;
}

/* ---- lineage ----------------------------------------------------------- */

static bool is_recipe_key(const char *key)
{
    return strncmp(key, "dfit.recipe.", 12) == 0 || strncmp(key, "dfit.parent.", 12) == 0;
}

/* Appends "key=value" (key without "dfit.") to the text in buf. */
static void append_kv(char *buf, size_t cap, const char *key, const struct dfit_gguf_value *v)
{
    size_t len = strlen(buf);
    if (len + 1 >= cap)
        return;
    char val[512];
    switch (v->type) {
    case DFIT_GGUF_UINT8: snprintf(val, sizeof val, "%u", (unsigned)v->v.u8); break;
    case DFIT_GGUF_INT8: snprintf(val, sizeof val, "%d", (int)v->v.i8); break;
    case DFIT_GGUF_UINT16: snprintf(val, sizeof val, "%u", (unsigned)v->v.u16); break;
    case DFIT_GGUF_INT16: snprintf(val, sizeof val, "%d", (int)v->v.i16); break;
    case DFIT_GGUF_UINT32: snprintf(val, sizeof val, "%" PRIu32, v->v.u32); break;
    case DFIT_GGUF_INT32: snprintf(val, sizeof val, "%" PRId32, v->v.i32); break;
    case DFIT_GGUF_UINT64: snprintf(val, sizeof val, "%" PRIu64, v->v.u64); break;
    case DFIT_GGUF_INT64: snprintf(val, sizeof val, "%" PRId64, v->v.i64); break;
    case DFIT_GGUF_FLOAT32: snprintf(val, sizeof val, "%.9g", (double)v->v.f32); break;
    case DFIT_GGUF_FLOAT64: snprintf(val, sizeof val, "%.17g", v->v.f64); break;
    case DFIT_GGUF_BOOL: snprintf(val, sizeof val, "%s", v->v.b ? "true" : "false"); break;
    case DFIT_GGUF_STRING: dfit_gguf_str_show(v->str.data, v->str.len, val, sizeof val); break;
    default: snprintf(val, sizeof val, "[%s x %" PRIu64 "]", dfit_gguf_type_name(v->arr_type), v->n); break;
    }
    snprintf(buf + len, cap - len, "%s%s=%s", len ? "; " : "", key + 5 /* after "dfit." */, val);
}

int dfit_convert_lineage(struct dfit_gguf_writer *w, const struct dfit_gguf *g, const char *in_path,
                         const char *sha, struct dfit_err *err)
{
    char entry[2048] = "";
    const char **hist = NULL;
    int rc = 0;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const char *key = g->kv[i].key.data;
        if (!is_recipe_key(key))
            continue;
        append_kv(entry, sizeof entry, key, &g->kv[i].value);
        dfit_gguf_writer_remove(w, key);
    }
    const struct dfit_gguf_kv *old = dfit_gguf_find_kv(g, "dfit.lineage");
    uint64_t n_old = 0;
    if (old && old->value.type == DFIT_GGUF_ARRAY && old->value.arr_type == DFIT_GGUF_STRING)
        n_old = old->value.n;
    if (entry[0]) {
        hist = malloc((size_t)(n_old + 1) * sizeof *hist);
        if (!hist)
            return dfit_err_set(err, DFIT_ENOMEM, "convert: out of memory");
        const struct dfit_gguf_str *s = n_old ? old->value.arr : NULL;
        for (uint64_t i = 0; i < n_old; i++)
            hist[i] = s[i].data;
        hist[n_old] = entry;
        if ((rc = dfit_gguf_writer_set_arr_str(w, "dfit.lineage", hist, n_old + 1, err)))
            goto done;
    }
    const char *base = strrchr(in_path, '/');
    base = base ? base + 1 : in_path;
    if ((rc = dfit_gguf_writer_set_str(w, "dfit.parent.sha256", sha, err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.parent.name", base, err)))
        goto done;
    rc = 0;
done:
    free(hist);
    return rc;
}

/* Moves the parent's recipe into dfit.lineage and sets the new recipe. */
static int write_lineage(struct dfit_gguf_writer *w, const struct dfit_gguf *g, const char *in_path,
                         const char *sha, enum dfit_type to, struct dfit_err *err)
{
    int rc;
    if ((rc = dfit_convert_lineage(w, g, in_path, sha, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "general.file_type", dfit_convert_file_type(to), err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.method", "convert", err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.to", dfit_type_info(to)->name, err)))
        return rc;
    return 0;
}

/* ---- conversion -------------------------------------------------------- */

/* Checks every tensor against the target and sizes the row scratch. */
static int plan_tensors(const struct dfit_gguf *g, enum dfit_type to, int64_t *max_row,
                        struct dfit_err *err)
{
    const struct dfit_type_info *ti = dfit_type_info(to);
    *max_row = 1;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct dfit_gguf_tensor *t = &g->tensors[i];
        enum dfit_type dst = t->n_dims >= 2 ? to : DFIT_TYPE_F32;
        size_t rb;
        if (!dfit_type_row_bytes(dst, t->ne[0], &rb))
            return dfit_err_set(err, DFIT_EINVAL,
                                "%s: tensor '%s': row length %" PRId64
                                " is not a multiple of %" PRId64 ", the %s block size",
                                g->path, t->name.data, t->ne[0], ti->block_size, ti->name);
        if (dst != t->type && t->ne[0] > *max_row)
            *max_row = t->ne[0];
    }
    return 0;
}

int dfit_convert_file(const char *in_path, const char *out_path, const struct dfit_convert_params *p,
                      struct dfit_err *err)
{
    struct dfit_gguf *g = NULL;
    struct dfit_gguf_writer *w = NULL;
    struct conv_ctx c = {0};
    struct conv_tensor *cts = NULL;
    char sha[DFIT_SHA256_HEX_LEN + 1];
    int rc;
    if (!dfit_type_info(p->to)) {
        rc = dfit_err_set(err, DFIT_EUNSUPPORTED, "convert: tensor type id %u is not supported",
                          (unsigned)p->to);
        goto fail;
    }
    if ((rc = dfit_gguf_open(in_path, &g, err)) || (rc = dfit_convert_check_out_path(in_path, out_path, err)) ||
        (rc = plan_tensors(g, p->to, &c.max_row, err)))
        goto fail;
    if ((rc = dfit_sha256_buffer(g->map, g->map_bytes, sha, err))) {
        dfit_err_prefix(err, "%s", in_path);
        goto fail;
    }
    if ((rc = dfit_threadpool_create(p->n_threads, &c.tp, err)))
        goto fail;
    c.scratch = malloc((size_t)dfit_threadpool_size(c.tp) * (size_t)c.max_row * sizeof(float));
    cts = calloc(g->n_tensors ? (size_t)g->n_tensors : 1, sizeof *cts);
    if (!c.scratch || !cts) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "convert: out of memory");
        goto fail;
    }
    if ((rc = dfit_gguf_writer_create(&w, err)) || (rc = dfit_gguf_writer_copy_kv(w, g, err)) ||
        (rc = write_lineage(w, g, in_path, sha, p->to, err)))
        goto fail;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct dfit_gguf_tensor *t = &g->tensors[i];
        cts[i] = (struct conv_tensor){.c = &c, .src = t};
        enum dfit_type dst = t->n_dims >= 2 ? p->to : DFIT_TYPE_F32;
        if ((rc = dfit_gguf_writer_add_tensor(w, t->name.data, dst, t->n_dims, t->ne, NULL, fill_tensor,
                                              &cts[i], err)))
            goto fail;
    }
    if ((rc = dfit_gguf_writer_write(w, out_path, err)))
        goto fail;
    rc = 0;
fail:
    dfit_gguf_writer_free(w);
    free(cts);
    free(c.scratch);
    dfit_threadpool_free(c.tp);
    dfit_gguf_close(g);
    return rc;
}
