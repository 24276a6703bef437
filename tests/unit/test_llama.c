/* test_llama — binding llama models: a valid file gives the right
 * hyper-parameters and weights; each kind of bad file (missing or mistyped
 * key, inconsistent head counts, odd head_dim, missing, misshapen or
 * mistyped tensor, foreign architecture) is rejected with the right code
 * and a message naming the key or tensor. Files are written with dfit's
 * GGUF writer into a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/llama.h"

static char tmpdir[64];
static int file_counter;
static uint8_t *tensor_bytes;          /* shared source data for every tensor */
#define TENSOR_BYTES_MAX (1u << 20)

/* What to write: a small valid llama model unless told otherwise. */
struct spec {
    const char *arch;
    uint32_t n_embd, n_layer, n_ff, n_head, n_head_kv, n_vocab, n_ctx;
    float rms_eps;
    float rope_base;           /* 0: key omitted (default 10000) */
    int omit_head_kv;          /* head_count_kv key omitted */
    int vocab_as_key;          /* llama.vocab_size instead of the tokens array */
    int no_vocab;              /* neither */
    const char *omit_key;      /* one u32 key left out */
    const char *string_key;    /* one u32 key written as a string */
    const char *omit_tensor;
    const char *bad_shape_tensor; /* matrix written with half its rows */
    enum dfit_type matrix_type;
    enum dfit_type norm_type;
    int with_output;
};

static struct spec valid_spec(void)
{
    struct spec s = {
        .arch = "llama", .n_embd = 64, .n_layer = 2, .n_ff = 96, .n_head = 4, .n_head_kv = 2,
        .n_vocab = 40, .n_ctx = 128, .rms_eps = 1e-5f, .matrix_type = DFIT_TYPE_F32,
        .norm_type = DFIT_TYPE_F32,
    };
    return s;
}

static int set_dim(struct dfit_gguf_writer *w, const struct spec *s, const char *key, uint32_t v,
                   struct dfit_err *err)
{
    if (s->omit_key && strcmp(s->omit_key, key) == 0)
        return 0;
    if (s->string_key && strcmp(s->string_key, key) == 0)
        return dfit_gguf_writer_set_str(w, key, "sixty-four", err);
    return dfit_gguf_writer_set_u32(w, key, v, err);
}

static void add_tensor(struct dfit_gguf_writer *w, const struct spec *s, const char *name,
                       enum dfit_type type, int64_t n_in, int64_t n_out, int is_vector)
{
    struct dfit_err err = {0};
    if (s->omit_tensor && strcmp(s->omit_tensor, name) == 0)
        return;
    if (s->bad_shape_tensor && strcmp(s->bad_shape_tensor, name) == 0)
        n_out /= 2;
    int64_t ne[2] = {n_in, n_out};
    size_t row_bytes;
    assert_true(dfit_type_row_bytes(type, n_in, &row_bytes));
    assert_true(row_bytes * (size_t)n_out <= TENSOR_BYTES_MAX);
    int rc = dfit_gguf_writer_add_tensor(w, name, type, is_vector ? 1 : 2, ne, tensor_bytes, NULL,
                                         NULL, &err);
    if (rc)
        fail_msg("add_tensor %s: %s", name, err.msg);
}

