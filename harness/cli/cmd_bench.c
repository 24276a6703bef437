/* cmd_bench.c — `dfit bench`: prompt-processing and generation speed of
 * model files on a backend, measured as llama-bench does it.
 *
 * For each file × thread count the model is loaded once on the backend, then
 * each test runs once to warm up and -r more times, timed:
 *   ppN  one forward call of N prompt tokens into an empty cache (logits for
 *        the last token only);
 *   tgN  N single-token decode calls, starting from an empty cache.
 * Tokens are random vocabulary ids from a seeded generator, so every file and
 * thread count sees the same tokens. Only the forward calls are inside the
 * clock (and the backend's sync, when it has one). Rows come out as they are
 * measured, as a Markdown table, CSV or JSON (the last two with every sample
 * and the load times).
 * With --roofline: first the memory bandwidth at each thread count, then
 * only the tg tests, each beside the decode speed the bandwidth probed just
 * before it allows (bench_roofline.h); no file is needed for the bandwidth
 * alone.
 * Non-goals: concurrent sequences, latency percentiles, quality, storing
 * results — the scenario runner does those.
 */
#include <ctype.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "cli/bench_report.h"
#include "cli/bench_roofline.h"
#include "cli/cli.h"
#include "model/llama.h"
#include "run/membw.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/rng.h"
#include "util/stats.h"

#define MAX_LIST 64               /* values per -p/-n/-t list */
#define MAX_TOKENS (1u << 20)     /* per test */
#define MAX_THREADS 1024
#define MAX_REPS 100000u
#define DEFAULT_SEED 1234
#define MAX_MEMBW_MIB (1u << 20)  /* 1 TiB */

struct u32_list {
    size_t n;
    uint32_t v[MAX_LIST];
};

struct bench_opts {
    struct u32_list n_prompt, n_gen, threads;
    uint32_t reps;
    enum dfit_bench_fmt fmt;
    const char *backend;
    uint64_t seed;
    char **files;               /* [n_files], from argv */
    int n_files;
    bool roofline;
    bool prompt_given;          /* -p was on the command line */
    uint64_t membw_mib;         /* --membw-mib; 0: the probe's default */
    char kernels_buf[256];      /* --kernels, its commas made NULs */
    const char *kernels[MAX_LIST]; /* [n_kernels]; NULL: the backend's default */
    size_t n_kernels;
};

/* ---- flags ------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit bench FILE.gguf [FILE2.gguf ...] [options]\n"
            "       dfit bench --roofline [FILE.gguf ...] [-n N[,N...]] [-t N[,N...]] [options]\n"
            "\n"
            "Measures prompt processing (ppN: one forward call of N tokens) and\n"
            "generation (tgN: N one-token decode calls) in tokens/s, as llama-bench\n"
            "does: one warm-up run, then REPS timed runs of every test.\n"
            "With --roofline: the memory read bandwidth at each thread count, then\n"
            "each file's tg speed beside bandwidth / bytes read per decoded token.\n"
            "\n"
            "options:\n"
            "  -p, --n-prompt N[,N...]   prompt lengths (default 512; 0 = no pp test)\n"
            "  -n, --n-gen N[,N...]      generation lengths (default 128; 0 = no tg test)\n"
            "  -t, --threads N[,N...]    thread counts (default: the CPUs this process may use)\n"
            "  -r, --repetitions REPS    timed runs per test, and with --roofline of the\n"
            "                            bandwidth probe (default 5)\n"
            "  -o, --output md|csv|json  output format (default md)\n"
            "      --backend NAME        backend to run on (default cpu)\n"
            "      --kernels K[,K...]    the backend's kernel choices to compare, e.g.\n"
            "                            ref,auto or auto,auto+mmap (cpu: docs/kernels.md;\n"
            "                            default: $DFIT_CPU_KERNELS, else auto)\n"
            "      --seed S              seed of the random prompt tokens (default %d)\n"
            "      --roofline            measure memory bandwidth and set tg speed against it\n"
            "                            (no pp tests; FILEs optional)\n"
            "      --membw-mib M         bandwidth probe buffer in MiB (default: max(1024,\n"
            "                            8 x last-level cache), at most half the free memory)\n"
            "  -h, --help                show this help\n"
            "\n"
            "exit status: 0 all measured, 1 a file failed to load or run (the others\n"
            "still run), 2 usage error.\n",
            DEFAULT_SEED);
}

/* "dfit bench: FLAG: message" and a pointer to the help; returns 2. */
__attribute__((format(printf, 2, 3)))
static int usage_error(const char *flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dfit bench: %s: ", flag);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'dfit help bench' for usage.\n");
    va_end(ap);
    return 2;
}

