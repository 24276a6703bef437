/* cmd_distill.c — `dfit distill`: trains a student to match a teacher's
 * next-token distributions (compress/distill.h) — a fresh model of a
 * smaller shape, or a model file (e.g. a structurally pruned teacher) that
 * distillation heals — and writes it as GGUF with its recipe and lineage.
 * Optionally measures the student's KL to the teacher on held-out tokens
 * before and after; `--steps 0` only measures. Exit status: 0 done, 1
 * failure or interrupted, 2 usage error.
 * Non-goals: checkpoints and resuming (runs are short), hidden-state
 * distillation.
 */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/train_common.h"
#include "cli/cli.h"
#include "compress/distill.h"
#include "compress/train.h"
#include "compress/train_data.h"
#include "compress/train_model.h"
#include "util/fmt.h"
#include "util/sha256.h"

#define CMD "distill"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit distill --teacher T.gguf --student SHAPE|INIT.gguf -o OUT.gguf --data FILE\n"
            "                    [--steps N] [--temperature T] [--alpha A] [--heldout FILE] [options]\n"
            "       dfit distill --teacher T.gguf --student INIT.gguf --steps 0 --heldout FILE\n"
            "\n"
            "Trains a student on  alpha*T^2*KL(teacher_T || student_T) + (1-alpha)*CE(data),\n"
            "x_T = softmax(logits/T), over the data's answer tokens (every token of a text),\n"
            "running the teacher on every batch. The student is a fresh model of SHAPE or\n"
            "starts from INIT.gguf (any type, converted to F32; it keeps INIT's shape), e.g.\n"
            "the teacher pruned by `dfit compress --prune layers:N|ffn:F`, so distillation\n"
            "heals it. Both must share the vocabulary. --steps 0 only measures the KL.\n"
            "\n"
            "SHAPE: the teacher's shape changed by KEY=VALUE items, after an optional preset\n"
            "(teacher, tiny, 15m, 110m, 1b): keys dim, layers, heads, kv_heads, ffn, ctx,\n"
            "tied=true|false; e.g. layers=2  or  dim=128,heads=4,ffn=384.\n"
            "\n"
            "  --teacher FILE     the teacher model (required)\n"
            "  --student S        SHAPE or INIT.gguf (required)\n"
            "  -o, --output PATH  the student (required unless --steps 0; written atomically)\n"
            "  --data FILE        training data: a token file or text, as dfit train\n"
            "  --steps N          optimizer steps (default 500; 0: measure only)\n"
            "  --temperature T    softmax temperature of both models, in (0, 100] (default 2)\n"
            "  --alpha A          weight of the KL term, in [0, 1] (default 0.5)\n"
            "  --heldout FILE     tokens to measure KL(teacher || student) on at T = 1,\n"
            "                     before and after (a token file or text)\n"
            "  --heldout-windows N  at most N windows of --seq tokens of it (default 64)\n"
            "  --batch B          sequences per step (default 8)\n"
            "  --seq T            tokens per sequence (default min(128, both contexts))\n"
            "  --lr X             peak learning rate (default 1e-3; 3e-4 with INIT.gguf)\n"
            "  --lr-min X         floor of the cosine decay (default lr/10)\n"
            "  --warmup N         linear warm-up steps (default min(100, steps/10))\n"
            "  --wd X             AdamW weight decay on matrices (default 0.1)\n"
            "  --clip X           global gradient-norm clip, 0 off (default 1.0)\n"
            "  --seed S           init and data-order seed (default 1)\n"
            "  --all-tokens       every token counts, not only a token file's answer tokens\n"
            "  -t, --threads N    worker threads (default: all CPUs; results do not depend on it)\n"
            "  --type T           matrix type of the output: f32, f16, bf16 (default f32)\n"
            "  --log-every N      steps between progress lines when not on a terminal (10)\n"
            "  -q, --quiet        no progress output\n"
            "  -h, --help         this text\n");
}

#define usage_error(...) dfit_args_usage_error(CMD, usage, __VA_ARGS__)

