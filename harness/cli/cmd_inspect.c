/* cmd_inspect.c — `dfit inspect`: what a GGUF file holds. Metadata (scalars
 * in full, arrays summarised by element type, count and first values), the
 * tensor table, parameter count and bits per weight, and the dfit recipe
 * and lineage (dfit.* keys, arrays in full); as text or JSON. Works for any
 * GGUF the reader accepts, llama or not.
 * Strings are escaped for their medium: in text, control bytes and invalid
 * UTF-8 as \xNN; in JSON, as the grammar requires (invalid UTF-8 becomes
 * U+FFFD).
 * Non-goals: tensor statistics, validating the model's architecture.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "model/gguf.h"
#include "util/fmt.h"

#define CMD "inspect"
#define N_ARRAY_SHOWN 8     /* array elements shown in summaries */
#define N_LINEAGE_MAX 4096  /* array elements shown in the dfit section */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit inspect FILE.gguf [--json]\n"
            "\n"
            "Prints a GGUF file's metadata, tensors, parameter count, bits per weight and\n"
            "dfit recipe/lineage.\n"
            "\n"
            "  --json      the same as one JSON object\n"
            "  -h, --help  this text\n");
}

#define usage_error(...) dfit_args_usage_error(CMD, usage, __VA_ARGS__)

/* ---- strings ----------------------------------------------------------- */

/* json: a JSON string with its quotes (args.h); otherwise text, with '"'
 * escaped only when `quoted` (the caller adds the quotes). */
static void put_str_q(FILE *f, const char *data, uint64_t len, bool json, bool quoted)
{
    const unsigned char *s = (const unsigned char *)data;
    if (json) {
        dfit_args_json_strn(f, data, (size_t)len);
        return;
    }
    for (uint64_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t u;
        if (c >= 0x80) {
            if ((u = dfit_args_utf8_len(s + i, (size_t)(len - i))) > 0) {
                fwrite(s + i, 1, u, f);
                i += u;
            } else {
                fprintf(f, "\\x%02x", c);
                i++;
            }
            continue;
        }
        if (c == '"' && quoted)
            fputs("\\\"", f);
        else if (c == '\\')
            fputs("\\\\", f);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc((int)c, f);
        i++;
    }
}

static void put_str(FILE *f, const char *data, uint64_t len, bool json)
{
    put_str_q(f, data, len, json, false);
}

static void put_cstr(FILE *f, const char *s, bool json)
{
    put_str(f, s, strlen(s), json);
}

/* ---- values ------------------------------------------------------------ */

