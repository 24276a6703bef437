/* llama.c — reads a llama model's hyper-parameters from GGUF metadata and
 * binds its weight tensors (see llama.h), checking every key and every
 * tensor's shape and type so that a backend can trust what it is given.
 * Errors name the file and the key or tensor.
 * Non-goals: converting or copying weights (they stay in the mapping),
 * other architectures, biases, partial rotary or RoPE scaling variants.
 */
#include "model/llama.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hard caps on hyper-parameters: far above any llama-family model, low
 * enough that products of them cannot overflow 64-bit sizes. */
#define CAP_EMBD (1u << 16)
#define CAP_LAYER 1024u
#define CAP_FF (1u << 20)
#define CAP_HEAD 1024u
#define CAP_VOCAB (1u << 22)
#define CAP_CTX (1u << 24)

#define KEY_ARCH "general.architecture"
#define KEY_EMBD "llama.embedding_length"
#define KEY_LAYER "llama.block_count"
#define KEY_FF "llama.feed_forward_length"
#define KEY_HEAD "llama.attention.head_count"
#define KEY_HEAD_KV "llama.attention.head_count_kv"
#define KEY_EPS "llama.attention.layer_norm_rms_epsilon"
#define KEY_ROPE_BASE "llama.rope.freq_base"
#define KEY_CTX "llama.context_length"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_VOCAB "llama.vocab_size"
#define KEY_KEY_LEN "llama.attention.key_length"

/* Reads a required u32 key that must lie in [1, cap]. */
static int read_dim(const struct dfit_gguf *g, const char *key, uint32_t cap, uint32_t *out,
                    struct dfit_err *err)
{
    int rc = dfit_gguf_get_u32(g, key, out, err);
    if (rc)
        return rc;
    if (*out == 0)
        return dfit_err_set(err, DFIT_EINVAL, "%s: key '%s': must be at least 1", g->path, key);
    if (*out > cap)
        return dfit_err_set(err, DFIT_ERANGE, "%s: key '%s': %" PRIu32 " exceeds the cap %" PRIu32,
                            g->path, key, *out, cap);
    return 0;
}

/* An optional key that, when present, must equal `expected`: dfit does not
 * support models where it differs (it would change tensor shapes). */
static int check_optional_equal(const struct dfit_gguf *g, const char *key, uint32_t expected,
                                const char *what, struct dfit_err *err)
{
    if (!dfit_gguf_find_kv(g, key))
        return 0;
    uint32_t v;
    int rc = dfit_gguf_get_u32(g, key, &v, err);
    if (rc)
        return rc;
    if (v != expected)
        return dfit_err_set(err, DFIT_EUNSUPPORTED,
                            "%s: key '%s': %" PRIu32 " differs from %s %" PRIu32
                            " (not supported)",
                            g->path, key, v, what, expected);
    return 0;
}

static int read_arch(const struct dfit_gguf *g, struct dfit_err *err)
{
    const struct dfit_gguf_str *arch;
    int rc = dfit_gguf_get_str(g, KEY_ARCH, &arch, err);
    if (rc)
        return rc;
    if (arch->len != 5 || memcmp(arch->data, "llama", 5) != 0) {
        char shown[72];
        return dfit_err_set(err, DFIT_EUNSUPPORTED,
                            "%s: key '" KEY_ARCH "': architecture '%s' is not supported "
                            "(only 'llama')",
                            g->path, dfit_gguf_str_show(arch->data, arch->len, shown, sizeof shown));
    }
    return 0;
}

/* Vocabulary size: the length of tokenizer.ggml.tokens, else
 * llama.vocab_size. */
