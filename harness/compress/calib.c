/* calib.c — calibration token streams and activation statistics gathered
 * through the CPU backend's activation observer (see calib.h).
 *
 * The observer is called in layer order on the forward pass's thread, so
 * the statistics need no locking; the residual stream entering a block is
 * kept until the next block (or the final norm) shows the stream leaving
 * it, which gives the block's cosine similarity per token.
 * Non-goals: running on other backends (the reference kernels in F32 are
 * the ones whose activations the compression passes reason about).
 */
#include "compress/calib.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model/llama.h"
#include "model/tokenizer.h"
#include "util/rng.h"
#include "util/sha256.h"

#define CALIB_MIN_TOKENS 16u
#define CALIB_MAX_TEXT_BYTES (256u << 20)

/* ---- the token stream --------------------------------------------------- */

/* "synth" or "synth:SEED" -> 1 and *seed; 0 for anything else; -1 for a bad
 * seed. */
static int parse_synth(const char *s, uint64_t *seed)
{
    if (strncmp(s, "synth", 5) != 0 || (s[5] != '\0' && s[5] != ':'))
        return 0;
    *seed = 1;
    if (s[5] == '\0')
        return 1;
    const char *v = s + 6;
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || errno || *end)
        return -1;
    *seed = x;
    return 1;
}

