/* cmd_train.c — `dfit train`: trains a llama model of a preset or custom
 * shape (or continues one: --init FILE.gguf, --resume CKPT) on a token or
 * text file, with checkpoints, and exports it as a GGUF file
 * (compress/train.h). Exit status: 0 done, 1 failure or interrupted, 2
 * usage error.
 * Non-goals: distillation (a later command), evaluation.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/train_common.h"
#include "cli/cli.h"
#include "compress/checkpoint.h"
#include "compress/synth.h"
#include "compress/train.h"
#include "compress/train_data.h"
#include "compress/train_model.h"
#include "util/fmt.h"
#include "util/sha256.h"

#define CMD "train"

/* The shape of dfit's default teacher: byte vocabulary, a few million
 * parameters (besides synth's presets). */
static const struct dfit_synth_shape teacher_shape = {256, 4, 768, 8, 4, 320, 256, true, 1e-5f, 10000.0f};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit train --shape PRESET --data FILE -o OUT.gguf [options]\n"
            "       dfit train --dim D --layers L --heads H [--kv-heads K] --ffn F --vocab V\n"
            "                  [--ctx C] --data FILE -o OUT.gguf [options]\n"
            "       dfit train --init MODEL.gguf --data FILE -o OUT.gguf [options]\n"
            "       dfit train --resume CKPT --data FILE -o OUT.gguf [--steps N] [-t N]\n"
            "\n"
            "Trains a llama model (F32, AdamW) on next-token prediction and writes it as\n"
            "GGUF. FILE is a token file (dfit_train_data_write: ids and an answer mask) or\n"
            "text, encoded with the byte-level vocabulary (BOS first, every token counts).\n"
            "Presets: teacher (dim 256, 4 layers, 8/4 heads, ffn 768, vocab 320, ctx 256,\n"
            "tied), and synth's tiny, 15m, 110m, 1b; shape flags override preset fields.\n"
            "\n"
            "  -o, --output PATH  the trained model (required; written atomically)\n"
            "  --data FILE        training data (required)\n"
            "  --steps N          optimizer steps (default 1000)\n"
            "  --batch B          sequences per step (default 8)\n"
            "  --seq T            tokens per sequence (default min(128, ctx))\n"
            "  --lr X             peak learning rate (default 1e-3)\n"
            "  --lr-min X         floor of the cosine decay (default lr/10)\n"
            "  --warmup N         linear warm-up steps (default min(100, steps/10))\n"
            "  --wd X             AdamW weight decay on matrices (default 0.1)\n"
            "  --clip X           global gradient-norm clip, 0 off (default 1.0)\n"
            "  --seed S           init and data-order seed (default 1)\n"
            "  --all-tokens       every token counts in the loss, not only the answer tokens\n"
            "                     of a token file's mask\n"
            "  -t, --threads N    worker threads (default: all CPUs; results do not depend on it)\n"
            "  --ckpt PATH        checkpoint file (default OUT.gguf.ckpt)\n"
            "  --ckpt-every N     steps between checkpoints (default 500; 0: only at the end)\n"
            "  --no-ckpt          write no checkpoints\n"
            "  --resume CKPT      continue a checkpointed run (its shape and recipe; --steps\n"
            "                     may change the total)\n"
            "  --init MODEL.gguf  start from a model's weights (e.g. to heal a pruned one)\n"
            "  --type T           matrix type of the output: f32, f16, bf16 (default f32)\n"
            "  --log-every N      steps between progress lines when not on a terminal (10)\n"
            "  -q, --quiet        no progress output\n"
            "  --dim D, --layers L, --heads H, --kv-heads K, --ffn F, --vocab V, --ctx C,\n"
            "  --tied, --untied   the shape (see dfit synth --help)\n"
            "  -h, --help         this text\n");
}

#define usage_error(...) dfit_args_usage_error(CMD, usage, __VA_ARGS__)

struct opts {
    const char *out, *data, *shape, *ckpt, *resume, *init;
    bool no_ckpt;
    uint64_t ckpt_every;
    struct dfit_run_flags run;
    bool given[DFIT_RF_N];
    struct dfit_train_recipe r;
    /* shape flags */
    uint32_t shape_val[7];
    bool shape_given[7];
    int tied; /* -1 unset */
};

