/* scenario.h — a deployment scenario: what to build, where to serve it and
 * under which traffic, read from an INI file (libinih).
 *
 *   [scenario]        name, base, reference, eval, seed, eval_tokens, tasks,
 *                     task_limit
 *   [variant NAME]    file = PATH | compress = f16|bf16|q8_0|q4_0 [from = VARIANT]
 *                     [method = plain|awq] [prune = SPEC] [calib = synth[:SEED]|PATH]
 *   [target NAME]     backend, threads, memory_limit_mib, price_per_hour,
 *                     time_limit_s, counters, kernels, device, and the SLOs
 *                     p95_ttft_ms, p95_tpot_ms, p95_e2e_ms, min_tokens_per_s,
 *                     max_memory_mib, max_usd_per_mtok, min_quality
 *   [workload NAME]   mode = single-stream|offline, prompt_tokens,
 *                     output_tokens, batch, min_duration_ms, min_requests,
 *                     warmup_requests
 * `base` is a model file (relative paths are relative to the scenario file)
 * or `synth:PRESET[:SEED]`, built on first use and cached by content hash.
 * Every error names the file and line: "q.ini:12: [target edge]: key
 * 'threads': 'two' is not an integer".
 * Non-goal: executing anything — see plan.h and runner.h.
 */
#ifndef DFIT_RUN_SCENARIO_H
#define DFIT_RUN_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

/* A variant, target or workload name: 1 to DFIT_SCENARIO_NAME_MAX bytes of
 * valid UTF-8 without '/', ']' or control characters (scenario.c says
 * which), so a cell id "variant/target/workload" splits back unambiguously.
 * Names reach files only as ids and hashes, never as file names. */
#define DFIT_SCENARIO_NAME_MAX 64
/* Most CSV eval sets a scenario may list, and the longest set name + NUL. */
#define DFIT_SCENARIO_MAX_TASKS 32
#ifndef DFIT_TASK_NAME_MAX
#define DFIT_TASK_NAME_MAX 128
#endif

/* An SLO value is NAN when the target does not set it. */
struct dfit_slo {
    double p95_ttft_ms;
    double p95_tpot_ms;
    double p95_e2e_ms;
    double min_tokens_per_s;
    double max_memory_mib;
    double max_usd_per_mtok;
    double min_quality;
};

struct dfit_variant_spec {
    char *name;
    char *file;          /* resolved path, or NULL when built by a recipe */
    char *compress;      /* recipe: target type name ("q4_0"), or NULL */
    char *from;          /* parent variant name for a recipe; NULL = base */
    int line;            /* where the section starts */
    char *method;        /* recipe: quantization "plain" or "awq" (needs compress =
                            q8_0 or q4_0), or NULL (plain) */
    char *prune;         /* recipe: a --prune spec ("unstructured:0.5", "2:4",
                            "heads:F", "ffn:F", "layers:N"), or NULL */
    char *calib;         /* recipe: calibration text (resolved path) or
                            "synth[:SEED]" for AWQ and activation-aware pruning;
                            NULL: magnitude pruning, AWQ on "synth" */
};

struct dfit_target_spec {
    char *name;
    char *backend;           /* "cpu", "cuda" */
    int threads;             /* >= 1 */
    double memory_limit_mib; /* worker address-space cap; NAN = none */
    double price_per_hour;   /* USD; NAN = unknown (no cost axis) */
    double time_limit_s;     /* per cell; default 600 */
    char *kernels;           /* backend kernel choice or NULL */
    char *device;            /* backend device or NULL */
    char **counters;         /* [n_counters] PAPI event names */
    int n_counters;          /* 0 = the defaults */
    struct dfit_slo slo;
    int line;
};

enum dfit_workload_mode {
    DFIT_MODE_SINGLE_STREAM = 0, /* one request at a time, back to back */
    DFIT_MODE_OFFLINE = 1,       /* batches of `batch` requests at once */
};

struct dfit_workload_spec {
    char *name;
    enum dfit_workload_mode mode;
    uint32_t prompt_tokens;
    uint32_t output_tokens;
    uint32_t batch;              /* offline: requests per batch; single: 1 */
    uint64_t min_duration_ms;
    uint32_t min_requests;
    uint32_t warmup_requests;
    int line;
};

struct dfit_scenario {
    char *path;          /* as given */
    char *dir;           /* directory of the file, for relative paths */
    char *name;
    char *base;          /* model path or "synth:PRESET[:SEED]" */
    char *reference;     /* variant name fidelity is measured against */
    char *eval;          /* eval text file (resolved) or "synth" */
    uint32_t eval_tokens;/* tokens of eval data scored per variant */
    uint64_t seed;
    char **tasks;        /* [n_tasks] CSV eval sets (resolved paths), scored for
                            task accuracy beside fidelity; NULL when none */
    int n_tasks;
    uint32_t task_limit; /* items scored per set; 0: every item */
    struct dfit_variant_spec *variants;   int n_variants;
    struct dfit_target_spec *targets;     int n_targets;
    struct dfit_workload_spec *workloads; int n_workloads;
};

/* Parses and validates path. On failure *out is NULL and err names the
 * file and line. Codes: DFIT_EIO (cannot read), DFIT_EINVAL (any problem
 * with the content, including a `base`, `file` or `eval` that does not
 * exist), DFIT_ENOMEM. Defaults: reference = the first variant, eval =
 * "synth", eval_tokens 512, seed 42, no tasks (each listed eval set must
 * exist, read as a valid CSV eval set and have a name of its own; its path
 * is resolved), task_limit 0 (all items), name = the file's name without its
 * extension; threads 1, time_limit_s 600; batch 1, min_duration_ms 1000,
 * min_requests 8, warmup_requests 1; unset SLOs, memory limit and price are
 * NAN. Backend names are not checked here (the plan skips unknown ones). */
int dfit_scenario_load(const char *path, struct dfit_scenario **out, struct dfit_err *err);
void dfit_scenario_free(struct dfit_scenario *s); /* accepts NULL */

const struct dfit_variant_spec *dfit_scenario_variant(const struct dfit_scenario *s, const char *name);
const struct dfit_target_spec *dfit_scenario_target(const struct dfit_scenario *s, const char *name);
/* NULL when absent. */
const struct dfit_workload_spec *dfit_scenario_workload(const struct dfit_scenario *s, const char *name);
/* "single-stream", "offline" ("?" for anything else). */
const char *dfit_workload_mode_name(enum dfit_workload_mode m);

/* Longest synth preset name plus its NUL. */
#define DFIT_SYNTH_PRESET_MAX 32
/* When s->base is "synth:PRESET[:SEED]", copies PRESET and sets *seed (the
 * scenario's seed when SEED is absent) and returns true; false for a model
 * file base. A loaded scenario's synth base is always well-formed. */
bool dfit_scenario_synth_base(const struct dfit_scenario *s, char preset[DFIT_SYNTH_PRESET_MAX],
                              uint64_t *seed);

#endif
