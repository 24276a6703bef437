/* cmd_export.c — `dfit export DB --csv DIR [--run ID]`: every table of a
 * results database as CSV files, one per table (see store.h,
 * dfit_store_export_csv, and docs/results.md).
 * Non-goals: other formats, filtering beyond one run, writing the database
 * (it is opened read-only).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "store/store.h"

#define CMD "export"

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

#define usage_error(...) dfit_args_usage_hint(CMD, __VA_ARGS__)

int dfit_cmd_export(int argc, char **argv)
{
    const char *db = NULL, *dir = NULL, *run = NULL, *v = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (dfit_args_flag(argc, argv, &i, "--csv", &v)) {
            if (!v || !*v)
                return usage_error("--csv needs a directory");
            dir = v;
        } else if (dfit_args_flag(argc, argv, &i, "--run", &v)) {
            if (!v || !*v)
                return usage_error("--run needs a run id");
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
        return usage_error("no database given");
    if (!dir)
        return usage_error("--csv DIR is required (CSV is the only export format)");
    uint64_t id = 0;
    if (run && dfit_args_u64(run, 1, INT64_MAX, &id))
        return usage_error("--run: '%s' is not a positive run id", run);
    int64_t run_id = (int64_t)id;

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
