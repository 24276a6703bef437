/* test_distill — logit distillation (compress/distill.h, `dfit distill`).
 *
 * Data: a first-order Markov chain over 12 symbols (byte tokens 3..14)
 * whose transition rows are softmaxes of random logits, so the teacher's
 * next-token distributions are genuinely soft. Training windows come from
 * one seed, held-out windows from another. The teacher (dim 64, 2 or 3
 * layers, GQA, vocabulary 259, context 32) is trained for 120 steps by the
 * ordinary trainer first (about a second).
 *
 * (a) The loss hook's gradient: for a batch of 2 x 8 tokens, the gradient
 *     the hook writes into pass->dlogits equals central finite differences
 *     of the loss it returns (h = 1e-2 on the logits; tolerance 2e-4 +
 *     2e-2 * |g|), at T = 2 with alpha 0.3, 1 (KL only) and 0 (CE only),
 *     for the largest entries and random ones; and the loss is
 *     alpha*T^2*KL + (1-alpha)*CE of the parts dfit_distill_last reports.
 *     (The KL op's own gradient is checked in test_train_grad.)
 * (b) A fresh student (dim 32, 1 layer, untied output) distilled with
 *     alpha = 1 for 80 steps: its held-out KL(teacher || student) falls below a quarter of
 *     the untrained student's and below 0.25 nats, and top-1 agreement with
 *     the teacher rises above 80 %.
 * (c) Lineage: the exported student loads with dfit_model_open and holds
 *     dfit.recipe.method = distill, the teacher's SHA-256, the student's
 *     shape, steps, temperature, alpha, the data's SHA-256, dfit.parent.*
 *     naming the teacher and dfit.lineage holding the teacher's recipe; a
 *     healed student names its init file (SHA-256) as the parent.
 * (d) Healing: a 3-layer teacher with one layer removed by
 *     dfit_compress_file (--prune layers:1) has a held-out KL to the
 *     teacher; 60 steps of distillation from that file lower it below
 *     0.6 times the unhealed KL.
 * (e) The command: usage errors exit 2 naming the flag; a 5-step run
 *     writes a student; --steps 0 --heldout measures only.
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

#include "compress/compress.h"
#include "compress/distill.h"
#include "compress/train.h"
#include "compress/train_data.h"
#include "compress/train_model.h"
#include "compress/train_pass.h"
#include "model/gguf.h"
#include "model/llama.h"
#include "util/rng.h"
#include "util/sha256.h"
#include "tmpdir_fixture.h"

#define N_SYM 12
#define SYM0 3
#define TRAIN_TOKENS 24000
#define HELD_TOKENS 4000
#define SEQ 32


/* ---- data and the teacher ----------------------------------------------------- */

static float g_trans[N_SYM][N_SYM]; /* transition probabilities */
static struct dfit_train_data *g_train, *g_held;
static struct dfit_train_model *g_teacher2, *g_teacher3; /* 2 and 3 layers */

static void make_chain(void)
{
    struct dfit_rng r;
    dfit_rng_seed(&r, 77);
    for (int i = 0; i < N_SYM; i++) {
        double z[N_SYM], s = 0.0;
        for (int j = 0; j < N_SYM; j++) {
            z[j] = exp(2.0 * dfit_rng_normal(&r));
            s += z[j];
        }
        for (int j = 0; j < N_SYM; j++)
            g_trans[i][j] = (float)(z[j] / s);
    }
}

/* n tokens: BOS, then the chain from a random start, sampled with seed. */
static struct dfit_train_data *chain_data(uint64_t seed, uint64_t n)
{
    struct dfit_rng r;
    dfit_rng_seed(&r, seed);
    int32_t *tok = malloc(n * sizeof *tok);
    assert_non_null(tok);
    tok[0] = 1;
    int cur = (int)dfit_rng_below(&r, N_SYM);
    for (uint64_t i = 1; i < n; i++) {
        tok[i] = SYM0 + cur;
        const double u = dfit_rng_uniform(&r);
        double c = 0.0;
        int next = N_SYM - 1;
        for (int j = 0; j < N_SYM; j++) {
            c += g_trans[cur][j];
            if (u < c) {
                next = j;
                break;
            }
        }
        cur = next;
    }
    struct dfit_train_data *d = NULL;
    struct dfit_err err = {0};
    if (dfit_train_data_from_arrays(tok, NULL, n, 259, &d, &err))
        fail_msg("data: %s", err.msg);
    free(tok);
    return d;
}

