/* membw.h — this machine's memory read bandwidth, measured: the ceiling of
 * a decode step, which reads every weight once (token_cost.h), so that
 * `dfit bench --roofline`, the runner and the report can set decode speed
 * against it.
 *
 * The probe streams through a buffer much larger than the last-level cache
 * (default max(1 GiB, 8 x LLC), at most half of the memory available): each
 * of n_threads threads owns a contiguous slice, writes it first (so its
 * pages live near that thread), then every repetition all threads read
 * their slices at once between two barriers, summing the 64-bit words into
 * SIMD registers (the sum is returned, so no load can be optimised away).
 * Bandwidth = buffer bytes / the repetition's wall time; the result is the
 * median of the repetitions after one untimed warm-up pass. The read loop
 * is chosen at run time from the CPU's features (AVX-512, AVX2, else
 * portable C the compiler vectorises with the baseline ISA); every loop
 * reads the same bytes, so the choice shows only in speed.
 * Non-goals: write or copy bandwidth, latency, NUMA placement beyond first
 * touch, pinning threads to cores, caches' bandwidth.
 */
#ifndef DFIT_RUN_MEMBW_H
#define DFIT_RUN_MEMBW_H

#include <stdint.h>

#include "util/err.h"

#define DFIT_MEMBW_MAX_REPS 1000
#define DFIT_MEMBW_MAX_THREADS 1024
#define DFIT_MEMBW_MIN_BYTES (1u << 20)

struct dfit_membw_params {
    uint64_t buffer_bytes;  /* 0: dfit_membw_default_bytes(); else at least
                               DFIT_MEMBW_MIN_BYTES (rounded down to 64) */
    int n_threads;          /* <= 0: 1 */
    int reps;               /* timed repetitions; <= 0: 5 */
    const char *simd;       /* "auto" or NULL (best available), "avx512",
                               "avx2", "generic" */
};

struct dfit_membw_result {
    uint64_t buffer_bytes;  /* as read each repetition */
    uint64_t llc_bytes;     /* last-level cache detected; 0 unknown */
    int n_threads, reps;
    const char *simd;       /* the read loop used (static string) */
    double bytes_per_s;     /* median over the repetitions */
    double min_bytes_per_s, max_bytes_per_s;
    uint64_t checksum;      /* sum (mod 2^64) of the buffer's 64-bit words as
                               read by the last repetition: word i holds i,
                               so it is n(n-1)/2 for n = buffer_bytes / 8 */
};

/* Measures. Errors: DFIT_EINVAL for a buffer under DFIT_MEMBW_MIN_BYTES,
 * more than DFIT_MEMBW_MAX_THREADS threads or DFIT_MEMBW_MAX_REPS reps, or
 * an unknown simd name; DFIT_EUNSUPPORTED when the named loop needs
 * features this CPU lacks; DFIT_ENOMEM when the buffer cannot be had;
 * DFIT_EINTERNAL when a thread cannot be started. *out is zeroed on
 * failure. Nothing leaks either way. */
int dfit_membw_measure(const struct dfit_membw_params *p, struct dfit_membw_result *out,
                       struct dfit_err *err);

/* The size of the largest cache level (sysfs, else sysconf), times the
 * number of its instances when CPUs do not all share it; 0 when unknown. */
uint64_t dfit_membw_llc_bytes(void);

/* The default buffer: max(1 GiB, 8 x LLC), capped at half of MemAvailable
 * (never below DFIT_MEMBW_MIN_BYTES). */
uint64_t dfit_membw_default_bytes(void);

/* Decode speed the bandwidth allows when each token reads bytes_per_token:
 * bytes_per_s / bytes_per_token tokens/s; 0 for non-positive inputs. */
double dfit_membw_roofline_tokens_per_s(double bytes_per_s, double bytes_per_token);

#endif