static void put_float(FILE *f, double v, int digits, bool json)
{
    if (!isfinite(v))
        fputs(json ? "null" : (isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"), f);
    else
        fprintf(f, "%.*g", digits, v);
}

/* One packed little-endian element of type t at p (not STRING/ARRAY). */
static void put_elem(FILE *f, enum dfit_gguf_type t, const void *p, bool json)
{
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
        uint64_t u64; int64_t i64; float f32; double f64;
    } v;
    memcpy(&v, p, dfit_gguf_type_size(t));
    switch (t) {
    case DFIT_GGUF_UINT8: fprintf(f, "%u", (unsigned)v.u8); break;
    case DFIT_GGUF_INT8: fprintf(f, "%d", (int)v.i8); break;
    case DFIT_GGUF_UINT16: fprintf(f, "%u", (unsigned)v.u16); break;
    case DFIT_GGUF_INT16: fprintf(f, "%d", (int)v.i16); break;
    case DFIT_GGUF_UINT32: fprintf(f, "%" PRIu32, v.u32); break;
    case DFIT_GGUF_INT32: fprintf(f, "%" PRId32, v.i32); break;
    case DFIT_GGUF_UINT64: fprintf(f, "%" PRIu64, v.u64); break;
    case DFIT_GGUF_INT64: fprintf(f, "%" PRId64, v.i64); break;
    case DFIT_GGUF_FLOAT32: put_float(f, v.f32, 9, json); break;
    case DFIT_GGUF_FLOAT64: put_float(f, v.f64, 17, json); break;
    case DFIT_GGUF_BOOL: fputs(v.u8 ? "true" : "false", f); break;
    default: fputs(json ? "null" : "?", f); break;
    }
}

/* Array elements [0, n_shown) as "a, b, c" (JSON: inside brackets). */
static void put_arr_elems(FILE *f, const struct dfit_gguf_value *v, uint64_t n_shown, bool json)
{
    size_t sz = dfit_gguf_type_size(v->arr_type);
    if (json)
        fputc('[', f);
    for (uint64_t i = 0; i < n_shown && i < v->n; i++) {
        if (i)
            fputs(", ", f);
        if (v->arr_type == DFIT_GGUF_STRING) {
            const struct dfit_gguf_str *s = (const struct dfit_gguf_str *)v->arr + i;
            if (!json)
                fputc('"', f);
            put_str_q(f, s->data, s->len, json, true);
            if (!json)
                fputc('"', f);
        } else {
            put_elem(f, v->arr_type, (const uint8_t *)v->arr + i * sz, json);
        }
    }
    if (json)
        fputc(']', f);
}

/* A value: scalars in full; arrays summarised, or in full when `full`. */
static void put_value(FILE *f, const struct dfit_gguf_value *v, bool full, bool json)
{
    uint64_t n_shown = full ? N_LINEAGE_MAX : N_ARRAY_SHOWN;
    if (v->type == DFIT_GGUF_STRING) {
        put_str(f, v->str.data, v->str.len, json);
    } else if (v->type != DFIT_GGUF_ARRAY) {
        put_elem(f, v->type, &v->v, json);
    } else if (json && full) {
        put_arr_elems(f, v, n_shown, json);
    } else if (json) {
        fprintf(f, "{\"element_type\": \"%s\", \"count\": %" PRIu64 ", \"first\": ",
                dfit_gguf_type_name(v->arr_type), v->n);
        put_arr_elems(f, v, n_shown, json);
        fputc('}', f);
    } else {
        fprintf(f, "[%s x %" PRIu64 "]", dfit_gguf_type_name(v->arr_type), v->n);
        if (v->n) {
            fputs(full ? "\n      " : ": ", f);
            if (full) {
                for (uint64_t i = 0; i < v->n && i < n_shown; i++) {
                    struct dfit_gguf_value one = *v;
                    one.n = 1;
                    one.arr = (uint8_t *)v->arr + i * (v->arr_type == DFIT_GGUF_STRING
                                                           ? sizeof(struct dfit_gguf_str)
                                                           : dfit_gguf_type_size(v->arr_type));
                    fprintf(f, "%s%" PRIu64 ": ", i ? "\n      " : "", i);
                    put_arr_elems(f, &one, 1, false);
                }
            } else {
                put_arr_elems(f, v, n_shown, false);
            }
            if (v->n > n_shown)
                fputs(", ...", f);
        }
    }
}

static bool is_dfit_key(const char *key)
{
    return strncmp(key, "dfit.", 5) == 0;
}

/* ---- output ------------------------------------------------------------ */

struct totals {
    uint64_t n_params, tensor_bytes;
    double bpw;
};

static void totals_of(const struct dfit_gguf *g, struct totals *t)
{
    *t = (struct totals){0};
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        t->n_params += g->tensors[i].n_elements;
        t->tensor_bytes += g->tensors[i].n_bytes;
    }
    t->bpw = t->n_params ? 8.0 * (double)t->tensor_bytes / (double)t->n_params : 0.0;
}

static const char *type_name(enum dfit_type t)
{
    const struct dfit_type_info *ti = dfit_type_info(t);
    return ti ? ti->name : "?";
}

