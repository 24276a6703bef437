/* cmd_report.c — `dfit report DB [--run ID] -o DIR`: writes the report of
 * one run of a results database (the latest by default): DIR/report.html,
 * DIR/report.md and DIR/plots/ (see report/report.h and docs/report.md).
 * Non-goals: running anything, comparing runs, writing the database (it is
 * opened read-only).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "report/report.h"
#include "store/store.h"

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

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "dfit report: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'dfit help report' for usage.\n");
    return 2;
}

/* "--flag VALUE" or "--flag=VALUE"; advances *i past what it used. */
static const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc)
        return "";
    return argv[++*i];
}

int dfit_cmd_report(int argc, char **argv)
{
    const char *db = NULL, *dir = NULL, *run = NULL, *v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if ((v = flag_value(argc, argv, &i, "-o")) || (v = flag_value(argc, argv, &i, "--output"))) {
            if (!*v)
                return usage_error("-o needs a directory%s", "");
            dir = v;
        } else if ((v = flag_value(argc, argv, &i, "--run"))) {
            if (!*v)
                return usage_error("--run needs a run id%s", "");
            run = v;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown flag '%s'", a);
        } else if (db) {
            return usage_error("more than one database given ('%s')", a);
        } else {
            db = a;
        }
    }
    if (!db)
        return usage_error("no database given%s", "");
    if (!dir)
        return usage_error("-o DIR is required%s", "");
    int64_t run_id = 0;
    if (run) {
        char *end = NULL;
        errno = 0;
        long long id = strtoll(run, &end, 10);
        if (errno || end == run || *end || id <= 0 || run[0] == '+' || run[0] == ' ')
            return usage_error("--run: '%s' is not a positive run id", run);
        run_id = id;
    }

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
