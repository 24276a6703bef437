/* args_recipe.h — the optimizer-recipe flags `dfit train` and `dfit
 * distill` share (--steps --batch --seq --lr --lr-min --warmup --wd --clip
 * --seed), parsed with the same ranges and messages by both.
 * Non-goal: checking the flags against each other (each command knows its
 * defaults: lr-min against lr, warm-up against steps).
 */
#ifndef DFIT_CLI_ARGS_RECIPE_H
#define DFIT_CLI_ARGS_RECIPE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "compress/train_model.h"

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

#endif
