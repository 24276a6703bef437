/* prune_structured.c — structured pruning that keeps a valid llama GGUF:
 * attention heads (whole KV groups), FFN channels and whole blocks, the
 * same count in every layer (see prune.h for the contract and
 * docs/compression.md for the scores).
 *
 * Heads are removed in units of one KV head together with its
 * n_head/n_head_kv query heads, so every remaining query head keeps its KV
 * head and the group size stays uniform; head_dim is unchanged, so the file
 * says llama.attention.key_length once n_head*head_dim != n_embd.
 * Non-goals: per-layer counts (llama's metadata has one count for all
 * layers), pruning query heads inside a group, fine-tuning afterwards.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/prune.h"

struct ranked {
    double score;
    uint32_t index;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Marks the k lowest-scoring of n units in removed[] (ties: lower index
 * first). */
static int mark_lowest(const double *score, uint32_t n, uint32_t k, bool *removed, struct dfit_err *err)
{
    struct ranked *r = malloc(n * sizeof *r);
    if (!r)
        return dfit_err_set(err, DFIT_ENOMEM, "prune: out of memory");
    for (uint32_t i = 0; i < n; i++)
        r[i] = (struct ranked){isnan(score[i]) ? INFINITY : score[i], i};
    qsort(r, n, sizeof *r, cmp_ranked);
    memset(removed, 0, n * sizeof *removed);
    for (uint32_t i = 0; i < k; i++)
        removed[r[i].index] = true;
    free(r);
    return 0;
}

static double norm2(const float *x, int64_t n, int64_t stride)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i * stride] * x[i * stride];
    return sqrt(s);
}

/* The F32 data of layer il's tensor `suffix`, or NULL with err set. */
static float *layer_f32(struct dfit_wmodel *wm, uint32_t il, const char *suffix, struct dfit_wtensor **t,
                        struct dfit_err *err)
{
    *t = dfit_wmodel_layer(wm, il, suffix);
    if (!*t) {
        dfit_err_set(err, DFIT_EINTERNAL, "prune: tensor 'blk.%" PRIu32 ".%s.weight' is missing", il, suffix);
        return NULL;
    }
    return dfit_wmodel_f32(wm, *t, err);
}

static uint64_t proj_params(const struct dfit_llama_hparams *hp)
{
    uint64_t d = hp->n_embd, q = (uint64_t)hp->n_head * hp->head_dim,
             kv = (uint64_t)hp->n_head_kv * hp->head_dim;
    return 2 * d * q + 2 * d * kv + 3 * d * hp->n_ff;
}

/* Appends printf text to res->removed (truncating). */
static void note(struct dfit_prune_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct dfit_prune_result *res, const char *fmt, ...)
{
    size_t len = strlen(res->removed);
    if (len + 1 >= sizeof res->removed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->removed + len, sizeof res->removed - len, fmt, ap);
    va_end(ap);
}

/* Copies the rows of src [n_units*unit_rows][n_in] whose unit is kept. */
static float *keep_rows(const float *src, uint32_t n_units, int64_t unit_rows, int64_t n_in, const bool *removed,
                        uint32_t n_kept)
{
    float *dst = malloc((size_t)n_kept * (size_t)unit_rows * (size_t)n_in * sizeof *dst);
    if (!dst)
        return NULL;
    float *o = dst;
    for (uint32_t u = 0; u < n_units; u++)
        if (!removed[u]) {
            memcpy(o, src + (size_t)u * unit_rows * n_in, (size_t)unit_rows * n_in * sizeof *o);
            o += unit_rows * n_in;
        }
    return dst;
}

/* Copies the columns of src [n_rows][n_units*unit_cols] whose unit is kept. */
static float *keep_cols(const float *src, int64_t n_rows, uint32_t n_units, int64_t unit_cols, const bool *removed,
                        uint32_t n_kept)
{
    float *dst = malloc((size_t)n_rows * n_kept * (size_t)unit_cols * sizeof *dst);
    if (!dst)
        return NULL;
    const int64_t n_in = (int64_t)n_units * unit_cols;
    float *o = dst;
    for (int64_t r = 0; r < n_rows; r++)
        for (uint32_t u = 0; u < n_units; u++)
            if (!removed[u]) {
                memcpy(o, src + r * n_in + (int64_t)u * unit_cols, (size_t)unit_cols * sizeof *o);
                o += unit_cols;
            }
    return dst;
}