struct opts {
    const char *teacher, *student, *out, *data, *heldout;
    uint64_t heldout_windows;
    struct dfit_run_flags run;
    bool given[DFIT_RF_N];
    struct dfit_train_recipe r;
    struct dfit_distill_params dp;
};

/* Parses argv into o; returns 0, or an exit status (2 usage; 0 for --help
 * with *done set). */
static int parse_args(int argc, char **argv, struct opts *o, bool *done)
{
    const char *val = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            *done = true;
            return 0;
        }
        bool matched = false;
        int rc;
        if ((rc = dfit_recipe_flag_parse(argc, argv, &i, CMD, usage, 0, &o->r, o->given, &matched)))
            return rc;
        if (!matched && (rc = dfit_run_flag_parse(argc, argv, &i, CMD, usage, &o->run, &matched)))
            return rc;
        if (matched)
            continue;
        const char **path = NULL;
        double x;
        if (dfit_args_flag(argc, argv, &i, "-o", &val) || dfit_args_flag(argc, argv, &i, "--output", &val))
            path = &o->out;
        else if (dfit_args_flag(argc, argv, &i, "--teacher", &val))
            path = &o->teacher;
        else if (dfit_args_flag(argc, argv, &i, "--student", &val))
            path = &o->student;
        else if (dfit_args_flag(argc, argv, &i, "--data", &val))
            path = &o->data;
        else if (dfit_args_flag(argc, argv, &i, "--heldout", &val))
            path = &o->heldout;
        if (path) {
            if (!val || !*val)
                return usage_error("%s: missing value", a);
            *path = val;
        } else if (dfit_args_flag(argc, argv, &i, "--temperature", &val)) {
            if (dfit_args_double(val, 0.0, 100.0, &x) || x == 0.0)
                return usage_error("--temperature: expected a number in (0, 100], got '%s'", val ? val : "(missing)");
            o->dp.temperature = (float)x;
        } else if (dfit_args_flag(argc, argv, &i, "--alpha", &val)) {
            if (dfit_args_double(val, 0.0, 1.0, &x))
                return usage_error("--alpha: expected a number in [0, 1], got '%s'", val ? val : "(missing)");
            o->dp.alpha = (float)x;
        } else if (dfit_args_flag(argc, argv, &i, "--heldout-windows", &val)) {
            if (dfit_args_u64(val, 1, UINT64_C(1) << 40, &o->heldout_windows))
                return usage_error("--heldout-windows: expected an integer >= 1, got '%s'", val ? val : "(missing)");
        } else if (a[0] == '-') {
            return usage_error("unknown option '%s'", a);
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    return 0;
}

/* Whether --student names a file (rather than a shape). */
static bool is_file(const char *s)
{
    struct stat st;
    size_t n = strlen(s);
    return stat(s, &st) == 0 || (n > 5 && !strcmp(s + n - 5, ".gguf"));
}

static void print_measure(const char *what, const struct dfit_distill_measure *m)
{
    printf("  %-8s KL(teacher||student) %.4f ± %.4f nats/token, top-1 agreement %.2f %%, "
           "cross-entropy student %.4f / teacher %.4f\n",
           what, m->kl, m->kl_se, 100.0 * m->top1, m->ce_student, m->ce_teacher);
}

struct run {
    struct dfit_train_model *teacher, *student;
    struct dfit_train_data *data, *heldout;
    struct dfit_distill *dist;
    struct dfit_trainer *trainer;
    struct dfit_distill_lineage lin;
};

static void run_free(struct run *r)
{
    dfit_trainer_free(r->trainer);
    dfit_distill_free(r->dist);
    dfit_train_data_free(r->data);
    dfit_train_data_free(r->heldout);
    dfit_train_model_free(r->student);
    dfit_train_model_free(r->teacher);
}

/* Loads the teacher and the student (fresh or from a file). Returns 0, 1
 * (failure, err set) or 2 (usage error, printed). */
