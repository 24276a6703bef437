/* frontier.h — the Pareto frontier of quality against cost, and the
 * recommendation of one variant per target under the target's SLOs
 * (docs/report.md states the rules; this header and frontier.c are their
 * reference).
 *
 * Pure functions on arrays: no I/O, no database, no text from users. The
 * report (report.c) turns store rows into these arrays.
 * Non-goals: choosing the quality axis (the caller passes values on one
 * axis), plotting, formatting tables.
 */
#ifndef DFIT_REPORT_FRONTIER_H
#define DFIT_REPORT_FRONTIER_H

#include <stdbool.h>
#include <stddef.h>

#include "run/result.h"
#include "run/scenario.h"
#include "util/err.h"

/* Which measurement is the quality axis of a target. */
enum dfit_quality_axis {
    DFIT_QUALITY_NONE = 0,     /* no cell of the target has quality */
    DFIT_QUALITY_ACCURACY = 1, /* task accuracy on the CSV eval set */
    DFIT_QUALITY_TOP1 = 2,     /* top-1 agreement with the reference variant */
};
/* "task accuracy", "top-1 agreement with the reference", "none". */
const char *dfit_quality_axis_name(enum dfit_quality_axis a);
/* "accuracy", "top1", "none": the word the plot templates take. */
const char *dfit_quality_axis_key(enum dfit_quality_axis a);

enum dfit_cost_axis {
    DFIT_COST_E2E = 0,    /* p95 end-to-end latency, ms */
    DFIT_COST_MEMORY = 1, /* peak memory, MiB */
    DFIT_COST_USD = 2,    /* USD per million output tokens */
    DFIT_COST_COUNT = 3,
};
/* "e2e", "mem", "usd": ids for file names and the plot templates. */
const char *dfit_cost_axis_key(enum dfit_cost_axis a);
/* "p95 end-to-end latency (ms)", "peak memory (MiB)",
 * "USD per million output tokens". */
const char *dfit_cost_axis_label(enum dfit_cost_axis a);

/* The Pareto frontier of n points (quality[i], cost[i]): higher quality
 * and lower cost are better. Point j dominates point i when it is at least
 * as good on both and strictly better on one; the frontier is the points
 * no other point dominates (equal points do not dominate each other, so
 * duplicates are on the frontier together). A point with a NAN coordinate
 * takes no part: it is neither on the frontier nor dominated, nor does it
 * dominate. On return on_frontier[i] says whether point i is on the
 * frontier, and dominated_by[i] (if dominated_by is non-NULL) is -1 or the
 * index of the frontier point that dominates i with the lowest cost (then
 * the highest quality, then the lowest index). Returns the number of
 * frontier points. Never fails. */
size_t dfit_frontier_compute(const double *quality, const double *cost, size_t n,
                             bool *on_frontier, int *dominated_by);

/* ---- SLOs and the recommendation ------------------------------------------ */

enum dfit_slo_kind {
    DFIT_SLO_P95_TTFT = 0,      /* measured p95 TTFT (ms) <= limit */
    DFIT_SLO_P95_TPOT = 1,      /* measured p95 TPOT (ms) <= limit */
    DFIT_SLO_P95_E2E = 2,       /* measured p95 end-to-end (ms) <= limit */
    DFIT_SLO_MIN_TOKENS_PER_S = 3, /* output tokens/s >= limit */
    DFIT_SLO_MAX_MEMORY = 4,    /* peak memory (MiB) <= limit */
    DFIT_SLO_MAX_USD = 5,       /* USD per million output tokens <= limit */
    DFIT_SLO_MIN_QUALITY = 6,   /* quality on the target's axis >= limit */
    DFIT_SLO_COUNT = 7,
};
/* "p95 TTFT", "p95 TPOT", "p95 e2e", "output tokens/s", "peak memory",
 * "USD/Mtok", "quality". */
const char *dfit_slo_name(enum dfit_slo_kind k);
/* "ms", "ms", "ms", "tok/s", "MiB", "USD", "" */
const char *dfit_slo_unit(enum dfit_slo_kind k);
/* The scenario key ("p95_ttft_ms", ..., "min_quality"). */
const char *dfit_slo_key(enum dfit_slo_kind k);
/* The limit of kind k in slo; NAN when unset. */
double dfit_slo_limit(const struct dfit_slo *slo, enum dfit_slo_kind k);
/* Whether the SLO is a lower bound (tokens/s, quality) rather than an
 * upper bound. */
