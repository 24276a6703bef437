/* convert.h — `dfit compress --to TYPE`: re-encodes a model's weight
 * matrices into another tensor type (norm vectors stay F32, as llama.cpp
 * does), row by row from their own blocks, and records recipe and lineage in
 * dfit.* metadata (parent SHA-256, method, parameters). Refuses to write
 * over its input. Non-goals here: pruning and calibrated quantization (the
 * compression issue adds them beside this file).
 */
#ifndef DFIT_COMPRESS_CONVERT_H
#define DFIT_COMPRESS_CONVERT_H

#include "model/types.h"
#include "util/err.h"

struct dfit_convert_params {
    enum dfit_type to;
    int n_threads;          /* for quantizing rows; <= 0 means 1 */
};

int dfit_convert_file(const char *in_path, const char *out_path, const struct dfit_convert_params *p,
                      struct dfit_err *err);

#endif
