/* test_counters — PAPI counters on both paths: software events (task
 * clock, page faults) count real work wherever this process may open them
 * (checked with perf_event_open directly), hardware events are either
 * counted (> 0) or unavailable with a non-empty reason (here: no PMU in a
 * VM; on a machine with one: counted), never zero; per-phase attribution,
 * skipped intervals, inheritance into threads (or its recorded absence),
 * the result rows and the derived figures; and counters created and freed
 * under an address-space limit too low for PAPI's own allocations (the
 * process goes on; the events are unavailable with the reason). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/perf_event.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run/counters.h"
#include "sanitizer.h"

/* Whether perf_event_open accepts this event for this process. */
static bool perf_can_open(uint32_t type, uint64_t config, int *errno_out)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = type;
    a.config = config;
    a.disabled = 1;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    long fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
    if (errno_out)
        *errno_out = fd < 0 ? errno : 0;
    if (fd < 0)
        return false;
    close((int)fd);
    return true;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile double g_sink;

/* Spins for about `seconds` of this thread's CPU time, touching `touch`
 * bytes of fresh memory first (page faults). */
static void busy(double seconds, size_t touch)
{
    if (touch) {
        char *p = malloc(touch);
        assert_non_null(p);
        memset(p, 1, touch);
        g_sink += p[touch / 2];
        free(p);
    }
    double t0 = thread_cpu_s(), s = 0;
    while (thread_cpu_s() - t0 < seconds)
        for (int i = 0; i < 10000; i++)
            s += i * 0.5;
    g_sink += s;
}

static int find(const struct dfit_counters *c, const char *name)
{
    for (int i = 0; i < dfit_counters_n_events(c); i++)
        if (strcmp(dfit_counters_name(c, i), name) == 0)
            return i;
    return -1;
}

static void test_software_events_count(void **state)
{
    (void)state;
    const char *names[] = {"perf::TASK-CLOCK", "perf::PAGE-FAULTS"};
    struct dfit_counters *c = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_counters_start(names, 2, &c, &err), 0);
    busy(0.05, 8u << 20);
    assert_int_equal(dfit_counters_mark(c, DFIT_PHASE_PREFILL, &err), 0);

    const bool can = perf_can_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, NULL);
    for (int i = 0; i < 2; i++) {
        if (can) {
            assert_true(dfit_counters_available(c, i));
            assert_string_equal(dfit_counters_reason(c, i), "");
        }
        if (dfit_counters_available(c, i))
            assert_true(dfit_counters_value(c, i, DFIT_PHASE_PREFILL) > 0);
        else
            assert_true(strlen(dfit_counters_reason(c, i)) > 0);
    }
    if (can) {
        /* 50 ms of CPU time (task clock in ns), 8 MiB of fresh pages */
        assert_true(dfit_counters_value(c, 0, DFIT_PHASE_PREFILL) >= 40000000);
        assert_true(dfit_counters_value(c, 1, DFIT_PHASE_PREFILL) >= 1000);
    }
    dfit_counters_free(c);
}

static void test_hardware_events_available_or_explained(void **state)
{
    (void)state;
    const char *names[] = {"PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_BR_MSP", "perf::INSTRUCTIONS"};
    struct dfit_counters *c = NULL;
    assert_int_equal(dfit_counters_start(names, 4, &c, NULL), 0);
    busy(0.02, 0);
    assert_int_equal(dfit_counters_mark(c, DFIT_PHASE_DECODE, NULL), 0);
    int e = 0;
    const bool pmu = perf_can_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS, &e);
    for (int i = 0; i < 4; i++) {
        if (dfit_counters_available(c, i)) {
            assert_true(dfit_counters_value(c, i, DFIT_PHASE_DECODE) > 0);
            assert_string_equal(dfit_counters_reason(c, i), "");
        } else {
            const char *why = dfit_counters_reason(c, i);
            assert_true(strlen(why) > 0);
            assert_int_equal(dfit_counters_value(c, i, DFIT_PHASE_DECODE), 0);
            if (!pmu && e == ENOENT)
                assert_non_null(strstr(why, "not exposed on this machine"));
        }
    }
    if (!pmu)
        for (int i = 0; i < 4; i++)
            assert_false(dfit_counters_available(c, i));
    dfit_counters_free(c);
}

