/* cmd_export.c — `dfit export DB --csv DIR [--run ID]`: every table of a
 * results database as CSV files, one per table (see store.h,
 * dfit_store_export_csv, and docs/results.md).
 * Non-goals: other formats, filtering beyond one run, writing the database
 * (it is opened read-only).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit export DB --csv DIR [--run ID]\n"
            "\n"
            "Writes each table of the results database DB as DIR/TABLE.csv (runs,\n"
            "machine_state, variants, targets, workloads, cells, requests, gaps,\n"
            "counters), creating DIR if needed. A header row names the columns; an\n"
            "empty field is NULL (not measured); text is always quoted.\n"
            "\n"
            "  --csv DIR   output directory (required)\n"
            "  --run ID    only run ID (see the runs table); default: every run\n"
            "  -h, --help  show this help\n"
            "\n"
            "Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "dfit export: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'dfit help export' for usage.\n");
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

int dfit_cmd_export(int argc, char **argv)
{
    const char *db = NULL, *dir = NULL, *run = NULL, *v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if ((v = flag_value(argc, argv, &i, "--csv"))) {
            if (!*v)
                return usage_error("--csv needs a directory%s", "");
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
        return usage_error("--csv DIR is required (CSV is the only export format)%s", "");
    int64_t run_id = 0;
    if (run) {
        char *end = NULL;
        errno = 0;
        long long id = strtoll(run, &end, 10);
        if (errno || end == run || *end || id <= 0)
            return usage_error("--run: '%s' is not a positive run id", run);
        run_id = id;
    }

    struct dfit_err err = {0};
    struct dfit_store *s = NULL;
    int rc = dfit_store_open_readonly(db, &s, &err);
    if (!rc)
        rc = dfit_store_export_csv(s, dir, run_id, &err);
    dfit_store_close(s);
    if (rc) {
        fprintf(stderr, "dfit export: %s\n", err.msg);
        return 1;
    }
    if (run_id)
        printf("exported run %" PRId64 " of %s to %s/*.csv\n", run_id, db, dir);
    else
        printf("exported %s to %s/*.csv\n", db, dir);
    return 0;
}
