/* err.c — message formatting for struct dfit_err (see err.h). */
#include "util/err.h"

#include <stdio.h>
#include <string.h>

int dfit_err_vset(struct dfit_err *err, int code, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return code;
}

int dfit_err_set(struct dfit_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dfit_err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int dfit_err_prefix(struct dfit_err *err, const char *fmt, ...)
{
    if (!err)
        return DFIT_EINTERNAL;
    char joined[DFIT_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(joined, sizeof joined, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : (size_t)n < sizeof joined ? (size_t)n : sizeof joined - 1;
    /* append ": " and the old message, truncating at the buffer's end */
    const char *parts[2] = {": ", err->msg};
    for (int i = 0; i < 2; i++)
        for (const char *p = parts[i]; *p && used + 1 < sizeof joined; p++)
            joined[used++] = *p;
    joined[used] = '\0';
    memcpy(err->msg, joined, used + 1);
    return err->code ? err->code : DFIT_EINTERNAL;
}

void dfit_err_clear(struct dfit_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

const char *dfit_err_name(int code)
{
    switch (code) {
    case DFIT_OK: return "ok";
    case DFIT_EINVAL: return "invalid input";
    case DFIT_EIO: return "i/o error";
    case DFIT_ENOMEM: return "out of memory";
    case DFIT_EUNSUPPORTED: return "unsupported";
    case DFIT_ERANGE: return "out of range";
    case DFIT_EEXIST: return "already exists";
    case DFIT_ENOTFOUND: return "not found";
    case DFIT_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}
