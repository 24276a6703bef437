/* test_prune — pruning through dfit_compress_file and `dfit compress`, on
 * real files made by dfit_synth_write (the tiny shape: dim 64, 2 layers, 4
 * query heads sharing 2 KV heads, FFN 128) in a temporary directory.
 *   (a) unstructured: exactly round(s*n) zeros per matrix, per row or over
 *       all prunable matrices (global), every zeroed |w| <= every kept |w|
 *       in its scope, kept weights and other tensors unchanged;
 *   (b) 2:4: every group of four has its two largest kept, two zeros;
 *   (c) calibration (Wanda) picks other weights than magnitude, and the
 *       ones |W_ij|*||X_j|| with ||X_j|| from an independent calibration;
 *   (d) heads, FFN channels and layers give models that load, report the
 *       new shapes and metadata (key_length, head counts, n_ff,
 *       block_count, renumbered blocks), and whose logits equal the
 *       parent's with the removed parts' output weights zeroed
 *       (tolerance 1e-4), with magnitude and calibrated scores;
 *   (e) lineage and recipe keys; prune+quantize in one call equals prune
 *       then convert, bit for bit, and keeps the zeros; without --to every
 *       tensor, reshaped ones included, keeps its type;
 *   (f) amounts that do not suit the model, shapes that do not suit the
 *       block size, bad calibration sources, and bad CLI flags (status 2,
 *       message naming the flag).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "compress/calib.h"
#include "compress/compress.h"
#include "compress/convert.h"
#include "compress/synth.h"
#include "compress/wmodel.h"
#include "model/gguf.h"
#include "util/rng.h"
#include "util/sha256.h"
#include "tmpdir_fixture.h"

#define N_CTX 32
#define LOGIT_TOL 1e-4

static char g_parent[128];

static int setup(void **state)
{
    (void)state;
    if (tmpdir_make("prune"))
        return -1;
    snprintf(g_parent, sizeof g_parent, "%s/parent.gguf", g_dir);
    struct dfit_synth_params p = {.seed = 42, .type = DFIT_TYPE_F32};
    if (dfit_synth_preset("tiny", &p.shape, NULL) || dfit_synth_write(&p, g_parent, NULL))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove();
    return 0;
}

/* ---- helpers ----------------------------------------------------------------- */

static struct dfit_compress_params prune_params(const char *spec)
{
    struct dfit_compress_params p = {.n_threads = 2};
    if (dfit_prune_parse(spec, &p.prune, NULL))
        fail_msg("bad spec %s", spec);
    return p;
}

static void compress_ok(const char *in, const char *out, const struct dfit_compress_params *p,
                        struct dfit_compress_report *rep)
{
    struct dfit_err err = {0};
    if (dfit_compress_file(in, out, p, rep, &err))
        fail_msg("compress %s -> %s: %s", in, out, err.msg);
}

static struct dfit_wmodel *wm_open(const char *path)
{
    struct dfit_wmodel *wm = NULL;
    struct dfit_err err = {0};
    if (dfit_wmodel_open(path, &wm, &err))
        fail_msg("open %s: %s", path, err.msg);
    return wm;
}

static float *f32_of(struct dfit_wmodel *wm, const char *name)
{
    struct dfit_wtensor *t = dfit_wmodel_find(wm, name);
    if (!t)
        fail_msg("no tensor %s", name);
    float *w = dfit_wmodel_f32(wm, t, NULL);
    assert_non_null(w);
    return w;
}

static uint64_t n_of(struct dfit_wmodel *wm, const char *name)
{
    return dfit_wmodel_find(wm, name)->n_elements;
}

static uint64_t zeros(const float *w, uint64_t n)
{
    uint64_t z = 0;
    for (uint64_t i = 0; i < n; i++)
        z += w[i] == 0.0f;
    return z;
}