static void test_unknown_event_and_bad_names(void **state)
{
    (void)state;
    const char *names[] = {"NO_SUCH_EVENT_X", "perf::TASK-CLOCK"};
    struct dfit_counters *c = NULL;
    assert_int_equal(dfit_counters_start(names, 2, &c, NULL), 0);
    assert_false(dfit_counters_available(c, 0));
    assert_non_null(strstr(dfit_counters_reason(c, 0), "PAPI_event_name_to_code"));
    dfit_counters_free(c);

    /* a repeated name is one event (one row per phase in the store) */
    const char *twice[] = {"perf::TASK-CLOCK", "PAPI_TOT_CYC", "perf::TASK-CLOCK"};
    assert_int_equal(dfit_counters_start(twice, 3, &c, NULL), 0);
    assert_int_equal(dfit_counters_n_events(c), 2);
    assert_string_equal(dfit_counters_name(c, 1), "PAPI_TOT_CYC");
    dfit_counters_free(c);

    struct dfit_err err = {0};
    const char *bad[] = {"perf::TASK-CLOCK", NULL};
    c = (struct dfit_counters *)&err; /* must be reset to NULL */
    assert_int_equal(dfit_counters_start(bad, 2, &c, &err), DFIT_EINVAL);
    assert_null(c);
    char longname[100];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *lng[] = {longname};
    assert_int_equal(dfit_counters_start(lng, 1, &c, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "longer than"));
    assert_null(c);
    dfit_counters_free(NULL);
}

static void test_phases_sum_their_intervals(void **state)
{
    (void)state;
    const char *names[] = {"perf::TASK-CLOCK"};
    struct dfit_counters *c = NULL;
    assert_int_equal(dfit_counters_start(names, 1, &c, NULL), 0);
    if (!dfit_counters_available(c, 0)) {
        assert_true(strlen(dfit_counters_reason(c, 0)) > 0);
        dfit_counters_free(c);
        return; /* nothing is counted here: the reason is the result */
    }
    busy(0.03, 0);
    assert_int_equal(dfit_counters_skip(c, NULL), 0); /* dropped */
    busy(0.01, 0);
    assert_int_equal(dfit_counters_mark(c, DFIT_PHASE_LOAD, NULL), 0);
    busy(0.02, 0);
    assert_int_equal(dfit_counters_mark(c, DFIT_PHASE_DECODE, NULL), 0);
    int64_t decode1 = dfit_counters_value(c, 0, DFIT_PHASE_DECODE);
    busy(0.02, 0);
    assert_int_equal(dfit_counters_mark(c, DFIT_PHASE_DECODE, NULL), 0);

    int64_t load = dfit_counters_value(c, 0, DFIT_PHASE_LOAD);
    int64_t decode = dfit_counters_value(c, 0, DFIT_PHASE_DECODE);
    /* task clock in ns, against the CPU time spun (generous bounds for a
     * shared machine: the lower bound is the CPU time itself) */
    assert_true(load >= 9000000 && load < 29000000);
    assert_true(decode1 >= 19000000);
    assert_true(decode >= decode1 + 19000000); /* the second interval added */
    assert_true(decode < 70000000);            /* the skipped 30 ms is not in it */
    assert_int_equal(dfit_counters_value(c, 0, DFIT_PHASE_PREFILL), 0);
    assert_int_equal(dfit_counters_mark(c, (enum dfit_phase)7, NULL), DFIT_EINVAL);
    dfit_counters_free(c);
}

static void *spin_thread(void *arg)
{
    (void)arg;
    busy(0.1, 0);
    return NULL;
}