static int load_models(struct opts *o, struct run *run, struct dfit_err *err)
{
    if (dfit_train_model_import(o->teacher, &run->teacher, err) ||
        dfit_sha256_file(o->teacher, run->lin.teacher_sha256, err))
        return 1;
    run->lin.teacher_path = o->teacher;
    if (is_file(o->student)) {
        if (dfit_train_model_import(o->student, &run->student, err) ||
            dfit_sha256_file(o->student, run->lin.init_sha256, err))
            return 1;
        run->lin.init_path = o->student;
        return 0;
    }
    struct dfit_synth_shape s;
    if (dfit_distill_shape_parse(o->student, &run->teacher->shape, &s, err))
        return usage_error("--student: %s", err->msg);
    if (dfit_train_model_create(&s, &run->student, err))
        return 1;
    dfit_train_model_init(run->student, o->r.seed);
    return 0;
}

/* Fills the recipe defaults that depend on the models. */
static int finish_recipe(struct opts *o, const struct run *run)
{
    struct dfit_train_recipe *r = &o->r;
    const uint32_t ctx = run->student->shape.n_ctx < run->teacher->shape.n_ctx ? run->student->shape.n_ctx
                                                                                : run->teacher->shape.n_ctx;
    if (!o->given[DFIT_RF_SEQ])
        r->seq = ctx < 128 ? ctx : 128;
    if (r->seq > ctx)
        return usage_error("--seq: %u exceeds the context of the student (%u) or teacher (%u)", r->seq,
                           run->student->shape.n_ctx, run->teacher->shape.n_ctx);
    if (!o->given[DFIT_RF_LR])
        r->lr = run->lin.init_path ? 3e-4f : 1e-3f;
    if (!o->given[DFIT_RF_LR_MIN])
        r->lr_min = r->lr / 10.0f;
    if (r->lr_min > r->lr)
        return usage_error("--lr-min: %g exceeds --lr %g", (double)r->lr_min, (double)r->lr);
    if (!o->given[DFIT_RF_WARMUP])
        r->warmup = r->steps / 10 < 100 ? r->steps / 10 : 100;
    r->all_tokens = o->run.all_tokens;
    if (run->lin.init_path) {
        memcpy(r->parent_sha256, run->lin.init_sha256, sizeof r->parent_sha256);
        const char *b = strrchr(run->lin.init_path, '/');
        snprintf(r->parent_name, sizeof r->parent_name, "%s", b ? b + 1 : run->lin.init_path);
    }
    return 0;
}

