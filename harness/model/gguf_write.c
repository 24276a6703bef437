/* gguf_write.c — the GGUF v3 writer (see gguf.h).
 *
 * Metadata is held as copies in insertion order; tensors as a name, a shape
 * and either a borrowed data pointer or a fill callback, so a model can be
 * produced one tensor at a time while it streams to disk. The file is laid
 * out as llama.cpp lays it out (each tensor at the running aligned offset,
 * zero padding after the tensor infos and after every tensor) and written
 * atomically: "<path>.tmp", fsync, rename, fsync of the directory; the tmp
 * file is removed on any failure. Input is checked as the reader checks a
 * file, so whatever the writer accepts the reader reads back.
 * Non-goals: editing a file in place, writing GGUF v1/v2.
 */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fmt.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF writer stores arrays as they are in memory: little-endian hosts only"
#endif

#define ALIGNMENT_KEY "general.alignment"

struct wtensor {
    struct dfit_gguf_tensor info;  /* name owned; offset set when writing */
    const void *data;              /* borrowed [info.n_bytes], or NULL */
    dfit_gguf_fill_fn fill;        /* used when data is NULL */
    void *user;
};

struct dfit_gguf_writer {
    struct dfit_gguf_kv *kv;       /* [n_kv] owned, insertion order */
    uint64_t n_kv, cap_kv;
    struct wtensor *t;             /* [n_t] */
    uint64_t n_t, cap_t;
};

int dfit_gguf_writer_create(struct dfit_gguf_writer **out, struct dfit_err *err)
{
    if (!out)
        return dfit_err_set(err, DFIT_EINVAL, "gguf writer: no output pointer");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return dfit_err_set(err, DFIT_ENOMEM, "gguf writer: out of memory");
    return 0;
}

void dfit_gguf_writer_free(struct dfit_gguf_writer *w)
{
    if (!w)
        return;
    for (uint64_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key.data);
        dfit_gguf_value_clear(&w->kv[i].value);
    }
    for (uint64_t i = 0; i < w->n_t; i++)
        free(w->t[i].info.name.data);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Grows *arr (of *cap elements of size) to hold n + 1. */
static int grow(void **arr, uint64_t *cap, uint64_t n, size_t size)
{
    if (n < *cap)
        return 0;
    uint64_t c = *cap ? *cap * 2 : 16;
    if (c > SIZE_MAX / size)
        return DFIT_ENOMEM;
    void *p = realloc(*arr, (size_t)c * size);
    if (!p)
        return DFIT_ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

static int64_t find_key(const struct dfit_gguf_writer *w, const char *key, uint64_t len)
{
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (w->kv[i].key.len == len && memcmp(w->kv[i].key.data, key, len) == 0)
            return (int64_t)i;
    return -1;
}

/* Sets key (len bytes, may hold any byte but not be empty) to a copy of v. */
static int set_kv(struct dfit_gguf_writer *w, const char *key, uint64_t len,
                  const struct dfit_gguf_value *v, struct dfit_err *err)
{
    char show[96];
    struct dfit_gguf_value copy;
    char *kcopy = NULL;
    int rc;
    if (!w || !key || !v)
        return dfit_err_set(err, DFIT_EINVAL, "gguf writer: NULL writer, key or value");
    if (len == 0)
        return dfit_err_set(err, DFIT_EINVAL, "gguf writer: empty key");
    dfit_gguf_str_show(key, len, show, sizeof show);
    rc = dfit_gguf_value_copy(&copy, v, err);
    if (rc) {
        dfit_err_prefix(err, "gguf writer: key '%s'", show);
        return rc;
    }
    if (len == strlen(ALIGNMENT_KEY) && memcmp(key, ALIGNMENT_KEY, len) == 0) {
        if (copy.type != DFIT_GGUF_UINT32) {
            rc = dfit_err_set(err, DFIT_EINVAL, "gguf writer: key '%s': type %s (expected uint32)",
                              show, dfit_gguf_type_name(copy.type));
            goto fail;
        }
        uint32_t a = copy.v.u32;
        if (a == 0 || (a & (a - 1)) != 0) {
            rc = dfit_err_set(err, DFIT_EINVAL,
                              "gguf writer: key '%s': alignment %" PRIu32 " is not a power of two",
                              show, a);
            goto fail;
        }
    }
    int64_t at = find_key(w, key, len);
    if (at >= 0) {
        dfit_gguf_value_clear(&w->kv[at].value);
        w->kv[at].value = copy;
        return 0;
    }
    if (grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv) != 0 ||
        (kcopy = malloc((size_t)len + 1)) == NULL) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "gguf writer: key '%s': out of memory", show);
        goto fail;
    }
    memcpy(kcopy, key, (size_t)len);
    kcopy[len] = '\0';
    w->kv[w->n_kv++] = (struct dfit_gguf_kv){.key = {.len = len, .data = kcopy}, .value = copy};
    return 0;
