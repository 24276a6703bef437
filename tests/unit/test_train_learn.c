/* test_train_learn — the trainer learns, exports, and resumes exactly.
 *
 * (a) A tiny model (dim 64, 2 layers, 4 query heads over 2 KV heads,
 *     ffn 128, vocabulary 260, tied output) learns a fixed 45-character
 *     sentence repeated in a text file, read through the text loader: the
 *     mean loss of the last steps must fall below LEARN_LOSS (0.05 nats per
 *     token; the untrained model starts near ln 260 = 5.6).
 * (b) The exported F32 GGUF loads with dfit_model_open; the CPU reference
 *     backend (kernels "ref") and the trainer's own forward pass give the
 *     same argmax at every position of held-out prompts (substrings that
 *     start mid-sentence, and one with an unseen character), and logits
 *     within LOGIT_ATOL + LOGIT_RTOL * |logit| (3e-5 + 3e-5 relative: the
 *     two differ only in summation order — the backend accumulates dot
 *     products in double); greedy continuations of prompts are the
 *     sentence's. The file carries the llama keys, the byte vocabulary and
 *     the dfit.train.* recipe; import returns the same F32 parameters, and
 *     a BF16 export imports as the BF16-rounded parameters.
 * (c) Checkpoint/resume: a run stopped after 7 of 12 steps (its last
 *     checkpoint at step 5; steps 6-7 are lost as in a kill) and resumed
 *     from that checkpoint ends with the same parameters and moments, bit
 *     for bit, as an uninterrupted run (single-threaded); an uninterrupted
 *     2-thread run matches too. Also dfit_trainer_run's stop_after and the
 *     checkpoint loader's rejection of a corrupted file; a diverging run
 *     (learning rate 1e30) stops with an error and no checkpoint.
 * (d) The schedule (warm-up, cosine, floor) and data file round trip with
 *     a mask, and the batcher's rejection of too-short data.
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
#include <unistd.h>

#include "backend.h"
#include "compress/checkpoint.h"
#include "compress/train.h"
#include "compress/train_data.h"
#include "compress/train_model.h"
#include "compress/train_pass.h"
#include "model/gguf.h"
#include "model/llama.h"
#include "model/tokenizer.h"
#include "tmpdir_fixture.h"

#define LEARN_LOSS 0.05
#define LOGIT_ATOL 3e-5
#define LOGIT_RTOL 3e-5
#define SENTENCE "the quick brown fox jumps over the lazy dog. "


static int setup(void **state)
{
    (void)state;
    return tmpdir_make("train");
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove();
    return 0;
}

static const struct dfit_synth_shape tiny = {64, 2, 128, 4, 2, 260, 64, true, 1e-5f, 10000.0f};

static struct dfit_train_recipe recipe(uint64_t steps, uint32_t batch, uint32_t seq, float lr)
{
    return (struct dfit_train_recipe){.steps = steps, .batch = batch, .seq = seq, .lr = lr,
                                      .lr_min = lr / 10.0f, .warmup = steps / 10, .weight_decay = 0.01f,
                                      .clip = 1.0f, .seed = 5};
}

/* ---- (a) + (b): learn, export, compare with the CPU backend ----------------- */

static struct dfit_train_model *g_trained; /* from test_learns, used by the export tests */

