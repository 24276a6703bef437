/* gguf_common.c — the parts of GGUF shared by the reader and the writer:
 * value type names and sizes, deep copies of values, the tensor shape and
 * size check, printable names for messages, and lookups and typed getters
 * on an opened file.
 * Non-goals: parsing or writing bytes (gguf_read.c, gguf_write.c); fast
 * lookups (a model has a few dozen keys, found by a linear scan).
 */
#include "model/gguf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/fmt.h"

static const char *const type_names[DFIT_GGUF_TYPE_COUNT] = {
    [DFIT_GGUF_UINT8] = "uint8",     [DFIT_GGUF_INT8] = "int8",
    [DFIT_GGUF_UINT16] = "uint16",   [DFIT_GGUF_INT16] = "int16",
    [DFIT_GGUF_UINT32] = "uint32",   [DFIT_GGUF_INT32] = "int32",
    [DFIT_GGUF_FLOAT32] = "float32", [DFIT_GGUF_BOOL] = "bool",
    [DFIT_GGUF_STRING] = "string",   [DFIT_GGUF_ARRAY] = "array",
    [DFIT_GGUF_UINT64] = "uint64",   [DFIT_GGUF_INT64] = "int64",
    [DFIT_GGUF_FLOAT64] = "float64",
};

static const size_t type_sizes[DFIT_GGUF_TYPE_COUNT] = {
    [DFIT_GGUF_UINT8] = 1,   [DFIT_GGUF_INT8] = 1,
    [DFIT_GGUF_UINT16] = 2,  [DFIT_GGUF_INT16] = 2,
    [DFIT_GGUF_UINT32] = 4,  [DFIT_GGUF_INT32] = 4,
    [DFIT_GGUF_FLOAT32] = 4, [DFIT_GGUF_BOOL] = 1,
    [DFIT_GGUF_STRING] = 0,  [DFIT_GGUF_ARRAY] = 0,
    [DFIT_GGUF_UINT64] = 8,  [DFIT_GGUF_INT64] = 8,
    [DFIT_GGUF_FLOAT64] = 8,
};

const char *dfit_gguf_type_name(uint32_t t)
{
    return t < DFIT_GGUF_TYPE_COUNT ? type_names[t] : "?";
}

size_t dfit_gguf_type_size(uint32_t t)
{
    return t < DFIT_GGUF_TYPE_COUNT ? type_sizes[t] : 0;
}