static int distill_main(struct opts *o, struct run *run, struct dfit_err *err)
{
    int rc = load_models(o, run, err);
    if (rc)
        return rc;
    if ((rc = finish_recipe(o, run)))
        return rc;
    struct dfit_train_recipe *r = &o->r;
    o->dp.n_threads = dfit_run_threads(&o->run);
    if (dfit_distill_create(run->teacher, &o->dp, r->batch, r->seq, &run->dist, err) ||
        dfit_distill_check_student(run->dist, run->student, r->seq, err))
        return 1;
    if (o->heldout) {
        if (dfit_train_data_load(o->heldout, run->teacher->shape.n_vocab, &run->heldout, err) ||
            dfit_distill_measure(run->dist, run->student, run->heldout, r->seq, o->heldout_windows,
                                 o->run.all_tokens, &run->lin.heldout_before, err))
            return 1;
        memcpy(run->lin.heldout_sha256, run->heldout->sha256, sizeof run->lin.heldout_sha256);
        run->lin.have_heldout = true;
        char n[32];
        printf("%s: %s tokens of %s\n", o->heldout,
               dfit_fmt_u64(n, sizeof n, (uint64_t)run->lin.heldout_before.n_tokens),
               o->run.all_tokens || !run->heldout->mask ? "every window" : "answers");
        print_measure(r->steps ? "before" : "student", &run->lin.heldout_before);
    }
    if (r->steps == 0)
        return 0;

    if (dfit_train_data_load(o->data, run->student->shape.n_vocab, &run->data, err))
        return 1;
    struct dfit_train_params p = {
        .recipe = *r,
        .n_threads = o->dp.n_threads,
        .progress = dfit_recipe_progress(o->run.quiet),
        .log_every = o->run.log_every,
        .log = stderr,
        .stop_flag = &dfit_recipe_stop,
        .loss = dfit_distill_loss,
        .loss_user = run->dist,
    };
    if (dfit_trainer_create(run->student, run->data, &p, NULL, &run->trainer, err))
        return 1;
    char a[32], b[32], c[32];
    if (!o->run.quiet)
        fprintf(stderr,
                "dfit distill: teacher %s parameters, student %s parameters (%s), %s tokens, batch %u x %u, "
                "T %g, alpha %g, %d threads\n",
                dfit_fmt_u64(a, sizeof a, run->teacher->n_params), dfit_fmt_u64(b, sizeof b, run->student->n_params),
                run->lin.init_path ? run->lin.init_path : o->student, dfit_fmt_u64(c, sizeof c, run->data->n),
                r->batch, r->seq, (double)o->dp.temperature, (double)o->dp.alpha, o->dp.n_threads);

    int early = 0;
    rc = dfit_recipe_run_trainer(run->trainer, &early, err);
    if (rc)
        return 1;
    if (early) {
        fprintf(stderr, "dfit distill: interrupted; nothing written\n");
        return 1;
    }
    struct dfit_train_recipe fr;
    dfit_trainer_recipe(run->trainer, &fr);
    run->lin.params = o->dp;
    dfit_distill_recent(run->dist, &run->lin.final_kl, &run->lin.final_ce);
    if (run->heldout && dfit_distill_measure(run->dist, run->student, run->heldout, r->seq, o->heldout_windows,
                                             o->run.all_tokens, &run->lin.heldout_after, err))
        return 1;
    if (dfit_distill_export(run->student, o->run.type, &fr, &run->lin, o->out, err))
        return 1;
    printf("%s: %s parameters, %s matrices, %" PRIu64 " steps of %u x %u tokens, final loss %.4f "
           "(KL at T %g: %.4f, cross-entropy %.4f), %.0f tokens/s\n",
           o->out, dfit_fmt_u64(a, sizeof a, run->student->n_params), dfit_type_info(o->run.type)->name, fr.steps,
           r->batch, r->seq, (double)fr.final_loss, (double)o->dp.temperature, run->lin.final_kl, run->lin.final_ce,
           dfit_trainer_tokens_per_s(run->trainer));
    if (run->heldout)
        print_measure("after", &run->lin.heldout_after);
    return 0;
}

int dfit_cmd_distill(int argc, char **argv)
{
    struct opts o = {.run = DFIT_RUN_FLAGS_DEFAULT, .heldout_windows = 64};
    o.r = (struct dfit_train_recipe){.steps = 500, .batch = 8, .seq = 128, .lr = 1e-3f,
                                     .weight_decay = 0.1f, .clip = 1.0f, .seed = 1};
    o.dp = (struct dfit_distill_params){.temperature = DFIT_DISTILL_DEFAULT_TEMPERATURE,
                                        .alpha = DFIT_DISTILL_DEFAULT_ALPHA};
    bool done = false;
    int rc = parse_args(argc, argv, &o, &done);
    if (rc || done)
        return rc;
    if (!o.teacher)
        return usage_error("missing --teacher T.gguf");
    if (!o.student)
        return usage_error("missing --student SHAPE|INIT.gguf");
    if (o.r.steps == 0 && !o.heldout)
        return usage_error("--steps 0 measures only, so it needs --heldout FILE");
    if (o.r.steps > 0 && !o.out)
        return usage_error("missing -o OUT.gguf");
    if (o.r.steps > 0 && !o.data)
        return usage_error("missing --data FILE");

    struct dfit_err err = {0};
    struct run run;
    memset(&run, 0, sizeof run);
    rc = distill_main(&o, &run, &err);
    if (rc == 1 && err.msg[0])
        fprintf(stderr, "dfit distill: %s\n", err.msg);
    run_free(&run);
    return rc;
}
