/* cupti_loader.c — CUPTI through dlopen (see cupti_loader.h): kernel
 * activity records go to buffers CUPTI asks for through callbacks (on its
 * own threads), whose completed records are summed under a lock. The
 * library stays loaded once opened (CUPTI keeps its callbacks registered
 * for the life of the process).
 * Non-goals: the callback and profiling APIs, records other than kernels.
 */
#include "cuda/cupti_loader.h"

#include <cupti.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DFIT_CUDA_LIBDIR
#define DFIT_CUDA_LIBDIR "/usr/local/cuda/lib64"
#endif

#define BUF_BYTES ((size_t)1 << 20)

struct cupti_fns {
    CUptiResult (*get_version)(uint32_t *);
    CUptiResult (*result_string)(CUptiResult, const char **);
    CUptiResult (*register_callbacks)(CUpti_BuffersCallbackRequestFunc,
                                      CUpti_BuffersCallbackCompleteFunc);
    CUptiResult (*enable)(CUpti_ActivityKind);
    CUptiResult (*disable)(CUpti_ActivityKind);
    CUptiResult (*flush_all)(uint32_t);
    CUptiResult (*next_record)(uint8_t *, size_t, CUpti_Activity **);
};

/* Process-wide state: CUPTI's activity API has no per-client handle. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cupti_fns g_fns;
static bool g_loaded, g_registered, g_open;
static uint64_t g_kernels, g_kernel_ns;

struct dfit_cupti {
    uint32_t version;
};

static void load_fn(void *fn, void *dl, const char *name)
{
    void *p = dlsym(dl, name);
    memcpy(fn, &p, sizeof p);
}

static const char *res_str(CUptiResult r)
{
    const char *s = NULL;
    if (!g_fns.result_string || g_fns.result_string(r, &s) != CUPTI_SUCCESS || !s)
        return "unknown CUPTI error";
    return s;
}

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records)
{
    *buffer = aligned_alloc(8, BUF_BYTES);
    *size = *buffer ? BUF_BYTES : 0;
    *max_records = 0;
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size,
                                      size_t valid)
{
    (void)ctx;
    (void)stream;
    (void)size;
    uint64_t n = 0, ns = 0;
    CUpti_Activity *rec = NULL;
    while (g_fns.next_record(buffer, valid, &rec) == CUPTI_SUCCESS) {
        if (rec->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL ||
            rec->kind == CUPTI_ACTIVITY_KIND_KERNEL) {
            const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)rec;
            n++;
            if (k->end > k->start)
                ns += k->end - k->start;
        }
    }
    free(buffer);
    pthread_mutex_lock(&g_lock);
    g_kernels += n;
    g_kernel_ns += ns;
    pthread_mutex_unlock(&g_lock);
}

/* Loads the library once; 0 or DFIT_ENOTFOUND. Called under g_lock. */
static int load(const char *const *names, struct dfit_err *err)
{
    if (g_loaded)
        return 0;
    /* libcupti.so.<CUDA major>, as the toolkit built against names it */
    char soname[32], path[sizeof DFIT_CUDA_LIBDIR + 32];
    snprintf(soname, sizeof soname, "libcupti.so.%d", CUDA_VERSION / 1000);
    snprintf(path, sizeof path, "%s/%s", DFIT_CUDA_LIBDIR, soname);
    const char *const defaults[] = {soname, path, NULL};
    char why[768] = "";
    size_t used = 0;
    for (const char *const *n = names ? names : defaults; *n; n++) {
        void *dl = dlopen(*n, RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
            const char *e = dlerror();
            int w = snprintf(why + used, sizeof why - used, "%s%s", used ? "; " : "", e ? e : *n);
            if (w > 0)
                used = used + (size_t)w < sizeof why ? used + (size_t)w : sizeof why - 1;
            continue;
        }
        struct cupti_fns f;
        load_fn(&f.get_version, dl, "cuptiGetVersion");
        load_fn(&f.result_string, dl, "cuptiGetResultString");
        load_fn(&f.register_callbacks, dl, "cuptiActivityRegisterCallbacks");
        load_fn(&f.enable, dl, "cuptiActivityEnable");
        load_fn(&f.disable, dl, "cuptiActivityDisable");
        load_fn(&f.flush_all, dl, "cuptiActivityFlushAll");
        load_fn(&f.next_record, dl, "cuptiActivityGetNextRecord");
        if (!f.get_version || !f.result_string || !f.register_callbacks || !f.enable ||
            !f.disable || !f.flush_all || !f.next_record) {
            dlclose(dl);
            return dfit_err_set(err, DFIT_ENOTFOUND,
                                "CUPTI not available: %s lacks the activity API", *n);
        }
        g_fns = f;
        g_loaded = true;
        return 0;
    }
    return dfit_err_set(err, DFIT_ENOTFOUND, "CUPTI not available: %s", why);
}