bool dfit_slo_is_min(enum dfit_slo_kind k);

/* One variant on one workload of a target: what the rules read. NAN means
 * not measured. */
struct dfit_fit_cell {
    bool present;                  /* false: the run holds no such cell */
    enum dfit_cell_status status;
    bool valid;                    /* VALID in the LoadGen sense */
    double quality, quality_se;    /* on the target's quality axis */
    double p95_ttft_ms, p95_tpot_ms, p95_e2e_ms;
    double tokens_per_s;           /* output tokens per second */
    double memory_mib;             /* peak memory */
    double usd_per_mtok;           /* NAN when the target has no price */
};

/* One SLO a variant fails on one workload. */
struct dfit_slo_miss {
    enum dfit_slo_kind kind;
    int workload;                  /* index into the workloads */
    double measured;               /* NAN: not measured */
    double limit;
    double excess;                 /* relative shortfall (0.1 = 10% over);
                                      INFINITY when not measured */
};

struct dfit_fit_variant {
    bool measured;                 /* a cell with status ok on every workload */
    bool meets;                    /* measured and every set SLO met on every workload */
    bool invalid;                  /* some ok cell of it is INVALID */
    int n_misses;
    const struct dfit_slo_miss *misses; /* [n_misses], workload-major, SLO order */
    double miss;                   /* the largest excess of its misses; 0 when
                                      it meets; INFINITY when not measured */
    /* Aggregates over the workloads (NAN unless measured, or where a
     * workload's value is NAN): quality is the lowest, with that cell's
     * standard error; costs are the highest. */
    double quality, quality_se;
    double usd_per_mtok, p95_e2e_ms, memory_mib;
    int rank;                      /* 0 = first in the preference order */
    int dominated_by;              /* -1, or the best-ranked variant that
                                      dominates it on the aggregates */
};

struct dfit_fit {
    int n_variants, n_workloads;
    int recommended;               /* -1 when no variant meets every SLO */
    int closest;                   /* when recommended is -1: the measured
                                      variant that misses by the least, or -1
                                      when none was measured; else -1 */
    struct dfit_fit_variant *variants; /* [n_variants] */
    struct dfit_slo_miss *misses_;     /* storage of the variants' misses */
};

/* Applies the rules to a target's cells, cells[v * n_workloads + w] for
 * variant v and workload w:
 * - a variant is measured when each of its cells is present with status ok
 *   (an INVALID cell counts, but flags the variant);
 * - it meets the SLOs when it is measured and, on every workload, every SLO
 *   the target sets holds (a limit is met at equality; a value that was not
 *   measured misses its SLO);
 * - the preference order: measured before not; higher aggregate quality
 *   (known before unknown); then lower USD/Mtok, lower p95 e2e, smaller
 *   memory (known before unknown on each); then the lower index;
 * - recommended: the first variant in that order that meets the SLOs;
 * - when none does, closest: among measured variants, the smallest miss,
 *   then the fewest misses, then the preference order;
 * - dominated_by: variant j dominates i when both are measured with known
 *   quality, j's quality is at least i's, each of j's aggregate costs is at
 *   most i's (an axis unknown for both is equal; unknown for one of them
 *   makes the two incomparable), and one of these is strict.
 * On failure (DFIT_EINVAL for negative counts or a NULL array with
 * non-zero counts, DFIT_ENOMEM) *out is NULL. Free with dfit_fit_free. */
int dfit_fit_compute(const struct dfit_slo *slo, const struct dfit_fit_cell *cells,
                     int n_variants, int n_workloads, struct dfit_fit **out,
                     struct dfit_err *err);
void dfit_fit_free(struct dfit_fit *f); /* accepts NULL */

/* "p95 TPOT 41.2 ms > 30 ms", "output tokens/s 80.5 tok/s < 100 tok/s",
 * "USD/Mtok not measured (limit 2 USD)" into buf (cap >= 1); returns buf.
 * The workload is not named: the caller adds it, escaped for its format. */
char *dfit_slo_miss_text(const struct dfit_slo_miss *m, char *buf, size_t cap);
/* A value with three significant digits, trailing zeros dropped ("41.2",
 * "30", "0.953", "1250"); an exponent only below 1e-4 or from 1e12 up;
 * "n/a" for NAN. Returns buf. */
char *dfit_frontier_fmt_value(double v, char *buf, size_t cap);

#endif