static void test_learns_sentence(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    FILE *f = fopen(tmp("sentence.txt"), "w");
    assert_non_null(f);
    for (int i = 0; i < 120; i++)
        fputs(SENTENCE, f);
    fclose(f);
    struct dfit_train_data *d = NULL;
    struct dfit_train_model *m = NULL;
    struct dfit_trainer *t = NULL;
    if (dfit_train_data_load(tmp("sentence.txt"), tiny.n_vocab, &d, &err))
        fail_msg("load: %s", err.msg);
    assert_int_equal(d->tokens[0], 1); /* BOS first */
    assert_null(d->mask);
    assert_int_equal(dfit_train_model_create(&tiny, &m, &err), 0);
    dfit_train_model_init(m, 5);
    struct dfit_train_params p = {.recipe = recipe(160, 8, 32, 1e-2f), .n_threads = 2};
    if (dfit_trainer_create(m, d, &p, NULL, &t, &err))
        fail_msg("trainer: %s", err.msg);
    struct dfit_train_step_info info;
    dfit_trainer_step(t, &info);
    const double first = info.loss;
    assert_true(first > 4.5 && first < 6.5);
    assert_int_equal(info.n_targets, 8 * 32);
    int early = 1;
    assert_int_equal(dfit_trainer_run(t, &early, &err), 0);
    assert_int_equal(early, 0);
    struct dfit_train_recipe r;
    dfit_trainer_recipe(t, &r);
    print_message("# loss %.4f -> %.4f (mean of the last 16 steps) in 160 steps, %.0f tokens/s\n", first,
                  (double)r.final_loss, dfit_trainer_tokens_per_s(t));
    assert_true(r.final_loss < LEARN_LOSS);
    assert_string_equal(r.data_sha256, d->sha256);
    assert_int_equal(r.data_tokens, d->n);
    if (dfit_train_model_export(m, DFIT_TYPE_F32, &r, tmp("sentence.gguf"), &err))
        fail_msg("export: %s", err.msg);
    dfit_trainer_free(t);
    dfit_train_data_free(d);
    g_trained = m;
}

static int argmax(const float *x, int64_t n, float *margin)
{
    int best = 0, second = -1;
    for (int64_t i = 1; i < n; i++) {
        if (x[i] > x[best]) {
            second = best;
            best = (int)i;
        } else if (second < 0 || x[i] > x[second]) {
            second = (int)i;
        }
    }
    *margin = x[best] - x[second];
    return best;
}

static void encode(const char *text, int add_bos, int32_t *ids, size_t cap, size_t *n)
{
    struct dfit_tokenizer *tok = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_tokenizer_create_byte_vocab(tiny.n_vocab, &tok, &err), 0);
    assert_int_equal(dfit_tokenizer_encode(tok, text, strlen(text), add_bos, ids, cap, n, &err), 0);
    dfit_tokenizer_free(tok);
}

