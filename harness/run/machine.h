/* machine.h — the state of the machine a run measures on, and how this
 * dfit binary was built, in the store's records (struct dfit_machine_info,
 * struct dfit_run_info).
 *
 * Machine: hostname and kernel (uname, gethostname), CPU model and flags
 * (/proc/cpuinfo), online logical CPUs (sysconf) and physical cores (core
 * ids per package in /proc/cpuinfo, or sysfs topology), the cpufreq scaling
 * governor of cpu0 ("unavailable" when the kernel exposes none, as in most
 * VMs), load averages (/proc/loadavg), total and available memory
 * (/proc/meminfo). A value that cannot be read stays unknown (NULL, 0,
 * NAN), never invented.
 * Build: version, commit, build type and compiler from config.h, and the
 * optimisation the compiler saw (__OPTIMIZE__, __OPTIMIZE_SIZE__, NDEBUG);
 * whether the build counts as optimised for valid measurements.
 * Non-goals: changing the machine (pinning, governors), GPU state.
 */
#ifndef DFIT_RUN_MACHINE_H
#define DFIT_RUN_MACHINE_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"
#include "util/err.h"

/* The machine's state; info's strings point into this struct (and its
 * cpu_flags_ block), so it must stay where it is while info is used. */
struct dfit_machine {
    struct dfit_machine_info info;
    char hostname_[256];
    char kernel_[512];
    char cpu_model_[256];
    char governor_[64];
    char *cpu_flags_;            /* malloc'd; dfit_machine_clear frees it */
};

/* Reads the machine's state into *m (overwritten). Unreadable sources
 * leave their fields unknown; fails only with DFIT_ENOMEM (the flags line),
 * after which *m is cleared. */
int dfit_machine_read(struct dfit_machine *m, struct dfit_err *err);
/* Frees what m owns and zeroes it. Accepts NULL. */
void dfit_machine_clear(struct dfit_machine *m);

/* The 1, 5 and 15 minute load averages; NAN each when /proc/loadavg cannot
 * be read (returns DFIT_EIO then, naming the file). */
int dfit_machine_loadavg(double out[3], struct dfit_err *err);

/* Fills the NULL build fields of *info from this binary: DFIT_VERSION,
 * DFIT_GIT_COMMIT, DFIT_BUILD_TYPE, DFIT_COMPILER and dfit_build_flags().
 * The strings are static. */
void dfit_machine_build_info(struct dfit_run_info *info);
/* "buildtype=release optimize=yes ndebug=yes" — what the compiler saw when
 * it compiled dfit's measurement code (meson does not pass its command
 * line to config.h). Static string. */
const char *dfit_build_flags(void);

/* Whether a build of this type, compiled with or without optimisation,
 * gives valid measurements: "release" and "debugoptimized" (when the
 * compiler optimised), "plain" and "custom" only when the compiler
 * optimised (CFLAGS such as -O2), never "debug" or "minsize" (-Os trades
 * speed for size). When not, why (if non-NULL) gets a reason of at most
 * cap bytes. */
bool dfit_build_optimized(const char *build_type, bool compiler_optimized, char *why, size_t cap);
/* The same question for this binary. */
bool dfit_build_optimized_here(char *why, size_t cap);

#endif
