/* nvml_loader.c — NVML through dlopen (see nvml_loader.h). The handful of
 * NVML types are declared here from NVML's documented, stable ABI, so no
 * NVML header is needed to build.
 * Non-goals: events, MIG, per-process accounting.
 */
#include "cuda/nvml_loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int nvml_ret;                 /* nvmlReturn_t */
typedef struct nvml_dev_st *nvml_dev; /* nvmlDevice_t */
#define NVML_SUCCESS 0
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_CLOCK_SM 1
#define NVML_CLOCK_MEM 2
#define NVML_TEMPERATURE_GPU 0

struct nvml_proc { /* nvmlProcessInfo_t (as filled by ..._v3) */
    unsigned int pid;
    unsigned long long used_gpu_memory;
    unsigned int gpu_instance_id;
    unsigned int compute_instance_id;
};

struct dfit_nvml {
    void *dl;
    nvml_dev dev;
    nvml_ret (*shutdown)(void);
    const char *(*error_string)(nvml_ret);
    nvml_ret (*power)(nvml_dev, unsigned int *);
    nvml_ret (*energy)(nvml_dev, unsigned long long *);
    nvml_ret (*clock)(nvml_dev, int, unsigned int *);
    nvml_ret (*temp)(nvml_dev, int, unsigned int *);
    nvml_ret (*procs)(nvml_dev, unsigned int *, struct nvml_proc *);
};

/* *fn = the function `name` of dl, or NULL (POSIX lets data and function
 * pointers convert; memcpy keeps -Wpedantic quiet). */
static void load_fn(void *fn, void *dl, const char *name)
{
    void *p = dlsym(dl, name);
    memcpy(fn, &p, sizeof p);
}

#define LOAD(field, name) load_fn(&n->field, n->dl, name)

static const char *ret_str(const struct dfit_nvml *n, nvml_ret r)
{
    const char *s = n->error_string ? n->error_string(r) : NULL;
    return s ? s : "unknown NVML error";
}

int dfit_nvml_open(const char *lib, const char *pci_bus_id, unsigned index, struct dfit_nvml **out,
                   struct dfit_err *err)
{
    *out = NULL;
    const char *name = lib ? lib : "libnvidia-ml.so.1";
    struct dfit_nvml *n = calloc(1, sizeof *n);
    if (!n)
        return dfit_err_set(err, DFIT_ENOMEM, "NVML: out of memory");
    n->dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!n->dl) {
        const char *e = dlerror();
        free(n);
        return dfit_err_set(err, DFIT_ENOTFOUND, "NVML not available: %s", e ? e : name);
    }
    nvml_ret (*init)(void) = NULL;
    nvml_ret (*by_index)(unsigned int, nvml_dev *) = NULL;
    nvml_ret (*by_pci)(const char *, nvml_dev *) = NULL;
    load_fn(&init, n->dl, "nvmlInit_v2");
    load_fn(&by_index, n->dl, "nvmlDeviceGetHandleByIndex_v2");
    load_fn(&by_pci, n->dl, "nvmlDeviceGetHandleByPciBusId_v2");
    LOAD(shutdown, "nvmlShutdown");
    LOAD(error_string, "nvmlErrorString");
    LOAD(power, "nvmlDeviceGetPowerUsage");
    LOAD(energy, "nvmlDeviceGetTotalEnergyConsumption");
    LOAD(clock, "nvmlDeviceGetClockInfo");
    LOAD(temp, "nvmlDeviceGetTemperature");
    LOAD(procs, "nvmlDeviceGetComputeRunningProcesses_v3");
    if (!init || !by_index || !by_pci || !n->shutdown) {
        dlclose(n->dl);
        free(n);
        return dfit_err_set(err, DFIT_ENOTFOUND,
                            "NVML not available: %s lacks nvmlInit_v2 or the device lookups", name);
    }
    nvml_ret r = init();
    if (r != NVML_SUCCESS) {
        int rc = dfit_err_set(err, DFIT_ENOTFOUND, "NVML not available: nvmlInit: %s", ret_str(n, r));
        dlclose(n->dl);
        free(n);
        return rc;
    }
    r = pci_bus_id ? by_pci(pci_bus_id, &n->dev) : by_index(index, &n->dev);
    if (r != NVML_SUCCESS) {
        int rc = pci_bus_id ? dfit_err_set(err, DFIT_ENOTFOUND, "NVML: device at PCI %.32s: %s",
                                           pci_bus_id, ret_str(n, r))
                            : dfit_err_set(err, DFIT_ENOTFOUND, "NVML: device %u: %s", index,
                                           ret_str(n, r));
        n->shutdown();
        dlclose(n->dl);
        free(n);
        return rc;
    }
    *out = n;
    return 0;
}

