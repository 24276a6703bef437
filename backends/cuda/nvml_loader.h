/* nvml_loader.h — NVML (the driver's management library) opened at run
 * time with dlopen("libnvidia-ml.so.1"), for the power, energy, clock,
 * temperature and device-sharing readings that go beside CUDA timings.
 * Where NVML is absent (no driver, a container without it) or a reading is
 * not supported by the device, it is recorded as unavailable with the
 * reason, never as a zero. Compiles without NVML's or CUDA's headers (the
 * few NVML types used are declared here by their documented ABI).
 * Non-goals: changing any device setting (clocks, power limits, modes).
 */
#ifndef DFIT_BACKENDS_CUDA_NVML_LOADER_H
#define DFIT_BACKENDS_CUDA_NVML_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

enum dfit_nvml_metric {
    DFIT_NVML_POWER_MW,      /* board power draw, milliwatts */
    DFIT_NVML_ENERGY_MJ,     /* energy counter since the driver loaded, millijoules */
    DFIT_NVML_SM_CLOCK_MHZ,  /* current SM clock */
    DFIT_NVML_MEM_CLOCK_MHZ, /* current memory clock */
    DFIT_NVML_TEMP_C,        /* GPU temperature, degrees Celsius */
    DFIT_NVML_OTHER_PROCS,   /* compute processes on the device other than this one */
    DFIT_NVML_N_METRICS
};

struct dfit_nvml_sample {
    uint64_t value[DFIT_NVML_N_METRICS];
    bool ok[DFIT_NVML_N_METRICS];
    char why[DFIT_NVML_N_METRICS][96]; /* the reason, when !ok */
};

struct dfit_nvml;

/* Opens NVML (lib: NULL for "libnvidia-ml.so.1") and the device with PCI
 * bus id pci_bus_id (as cudaDeviceGetPCIBusId gives it; NULL: NVML's device
 * `index`, which need not be CUDA's). Fails with DFIT_ENOTFOUND and the
 * reason ("NVML not available: libnvidia-ml.so.1: cannot open shared object
 * file: No such file or directory", "... nvmlInit: Driver Not Loaded"),
 * *out NULL then. */
int dfit_nvml_open(const char *lib, const char *pci_bus_id, unsigned index, struct dfit_nvml **out,
                   struct dfit_err *err);

/* Reads every metric; one that fails is marked !ok with NVML's reason. */
void dfit_nvml_sample(struct dfit_nvml *n, struct dfit_nvml_sample *s);

/* "power_mw", "energy_mj", "sm_clock_mhz", "mem_clock_mhz", "temp_c",
 * "other_procs". */
const char *dfit_nvml_metric_name(enum dfit_nvml_metric m);

void dfit_nvml_close(struct dfit_nvml *n); /* accepts NULL */

#endif
