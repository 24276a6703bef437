/* stats.c — sample statistics (see stats.h). */
#include "util/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run/result.h"
#include "util/err.h"

double dfit_stats_mean(const double *x, size_t n)
{
    if (n == 0)
        return 0.0;
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s / (double)n;
}

double dfit_stats_stdev(const double *x, size_t n)
{
    if (n < 2)
        return 0.0;
    double m = dfit_stats_mean(x, n), s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (double)(n - 1));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double dfit_stats_percentile_sorted(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return NAN;
    if (q <= 0.0)
        return sorted[0];
    size_t rank = (size_t)ceil(q * (double)n); /* 1-based nearest rank */
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

double dfit_stats_percentile(const double *x, size_t n, double q)
{
    if (n == 0)
        return NAN;
    double *c = malloc(n * sizeof *c);
    if (!c)
        return NAN;
    memcpy(c, x, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_double);
    double v = dfit_stats_percentile_sorted(c, n, q);
    free(c);
    return v;
}

double dfit_stats_median(const double *x, size_t n)
{
    return dfit_stats_percentile(x, n, 0.5);
}

int dfit_stats_summarize_u64(const uint64_t *x, size_t n, struct dfit_summary *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n == 0) {
        out->mean = out->stdev = out->cv = NAN;
        out->p50 = out->p90 = out->p95 = out->p99 = out->max = NAN;
        return 0;
    }
    double *d = malloc(n * sizeof *d);
    if (!d)
        return DFIT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        d[i] = (double)x[i];
    qsort(d, n, sizeof *d, cmp_double);
    out->mean = dfit_stats_mean(d, n);
    out->stdev = dfit_stats_stdev(d, n);
    out->cv = out->mean > 0 ? out->stdev / out->mean : NAN;
    out->p50 = dfit_stats_percentile_sorted(d, n, 0.50);
    out->p90 = dfit_stats_percentile_sorted(d, n, 0.90);
    out->p95 = dfit_stats_percentile_sorted(d, n, 0.95);
    out->p99 = dfit_stats_percentile_sorted(d, n, 0.99);
    out->max = d[n - 1];
    free(d);
    return 0;
}
