/* test_gguf_malformed — the GGUF reader rejects every malformed file with
 * the expected code and a message naming the file, the object and the
 * field, and hands back NULL. Each file is built byte by byte here, opened
 * from a temporary directory (dfit_gguf_open) and from memory
 * (dfit_gguf_open_buffer); one case per validation rule, plus a valid file
 * truncated at several points and the open errors (missing file, directory,
 * empty file).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gguf.h"

static char tmpdir[64];

/* ---- byte builder ------------------------------------------------------ */

struct bb {
    uint8_t *p;
    size_t n, cap;
};

static void put(struct bb *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n)
            c *= 2;
        b->p = realloc(b->p, c);
        assert_non_null(b->p);
        b->cap = c;
    }
    if (n)
        memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void u8_(struct bb *b, uint8_t v) { put(b, &v, 1); }

static void u32_(struct bb *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

static void u64_(struct bb *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        u8_(b, (uint8_t)(v >> (8 * i)));
}

static void strn_(struct bb *b, const char *s, size_t n)
{
    u64_(b, n);
    put(b, s, n);
}

static void str_(struct bb *b, const char *s) { strn_(b, s, strlen(s)); }

static void header(struct bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    u32_(b, version);
    u64_(b, n_tensors);
    u64_(b, n_kv);
}

/* A key and its value type; the caller writes the value. */
static void key(struct bb *b, const char *k, uint32_t type)
{
    str_(b, k);
    u32_(b, type);
}

static void kv_u32(struct bb *b, const char *k, uint32_t v)
{
    key(b, k, DFIT_GGUF_UINT32);
    u32_(b, v);
}

static void tinfo(struct bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                  uint64_t offset)
{
    str_(b, name);
    u32_(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++)
        u64_(b, ne[i]);
    u32_(b, type);
    u64_(b, offset);
}

static void pad_to(struct bb *b, size_t align)
{
    while (b->n % align)
        u8_(b, 0);
}

static void zeros(struct bb *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        u8_(b, 0);
}

/* A file with one tensor described by the arguments and n_data bytes of
 * data after the default padding. */
static void one_tensor(struct bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                       uint64_t offset, size_t n_data)
{
    header(b, 3, 1, 0);
    tinfo(b, name, n_dims, ne, type, offset);
    pad_to(b, 32);
    zeros(b, n_data);
}

/* ---- the valid file that cases derive from ------------------------------ */

/* Marks in the valid file, for truncations. */
struct marks {
    size_t key3;       /* start of key #3 */
    size_t tokens_el1; /* element #1 of the string array (key #2) */
    size_t tensor1;    /* start of tensor info #1 ('w') */
    size_t data;       /* start of the data section */
    size_t w_end;      /* end of tensor 'w' data */
};

static void valid_file(struct bb *b, struct marks *m)
{
    struct marks dummy;
    if (!m)
        m = &dummy;
    header(b, 3, 2, 5);
    key(b, "general.name", DFIT_GGUF_STRING);
    str_(b, "a valid file for truncation tests");
    key(b, "general.architecture", DFIT_GGUF_STRING);
    str_(b, "llama");
    key(b, "tokenizer.ggml.tokens", DFIT_GGUF_ARRAY);
    u32_(b, DFIT_GGUF_STRING);
    u64_(b, 3);
    str_(b, "<beginning-of-text>");
    m->tokens_el1 = b->n;
    str_(b, "hello");
    str_(b, "");
    m->key3 = b->n;
    kv_u32(b, "llama.block_count", 1);
    key(b, "flags", DFIT_GGUF_ARRAY);
    u32_(b, DFIT_GGUF_BOOL);
    u64_(b, 2);
    u8_(b, 1);
    u8_(b, 0);
    const uint64_t ne_a[1] = {8}, ne_w[2] = {32, 2};
    tinfo(b, "a", 1, ne_a, DFIT_TYPE_F32, 0);
    m->tensor1 = b->n;
    tinfo(b, "w", 2, ne_w, DFIT_TYPE_Q8_0, 32);
    assert_true(b->n % 32 != 0); /* so the padding is there to lose */
    pad_to(b, 32);
    m->data = b->n;
    zeros(b, 32);      /* a: 8 f32 */
    zeros(b, 2 * 34);  /* w: 2 rows of one q8_0 block */
    m->w_end = b->n;
}

/* ---- malformed files, one per rule -------------------------------------- */

static void mk_bad_magic(struct bb *b)
{
    put(b, "GGUX", 4);
    u32_(b, 3);
    u64_(b, 0);
    u64_(b, 0);
}

static void mk_binary_magic(struct bb *b)
{
    put(b, "\x00\x01GG", 4);
    u32_(b, 3);
    u64_(b, 0);
    u64_(b, 0);
}

static void mk_version1(struct bb *b) { header(b, 1, 0, 0); }
static void mk_version2(struct bb *b) { header(b, 2, 0, 0); }
static void mk_version0(struct bb *b) { header(b, 0, 0, 0); }
static void mk_version4(struct bb *b) { header(b, 4, 0, 0); }
static void mk_version_swapped(struct bb *b) { header(b, 0x03000000u, 0, 0); }

static void mk_n_kv_huge(struct bb *b)
{
    header(b, 3, 0, 1000000);
    kv_u32(b, "k", 1);
}

static void mk_n_kv_max(struct bb *b)
{
    header(b, 3, 0, UINT64_MAX);
    kv_u32(b, "k", 1);
}

static void mk_n_tensors_huge(struct bb *b)
{
    header(b, 3, UINT64_MAX / 2, 0);
    zeros(b, 64);
}

static void mk_counts_together(struct bb *b)
{
    /* each count fits alone, not both: 2 keys (>= 28 bytes) + 1 tensor (>= 33) in 40 bytes */
    header(b, 3, 1, 2);
    zeros(b, 40);
}

static void mk_key_len_past_end(struct bb *b)
{
    header(b, 3, 0, 1);
    u64_(b, 1000);
    zeros(b, 20);
}

static void mk_key_len_max(struct bb *b)
{
    header(b, 3, 0, 1);
    u64_(b, UINT64_MAX);
    zeros(b, 20);
}

static void mk_empty_key(struct bb *b)
{
    header(b, 3, 0, 2);
    kv_u32(b, "first", 1);
    key(b, "", DFIT_GGUF_UINT32);
    u32_(b, 2);
}

static void mk_unknown_type(struct bb *b)
{
    header(b, 3, 0, 1);
    key(b, "k", 13);
    u32_(b, 0);
    zeros(b, 8);
}

static void mk_unknown_type_huge(struct bb *b)
{
    header(b, 3, 0, 1);
    key(b, "k", 0xffffffffu);
    zeros(b, 8);
}

static void mk_unknown_elem_type(struct bb *b)
{
    header(b, 3, 0, 1);
    key(b, "k", DFIT_GGUF_ARRAY);
    u32_(b, 99);
    u64_(b, 1);
    u32_(b, 0);
}

static void mk_nested_array(struct bb *b)
{
    header(b, 3, 0, 1);
    key(b, "k", DFIT_GGUF_ARRAY);
    u32_(b, DFIT_GGUF_ARRAY);
    u64_(b, 1);
    u32_(b, DFIT_GGUF_UINT8);
    u64_(b, 1);
    u8_(b, 0);
}

static void mk_array_past_end(struct bb *b)
{
    header(b, 3, 0, 1);
    key(b, "k", DFIT_GGUF_ARRAY);
    u32_(b, DFIT_GGUF_UINT32);
    u64_(b, 1000000);
    zeros(b, 40);
}

static void mk_array_count_overflow(struct bb *b)
{
    /* count * 8 wraps around to 8 in 64 bits */
    header(b, 3, 0, 1);
    key(b, "k", DFIT_GGUF_ARRAY);
    u32_(b, DFIT_GGUF_UINT64);
    u64_(b, (UINT64_MAX / 8) + 2);
    zeros(b, 16);
}

static void mk_str_array_past_end(struct bb *b)
{
    header(b, 3, 0, 1);
    key(b, "k", DFIT_GGUF_ARRAY);
    u32_(b, DFIT_GGUF_STRING);
    u64_(b, 1ull << 40);
    zeros(b, 40);
}

static void mk_str_past_end(struct bb *b)
{
    header(b, 3, 0, 1);
    key(b, "name", DFIT_GGUF_STRING);
    u64_(b, 500);
    put(b, "short", 5);
}

static void mk_str_elem_past_end(struct bb *b)
{
    header(b, 3, 0, 1);
    key(b, "toks", DFIT_GGUF_ARRAY);
    u32_(b, DFIT_GGUF_STRING);
    u64_(b, 2);
    str_(b, "ok");
    u64_(b, 77);
    put(b, "abc", 3);
}

static void mk_scalar_past_end(struct bb *b)
{
    header(b, 3, 0, 1);
    key(b, "big", DFIT_GGUF_UINT64);
    put(b, "\x01\x02\x03", 3);
}

static void mk_bool2(struct bb *b)
{
    header(b, 3, 0, 1);
    key(b, "flag", DFIT_GGUF_BOOL);
    u8_(b, 2);
    zeros(b, 4);
}

static void mk_bool_array5(struct bb *b)
{
    header(b, 3, 0, 1);
    key(b, "flags", DFIT_GGUF_ARRAY);
    u32_(b, DFIT_GGUF_BOOL);
    u64_(b, 3);
    u8_(b, 1);
    u8_(b, 0);
    u8_(b, 5);
}

static void mk_dup_key(struct bb *b)
{
    header(b, 3, 0, 3);
    kv_u32(b, "a", 1);
    kv_u32(b, "b", 2);
    kv_u32(b, "a", 3);
}

static void mk_align_type(struct bb *b)
{
    header(b, 3, 0, 1);
    key(b, "general.alignment", DFIT_GGUF_UINT64);
    u64_(b, 64);
}

static void mk_align_48(struct bb *b)
{
    header(b, 3, 0, 2);
    kv_u32(b, "general.name", 1);
    kv_u32(b, "general.alignment", 48);
}

static void mk_align_0(struct bb *b)
{
    header(b, 3, 0, 1);
    kv_u32(b, "general.alignment", 0);
}

static const uint64_t ne8[1] = {8};
static const uint64_t ne32x2[2] = {32, 2};

static void mk_empty_name(struct bb *b) { one_tensor(b, "", 1, ne8, DFIT_TYPE_F32, 0, 32); }

static void mk_long_name(struct bb *b)
{
    char name[65];
    memset(name, 'x', 64);
    name[64] = '\0';
    one_tensor(b, name, 1, ne8, DFIT_TYPE_F32, 0, 32);
}

static void mk_name_past_end(struct bb *b)
{
    header(b, 3, 1, 0);
    u64_(b, 4096);
    zeros(b, 40);
}

static void mk_dup_tensor(struct bb *b)
{
    header(b, 3, 2, 0);
    tinfo(b, "w", 1, ne8, DFIT_TYPE_F32, 0);
    tinfo(b, "w", 1, ne8, DFIT_TYPE_F32, 32);
    pad_to(b, 32);
    zeros(b, 64);
}

static void mk_ndims0(struct bb *b)
{
    header(b, 3, 1, 0);
    str_(b, "w");
    u32_(b, 0);
    u32_(b, DFIT_TYPE_F32);
    u64_(b, 0);
    zeros(b, 64);
}

static void mk_ndims5(struct bb *b)
{
    const uint64_t ne[5] = {1, 1, 1, 1, 1};
    one_tensor(b, "w", 5, ne, DFIT_TYPE_F32, 0, 32);
}

static void mk_ne_zero(struct bb *b)
{
    const uint64_t ne[2] = {8, 0};
    one_tensor(b, "w", 2, ne, DFIT_TYPE_F32, 0, 32);
}

static void mk_ne_negative(struct bb *b)
{
    const uint64_t ne[2] = {8, (uint64_t)-5};
    one_tensor(b, "w", 2, ne, DFIT_TYPE_F32, 0, 32);
}

static void mk_ne_overflow(struct bb *b)
{
    const uint64_t ne[3] = {1ull << 32, 1ull << 20, 1ull << 12};
    one_tensor(b, "w", 3, ne, DFIT_TYPE_F32, 0, 32);
}

static void mk_bytes_overflow(struct bb *b)
{
    /* 2^62 f32 elements: the count fits int64, the 2^64 bytes do not */
    const uint64_t ne[2] = {1ull << 31, 1ull << 31};
    one_tensor(b, "w", 2, ne, DFIT_TYPE_F32, 0, 32);
}

static void mk_unknown_ttype(struct bb *b) { one_tensor(b, "w", 1, ne8, 99, 0, 32); }
static void mk_unknown_ttype4(struct bb *b) { one_tensor(b, "w", 1, ne8, 4, 0, 32); }
static void mk_q4_k(struct bb *b)
{
    const uint64_t ne[1] = {256};
    one_tensor(b, "blk.0.ffn_down.weight", 1, ne, 12, 0, 144);
}

static void mk_block_div(struct bb *b)
{
    const uint64_t ne[2] = {33, 2};
    one_tensor(b, "w", 2, ne, DFIT_TYPE_Q8_0, 0, 128);
}

static void mk_offset_unaligned(struct bb *b) { one_tensor(b, "w", 1, ne8, DFIT_TYPE_F32, 8, 64); }

static void mk_offset_unaligned_custom(struct bb *b)
{
    /* offset 32 is fine by default but not with general.alignment = 64 */
    header(b, 3, 1, 1);
    kv_u32(b, "general.alignment", 64);
    tinfo(b, "w", 1, ne8, DFIT_TYPE_F32, 32);
    pad_to(b, 64);
    zeros(b, 128);
}

static void mk_out_of_order(struct bb *b)
{
    header(b, 3, 2, 0);
    tinfo(b, "a", 1, ne8, DFIT_TYPE_F32, 32);
    tinfo(b, "b", 1, ne8, DFIT_TYPE_F32, 0);
    pad_to(b, 32);
    zeros(b, 64);
}

static void mk_overlap(struct bb *b)
{
    const uint64_t ne16[1] = {16};
    header(b, 3, 2, 0);
    tinfo(b, "a", 1, ne16, DFIT_TYPE_F32, 0); /* 64 bytes */
    tinfo(b, "w", 1, ne8, DFIT_TYPE_F32, 32);
    pad_to(b, 32);
    zeros(b, 96);
}

static void mk_data_past_end(struct bb *b)
{
    one_tensor(b, "w", 2, ne32x2, DFIT_TYPE_Q8_0, 0, 50); /* needs 68 */
}

static void mk_offset_past_end(struct bb *b) { one_tensor(b, "w", 1, ne8, DFIT_TYPE_F32, 1ull << 20, 32); }

static void mk_offset_wraps(struct bb *b)
{
    one_tensor(b, "w", 1, ne8, DFIT_TYPE_F32, UINT64_MAX - 31, 32); /* aligned, near 2^64 */
}

static void mk_data_section_past_end(struct bb *b)
{
    header(b, 3, 1, 0);
    tinfo(b, "w", 1, ne8, DFIT_TYPE_F32, 0); /* ends at byte 24 + 33 = 57: padding lost */
}

static void mk_tensor_info_past_end(struct bb *b)
{
    header(b, 3, 1, 1);
    kv_u32(b, "some.key.that.is.long", 7);
    str_(b, "w");
    u32_(b, 2);
    u64_(b, 8);
    put(b, "\x01\x00", 2);
}

/* ---- truncations of the valid file ---------------------------------------- */

static struct bb trunc_valid(size_t (*at)(const struct marks *))
{
    struct bb b = {0};
    struct marks m;
    valid_file(&b, &m);
    size_t n = at(&m);
    assert_true(n < b.n);
    b.n = n;
    return b;
}

static size_t at_magic(const struct marks *m) { (void)m; return 2; }
static size_t at_n_tensors(const struct marks *m) { (void)m; return 12; }
static size_t at_in_key_len(const struct marks *m) { return m->key3 + 3; }
static size_t at_in_key(const struct marks *m) { return m->key3 + 8 + 5; }
static size_t at_in_value(const struct marks *m) { return m->key3 + 8 + 17 + 4 + 2; }
static size_t at_in_str_elem(const struct marks *m) { return m->tokens_el1 + 8 + 2; }
static size_t at_in_tensor_name(const struct marks *m) { return m->tensor1 + 4; }
static size_t at_in_tensor_ne(const struct marks *m) { return m->tensor1 + 8 + 1 + 4 + 12; }
static size_t at_in_tensor_offset(const struct marks *m) { return m->tensor1 + 8 + 1 + 4 + 16 + 4 + 3; }
static size_t at_in_padding(const struct marks *m) { return m->data - 1; }
static size_t at_in_data_a(const struct marks *m) { return m->data + 10; }
static size_t at_in_data_w(const struct marks *m) { return m->w_end - 1; }

#define TRUNC(fn)                                       \
    static void mk_trunc_##fn(struct bb *b)            \
    {                                                   \
        *b = trunc_valid(at_##fn);                      \
    }
TRUNC(magic)
TRUNC(n_tensors)
TRUNC(in_key_len)
TRUNC(in_key)
TRUNC(in_value)
TRUNC(in_str_elem)
TRUNC(in_tensor_name)
TRUNC(in_tensor_ne)
TRUNC(in_tensor_offset)
TRUNC(in_padding)
TRUNC(in_data_a)
TRUNC(in_data_w)

/* ---- the table ------------------------------------------------------------ */

struct bad_case {
    const char *name;   /* file name stem */
    void (*build)(struct bb *b);
    int code;
    const char *expect; /* substring of the message after "<path>: " */
};

static const struct bad_case cases[] = {
    {"bad_magic", mk_bad_magic, DFIT_EINVAL, "header: bad magic 'GGUX' (expected 'GGUF')"},
    {"binary_magic", mk_binary_magic, DFIT_EINVAL, "header: bad magic '\\x00\\x01GG'"},
    {"version1", mk_version1, DFIT_EUNSUPPORTED, "header: GGUF version 1 is not supported"},
    {"version2", mk_version2, DFIT_EUNSUPPORTED, "header: GGUF version 2 is not supported (dfit reads version 3)"},
    {"version0", mk_version0, DFIT_EINVAL, "header: unknown version 0 (expected 3)"},
    {"version4", mk_version4, DFIT_EINVAL, "header: unknown version 4"},
    {"version_swapped", mk_version_swapped, DFIT_EUNSUPPORTED, "header: version 0x03000000 is a byte-swapped 3: big-endian"},
    {"n_kv_huge", mk_n_kv_huge, DFIT_EINVAL, "header: n_kv 1,000,000 cannot fit in the 17 bytes after the header"},
    {"n_kv_max", mk_n_kv_max, DFIT_EINVAL, "header: n_kv 18,446,744,073,709,551,615 cannot fit"},
    {"n_tensors_huge", mk_n_tensors_huge, DFIT_EINVAL, "header: n_tensors 9,223,372,036,854,775,807 cannot fit in the 64 bytes"},
    {"counts_together", mk_counts_together, DFIT_EINVAL, "header: n_kv 2 and n_tensors 1 cannot fit in the 40 bytes"},
    {"key_len_past_end", mk_key_len_past_end, DFIT_EINVAL, "key #0: key length 1,000 runs past end of file (20 bytes left)"},
    {"key_len_max", mk_key_len_max, DFIT_EINVAL, "key #0: key length 18,446,744,073,709,551,615 runs past end of file"},
    {"empty_key", mk_empty_key, DFIT_EINVAL, "key #1: empty key"},
    {"unknown_type", mk_unknown_type, DFIT_EINVAL, "key #0 'k': value type 13 is unknown"},
    {"unknown_type_huge", mk_unknown_type_huge, DFIT_EINVAL, "key #0 'k': value type 4294967295 is unknown"},
    {"unknown_elem_type", mk_unknown_elem_type, DFIT_EINVAL, "key #0 'k': array element type 99 is unknown"},
    {"nested_array", mk_nested_array, DFIT_EUNSUPPORTED, "key #0 'k': nested arrays are not supported"},
    {"array_past_end", mk_array_past_end, DFIT_EINVAL, "key #0 'k': array of 1,000,000 uint32 runs past end of file (40 bytes left)"},
    {"array_count_overflow", mk_array_count_overflow, DFIT_EINVAL, "key #0 'k': array of 2,305,843,009,213,693,953 uint64 runs past end of file"},
    {"str_array_past_end", mk_str_array_past_end, DFIT_EINVAL, "key #0 'k': array of 1,099,511,627,776 string runs past end of file"},
    {"str_past_end", mk_str_past_end, DFIT_EINVAL, "key #0 'name': string length 500 runs past end of file (5 bytes left)"},
    {"str_elem_past_end", mk_str_elem_past_end, DFIT_EINVAL, "key #0 'toks': element #1 length 77 runs past end of file (3 bytes left)"},
    {"scalar_past_end", mk_scalar_past_end, DFIT_EINVAL, "key #0 'big': value truncated: needs 8 bytes at byte"},
    {"bool2", mk_bool2, DFIT_EINVAL, "key #0 'flag': bool value 2 (expected 0 or 1)"},
    {"bool_array5", mk_bool_array5, DFIT_EINVAL, "key #0 'flags': element #2: bool value 5 (expected 0 or 1)"},
    {"dup_key", mk_dup_key, DFIT_EINVAL, "key #2 'a': duplicate key (also key #0)"},
    {"align_type", mk_align_type, DFIT_EINVAL, "key #0 'general.alignment': type uint64 (expected uint32)"},
    {"align_48", mk_align_48, DFIT_EINVAL, "key #1 'general.alignment': alignment 48 is not a power of two"},
    {"align_0", mk_align_0, DFIT_EINVAL, "key #0 'general.alignment': alignment 0 is not a power of two"},
    {"empty_name", mk_empty_name, DFIT_EINVAL, "tensor #0: empty name"},
    {"long_name", mk_long_name, DFIT_EINVAL, "tensor #0: name 'xxxxxxxx"},
    {"name_past_end", mk_name_past_end, DFIT_EINVAL, "tensor #0: name length 4,096 runs past end of file"},
    {"dup_tensor", mk_dup_tensor, DFIT_EINVAL, "tensor #1 'w': duplicate name (also tensor #0)"},
    {"ndims0", mk_ndims0, DFIT_EINVAL, "tensor 'w': n_dims is 0 (expected 1 to 4)"},
    {"ndims5", mk_ndims5, DFIT_EINVAL, "tensor 'w': n_dims is 5 (expected 1 to 4)"},
    {"ne_zero", mk_ne_zero, DFIT_EINVAL, "tensor 'w': ne[1] is 0 (must be >= 1)"},
    {"ne_negative", mk_ne_negative, DFIT_EINVAL, "tensor 'w': ne[1] is -5 (must be >= 1)"},
    {"ne_overflow", mk_ne_overflow, DFIT_EINVAL, "tensor 'w': element count overflows at ne[2] = 4096"},
    {"bytes_overflow", mk_bytes_overflow, DFIT_EINVAL, "tensor 'w': byte size of 4,611,686,018,427,387,904 f32 elements overflows"},
    {"unknown_ttype", mk_unknown_ttype, DFIT_EINVAL, "tensor 'w': unknown type id 99"},
    {"unknown_ttype4", mk_unknown_ttype4, DFIT_EINVAL, "tensor 'w': unknown type id 4"},
    {"q4_k", mk_q4_k, DFIT_EUNSUPPORTED, "tensor 'blk.0.ffn_down.weight': type q4_k (id 12) is not supported"},
    {"block_div", mk_block_div, DFIT_EINVAL, "tensor 'w': ne[0] = 33 is not a multiple of the q8_0 block size (32)"},
    {"offset_unaligned", mk_offset_unaligned, DFIT_EINVAL, "tensor 'w': offset 8 is not a multiple of the alignment (32)"},
    {"offset_unaligned_custom", mk_offset_unaligned_custom, DFIT_EINVAL, "tensor 'w': offset 32 is not a multiple of the alignment (64)"},
    {"out_of_order", mk_out_of_order, DFIT_EINVAL, "tensor 'b': offset 0 is before tensor 'a' (offset 32): tensors must be in file order"},
    {"overlap", mk_overlap, DFIT_EINVAL, "tensor 'w': data at offset 32 overlaps tensor 'a' (which ends at offset 64)"},
    {"data_past_end", mk_data_past_end, DFIT_EINVAL, "tensor 'w': data ends at byte 164, past end of file (146)"},
    {"offset_past_end", mk_offset_past_end, DFIT_EINVAL, "tensor 'w': data starts at offset 1,048,576 of the data section, past end of file"},
    {"offset_wraps", mk_offset_wraps, DFIT_EINVAL, "tensor 'w': data starts at offset 18,446,744,073,709,551,584"},
    {"data_section_past_end", mk_data_section_past_end, DFIT_EINVAL, "data section: starts at byte 64 (after padding to 32), past end of file (57)"},
    {"tensor_info_past_end", mk_tensor_info_past_end, DFIT_EINVAL, "tensor 'w': ne[1] truncated: needs 8 bytes"},
    {"trunc_magic", mk_trunc_magic, DFIT_EINVAL, "header: magic truncated: needs 4 bytes at byte 0, file ends at byte 2"},
    {"trunc_n_tensors", mk_trunc_n_tensors, DFIT_EINVAL, "header: n_tensors truncated"},
    {"trunc_in_key_len", mk_trunc_in_key_len, DFIT_EINVAL, "key #3: key length truncated"},
    {"trunc_in_key", mk_trunc_in_key, DFIT_EINVAL, "key #3: key length 17 runs past end of file (5 bytes left)"},
    {"trunc_in_value", mk_trunc_in_value, DFIT_EINVAL, "key #3 'llama.block_count': value truncated: needs 4 bytes"},
    {"trunc_in_str_elem", mk_trunc_in_str_elem, DFIT_EINVAL, "key #2 'tokenizer.ggml.tokens': element #1 length 5 runs past end of file (2 bytes left)"},
    {"trunc_in_tensor_name", mk_trunc_in_tensor_name, DFIT_EINVAL, "tensor #1: name length truncated"},
    {"trunc_in_tensor_ne", mk_trunc_in_tensor_ne, DFIT_EINVAL, "tensor 'w': ne[1] truncated"},
    {"trunc_in_tensor_offset", mk_trunc_in_tensor_offset, DFIT_EINVAL, "tensor 'w': offset truncated"},
    {"trunc_in_padding", mk_trunc_in_padding, DFIT_EINVAL, "data section: starts at byte"},
    {"trunc_in_data_a", mk_trunc_in_data_a, DFIT_EINVAL, "tensor 'a': data ends at byte"},
    {"trunc_in_data_w", mk_trunc_in_data_w, DFIT_EINVAL, "tensor 'w': data ends at byte"},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* Opens b as name (from a file and from memory) and checks the rejection. */
static void expect_reject(const struct bb *b, const char *name, int code, const char *expect)
{
    char path[256], want_prefix[300];
    snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b->p, 1, b->n, f), b->n);
    fclose(f);

    struct dfit_err err = {0};
    struct dfit_gguf *g = (struct dfit_gguf *)&err; /* must come back NULL */
    int rc = dfit_gguf_open(path, &g, &err);
    if (rc != code || !strstr(err.msg, expect))
        fail_msg("%s: got %d '%s', want %d '%s'", name, rc, err.msg, code, expect);
    assert_null(g);
    assert_int_equal(err.code, code);
    snprintf(want_prefix, sizeof want_prefix, "%s: ", path);
    assert_true(strncmp(err.msg, want_prefix, strlen(want_prefix)) == 0);
    unlink(path);

    /* the same bytes in an exactly sized heap buffer (ASan sees overreads) */
    uint8_t *copy = malloc(b->n ? b->n : 1);
    assert_non_null(copy);
    if (b->n)
        memcpy(copy, b->p, b->n);
    char bufname[128];
    snprintf(bufname, sizeof bufname, "%s.gguf", name);
    memset(&err, 0, sizeof err);
    g = (struct dfit_gguf *)&err;
    rc = dfit_gguf_open_buffer(copy, b->n, bufname, &g, &err);
    if (rc != code || !strstr(err.msg, expect))
        fail_msg("%s (buffer): got %d '%s', want %d '%s'", name, rc, err.msg, code, expect);
    assert_null(g);
    snprintf(want_prefix, sizeof want_prefix, "%s: ", bufname);
    assert_true(strncmp(err.msg, want_prefix, strlen(want_prefix)) == 0);
    free(copy);
}

static void test_malformed_cases(void **state)
{
    (void)state;
    assert_true(N_CASES >= 30);
    for (size_t i = 0; i < N_CASES; i++) {
        struct bb b = {0};
        cases[i].build(&b);
        expect_reject(&b, cases[i].name, cases[i].code, cases[i].expect);
        free(b.p);
    }
}

/* The valid file the truncations start from does open, so each truncation
 * fails for its own reason. */
static void test_valid_base_opens(void **state)
{
    (void)state;
    struct bb b = {0};
    struct marks m;
    valid_file(&b, &m);
    struct dfit_err err = {0};
    struct dfit_gguf *g = NULL;
    int rc = dfit_gguf_open_buffer(b.p, b.n, "valid.gguf", &g, &err);
    if (rc)
        fail_msg("valid file rejected: %s", err.msg);
    assert_int_equal(g->n_kv, 5);
    assert_int_equal(g->n_tensors, 2);
    assert_int_equal(g->data_offset, m.data);
    assert_ptr_equal(g->tensors[1].data, b.p + m.data + 32);
    assert_int_equal(g->tensors[1].n_bytes, 68);
    uint32_t n_layer = 0;
    assert_int_equal(dfit_gguf_get_u32(g, "llama.block_count", &n_layer, &err), 0);
    assert_int_equal(n_layer, 1);
    dfit_gguf_close(g);

    /* trailing bytes after the last tensor are allowed */
    zeros(&b, 7);
    assert_int_equal(dfit_gguf_open_buffer(b.p, b.n, "valid.gguf", &g, &err), 0);
    dfit_gguf_close(g);
    free(b.p);

    /* a metadata-only file may end right after its last key */
    struct bb c = {0};
    header(&c, 3, 0, 1);
    kv_u32(&c, "k", 1);
    assert_int_equal(dfit_gguf_open_buffer(c.p, c.n, "meta.gguf", &g, &err), 0);
    assert_int_equal(g->n_tensors, 0);
    dfit_gguf_close(g);
    free(c.p);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_gguf *g = (struct dfit_gguf *)&err;
    char path[256];
    snprintf(path, sizeof path, "%s/missing.gguf", tmpdir);
    assert_int_equal(dfit_gguf_open(path, &g, &err), DFIT_EIO);
    assert_null(g);
    assert_non_null(strstr(err.msg, "missing.gguf: open: "));

    g = (struct dfit_gguf *)&err;
    assert_int_equal(dfit_gguf_open(tmpdir, &g, &err), DFIT_EIO);
    assert_null(g);
    assert_non_null(strstr(err.msg, "not a regular file"));

    snprintf(path, sizeof path, "%s/empty.gguf", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fclose(f);
    g = (struct dfit_gguf *)&err;
    assert_int_equal(dfit_gguf_open(path, &g, &err), DFIT_EINVAL);
    assert_null(g);
    assert_non_null(strstr(err.msg, "empty.gguf: header: magic truncated"));
    unlink(path);

    g = (struct dfit_gguf *)&err;
    assert_int_equal(dfit_gguf_open_buffer(NULL, 0, NULL, &g, &err), DFIT_EINVAL);
    assert_null(g);
    assert_non_null(strstr(err.msg, "<buffer>: header: magic truncated"));
    g = (struct dfit_gguf *)&err;
    assert_int_equal(dfit_gguf_open_buffer(NULL, 10, "x", &g, &err), DFIT_EINVAL);
    assert_null(g);

    /* err is optional: the code alone still comes back, for every kind of rejection */
    for (size_t i = 0; i < N_CASES; i++) {
        struct bb b = {0};
        cases[i].build(&b);
        g = (struct dfit_gguf *)&err;
        assert_int_equal(dfit_gguf_open_buffer(b.p, b.n, "x", &g, NULL), cases[i].code);
        assert_null(g);
        free(b.p);
    }
}

/* Non-printing bytes in names are escaped in messages. */
static void test_names_escaped(void **state)
{
    (void)state;
    struct bb b = {0};
    header(&b, 3, 0, 1);
    key(&b, "bad\nkey'\x01", DFIT_GGUF_BOOL);
    u8_(&b, 9);
    struct dfit_err err = {0};
    struct dfit_gguf *g = NULL;
    assert_int_equal(dfit_gguf_open_buffer(b.p, b.n, "esc.gguf", &g, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "esc.gguf: key #0 'bad\\x0akey\\x27\\x01': bool value 9"));
    free(b.p);

    char buf[16];
    assert_string_equal(dfit_gguf_str_show("abcdefghijklmnopqrstuvwxyz", 26, buf, sizeof buf), "abcdefghijkl...");
    assert_string_equal(dfit_gguf_str_show("abc", 3, buf, sizeof buf), "abc");
    assert_string_equal(dfit_gguf_str_show("", 0, buf, sizeof buf), "");
}

static int setup_dir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/dfit_gguf_bad_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    /* a failed case leaves its file behind */
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_base_opens),
        cmocka_unit_test(test_malformed_cases),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_names_escaped),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