/* Decimal digits only, no sign, no overflow, <= max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* "K[,K...]" of kernel choices, each 1..31 characters of [a-z0-9_+-].
 * Returns 0 or the exit status 2. */
static int parse_kernels(const char *flag, const char *s, struct bench_opts *o)
{
    if (strlen(s) >= sizeof o->kernels_buf)
        return usage_error(flag, "list longer than %zu characters", sizeof o->kernels_buf - 1);
    snprintf(o->kernels_buf, sizeof o->kernels_buf, "%s", s);
    o->n_kernels = 0;
    char *p = o->kernels_buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        const size_t len = strlen(p);
        if (len == 0)
            return usage_error(flag, "empty element in list '%s'", s);
        if (len > 31 || strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_+-") != len)
            return usage_error(flag, "'%s' is not a kernel choice (1 to 31 of a-z 0-9 _ + -)", p);
        if (o->n_kernels == MAX_LIST)
            return usage_error(flag, "more than %d values in '%s'", MAX_LIST, s);
        o->kernels[o->n_kernels++] = p;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* "N[,N...]" with every N in [lo, hi]. Returns 0 or the exit status 2. */
static int parse_list(const char *flag, const char *s, uint32_t lo, uint32_t hi,
                      struct u32_list *out)
{
    char item[32];
    out->n = 0;
    if (!*s)
        return usage_error(flag, "empty list");
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0)
            return usage_error(flag, "empty element in list '%s'", s);
        if (len >= sizeof item)
            return usage_error(flag, "'%s' is not a number in [%u, %u]", s, lo, hi);
        memcpy(item, p, len);
        item[len] = '\0';
        uint64_t v;
        if (parse_u64(item, hi, &v) != 0 || v < lo)
            return usage_error(flag, "'%s' is not a number in [%u, %u]", item, lo, hi);
        if (out->n == MAX_LIST)
            return usage_error(flag, "more than %d values in '%s'", MAX_LIST, s);
        out->v[out->n++] = (uint32_t)v;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static uint32_t default_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (uint32_t)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1;
}

static uint32_t list_max(const struct u32_list *l)
{
    uint32_t m = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] > m)
            m = l->v[i];
    return m;
}

/* Matches "-x", "--long" (value in the next argument) and "--long=value".
 * Returns 1 and sets *value on a match, 0 when arg is another flag, -1 when
 * the value is missing. */