static const char *const proj[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

static const char *pname(uint32_t il, int k)
{
    static char buf[4][64];
    static int n;
    char *p = buf[n++ % 4];
    snprintf(p, sizeof buf[0], "blk.%u.%s.weight", il, proj[k]);
    return p;
}

static const char *meta_str(const struct dfit_gguf *g, const char *key)
{
    const struct dfit_gguf_str *s = NULL;
    struct dfit_err err = {0};
    if (dfit_gguf_get_str(g, key, &s, &err))
        fail_msg("%s", err.msg);
    return s->data;
}

static uint32_t meta_u32(const struct dfit_gguf *g, const char *key)
{
    uint32_t v = 0;
    struct dfit_err err = {0};
    if (dfit_gguf_get_u32(g, key, &v, &err))
        fail_msg("%s", err.msg);
    return v;
}

static float meta_f32(const struct dfit_gguf *g, const char *key)
{
    float v = 0;
    struct dfit_err err = {0};
    if (dfit_gguf_get_f32(g, key, &v, &err))
        fail_msg("%s", err.msg);
    return v;
}

/* Logits [N_CTX][n_vocab] of a fixed token sequence (caller frees). */
static float *logits_of(const char *path, struct dfit_llama_hparams *hp_out)
{
    const struct dfit_backend_ops *cpu = dfit_backend_find("cpu");
    struct dfit_model *m = NULL;
    struct dfit_err err = {0};
    void *ctx = NULL;
    if (dfit_model_open(path, &m, &err))
        fail_msg("open %s: %s", path, err.msg);
    struct dfit_backend_params bp = {.n_threads = 1, .n_ctx = N_CTX, .n_seq = 1, .n_batch_max = N_CTX};
    if (cpu->load(m, &bp, &ctx, NULL, &err))
        fail_msg("load %s: %s", path, err.msg);
    int32_t tok[N_CTX], pos[N_CTX], seq[N_CTX] = {0};
    struct dfit_rng r;
    dfit_rng_seed(&r, 99);
    for (int i = 0; i < N_CTX; i++) {
        tok[i] = (int32_t)dfit_rng_below(&r, m->hp.n_vocab);
        pos[i] = i;
    }
    float *logits = malloc((size_t)N_CTX * m->hp.n_vocab * sizeof *logits);
    assert_non_null(logits);
    struct dfit_batch b = {N_CTX, tok, pos, seq, NULL};
    if (cpu->forward(ctx, &b, logits, &err))
        fail_msg("forward %s: %s", path, err.msg);
    for (size_t i = 0; i < (size_t)N_CTX * m->hp.n_vocab; i++)
        assert_true(isfinite(logits[i]));
    if (hp_out)
        *hp_out = m->hp;
    cpu->unload(ctx);
    dfit_model_free(m);
    return logits;
}

static void expect_same_logits(const char *a, const char *b)
{
    struct dfit_llama_hparams hp;
    float *la = logits_of(a, &hp), *lb = logits_of(b, NULL);
    double worst = 0;
    for (size_t i = 0; i < (size_t)N_CTX * hp.n_vocab; i++)
        worst = fmax(worst, fabs((double)la[i] - lb[i]));
    free(la);
    free(lb);
    if (worst > LOGIT_TOL)
        fail_msg("%s vs %s: logits differ by %g (tolerance %g)", a, b, worst, LOGIT_TOL);
}

/* The pruned model computes something else than the parent (so that the
 * equality with the zeroed reference says something). */
static void expect_other_logits(const char *pruned)
{
    struct dfit_llama_hparams hp;
    float *la = logits_of(pruned, &hp), *lb = logits_of(g_parent, NULL);
    double worst = 0;
    for (size_t i = 0; i < (size_t)N_CTX * hp.n_vocab; i++)
        worst = fmax(worst, fabs((double)la[i] - lb[i]));
    free(la);
    free(lb);
    if (worst < 1e-2)
        fail_msg("%s: logits within %g of the parent's", pruned, worst);
}

/* ---- (a) unstructured ------------------------------------------------------- */

/* Checks the zeros of `pruned` against the parent: kept weights unchanged,
 * max zeroed score <= min kept score; returns the number of zeros. */
static uint64_t check_threshold(const float *parent, const float *pruned, uint64_t n, double *max_zeroed,
                                double *min_kept, const float *col, int64_t n_in)
{
    uint64_t z = 0;
    for (uint64_t i = 0; i < n; i++) {
        double score = fabs(parent[i]) * (col ? col[i % (uint64_t)n_in] : 1.0);
        if (pruned[i] == 0.0f) {
            z++;
            *max_zeroed = fmax(*max_zeroed, score);
        } else {
            assert_true(pruned[i] == parent[i]);
            *min_kept = fmin(*min_kept, score);
        }
    }
    return z;
}

static void test_unstructured_matrix_and_row(void **state)
{
    (void)state;
    struct dfit_compress_params p = prune_params("unstructured:0.3");
    struct dfit_compress_report rep;
    compress_ok(g_parent, tmp("u_matrix.gguf"), &p, &rep);
    p.prune.scope = DFIT_PRUNE_SCOPE_ROW;
    compress_ok(g_parent, tmp("u_row.gguf"), &p, &rep);
    struct dfit_wmodel *par = wm_open(g_parent), *mat = wm_open(tmp("u_matrix.gguf")),
                       *row = wm_open(tmp("u_row.gguf"));
    for (uint32_t il = 0; il < 2; il++)
        for (int k = 0; k < 7; k++) {
            const char *name = pname(il, k);
            uint64_t n = n_of(par, name);
            double mz = 0, mk = INFINITY;
            assert_int_equal(check_threshold(f32_of(par, name), f32_of(mat, name), n, &mz, &mk, NULL, 1),
                             llround(0.3 * (double)n));
            assert_true(mz <= mk);
            /* per row: every row has exactly round(0.3 * n_in) zeros */
            int64_t n_in = dfit_wmodel_find(par, name)->ne[0];
            const float *pr = f32_of(par, name), *rw = f32_of(row, name);
            for (uint64_t r = 0; r < n / (uint64_t)n_in; r++) {
                double rz = 0, rk = INFINITY;
                assert_int_equal(check_threshold(pr + r * n_in, rw + r * n_in, (uint64_t)n_in, &rz, &rk, NULL, 1),
                                 llround(0.3 * (double)n_in));
                assert_true(rz <= rk);
            }
        }
    /* not prunable: embeddings, norms, output */
    const char *other[] = {"token_embd.weight", "output.weight", "output_norm.weight", "blk.0.attn_norm.weight",
                           "blk.1.ffn_norm.weight"};
    for (size_t i = 0; i < 5; i++)
        assert_memory_equal(f32_of(par, other[i]), f32_of(mat, other[i]), n_of(par, other[i]) * sizeof(float));
    assert_int_equal(rep.prune.n_considered, 2 * (64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128));
    dfit_wmodel_free(par);
    dfit_wmodel_free(mat);
    dfit_wmodel_free(row);
}

static void test_unstructured_global(void **state)
{
    (void)state;
    struct dfit_compress_params p = prune_params("unstructured:0.6");
    p.prune.scope = DFIT_PRUNE_SCOPE_GLOBAL;
    struct dfit_compress_report rep;
    compress_ok(g_parent, tmp("u_global.gguf"), &p, &rep);
    struct dfit_wmodel *par = wm_open(g_parent), *glo = wm_open(tmp("u_global.gguf"));
    uint64_t total = 0, z = 0;
    double mz = 0, mk = INFINITY, s_min = 1, s_max = 0;
    for (uint32_t il = 0; il < 2; il++)
        for (int k = 0; k < 7; k++) {
            const char *name = pname(il, k);
            uint64_t n = n_of(par, name), zm = check_threshold(f32_of(par, name), f32_of(glo, name), n, &mz, &mk,
                                                               NULL, 1);
            total += n;
            z += zm;
            s_min = fmin(s_min, (double)zm / n);
            s_max = fmax(s_max, (double)zm / n);
        }
    assert_int_equal(z, llround(0.6 * (double)total));
    assert_true(mz <= mk);          /* one threshold across all matrices */
    assert_true(s_max - s_min > 0.05); /* so matrices end up at different sparsities */
    assert_true(fabs(rep.prune.sparsity - (double)z / total) < 1e-12);
    dfit_wmodel_free(par);
    dfit_wmodel_free(glo);
}

/* ---- (b) 2:4 ------------------------------------------------------------------- */

static void check_2_4(const float *parent, const float *pruned, uint64_t n)
{
    for (uint64_t g = 0; g < n; g += 4) {
        int nz = 0;
        for (int i = 0; i < 4; i++)
            nz += pruned[g + i] == 0.0f;
        assert_int_equal(nz, 2);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                if (pruned[g + i] != 0.0f && pruned[g + j] == 0.0f)
                    assert_true(fabsf(parent[g + i]) >= fabsf(parent[g + j]));
    }
}

static void test_2_4(void **state)
{
    (void)state;
    struct dfit_compress_params p = prune_params("2:4");
    p.prune.include_output = true;
    compress_ok(g_parent, tmp("s24.gguf"), &p, NULL);
    struct dfit_wmodel *par = wm_open(g_parent), *s = wm_open(tmp("s24.gguf"));
    for (uint32_t il = 0; il < 2; il++)
        for (int k = 0; k < 7; k++)
            check_2_4(f32_of(par, pname(il, k)), f32_of(s, pname(il, k)), n_of(par, pname(il, k)));
    check_2_4(f32_of(par, "output.weight"), f32_of(s, "output.weight"), n_of(par, "output.weight"));
    assert_memory_equal(f32_of(par, "token_embd.weight"), f32_of(s, "token_embd.weight"),
                        n_of(par, "token_embd.weight") * sizeof(float));
    assert_true(s->g && dfit_gguf_find_kv(s->g, "dfit.prune.include_output"));
    assert_string_equal(meta_str(s->g, "dfit.prune.pattern"), "2:4");
    assert_true(meta_f32(s->g, "dfit.prune.sparsity") == 0.5f);
    dfit_wmodel_free(par);
    dfit_wmodel_free(s);
}

/* ---- (c) calibration changes the choice -------------------------------------- */

static void test_calibrated_choice(void **state)
{
    (void)state;
    struct dfit_compress_params p = prune_params("unstructured:0.5");
    compress_ok(g_parent, tmp("mag.gguf"), &p, NULL);
    p.calib = "synth:3";
    p.calib_tokens = 128;
    compress_ok(g_parent, tmp("wanda.gguf"), &p, NULL);

    /* an independent calibration on the parent gives ||X_j|| */
    struct dfit_calib *cal = NULL;
    struct dfit_err err = {0};
    struct dfit_calib_params cp = {.source = "synth:3", .n_tokens = 128, .n_threads = 1};
    if (dfit_calib_collect(g_parent, &cp, &cal, &err))
        fail_msg("%s", err.msg);
    static const int input[7] = {DFIT_CALIB_ATTN_IN,  DFIT_CALIB_ATTN_IN, DFIT_CALIB_ATTN_IN, DFIT_CALIB_ATTN_OUT,
                                 DFIT_CALIB_FFN_IN,   DFIT_CALIB_FFN_IN,  DFIT_CALIB_FFN_DOWN};
    struct dfit_wmodel *par = wm_open(g_parent), *mag = wm_open(tmp("mag.gguf")), *wan = wm_open(tmp("wanda.gguf"));
    uint64_t differ = 0, total = 0;
    for (uint32_t il = 0; il < 2; il++)
        for (int k = 0; k < 7; k++) {
            const char *name = pname(il, k);
            const struct dfit_calib_stats *st = &cal->layers[il].in[input[k]];
            int64_t n_in = st->n_in;
            float *col = malloc((size_t)n_in * sizeof *col);
            for (int64_t j = 0; j < n_in; j++)
                col[j] = (float)sqrt(st->sum_sq[j]);
            uint64_t n = n_of(par, name);
            double mz = 0, mk = INFINITY;
            assert_int_equal(check_threshold(f32_of(par, name), f32_of(wan, name), n, &mz, &mk, col, n_in),
                             llround(0.5 * (double)n));
            assert_true(mz <= mk * (1 + 1e-6)); /* float vs double scores */
            const float *a = f32_of(mag, name), *b = f32_of(wan, name);
            for (uint64_t i = 0; i < n; i++)
                differ += (a[i] == 0.0f) != (b[i] == 0.0f);
            total += n;
            free(col);
        }
    print_message("# wanda vs magnitude masks differ in %.1f%% of the weights\n", 100.0 * differ / total);
    assert_true(differ > total / 100);
    assert_string_equal(meta_str(wan->g, "dfit.recipe.prune.method"), "activation");
    assert_string_equal(meta_str(wan->g, "dfit.recipe.prune.calib"), "synth:seed=3");
    assert_int_equal(meta_u32(wan->g, "dfit.recipe.calib.tokens"), 128);
    assert_string_equal(meta_str(mag->g, "dfit.recipe.prune.method"), "magnitude");
    dfit_calib_free(cal);
    dfit_wmodel_free(par);
    dfit_wmodel_free(mag);
    dfit_wmodel_free(wan);
}

/* ---- (d) structured ---------------------------------------------------------- */

/* Index of the row block of `unit` floats of `hay` [n][unit] equal to
 * needle, or -1. */
static int find_block(const float *hay, int n, const float *needle, size_t unit)
{
    for (int i = 0; i < n; i++)
        if (memcmp(hay + (size_t)i * unit, needle, unit * sizeof *hay) == 0)
            return i;
    return -1;
}

static void heads_case(const char *calib)
{
    struct dfit_compress_params p = prune_params("heads:0.5");
    p.calib = calib;
    p.calib_tokens = 64;
    struct dfit_compress_report rep;
    compress_ok(g_parent, tmp("heads.gguf"), &p, &rep);
    struct dfit_llama_hparams hp;
    free(logits_of(tmp("heads.gguf"), &hp));
    assert_int_equal(hp.n_head, 2);
    assert_int_equal(hp.n_head_kv, 1);
    assert_int_equal(hp.head_dim, 16);
    assert_int_equal(hp.n_embd, 64);

    /* which KV group survived in each layer; zero the others' attn_output
     * columns in a copy of the parent */
    struct dfit_wmodel *par = wm_open(g_parent), *pr = wm_open(tmp("heads.gguf"));
    assert_int_equal(meta_u32(pr->g, "llama.attention.key_length"), 16);
    assert_int_equal(meta_u32(pr->g, "llama.attention.value_length"), 16);
    assert_int_equal(meta_u32(pr->g, "llama.attention.head_count"), 2);
    assert_string_equal(meta_str(pr->g, "dfit.prune.pattern"), "heads");
    for (uint32_t il = 0; il < 2; il++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%u.attn_k.weight", il);
        int g = find_block(f32_of(par, name), 2, f32_of(pr, name), 16 * 64);
        assert_true(g >= 0);
        snprintf(name, sizeof name, "blk.%u.attn_q.weight", il);
        assert_int_equal(find_block(f32_of(par, name), 2, f32_of(pr, name), 32 * 64), g);
        snprintf(name, sizeof name, "blk.%u.attn_output.weight", il);
        float *wo = f32_of(par, name); /* [64][64]: heads 2g, 2g+1 are columns 32g..32g+31 */
        for (int r = 0; r < 64; r++)
            for (int c = 0; c < 64; c++)
                if (c / 32 != g)
                    wo[r * 64 + c] = 0.0f;
    }
    assert_int_equal(dfit_wmodel_write_f32(par, 1, tmp("heads_ref.gguf"), NULL), 0);
    expect_same_logits(tmp("heads.gguf"), tmp("heads_ref.gguf"));
    expect_other_logits(tmp("heads.gguf"));
    dfit_wmodel_free(par);
    dfit_wmodel_free(pr);
}

static void test_heads(void **state)
{
    (void)state;
    heads_case(NULL);
    heads_case("synth");
}

static void ffn_case(const char *calib)
{
    struct dfit_compress_params p = prune_params("ffn:0.25");
    p.calib = calib;
    p.calib_tokens = 64;
    compress_ok(g_parent, tmp("ffn.gguf"), &p, NULL);
    struct dfit_wmodel *par = wm_open(g_parent), *pr = wm_open(tmp("ffn.gguf"));
    assert_int_equal(pr->hp.n_ff, 96);
    assert_int_equal(meta_u32(pr->g, "llama.feed_forward_length"), 96);
    for (uint32_t il = 0; il < 2; il++) {
        char gate[64], up[64], down[64];
        snprintf(gate, sizeof gate, "blk.%u.ffn_gate.weight", il);
        snprintf(up, sizeof up, "blk.%u.ffn_up.weight", il);
        snprintf(down, sizeof down, "blk.%u.ffn_down.weight", il);
        bool kept[128] = {false};
        const float *pg = f32_of(par, gate), *qg = f32_of(pr, gate), *qu = f32_of(pr, up), *qd = f32_of(pr, down);
        for (int c = 0; c < 96; c++) {
            int src = find_block(pg, 128, qg + c * 64, 64);
            assert_true(src >= 0);
            assert_memory_equal(f32_of(par, up) + src * 64, qu + c * 64, 64 * sizeof(float));
            for (int r = 0; r < 64; r++)
                assert_true(qd[r * 96 + c] == f32_of(par, down)[r * 128 + src]);
            kept[src] = true;
        }
        float *wd = f32_of(par, down);
        for (int r = 0; r < 64; r++)
            for (int c = 0; c < 128; c++)
                if (!kept[c])
                    wd[r * 128 + c] = 0.0f;
    }
    assert_int_equal(dfit_wmodel_write_f32(par, 1, tmp("ffn_ref.gguf"), NULL), 0);
    expect_same_logits(tmp("ffn.gguf"), tmp("ffn_ref.gguf"));
    expect_other_logits(tmp("ffn.gguf"));
    dfit_wmodel_free(par);
    dfit_wmodel_free(pr);
}

static void test_ffn(void **state)
{
    (void)state;
    ffn_case(NULL);
    ffn_case("synth:5");
}

static void layers_case(const char *calib)
{
    struct dfit_compress_params p = prune_params("layers:1");
    p.calib = calib;
    p.calib_tokens = 64;
    struct dfit_compress_report rep;
    compress_ok(g_parent, tmp("layers.gguf"), &p, &rep);
    struct dfit_wmodel *par = wm_open(g_parent), *pr = wm_open(tmp("layers.gguf"));
    assert_int_equal(meta_u32(pr->g, "llama.block_count"), 1);
    assert_null(dfit_wmodel_find(pr, "blk.1.attn_q.weight"));
    /* the survivor is renumbered blk.0 and carries its own weights */
    int kept = memcmp(f32_of(par, "blk.0.attn_q.weight"), f32_of(pr, "blk.0.attn_q.weight"),
                      n_of(par, "blk.0.attn_q.weight") * sizeof(float)) == 0 ? 0 : 1;
    char src[64];
    const char *suffix[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
                            "ffn_up", "ffn_down"};
    for (int k = 0; k < 9; k++) {
        char dst[64];
        snprintf(src, sizeof src, "blk.%d.%s.weight", kept, suffix[k]);
        snprintf(dst, sizeof dst, "blk.0.%s.weight", suffix[k]);
        assert_memory_equal(f32_of(par, src), f32_of(pr, dst), n_of(par, src) * sizeof(float));
    }
    char removed[32];
    snprintf(removed, sizeof removed, "blk.%d of 2", 1 - kept);
    assert_string_equal(rep.prune.removed, removed);
    /* reference: the removed block's residual contributions zeroed */
    snprintf(src, sizeof src, "blk.%d.attn_output.weight", 1 - kept);
    memset(f32_of(par, src), 0, n_of(par, src) * sizeof(float));
    snprintf(src, sizeof src, "blk.%d.ffn_down.weight", 1 - kept);
    memset(f32_of(par, src), 0, n_of(par, src) * sizeof(float));
    assert_int_equal(dfit_wmodel_write_f32(par, 1, tmp("layers_ref.gguf"), NULL), 0);
    expect_same_logits(tmp("layers.gguf"), tmp("layers_ref.gguf"));
    expect_other_logits(tmp("layers.gguf"));
    dfit_wmodel_free(par);
    dfit_wmodel_free(pr);
}

static void test_layers(void **state)
{
    (void)state;
    layers_case(NULL);
    layers_case("synth");
}

/* ---- (e) lineage, composition -------------------------------------------------- */

static void test_lineage_and_compose(void **state)
{
    (void)state;
    char sha[DFIT_SHA256_HEX_LEN + 1], sha_pruned[DFIT_SHA256_HEX_LEN + 1];
    assert_int_equal(dfit_sha256_file(g_parent, sha, NULL), 0);
    struct dfit_compress_params p = prune_params("unstructured:0.5");
    compress_ok(g_parent, tmp("p_f32.gguf"), &p, NULL);
    p.have_to = true;
    p.to = DFIT_TYPE_Q4_0;
    compress_ok(g_parent, tmp("p_q4.gguf"), &p, NULL);
    struct dfit_convert_params cp = {.to = DFIT_TYPE_Q4_0, .n_threads = 1};
    assert_int_equal(dfit_convert_file(tmp("p_f32.gguf"), tmp("p_then_q4.gguf"), &cp, NULL), 0);
    assert_int_equal(dfit_sha256_file(tmp("p_f32.gguf"), sha_pruned, NULL), 0);

    struct dfit_gguf *one = NULL, *two = NULL, *f32 = NULL;
    assert_int_equal(dfit_gguf_open(tmp("p_q4.gguf"), &one, NULL), 0);
    assert_int_equal(dfit_gguf_open(tmp("p_then_q4.gguf"), &two, NULL), 0);
    assert_int_equal(dfit_gguf_open(tmp("p_f32.gguf"), &f32, NULL), 0);
    /* one step equals two steps, tensor for tensor */
    assert_int_equal(one->n_tensors, two->n_tensors);
    for (uint64_t i = 0; i < one->n_tensors; i++) {
        const struct dfit_gguf_tensor *b = dfit_gguf_find_tensor(two, one->tensors[i].name.data);
        assert_non_null(b);
        assert_int_equal(one->tensors[i].type, b->type);
        assert_int_equal(one->tensors[i].n_bytes, b->n_bytes);
        assert_memory_equal(one->tensors[i].data, b->data, b->n_bytes);
    }
    assert_int_equal(dfit_gguf_find_tensor(one, "blk.0.ffn_up.weight")->type, DFIT_TYPE_Q4_0);
    assert_int_equal(dfit_gguf_find_tensor(one, "blk.0.ffn_norm.weight")->type, DFIT_TYPE_F32);
    /* the zeros survive Q4_0 */
    struct dfit_wmodel *q = wm_open(tmp("p_q4.gguf"));
    assert_int_equal(zeros(f32_of(q, "blk.1.ffn_down.weight"), 64 * 128), 64 * 128 / 2);
    dfit_wmodel_free(q);

    /* recipes */
    assert_string_equal(meta_str(f32, "dfit.parent.sha256"), sha);
    assert_string_equal(meta_str(f32, "dfit.parent.name"), "parent.gguf");
    assert_string_equal(meta_str(f32, "dfit.recipe.method"), "prune");
    assert_string_equal(meta_str(f32, "dfit.recipe.prune.pattern"), "unstructured");
    assert_string_equal(meta_str(f32, "dfit.recipe.prune.scope"), "matrix");
    assert_string_equal(meta_str(f32, "dfit.recipe.prune.score"), "|W_ij|");
    assert_string_equal(meta_str(f32, "dfit.recipe.prune.calib"), "none");
    assert_true(meta_f32(f32, "dfit.recipe.prune.amount") == 0.5f);
    assert_null(dfit_gguf_find_kv(f32, "dfit.recipe.to"));
    assert_string_equal(meta_str(one, "dfit.recipe.method"), "prune+convert");
    assert_string_equal(meta_str(one, "dfit.recipe.to"), "q4_0");
    assert_string_equal(meta_str(one, "dfit.recipe.quant.method"), "plain");
    assert_int_equal(meta_u32(one, "general.file_type"), 2);
    /* converting the pruned file keeps dfit.prune.* and moves the recipe
     * into the lineage, after the synth entry */
    assert_string_equal(meta_str(two, "dfit.parent.sha256"), sha_pruned);
    assert_string_equal(meta_str(two, "dfit.prune.pattern"), "unstructured");
    assert_true(meta_f32(two, "dfit.prune.sparsity") == 0.5f);
    const struct dfit_gguf_value *lin = NULL;
    assert_int_equal(dfit_gguf_get_arr(two, "dfit.lineage", DFIT_GGUF_STRING, &lin, NULL), 0);
    assert_int_equal(lin->n, 2);
    const struct dfit_gguf_str *e = lin->arr;
    assert_non_null(strstr(e[0].data, "recipe.method=synth"));
    assert_non_null(strstr(e[1].data, "recipe.method=prune"));
    assert_non_null(strstr(e[1].data, "recipe.prune.pattern=unstructured"));
    assert_non_null(strstr(e[1].data, sha));
    dfit_gguf_close(one);
    dfit_gguf_close(two);
    dfit_gguf_close(f32);

    /* without --to, reshaped tensors keep their type too */
    cp.to = DFIT_TYPE_F16;
    assert_int_equal(dfit_convert_file(g_parent, tmp("f16.gguf"), &cp, NULL), 0);
    p = prune_params("ffn:0.5");
    compress_ok(tmp("f16.gguf"), tmp("f16_ffn.gguf"), &p, NULL);
    assert_int_equal(dfit_gguf_open(tmp("f16_ffn.gguf"), &one, NULL), 0);
    for (uint64_t i = 0; i < one->n_tensors; i++)
        assert_int_equal(one->tensors[i].type, one->tensors[i].n_dims >= 2 ? DFIT_TYPE_F16 : DFIT_TYPE_F32);
    assert_int_equal(dfit_gguf_find_tensor(one, "blk.1.ffn_down.weight")->ne[0], 64);
    assert_int_equal(meta_u32(one, "general.file_type"), 1);
    dfit_gguf_close(one);
}

/* ---- (f) errors ------------------------------------------------------------------ */

static void expect_fail(const char *in, struct dfit_compress_params *p, int code, const char *needle)
{
    struct dfit_err err = {0};
    int rc = dfit_compress_file(in, tmp("fail.gguf"), p, NULL, &err);
    if (rc != code || !strstr(err.msg, needle))
        fail_msg("expected %d with '%s', got %d: %s", code, needle, rc, err.msg);
    assert_int_equal(access(tmp("fail.gguf"), F_OK), -1);
    assert_int_equal(access(tmp("fail.gguf.calib.gguf"), F_OK), -1);
}

static void test_library_errors(void **state)
{
    (void)state;
    struct dfit_compress_params p = prune_params("layers:2");
    expect_fail(g_parent, &p, DFIT_EINVAL, "remove 1 to 1");
    p = prune_params("heads:0.2"); /* 0.4 of a KV group rounds to none */
    expect_fail(g_parent, &p, DFIT_EINVAL, "rounds to 0");
    p = prune_params("ffn:0.9");
    expect_fail(g_parent, &p, DFIT_EINVAL, "must be 32 to 127");
    p = prune_params("unstructured:0.5");
    p.calib = tmp("missing.txt");
    expect_fail(g_parent, &p, DFIT_EIO, "missing.txt");
    p.calib = "synth:x";
    expect_fail(g_parent, &p, DFIT_EINVAL, "synth:SEED");
    FILE *f = fopen(tmp("short.txt"), "w");
    fputs("hi", f);
    fclose(f);
    p.calib = tmp("short.txt");
    expect_fail(g_parent, &p, DFIT_EINVAL, "at least 16");
    p = prune_params("unstructured:0.5");
    expect_fail(tmp("nonexistent.gguf"), &p, DFIT_EIO, "nonexistent.gguf");
    struct dfit_err err = {0};
    p.have_to = true;
    p.to = DFIT_TYPE_Q8_0;
    assert_int_equal(dfit_compress_file(g_parent, g_parent, &p, NULL, &err), DFIT_EEXIST);

    /* 6 heads of 16 minus one KV group: attn_output rows of 80, not a
     * multiple of the q4_0 block */
    struct dfit_synth_params sp = {.seed = 1, .type = DFIT_TYPE_F32};
    assert_int_equal(dfit_synth_preset("tiny", &sp.shape, NULL), 0);
    sp.shape.n_embd = 96;
    sp.shape.n_head = sp.shape.n_head_kv = 6;
    assert_int_equal(dfit_synth_write(&sp, tmp("six.gguf"), NULL), 0);
    p = prune_params("heads:0.2");
    p.have_to = true;
    p.to = DFIT_TYPE_Q4_0;
    expect_fail(tmp("six.gguf"), &p, DFIT_EINVAL, "attn_output.weight': row length 80 is not a multiple of 32");
    p.to = DFIT_TYPE_F16; /* fine in f16, and head_dim 16 with 5 heads of 96 needs key_length */
    compress_ok(tmp("six.gguf"), tmp("five.gguf"), &p, NULL);
    struct dfit_llama_hparams hp;
    free(logits_of(tmp("five.gguf"), &hp));
    assert_int_equal(hp.n_head, 5);
    assert_int_equal(hp.head_dim, 16);
}

/* Runs the dfit binary with args; returns its exit status and the start of
 * its stderr in buf. */
static int run_cli(char *buf, size_t cap, const char *args)
{
    const char *bin = getenv("DFIT_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' compress %s 2>'%s' >/dev/null", bin, args, tmp("stderr.txt"));
    int st = system(cmd);
    FILE *f = fopen(tmp("stderr.txt"), "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state)
{
    (void)state;
    if (!getenv("DFIT_BIN"))
        fail_msg("DFIT_BIN is not set (run under meson test)");
    static const struct {
        const char *args;
        int status;
        const char *needle;
    } cases[] = {
        {"--prune foo", 2, "--prune: 'foo'"},
        {"--prune unstructured:1", 2, "sparsity must be a number in [0, 1)"},
        {"--prune unstructured:-0.1", 2, "--prune"},
        {"--prune unstructured", 2, "--prune"},
        {"--prune heads:0", 2, "fraction must be"},
        {"--prune layers:1.5", 2, "integer >= 1"},
        {"--prune 2:4 --prune 2:4", 2, "--prune: given more than once"},
        {"--prune heads:0.5 --scope global", 2, "--scope: only applies"},
        {"--prune unstructured:0.5 --scope diagonal", 2, "--scope: 'diagonal'"},
        {"--prune ffn:0.5 --prune-output", 2, "--prune-output: only applies"},
        {"--prune-output=yes --prune 2:4", 2, "--prune-output: takes no value"},
        {"--to q8_0 --calib synth", 2, "--calib: nothing uses it"},
        {"--to q8_0 --calib-tokens 64", 2, "--calib-tokens: only applies"},
        {"--prune 2:4 --calib synth --calib-tokens 8", 2, "--calib-tokens: expected an integer in 16.."},
        {"--to f16 --method awq", 2, "--method awq: needs a quantized --to"},
        {"--prune 2:4 --method awq", 2, "--method awq: needs a quantized --to"},
        {"--to q4_0 --method gptq", 2, "--method: expected plain or awq"},
        {"--calib synth", 2, "missing --to TYPE (or --prune SPEC)"},
        {"--prune layers:5", 1, "remove 1 to 1"},
    };
    char buf[2048], args[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, "%s '%s' -o '%s' --force", cases[i].args, g_parent, tmp("cli.gguf"));
        int st = run_cli(buf, sizeof buf, args);
        if (st != cases[i].status || !strstr(buf, cases[i].needle))
            fail_msg("dfit compress %s: status %d (want %d), stderr: %s", cases[i].args, st, cases[i].status, buf);
    }
    /* and a good one */
    snprintf(args, sizeof args, "--prune unstructured:0.25 --scope row --calib synth --calib-tokens 32 --to q8_0 "
                                "'%s' -o '%s' --force", g_parent, tmp("cli.gguf"));
    assert_int_equal(run_cli(buf, sizeof buf, args), 0);
    struct dfit_gguf *g = NULL;
    assert_int_equal(dfit_gguf_open(tmp("cli.gguf"), &g, NULL), 0);
    assert_string_equal(meta_str(g, "dfit.recipe.prune.scope"), "row");
    assert_true(fabs(meta_f32(g, "dfit.prune.sparsity") - 0.25) < 1e-6);
    dfit_gguf_close(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unstructured_matrix_and_row),
        cmocka_unit_test(test_unstructured_global),
        cmocka_unit_test(test_2_4),
        cmocka_unit_test(test_calibrated_choice),
        cmocka_unit_test(test_heads),
        cmocka_unit_test(test_ffn),
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_lineage_and_compose),
        cmocka_unit_test(test_library_errors),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
