/* train_model.c — parameters, gradients and AdamW moments of a llama model
 * in F32; initialization, GGUF export and import (see train_model.h).
 * One layout serves all four buffers: the tensors in GGUF file order
 * (token_embd, then per layer attn_norm, attn_q, attn_k, attn_v,
 * attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down, then output_norm and,
 * when untied, output), each contiguous with rows of n_in floats.
 * Non-goals: quantized export (`dfit compress` converts a trained file),
 * partial loading, other architectures.
 */
#include "compress/train_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/convert.h"
#include "model/gguf.h"
#include "model/llama.h"
#include "model/tokenizer.h"
#include "util/rng.h"

#define INIT_STD 0.02f

/* ---- layout ------------------------------------------------------------------ */

static void add_layout(struct dfit_train_model *m, size_t *off, const char *name, int64_t n_in,
                       int64_t n_out, bool matrix, bool decay)
{
    struct dfit_train_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = *off;
    t->n_in = n_in;
    t->n_out = n_out;
    t->matrix = matrix;
    t->decay = decay;
    *off += (size_t)(n_in * n_out);
}

/* Fills m->tensors and returns the number of floats of a buffer. */
static size_t build_layout(struct dfit_train_model *m)
{
    const struct dfit_synth_shape *s = &m->shape;
    const int64_t d = s->n_embd, q = (int64_t)s->n_head * m->head_dim,
                  kv = (int64_t)s->n_head_kv * m->head_dim, ff = s->n_ff, v = s->n_vocab;
    const struct {
        const char *suffix;
        int64_t n_in, n_out; /* n_out 0: a norm vector */
    } layer[] = {
        {"attn_norm", d, 0}, {"attn_q", d, q},    {"attn_k", d, kv}, {"attn_v", d, kv},    {"attn_output", q, d},
        {"ffn_norm", d, 0},  {"ffn_gate", d, ff}, {"ffn_up", d, ff}, {"ffn_down", ff, d},
    };
    size_t off = 0;
    char name[64];
    m->n_tensors = 0;
    add_layout(m, &off, "token_embd.weight", d, v, true, false);
    for (uint32_t l = 0; l < s->n_layer; l++)
        for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++) {
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, layer[i].suffix);
            bool mat = layer[i].n_out != 0;
            add_layout(m, &off, name, layer[i].n_in, mat ? layer[i].n_out : 1, mat, mat);
        }
    add_layout(m, &off, "output_norm.weight", d, 1, false, false);
    if (!s->tied_output)
        add_layout(m, &off, "output.weight", d, v, true, true);
    return off;
}

/* Points the views of one buffer at its tensors (layout order above). */
static void bind_views(const struct dfit_train_model *m, float *buf, struct dfit_train_tensors *v)
{
    const struct dfit_train_tensor *t = m->tensors;
    v->tok_embd = buf + (t++)->offset;
    for (uint32_t l = 0; l < m->shape.n_layer; l++) {
        struct dfit_train_layer *L = &v->layers[l];
        float **slot[] = {&L->attn_norm, &L->wq,     &L->wk,   &L->wv,    &L->wo,
                          &L->ffn_norm,  &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof slot / sizeof slot[0]; i++)
            *slot[i] = buf + (t++)->offset;
    }
    v->output_norm = buf + (t++)->offset;
    v->output = m->shape.tied_output ? v->tok_embd : buf + t->offset;
}

void dfit_train_model_free(struct dfit_train_model *m)
{
    if (!m)
        return;
    free(m->params);
    free(m->grads);
    free(m->adam_m);
    free(m->adam_v);
    free(m->w.layers);
    free(m->g.layers);
    free(m->tensors);
    free(m);
}