/* ---- heads --------------------------------------------------------------- */

/* Score of each KV group of layer il (see docs/compression.md). */
static void head_scores(const struct dfit_llama_hparams *hp, const float *wv /* [kv_dim][d] */,
                        const float *wo /* [d][q_dim] */, const double *gram /* [n_head][hd][hd] or NULL */,
                        double *score /* [n_head_kv] */)
{
    const uint32_t group = hp->n_head / hp->n_head_kv, hd = hp->head_dim;
    const int64_t d = hp->n_embd, q_dim = (int64_t)hp->n_head * hd;
    for (uint32_t g = 0; g < hp->n_head_kv; g++) {
        double s = 0;
        for (uint32_t h = g * group; h < (g + 1) * group; h++) {
            if (!gram) {
                double f = 0;
                for (int64_t r = 0; r < d; r++)
                    for (uint32_t a = 0; a < hd; a++) {
                        double w = wo[r * q_dim + (int64_t)h * hd + a];
                        f += w * w;
                    }
                s += sqrt(f);
                continue;
            }
            /* sum over tokens of ||W_o,h a_h||^2 = sum_r w_r^T G_h w_r */
            const double *G = gram + (size_t)h * hd * hd;
            for (int64_t r = 0; r < d; r++) {
                const float *w = wo + r * q_dim + (int64_t)h * hd;
                for (uint32_t a = 0; a < hd; a++) {
                    double row = 0;
                    for (uint32_t b = 0; b < hd; b++)
                        row += G[(size_t)a * hd + b] * w[b];
                    s += w[a] * row;
                }
            }
        }
        score[g] = gram ? sqrt(fmax(s, 0)) : s * norm2(wv + (int64_t)g * hd * d, (int64_t)hd * d, 1);
    }
}

int dfit_prune_heads(struct dfit_wmodel *wm, double fraction, const struct dfit_calib *cal,
                     struct dfit_prune_result *res, struct dfit_err *err)
{
    struct dfit_llama_hparams *hp = &wm->hp;
    const uint32_t n_kv = hp->n_head_kv, group = hp->n_head / hp->n_head_kv, hd = hp->head_dim;
    const int64_t d = hp->n_embd;
    const uint32_t n_rm = (uint32_t)lround(fraction * n_kv);
    if (n_rm < 1 || n_rm >= n_kv)
        return dfit_err_set(err, DFIT_EINVAL,
                            "--prune heads:%g: heads go in units of one KV head and its %" PRIu32
                            " query heads; %g of %" PRIu32 " units rounds to %" PRIu32
                            " (must be 1 to %" PRIu32 ")",
                            fraction, group, fraction, n_kv, n_rm, n_kv - 1);
    if (cal && (!cal->layers[0].head_gram || cal->n_head != hp->n_head || cal->head_dim != hd))
        return dfit_err_set(err, DFIT_EINTERNAL, "prune: calibration lacks per-head statistics");
    double *score = malloc(n_kv * sizeof *score);
    bool *removed = malloc(n_kv * sizeof *removed);
    int rc = 0;
    if (!score || !removed) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "prune: out of memory");
        goto done;
    }
    res->n_considered = proj_params(hp) * hp->n_layer;
    const uint32_t n_kv_new = n_kv - n_rm;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        struct dfit_wtensor *tq, *tk, *tv, *to;
        float *wq = layer_f32(wm, il, "attn_q", &tq, err), *wk = wq ? layer_f32(wm, il, "attn_k", &tk, err) : NULL,
              *wv = wk ? layer_f32(wm, il, "attn_v", &tv, err) : NULL,
              *wo = wv ? layer_f32(wm, il, "attn_output", &to, err) : NULL;
        if (!wo) {
            rc = err ? err->code : DFIT_EINTERNAL;
            goto done;
        }
        head_scores(hp, wv, wo, cal ? cal->layers[il].head_gram : NULL, score);
        if ((rc = mark_lowest(score, n_kv, n_rm, removed, err)))
            goto done;
        note(res, "%sblk.%" PRIu32 ": kv", il ? "; " : "", il);
        for (uint32_t g = 0; g < n_kv; g++)
            if (removed[g])
                note(res, " %" PRIu32, g);
        float *nq = keep_rows(wq, n_kv, (int64_t)group * hd, d, removed, n_kv_new);
        float *nk = keep_rows(wk, n_kv, hd, d, removed, n_kv_new);
        float *nv = keep_rows(wv, n_kv, hd, d, removed, n_kv_new);
        float *no = keep_cols(wo, d, n_kv, (int64_t)group * hd, removed, n_kv_new);
        if (!nq || !nk || !nv || !no) {
            free(nq);
            free(nk);
            free(nv);
            free(no);
            rc = dfit_err_set(err, DFIT_ENOMEM, "prune: out of memory");
            goto done;
        }
        const int64_t q_new = (int64_t)n_kv_new * group * hd, kv_new = (int64_t)n_kv_new * hd;
        dfit_wtensor_replace(tq, nq, d, q_new);
        dfit_wtensor_replace(tk, nk, d, kv_new);
        dfit_wtensor_replace(tv, nv, d, kv_new);
        dfit_wtensor_replace(to, no, q_new, d);
    }
    hp->n_head = n_kv_new * group;
    hp->n_head_kv = n_kv_new;
    res->n_pruned = res->n_considered - proj_params(hp) * hp->n_layer;
    snprintf(res->score, sizeof res->score, "%s",
             cal ? "||W_o,h a_h||_2 over calibration tokens"
                 : "||W_v,g||_F * sum_h ||W_o,h||_F");
