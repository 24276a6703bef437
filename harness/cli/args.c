/* args.c — strict command-line parsing, usage errors and JSON strings for
 * the subcommands (see args.h).
 * Non-goals: option bundling, locale-dependent number formats.
 */
#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int dfit_args_flag(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=' && name[0] == '-' && name[1] == '-') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

int dfit_args_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int dfit_args_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v;
    if (dfit_args_u64(s, lo, hi, &v) != 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int dfit_args_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int dfit_args_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s)
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int dfit_args_double_above(const char *s, double lo, double hi, double *out)
{
    double v;
    if (dfit_args_double(s, lo, hi, &v) != 0 || v == lo)
        return -1;
    *out = v;
    return 0;
}

int dfit_args_usage_error(const char *cmd, void (*usage)(FILE *), const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dfit %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n\n");
    va_end(ap);
    if (usage)
        usage(stderr);
    return 2;
}

int dfit_args_usage_hint(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dfit %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'dfit help %s' for usage.\n", cmd);
    va_end(ap);
    return 2;
}

int dfit_args_db_dir(int argc, char **argv, const char *cmd, void (*usage)(FILE *),
                     const char *dir_flag, const char *dir_alias, const char *dir_missing,
                     struct dfit_args_db_dir *out, bool *done)
{
    const char *run = NULL, *v = NULL;
    *out = (struct dfit_args_db_dir){0};
    *done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            *done = true;
            return 0;
        }
        if (dfit_args_flag(argc, argv, &i, dir_flag, &v) ||
            (dir_alias && dfit_args_flag(argc, argv, &i, dir_alias, &v))) {
            if (!v || !*v)
                return dfit_args_usage_hint(cmd, "%s needs a directory", dir_flag);
            out->dir = v;
        } else if (dfit_args_flag(argc, argv, &i, "--run", &v)) {
            if (!v || !*v)
                return dfit_args_usage_hint(cmd, "--run needs a run id");
            run = v;
        } else if (a[0] == '-' && a[1] != '\0') {
            return dfit_args_usage_hint(cmd, "unknown flag '%s'", a);
        } else if (out->db) {
            return dfit_args_usage_hint(cmd, "more than one database given ('%s')", a);
        } else {
            out->db = a;
        }
    }
    if (!out->db)
        return dfit_args_usage_hint(cmd, "no database given");
    if (!out->dir)
        return dfit_args_usage_hint(cmd, "%s", dir_missing);
    uint64_t id = 0;
    if (run && dfit_args_u64(run, 1, INT64_MAX, &id))
        return dfit_args_usage_hint(cmd, "--run: '%s' is not a positive run id", run);
    out->run_id = (int64_t)id;
    return 0;
}

size_t dfit_args_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void dfit_args_json_strn(FILE *f, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned c = p[i];
        size_t u;
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                fprintf(f, "\\u%04x", c);
            } else if (c < 0x80) {
                fputc((int)c, f);
            } else if ((u = dfit_args_utf8_len(p + i, len - i)) > 0) {
                fwrite(p + i, 1, u, f);
                i += u - 1;
            } else {
                fputs("\\ufffd", f);
            }
        }
    }
    fputc('"', f);
}

void dfit_args_json_str(FILE *f, const char *s)
{
    dfit_args_json_strn(f, s, strlen(s));
}
