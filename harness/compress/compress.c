/* compress.c — the `dfit compress` pipeline (see compress.h): prune,
 * calibrate, scale, round, and write the recipe.
 *
 * Recipe keys (all moved into dfit.lineage when the file is compressed
 * again): dfit.recipe.method ("prune", "prune+convert", "awq",
 * "prune+awq"), .to, .quant.method, .prune.{pattern,method,amount,
 * sparsity,scope,include_output,score,calib,removed}, .calib.{source,
 * tokens,ctx,sha256}, .awq.{grid,sample_rows,alpha,err_plain,err}. The
 * load-time keys dfit.prune.{pattern,sparsity,include_output} say what a
 * backend may repack.
 * Non-goals: the CLI's flag parsing and printing (cmd_compress.c).
 */
#include "compress/compress.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress/awq.h"
#include "compress/calib.h"
#include "compress/convert.h"
#include "compress/wmodel.h"
#include "model/gguf.h"
#include "util/sha256.h"

int dfit_compress_check(const struct dfit_compress_params *p, struct dfit_err *err)
{
    const bool prune = p->prune.pattern != DFIT_PRUNE_NONE;
    if (p->have_to && !dfit_type_info(p->to))
        return dfit_err_set(err, DFIT_EINVAL, "--to: tensor type id %u is not supported", (unsigned)p->to);
    if (p->method == DFIT_QUANT_AWQ) {
        const struct dfit_type_info *ti = p->have_to ? dfit_type_info(p->to) : NULL;
        if (!ti || !ti->quantized)
            return dfit_err_set(err, DFIT_EINVAL,
                                "--method awq: needs a quantized --to (q4_0 or q8_0), got %s",
                                ti ? ti->name : "none");
    }
    if (p->calib && !prune && p->method != DFIT_QUANT_AWQ)
        return dfit_err_set(err, DFIT_EINVAL, "--calib: nothing uses it without --prune or --method awq");
    if (!p->have_to && !prune)
        return dfit_err_set(err, DFIT_EINVAL, "nothing to do: give --to TYPE, --prune SPEC or both");
    return 0;
}

static uint32_t n_calib_tokens(const struct dfit_compress_params *p)
{
    return p->calib_tokens ? p->calib_tokens : DFIT_CALIB_DEFAULT_TOKENS;
}

static void note_calib(struct dfit_compress_report *rep, const struct dfit_calib *cal, char *sha, size_t cap)
{
    snprintf(rep->calib, sizeof rep->calib, "%s", cal->source);
    rep->calib_tokens = cal->n_tokens;
    snprintf(sha, cap, "%s", cal->sha256);
}

/* Prunes wm, with scores from calibration on in_path when asked. */
static int run_prune(struct dfit_wmodel *wm, const char *in_path, const struct dfit_compress_params *p,
                     struct dfit_compress_report *rep, char *sha, size_t cap, uint32_t *calib_ctx,
                     struct dfit_err *err)
{
    struct dfit_calib *cal = NULL;
    int rc;
    if (p->calib) {
        struct dfit_calib_params cp = {.source = p->calib, .n_tokens = n_calib_tokens(p),
                                       .head_gram = dfit_prune_needs_head_gram(&p->prune),
                                       .n_threads = p->n_threads};
        if ((rc = dfit_calib_collect(in_path, &cp, &cal, err)))
            return rc;
        note_calib(rep, cal, sha, cap);
        *calib_ctx = cal->n_ctx;
    }
    rc = dfit_prune_apply(wm, &p->prune, cal, &rep->prune, err);
    if (rc)
        dfit_err_prefix(err, "--prune %s", dfit_prune_pattern_name(p->prune.pattern));
    rep->pruned = rc == 0;
    dfit_calib_free(cal);
    return rc;
}

/* Calibrates (on in_path, or on a temporary F32 copy of a pruned wm) and
 * scales wm. */
