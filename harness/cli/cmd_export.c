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

int dfit_cmd_export(int argc, char **argv)
{
    struct dfit_args_db_dir args;
    bool done;
    int status = dfit_args_db_dir(argc, argv, CMD, usage, "--csv", NULL, "--csv DIR is required (CSV is the only export format)", &args, &done);
    if (status || done)
        return status;
    const char *db = args.db, *dir = args.dir;
    const int64_t run_id = args.run_id;

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
