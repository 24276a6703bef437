/* stats.h — sample statistics shared by `dfit bench` and the runner:
 * mean, standard deviation (n-1), coefficient of variation and
 * percentiles. Percentiles use the nearest-rank method (the value at rank
 * ceil(q*n)), as MLPerf LoadGen reports latency percentiles, so every
 * reported percentile is a value that was actually observed.
 * Non-goal: streaming/approximate quantiles (all samples are kept).
 */
#ifndef DFIT_UTIL_STATS_H
#define DFIT_UTIL_STATS_H

#include <stddef.h>
#include <stdint.h>

double dfit_stats_mean(const double *x, size_t n);             /* 0 for n == 0 */
double dfit_stats_stdev(const double *x, size_t n);            /* sample sd; 0 for n < 2 */
/* q in [0,1]; x need not be sorted (a sorted copy is made). NAN for n == 0 or
 * on allocation failure. */
double dfit_stats_percentile(const double *x, size_t n, double q);
/* Same on an already ascending-sorted array (no copy). */
double dfit_stats_percentile_sorted(const double *sorted, size_t n, double q);
double dfit_stats_median(const double *x, size_t n);

/* Summary of u64 samples (e.g. nanoseconds): n, mean, stdev, cv, p50, p90,
 * p95, p99, max. Returns 0, or DFIT_ENOMEM. n == 0 gives all-NAN stats. */
struct dfit_summary;
int dfit_stats_summarize_u64(const uint64_t *x, size_t n, struct dfit_summary *out);

#endif