const char *dfit_nvml_metric_name(enum dfit_nvml_metric m)
{
    static const char *const names[DFIT_NVML_N_METRICS] = {
        "power_mw", "energy_mj", "sm_clock_mhz", "mem_clock_mhz", "temp_c", "other_procs"};
    return (unsigned)m < DFIT_NVML_N_METRICS ? names[m] : "?";
}

static void set(struct dfit_nvml_sample *s, const struct dfit_nvml *n, int m, nvml_ret r,
                uint64_t v, const char *fn)
{
    s->ok[m] = r == NVML_SUCCESS;
    s->value[m] = s->ok[m] ? v : 0;
    if (!s->ok[m])
        snprintf(s->why[m], sizeof s->why[m], "%s: %s", fn, ret_str(n, r));
}

/* Compute processes on the device whose pid is not ours. */
static nvml_ret other_procs(const struct dfit_nvml *n, uint64_t *count)
{
    unsigned int cnt = 0;
    nvml_ret r = n->procs(n->dev, &cnt, NULL);
    if (r == NVML_SUCCESS) {
        *count = 0;
        return r;
    }
    if (r != NVML_ERROR_INSUFFICIENT_SIZE)
        return r;
    cnt += 8; /* room for processes that start meanwhile */
    struct nvml_proc *p = calloc(cnt, sizeof *p);
    if (!p)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    r = n->procs(n->dev, &cnt, p);
    if (r == NVML_SUCCESS) {
        uint64_t k = 0;
        for (unsigned int i = 0; i < cnt; i++)
            if (p[i].pid != (unsigned int)getpid())
                k++;
        *count = k;
    }
    free(p);
    return r;
}

void dfit_nvml_sample(struct dfit_nvml *n, struct dfit_nvml_sample *s)
{
    memset(s, 0, sizeof *s);
    const nvml_ret missing = 13; /* NVML_ERROR_FUNCTION_NOT_FOUND */
    unsigned int u = 0;
    unsigned long long e = 0;
    uint64_t k = 0;
    nvml_ret r = n->power ? n->power(n->dev, &u) : missing;
    set(s, n, DFIT_NVML_POWER_MW, r, u, "nvmlDeviceGetPowerUsage");
    r = n->energy ? n->energy(n->dev, &e) : missing;
    set(s, n, DFIT_NVML_ENERGY_MJ, r, e, "nvmlDeviceGetTotalEnergyConsumption");
    r = n->clock ? n->clock(n->dev, NVML_CLOCK_SM, &u) : missing;
    set(s, n, DFIT_NVML_SM_CLOCK_MHZ, r, u, "nvmlDeviceGetClockInfo(SM)");
    r = n->clock ? n->clock(n->dev, NVML_CLOCK_MEM, &u) : missing;
    set(s, n, DFIT_NVML_MEM_CLOCK_MHZ, r, u, "nvmlDeviceGetClockInfo(MEM)");
    r = n->temp ? n->temp(n->dev, NVML_TEMPERATURE_GPU, &u) : missing;
    set(s, n, DFIT_NVML_TEMP_C, r, u, "nvmlDeviceGetTemperature");
    r = n->procs ? other_procs(n, &k) : missing;
    set(s, n, DFIT_NVML_OTHER_PROCS, r, k, "nvmlDeviceGetComputeRunningProcesses_v3");
}

void dfit_nvml_close(struct dfit_nvml *n)
{
    if (!n)
        return;
    n->shutdown();
    dlclose(n->dl);
    free(n);
}
