/* eval_csv.c — reading and checking task eval sets as CSV (see
 * eval_csv.h). libcsv parses in strict mode without trimming spaces; the
 * text is fed one byte at a time so that every record and field knows the
 * line it starts on, and every error can name its row, line and column.
 * Non-goals: guessing delimiters or encodings, repairing bad rows, writing
 * (eval_set.c).
 */
#include "run/eval_csv.h"
#include "run/eval_csv_impl.h"

#include <csv.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_COLS DFIT_EVAL_MAX_COLS

/* ---- parsing --------------------------------------------------------------- */

struct parse {
    const char *path;
    struct dfit_eval_set *set; /* created at the header */
    struct dfit_err *err;
    int rc;                /* first error, stops everything */
    char *field[MAX_COLS]; /* current record's fields (owned copies) */
    size_t len[MAX_COLS];
    uint32_t n_fields;   /* fields seen in the current record */
    uint32_t n_cols;     /* columns the header fixed; 0 before it */
    uint32_t row;        /* records completed */
    uint32_t line;       /* line of the byte being fed */
    uint32_t row_line;   /* line the current record started on */
    uint32_t field_line; /* line the current field started on */
    bool in_row, field_pending;
};

static struct dfit_eval_where here(const struct parse *ps)
{
    return (struct dfit_eval_where){ps->path, ps->row + 1, ps->row_line};
}

static void drop_fields(struct parse *ps)
{
    for (uint32_t i = 0; i < MAX_COLS; i++) {
        free(ps->field[i]);
        ps->field[i] = NULL;
    }
    ps->n_fields = 0;
}

