/* variants.c — builds or reuses the model file of every variant of a
 * scenario in a content-addressed cache (see variants.h).
 * Non-goals: deciding what runs (plan.c); distillation recipes (a distilled
 * student comes as a `file`).
 */
#include "run/variants.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compress/compress.h"
#include "compress/convert.h"
#include "compress/synth.h"
#include "model/gguf.h"
#include "model/types.h"
#include "util/clock.h"

enum { TODO = 0, BUSY = 1, DONE = 2 };

struct ctx {
    const struct dfit_scenario *s;
    const struct dfit_variant_options *opt;
    struct dfit_variant_set *vs;
    int *state;           /* [n_variants] TODO/BUSY/DONE */
    bool base_done;
};

/* ---- files ------------------------------------------------------------------- */

static int mkdir_p(const char *dir, struct dfit_err *err)
{
    char *p = strdup(dir);
    if (!p)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", dir);
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != '\0')
            continue;
        char c = *q;
        *q = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            rc = dfit_err_set(err, DFIT_EIO, "cache directory %s: cannot create %s: %s", dir, p, strerror(errno));
            break;
        }
        *q = c;
        if (!c)
            break;
    }
    free(p);
    if (!rc) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = dfit_err_set(err, DFIT_EIO, "cache directory %s: not a directory", dir);
    }
    return rc;
}

/* Fills f's hash and size from its path. */
static int file_info(struct dfit_variant_file *f, struct dfit_err *err)
{
    struct stat st;
    if (stat(f->path, &st) != 0)
        return dfit_err_set(err, DFIT_EIO, "variant '%s': %s: %s", f->name, f->path, strerror(errno));
    f->file_bytes = (uint64_t)st.st_size;
    int rc = dfit_sha256_file(f->path, f->sha256, err);
    if (rc)
        dfit_err_prefix(err, "variant '%s'", f->name);
    return rc;
}

/* True when path opens as valid GGUF and, if parent_sha is given, records
 * that parent. */
static bool cache_valid(const char *path, const char *parent_sha)
{
    struct dfit_gguf *g = NULL;
    struct dfit_err e = {0};
    if (access(path, F_OK) != 0 || dfit_gguf_open(path, &g, &e) != 0)
        return false;
    bool ok = true;
    if (parent_sha) {
        const struct dfit_gguf_str *have = NULL;
        ok = dfit_gguf_get_str(g, "dfit.parent.sha256", &have, &e) == 0 &&
             strcmp(have->data, parent_sha) == 0;
    }
    dfit_gguf_close(g);
    return ok;
}

/* True when converting path to `to` would change no tensor type. */
static int already_of_type(const char *path, enum dfit_type to, bool *same, struct dfit_err *err)
{
    struct dfit_gguf *g = NULL;
    int rc = dfit_gguf_open(path, &g, err);
    if (rc)
        return rc;
    *same = true;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct dfit_gguf_tensor *t = &g->tensors[i];
        if (t->type != (t->n_dims >= 2 ? to : DFIT_TYPE_F32))
            *same = false;
    }
    dfit_gguf_close(g);
    return 0;
}

/* "<cache>/<prefix>-<first 16 hex of sha256(key)>.gguf" */
static char *cache_path(const struct ctx *c, const char *prefix, const char *key, struct dfit_err *err)
{
    char hex[DFIT_SHA256_HEX_LEN + 1];
    char *path = NULL;
    if (dfit_sha256_buffer(key, strlen(key), hex, err))
        return NULL;
    if (asprintf(&path, "%s/%s-%.16s.gguf", c->vs->cache_dir, prefix, hex) < 0) {
        dfit_err_set(err, DFIT_ENOMEM, "out of memory");
        return NULL;
    }
    return path;
}

static void progress(const struct ctx *c, enum dfit_variant_event ev, const struct dfit_variant_file *f)
{
    if (c->opt && c->opt->progress)
        c->opt->progress(c->opt->user, ev, f);
}

