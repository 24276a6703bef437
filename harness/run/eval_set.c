/* eval_set.c — eval sets in memory (see eval_csv.h): the UTF-8 check,
 * building a set row by row with the reader's checks, and writing it as
 * CSV. Non-goals: parsing (eval_csv.c), scoring (accuracy.c).
 */
#include "run/eval_csv.h"
#include "run/eval_csv_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_COLS DFIT_EVAL_MAX_COLS

/* ---- UTF-8 ------------------------------------------------------------------ */

int dfit_utf8_check(const char *str, size_t n, size_t *bad_at, const char **why)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        const unsigned char c = s[i];
        const char *bad = NULL;
        size_t want = 1;
        unsigned char lo = 0x80, hi = 0xBF; /* bounds of the second byte */
        if (c == 0) {
            bad = "NUL byte";
        } else if (c < 0x80) {
            want = 1;
        } else if (c < 0xC0) {
            bad = "unexpected continuation byte";
        } else if (c < 0xC2) {
            bad = "overlong encoding";
        } else if (c < 0xE0) {
            want = 2;
        } else if (c < 0xF0) {
            want = 3;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c < 0xF5) {
            want = 4;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else if (c < 0xF8) {
            bad = "code point above U+10FFFF";
        } else {
            bad = "byte 0xF8..0xFF (never in UTF-8)";
        }
        for (size_t k = 1; !bad && k < want; k++) {
            if (i + k >= n || (s[i + k] & 0xC0) != 0x80)
                bad = "truncated sequence";
            else if (k == 1 && s[i + 1] < lo)
                bad = "overlong encoding";
            else if (k == 1 && s[i + 1] > hi)
                bad = c == 0xED ? "UTF-16 surrogate" : "code point above U+10FFFF";
        }
        if (bad) {
            if (bad_at)
                *bad_at = i;
            if (why)
                *why = bad;
            return -1;
        }
        i += want;
    }
    return 0;
}

/* ---- sets --------------------------------------------------------------------- */

static void item_clear(struct dfit_eval_item *it, uint32_t n_choices)
{
    free(it->prompt);
    free(it->answer);
    if (it->choices)
        for (uint32_t k = 0; k < n_choices; k++)
            free(it->choices[k]);
    free(it->choices);
    memset(it, 0, sizeof *it);
}

void dfit_eval_set_free(struct dfit_eval_set *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->n_items; i++)
        item_clear(&s->items[i], s->n_choices);
    free(s->items);
    free(s->name);
    free(s);
}

/* "dir/eval_add.csv" -> "eval_add" */
static char *set_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 4 && strcmp(b + n - 4, ".csv") == 0)
        n -= 4;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, b, n);
        s[n] = '\0';
    }
    return s;
}

int dfit_eval_set_create(const char *name, enum dfit_eval_kind kind, uint32_t n_choices,
                         struct dfit_eval_set **out, struct dfit_err *err)
{
    *out = NULL;
    if (kind != DFIT_EVAL_GEN && kind != DFIT_EVAL_MC)
        return dfit_err_set(err, DFIT_EINVAL, "%s: unknown eval set kind %d", name, (int)kind);
    if (kind == DFIT_EVAL_MC && (n_choices < 2 || n_choices > DFIT_EVAL_CSV_MAX_CHOICES))
        return dfit_err_set(err, DFIT_EINVAL, "%s: %u choices (need 2..%u)", name, (unsigned)n_choices,
                            DFIT_EVAL_CSV_MAX_CHOICES);
    struct dfit_eval_set *s = calloc(1, sizeof *s);
    if (!s || !(s->name = set_name(name))) {
        free(s);
        return dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", name);
    }
    s->kind = kind;
    s->n_choices = kind == DFIT_EVAL_MC ? n_choices : 0;
    *out = s;
    return 0;
}

int dfit_eval_field_error(struct dfit_err *err, int code, const struct dfit_eval_where *w, uint32_t col,
                          const char *col_name, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char colbuf[64] = "";
    if (col)
        snprintf(colbuf, sizeof colbuf, ", column %u%s%s%s", (unsigned)col, col_name ? " (" : "",
                 col_name ? col_name : "", col_name ? ")" : "");
    if (w->row)
        return dfit_err_set(err, code, "%s: row %u (line %u)%s: %s", w->path, (unsigned)w->row, (unsigned)w->line,
                            colbuf, msg);
    return dfit_err_set(err, code, "%s: item%s: %s", w->path, colbuf, msg);
}

/* Checks one field's text: size cap, UTF-8, stray BOM, and (unless
 * may_be_empty) non-empty, and (unless may_break) no line break. */
