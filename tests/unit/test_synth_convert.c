/* test_synth_convert — synthetic models (presets, shape checks, layout,
 * determinism) and type conversion (synth as T == convert(synth F32 -> T),
 * lineage, reference quantization, refusing to overwrite the input), on real
 * files in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compress/convert.h"
#include "compress/synth.h"
#include "model/gguf.h"
#include "model/types.h"
#include "util/sha256.h"
#include "tmpdir_fixture.h"


static int setup_dir(void **state)
{
    (void)state;
    return tmpdir_make("synth");
}

static int teardown_dir(void **state)
{
    (void)state;
    tmpdir_remove();
    return 0;
}

static struct dfit_synth_params tiny(enum dfit_type type, uint64_t seed)
{
    struct dfit_synth_params p = {.seed = seed, .type = type, .name = NULL};
    assert_int_equal(dfit_synth_preset("tiny", &p.shape, NULL), 0);
    return p;
}

static void synth_ok(const struct dfit_synth_params *p, const char *path)
{
    struct dfit_err err = {0};
    int rc = dfit_synth_write(p, path, &err);
    if (rc)
        fail_msg("synth %s: %s", path, err.msg);
}

static void convert_ok(const char *in, const char *out, enum dfit_type to, int n_threads)
{
    struct dfit_err err = {0};
    struct dfit_convert_params cp = {.to = to, .n_threads = n_threads};
    int rc = dfit_convert_file(in, out, &cp, &err);
    if (rc)
        fail_msg("convert %s -> %s: %s", in, out, err.msg);
}

static struct dfit_gguf *open_ok(const char *path)
{
    struct dfit_err err = {0};
    struct dfit_gguf *g = NULL;
    if (dfit_gguf_open(path, &g, &err))
        fail_msg("open %s: %s", path, err.msg);
    return g;
}

static void sha_ok(const char *path, char *hex)
{
    assert_int_equal(dfit_sha256_file(path, hex, NULL), 0);
}

static const char *get_str(const struct dfit_gguf *g, const char *key)
{
    const struct dfit_gguf_str *s = NULL;
    struct dfit_err err = {0};
    if (dfit_gguf_get_str(g, key, &s, &err))
        fail_msg("%s", err.msg);
    return s->data;
}

static uint32_t get_u32(const struct dfit_gguf *g, const char *key)
{
    uint32_t v = 0;
    struct dfit_err err = {0};
    if (dfit_gguf_get_u32(g, key, &v, &err))
        fail_msg("%s", err.msg);
    return v;
}

/* ---- presets and shapes ------------------------------------------------ */

/* Independent count: embedding + layers (norms, q/k/v/o, gate/up/down) +
 * output norm + output matrix unless tied. */
static uint64_t formula(uint64_t d, uint64_t L, uint64_t ff, uint64_t h, uint64_t hkv, uint64_t v, int tied)
{
    uint64_t hd = d / h;
    uint64_t per_layer = 2 * d + d * (h * hd) + 2 * d * (hkv * hd) + (h * hd) * d + 3 * d * ff;
    return d * v + L * per_layer + d + (tied ? 0 : d * v);
}