static void test_export_matches_cpu_backend(void **state)
{
    (void)state;
    assert_non_null(g_trained);
    struct dfit_err err = {0};
    struct dfit_model *lm = NULL;
    if (dfit_model_open(tmp("sentence.gguf"), &lm, &err))
        fail_msg("open: %s", err.msg);
    const struct dfit_backend_ops *cpu = dfit_backend_find("cpu");
    assert_non_null(cpu);
    struct dfit_backend_params bp = {.n_threads = 1, .n_ctx = 64, .n_seq = 1, .n_batch_max = 64,
                                     .kernels = "ref"};
    void *ctx = NULL;
    if (cpu->load(lm, &bp, &ctx, NULL, &err))
        fail_msg("cpu load: %s", err.msg);
    struct dfit_train_pass *pass = NULL;
    assert_int_equal(dfit_train_pass_create(g_trained, 1, 64, NULL, &pass, &err), 0);

    const char *prompts[] = {"quick brown fox j", "lazy dog. the qu", "over the l", "x marks the spot"};
    const int64_t V = tiny.n_vocab;
    float *logits = malloc(64 * (size_t)V * sizeof(float));
    assert_non_null(logits);
    int n_compared = 0, n_ties = 0;
    double worst = 0.0;
    for (size_t pi = 0; pi < sizeof prompts / sizeof prompts[0]; pi++) {
        int32_t ids[64], pos[64], seq[64];
        size_t n = 0;
        encode(prompts[pi], 1, ids, 64, &n);
        for (size_t i = 0; i < n; i++) {
            pos[i] = (int32_t)i;
            seq[i] = 0;
        }
        cpu->seq_reset(ctx, -1);
        struct dfit_batch b = {(uint32_t)n, ids, pos, seq, NULL};
        if (cpu->forward(ctx, &b, logits, &err))
            fail_msg("forward: %s", err.msg);
        dfit_train_pass_forward(pass, g_trained, ids, 1, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
            const float *a = logits + i * V, *t = pass->logits + i * V;
            for (int64_t j = 0; j < V; j++) {
                const double diff = fabs((double)a[j] - t[j]), tol = LOGIT_ATOL + LOGIT_RTOL * fabs(a[j]);
                worst = fmax(worst, diff / tol);
                if (diff > tol)
                    fail_msg("prompt %zu position %zu logit %lld: backend %.7g, trainer %.7g", pi, i,
                             (long long)j, a[j], t[j]);
            }
            float ma, mt;
            const int pa = argmax(a, V, &ma), pt = argmax(t, V, &mt);
            if (ma < 2e-3f) { /* a near tie: either pick is the same prediction */
                n_ties++;
                continue;
            }
            assert_int_equal(pa, pt);
            n_compared++;
        }
    }
    print_message("# %d positions agree on argmax (%d near ties), worst logit gap %.2f of tolerance\n",
                  n_compared, n_ties, worst);
    assert_true(n_compared >= 40);

    /* greedy continuation through the backend: the model knows the sentence
     * (training windows start anywhere in the text, without BOS) */
    int32_t ids[64], pos[64], seq[64];
    size_t n = 0;
    encode("fox jumps over", 0, ids, 64, &n);
    const char *want = " the lazy dog. the quick";
    cpu->seq_reset(ctx, -1);
    for (size_t i = 0; i < n; i++) {
        pos[i] = (int32_t)i;
        seq[i] = 0;
    }
    int8_t wants[64] = {0};
    wants[n - 1] = 1;
    struct dfit_batch b = {(uint32_t)n, ids, pos, seq, wants};
    assert_int_equal(cpu->forward(ctx, &b, logits, &err), 0);
    struct dfit_tokenizer *tok = NULL;
    assert_int_equal(dfit_tokenizer_create_byte_vocab(tiny.n_vocab, &tok, &err), 0);
    char got[64] = "";
    size_t got_n = 0;
    for (int step = 0; step < (int)strlen(want); step++) {
        float margin;
        int32_t next = argmax(logits, V, &margin);
        char piece[16];
        int k = dfit_tokenizer_decode_piece(tok, next, piece, sizeof piece);
        assert_true(k >= 0 && got_n + (size_t)k < sizeof got);
        memcpy(got + got_n, piece, (size_t)k);
        got_n += (size_t)k;
        got[got_n] = '\0';
        int32_t p1 = (int32_t)(n + (size_t)step), s0 = 0;
        struct dfit_batch one = {1, &next, &p1, &s0, NULL};
        assert_int_equal(cpu->forward(ctx, &one, logits, &err), 0);
    }
    if (strncmp(got, want, strlen(want)) != 0)
        fail_msg("greedy continuation of \"fox jumps over\": \"%s\", expected \"%s\"", got, want);
    dfit_tokenizer_free(tok);
    free(logits);
    dfit_train_pass_free(pass);
    cpu->unload(ctx);
    dfit_model_free(lm);
}

