/* convert.h — `dfit compress --to TYPE`: re-encodes a model's weight
 * matrices into another tensor type (norm vectors stay F32, as llama.cpp
 * does), row by row from their own blocks, and records recipe and lineage in
 * dfit.* metadata (parent SHA-256, method, parameters). Refuses to write
 * over its input. Pruning and calibrated quantization live beside it
 * (compress.h), reusing its lineage and output-path checks.
 */
#ifndef DFIT_COMPRESS_CONVERT_H
#define DFIT_COMPRESS_CONVERT_H

#include <stdint.h>

#include "model/types.h"
#include "util/err.h"

struct dfit_convert_params {
    enum dfit_type to;
    int n_threads;          /* for quantizing rows; <= 0 means 1 */
};

/* llama.cpp's general.file_type (LLAMA_FTYPE) for a model whose matrices
 * are of type t: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q8_0 7,
 * MOSTLY_BF16 32. */
uint32_t dfit_convert_file_type(enum dfit_type t);

/* Converts in_path into out_path (written atomically). Fails with
 * DFIT_EEXIST when out_path is the input file (same inode, or the writer's
 * "<out_path>.tmp" is), DFIT_EINVAL naming the tensor when a matrix's row
 * length does not suit the target type's block size, and with the reader's
 * or writer's codes otherwise; on failure an existing out_path stays as it
 * was. */
int dfit_convert_file(const char *in_path, const char *out_path, const struct dfit_convert_params *p,
                      struct dfit_err *err);

/* Refuses an output that is the input: DFIT_EEXIST when out_path is
 * in_path (same inode or real path) or the writer's "<out_path>.tmp" is;
 * DFIT_EIO when in_path cannot be stat'ed. */
int dfit_convert_check_out_path(const char *in_path, const char *out_path, struct dfit_err *err);

/* Lineage for a file derived from g (read from in_path, whose SHA-256 hex
 * is sha): moves g's dfit.recipe.* and dfit.parent.* keys (already copied
 * into w) into one "key=value; ..." entry appended to dfit.lineage, and
 * sets dfit.parent.{sha256,name}. The caller sets the new dfit.recipe.*.
 * Fails with the writer's codes or DFIT_ENOMEM. */
struct dfit_gguf;
struct dfit_gguf_writer;
int dfit_convert_lineage(struct dfit_gguf_writer *w, const struct dfit_gguf *g, const char *in_path,
                         const char *sha, struct dfit_err *err);

#endif
