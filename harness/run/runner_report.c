/* runner_report.c — the runner's last step: the report of the run
 * (report.h) next to the database, and on the terminal the recommendation
 * of each target and the report's path. The recommendation comes from
 * dfit_report_summary, which applies the same rules to the same rows as
 * the report, so the line and the report agree.
 * Non-goals: the report's content and files (report/), its rules.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "run/runner_impl.h"

/* printf to f with control characters of the result shown as '?'. */
static void say(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *f, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (const char *p = buf; *p; p++) {
        unsigned char c = (unsigned char)*p;
        fputc((c < 0x20 && c != '\n') || c == 0x7f ? '?' : c, f);
    }
}

/* One line per target of this invocation (a target left out by
 * --only-target has no cell in the run and no line). */
static int print_recommendations(struct runner *r, FILE *out, struct dfit_err *err)
{
    struct dfit_report_summary *sum = NULL;
    int rc = dfit_report_summary(r->store, r->run_id, &sum, err);
    if (rc)
        return rc;
    say(out, "recommendation per target (run %" PRId64 "):\n", r->run_id);
    for (size_t t = 0; t < sum->n_targets; t++) {
        const struct dfit_report_summary_target *st = &sum->targets[t];
        char line[1024];
        if (st->verdict != DFIT_VERDICT_NOT_RUN)
            say(out, "  %s: %s\n", st->target, dfit_report_summary_line(st, line, sizeof line));
    }
    dfit_report_summary_free(sum);
    return 0;
}

int dfit_runner_write_report(struct runner *r, struct dfit_runner_result *res,
                             struct dfit_err *err)
{
    const bool quiet = r->opt->progress == DFIT_PROGRESS_QUIET;
    FILE *out = r->out;
    if (!quiet) {
        say(out, "cells: %d ok%s, %d failed, %d skipped\n", res->n_ok,
            res->n_already ? " (some from before the resume)" : "", res->n_failed, res->n_skipped);
        fflush(out);
    }
    const struct dfit_report_options ro = {.notes = stderr, .quiet = quiet};
    int rc = dfit_report_write(r->store, r->run_id, res->report_dir, &ro, NULL, err);
    if (rc)
        return rc;
    if (!quiet && (rc = print_recommendations(r, out, err)))
        return rc;
    say(out, "report: %s/report.html\n", res->report_dir);
    fflush(out);
    return 0;
}
