/* cmd_compress.c — `dfit compress --to TYPE`: converts a model's weight
 * matrices to another tensor type (compress/convert.h) and reports the size
 * and bits per weight before and after.
 * Non-goals: pruning and calibrated quantization (added beside convert).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "compress/convert.h"
#include "model/gguf.h"
#include "util/clock.h"
#include "util/fmt.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit compress --to TYPE IN.gguf -o OUT.gguf [-t THREADS] [--force]\n"
            "\n"
            "Re-encodes every weight matrix of IN into TYPE (norms stay f32) and records\n"
            "the recipe and lineage (parent SHA-256) in OUT's dfit.* metadata.\n"
            "\n"
            "  --to TYPE          f32, f16, bf16, q8_0 or q4_0\n"
            "  -o, --output PATH  output file (written atomically)\n"
            "  -t, --threads N    threads for quantizing rows (default: all CPUs)\n"
            "  --force            overwrite OUT if it exists (never the input)\n"
            "  -h, --help         this text\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dfit compress: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n\n");
    va_end(ap);
    usage(stderr);
    return 2;
}

/* argv[*i] is `name` ("--x V", "--x=V" or "-x V"): returns 1 and sets *val
 * (NULL when the value is missing); 0 when it is another argument. */
static int flag(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=' && name[1] == '-') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Tensor bytes and elements of a file, for bits per weight. */
static int weigh(const char *path, uint64_t *bytes, uint64_t *elements, uint64_t *file_bytes,
                 struct dfit_err *err)
{
    struct dfit_gguf *g = NULL;
    int rc = dfit_gguf_open(path, &g, err);
    if (rc)
        return rc;
    *bytes = *elements = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        *bytes += g->tensors[i].n_bytes;
        *elements += g->tensors[i].n_elements;
    }
    *file_bytes = g->map_bytes;
    dfit_gguf_close(g);
    return 0;
}

int dfit_cmd_compress(int argc, char **argv)
{
    struct dfit_convert_params p = {.to = DFIT_TYPE_F32, .n_threads = 0};
    const char *in = NULL, *out = NULL, *val = NULL;
    bool have_to = false, force = false;
    long n;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (flag(argc, argv, &i, "--to", &val)) {
            if (!val || dfit_type_from_name(val, &p.to) != 0)
                return usage_error("--to: expected f32, f16, bf16, q8_0 or q4_0, got '%s'",
                                   val ? val : "(missing)");
            have_to = true;
        } else if (flag(argc, argv, &i, "-o", &val) || flag(argc, argv, &i, "--output", &val)) {
            if (!val || !*val)
                return usage_error("%s: missing output path", a);
            out = val;
        } else if (flag(argc, argv, &i, "-t", &val) || flag(argc, argv, &i, "--threads", &val)) {
            if (parse_int(val, 1, 1024, &n))
                return usage_error("%s: expected an integer in 1..1024, got '%s'", a,
                                   val ? val : "(missing)");
            p.n_threads = (int)n;
        } else if (!strcmp(a, "--force")) {
            force = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (in) {
            return usage_error("unexpected argument '%s' (input is '%s')", a, in);
        } else {
            in = a;
        }
    }
    if (!have_to)
        return usage_error("missing --to TYPE");
    if (!in)
        return usage_error("missing input IN.gguf");
    if (!out)
        return usage_error("missing -o OUT.gguf");
    if (p.n_threads == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        p.n_threads = c < 1 ? 1 : c > 64 ? 64 : (int)c;
    }

    struct stat st;
    if (!force && stat(out, &st) == 0) {
        fprintf(stderr, "dfit compress: %s exists (use --force to overwrite it)\n", out);
        return 1;
    }
    struct dfit_err err = {0};
    uint64_t t0 = dfit_now_ns();
    if (dfit_convert_file(in, out, &p, &err)) {
        fprintf(stderr, "dfit compress: %s\n", err.msg);
        return 1;
    }
    double secs = (double)(dfit_now_ns() - t0) * 1e-9;

    uint64_t b_in, e_in, f_in, b_out, e_out, f_out;
    if (weigh(in, &b_in, &e_in, &f_in, &err) || weigh(out, &b_out, &e_out, &f_out, &err)) {
        fprintf(stderr, "dfit compress: %s\n", err.msg);
        return 1;
    }
    char s_in[32], s_out[32], s_par[32];
    printf("%s -> %s (%s matrices) in %.2f s\n", in, out, dfit_type_info(p.to)->name, secs);
    printf("  parameters:      %s\n", dfit_fmt_u64(s_par, sizeof s_par, e_out));
    bool smaller = f_out <= f_in;
    double ratio = smaller ? (double)f_in / (double)(f_out ? f_out : 1) : (double)f_out / (double)(f_in ? f_in : 1);
    printf("  file size:       %s -> %s (%.2fx %s)\n", dfit_fmt_bytes(s_in, sizeof s_in, f_in),
           dfit_fmt_bytes(s_out, sizeof s_out, f_out), ratio, smaller ? "smaller" : "larger");
    printf("  bits per weight: %.3f -> %.3f\n", e_in ? 8.0 * (double)b_in / (double)e_in : 0.0,
           e_out ? 8.0 * (double)b_out / (double)e_out : 0.0);
    return 0;
}