static int match_flag(int argc, char **argv, int *i, const char *shrt, const char *lng,
                      const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(lng);
    if (strncmp(arg, lng, n) == 0 && arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (!((shrt && strcmp(arg, shrt) == 0) || strcmp(arg, lng) == 0))
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

/* --roofline: tg tests only, on a backend with a bandwidth probe. Returns
 * 0 or the exit status 2. */
static int check_roofline(struct bench_opts *o)
{
    if (o->prompt_given)
        return usage_error("-p", "does not apply with --roofline (prompt processing is bound by "
                                 "compute, not bandwidth)");
    o->n_prompt = (struct u32_list){.n = 1, .v = {0}};
    if (!dfit_bench_roofline_supported(o->backend))
        return usage_error("--roofline", "no bandwidth probe for backend '%s'", o->backend);
    if (o->n_files > 0 && list_max(&o->n_gen) == 0)
        return usage_error("-n", "--roofline with model files needs a generation test");
    return 0;
}

/* Fills o from argv. Returns 0, or an exit status (0 for --help, 2). */
static int parse_args(int argc, char **argv, struct bench_opts *o, int *done)
{
    *o = (struct bench_opts){.reps = 5, .fmt = DFIT_BENCH_MD, .backend = "cpu", .seed = DEFAULT_SEED,
                             .n_kernels = 1};
    o->n_prompt = (struct u32_list){.n = 1, .v = {512}};
    o->n_gen = (struct u32_list){.n = 1, .v = {128}};
    o->threads = (struct u32_list){.n = 1, .v = {default_threads()}};
    o->files = calloc((size_t)argc, sizeof *o->files);
    if (!o->files) {
        fprintf(stderr, "dfit bench: out of memory\n");
        return 1;
    }
    *done = 0;
    int only_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        if (only_files || arg[0] != '-' || strcmp(arg, "-") == 0) {
            o->files[o->n_files++] = argv[i];
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_files = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            *done = 1;
            return 0;
        }
        if (strcmp(arg, "--roofline") == 0) {
            o->roofline = true;
            continue;
        }
        static const struct {
            const char *shrt, *lng;
        } flags[] = {
            {"-p", "--n-prompt"}, {"-n", "--n-gen"}, {"-t", "--threads"}, {"-r", "--repetitions"},
            {"-o", "--output"}, {NULL, "--backend"}, {NULL, "--seed"}, {NULL, "--membw-mib"},
            {NULL, "--kernels"},
        };
        int which = -1, m = 0;
        for (int f = 0; f < (int)(sizeof flags / sizeof flags[0]); f++) {
            m = match_flag(argc, argv, &i, flags[f].shrt, flags[f].lng, &val);
            if (m != 0) {
                which = f;
                break;
            }
        }
        char name[32]; /* the flag as typed, without "=value" */
        snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
        if (which < 0)
            return usage_error(name, "unknown flag");
        if (m < 0)
            return usage_error(name, "missing value");
        int rc = 0;
        uint64_t v;
        switch (which) {
        case 0:
            rc = parse_list(name, val, 0, MAX_TOKENS, &o->n_prompt);
            o->prompt_given = true;
            break;
        case 1: rc = parse_list(name, val, 0, MAX_TOKENS, &o->n_gen); break;
        case 2: rc = parse_list(name, val, 1, MAX_THREADS, &o->threads); break;
        case 3:
            if (parse_u64(val, MAX_REPS, &v) != 0 || v == 0)
                return usage_error(name, "'%s' is not a number in [1, %u]", val, MAX_REPS);
            o->reps = (uint32_t)v;
            break;
        case 4:
            if (strcmp(val, "md") == 0)
                o->fmt = DFIT_BENCH_MD;
            else if (strcmp(val, "csv") == 0)
                o->fmt = DFIT_BENCH_CSV;
            else if (strcmp(val, "json") == 0)
                o->fmt = DFIT_BENCH_JSON;
            else
                return usage_error(name, "unknown format '%s' (md, csv or json)", val);
            break;
        case 5:
            if (!dfit_backend_find(val)) {
                fprintf(stderr, "dfit bench: %s: unknown backend '%s' (compiled in:", name, val);
                for (size_t b = 0; b < dfit_backend_count(); b++)
                    fprintf(stderr, " %s", dfit_backend_at(b)->name);
                fprintf(stderr, ")\nRun 'dfit help bench' for usage.\n");
                return 2;
            }
            o->backend = val;
            break;
        case 6:
            if (parse_u64(val, UINT64_MAX, &v) != 0)
                return usage_error(name, "'%s' is not a number", val);
            o->seed = v;
            break;
        case 7:
            if (parse_u64(val, MAX_MEMBW_MIB, &v) != 0 || v == 0)
                return usage_error(name, "'%s' is not a number in [1, %u]", val, MAX_MEMBW_MIB);
            o->membw_mib = v;
            break;
        case 8: rc = parse_kernels(name, val, o); break;
        }
        if (rc)
            return rc;
    }
    if (o->roofline)
        return check_roofline(o);
    if (o->membw_mib)
        return usage_error("--membw-mib", "applies only with --roofline");
    if (o->n_files == 0) {
        fprintf(stderr, "dfit bench: no model file given\nRun 'dfit help bench' for usage.\n");
        return 2;
    }
    if (list_max(&o->n_prompt) == 0 && list_max(&o->n_gen) == 0)
        return usage_error("-p/-n", "no test to run: every prompt and generation length is 0");
    return 0;
}

/* ---- measuring -------------------------------------------------------- */

/* Scratch for one loaded model: token, position, sequence and want arrays
 * of n_max entries, and one row of logits. */
struct bench_buf {
    uint32_t n_max;
    int32_t *token;   /* [n_max] */
    int32_t *pos;     /* [n_max] 0..n_max-1 */
    int32_t *seq;     /* [n_max] all 0 */
    int8_t *want;     /* [n_max] */
    float *logits;    /* [n_vocab] */
};

static void buf_free(struct bench_buf *b)
{
    free(b->token);
    free(b->pos);
    free(b->seq);
    free(b->want);
    free(b->logits);
    *b = (struct bench_buf){0};
}

static int buf_alloc(struct bench_buf *b, uint32_t n_max, uint32_t n_vocab, struct dfit_err *err)
{
    *b = (struct bench_buf){.n_max = n_max};
    b->token = calloc(n_max, sizeof *b->token);
    b->pos = calloc(n_max, sizeof *b->pos);
    b->seq = calloc(n_max, sizeof *b->seq);
    b->want = calloc(n_max, sizeof *b->want);
    b->logits = calloc(n_vocab, sizeof *b->logits);
    if (!b->token || !b->pos || !b->seq || !b->want || !b->logits) {
        buf_free(b);
        return dfit_err_set(err, DFIT_ENOMEM, "out of memory for %u tokens", n_max);
    }
    for (uint32_t i = 0; i < n_max; i++)
        b->pos[i] = (int32_t)i;
    return 0;
}

/* One run of a test from an empty cache; *ns is the time inside forward
 * calls (and sync). */
static int run_once(const struct dfit_backend_ops *be, void *ctx, const struct dfit_model *m,
                    struct bench_buf *b, uint32_t n_prompt, uint32_t n_gen, struct dfit_rng *rng,
                    uint64_t *ns, struct dfit_err *err)
{
    uint32_t n = n_prompt ? n_prompt : n_gen;
    if (be->seq_reset(ctx, 0) != 0)
        return dfit_err_set(err, DFIT_EINTERNAL, "backend '%s': seq_reset failed", be->name);
    for (uint32_t i = 0; i < n; i++)
        b->token[i] = (int32_t)dfit_rng_below(rng, m->hp.n_vocab);
    uint64_t t0, t1;
    if (n_prompt) {
        memset(b->want, 0, n);
        b->want[n - 1] = 1;
        struct dfit_batch batch = {
            .n_tokens = n, .token = b->token, .pos = b->pos, .seq = b->seq, .want = b->want};
        t0 = dfit_now_ns();
        int rc = be->forward(ctx, &batch, b->logits, err);
        if (rc == 0 && be->sync && be->sync(ctx) != 0)
            rc = dfit_err_set(err, DFIT_EINTERNAL, "backend '%s': sync failed", be->name);
        t1 = dfit_now_ns();
        if (rc)
            return rc;
    } else {
        t0 = dfit_now_ns();
        for (uint32_t i = 0; i < n; i++) {
            struct dfit_batch batch = {
                .n_tokens = 1, .token = b->token + i, .pos = b->pos + i, .seq = b->seq, .want = NULL};
            int rc = be->forward(ctx, &batch, b->logits, err);
            /* a decoder needs the logits before choosing the next token */
            if (rc == 0 && be->sync && be->sync(ctx) != 0)
                rc = dfit_err_set(err, DFIT_EINTERNAL, "backend '%s': sync failed", be->name);
            if (rc)
                return rc;
        }
        t1 = dfit_now_ns();
    }
    *ns = t1 > t0 ? t1 - t0 : 1;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Mean, sample stdev, median (nearest rank, as the runner reports
 * percentiles: an observed sample), min and max of the tokens/s samples. */
static void summarise(struct dfit_bench_row *r, double *scratch)
{
    uint32_t n = r->n_reps;
    r->mean_ts = dfit_stats_mean(r->samples_ts, n);
    r->stdev_ts = dfit_stats_stdev(r->samples_ts, n);
    memcpy(scratch, r->samples_ts, n * sizeof *scratch);
    qsort(scratch, n, sizeof *scratch, cmp_double);
    r->median_ts = dfit_stats_percentile_sorted(scratch, n, 0.5);
    r->min_ts = scratch[0];
    r->max_ts = scratch[n - 1];
}

/* Warm-up plus reps timed runs of one test; emits its row (beside its
 * roofline when rb is non-NULL). */
static int run_test(const struct bench_opts *o, struct dfit_bench_report *out,
                    const struct dfit_backend_ops *be, void *ctx, const struct dfit_model *m,
                    struct bench_buf *b, const struct dfit_bench_load *load,
                    const struct dfit_bench_roof_base *rb, uint32_t n_prompt, uint32_t n_gen,
                    struct dfit_err *err)
{
    int rc = DFIT_ENOMEM;
    double *ns = calloc(o->reps, sizeof *ns);
    double *ts = calloc(o->reps, sizeof *ts);
    double *scratch = calloc(o->reps, sizeof *scratch);
    if (!ns || !ts || !scratch) {
        dfit_err_set(err, DFIT_ENOMEM, "out of memory for %u samples", o->reps);
        goto fail;
    }
    struct dfit_rng rng;
    dfit_rng_seed(&rng, o->seed);
    uint64_t t;
    rc = run_once(be, ctx, m, b, n_prompt, n_gen, &rng, &t, err); /* warm-up */
    for (uint32_t i = 0; rc == 0 && i < o->reps; i++) {
        rc = run_once(be, ctx, m, b, n_prompt, n_gen, &rng, &t, err);
        ns[i] = (double)t;
        ts[i] = (double)(n_prompt ? n_prompt : n_gen) * 1e9 / (double)t;
    }
    if (rc)
        goto fail;
    struct dfit_bench_row row = {.load = load, .n_prompt = n_prompt, .n_gen = n_gen,
                            .n_reps = o->reps, .samples_ns = ns, .samples_ts = ts};
    summarise(&row, scratch);
    struct dfit_bench_roof roof;
    if (rb) {
        dfit_bench_roofline_row(rb, n_gen, row.median_ts, &roof);
        row.roof = &roof;
    }
    dfit_bench_report_row(out, &row);
fail:
    free(ns);
    free(ts);
    free(scratch);
    return rc;
}

/* Prints "dfit bench: FILE: reason", without repeating the file name when
 * the message already starts with it. */
static void report_error(const char *file, const struct dfit_err *err)
{
    size_t n = strlen(file);
    const char *msg = err->msg[0] ? err->msg : dfit_err_name(err->code);
    if (strncmp(msg, file, n) == 0 && msg[n] == ':')
        fprintf(stderr, "dfit bench: %s\n", msg);
    else
        fprintf(stderr, "dfit bench: %s: %s\n", file, msg);
}

/* Repetitions of a bandwidth probe: -r, at most DFIT_MEMBW_MAX_REPS. */
static int probe_reps(const struct bench_opts *o)
{
    return o->reps < DFIT_MEMBW_MAX_REPS ? (int)o->reps : DFIT_MEMBW_MAX_REPS;
}

/* All thread counts and tests of one file; bws is non-NULL with
 * --roofline (each tg test then probes the bandwidth again just before it
 * runs). Returns 0 or 1 (a failure was reported). */
static int bench_file(const struct bench_opts *o, struct dfit_bench_report *out,
                      const struct dfit_backend_ops *be, const char *file,
                      const struct dfit_bench_membw *bws)
{
    struct dfit_err err = {0};
    struct dfit_model *m = NULL;
    struct bench_buf b = {0};
    int failed = 0;
    uint32_t max_p = list_max(&o->n_prompt), max_n = list_max(&o->n_gen);

    uint64_t t0 = dfit_now_ns();
    if (dfit_model_open(file, &m, &err) != 0)
        goto fail;
    double open_ms = (double)(dfit_now_ns() - t0) / 1e6;
    if (m->hp.n_vocab == 0) {
        dfit_err_set(&err, DFIT_EINVAL, "model has an empty vocabulary");
        goto fail;
    }
    if (buf_alloc(&b, max_p > max_n ? max_p : max_n, m->hp.n_vocab, &err) != 0)
        goto fail;

    for (size_t ti = 0; ti < o->threads.n; ti++)
    for (size_t ki = 0; ki < o->n_kernels; ki++) {
        struct dfit_backend_params params = {
            .n_threads = (int)o->threads.v[ti],
            .n_ctx = (max_p > max_n ? max_p : max_n) + 1,
            .n_seq = 1,
            .n_batch_max = max_p > 1 ? max_p : 1,
            .kernels = o->kernels[ki],
        };
        struct dfit_load_report rep = {0};
        void *ctx = NULL;
        dfit_err_clear(&err);
        t0 = dfit_now_ns();
        if (be->load(m, &params, &ctx, &rep, &err) != 0) {
            report_error(file, &err);
            failed = 1;
            continue;
        }
        struct dfit_bench_load load = {
            .file = file, .size_bytes = m->weight_bytes, .n_params = m->n_params,
            .threads = o->threads.v[ti], .model_open_ms = open_ms,
            .backend_load_ms = (double)(dfit_now_ns() - t0) / 1e6,
            .prepare_ms = (double)rep.prepare_ns / 1e6,
        };
        rep.kernels[sizeof rep.kernels - 1] = '\0';
        snprintf(load.kernels, sizeof load.kernels, "%s", rep.kernels[0] ? rep.kernels : "?");
        for (size_t i = 0; i < o->n_prompt.n; i++) {
            if (o->n_prompt.v[i] == 0)
                continue;
            if (run_test(o, out, be, ctx, m, &b, &load, NULL, o->n_prompt.v[i], 0, &err) != 0) {
                report_error(file, &err);
                failed = 1;
            }
        }
        for (size_t i = 0; i < o->n_gen.n; i++) {
            if (o->n_gen.v[i] == 0)
                continue;
            /* the roofline of this test: bandwidth read just before it, since
             * a shared machine's bandwidth drifts over a run */
            struct dfit_bench_membw bw_now;
            struct dfit_bench_roof_base rb;
            if (bws && (dfit_bench_roofline_measure(o->backend, o->threads.v[ti],
                                                    o->membw_mib << 20, probe_reps(o), &bw_now,
                                                    &err) != 0 ||
                        dfit_bench_roofline_base(be->name, m, &rep, &bw_now, &rb, &err) != 0)) {
                report_error(file, &err);
                failed = 1;
                continue;
            }
            if (run_test(o, out, be, ctx, m, &b, &load, bws ? &rb : NULL, 0, o->n_gen.v[i],
                         &err) != 0) {
                report_error(file, &err);
                failed = 1;
            }
        }
        be->unload(ctx);
    }
    buf_free(&b);
    dfit_model_free(m);
    return failed;
fail:
    report_error(file, &err);
    buf_free(&b);
    dfit_model_free(m);
    return 1;
}

int dfit_cmd_bench(int argc, char **argv)
{
    struct bench_opts o;
    int done = 0;
    int rc = parse_args(argc, argv, &o, &done);
    if (rc != 0 || done) {
        free(o.files);
        return rc;
    }

    const struct dfit_backend_ops *be = dfit_backend_find(o.backend);
    struct dfit_device_list devs = {0};
    struct dfit_err err = {0};
    if (!be) { /* parse_args checked --backend; only a build without "cpu" gets here */
        fprintf(stderr, "dfit bench: backend '%s' is not compiled in\n", o.backend);
        free(o.files);
        return 1;
    }
    if (be->probe && be->probe(&devs, &err) != 0) {
        fprintf(stderr, "dfit bench: backend '%s': %s\n", o.backend,
                err.msg[0] ? err.msg : dfit_err_name(err.code));
        free(o.files);
        return 1;
    }

    struct dfit_bench_report out = {.fmt = o.fmt, .backend = o.backend, .seed = o.seed,
                                    .model_width = 5, .roofline = o.roofline};
    for (int i = 0; i < o.n_files; i++) {
        const char *slash = strrchr(o.files[i], '/');
        int w = (int)strlen(slash ? slash + 1 : o.files[i]);
        if (w > out.model_width)
            out.model_width = w < 48 ? w : 48;
    }
    int failed = 0;
    struct dfit_bench_membw *bws = NULL;
    if (o.roofline) {
        if (!(bws = calloc(o.threads.n, sizeof *bws))) {
            fprintf(stderr, "dfit bench: out of memory\n");
            free(o.files);
            return 1;
        }
        for (size_t ti = 0; ti < o.threads.n; ti++) {
            if (dfit_bench_roofline_measure(o.backend, o.threads.v[ti], o.membw_mib << 20,
                                            probe_reps(&o),
                                            &bws[ti], &err) != 0) {
                fprintf(stderr, "dfit bench: %s\n", err.msg[0] ? err.msg : dfit_err_name(err.code));
                dfit_bench_report_end(&out);
                free(bws);
                free(o.files);
                return 1;
            }
            dfit_bench_report_membw(&out, &bws[ti]);
        }
    }
    for (int i = 0; i < o.n_files; i++)
        failed |= bench_file(&o, &out, be, o.files[i], bws);
    dfit_bench_report_end(&out);
    free(bws);
    free(o.files);
    if (ferror(stdout))
        return 1;
    return failed ? 1 : 0;
}