/* Writes the model described by s; returns its path (static buffer). */
static const char *write_model(const struct spec *s)
{
    static char path[128];
    struct dfit_err err = {0};
    struct dfit_gguf_writer *w = NULL;
    snprintf(path, sizeof path, "%s/m%d.gguf", tmpdir, file_counter++);
    assert_int_equal(dfit_gguf_writer_create(&w, &err), 0);

    int rc = dfit_gguf_writer_set_str(w, "general.architecture", s->arch, &err);
    rc = rc ? rc : set_dim(w, s, "llama.embedding_length", s->n_embd, &err);
    rc = rc ? rc : set_dim(w, s, "llama.block_count", s->n_layer, &err);
    rc = rc ? rc : set_dim(w, s, "llama.feed_forward_length", s->n_ff, &err);
    rc = rc ? rc : set_dim(w, s, "llama.attention.head_count", s->n_head, &err);
    if (!s->omit_head_kv)
        rc = rc ? rc : set_dim(w, s, "llama.attention.head_count_kv", s->n_head_kv, &err);
    rc = rc ? rc : set_dim(w, s, "llama.context_length", s->n_ctx, &err);
    rc = rc ? rc : dfit_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon",
                                            s->rms_eps, &err);
    if (s->rope_base > 0)
        rc = rc ? rc : dfit_gguf_writer_set_f32(w, "llama.rope.freq_base", s->rope_base, &err);
    if (s->vocab_as_key) {
        rc = rc ? rc : dfit_gguf_writer_set_u32(w, "llama.vocab_size", s->n_vocab, &err);
    } else if (!s->no_vocab) {
        char **strs = calloc(s->n_vocab, sizeof *strs);
        assert_non_null(strs);
        for (uint32_t i = 0; i < s->n_vocab; i++) {
            strs[i] = malloc(16);
            assert_non_null(strs[i]);
            snprintf(strs[i], 16, "t%u", i);
        }
        rc = rc ? rc : dfit_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens",
                                                    (const char *const *)strs, s->n_vocab, &err);
        for (uint32_t i = 0; i < s->n_vocab; i++)
            free(strs[i]);
        free(strs);
    }
    if (rc)
        fail_msg("writer metadata: %s", err.msg);

    const int64_t d = s->n_embd, hd = s->n_embd / s->n_head;
    const int64_t q = hd * s->n_head, kv = hd * s->n_head_kv, ff = s->n_ff;
    add_tensor(w, s, "token_embd.weight", s->matrix_type, d, s->n_vocab, 0);
    for (uint32_t il = 0; il < s->n_layer; il++) {
        char name[64];
#define T(suffix, type, n_in, n_out, vec)                                                      \
    snprintf(name, sizeof name, "blk.%u." suffix ".weight", il);                              \
    add_tensor(w, s, name, type, n_in, n_out, vec)
        T("attn_norm", s->norm_type, d, 1, 1);
        T("attn_q", s->matrix_type, d, q, 0);
        T("attn_k", s->matrix_type, d, kv, 0);
        T("attn_v", s->matrix_type, d, kv, 0);
        T("attn_output", s->matrix_type, q, d, 0);
        T("ffn_norm", s->norm_type, d, 1, 1);
        T("ffn_gate", s->matrix_type, d, ff, 0);
        T("ffn_up", s->matrix_type, d, ff, 0);
        T("ffn_down", s->matrix_type, ff, d, 0);
#undef T
    }
    add_tensor(w, s, "output_norm.weight", s->norm_type, d, 1, 1);
    if (s->with_output)
        add_tensor(w, s, "output.weight", s->matrix_type, d, s->n_vocab, 0);

    if (dfit_gguf_writer_write(w, path, &err))
        fail_msg("writer write %s: %s", path, err.msg);
    dfit_gguf_writer_free(w);
    return path;
}

/* Opens a model written from s and expects failure with `code` and a
 * message containing `needle` (and, if given, `needle2`). */
static void expect_reject(const struct spec *s, int code, const char *needle, const char *needle2)
{
    const char *path = write_model(s);
    struct dfit_err err = {0};
    struct dfit_model *m = (struct dfit_model *)(uintptr_t)1;
    int rc = dfit_model_open(path, &m, &err);
    print_message("# %s\n", err.msg);
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_null(m);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' does not name '%s'", err.msg, needle);
    if (needle2 && !strstr(err.msg, needle2))
        fail_msg("message '%s' does not say '%s'", err.msg, needle2);
    unlink(path);
}

/* ---- valid models ----------------------------------------------------- */

