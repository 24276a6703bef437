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

#define CSV_ROOF_HEADER                                                                    \
    "file,model_size_bytes,model_n_params,backend,kernels,n_threads,test,n_gen,n_reps,seed,"   \
    "bandwidth_method,membw_buffer_bytes,membw_reps,read_bytes_per_s,read_min_bytes_per_s,"    \
    "read_max_bytes_per_s,weight_bytes_per_token,mean_ctx,kv_bytes_per_token,"                 \
    "bytes_per_token,avg_ts,stddev_ts,median_ts,roofline_ts,fraction\n"

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

/* ---- --roofline ----------------------------------------------------------- */

static void json_build(void)
{
    const struct dfit_cpu_features *cf = dfit_cpu_features();
    printf("\"dfit_version\": ");
    json_str(DFIT_VERSION);
    printf(", \"git_commit\": ");
    json_str(DFIT_GIT_COMMIT);
    printf(", \"build_type\": ");
    json_str(DFIT_BUILD_TYPE);
    printf(", \"cpu_simd\": ");
    json_str(dfit_cpu_features_level(cf));
}

void dfit_bench_report_membw(struct dfit_bench_report *o, const struct dfit_bench_membw *bw)
{
    char buf[32];
    if (o->fmt == DFIT_BENCH_MD) {
        if (o->n_membw == 0)
            printf("| threads | read GB/s | min GB/s | max GB/s |     buffer | reps | method       |\n"
                   "| ------: | --------: | -------: | -------: | ---------: | ---: | ------------ |\n");
        fmt_size(bw->buffer_bytes, buf, sizeof buf);
        printf("| %7u | %9.2f | %8.2f | %8.2f | %10s | %4d | %-12s |\n", bw->threads,
               bw->bytes_per_s / 1e9, bw->min_bytes_per_s / 1e9, bw->max_bytes_per_s / 1e9, buf,
               bw->reps, bw->method);
    } else if (o->fmt == DFIT_BENCH_CSV) {
        if (o->n_membw == 0)
            fputs(CSV_ROOF_HEADER, stdout);
        printf("\"\",,,");
        csv_str(o->backend);
        printf(",\"\",%u,\"membw\",,,%llu,", bw->threads, (unsigned long long)o->seed);
        csv_str(bw->method);
        printf(",%llu,%d,%.0f,%.0f,%.0f,,,,,,,,,\n", (unsigned long long)bw->buffer_bytes, bw->reps,
               bw->bytes_per_s, bw->min_bytes_per_s, bw->max_bytes_per_s);
    } else {
        fputs(o->n_membw == 0 ? "{\n  \"membw\": [\n    {" : ",\n    {", stdout);
        printf("\"n_threads\": %u, \"method\": ", bw->threads);
        json_str(bw->method);
        printf(", \"buffer_bytes\": %llu, \"llc_bytes\": %llu, \"reps\": %d, \"read_bytes_per_s\": ",
               (unsigned long long)bw->buffer_bytes, (unsigned long long)bw->llc_bytes, bw->reps);
        json_num(bw->bytes_per_s);
        printf(", \"read_min_bytes_per_s\": ");
        json_num(bw->min_bytes_per_s);
        printf(", \"read_max_bytes_per_s\": ");
        json_num(bw->max_bytes_per_s);
        printf("}");
    }
    o->n_membw++;
    fflush(stdout);
}

