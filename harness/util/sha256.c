/* sha256.c — SHA-256 through OpenSSL's EVP interface (see sha256.h). */
#include "util/sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void to_hex(const unsigned char *md, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

int dfit_sha256_buffer(const void *data, size_t n, char *hex, struct dfit_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!EVP_Digest(data, n, md, &md_len, EVP_sha256(), NULL) || md_len != 32)
        return dfit_err_set(err, DFIT_EINTERNAL, "sha256: digest failed");
    to_hex(md, hex);
    return 0;
}

int dfit_sha256_file(const char *path, char *hex, struct dfit_err *err)
{
    int rc = 0;
    EVP_MD_CTX *ctx = NULL;
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dfit_err_set(err, DFIT_EIO, "%s: cannot open: %s", path, strerror(errno));
    ctx = EVP_MD_CTX_new();
    buf = malloc(1 << 20);
    if (!ctx || !buf) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: sha256: out of memory", path);
        goto done;
    }
    if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        rc = dfit_err_set(err, DFIT_EINTERNAL, "%s: sha256: init failed", path);
        goto done;
    }
    size_t n;
    while ((n = fread(buf, 1, 1 << 20, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    if (ferror(f)) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: read failed", path);
        goto done;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_DigestFinal_ex(ctx, md, &md_len);
    to_hex(md, hex);
done:
    free(buf);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return rc;
}