fail:
    dfit_gguf_value_clear(&copy);
    return rc;
}

int dfit_gguf_writer_set(struct dfit_gguf_writer *w, const char *key, const struct dfit_gguf_value *v,
                         struct dfit_err *err)
{
    return set_kv(w, key, key ? strlen(key) : 0, v, err);
}

int dfit_gguf_writer_set_u32(struct dfit_gguf_writer *w, const char *key, uint32_t v, struct dfit_err *err)
{
    struct dfit_gguf_value val = {.type = DFIT_GGUF_UINT32, .v.u32 = v};
    return dfit_gguf_writer_set(w, key, &val, err);
}

int dfit_gguf_writer_set_u64(struct dfit_gguf_writer *w, const char *key, uint64_t v, struct dfit_err *err)
{
    struct dfit_gguf_value val = {.type = DFIT_GGUF_UINT64, .v.u64 = v};
    return dfit_gguf_writer_set(w, key, &val, err);
}

int dfit_gguf_writer_set_i32(struct dfit_gguf_writer *w, const char *key, int32_t v, struct dfit_err *err)
{
    struct dfit_gguf_value val = {.type = DFIT_GGUF_INT32, .v.i32 = v};
    return dfit_gguf_writer_set(w, key, &val, err);
}

int dfit_gguf_writer_set_f32(struct dfit_gguf_writer *w, const char *key, float v, struct dfit_err *err)
{
    struct dfit_gguf_value val = {.type = DFIT_GGUF_FLOAT32, .v.f32 = v};
    return dfit_gguf_writer_set(w, key, &val, err);
}

int dfit_gguf_writer_set_bool(struct dfit_gguf_writer *w, const char *key, bool v, struct dfit_err *err)
{
    struct dfit_gguf_value val = {.type = DFIT_GGUF_BOOL, .v.b = v};
    return dfit_gguf_writer_set(w, key, &val, err);
}

int dfit_gguf_writer_set_str(struct dfit_gguf_writer *w, const char *key, const char *v, struct dfit_err *err)
{
    if (!v)
        return dfit_err_set(err, DFIT_EINVAL, "gguf writer: key '%s': NULL string", key ? key : "");
    struct dfit_gguf_value val = {.type = DFIT_GGUF_STRING, .str = {.len = strlen(v), .data = (char *)v}};
    return dfit_gguf_writer_set(w, key, &val, err);
}

int dfit_gguf_writer_set_arr(struct dfit_gguf_writer *w, const char *key, enum dfit_gguf_type elem_type,
                             const void *data, uint64_t n, struct dfit_err *err)
{
    if (elem_type == DFIT_GGUF_STRING || elem_type == DFIT_GGUF_ARRAY)
        return dfit_err_set(err, DFIT_EINVAL,
                            "gguf writer: key '%s': set_arr takes numeric elements, not %s",
                            key ? key : "", dfit_gguf_type_name(elem_type));
    struct dfit_gguf_value val = {.type = DFIT_GGUF_ARRAY, .arr_type = elem_type, .n = n,
                                  .arr = (void *)(uintptr_t)data};
    return dfit_gguf_writer_set(w, key, &val, err);
}

