/* gguf_read.c — the validating GGUF v3 reader (see gguf.h for the layout).
 *
 * The file is memory-mapped read-only and parsed by a bounds-checked cursor.
 * Nothing is trusted: every count and length is capped by the bytes left in
 * the file before anything is allocated, products and sums are checked for
 * overflow, and the tensor table is checked against the alignment, the file
 * order and the end of the file. Metadata is copied into owned buffers;
 * tensor data stays in the mapping. A rejection names the file, the object
 * (header, key #i 'name', tensor 'name', data section) and the reason.
 * Non-goals: GGUF v1/v2 and big-endian files (rejected as unsupported),
 * nested arrays, repairing or guessing around damage.
 */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fmt.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader copies little-endian arrays as they are: little-endian hosts only"
#endif

/* Hard caps on top of the file-size caps (far above any real model). */
#define MAX_KV (1u << 24)
#define MAX_TENSORS (1u << 24)
/* Smallest encodings: a key-value is a 1-byte key + type + 1-byte value; a
 * tensor info a 1-byte name, n_dims, one ne, type and offset. */
#define MIN_KV_BYTES (8 + 1 + 4 + 1)
#define MIN_TENSOR_BYTES (8 + 1 + 4 + 8 + 4 + 8)

/* What dfit_gguf_open hands out: the public struct plus who owns the map. */
struct gguf_box {
    struct dfit_gguf g;
    bool owns_map;
};

struct parser {
    const uint8_t *p;        /* [n] the file */
    size_t n;
    size_t pos;              /* cursor */
    const char *path;        /* for messages */
    char what[160];          /* the object being read: "header", "key #3 'x'" */
    struct dfit_err *err;
};

/* A formatted number ("9,437,216") that lives until the end of the full
 * expression it appears in. */
struct num {
    char s[32];
};

static struct num num(uint64_t v)
{
    struct num n;
    dfit_fmt_u64(n.s, sizeof n.s, v);
    return n;
}

/* Rejects the file: "<path>: <what>: <reason>". */
__attribute__((format(printf, 3, 4)))
static int bad(struct parser *ps, int code, const char *fmt, ...)
{
    char reason[DFIT_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return dfit_err_set(ps->err, code, "%s: %s: %s", ps->path, ps->what, reason);
}

/* Names the object being read in later messages. */
__attribute__((format(printf, 2, 3)))
static void what(struct parser *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->what, sizeof ps->what, fmt, ap);
    va_end(ap);
}

static size_t left(const struct parser *ps)
{
    return ps->n - ps->pos;
}

/* Checks that n_bytes of `field` are there at the cursor. */
static int need(struct parser *ps, uint64_t n_bytes, const char *field)
{
    if (n_bytes <= left(ps))
        return 0;
    return bad(ps, DFIT_EINVAL, "%s truncated: needs %s bytes at byte %s, file ends at byte %s",
               field, num(n_bytes).s, num(ps->pos).s, num(ps->n).s);
}

static int rd_u32(struct parser *ps, uint32_t *out, const char *field)
{
    int rc = need(ps, 4, field);
    if (rc)
        return rc;
    const uint8_t *b = ps->p + ps->pos;
    *out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    ps->pos += 4;
    return 0;
}

static int rd_u64(struct parser *ps, uint64_t *out, const char *field)
{
    int rc = need(ps, 8, field);
    if (rc)
        return rc;
    const uint8_t *b = ps->p + ps->pos;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    *out = v;
    ps->pos += 8;
    return 0;
}

/* Reads a GGUF string into an owned, NUL-terminated copy. */
static int rd_str(struct parser *ps, struct dfit_gguf_str *s, const char *field)
{
    char lenfield[64];
    uint64_t len;
    snprintf(lenfield, sizeof lenfield, "%s length", field);
    int rc = rd_u64(ps, &len, lenfield);
    if (rc)
        return rc;
    if (len > left(ps))
        return bad(ps, DFIT_EINVAL, "%s length %s runs past end of file (%s bytes left)", field,
                   num(len).s, num(left(ps)).s);
    s->data = malloc((size_t)len + 1);
    if (!s->data)
        return bad(ps, DFIT_ENOMEM, "out of memory for a %s of %s bytes", field, num(len).s);
    if (len > 0)
        memcpy(s->data, ps->p + ps->pos, (size_t)len);
    s->data[len] = '\0';
    s->len = len;
    ps->pos += (size_t)len;
    return 0;
}