static void print_text(FILE *f, const struct dfit_gguf *g)
{
    struct totals tot;
    totals_of(g, &tot);
    char a[32], b[32], c[32];
    fputs("file: ", f);
    put_cstr(f, g->path, false);
    fprintf(f, "\nGGUF v%" PRIu32 ", %s, %" PRIu64 " metadata keys, %" PRIu64 " tensors, alignment %" PRIu64
               ", data at byte %s\n",
            g->version, dfit_fmt_bytes(a, sizeof a, g->map_bytes), g->n_kv, g->n_tensors, g->alignment,
            dfit_fmt_u64(b, sizeof b, g->data_offset));

    int w = 8;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        int len = (int)g->kv[i].key.len;
        if (len > w && len <= 48)
            w = len;
    }
    fputs("\nmetadata:\n", f);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct dfit_gguf_kv *kv = &g->kv[i];
        if (is_dfit_key(kv->key.data))
            continue;
        fputs("  ", f);
        put_str(f, kv->key.data, kv->key.len, false);
        fprintf(f, "%*s  %-7s  ", w - (int)kv->key.len > 0 ? w - (int)kv->key.len : 0, "",
                dfit_gguf_type_name(kv->value.type));
        put_value(f, &kv->value, false, false);
        fputc('\n', f);
    }

    fputs("\ndfit recipe and lineage:\n", f);
    bool any = false;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct dfit_gguf_kv *kv = &g->kv[i];
        if (!is_dfit_key(kv->key.data))
            continue;
        any = true;
        fputs("  ", f);
        put_str(f, kv->key.data, kv->key.len, false);
        fputs(" = ", f);
        put_value(f, &kv->value, true, false);
        fputc('\n', f);
    }
    if (!any)
        fputs("  (none: no dfit.* keys)\n", f);

    int nw = 4;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if ((int)g->tensors[i].name.len > nw)
            nw = (int)g->tensors[i].name.len;
    fprintf(f, "\ntensors:\n  %-*s  %-5s  %-24s  %s\n", nw, "name", "type", "shape", "bytes");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct dfit_gguf_tensor *t = &g->tensors[i];
        char shape[128];
        int o = snprintf(shape, sizeof shape, "{");
        for (uint32_t d = 0; d < t->n_dims && o < (int)sizeof shape; d++)
            o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
        if (o < (int)sizeof shape)
            snprintf(shape + o, sizeof shape - (size_t)o, "}");
        fputs("  ", f);
        put_str(f, t->name.data, t->name.len, false);
        fprintf(f, "%*s  %-5s  %-24s  %s\n", nw - (int)t->name.len, "", type_name(t->type), shape,
                dfit_fmt_u64(a, sizeof a, t->n_bytes));
    }
    fprintf(f, "\nparameters: %s\ntensor bytes: %s (%s)\nbits per weight: %.3f\n",
            dfit_fmt_u64(a, sizeof a, tot.n_params), dfit_fmt_u64(b, sizeof b, tot.tensor_bytes),
            dfit_fmt_bytes(c, sizeof c, tot.tensor_bytes), tot.bpw);
}

static void print_json(FILE *f, const struct dfit_gguf *g)
{
    struct totals tot;
    totals_of(g, &tot);
    fputs("{\n  \"file\": ", f);
    put_cstr(f, g->path, true);
    fprintf(f,
            ",\n  \"version\": %" PRIu32 ",\n  \"file_bytes\": %zu,\n  \"alignment\": %" PRIu64
            ",\n  \"data_offset\": %" PRIu64 ",\n  \"n_params\": %" PRIu64 ",\n  \"tensor_bytes\": %" PRIu64
            ",\n  \"bits_per_weight\": ",
            g->version, g->map_bytes, g->alignment, g->data_offset, tot.n_params, tot.tensor_bytes);
    put_float(f, tot.bpw, 6, true);

    fputs(",\n  \"metadata\": {", f);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct dfit_gguf_kv *kv = &g->kv[i];
        fputs(i ? ",\n    " : "\n    ", f);
        put_str(f, kv->key.data, kv->key.len, true);
        fprintf(f, ": {\"type\": \"%s\", \"value\": ", dfit_gguf_type_name(kv->value.type));
        put_value(f, &kv->value, false, true);
        fputc('}', f);
    }
    fputs(g->n_kv ? "\n  },\n  \"lineage\": {" : "},\n  \"lineage\": {", f);
    bool first = true;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct dfit_gguf_kv *kv = &g->kv[i];
        if (!is_dfit_key(kv->key.data))
            continue;
        fputs(first ? "\n    " : ",\n    ", f);
        first = false;
        put_str(f, kv->key.data, kv->key.len, true);
        fputs(": ", f);
        put_value(f, &kv->value, true, true);
    }
    fputs(first ? "},\n  \"tensors\": [" : "\n  },\n  \"tensors\": [", f);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct dfit_gguf_tensor *t = &g->tensors[i];
        fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
        put_str(f, t->name.data, t->name.len, true);
        fprintf(f, ", \"type\": \"%s\", \"shape\": [", type_name(t->type));
        for (uint32_t d = 0; d < t->n_dims; d++)
            fprintf(f, "%s%" PRId64, d ? ", " : "", t->ne[d]);
        fprintf(f, "], \"n_elements\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"offset\": %" PRIu64 "}",
                t->n_elements, t->n_bytes, t->offset);
    }
    fputs(g->n_tensors ? "\n  ]\n}\n" : "]\n}\n", f);
}

int dfit_cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (path) {
            return usage_error("unexpected argument '%s' (file is '%s')", a, path);
        } else {
            path = a;
        }
    }
    if (!path)
        return usage_error("missing FILE.gguf");

    struct dfit_err err = {0};
    struct dfit_gguf *g = NULL;
    if (dfit_gguf_open(path, &g, &err)) {
        fprintf(stderr, "dfit inspect: %s\n", err.msg);
        return 1;
    }
    if (json)
        print_json(stdout, g);
    else
        print_text(stdout, g);
    dfit_gguf_close(g);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "dfit inspect: error writing output\n");
        return 1;
    }
    return 0;
}
