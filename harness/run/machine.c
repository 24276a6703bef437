/* machine.c — reads the machine's state and this binary's build (see
 * machine.h) from /proc, /sys, uname and config.h.
 * Non-goals: changing the machine, GPU state.
 */
#include "run/machine.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config.h"

/* ---- small readers ------------------------------------------------------- */

/* Copies the first line of path (without its newline) into buf; false when
 * the file cannot be read or is empty. */
static bool read_line(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    if (!ok)
        return false;
    buf[strcspn(buf, "\n")] = '\0';
    return buf[0] != '\0';
}

/* The value after "key<spaces>:" on a /proc/cpuinfo line, or NULL. */
static const char *cpuinfo_value(const char *line, const char *key)
{
    size_t n = strlen(key);
    if (strncmp(line, key, n) != 0)
        return NULL;
    const char *p = line + n;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

static void copy_trimmed(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
    dst[strcspn(dst, "\n")] = '\0';
    size_t n = strlen(dst);
    while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\t'))
        dst[--n] = '\0';
}

/* Physical cores from the sysfs topology: distinct (package, core) pairs
 * over the online CPUs; 0 when unknown. */
static int cores_from_sysfs(int n_cpus)
{
    enum { MAX_PAIRS = 4096 };
    static long pairs[MAX_PAIRS][2];
    int n = 0;
    for (int cpu = 0; cpu < n_cpus && cpu < MAX_PAIRS; cpu++) {
        char path[128], buf[32];
        long pkg, core;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id",
                 cpu);
        if (!read_line(path, buf, sizeof buf))
            return 0;
        pkg = strtol(buf, NULL, 10);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        if (!read_line(path, buf, sizeof buf))
            return 0;
        core = strtol(buf, NULL, 10);
        bool seen = false;
        for (int i = 0; i < n && !seen; i++)
            seen = pairs[i][0] == pkg && pairs[i][1] == core;
        if (!seen) {
            pairs[n][0] = pkg;
            pairs[n][1] = core;
            n++;
        }
    }
    return n;
}

/* Model, flags and physical cores from /proc/cpuinfo. */
static int read_cpuinfo(struct dfit_machine *m, struct dfit_err *err)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    enum { MAX_CORES = 4096 };
    static long cores[MAX_CORES][2];
    int n_cores = 0;
    long phys = 0;
    bool have_core_ids = false;
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (getline(&line, &cap, f) > 0) {
        const char *v;
        if (!m->cpu_model_[0] && ((v = cpuinfo_value(line, "model name")) ||
                                  (v = cpuinfo_value(line, "Model")) ||
                                  (v = cpuinfo_value(line, "Hardware")) ||
                                  (v = cpuinfo_value(line, "cpu model"))))
            copy_trimmed(m->cpu_model_, sizeof m->cpu_model_, v);
        else if (!m->cpu_flags_ &&
                 ((v = cpuinfo_value(line, "flags")) || (v = cpuinfo_value(line, "Features")))) {
            m->cpu_flags_ = strdup(v);
            if (!m->cpu_flags_) {
                rc = dfit_err_set(err, DFIT_ENOMEM, "/proc/cpuinfo: out of memory");
                break;
            }
            m->cpu_flags_[strcspn(m->cpu_flags_, "\n")] = '\0';
        } else if ((v = cpuinfo_value(line, "physical id")))
            phys = strtol(v, NULL, 10);
        else if ((v = cpuinfo_value(line, "core id"))) {
            long core = strtol(v, NULL, 10);
            have_core_ids = true;
            bool seen = false;
            for (int i = 0; i < n_cores && !seen; i++)
                seen = cores[i][0] == phys && cores[i][1] == core;
            if (!seen && n_cores < MAX_CORES) {
                cores[n_cores][0] = phys;
                cores[n_cores][1] = core;
                n_cores++;
            }
        }
    }
    free(line);
    fclose(f);
    if (have_core_ids)
        m->info.n_cores = n_cores;
    return rc;
}

/* MemTotal and MemAvailable (kB) from /proc/meminfo. */
static void read_meminfo(struct dfit_machine_info *info)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            info->mem_total_bytes = (uint64_t)kb * 1024u;
        else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            info->mem_available_bytes = (uint64_t)kb * 1024u;
    }
    fclose(f);
}

