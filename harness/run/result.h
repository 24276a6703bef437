/* result.h — what one cell (variant × target × workload) measured: the
 * record a worker fills and the store writes in one transaction, and the
 * report reads back. Raw samples are kept so every statistic can be
 * recomputed. A value that could not be measured is flagged unavailable
 * with a reason — never a zero.
 * Non-goal: how values are measured (runner, workload, counters, quality).
 */
#ifndef DFIT_RUN_RESULT_H
#define DFIT_RUN_RESULT_H

#include <stdbool.h>
#include <stdint.h>

enum dfit_cell_status {
    DFIT_CELL_OK = 0,        /* measured (may still be INVALID, see valid) */
    DFIT_CELL_FAILED = 1,    /* the worker reported an error */
    DFIT_CELL_CRASHED = 2,   /* killed by a signal */
    DFIT_CELL_TIMEOUT = 3,   /* exceeded the target's time limit */
    DFIT_CELL_OOM = 4,       /* exceeded the memory limit */
    DFIT_CELL_SKIPPED = 5,   /* backend/device absent on this machine */
};
const char *dfit_cell_status_name(enum dfit_cell_status s); /* "ok", ... */
/* The inverse of dfit_cell_status_name; false (and *out untouched) for an
 * unknown name. */
bool dfit_cell_status_from_name(const char *name, enum dfit_cell_status *out);

/* Order statistics of a sample set, in nanoseconds or the sample's unit. */
struct dfit_summary {
    uint64_t n;
    double mean, stdev, cv;           /* cv = stdev / mean */
    double p50, p90, p95, p99, max;
};

enum dfit_phase { DFIT_PHASE_LOAD = 0, DFIT_PHASE_PREFILL = 1, DFIT_PHASE_DECODE = 2, DFIT_PHASE_COUNT };
const char *dfit_phase_name(enum dfit_phase p); /* "load", "prefill", "decode" */
/* The inverse of dfit_phase_name; false (and *out untouched) if unknown. */
bool dfit_phase_from_name(const char *name, enum dfit_phase *out);

#define DFIT_COUNTER_NAME_MAX 64
#define DFIT_REASON_MAX 256
struct dfit_counter_value {
    char name[DFIT_COUNTER_NAME_MAX];    /* PAPI event name, e.g. PAPI_TOT_CYC */
    enum dfit_phase phase;
    bool available;
    int64_t value;                       /* summed over the backend's threads */
    char reason[DFIT_REASON_MAX];        /* why unavailable (PAPI's words) */
};

/* Fidelity to the reference variant, as llama.cpp's perplexity tool
 * (--kl-divergence) defines it; each *_se is a standard error. */
struct dfit_quality {
    bool available;
    char reason[DFIT_REASON_MAX];
    uint64_t n_tokens;                   /* scored tokens */
    double ppl, ppl_se;                  /* this variant's perplexity */
    double ppl_ratio, ppl_ratio_se;      /* ppl / ppl(reference) */
    double kl_mean, kl_se, kl_p99;
    double top1, top1_se;                /* agreement with reference argmax */
    double rms_dp, rms_dp_se;            /* RMS of p(token) differences */
    /* task accuracy (CSV eval sets) slots in beside these */
    bool has_accuracy;
    double accuracy, accuracy_se;
};

/* Task accuracy of a (variant, target) pair on one CSV eval set (the
 * scenario's `tasks`); the pair's pooled accuracy over every set goes into
 * dfit_quality's accuracy. Unavailable: no figures, a reason. */
#ifndef DFIT_TASK_NAME_MAX
#define DFIT_TASK_NAME_MAX 128
#endif
struct dfit_task_accuracy {
    char task[DFIT_TASK_NAME_MAX];       /* the set's name: file name without .csv */
    bool available;
    uint64_t n_items, n_correct;         /* items scored, answered right */
    double accuracy, accuracy_se;        /* se = sqrt(p (1 - p) / n) */
    char reason[DFIT_REASON_MAX];        /* why unavailable */
};

struct dfit_request_sample {
    uint64_t ttft_ns;                    /* submit to first token */
    uint64_t e2e_ns;                     /* submit to last token */
    uint32_t n_prompt, n_output;
    uint32_t first_gap;                  /* index of its first gap in gaps[] */
    /* gaps[] holds the requests' gaps request by request, in request order:
     * request i owns gaps[first_gap(i) .. first_gap(i+1)) (the last one up
     * to n_gaps), so first_gap never decreases and requests[0] starts at 0. */
};

struct dfit_cell_result {
    enum dfit_cell_status status;
    char reason[DFIT_REASON_MAX];        /* failure / skip reason */

    /* load, broken down (ns); cold = file evicted from the page cache */
    uint64_t load_open_ns, load_validate_ns, load_prepare_ns, load_first_forward_ns;
    uint64_t load_cold_ns, load_warm_ns;

    /* requests and every inter-token gap */
    struct dfit_request_sample *requests; uint32_t n_requests;
    uint64_t *gaps_ns;                   uint64_t n_gaps;
    uint64_t run_ns;                     /* measured span (after warm-up) */
    struct dfit_summary ttft, tpot, e2e; /* ns */
    double prefill_tokens_per_s, decode_tokens_per_s, requests_per_s;
    double output_tokens_per_s;          /* all generated tokens / run time */

    /* memory */
    uint64_t weight_bytes, kv_bytes, workspace_bytes, peak_rss_bytes;
    uint64_t device_peak_bytes;

    struct dfit_counter_value *counters; uint32_t n_counters;
    struct dfit_quality quality;

    /* derived cost */
    double usd_per_mtok;                 /* NAN when the target has no price */

    /* validity, as MLPerf LoadGen: VALID only if min duration and count
     * were met and the build is optimised */
    bool valid;
    char invalid_reasons[512];           /* "; "-separated */
    char kernels[128];                   /* what the backend chose */

    uint64_t wall_ns;                    /* whole cell: worker start to exit */
};

/* Frees requests, gaps_ns and counters and sets them to NULL and their
 * counts to 0; the rest of *r is kept. Accepts NULL. */
void dfit_cell_result_free_samples(struct dfit_cell_result *r); /* frees arrays */

#endif
