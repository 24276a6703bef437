/* test_gguf_roundtrip — files written by the GGUF writer read back
 * identically: every value type as a scalar and an array, tensors of every
 * supported type and 1-4 dims, default and custom alignment, byte-identical
 * re-writes through copy_kv, the typed getters, key replacement and the
 * writer's own input checks and failure cleanup.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf.h"

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/dfit_gguf_rt_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    return rmdir(tmpdir);
}

static const char *tpath(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static uint8_t *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Deterministic bytes for tensor data. */
static void fill_bytes(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

/* ---- the reference content ------------------------------------------------ */

static const uint8_t a_u8[] = {0, 1, 255};
static const int8_t a_i8[] = {-128, 0, 127};
static const uint16_t a_u16[] = {0, 65535, 1234};
static const int16_t a_i16[] = {-32768, 32767, -1};
static const uint32_t a_u32[] = {0, 4294967295u, 7};
static const int32_t a_i32[] = {INT32_MIN, INT32_MAX, -7};
static const float a_f32[] = {0.0f, -1.5f, 3.25e10f};
static const uint8_t a_bool[] = {1, 0, 1, 1};
static const uint64_t a_u64[] = {UINT64_MAX, 0, 1ull << 40};
static const int64_t a_i64[] = {INT64_MIN, INT64_MAX, -1};
static const double a_f64[] = {1e300, -2.5, 0.1};
static const char nul_str[] = {'a', '\0', 'b'}; /* 3 bytes with a NUL inside */

/* Sets every scalar and array type on w. */
static void set_all_kinds(struct dfit_gguf_writer *w)
{
    struct dfit_err err = {0};
    struct dfit_gguf_value v;
#define SETV(key, field, typ, val)                                      \
    do {                                                                \
        memset(&v, 0, sizeof v);                                        \
        v.type = typ;                                                   \
        v.v.field = val;                                                \
        assert_int_equal(dfit_gguf_writer_set(w, key, &v, &err), 0);    \
    } while (0)
    SETV("s.u8", u8, DFIT_GGUF_UINT8, 200);
    SETV("s.i8", i8, DFIT_GGUF_INT8, -100);
    SETV("s.u16", u16, DFIT_GGUF_UINT16, 60000);
    SETV("s.i16", i16, DFIT_GGUF_INT16, -30000);
    SETV("s.u32", u32, DFIT_GGUF_UINT32, 4000000000u);
    SETV("s.i32", i32, DFIT_GGUF_INT32, -2000000000);
    SETV("s.f32", f32, DFIT_GGUF_FLOAT32, 1.25f);
    SETV("s.bool", b, DFIT_GGUF_BOOL, true);
    SETV("s.u64", u64, DFIT_GGUF_UINT64, 1ull << 63);
    SETV("s.i64", i64, DFIT_GGUF_INT64, -(1ll << 62));
    SETV("s.f64", f64, DFIT_GGUF_FLOAT64, -1e-300);
#undef SETV
    assert_int_equal(dfit_gguf_writer_set_str(w, "s.str", "hello, gguf", &err), 0);
    assert_int_equal(dfit_gguf_writer_set_str(w, "s.empty", "", &err), 0);
    memset(&v, 0, sizeof v);
    v.type = DFIT_GGUF_STRING;
    v.str.len = sizeof nul_str;
    v.str.data = (char *)nul_str;
    assert_int_equal(dfit_gguf_writer_set(w, "s.nul", &v, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_i32(w, "s.set_i32", -5, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_u64(w, "s.set_u64", 99, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_bool(w, "s.set_false", false, &err), 0);

#define SETA(key, typ, arr)                                                               \
    assert_int_equal(dfit_gguf_writer_set_arr(w, key, typ, arr, sizeof arr / sizeof arr[0], &err), 0)
    SETA("a.u8", DFIT_GGUF_UINT8, a_u8);
    SETA("a.i8", DFIT_GGUF_INT8, a_i8);
    SETA("a.u16", DFIT_GGUF_UINT16, a_u16);
    SETA("a.i16", DFIT_GGUF_INT16, a_i16);
    SETA("a.u32", DFIT_GGUF_UINT32, a_u32);
    SETA("a.i32", DFIT_GGUF_INT32, a_i32);
    SETA("a.f32", DFIT_GGUF_FLOAT32, a_f32);
    SETA("a.bool", DFIT_GGUF_BOOL, a_bool);
    SETA("a.u64", DFIT_GGUF_UINT64, a_u64);
    SETA("a.i64", DFIT_GGUF_INT64, a_i64);
    SETA("a.f64", DFIT_GGUF_FLOAT64, a_f64);
#undef SETA
    assert_int_equal(dfit_gguf_writer_set_arr(w, "a.empty_u32", DFIT_GGUF_UINT32, NULL, 0, &err), 0);
    const char *strs[] = {"one", "", "three", "\xe2\x96\x81unicode"};
    assert_int_equal(dfit_gguf_writer_set_arr_str(w, "a.str", strs, 4, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_arr_str(w, "a.empty_str", NULL, 0, &err), 0);
    struct dfit_gguf_str s2[2] = {{sizeof nul_str, (char *)nul_str}, {0, NULL}};
    memset(&v, 0, sizeof v);
    v.type = DFIT_GGUF_ARRAY;
    v.arr_type = DFIT_GGUF_STRING;
    v.n = 2;
    v.arr = s2;
    assert_int_equal(dfit_gguf_writer_set(w, "a.str_nul", &v, &err), 0);
}

static void check_arr(const struct dfit_gguf *g, const char *key, enum dfit_gguf_type t, const void *want,
                      uint64_t n)
{
    const struct dfit_gguf_value *v = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_gguf_get_arr(g, key, t, &v, &err), 0);
    assert_int_equal(v->n, n);
    if (n)
        assert_memory_equal(v->arr, want, n * dfit_gguf_type_size(t));
}

/* Checks every value set_all_kinds wrote. */
static void check_all_kinds(const struct dfit_gguf *g)
{
    const struct dfit_gguf_kv *kv;
#define CHECKV(key, typ, field, val)                                 \
    do {                                                             \
        kv = dfit_gguf_find_kv(g, key);                              \
        assert_non_null(kv);                                         \
        assert_int_equal(kv->value.type, typ);                       \
        assert_true(kv->value.v.field == (val));                     \
    } while (0)
    CHECKV("s.u8", DFIT_GGUF_UINT8, u8, 200);
    CHECKV("s.i8", DFIT_GGUF_INT8, i8, -100);
    CHECKV("s.u16", DFIT_GGUF_UINT16, u16, 60000);
    CHECKV("s.i16", DFIT_GGUF_INT16, i16, -30000);
    CHECKV("s.u32", DFIT_GGUF_UINT32, u32, 4000000000u);
    CHECKV("s.i32", DFIT_GGUF_INT32, i32, -2000000000);
    CHECKV("s.f32", DFIT_GGUF_FLOAT32, f32, 1.25f);
    CHECKV("s.bool", DFIT_GGUF_BOOL, b, true);
    CHECKV("s.u64", DFIT_GGUF_UINT64, u64, 1ull << 63);
    CHECKV("s.i64", DFIT_GGUF_INT64, i64, -(1ll << 62));
    CHECKV("s.f64", DFIT_GGUF_FLOAT64, f64, -1e-300);
    CHECKV("s.set_i32", DFIT_GGUF_INT32, i32, -5);
    CHECKV("s.set_u64", DFIT_GGUF_UINT64, u64, 99);
    CHECKV("s.set_false", DFIT_GGUF_BOOL, b, false);
#undef CHECKV
    const struct dfit_gguf_str *s = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_gguf_get_str(g, "s.str", &s, &err), 0);
    assert_int_equal(s->len, 11);
    assert_string_equal(s->data, "hello, gguf");
    assert_int_equal(dfit_gguf_get_str(g, "s.empty", &s, &err), 0);
    assert_int_equal(s->len, 0);
    assert_non_null(s->data);
    assert_string_equal(s->data, "");
    assert_int_equal(dfit_gguf_get_str(g, "s.nul", &s, &err), 0);
    assert_int_equal(s->len, 3);
    assert_memory_equal(s->data, nul_str, 3);
    assert_int_equal(s->data[3], '\0');

    check_arr(g, "a.u8", DFIT_GGUF_UINT8, a_u8, 3);
    check_arr(g, "a.i8", DFIT_GGUF_INT8, a_i8, 3);
    check_arr(g, "a.u16", DFIT_GGUF_UINT16, a_u16, 3);
    check_arr(g, "a.i16", DFIT_GGUF_INT16, a_i16, 3);
    check_arr(g, "a.u32", DFIT_GGUF_UINT32, a_u32, 3);
    check_arr(g, "a.i32", DFIT_GGUF_INT32, a_i32, 3);
    check_arr(g, "a.f32", DFIT_GGUF_FLOAT32, a_f32, 3);
    check_arr(g, "a.bool", DFIT_GGUF_BOOL, a_bool, 4);
    check_arr(g, "a.u64", DFIT_GGUF_UINT64, a_u64, 3);
    check_arr(g, "a.i64", DFIT_GGUF_INT64, a_i64, 3);
    check_arr(g, "a.f64", DFIT_GGUF_FLOAT64, a_f64, 3);
    check_arr(g, "a.empty_u32", DFIT_GGUF_UINT32, NULL, 0);

    const struct dfit_gguf_value *v = NULL;
    assert_int_equal(dfit_gguf_get_arr(g, "a.str", DFIT_GGUF_STRING, &v, &err), 0);
    assert_int_equal(v->n, 4);
    const struct dfit_gguf_str *ss = v->arr;
    assert_string_equal(ss[0].data, "one");
    assert_int_equal(ss[1].len, 0);
    assert_string_equal(ss[1].data, "");
    assert_string_equal(ss[2].data, "three");
    assert_string_equal(ss[3].data, "\xe2\x96\x81unicode");
    assert_int_equal(dfit_gguf_get_arr(g, "a.empty_str", DFIT_GGUF_STRING, &v, &err), 0);
    assert_int_equal(v->n, 0);
    assert_int_equal(dfit_gguf_get_arr(g, "a.str_nul", DFIT_GGUF_STRING, &v, &err), 0);
    assert_int_equal(v->n, 2);
    ss = v->arr;
    assert_int_equal(ss[0].len, 3);
    assert_memory_equal(ss[0].data, nul_str, 3);
    assert_int_equal(ss[1].len, 0);
}

/* ---- tensors ------------------------------------------------------------- */

struct tspec {
    const char *name;
    enum dfit_type type;
    uint32_t n_dims;
    int64_t ne[4];
    bool use_fill;
};

static const struct tspec tspecs[] = {
    {"t.f32.1d", DFIT_TYPE_F32, 1, {7, 1, 1, 1}, false},
    {"t.f16.2d", DFIT_TYPE_F16, 2, {5, 3, 1, 1}, true},
    {"t.bf16.3d", DFIT_TYPE_BF16, 3, {3, 2, 2, 1}, false},
    {"t.q8_0.4d", DFIT_TYPE_Q8_0, 4, {64, 2, 1, 3}, true},
    {"t.q4_0.2d", DFIT_TYPE_Q4_0, 2, {32, 3, 1, 1}, false},
    {"t.q8_0.1d", DFIT_TYPE_Q8_0, 1, {32, 1, 1, 1}, false},
    {"t.q4_0.4d", DFIT_TYPE_Q4_0, 4, {96, 1, 2, 1}, true},
    {"t.f32.4d", DFIT_TYPE_F32, 4, {2, 3, 4, 5}, true},
    {"t.f16.1d", DFIT_TYPE_F16, 1, {1, 1, 1, 1}, false},
    {"t.bf16.2d", DFIT_TYPE_BF16, 2, {33, 1, 1, 1}, true},
};
#define N_TSPECS (sizeof tspecs / sizeof tspecs[0])

static uint64_t spec_bytes(const struct tspec *s)
{
    const struct dfit_type_info *ti = dfit_type_info(s->type);
    uint64_t n = 1;
    for (uint32_t d = 0; d < s->n_dims; d++)
        n *= (uint64_t)s->ne[d];
    return n / (uint64_t)ti->block_size * ti->block_bytes;
}

static uint8_t *tdata[N_TSPECS];
static int n_fill_calls;

static int fill_cb(void *user, const struct dfit_gguf_tensor *t, void *dst, struct dfit_err *err)
{
    (void)err;
    size_t i = (size_t)(uintptr_t)user;
    /* the buffer comes zeroed */
    for (uint64_t k = 0; k < t->n_bytes; k++)
        assert_int_equal(((uint8_t *)dst)[k], 0);
    assert_string_equal(t->name.data, tspecs[i].name);
    memcpy(dst, tdata[i], (size_t)t->n_bytes);
    n_fill_calls++;
    return 0;
}

static void add_all_tensors(struct dfit_gguf_writer *w)
{
    struct dfit_err err = {0};
    for (size_t i = 0; i < N_TSPECS; i++) {
        const struct tspec *s = &tspecs[i];
        if (!tdata[i]) {
            size_t n = (size_t)spec_bytes(s);
            tdata[i] = malloc(n);
            fill_bytes(tdata[i], n, (uint32_t)i + 1);
        }
        int rc = dfit_gguf_writer_add_tensor(w, s->name, s->type, s->n_dims, s->ne,
                                             s->use_fill ? NULL : tdata[i], s->use_fill ? fill_cb : NULL,
                                             (void *)(uintptr_t)i, &err);
        assert_int_equal(rc, 0);
    }
}

static void check_tensors(const struct dfit_gguf *g, uint64_t alignment)
{
    assert_int_equal(g->n_tensors, N_TSPECS);
    assert_int_equal(g->alignment, alignment);
    assert_int_equal(g->data_offset % alignment, 0);
    uint64_t expect_off = 0;
    for (size_t i = 0; i < N_TSPECS; i++) {
        const struct tspec *s = &tspecs[i];
        const struct dfit_gguf_tensor *t = &g->tensors[i];
        assert_string_equal(t->name.data, s->name);
        assert_ptr_equal(dfit_gguf_find_tensor(g, s->name), t);
        assert_int_equal(t->type, s->type);
        assert_int_equal(t->n_dims, s->n_dims);
        uint64_t n_el = 1;
        for (int d = 0; d < 4; d++) {
            assert_int_equal(t->ne[d], s->ne[d]);
            n_el *= (uint64_t)s->ne[d];
        }
        assert_int_equal(t->n_elements, n_el);
        assert_int_equal(t->n_bytes, spec_bytes(s));
        /* llama.cpp's layout: each tensor at the running aligned offset */
        assert_int_equal(t->offset, expect_off);
        expect_off += (t->n_bytes + alignment - 1) / alignment * alignment;
        assert_ptr_equal(t->data, g->map + g->data_offset + t->offset);
        assert_memory_equal(t->data, tdata[i], (size_t)t->n_bytes);
        /* padding after each tensor is zero */
        for (uint64_t k = t->offset + t->n_bytes; k < expect_off; k++)
            assert_int_equal(g->map[g->data_offset + k], 0);
    }
    assert_int_equal(g->map_bytes, g->data_offset + expect_off);
    assert_null(dfit_gguf_find_tensor(g, "absent"));
}

/* Writes the reference file (all kinds of values, all tensors). */
static void write_reference(const char *path, uint32_t alignment)
{
    struct dfit_gguf_writer *w = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_gguf_writer_create(&w, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_str(w, "general.architecture", "llama", &err), 0);
    if (alignment)
        assert_int_equal(dfit_gguf_writer_set_u32(w, "general.alignment", alignment, &err), 0);
    set_all_kinds(w);
    add_all_tensors(w);
    n_fill_calls = 0;
    int rc = dfit_gguf_writer_write(w, path, &err);
    if (rc)
        fail_msg("write: %s", err.msg);
    assert_int_equal(n_fill_calls, 5);
    dfit_gguf_writer_free(w);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(file_exists(tmp));
}

static void roundtrip(uint32_t alignment)
{
    const char *path = tpath(alignment ? "aligned.gguf" : "default.gguf");
    write_reference(path, alignment);
    struct dfit_gguf *g = NULL;
    struct dfit_err err = {0};
    int rc = dfit_gguf_open(path, &g, &err);
    if (rc)
        fail_msg("open: %s", err.msg);
    assert_int_equal(g->version, 3);
    assert_string_equal(g->path, path);
    /* keys in insertion order */
    static const char *const order[] = {
        "s.u8", "s.i8", "s.u16", "s.i16", "s.u32", "s.i32", "s.f32", "s.bool", "s.u64", "s.i64",
        "s.f64", "s.str", "s.empty", "s.nul", "s.set_i32", "s.set_u64", "s.set_false", "a.u8",
        "a.i8", "a.u16", "a.i16", "a.u32", "a.i32", "a.f32", "a.bool", "a.u64", "a.i64", "a.f64",
        "a.empty_u32", "a.str", "a.empty_str", "a.str_nul",
    };
    const size_t n_order = sizeof order / sizeof order[0];
    uint64_t base = alignment ? 2 : 1;
    assert_int_equal(g->n_kv, base + n_order);
    assert_string_equal(g->kv[0].key.data, "general.architecture");
    if (alignment) {
        assert_string_equal(g->kv[1].key.data, "general.alignment");
        assert_int_equal(g->kv[1].value.type, DFIT_GGUF_UINT32);
        assert_int_equal(g->kv[1].value.v.u32, alignment);
    }
    for (size_t i = 0; i < n_order; i++) {
        assert_string_equal(g->kv[base + i].key.data, order[i]);
        assert_ptr_equal(dfit_gguf_find_kv(g, order[i]), &g->kv[base + i]);
    }
    check_all_kinds(g);
    check_tensors(g, alignment ? alignment : 32);
    /* the same bytes through the buffer entry point */
    struct dfit_gguf *g2 = NULL;
    assert_int_equal(dfit_gguf_open_buffer(g->map, g->map_bytes, "buf", &g2, &err), 0);
    assert_string_equal(g2->path, "buf");
    assert_int_equal(g2->n_kv, g->n_kv);
    check_all_kinds(g2);
    check_tensors(g2, alignment ? alignment : 32);
    dfit_gguf_close(g2);
    dfit_gguf_close(g);
}

static void test_roundtrip_default_alignment(void **state)
{
    (void)state;
    roundtrip(0);
}

static void test_roundtrip_custom_alignment(void **state)
{
    (void)state;
    roundtrip(64);
    roundtrip(1);
    roundtrip(4096);
}

/* Read, re-write through copy_kv and the mapped tensor data: byte-identical. */
static void test_rewrite_identical(void **state)
{
    (void)state;
    const char *a = tpath("a.gguf"), *b = tpath("b.gguf");
    write_reference(a, 128);
    struct dfit_gguf *g = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_gguf_open(a, &g, &err), 0);
    struct dfit_gguf_writer *w = NULL;
    assert_int_equal(dfit_gguf_writer_create(&w, &err), 0);
    assert_int_equal(dfit_gguf_writer_copy_kv(w, g, &err), 0);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct dfit_gguf_tensor *t = &g->tensors[i];
        assert_int_equal(dfit_gguf_writer_add_tensor(w, t->name.data, t->type, t->n_dims, t->ne, t->data,
                                                     NULL, NULL, &err), 0);
    }
    assert_int_equal(dfit_gguf_writer_write(w, b, &err), 0);
    dfit_gguf_writer_free(w);
    size_t na, nb;
    uint8_t *ba = slurp(a, &na), *bb = slurp(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(ba, bb, na);
    free(ba);
    free(bb);
    /* copy_kv into a writer that already has some keys: replaced in place */
    assert_int_equal(dfit_gguf_writer_create(&w, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_str(w, "mine.first", "x", &err), 0);
    assert_int_equal(dfit_gguf_writer_set_u32(w, "s.u8", 1, &err), 0);
    assert_int_equal(dfit_gguf_writer_copy_kv(w, g, &err), 0);
    assert_int_equal(dfit_gguf_writer_write(w, b, &err), 0);
    dfit_gguf_writer_free(w);
    dfit_gguf_close(g);
    assert_int_equal(dfit_gguf_open(b, &g, &err), 0);
    assert_string_equal(g->kv[0].key.data, "mine.first");
    assert_string_equal(g->kv[1].key.data, "s.u8");
    assert_int_equal(g->kv[1].value.type, DFIT_GGUF_UINT8);
    assert_int_equal(g->kv[1].value.v.u8, 200);
    assert_string_equal(g->kv[2].key.data, "general.architecture");
    assert_int_equal(g->n_tensors, 0);
    check_all_kinds(g);
    dfit_gguf_close(g);
}

/* Getters: type checks and integer widening. */
static void test_getters(void **state)
{
    (void)state;
    const char *path = tpath("getters.gguf");
    struct dfit_gguf_writer *w = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_gguf_writer_create(&w, &err), 0);
    set_all_kinds(w);
    assert_int_equal(dfit_gguf_writer_set_i32(w, "neg", -1, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_u64(w, "big", 1ull << 40, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_u64(w, "u64.small", 77, &err), 0);
    assert_int_equal(dfit_gguf_writer_write(w, path, &err), 0);
    dfit_gguf_writer_free(w);
    struct dfit_gguf *g = NULL;
    assert_int_equal(dfit_gguf_open(path, &g, &err), 0);

    uint32_t u32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    float f = 0;
    bool b = false;
    /* widening from every integer type whose value fits */
    assert_int_equal(dfit_gguf_get_u32(g, "s.u8", &u32, &err), 0);
    assert_int_equal(u32, 200);
    assert_int_equal(dfit_gguf_get_u32(g, "s.u16", &u32, &err), 0);
    assert_int_equal(u32, 60000);
    assert_int_equal(dfit_gguf_get_u32(g, "s.u32", &u32, &err), 0);
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(dfit_gguf_get_u32(g, "u64.small", &u32, &err), 0);
    assert_int_equal(u32, 77);
    assert_int_equal(dfit_gguf_get_u64(g, "s.u64", &u64, &err), 0);
    assert_true(u64 == 1ull << 63);
    assert_int_equal(dfit_gguf_get_u64(g, "s.u32", &u64, &err), 0);
    assert_int_equal(u64, 4000000000u);
    assert_int_equal(dfit_gguf_get_i64(g, "s.i8", &i64, &err), 0);
    assert_int_equal(i64, -100);
    assert_int_equal(dfit_gguf_get_i64(g, "s.i16", &i64, &err), 0);
    assert_int_equal(i64, -30000);
    assert_int_equal(dfit_gguf_get_i64(g, "s.i32", &i64, &err), 0);
    assert_int_equal(i64, -2000000000);
    assert_int_equal(dfit_gguf_get_i64(g, "s.i64", &i64, &err), 0);
    assert_true(i64 == -(1ll << 62));
    assert_int_equal(dfit_gguf_get_i64(g, "s.u32", &i64, &err), 0);
    assert_int_equal(i64, 4000000000u);
    assert_int_equal(dfit_gguf_get_u32(g, "s.set_i32", &u32, &err), DFIT_EINVAL); /* -5 */
    assert_non_null(strstr(err.msg, "key 's.set_i32': value -5 does not fit in uint32"));
    assert_int_equal(dfit_gguf_get_u64(g, "neg", &u64, &err), DFIT_EINVAL);
    /* values that do not fit */
    assert_int_equal(dfit_gguf_get_u32(g, "big", &u32, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "getters.gguf: key 'big': value 1099511627776 does not fit in uint32"));
    assert_int_equal(dfit_gguf_get_i64(g, "s.u64", &i64, &err), DFIT_EINVAL);
    /* wrong types */
    assert_int_equal(dfit_gguf_get_u32(g, "s.f32", &u32, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "key 's.f32': type float32"));
    assert_int_equal(dfit_gguf_get_u32(g, "s.bool", &u32, &err), DFIT_EINVAL);
    assert_int_equal(dfit_gguf_get_u32(g, "s.str", &u32, &err), DFIT_EINVAL);
    assert_int_equal(dfit_gguf_get_f32(g, "s.f64", &f, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "key 's.f64': type float64 (expected float32)"));
    assert_int_equal(dfit_gguf_get_f32(g, "s.f32", &f, &err), 0);
    assert_true(f == 1.25f);
    assert_int_equal(dfit_gguf_get_bool(g, "s.bool", &b, &err), 0);
    assert_true(b);
    assert_int_equal(dfit_gguf_get_bool(g, "s.u8", &b, &err), DFIT_EINVAL);
    const struct dfit_gguf_str *s = NULL;
    assert_int_equal(dfit_gguf_get_str(g, "s.u32", &s, &err), DFIT_EINVAL);
    assert_null(s);
    const struct dfit_gguf_value *v = NULL;
    assert_int_equal(dfit_gguf_get_arr(g, "a.u32", DFIT_GGUF_INT32, &v, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "key 'a.u32': array of uint32 (expected array of int32)"));
    assert_null(v);
    assert_int_equal(dfit_gguf_get_arr(g, "s.u32", DFIT_GGUF_UINT32, &v, &err), DFIT_EINVAL);
    /* absent */
    assert_int_equal(dfit_gguf_get_u32(g, "nope", &u32, &err), DFIT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "getters.gguf: key 'nope': not found"));
    assert_int_equal(dfit_gguf_get_str(g, "nope", &s, &err), DFIT_ENOTFOUND);
    assert_null(dfit_gguf_find_kv(g, "nope"));
    assert_null(dfit_gguf_find_kv(g, "s.u")); /* no prefix matches */
    dfit_gguf_close(g);
    dfit_gguf_close(NULL);
}

/* set on an existing key replaces it in place; remove drops it. */
static void test_set_replaces(void **state)
{
    (void)state;
    const char *path = tpath("replace.gguf");
    struct dfit_gguf_writer *w = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_gguf_writer_create(&w, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_u32(w, "a", 1, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_u32(w, "b", 2, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_u32(w, "c", 3, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_str(w, "a", "now a string", &err), 0);
    const char *strs[] = {"x", "y"};
    assert_int_equal(dfit_gguf_writer_set_arr_str(w, "b", strs, 2, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_f32(w, "b", 0.5f, &err), 0);
    assert_int_equal(dfit_gguf_writer_remove(w, "c"), 0);
    assert_int_equal(dfit_gguf_writer_remove(w, "c"), DFIT_ENOTFOUND);
    assert_int_equal(dfit_gguf_writer_set_u32(w, "d", 4, &err), 0);
    assert_int_equal(dfit_gguf_writer_write(w, path, &err), 0);
    /* writing over an existing file replaces it */
    assert_int_equal(dfit_gguf_writer_write(w, path, &err), 0);
    dfit_gguf_writer_free(w);
    dfit_gguf_writer_free(NULL);
    struct dfit_gguf *g = NULL;
    assert_int_equal(dfit_gguf_open(path, &g, &err), 0);
    assert_int_equal(g->n_kv, 3);
    assert_string_equal(g->kv[0].key.data, "a");
    assert_int_equal(g->kv[0].value.type, DFIT_GGUF_STRING);
    assert_string_equal(g->kv[0].value.str.data, "now a string");
    assert_string_equal(g->kv[1].key.data, "b");
    assert_int_equal(g->kv[1].value.type, DFIT_GGUF_FLOAT32);
    assert_true(g->kv[1].value.v.f32 == 0.5f);
    assert_string_equal(g->kv[2].key.data, "d");
    /* metadata only: no tensors, data section right after the padding */
    assert_int_equal(g->n_tensors, 0);
    assert_int_equal(g->data_offset % 32, 0);
    assert_int_equal(g->map_bytes, g->data_offset);
    dfit_gguf_close(g);
}

/* The writer rejects what the reader would reject, with clear errors. */
static void test_writer_rejects(void **state)
{
    (void)state;
    struct dfit_gguf_writer *w = NULL;
    struct dfit_err err = {0};
    static uint8_t data[4096];
    assert_int_equal(dfit_gguf_writer_create(&w, &err), 0);
    const int64_t ne32[4] = {32, 2, 1, 1};
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "w", DFIT_TYPE_F32, 2, ne32, data, NULL, NULL, &err), 0);
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "w", DFIT_TYPE_F32, 2, ne32, data, NULL, NULL, &err),
                     DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "tensor 'w': duplicate name"));
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "x", DFIT_TYPE_F32, 0, ne32, data, NULL, NULL, &err),
                     DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "tensor 'x': n_dims is 0 (expected 1 to 4)"));
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "x", DFIT_TYPE_F32, 5, ne32, data, NULL, NULL, &err),
                     DFIT_EINVAL);
    const int64_t ne_zero[4] = {32, 0, 1, 1};
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "x", DFIT_TYPE_F32, 2, ne_zero, data, NULL, NULL, &err),
                     DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "tensor 'x': ne[1] is 0 (must be >= 1)"));
    const int64_t ne_neg[4] = {-32, 1, 1, 1};
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "x", DFIT_TYPE_F32, 1, ne_neg, data, NULL, NULL, &err),
                     DFIT_EINVAL);
    const int64_t ne33[4] = {33, 1, 1, 1};
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "x", DFIT_TYPE_Q8_0, 1, ne33, data, NULL, NULL, &err),
                     DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "tensor 'x': ne[0] = 33 is not a multiple of the q8_0 block size (32)"));
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "x", (enum dfit_type)12, 1, ne32, data, NULL, NULL, &err),
                     DFIT_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "type q4_k (id 12) is not supported"));
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "x", (enum dfit_type)200, 1, ne32, data, NULL, NULL, &err),
                     DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "unknown type id 200"));
    const int64_t ne_huge[4] = {INT64_MAX / 2, 4, 1, 1};
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "x", DFIT_TYPE_F32, 2, ne_huge, data, NULL, NULL, &err),
                     DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "element count overflows"));
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "x", DFIT_TYPE_F32, 1, ne32, NULL, NULL, NULL, &err),
                     DFIT_EINVAL);
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "x", DFIT_TYPE_F32, 1, ne32, data, fill_cb, NULL, &err),
                     DFIT_EINVAL);
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "", DFIT_TYPE_F32, 1, ne32, data, NULL, NULL, &err),
                     DFIT_EINVAL);
    char longname[80];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(dfit_gguf_writer_add_tensor(w, longname, DFIT_TYPE_F32, 1, ne32, data, NULL, NULL, &err),
                     DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "name is 79 bytes (at most 63)"));

    assert_int_equal(dfit_gguf_writer_set_u32(w, "general.alignment", 48, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "key 'general.alignment': alignment 48 is not a power of two"));
    assert_int_equal(dfit_gguf_writer_set_u32(w, "general.alignment", 0, &err), DFIT_EINVAL);
    assert_int_equal(dfit_gguf_writer_set_u64(w, "general.alignment", 64, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "type uint64 (expected uint32)"));
    assert_int_equal(dfit_gguf_writer_set_str(w, "", "x", &err), DFIT_EINVAL);
    assert_int_equal(dfit_gguf_writer_set_arr(w, "k", DFIT_GGUF_ARRAY, data, 1, &err), DFIT_EINVAL);
    assert_int_equal(dfit_gguf_writer_set_arr(w, "k", (enum dfit_gguf_type)13, data, 1, &err), DFIT_EINVAL);
    const uint8_t bad_bools[] = {0, 1, 2};
    assert_int_equal(dfit_gguf_writer_set_arr(w, "k", DFIT_GGUF_BOOL, bad_bools, 3, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "key 'k': element #2: bool value 2"));
    struct dfit_gguf_value v = {.type = DFIT_GGUF_ARRAY, .arr_type = DFIT_GGUF_ARRAY, .n = 0};
    assert_int_equal(dfit_gguf_writer_set(w, "k", &v, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "nested arrays"));
    /* none of the failures left a key or tensor behind */
    const char *path = tpath("rejects.gguf");
    assert_int_equal(dfit_gguf_writer_write(w, path, &err), 0);
    dfit_gguf_writer_free(w);
    struct dfit_gguf *g = NULL;
    assert_int_equal(dfit_gguf_open(path, &g, &err), 0);
    assert_int_equal(g->n_kv, 0);
    assert_int_equal(g->n_tensors, 1);
    dfit_gguf_close(g);
}