static int read_vocab(const struct dfit_gguf *g, uint32_t *n_vocab, struct dfit_err *err)
{
    if (dfit_gguf_find_kv(g, KEY_TOKENS)) {
        const struct dfit_gguf_value *v;
        int rc = dfit_gguf_get_arr(g, KEY_TOKENS, DFIT_GGUF_STRING, &v, err);
        if (rc)
            return rc;
        if (v->n == 0)
            return dfit_err_set(err, DFIT_EINVAL, "%s: key '" KEY_TOKENS "': empty vocabulary",
                                g->path);
        if (v->n > CAP_VOCAB)
            return dfit_err_set(err, DFIT_ERANGE,
                                "%s: key '" KEY_TOKENS "': %" PRIu64 " tokens exceed the cap %u",
                                g->path, v->n, CAP_VOCAB);
        *n_vocab = (uint32_t)v->n;
        return 0;
    }
    if (dfit_gguf_find_kv(g, KEY_VOCAB))
        return read_dim(g, KEY_VOCAB, CAP_VOCAB, n_vocab, err);
    return dfit_err_set(err, DFIT_ENOTFOUND,
                        "%s: key '" KEY_TOKENS "': missing (and no '" KEY_VOCAB "' either)",
                        g->path);
}

int dfit_llama_hparams_read(const struct dfit_gguf *g, struct dfit_llama_hparams *hp,
                            struct dfit_err *err)
{
    struct dfit_llama_hparams h = {0};
    int rc;
    memset(hp, 0, sizeof *hp);
    if ((rc = read_arch(g, err)) ||
        (rc = read_dim(g, KEY_EMBD, CAP_EMBD, &h.n_embd, err)) ||
        (rc = read_dim(g, KEY_LAYER, CAP_LAYER, &h.n_layer, err)) ||
        (rc = read_dim(g, KEY_FF, CAP_FF, &h.n_ff, err)) ||
        (rc = read_dim(g, KEY_HEAD, CAP_HEAD, &h.n_head, err)) ||
        (rc = read_dim(g, KEY_CTX, CAP_CTX, &h.n_ctx_train, err)))
        return rc;

    h.n_head_kv = h.n_head;
    if (dfit_gguf_find_kv(g, KEY_HEAD_KV) &&
        (rc = read_dim(g, KEY_HEAD_KV, CAP_HEAD, &h.n_head_kv, err)))
        return rc;

    if ((rc = dfit_gguf_get_f32(g, KEY_EPS, &h.rms_eps, err)))
        return rc;
    if (!(h.rms_eps > 0.0f) || !isfinite(h.rms_eps))
        return dfit_err_set(err, DFIT_EINVAL, "%s: key '" KEY_EPS "': %g must be positive",
                            g->path, (double)h.rms_eps);

    h.rope_freq_base = 10000.0f;
    if (dfit_gguf_find_kv(g, KEY_ROPE_BASE)) {
        if ((rc = dfit_gguf_get_f32(g, KEY_ROPE_BASE, &h.rope_freq_base, err)))
            return rc;
        if (!(h.rope_freq_base > 0.0f) || !isfinite(h.rope_freq_base))
            return dfit_err_set(err, DFIT_EINVAL,
                                "%s: key '" KEY_ROPE_BASE "': %g must be positive", g->path,
                                (double)h.rope_freq_base);
    }

    /* head_dim: llama.attention.key_length when present (as llama.cpp's
     * n_embd_head_k; head-pruned models need it), else n_embd / n_head. */
    if (dfit_gguf_find_kv(g, KEY_KEY_LEN)) {
        if ((rc = read_dim(g, KEY_KEY_LEN, CAP_EMBD, &h.head_dim, err)))
            return rc;
    } else {
        if (h.n_embd % h.n_head != 0)
            return dfit_err_set(err, DFIT_EINVAL,
                                "%s: key '" KEY_HEAD "': %" PRIu32
                                " does not divide embedding_length %" PRIu32,
                                g->path, h.n_head, h.n_embd);
        h.head_dim = h.n_embd / h.n_head;
    }
    if (h.head_dim % 2 != 0) {
        if (dfit_gguf_find_kv(g, KEY_KEY_LEN))
            return dfit_err_set(err, DFIT_EINVAL,
                                "%s: key '" KEY_KEY_LEN "': head_dim %" PRIu32
                                " is odd (RoPE rotates pairs)",
                                g->path, h.head_dim);
        return dfit_err_set(err, DFIT_EINVAL,
                            "%s: key '" KEY_HEAD "': head_dim = embedding_length %" PRIu32
                            " / head_count %" PRIu32 " = %" PRIu32
                            " is odd (RoPE rotates pairs)",
                            g->path, h.n_embd, h.n_head, h.head_dim);
    }
    if (h.n_head % h.n_head_kv != 0)
        return dfit_err_set(err, DFIT_EINVAL,
                            "%s: key '" KEY_HEAD_KV "': %" PRIu32
                            " does not divide head_count %" PRIu32,
                            g->path, h.n_head_kv, h.n_head);