/* ---- the base ------------------------------------------------------------------ */

static int materialize_base(struct ctx *c, struct dfit_err *err)
{
    struct dfit_variant_file *f = &c->vs->base;
    char preset[DFIT_SYNTH_PRESET_MAX];
    char key[512];
    struct dfit_synth_params sp = {.type = DFIT_TYPE_F32};
    struct dfit_gguf *g = NULL;
    int rc;
    if (c->base_done)
        return 0;
    if (!dfit_scenario_synth_base(c->s, preset, &sp.seed)) {
        /* a model file: check it is one */
        if (!(f->path = strdup(c->s->base)))
            return dfit_err_set(err, DFIT_ENOMEM, "out of memory");
        if ((rc = dfit_gguf_open(f->path, &g, err)))
            return dfit_err_prefix(err, "base model");
        dfit_gguf_close(g);
        goto done;
    }
    if ((rc = dfit_synth_preset(preset, &sp.shape, err)))
        return dfit_err_prefix(err, "base '%s'", c->s->base);
    const struct dfit_synth_shape *sh = &sp.shape;
    snprintf(key, sizeof key,
             "dfit variant cache %d\ngguf %d\nsynth\nshape %u %u %u %u %u %u %u %d %.9g %.9g\nseed %llu\n"
             "type %s\n", DFIT_VARIANT_CACHE_VERSION, DFIT_GGUF_VERSION, sh->n_embd, sh->n_layer, sh->n_ff,
             sh->n_head, sh->n_head_kv, sh->n_vocab, sh->n_ctx, sh->tied_output, (double)sh->rms_eps,
             (double)sh->rope_freq_base, (unsigned long long)sp.seed, dfit_type_info(sp.type)->name);
    char prefix[DFIT_SYNTH_PRESET_MAX + 32];
    snprintf(prefix, sizeof prefix, "synth-%s-%s", preset, dfit_type_info(sp.type)->name);
    if (!(f->path = cache_path(c, prefix, key, err)))
        return err ? err->code : DFIT_ENOMEM;
    if (!cache_valid(f->path, NULL)) {
        progress(c, DFIT_VARIANT_BUILDING, f);
        uint64_t t0 = dfit_now_ns();
        if ((rc = dfit_synth_write(&sp, f->path, err)))
            return dfit_err_prefix(err, "building base '%s'", c->s->base);
        f->build_ns = dfit_now_ns() - t0;
        f->built = true;
    }
done:
    if ((rc = file_info(f, err)))
        return rc;
    c->base_done = true;
    progress(c, DFIT_VARIANT_DONE, f);
    return 0;
}

/* ---- variants -------------------------------------------------------------------- */

/* A pruning or AWQ recipe: dfit_compress_file from the parent, cached by
 * the parent's SHA-256, the recipe and the calibration file's SHA-256. */
