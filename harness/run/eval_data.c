/* eval_data.c — eval token streams for quality (see eval_data.h): text
 * files through the model's tokenizer, or a seeded random stream.
 * Non-goals: task data sets, corpora downloads.
 */
#include "run/eval_data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/gguf.h"
#include "util/rng.h"

static bool ordinary(const struct dfit_tokenizer *t, int32_t id)
{
    enum dfit_token_type ty = dfit_tokenizer_type(t, id);
    return ty == DFIT_TOKEN_NORMAL || ty == DFIT_TOKEN_BYTE;
}

int dfit_eval_synth(const struct dfit_tokenizer *t, uint32_t n_tokens, uint64_t seed,
                    int32_t **out, struct dfit_err *err)
{
    *out = NULL;
    if (n_tokens == 0)
        return dfit_err_set(err, DFIT_EINVAL, "eval synth: eval_tokens is 0");
    const int32_t n_vocab = dfit_tokenizer_n_vocab(t);
    int32_t *pool = malloc((size_t)(n_vocab > 0 ? n_vocab : 1) * sizeof *pool);
    int32_t *ids = malloc((size_t)n_tokens * sizeof *ids);
    if (!pool || !ids) {
        free(pool);
        free(ids);
        return dfit_err_set(err, DFIT_ENOMEM, "eval synth: out of memory for %u tokens", n_tokens);
    }
    uint32_t n_pool = 0;
    for (int32_t id = 0; id < n_vocab; id++)
        if (ordinary(t, id))
            pool[n_pool++] = id;
    if (n_pool == 0) {
        free(pool);
        free(ids);
        return dfit_err_set(err, DFIT_EINVAL,
                            "eval synth: the vocabulary has no normal or byte token to draw");
    }
    struct dfit_rng r;
    dfit_rng_seed(&r, seed);
    for (uint32_t i = 0; i < n_tokens; i++)
        ids[i] = pool[dfit_rng_below(&r, n_pool)];
    free(pool);
    *out = ids;
    return 0;
}

/* Reads the whole file into a malloc'd buffer. */
static int read_file(const char *path, char **buf, size_t *len, struct dfit_err *err)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dfit_err_set(err, DFIT_EIO, "%s: cannot open eval text: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return dfit_err_set(err, DFIT_EIO, "%s: eval text is not a regular file", path);
    }
    if ((uint64_t)st.st_size > DFIT_EVAL_MAX_FILE_BYTES) {
        fclose(f);
        return dfit_err_set(err, DFIT_ERANGE, "%s: eval text of %lld bytes exceeds %u MiB", path,
                            (long long)st.st_size, DFIT_EVAL_MAX_FILE_BYTES >> 20);
    }
    char *b = malloc((size_t)st.st_size + 1);
    if (!b) {
        fclose(f);
        return dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory reading eval text", path);
    }
    size_t n = fread(b, 1, (size_t)st.st_size, f);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(b);
        return dfit_err_set(err, DFIT_EIO, "%s: read error", path);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

int dfit_eval_text(const char *path, const struct dfit_tokenizer *t, uint32_t n_tokens,
                   int32_t **out, uint32_t *n_out, struct dfit_err *err)
{
    *out = NULL;
    *n_out = 0;
    if (n_tokens == 0)
        return dfit_err_set(err, DFIT_EINVAL, "%s: eval_tokens is 0", path);
    char *text = NULL;
    size_t len = 0;
    int32_t *ids = NULL;
    int rc = read_file(path, &text, &len, err);
    if (rc)
        return rc;
    if (len == 0) {
        rc = dfit_err_set(err, DFIT_EINVAL, "%s: eval text is empty", path);
        goto fail;
    }
    /* The whole text is encoded (merges near a cut would differ); the
     * tokenizer keeps the first n_tokens ids and says how many it had. */
    size_t need = 0;
    ids = malloc((size_t)n_tokens * sizeof *ids);
    if (!ids) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory for %u tokens", path, n_tokens);
        goto fail;
    }
    rc = dfit_tokenizer_encode(t, text, len, 0, ids, n_tokens, &need, err);
    if (rc == DFIT_ERANGE && need > n_tokens) {
        rc = 0; /* more text than needed: the first n_tokens ids are written */
        dfit_err_clear(err);
    }
    if (rc) {
        dfit_err_prefix(err, "%s", path);
        goto fail;
    }
    if (need == 0) {
        rc = dfit_err_set(err, DFIT_EINVAL, "%s: eval text gives no tokens", path);
        goto fail;
    }
    free(text);
    *out = ids;
    *n_out = need < n_tokens ? (uint32_t)need : n_tokens;
    return 0;
fail:
    free(text);
    free(ids);
    return rc;
}

int dfit_eval_load(const char *eval, const char *model_path, uint32_t n_tokens, uint64_t seed,
                   int32_t **out, uint32_t *n_out, struct dfit_err *err)
{
    *out = NULL;
    *n_out = 0;
    struct dfit_gguf *g = NULL;
    struct dfit_tokenizer *t = NULL;
    int rc = dfit_gguf_open(model_path, &g, err);
    if (rc)
        return rc;
    if ((rc = dfit_tokenizer_from_gguf(g, &t, err)))
        goto done;
    if (!eval || strcmp(eval, "synth") == 0) {
        rc = dfit_eval_synth(t, n_tokens, seed, out, err);
        if (!rc)
            *n_out = n_tokens;
    } else {
        rc = dfit_eval_text(eval, t, n_tokens, out, n_out, err);
    }
done:
    dfit_tokenizer_free(t);
    dfit_gguf_close(g);
    return rc;
}
