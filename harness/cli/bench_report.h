/* bench_report.h — the rows `dfit bench` prints: a llama-bench style
 * Markdown table, or CSV / JSON with every sample and the load times.
 * Rows are written to stdout as they are measured (JSON as one array).
 * Non-goals: reading results back, storing them (the results database). */
#ifndef DFIT_CLI_BENCH_REPORT_H
#define DFIT_CLI_BENCH_REPORT_H

#include <stdint.h>

enum dfit_bench_fmt { DFIT_BENCH_MD, DFIT_BENCH_CSV, DFIT_BENCH_JSON };

/* What one (file, thread count) load gives each of its rows. */
struct dfit_bench_load {
    const char *file;               /* as given on the command line */
    uint64_t size_bytes;            /* tensor bytes */
    uint64_t n_params;
    uint32_t threads;
    char kernels[128];              /* from the backend's load report */
    double model_open_ms;           /* dfit_model_open: map and validate */
    double backend_load_ms;         /* backend load (includes prepare) */
    double prepare_ms;              /* the backend's own repack/convert time */
};

/* One (file, thread count, test) measurement. A pp row has n_gen 0, a tg
 * row n_prompt 0. */
struct dfit_bench_row {
    const struct dfit_bench_load *load;
    uint32_t n_prompt, n_gen;
    uint32_t n_reps;
    const double *samples_ns;       /* [n_reps] time inside forward calls */
    const double *samples_ts;       /* [n_reps] tokens per second */
    double mean_ts, stdev_ts, median_ts, min_ts, max_ts;
};

struct dfit_bench_report {
    enum dfit_bench_fmt fmt;
    const char *backend;
    uint64_t seed;
    int model_width;                /* Markdown column width for file names */
    int n_rows;                     /* rows written so far */
};

/* Writes one row (and the header before the first). Never fails; a write
 * error shows in ferror(stdout). */
void dfit_bench_report_row(struct dfit_bench_report *rep, const struct dfit_bench_row *r);
/* Closes the output: the build line under a Markdown table, the JSON
 * array's end, or a CSV header when no row was written. */
void dfit_bench_report_end(const struct dfit_bench_report *rep);

#endif