static int materialize_compress(struct ctx *c, const struct dfit_variant_spec *v, struct dfit_variant_file *f,
                                const struct dfit_variant_file *parent, struct dfit_err *err)
{
    struct dfit_compress_params cp = {.n_threads = c->opt ? c->opt->n_threads : 1};
    char calib_sha[DFIT_SHA256_HEX_LEN + 1] = "-";
    int rc;
    if (v->compress) {
        cp.have_to = true;
        dfit_type_from_name(v->compress, &cp.to);
    }
    cp.method = v->method && strcmp(v->method, "awq") == 0 ? DFIT_QUANT_AWQ : DFIT_QUANT_PLAIN;
    if (v->prune && (rc = dfit_prune_parse(v->prune, &cp.prune, err)))
        return dfit_err_prefix(err, "variant '%s'", v->name);
    cp.calib = v->calib;
    if (v->calib && strncmp(v->calib, "synth", 5) != 0 && (rc = dfit_sha256_file(v->calib, calib_sha, err)))
        return dfit_err_prefix(err, "variant '%s': calib", v->name);
    char key[1024], prefix[64];
    snprintf(key, sizeof key,
             "dfit variant cache %d\ngguf %d\ncompress\nparent %s\nto %s\nmethod %s\nprune %s\ncalib %s\n"
             "calib_sha256 %s\n",
             DFIT_VARIANT_CACHE_VERSION, DFIT_GGUF_VERSION, parent->sha256,
             cp.have_to ? dfit_type_info(cp.to)->name : "-", cp.method == DFIT_QUANT_AWQ ? "awq" : "plain",
             v->prune ? v->prune : "-", v->calib && strncmp(v->calib, "synth", 5) == 0 ? v->calib : "-", calib_sha);
    snprintf(prefix, sizeof prefix, "%s%s%s", cp.have_to ? dfit_type_info(cp.to)->name : "",
             cp.method == DFIT_QUANT_AWQ ? "-awq" : "", v->prune ? (cp.have_to ? "-pruned" : "pruned") : "");
    if (!(f->path = cache_path(c, prefix, key, err)))
        return err ? err->code : DFIT_ENOMEM;
    if (cache_valid(f->path, parent->sha256))
        return 0;
    progress(c, DFIT_VARIANT_BUILDING, f);
    uint64_t t0 = dfit_now_ns();
    if ((rc = dfit_compress_file(parent->path, f->path, &cp, NULL, err)))
        return dfit_err_prefix(err, "building variant '%s'", v->name);
    f->build_ns = dfit_now_ns() - t0;
    f->built = true;
    return 0;
}

static int materialize(struct ctx *c, int i, struct dfit_err *err)
{
    const struct dfit_variant_spec *v = &c->s->variants[i];
    struct dfit_variant_file *f = &c->vs->variants[i];
    const struct dfit_variant_file *parent;
    struct dfit_gguf *g = NULL;
    enum dfit_type to;
    int rc;
    if (c->state[i] == DONE)
        return 0;
    if (c->state[i] == BUSY)
        return dfit_err_set(err, DFIT_EINTERNAL, "variant '%s': its parents form a cycle", v->name);
    c->state[i] = BUSY;

    if (v->file) {
        if (!(f->path = strdup(v->file)))
            return dfit_err_set(err, DFIT_ENOMEM, "out of memory");
        if ((rc = dfit_gguf_open(f->path, &g, err)))
            return dfit_err_prefix(err, "variant '%s'", v->name);
        dfit_gguf_close(g);
        goto done;
    }
    if ((!v->compress && !v->prune) || (v->compress && dfit_type_from_name(v->compress, &to) != 0))
        return dfit_err_set(err, DFIT_EINTERNAL, "variant '%s': neither a file nor a known recipe", v->name);
    if (v->from) {
        const struct dfit_variant_spec *p = dfit_scenario_variant(c->s, v->from);
        if (!p)
            return dfit_err_set(err, DFIT_EINTERNAL, "variant '%s': no parent '%s'", v->name, v->from);
        f->parent = (int)(p - c->s->variants);
        if ((rc = materialize(c, f->parent, err)))
            return rc;
        parent = &c->vs->variants[f->parent];
    } else {
        f->parent = -1;
        if ((rc = materialize_base(c, err)))
            return rc;
        parent = &c->vs->base;
    }

    if (v->prune || (v->method && strcmp(v->method, "awq") == 0)) {
        if ((rc = materialize_compress(c, v, f, parent, err)))
            return rc;
        goto done;
    }
    bool same = false;
    if ((rc = already_of_type(parent->path, to, &same, err)))
        return dfit_err_prefix(err, "variant '%s': parent", v->name);
    if (same) {
        f->same_as_parent = true;
        if (!(f->path = strdup(parent->path)))
            return dfit_err_set(err, DFIT_ENOMEM, "out of memory");
        goto done;
    }
    char key[256];
    snprintf(key, sizeof key, "dfit variant cache %d\ngguf %d\nconvert\nparent %s\nto %s\n",
             DFIT_VARIANT_CACHE_VERSION, DFIT_GGUF_VERSION, parent->sha256, dfit_type_info(to)->name);
    if (!(f->path = cache_path(c, dfit_type_info(to)->name, key, err)))
        return err ? err->code : DFIT_ENOMEM;
    if (!cache_valid(f->path, parent->sha256)) {
        progress(c, DFIT_VARIANT_BUILDING, f);
        struct dfit_convert_params cp = {.to = to, .n_threads = c->opt ? c->opt->n_threads : 1};
        uint64_t t0 = dfit_now_ns();
        if ((rc = dfit_convert_file(parent->path, f->path, &cp, err)))
            return dfit_err_prefix(err, "building variant '%s'", v->name);
        f->build_ns = dfit_now_ns() - t0;
        f->built = true;
    }
done:
    if ((rc = file_info(f, err)))
        return rc;
    c->state[i] = DONE;
    progress(c, DFIT_VARIANT_DONE, f);
    return 0;
}

