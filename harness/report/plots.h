/* plots.h — the gnuplot driver: writes each plot's data files and the
 * static templates (plots/frontier.gp, plots/latency_cdf.gp, compiled in)
 * into one directory, a render.gp that calls the templates with ids only,
 * and runs `gnuplot render.gp` there, without a shell.
 *
 * Safety: gnuplot runs backquotes and system() in script text, so no user
 * text ever reaches a script. Names and titles go only into data files, as
 * quoted labels made harmless by dfit_escape_plot_label; scripts hold only
 * file stems built from numeric ids ("front_t0_w1_e2e"), fixed axis words
 * and numbers printed by dfit. gnuplot is started with posix_spawnp (argv,
 * no shell), in the plot directory (so every path it sees is relative and
 * id-made), stdin from /dev/null, stdout and stderr to render.log.
 * Without gnuplot the data and scripts are still written and the outcome
 * says how to render them.
 * Non-goals: deciding what to plot (report.c), HTML embedding, other plot
 * kinds.
 */
#ifndef DFIT_REPORT_PLOTS_H
#define DFIT_REPORT_PLOTS_H

#include <stdbool.h>
#include <stddef.h>

#include "report/frontier.h"
#include "util/err.h"

#define DFIT_PLOT_STEM_MAX 64
#define DFIT_PLOT_LABEL_CHARS 40         /* longer names are cut in plots */
/* Seconds gnuplot may take for all plots of a report before it is killed. */
#define DFIT_PLOTS_TIMEOUT_S 120

struct dfit_plots;

struct dfit_plot_point {
    double cost, quality;          /* a point with a NAN coordinate is left out */
    double quality_se;             /* NAN: no error bar */
    bool on_frontier, recommended;
    const char *label;             /* the variant's name */
};

/* Quality against one cost axis for target `target` and workload
 * `workload` (ids: indices in the run). Writes front_tT_wW_AXIS_pts.dat
 * and _front.dat; renders front_tT_wW_AXIS.svg and .png. */
struct dfit_plot_frontier {
    int target, workload;
    enum dfit_cost_axis axis;
    enum dfit_quality_axis quality;
    const char *title;             /* names the target and workload (user text) */
    const struct dfit_plot_point *points;
    size_t n_points;
    double x_limit, y_limit;       /* SLO lines; NAN when unset */
};

enum dfit_cdf_metric { DFIT_CDF_E2E = 0, DFIT_CDF_TTFT = 1 };

struct dfit_plot_series {
    int variant;                   /* id: index in the run */
    const char *label;             /* the variant's name */
    const double *values_ms;       /* [n] ascending */
    size_t n;
};

/* Per-request latency CDFs of several variants on one target and workload:
 * cdf_tT_wW_METRIC_vV.dat per series, rendered as cdf_tT_wW_METRIC.svg and
 * .png. */
struct dfit_plot_cdf {
    int target, workload;
    enum dfit_cdf_metric metric;
    const struct dfit_plot_series *series;
    size_t n_series;               /* series with n == 0 are left out */
    double x_limit;                /* the p95 SLO; NAN when unset */
};

enum dfit_plots_status {
    DFIT_PLOTS_NONE = 0,           /* nothing to plot */
    DFIT_PLOTS_RENDERED = 1,       /* every SVG and PNG exists and is non-empty */
    DFIT_PLOTS_NO_GNUPLOT = 2,     /* gnuplot is not on PATH */
    DFIT_PLOTS_FAILED = 3,         /* gnuplot ran but failed, timed out or
                                      left a plot missing */
};

struct dfit_plots_outcome {
    enum dfit_plots_status status;
    /* For the user (may name the directory, so escape it before it goes
     * into a report): what happened and, unless rendered, the exact
     * command that renders the plots. */
    char message[1536];
};

/* Creates dir (and parents) and writes the templates into it. On failure
 * (DFIT_EIO naming the path, DFIT_ENOMEM) *out is NULL. */
int dfit_plots_open(const char *dir, struct dfit_plots **out, struct dfit_err *err);
/* Writes a frontier plot's data (and forgets stale outputs of the same
 * stem). *stem (DFIT_PLOT_STEM_MAX bytes) gets the file stem, or "" when no
 * point has both coordinates (then nothing is written). DFIT_EINVAL for a
 * negative id or unknown axis, DFIT_EIO naming the file. */
int dfit_plots_add_frontier(struct dfit_plots *p, const struct dfit_plot_frontier *f,
                            char *stem, struct dfit_err *err);
/* The same for latency CDFs; "" when every series is empty. DFIT_EINVAL
 * also for values that are not ascending. */
int dfit_plots_add_cdf(struct dfit_plots *p, const struct dfit_plot_cdf *c, char *stem,
                       struct dfit_err *err);
/* Writes render.gp and runs gnuplot on it (unless nothing was added).
 * gnuplot missing or failing is an outcome, not an error: returns 0 with
 * o filled. Errors: DFIT_EIO (render.gp cannot be written), DFIT_ENOMEM. */
int dfit_plots_render(struct dfit_plots *p, struct dfit_plots_outcome *o, struct dfit_err *err);
/* The directory given to dfit_plots_open. */
const char *dfit_plots_dir(const struct dfit_plots *p);
void dfit_plots_close(struct dfit_plots *p); /* accepts NULL */

/* The compiled-in text of a template ("frontier.gp", "latency_cdf.gp"),
 * identical to plots/NAME in the source tree, as a malloc'd string the
 * caller frees; NULL for another name or when out of memory. */
char *dfit_plots_template(const char *name);

#endif
