/* synth.h — random-weight llama GGUF files of a given shape, seeded and
 * deterministic, so speed can be studied at realistic sizes with no
 * download. Presets: tiny (tests), 15m, 110m, 1b (a Llama-3.2-1B shape).
 * Weights are N(0, 1/sqrt(n_in)) scaled so activations stay O(1); norms are
 * 1. The vocabulary is dfit's byte-level one (tokenizer.h). Tensors are
 * generated one at a time while writing, so a 1b model streams to disk.
 * Non-goal: trained weights (see `dfit train`).
 */
#ifndef DFIT_COMPRESS_SYNTH_H
#define DFIT_COMPRESS_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "model/types.h"
#include "util/err.h"

struct dfit_synth_shape {
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_ff;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t n_vocab;
    uint32_t n_ctx;
    bool tied_output;      /* no output.weight: logits use token_embd */
    float rms_eps;
    float rope_freq_base;
};

/* Fills *out from a preset name; DFIT_ENOTFOUND listing the presets
 * otherwise. */
int dfit_synth_preset(const char *name, struct dfit_synth_shape *out, struct dfit_err *err);
/* Checks a shape (divisibility, head_dim even, sizes > 0, caps); error names
 * the field. */
int dfit_synth_shape_check(const struct dfit_synth_shape *s, struct dfit_err *err);
/* Parameter count of a shape (all tensors' elements; the shape is assumed
 * to pass dfit_synth_shape_check). */
uint64_t dfit_synth_n_params(const struct dfit_synth_shape *s);
/* Name of the preset equal to s in every field, or NULL. */
const char *dfit_synth_preset_of(const struct dfit_synth_shape *s);

struct dfit_synth_params {
    struct dfit_synth_shape shape;
    uint64_t seed;
    enum dfit_type type;   /* type of the 2-D weights; norms stay F32 */
    const char *name;      /* general.name; NULL: "dfit-synth-<preset>" */
};

/* Writes the model to path (atomically). Fails with the shape check's
 * DFIT_EINVAL, DFIT_EUNSUPPORTED for a type dfit lacks, or the writer's
 * codes (err names the path); an existing file at path stays as it was. */
int dfit_synth_write(const struct dfit_synth_params *p, const char *path, struct dfit_err *err);

#endif