static void test_valid_f32_tied(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    const char *path = write_model(&s);
    struct dfit_err err = {0};
    struct dfit_model *m = NULL;
    int rc = dfit_model_open(path, &m, &err);
    if (rc)
        fail_msg("open: %s", err.msg);
    const struct dfit_llama_hparams *hp = &m->hp;
    assert_int_equal(hp->n_embd, 64);
    assert_int_equal(hp->n_layer, 2);
    assert_int_equal(hp->n_ff, 96);
    assert_int_equal(hp->n_head, 4);
    assert_int_equal(hp->n_head_kv, 2);
    assert_int_equal(hp->head_dim, 16);
    assert_int_equal(hp->n_ctx_train, 128);
    assert_int_equal(hp->n_vocab, 40);
    assert_true(hp->rms_eps == 1e-5f);
    assert_true(hp->rope_freq_base == 10000.0f); /* default: key absent */

    assert_true(m->output_tied);
    assert_ptr_equal(m->output.data, m->tok_embd.data);
    assert_string_equal(m->tok_embd.name, "token_embd.weight");
    assert_int_equal(m->tok_embd.n_in, 64);
    assert_int_equal(m->tok_embd.n_out, 40);
    assert_int_equal(m->tok_embd.row_bytes, 64 * 4);
    /* the weights are the file's bytes, in place */
    assert_memory_equal(m->tok_embd.data, tensor_bytes, 40 * 64 * 4);
    const struct dfit_llama_layer *L = &m->layers[1];
    assert_string_equal(L->wk.name, "blk.1.attn_k.weight");
    assert_int_equal(L->wk.n_in, 64);
    assert_int_equal(L->wk.n_out, 32);
    assert_int_equal(L->wo.n_in, 64);
    assert_int_equal(L->wo.n_out, 64);
    assert_int_equal(L->w_down.n_in, 96);
    assert_int_equal(L->w_down.n_out, 64);
    assert_int_equal(L->attn_norm.type, DFIT_TYPE_F32);
    assert_int_equal(L->attn_norm.n_out, 1);
    const struct dfit_gguf_tensor *t = dfit_gguf_find_tensor(m->gguf, "blk.1.ffn_up.weight");
    assert_non_null(t);
    assert_ptr_equal(L->w_up.data, t->data);

    /* params: embd + per layer (2 norms + q,k,v,o + 3 ffn) + output norm */
    uint64_t per_layer = 2 * 64 + 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 96;
    uint64_t expect = 40 * 64 + 2 * per_layer + 64;
    assert_int_equal(m->n_params, expect);
    assert_int_equal(m->weight_bytes, expect * 4);
    dfit_model_free(m);
    unlink(path);
}

static void test_valid_q8_untied_vocab_key(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.matrix_type = DFIT_TYPE_Q8_0;
    s.with_output = 1;
    s.vocab_as_key = 1;
    s.omit_head_kv = 1;
    s.n_head_kv = s.n_head;
    s.rope_base = 500000.0f;
    const char *path = write_model(&s);
    struct dfit_err err = {0};
    struct dfit_gguf *g = NULL;
    struct dfit_model *m = NULL;
    if (dfit_gguf_open(path, &g, &err))
        fail_msg("gguf open: %s", err.msg);
    if (dfit_model_from_gguf(g, &m, &err))
        fail_msg("bind: %s", err.msg);
    assert_int_equal(m->hp.n_vocab, 40);
    assert_int_equal(m->hp.n_head_kv, 4); /* default: head_count */
    assert_true(m->hp.rope_freq_base == 500000.0f);
    assert_false(m->output_tied);
    assert_string_equal(m->output.name, "output.weight");
    assert_int_equal(m->output.type, DFIT_TYPE_Q8_0);
    assert_int_equal(m->layers[0].wq.type, DFIT_TYPE_Q8_0);
    assert_int_equal(m->layers[0].wq.row_bytes, 2 * 34);
    assert_int_equal(m->layers[0].ffn_norm.type, DFIT_TYPE_F32);
    uint64_t per_layer_mat = 64 * 64 * 4 + 3 * 64 * 96;  /* q,k,v,o (kv = 4 heads) + ffn */
    uint64_t mat = 2 * 40 * 64 + 2 * per_layer_mat;       /* + embd and output */
    uint64_t vec = 2 * 2 * 64 + 64;
    assert_int_equal(m->n_params, mat + vec);
    assert_int_equal(m->weight_bytes, mat / 32 * 34 + vec * 4);
    dfit_model_free(m); /* closes g */
    unlink(path);
}

/* ---- rejected models -------------------------------------------------- */

static void test_missing_key(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.omit_key = "llama.block_count";
    expect_reject(&s, DFIT_ENOTFOUND, "'llama.block_count'", NULL);
    s.omit_key = "llama.context_length";
    expect_reject(&s, DFIT_ENOTFOUND, "'llama.context_length'", NULL);
}

static void test_wrong_key_type(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.string_key = "llama.embedding_length";
    expect_reject(&s, DFIT_EINVAL, "'llama.embedding_length'", NULL);
}

static void test_zero_dim(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.n_layer = 0;
    expect_reject(&s, DFIT_EINVAL, "'llama.block_count'", "at least 1");
}

static void test_head_kv_not_dividing(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.n_head_kv = 3;
    s.n_head = 4;
    expect_reject(&s, DFIT_EINVAL, "key 'llama.attention.head_count_kv': 3 does not divide "
                                   "head_count 4", NULL);
}