static void on_field(void *s, size_t n, void *data)
{
    struct parse *ps = data;
    ps->field_pending = true;
    if (ps->rc)
        return;
    struct dfit_eval_where w = here(ps);
    uint32_t col = ps->n_fields + 1;
    if (ps->n_fields >= MAX_COLS) { /* counted, not kept: the row is wrong anyway */
        ps->n_fields++;
        return;
    }
    if (n > DFIT_EVAL_CSV_MAX_FIELD_BYTES) {
        ps->rc = dfit_eval_field_error(ps->err, DFIT_ERANGE, &w, col, NULL,
                                       "field of %zu bytes exceeds the cap of %u bytes", n,
                                       DFIT_EVAL_CSV_MAX_FIELD_BYTES);
        return;
    }
    /* copy, reading CRLF as LF */
    const char *src = s;
    char *d = malloc(n + 1);
    if (!d) {
        ps->rc = dfit_eval_field_error(ps->err, DFIT_ENOMEM, &w, col, NULL, "out of memory");
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (!(src[i] == '\r' && i + 1 < n && src[i + 1] == '\n'))
            d[o++] = src[i];
    d[o] = '\0';
    ps->field[ps->n_fields] = d;
    ps->len[ps->n_fields] = o;
    ps->n_fields++;
}

static const char FORMS[] = "'prompt,answer' or 'prompt,choice_1,...,choice_k,label'";

static int take_header(struct parse *ps)
{
    struct dfit_eval_where w = here(ps);
    const uint32_t n = ps->n_fields;
    for (uint32_t c = 0; c < n && c < MAX_COLS; c++) {
        size_t at;
        const char *why;
        if (dfit_utf8_check(ps->field[c], ps->len[c], &at, &why))
            return dfit_eval_field_error(ps->err, DFIT_EINVAL, &w, c + 1, NULL,
                                         "header: invalid UTF-8 at byte %zu: %s", at, why);
    }
    if (strcmp(ps->field[0], "prompt") != 0)
        return dfit_eval_field_error(ps->err, DFIT_EINVAL, &w, 1, NULL,
                                     "missing header: the first row must be %s, not '%.60s'", FORMS, ps->field[0]);
    if (n < 2)
        return dfit_eval_field_error(ps->err, DFIT_EINVAL, &w, 0, NULL, "header has only 'prompt': expected %s",
                                     FORMS);
    enum dfit_eval_kind kind;
    uint32_t k = 0;
    if (strcmp(ps->field[1], "answer") == 0) {
        if (n > 2)
            return dfit_eval_field_error(ps->err, DFIT_EINVAL, &w, 3, NULL,
                                         "unknown header '%.60s' after 'prompt,answer'", ps->field[2]);
        kind = DFIT_EVAL_GEN;
    } else if (strcmp(ps->field[1], "choice_1") == 0) {
        if (n > MAX_COLS)
            return dfit_eval_field_error(ps->err, DFIT_ERANGE, &w, 0, NULL, "%u columns: at most %u choices",
                                         (unsigned)n, DFIT_EVAL_CSV_MAX_CHOICES);
        k = n - 2;
        for (uint32_t c = 2; c + 1 < n; c++) {
            char want[32];
            snprintf(want, sizeof want, "choice_%u", (unsigned)c);
            if (strcmp(ps->field[c], want) != 0)
                return dfit_eval_field_error(ps->err, DFIT_EINVAL, &w, c + 1, NULL,
                                             "unknown header '%.60s' (expected '%s')", ps->field[c], want);
        }
        if (strcmp(ps->field[n - 1], "label") != 0)
            return dfit_eval_field_error(ps->err, DFIT_EINVAL, &w, n, NULL,
                                         "unknown header '%.60s' (expected 'label' after the choices)",
                                         ps->field[n - 1]);
        if (k < 2)
            return dfit_eval_field_error(ps->err, DFIT_EINVAL, &w, 0, NULL,
                                         "a multiple-choice set needs at least 2 choices");
        kind = DFIT_EVAL_MC;
    } else {
        return dfit_eval_field_error(ps->err, DFIT_EINVAL, &w, 2, NULL,
                                     "unknown header '%.60s' (expected 'answer' or 'choice_1')", ps->field[1]);
    }
    int rc = dfit_eval_set_create(ps->path, kind, k, &ps->set, ps->err);
    if (rc)
        return rc;
    ps->n_cols = n;
    return 0;
}

static void on_row(int c, void *data)
{
    (void)c;
    struct parse *ps = data;
    ps->in_row = false;
    ps->field_pending = true;
    if (ps->rc)
        return;
    struct dfit_eval_where w = here(ps);
    if (ps->n_cols == 0) {
        ps->rc = take_header(ps);
    } else if (ps->n_fields == 1 && strcmp(ps->field[0], "\xEF\xBB\xBF") == 0) {
        ps->rc = dfit_eval_field_error(ps->err, DFIT_EINVAL, &w, 0, NULL,
                                       "a row of only a byte order mark (only the file may start with one)");
    } else if (ps->n_fields != ps->n_cols) {
        ps->rc = dfit_eval_field_error(ps->err, DFIT_EINVAL, &w, 0, NULL, "%u column%s, the header has %u",
                                       (unsigned)ps->n_fields, ps->n_fields == 1 ? "" : "s", (unsigned)ps->n_cols);
    } else {
        ps->rc = dfit_eval_set_add_row(ps->set, &w, ps->field, ps->len, ps->err);
    }
    drop_fields(ps);
    ps->row++;
}

static int no_space(unsigned char c)
{
    (void)c;
    return 0;
}

int dfit_eval_csv_parse(const char *path, const char *data, size_t len, struct dfit_eval_set **out,
                        struct dfit_err *err)
{
    struct dfit_err local;
    if (!err)
        err = &local;
    *out = NULL;
    if (len > DFIT_EVAL_CSV_MAX_FILE_BYTES)
        return dfit_err_set(err, DFIT_ERANGE, "%s: %zu bytes exceeds the cap of %u MiB", path, len,
                            DFIT_EVAL_CSV_MAX_FILE_BYTES >> 20);
    if (len == 0)
        return dfit_err_set(err, DFIT_EINVAL, "%s: empty file (expected a header row: %s)", path, FORMS);
    size_t start = 0;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        start = 3;

    struct parse ps = {.path = path, .err = err, .line = 1, .field_pending = true};
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: cannot start the CSV parser", path);
    csv_set_space_func(&p, no_space);

    for (size_t i = start; i < len && !ps.rc; i++) {
        const unsigned char c = (unsigned char)data[i];
        const bool term = c == '\r' || c == '\n';
        if (!ps.in_row && !term) {
            ps.in_row = true;
            ps.row_line = ps.line;
        }
        if (ps.field_pending && ps.in_row) {
            ps.field_pending = false;
            ps.field_line = ps.line;
        }
        if (csv_parse(&p, data + i, 1, on_field, on_row, &ps) != 1 && !ps.rc) {
            struct dfit_eval_where w = here(&ps);
            if (csv_error(&p) == CSV_EPARSE)
                ps.rc = dfit_eval_field_error(
                    err, DFIT_EINVAL, &w, ps.n_fields + 1, NULL,
                    "stray quote on line %u: a quote inside an unquoted field, or text after a "
                    "closing quote (write a quote inside a quoted field as \"\")",
                    (unsigned)ps.line);
            else
                ps.rc = dfit_eval_field_error(err, DFIT_ENOMEM, &w, ps.n_fields + 1, NULL, "CSV parser: %s",
                                              csv_strerror(csv_error(&p)));
        }
        if (c == '\n' || (c == '\r' && (i + 1 >= len || data[i + 1] != '\n')))
            ps.line++;
    }
    if (!ps.rc && csv_fini(&p, on_field, on_row, &ps) != 0 && !ps.rc) {
        struct dfit_eval_where w = here(&ps);
        ps.rc = dfit_eval_field_error(err, DFIT_EINVAL, &w, ps.n_fields + 1, NULL,
                                      "unterminated quoted field (the quote opened on line %u is never closed)",
                                      (unsigned)ps.field_line);
    }
    csv_free(&p);
    drop_fields(&ps);
    if (!ps.rc && ps.n_cols == 0)
        ps.rc = dfit_err_set(err, DFIT_EINVAL, "%s: empty file%s (expected a header row: %s)", path,
                             start ? " (only a byte order mark and blank lines)" : " (only blank lines)", FORMS);
    if (!ps.rc && ps.set->n_items == 0)
        ps.rc = dfit_err_set(err, DFIT_EINVAL, "%s: no rows after the header", path);
    if (ps.rc) {
        dfit_eval_set_free(ps.set);
        return ps.rc;
    }
    *out = ps.set;
    return 0;
}

int dfit_eval_csv_read(const char *path, struct dfit_eval_set **out, struct dfit_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dfit_err_set(err, DFIT_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return dfit_err_set(err, DFIT_EIO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > DFIT_EVAL_CSV_MAX_FILE_BYTES) {
        fclose(f);
        return dfit_err_set(err, DFIT_ERANGE, "%s: %lld bytes exceeds the cap of %u MiB", path,
                            (long long)st.st_size, DFIT_EVAL_CSV_MAX_FILE_BYTES >> 20);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        return dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory for %lld bytes", path, (long long)st.st_size);
    }
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return dfit_err_set(err, DFIT_EIO, "%s: read error", path);
    }
    int rc = dfit_eval_csv_parse(path, buf, n, out, err);
    free(buf);
    return rc;
}