static void test_presets(void **state)
{
    (void)state;
    struct dfit_synth_shape s;
    assert_int_equal(dfit_synth_preset("110m", &s, NULL), 0);
    assert_false(s.tied_output);
    assert_int_equal(dfit_synth_n_params(&s), 134105856ull);
    assert_int_equal(formula(768, 12, 2048, 12, 12, 32000, 0), 134105856ull);

    assert_int_equal(dfit_synth_preset("15m", &s, NULL), 0);
    assert_true(s.tied_output);
    assert_int_equal(s.n_embd, 288);
    assert_int_equal(dfit_synth_n_params(&s), formula(288, 6, 768, 6, 6, 32000, 1));
    assert_int_equal(dfit_synth_n_params(&s), 15191712ull);

    assert_int_equal(dfit_synth_preset("1b", &s, NULL), 0);
    assert_true(s.tied_output);
    assert_int_equal(s.n_head_kv, 8);
    assert_int_equal(s.n_ctx, 131072);
    assert_true(s.rope_freq_base == 500000.0f);
    assert_int_equal(dfit_synth_n_params(&s), formula(2048, 16, 8192, 32, 8, 128256, 1));
    assert_int_equal(dfit_synth_n_params(&s), 1235814400ull);

    assert_int_equal(dfit_synth_preset("tiny", &s, NULL), 0);
    assert_int_equal(dfit_synth_n_params(&s), formula(64, 2, 128, 4, 2, 320, s.tied_output));
    assert_string_equal(dfit_synth_preset_of(&s), "tiny");
    for (const char *const *n = (const char *const[]){"tiny", "15m", "110m", "1b", NULL}; *n; n++) {
        assert_int_equal(dfit_synth_preset(*n, &s, NULL), 0);
        assert_int_equal(dfit_synth_shape_check(&s, NULL), 0);
    }

    struct dfit_err err = {0};
    assert_int_equal(dfit_synth_preset("7b", &s, &err), DFIT_ENOTFOUND);
    assert_non_null(strstr(err.msg, "7b"));
    assert_non_null(strstr(err.msg, "tiny"));
    assert_non_null(strstr(err.msg, "110m"));
}

static void expect_shape_error(struct dfit_synth_shape s, const char *field)
{
    struct dfit_err err = {0};
    assert_int_equal(dfit_synth_shape_check(&s, &err), DFIT_EINVAL);
    if (!strstr(err.msg, field))
        fail_msg("expected '%s' in: %s", field, err.msg);
}

static void test_shape_errors(void **state)
{
    (void)state;
    struct dfit_synth_shape base;
    assert_int_equal(dfit_synth_preset("tiny", &base, NULL), 0);
    struct dfit_synth_shape s;
    s = base; s.n_embd = 0; expect_shape_error(s, "n_embd");
    s = base; s.n_layer = 0; expect_shape_error(s, "n_layer");
    s = base; s.n_layer = 100000; expect_shape_error(s, "n_layer");
    s = base; s.n_ff = 0; expect_shape_error(s, "n_ff");
    s = base; s.n_head = 0; expect_shape_error(s, "n_head");
    s = base; s.n_head_kv = 0; expect_shape_error(s, "n_head_kv");
    s = base; s.n_ctx = 0; expect_shape_error(s, "n_ctx");
    s = base; s.n_head = 3; expect_shape_error(s, "n_head");            /* 64 % 3 */
    s = base; s.n_embd = 96; s.n_head = 32; expect_shape_error(s, "head_dim"); /* hd 3 */
    s = base; s.n_head = 4; s.n_head_kv = 3; expect_shape_error(s, "n_head_kv");
    s = base; s.n_embd = 48; s.n_head = 4; s.n_head_kv = 4; expect_shape_error(s, "n_embd");
    s = base; s.n_ff = 100; expect_shape_error(s, "n_ff");
    s = base; s.n_vocab = 258; expect_shape_error(s, "n_vocab");
    s = base; s.rms_eps = 0.0f; expect_shape_error(s, "rms_eps");
    s = base; s.rope_freq_base = NAN; expect_shape_error(s, "rope_freq_base");

    /* a bad shape writes nothing */
    struct dfit_synth_params p = tiny(DFIT_TYPE_F32, 1);
    p.shape.n_ff = 100;
    struct dfit_err err = {0};
    assert_int_equal(dfit_synth_write(&p, tmp("bad.gguf"), &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "n_ff"));
    assert_int_equal(access(tmp("bad.gguf"), F_OK), -1);
}

/* ---- the synthesized file ---------------------------------------------- */

