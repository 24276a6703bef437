/* threadpool.c — fork-join worker team on pthread mutex/condvars (see
 * threadpool.h). Workers sleep between tasks; a generation counter tells
 * them a new task has been posted. */
#include "util/threadpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct dfit_threadpool {
    int n_threads;
    pthread_t *threads;        /* [n_threads - 1] */
    pthread_mutex_t mu;
    pthread_cond_t cv_start;   /* new generation posted */
    pthread_cond_t cv_done;    /* a worker finished */
    unsigned long generation;
    int n_pending;             /* workers still running this generation */
    int stop;
    dfit_task_fn fn;
    void *arg;
};

struct worker_arg {
    struct dfit_threadpool *tp;
    int ith;
};

static void *worker_main(void *p)
{
    struct worker_arg wa = *(struct worker_arg *)p;
    free(p);
    struct dfit_threadpool *tp = wa.tp;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&tp->mu);
        while (!tp->stop && tp->generation == seen)
            pthread_cond_wait(&tp->cv_start, &tp->mu);
        if (tp->stop) {
            pthread_mutex_unlock(&tp->mu);
            return NULL;
        }
        seen = tp->generation;
        dfit_task_fn fn = tp->fn;
        void *arg = tp->arg;
        pthread_mutex_unlock(&tp->mu);

        fn(arg, wa.ith, tp->n_threads);

        pthread_mutex_lock(&tp->mu);
        if (--tp->n_pending == 0)
            pthread_cond_signal(&tp->cv_done);
        pthread_mutex_unlock(&tp->mu);
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
    tp->stop = 1;
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
    pthread_mutex_lock(&tp->mu);
    tp->fn = fn;
    tp->arg = arg;
    tp->n_pending = tp->n_threads - 1;
    tp->generation++;
    pthread_cond_broadcast(&tp->cv_start);
    pthread_mutex_unlock(&tp->mu);

    fn(arg, 0, tp->n_threads);

    pthread_mutex_lock(&tp->mu);
    while (tp->n_pending > 0)
        pthread_cond_wait(&tp->cv_done, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
}