static int rd_array(struct parser *ps, struct dfit_gguf_value *v)
{
    uint32_t et;
    uint64_t n;
    int rc = rd_u32(ps, &et, "array element type");
    if (rc)
        return rc;
    if (et >= DFIT_GGUF_TYPE_COUNT)
        return bad(ps, DFIT_EINVAL, "array element type %" PRIu32 " is unknown", et);
    if (et == DFIT_GGUF_ARRAY)
        return bad(ps, DFIT_EUNSUPPORTED, "nested arrays are not supported");
    rc = rd_u64(ps, &n, "array count");
    if (rc)
        return rc;
    v->type = DFIT_GGUF_ARRAY;
    v->arr_type = (enum dfit_gguf_type)et;
    size_t esize = et == DFIT_GGUF_STRING ? 8 : dfit_gguf_type_size(et); /* smallest encoding */
    if (n > left(ps) / esize)
        return bad(ps, DFIT_EINVAL, "array of %s %s runs past end of file (%s bytes left)", num(n).s,
                   dfit_gguf_type_name(et), num(left(ps)).s);
    if (n == 0)
        return 0;
    if (et == DFIT_GGUF_STRING) {
        struct dfit_gguf_str *s = calloc((size_t)n, sizeof *s);
        if (!s)
            return bad(ps, DFIT_ENOMEM, "out of memory for %s strings", num(n).s);
        v->arr = s;
        v->n = n;
        for (uint64_t i = 0; i < n; i++) {
            char field[48];
            snprintf(field, sizeof field, "element #%" PRIu64, i);
            rc = rd_str(ps, &s[i], field);
            if (rc)
                return rc;
        }
        return 0;
    }
    const uint8_t *src = ps->p + ps->pos;
    size_t n_bytes = (size_t)n * esize;
    if (et == DFIT_GGUF_BOOL) {
        for (uint64_t i = 0; i < n; i++)
            if (src[i] > 1)
                return bad(ps, DFIT_EINVAL, "element #%" PRIu64 ": bool value %u (expected 0 or 1)", i,
                           src[i]);
    }
    v->arr = malloc(n_bytes);
    if (!v->arr)
        return bad(ps, DFIT_ENOMEM, "out of memory for %s %s", num(n).s, dfit_gguf_type_name(et));
    memcpy(v->arr, src, n_bytes);
    v->n = n;
    ps->pos += n_bytes;
    return 0;
}

static int rd_value(struct parser *ps, struct dfit_gguf_value *v)
{
    uint32_t t;
    int rc = rd_u32(ps, &t, "value type");
    if (rc)
        return rc;
    if (t >= DFIT_GGUF_TYPE_COUNT)
        return bad(ps, DFIT_EINVAL, "value type %" PRIu32 " is unknown", t);
    if (t == DFIT_GGUF_STRING) {
        v->type = DFIT_GGUF_STRING;
        return rd_str(ps, &v->str, "string");
    }
    if (t == DFIT_GGUF_ARRAY)
        return rd_array(ps, v);
    size_t size = dfit_gguf_type_size(t);
    rc = need(ps, size, "value");
    if (rc)
        return rc;
    const uint8_t *b = ps->p + ps->pos;
    if (t == DFIT_GGUF_BOOL && b[0] > 1)
        return bad(ps, DFIT_EINVAL, "bool value %u (expected 0 or 1)", b[0]);
    v->type = (enum dfit_gguf_type)t;
    if (t == DFIT_GGUF_BOOL)
        v->v.b = b[0] != 0;
    else
        memcpy(&v->v, b, size); /* every union member starts at byte 0 */
    ps->pos += size;
    return 0;
}

/* ---- duplicate names ------------------------------------------------------ */

struct name_ref {
    const char *data;
    uint64_t len;
    uint64_t idx;
};