static void expect_tensor(const struct dfit_gguf *g, const char *name, enum dfit_type type, int64_t ne0,
                          int64_t ne1)
{
    const struct dfit_gguf_tensor *t = dfit_gguf_find_tensor(g, name);
    if (!t)
        fail_msg("tensor %s missing", name);
    assert_int_equal(t->type, type);
    assert_int_equal(t->n_dims, ne1 ? 2 : 1);
    assert_int_equal(t->ne[0], ne0);
    if (ne1)
        assert_int_equal(t->ne[1], ne1);
}

static void test_layout_and_values(void **state)
{
    (void)state;
    struct dfit_synth_params p = tiny(DFIT_TYPE_Q8_0, 7);
    synth_ok(&p, tmp("tiny_q8.gguf"));
    struct dfit_gguf *g = open_ok(tmp("tiny_q8.gguf"));
    assert_string_equal(get_str(g, "general.architecture"), "llama");
    assert_string_equal(get_str(g, "general.name"), "dfit-synth-tiny");
    assert_string_equal(get_str(g, "dfit.recipe.method"), "synth");
    assert_string_equal(get_str(g, "dfit.synth.preset"), "tiny");
    assert_int_equal(get_u32(g, "general.file_type"), 7);
    assert_int_equal(get_u32(g, "llama.embedding_length"), 64);
    assert_int_equal(get_u32(g, "llama.block_count"), 2);
    assert_int_equal(get_u32(g, "llama.feed_forward_length"), 128);
    assert_int_equal(get_u32(g, "llama.attention.head_count"), 4);
    assert_int_equal(get_u32(g, "llama.attention.head_count_kv"), 2);
    assert_int_equal(get_u32(g, "llama.rope.dimension_count"), 16);
    assert_int_equal(get_u32(g, "llama.context_length"), 128);
    assert_int_equal(get_u32(g, "llama.vocab_size"), 320);
    uint64_t seed = 0;
    assert_int_equal(dfit_gguf_get_u64(g, "dfit.synth.seed", &seed, NULL), 0);
    assert_int_equal(seed, 7);
    const struct dfit_gguf_value *tokens = NULL;
    assert_int_equal(dfit_gguf_get_arr(g, "tokenizer.ggml.tokens", DFIT_GGUF_STRING, &tokens, NULL), 0);
    assert_int_equal(tokens->n, 320);

    assert_int_equal(g->n_tensors, 3 + 9 * 2 + (p.shape.tied_output ? -1 : 0));
    expect_tensor(g, "token_embd.weight", DFIT_TYPE_Q8_0, 64, 320);
    expect_tensor(g, "blk.1.attn_norm.weight", DFIT_TYPE_F32, 64, 0);
    expect_tensor(g, "blk.1.attn_q.weight", DFIT_TYPE_Q8_0, 64, 64);
    expect_tensor(g, "blk.1.attn_k.weight", DFIT_TYPE_Q8_0, 64, 32);
    expect_tensor(g, "blk.1.attn_v.weight", DFIT_TYPE_Q8_0, 64, 32);
    expect_tensor(g, "blk.1.attn_output.weight", DFIT_TYPE_Q8_0, 64, 64);
    expect_tensor(g, "blk.1.ffn_norm.weight", DFIT_TYPE_F32, 64, 0);
    expect_tensor(g, "blk.1.ffn_gate.weight", DFIT_TYPE_Q8_0, 64, 128);
    expect_tensor(g, "blk.1.ffn_up.weight", DFIT_TYPE_Q8_0, 64, 128);
    expect_tensor(g, "blk.1.ffn_down.weight", DFIT_TYPE_Q8_0, 128, 64);
    expect_tensor(g, "output_norm.weight", DFIT_TYPE_F32, 64, 0);
    if (!p.shape.tied_output)
        expect_tensor(g, "output.weight", DFIT_TYPE_Q8_0, 64, 320);
    dfit_gguf_close(g);

    /* values, from the F32 file: matrices have std 1/sqrt(n_in) (sample of
     * 8192: relative standard error ~0.8%, tolerance 5%) and mean ~0; norms
     * are 1 + small jitter, not all equal */
    p.type = DFIT_TYPE_F32;
    synth_ok(&p, tmp("tiny_f32.gguf"));
    g = open_ok(tmp("tiny_f32.gguf"));
    const char *mats[] = {"blk.0.ffn_gate.weight", "blk.1.ffn_down.weight", "token_embd.weight"};
    for (size_t m = 0; m < 3; m++) {
        const struct dfit_gguf_tensor *t = dfit_gguf_find_tensor(g, mats[m]);
        assert_non_null(t);
        const float *x = t->data;
        double s1 = 0, s2 = 0;
        for (uint64_t i = 0; i < t->n_elements; i++) {
            s1 += x[i];
            s2 += (double)x[i] * x[i];
        }
        double n = (double)t->n_elements, mean = s1 / n, sd = sqrt(s2 / n - mean * mean);
        double want = 1.0 / sqrt((double)t->ne[0]);
        assert_true(fabs(sd / want - 1.0) < 0.05);
        assert_true(fabs(mean) < 5.0 * want / sqrt(n));
    }
    const struct dfit_gguf_tensor *nt = dfit_gguf_find_tensor(g, "blk.0.attn_norm.weight");
    const float *nw = nt->data;
    int n_distinct = 0;
    for (int i = 0; i < 64; i++) {
        assert_true(fabsf(nw[i] - 1.0f) < 0.12f); /* 6 sigma of the 0.02 jitter */
        n_distinct += nw[i] != nw[0];
    }
    assert_true(n_distinct > 32);
    dfit_gguf_close(g);

    /* a tied custom shape has no output.weight */
    struct dfit_synth_params c = {.seed = 3, .type = DFIT_TYPE_F16, .name = "custom-tied"};
    c.shape = (struct dfit_synth_shape){.n_embd = 32, .n_layer = 1, .n_ff = 64, .n_head = 2, .n_head_kv = 1,
                                        .n_vocab = 259, .n_ctx = 64, .tied_output = true,
                                        .rms_eps = 1e-6f, .rope_freq_base = 10000.0f};
    synth_ok(&c, tmp("tied.gguf"));
    g = open_ok(tmp("tied.gguf"));
    assert_null(dfit_gguf_find_tensor(g, "output.weight"));
    assert_int_equal(g->n_tensors, 2 + 9);
    assert_string_equal(get_str(g, "general.name"), "custom-tied");
    assert_string_equal(get_str(g, "dfit.synth.preset"), "custom");
    assert_non_null(strstr(get_str(g, "dfit.synth.shape"), "dim=32 layers=1 heads=2 kv_heads=1 ffn=64 vocab=259"));
    assert_int_equal(get_u32(g, "general.file_type"), 1);
    expect_tensor(g, "blk.0.attn_k.weight", DFIT_TYPE_F16, 32, 16);
    dfit_gguf_close(g);
}

