/* cmd_report.c — `dfit report DB [--run ID] -o DIR`: writes the report of
 * one run of a results database (the latest by default): DIR/report.html,
 * DIR/report.md and DIR/plots/ (see report/report.h and docs/report.md).
 * Non-goals: running anything, comparing runs, writing the database (it is
 * opened read-only).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "report/report.h"
#include "store/store.h"

#define CMD "report"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit report DB [--run ID] -o DIR\n"
            "\n"
            "Writes the report of one run of the results database DB into DIR:\n"
            "report.html (self-contained: tables and inline SVG plots), report.md\n"
            "(Markdown for a pull request) and plots/ (gnuplot data, scripts, SVG\n"
            "and PNG). Per target: the recommended variant under the target's SLOs\n"
            "and why, the Pareto frontier of quality against latency, memory and\n"
            "cost, and every measurement. Without gnuplot on PATH the plot data and\n"
            "scripts are still written and the command to render them is printed.\n"
            "\n"
            "  -o, --output DIR  output directory (required; created if needed)\n"
            "  --run ID          the run to report (see the runs table); default: the latest\n"
            "  -h, --help        show this help\n"
            "\n"
            "Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

int dfit_cmd_report(int argc, char **argv)
{
    struct dfit_args_db_dir args;
    bool done;
    int status = dfit_args_db_dir(argc, argv, CMD, usage, "-o", "--output", "-o DIR is required", &args, &done);
    if (status || done)
        return status;
    const char *db = args.db, *dir = args.dir;
    const int64_t run_id = args.run_id;

    struct dfit_err err = {0};
    struct dfit_store *s = NULL;
    struct dfit_report_outcome out;
    int rc = dfit_store_open_readonly(db, &s, &err);
    if (!rc)
        rc = dfit_report_write(s, run_id, dir, NULL, &out, &err);
    dfit_store_close(s);
    if (rc) {
        fprintf(stderr, "dfit report: %s\n", err.msg);
        return 1;
    }
    printf("wrote %s/report.html and %s/report.md (run %" PRId64 " of %s; plots: %s)\n", dir, dir,
           out.run_id, db,
           out.plots.status == DFIT_PLOTS_RENDERED    ? "rendered"
           : out.plots.status == DFIT_PLOTS_NONE      ? "none to draw"
           : out.plots.status == DFIT_PLOTS_NO_GNUPLOT ? "not rendered, gnuplot not found"
                                                       : "not rendered, gnuplot failed");
    return 0;
}
