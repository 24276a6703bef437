/* sha256.h — SHA-256 of files and buffers (OpenSSL's libcrypto), as
 * lowercase hex, for lineage and content-addressed caches. */
#ifndef DFIT_UTIL_SHA256_H
#define DFIT_UTIL_SHA256_H

#include <stddef.h>

#include "util/err.h"

#define DFIT_SHA256_HEX_LEN 64

/* hex must hold DFIT_SHA256_HEX_LEN + 1 bytes. */
int dfit_sha256_buffer(const void *data, size_t n, char *hex, struct dfit_err *err);
/* Streams the file; DFIT_EIO with the path on failure. */
int dfit_sha256_file(const char *path, char *hex, struct dfit_err *err);

#endif
