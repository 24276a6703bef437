/* payoff.h — "Does it pay?": a variant's theoretical speed-up over the
 * scenario's reference variant, from what a token costs (token_cost.h),
 * beside the speed-up measured on the same target and workload, and a
 * verdict that makes the misuses of compression plain (a file 3.6x smaller
 * that decodes 1.1x faster; 2:4 zeros that dense kernels multiply anyway).
 *
 * Theory (docs/report.md states it with the rules):
 *   decode   bandwidth-bound: bytes read per decoded token, reference /
 *            variant, at the workload's batch and mean decode context
 *            (prompt + output/2 positions), KV values of kv_value_bytes;
 *   prefill  compute-bound: FLOPs per prompt token, reference / variant,
 *            with dense kernels (what dfit's backends run), and separately
 *            with a kernel that skips pruned zeros.
 * Measured: the variant's decode and prefill tokens/s over the reference's.
 * Verdict, for the phases whose theory promises at least
 * DFIT_PAYOFF_PROMISE (1.2x: smaller gains drown in run-to-run noise): the
 * share of the promised speed-up reached on a log scale,
 * ln(measured) / ln(theory); "pays" when every promised
 * phase reaches DFIT_PAYOFF_PAYS_SHARE and no other phase is slower than
 * DFIT_PAYOFF_REGRESSION x min(1, its theory); "partly" when some promised
 * phase reaches DFIT_PAYOFF_PARTLY_SHARE; else "does not pay" — also when
 * nothing is promised at all (no fewer bytes or FLOPs per token).
 * Pure functions: no I/O, no user text in the verdict.
 * Non-goals: quality (the frontier weighs it), memory footprint.
 */
#ifndef DFIT_REPORT_PAYOFF_H
#define DFIT_REPORT_PAYOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run/token_cost.h"

#define DFIT_PAYOFF_PROMISE 1.20
#define DFIT_PAYOFF_PAYS_SHARE 0.75
#define DFIT_PAYOFF_PARTLY_SHARE 0.25
#define DFIT_PAYOFF_REGRESSION 0.90

enum dfit_payoff_verdict {
    DFIT_PAYOFF_NA = 0,        /* theory or a promised measurement missing */
    DFIT_PAYOFF_REFERENCE = 1, /* the variant the others are compared with */
    DFIT_PAYOFF_PAYS = 2,
    DFIT_PAYOFF_PARTLY = 3,
    DFIT_PAYOFF_NO = 4,        /* does not pay */
};
/* "n/a", "reference", "pays", "partly", "does not pay". */
const char *dfit_payoff_verdict_name(enum dfit_payoff_verdict v);

/* One variant on one (target, workload). */
struct dfit_payoff_side {
    const struct dfit_token_cost *cost; /* NULL: unknown */
    uint64_t file_bytes;                /* 0: unknown */
    double decode_tokens_per_s;         /* NAN: not measured */
    double prefill_tokens_per_s;        /* NAN: not measured */
};

struct dfit_payoff_workload {
    uint32_t prompt_tokens, output_tokens;
    uint32_t batch;                     /* sequences decoding together; 0 = 1 */
    uint32_t kv_value_bytes;            /* 4: F32 cache (cpu), 2: F16 (cuda) */
};

struct dfit_payoff {
    double file_ratio;              /* reference file bytes / variant's */
    double decode_theory;           /* bytes per decoded token, ref / variant */
    double prefill_theory;          /* FLOPs per prompt token, dense kernels */
    double prefill_theory_sparse;   /* ... a kernel that skips pruned zeros */
    double decode_measured;         /* decode tokens/s, variant / ref */
    double prefill_measured;        /* prefill tokens/s, variant / ref */
    enum dfit_payoff_verdict verdict;
    char text[256];                 /* "does not pay: file 3.6× smaller, decode 1.1× faster" */
};

/* Fills *out; unknown numbers are NAN. Never fails. */
void dfit_payoff_compute(const struct dfit_payoff_side *ref, const struct dfit_payoff_side *var,
                         const struct dfit_payoff_workload *w, bool is_reference,
                         struct dfit_payoff *out);

/* A ratio as the table prints it: "3.6×", "12×", "0.85×"; "n/a" for NAN.
 * Returns buf. */
char *dfit_payoff_fmt_ratio(double v, char *buf, size_t cap);

#endif
