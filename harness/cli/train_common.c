/* train_common.c — what train and distill share (see train_common.h). */
#include "cli/train_common.h"

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"

const char *const dfit_recipe_flag_names[DFIT_RF_N] = {
    [DFIT_RF_STEPS] = "--steps",   [DFIT_RF_BATCH] = "--batch", [DFIT_RF_SEQ] = "--seq",
    [DFIT_RF_LR] = "--lr",         [DFIT_RF_LR_MIN] = "--lr-min", [DFIT_RF_WARMUP] = "--warmup",
    [DFIT_RF_WD] = "--wd",         [DFIT_RF_CLIP] = "--clip",   [DFIT_RF_SEED] = "--seed",
};

static int parse_value(int f, const char *name, const char *val, uint64_t min_steps,
                       struct dfit_train_recipe *r, const char *cmd, void (*usage)(FILE *))
{
    uint64_t u;
    double x;
    const char *v = val ? val : "(missing)";
#define BAD(...) dfit_args_usage_error(cmd, usage, __VA_ARGS__)
    switch (f) {
    case DFIT_RF_STEPS:
        if (dfit_args_u64(val, min_steps, UINT64_C(1) << 40, &u))
            return BAD("%s: expected an integer >= %" PRIu64 ", got '%s'", name, min_steps, v);
        r->steps = u;
        break;
    case DFIT_RF_BATCH:
        if (dfit_args_u64(val, 1, 65536, &u))
            return BAD("%s: expected an integer in 1..65536, got '%s'", name, v);
        r->batch = (uint32_t)u;
        break;
    case DFIT_RF_SEQ:
        if (dfit_args_u64(val, 1, 1u << 20, &u))
            return BAD("%s: expected an integer in 1..1048576, got '%s'", name, v);
        r->seq = (uint32_t)u;
        break;
    case DFIT_RF_WARMUP:
        if (dfit_args_u64(val, 0, UINT64_C(1) << 40, &u))
            return BAD("%s: expected an integer >= 0, got '%s'", name, v);
        r->warmup = u;
        break;
    case DFIT_RF_SEED:
        if (dfit_args_u64(val, 0, UINT64_MAX, &r->seed))
            return BAD("%s: expected an integer in 0..18446744073709551615, got '%s'", name, v);
        break;
    case DFIT_RF_LR:
        if (dfit_args_double_above(val, 0.0, 1e30, &x))
            return BAD("%s: expected a positive number, got '%s'", name, v);
        r->lr = (float)x;
        break;
    default: /* lr-min, wd, clip: >= 0 */
        if (dfit_args_double(val, 0.0, 1e30, &x))
            return BAD("%s: expected a number >= 0, got '%s'", name, v);
        if (f == DFIT_RF_LR_MIN)
            r->lr_min = (float)x;
        else if (f == DFIT_RF_WD)
            r->weight_decay = (float)x;
        else
            r->clip = (float)x;
        break;
    }
#undef BAD
    return 0;
}

int dfit_recipe_flag_parse(int argc, char **argv, int *i, const char *cmd, void (*usage)(FILE *),
                           uint64_t min_steps, struct dfit_train_recipe *r,
                           bool given[DFIT_RF_N], bool *matched)
{
    const char *val = NULL;
    *matched = false;
    for (int f = 0; f < DFIT_RF_N; f++) {
        if (!dfit_args_flag(argc, argv, i, dfit_recipe_flag_names[f], &val))
            continue;
        *matched = true;
        int rc = parse_value(f, dfit_recipe_flag_names[f], val, min_steps, r, cmd, usage);
        if (rc)
            return rc;
        given[f] = true;
        return 0;
    }
    return 0;
}

#define MAX_THREADS 256

int dfit_run_flag_parse(int argc, char **argv, int *i, const char *cmd, void (*usage)(FILE *),
                        struct dfit_run_flags *rf, bool *matched)
{
    const char *a = argv[*i], *val = NULL;
    *matched = true;
    if (dfit_args_flag(argc, argv, i, "-t", &val) || dfit_args_flag(argc, argv, i, "--threads", &val)) {
        if (dfit_args_u64(val, 1, MAX_THREADS, &rf->threads))
            return dfit_args_usage_error(cmd, usage, "%s: expected an integer in 1..%d, got '%s'", a,
                                         MAX_THREADS, val ? val : "(missing)");
    } else if (dfit_args_flag(argc, argv, i, "--log-every", &val)) {
        if (dfit_args_u64(val, 1, UINT64_C(1) << 40, &rf->log_every))
            return dfit_args_usage_error(cmd, usage, "--log-every: expected an integer >= 1, got '%s'",
                                         val ? val : "(missing)");
    } else if (dfit_args_flag(argc, argv, i, "--type", &val)) {
        if (!val || dfit_type_from_name(val, &rf->type) != 0 ||
            (rf->type != DFIT_TYPE_F32 && rf->type != DFIT_TYPE_F16 && rf->type != DFIT_TYPE_BF16))
            return dfit_args_usage_error(cmd, usage,
                                         "--type: expected f32, f16 or bf16, got '%s' (quantize the "
                                         "result with dfit compress)",
                                         val ? val : "(missing)");
    } else if (strcmp(a, "--all-tokens") == 0) {
        rf->all_tokens = true;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
        rf->quiet = true;
    } else {
        *matched = false;
    }
    return 0;
}

int dfit_run_threads(const struct dfit_run_flags *rf)
{
    if (rf->threads)
        return (int)rf->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

volatile sig_atomic_t dfit_recipe_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    dfit_recipe_stop = 1;
}

enum dfit_train_progress dfit_recipe_progress(bool quiet)
{
    if (quiet)
        return DFIT_TRAIN_PROGRESS_NONE;
    return isatty(fileno(stderr)) ? DFIT_TRAIN_PROGRESS_LIVE : DFIT_TRAIN_PROGRESS_LINES;
}

int dfit_recipe_run_trainer(struct dfit_trainer *t, int *early, struct dfit_err *err)
{
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = dfit_trainer_run(t, early, err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
