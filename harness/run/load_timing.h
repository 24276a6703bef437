/* load_timing.h — loading a variant on a backend with the harness clock
 * around each step, and evicting its file from the page cache so a load
 * can be measured cold.
 *
 * Steps (each timed, CLOCK_MONOTONIC, the device synchronised before a
 * time is taken):
 *   open      open(2) + fstat + mmap of the whole file (read-only, private)
 *   validate  dfit_gguf_open_buffer over the mapping + dfit_model_from_gguf
 *   prepare   the backend's load (repacking, converting, uploading weights,
 *             allocating the KV cache and scratch)
 *   first     the first forward pass: one token at position 0 of sequence
 *             0 (pages of the mapping are read from disk here on a cold
 *             load), then the sequence is emptied again
 * Non-goals: choosing the backend or its parameters (cell.c), the workload.
 */
#ifndef DFIT_RUN_LOAD_TIMING_H
#define DFIT_RUN_LOAD_TIMING_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "util/err.h"

/* A model loaded on a backend: the mapping, the model bound to it, the
 * backend's context and what its load reported. */
struct dfit_loaded {
    const struct dfit_backend_ops *ops;
    void *map;                       /* the file's mapping (munmap'd by close) */
    size_t map_bytes;
    struct dfit_model *m;            /* bound to map */
    void *ctx;                       /* the backend's */
    struct dfit_load_report report;
};

struct dfit_load_times {
    uint64_t open_ns, validate_ns, prepare_ns, first_forward_ns;
    uint64_t total_ns;               /* first step's start to last step's end */
};

/* Loads path on ops with bp, timing each step; first_token is the token of
 * the first forward pass. On success *out holds everything (release with
 * dfit_loaded_close). On failure *out is zeroed, nothing leaks, and the
 * code is: DFIT_EIO (cannot open or map), DFIT_ENOMEM (mapping or
 * allocation refused: an address-space limit), DFIT_EINVAL (first_token
 * outside the vocabulary), the reader's, model's and backend's codes;
 * err names the file. */
int dfit_load_timed(const char *path, const struct dfit_backend_ops *ops,
                    const struct dfit_backend_params *bp, int32_t first_token,
                    struct dfit_loaded *out, struct dfit_load_times *t, struct dfit_err *err);
/* Unloads, frees and unmaps; zeroes *l. Accepts NULL and a zeroed struct. */
void dfit_loaded_close(struct dfit_loaded *l);

/* Writes back and evicts path's pages from the page cache (fdatasync, then
 * posix_fadvise POSIX_FADV_DONTNEED). Pages that another process (or this
 * one) still maps stay cached: the kernel evicts only unmapped clean pages.
 * DFIT_EIO naming the file when it cannot be opened or advised. */
int dfit_load_evict(const char *path, struct dfit_err *err);

#endif