    /* Keys that llama.cpp honours and dfit does not: refuse rather than
     * compute something else. */
    if ((rc = check_optional_equal(g, "llama.attention.value_length", h.head_dim,
                                   "head_dim (key_length, or embedding_length / head_count)",
                                   err)) ||
        (rc = check_optional_equal(g, "llama.rope.dimension_count", h.head_dim,
                                   "head_dim (key_length, or embedding_length / head_count)",
                                   err)) ||
        (rc = check_optional_equal(g, "llama.expert_count", 0, "a dense model's", err)))
        return rc;

    if ((rc = read_vocab(g, &h.n_vocab, err)))
        return rc;
    *hp = h;
    return 0;
}

/* Formats a tensor shape "{a, b}" into buf. */
static const char *fmt_shape(char *buf, size_t cap, uint32_t n_dims, const int64_t *ne)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, cap, "{");
    for (uint32_t i = 0; i < n_dims && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%" PRId64, i ? ", " : "", ne[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "}");
    return buf;
}

enum bind_kind { BIND_VECTOR_F32, BIND_MATRIX };

/* Binds tensor `name` with shape {n_in} (vector, F32) or {n_in, n_out}
 * (matrix, any supported type) into *w. */
static int bind(const struct dfit_gguf *g, const char *name, enum bind_kind kind, int64_t n_in,
                int64_t n_out, struct dfit_weight *w, struct dfit_err *err)
{
    const struct dfit_gguf_tensor *t = dfit_gguf_find_tensor(g, name);
    if (!t)
        return dfit_err_set(err, DFIT_ENOTFOUND, "%s: tensor '%s': missing", g->path, name);

    int64_t want[2] = {n_in, kind == BIND_VECTOR_F32 ? 1 : n_out};
    uint32_t want_dims = kind == BIND_VECTOR_F32 ? 1 : 2;
    bool ok = t->n_dims >= 1 && t->n_dims <= DFIT_GGUF_MAX_DIMS;
    for (uint32_t i = 0; ok && i < t->n_dims; i++)
        ok = t->ne[i] == (i < 2 ? want[i] : 1);
    if (ok && t->n_dims < want_dims)
        ok = want[1] == 1;
    if (!ok) {
        char got[96], exp[96];
        return dfit_err_set(err, DFIT_EINVAL, "%s: tensor '%s': shape %s, expected %s", g->path,
                            name, fmt_shape(got, sizeof got, t->n_dims, t->ne),
                            fmt_shape(exp, sizeof exp, want_dims, want));
    }

    const struct dfit_type_info *ti = dfit_type_info(t->type);
    if (!ti) {
        const char *gn = dfit_type_ggml_name(t->type);
        return dfit_err_set(err, DFIT_EUNSUPPORTED, "%s: tensor '%s': type %s is not supported",
                            g->path, name, gn ? gn : "unknown");
    }
    if (kind == BIND_VECTOR_F32 && t->type != DFIT_TYPE_F32)
        return dfit_err_set(err, DFIT_EINVAL, "%s: tensor '%s': type %s, expected f32", g->path,
                            name, ti->name);

    size_t row_bytes;
    if (!dfit_type_row_bytes(t->type, n_in, &row_bytes))
        return dfit_err_set(err, DFIT_EINVAL,
                            "%s: tensor '%s': row length %" PRId64
                            " is not a multiple of the %s block size %" PRId64,
                            g->path, name, n_in, ti->name, ti->block_size);
    uint64_t rows = (uint64_t)want[1];
    if (!t->data || t->n_bytes != (uint64_t)row_bytes * rows)
        return dfit_err_set(err, DFIT_EINVAL,
                            "%s: tensor '%s': %" PRIu64 " data bytes, expected %" PRIu64, g->path,
                            name, t->n_bytes, (uint64_t)row_bytes * rows);

    w->name = t->name.data;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = want[1];
    w->row_bytes = row_bytes;
    w->data = t->data;
    return 0;
}

