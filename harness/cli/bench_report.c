/* bench_report.c — `dfit bench` output (see bench_report.h): Markdown as
 * llama-bench prints it, RFC 4180 CSV, and a JSON array of row objects.
 * Non-goal: pretty column widths for every possible value (Markdown stays
 * valid when a value overflows its column). */
#include "cli/bench_report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

#include "cpu/cpu_features.h"

#define CSV_HEADER                                                                         \
    "file,model_size_bytes,model_n_params,backend,kernels,n_threads,test,n_prompt,n_gen,"  \
    "n_reps,seed,model_open_ms,backend_load_ms,prepare_ms,load_ms,avg_ts,stddev_ts,"       \
    "median_ts,min_ts,max_ts,samples_ts,samples_ns\n"

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void test_name(const struct dfit_bench_row *r, char *buf, size_t cap)
{
    if (r->n_prompt)
        snprintf(buf, cap, "pp%u", r->n_prompt);
    else
        snprintf(buf, cap, "tg%u", r->n_gen);
}

static void fmt_size(uint64_t b, char *buf, size_t cap)
{
    double gib = (double)b / (1024.0 * 1024.0 * 1024.0);
    if (gib >= 1.0)
        snprintf(buf, cap, "%.2f GiB", gib);
    else
        snprintf(buf, cap, "%.2f MiB", (double)b / (1024.0 * 1024.0));
}

static void fmt_params(uint64_t n, char *buf, size_t cap)
{
    if (n >= 1000000000u)
        snprintf(buf, cap, "%.2f B", (double)n / 1e9);
    else if (n >= 1000000u)
        snprintf(buf, cap, "%.2f M", (double)n / 1e6);
    else
        snprintf(buf, cap, "%.2f K", (double)n / 1e3);
}

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void json_num(double v)
{
    if (isfinite(v))
        printf("%.9g", v);
    else
        printf("null");
}

/* RFC 4180: every text field quoted, quotes doubled. */
static void csv_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void md_rule(const struct dfit_bench_report *o)
{
    printf("| %-*s | %10s | %10s | %-7s | %-16s | %7s | %8s | %20s | %10s |\n", o->model_width,
           "model", "size", "params", "backend", "kernels", "threads", "test", "t/s",
           "median t/s");
    printf("| ");
    for (int i = 0; i < o->model_width; i++)
        putchar('-');
    printf(" | ---------: | ---------: | ------- | ---------------- | ------: | -------: "
           "| -------------------: | ---------: |\n");
}

