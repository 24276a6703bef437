/* runner_build.c — building the run's variants in a child process.
 *
 * Synthesising and converting use worker threads and large buffers; glibc
 * keeps what they leave behind (a 64 MiB arena reservation per thread
 * arena, cached thread stacks, a grown heap) for the life of the process.
 * A cell worker forked afterwards would inherit that address space, and its
 * memory cap (RLIMIT_AS) would count it — so the same cell would fit or
 * not depending on whether this invocation built the variants. The builder
 * therefore runs in a child (printing its own progress lines); it sends the
 * variant files back over the pipe (path, SHA-256, size, lineage) and the
 * parent rebuilds the variant set from them without touching the files.
 * Non-goals: how variants are built (variants.h).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/runner_impl.h"
#include "run/worker.h"

struct file_rec {
    char path[PATH_MAX];
    char sha256[DFIT_SHA256_HEX_LEN + 1];
    uint64_t file_bytes, build_ns;
    int32_t parent;
    uint8_t has_path, built, same_as_parent;
};

struct build_reply {
    struct dfit_err err;          /* code 0: built */
    int32_t n_variants;
    struct file_rec base;
    struct file_rec variants[];   /* [n_variants] */
};

static size_t reply_size(int n)
{
    return sizeof(struct build_reply) + (size_t)n * sizeof(struct file_rec);
}

/* ---- progress lines (printed by the child) ------------------------------------- */

/* The scenario variant a progress event is about, or NULL for the base. */
static const struct dfit_variant_spec *event_variant(const struct dfit_scenario *s,
                                                     const struct dfit_variant_file *f)
{
    const struct dfit_variant_spec *v = dfit_scenario_variant(s, f->name);
    if (v && v->file && !(f->path && strcmp(f->path, v->file) == 0))
        return NULL; /* the base, and a file variant that happens to be named "base" */
    if (v && !v->file && f->parent == -2)
        return NULL;
    return v;
}

static void on_variant(void *user, enum dfit_variant_event ev, const struct dfit_variant_file *f)
{
    struct runner *r = user;
    const struct dfit_variant_spec *v = event_variant(r->scenario, f);
    char what[320];
    if (!v)
        snprintf(what, sizeof what, "base model %s", r->scenario->base);
    else if (v->file)
        snprintf(what, sizeof what, "variant %s (file)", v->name);
    else
        snprintf(what, sizeof what, "variant %s (%s%s%s%s%s%s from %s)", v->name, v->prune ? "prune " : "",
                 v->prune ? v->prune : "", v->prune && v->compress ? ", " : "", v->compress ? "compress " : "",
                 v->compress ? v->compress : "", v->method ? (strcmp(v->method, "awq") ? "" : " awq") : "",
                 v->from ? v->from : "base");
    if (ev == DFIT_VARIANT_BUILDING)
        dfit_progress_step(r->progress, "building %s …", what);
    else if (f->built)
        dfit_progress_step_done(r->progress, "%.1f s", (double)f->build_ns / 1e9);
    else if (f->same_as_parent)
        dfit_progress_note(r->progress, "%s: its parent's file, nothing to convert", what);
    else
        dfit_progress_note(r->progress, "reusing %s: %s", what, f->path ? f->path : "?");
}

/* ---- the child ------------------------------------------------------------------------ */

static void to_rec(const struct dfit_variant_file *f, struct file_rec *rec)
{
    memset(rec, 0, sizeof *rec);
    if (f->path) {
        snprintf(rec->path, sizeof rec->path, "%s", f->path);
        rec->has_path = 1;
    }
    memcpy(rec->sha256, f->sha256, sizeof rec->sha256);
    rec->sha256[DFIT_SHA256_HEX_LEN] = '\0';
    rec->file_bytes = f->file_bytes;
    rec->build_ns = f->build_ns;
    rec->parent = f->parent;
    rec->built = f->built;
    rec->same_as_parent = f->same_as_parent;
}

