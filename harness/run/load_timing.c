/* load_timing.c — a timed, broken-down load of a variant on a backend, and
 * page-cache eviction for cold loads (see load_timing.h).
 * Non-goals: backend choice, the workload, statistics.
 */
#include "run/load_timing.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/llama.h"
#include "util/clock.h"

int dfit_load_evict(const char *path, struct dfit_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dfit_err_set(err, DFIT_EIO, "%s: cannot open to evict from the page cache: %s", path,
                            strerror(errno));
    /* dirty pages cannot be dropped: write them back first */
    if (fdatasync(fd) != 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        return dfit_err_set(err, DFIT_EIO, "%s: fdatasync: %s", path, strerror(e));
    }
    int e = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    if (e != 0)
        return dfit_err_set(err, DFIT_EIO, "%s: posix_fadvise(POSIX_FADV_DONTNEED): %s", path,
                            strerror(e));
    return 0;
}

void dfit_loaded_close(struct dfit_loaded *l)
{
    if (!l)
        return;
    if (l->ctx)
        l->ops->unload(l->ctx);
    dfit_model_free(l->m); /* closes the GGUF, which does not own the mapping */
    if (l->map)
        munmap(l->map, l->map_bytes);
    memset(l, 0, sizeof *l);
}

/* open + fstat + mmap. */
static int map_file(const char *path, struct dfit_loaded *l, struct dfit_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dfit_err_set(err, errno == ENOMEM ? DFIT_ENOMEM : DFIT_EIO, "%s: open: %s", path,
                            strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return dfit_err_set(err, DFIT_EIO, "%s: fstat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
        close(fd);
        return dfit_err_set(err, DFIT_EIO, "%s: not a regular non-empty file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return dfit_err_set(err, DFIT_ENOMEM, "%s: too large to map", path);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return dfit_err_set(err, e == ENOMEM ? DFIT_ENOMEM : DFIT_EIO, "%s: mmap of %lld bytes: %s",
                            path, (long long)st.st_size, strerror(e));
    l->map = map;
    l->map_bytes = (size_t)st.st_size;
    return 0;
}

static int first_forward(struct dfit_loaded *l, int32_t token, struct dfit_err *err)
{
    const uint32_t n_vocab = l->m->hp.n_vocab;
    if (token < 0 || (uint32_t)token >= n_vocab)
        return dfit_err_set(err, DFIT_EINVAL, "first token id %" PRId32 " not in [0, %" PRIu32 ")",
                            token, n_vocab);
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    if (!logits)
        return dfit_err_set(err, DFIT_ENOMEM, "out of memory for %" PRIu32 " logits", n_vocab);
    const int32_t pos = 0, seq = 0;
    struct dfit_batch b = {.n_tokens = 1, .token = &token, .pos = &pos, .seq = &seq, .want = NULL};
    int rc = l->ops->forward(l->ctx, &b, logits, err);
    if (!rc && l->ops->sync)
        l->ops->sync(l->ctx);
    free(logits);
    if (!rc)
        l->ops->seq_reset(l->ctx, -1);
    return rc;
}

int dfit_load_timed(const char *path, const struct dfit_backend_ops *ops,
                    const struct dfit_backend_params *bp, int32_t first_token,
                    struct dfit_loaded *out, struct dfit_load_times *t, struct dfit_err *err)
{
    memset(out, 0, sizeof *out);
    memset(t, 0, sizeof *t);
    out->ops = ops;
    struct dfit_gguf *g = NULL;
    int rc;

    const uint64_t t0 = dfit_now_ns();
    if ((rc = map_file(path, out, err)))
        goto fail;
    const uint64_t t1 = dfit_now_ns();
    if ((rc = dfit_gguf_open_buffer(out->map, out->map_bytes, path, &g, err)))
        goto fail;
    if ((rc = dfit_model_from_gguf(g, &out->m, err)))
        goto fail;
    g = NULL; /* owned by the model now */
    const uint64_t t2 = dfit_now_ns();
    if ((rc = ops->load(out->m, bp, &out->ctx, &out->report, err))) {
        out->ctx = NULL;
        dfit_err_prefix(err, "%s", path);
        goto fail;
    }
    if (ops->sync)
        ops->sync(out->ctx);
    const uint64_t t3 = dfit_now_ns();
    if ((rc = first_forward(out, first_token, err))) {
        dfit_err_prefix(err, "%s: first forward", path);
        goto fail;
    }
    const uint64_t t4 = dfit_now_ns();
    t->open_ns = t1 - t0;
    t->validate_ns = t2 - t1;
    t->prepare_ns = t3 - t2;
    t->first_forward_ns = t4 - t3;
    t->total_ns = t4 - t0;
    return 0;
fail:
    dfit_gguf_close(g);
    dfit_loaded_close(out);
    memset(t, 0, sizeof *t);
    return rc;
}