static int check_text(const char *s, size_t n, const struct dfit_eval_where *w, uint32_t col, const char *col_name,
                      const char *what, bool may_break, struct dfit_err *err)
{
    size_t at;
    const char *why;
    if (n > DFIT_EVAL_CSV_MAX_FIELD_BYTES)
        return dfit_eval_field_error(err, DFIT_ERANGE, w, col, col_name,
                                     "%s of %zu bytes exceeds the cap of %u bytes", what, n,
                                     DFIT_EVAL_CSV_MAX_FIELD_BYTES);
    if (dfit_utf8_check(s, n, &at, &why))
        return dfit_eval_field_error(err, DFIT_EINVAL, w, col, col_name,
                                     "invalid UTF-8 at byte %zu of the field: %s", at, why);
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        return dfit_eval_field_error(err, DFIT_EINVAL, w, col, col_name,
                                     "starts with a byte order mark (only the file may start with one)");
    if (n == 0)
        return dfit_eval_field_error(err, DFIT_EINVAL, w, col, col_name, "empty %s", what);
    if (!may_break && memchr(s, '\n', n))
        return dfit_eval_field_error(err, DFIT_EINVAL, w, col, col_name,
                                     "%s contains a line break (an answer ends at the first newline)", what);
    if (!may_break && memchr(s, '\r', n))
        return dfit_eval_field_error(err, DFIT_EINVAL, w, col, col_name,
                                     "%s contains a carriage return (an answer ends at the first line break)",
                                     what);
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int grow_items(struct dfit_eval_set *s, const struct dfit_eval_where *w, struct dfit_err *err)
{
    if (s->n_items >= DFIT_EVAL_CSV_MAX_ROWS)
        return dfit_eval_field_error(err, DFIT_ERANGE, w, 0, NULL, "more than %u items", DFIT_EVAL_CSV_MAX_ROWS);
    if (s->n_items < s->cap_items)
        return 0;
    uint32_t cap = s->cap_items ? 2 * s->cap_items : 64;
    struct dfit_eval_item *it = realloc(s->items, (size_t)cap * sizeof *it);
    if (!it)
        return dfit_eval_field_error(err, DFIT_ENOMEM, w, 0, NULL, "out of memory for %u items", (unsigned)cap);
    s->items = it;
    s->cap_items = cap;
    return 0;
}

int dfit_eval_set_add_row(struct dfit_eval_set *s, const struct dfit_eval_where *w, char *const *f,
                          const size_t *len, struct dfit_err *err)
{
    const uint32_t k = s->n_choices;
    int rc = check_text(f[0], len[0], w, 1, "prompt", "prompt", true, err);
    if (rc)
        return rc;
    struct dfit_eval_item it = {.row = w->row, .line = w->line};
    if (s->kind == DFIT_EVAL_GEN) {
        if ((rc = check_text(f[1], len[1], w, 2, "answer", "answer", false, err)))
            return rc;
    } else {
        for (uint32_t c = 0; c < k; c++) {
            char name[32];
            snprintf(name, sizeof name, "choice_%u", (unsigned)c + 1);
            if ((rc = check_text(f[1 + c], len[1 + c], w, 2 + c, name, "choice", false, err)))
                return rc;
            for (uint32_t d = 0; d < c; d++)
                if (len[1 + d] == len[1 + c] && memcmp(f[1 + d], f[1 + c], len[1 + c]) == 0)
                    return dfit_eval_field_error(err, DFIT_EINVAL, w, 2 + c, name, "the same text as choice_%u",
                                                 (unsigned)d + 1);
        }
        const char *l = f[1 + k];
        const size_t ln = len[1 + k];
        size_t at;
        const char *why;
        if (dfit_utf8_check(l, ln, &at, &why))
            return dfit_eval_field_error(err, DFIT_EINVAL, w, 2 + k, "label",
                                         "invalid UTF-8 at byte %zu of the field: %s", at, why);
        uint64_t v = 0;
        bool digits = ln > 0 && ln <= 9;
        for (size_t i = 0; digits && i < ln; i++) {
            digits = l[i] >= '0' && l[i] <= '9';
            v = v * 10 + (uint64_t)(l[i] - '0');
        }
        if (!digits)
            return dfit_eval_field_error(err, DFIT_EINVAL, w, 2 + k, "label", "'%.*s' is not an integer 1..%u",
                                         (int)(ln > 40 ? 40 : ln), l, (unsigned)k);
        if (v < 1 || v > k)
            return dfit_eval_field_error(err, DFIT_EINVAL, w, 2 + k, "label", "'%.*s' is out of range 1..%u",
                                         (int)ln, l, (unsigned)k);
        it.label = (uint32_t)(v - 1);
    }
    if ((rc = grow_items(s, w, err)))
        return rc;
    it.prompt = dup_n(f[0], len[0]);
    bool ok = it.prompt != NULL;
    if (s->kind == DFIT_EVAL_GEN) {
        ok = ok && (it.answer = dup_n(f[1], len[1])) != NULL;
    } else {
        it.choices = ok ? calloc(k, sizeof *it.choices) : NULL;
        ok = it.choices != NULL;
        for (uint32_t c = 0; ok && c < k; c++)
            ok = (it.choices[c] = dup_n(f[1 + c], len[1 + c])) != NULL;
    }
    if (!ok) {
        item_clear(&it, k);
        return dfit_eval_field_error(err, DFIT_ENOMEM, w, 0, NULL, "out of memory");
    }
    s->items[s->n_items++] = it;
    return 0;
}

int dfit_eval_set_add_gen(struct dfit_eval_set *s, const char *prompt, const char *answer, struct dfit_err *err)
{
    struct dfit_eval_where w = {s->name, 0, 0};
    if (s->kind != DFIT_EVAL_GEN)
        return dfit_err_set(err, DFIT_EINVAL, "%s: not a generation set", s->name);
    if (!prompt || !answer)
        return dfit_err_set(err, DFIT_EINVAL, "%s: NULL prompt or answer", s->name);
    char *f[2] = {(char *)prompt, (char *)answer};
    size_t len[2] = {strlen(prompt), strlen(answer)};
    return dfit_eval_set_add_row(s, &w, f, len, err);
}

int dfit_eval_set_add_mc(struct dfit_eval_set *s, const char *prompt, const char *const *choices, uint32_t label,
                         struct dfit_err *err)
{
    struct dfit_eval_where w = {s->name, 0, 0};
    if (s->kind != DFIT_EVAL_MC)
        return dfit_err_set(err, DFIT_EINVAL, "%s: not a multiple-choice set", s->name);
    if (!prompt || !choices || label >= s->n_choices)
        return dfit_err_set(err, DFIT_EINVAL, "%s: NULL prompt or choices, or label %u not below %u", s->name,
                            (unsigned)label, (unsigned)s->n_choices);
    char *f[MAX_COLS];
    size_t len[MAX_COLS];
    char lab[16];
    f[0] = (char *)prompt;
    len[0] = strlen(prompt);
    for (uint32_t c = 0; c < s->n_choices; c++) {
        if (!choices[c])
            return dfit_err_set(err, DFIT_EINVAL, "%s: NULL choice %u", s->name, (unsigned)c + 1);
        f[1 + c] = (char *)choices[c];
        len[1 + c] = strlen(choices[c]);
    }
    snprintf(lab, sizeof lab, "%u", (unsigned)label + 1);
    f[1 + s->n_choices] = lab;
    len[1 + s->n_choices] = strlen(lab);
    return dfit_eval_set_add_row(s, &w, f, len, err);
}

/* ---- writing ------------------------------------------------------------------ */

static void put_field(FILE *f, const char *s)
{
    size_t n = strlen(s);
    bool quote = strpbrk(s, ",\"\r\n") != NULL ||
                 (n > 0 && (s[0] == ' ' || s[n - 1] == ' ' || s[0] == '\t' || s[n - 1] == '\t'));
    if (!quote) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

int dfit_eval_csv_write(const char *path, const struct dfit_eval_set *s, struct dfit_err *err)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, n + 16, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int rc = dfit_err_set(err, DFIT_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    if (s->kind == DFIT_EVAL_GEN) {
        fputs("prompt,answer\n", f);
    } else {
        fputs("prompt", f);
        for (uint32_t c = 0; c < s->n_choices; c++)
            fprintf(f, ",choice_%u", (unsigned)c + 1);
        fputs(",label\n", f);
    }
    for (uint32_t i = 0; i < s->n_items; i++) {
        const struct dfit_eval_item *it = &s->items[i];
        put_field(f, it->prompt);
        if (s->kind == DFIT_EVAL_GEN) {
            fputc(',', f);
            put_field(f, it->answer);
        } else {
            for (uint32_t c = 0; c < s->n_choices; c++) {
                fputc(',', f);
                put_field(f, it->choices[c]);
            }
            fprintf(f, ",%u", (unsigned)it->label + 1);
        }
        fputc('\n', f);
    }
    int bad = ferror(f);
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int rc = dfit_err_set(err, DFIT_EIO, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    return 0;
}
