/* train_par.h — internal to the trainer's ops (train_ops.c,
 * train_matmul.c): parallel loops over index ranges on the thread pool, and
 * the compiler attribute that builds the hot loops for two instruction
 * sets. Not a public interface.
 */
#ifndef DFIT_COMPRESS_TRAIN_PAR_H
#define DFIT_COMPRESS_TRAIN_PAR_H

#include <stdint.h>

#include "util/threadpool.h"

/* GCC (11+) on x86-64 compiles the hot loops (matrix tiles, attention)
 * twice, for the baseline ISA and for x86-64-v3 (AVX2), and picks one at
 * load time. ISO C mode keeps FMA contraction off and every vector lane is
 * its own sum, so both versions give the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && \
    defined(__has_attribute)
#if __has_attribute(target_clones)
#define DFIT_TRAIN_VEC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
#endif
#ifndef DFIT_TRAIN_VEC_CLONES
#define DFIT_TRAIN_VEC_CLONES
#endif

/* ---- parallel ranges ------------------------------------------------------ */

/* fn handles items [lo, hi) on worker ith. */
typedef void (*dfit_train_range_fn)(void *arg, int64_t lo, int64_t hi, int ith);

struct dfit_train_par_task {
    dfit_train_range_fn fn;
    void *arg;
    int64_t n;
};

static inline void dfit_train_par_worker(void *p, int ith, int nth)
{
    const struct dfit_train_par_task *t = p;
    long lo, hi;
    dfit_split_range((long)t->n, ith, nth, &lo, &hi);
    if (lo < hi)
        t->fn(t->arg, lo, hi, ith);
}

/* Runs fn over [0, n) split across tp's workers (inline when tp is NULL or
 * n is below min_n, where waking the workers costs more than it saves). */
static inline void dfit_train_par_for(struct dfit_threadpool *tp, int64_t n, int64_t min_n,
                                      dfit_train_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (!tp || dfit_threadpool_size(tp) == 1 || n < min_n) {
        fn(arg, 0, n, 0);
        return;
    }
    struct dfit_train_par_task t = {fn, arg, n};
    dfit_threadpool_run(tp, dfit_train_par_worker, &t);
}

#endif