static int read_text(const char *path, char **text, size_t *len, struct dfit_err *err)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    char *buf = NULL;
    int rc = 0;
    *text = NULL;
    if (!f)
        return dfit_err_set(err, DFIT_EIO, "%s: cannot open: %s", path, strerror(errno));
    for (;;) {
        if (!buf || n == cap) {
            if (n >= CALIB_MAX_TEXT_BYTES)
                break; /* tokenize the first 256 MiB */
            char *nb = realloc(buf, buf ? cap *= 2 : cap);
            if (!nb) {
                rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", path);
                goto done;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: read error", path);
        goto done;
    }
    *text = buf;
    *len = n;
    buf = NULL;
done:
    free(buf);
    fclose(f);
    return rc;
}

int dfit_calib_tokens(const struct dfit_gguf *g, const char *source, uint32_t n_tokens,
                      int32_t **tokens, uint32_t *n_out, char *desc, size_t cap, char *sha256,
                      struct dfit_err *err)
{
    struct dfit_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    char *text = NULL;
    size_t len = 0, n_ids = 0;
    uint64_t seed;
    int rc;
    *tokens = NULL;
    *n_out = 0;
    sha256[0] = '\0';
    if (n_tokens < CALIB_MIN_TOKENS || n_tokens > DFIT_CALIB_MAX_TOKENS)
        return dfit_err_set(err, DFIT_EINVAL, "calibration: %" PRIu32 " tokens not in [%u, %u]",
                            n_tokens, CALIB_MIN_TOKENS, DFIT_CALIB_MAX_TOKENS);
    int synth = parse_synth(source, &seed);
    if (synth < 0)
        return dfit_err_set(err, DFIT_EINVAL,
                            "calibration source '%s': expected synth or synth:SEED (SEED a "
                            "non-negative integer)",
                            source);
    if (!(ids = malloc((size_t)n_tokens * sizeof *ids)))
        return dfit_err_set(err, DFIT_ENOMEM, "calibration: out of memory");
    if (synth) {
        struct dfit_llama_hparams hp;
        if ((rc = dfit_llama_hparams_read(g, &hp, err)))
            goto fail;
        struct dfit_rng r;
        dfit_rng_seed(&r, seed);
        for (uint32_t i = 0; i < n_tokens; i++)
            ids[i] = (int32_t)dfit_rng_below(&r, hp.n_vocab);
        snprintf(desc, cap, "synth:seed=%" PRIu64, seed);
        *tokens = ids;
        *n_out = n_tokens;
        return 0;
    }
    if ((rc = read_text(source, &text, &len, err)) ||
        (rc = dfit_sha256_file(source, sha256, err)) ||
        (rc = dfit_tokenizer_from_gguf(g, &tok, err)))
        goto fail;
    rc = dfit_tokenizer_encode(tok, text, len, 0, ids, n_tokens, &n_ids, err);
    if (rc == DFIT_ERANGE && n_ids > n_tokens) {
        n_ids = n_tokens; /* the file holds more than needed: not an error */
        rc = 0;
        dfit_err_clear(err);
    }
    if (rc) {
        dfit_err_prefix(err, "%s", source);
        goto fail;
    }
    if (n_ids < CALIB_MIN_TOKENS) {
        rc = dfit_err_set(err, DFIT_EINVAL, "%s: %zu tokens; calibration needs at least %u",
                          source, n_ids, CALIB_MIN_TOKENS);
        goto fail;
    }
    const char *base = strrchr(source, '/');
    snprintf(desc, cap, "file:%s", base ? base + 1 : source);
    *tokens = ids;
    *n_out = (uint32_t)n_ids;
    ids = NULL;
    rc = 0;
fail:
    if (rc)
        sha256[0] = '\0';
    dfit_tokenizer_free(tok);
    free(text);
    free(ids);
    return rc;
}

/* ---- statistics ---------------------------------------------------------- */

static void stats_clear(struct dfit_calib_stats *s)
{
    free(s->sum_abs);
    free(s->sum_sq);
    free(s->sample);
    memset(s, 0, sizeof *s);
}

void dfit_calib_free(struct dfit_calib *c)
{
    if (!c)
        return;
    for (uint32_t il = 0; c->layers && il < c->n_layer; il++) {
        for (int k = 0; k < DFIT_CALIB_N_INPUTS; k++)
            stats_clear(&c->layers[il].in[k]);
        free(c->layers[il].head_gram);
    }
    free(c->layers);
    stats_clear(&c->output);
    free(c);
}

static int stats_init(struct dfit_calib_stats *s, int64_t n_in, uint32_t n_sample)
{
    s->n_in = n_in;
    s->sum_abs = calloc((size_t)n_in, sizeof *s->sum_abs);
    s->sum_sq = calloc((size_t)n_in, sizeof *s->sum_sq);
    if (n_sample)
        s->sample = malloc((size_t)n_sample * (size_t)n_in * sizeof *s->sample);
    return s->sum_abs && s->sum_sq && (!n_sample || s->sample) ? 0 : -1;
}

struct observer {
    struct dfit_calib *c;
    const struct dfit_model *m;
    uint32_t tok0;          /* stream index of the batch's first token */
    uint32_t stride;        /* sample row t when t % stride == 0 */
    uint32_t cap_sample;
    float *prev;            /* [n_ctx][n_embd] residual entering the current block */
    float *normed;          /* [n_embd] */
};

/* Adds rows x of stream tokens tok0.. to s. */
static void stats_add(const struct observer *o, struct dfit_calib_stats *s, const float *x,
                      uint32_t n_tok, uint32_t tok0)
{
    for (uint32_t t = 0; t < n_tok; t++) {
        const float *row = x + (size_t)t * (size_t)s->n_in;
        for (int64_t j = 0; j < s->n_in; j++) {
            s->sum_abs[j] += fabs((double)row[j]);
            s->sum_sq[j] += (double)row[j] * row[j];
        }
        s->n_rows++;
        if (s->sample && (tok0 + t) % o->stride == 0 && s->n_sample < o->cap_sample)
            memcpy(s->sample + (size_t)s->n_sample++ * (size_t)s->n_in, row,
                   (size_t)s->n_in * sizeof *row);
    }
}

static void gram_add(const struct dfit_calib *c, double *gram, const float *x, uint32_t n_tok)
{
    const uint32_t hd = c->head_dim;
    for (uint32_t t = 0; t < n_tok; t++)
        for (uint32_t h = 0; h < c->n_head; h++) {
            const float *a = x + ((size_t)t * c->n_head + h) * hd;
            double *g = gram + (size_t)h * hd * hd;
            for (uint32_t i = 0; i < hd; i++)
                for (uint32_t j = 0; j < hd; j++)
                    g[(size_t)i * hd + j] += (double)a[i] * a[j];
        }
}

/* Adds cos(prev, x) of every token to block il's sum. */
static void cos_add(struct observer *o, uint32_t il, const float *x, uint32_t n_tok, int64_t d)
{
    struct dfit_calib_layer *L = &o->c->layers[il];
    for (uint32_t t = 0; t < n_tok; t++) {
        const float *a = o->prev + (size_t)t * (size_t)d, *b = x + (size_t)t * (size_t)d;
        double ab = 0, aa = 0, bb = 0;
        for (int64_t j = 0; j < d; j++) {
            ab += (double)a[j] * b[j];
            aa += (double)a[j] * a[j];
            bb += (double)b[j] * b[j];
        }
        L->cos_sum += aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 1.0;
        L->cos_n++;
    }
}

static void on_observe(void *user, uint32_t layer, const char *weight, const float *x, uint32_t n_tok,
                       int64_t n_in)
{
    struct observer *o = user;
    struct dfit_calib *c = o->c;
    const struct dfit_llama_hparams *hp = &o->m->hp;
    const int64_t d = hp->n_embd;
    if (layer > c->n_layer)
        return;
    if (strcmp(weight, "attn_norm") == 0 || strcmp(weight, "output_norm") == 0) {
        if (n_in != d)
            return;
        if (layer > 0)
            cos_add(o, layer - 1, x, n_tok, d);
        memcpy(o->prev, x, (size_t)n_tok * (size_t)d * sizeof *x);
        if (layer == c->n_layer) {
            const float *w = o->m->output_norm.data; /* [n_embd] */
            for (uint32_t t = 0; t < n_tok; t++) {
                const float *row = x + (size_t)t * (size_t)d;
                double ss = 0;
                for (int64_t j = 0; j < d; j++)
                    ss += (double)row[j] * row[j];
                const double scale = 1.0 / sqrt(ss / (double)d + hp->rms_eps);
                for (int64_t j = 0; j < d; j++)
                    o->normed[j] = (float)(row[j] * scale) * w[j];
                stats_add(o, &c->output, o->normed, 1, o->tok0 + t);
            }
        }
        return;
    }
    if (layer >= c->n_layer)
        return;
    struct dfit_calib_layer *L = &c->layers[layer];
    int k = strcmp(weight, "attn_q") == 0        ? DFIT_CALIB_ATTN_IN
            : strcmp(weight, "attn_output") == 0 ? DFIT_CALIB_ATTN_OUT
            : strcmp(weight, "ffn_gate") == 0    ? DFIT_CALIB_FFN_IN
            : strcmp(weight, "ffn_down") == 0    ? DFIT_CALIB_FFN_DOWN
                                                 : -1;
    if (k < 0 || n_in != L->in[k].n_in)
        return;
    stats_add(o, &L->in[k], x, n_tok, o->tok0);
    if (k == DFIT_CALIB_ATTN_OUT && L->head_gram)
        gram_add(c, L->head_gram, x, n_tok);
}

/* Allocates every statistic of c for model m. */
static int calib_alloc(struct dfit_calib *c, const struct dfit_model *m, const struct dfit_calib_params *p,
                       uint32_t n_sample)
{
    const struct dfit_llama_hparams *hp = &m->hp;
    const int64_t n_in[DFIT_CALIB_N_INPUTS] = {hp->n_embd, (int64_t)hp->n_head * hp->head_dim,
                                               hp->n_embd, hp->n_ff};
    c->n_layer = hp->n_layer;
    c->n_head = hp->n_head;
    c->head_dim = hp->head_dim;
    if (!(c->layers = calloc(hp->n_layer, sizeof *c->layers)))
        return -1;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        for (int k = 0; k < DFIT_CALIB_N_INPUTS; k++)
            if (stats_init(&c->layers[il].in[k], n_in[k], n_sample))
                return -1;
        if (p->head_gram &&
            !(c->layers[il].head_gram =
                  calloc((size_t)hp->n_head * hp->head_dim * hp->head_dim, sizeof(double))))
            return -1;
    }
    return stats_init(&c->output, hp->n_embd, n_sample);
}