static void test_determinism(void **state)
{
    (void)state;
    char a[65], b[65], c[65];
    struct dfit_synth_params p = tiny(DFIT_TYPE_Q4_0, 11);
    synth_ok(&p, tmp("d1.gguf"));
    synth_ok(&p, tmp("d2.gguf"));
    p.seed = 12;
    synth_ok(&p, tmp("d3.gguf"));
    sha_ok(tmp("d1.gguf"), a);
    sha_ok(tmp("d2.gguf"), b);
    sha_ok(tmp("d3.gguf"), c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);

    /* different seeds differ in every matrix, not just in metadata */
    struct dfit_gguf *g1 = open_ok(tmp("d1.gguf")), *g3 = open_ok(tmp("d3.gguf"));
    const struct dfit_gguf_tensor *t1 = dfit_gguf_find_tensor(g1, "blk.0.attn_q.weight");
    const struct dfit_gguf_tensor *t3 = dfit_gguf_find_tensor(g3, "blk.0.attn_q.weight");
    assert_non_null(t1);
    assert_non_null(t3);
    assert_memory_not_equal(t1->data, t3->data, t1->n_bytes);
    dfit_gguf_close(g1);
    dfit_gguf_close(g3);
}

/* ---- conversion -------------------------------------------------------- */

/* Every tensor of a and b: same names, types, shapes and bytes. */
static void expect_same_tensors(const char *pa, const char *pb)
{
    struct dfit_gguf *a = open_ok(pa), *b = open_ok(pb);
    assert_int_equal(a->n_tensors, b->n_tensors);
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        const struct dfit_gguf_tensor *ta = &a->tensors[i];
        const struct dfit_gguf_tensor *tb = dfit_gguf_find_tensor(b, ta->name.data);
        if (!tb)
            fail_msg("%s: tensor %s missing", pb, ta->name.data);
        assert_int_equal(ta->type, tb->type);
        assert_int_equal(ta->n_dims, tb->n_dims);
        assert_memory_equal(ta->ne, tb->ne, sizeof ta->ne);
        assert_int_equal(ta->n_bytes, tb->n_bytes);
        if (memcmp(ta->data, tb->data, ta->n_bytes) != 0)
            fail_msg("%s vs %s: tensor %s differs", pa, pb, ta->name.data);
    }
    dfit_gguf_close(a);
    dfit_gguf_close(b);
}