static const char *const shape_flags[7] = {"--dim", "--layers", "--heads", "--kv-heads", "--ffn", "--vocab", "--ctx"};

/* Parses argv into o; returns 0, or an exit status (2 usage, 0 for --help
 * with *done set). */
static int parse_args(int argc, char **argv, struct opts *o, bool *done)
{
    const char *val = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool matched = false;
        int rc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            *done = true;
            return 0;
        }
        for (size_t k = 0; k < 7 && !matched; k++) {
            if (!dfit_args_flag(argc, argv, &i, shape_flags[k], &val))
                continue;
            uint64_t v;
            if (dfit_args_u64(val, 1, UINT32_MAX, &v))
                return usage_error("%s: expected an integer in 1..4294967295, got '%s'", shape_flags[k],
                                   val ? val : "(missing)");
            o->shape_val[k] = (uint32_t)v;
            o->shape_given[k] = matched = true;
        }
        if (!matched &&
            (rc = dfit_recipe_flag_parse(argc, argv, &i, CMD, usage, 1, &o->r, o->given, &matched)))
            return rc;
        if (!matched && (rc = dfit_run_flag_parse(argc, argv, &i, CMD, usage, &o->run, &matched)))
            return rc;
        if (matched)
            continue;
        const char **path = NULL;
        if (dfit_args_flag(argc, argv, &i, "-o", &val) || dfit_args_flag(argc, argv, &i, "--output", &val))
            path = &o->out;
        else if (dfit_args_flag(argc, argv, &i, "--data", &val))
            path = &o->data;
        else if (dfit_args_flag(argc, argv, &i, "--shape", &val))
            path = &o->shape;
        else if (dfit_args_flag(argc, argv, &i, "--ckpt", &val))
            path = &o->ckpt;
        else if (dfit_args_flag(argc, argv, &i, "--resume", &val))
            path = &o->resume;
        else if (dfit_args_flag(argc, argv, &i, "--init", &val))
            path = &o->init;
        if (path) {
            if (!val || !*val)
                return usage_error("%s: missing value", a);
            *path = val;
        } else if (dfit_args_flag(argc, argv, &i, "--ckpt-every", &val)) {
            if (dfit_args_u64(val, 0, UINT64_C(1) << 40, &o->ckpt_every))
                return usage_error("--ckpt-every: expected an integer >= 0, got '%s'", val ? val : "(missing)");
        } else if (!strcmp(a, "--no-ckpt")) {
            o->no_ckpt = true;
        } else if (!strcmp(a, "--tied")) {
            o->tied = 1;
        } else if (!strcmp(a, "--untied")) {
            o->tied = 0;
        } else if (a[0] == '-') {
            return usage_error("unknown option '%s'", a);
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    return 0;
}

/* The shape from --shape and the shape flags (fresh runs). */
static int build_shape(const struct opts *o, struct dfit_synth_shape *s)
{
    struct dfit_err err = {0};
    uint32_t *field[7] = {&s->n_embd, &s->n_layer, &s->n_head, &s->n_head_kv, &s->n_ff, &s->n_vocab, &s->n_ctx};
    *s = (struct dfit_synth_shape){.n_ctx = 256, .tied_output = true, .rms_eps = 1e-5f,
                                   .rope_freq_base = 10000.0f};
    if (o->shape) {
        if (!strcmp(o->shape, "teacher")) {
            *s = teacher_shape;
        } else if (dfit_synth_preset(o->shape, s, &err)) {
            return usage_error("--shape: unknown preset '%s' (presets: teacher, tiny, 15m, 110m, 1b)",
                               o->shape);
        }
        if (o->shape_given[2] && !o->shape_given[3] && s->n_head_kv == s->n_head)
            s->n_head_kv = o->shape_val[2];
    } else {
        static const int required[] = {0, 1, 2, 4, 5};
        for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
            if (!o->shape_given[required[k]])
                return usage_error("no --shape, --init or --resume given, so %s is required",
                                   shape_flags[required[k]]);
        if (!o->shape_given[3])
            s->n_head_kv = o->shape_val[2];
    }
    for (size_t k = 0; k < 7; k++)
        if (o->shape_given[k])
            *field[k] = o->shape_val[k];
    if (o->tied >= 0)
        s->tied_output = o->tied;
    if (dfit_synth_shape_check(s, &err))
        return usage_error("%s", err.msg);
    return 0;
}