int dfit_cupti_open(const char *const *names, struct dfit_cupti **out, struct dfit_err *err)
{
    *out = NULL;
    pthread_mutex_lock(&g_lock);
    int rc = 0;
    if (g_open) {
        rc = dfit_err_set(err, DFIT_EEXIST, "CUPTI: already open in this process");
        goto out;
    }
    if ((rc = load(names, err)))
        goto out;
    uint32_t version = 0;
    CUptiResult r = g_fns.get_version(&version);
    if (r != CUPTI_SUCCESS) {
        rc = dfit_err_set(err, DFIT_ENOTFOUND, "CUPTI not available: cuptiGetVersion: %s",
                          res_str(r));
        goto out;
    }
    if (!g_registered) {
        r = g_fns.register_callbacks(buffer_requested, buffer_completed);
        if (r != CUPTI_SUCCESS) {
            rc = dfit_err_set(err, DFIT_ENOTFOUND,
                              "CUPTI not available: cuptiActivityRegisterCallbacks: %s",
                              res_str(r));
            goto out;
        }
        g_registered = true;
    }
    /* kernel records need the driver: try them once now, so that a CUPTI
     * that cannot collect is unavailable at open, with the reason */
    r = g_fns.enable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
    if (r != CUPTI_SUCCESS) {
        rc = dfit_err_set(err, DFIT_ENOTFOUND,
                          "CUPTI not available: cuptiActivityEnable(kernels): %s", res_str(r));
        goto out;
    }
    g_fns.disable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
    struct dfit_cupti *c = calloc(1, sizeof *c);
    if (!c) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "CUPTI: out of memory");
        goto out;
    }
    c->version = version;
    g_open = true;
    *out = c;
out:
    pthread_mutex_unlock(&g_lock);
    return rc;
}

int dfit_cupti_begin(struct dfit_cupti *c, struct dfit_err *err)
{
    (void)c;
    pthread_mutex_lock(&g_lock);
    g_kernels = 0;
    g_kernel_ns = 0;
    pthread_mutex_unlock(&g_lock);
    CUptiResult r = g_fns.enable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
    if (r != CUPTI_SUCCESS)
        return dfit_err_set(err, DFIT_EUNSUPPORTED, "CUPTI: cuptiActivityEnable(kernels): %s",
                            res_str(r));
    return 0;
}

int dfit_cupti_end(struct dfit_cupti *c, uint64_t *n_kernels, uint64_t *kernel_ns,
                   struct dfit_err *err)
{
    (void)c;
    *n_kernels = 0;
    *kernel_ns = 0;
    CUptiResult r = g_fns.flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    CUptiResult r2 = g_fns.disable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
    if (r != CUPTI_SUCCESS)
        return dfit_err_set(err, DFIT_EINTERNAL, "CUPTI: cuptiActivityFlushAll: %s", res_str(r));
    if (r2 != CUPTI_SUCCESS)
        return dfit_err_set(err, DFIT_EINTERNAL, "CUPTI: cuptiActivityDisable: %s", res_str(r2));
    pthread_mutex_lock(&g_lock);
    *n_kernels = g_kernels;
    *kernel_ns = g_kernel_ns;
    pthread_mutex_unlock(&g_lock);
    return 0;
}

uint32_t dfit_cupti_version(const struct dfit_cupti *c)
{
    return c ? c->version : 0;
}

void dfit_cupti_close(struct dfit_cupti *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g_lock);
    g_open = false;
    pthread_mutex_unlock(&g_lock);
    free(c);
}