int dfit_variants_materialize(const struct dfit_scenario *s, const struct dfit_variant_options *opt,
                              struct dfit_variant_set **out, struct dfit_err *err)
{
    struct ctx c = {.s = s, .opt = opt};
    struct dfit_variant_set *vs = NULL;
    int lock = -1, rc;
    *out = NULL;

    const char *dir = opt && opt->cache_dir ? opt->cache_dir : getenv("DFIT_CACHE_DIR");
    if (!dir || !*dir)
        dir = DFIT_VARIANT_CACHE_DEFAULT;
    if (!(vs = calloc(1, sizeof *vs)) || !(vs->cache_dir = strdup(dir)) ||
        !(vs->variants = calloc((size_t)s->n_variants + 1, sizeof *vs->variants)) ||
        !(c.state = calloc((size_t)s->n_variants + 1, sizeof *c.state))) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "variants: out of memory");
        goto fail;
    }
    vs->n_variants = s->n_variants;
    vs->base.name = "base";
    vs->base.parent = -2;
    for (int i = 0; i < s->n_variants; i++) {
        vs->variants[i].name = s->variants[i].name;
        vs->variants[i].parent = -2;
    }
    c.vs = vs;

    if ((rc = mkdir_p(dir, err)))
        goto fail;
    char *lock_path = NULL;
    if (asprintf(&lock_path, "%s/.lock", dir) < 0) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "variants: out of memory");
        goto fail;
    }
    lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: cannot lock the cache: %s", lock_path, strerror(errno));
        free(lock_path);
        goto fail;
    }
    free(lock_path);

    int n = opt && opt->only ? opt->n_only : s->n_variants;
    for (int k = 0; k < n; k++) {
        int i = opt && opt->only ? opt->only[k] : k;
        if (i < 0 || i >= s->n_variants) {
            rc = dfit_err_set(err, DFIT_EINVAL, "variants: index %d out of range (%d variants)", i,
                              s->n_variants);
            goto fail;
        }
        if ((rc = materialize(&c, i, err)))
            goto fail;
    }
    close(lock);
    free(c.state);
    *out = vs;
    return 0;
fail:
    if (lock >= 0)
        close(lock);
    free(c.state);
    dfit_variants_free(vs);
    return rc;
}

void dfit_variants_free(struct dfit_variant_set *vs)
{
    if (!vs)
        return;
    for (int i = 0; vs->variants && i < vs->n_variants; i++)
        free(vs->variants[i].path);
    free(vs->variants);
    free(vs->base.path);
    free(vs->cache_dir);
    free(vs);
}

const struct dfit_variant_file *dfit_variants_find(const struct dfit_variant_set *vs, const char *name)
{
    for (int i = 0; vs && name && i < vs->n_variants; i++)
        if (strcmp(vs->variants[i].name, name) == 0)
            return &vs->variants[i];
    return NULL;
}