int dfit_train_model_create(const struct dfit_synth_shape *s, struct dfit_train_model **out,
                            struct dfit_err *err)
{
    *out = NULL;
    int rc = dfit_synth_shape_check(s, err);
    if (rc)
        return rc;
    struct dfit_train_model *m = calloc(1, sizeof *m);
    if (!m)
        return dfit_err_set(err, DFIT_ENOMEM, "train model: out of memory");
    m->shape = *s;
    m->head_dim = s->n_embd / s->n_head;
    const uint64_t n = dfit_synth_n_params(s);
    const size_t n_tensors = 9 * (size_t)s->n_layer + 3;
    m->tensors = calloc(n_tensors, sizeof *m->tensors);
    m->w.layers = calloc(s->n_layer, sizeof *m->w.layers);
    m->g.layers = calloc(s->n_layer, sizeof *m->g.layers);
    if (n > SIZE_MAX / sizeof(float) / 4 || !m->tensors || !m->w.layers || !m->g.layers) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "train model: out of memory");
        goto fail;
    }
    m->n_params = build_layout(m);
    if (m->n_params != n) {
        rc = dfit_err_set(err, DFIT_EINTERNAL, "train model: layout has %zu floats, expected %llu",
                          m->n_params, (unsigned long long)n);
        goto fail;
    }
    m->params = calloc(m->n_params, sizeof(float));
    m->grads = calloc(m->n_params, sizeof(float));
    m->adam_m = calloc(m->n_params, sizeof(float));
    m->adam_v = calloc(m->n_params, sizeof(float));
    if (!m->params || !m->grads || !m->adam_m || !m->adam_v) {
        rc = dfit_err_set(err, DFIT_ENOMEM,
                          "train model: cannot allocate %llu parameters (x4: weights, gradients, "
                          "two moments)",
                          (unsigned long long)n);
        goto fail;
    }
    bind_views(m, m->params, &m->w);
    bind_views(m, m->grads, &m->g);
    *out = m;
    return 0;
fail:
    dfit_train_model_free(m);
    return rc;
}

const struct dfit_train_tensor *dfit_train_model_find(const struct dfit_train_model *m,
                                                      const char *name)
{
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

/* ---- initialization ------------------------------------------------------------ */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t name_seed(uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return mix64(mix64(seed) ^ h);
}

static bool is_residual_proj(const char *name)
{
    size_t n = strlen(name);
    return (n > 19 && strcmp(name + n - 19, ".attn_output.weight") == 0) ||
           (n > 16 && strcmp(name + n - 16, ".ffn_down.weight") == 0);
}

void dfit_train_model_init(struct dfit_train_model *m, uint64_t seed)
{
    const float resid_scale = 1.0f / sqrtf(2.0f * (float)m->shape.n_layer);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const struct dfit_train_tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        const size_t n = (size_t)(t->n_in * t->n_out);
        if (!t->matrix) {
            for (size_t j = 0; j < n; j++)
                p[j] = 1.0f;
            continue;
        }
        const float std = INIT_STD * (is_residual_proj(t->name) ? resid_scale : 1.0f);
        struct dfit_rng r;
        dfit_rng_seed(&r, name_seed(seed, t->name));
        for (size_t j = 0; j < n; j++)
            p[j] = std * dfit_rng_normal(&r);
    }
    memset(m->grads, 0, m->n_params * sizeof(float));
    memset(m->adam_m, 0, m->n_params * sizeof(float));
    memset(m->adam_v, 0, m->n_params * sizeof(float));
}

/* ---- export ----------------------------------------------------------------------- */

/* Encodes a tensor's F32 rows (user: the first float) as t->type. */
static int fill_rows(void *user, const struct dfit_gguf_tensor *t, void *dst, struct dfit_err *err)
{
    const float *src = user;
    size_t row_bytes;
    if (!dfit_type_row_bytes(t->type, t->ne[0], &row_bytes))
        return dfit_err_set(err, DFIT_EINTERNAL, "tensor '%s': bad row", t->name.data);
    const int64_t rows = (int64_t)(t->n_elements / (uint64_t)t->ne[0]);
    for (int64_t r = 0; r < rows; r++)
        dfit_row_from_f32(t->type, src + r * t->ne[0], (uint8_t *)dst + (size_t)r * row_bytes, t->ne[0]);
    return 0;
}