static int run_awq(struct dfit_wmodel *wm, const char *in_path, const char *out_path,
                   const struct dfit_compress_params *p, struct dfit_compress_report *rep,
                   struct dfit_awq_result *awq, char *sha, size_t cap, uint32_t *calib_ctx,
                   struct dfit_err *err)
{
    struct dfit_calib *cal = NULL;
    char *tmp = NULL;
    const char *model = in_path;
    int rc;
    if (rep->pruned) {
        size_t n = strlen(out_path);
        if (!(tmp = malloc(n + 16)))
            return dfit_err_set(err, DFIT_ENOMEM, "compress: out of memory");
        snprintf(tmp, n + 16, "%s.calib.gguf", out_path);
        if ((rc = dfit_wmodel_write_f32(wm, p->n_threads, tmp, err)))
            goto done;
        model = tmp;
    }
    struct dfit_calib_params cp = {.source = p->calib ? p->calib : "synth", .n_tokens = n_calib_tokens(p),
                                   .n_sample = p->awq_sample ? p->awq_sample : DFIT_COMPRESS_DEFAULT_AWQ_SAMPLE,
                                   .n_threads = p->n_threads};
    if ((rc = dfit_calib_collect(model, &cp, &cal, err)))
        goto done;
    note_calib(rep, cal, sha, cap);
    *calib_ctx = cal->n_ctx;
    struct dfit_awq_params ap = {.qtype = p->to, .n_grid = p->awq_grid, .n_threads = p->n_threads};
    if ((rc = dfit_awq_apply(wm, cal, &ap, awq, err))) {
        dfit_err_prefix(err, "--method awq");
        goto done;
    }
    rep->awq = true;
    rep->awq_groups = awq->n_groups;
    rep->awq_scaled = awq->n_scaled;
    rep->awq_err_plain = awq->err_plain;
    rep->awq_err = awq->err_awq;
done:
    if (tmp)
        unlink(tmp);
    free(tmp);
    dfit_calib_free(cal);
    return rc;
}

static const char *method_name(const struct dfit_compress_params *p, const struct dfit_compress_report *rep)
{
    if (rep->awq)
        return rep->pruned ? "prune+awq" : "awq";
    return p->have_to ? "prune+convert" : "prune";
}

