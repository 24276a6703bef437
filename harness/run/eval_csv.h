/* eval_csv.h — task eval sets as CSV files: what `dfit eval` and the
 * runner score a model's task accuracy on, and what `dfit corpus` writes.
 *
 * The header row decides the form (names exact, lower case):
 *   prompt,answer                          generation: the model continues
 *                                          the prompt greedily; exact match
 *   prompt,choice_1,...,choice_k,label     multiple choice (2 <= k <= 16):
 *                                          label is the right choice, 1..k
 * RFC 4180 quoting (libcsv, strict): fields with commas, quotes or line
 * breaks are quoted, a quote inside is doubled. Fields are taken verbatim:
 * no space is trimmed. A UTF-8 byte order mark at the start of the file is
 * skipped; CRLF and LF line ends are both accepted, and a CRLF inside a
 * quoted field reads as LF. Blank lines between rows are skipped.
 * Every field must be valid UTF-8 (no overlong forms, surrogates,
 * truncated sequences or code points above U+10FFFF) without NUL bytes.
 * Prompts must not be empty; answers and choices must not be empty and
 * must not contain a line break (an answer ends at the first newline, see
 * docs/tasks-and-eval.md); the choices of a row must differ.
 * Every malformed input is an error that names the file, the row (records
 * counted from the header, row 1), the line it starts on and the column:
 *   "e.csv: row 4 (line 5), column 3 (label): '5' is out of range 1..4"
 * Non-goals: other delimiters, header aliases, extra columns (a task
 * column: one file per task instead), streaming sets larger than the caps.
 */
#ifndef DFIT_RUN_EVAL_CSV_H
#define DFIT_RUN_EVAL_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Caps: file size, one field, rows after the header, choices per row. */
#define DFIT_EVAL_CSV_MAX_FILE_BYTES (64u << 20)
#define DFIT_EVAL_CSV_MAX_FIELD_BYTES (64u << 10)
#define DFIT_EVAL_CSV_MAX_ROWS 1000000u
#define DFIT_EVAL_CSV_MAX_CHOICES 16u

enum dfit_eval_kind {
    DFIT_EVAL_GEN = 0, /* prompt,answer */
    DFIT_EVAL_MC = 1,  /* prompt,choice_1..choice_k,label */
};

struct dfit_eval_item {
    char *prompt;      /* non-empty, NUL-terminated UTF-8 */
    char *answer;      /* GEN: the expected text; MC: NULL */
    char **choices;    /* MC: [n_choices] choice texts; GEN: NULL */
    uint32_t label;    /* MC: index of the right choice, 0-based */
    uint32_t row;      /* its row in the file (header = 1); 0 if built in memory */
    uint32_t line;     /* the line the row starts on; 0 if built in memory */
};

struct dfit_eval_set {
    char *name;        /* file name without directory and ".csv" */
    enum dfit_eval_kind kind;
    uint32_t n_choices; /* MC: k; GEN: 0 */
    uint32_t n_items;
    uint32_t cap_items;
    struct dfit_eval_item *items; /* [n_items], owned */
};

/* Reads and validates the CSV file at path. On failure *out is NULL and
 * err names the file, row, line and column: DFIT_EIO (cannot read),
 * DFIT_ERANGE (a cap exceeded), DFIT_EINVAL (anything malformed: empty
 * file, missing or unknown header, unterminated quote, stray quote, wrong
 * column count, empty prompt/answer/choice, bad label, invalid UTF-8, no
 * row after the header), DFIT_ENOMEM. The caller frees *out with
 * dfit_eval_set_free. */
int dfit_eval_csv_read(const char *path, struct dfit_eval_set **out, struct dfit_err *err);
/* The same on len bytes of CSV text in memory; `path` names it in
 * messages and gives the set its name. */
int dfit_eval_csv_parse(const char *path, const char *data, size_t len, struct dfit_eval_set **out,
                        struct dfit_err *err);

/* An empty set to fill with dfit_eval_set_add_*. kind MC needs
 * 2 <= n_choices <= DFIT_EVAL_CSV_MAX_CHOICES (else DFIT_EINVAL). */
int dfit_eval_set_create(const char *name, enum dfit_eval_kind kind, uint32_t n_choices,
                         struct dfit_eval_set **out, struct dfit_err *err);
/* Add one item (strings are copied), checked as the reader checks a row:
 * DFIT_EINVAL naming the item, DFIT_ERANGE past the caps, DFIT_ENOMEM;
 * the set is unchanged on failure. label is 0-based. */
int dfit_eval_set_add_gen(struct dfit_eval_set *s, const char *prompt, const char *answer,
                          struct dfit_err *err);
int dfit_eval_set_add_mc(struct dfit_eval_set *s, const char *prompt, const char *const *choices,
                         uint32_t label, struct dfit_err *err);
void dfit_eval_set_free(struct dfit_eval_set *s); /* accepts NULL */

/* Writes s as CSV (header, then one row per item; fields quoted only when
 * they hold a comma, quote, line break, or leading or trailing space),
 * atomically: a temporary file renamed over path. DFIT_EIO naming the
 * path; an existing file at path stays as it was on failure. */
int dfit_eval_csv_write(const char *path, const struct dfit_eval_set *s, struct dfit_err *err);

/* Whether s[0..n) is valid UTF-8 without NUL bytes: 0, or -1 with the
 * offset of the first bad byte in *bad_at and a reason in *why ("overlong
 * encoding", "UTF-16 surrogate", "truncated sequence", "code point above
 * U+10FFFF", "byte 0xF8..0xFF (never in UTF-8)", "unexpected continuation
 * byte", "NUL byte"). */
int dfit_utf8_check(const char *s, size_t n, size_t *bad_at, const char **why);

#endif