static void test_head_dim_not_integer(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.n_head = 5;
    s.n_head_kv = 5;
    /* 64 / 5 is not an integer (the tensors are written with 12 per head) */
    expect_reject(&s, DFIT_EINVAL, "'llama.attention.head_count'", "does not divide");
}

static void test_odd_head_dim(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.n_embd = 36; /* 4 heads of 9 */
    s.n_head_kv = 4;
    expect_reject(&s, DFIT_EINVAL, "'llama.attention.head_count'", "is odd");
}

static void test_missing_tensor(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.omit_tensor = "blk.1.ffn_up.weight";
    expect_reject(&s, DFIT_ENOTFOUND, "tensor 'blk.1.ffn_up.weight'", "missing");
    s.omit_tensor = "output_norm.weight";
    expect_reject(&s, DFIT_ENOTFOUND, "tensor 'output_norm.weight'", "missing");
}

static void test_wrong_shape(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.bad_shape_tensor = "blk.1.attn_q.weight";
    expect_reject(&s, DFIT_EINVAL, "tensor 'blk.1.attn_q.weight': shape {64, 32}, expected {64, 64}",
                  NULL);
    s.bad_shape_tensor = "token_embd.weight";
    expect_reject(&s, DFIT_EINVAL, "tensor 'token_embd.weight': shape {64, 20}, expected {64, 40}",
                  NULL);
}

static void test_norm_not_f32(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.norm_type = DFIT_TYPE_F16;
    expect_reject(&s, DFIT_EINVAL, "tensor 'blk.0.attn_norm.weight'", "f16, expected f32");
}

static void test_wrong_architecture(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.arch = "gpt2";
    expect_reject(&s, DFIT_EUNSUPPORTED, "'general.architecture'", "'gpt2'");
}

static void test_no_vocabulary(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.no_vocab = 1;
    expect_reject(&s, DFIT_ENOTFOUND, "'tokenizer.ggml.tokens'", "llama.vocab_size");
}

static void test_from_gguf_failure_leaves_g(void **state)
{
    (void)state;
    struct spec s = valid_spec();
    s.omit_tensor = "blk.0.attn_v.weight";
    const char *path = write_model(&s);
    struct dfit_err err = {0};
    struct dfit_gguf *g = NULL;
    struct dfit_model *m = NULL;
    assert_int_equal(dfit_gguf_open(path, &g, &err), 0);
    assert_int_equal(dfit_model_from_gguf(g, &m, &err), DFIT_ENOTFOUND);
    assert_null(m);
    /* g is still the caller's and usable */
    struct dfit_llama_hparams hp;
    assert_int_equal(dfit_llama_hparams_read(g, &hp, &err), 0);
    assert_int_equal(hp.n_embd, 64);
    dfit_gguf_close(g);
    dfit_model_free(NULL);
    unlink(path);
}

static void test_open_missing_file(void **state)
{
    (void)state;
    char path[128];
    struct dfit_err err = {0};
    struct dfit_model *m = NULL;
    snprintf(path, sizeof path, "%s/absent.gguf", tmpdir);
    assert_int_equal(dfit_model_open(path, &m, &err), DFIT_EIO);
    assert_null(m);
    assert_non_null(strstr(err.msg, "absent.gguf"));
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfit-test-llama-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    tensor_bytes = malloc(TENSOR_BYTES_MAX);
    if (!tensor_bytes)
        return -1;
    /* small floats (as F32) and harmless bytes (as fp16 scales and quants) */
    for (size_t i = 0; i < TENSOR_BYTES_MAX / 4; i++) {
        float f = (float)((i % 97) - 48) / 64.0f;
        memcpy(tensor_bytes + 4 * i, &f, 4);
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(tensor_bytes);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_f32_tied),
        cmocka_unit_test(test_valid_q8_untied_vocab_key),
        cmocka_unit_test(test_missing_key),
        cmocka_unit_test(test_wrong_key_type),
        cmocka_unit_test(test_zero_dim),
        cmocka_unit_test(test_head_kv_not_dividing),
        cmocka_unit_test(test_head_dim_not_integer),
        cmocka_unit_test(test_odd_head_dim),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_norm_not_f32),
        cmocka_unit_test(test_wrong_architecture),
        cmocka_unit_test(test_no_vocabulary),
        cmocka_unit_test(test_from_gguf_failure_leaves_g),
        cmocka_unit_test(test_open_missing_file),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