static int name_cmp(const void *a, const void *b)
{
    const struct name_ref *x = a, *y = b;
    uint64_t m = x->len < y->len ? x->len : y->len;
    int c = m ? memcmp(x->data, y->data, (size_t)m) : 0;
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Finds the earliest name (by index) that repeats an earlier one. Returns
 * 1 with *first and *dup set, 0 if none, DFIT_ENOMEM. The names are the
 * `len`/`data` string at byte `off` of each of n records of `stride`. */
static int find_dup(const void *base, size_t stride, size_t off, uint64_t n, uint64_t *first,
                    uint64_t *dup)
{
    if (n < 2)
        return 0;
    struct name_ref *r = malloc((size_t)n * sizeof *r);
    if (!r)
        return DFIT_ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        const struct dfit_gguf_str *s =
            (const struct dfit_gguf_str *)((const char *)base + i * stride + off);
        r[i] = (struct name_ref){s->data, s->len, i};
    }
    qsort(r, (size_t)n, sizeof *r, name_cmp);
    int found = 0;
    for (uint64_t i = 0; i + 1 < n; i++) {
        if (r[i].len != r[i + 1].len || (r[i].len && memcmp(r[i].data, r[i + 1].data, r[i].len)))
            continue;
        /* sorted by index within a run: r[i] is the first of this pair */
        if (!found || r[i + 1].idx < *dup) {
            *first = r[i].idx;
            *dup = r[i + 1].idx;
            found = 1;
        }
        while (i + 1 < n && r[i].len == r[i + 1].len &&
               (!r[i].len || !memcmp(r[i].data, r[i + 1].data, r[i].len)))
            i++;
    }
    free(r);
    return found;
}

/* ---- sections ------------------------------------------------------------ */

static int parse_header(struct parser *ps, struct dfit_gguf *g)
{
    char show[32];
    int rc;
    what(ps, "header");
    rc = need(ps, 4, "magic");
    if (rc)
        return rc;
    if (memcmp(ps->p, DFIT_GGUF_MAGIC, 4) != 0)
        return bad(ps, DFIT_EINVAL, "bad magic '%s' (expected 'GGUF')",
                   dfit_gguf_str_show((const char *)ps->p, 4, show, sizeof show));
    ps->pos = 4;
    rc = rd_u32(ps, &g->version, "version");
    if (rc)
        return rc;
    uint32_t v = g->version;
    if (v == 1 || v == 2)
        return bad(ps, DFIT_EUNSUPPORTED, "GGUF version %" PRIu32 " is not supported (dfit reads version 3)",
                   v);
    if (v == 0x01000000u || v == 0x02000000u || v == 0x03000000u)
        return bad(ps, DFIT_EUNSUPPORTED,
                   "version 0x%08" PRIx32 " is a byte-swapped %u: big-endian GGUF is not supported", v,
                   (unsigned)(v >> 24));
    if (v != DFIT_GGUF_VERSION)
        return bad(ps, DFIT_EINVAL, "unknown version %" PRIu32 " (expected 3)", v);
    rc = rd_u64(ps, &g->n_tensors, "n_tensors");
    if (!rc)
        rc = rd_u64(ps, &g->n_kv, "n_kv");
    if (rc)
        return rc;
    uint64_t rest = left(ps);
    if (g->n_kv > rest / MIN_KV_BYTES)
        return bad(ps, DFIT_EINVAL, "n_kv %s cannot fit in the %s bytes after the header", num(g->n_kv).s,
                   num(rest).s);
    if (g->n_tensors > rest / MIN_TENSOR_BYTES)
        return bad(ps, DFIT_EINVAL, "n_tensors %s cannot fit in the %s bytes after the header",
                   num(g->n_tensors).s, num(rest).s);
    if (g->n_kv * MIN_KV_BYTES + g->n_tensors * MIN_TENSOR_BYTES > rest)
        return bad(ps, DFIT_EINVAL, "n_kv %s and n_tensors %s cannot fit in the %s bytes after the header",
                   num(g->n_kv).s, num(g->n_tensors).s, num(rest).s);
    if (g->n_kv > MAX_KV)
        return bad(ps, DFIT_EUNSUPPORTED, "n_kv %s is over dfit's cap (%s)", num(g->n_kv).s,
                   num(MAX_KV).s);
    if (g->n_tensors > MAX_TENSORS)
        return bad(ps, DFIT_EUNSUPPORTED, "n_tensors %s is over dfit's cap (%s)", num(g->n_tensors).s,
                   num(MAX_TENSORS).s);
    return 0;
}

