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
    char prefix[DFIT_ERR_MSG_MAX];
    char old[DFIT_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
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