void dfit_bench_report_row(struct dfit_bench_report *o, const struct dfit_bench_row *r)
{
    const struct dfit_bench_load *l = r->load;
    char test[32], size[32], params[32], ts[64];
    test_name(r, test, sizeof test);
    if (o->fmt == DFIT_BENCH_MD) {
        if (o->n_rows == 0)
            md_rule(o);
        fmt_size(l->size_bytes, size, sizeof size);
        fmt_params(l->n_params, params, sizeof params);
        snprintf(ts, sizeof ts, "%.2f ± %.2f", r->mean_ts, r->stdev_ts);
        /* "±" is two bytes but one column: pad by one more */
        printf("| %-*s | %10s | %10s | %-7s | %-16s | %7u | %8s | %21s | %10.2f |\n",
               o->model_width, base_name(l->file), size, params, o->backend, l->kernels,
               l->threads, test, ts, r->median_ts);
    } else if (o->fmt == DFIT_BENCH_CSV) {
        if (o->n_rows == 0)
            fputs(CSV_HEADER, stdout);
        csv_str(l->file);
        printf(",%llu,%llu,", (unsigned long long)l->size_bytes, (unsigned long long)l->n_params);
        csv_str(o->backend);
        putchar(',');
        csv_str(l->kernels);
        printf(",%u,", l->threads);
        csv_str(test);
        printf(",%u,%u,%u,%llu,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,\"", r->n_prompt,
               r->n_gen, r->n_reps, (unsigned long long)o->seed, l->model_open_ms,
               l->backend_load_ms, l->prepare_ms, l->model_open_ms + l->backend_load_ms,
               r->mean_ts, r->stdev_ts, r->median_ts, r->min_ts, r->max_ts);
        for (uint32_t i = 0; i < r->n_reps; i++)
            printf("%s%.3f", i ? " " : "", r->samples_ts[i]);
        printf("\",\"");
        for (uint32_t i = 0; i < r->n_reps; i++)
            printf("%s%.0f", i ? " " : "", r->samples_ns[i]);
        printf("\"\n");
    } else {
        const struct dfit_cpu_features *cf = dfit_cpu_features();
        fputs(o->n_rows == 0 ? "[\n  {" : ",\n  {", stdout);
        printf("\"file\": ");
        json_str(l->file);
        printf(", \"model_size_bytes\": %llu, \"model_n_params\": %llu, \"backend\": ",
               (unsigned long long)l->size_bytes, (unsigned long long)l->n_params);
        json_str(o->backend);
        printf(", \"kernels\": ");
        json_str(l->kernels);
        printf(", \"n_threads\": %u, \"test\": ", l->threads);
        json_str(test);
        printf(", \"n_prompt\": %u, \"n_gen\": %u, \"n_reps\": %u, \"seed\": %llu", r->n_prompt,
               r->n_gen, r->n_reps, (unsigned long long)o->seed);
        const struct {
            const char *key;
            double v;
        } nums[] = {
            {"model_open_ms", l->model_open_ms}, {"backend_load_ms", l->backend_load_ms},
            {"prepare_ms", l->prepare_ms}, {"load_ms", l->model_open_ms + l->backend_load_ms},
            {"avg_ts", r->mean_ts}, {"stddev_ts", r->stdev_ts}, {"median_ts", r->median_ts},
            {"min_ts", r->min_ts}, {"max_ts", r->max_ts},
        };
        for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
            printf(", \"%s\": ", nums[i].key);
            json_num(nums[i].v);
        }
        printf(", \"samples_ts\": [");
        for (uint32_t i = 0; i < r->n_reps; i++) {
            fputs(i ? ", " : "", stdout);
            json_num(r->samples_ts[i]);
        }
        printf("], \"samples_ns\": [");
        for (uint32_t i = 0; i < r->n_reps; i++)
            printf("%s%.0f", i ? ", " : "", r->samples_ns[i]);
        printf("], \"dfit_version\": ");
        json_str(DFIT_VERSION);
        printf(", \"git_commit\": ");
        json_str(DFIT_GIT_COMMIT);
        printf(", \"build_type\": ");
        json_str(DFIT_BUILD_TYPE);
        printf(", \"cpu_simd\": ");
        json_str(dfit_cpu_features_level(cf));
        printf("}");
    }
    o->n_rows++;
    fflush(stdout);
}

void dfit_bench_report_end(const struct dfit_bench_report *o)
{
    if (o->fmt == DFIT_BENCH_MD && o->n_rows > 0) {
        const struct dfit_cpu_features *cf = dfit_cpu_features();
        printf("\nbuild: dfit %s (%s, %s, %s); cpu: %s (%s)\n", DFIT_VERSION, DFIT_GIT_COMMIT,
               DFIT_BUILD_TYPE, DFIT_COMPILER, cf->model[0] ? cf->model : "unknown",
               dfit_cpu_features_level(cf));
    } else if (o->fmt == DFIT_BENCH_CSV && o->n_rows == 0) {
        fputs(CSV_HEADER, stdout); /* keep the file well-formed: header only */
    } else if (o->fmt == DFIT_BENCH_JSON) {
        fputs(o->n_rows ? "\n]\n" : "[]\n", stdout);
    }
    fflush(stdout);
}

