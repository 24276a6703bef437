/* threadpool.c — fork-join worker team (see threadpool.h).
 *
 * A run posts (fn, arg) and bumps an atomic generation counter; workers
 * that finished the previous run may still be spinning on that counter and
 * start at once, others sleep on a condition variable and are woken only
 * when some are known to sleep. The caller waits for the last worker the
 * same way: spin, then sleep. Decode runs tens of parallel regions per
 * token, each some tens of microseconds long, so the wake-up latency of a
 * sleeping thread (several microseconds, more on a busy machine) would
 * otherwise be paid every time.
 *
 * Spinning is adaptive, as glibc's adaptive mutexes are: each waiter keeps
 * a score of how often a spin (up to SPIN_NS of pause loops) caught the
 * event, spins only while that score is high, and otherwise sleeps at
 * once, re-probing with a spin every PROBE_EVERY waits. On an idle machine
 * the partner answers within microseconds and every wait spins; on a
 * machine shared with other busy processes a partner is often descheduled
 * for milliseconds, and spinning would only burn this process's share of
 * the CPU, so waits go back to sleeping. An idle pool always sleeps.
 *
 * The sleep/wake hand-over uses sequentially consistent atomics on both
 * sides (the poster stores the generation then reads the sleeper count;
 * a worker stores its sleeper count then re-reads the generation under the
 * mutex), so a wake-up is never lost.
 */
#include "util/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_NS 50000u /* longest spin before sleeping */
#define SCORE_MAX 1024  /* spin score: recent fraction of spins that caught the event */
#define SCORE_SPIN 768  /* spin while the score is at least this */
#define PROBE_EVERY 8   /* below it, still spin on every 8th wait, to notice a change */

/* One waiter's record of how its spins fared. */
struct spin_stat {
    int score;
    unsigned n_waits;
};

static bool want_spin(struct spin_stat *st)
{
    return st->score >= SCORE_SPIN || ++st->n_waits % PROBE_EVERY == 0;
}

static void spin_result(struct spin_stat *st, bool caught)
{
    st->score += ((caught ? SCORE_MAX : 0) - st->score) / 8;
}

struct dfit_threadpool {
    int n_threads;
    pthread_t *threads; /* [n_threads - 1] */
    pthread_mutex_t mu;
    pthread_cond_t cv_start; /* new generation posted */
    pthread_cond_t cv_done;  /* the last worker finished */
    atomic_ulong generation;
    atomic_int n_pending;       /* workers still running this generation */
    atomic_int n_sleeping;      /* workers waiting on cv_start */
    atomic_int caller_sleeping; /* the caller waits on cv_done */
    struct spin_stat caller_spin; /* the caller's record (one caller at a time) */
    atomic_int stop;
    dfit_task_fn fn; /* written before the generation bump */
    void *arg;
};

struct worker_arg {
    struct dfit_threadpool *tp;
    int ith;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spins up to SPIN_NS until *v != old (returns true) or gives up. */
static bool spin_until_changed(const atomic_ulong *v, unsigned long old)
{
    const uint64_t t0 = now_ns();
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) != old)
            return true;
        if (i % 64 == 0 && now_ns() - t0 > SPIN_NS)
            return false;
        cpu_relax();
    }
}

static bool spin_until_zero(const atomic_int *v)
{
    const uint64_t t0 = now_ns();
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) == 0)
            return true;
        if (i % 64 == 0 && now_ns() - t0 > SPIN_NS)
            return false;
        cpu_relax();
    }
}