static void test_threads_inherited_or_reported(void **state)
{
    (void)state;
    const char *names[] = {"perf::TASK-CLOCK"};
    struct dfit_counters *c = NULL;
    assert_int_equal(dfit_counters_start(names, 1, &c, NULL), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, spin_thread, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(dfit_counters_mark(c, DFIT_PHASE_PREFILL, NULL), 0);

    const char *why = NULL;
    bool inherit = dfit_counters_inherit(c, &why);
    assert_non_null(why);
    struct dfit_counter_value *v = NULL;
    uint32_t n = 0;
    assert_int_equal(dfit_counters_export(c, 2, &v, &n, NULL), 0);
    assert_int_equal(n, DFIT_PHASE_COUNT);
    const struct dfit_counter_value *pre = &v[DFIT_PHASE_PREFILL];
    assert_int_equal(pre->phase, DFIT_PHASE_PREFILL);
    if (inherit && dfit_counters_available(c, 0)) {
        /* the thread's 100 ms of CPU time are in the count */
        assert_true(pre->available);
        assert_true(pre->value >= 90000000);
    } else {
        /* counts of the calling thread alone are not passed off as the
         * process's: every row is unavailable, with the reason */
        assert_false(pre->available);
        assert_true(strlen(pre->reason) > 0);
        if (!inherit) {
            assert_true(strlen(why) > 0);
            assert_non_null(strstr(pre->reason, "1 of 2 threads"));
        }
    }
    free(v);
    dfit_counters_free(c);
}

static void test_defaults_and_export_rows(void **state)
{
    (void)state;
    struct dfit_counters *c = NULL;
    assert_int_equal(dfit_counters_start(NULL, 0, &c, NULL), 0);
    assert_int_equal(dfit_counters_n_events(c), DFIT_COUNTERS_N_DEFAULT);
    for (int i = 0; i < DFIT_COUNTERS_N_DEFAULT; i++)
        assert_string_equal(dfit_counters_name(c, i), dfit_counters_default[i]);
    assert_true(find(c, "perf::TASK-CLOCK") >= 0);
    busy(0.01, 1u << 20);
    assert_int_equal(dfit_counters_mark(c, DFIT_PHASE_LOAD, NULL), 0);

    struct dfit_counter_value *v = NULL;
    uint32_t n = 0;
    assert_int_equal(dfit_counters_export(c, 1, &v, &n, NULL), 0);
    assert_int_equal(n, DFIT_COUNTERS_N_DEFAULT * DFIT_PHASE_COUNT);
    for (uint32_t k = 0; k < n; k++) {
        int i = (int)(k / DFIT_PHASE_COUNT);
        assert_string_equal(v[k].name, dfit_counters_default[i]);
        assert_int_equal(v[k].phase, (enum dfit_phase)(k % DFIT_PHASE_COUNT));
        assert_int_equal(v[k].available, dfit_counters_available(c, i));
        if (v[k].available) {
            assert_string_equal(v[k].reason, "");
            assert_int_equal(v[k].value, dfit_counters_value(c, i, v[k].phase));
        } else {
            assert_true(strlen(v[k].reason) > 0);
            assert_int_equal(v[k].value, 0);
        }
    }
    int tc = find(c, "perf::TASK-CLOCK");
    if (dfit_counters_available(c, tc))
        assert_true(v[tc * DFIT_PHASE_COUNT + DFIT_PHASE_LOAD].value > 0);
    free(v);
    dfit_counters_free(c);

    /* PAPI shut down with the last set; a new set initialises it again */
    const char *names[] = {"perf::TASK-CLOCK"};
    assert_int_equal(dfit_counters_start(names, 1, &c, NULL), 0);
    busy(0.01, 0);
    assert_int_equal(dfit_counters_mark(c, DFIT_PHASE_LOAD, NULL), 0);
    if (perf_can_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, NULL))
        assert_true(dfit_counters_value(c, 0, DFIT_PHASE_LOAD) > 0);
    dfit_counters_free(c);
}

static void test_derived(void **state)
{
    (void)state;
    struct dfit_counter_value v[5];
    memset(v, 0, sizeof v);
    const char *nm[] = {"PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_L1_DCM", "PAPI_TOT_CYC",
                        "perf::TASK-CLOCK"};
    enum dfit_phase ph[] = {DFIT_PHASE_DECODE, DFIT_PHASE_DECODE, DFIT_PHASE_DECODE,
                            DFIT_PHASE_PREFILL, DFIT_PHASE_DECODE};
    int64_t val[] = {2000, 3000, 50, 999, 1000000};
    for (int i = 0; i < 5; i++) {
        strcpy(v[i].name, nm[i]);
        v[i].phase = ph[i];
        v[i].available = i != 2; /* L1 misses unavailable */
        v[i].value = val[i];
    }
    struct dfit_counters_derived d;
    dfit_counters_derived(v, 5, DFIT_PHASE_DECODE, 10, &d);
    assert_true(fabs(d.ipc - 1.5) < 1e-12);
    assert_true(fabs(d.instructions_per_token - 300.0) < 1e-12);
    assert_true(fabs(d.cycles_per_token - 200.0) < 1e-12);
    assert_true(fabs(d.task_clock_ns_per_token - 100000.0) < 1e-9);
    assert_true(isnan(d.l1_dcm_per_token)); /* unavailable, not zero */
    assert_true(isnan(d.l3_tcm_per_token)); /* absent */
    dfit_counters_derived(v, 5, DFIT_PHASE_PREFILL, 0, &d);
    assert_true(isnan(d.ipc));              /* no instructions in prefill */
    assert_true(isnan(d.cycles_per_token)); /* no tokens */
}

