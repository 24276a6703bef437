/* registry.c — the static table of compiled-in backends. */
#include "backend.h"

#include "config.h"

#include <string.h>


/* Each backend defines one `const struct dfit_backend_ops dfit_backend_<name>`;
 * a backend that needs an optional toolchain is listed under its config.h
 * switch (e.g. `#if HAVE_CUDA`). */
extern const struct dfit_backend_ops dfit_backend_cpu;
#if HAVE_CUDA
extern const struct dfit_backend_ops dfit_backend_cuda;
#endif

static const struct dfit_backend_ops *const backends[] = {
    &dfit_backend_cpu,
#if HAVE_CUDA
    &dfit_backend_cuda,
#endif
};

size_t dfit_backend_count(void)
{
    return sizeof backends / sizeof backends[0];
}

const struct dfit_backend_ops *dfit_backend_at(size_t i)
{
    return i < dfit_backend_count() ? backends[i] : NULL;
}

const struct dfit_backend_ops *dfit_backend_find(const char *name)
{
    for (size_t i = 0; name && i < dfit_backend_count(); i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}