const char *dfit_gguf_str_show(const char *s, uint64_t len, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap < 8) {
        if (cap > 0)
            buf[0] = '\0';
        return buf;
    }
    for (uint64_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool plain = c >= 0x20 && c < 0x7f && c != '\\' && c != '\'';
        size_t need = plain ? 1 : 4;
        /* keep room for "..." and the NUL unless this is the last byte */
        size_t reserve = i + 1 < len ? 4 : 1;
        if (o + need + reserve > cap) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (plain) {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    buf[o] = '\0';
    return buf;
}

/* ---- values ------------------------------------------------------------ */

void dfit_gguf_value_clear(struct dfit_gguf_value *v)
{
    if (!v)
        return;
    if (v->type == DFIT_GGUF_STRING)
        free(v->str.data);
    if (v->type == DFIT_GGUF_ARRAY) {
        if (v->arr_type == DFIT_GGUF_STRING && v->arr) {
            struct dfit_gguf_str *s = v->arr;
            for (uint64_t i = 0; i < v->n; i++)
                free(s[i].data);
        }
        free(v->arr);
    }
    memset(v, 0, sizeof *v);
}

static int str_copy(struct dfit_gguf_str *dst, const struct dfit_gguf_str *src, struct dfit_err *err)
{
    dst->data = NULL;
    dst->len = 0;
    if (src->len > 0 && !src->data)
        return dfit_err_set(err, DFIT_EINVAL, "string of %" PRIu64 " bytes has no data", src->len);
    if (src->len >= SIZE_MAX)
        return dfit_err_set(err, DFIT_ENOMEM, "string of %" PRIu64 " bytes is too long", src->len);
    dst->data = malloc((size_t)src->len + 1);
    if (!dst->data)
        return dfit_err_set(err, DFIT_ENOMEM, "out of memory copying a string of %" PRIu64 " bytes",
                            src->len);
    if (src->len > 0)
        memcpy(dst->data, src->data, (size_t)src->len);
    dst->data[src->len] = '\0';
    dst->len = src->len;
    return 0;
}

static int array_copy(struct dfit_gguf_value *dst, const struct dfit_gguf_value *src,
                      struct dfit_err *err)
{
    uint32_t et = src->arr_type;
    if (et >= DFIT_GGUF_TYPE_COUNT)
        return dfit_err_set(err, DFIT_EINVAL, "array element type %" PRIu32 " is unknown", et);
    if (et == DFIT_GGUF_ARRAY)
        return dfit_err_set(err, DFIT_EINVAL, "nested arrays are not supported");
    if (src->n > 0 && !src->arr)
        return dfit_err_set(err, DFIT_EINVAL, "array of %" PRIu64 " %s has no data", src->n,
                            dfit_gguf_type_name(et));
    dst->type = DFIT_GGUF_ARRAY;
    dst->arr_type = src->arr_type;
    if (src->n == 0)
        return 0;
    if (et == DFIT_GGUF_STRING) {
        if (src->n > SIZE_MAX / sizeof(struct dfit_gguf_str))
            return dfit_err_set(err, DFIT_ENOMEM, "array of %" PRIu64 " strings is too long", src->n);
        struct dfit_gguf_str *d = calloc((size_t)src->n, sizeof *d);
        if (!d)
            return dfit_err_set(err, DFIT_ENOMEM, "out of memory copying %" PRIu64 " strings", src->n);
        dst->arr = d;
        dst->n = src->n;
        const struct dfit_gguf_str *s = src->arr;
        for (uint64_t i = 0; i < src->n; i++) {
            int rc = str_copy(&d[i], &s[i], err);
            if (rc) {
                dfit_err_prefix(err, "element #%" PRIu64, i);
                return rc;
            }
        }
        return 0;
    }
    size_t sz = dfit_gguf_type_size(et);
    if (src->n > SIZE_MAX / sz)
        return dfit_err_set(err, DFIT_ENOMEM, "array of %" PRIu64 " %s is too long", src->n,
                            dfit_gguf_type_name(et));
    if (et == DFIT_GGUF_BOOL) {
        const uint8_t *b = src->arr;
        for (uint64_t i = 0; i < src->n; i++)
            if (b[i] > 1)
                return dfit_err_set(err, DFIT_EINVAL,
                                    "element #%" PRIu64 ": bool value %u (expected 0 or 1)", i, b[i]);
    }
    dst->arr = malloc((size_t)src->n * sz);
    if (!dst->arr)
        return dfit_err_set(err, DFIT_ENOMEM, "out of memory copying %" PRIu64 " %s", src->n,
                            dfit_gguf_type_name(et));
    memcpy(dst->arr, src->arr, (size_t)src->n * sz);
    dst->n = src->n;
    return 0;
}

int dfit_gguf_value_copy(struct dfit_gguf_value *dst, const struct dfit_gguf_value *src,
                         struct dfit_err *err)
{
    int rc;
    memset(dst, 0, sizeof *dst);
    uint32_t t = src->type;
    if (t >= DFIT_GGUF_TYPE_COUNT) {
        rc = dfit_err_set(err, DFIT_EINVAL, "unknown value type %" PRIu32, t);
        goto fail;
    }
    if (t == DFIT_GGUF_STRING) {
        dst->type = DFIT_GGUF_STRING;
        rc = str_copy(&dst->str, &src->str, err);
    } else if (t == DFIT_GGUF_ARRAY) {
        rc = array_copy(dst, src, err);
    } else {
        if (t == DFIT_GGUF_BOOL) {
            unsigned char byte;
            memcpy(&byte, &src->v.b, 1);
            if (byte > 1) {
                rc = dfit_err_set(err, DFIT_EINVAL, "bool value %u (expected 0 or 1)", byte);
                goto fail;
            }
        }
        dst->type = src->type;
        dst->v = src->v;
        rc = 0;
    }
    if (rc)
        goto fail;
    return 0;
fail:
    dfit_gguf_value_clear(dst);
    return rc;
}

/* ---- tensor shapes -------------------------------------------------------- */

int dfit_gguf_tensor_size(uint32_t type, uint32_t n_dims, const int64_t *ne,
                          uint64_t *n_elements, uint64_t *n_bytes, struct dfit_err *err)
{
    if (n_dims < 1 || n_dims > DFIT_GGUF_MAX_DIMS)
        return dfit_err_set(err, DFIT_EINVAL, "n_dims is %" PRIu32 " (expected 1 to %d)", n_dims,
                            DFIT_GGUF_MAX_DIMS);
    int64_t count = 1;
    for (uint32_t i = 0; i < n_dims; i++) {
        if (ne[i] < 1)
            return dfit_err_set(err, DFIT_EINVAL, "ne[%" PRIu32 "] is %" PRId64 " (must be >= 1)", i,
                                ne[i]);
        if (ne[i] > INT64_MAX / count)
            return dfit_err_set(err, DFIT_EINVAL,
                                "element count overflows at ne[%" PRIu32 "] = %" PRId64, i, ne[i]);
        count *= ne[i];
    }
    const struct dfit_type_info *ti = dfit_type_info(type);
    if (!ti) {
        const char *gname = dfit_type_ggml_name(type);
        if (gname)
            return dfit_err_set(err, DFIT_EUNSUPPORTED,
                                "type %s (id %" PRIu32 ") is not supported "
                                "(dfit reads f32, f16, bf16, q8_0 and q4_0)", gname, type);
        return dfit_err_set(err, DFIT_EINVAL, "unknown type id %" PRIu32, type);
    }
    if (ne[0] % ti->block_size != 0)
        return dfit_err_set(err, DFIT_EINVAL,
                            "ne[0] = %" PRId64 " is not a multiple of the %s block size (%" PRId64 ")",
                            ne[0], ti->name, ti->block_size);
    uint64_t n_blocks = (uint64_t)count / (uint64_t)ti->block_size;
    if (n_blocks > UINT64_MAX / ti->block_bytes) {
        char b[32];
        return dfit_err_set(err, DFIT_EINVAL, "byte size of %s %s elements overflows",
                            dfit_fmt_u64(b, sizeof b, (uint64_t)count), ti->name);
    }
    if (n_elements)
        *n_elements = (uint64_t)count;
    if (n_bytes)
        *n_bytes = n_blocks * ti->block_bytes;
    return 0;
}

/* ---- lookups and getters --------------------------------------------------- */

static bool str_eq(const struct dfit_gguf_str *s, const char *c)
{
    size_t n = strlen(c);
    return s->len == n && (n == 0 || memcmp(s->data, c, n) == 0);
}

const struct dfit_gguf_kv *dfit_gguf_find_kv(const struct dfit_gguf *g, const char *key)
{
    if (!g || !key)
        return NULL;
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (str_eq(&g->kv[i].key, key))
            return &g->kv[i];
    return NULL;
}

const struct dfit_gguf_tensor *dfit_gguf_find_tensor(const struct dfit_gguf *g, const char *name)
{
    if (!g || !name)
        return NULL;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (str_eq(&g->tensors[i].name, name))
            return &g->tensors[i];
    return NULL;
}

/* Finds key for a getter; fills err when absent or (with want >= 0) of
 * another type. */
static int lookup(const struct dfit_gguf *g, const char *key, int want,
                  const struct dfit_gguf_value **out, struct dfit_err *err)
{
    const char *path = g && g->path ? g->path : "gguf";
    *out = NULL;
    if (!key)
        return dfit_err_set(err, DFIT_EINVAL, "%s: NULL key", path);
    const struct dfit_gguf_kv *kv = dfit_gguf_find_kv(g, key);
    if (!kv)
        return dfit_err_set(err, DFIT_ENOTFOUND, "%s: key '%s': not found", path, key);
    if (want >= 0 && kv->value.type != (enum dfit_gguf_type)want)
        return dfit_err_set(err, DFIT_EINVAL, "%s: key '%s': type %s (expected %s)", path, key,
                            dfit_gguf_type_name(kv->value.type), dfit_gguf_type_name((uint32_t)want));
    *out = &kv->value;
    return 0;
}

/* The value of an integer-typed v: *neg and *i when negative, else *u. */
static bool int_of(const struct dfit_gguf_value *v, bool *neg, int64_t *i, uint64_t *u)
{
    int64_t s;
    switch (v->type) {
    case DFIT_GGUF_UINT8: *neg = false; *u = v->v.u8; return true;
    case DFIT_GGUF_UINT16: *neg = false; *u = v->v.u16; return true;
    case DFIT_GGUF_UINT32: *neg = false; *u = v->v.u32; return true;
    case DFIT_GGUF_UINT64: *neg = false; *u = v->v.u64; return true;
    case DFIT_GGUF_INT8: s = v->v.i8; break;
    case DFIT_GGUF_INT16: s = v->v.i16; break;
    case DFIT_GGUF_INT32: s = v->v.i32; break;
    case DFIT_GGUF_INT64: s = v->v.i64; break;
    default: return false;
    }
    *neg = s < 0;
    *i = s;
    *u = s < 0 ? 0 : (uint64_t)s;
    return true;
}

/* Integer getter core: the value of key if it is an integer in [0, max]
 * (or, with allow_neg, in [INT64_MIN, max]). */
static int get_int(const struct dfit_gguf *g, const char *key, const char *want, uint64_t max,
                   bool allow_neg, bool *neg, int64_t *i, uint64_t *u, struct dfit_err *err)
{
    const struct dfit_gguf_value *v;
    int rc = lookup(g, key, -1, &v, err);
    if (rc)
        return rc;
    if (!int_of(v, neg, i, u))
        return dfit_err_set(err, DFIT_EINVAL, "%s: key '%s': type %s (expected an integer for %s)",
                            g->path, key, dfit_gguf_type_name(v->type), want);
    if (*neg && !allow_neg)
        return dfit_err_set(err, DFIT_EINVAL, "%s: key '%s': value %" PRId64 " does not fit in %s",
                            g->path, key, *i, want);
    if (!*neg && *u > max)
        return dfit_err_set(err, DFIT_EINVAL, "%s: key '%s': value %" PRIu64 " does not fit in %s",
                            g->path, key, *u, want);
    return 0;
}

int dfit_gguf_get_u32(const struct dfit_gguf *g, const char *key, uint32_t *out, struct dfit_err *err)
{
    bool neg = false;
    int64_t i = 0;
    uint64_t u = 0;
    int rc = get_int(g, key, "uint32", UINT32_MAX, false, &neg, &i, &u, err);
    if (rc)
        return rc;
    *out = (uint32_t)u;
    return 0;
}

int dfit_gguf_get_u64(const struct dfit_gguf *g, const char *key, uint64_t *out, struct dfit_err *err)
{
    bool neg = false;
    int64_t i = 0;
    uint64_t u = 0;
    int rc = get_int(g, key, "uint64", UINT64_MAX, false, &neg, &i, &u, err);
    if (rc)
        return rc;
    *out = u;
    return 0;
}

int dfit_gguf_get_i64(const struct dfit_gguf *g, const char *key, int64_t *out, struct dfit_err *err)
{
    bool neg = false;
    int64_t i = 0;
    uint64_t u = 0;
    int rc = get_int(g, key, "int64", INT64_MAX, true, &neg, &i, &u, err);
    if (rc)
        return rc;
    *out = neg ? i : (int64_t)u;
    return 0;
}

int dfit_gguf_get_f32(const struct dfit_gguf *g, const char *key, float *out, struct dfit_err *err)
{
    const struct dfit_gguf_value *v;
    int rc = lookup(g, key, DFIT_GGUF_FLOAT32, &v, err);
    if (rc)
        return rc;
    *out = v->v.f32;
    return 0;
}

int dfit_gguf_get_bool(const struct dfit_gguf *g, const char *key, bool *out, struct dfit_err *err)
{
    const struct dfit_gguf_value *v;
    int rc = lookup(g, key, DFIT_GGUF_BOOL, &v, err);
    if (rc)
        return rc;
    *out = v->v.b;
    return 0;
}

int dfit_gguf_get_str(const struct dfit_gguf *g, const char *key, const struct dfit_gguf_str **out,
                      struct dfit_err *err)
{
    const struct dfit_gguf_value *v;
    *out = NULL;
    int rc = lookup(g, key, DFIT_GGUF_STRING, &v, err);
    if (rc)
        return rc;
    *out = &v->str;
    return 0;
}

int dfit_gguf_get_arr(const struct dfit_gguf *g, const char *key, enum dfit_gguf_type elem_type,
                      const struct dfit_gguf_value **out, struct dfit_err *err)
{
    const struct dfit_gguf_value *v;
    *out = NULL;
    int rc = lookup(g, key, DFIT_GGUF_ARRAY, &v, err);
    if (rc)
        return rc;
    if (v->arr_type != elem_type)
        return dfit_err_set(err, DFIT_EINVAL, "%s: key '%s': array of %s (expected array of %s)",
                            g->path, key, dfit_gguf_type_name(v->arr_type),
                            dfit_gguf_type_name(elem_type));
    *out = v;
    return 0;
}