static void test_export_metadata_and_import(void **state)
{
    (void)state;
    assert_non_null(g_trained);
    struct dfit_err err = {0};
    struct dfit_model *lm = NULL;
    assert_int_equal(dfit_model_open(tmp("sentence.gguf"), &lm, &err), 0);
    const struct dfit_gguf *g = lm->gguf;
    const struct dfit_gguf_str *s = NULL;
    uint64_t u = 0;
    uint32_t u32 = 0;
    float f = 0;
    assert_int_equal(dfit_gguf_get_str(g, "general.architecture", &s, &err), 0);
    assert_string_equal(s->data, "llama");
    assert_int_equal(dfit_gguf_get_str(g, "dfit.recipe.method", &s, &err), 0);
    assert_string_equal(s->data, "train");
    assert_int_equal(dfit_gguf_get_u64(g, "dfit.train.steps", &u, &err), 0);
    assert_int_equal(u, 160);
    assert_int_equal(dfit_gguf_get_u32(g, "dfit.train.batch", &u32, &err), 0);
    assert_int_equal(u32, 8);
    assert_int_equal(dfit_gguf_get_u64(g, "dfit.train.seed", &u, &err), 0);
    assert_int_equal(u, 5);
    assert_int_equal(dfit_gguf_get_f32(g, "dfit.train.final_loss", &f, &err), 0);
    assert_true(f > 0.0f && f < LEARN_LOSS);
    assert_int_equal(dfit_gguf_get_str(g, "dfit.train.data_sha256", &s, &err), 0);
    assert_int_equal(s->len, 64);
    assert_true(lm->output_tied);
    assert_int_equal(lm->hp.n_head_kv, 2);
    struct dfit_tokenizer *tok = NULL;
    assert_int_equal(dfit_tokenizer_from_gguf(g, &tok, &err), 0);
    assert_int_equal(dfit_tokenizer_n_vocab(tok), 260);
    dfit_tokenizer_free(tok);
    dfit_model_free(lm);

    struct dfit_train_model *im = NULL;
    if (dfit_train_model_import(tmp("sentence.gguf"), &im, &err))
        fail_msg("import: %s", err.msg);
    assert_int_equal(im->n_params, g_trained->n_params);
    assert_memory_equal(im->params, g_trained->params, im->n_params * sizeof(float));
    dfit_train_model_free(im);

    /* BF16: matrices come back rounded to BF16, norms exact; a recipe with
     * a parent records it */
    struct dfit_train_recipe pr = recipe(1, 1, 1, 1e-3f);
    memset(pr.parent_sha256, 'a', 64);
    snprintf(pr.parent_name, sizeof pr.parent_name, "pruned.gguf");
    assert_int_equal(dfit_train_model_export(g_trained, DFIT_TYPE_BF16, &pr, tmp("bf16.gguf"), &err), 0);
    assert_int_equal(dfit_model_open(tmp("bf16.gguf"), &lm, &err), 0);
    assert_int_equal(dfit_gguf_get_str(lm->gguf, "dfit.parent.name", &s, &err), 0);
    assert_string_equal(s->data, "pruned.gguf");
    assert_int_equal(dfit_gguf_get_str(lm->gguf, "dfit.parent.sha256", &s, &err), 0);
    assert_int_equal(s->len, 64);
    assert_int_equal(dfit_gguf_get_str(lm->gguf, "dfit.recipe.type", &s, &err), 0);
    assert_string_equal(s->data, "bf16");
    dfit_model_free(lm);
    assert_int_equal(dfit_train_model_import(tmp("bf16.gguf"), &im, &err), 0);
    for (size_t ti = 0; ti < im->n_tensors; ti++) {
        const struct dfit_train_tensor *t = &im->tensors[ti];
        for (int64_t i = 0; i < t->n_in * t->n_out; i++) {
            const float want = t->matrix ? dfit_bf16_to_f32(dfit_f32_to_bf16(g_trained->params[t->offset + i]))
                                         : g_trained->params[t->offset + i];
            if (im->params[t->offset + i] != want)
                fail_msg("bf16 import: %s[%lld]", t->name, (long long)i);
        }
    }
    dfit_train_model_free(im);
    /* quantized export is refused with a pointer to dfit compress */
    assert_int_equal(dfit_train_model_export(g_trained, DFIT_TYPE_Q8_0, NULL, tmp("q8.gguf"), &err),
                     DFIT_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "dfit compress"));
    assert_int_equal(access(tmp("q8.gguf"), F_OK), -1);
    dfit_train_model_free(g_trained);
    g_trained = NULL;
}

/* ---- (c) checkpoint / resume --------------------------------------------------- */

static struct dfit_train_data *pattern_data(void)
{
    /* tokens with an answer mask: every third token counts */
    int32_t tok[600];
    uint8_t mask[600];
    for (int i = 0; i < 600; i++) {
        tok[i] = 3 + (i * 7 + i / 13) % 40;
        mask[i] = i % 3 == 2;
    }
    struct dfit_train_data *d = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_train_data_from_arrays(tok, mask, 600, tiny.n_vocab, &d, &err), 0);
    return d;
}