int dfit_calib_collect(const char *model_path, const struct dfit_calib_params *p,
                       struct dfit_calib **out, struct dfit_err *err)
{
    struct dfit_model *m = NULL;
    struct dfit_calib *c = NULL;
    struct dfit_tokenizer *tok = NULL;
    const struct dfit_backend_ops *cpu = dfit_backend_find("cpu");
    void *ctx = NULL;
    int32_t *ids = NULL, *pos = NULL, *seq = NULL;
    int8_t *want = NULL;
    struct observer o = {0};
    uint32_t n_ids = 0;
    int rc;
    *out = NULL;
    if (!cpu)
        return dfit_err_set(err, DFIT_ENOTFOUND, "calibration: no cpu backend in this build");
    if ((rc = dfit_model_open(model_path, &m, err)))
        return rc;
    if (!(c = calloc(1, sizeof *c))) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "calibration: out of memory");
        goto fail;
    }
    if ((rc = dfit_calib_tokens(m->gguf, p->source, p->n_tokens ? p->n_tokens : DFIT_CALIB_DEFAULT_TOKENS,
                                &ids, &n_ids, c->source, sizeof c->source, c->sha256, err)))
        goto fail;
    uint32_t n_ctx = p->n_ctx ? p->n_ctx : DFIT_CALIB_DEFAULT_CTX;
    if (n_ctx > m->hp.n_ctx_train)
        n_ctx = m->hp.n_ctx_train;
    if (n_ctx > n_ids)
        n_ctx = n_ids;
    c->n_ctx = n_ctx;
    c->n_tokens = n_ids;
    o.c = c;
    o.m = m;
    o.cap_sample = p->n_sample < n_ids ? p->n_sample : n_ids;
    o.stride = o.cap_sample ? (n_ids + o.cap_sample - 1) / o.cap_sample : 1;
    o.prev = malloc((size_t)n_ctx * m->hp.n_embd * sizeof *o.prev);
    o.normed = malloc((size_t)m->hp.n_embd * sizeof *o.normed);
    pos = malloc(n_ctx * sizeof *pos);
    seq = calloc(n_ctx, sizeof *seq);
    want = calloc(n_ctx, sizeof *want);
    if (!o.prev || !o.normed || !pos || !seq || !want || calib_alloc(c, m, p, o.cap_sample)) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "calibration: out of memory for the statistics");
        goto fail;
    }
    int32_t bos = -1;
    if (dfit_tokenizer_from_gguf(m->gguf, &tok, NULL) == 0 && dfit_tokenizer_add_bos(tok))
        bos = dfit_tokenizer_bos(tok);
    struct dfit_backend_params bp = {.n_threads = p->n_threads, .n_ctx = n_ctx, .n_seq = 1,
                                     .n_batch_max = n_ctx, .kernels = "ref",
                                     .observe = on_observe, .observe_user = &o};
    if ((rc = cpu->load(m, &bp, &ctx, NULL, err)))
        goto fail;
    for (uint32_t i = 0; i < n_ctx; i++)
        pos[i] = (int32_t)i;
    for (uint32_t t0 = 0; t0 < n_ids; t0 += n_ctx) {
        uint32_t n = n_ids - t0 < n_ctx ? n_ids - t0 : n_ctx;
        if (bos >= 0)
            ids[t0] = bos;
        struct dfit_batch b = {n, ids + t0, pos, seq, want};
        o.tok0 = t0;
        cpu->seq_reset(ctx, -1);
        if ((rc = cpu->forward(ctx, &b, NULL, err))) {
            dfit_err_prefix(err, "calibration on %s", model_path);
            goto fail;
        }
    }
    *out = c;
    c = NULL;
    rc = 0;
fail:
    if (cpu && ctx)
        cpu->unload(ctx);
    dfit_tokenizer_free(tok);
    dfit_calib_free(c);
    dfit_model_free(m);
    free(ids);
    free(pos);
    free(seq);
    free(want);
    free(o.prev);
    free(o.normed);
    return rc;
}
