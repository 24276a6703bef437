/* variants.h — turns a scenario's variants into model files on disk.
 *
 *   base = synth:PRESET[:SEED]  generated once (F32 weights) into the cache
 *   [variant X] compress = T    converted from its parent (`from`, or the
 *                               base) into the cache
 *   [variant X] prune = SPEC, method = awq (with compress = q8_0|q4_0),
 *               calib = ...     compressed from its parent by
 *                               dfit_compress_file (compress.h) into the cache
 *   [variant X] file = PATH     used as it is
 *
 * The cache (default ".cache/models" under the current directory, or
 * $DFIT_CACHE_DIR, or the caller's choice) is content-addressed: a synth
 * file is named by the SHA-256 of what determines it (shape, seed, weight
 * type, GGUF version, DFIT_VARIANT_CACHE_VERSION), a converted file by the
 * SHA-256 of its parent file's SHA-256 and the recipe (with the SHA-256 of
 * a calibration file). A cached file is reused only if it opens as valid
 * GGUF (and, for a conversion, names the right parent); otherwise it is
 * rebuilt. Files are written by the GGUF
 * writer's atomic rename, and builds hold an flock on "<cache>/.lock", so a
 * killed or concurrent build never leaves a half file behind.
 * A recipe whose parent's matrices already have the recipe's type (f32 from
 * an f32 synth base) is the parent's file itself: nothing is converted.
 * Non-goals: distillation recipes (a distilled student is a `file`), cache
 * eviction.
 */
#ifndef DFIT_RUN_VARIANTS_H
#define DFIT_RUN_VARIANTS_H

#include <stdbool.h>
#include <stdint.h>

#include "run/scenario.h"
#include "util/err.h"
#include "util/sha256.h"

/* Bump when dfit's synth or convert output changes for the same inputs, so
 * stale cached files are not reused. */
#define DFIT_VARIANT_CACHE_VERSION 1
#define DFIT_VARIANT_CACHE_DEFAULT ".cache/models"

struct dfit_variant_file {
    const char *name;        /* the variant's name, or "base" */
    char *path;              /* the model file (owned); NULL when not materialised */
    char sha256[DFIT_SHA256_HEX_LEN + 1];
    uint64_t file_bytes;
    bool built;              /* built by this call; false: reused from the cache or the user's file */
    bool same_as_parent;     /* a recipe that needed no conversion: the parent's file */
    uint64_t build_ns;       /* time spent building (0 when not built) */
    int parent;              /* recipe: parent variant index, -1 = the base; -2 for files and the base */
};

struct dfit_variant_set {
    char *cache_dir;                       /* owned */
    struct dfit_variant_file base;         /* path NULL when no recipe needed it */
    struct dfit_variant_file *variants;    /* [n_variants], scenario order */
    int n_variants;
};

enum dfit_variant_event {
    DFIT_VARIANT_BUILDING = 0,  /* a build starts (not sent for reused files) */
    DFIT_VARIANT_DONE = 1,      /* the file is ready (built or reused) */
};
typedef void (*dfit_variant_progress_fn)(void *user, enum dfit_variant_event ev,
                                         const struct dfit_variant_file *f);

struct dfit_variant_options {
    const char *cache_dir;      /* NULL: $DFIT_CACHE_DIR if set, else DFIT_VARIANT_CACHE_DEFAULT */
    int n_threads;              /* for quantizing; <= 0 means 1 */
    const int *only;            /* [n_only] variant indexes to materialise (their parents
                                   come along); NULL = all */
    int n_only;
    dfit_variant_progress_fn progress;  /* optional */
    void *user;
};

/* Materialises s's variants (opt may be NULL). On failure *out is NULL and
 * err names the variant and file; files already built stay in the cache.
 * Codes: DFIT_EIO (cache directory, lock, hashing), the synth, convert and
 * GGUF codes (a `file` variant that is not valid GGUF), DFIT_ENOMEM. */
int dfit_variants_materialize(const struct dfit_scenario *s, const struct dfit_variant_options *opt,
                              struct dfit_variant_set **out, struct dfit_err *err);
void dfit_variants_free(struct dfit_variant_set *vs); /* accepts NULL */

/* The variant's file record by name, or NULL. */
const struct dfit_variant_file *dfit_variants_find(const struct dfit_variant_set *vs, const char *name);

#endif