/* ---- the machine ------------------------------------------------------- */

int dfit_machine_loadavg(double out[3], struct dfit_err *err)
{
    out[0] = out[1] = out[2] = NAN;
    char buf[128];
    double a, b, c;
    if (!read_line("/proc/loadavg", buf, sizeof buf) ||
        sscanf(buf, "%lf %lf %lf", &a, &b, &c) != 3)
        return dfit_err_set(err, DFIT_EIO, "/proc/loadavg: cannot read the load averages");
    out[0] = a;
    out[1] = b;
    out[2] = c;
    return 0;
}

int dfit_machine_read(struct dfit_machine *m, struct dfit_err *err)
{
    memset(m, 0, sizeof *m);
    struct dfit_machine_info *info = &m->info;

    if (gethostname(m->hostname_, sizeof m->hostname_ - 1) == 0 && m->hostname_[0])
        info->hostname = m->hostname_;
    struct utsname u;
    if (uname(&u) == 0) {
        snprintf(m->kernel_, sizeof m->kernel_, "%s %s %s", u.sysname, u.release, u.machine);
        info->kernel = m->kernel_;
    }

    int rc = read_cpuinfo(m, err);
    if (rc) {
        dfit_machine_clear(m);
        return rc;
    }
    if (m->cpu_model_[0])
        info->cpu_model = m->cpu_model_;
    info->cpu_flags = m->cpu_flags_;

    long n = sysconf(_SC_NPROCESSORS_ONLN);
    info->n_cpus = n > 0 ? (int)n : 0;
    if (info->n_cores == 0)
        info->n_cores = cores_from_sysfs(info->n_cpus);

    if (read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", m->governor_,
                  sizeof m->governor_))
        info->governor = m->governor_;
    else
        info->governor = "unavailable";

    dfit_machine_loadavg(info->loadavg_before, NULL);
    read_meminfo(info);
    return 0;
}

void dfit_machine_clear(struct dfit_machine *m)
{
    if (!m)
        return;
    free(m->cpu_flags_);
    memset(m, 0, sizeof *m);
}

/* ---- the build ----------------------------------------------------------- */

#ifdef __OPTIMIZE__
#ifdef __OPTIMIZE_SIZE__
#define OPT_WORD "size"
#else
#define OPT_WORD "yes"
#endif
#else
#define OPT_WORD "no"
#endif
#ifdef NDEBUG
#define NDEBUG_WORD "yes"
#else
#define NDEBUG_WORD "no"
#endif

const char *dfit_build_flags(void)
{
    return "buildtype=" DFIT_BUILD_TYPE " optimize=" OPT_WORD " ndebug=" NDEBUG_WORD;
}

void dfit_machine_build_info(struct dfit_run_info *info)
{
    if (!info->dfit_version)
        info->dfit_version = DFIT_VERSION;
    if (!info->git_commit)
        info->git_commit = DFIT_GIT_COMMIT;
    if (!info->build_type)
        info->build_type = DFIT_BUILD_TYPE;
    if (!info->compiler)
        info->compiler = DFIT_COMPILER;
    if (!info->compiler_flags)
        info->compiler_flags = dfit_build_flags();
}

bool dfit_build_optimized(const char *build_type, bool compiler_optimized, char *why, size_t cap)
{
    const char *bt = build_type ? build_type : "?";
    const char *reason = NULL;
    if (strcmp(bt, "debug") == 0)
        reason = "debug build (configure with --buildtype=release)";
    else if (strcmp(bt, "minsize") == 0)
        reason = "minsize build: -Os favours size over speed (use --buildtype=release)";
    else if (!compiler_optimized)
        reason = "compiled without optimisation (no -O1 or higher)";
    else if (strcmp(bt, "release") != 0 && strcmp(bt, "debugoptimized") != 0 &&
             strcmp(bt, "plain") != 0 && strcmp(bt, "custom") != 0)
        reason = "unknown build type";
    if (!reason)
        return true;
    if (why && cap)
        snprintf(why, cap, "build type '%s': %s", bt, reason);
    return false;
}

bool dfit_build_optimized_here(char *why, size_t cap)
{
#if defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__)
    const bool opt = true;
#else
    const bool opt = false;
#endif
    return dfit_build_optimized(DFIT_BUILD_TYPE, opt, why, cap);
}