/* Runs `steps` steps from scratch (threads) and returns the model. */
static struct dfit_train_model *run_fresh(const struct dfit_train_data *d, uint64_t steps, int threads)
{
    struct dfit_err err = {0};
    struct dfit_train_model *m = NULL;
    struct dfit_trainer *t = NULL;
    assert_int_equal(dfit_train_model_create(&tiny, &m, &err), 0);
    dfit_train_model_init(m, 5);
    struct dfit_train_params p = {.recipe = recipe(12, 4, 16, 3e-3f), .n_threads = threads};
    assert_int_equal(dfit_trainer_create(m, d, &p, NULL, &t, &err), 0);
    for (uint64_t s = 0; s < steps; s++)
        dfit_trainer_step(t, NULL);
    dfit_trainer_free(t);
    return m;
}

static void test_resume_bitwise(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_train_data *d = pattern_data();
    struct dfit_train_model *ref = run_fresh(d, 12, 1);

    /* the "killed" run: checkpoint at step 5, two more steps lost */
    struct dfit_train_model *m = NULL;
    struct dfit_trainer *t = NULL;
    assert_int_equal(dfit_train_model_create(&tiny, &m, &err), 0);
    dfit_train_model_init(m, 5);
    struct dfit_train_params p = {.recipe = recipe(12, 4, 16, 3e-3f), .n_threads = 1,
                                  .ckpt_path = tmp("run.ckpt"), .ckpt_every = 5, .stop_after = 7};
    assert_int_equal(dfit_trainer_create(m, d, &p, NULL, &t, &err), 0);
    for (int s = 0; s < 5; s++)
        dfit_trainer_step(t, NULL);
    assert_int_equal(dfit_trainer_checkpoint(t, tmp("run.ckpt"), &err), 0);
    dfit_trainer_step(t, NULL);
    dfit_trainer_step(t, NULL);
    dfit_trainer_free(t);
    dfit_train_model_free(m);

    /* resume from the checkpoint and finish */
    struct dfit_train_recipe r;
    struct dfit_train_state st;
    if (dfit_ckpt_load(tmp("run.ckpt"), &m, &r, &st, &err))
        fail_msg("load: %s", err.msg);
    assert_int_equal(st.step, 5);
    assert_int_equal(r.steps, 12);
    assert_string_equal(r.data_sha256, d->sha256);
    p = (struct dfit_train_params){.recipe = r, .n_threads = 1};
    assert_int_equal(dfit_trainer_create(m, d, &p, &st, &t, &err), 0);
    int early = 1;
    assert_int_equal(dfit_trainer_run(t, &early, &err), 0);
    assert_int_equal(early, 0);
    dfit_trainer_state(t, &st);
    assert_int_equal(st.step, 12);
    assert_memory_equal(m->params, ref->params, m->n_params * sizeof(float));
    assert_memory_equal(m->adam_m, ref->adam_m, m->n_params * sizeof(float));
    assert_memory_equal(m->adam_v, ref->adam_v, m->n_params * sizeof(float));
    dfit_trainer_free(t);
    dfit_train_model_free(m);

    /* the thread count does not change a bit */
    struct dfit_train_model *m2 = run_fresh(d, 12, 2);
    assert_memory_equal(m2->params, ref->params, ref->n_params * sizeof(float));
    dfit_train_model_free(m2);
    dfit_train_model_free(ref);
    dfit_train_data_free(d);
}

