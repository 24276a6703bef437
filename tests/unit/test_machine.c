/* test_machine — the machine state read on this machine is sane (compared
 * with sysconf and /proc where a second source exists), the build info
 * comes from config.h, and the optimised-build rule for valid cells. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config.h"
#include "run/machine.h"

static void test_machine_state_is_sane(void **state)
{
    (void)state;
    struct dfit_machine m;
    struct dfit_err err = {0};
    assert_int_equal(dfit_machine_read(&m, &err), 0);
    const struct dfit_machine_info *i = &m.info;

    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof host - 1), 0);
    assert_non_null(i->hostname);
    assert_string_equal(i->hostname, host);

    struct utsname u;
    assert_int_equal(uname(&u), 0);
    assert_non_null(i->kernel);
    assert_non_null(strstr(i->kernel, u.release));
    assert_int_equal(strncmp(i->kernel, u.sysname, strlen(u.sysname)), 0);

    assert_int_equal(i->n_cpus, (int)sysconf(_SC_NPROCESSORS_ONLN));
    assert_true(i->n_cores >= 1);
    assert_true(i->n_cores <= i->n_cpus);

    assert_non_null(i->governor);
    assert_true(strlen(i->governor) > 0);
    if (access("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", R_OK) != 0)
        assert_string_equal(i->governor, "unavailable");

    for (int k = 0; k < 3; k++) {
        assert_true(isfinite(i->loadavg_before[k]));
        assert_true(i->loadavg_before[k] >= 0.0);
    }
    /* total memory: sysconf is a second source (pages), equal to the kB
     * figure of /proc/meminfo within a page of rounding */
    uint64_t sys_total = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    assert_true(i->mem_total_bytes > 0);
    assert_true(i->mem_total_bytes + 4096 >= sys_total && i->mem_total_bytes <= sys_total + 4096);
    assert_true(i->mem_available_bytes > 0);
    assert_true(i->mem_available_bytes <= i->mem_total_bytes);

#if defined(__x86_64__)
    assert_non_null(i->cpu_model);
    assert_true(strlen(i->cpu_model) > 0);
    assert_non_null(i->cpu_flags);
    assert_non_null(strstr(i->cpu_flags, "sse2"));
    assert_null(strchr(i->cpu_flags, '\n'));
#endif
    dfit_machine_clear(&m);
    assert_null(m.cpu_flags_);
    assert_null(m.info.hostname);
    dfit_machine_clear(NULL);
}

static void test_loadavg(void **state)
{
    (void)state;
    double la[3];
    assert_int_equal(dfit_machine_loadavg(la, NULL), 0);
    double ref[3];
    assert_int_equal(getloadavg(ref, 3), 3);
    for (int k = 0; k < 3; k++)
        assert_true(fabs(la[k] - ref[k]) < 1.0); /* read moments apart */
}

static void test_build_info(void **state)
{
    (void)state;
    struct dfit_run_info info = {.scenario = "s", .scenario_sha256 = "h", .git_commit = "given"};
    dfit_machine_build_info(&info);
    assert_string_equal(info.dfit_version, DFIT_VERSION);
    assert_string_equal(info.git_commit, "given"); /* kept */
    assert_string_equal(info.build_type, DFIT_BUILD_TYPE);
    assert_string_equal(info.compiler, DFIT_COMPILER);
    assert_non_null(info.compiler_flags);
    assert_non_null(strstr(info.compiler_flags, "buildtype=" DFIT_BUILD_TYPE));
    assert_non_null(strstr(dfit_build_flags(), "optimize="));
}

static void test_optimised_build_rule(void **state)
{
    (void)state;
    char why[128];
    assert_true(dfit_build_optimized("release", true, why, sizeof why));
    assert_true(dfit_build_optimized("debugoptimized", true, why, sizeof why));
    assert_true(dfit_build_optimized("plain", true, why, sizeof why));
    assert_true(dfit_build_optimized("custom", true, NULL, 0));

    why[0] = '\0';
    assert_false(dfit_build_optimized("debug", false, why, sizeof why));
    assert_non_null(strstr(why, "debug"));
    why[0] = '\0';
    assert_false(dfit_build_optimized("debug", true, why, sizeof why));
    assert_true(strlen(why) > 0);
    why[0] = '\0';
    assert_false(dfit_build_optimized("minsize", true, why, sizeof why));
    assert_non_null(strstr(why, "minsize"));
    why[0] = '\0';
    assert_false(dfit_build_optimized("plain", false, why, sizeof why));
    assert_non_null(strstr(why, "without optimisation"));
    assert_false(dfit_build_optimized("release", false, NULL, 0));
    assert_false(dfit_build_optimized(NULL, true, why, sizeof why));

    /* this binary: the answer agrees with what the compiler saw */
#if defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__)
    assert_int_equal(dfit_build_optimized_here(NULL, 0),
                     dfit_build_optimized(DFIT_BUILD_TYPE, true, NULL, 0));
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_machine_state_is_sane),
        cmocka_unit_test(test_loadavg),
        cmocka_unit_test(test_build_info),
        cmocka_unit_test(test_optimised_build_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
