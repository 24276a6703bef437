/* threadpool.h — a fixed team of worker threads that run one parallel task
 * at a time (fork-join), as ggml's compute threads do. The calling thread
 * is worker 0, so a pool of n threads starts n-1 pthreads.
 * Non-goals: task queues, work stealing, nested parallelism.
 */
#ifndef DFIT_UTIL_THREADPOOL_H
#define DFIT_UTIL_THREADPOOL_H

#include "util/err.h"

struct dfit_threadpool;

/* fn runs once on every worker with ith in [0, nth). */
typedef void (*dfit_task_fn)(void *arg, int ith, int nth);

/* n_threads <= 0 is taken as 1. On failure *out is NULL. */
int dfit_threadpool_create(int n_threads, struct dfit_threadpool **out, struct dfit_err *err);
void dfit_threadpool_free(struct dfit_threadpool *tp); /* accepts NULL */
int dfit_threadpool_size(const struct dfit_threadpool *tp);
/* Runs fn on all workers and returns when every one has finished. */
void dfit_threadpool_run(struct dfit_threadpool *tp, dfit_task_fn fn, void *arg);

/* Splits [0, n) into nth near-equal contiguous ranges; worker ith's is
 * [*lo, *hi). */
static inline void dfit_split_range(long n, int ith, int nth, long *lo, long *hi)
{
    long per = n / nth, rem = n % nth;
    *lo = ith * per + (ith < rem ? ith : rem);
    *hi = *lo + per + (ith < rem ? 1 : 0);
}

#endif