static int parse_kvs(struct parser *ps, struct dfit_gguf *g)
{
    char show[96];
    int rc;
    g->kv = calloc(g->n_kv ? (size_t)g->n_kv : 1, sizeof *g->kv);
    if (!g->kv)
        return bad(ps, DFIT_ENOMEM, "out of memory for %s key-values", num(g->n_kv).s);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        struct dfit_gguf_kv *kv = &g->kv[i];
        what(ps, "key #%" PRIu64, i);
        rc = rd_str(ps, &kv->key, "key");
        if (rc)
            return rc;
        if (kv->key.len == 0)
            return bad(ps, DFIT_EINVAL, "empty key");
        what(ps, "key #%" PRIu64 " '%s'", i, dfit_gguf_str_show(kv->key.data, kv->key.len, show, sizeof show));
        rc = rd_value(ps, &kv->value);
        if (rc)
            return rc;
    }
    uint64_t first, dup;
    rc = find_dup(g->kv, sizeof *g->kv, offsetof(struct dfit_gguf_kv, key), g->n_kv, &first, &dup);
    if (rc < 0) {
        what(ps, "keys");
        return bad(ps, rc, "out of memory checking for duplicate keys");
    }
    if (rc > 0) {
        const struct dfit_gguf_str *k = &g->kv[dup].key;
        what(ps, "key #%" PRIu64 " '%s'", dup, dfit_gguf_str_show(k->data, k->len, show, sizeof show));
        return bad(ps, DFIT_EINVAL, "duplicate key (also key #%" PRIu64 ")", first);
    }
    g->alignment = DFIT_GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct dfit_gguf_kv *kv = &g->kv[i];
        if (kv->key.len != strlen("general.alignment") || memcmp(kv->key.data, "general.alignment", kv->key.len))
            continue;
        what(ps, "key #%" PRIu64 " 'general.alignment'", i);
        if (kv->value.type != DFIT_GGUF_UINT32)
            return bad(ps, DFIT_EINVAL, "type %s (expected uint32)", dfit_gguf_type_name(kv->value.type));
        uint32_t a = kv->value.v.u32;
        if (a == 0 || (a & (a - 1)) != 0)
            return bad(ps, DFIT_EINVAL, "alignment %" PRIu32 " is not a power of two", a);
        g->alignment = a;
    }
    return 0;
}

static int parse_tensor_info(struct parser *ps, uint64_t i, struct dfit_gguf_tensor *t)
{
    char show[96];
    uint32_t type;
    int rc;
    what(ps, "tensor #%" PRIu64, i);
    rc = rd_str(ps, &t->name, "name");
    if (rc)
        return rc;
    if (t->name.len == 0)
        return bad(ps, DFIT_EINVAL, "empty name");
    dfit_gguf_str_show(t->name.data, t->name.len, show, sizeof show);
    if (t->name.len > DFIT_GGUF_MAX_NAME)
        return bad(ps, DFIT_EINVAL, "name '%s' is %s bytes (at most %d)", show, num(t->name.len).s,
                   DFIT_GGUF_MAX_NAME);
    what(ps, "tensor '%s'", show);
    rc = rd_u32(ps, &t->n_dims, "n_dims");
    if (rc)
        return rc;
    if (t->n_dims < 1 || t->n_dims > DFIT_GGUF_MAX_DIMS)
        return bad(ps, DFIT_EINVAL, "n_dims is %" PRIu32 " (expected 1 to %d)", t->n_dims,
                   DFIT_GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < DFIT_GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        char field[8] = "ne[0]";
        field[3] = (char)('0' + d);
        if (d < t->n_dims && (rc = rd_u64(ps, &ne, field)) != 0)
            return rc;
        t->ne[d] = ne > INT64_MAX ? -(int64_t)(UINT64_MAX - ne) - 1 : (int64_t)ne;
    }
    rc = rd_u32(ps, &type, "type");
    if (!rc)
        rc = rd_u64(ps, &t->offset, "offset");
    if (rc)
        return rc;
    rc = dfit_gguf_tensor_size(type, t->n_dims, t->ne, &t->n_elements, &t->n_bytes, ps->err);
    if (rc) {
        dfit_err_prefix(ps->err, "%s: %s", ps->path, ps->what);
        return rc;
    }
    t->type = (enum dfit_type)type;
    return 0;
}

