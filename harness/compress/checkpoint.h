/* checkpoint.h — training checkpoints: everything `dfit train --resume`
 * needs to continue a run exactly where it stopped (the shape, the recipe,
 * the parameters, AdamW's two moments, the step, the data cursor with its
 * generator state, the recent losses), written atomically: to
 * "<path>.tmp", fsync, rename, fsync of the directory. So a run killed at
 * any moment leaves either the previous checkpoint or the new one, whole.
 *
 * File (little-endian): "DFITCKPT", u32 version (1), u32 header bytes, the
 * header (shape, recipe, state; see checkpoint.c), u64 n_params, the
 * parameters, first and second moments (n_params F32 each), then a u64
 * FNV-1a hash of every byte before it.
 * Non-goals: portability to big-endian hosts, optimizer state of other
 * optimizers, compression.
 */
#ifndef DFIT_COMPRESS_CHECKPOINT_H
#define DFIT_COMPRESS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "compress/train_data.h"
#include "compress/train_model.h"
#include "util/err.h"

#define DFIT_CKPT_MAGIC "DFITCKPT"
#define DFIT_CKPT_VERSION 1
#define DFIT_TRAIN_LOSS_WINDOW 16

/* Where a run is, besides its parameters and moments. */
struct dfit_train_state {
    uint64_t step;                          /* optimizer steps done */
    struct dfit_train_cursor cursor;        /* the data's next window */
    uint32_t n_losses;                      /* valid entries below */
    float losses[DFIT_TRAIN_LOSS_WINDOW];   /* loss of step s at [s % WINDOW] */
};

/* Writes a checkpoint of m (parameters and moments; gradients are not
 * kept), its recipe and state. DFIT_EIO naming the path; an existing file
 * at path stays as it was on failure. */
int dfit_ckpt_save(const char *path, const struct dfit_train_model *m,
                   const struct dfit_train_recipe *r, const struct dfit_train_state *st,
                   struct dfit_err *err);

/* Reads a checkpoint into a new model (*m, gradients zeroed), *r and *st.
 * Errors name the path and the field: DFIT_EIO, DFIT_EINVAL (bad magic,
 * header, size for the shape, hash mismatch: "truncated or corrupt"),
 * DFIT_EUNSUPPORTED (another version), DFIT_ENOMEM. *m NULL on failure. */
int dfit_ckpt_load(const char *path, struct dfit_train_model **m, struct dfit_train_recipe *r,
                   struct dfit_train_state *st, struct dfit_err *err);

/* ---- atomic files (also used for token files) ---------------------------- */

struct dfit_ckpt_file {
    FILE *f;
    char *tmp;             /* "<path>.tmp", owned */
    const char *path;      /* borrowed */
    int write_errno;       /* first write error, 0 if none */
};

/* Opens "<path>.tmp" for writing. DFIT_EIO / DFIT_ENOMEM; nothing to clean
 * up on failure. */
int dfit_ckpt_file_open(struct dfit_ckpt_file *f, const char *path, struct dfit_err *err);
/* Appends n bytes; a failure is remembered and reported by commit. */
void dfit_ckpt_file_write(struct dfit_ckpt_file *f, const void *p, size_t n);
/* Flushes, fsyncs, closes and renames the file over path, then fsyncs the
 * directory. On any failure (also an earlier write's) the temporary file is
 * removed and DFIT_EIO names the path. Always releases f. */
int dfit_ckpt_file_commit(struct dfit_ckpt_file *f, struct dfit_err *err);
/* Closes and removes the temporary file. */
void dfit_ckpt_file_abort(struct dfit_ckpt_file *f);

#endif