static int failing_fill(void *user, const struct dfit_gguf_tensor *t, void *dst, struct dfit_err *err)
{
    (void)user;
    (void)dst;
    return dfit_err_set(err, DFIT_EIO, "source of '%s' went away", t->name.data);
}

/* A failed write leaves neither the tmp file nor a destination behind. */
static void test_write_failure_cleans_up(void **state)
{
    (void)state;
    struct dfit_gguf_writer *w = NULL;
    struct dfit_err err = {0};
    static uint8_t data[128];
    const int64_t ne[1] = {32};
    assert_int_equal(dfit_gguf_writer_create(&w, &err), 0);
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "ok", DFIT_TYPE_F32, 1, ne, data, NULL, NULL, &err), 0);
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "bad", DFIT_TYPE_F32, 1, ne, NULL, failing_fill, NULL, &err),
                     0);
    const char *path = tpath("fail.gguf");
    assert_int_equal(dfit_gguf_writer_write(w, path, &err), DFIT_EIO);
    assert_non_null(strstr(err.msg, "fail.gguf: tensor 'bad': source of 'bad' went away"));
    assert_false(file_exists(path));
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(file_exists(tmp));
    /* a directory that does not exist */
    assert_int_equal(dfit_gguf_writer_write(w, tpath("no/such/dir.gguf"), &err), DFIT_EIO);
    assert_non_null(strstr(err.msg, "no/such/dir.gguf.tmp: open:"));
    dfit_gguf_writer_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_default_alignment),
        cmocka_unit_test(test_roundtrip_custom_alignment),
        cmocka_unit_test(test_rewrite_identical),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_set_replaces),
        cmocka_unit_test(test_writer_rejects),
        cmocka_unit_test(test_write_failure_cleans_up),
    };
    int rc = cmocka_run_group_tests(tests, setup_dir, teardown_dir);
    for (size_t i = 0; i < N_TSPECS; i++)
        free(tdata[i]);
    return rc;
}
