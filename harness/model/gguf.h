/* gguf.h — GGUF version 3 files: a validating reader and a writer.
 *
 * Layout (little-endian): magic "GGUF", u32 version, u64 n_tensors,
 * u64 n_kv, n_kv × (string key, u32 type, value), n_tensors × (string name,
 * u32 n_dims, n_dims × u64 ne, u32 type, u64 offset), padding to
 * `general.alignment` (default 32), tensor data. A string is u64 length +
 * bytes (no NUL). An array is u32 element type + u64 count + elements.
 *
 * The reader memory-maps the file and trusts nothing: every count, length,
 * type, dimension, product and offset is checked (overflow-safe, with caps
 * relative to the file size) before use, and a rejection names the file and
 * the field. Tensor data stays in the mapping (zero copy).
 * Non-goals: GGUF v1/v2, big-endian files, nested arrays (rejected).
 */
#ifndef DFIT_MODEL_GGUF_H
#define DFIT_MODEL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/types.h"
#include "util/err.h"

#define DFIT_GGUF_MAGIC "GGUF"
#define DFIT_GGUF_VERSION 3
#define DFIT_GGUF_DEFAULT_ALIGNMENT 32
#define DFIT_GGUF_MAX_DIMS 4

enum dfit_gguf_type {
    DFIT_GGUF_UINT8 = 0,
    DFIT_GGUF_INT8 = 1,
    DFIT_GGUF_UINT16 = 2,
    DFIT_GGUF_INT16 = 3,
    DFIT_GGUF_UINT32 = 4,
    DFIT_GGUF_INT32 = 5,
    DFIT_GGUF_FLOAT32 = 6,
    DFIT_GGUF_BOOL = 7,
    DFIT_GGUF_STRING = 8,
    DFIT_GGUF_ARRAY = 9,
    DFIT_GGUF_UINT64 = 10,
    DFIT_GGUF_INT64 = 11,
    DFIT_GGUF_FLOAT64 = 12,
    DFIT_GGUF_TYPE_COUNT
};

/* "uint8", "string", "array", ...; "?" for an unknown id. */
const char *dfit_gguf_type_name(uint32_t t);
/* Size in bytes of a fixed-size value type; 0 for STRING, ARRAY, unknown. */
size_t dfit_gguf_type_size(uint32_t t);

/* A string owned by its container: `len` bytes plus a NUL terminator (the
 * bytes may themselves contain NUL; use len). */
struct dfit_gguf_str {
    uint64_t len;
    char *data;
};

/* One metadata value. Scalars live in the union; strings in `str`; arrays
 * have `arr_type` and `n` elements at `arr` — packed little-endian values of
 * dfit_gguf_type_size(arr_type) bytes, or for STRING an array of n
 * struct dfit_gguf_str. Bools are one byte, 0 or 1. */
struct dfit_gguf_value {
    enum dfit_gguf_type type;
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16;
        uint32_t u32; int32_t i32; uint64_t u64; int64_t i64;
        float f32; double f64; bool b;
    } v;
    struct dfit_gguf_str str;       /* type == STRING */
    enum dfit_gguf_type arr_type;   /* type == ARRAY */
    uint64_t n;                     /* type == ARRAY: element count */
    void *arr;                      /* type == ARRAY: elements (see above) */
};

struct dfit_gguf_kv {
    struct dfit_gguf_str key;
    struct dfit_gguf_value value;
};

struct dfit_gguf_tensor {
    struct dfit_gguf_str name;
    uint32_t n_dims;                     /* 1..4 */
    int64_t ne[DFIT_GGUF_MAX_DIMS];      /* ne[0] = row length; unused dims 1 */
    enum dfit_type type;
    uint64_t offset;                     /* from the start of the data section */
    uint64_t n_elements;
    uint64_t n_bytes;
    const void *data;                    /* into the mapping (reader only) */
};

