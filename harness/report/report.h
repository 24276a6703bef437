/* report.h — the report of one run: per target, the recommendation and
 * why, every variant × workload measured, the plots; then the machine and
 * the method. Written as DIR/report.html (one self-contained file: inline
 * CSS and SVG, no scripts, no network) and DIR/report.md (Markdown for a
 * pull request, linking the PNG and SVG files under DIR/plots). docs/report.md says how
 * to read it and states the frontier and recommendation rules.
 *
 * Every string that came from a user (names, paths, reasons, machine
 * strings) is escaped for the format it lands in (escape.h); plots get
 * user text only through data files (plots.h).
 *
 * The first part is the interface the runner and `dfit report` use —
 * including dfit_report_summary, the one source of the recommendation per
 * target that both the report and `dfit run`'s last lines show; the second
 * is shared by report.c, report_text.c, report_html.c and report_md.c only.
 * Non-goals: measuring, comparing two runs, serving the report.
 */
#ifndef DFIT_REPORT_REPORT_H
#define DFIT_REPORT_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "report/frontier.h"
#include "report/payoff.h"
#include "report/plots.h"
#include "store/store.h"
#include "store/store_report.h"
#include "util/err.h"

struct dfit_report_options {
    FILE *notes;                   /* where a note about plots that were not
                                      rendered goes; NULL: stderr */
    bool quiet;                    /* no notes at all */
};

struct dfit_report_outcome {
    int64_t run_id;                /* the run reported */
    struct dfit_plots_outcome plots;
};

/* Writes the report of run run_id (0: the latest run in the database) into
 * dir, creating it: dir/report.html and dir/report.md (each written to
 * NAME.tmp, then renamed), and dir/plots/ with the plot data, the gnuplot
 * scripts, render.gp, render.log and the SVG and PNG files. gnuplot missing
 * or failing does not fail the report: the HTML says the plots were not
 * rendered, and unless opt->quiet a note with the exact command that renders
 * them goes to opt->notes. opt and out may be NULL.
 * Errors: DFIT_ENOTFOUND (no such run, or no run at all), DFIT_EIO (the
 * database, or a file under dir, naming it), DFIT_EINVAL (stored values
 * that make no sense, naming them), DFIT_ENOMEM. On failure no report.html
 * or report.md is left half-written (an earlier one stays). */
int dfit_report_write(struct dfit_store *s, int64_t run_id, const char *dir,
                      const struct dfit_report_options *opt, struct dfit_report_outcome *out,
                      struct dfit_err *err);

/* ---- the recommendation of each target ---------------------------------------
 * One source of truth for "what does this run recommend": the report's
 * Recommendations section and the lines `dfit run` prints both come from
 * it (rules: frontier.h, docs/report.md). */

enum dfit_report_verdict {
    DFIT_VERDICT_RECOMMENDED = 0, /* a variant meets every SLO on every workload */
    DFIT_VERDICT_CLOSEST = 1,     /* none does; `variant` misses by the least */
    DFIT_VERDICT_UNMEASURED = 2,  /* no variant was measured on every workload */
    DFIT_VERDICT_SKIPPED = 3,     /* every cell of the target was skipped */
    DFIT_VERDICT_NOT_RUN = 4,     /* the run holds no cell of the target */
};

struct dfit_report_summary_target {
    const char *target;            /* the target's name */
    enum dfit_report_verdict verdict;
    enum dfit_quality_axis qaxis;  /* the target's quality axis */
    int variant;                   /* RECOMMENDED, CLOSEST: its index; else -1 */
    const char *variant_name;      /* ...and name; else NULL */
    /* RECOMMENDED, CLOSEST: the variant's aggregates over the workloads
     * (quality on qaxis, the lowest; costs the highest; NAN unknown) */
    double quality, quality_se, p95_e2e_ms, memory_mib, usd_per_mtok;
    bool invalid;                  /* some of its cells are INVALID */
    int n_misses;                  /* CLOSEST: how many SLO misses */
    char miss[256];                /* CLOSEST: its worst-first miss with its
                                      workload, "p95 TPOT 41.2 ms > 30 ms on
                                      workload chat"; else "" */
    const char *skip_reason;       /* SKIPPED: the first skipped cell's reason */
};