int dfit_gguf_writer_set_arr_str(struct dfit_gguf_writer *w, const char *key, const char *const *strs,
                                 uint64_t n, struct dfit_err *err)
{
    const char *k = key ? key : "";
    if (n > 0 && !strs)
        return dfit_err_set(err, DFIT_EINVAL, "gguf writer: key '%s': NULL string array", k);
    if (n > SIZE_MAX / sizeof(struct dfit_gguf_str))
        return dfit_err_set(err, DFIT_ENOMEM, "gguf writer: key '%s': too many strings", k);
    struct dfit_gguf_str *s = NULL;
    if (n > 0 && (s = malloc((size_t)n * sizeof *s)) == NULL)
        return dfit_err_set(err, DFIT_ENOMEM, "gguf writer: key '%s': out of memory", k);
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i]) {
            free(s);
            return dfit_err_set(err, DFIT_EINVAL, "gguf writer: key '%s': element #%" PRIu64 " is NULL",
                                k, i);
        }
        s[i] = (struct dfit_gguf_str){.len = strlen(strs[i]), .data = (char *)(uintptr_t)strs[i]};
    }
    struct dfit_gguf_value val = {.type = DFIT_GGUF_ARRAY, .arr_type = DFIT_GGUF_STRING, .n = n, .arr = s};
    int rc = dfit_gguf_writer_set(w, key, &val, err);
    free(s);
    return rc;
}

int dfit_gguf_writer_copy_kv(struct dfit_gguf_writer *w, const struct dfit_gguf *g, struct dfit_err *err)
{
    if (!w || !g)
        return dfit_err_set(err, DFIT_EINVAL, "gguf writer: NULL writer or file");
    for (uint64_t i = 0; i < g->n_kv; i++) {
        int rc = set_kv(w, g->kv[i].key.data, g->kv[i].key.len, &g->kv[i].value, err);
        if (rc) {
            dfit_err_prefix(err, "copying keys of %s", g->path);
            return rc;
        }
    }
    return 0;
}

int dfit_gguf_writer_remove(struct dfit_gguf_writer *w, const char *key)
{
    if (!w || !key)
        return DFIT_EINVAL;
    int64_t at = find_key(w, key, strlen(key));
    if (at < 0)
        return DFIT_ENOTFOUND;
    free(w->kv[at].key.data);
    dfit_gguf_value_clear(&w->kv[at].value);
    memmove(&w->kv[at], &w->kv[at + 1], (size_t)(w->n_kv - (uint64_t)at - 1) * sizeof *w->kv);
    w->n_kv--;
    return 0;
}

int dfit_gguf_writer_add_tensor(struct dfit_gguf_writer *w, const char *name, enum dfit_type type,
                                uint32_t n_dims, const int64_t *ne, const void *data,
                                dfit_gguf_fill_fn fill, void *user, struct dfit_err *err)
{
    char show[96];
    int rc;
    if (!w)
        return dfit_err_set(err, DFIT_EINVAL, "gguf writer: NULL writer");
    if (!name || !name[0])
        return dfit_err_set(err, DFIT_EINVAL, "gguf writer: tensor #%" PRIu64 ": empty name", w->n_t);
    size_t len = strlen(name);
    dfit_gguf_str_show(name, len, show, sizeof show);
    if (len > DFIT_GGUF_MAX_NAME)
        return dfit_err_set(err, DFIT_EINVAL, "gguf writer: tensor '%s': name is %zu bytes (at most %d)",
                            show, len, DFIT_GGUF_MAX_NAME);
    for (uint64_t i = 0; i < w->n_t; i++)
        if (w->t[i].info.name.len == len && memcmp(w->t[i].info.name.data, name, len) == 0)
            return dfit_err_set(err, DFIT_EINVAL, "gguf writer: tensor '%s': duplicate name (also tensor #%" PRIu64 ")",
                                show, i);
    if (!ne)
        return dfit_err_set(err, DFIT_EINVAL, "gguf writer: tensor '%s': NULL shape", show);
    if (!data == !fill)
        return dfit_err_set(err, DFIT_EINVAL, "gguf writer: tensor '%s': give either data or a fill callback%s",
                            show, data ? ", not both" : "");
    struct wtensor t = {.data = data, .fill = fill, .user = user};
    rc = dfit_gguf_tensor_size((uint32_t)type, n_dims, ne, &t.info.n_elements, &t.info.n_bytes, err);
    if (rc) {
        dfit_err_prefix(err, "gguf writer: tensor '%s'", show);
        return rc;
    }
    t.info.n_dims = n_dims;
    t.info.type = type;
    for (uint32_t d = 0; d < DFIT_GGUF_MAX_DIMS; d++)
        t.info.ne[d] = d < n_dims ? ne[d] : 1;
    if (grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t) != 0 ||
        (t.info.name.data = strdup(name)) == NULL)
        return dfit_err_set(err, DFIT_ENOMEM, "gguf writer: tensor '%s': out of memory", show);
    t.info.name.len = len;
    w->t[w->n_t++] = t;
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