struct dfit_gguf {
    char *path;                    /* as opened, for messages */
    uint32_t version;
    uint64_t n_kv;
    struct dfit_gguf_kv *kv;       /* [n_kv] in file order */
    uint64_t n_tensors;
    struct dfit_gguf_tensor *tensors; /* [n_tensors] in file order */
    uint64_t alignment;
    uint64_t data_offset;          /* file offset of the data section */
    const uint8_t *map;            /* whole file, read-only */
    size_t map_bytes;
    bool file_mapped;              /* map is this struct's own mapping of the file
                                      (dfit_gguf_open), not a caller's buffer */
};

/* Maps and validates `path`. On success *out owns everything (free with
 * dfit_gguf_close). On failure *out is NULL and err says
 * "<path>: <field>: <reason>". Codes: DFIT_EIO (cannot open/map),
 * DFIT_EINVAL (malformed), DFIT_EUNSUPPORTED (valid GGUF dfit cannot use,
 * e.g. a K-quant tensor type or version 2), DFIT_ENOMEM. */
int dfit_gguf_open(const char *path, struct dfit_gguf **out, struct dfit_err *err);
/* Same checks on a caller-owned buffer (not copied; must outlive the
 * result); `name` is used in messages. For fuzzing and tests. */
int dfit_gguf_open_buffer(const void *buf, size_t n_bytes, const char *name,
                          struct dfit_gguf **out, struct dfit_err *err);
void dfit_gguf_close(struct dfit_gguf *g); /* accepts NULL */

/* Lookups return NULL when absent. */
const struct dfit_gguf_kv *dfit_gguf_find_kv(const struct dfit_gguf *g, const char *key);
const struct dfit_gguf_tensor *dfit_gguf_find_tensor(const struct dfit_gguf *g, const char *name);

/* Typed getters: 0 on success; DFIT_ENOTFOUND if absent, DFIT_EINVAL if of
 * another type (integer getters accept any integer type whose value fits),
 * with "<path>: key '<key>': ..." in err. */
int dfit_gguf_get_u32(const struct dfit_gguf *g, const char *key, uint32_t *out, struct dfit_err *err);
int dfit_gguf_get_u64(const struct dfit_gguf *g, const char *key, uint64_t *out, struct dfit_err *err);
int dfit_gguf_get_i64(const struct dfit_gguf *g, const char *key, int64_t *out, struct dfit_err *err);
int dfit_gguf_get_f32(const struct dfit_gguf *g, const char *key, float *out, struct dfit_err *err);
int dfit_gguf_get_bool(const struct dfit_gguf *g, const char *key, bool *out, struct dfit_err *err);
/* *out points into g (valid until close). */
int dfit_gguf_get_str(const struct dfit_gguf *g, const char *key, const struct dfit_gguf_str **out, struct dfit_err *err);
/* Array of elem_type; *out points into g. */
int dfit_gguf_get_arr(const struct dfit_gguf *g, const char *key, enum dfit_gguf_type elem_type,
                      const struct dfit_gguf_value **out, struct dfit_err *err);

/* ---- writer ---------------------------------------------------------- */

struct dfit_gguf_writer;

/* Produces a tensor's bytes on demand while writing, so huge models stream
 * to disk one tensor at a time. Returns 0 or a DFIT_E* with err filled. */
typedef int (*dfit_gguf_fill_fn)(void *user, const struct dfit_gguf_tensor *t,
                                 void *dst, struct dfit_err *err);

int dfit_gguf_writer_create(struct dfit_gguf_writer **out, struct dfit_err *err);
void dfit_gguf_writer_free(struct dfit_gguf_writer *w); /* accepts NULL */

/* Metadata setters copy their arguments; setting an existing key replaces
 * its value in place (keeps its position). */
int dfit_gguf_writer_set(struct dfit_gguf_writer *w, const char *key,
                         const struct dfit_gguf_value *v, struct dfit_err *err);
