/* train_common.h — what `dfit train` and `dfit distill` share: the
 * optimizer-recipe flags (--steps --batch --seq --lr --lr-min --warmup --wd
 * --clip --seed), parsed with the same ranges and messages by both; the
 * progress style; and the trainer run that SIGINT or SIGTERM stops at the
 * next step boundary.
 * Non-goal: checking the flags against each other (each command knows its
 * defaults: lr-min against lr, warm-up against steps).
 */
#ifndef DFIT_CLI_TRAIN_COMMON_H
#define DFIT_CLI_TRAIN_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <signal.h>

#include "compress/train.h"
#include "compress/train_model.h"
#include "model/types.h"

enum dfit_recipe_flag {
    DFIT_RF_STEPS, DFIT_RF_BATCH, DFIT_RF_SEQ, DFIT_RF_LR, DFIT_RF_LR_MIN,
    DFIT_RF_WARMUP, DFIT_RF_WD, DFIT_RF_CLIP, DFIT_RF_SEED, DFIT_RF_N
};

/* "--steps", "--batch", ... in enum order. */
extern const char *const dfit_recipe_flag_names[DFIT_RF_N];

/* If argv[*i] is a recipe flag, parses its value into r, sets given[flag]
 * and *matched, and advances *i past a separate value. --steps accepts
 * min_steps and up (train: 1; distill: 0, measure only). A bad or missing
 * value is a usage error of `cmd` (dfit_args_usage_error with usage):
 * returns its exit status 2. Returns 0 otherwise, *matched false when
 * argv[*i] is another argument. */
int dfit_recipe_flag_parse(int argc, char **argv, int *i, const char *cmd, void (*usage)(FILE *),
                           uint64_t min_steps, struct dfit_train_recipe *r,
                           bool given[DFIT_RF_N], bool *matched);

/* The other flags both commands take, with their defaults in
 * DFIT_RUN_FLAGS_DEFAULT. */
struct dfit_run_flags {
    uint64_t threads;    /* -t, --threads; 0: every CPU (dfit_run_threads) */
    uint64_t log_every;  /* --log-every: steps between progress lines */
    enum dfit_type type; /* --type: the output's matrix type, f32/f16/bf16 */
    bool all_tokens;     /* --all-tokens: every token counts, not only answers */
    bool quiet;          /* -q, --quiet */
};
#define DFIT_RUN_FLAGS_DEFAULT {.log_every = 10, .type = DFIT_TYPE_F32}

/* As dfit_recipe_flag_parse, for the flags of struct dfit_run_flags. */
int dfit_run_flag_parse(int argc, char **argv, int *i, const char *cmd, void (*usage)(FILE *),
                        struct dfit_run_flags *rf, bool *matched);

/* The worker threads: -t, else the CPUs online (at most 256). */
int dfit_run_threads(const struct dfit_run_flags *rf);

/* Set by SIGINT or SIGTERM during dfit_recipe_run_trainer: the stop_flag
 * of the trainer's parameters. */
extern volatile sig_atomic_t dfit_recipe_stop;

/* No progress when quiet; a line rewritten in place on a terminal; else a
 * line every log_every steps. */
enum dfit_train_progress dfit_recipe_progress(bool quiet);

/* dfit_trainer_run with SIGINT and SIGTERM setting dfit_recipe_stop (the
 * previous handlers are restored afterwards); *early as dfit_trainer_run
 * says. */
int dfit_recipe_run_trainer(struct dfit_trainer *t, int *early, struct dfit_err *err);

#endif