struct out {
    FILE *f;
    uint64_t pos;       /* bytes written so far */
    int errno_;         /* first write error, 0 if none */
};

static void put(struct out *o, const void *p, size_t n)
{
    if (o->errno_ || n == 0)
        return;
    if (fwrite(p, 1, n, o->f) != n)
        o->errno_ = errno ? errno : EIO;
    o->pos += n;
}

static void put_u32(struct out *o, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(o, b, 4);
}

static void put_u64(struct out *o, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(o, b, 8);
}

static void put_str(struct out *o, const struct dfit_gguf_str *s)
{
    put_u64(o, s->len);
    put(o, s->data, (size_t)s->len);
}

static void pad(struct out *o, uint64_t alignment)
{
    static const uint8_t zeros[64];
    uint64_t n = (alignment - o->pos % alignment) % alignment;
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        put(o, zeros, k);
        n -= k;
    }
}

static void put_value(struct out *o, const struct dfit_gguf_value *v)
{
    put_u32(o, (uint32_t)v->type);
    switch (v->type) {
    case DFIT_GGUF_STRING:
        put_str(o, &v->str);
        break;
    case DFIT_GGUF_ARRAY:
        put_u32(o, (uint32_t)v->arr_type);
        put_u64(o, v->n);
        if (v->arr_type == DFIT_GGUF_STRING) {
            const struct dfit_gguf_str *s = v->arr;
            for (uint64_t i = 0; i < v->n; i++)
                put_str(o, &s[i]);
        } else {
            put(o, v->arr, (size_t)(v->n * dfit_gguf_type_size(v->arr_type)));
        }
        break;
    case DFIT_GGUF_BOOL: {
        uint8_t b = v->v.b ? 1 : 0;
        put(o, &b, 1);
        break;
    }
    default:
        put(o, &v->v, dfit_gguf_type_size(v->type)); /* members start at byte 0 */
        break;
    }
}

static uint64_t alignment_of(const struct dfit_gguf_writer *w)
{
    int64_t at = find_key(w, ALIGNMENT_KEY, strlen(ALIGNMENT_KEY));
    return at >= 0 ? w->kv[at].value.v.u32 : DFIT_GGUF_DEFAULT_ALIGNMENT; /* checked by set */
}

/* Sets each tensor's offset (running aligned sum, as llama.cpp) and the
 * largest fill buffer needed. */