static struct dfit_train_recipe recipe(uint64_t steps, float lr, uint64_t seed)
{
    return (struct dfit_train_recipe){.steps = steps, .batch = 8, .seq = SEQ, .lr = lr, .lr_min = lr / 10.0f,
                                      .warmup = steps / 10, .weight_decay = 0.0f, .clip = 1.0f, .seed = seed};
}

static struct dfit_train_model *train_teacher(uint32_t layers)
{
    const struct dfit_synth_shape s = {64, layers, 128, 4, 2, 259, SEQ, true, 1e-5f, 10000.0f};
    struct dfit_err err = {0};
    struct dfit_train_model *m = NULL;
    struct dfit_trainer *t = NULL;
    assert_int_equal(dfit_train_model_create(&s, &m, &err), 0);
    dfit_train_model_init(m, 3);
    struct dfit_train_params p = {.recipe = recipe(120, 1e-2f, 3), .n_threads = 1};
    if (dfit_trainer_create(m, g_train, &p, NULL, &t, &err) || dfit_trainer_run(t, NULL, &err))
        fail_msg("teacher: %s", err.msg);
    dfit_trainer_free(t);
    return m;
}

static int setup(void **state)
{
    (void)state;
    if (tmpdir_make("distill"))
        return -1;
    make_chain();
    g_train = chain_data(1, TRAIN_TOKENS);
    g_held = chain_data(2, HELD_TOKENS);
    g_teacher2 = train_teacher(2);
    g_teacher3 = train_teacher(3);
    struct dfit_err err = {0};
    if (dfit_train_model_export(g_teacher2, DFIT_TYPE_F32, NULL, tmp("teacher2.gguf"), &err) ||
        dfit_train_model_export(g_teacher3, DFIT_TYPE_F32, NULL, tmp("teacher3.gguf"), &err) ||
        dfit_train_data_write(tmp("train.tok"), g_train->tokens, NULL, g_train->n, &err) ||
        dfit_train_data_write(tmp("held.tok"), g_held->tokens, NULL, g_held->n, &err))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dfit_train_model_free(g_teacher2);
    dfit_train_model_free(g_teacher3);
    dfit_train_data_free(g_train);
    dfit_train_data_free(g_held);
    tmpdir_remove();
    return 0;
}

static const struct dfit_synth_shape student_shape = {32, 1, 64, 2, 1, 259, SEQ, false, 1e-5f, 10000.0f};

static struct dfit_distill *make_distill(const struct dfit_train_model *teacher, float temp, float alpha,
                                         uint32_t B)
{
    struct dfit_distill_params dp = {.temperature = temp, .alpha = alpha, .n_threads = 1};
    struct dfit_distill *d = NULL;
    struct dfit_err err = {0};
    if (dfit_distill_create(teacher, &dp, B, SEQ, &d, &err))
        fail_msg("distill: %s", err.msg);
    return d;
}

static void measure(struct dfit_distill *d, const struct dfit_train_model *s, struct dfit_distill_measure *m)
{
    struct dfit_err err = {0};
    if (dfit_distill_measure(d, s, g_held, SEQ, 0, false, m, &err))
        fail_msg("measure: %s", err.msg);
    assert_int_equal(m->n_tokens, (int64_t)((HELD_TOKENS - 1) / SEQ) * SEQ);
}

/* Distills student from d for steps; returns the trainer's recipe. */
static void distill(struct dfit_distill *d, struct dfit_train_model *student, uint64_t steps, float lr,
                    struct dfit_train_recipe *out)
{
    struct dfit_err err = {0};
    struct dfit_trainer *t = NULL;
    struct dfit_train_params p = {.recipe = recipe(steps, lr, 9), .n_threads = 1, .loss = dfit_distill_loss,
                                  .loss_user = d};
    if (dfit_distill_check_student(d, student, SEQ, &err) ||
        dfit_trainer_create(student, g_train, &p, NULL, &t, &err) || dfit_trainer_run(t, NULL, &err))
        fail_msg("distill run: %s", err.msg);
    dfit_trainer_recipe(t, out);
    dfit_trainer_free(t);
}