static void *worker_main(void *p)
{
    struct worker_arg wa = *(struct worker_arg *)p;
    free(p);
    struct dfit_threadpool *tp = wa.tp;
    unsigned long seen = 0;
    struct spin_stat st = {SCORE_MAX, 0};
    for (;;) {
        bool caught = false;
        if (want_spin(&st)) {
            caught = spin_until_changed(&tp->generation, seen);
            spin_result(&st, caught);
        }
        if (!caught) {
            pthread_mutex_lock(&tp->mu);
            atomic_fetch_add(&tp->n_sleeping, 1);
            while (!atomic_load(&tp->stop) && atomic_load(&tp->generation) == seen)
                pthread_cond_wait(&tp->cv_start, &tp->mu);
            atomic_fetch_sub(&tp->n_sleeping, 1);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load(&tp->stop))
            return NULL;
        seen = atomic_load(&tp->generation);

        tp->fn(tp->arg, wa.ith, tp->n_threads);

        if (atomic_fetch_sub(&tp->n_pending, 1) == 1 && atomic_load(&tp->caller_sleeping)) {
            pthread_mutex_lock(&tp->mu);
            pthread_cond_signal(&tp->cv_done);
            pthread_mutex_unlock(&tp->mu);
        }
    }
}

int dfit_threadpool_create(int n_threads, struct dfit_threadpool **out, struct dfit_err *err)
{
    *out = NULL;
    if (n_threads <= 0)
        n_threads = 1;
    struct dfit_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp)
        return dfit_err_set(err, DFIT_ENOMEM, "threadpool: out of memory");
    tp->n_threads = n_threads;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv_start, NULL);
    pthread_cond_init(&tp->cv_done, NULL);
    atomic_init(&tp->generation, 0);
    atomic_init(&tp->n_pending, 0);
    atomic_init(&tp->n_sleeping, 0);
    atomic_init(&tp->caller_sleeping, 0);
    atomic_init(&tp->stop, 0);
    tp->caller_spin.score = SCORE_MAX;
    tp->threads = calloc((size_t)n_threads, sizeof *tp->threads);
    if (!tp->threads)
        goto fail_nomem;
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (!wa) {
            tp->n_threads = i; /* join only what started */
            goto fail_nomem;
        }
        wa->tp = tp;
        wa->ith = i;
        if (pthread_create(&tp->threads[i - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            tp->n_threads = i; /* join only what started */
            dfit_threadpool_free(tp);
            return dfit_err_set(err, DFIT_EINTERNAL, "threadpool: cannot start thread %d of %d", i,
                                n_threads);
        }
    }
    *out = tp;
    return 0;
fail_nomem:
    dfit_threadpool_free(tp);
    return dfit_err_set(err, DFIT_ENOMEM, "threadpool: out of memory");
}

void dfit_threadpool_free(struct dfit_threadpool *tp)
{
    if (!tp)
        return;
    pthread_mutex_lock(&tp->mu);
    atomic_store(&tp->stop, 1);
    atomic_fetch_add(&tp->generation, 1); /* releases spinners too */
    pthread_cond_broadcast(&tp->cv_start);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 1; tp->threads && i < tp->n_threads; i++)
        if (tp->threads[i - 1])
            pthread_join(tp->threads[i - 1], NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->cv_start);
    pthread_cond_destroy(&tp->cv_done);
    free(tp->threads);
    free(tp);
}

int dfit_threadpool_size(const struct dfit_threadpool *tp)
{
    return tp ? tp->n_threads : 1;
}

void dfit_threadpool_run(struct dfit_threadpool *tp, dfit_task_fn fn, void *arg)
{
    if (!tp || tp->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    tp->fn = fn;
    tp->arg = arg;
    atomic_store(&tp->n_pending, tp->n_threads - 1);
    atomic_fetch_add(&tp->generation, 1); /* publishes fn and arg */
    if (atomic_load(&tp->n_sleeping) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->cv_start);
        pthread_mutex_unlock(&tp->mu);
    }

    fn(arg, 0, tp->n_threads);

    bool caught = false;
    if (want_spin(&tp->caller_spin)) {
        caught = spin_until_zero(&tp->n_pending);
        spin_result(&tp->caller_spin, caught);
    }
    if (!caught) {
        pthread_mutex_lock(&tp->mu);
        atomic_store(&tp->caller_sleeping, 1);
        while (atomic_load(&tp->n_pending) > 0)
            pthread_cond_wait(&tp->cv_done, &tp->mu);
        atomic_store(&tp->caller_sleeping, 0);
        pthread_mutex_unlock(&tp->mu);
    }
}