/* Places the tensors: each aligned, in file order, not overlapping the one
 * before, inside the file. */
static int place_tensors(struct parser *ps, struct dfit_gguf *g)
{
    char show[96];
    uint64_t size = ps->n;
    what(ps, "data section");
    if (g->data_offset > size)
        return bad(ps, DFIT_EINVAL, "starts at byte %s (after padding to %s), past end of file (%s)",
                   num(g->data_offset).s, num(g->alignment).s, num(size).s);
    uint64_t room = size - g->data_offset; /* bytes of data section in the file */
    uint64_t prev_end = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        struct dfit_gguf_tensor *t = &g->tensors[i];
        what(ps, "tensor '%s'", dfit_gguf_str_show(t->name.data, t->name.len, show, sizeof show));
        if (t->offset % g->alignment != 0)
            return bad(ps, DFIT_EINVAL, "offset %s is not a multiple of the alignment (%s)",
                       num(t->offset).s, num(g->alignment).s);
        if (i > 0 && t->offset < prev_end) {
            const struct dfit_gguf_tensor *p = &g->tensors[i - 1];
            char pshow[96];
            dfit_gguf_str_show(p->name.data, p->name.len, pshow, sizeof pshow);
            if (t->offset < p->offset)
                return bad(ps, DFIT_EINVAL,
                           "offset %s is before tensor '%s' (offset %s): tensors must be in file order",
                           num(t->offset).s, pshow, num(p->offset).s);
            return bad(ps, DFIT_EINVAL, "data at offset %s overlaps tensor '%s' (which ends at offset %s)",
                       num(t->offset).s, pshow, num(prev_end).s);
        }
        if (t->offset > room)
            return bad(ps, DFIT_EINVAL, "data starts at offset %s of the data section, past end of file (%s)",
                       num(t->offset).s, num(size).s);
        if (t->n_bytes > room - t->offset) {
            uint64_t start = g->data_offset + t->offset; /* <= size: no overflow */
            if (t->n_bytes > UINT64_MAX - start)
                return bad(ps, DFIT_EINVAL, "data of %s bytes at byte %s runs past end of file (%s)",
                           num(t->n_bytes).s, num(start).s, num(size).s);
            return bad(ps, DFIT_EINVAL, "data ends at byte %s, past end of file (%s)",
                       num(start + t->n_bytes).s, num(size).s);
        }
        prev_end = t->offset + t->n_bytes;
        t->data = ps->p + g->data_offset + t->offset;
    }
    return 0;
}

static int parse_tensors(struct parser *ps, struct dfit_gguf *g)
{
    char show[96];
    int rc;
    g->tensors = calloc(g->n_tensors ? (size_t)g->n_tensors : 1, sizeof *g->tensors);
    if (!g->tensors)
        return bad(ps, DFIT_ENOMEM, "out of memory for %s tensors", num(g->n_tensors).s);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        rc = parse_tensor_info(ps, i, &g->tensors[i]);
        if (rc)
            return rc;
    }
    uint64_t first, dup;
    rc = find_dup(g->tensors, sizeof *g->tensors, offsetof(struct dfit_gguf_tensor, name),
                  g->n_tensors, &first, &dup);
    if (rc < 0) {
        what(ps, "tensors");
        return bad(ps, rc, "out of memory checking for duplicate names");
    }
    if (rc > 0) {
        const struct dfit_gguf_str *s = &g->tensors[dup].name;
        what(ps, "tensor #%" PRIu64 " '%s'", dup, dfit_gguf_str_show(s->data, s->len, show, sizeof show));
        return bad(ps, DFIT_EINVAL, "duplicate name (also tensor #%" PRIu64 ")", first);
    }
    /* the data section starts at the next multiple of the alignment */
    uint64_t pos = ps->pos;
    g->data_offset = pos + (g->alignment - pos % g->alignment) % g->alignment;
    if (g->n_tensors == 0)
        return 0; /* nothing to place; a metadata-only file may omit the padding */
    return place_tensors(ps, g);
}