/* ---- (a) the hook's gradient ------------------------------------------------------ */

static void check_hook_gradient(float temp, float alpha)
{
    enum { B = 2, T = 8 };
    struct dfit_err err = {0};
    struct dfit_train_model *s = NULL;
    struct dfit_train_pass *pass = NULL;
    assert_int_equal(dfit_train_model_create(&student_shape, &s, &err), 0);
    dfit_train_model_init(s, 11);
    for (size_t i = 0; i < s->n_params; i++) /* larger weights: logits far from uniform */
        s->params[i] *= 20.0f;
    assert_int_equal(dfit_train_pass_create(s, B, T, NULL, &pass, &err), 0);
    struct dfit_distill *d = make_distill(g_teacher2, temp, alpha, B);
    int32_t in[B * T], tg[B * T];
    uint8_t mask[B * T];
    for (int i = 0; i < B * T; i++) {
        in[i] = g_held->tokens[i];
        tg[i] = g_held->tokens[i + 1];
        mask[i] = (uint8_t)(i % 3 != 0); /* some rows do not count */
    }
    dfit_train_pass_forward(pass, s, in, B, T);
    int64_t count = 0;
    const double loss = dfit_distill_loss(d, pass, in, tg, mask, B, T, &count);
    assert_int_equal(count, 10);
    double kl, ce;
    dfit_distill_last(d, &kl, &ce);
    assert_true(kl > 0.01 && ce > 0.01);
    assert_true(fabs(loss - (alpha * temp * temp * kl + (1.0 - alpha) * ce)) <= 1e-9 * fabs(loss));

    const int64_t V = 259, n = B * T * V;
    float *grad = malloc((size_t)n * sizeof *grad);
    assert_non_null(grad);
    memcpy(grad, pass->dlogits, (size_t)n * sizeof *grad);
    /* probe: the 6 largest |g| and 10 random entries */
    int64_t idx[16];
    for (int k = 0; k < 6; k++) {
        int64_t best = -1;
        for (int64_t i = 0; i < n; i++) {
            bool taken = false;
            for (int j = 0; j < k; j++)
                taken |= idx[j] == i;
            if (!taken && (best < 0 || fabsf(grad[i]) > fabsf(grad[best])))
                best = i;
        }
        idx[k] = best;
    }
    struct dfit_rng r;
    dfit_rng_seed(&r, 5);
    for (int k = 6; k < 16; k++)
        idx[k] = (int64_t)dfit_rng_below(&r, (uint64_t)n);
    const float h = 1e-2f;
    for (int k = 0; k < 16; k++) {
        const int64_t i = idx[k];
        const float x0 = pass->logits[i];
        pass->logits[i] = x0 + h;
        const double lp = dfit_distill_loss(d, pass, in, tg, mask, B, T, NULL);
        pass->logits[i] = x0 - h;
        const double lm = dfit_distill_loss(d, pass, in, tg, mask, B, T, NULL);
        pass->logits[i] = x0;
        const double fd = (lp - lm) / (2.0 * h);
        const double tol = 2e-4 + 2e-2 * fmax(fabs(fd), fabs(grad[i]));
        if (fabs(fd - grad[i]) > tol)
            fail_msg("T %g alpha %g: dlogits[%ld] = %.6g, finite difference %.6g (tolerance %.3g)", (double)temp,
                     (double)alpha, (long)i, (double)grad[i], fd, tol);
    }
    /* rows whose mask is 0 get no gradient */
    for (int64_t v = 0; v < V; v++)
        assert_true(grad[0 * V + v] == 0.0f && grad[3 * V + v] == 0.0f);
    free(grad);
    dfit_distill_free(d);
    dfit_train_pass_free(pass);
    dfit_train_model_free(s);
}

static void test_hook_gradient(void **state)
{
    (void)state;
    check_hook_gradient(2.0f, 0.3f);
    check_hook_gradient(2.0f, 1.0f);
    check_hook_gradient(2.0f, 0.0f);
    check_hook_gradient(1.0f, 0.7f);
}

