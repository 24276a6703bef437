/* bench_report.h — the rows `dfit bench` prints: a llama-bench style
 * Markdown table, or CSV / JSON with every sample and the load times.
 * Rows are written to stdout as they are measured (JSON as one array).
 * With --roofline: first the memory bandwidth per thread count, then each
 * tg row beside its bandwidth roofline (Markdown: two tables; CSV: one
 * table, bandwidth rows with test "membw"; JSON: an object with a "membw"
 * and a "rows" array).
 * Non-goals: reading results back, storing them (the results database). */
#ifndef DFIT_CLI_BENCH_REPORT_H
#define DFIT_CLI_BENCH_REPORT_H

#include <stdbool.h>
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

/* The bandwidth ceiling at one thread count (--roofline). */
struct dfit_bench_membw {
    uint32_t threads;
    char method[32];                /* "read avx512", "cuda copy", ... */
    uint64_t buffer_bytes;          /* streamed per repetition */
    uint64_t llc_bytes;             /* 0: unknown or not applicable */
    int reps;
    double bytes_per_s;             /* median */
    double min_bytes_per_s, max_bytes_per_s;
};

/* What a tg row adds with --roofline: bytes read per decoded token and
 * the speed the bandwidth allows. */
struct dfit_bench_roof {
    const struct dfit_bench_membw *bw;
    uint64_t weight_bytes;          /* per decode step: the load report's
                                       weight_bytes plus one embedding row */
    double mean_ctx;                /* positions a step attends, on average */
    double kv_bytes;                /* KV cache read per token at mean_ctx */
    double bytes_per_token;         /* weight_bytes + kv_bytes */
    double roofline_ts;             /* bw->bytes_per_s / bytes_per_token */
    double fraction;                /* median_ts / roofline_ts */
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
    const struct dfit_bench_roof *roof; /* --roofline: set on every row */
};

struct dfit_bench_report {
    enum dfit_bench_fmt fmt;
    const char *backend;
    uint64_t seed;
    int model_width;                /* Markdown column width for file names */
    int n_rows;                     /* rows written so far */
    bool roofline;                  /* --roofline layout */
    int n_membw;                    /* bandwidth rows written so far */
};

/* Writes one bandwidth row (--roofline; all of them before any other row).
 * Never fails, as dfit_bench_report_row. */
void dfit_bench_report_membw(struct dfit_bench_report *rep, const struct dfit_bench_membw *bw);

/* Writes one row (and the header before the first). Never fails; a write
 * error shows in ferror(stdout). */
void dfit_bench_report_row(struct dfit_bench_report *rep, const struct dfit_bench_row *r);
/* Closes the output: the build line under a Markdown table, the JSON
 * array's end, or a CSV header when no row was written. */
void dfit_bench_report_end(const struct dfit_bench_report *rep);

#endif