static int layout(struct dfit_gguf_writer *w, uint64_t alignment, const char *path, size_t *max_fill,
                  struct dfit_err *err)
{
    uint64_t off = 0;
    *max_fill = 0;
    for (uint64_t i = 0; i < w->n_t; i++) {
        struct dfit_gguf_tensor *t = &w->t[i].info;
        uint64_t padded = t->n_bytes + (alignment - t->n_bytes % alignment) % alignment;
        if (t->n_bytes > SIZE_MAX || padded < t->n_bytes || off > UINT64_MAX - padded)
            return dfit_err_set(err, DFIT_ERANGE, "%s: tensor '%s': data section size overflows", path,
                                t->name.data);
        t->offset = off;
        off += padded;
        if (!w->t[i].data && t->n_bytes > *max_fill)
            *max_fill = (size_t)t->n_bytes;
    }
    return 0;
}

/* fsyncs the directory holding path so the rename is durable. */
static void sync_dir(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash) {
        *(slash == dir ? slash + 1 : slash) = '\0';
        d = dir;
    }
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int dfit_gguf_writer_write(struct dfit_gguf_writer *w, const char *path, struct dfit_err *err)
{
    struct out o = {0};
    char *tmp = NULL;
    uint8_t *buf = NULL;
    size_t max_fill;
    FILE *f;
    int fd, rc;
    if (!w || !path)
        return dfit_err_set(err, DFIT_EINVAL, "gguf writer: NULL writer or path");
    uint64_t alignment = alignment_of(w);
    rc = layout(w, alignment, path, &max_fill, err);
    if (rc)
        return rc;
    size_t plen = strlen(path);
    tmp = malloc(plen + 5);
    if (!tmp)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    if (max_fill > 0 && (buf = malloc(max_fill)) == NULL) {
        char b[32];
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory for a %s tensor buffer", path,
                          dfit_fmt_bytes(b, sizeof b, max_fill));
        goto fail;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: open: %s", tmp, strerror(errno));
        goto fail_keep; /* not ours to remove */
    }
    o.f = fdopen(fd, "wb");
    if (!o.f) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: fdopen: %s", tmp, strerror(errno));
        close(fd);
        goto fail;
    }
    setvbuf(o.f, NULL, _IOFBF, 1 << 20);

    put(&o, DFIT_GGUF_MAGIC, 4);
    put_u32(&o, DFIT_GGUF_VERSION);
    put_u64(&o, w->n_t);
    put_u64(&o, w->n_kv);
    for (uint64_t i = 0; i < w->n_kv; i++) {
        put_str(&o, &w->kv[i].key);
        put_value(&o, &w->kv[i].value);
    }
    for (uint64_t i = 0; i < w->n_t; i++) {
        const struct dfit_gguf_tensor *t = &w->t[i].info;
        put_str(&o, &t->name);
        put_u32(&o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            put_u64(&o, (uint64_t)t->ne[d]);
        put_u32(&o, (uint32_t)t->type);
        put_u64(&o, t->offset);
    }
    pad(&o, alignment);
    for (uint64_t i = 0; i < w->n_t && !o.errno_; i++) {
        const struct wtensor *wt = &w->t[i];
        const void *src = wt->data;
        if (!src) {
            memset(buf, 0, (size_t)wt->info.n_bytes);
            rc = wt->fill(wt->user, &wt->info, buf, err);
            if (rc) {
                if (rc > 0)
                    rc = dfit_err_set(err, DFIT_EINTERNAL, "fill callback returned %d", rc);
                dfit_err_prefix(err, "%s: tensor '%s'", path, wt->info.name.data);
                goto fail;
            }
            src = buf;
        }
        put(&o, src, (size_t)wt->info.n_bytes);
        pad(&o, alignment);
    }
    if (o.errno_) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: write: %s", tmp, strerror(o.errno_));
        goto fail;
    }
    if (fflush(o.f) != 0 || fsync(fileno(o.f)) != 0) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: flush: %s", tmp, strerror(errno));
        goto fail;
    }
    f = o.f;
    o.f = NULL;
    if (fclose(f) != 0) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: close: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: rename from %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    sync_dir(path);
    free(buf);
    free(tmp);
    return 0;
fail:
    if (o.f)
        fclose(o.f);
    unlink(tmp);
fail_keep:
    free(buf);
    free(tmp);
    return rc;
}