static void test_bad_params(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_distill *d = (void *)1;
    struct dfit_distill_params dp = {.temperature = 0.0f, .alpha = 0.5f};
    assert_int_equal(dfit_distill_create(g_teacher2, &dp, 4, SEQ, &d, &err), DFIT_EINVAL);
    assert_null(d);
    assert_non_null(strstr(err.msg, "temperature"));
    dp = (struct dfit_distill_params){.temperature = 2.0f, .alpha = 1.5f};
    assert_int_equal(dfit_distill_create(g_teacher2, &dp, 4, SEQ, &d, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "alpha"));
    dp.alpha = 0.5f;
    assert_int_equal(dfit_distill_create(g_teacher2, &dp, 4, SEQ + 1, &d, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "context"));
    /* a student of another vocabulary */
    d = make_distill(g_teacher2, 2.0f, 0.5f, 4);
    struct dfit_synth_shape s = student_shape;
    s.n_vocab = 260;
    struct dfit_train_model *m = NULL;
    assert_int_equal(dfit_train_model_create(&s, &m, &err), 0);
    assert_int_equal(dfit_distill_check_student(d, m, SEQ, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "vocabulary"));
    dfit_train_model_free(m);
    dfit_distill_free(d);
    /* the shape spec */
    struct dfit_synth_shape out;
    assert_int_equal(dfit_distill_shape_parse("layers=1,dim=32,heads=2,ffn=64", &g_teacher2->shape, &out, &err), 0);
    assert_int_equal(out.n_layer, 1);
    assert_int_equal(out.n_embd, 32);
    assert_int_equal(out.n_head, 2);
    assert_int_equal(out.n_head_kv, 1); /* the teacher's 4/2 ratio kept */
    assert_int_equal(out.n_vocab, 259);
    assert_int_equal(dfit_distill_shape_parse("layers=x", &g_teacher2->shape, &out, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "layers=x"));
    assert_int_equal(dfit_distill_shape_parse("width=3", &g_teacher2->shape, &out, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "unknown key 'width'"));
    assert_int_equal(dfit_distill_shape_parse("dim=33", &g_teacher2->shape, &out, &err), DFIT_EINVAL);
}

/* ---- (b) + (c): a fresh student learns the teacher; its file -------------------------- */

static void test_fresh_student(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_train_model *s = NULL;
    assert_int_equal(dfit_train_model_create(&student_shape, &s, &err), 0);
    dfit_train_model_init(s, 9);
    struct dfit_distill *d = make_distill(g_teacher2, 2.0f, 1.0f, 8);
    struct dfit_distill_measure before, after, self;
    measure(d, s, &before);
    measure(d, g_teacher2, &self);
    assert_true(self.kl < 1e-6 && self.top1 == 1.0);
    struct dfit_train_recipe r;
    distill(d, s, 80, 1e-2f, &r);
    measure(d, s, &after);
    print_message("# fresh student: held-out KL %.4f -> %.4f, top-1 %.3f -> %.3f (teacher CE %.4f, student %.4f)\n",
                  before.kl, after.kl, before.top1, after.top1, after.ce_teacher, after.ce_student);
    assert_true(after.kl < 0.25 * before.kl);
    assert_true(after.kl < 0.25);
    assert_true(after.top1 > 0.8);

    /* (c) the file */
    char teacher[384];
    snprintf(teacher, sizeof teacher, "%s", tmp("teacher2.gguf"));
    struct dfit_distill_lineage lin = {.teacher_path = teacher, .params = {2.0f, 1.0f, 1},
                                       .have_heldout = true, .heldout_before = before, .heldout_after = after};
    assert_int_equal(dfit_sha256_file(lin.teacher_path, lin.teacher_sha256, &err), 0);
    dfit_distill_recent(d, &lin.final_kl, &lin.final_ce);
    memcpy(lin.heldout_sha256, g_held->sha256, sizeof lin.heldout_sha256);
    char path[384];
    snprintf(path, sizeof path, "%s", tmp("student.gguf"));
    if (dfit_distill_export(s, DFIT_TYPE_BF16, &r, &lin, path, &err))
        fail_msg("export: %s", err.msg);
    struct dfit_model *lm = NULL;
    if (dfit_model_open(path, &lm, &err))
        fail_msg("open: %s", err.msg);
    const struct dfit_gguf *g = lm->gguf;
    const struct dfit_gguf_str *str = NULL;
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.method", &str, &err), 0);
    assert_string_equal(str->data, "distill");
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.distill.teacher_sha256", &str, &err), 0);
    assert_string_equal(str->data, lin.teacher_sha256);
    assert_int_equal(dfit_gguf_get_str(g, "dfit.parent.sha256", &str, &err), 0);
    assert_string_equal(str->data, lin.teacher_sha256);
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.distill.student", &str, &err), 0);
    assert_string_equal(str->data, "fresh");
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.distill.student_shape", &str, &err), 0);
    assert_non_null(strstr(str->data, "dim=32 layers=1 heads=2 kv_heads=1 ffn=64 vocab=259"));
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.distill.data_sha256", &str, &err), 0);
    assert_string_equal(str->data, g_train->sha256);
    assert_null(dfit_gguf_find_kv(g, "dfit.recipe.distill.init_sha256"));
    uint64_t steps = 0;
    float t = 0, a = 0, klb = 0, kla = 0;
    assert_int_equal(dfit_gguf_get_u64(g, "dfit.recipe.distill.steps", &steps, &err), 0);
    assert_int_equal(steps, 80);
    assert_int_equal(dfit_gguf_get_f32(g, "dfit.recipe.distill.temperature", &t, &err), 0);
    assert_int_equal(dfit_gguf_get_f32(g, "dfit.recipe.distill.alpha", &a, &err), 0);
    assert_true(t == 2.0f && a == 1.0f);
    assert_int_equal(dfit_gguf_get_f32(g, "dfit.recipe.distill.heldout_kl_before", &klb, &err), 0);
    assert_int_equal(dfit_gguf_get_f32(g, "dfit.recipe.distill.heldout_kl_after", &kla, &err), 0);
    assert_true(kla < klb);
    /* the teacher had no recipe keys (exported without one), so no lineage entry */
    assert_null(dfit_gguf_find_kv(g, "dfit.lineage"));
    assert_int_equal(lm->hp.n_layer, 1);
    dfit_model_free(lm);
    dfit_distill_free(d);
    dfit_train_model_free(s);
}

