/* distill_export.c — the distilled student's file (its recipe and lineage
 * in dfit.* metadata) and the student-shape spec of `dfit distill
 * --student` (see distill.h).
 * Non-goals: the loss and the measurement (distill.c).
 */
#include "compress/distill.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/convert.h"
#include "model/gguf.h"

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static void shape_text(char *buf, size_t cap, const struct dfit_synth_shape *s)
{
    snprintf(buf, cap, "dim=%u layers=%u heads=%u kv_heads=%u ffn=%u vocab=%u ctx=%u tied=%s", s->n_embd,
             s->n_layer, s->n_head, s->n_head_kv, s->n_ff, s->n_vocab, s->n_ctx,
             s->tied_output ? "true" : "false");
}

#define KEY "dfit.recipe.distill."

static int add_recipe(struct dfit_gguf_writer *w, const struct dfit_train_model *m, enum dfit_type type,
                      const struct dfit_train_recipe *r, const struct dfit_distill_lineage *l,
                      struct dfit_err *err)
{
    char shape[256], loss[160];
    shape_text(shape, sizeof shape, &m->shape);
    snprintf(loss, sizeof loss, "alpha*T^2*KL(teacher_T||student_T) + (1-alpha)*CE, over %s",
             r->all_tokens ? "every token" : "the data's answer tokens");
    int rc;
    if ((rc = dfit_gguf_writer_set_str(w, "dfit.recipe.method", "distill", err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.type", dfit_type_info(type)->name, err)) ||
        (rc = dfit_gguf_writer_set_str(w, KEY "teacher_sha256", l->teacher_sha256, err)) ||
        (rc = dfit_gguf_writer_set_str(w, KEY "teacher_name", base_name(l->teacher_path), err)) ||
        (rc = dfit_gguf_writer_set_str(w, KEY "student", l->init_path ? "init" : "fresh", err)) ||
        (rc = dfit_gguf_writer_set_str(w, KEY "student_shape", shape, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, KEY "temperature", l->params.temperature, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, KEY "alpha", l->params.alpha, err)) ||
        (rc = dfit_gguf_writer_set_str(w, KEY "loss", loss, err)) ||
        (rc = dfit_gguf_writer_set_u64(w, KEY "steps", r->steps, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, KEY "batch", r->batch, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, KEY "seq", r->seq, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, KEY "lr", r->lr, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, KEY "lr_min", r->lr_min, err)) ||
        (rc = dfit_gguf_writer_set_u64(w, KEY "warmup", r->warmup, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, KEY "weight_decay", r->weight_decay, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, KEY "clip", r->clip, err)) ||
        (rc = dfit_gguf_writer_set_u64(w, KEY "seed", r->seed, err)) ||
        (rc = dfit_gguf_writer_set_str(w, KEY "data_sha256", r->data_sha256, err)) ||
        (rc = dfit_gguf_writer_set_u64(w, KEY "data_tokens", r->data_tokens, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, KEY "final_loss", r->final_loss, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, KEY "final_kl", (float)l->final_kl, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, KEY "final_ce", (float)l->final_ce, err)) ||
        (rc = dfit_gguf_writer_set_str(w, KEY "optimizer",
                                       "adamw beta1=0.9 beta2=0.95 eps=1e-8 (dfit train's); linear "
                                       "warm-up, cosine decay to lr_min",
                                       err)))
        return rc;
    if (l->init_path &&
        ((rc = dfit_gguf_writer_set_str(w, KEY "init_sha256", l->init_sha256, err)) ||
         (rc = dfit_gguf_writer_set_str(w, KEY "init_name", base_name(l->init_path), err))))
        return rc;
    if (l->have_heldout &&
        ((rc = dfit_gguf_writer_set_str(w, KEY "heldout_sha256", l->heldout_sha256, err)) ||
         (rc = dfit_gguf_writer_set_u64(w, KEY "heldout_tokens", (uint64_t)l->heldout_after.n_tokens, err)) ||
         (rc = dfit_gguf_writer_set_f32(w, KEY "heldout_kl_before", (float)l->heldout_before.kl, err)) ||
         (rc = dfit_gguf_writer_set_f32(w, KEY "heldout_kl_after", (float)l->heldout_after.kl, err)) ||
         (rc = dfit_gguf_writer_set_f32(w, KEY "heldout_top1_before", (float)l->heldout_before.top1, err)) ||
         (rc = dfit_gguf_writer_set_f32(w, KEY "heldout_top1_after", (float)l->heldout_after.top1, err))))
        return rc;
    return 0;
}

int dfit_distill_export(const struct dfit_train_model *student, enum dfit_type type,
                        const struct dfit_train_recipe *r, const struct dfit_distill_lineage *lin,
                        const char *path, struct dfit_err *err)
{
    struct dfit_gguf_writer *w = NULL;
    struct dfit_gguf *parent = NULL;
    const char *parent_path = lin->init_path ? lin->init_path : lin->teacher_path;
    const char *parent_sha = lin->init_path ? lin->init_sha256 : lin->teacher_sha256;
    int rc;
    if ((rc = dfit_gguf_writer_create(&w, err)) ||
        (rc = dfit_train_model_add_to_writer(student, type, w, err)) ||
        (rc = dfit_gguf_open(parent_path, &parent, err)) ||
        (rc = dfit_convert_lineage(w, parent, parent_path, parent_sha, err)) ||
        (rc = add_recipe(w, student, type, r, lin, err)))
        goto fail;
    rc = dfit_gguf_writer_write(w, path, err);
fail:
    if (rc && !strstr(err->msg, path))
        dfit_err_prefix(err, "%s", path);
    dfit_gguf_close(parent);
    dfit_gguf_writer_free(w);
    return rc;
}

/* ---- the student's shape ------------------------------------------------------------- */

static int parse_u32(const char *s, uint32_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v == 0 || v > 1u << 24)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int dfit_distill_shape_parse(const char *spec, const struct dfit_synth_shape *teacher,
                             struct dfit_synth_shape *out, struct dfit_err *err)
{
    char buf[256];
    if (!spec || strlen(spec) >= sizeof buf)
        return dfit_err_set(err, DFIT_EINVAL, "student shape: missing or longer than %zu characters", sizeof buf - 1);
    memcpy(buf, spec, strlen(spec) + 1);
    *out = *teacher;
    bool heads_given = false, kv_given = false;
    int item = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), item++) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            if (item != 0)
                return dfit_err_set(err, DFIT_EINVAL,
                                    "student shape '%s': '%s': a preset name may only come first "
                                    "(then KEY=VALUE items)", spec, tok);
            if (strcmp(tok, "teacher") != 0) {
                struct dfit_synth_shape p;
                if (dfit_synth_preset(tok, &p, err))
                    return dfit_err_set(err, DFIT_EINVAL,
                                        "student shape '%s': '%s' is neither the teacher nor a preset "
                                        "(tiny, 15m, 110m, 1b) nor KEY=VALUE",
                                        spec, tok);
                *out = p;
            }
            continue;
        }
        *eq = '\0';
        const char *key = tok, *val = eq + 1;
        uint32_t *field = !strcmp(key, "dim")      ? &out->n_embd
                          : !strcmp(key, "layers") ? &out->n_layer
                          : !strcmp(key, "heads")  ? &out->n_head
                          : !strcmp(key, "kv_heads") ? &out->n_head_kv
                          : !strcmp(key, "ffn")    ? &out->n_ff
                          : !strcmp(key, "ctx")    ? &out->n_ctx
                                                   : NULL;
        if (!strcmp(key, "tied")) {
            if (strcmp(val, "true") && strcmp(val, "false"))
                return dfit_err_set(err, DFIT_EINVAL, "student shape '%s': tied=%s: expected true or false", spec, val);
            out->tied_output = !strcmp(val, "true");
            continue;
        }
        if (!field)
            return dfit_err_set(err, DFIT_EINVAL,
                                "student shape '%s': unknown key '%s' (keys: dim, layers, heads, kv_heads, "
                                "ffn, ctx, tied; the vocabulary is the teacher's)",
                                spec, key);
        if (parse_u32(val, field))
            return dfit_err_set(err, DFIT_EINVAL, "student shape '%s': %s=%s: expected an integer in 1..16777216",
                                spec, key, val);
        heads_given |= field == &out->n_head;
        kv_given |= field == &out->n_head_kv;
    }
    if (item == 0)
        return dfit_err_set(err, DFIT_EINVAL, "student shape: empty");
    out->n_vocab = teacher->n_vocab;
    if (heads_given && !kv_given) {
        const uint32_t group = teacher->n_head_kv ? teacher->n_head / teacher->n_head_kv : 1;
        out->n_head_kv = group && out->n_head % group == 0 ? out->n_head / group : out->n_head;
    }
    int rc = dfit_synth_shape_check(out, err);
    if (rc)
        dfit_err_prefix(err, "student shape '%s'", spec);
    return rc;
}
