/* cmd_run.c — `dfit run SCENARIO`: the sweep (see run/runner.h and
 * docs/runner.md), and `dfit run --overhead`: what the runner's
 * bookkeeping adds per generated token (run/overhead.h).
 * Non-goals: anything the runner does; this file only reads flags.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "run/overhead.h"
#include "run/runner.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit run SCENARIO.ini [--db PATH] [--only-target T] [--resume] [--label L]\n"
            "                [--cache-dir DIR] [--progress live|lines] [-q]\n"
            "       dfit run --overhead [MODEL.gguf] [-n TOKENS] [-r REPS] [-t THREADS]\n"
            "\n"
            "Builds the scenario's variants, runs every variant on every target under\n"
            "every workload (each cell in its own worker process, under the target's\n"
            "time and memory limits), stores every measurement in a SQLite database and\n"
            "writes the report (frontier, recommendation per target, plots) next to it.\n"
            "\n"
            "  --db PATH          results database (default results/<scenario name>.db)\n"
            "  --only-target T    run only target T's cells\n"
            "  --resume           continue the latest unfinished run of this scenario file\n"
            "                     in the database: only cells missing or not ok run again\n"
            "  --label L          a label stored with the run\n"
            "  --cache-dir DIR    where built variants are kept (default $DFIT_CACHE_DIR,\n"
            "                     else .cache/models)\n"
            "  --progress MODE    live (a redrawn line) or lines (one per event); default:\n"
            "                     live on a terminal, lines otherwise\n"
            "  -q, --quiet        print only errors and the report's path\n"
            "  -h, --help         show this help\n"
            "\n"
            "  --overhead         instead of a scenario: time a decode loop with and without\n"
            "                     the runner's per-token bookkeeping (timers, counter reads,\n"
            "                     samples, storage) and print the cost in ns per token.\n"
            "                     MODEL defaults to a synth 15m model built in a temporary\n"
            "                     directory; -n tokens per repetition (default 256), -r\n"
            "                     repetitions (default 5), -t threads (default 1)\n"
            "\n"
            "Exit status: 0 every cell that was not skipped is ok, 1 a cell failed (the\n"
            "report is still written) or the run could not be done, 2 usage error,\n"
            "130/143 interrupted by SIGINT/SIGTERM (resume with --resume).\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "dfit run: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'dfit help run' for usage.\n");
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

/* A plain decimal in [lo, hi]. */
static bool parse_count(const char *s, long lo, long hi, long *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int run_overhead(const char *model, long n_tokens, long reps, long threads)
{
    struct dfit_overhead_params p = {
        .model_path = model,
        .n_tokens = (uint32_t)n_tokens,
        .n_reps = (uint32_t)reps,
        .n_threads = (int)threads,
    };
    struct dfit_overhead_result r;
    struct dfit_err err = {0};
    if (dfit_overhead_measure(&p, &r, &err) != 0) {
        fprintf(stderr, "dfit run --overhead: %s\n", err.msg);
        return 1;
    }
    dfit_overhead_print(stdout, &p, &r);
    return 0;
}

int dfit_cmd_run(int argc, char **argv)
{
    struct dfit_runner_options o = {.progress = DFIT_PROGRESS_AUTO};
    bool overhead = false, quiet = false, counts = false;
    long n_tokens = 256, reps = 5, threads = 1;
    const char *v, *model = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--resume") == 0) {
            o.resume = true;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = true;
        } else if (strcmp(a, "--overhead") == 0) {
            overhead = true;
        } else if ((v = flag_value(argc, argv, &i, "--db"))) {
            if (!*v)
                return usage_error("--db needs a path%s", "");
            o.db_path = v;
        } else if ((v = flag_value(argc, argv, &i, "--only-target"))) {
            if (!*v)
                return usage_error("--only-target needs a target name%s", "");
            o.only_target = v;
        } else if ((v = flag_value(argc, argv, &i, "--label"))) {
            o.label = v;
        } else if ((v = flag_value(argc, argv, &i, "--cache-dir"))) {
            if (!*v)
                return usage_error("--cache-dir needs a directory%s", "");
            o.cache_dir = v;
        } else if ((v = flag_value(argc, argv, &i, "--progress"))) {
            if (strcmp(v, "live") == 0)
                o.progress = DFIT_PROGRESS_LIVE;
            else if (strcmp(v, "lines") == 0)
                o.progress = DFIT_PROGRESS_LINES;
            else
                return usage_error("--progress: '%s' is not live or lines", v);
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "-r") == 0 || strcmp(a, "-t") == 0) {
            long *dst = a[1] == 'n' ? &n_tokens : a[1] == 'r' ? &reps : &threads;
            long hi = a[1] == 'n' ? 65536 : a[1] == 'r' ? 1000 : 1024;
            if (i + 1 >= argc || !parse_count(argv[i + 1], a[1] == 'n' ? 2 : 1, hi, dst))
                return usage_error("%s needs a count", a);
            counts = true;
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown flag '%s'", a);
        } else if (overhead ? model != NULL : o.scenario_path != NULL) {
            return usage_error("more than one %s given", overhead ? "model" : "scenario");
        } else if (overhead) {
            model = a;
        } else {
            o.scenario_path = a;
        }
    }
    if (overhead) {
        if (o.scenario_path && !model) {
            model = o.scenario_path; /* `dfit run MODEL --overhead` */
            o.scenario_path = NULL;
        }
        if (o.scenario_path || o.db_path || o.only_target || o.resume || o.label)
            return usage_error("--overhead takes a model file and -n/-r/-t only%s", "");
        return run_overhead(model, n_tokens, reps, threads);
    }
    if (counts)
        return usage_error("-n, -r and -t go with --overhead%s", "");
    if (!o.scenario_path)
        return usage_error("no scenario given%s", "");
    if (quiet)
        o.progress = DFIT_PROGRESS_QUIET;

    struct dfit_runner_result res;
    struct dfit_err err = {0};
    int rc = dfit_runner_run(&o, &res, &err);
    if (rc) {
        fflush(stdout);
        fprintf(stderr, "dfit run: %s\n", err.msg);
        if (res.usage_error)
            fprintf(stderr, "Run 'dfit help run' for usage.\n");
    }
    return dfit_runner_exit_status(rc, &res);
}