#if !DFIT_UNDER_ASAN /* see sanitizer.h */
/* Address space this process maps now, in MiB. */
static double mapped_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (double)pages * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

/* Blocks that fill the heap's free space in the child. */
#define FILL_BLOCK 512
#define FILL_MAX (1u << 17)
static void *fill[FILL_MAX];

/* In a child that initialises PAPI (dfit_counters_init, as a cell worker
 * does before its memory cap), then makes its address space unable to grow
 * (RLIMIT_AS below what it maps) and fills its heap but for budget bytes:
 * starts, marks and frees the default counters twice, so PAPI's
 * allocations fail at some point of a set's start. Exit status 0 when
 * every event is counted or unavailable with a reason, 10 when that holds
 * and one of the reasons is PAPI running out of memory, 1 when an event
 * has no reason, 4 when the heap never filled. */
static int counters_under_limit(size_t budget)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct rlimit rl;
        signal(SIGSEGV, SIG_DFL); /* a crash ends the child, not cmocka's handler */
        signal(SIGBUS, SIG_DFL);
        signal(SIGABRT, SIG_DFL);
        dfit_counters_init(NULL, 0);
        if (getrlimit(RLIMIT_AS, &rl) != 0)
            _exit(2);
        rl.rlim_cur = (rlim_t)((mapped_mib() - 1.0) * 1048576.0);
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(3);
        size_t n = 0;
        while (n < FILL_MAX && (fill[n] = malloc(FILL_BLOCK)) != NULL)
            n++;
        if (n == FILL_MAX)
            _exit(4);
        for (size_t k = 0; k < budget / FILL_BLOCK && n > 0; k++)
            free(fill[--n]);
        int status = 0;
        for (int round = 0; round < 2; round++) {
            struct dfit_counters *c = NULL;
            if (dfit_counters_start(NULL, 0, &c, NULL) != 0)
                continue; /* DFIT_ENOMEM for dfit's own arrays is a clean failure */
            for (int i = 0; i < dfit_counters_n_events(c); i++) {
                const char *why = dfit_counters_reason(c, i);
                if (!dfit_counters_available(c, i) && !why[0])
                    _exit(1);
                if (strstr(why, "PAPI could not allocate ("))
                    status = 10;
            }
            dfit_counters_mark(c, DFIT_PHASE_DECODE, NULL);
            dfit_counters_free(c);
        }
        dfit_counters_shutdown();
        _exit(status);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    if (!WIFEXITED(st))
        return WIFSIGNALED(st) ? 1000 + WTERMSIG(st) : -1;
    return WEXITSTATUS(st);
}

static void test_low_address_space_limit(void **state)
{
    (void)state;
    int n_alloc = 0;
    for (size_t budget = 0; budget <= (384u << 10); budget += 4u << 10) {
        int rc = counters_under_limit(budget);
        if (rc != 0 && rc != 10)
            fail_msg("counters with %zu KiB of heap left and no room to grow: %s %d", budget >> 10,
                     rc >= 1000 ? "killed by signal" : "exit status", rc >= 1000 ? rc - 1000 : rc);
        n_alloc += rc == 10;
    }
    /* with too little memory PAPI's allocations fail: that is recorded */
    assert_true(n_alloc > 0);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_software_events_count),
        cmocka_unit_test(test_hardware_events_available_or_explained),
        cmocka_unit_test(test_unknown_event_and_bad_names),
        cmocka_unit_test(test_phases_sum_their_intervals),
        cmocka_unit_test(test_threads_inherited_or_reported),
        cmocka_unit_test(test_defaults_and_export_rows),
        cmocka_unit_test(test_derived),
#if !DFIT_UNDER_ASAN /* see sanitizer.h */
        cmocka_unit_test(test_low_address_space_limit),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