int dfit_gguf_writer_set_u32(struct dfit_gguf_writer *w, const char *key, uint32_t v, struct dfit_err *err);
int dfit_gguf_writer_set_u64(struct dfit_gguf_writer *w, const char *key, uint64_t v, struct dfit_err *err);
int dfit_gguf_writer_set_i32(struct dfit_gguf_writer *w, const char *key, int32_t v, struct dfit_err *err);
int dfit_gguf_writer_set_f32(struct dfit_gguf_writer *w, const char *key, float v, struct dfit_err *err);
int dfit_gguf_writer_set_bool(struct dfit_gguf_writer *w, const char *key, bool v, struct dfit_err *err);
int dfit_gguf_writer_set_str(struct dfit_gguf_writer *w, const char *key, const char *v, struct dfit_err *err);
/* Numeric array: n packed elements of elem_type (not STRING/ARRAY). */
int dfit_gguf_writer_set_arr(struct dfit_gguf_writer *w, const char *key, enum dfit_gguf_type elem_type,
                             const void *data, uint64_t n, struct dfit_err *err);
/* Array of n NUL-terminated strings. */
int dfit_gguf_writer_set_arr_str(struct dfit_gguf_writer *w, const char *key,
                                 const char *const *strs, uint64_t n, struct dfit_err *err);
/* Copies every kv of g (for conversions), in order. */
int dfit_gguf_writer_copy_kv(struct dfit_gguf_writer *w, const struct dfit_gguf *g, struct dfit_err *err);
int dfit_gguf_writer_remove(struct dfit_gguf_writer *w, const char *key);

/* Adds a tensor. Either `data` (borrowed: must stay valid until the write)
 * or `fill` (called with a zeroed buffer of the tensor's byte size) must be
 * given. ne[0] must suit the type's block size. Duplicate names are
 * rejected. */
int dfit_gguf_writer_add_tensor(struct dfit_gguf_writer *w, const char *name, enum dfit_type type,
                                uint32_t n_dims, const int64_t *ne, const void *data,
                                dfit_gguf_fill_fn fill, void *user, struct dfit_err *err);

/* Writes the file atomically (to "<path>.tmp", fsync, rename). Alignment is
 * `general.alignment` if set (u32, power of two), else 32. */
int dfit_gguf_writer_write(struct dfit_gguf_writer *w, const char *path, struct dfit_err *err);

/* ---- helpers shared by the reader, the writer and tools ------------- */

/* Longest tensor name in bytes (llama.cpp's GGML_MAX_NAME - 1), enforced by
 * the reader and the writer so files stay loadable by llama.cpp. */
#define DFIT_GGUF_MAX_NAME 63

/* Frees what v owns (string, array) and zeroes it. Accepts NULL. */
void dfit_gguf_value_clear(struct dfit_gguf_value *v);
/* Deep copy of src into *dst (overwritten, not freed first). Checks src:
 * known type, no nested array, NULL data only when empty, bools 0 or 1.
 * On failure *dst is zeroed and err holds the reason alone (the caller
 * prefixes the key): DFIT_EINVAL or DFIT_ENOMEM. */
int dfit_gguf_value_copy(struct dfit_gguf_value *dst, const struct dfit_gguf_value *src,
                         struct dfit_err *err);
/* Checks a tensor's type and shape and computes its size: a type dfit
 * supports (DFIT_EUNSUPPORTED naming a known ggml type, else DFIT_EINVAL),
 * n_dims 1..4, every ne[i] >= 1, ne[0] a multiple of the block size, the
 * element count within int64 and the byte size within uint64. Sets
 * *n_elements and *n_bytes (either may be NULL). On failure err holds the
 * reason alone ("ne[1] is 0 (must be >= 1)"); the caller prefixes the
 * tensor. */
int dfit_gguf_tensor_size(uint32_t type, uint32_t n_dims, const int64_t *ne,
                          uint64_t *n_elements, uint64_t *n_bytes, struct dfit_err *err);
/* A printable form of len bytes at s for messages: bytes outside printable
 * ASCII (and backslash, quote) as \xNN, cut with "..." to fit cap (>= 8).
 * Returns buf. */
const char *dfit_gguf_str_show(const char *s, uint64_t len, char *buf, size_t cap);

#endif