static int parse(struct parser *ps, struct dfit_gguf *g)
{
    int rc = parse_header(ps, g);
    if (!rc)
        rc = parse_kvs(ps, g);
    if (!rc)
        rc = parse_tensors(ps, g);
    return rc;
}

/* ---- open / close ---------------------------------------------------------- */

void dfit_gguf_close(struct dfit_gguf *g)
{
    if (!g)
        return;
    struct gguf_box *box = (struct gguf_box *)g;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) {
            free(g->kv[i].key.data);
            dfit_gguf_value_clear(&g->kv[i].value);
        }
    if (g->tensors)
        for (uint64_t i = 0; i < g->n_tensors; i++)
            free(g->tensors[i].name.data);
    free(g->kv);
    free(g->tensors);
    if (box->owns_map && g->map)
        munmap((void *)(uintptr_t)g->map, g->map_bytes);
    free(g->path);
    free(box);
}

/* Parses buf into a new struct; takes the mapping over when owns_map (it is
 * unmapped on failure too). */
static int open_mem(const uint8_t *buf, size_t n_bytes, const char *name, bool owns_map,
                    struct dfit_gguf **out, struct dfit_err *err)
{
    struct parser ps = {.p = buf, .n = n_bytes, .pos = 0, .path = name, .err = err};
    struct dfit_gguf *g = NULL;
    int rc;
    struct gguf_box *box = calloc(1, sizeof *box);
    if (!box) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    box->owns_map = owns_map;
    box->g.file_mapped = owns_map;
    g = &box->g;
    g->map = buf;
    g->map_bytes = n_bytes;
    g->path = strdup(name);
    if (!g->path) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    rc = parse(&ps, g);
    if (rc)
        goto fail;
    *out = g;
    return 0;
fail:
    if (g)
        dfit_gguf_close(g); /* unmaps an owned map */
    else if (owns_map && buf)
        munmap((void *)(uintptr_t)buf, n_bytes);
    return rc;
}

int dfit_gguf_open_buffer(const void *buf, size_t n_bytes, const char *name, struct dfit_gguf **out,
                          struct dfit_err *err)
{
    if (!name)
        name = "<buffer>";
    if (!out)
        return dfit_err_set(err, DFIT_EINVAL, "%s: no output pointer", name);
    *out = NULL;
    if (!buf && n_bytes > 0)
        return dfit_err_set(err, DFIT_EINVAL, "%s: NULL buffer of %s bytes", name, num(n_bytes).s);
    return open_mem(buf, n_bytes, name, false, out, err);
}

int dfit_gguf_open(const char *path, struct dfit_gguf **out, struct dfit_err *err)
{
    if (!out)
        return dfit_err_set(err, DFIT_EINVAL, "%s: no output pointer", path ? path : "gguf");
    *out = NULL;
    if (!path)
        return dfit_err_set(err, DFIT_EINVAL, "gguf: NULL path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dfit_err_set(err, DFIT_EIO, "%s: open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return dfit_err_set(err, DFIT_EIO, "%s: stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return dfit_err_set(err, DFIT_EIO, "%s: open: not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return dfit_err_set(err, DFIT_EIO, "%s: open: file of %s bytes cannot be mapped", path,
                            num((uint64_t)st.st_size).s);
    }
    size_t n_bytes = (size_t)st.st_size;
    void *map = NULL;
    if (n_bytes > 0) {
        map = mmap(NULL, n_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return dfit_err_set(err, DFIT_EIO, "%s: mmap: %s", path, strerror(e));
        }
    }
    close(fd);
    return open_mem(map, n_bytes, path, map != NULL, out, err);
}