done:
    free(score);
    free(removed);
    return rc;
}

/* ---- FFN channels ---------------------------------------------------------- */

int dfit_prune_ffn(struct dfit_wmodel *wm, double fraction, const struct dfit_calib *cal,
                   struct dfit_prune_result *res, struct dfit_err *err)
{
    struct dfit_llama_hparams *hp = &wm->hp;
    const uint32_t n_ff = hp->n_ff;
    const int64_t d = hp->n_embd;
    const long n_keep = 32 * lround((double)n_ff * (1.0 - fraction) / 32.0);
    if (n_keep < 32 || n_keep >= (long)n_ff)
        return dfit_err_set(err, DFIT_EINVAL,
                            "--prune ffn:%g: keeping %g of %" PRIu32
                            " channels, rounded to a multiple of 32, gives %ld (must be 32 to %" PRIu32 ")",
                            fraction, 1.0 - fraction, n_ff, n_keep, n_ff - 1);
    const uint32_t n_rm = n_ff - (uint32_t)n_keep;
    double *score = malloc(n_ff * sizeof *score);
    bool *removed = malloc(n_ff * sizeof *removed);
    int rc = 0;
    if (!score || !removed) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "prune: out of memory");
        goto done;
    }
    res->n_considered = proj_params(hp) * hp->n_layer;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        struct dfit_wtensor *tg, *tu, *td;
        float *wg = layer_f32(wm, il, "ffn_gate", &tg, err), *wu = wg ? layer_f32(wm, il, "ffn_up", &tu, err) : NULL,
              *wd = wu ? layer_f32(wm, il, "ffn_down", &td, err) : NULL;
        if (!wd) {
            rc = err ? err->code : DFIT_EINTERNAL;
            goto done;
        }
        const struct dfit_calib_stats *st = cal ? &cal->layers[il].in[DFIT_CALIB_FFN_DOWN] : NULL;
        if (st && st->n_in != n_ff) {
            rc = dfit_err_set(err, DFIT_EINTERNAL, "prune: calibration does not match n_ff");
            goto done;
        }
        for (uint32_t c = 0; c < n_ff; c++) {
            double down = norm2(wd + c, d, n_ff);
            score[c] = st ? down * dfit_calib_l2(st, c)
                          : down * norm2(wg + (int64_t)c * d, d, 1) * norm2(wu + (int64_t)c * d, d, 1);
        }
        if ((rc = mark_lowest(score, n_ff, n_rm, removed, err)))
            goto done;
        float *ng = keep_rows(wg, n_ff, 1, d, removed, (uint32_t)n_keep);
        float *nu = keep_rows(wu, n_ff, 1, d, removed, (uint32_t)n_keep);
        float *nd = keep_cols(wd, d, n_ff, 1, removed, (uint32_t)n_keep);
        if (!ng || !nu || !nd) {
            free(ng);
            free(nu);
            free(nd);
            rc = dfit_err_set(err, DFIT_ENOMEM, "prune: out of memory");
            goto done;
        }
        dfit_wtensor_replace(tg, ng, d, n_keep);
        dfit_wtensor_replace(tu, nu, d, n_keep);
        dfit_wtensor_replace(td, nd, n_keep, d);
    }
    note(res, "%" PRIu32 " of %" PRIu32 " channels in each of %" PRIu32 " layers", n_rm, n_ff, hp->n_layer);
    hp->n_ff = (uint32_t)n_keep;
    res->n_pruned = res->n_considered - proj_params(hp) * hp->n_layer;
    snprintf(res->score, sizeof res->score, "%s",
             cal ? "||W_down[:,c]||_2 * ||h_c||_2 over calibration tokens"
                 : "||W_gate[c]||_2 * ||W_up[c]||_2 * ||W_down[:,c]||_2");
