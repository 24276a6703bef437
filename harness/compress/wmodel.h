/* wmodel.h — an editable copy of a llama GGUF model for the compression
 * passes (pruning, activation-aware scaling): the source file stays mapped,
 * each tensor is decoded to F32 only when a pass asks for it, passes may
 * zero, rescale, reshape, remove or rename tensors and change the
 * hyper-parameters, and the result is written as a new GGUF (all metadata
 * copied, the changed llama.* shape keys updated) with the matrices in one
 * target type or each in its own.
 * Non-goals: lineage and recipe keys (the caller adds them to the writer),
 * models that do not fit in memory once their edited tensors are F32.
 */
#ifndef DFIT_COMPRESS_WMODEL_H
#define DFIT_COMPRESS_WMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "model/gguf.h"
#include "model/llama.h"
#include "util/err.h"

struct dfit_wtensor {
    char name[DFIT_GGUF_MAX_NAME + 1];
    uint32_t n_dims;
    int64_t ne[DFIT_GGUF_MAX_DIMS];            /* ne[0] = row length */
    uint64_t n_elements;
    enum dfit_type src_type;                   /* the source tensor's type */
    const struct dfit_gguf_tensor *src;        /* in the source; NULL once replaced */
    float *f32;                                /* [n_elements] owned; NULL until asked */
    bool removed;                              /* dropped from the output */
};

struct dfit_wmodel {
    struct dfit_gguf *g;            /* the source file (owned) */
    struct dfit_llama_hparams hp;   /* current shape (passes update it) */
    struct dfit_llama_hparams hp0;  /* the source's */
    uint64_t n_tensors;
    struct dfit_wtensor *t;         /* [n_tensors] in source order, owned */
};

/* Opens path and checks it is a llama model (dfit_model_from_gguf's checks).
 * On failure *out is NULL, with the reader's or binder's code and message. */
int dfit_wmodel_open(const char *path, struct dfit_wmodel **out, struct dfit_err *err);
void dfit_wmodel_free(struct dfit_wmodel *wm); /* accepts NULL */

/* The tensor named `name` that is not removed, or NULL. */
struct dfit_wtensor *dfit_wmodel_find(struct dfit_wmodel *wm, const char *name);
/* Layer il's tensor "blk.<il>.<suffix>.weight" (suffix "attn_q", ...), or
 * NULL. */
struct dfit_wtensor *dfit_wmodel_layer(struct dfit_wmodel *wm, uint32_t il, const char *suffix);

/* The tensor's elements as F32 (decoded from the source on first use;
 * later edits stay in it). NULL with DFIT_ENOMEM in err when memory runs
 * out. */
float *dfit_wmodel_f32(struct dfit_wmodel *wm, struct dfit_wtensor *t, struct dfit_err *err);

/* Replaces t's data by data [ne1][ne0] (ownership passes to t, even on
 * failure) with shape {ne0, ne1} (ne1 1 and n_dims 1 for a vector). */
void dfit_wtensor_replace(struct dfit_wtensor *t, float *data, int64_t ne0, int64_t ne1);

/* Removes blocks whose keep[il] is false and renumbers the others (in
 * order) in every "blk.N." tensor name; updates hp.n_layer. DFIT_EINVAL if
 * no block would remain. */
int dfit_wmodel_keep_layers(struct dfit_wmodel *wm, const bool *keep /* [hp.n_layer] */,
                            struct dfit_err *err);

/* Output types: DFIT_WMODEL_KEEP_TYPES keeps each tensor's source type
 * (edited tensors are re-encoded in it); otherwise every tensor of two or
 * more dimensions becomes `to` and vectors F32 (as dfit_convert_file). */
#define DFIT_WMODEL_KEEP_TYPES (-1)

/* Checks that every output tensor's row length suits its output type (the
 * error names the tensor and the block size): DFIT_EINVAL. */
int dfit_wmodel_check_types(const struct dfit_wmodel *wm, int to, struct dfit_err *err);

/* Adds the updated llama.* shape keys and every tensor to w (whose other
 * metadata the caller has set, e.g. with dfit_gguf_writer_copy_kv) and
 * writes path atomically, converting rows on n_threads threads. wm must
 * not change during the call. Fails with dfit_wmodel_check_types's or the
 * writer's codes; an existing file at path stays as it was. */
int dfit_wmodel_write(struct dfit_wmodel *wm, struct dfit_gguf_writer *w, int to, int n_threads,
                      const char *path, struct dfit_err *err);

/* Writes wm as a plain F32 file (metadata copied from the source) at path,
 * for running it (calibration). Same failures as dfit_wmodel_write. */
int dfit_wmodel_write_f32(struct dfit_wmodel *wm, int n_threads, const char *path,
                          struct dfit_err *err);

#endif