/* Every target of a run, in registration order. Strings are owned. */
struct dfit_report_summary {
    int64_t run_id;
    size_t n_targets;
    struct dfit_report_summary_target *targets; /* [n_targets] */
    char *strings_;
};

/* Reads run run_id (0: the latest) and applies the recommendation rules to
 * every target, as dfit_report_write does. On failure *out is NULL; errors
 * as dfit_report_write's (no files are written). Free with
 * dfit_report_summary_free. */
int dfit_report_summary(struct dfit_store *s, int64_t run_id, struct dfit_report_summary **out,
                        struct dfit_err *err);
void dfit_report_summary_free(struct dfit_report_summary *sum); /* accepts NULL */

/* One target's recommendation as plain text (not escaped: the caller
 * escapes it for where it goes), without the target's name:
 * "f32 (meets every SLO; top-1 agreement 0.953, p95 e2e 12 ms, peak memory
 * 60 MiB)", "no variant meets every SLO; closest: q4_0 (p95 TPOT 41.2 ms >
 * 30 ms on workload chat)", "skipped: REASON", "no variant was measured on
 * every workload", "not measured in this run". Returns buf. */
char *dfit_report_summary_line(const struct dfit_report_summary_target *t, char *buf, size_t cap);

/* ---- shared by the report's own files --------------------------------------- */

/* Derived hardware-counter figures of one phase of a cell; NAN when an
 * input counter is unavailable (why_* then says why) or no tokens. */
struct dfit_report_derived {
    double ipc;
    double ins_per_token;
    double l1_dcm_per_token, l2_dcm_per_token, l3_tcm_per_token, br_msp_per_token;
    const char *why_ipc, *why_ins, *why_l1, *why_l2, *why_l3, *why_br; /* into the cell */
};

/* One variant on one workload of one target. */
struct dfit_report_cell {
    const struct dfit_store_cell *c;  /* NULL: the run holds no such cell */
    struct dfit_fit_cell fit;         /* what the rules read */
    struct dfit_store_latencies lat;  /* per-request samples (ok cells) */
    bool frontier[DFIT_COST_COUNT];   /* on that axis's frontier (this workload) */
    int dominated_by[DFIT_COST_COUNT];/* variant index, -1 none */
    struct dfit_report_derived derived[DFIT_PHASE_COUNT];
    struct dfit_payoff pay;           /* "Does it pay?" against the reference */
};

struct dfit_report_target {
    const struct dfit_target_spec *spec;
    enum dfit_quality_axis qaxis;
    size_t n_cells;                   /* cells the run holds for this target */
    bool skipped;                     /* every one of them skipped */
    const char *skip_reason;          /* the first skipped cell's reason */
    struct dfit_fit *fit;
    struct dfit_report_cell *cells;   /* [n_variants * n_workloads], variant-major */
    /* plot stems ("" = none) per workload */
    char (*front)[DFIT_COST_COUNT][DFIT_PLOT_STEM_MAX]; /* [n_workloads] */
    char (*cdf)[2][DFIT_PLOT_STEM_MAX];                 /* [n_workloads] e2e, ttft */
};

struct dfit_report {
    const char *db_path;
    const char *dir;                  /* output directory */
    struct dfit_store_run *run;
    struct dfit_store_spec *spec;
    struct dfit_store_cell *cells;
    size_t n_cells;
    struct dfit_report_target *targets; /* [spec->n_targets] */
    struct dfit_plots_outcome plots;
    struct dfit_store_task_row *task_rows; /* the run's task accuracy rows */
    size_t n_task_rows;
    const char **task_names;          /* [n_task_names] distinct sets, by idx */
    size_t n_task_names;
    int reference;                    /* variant index of the reference; -1 none */
    bool reference_recorded;          /* false: the run did not record it (the
                                         first variant stands in) */
    const struct dfit_token_cost **costs; /* [n_variants] per-token cost, NULL unknown */
    struct dfit_token_cost *costs_read_; /* [n_variants] storage: costs read from
                                            the files when the run has none */
};