/* ---- (d) healing a pruned teacher --------------------------------------------------- */

static void test_heal_pruned(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_compress_params cp = {.prune = {.pattern = DFIT_PRUNE_LAYERS, .amount = 1}, .n_threads = 1};
    char pruned[384];
    snprintf(pruned, sizeof pruned, "%s", tmp("pruned.gguf"));
    if (dfit_compress_file(tmp("teacher3.gguf"), pruned, &cp, NULL, &err))
        fail_msg("prune: %s", err.msg);
    struct dfit_train_model *s = NULL;
    if (dfit_train_model_import(pruned, &s, &err))
        fail_msg("import: %s", err.msg);
    assert_int_equal(s->shape.n_layer, 2);
    struct dfit_distill *d = make_distill(g_teacher3, 2.0f, 0.5f, 8);
    struct dfit_distill_measure before, after;
    measure(d, s, &before);
    struct dfit_train_recipe r;
    distill(d, s, 60, 3e-3f, &r);
    measure(d, s, &after);
    print_message("# healed layers:1 student: held-out KL %.4f -> %.4f, top-1 %.3f -> %.3f\n", before.kl, after.kl,
                  before.top1, after.top1);
    assert_true(before.kl > 0.02);
    assert_true(after.kl < 0.6 * before.kl);

    /* its file names the pruned init as parent, and keeps the prune recipe in lineage */
    char teacher[384];
    snprintf(teacher, sizeof teacher, "%s", tmp("teacher3.gguf"));
    struct dfit_distill_lineage lin = {.teacher_path = teacher, .init_path = pruned, .params = {2.0f, 0.5f, 1}};
    assert_int_equal(dfit_sha256_file(lin.teacher_path, lin.teacher_sha256, &err), 0);
    assert_int_equal(dfit_sha256_file(pruned, lin.init_sha256, &err), 0);
    char out[384];
    snprintf(out, sizeof out, "%s", tmp("healed.gguf"));
    if (dfit_distill_export(s, DFIT_TYPE_F32, &r, &lin, out, &err))
        fail_msg("export: %s", err.msg);
    struct dfit_gguf *g = NULL;
    assert_int_equal(dfit_gguf_open(out, &g, &err), 0);
    const struct dfit_gguf_str *str = NULL;
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.distill.init_sha256", &str, &err), 0);
    assert_string_equal(str->data, lin.init_sha256);
    assert_int_equal(dfit_gguf_get_str(g, "dfit.parent.sha256", &str, &err), 0);
    assert_string_equal(str->data, lin.init_sha256);
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.distill.student", &str, &err), 0);
    assert_string_equal(str->data, "init");
    const struct dfit_gguf_kv *kv = dfit_gguf_find_kv(g, "dfit.lineage");
    assert_non_null(kv);
    assert_int_equal(kv->value.type, DFIT_GGUF_ARRAY);
    const struct dfit_gguf_str *hist = kv->value.arr;
    assert_non_null(strstr(hist[kv->value.n - 1].data, "layers"));
    dfit_gguf_close(g);
    dfit_distill_free(d);
    dfit_train_model_free(s);
}