static int bind_layer(const struct dfit_gguf *g, const struct dfit_llama_hparams *hp, uint32_t il,
                      struct dfit_llama_layer *L, struct dfit_err *err)
{
    const int64_t d = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim,
                  kv = (int64_t)hp->n_head_kv * hp->head_dim, ff = hp->n_ff;
    const struct {
        const char *suffix;
        enum bind_kind kind;
        int64_t n_in, n_out;
        struct dfit_weight *w;
    } spec[] = {
        {"attn_norm", BIND_VECTOR_F32, d, 1, &L->attn_norm},
        {"attn_q", BIND_MATRIX, d, q, &L->wq},
        {"attn_k", BIND_MATRIX, d, kv, &L->wk},
        {"attn_v", BIND_MATRIX, d, kv, &L->wv},
        {"attn_output", BIND_MATRIX, q, d, &L->wo},
        {"ffn_norm", BIND_VECTOR_F32, d, 1, &L->ffn_norm},
        {"ffn_gate", BIND_MATRIX, d, ff, &L->w_gate},
        {"ffn_up", BIND_MATRIX, d, ff, &L->w_up},
        {"ffn_down", BIND_MATRIX, ff, d, &L->w_down},
    };
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%" PRIu32 ".%s.weight", il, spec[i].suffix);
        int rc = bind(g, name, spec[i].kind, spec[i].n_in, spec[i].n_out, spec[i].w, err);
        if (rc)
            return rc;
    }
    return 0;
}

int dfit_model_from_gguf(struct dfit_gguf *g, struct dfit_model **out, struct dfit_err *err)
{
    *out = NULL;
    struct dfit_model *m = calloc(1, sizeof *m);
    int rc;
    if (!m)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", g->path);
    if ((rc = dfit_llama_hparams_read(g, &m->hp, err)))
        goto fail;
    const struct dfit_llama_hparams *hp = &m->hp;

    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory for %" PRIu32 " layers", g->path,
                          hp->n_layer);
        goto fail;
    }
    if ((rc = bind(g, "token_embd.weight", BIND_MATRIX, hp->n_embd, hp->n_vocab, &m->tok_embd,
                   err)))
        goto fail;
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if ((rc = bind_layer(g, hp, il, &m->layers[il], err)))
            goto fail;
    if ((rc = bind(g, "output_norm.weight", BIND_VECTOR_F32, hp->n_embd, 1, &m->output_norm,
                   err)))
        goto fail;
    if (dfit_gguf_find_tensor(g, "output.weight")) {
        if ((rc = bind(g, "output.weight", BIND_MATRIX, hp->n_embd, hp->n_vocab, &m->output,
                       err)))
            goto fail;
    } else {
        m->output = m->tok_embd;
        m->output_tied = true;
    }

    for (uint64_t i = 0; i < g->n_tensors; i++) {
        m->n_params += g->tensors[i].n_elements;
        m->weight_bytes += g->tensors[i].n_bytes;
    }
    m->gguf = g;
    *out = m;
    return 0;
fail:
    free(m->layers);
    free(m);
    return rc;
}

int dfit_model_open(const char *path, struct dfit_model **out, struct dfit_err *err)
{
    struct dfit_gguf *g = NULL;
    *out = NULL;
    int rc = dfit_gguf_open(path, &g, err);
    if (rc)
        return rc;
    rc = dfit_model_from_gguf(g, out, err);
    if (rc)
        dfit_gguf_close(g);
    return rc;
}

void dfit_model_free(struct dfit_model *m)
{
    if (!m)
        return;
    dfit_gguf_close(m->gguf);
    free(m->layers);
    free(m);
}
