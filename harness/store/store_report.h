/* store_report.h — the read queries the report needs beyond store.h: a
 * run's variants, targets and workloads read back as registered, and one
 * cell's per-request latencies (the raw samples behind the latency CDFs)
 * without its inter-token gaps.
 * Non-goals: writing, statistics, anything store.h already reads.
 */
#ifndef DFIT_STORE_STORE_REPORT_H
#define DFIT_STORE_STORE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "run/scenario.h"
#include "store/store.h"
#include "util/err.h"

/* What a run measures, in registration order (row id). Every string is
 * malloc'd and owned by the struct; unknown values as in store.h (NULL
 * strings, 0 sizes, NAN reals). A target's counters are its stored
 * comma-separated list split back into names. */
struct dfit_store_spec {
    struct dfit_store_variant *variants;  size_t n_variants;
    struct dfit_target_spec *targets;     size_t n_targets;
    struct dfit_workload_spec *workloads; size_t n_workloads;
};

/* Reads run_id's variants, targets and workloads. A run with none of some
 * kind gives a NULL array and a 0 count. On failure (DFIT_EIO with SQLite's
 * message naming the database, DFIT_EINVAL for a stored value out of range
 * such as an unknown workload mode, DFIT_ENOMEM) *out is NULL. Free with
 * dfit_store_spec_free. */
int dfit_store_load_spec(struct dfit_store *s, int64_t run_id, struct dfit_store_spec **out,
                         struct dfit_err *err);
void dfit_store_spec_free(struct dfit_store_spec *spec); /* accepts NULL */

/* One cell's requests: TTFT and end-to-end latency in milliseconds, each
 * sorted ascending (for CDFs), and the prompt and output tokens summed over
 * the requests. */
struct dfit_store_latencies {
    double *ttft_ms;                /* [n] ascending */
    double *e2e_ms;                 /* [n] ascending */
    size_t n;
    uint64_t n_prompt_tokens, n_output_tokens;
};

/* Reads the requests of cell cell_id (the id in struct dfit_store_cell).
 * A cell without requests gives n = 0 and NULL arrays. On failure (DFIT_EIO,
 * DFIT_ENOMEM) *out is zeroed. Free with dfit_store_latencies_clear. */
int dfit_store_load_latencies(struct dfit_store *s, int64_t cell_id,
                              struct dfit_store_latencies *out, struct dfit_err *err);
void dfit_store_latencies_clear(struct dfit_store_latencies *l); /* accepts NULL */

#endif