static inline struct dfit_report_cell *dfit_report_cell_at(const struct dfit_report *r,
                                                           size_t t, size_t v, size_t w)
{
    return &r->targets[t].cells[v * r->spec->n_workloads + w];
}

/* The summary of target t of an analysed report; strings point into r. */
void dfit_report_summarise(const struct dfit_report *r, size_t t,
                           struct dfit_report_summary_target *out);
/* Task accuracy of variant v on target t on set k (an index into
 * task_names), or NULL when the run holds none. */
const struct dfit_task_accuracy *dfit_report_task(const struct dfit_report *r, size_t t, size_t v,
                                                  size_t k);
/* Where report text goes: HTML or Markdown. */
struct dfit_report_out {
    FILE *f;
    bool md;
};
/* Text, escaped for the format (use for everything that is not markup). */
void dfit_report_text(const struct dfit_report_out *o, const char *s);
void dfit_report_textf(const struct dfit_report_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Markup, written as is: only literal markup and numbers, never user text. */
void dfit_report_markup(const struct dfit_report_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Bold text (escaped). */
void dfit_report_strong(const struct dfit_report_out *o, const char *s);
/* A task accuracy as "0.25 ± 0.068 (n 40)", "n/a (reason)", or "-" for NULL. */
void dfit_report_put_task(const struct dfit_report_out *o, const struct dfit_task_accuracy *a);
/* Variant v's task accuracy on target t pooled over every set (its cells'
 * accuracy), "0.25 ± 0.068", or "-" when it has none. */
void dfit_report_put_pooled(const struct dfit_report_out *o, const struct dfit_report *r, size_t t,
                            size_t v);

/* Sentences shared by both formats (report_text.c), written inline. */
void dfit_report_put_slos(const struct dfit_report_out *o, const struct dfit_report_target *t);
void dfit_report_put_verdict(const struct dfit_report_out *o, const struct dfit_report *r,
                             size_t t);
/* Why variant v is not the recommendation of target t (or, for the
 * recommended one, what it beats). */
void dfit_report_put_why(const struct dfit_report_out *o, const struct dfit_report *r, size_t t,
                         size_t v);
/* A cell's status word with its reason: "ok", "failed: REASON",
 * "not measured". */
void dfit_report_put_status(const struct dfit_report_out *o, const struct dfit_report_cell *rc);
/* "VALID", "INVALID: reasons", or "" for cells that are not ok. */
void dfit_report_put_validity(const struct dfit_report_out *o,
                              const struct dfit_report_cell *rc);
/* Quality with its standard error ("0.953 ± 0.004") or "n/a (reason)". */
void dfit_report_put_quality(const struct dfit_report_out *o, const struct dfit_report_cell *rc);
/* A derived counter figure or "n/a (reason)". */
void dfit_report_put_derived(const struct dfit_report_out *o, double v, const char *why);

/* Number formats with no user text: milliseconds from nanoseconds (a
 * summary value; "n/a" when n is 0), sizes, rates. Return buf. */
char *dfit_report_ms(const struct dfit_summary *s, double ns, char *buf, size_t cap);
char *dfit_report_bytes(uint64_t v, char *buf, size_t cap);
char *dfit_report_num(double v, char *buf, size_t cap);

/* The "Does it pay?" table of target t (report_payoff.c). */
void dfit_report_payoff_md(const struct dfit_report_out *o, const struct dfit_report *r, size_t t);
void dfit_report_payoff_html(const struct dfit_report_out *o, const struct dfit_report *r,
                             size_t t);

/* The two formats; 0, or -1 when f reports a write error. */
int dfit_report_html(const struct dfit_report *r, FILE *f);
int dfit_report_md(const struct dfit_report *r, FILE *f);

#endif