static void test_synth_equals_convert(void **state)
{
    (void)state;
    static const enum dfit_type types[] = {DFIT_TYPE_F32, DFIT_TYPE_F16, DFIT_TYPE_BF16, DFIT_TYPE_Q8_0,
                                           DFIT_TYPE_Q4_0};
    struct dfit_synth_params p = tiny(DFIT_TYPE_F32, 5);
    synth_ok(&p, tmp("src_f32.gguf"));
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        p.type = types[i];
        synth_ok(&p, tmp("direct.gguf"));
        convert_ok(tmp("src_f32.gguf"), tmp("conv.gguf"), types[i], 2);
        expect_same_tensors(tmp("direct.gguf"), tmp("conv.gguf"));

        struct dfit_gguf *g = open_ok(tmp("conv.gguf"));
        for (uint64_t t = 0; t < g->n_tensors; t++) /* norms stay F32 */
            assert_int_equal(g->tensors[t].type, g->tensors[t].n_dims == 1 ? DFIT_TYPE_F32 : types[i]);
        assert_int_equal(get_u32(g, "general.file_type"), dfit_convert_file_type(types[i]));
        dfit_gguf_close(g);
    }
    assert_int_equal(dfit_convert_file_type(DFIT_TYPE_F32), 0);
    assert_int_equal(dfit_convert_file_type(DFIT_TYPE_F16), 1);
    assert_int_equal(dfit_convert_file_type(DFIT_TYPE_Q4_0), 2);
    assert_int_equal(dfit_convert_file_type(DFIT_TYPE_Q8_0), 7);
    assert_int_equal(dfit_convert_file_type(DFIT_TYPE_BF16), 32);

    /* the thread count changes nothing */
    char a[65], b[65];
    convert_ok(tmp("src_f32.gguf"), tmp("t1.gguf"), DFIT_TYPE_Q4_0, 1);
    convert_ok(tmp("src_f32.gguf"), tmp("t3.gguf"), DFIT_TYPE_Q4_0, 3);
    sha_ok(tmp("t1.gguf"), a);
    sha_ok(tmp("t3.gguf"), b);
    assert_string_equal(a, b);
}

