/* fuzz_gguf — libFuzzer target for the GGUF reader.
 *
 * Feeds each input to dfit_gguf_open_buffer. A rejection must come back as
 * a negative code, a NULL result and a message that starts with the file
 * name; an accepted file must be internally consistent, and every key,
 * value, array element, tensor info and tensor data byte is read (so the
 * sanitizers see any access the reader's checks should have ruled out).
 * Seeds: tests/fuzz/corpus/; tokens: tests/fuzz/gguf.dict.
 * Non-goal: fuzzing the writer (its input is the program's own).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"

#define NAME "fuzz.gguf"

static volatile uint64_t sink;

/* Stops the fuzzer with a crash it reports, for a broken invariant. */
#define CHECK(c)                \
    do {                        \
        if (!(c))               \
            __builtin_trap();   \
    } while (0)

static uint64_t touch_str(const struct dfit_gguf_str *s)
{
    uint64_t h = s->len;
    CHECK(s->data != NULL);
    CHECK(s->data[s->len] == '\0');
    for (uint64_t i = 0; i < s->len; i++)
        h = h * 31 + (uint8_t)s->data[i];
    return h;
}

static uint64_t touch_value(const struct dfit_gguf_value *v)
{
    uint64_t h = (uint64_t)v->type;
    CHECK((uint32_t)v->type < DFIT_GGUF_TYPE_COUNT);
    if (v->type == DFIT_GGUF_STRING)
        return h + touch_str(&v->str);
    if (v->type != DFIT_GGUF_ARRAY) {
        uint64_t raw = 0;
        memcpy(&raw, &v->v, dfit_gguf_type_size(v->type));
        return h + raw;
    }
    CHECK(v->arr_type != DFIT_GGUF_ARRAY && (uint32_t)v->arr_type < DFIT_GGUF_TYPE_COUNT);
    CHECK(v->n == 0 || v->arr != NULL);
    if (v->arr_type == DFIT_GGUF_STRING) {
        const struct dfit_gguf_str *s = v->arr;
        for (uint64_t i = 0; i < v->n; i++)
            h += touch_str(&s[i]);
        return h;
    }
    const uint8_t *b = v->arr;
    uint64_t n_bytes = v->n * dfit_gguf_type_size(v->arr_type);
    for (uint64_t i = 0; i < n_bytes; i++)
        h = h * 31 + b[i];
    if (v->arr_type == DFIT_GGUF_BOOL)
        for (uint64_t i = 0; i < v->n; i++)
            CHECK(b[i] <= 1);
    return h;
}

static uint64_t touch_getters(const struct dfit_gguf *g, const char *key)
{
    struct dfit_err err;
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    float f = 0;
    bool b = false;
    const struct dfit_gguf_str *s = NULL;
    const struct dfit_gguf_value *v = NULL;
    uint64_t h = 0;
    if (dfit_gguf_get_u32(g, key, &u32, &err) == 0)
        h += u32;
    if (dfit_gguf_get_u64(g, key, &u64, &err) == 0)
        h += u64;
    if (dfit_gguf_get_i64(g, key, &i64, &err) == 0)
        h += (uint64_t)i64;
    if (dfit_gguf_get_f32(g, key, &f, &err) == 0)
        h += (uint64_t)(f == f);
    if (dfit_gguf_get_bool(g, key, &b, &err) == 0)
        h += b;
    if (dfit_gguf_get_str(g, key, &s, &err) == 0)
        h += s->len;
    if (dfit_gguf_get_arr(g, key, DFIT_GGUF_STRING, &v, &err) == 0)
        h += v->n;
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dfit_gguf *g = (struct dfit_gguf *)&sink; /* must be set to NULL on failure */
    struct dfit_err err = {0};
    int rc = dfit_gguf_open_buffer(data, size, NAME, &g, &err);
    if (rc != 0) {
        CHECK(rc < 0 && g == NULL && err.code == rc);
        CHECK(strncmp(err.msg, NAME ": ", strlen(NAME) + 2) == 0);
        return 0;
    }
    CHECK(g != NULL && g->version == DFIT_GGUF_VERSION);
    CHECK(g->alignment > 0 && (g->alignment & (g->alignment - 1)) == 0);
    uint64_t h = 0;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct dfit_gguf_kv *kv = &g->kv[i];
        CHECK(kv->key.len > 0);
        h += touch_str(&kv->key) + touch_value(&kv->value);
        if (g->n_kv <= 1024 && strlen(kv->key.data) == kv->key.len) { /* lookups are linear */
            CHECK(dfit_gguf_find_kv(g, kv->key.data) == kv); /* keys are unique */
            h += touch_getters(g, kv->key.data);
        }
        struct dfit_gguf_value copy;
        if (dfit_gguf_value_copy(&copy, &kv->value, &err) == 0) {
            h += touch_value(&copy);
            dfit_gguf_value_clear(&copy);
        }
    }
    uint64_t prev_end = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct dfit_gguf_tensor *t = &g->tensors[i];
        h += touch_str(&t->name);
        CHECK(t->n_dims >= 1 && t->n_dims <= DFIT_GGUF_MAX_DIMS);
        uint64_t n_el = 1, n_bytes = 0;
        for (int d = 0; d < DFIT_GGUF_MAX_DIMS; d++) {
            CHECK(t->ne[d] >= 1);
            n_el *= (uint64_t)t->ne[d];
        }
        CHECK(n_el == t->n_elements);
        CHECK(dfit_gguf_tensor_size((uint32_t)t->type, t->n_dims, t->ne, NULL, &n_bytes, &err) == 0);
        CHECK(n_bytes == t->n_bytes);
        CHECK(t->offset % g->alignment == 0 && t->offset >= prev_end);
        prev_end = t->offset + t->n_bytes;
        const uint8_t *p = t->data;
        CHECK(p >= g->map && p + t->n_bytes <= g->map + g->map_bytes);
        for (uint64_t k = 0; k < t->n_bytes; k++)
            h += p[k];
        if (g->n_tensors <= 1024 && strlen(t->name.data) == t->name.len)
            CHECK(dfit_gguf_find_tensor(g, t->name.data) == t);
    }
    sink = h;
    dfit_gguf_close(g);
    return 0;
}