static void roof_row(struct dfit_bench_report *o, const struct dfit_bench_row *r)
{
    const struct dfit_bench_load *l = r->load;
    const struct dfit_bench_roof *f = r->roof;
    char test[32], size[32], bpt[32], ts[64];
    test_name(r, test, sizeof test);
    if (o->fmt == DFIT_BENCH_MD) {
        if (o->n_rows == 0) {
            printf("\n| %-*s | %10s | %-16s | %7s | %8s | %11s | %20s | %10s | %12s | %8s |\n",
                   o->model_width, "model", "size", "kernels", "threads", "test", "bytes/token",
                   "t/s", "median t/s", "roofline t/s", "achieved");
            printf("| ");
            for (int i = 0; i < o->model_width; i++)
                putchar('-');
            printf(" | ---------: | ---------------- | ------: | -------: | ----------: "
                   "| -------------------: | ---------: | -----------: | -------: |\n");
        }
        fmt_size(l->size_bytes, size, sizeof size);
        fmt_size((uint64_t)llround(f->bytes_per_token), bpt, sizeof bpt);
        snprintf(ts, sizeof ts, "%.2f ± %.2f", r->mean_ts, r->stdev_ts);
        printf("| %-*s | %10s | %-16s | %7u | %8s | %11s | %21s | %10.2f | %12.2f | %6.1f %% |\n",
               o->model_width, base_name(l->file), size, l->kernels, l->threads, test, bpt, ts,
               r->median_ts, f->roofline_ts, 100.0 * f->fraction);
    } else if (o->fmt == DFIT_BENCH_CSV) {
        csv_str(l->file);
        printf(",%llu,%llu,", (unsigned long long)l->size_bytes, (unsigned long long)l->n_params);
        csv_str(o->backend);
        putchar(',');
        csv_str(l->kernels);
        printf(",%u,", l->threads);
        csv_str(test);
        printf(",%u,%u,%llu,", r->n_gen, r->n_reps, (unsigned long long)o->seed);
        csv_str(f->bw->method);
        printf(",%llu,%d,%.0f,%.0f,%.0f,%llu,%.1f,%.0f,%.0f,%.3f,%.3f,%.3f,%.3f,%.4f\n",
               (unsigned long long)f->bw->buffer_bytes, f->bw->reps, f->bw->bytes_per_s,
               f->bw->min_bytes_per_s, f->bw->max_bytes_per_s,
               (unsigned long long)f->weight_bytes, f->mean_ctx, f->kv_bytes, f->bytes_per_token,
               r->mean_ts, r->stdev_ts, r->median_ts, f->roofline_ts, f->fraction);
    } else {
        if (o->n_membw == 0)
            fputs("{\n  \"membw\": [", stdout);
        fputs(o->n_rows == 0 ? "\n  ],\n  \"rows\": [\n    {" : ",\n    {", stdout);
        printf("\"file\": ");
        json_str(l->file);
        printf(", \"model_size_bytes\": %llu, \"model_n_params\": %llu, \"backend\": ",
               (unsigned long long)l->size_bytes, (unsigned long long)l->n_params);
        json_str(o->backend);
        printf(", \"kernels\": ");
        json_str(l->kernels);
        printf(", \"n_threads\": %u, \"test\": ", l->threads);
        json_str(test);
        printf(", \"n_gen\": %u, \"n_reps\": %u, \"seed\": %llu, \"bandwidth_method\": ",
               r->n_gen, r->n_reps, (unsigned long long)o->seed);
        json_str(f->bw->method);
        printf(", \"weight_bytes_per_token\": %llu", (unsigned long long)f->weight_bytes);
        const struct {
            const char *key;
            double v;
        } nums[] = {
            {"read_bytes_per_s", f->bw->bytes_per_s}, {"mean_ctx", f->mean_ctx},
            {"kv_bytes_per_token", f->kv_bytes}, {"bytes_per_token", f->bytes_per_token},
            {"avg_ts", r->mean_ts}, {"stddev_ts", r->stdev_ts}, {"median_ts", r->median_ts},
            {"roofline_ts", f->roofline_ts}, {"fraction", f->fraction},
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
        printf("], ");
        json_build();
        printf("}");
    }
    o->n_rows++;
    fflush(stdout);
}

static void roof_end(const struct dfit_bench_report *o)
{
    if (o->fmt == DFIT_BENCH_JSON) {
        if (o->n_membw == 0)
            fputs("{\n  \"membw\": [", stdout);
        fputs(o->n_rows ? "\n  ]\n}\n" : "\n  ],\n  \"rows\": []\n}\n", stdout);
    } else if (o->fmt == DFIT_BENCH_CSV && o->n_membw == 0 && o->n_rows == 0) {
        fputs(CSV_ROOF_HEADER, stdout);
    } else if (o->fmt == DFIT_BENCH_MD && (o->n_membw || o->n_rows)) {
        const struct dfit_cpu_features *cf = dfit_cpu_features();
        printf("\nbuild: dfit %s (%s, %s, %s); cpu: %s (%s)\n", DFIT_VERSION, DFIT_GIT_COMMIT,
               DFIT_BUILD_TYPE, DFIT_COMPILER, cf->model[0] ? cf->model : "unknown",
               dfit_cpu_features_level(cf));
    }
    fflush(stdout);
}

/* ---- rows ------------------------------------------------------------------ */

void dfit_bench_report_row(struct dfit_bench_report *o, const struct dfit_bench_row *r)
{
    if (o->roofline && r->roof) {
        roof_row(o, r);
        return;
    }
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
        printf("], ");
        json_build();
        printf("}");
    }
    o->n_rows++;
    fflush(stdout);
}

void dfit_bench_report_end(const struct dfit_bench_report *o)
{
    if (o->roofline) {
        roof_end(o);
        return;
    }
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