static void test_run_stop_after_and_corrupt_checkpoint(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_train_data *d = pattern_data();
    struct dfit_train_model *m = NULL;
    struct dfit_trainer *t = NULL;
    assert_int_equal(dfit_train_model_create(&tiny, &m, &err), 0);
    dfit_train_model_init(m, 5);
    struct dfit_train_params p = {.recipe = recipe(12, 4, 16, 3e-3f), .n_threads = 1,
                                  .ckpt_path = tmp("stop.ckpt"), .ckpt_every = 4, .stop_after = 6};
    assert_int_equal(dfit_trainer_create(m, d, &p, NULL, &t, &err), 0);
    int early = 0;
    assert_int_equal(dfit_trainer_run(t, &early, &err), 0);
    assert_int_equal(early, 1);
    dfit_trainer_free(t);
    struct dfit_train_model *cm = NULL;
    struct dfit_train_recipe r;
    struct dfit_train_state st;
    assert_int_equal(dfit_ckpt_load(tmp("stop.ckpt"), &cm, &r, &st, &err), 0);
    assert_int_equal(st.step, 6); /* the stop writes a checkpoint */
    assert_int_equal(st.n_losses, 6);
    assert_memory_equal(cm->params, m->params, m->n_params * sizeof(float));
    assert_int_equal(access(tmp("stop.ckpt.tmp"), F_OK), -1);
    dfit_train_model_free(cm);

    /* flip one byte of the parameters: the hash catches it */
    FILE *f = fopen(tmp("stop.ckpt"), "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 1000, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, 1000, SEEK_SET), 0);
    fputc(c ^ 0x40, f);
    fclose(f);
    assert_int_equal(dfit_ckpt_load(tmp("stop.ckpt"), &cm, &r, &st, &err), DFIT_EINVAL);
    assert_null(cm);
    assert_non_null(strstr(err.msg, "corrupt"));
    /* a truncated one is refused too */
    assert_int_equal(truncate(tmp("stop.ckpt"), 300), 0);
    assert_int_equal(dfit_ckpt_load(tmp("stop.ckpt"), &cm, &r, &st, &err), DFIT_EINVAL);
    assert_null(cm);
    dfit_train_model_free(m);
    dfit_train_data_free(d);
}

/* The answer mask decides which targets count; all_tokens overrides it. */
static void test_mask_counts(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_train_data *d = pattern_data();
    struct dfit_train_model *m = NULL;
    struct dfit_trainer *t = NULL;
    assert_int_equal(dfit_train_model_create(&tiny, &m, &err), 0);
    dfit_train_model_init(m, 5);
    for (int all = 0; all < 2; all++) {
        struct dfit_train_params p = {.recipe = recipe(4, 4, 15, 1e-3f), .n_threads = 1};
        p.recipe.all_tokens = (uint32_t)all;
        assert_int_equal(dfit_trainer_create(m, d, &p, NULL, &t, &err), 0);
        struct dfit_train_step_info info;
        dfit_trainer_step(t, &info);
        /* windows of 15 targets start at multiples of 15, so exactly every
         * third target is an answer token */
        assert_int_equal(info.n_targets, all ? 60 : 20);
        assert_true(info.loss > 0.0 && isfinite(info.loss));
        dfit_trainer_free(t);
    }
    dfit_train_model_free(m);
    dfit_train_data_free(d);
}

static void test_divergence_is_an_error(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    struct dfit_train_data *d = pattern_data();
    struct dfit_train_model *m = NULL;
    struct dfit_trainer *t = NULL;
    assert_int_equal(dfit_train_model_create(&tiny, &m, &err), 0);
    dfit_train_model_init(m, 5);
    struct dfit_train_recipe r = recipe(6, 2, 16, 1e30f);
    r.lr_min = 1e30f;
    r.clip = 0.0f;
    struct dfit_train_params p = {.recipe = r, .n_threads = 1, .ckpt_path = tmp("nan.ckpt")};
    assert_int_equal(dfit_trainer_create(m, d, &p, NULL, &t, &err), 0);
    assert_int_equal(dfit_trainer_run(t, NULL, &err), DFIT_ERANGE);
    assert_non_null(strstr(err.msg, "diverged"));
    assert_int_equal(access(tmp("nan.ckpt"), F_OK), -1); /* no checkpoint of a NaN state */
    dfit_trainer_free(t);
    dfit_train_model_free(m);
    dfit_train_data_free(d);
}

/* ---- (d) schedule, data files ---------------------------------------------------- */

static void test_schedule(void **state)
{
    (void)state;
    struct dfit_train_recipe r = {.steps = 110, .warmup = 10, .lr = 1e-3f, .lr_min = 1e-4f};
    assert_true(fabsf(dfit_train_lr(&r, 0) - 1e-4f) < 1e-9f);   /* (0+1)/10 of the peak */
    assert_true(fabsf(dfit_train_lr(&r, 9) - 1e-3f) < 1e-9f);   /* end of warm-up */
    assert_true(fabsf(dfit_train_lr(&r, 10) - 1e-3f) < 1e-9f);  /* cosine starts at the peak */
    assert_true(fabsf(dfit_train_lr(&r, 60) - 5.5e-4f) < 1e-8f); /* halfway: the mean */
    assert_true(fabsf(dfit_train_lr(&r, 110) - 1e-4f) < 1e-9f); /* the floor */
    assert_true(fabsf(dfit_train_lr(&r, 500) - 1e-4f) < 1e-9f);
    for (uint64_t s = 10; s < 110; s++)
        assert_true(dfit_train_lr(&r, s + 1) <= dfit_train_lr(&r, s));
}

static void test_token_file_round_trip(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    int32_t tok[50];
    uint8_t mask[50];
    for (int i = 0; i < 50; i++) {
        tok[i] = i * 5;
        mask[i] = (uint8_t)(i & 1);
    }
    assert_int_equal(dfit_train_data_write(tmp("t.tok"), tok, mask, 50, &err), 0);
    struct dfit_train_data *d = NULL;
    assert_int_equal(dfit_train_data_load(tmp("t.tok"), 260, &d, &err), 0);
    assert_int_equal(d->n, 50);
    assert_memory_equal(d->tokens, tok, sizeof tok);
    assert_non_null(d->mask);
    assert_memory_equal(d->mask, mask, sizeof mask);
    assert_int_equal(strlen(d->sha256), 64);

    /* batches: inputs are a window, targets the same shifted by one with the
     * targets' mask; all 4 windows of 12 are visited once per epoch */
    struct dfit_train_batcher *b = NULL;
    assert_int_equal(dfit_train_batcher_create(d, 12, 3, &b, &err), 0);
    assert_int_equal(dfit_train_batcher_windows(b), 4);
    int32_t in[4 * 12], tg[4 * 12];
    uint8_t mk[4 * 12];
    dfit_train_batcher_next(b, 4, in, tg, mk);
    int seen = 0;
    for (int r = 0; r < 4; r++) {
        const int w = in[r * 12] / 5 / 12;
        assert_int_equal(in[r * 12], w * 12 * 5);
        seen |= 1 << w;
        for (int t = 0; t < 12; t++) {
            assert_int_equal(tg[r * 12 + t], in[r * 12 + t] + 5);
            assert_int_equal(mk[r * 12 + t], (w * 12 + t + 1) & 1);
        }
    }
    assert_int_equal(seen, 15);
    dfit_train_batcher_free(b);

    /* ids beyond the model's vocabulary are refused, naming the index */
    struct dfit_train_data *d2 = NULL;
    assert_int_equal(dfit_train_data_load(tmp("t.tok"), 200, &d2, &err), DFIT_EINVAL);
    assert_null(d2);
    assert_non_null(strstr(err.msg, "token 40"));
    /* too little data for one window */
    assert_int_equal(dfit_train_batcher_create(d, 60, 3, &b, &err), DFIT_EINVAL);
    assert_null(b);
    dfit_train_data_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_sentence),
        cmocka_unit_test(test_export_matches_cpu_backend),
        cmocka_unit_test(test_export_metadata_and_import),
        cmocka_unit_test(test_resume_bitwise),
        cmocka_unit_test(test_run_stop_after_and_corrupt_checkpoint),
        cmocka_unit_test(test_mask_counts),
        cmocka_unit_test(test_divergence_is_an_error),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_token_file_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