static int build_child(void *arg, int fd)
{
    struct runner *r = arg;
    const int n = r->scenario->n_variants;
    struct build_reply *rep = calloc(1, reply_size(n));
    if (!rep)
        return 1;
    long n_cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const struct dfit_variant_options vo = {
        .cache_dir = r->opt->cache_dir,
        .n_threads = n_cpus > 0 ? (int)n_cpus : 1,
        .only = r->plan->build_order,
        .n_only = r->plan->n_build,
        .progress = on_variant,
        .user = r,
    };
    struct dfit_variant_set *vs = NULL;
    int rc = dfit_variants_materialize(r->scenario, &vo, &vs, &rep->err);
    rep->n_variants = n;
    if (!rc) {
        for (int i = 0; i < n; i++)
            if (vs->variants[i].path && strlen(vs->variants[i].path) >= PATH_MAX - 1)
                rc = dfit_err_set(&rep->err, DFIT_ERANGE, "variant '%s': path too long",
                                  vs->variants[i].name);
    }
    if (!rc) {
        to_rec(&vs->base, &rep->base);
        for (int i = 0; i < n; i++)
            to_rec(&vs->variants[i], &rep->variants[i]);
    }
    dfit_variants_free(vs);
    fflush(NULL);
    dfit_worker_reply(fd, rep, reply_size(n));
    free(rep);
    return rc ? 1 : 0;
}

/* ---- the parent ------------------------------------------------------------------------- */

static int from_rec(const struct file_rec *rec, const char *name, struct dfit_variant_file *f)
{
    f->name = name;
    f->path = NULL;
    if (rec->has_path && !(f->path = strdup(rec->path)))
        return DFIT_ENOMEM;
    memcpy(f->sha256, rec->sha256, sizeof f->sha256);
    f->file_bytes = rec->file_bytes;
    f->build_ns = rec->build_ns;
    f->parent = rec->parent;
    f->built = rec->built;
    f->same_as_parent = rec->same_as_parent;
    return 0;
}

static int rebuild_set(struct runner *r, const struct build_reply *rep, struct dfit_err *err)
{
    const struct dfit_scenario *s = r->scenario;
    const char *dir = r->opt->cache_dir ? r->opt->cache_dir : getenv("DFIT_CACHE_DIR");
    if (!dir || !*dir)
        dir = DFIT_VARIANT_CACHE_DEFAULT;
    struct dfit_variant_set *vs = calloc(1, sizeof *vs);
    int rc = DFIT_ENOMEM;
    if (!vs || !(vs->cache_dir = strdup(dir)) ||
        !(vs->variants = calloc((size_t)s->n_variants + 1, sizeof *vs->variants)))
        goto fail;
    vs->n_variants = s->n_variants;
    if ((rc = from_rec(&rep->base, "base", &vs->base)))
        goto fail;
    for (int i = 0; i < s->n_variants; i++)
        if ((rc = from_rec(&rep->variants[i], s->variants[i].name, &vs->variants[i])))
            goto fail;
    r->variants = vs;
    return 0;
fail:
    dfit_variants_free(vs);
    return dfit_err_set(err, DFIT_ENOMEM, "variants: out of memory");
}

int dfit_runner_build_variants(struct runner *r, struct dfit_runner_result *res,
                               struct dfit_err *err)
{
    const int n = r->scenario->n_variants;
    struct build_reply *rep = calloc(1, reply_size(n));
    struct dfit_worker_status st;
    char sig[96];
    if (!rep)
        return dfit_err_set(err, DFIT_ENOMEM, "variants: out of memory");
    const struct dfit_worker_opts o = {.time_limit_s = INFINITY};
    int rc = dfit_worker_run(build_child, r, &o, rep, reply_size(n), &st, err);
    if (rc)
        goto out;
    bool got = st.n_reply == reply_size(n) && rep->n_variants == n;
    if (st.end == DFIT_WORKER_INTERRUPTED) {
        res->interrupted_by = dfit_worker_interrupted() ? dfit_worker_interrupted() : SIGINT;
        rc = dfit_err_set(err, DFIT_EINVAL, "interrupted by %s while building the variants",
                          dfit_worker_signal_name(res->interrupted_by, sig, sizeof sig));
    } else if (got && rep->err.code) {
        *err = rep->err;
        err->msg[sizeof err->msg - 1] = '\0';
        rc = err->code;
    } else if (st.end == DFIT_WORKER_SIGNALED) {
        rc = dfit_err_set(err, DFIT_EINTERNAL, "the variant builder was killed by %s",
                          dfit_worker_signal_name(st.signal, sig, sizeof sig));
    } else if (!got || st.exit_status != 0) {
        rc = dfit_err_set(err, DFIT_EINTERNAL, "the variant builder exited with status %d without "
                          "its result", st.exit_status);
    } else {
        rc = rebuild_set(r, rep, err);
    }
out:
    free(rep);
    return rc;
}
