/* token_cost.c — bytes and FLOPs per token of a bound model (see
 * token_cost.h for the definitions).
 * Non-goal: reading tensor data (the count of zeros comes from the
 * dfit.prune.* metadata, not from scanning the weights).
 */
#include "run/token_cost.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/gguf.h"

static uint64_t bytes_of(const struct dfit_weight *w)
{
    return (uint64_t)w->row_bytes * (uint64_t)w->n_out;
}

static uint64_t params_of(const struct dfit_weight *w)
{
    return (uint64_t)w->n_in * (uint64_t)w->n_out;
}

/* Folds one 2-D weight's type into the model's ("mixed" once two differ). */
static void note_type(char type[16], const struct dfit_weight *w)
{
    const struct dfit_type_info *ti = dfit_type_info(w->type);
    const char *name = ti ? ti->name : "?";
    if (!type[0])
        snprintf(type, 16, "%s", name);
    else if (strcmp(type, name) != 0)
        snprintf(type, 16, "mixed");
}

/* dfit.prune.* into c; 0 or DFIT_EINVAL. */
static int read_prune(const struct dfit_gguf *g, struct dfit_token_cost *c, struct dfit_err *err)
{
    c->prune_sparsity = NAN;
    const struct dfit_gguf_kv *kv = dfit_gguf_find_kv(g, "dfit.prune.pattern");
    if (!kv)
        return 0;
    if (kv->value.type != DFIT_GGUF_STRING)
        return dfit_err_set(err, DFIT_EINVAL, "%s: key 'dfit.prune.pattern': %s, expected string",
                            g->path, dfit_gguf_type_name(kv->value.type));
    const struct dfit_gguf_str *s = &kv->value.str;
    if (s->len == 0 || s->len >= sizeof c->prune_pattern || strlen(s->data) != s->len)
        return dfit_err_set(err, DFIT_EINVAL,
                            "%s: key 'dfit.prune.pattern': not a pattern name (%llu bytes)", g->path,
                            (unsigned long long)s->len);
    memcpy(c->prune_pattern, s->data, s->len + 1);
    float sp = 0.0f;
    int rc = dfit_gguf_get_f32(g, "dfit.prune.sparsity", &sp, err);
    if (rc == DFIT_ENOTFOUND)
        sp = 0.0f; /* a pattern without its sparsity: no zeros are assumed */
    else if (rc)
        return rc;
    if (!(sp >= 0.0f && sp <= 1.0f))
        return dfit_err_set(err, DFIT_EINVAL, "%s: key 'dfit.prune.sparsity': %g not in [0, 1]",
                            g->path, (double)sp);
    c->prune_sparsity = sp;
    return 0;
}

int dfit_token_cost_of_model(const struct dfit_model *m, struct dfit_token_cost *out,
                             struct dfit_err *err)
{
    struct dfit_token_cost c = {0};
    int rc = read_prune(m->gguf, &c, err);
    if (rc) {
        memset(out, 0, sizeof *out);
        out->prune_sparsity = NAN;
        return rc;
    }
    const struct dfit_llama_hparams *hp = &m->hp;
    uint64_t block_params = 0;
    c.bytes_per_token = bytes_of(&m->output_norm) + bytes_of(&m->output) +
                        (uint64_t)m->tok_embd.row_bytes;
    note_type(c.weight_type, &m->tok_embd);
    if (!m->output_tied)
        note_type(c.weight_type, &m->output);
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const struct dfit_llama_layer *L = &m->layers[il];
        const struct dfit_weight *proj[] = {&L->wq, &L->wk, &L->wv, &L->wo,
                                            &L->w_gate, &L->w_up, &L->w_down};
        c.bytes_per_token += bytes_of(&L->attn_norm) + bytes_of(&L->ffn_norm);
        for (size_t i = 0; i < sizeof proj / sizeof proj[0]; i++) {
            c.bytes_per_token += bytes_of(proj[i]);
            block_params += params_of(proj[i]);
            note_type(c.weight_type, proj[i]);
        }
    }
    c.kv_values_per_pos = 2ull * hp->n_layer * hp->n_head_kv * hp->head_dim;
    c.flops_per_token = 2 * block_params;
    c.output_flops = 2 * params_of(&m->output);
    c.attn_flops_per_pos = 4ull * hp->n_layer * hp->n_head * hp->head_dim;
    /* unstructured and 2:4 keep the shapes and zero weights; structured
     * patterns already show in the shapes. Zeros of a pruned output matrix
     * (--prune-output) are not counted: prefill computes it for one token. */
    uint64_t zeros = 0;
    if (strcmp(c.prune_pattern, "unstructured") == 0 || strcmp(c.prune_pattern, "2:4") == 0)
        zeros = (uint64_t)llround(c.prune_sparsity * (double)block_params);
    c.sparse_flops_per_token = c.flops_per_token - 2 * (zeros < block_params ? zeros : block_params);
    *out = c;
    return 0;
}

double dfit_token_cost_decode_bytes(const struct dfit_token_cost *c, double n_ctx, uint32_t batch,
                                    uint32_t kv_value_bytes)
{
    double b = batch ? (double)batch : 1.0;
    return (double)c->bytes_per_token / b +
           (double)c->kv_values_per_pos * (double)kv_value_bytes * n_ctx;
}

double dfit_token_cost_prefill_flops(const struct dfit_token_cost *c, uint32_t n_prompt,
                                     bool sparse)
{
    double p = n_prompt ? (double)n_prompt : 1.0;
    double blocks = (double)(sparse ? c->sparse_flops_per_token : c->flops_per_token);
    return blocks + (double)c->output_flops / p + (double)c->attn_flops_per_pos * (p + 1.0) / 2.0;
}

double dfit_token_cost_mean_ctx(uint32_t n_past, uint32_t n_gen)
{
    return (double)n_past + ((double)n_gen + 1.0) / 2.0;
}