static void test_lineage(void **state)
{
    (void)state;
    char parent_sha[65], mid_sha[65];
    struct dfit_synth_params p = tiny(DFIT_TYPE_F32, 9);
    synth_ok(&p, tmp("lin_f32.gguf"));
    convert_ok(tmp("lin_f32.gguf"), tmp("lin_q8.gguf"), DFIT_TYPE_Q8_0, 1);
    convert_ok(tmp("lin_q8.gguf"), tmp("lin_q4.gguf"), DFIT_TYPE_Q4_0, 1);
    sha_ok(tmp("lin_f32.gguf"), parent_sha);
    sha_ok(tmp("lin_q8.gguf"), mid_sha);

    struct dfit_gguf *g = open_ok(tmp("lin_q8.gguf"));
    assert_string_equal(get_str(g, "dfit.parent.sha256"), parent_sha);
    assert_string_equal(get_str(g, "dfit.parent.name"), "lin_f32.gguf");
    assert_string_equal(get_str(g, "dfit.recipe.method"), "convert");
    assert_string_equal(get_str(g, "dfit.recipe.to"), "q8_0");
    assert_null(dfit_gguf_find_kv(g, "dfit.recipe.type")); /* the synth recipe moved to the lineage */
    assert_string_equal(get_str(g, "general.architecture"), "llama"); /* other keys copied */
    const struct dfit_gguf_value *lin = NULL;
    assert_int_equal(dfit_gguf_get_arr(g, "dfit.lineage", DFIT_GGUF_STRING, &lin, NULL), 0);
    assert_int_equal(lin->n, 1);
    const struct dfit_gguf_str *e = lin->arr;
    assert_non_null(strstr(e[0].data, "recipe.method=synth"));
    dfit_gguf_close(g);

    g = open_ok(tmp("lin_q4.gguf"));
    assert_string_equal(get_str(g, "dfit.parent.sha256"), mid_sha);
    assert_string_equal(get_str(g, "dfit.recipe.to"), "q4_0");
    assert_int_equal(dfit_gguf_get_arr(g, "dfit.lineage", DFIT_GGUF_STRING, &lin, NULL), 0);
    assert_int_equal(lin->n, 2);
    e = lin->arr;
    assert_non_null(strstr(e[0].data, "recipe.method=synth"));
    assert_non_null(strstr(e[1].data, "recipe.method=convert"));
    assert_non_null(strstr(e[1].data, parent_sha));
    dfit_gguf_close(g);
}

static void test_refuse_input(void **state)
{
    (void)state;
    char before[65], after[65];
    struct dfit_synth_params p = tiny(DFIT_TYPE_F32, 4);
    synth_ok(&p, tmp("in.gguf"));
    sha_ok(tmp("in.gguf"), before);
    struct dfit_convert_params cp = {.to = DFIT_TYPE_Q8_0, .n_threads = 1};
    struct dfit_err err = {0};
    assert_int_equal(dfit_convert_file(tmp("in.gguf"), tmp("in.gguf"), &cp, &err), DFIT_EEXIST);
    assert_non_null(strstr(err.msg, "in.gguf"));
    /* another name of the same file */
    assert_int_equal(link(tmp("in.gguf"), tmp("hard.gguf")), 0);
    assert_int_equal(dfit_convert_file(tmp("in.gguf"), tmp("hard.gguf"), &cp, &err), DFIT_EEXIST);
    char rel[300];
    snprintf(rel, sizeof rel, "%s/../%s/in.gguf", g_dir, strrchr(g_dir, '/') + 1);
    assert_int_equal(dfit_convert_file(tmp("in.gguf"), rel, &cp, &err), DFIT_EEXIST);
    sha_ok(tmp("in.gguf"), after);
    assert_string_equal(before, after);
    /* the writer's temporary name would be the input */
    assert_int_equal(rename(tmp("hard.gguf"), tmp("x.gguf.tmp")), 0);
    assert_int_equal(dfit_convert_file(tmp("x.gguf.tmp"), tmp("x.gguf"), &cp, &err), DFIT_EEXIST);
    sha_ok(tmp("x.gguf.tmp"), after);
    assert_string_equal(before, after);
    assert_int_equal(access(tmp("x.gguf"), F_OK), -1);
}

/* Q8_0 source -> Q4_0: each output row is the reference Q4_0 quantization
 * of the dequantized source row (exact, bit for bit). */