int dfit_train_model_add_to_writer(const struct dfit_train_model *m, enum dfit_type type,
                                   struct dfit_gguf_writer *w, struct dfit_err *err)
{
    if (type != DFIT_TYPE_F32 && type != DFIT_TYPE_F16 && type != DFIT_TYPE_BF16) {
        const struct dfit_type_info *ti = dfit_type_info(type);
        return dfit_err_set(err, DFIT_EUNSUPPORTED,
                            "train export: type %s not supported (f32, f16 or bf16; quantize the "
                            "result with dfit compress)",
                            ti ? ti->name : "?");
    }
    const struct dfit_synth_shape *s = &m->shape;
    const char *preset = dfit_synth_preset_of(s);
    char name[96];
    snprintf(name, sizeof name, "dfit-train-%s", preset ? preset : "custom");
    int rc;
    if ((rc = dfit_gguf_writer_set_str(w, "general.architecture", "llama", err)) ||
        (rc = dfit_gguf_writer_set_str(w, "general.name", name, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "general.file_type", dfit_convert_file_type(type), err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.context_length", s->n_ctx, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.embedding_length", s->n_embd, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.block_count", s->n_layer, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.feed_forward_length", s->n_ff, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.rope.dimension_count", m->head_dim, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.attention.head_count", s->n_head, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.attention.head_count_kv", s->n_head_kv, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", s->rms_eps, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, "llama.rope.freq_base", s->rope_freq_base, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.vocab_size", s->n_vocab, err)) ||
        (rc = dfit_tokenizer_write_byte_vocab(w, s->n_vocab, err)))
        return rc;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const struct dfit_train_tensor *t = &m->tensors[i];
        const int64_t ne[2] = {t->n_in, t->n_out};
        const float *src = m->params + t->offset;
        enum dfit_type tt = t->matrix ? type : DFIT_TYPE_F32;
        if (tt == DFIT_TYPE_F32)
            rc = dfit_gguf_writer_add_tensor(w, t->name, tt, t->matrix ? 2 : 1, ne, src, NULL, NULL, err);
        else
            rc = dfit_gguf_writer_add_tensor(w, t->name, tt, 2, ne, NULL, fill_rows,
                                             (void *)(uintptr_t)src, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int add_recipe(struct dfit_gguf_writer *w, const struct dfit_train_model *m, enum dfit_type type,
                      const struct dfit_train_recipe *r, struct dfit_err *err)
{
    const struct dfit_synth_shape *s = &m->shape;
    char shape[256];
    snprintf(shape, sizeof shape,
             "dim=%u layers=%u heads=%u kv_heads=%u ffn=%u vocab=%u ctx=%u tied=%s rms_eps=%g rope_base=%g",
             s->n_embd, s->n_layer, s->n_head, s->n_head_kv, s->n_ff, s->n_vocab, s->n_ctx,
             s->tied_output ? "true" : "false", (double)s->rms_eps, (double)s->rope_freq_base);
    int rc;
    if ((rc = dfit_gguf_writer_set_str(w, "dfit.recipe.method", "train", err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.type", dfit_type_info(type)->name, err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.train.shape", shape, err)) ||
        (rc = dfit_gguf_writer_set_u64(w, "dfit.train.steps", r->steps, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "dfit.train.batch", r->batch, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "dfit.train.seq", r->seq, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, "dfit.train.lr", r->lr, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, "dfit.train.lr_min", r->lr_min, err)) ||
        (rc = dfit_gguf_writer_set_u64(w, "dfit.train.warmup", r->warmup, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, "dfit.train.weight_decay", r->weight_decay, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, "dfit.train.clip", r->clip, err)) ||
        (rc = dfit_gguf_writer_set_u64(w, "dfit.train.seed", r->seed, err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.train.data_sha256", r->data_sha256, err)) ||
        (rc = dfit_gguf_writer_set_u64(w, "dfit.train.data_tokens", r->data_tokens, err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.train.loss_tokens", r->all_tokens ? "all" : "answers", err)) ||
        (rc = dfit_gguf_writer_set_f32(w, "dfit.train.final_loss", r->final_loss, err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.train.optimizer",
                                       "adamw beta1=0.9 beta2=0.95 eps=1e-8; decay on projection "
                                       "matrices and an untied output, not norms or token_embd; "
                                       "linear warm-up, cosine decay to lr_min",
                                       err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.train.init",
                                       "matrices N(0, 0.02^2), attn_output and ffn_down scaled by "
                                       "1/sqrt(2*n_layer); norms 1",
                                       err)))
        return rc;
    if (r->parent_sha256[0] &&
        ((rc = dfit_gguf_writer_set_str(w, "dfit.parent.sha256", r->parent_sha256, err)) ||
         (rc = dfit_gguf_writer_set_str(w, "dfit.parent.name", r->parent_name, err))))
        return rc;
    return 0;
}

int dfit_train_model_export(const struct dfit_train_model *m, enum dfit_type type,
                            const struct dfit_train_recipe *recipe, const char *path,
                            struct dfit_err *err)
{
    struct dfit_gguf_writer *w = NULL;
    int rc;
    if ((rc = dfit_gguf_writer_create(&w, err)) || (rc = dfit_train_model_add_to_writer(m, type, w, err)))
        goto fail;
    if (recipe && (rc = add_recipe(w, m, type, recipe, err)))
        goto fail;
    rc = dfit_gguf_writer_write(w, path, err);
fail:
    if (rc && err && !strstr(err->msg, path))
        dfit_err_prefix(err, "%s", path);
    dfit_gguf_writer_free(w);
    return rc;
}

/* ---- import ----------------------------------------------------------------------- */

int dfit_train_model_import(const char *path, struct dfit_train_model **out, struct dfit_err *err)
{
    *out = NULL;
    struct dfit_model *lm = NULL;
    struct dfit_train_model *m = NULL;
    int rc = dfit_model_open(path, &lm, err);
    if (rc)
        return rc;
    const struct dfit_llama_hparams *hp = &lm->hp;
    struct dfit_synth_shape s = {
        .n_embd = hp->n_embd, .n_layer = hp->n_layer, .n_ff = hp->n_ff, .n_head = hp->n_head,
        .n_head_kv = hp->n_head_kv, .n_vocab = hp->n_vocab, .n_ctx = hp->n_ctx_train,
        .tied_output = lm->output_tied, .rms_eps = hp->rms_eps, .rope_freq_base = hp->rope_freq_base,
    };
    if (hp->n_head == 0 || hp->head_dim * hp->n_head != hp->n_embd) {
        rc = dfit_err_set(err, DFIT_EUNSUPPORTED,
                          "%s: head_dim %u x head_count %u != embedding_length %u (training needs "
                          "head_dim = n_embd / n_head)",
                          path, hp->head_dim, hp->n_head, hp->n_embd);
        goto fail;
    }
    if ((rc = dfit_train_model_create(&s, &m, err))) {
        dfit_err_prefix(err, "%s", path);
        goto fail;
    }
    for (size_t i = 0; i < m->n_tensors; i++) {
        const struct dfit_train_tensor *t = &m->tensors[i];
        const struct dfit_gguf_tensor *gt = dfit_gguf_find_tensor(lm->gguf, t->name);
        size_t row_bytes;
        if (!gt || gt->ne[0] != t->n_in || (int64_t)(gt->n_elements / (uint64_t)gt->ne[0]) != t->n_out ||
            !dfit_type_row_bytes(gt->type, gt->ne[0], &row_bytes)) {
            rc = dfit_err_set(err, DFIT_EINVAL, "%s: tensor '%s': %s", path, t->name,
                              gt ? "unexpected shape" : "missing");
            goto fail;
        }
        for (int64_t r = 0; r < t->n_out; r++)
            dfit_row_to_f32(gt->type, (const uint8_t *)gt->data + (size_t)r * row_bytes,
                            m->params + t->offset + (size_t)(r * t->n_in), t->n_in);
    }
    dfit_model_free(lm);
    *out = m;
    return 0;
fail:
    dfit_train_model_free(m);
    dfit_model_free(lm);
    return rc;
}
