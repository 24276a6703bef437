/* resident.h — the fast path's private copy of a model's weight matrices,
 * in anonymous memory on transparent huge pages.
 *
 * Why: decode streams every matrix once per token, so its speed is the
 * memory read bandwidth the page walker allows. A GGUF mapping sits in the
 * page cache on 4 KiB pages: one TLB miss per 4 KiB read, and on the
 * machines dfit was measured on, decode from the mapping ran up to 1.4x
 * slower than from the same bytes on 2 MiB pages (docs/kernels.md). Serving
 * runtimes read weights into their own buffers for the same reason
 * (llama.cpp's --no-mmap, every GPU runtime's upload).
 *
 * What is copied: every matrix the forward pass streams (the seven block
 * projections and the output matrix), byte for byte — except that, when
 * the kernel set has kernels for it (q4_x4), a Q4_0 matrix whose rows hold
 * a multiple of 128 weights is regrouped by 4 blocks (DFIT_TYPE_Q4_0_X4,
 * kernels.h: same bytes, same size, another order), which decode reads
 * with one load per 128 weights. Byte-for-byte copies give results
 * bit-identical to running from the mapping; regrouped Q4_0 the same
 * integer block sums, summed in another float order.
 * Norm vectors and the token embedding (one row read per token; unless it
 * is tied to the output) stay in the mapping, as do matrices a sparse
 * repack replaces (`skip`). After its copy is made, each mapped range is
 * released from this process (MADV_DONTNEED: the page cache keeps it), so
 * resident memory counts the weights once.
 *
 * Off with kernels "SET+mmap" or DFIT_CPU_RESIDENT=0 (then the fast path
 * reads the mapping, as the reference path always does).
 * Failure: DFIT_ENOMEM when the copy cannot be allocated (nothing leaks);
 * the CPU backend then reads the mapping instead, as with "+mmap", and its
 * kernels string says "+mmap" — so a target under a memory cap (the
 * runner's RLIMIT_AS counts the mapping and the copy) still runs.
 * Non-goals: converting or repacking formats (sparse.h does that for
 * pruned matrices), NUMA placement.
 */
#ifndef DFIT_BACKENDS_CPU_RESIDENT_H
#define DFIT_BACKENDS_CPU_RESIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/llama.h"
#include "util/err.h"
#include "util/threadpool.h"

struct dfit_resident {
    struct dfit_model model;         /* a shallow copy of the source, its matrices rebound */
    struct dfit_llama_layer *layers; /* model.layers, owned */
    void *map;                       /* the anonymous mapping */
    size_t map_bytes;
    uint64_t bytes;                  /* matrix bytes copied */
    int n_x4;                        /* matrices regrouped to DFIT_TYPE_Q4_0_X4 */
    bool huge;                       /* the kernel accepted MADV_HUGEPAGE */
};

/* Whether a resident copy is wanted, and the kernel-set name without the
 * "+mmap" option (written to set, n bytes): `kernels` "SET+mmap" or the
 * environment's DFIT_CPU_RESIDENT=0 turn it off. */
bool dfit_resident_wanted(const char *kernels, char *set, size_t n);

/* Copies m's streamed matrices, except those skip(user, w) is true for, on
 * tp's threads; q4_x4: regroup Q4_0 matrices where rows allow. The copy's model shares m's GGUF and names; it lives until
 * dfit_resident_free, and m must outlive it. */
int dfit_resident_create(const struct dfit_model *m, struct dfit_threadpool *tp, bool q4_x4,
                         bool (*skip)(void *user, const struct dfit_weight *w), void *user,
                         struct dfit_resident **out, struct dfit_err *err);
void dfit_resident_free(struct dfit_resident *r); /* accepts NULL */

#endif
