/* err.h — dfit's error reporting: return codes and a message buffer.
 *
 * Every fallible function returns int (0 on success, a negative DFIT_E* on
 * failure) and fills a caller-owned struct dfit_err whose message names the
 * operation and the object ("m.gguf: tensor 'x': ..."). Non-goal: errno-style
 * global state or exceptions. `err` may be NULL where the caller does not care.
 */
#ifndef DFIT_UTIL_ERR_H
#define DFIT_UTIL_ERR_H

#include <stdarg.h>

enum dfit_errcode {
    DFIT_OK = 0,
    DFIT_EINVAL = -1,      /* bad input: malformed file, bad flag, bad value */
    DFIT_EIO = -2,         /* open/read/write/mmap failed */
    DFIT_ENOMEM = -3,      /* allocation failed or over a cap */
    DFIT_EUNSUPPORTED = -4,/* valid but not supported (type, architecture) */
    DFIT_ERANGE = -5,      /* value or size out of range, overflow */
    DFIT_EEXIST = -6,      /* refusing to overwrite */
    DFIT_ENOTFOUND = -7,   /* missing key, tensor, file */
    DFIT_EINTERNAL = -8,   /* a broken invariant reported instead of asserted */
};

#define DFIT_ERR_MSG_MAX 1024

struct dfit_err {
    int code;                    /* last DFIT_E* set, 0 when clear */
    char msg[DFIT_ERR_MSG_MAX];  /* human-readable, NUL-terminated */
};

/* Sets err (if non-NULL) to code and a printf-formatted message; returns code
 * so callers can write `return dfit_err_set(err, DFIT_EINVAL, "...")`. */
int dfit_err_set(struct dfit_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int dfit_err_vset(struct dfit_err *err, int code, const char *fmt, va_list ap);

/* Prepends "prefix: " to the current message (for adding context on the way
 * up, e.g. the file name). Returns err->code (or DFIT_EINTERNAL if NULL). */
int dfit_err_prefix(struct dfit_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void dfit_err_clear(struct dfit_err *err);

/* A short name for a code ("invalid input", ...). Never NULL. */
const char *dfit_err_name(int code);

#endif
