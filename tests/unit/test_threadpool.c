/* test_threadpool — the fork-join worker team (harness/util/threadpool.c)
 * and dfit_split_range.
 *
 * Covers: every worker runs exactly once per run with a distinct ith and
 * the pool's nth; worker 0 is the calling thread; the workers really run
 * at the same time; a parallel sum equals the serial one; many
 * consecutive runs; pools of 1 and of <= 0; create/free cycles; the
 * ranges of dfit_split_range cover [0, n) exactly, in order, balanced.
 * Non-goal: timing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/threadpool.h"

#define MAX_T 16

/* ---- once per worker ------------------------------------------------------- */

struct count_task {
    atomic_int calls[MAX_T];   /* runs seen by each ith */
    atomic_int bad_nth;        /* calls whose nth was not the pool's */
    atomic_int bad_ith;        /* calls with ith out of range */
    atomic_int main_not_0;     /* ith 0 not on the calling thread, or the reverse */
    int nth;
    pthread_t caller;
};

static void count_fn(void *arg, int ith, int nth)
{
    struct count_task *t = arg;
    if (nth != t->nth)
        atomic_fetch_add(&t->bad_nth, 1);
    if (ith < 0 || ith >= nth || ith >= MAX_T) {
        atomic_fetch_add(&t->bad_ith, 1);
        return;
    }
    if ((ith == 0) != (pthread_equal(pthread_self(), t->caller) != 0))
        atomic_fetch_add(&t->main_not_0, 1);
    atomic_fetch_add(&t->calls[ith], 1);
}

static void check_once_each(int n_threads, int n_runs)
{
    struct dfit_threadpool *tp = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_threadpool_create(n_threads, &tp, &err), 0);
    assert_non_null(tp);
    assert_int_equal(dfit_threadpool_size(tp), n_threads);
    static struct count_task t;
    memset(&t, 0, sizeof t);
    t.nth = n_threads;
    t.caller = pthread_self();
    for (int r = 1; r <= n_runs; r++) {
        dfit_threadpool_run(tp, count_fn, &t);
        /* after each run returns, every worker has run exactly r times */
        for (int i = 0; i < n_threads; i++)
            if (atomic_load(&t.calls[i]) != r)
                fail_msg("%d threads, run %d: worker %d ran %d times", n_threads, r, i,
                         atomic_load(&t.calls[i]));
    }
    assert_int_equal(atomic_load(&t.bad_nth), 0);
    assert_int_equal(atomic_load(&t.bad_ith), 0);
    assert_int_equal(atomic_load(&t.main_not_0), 0);
    dfit_threadpool_free(tp);
}

static void test_once_per_run(void **state)
{
    (void)state;
    check_once_each(2, 50);
    check_once_each(3, 50);
    check_once_each(4, 50);
    check_once_each(MAX_T, 20);
}

static void test_many_runs(void **state)
{
    (void)state;
    check_once_each(4, 3000);
}

static void test_pool_of_one(void **state)
{
    (void)state;
    check_once_each(1, 10);
    /* n_threads <= 0 is taken as 1 */
    struct dfit_threadpool *tp = NULL;
    assert_int_equal(dfit_threadpool_create(0, &tp, NULL), 0);
    assert_int_equal(dfit_threadpool_size(tp), 1);
    dfit_threadpool_free(tp);
    tp = NULL;
    assert_int_equal(dfit_threadpool_create(-5, &tp, NULL), 0);
    assert_int_equal(dfit_threadpool_size(tp), 1);
    static struct count_task t;
    memset(&t, 0, sizeof t);
    t.nth = 1;
    t.caller = pthread_self();
    dfit_threadpool_run(tp, count_fn, &t);
    assert_int_equal(atomic_load(&t.calls[0]), 1);
    assert_int_equal(atomic_load(&t.main_not_0), 0);
    dfit_threadpool_free(tp);
    /* no pool at all: runs inline as one worker */
    assert_int_equal(dfit_threadpool_size(NULL), 1);
    memset(&t, 0, sizeof t);
    t.nth = 1;
    t.caller = pthread_self();
    dfit_threadpool_run(NULL, count_fn, &t);
    assert_int_equal(atomic_load(&t.calls[0]), 1);
    dfit_threadpool_free(NULL); /* accepted */
}

/* ---- the workers run concurrently ------------------------------------------ */