static int write_recipe(struct dfit_gguf_writer *w, const struct dfit_compress_params *p,
                        const struct dfit_compress_report *rep, const struct dfit_awq_result *awq,
                        const char *sha, uint32_t calib_ctx, struct dfit_err *err)
{
    int rc;
    if ((rc = dfit_gguf_writer_set_str(w, "dfit.recipe.method", method_name(p, rep), err)))
        return rc;
    if (p->have_to &&
        ((rc = dfit_gguf_writer_set_u32(w, "general.file_type", dfit_convert_file_type(p->to), err)) ||
         (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.to", dfit_type_info(p->to)->name, err)) ||
         (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.quant.method", rep->awq ? "awq" : "plain", err))))
        return rc;
    if (rep->pruned) {
        const struct dfit_prune_params *pp = &p->prune;
        const char *pattern = dfit_prune_pattern_name(pp->pattern);
        const bool dense = pp->pattern == DFIT_PRUNE_UNSTRUCTURED || pp->pattern == DFIT_PRUNE_2_4;
        const bool calibrated = p->calib != NULL;
        if ((rc = dfit_gguf_writer_set_str(w, "dfit.recipe.prune.pattern", pattern, err)) ||
            (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.prune.method", calibrated ? "activation" : "magnitude",
                                           err)) ||
            (rc = dfit_gguf_writer_set_f32(w, "dfit.recipe.prune.amount", (float)pp->amount, err)) ||
            (rc = dfit_gguf_writer_set_f32(w, "dfit.recipe.prune.sparsity", (float)rep->prune.sparsity, err)) ||
            (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.prune.score", rep->prune.score, err)) ||
            (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.prune.calib", calibrated ? rep->calib : "none", err)) ||
            (rc = dfit_gguf_writer_set_str(w, "dfit.prune.pattern", pattern, err)) ||
            (rc = dfit_gguf_writer_set_f32(w, "dfit.prune.sparsity", (float)rep->prune.sparsity, err)) ||
            (rc = dfit_gguf_writer_set_bool(w, "dfit.prune.include_output", dense && pp->include_output, err)))
            return rc;
        if (pp->pattern == DFIT_PRUNE_UNSTRUCTURED &&
            (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.prune.scope", dfit_prune_scope_name(pp->scope), err)))
            return rc;
        if (dense &&
            (rc = dfit_gguf_writer_set_bool(w, "dfit.recipe.prune.include_output", pp->include_output, err)))
            return rc;
        if (!dense && (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.prune.removed", rep->prune.removed, err)))
            return rc;
    }
    if (rep->calib[0] &&
        ((rc = dfit_gguf_writer_set_str(w, "dfit.recipe.calib.source", rep->calib, err)) ||
         (rc = dfit_gguf_writer_set_u32(w, "dfit.recipe.calib.tokens", rep->calib_tokens, err)) ||
         (rc = dfit_gguf_writer_set_u32(w, "dfit.recipe.calib.ctx", calib_ctx, err)) ||
         (sha[0] && (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.calib.sha256", sha, err)))))
        return rc;
    if (rep->awq &&
        ((rc = dfit_gguf_writer_set_u32(w, "dfit.recipe.awq.grid", p->awq_grid ? p->awq_grid : DFIT_AWQ_DEFAULT_GRID,
                                        err)) ||
         (rc = dfit_gguf_writer_set_u32(w, "dfit.recipe.awq.sample_rows",
                                        p->awq_sample ? p->awq_sample : DFIT_COMPRESS_DEFAULT_AWQ_SAMPLE, err)) ||
         (rc = dfit_gguf_writer_set_arr(w, "dfit.recipe.awq.alpha", DFIT_GGUF_FLOAT32, awq->alpha, awq->n_groups,
                                        err)) ||
         (rc = dfit_gguf_writer_set_f32(w, "dfit.recipe.awq.err_plain", (float)rep->awq_err_plain, err)) ||
         (rc = dfit_gguf_writer_set_f32(w, "dfit.recipe.awq.err", (float)rep->awq_err, err))))
        return rc;
    return 0;
}

int dfit_compress_file(const char *in_path, const char *out_path, const struct dfit_compress_params *p,
                       struct dfit_compress_report *report, struct dfit_err *err)
{
    struct dfit_compress_report local;
    struct dfit_compress_report *rep = report ? report : &local;
    struct dfit_wmodel *wm = NULL;
    struct dfit_gguf_writer *w = NULL;
    struct dfit_awq_result awq = {0};
    char sha[DFIT_SHA256_HEX_LEN + 1], calib_sha[DFIT_SHA256_HEX_LEN + 1] = "";
    uint32_t calib_ctx = 0;
    const int to = p->have_to ? (int)p->to : DFIT_WMODEL_KEEP_TYPES;
    int rc;
    memset(rep, 0, sizeof *rep);
    if ((rc = dfit_compress_check(p, err)))
        return rc;
    if (p->prune.pattern == DFIT_PRUNE_NONE && p->method == DFIT_QUANT_PLAIN) {
        struct dfit_convert_params cp = {.to = p->to, .n_threads = p->n_threads};
        return dfit_convert_file(in_path, out_path, &cp, err);
    }
    if ((rc = dfit_convert_check_out_path(in_path, out_path, err)) || (rc = dfit_wmodel_open(in_path, &wm, err)))
        goto fail;
    if ((rc = dfit_sha256_buffer(wm->g->map, wm->g->map_bytes, sha, err))) {
        dfit_err_prefix(err, "%s", in_path);
        goto fail;
    }
    if (p->prune.pattern != DFIT_PRUNE_NONE) {
        if ((rc = run_prune(wm, in_path, p, rep, calib_sha, sizeof calib_sha, &calib_ctx, err)))
            goto fail;
    }
    if ((rc = dfit_wmodel_check_types(wm, to, err))) {
        if (rep->pruned)
            dfit_err_prefix(err, "--prune %s: the pruned model does not suit --to %s",
                            dfit_prune_pattern_name(p->prune.pattern),
                            p->have_to ? dfit_type_info(p->to)->name : "(each tensor's type)");
        else
            dfit_err_prefix(err, "%s", in_path);
        goto fail;
    }
    if (p->method == DFIT_QUANT_AWQ &&
        (rc = run_awq(wm, in_path, out_path, p, rep, &awq, calib_sha, sizeof calib_sha, &calib_ctx, err)))
        goto fail;
    if ((rc = dfit_gguf_writer_create(&w, err)) || (rc = dfit_gguf_writer_copy_kv(w, wm->g, err)) ||
        (rc = dfit_convert_lineage(w, wm->g, in_path, sha, err)) ||
        (rc = write_recipe(w, p, rep, &awq, calib_sha, calib_ctx, err)) ||
        (rc = dfit_wmodel_write(wm, w, to, p->n_threads, out_path, err)))
        goto fail;
    rc = 0;
fail:
    dfit_awq_result_clear(&awq);
    dfit_gguf_writer_free(w);
    dfit_wmodel_free(wm);
    return rc;
}