done:
    free(score);
    free(removed);
    return rc;
}

/* ---- layers ------------------------------------------------------------------ */

static double frob(struct dfit_wmodel *wm, uint32_t il, const char *suffix, struct dfit_err *err, int *rc)
{
    struct dfit_wtensor *t;
    float *w = *rc ? NULL : layer_f32(wm, il, suffix, &t, err);
    if (!w) {
        if (!*rc)
            *rc = err ? err->code : DFIT_EINTERNAL;
        return 0;
    }
    return norm2(w, (int64_t)t->n_elements, 1);
}

int dfit_prune_layers(struct dfit_wmodel *wm, uint32_t n_remove, const struct dfit_calib *cal,
                      struct dfit_prune_result *res, struct dfit_err *err)
{
    struct dfit_llama_hparams *hp = &wm->hp;
    const uint32_t n_layer = hp->n_layer;
    if (n_remove < 1 || n_remove >= n_layer)
        return dfit_err_set(err, DFIT_EINVAL,
                            "--prune layers:%" PRIu32 ": the model has %" PRIu32
                            " layers; remove 1 to %" PRIu32,
                            n_remove, n_layer, n_layer - 1);
    double *score = malloc(n_layer * sizeof *score);
    bool *removed = malloc(n_layer * sizeof *removed);
    int rc = 0;
    if (!score || !removed) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "prune: out of memory");
        goto done;
    }
    for (uint32_t il = 0; il < n_layer && !rc; il++) {
        if (cal) {
            const struct dfit_calib_layer *L = &cal->layers[il];
            score[il] = L->cos_n ? 1.0 - L->cos_sum / (double)L->cos_n : 0.0;
        } else {
            score[il] = frob(wm, il, "attn_v", err, &rc) * frob(wm, il, "attn_output", err, &rc) +
                        frob(wm, il, "ffn_up", err, &rc) * frob(wm, il, "ffn_down", err, &rc);
        }
    }
    if (rc || (rc = mark_lowest(score, n_layer, n_remove, removed, err)))
        goto done;
    res->n_considered = proj_params(hp) * n_layer;
    res->n_pruned = proj_params(hp) * n_remove;
    note(res, "blk.");
    for (uint32_t il = 0, k = 0; il < n_layer; il++)
        if (removed[il])
            note(res, "%s%" PRIu32, k++ ? ", " : "", il);
    note(res, " of %" PRIu32, n_layer);
    for (uint32_t il = 0; il < n_layer; il++)
        removed[il] = !removed[il]; /* now: keep */
    rc = dfit_wmodel_keep_layers(wm, removed, err);
    snprintf(res->score, sizeof res->score, "%s",
             cal ? "1 - mean cos(block input, block output) over calibration tokens"
                 : "||W_v||_F*||W_o||_F + ||W_up||_F*||W_down||_F");
done:
    free(score);
    free(removed);
    return rc;
}