struct meet_task {
    atomic_int arrived;
    atomic_int timed_out;
    int nth;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Every worker waits until all have arrived: only possible if they are
 * distinct threads running in the same run (gives up after 10 s). */
static void meet_fn(void *arg, int ith, int nth)
{
    (void)ith;
    (void)nth;
    struct meet_task *t = arg;
    atomic_fetch_add(&t->arrived, 1);
    double t0 = now_s();
    while (atomic_load(&t->arrived) < t->nth) {
        if (now_s() - t0 > 10.0) {
            atomic_fetch_add(&t->timed_out, 1);
            return;
        }
        sched_yield();
    }
}

static void test_workers_concurrent(void **state)
{
    (void)state;
    struct dfit_threadpool *tp = NULL;
    assert_int_equal(dfit_threadpool_create(4, &tp, NULL), 0);
    for (int r = 0; r < 5; r++) {
        struct meet_task t = {.nth = 4};
        atomic_init(&t.arrived, 0);
        atomic_init(&t.timed_out, 0);
        dfit_threadpool_run(tp, meet_fn, &t);
        assert_int_equal(atomic_load(&t.arrived), 4);
        assert_int_equal(atomic_load(&t.timed_out), 0);
    }
    dfit_threadpool_free(tp);
}

/* ---- parallel sum ---------------------------------------------------------- */

struct sum_task {
    const int64_t *x;       /* [n] */
    long n;
    int64_t partial[MAX_T]; /* one slot per worker */
    long covered[MAX_T];
};

static void sum_fn(void *arg, int ith, int nth)
{
    struct sum_task *t = arg;
    long lo, hi;
    dfit_split_range(t->n, ith, nth, &lo, &hi);
    int64_t s = 0;
    for (long i = lo; i < hi; i++)
        s += t->x[i];
    t->partial[ith] = s;
    t->covered[ith] = hi - lo;
}

static void test_parallel_sum(void **state)
{
    (void)state;
    enum { N = 100003 };
    int64_t *x = malloc(N * sizeof *x);
    assert_non_null(x);
    uint64_t s = 88172645463325252ull; /* xorshift64 */
    for (long i = 0; i < N; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (int64_t)(s % 2000001) - 1000000;
    }
    static const int sizes[] = {1, 2, 3, 5, 8};
    static const long lens[] = {0, 1, 7, 1000, N};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        struct dfit_threadpool *tp = NULL;
        assert_int_equal(dfit_threadpool_create(sizes[k], &tp, NULL), 0);
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            int64_t serial = 0;
            for (long i = 0; i < lens[l]; i++)
                serial += x[i];
            for (int rep = 0; rep < 3; rep++) {
                static struct sum_task t;
                memset(&t, 0, sizeof t);
                t.x = x;
                t.n = lens[l];
                dfit_threadpool_run(tp, sum_fn, &t);
                int64_t par = 0;
                long cov = 0;
                for (int i = 0; i < sizes[k]; i++) {
                    par += t.partial[i];
                    cov += t.covered[i];
                }
                assert_int_equal(cov, lens[l]);
                assert_true(par == serial); /* integers: exactly equal */
            }
        }
        dfit_threadpool_free(tp);
    }
    free(x);
}

static void test_create_free_cycles(void **state)
{
    (void)state;
    for (int i = 0; i < 40; i++) {
        struct dfit_threadpool *tp = NULL;
        struct dfit_err err = {0};
        assert_int_equal(dfit_threadpool_create(1 + i % 6, &tp, &err), 0);
        assert_non_null(tp);
        assert_int_equal(err.code, 0);
        if (i % 2) {
            static struct count_task t;
            memset(&t, 0, sizeof t);
            t.nth = 1 + i % 6;
            t.caller = pthread_self();
            dfit_threadpool_run(tp, count_fn, &t);
            for (int j = 0; j < t.nth; j++)
                assert_int_equal(atomic_load(&t.calls[j]), 1);
        }
        dfit_threadpool_free(tp); /* also straight after create */
    }
}

/* ---- dfit_split_range ------------------------------------------------------ */

static void check_split(long n, int nth)
{
    long prev_hi = 0, min_len = n, max_len = 0;
    for (int ith = 0; ith < nth; ith++) {
        long lo = -1, hi = -1;
        dfit_split_range(n, ith, nth, &lo, &hi);
        if (lo != prev_hi || hi < lo)
            fail_msg("n %ld nth %d: worker %d got [%ld, %ld) after %ld", n, nth, ith, lo, hi,
                     prev_hi);
        long len = hi - lo;
        min_len = len < min_len ? len : min_len;
        max_len = len > max_len ? len : max_len;
        prev_hi = hi;
    }
    if (prev_hi != n)
        fail_msg("n %ld nth %d: ranges end at %ld", n, nth, prev_hi);
    assert_true(max_len - min_len <= 1); /* balanced */
}

static void test_split_range(void **state)
{
    (void)state;
    for (long n = 0; n <= 300; n++)
        for (int nth = 1; nth <= 33; nth++)
            check_split(n, nth);
    static const long big[] = {1000003, 123456789, 1L << 40, 999999999999L};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        for (int nth = 1; nth <= 64; nth += 7)
            check_split(big[i], nth);
    /* contiguous and in order: the first worker starts at 0, fewer items
     * than workers give the extra ones empty ranges at the end */
    long lo, hi;
    dfit_split_range(3, 4, 8, &lo, &hi);
    assert_true(lo == 3 && hi == 3);
    dfit_split_range(10, 0, 3, &lo, &hi);
    assert_true(lo == 0 && hi == 4);
    dfit_split_range(10, 2, 3, &lo, &hi);
    assert_true(lo == 7 && hi == 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_once_per_run),
        cmocka_unit_test(test_many_runs),
        cmocka_unit_test(test_pool_of_one),
        cmocka_unit_test(test_workers_concurrent),
        cmocka_unit_test(test_parallel_sum),
        cmocka_unit_test(test_create_free_cycles),
        cmocka_unit_test(test_split_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