static void test_q4_rows_reference(void **state)
{
    (void)state;
    struct dfit_synth_params p = tiny(DFIT_TYPE_Q8_0, 21);
    synth_ok(&p, tmp("r_q8.gguf"));
    convert_ok(tmp("r_q8.gguf"), tmp("r_q4.gguf"), DFIT_TYPE_Q4_0, 2);
    struct dfit_gguf *a = open_ok(tmp("r_q8.gguf")), *b = open_ok(tmp("r_q4.gguf"));
    float row[128];
    struct dfit_block_q4_0 q[128 / DFIT_QK];
    int n_rows_checked = 0;
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        const struct dfit_gguf_tensor *s = &a->tensors[i];
        const struct dfit_gguf_tensor *d = dfit_gguf_find_tensor(b, s->name.data);
        assert_non_null(d);
        if (s->n_dims == 1) {
            assert_int_equal(d->type, DFIT_TYPE_F32);
            assert_memory_equal(s->data, d->data, s->n_bytes);
            continue;
        }
        assert_int_equal(s->type, DFIT_TYPE_Q8_0);
        assert_int_equal(d->type, DFIT_TYPE_Q4_0);
        int64_t n = s->ne[0], nb = n / DFIT_QK;
        assert_true(n <= 128);
        const struct dfit_block_q8_0 *src = s->data;
        const struct dfit_block_q4_0 *dst = d->data;
        for (int64_t r = 0; r < s->ne[1]; r++) {
            dfit_dequantize_row_q8_0(src + r * nb, row, n);
            dfit_quantize_row_q4_0_ref(row, q, n);
            if (memcmp(q, dst + r * nb, (size_t)nb * sizeof *q) != 0)
                fail_msg("tensor %s row %lld differs from the reference", s->name.data, (long long)r);
            n_rows_checked++;
        }
    }
    assert_true(n_rows_checked > 1000);
    dfit_gguf_close(a);
    dfit_gguf_close(b);
}

/* A matrix whose rows do not split into 32-element blocks: Q4_0 is refused
 * naming the tensor, F16 works. */
static void test_bad_row_length(void **state)
{
    (void)state;
    struct dfit_gguf_writer *w = NULL;
    float data[40 * 3];
    for (int i = 0; i < 40 * 3; i++)
        data[i] = (float)i * 0.25f - 7.0f;
    int64_t ne[2] = {40, 3};
    assert_int_equal(dfit_gguf_writer_create(&w, NULL), 0);
    assert_int_equal(dfit_gguf_writer_set_str(w, "general.architecture", "other", NULL), 0);
    assert_int_equal(dfit_gguf_writer_add_tensor(w, "odd.weight", DFIT_TYPE_F32, 2, ne, data, NULL, NULL, NULL), 0);
    assert_int_equal(dfit_gguf_writer_write(w, tmp("odd.gguf"), NULL), 0);
    dfit_gguf_writer_free(w);

    struct dfit_convert_params cp = {.to = DFIT_TYPE_Q4_0, .n_threads = 1};
    struct dfit_err err = {0};
    assert_int_equal(dfit_convert_file(tmp("odd.gguf"), tmp("odd_q4.gguf"), &cp, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "odd.weight"));
    assert_non_null(strstr(err.msg, "40"));
    assert_int_equal(access(tmp("odd_q4.gguf"), F_OK), -1);

    convert_ok(tmp("odd.gguf"), tmp("odd_f16.gguf"), DFIT_TYPE_F16, 1);
    struct dfit_gguf *g = open_ok(tmp("odd_f16.gguf"));
    const struct dfit_gguf_tensor *t = dfit_gguf_find_tensor(g, "odd.weight");
    assert_non_null(t);
    assert_int_equal(t->type, DFIT_TYPE_F16);
    const dfit_fp16 *h = t->data;
    for (int i = 0; i < 40 * 3; i++) /* multiples of 0.25 below 32 are exact in fp16 */
        assert_true(dfit_fp16_to_f32(h[i]) == data[i]);
    dfit_gguf_close(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_layout_and_values),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_synth_equals_convert),
        cmocka_unit_test(test_lineage),
        cmocka_unit_test(test_refuse_input),
        cmocka_unit_test(test_q4_rows_reference),
        cmocka_unit_test(test_bad_row_length),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