/* ---- (e) the command ------------------------------------------------------------------ */

static int run_cli(const char *args, char *buf, size_t cap)
{
    const char *bin = getenv("DFIT_BIN");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' distill %s >'%s' 2>&1", bin, args, tmp("out.txt"));
    int st = system(cmd);
    FILE *f = fopen(tmp("out.txt"), "r");
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
    char t[384], data[384], held[384], out[384], args[2048], buf[8192];
    snprintf(t, sizeof t, "%s", tmp("teacher2.gguf"));
    snprintf(data, sizeof data, "%s", tmp("train.tok"));
    snprintf(held, sizeof held, "%s", tmp("held.tok"));
    snprintf(out, sizeof out, "%s", tmp("cli.gguf"));
    static const struct {
        const char *args;
        const char *needle;
    } bad[] = {
        {"--student layers=1 -o x.gguf --data d", "missing --teacher"},
        {"--teacher t.gguf -o x.gguf --data d", "missing --student"},
        {"--teacher t.gguf --student layers=1 --data d --temperature 0", "--temperature"},
        {"--teacher t.gguf --student layers=1 --data d --alpha 2", "--alpha"},
        {"--teacher t.gguf --student layers=1 --steps 0", "--heldout"},
        {"--teacher t.gguf --student layers=1 --data d", "missing -o"},
        {"--teacher t.gguf --student layers=1 --data d -o x.gguf --bogus", "unknown option '--bogus'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(run_cli(bad[i].args, buf, sizeof buf), 2);
        if (!strstr(buf, bad[i].needle))
            fail_msg("'%s': expected '%s' in:\n%s", bad[i].args, bad[i].needle, buf);
    }
    snprintf(args, sizeof args, "--teacher '%s' --student dim=16,layers=9 -o '%s' --data '%s'", t, out, data);
    assert_int_equal(run_cli(args, buf, sizeof buf), 2);
    assert_non_null(strstr(buf, "--student"));

    snprintf(args, sizeof args,
             "--teacher '%s' --student dim=32,layers=1,heads=2,ffn=64 -o '%s' --data '%s' --heldout '%s' "
             "--steps 5 --seq %d -t 1 -q --type bf16",
             t, out, data, held, SEQ);
    if (run_cli(args, buf, sizeof buf) != 0)
        fail_msg("distill run failed:\n%s", buf);
    assert_non_null(strstr(buf, "before"));
    assert_non_null(strstr(buf, "after"));
    struct dfit_err err = {0};
    struct dfit_gguf *g = NULL;
    assert_int_equal(dfit_gguf_open(out, &g, &err), 0);
    const struct dfit_gguf_str *str = NULL;
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.method", &str, &err), 0);
    assert_string_equal(str->data, "distill");
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.type", &str, &err), 0);
    assert_string_equal(str->data, "bf16");
    dfit_gguf_close(g);

    /* measure only: the teacher against itself */
    snprintf(args, sizeof args, "--teacher '%s' --student '%s' --steps 0 --heldout '%s' --seq %d", t, t, held, SEQ);
    if (run_cli(args, buf, sizeof buf) != 0)
        fail_msg("measure failed:\n%s", buf);
    assert_non_null(strstr(buf, "KL(teacher||student) 0.0000"));
    assert_non_null(strstr(buf, "top-1 agreement 100.00 %"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_gradient),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_fresh_student),
        cmocka_unit_test(test_heal_pruned),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
