/* eval_csv_impl.h — what the CSV reader (eval_csv.c) and the eval set
 * builder and writer (eval_set.c) share: where a field is, the error that
 * names it, and the checked addition of one row. Internal: include
 * eval_csv.h instead. */
#ifndef DFIT_RUN_EVAL_CSV_IMPL_H
#define DFIT_RUN_EVAL_CSV_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "run/eval_csv.h"
#include "util/err.h"

/* Most columns a row can have: prompt, the choices, label. */
#define DFIT_EVAL_MAX_COLS (DFIT_EVAL_CSV_MAX_CHOICES + 2)

/* Where a row is: the file, its row (header = 1) and the line it starts
 * on; row 0 for an item built in memory. */
struct dfit_eval_where {
    const char *path;
    uint32_t row, line;
};

/* Sets err to "PATH: row R (line L), column C (NAME): MESSAGE" (column
 * left out when col is 0, its name when col_name is NULL; "PATH: item" for
 * row 0) and returns code. */
int dfit_eval_field_error(struct dfit_err *err, int code, const struct dfit_eval_where *w, uint32_t col,
                          const char *col_name, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Checks one row's fields f[i] of len[i] bytes (prompt, answer, or
 * prompt, choices, label) as eval_csv.h describes and appends it to s
 * (copies). Errors name w and the column; s is unchanged on failure. */
int dfit_eval_set_add_row(struct dfit_eval_set *s, const struct dfit_eval_where *w, char *const *f,
                          const size_t *len, struct dfit_err *err);

#endif