/* Checks the flags that --resume and --init rule out. */
static int check_exclusive(const struct opts *o)
{
    const char *mode = o->resume ? "--resume" : o->init ? "--init" : NULL;
    if (o->resume && o->init)
        return usage_error("--resume and --init exclude each other");
    if (!mode)
        return 0;
    if (o->shape)
        return usage_error("--shape: not allowed with %s (the shape comes from its file)", mode);
    for (size_t k = 0; k < 7; k++)
        if (o->shape_given[k])
            return usage_error("%s: not allowed with %s (the shape comes from its file)", shape_flags[k], mode);
    if (o->tied >= 0)
        return usage_error("%s: not allowed with %s", o->tied ? "--tied" : "--untied", mode);
    if (o->resume && o->run.all_tokens)
        return usage_error("--all-tokens: not allowed with --resume (the checkpoint's recipe is used)");
    if (o->resume)
        for (size_t k = 0; k < DFIT_RF_N; k++)
            if (k != DFIT_RF_STEPS && o->given[k])
                return usage_error("%s: not allowed with --resume (the checkpoint's recipe is used; "
                                   "only --steps may change)", dfit_recipe_flag_names[k]);
    return 0;
}

int dfit_cmd_train(int argc, char **argv)
{
    struct opts o = {.ckpt_every = 500, .run = DFIT_RUN_FLAGS_DEFAULT, .tied = -1};
    o.r = (struct dfit_train_recipe){.steps = 1000, .batch = 8, .seq = 128, .lr = 1e-3f,
                                     .weight_decay = 0.1f, .clip = 1.0f, .seed = 1};
    bool done = false;
    int rc = parse_args(argc, argv, &o, &done);
    if (rc || done)
        return rc;
    if (!o.out)
        return usage_error("missing -o OUT.gguf");
    if (!o.data)
        return usage_error("missing --data FILE");
    if ((rc = check_exclusive(&o)))
        return rc;

    struct dfit_err err = {0};
    struct dfit_train_model *m = NULL;
    struct dfit_train_data *d = NULL;
    struct dfit_trainer *t = NULL;
    struct dfit_train_state resume_st;
    struct dfit_train_recipe r = o.r;
    char *ckpt_default = NULL;
    int status = 1;

    if (o.resume) {
        if (dfit_ckpt_load(o.resume, &m, &r, &resume_st, &err))
            goto fail;
        if (o.given[DFIT_RF_STEPS]) {
            if (o.r.steps < resume_st.step) {
                fprintf(stderr, "dfit train: --steps %" PRIu64 " is below the checkpoint's step %" PRIu64 "\n",
                        o.r.steps, resume_st.step);
                status = 2;
                goto out;
            }
            r.steps = o.r.steps;
        }
    } else {
        if (o.init) {
            if (dfit_train_model_import(o.init, &m, &err) || dfit_sha256_file(o.init, r.parent_sha256, &err))
                goto fail;
            const char *base = strrchr(o.init, '/');
            snprintf(r.parent_name, sizeof r.parent_name, "%s", base ? base + 1 : o.init);
        } else {
            struct dfit_synth_shape s;
            if ((rc = build_shape(&o, &s)))
                return rc;
            if (dfit_train_model_create(&s, &m, &err))
                goto fail;
            dfit_train_model_init(m, r.seed);
        }
        if (!o.given[DFIT_RF_SEQ] && r.seq > m->shape.n_ctx)
            r.seq = m->shape.n_ctx;
        r.all_tokens = o.run.all_tokens;
        if (!o.given[DFIT_RF_LR_MIN])
            r.lr_min = r.lr / 10.0f;
        if (!o.given[DFIT_RF_WARMUP])
            r.warmup = r.steps / 10 < 100 ? r.steps / 10 : 100;
        if (r.seq > m->shape.n_ctx) {
            status = usage_error("--seq: %u exceeds the model's context length %u (--ctx)", r.seq,
                                 m->shape.n_ctx);
            goto out;
        }
        if (r.lr_min > r.lr) {
            status = usage_error("--lr-min: %g exceeds --lr %g", (double)r.lr_min, (double)r.lr);
            goto out;
        }
    }

    if (dfit_train_data_load(o.data, m->shape.n_vocab, &d, &err))
        goto fail;
    if (o.resume && strcmp(d->sha256, r.data_sha256) != 0) {
        fprintf(stderr, "dfit train: --data %s: SHA-256 %.12s... differs from the checkpoint's data "
                "(%.12s...); resume with the same data\n", o.data, d->sha256, r.data_sha256);
        goto out;
    }

    struct dfit_train_params p = {
        .recipe = r,
        .n_threads = dfit_run_threads(&o.run),
        .ckpt_every = o.ckpt_every,
        .progress = dfit_recipe_progress(o.run.quiet),
        .log_every = o.run.log_every,
        .log = stderr,
        .stop_flag = &dfit_recipe_stop,
    };
    if (!o.no_ckpt) {
        if (o.ckpt) {
            p.ckpt_path = o.ckpt;
        } else {
            size_t n = strlen(o.out) + 6;
            if (!(ckpt_default = malloc(n))) {
                dfit_err_set(&err, DFIT_ENOMEM, "out of memory");
                goto fail;
            }
            snprintf(ckpt_default, n, "%s.ckpt", o.out);
            p.ckpt_path = ckpt_default;
        }
    }
    if (dfit_trainer_create(m, d, &p, o.resume ? &resume_st : NULL, &t, &err))
        goto fail;

    char nparams[32], ntok[32], nwin[32], mem[32];
    if (!o.run.quiet) {
        fprintf(stderr, "dfit train: %s parameters, %s tokens (%s windows of %u), batch %u x %u, %d threads, "
                "%s of memory\n",
                dfit_fmt_u64(nparams, sizeof nparams, m->n_params), dfit_fmt_u64(ntok, sizeof ntok, d->n),
                dfit_fmt_u64(nwin, sizeof nwin, (d->n - 1) / r.seq), r.seq, r.batch, r.seq, p.n_threads,
                dfit_fmt_bytes(mem, sizeof mem, dfit_trainer_memory_bytes(t)));
        if (o.resume)
            fprintf(stderr, "dfit train: resuming %s at step %" PRIu64 " of %" PRIu64 "\n", o.resume,
                    resume_st.step, r.steps);
    }

    int early = 0;
    rc = dfit_recipe_run_trainer(t, &early, &err);
    if (rc)
        goto fail;
    struct dfit_train_state st;
    dfit_trainer_state(t, &st);
    if (early) {
        fprintf(stderr, "dfit train: stopped at step %" PRIu64 " of %" PRIu64 "%s%s\n", st.step, r.steps,
                p.ckpt_path ? "; resume with --resume " : " (no checkpoint: --no-ckpt)",
                p.ckpt_path ? p.ckpt_path : "");
        goto out;
    }
    struct dfit_train_recipe fr;
    dfit_trainer_recipe(t, &fr);
    if (dfit_train_model_export(m, o.run.type, &fr, o.out, &err))
        goto fail;
    printf("%s: %s parameters, %s matrices, %" PRIu64 " steps of %u x %u tokens, final loss %.4f, "
           "%.0f tokens/s\n",
           o.out, dfit_fmt_u64(nparams, sizeof nparams, m->n_params), dfit_type_info(o.run.type)->name, st.step,
           r.batch, r.seq, (double)fr.final_loss, dfit_trainer_tokens_per_s(t));
    status = 0;
    goto out;
fail:
    fprintf(stderr, "dfit train: %s\n", err.msg);
out:
    dfit_trainer_free(t);
    dfit_train_data_free(d);
    dfit_train_model_free(m);
    free(ckpt_default);
    return status;
}
