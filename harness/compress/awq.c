/* awq.c — activation-aware scaling before rounding (see awq.h).
 *
 * For each group the alpha grid is searched with every row's error computed
 * on its own (rows split over threads, summed in row order, so the choice
 * does not depend on the thread count), then the chosen scales are folded
 * into the F32 weights of the dfit_wmodel.
 * Non-goals: clipping search, the activation quantization of the kernels.
 */
#include "compress/awq.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/threadpool.h"

#define MAX_MATS 3

/* A group of matrices sharing one input. */
struct group {
    float *w[MAX_MATS];          /* [n_rows[i]][n_in] */
    int64_t n_rows[MAX_MATS];
    int n_mats;
    int64_t n_in;
    const struct dfit_calib_stats *st;
    const double *mean;          /* [n_in] mean |x_j| (tied per KV group for o) */
};

struct search {
    const struct group *g;
    const float *s;              /* [n_in] candidate scales */
    enum dfit_type qtype;
    size_t q_bytes;
    double *row_err;             /* [total rows] */
    float *scratch;              /* [nth][2*n_in + q floats] */
    size_t scratch_stride;
};

static float dot(const float *a, const float *b, int64_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static void search_rows(void *arg, int ith, int nth)
{
    const struct search *S = arg;
    const struct group *g = S->g;
    const int64_t n = g->n_in;
    float *tmp = S->scratch + (size_t)ith * S->scratch_stride; /* [n] */
    float *delta = tmp + n;                                      /* [n] */
    void *q = delta + n;                                         /* q_bytes */
    int64_t total = 0;
    for (int m = 0; m < g->n_mats; m++)
        total += g->n_rows[m];
    long lo, hi;
    dfit_split_range((long)total, ith, nth, &lo, &hi);
    for (long idx = lo; idx < hi; idx++) {
        int m = 0;
        int64_t r = idx;
        while (r >= g->n_rows[m])
            r -= g->n_rows[m++];
        const float *w = g->w[m] + r * n;
        for (int64_t j = 0; j < n; j++)
            tmp[j] = w[j] * S->s[j];
        dfit_row_from_f32(S->qtype, tmp, q, n);
        dfit_row_to_f32(S->qtype, q, tmp, n);
        for (int64_t j = 0; j < n; j++)
            delta[j] = tmp[j] / S->s[j] - w[j];
        double e = 0;
        for (uint32_t t = 0; t < g->st->n_sample; t++) {
            double y = dot(delta, g->st->sample + (size_t)t * (size_t)n, n);
            e += y * y;
        }
        S->row_err[idx] = e;
    }
}

/* s_j = mean_j^alpha, normalised by sqrt(max * min). */
static void make_scales(const double *mean, int64_t n, double alpha, float *s)
{
    double mx = 0;
    for (int64_t j = 0; j < n; j++)
        mx = fmax(mx, mean[j]);
    const double floor_ = mx > 0 ? mx * 1e-6 : 1.0;
    double smax = 0, smin = INFINITY;
    for (int64_t j = 0; j < n; j++) {
        double v = pow(fmax(mean[j], floor_), alpha);
        s[j] = (float)v;
        smax = fmax(smax, v);
        smin = fmin(smin, v);
    }
    const double norm = sqrt(smax * smin);
    for (int64_t j = 0; j < n; j++)
        s[j] = (float)(s[j] / norm);
}

/* Searches alpha for g; leaves the chosen scales in s. */
static int search_group(const struct group *g, const struct dfit_awq_params *p, struct dfit_threadpool *tp,
                        float *s, double *alpha_out, double *err_plain, double *err_best, struct dfit_err *err)
{
    const uint32_t n_grid = p->n_grid ? p->n_grid : DFIT_AWQ_DEFAULT_GRID;
    int64_t total = 0;
    for (int m = 0; m < g->n_mats; m++)
        total += g->n_rows[m];
    struct search S = {.g = g, .qtype = p->qtype};
    dfit_type_row_bytes(p->qtype, g->n_in, &S.q_bytes);
    S.scratch_stride = 2 * (size_t)g->n_in + (S.q_bytes + sizeof(float) - 1) / sizeof(float);
    S.row_err = malloc((size_t)total * sizeof *S.row_err);
    S.scratch = malloc((size_t)dfit_threadpool_size(tp) * S.scratch_stride * sizeof(float));
    float *cand = malloc((size_t)g->n_in * sizeof *cand);
    if (!S.row_err || !S.scratch || !cand) {
        free(S.row_err);
        free(S.scratch);
        free(cand);
        return dfit_err_set(err, DFIT_ENOMEM, "awq: out of memory");
    }
    S.s = cand;
    double best = INFINITY;
    for (uint32_t k = 0; k <= n_grid; k++) {
        const double alpha = (double)k / n_grid;
        make_scales(g->mean, g->n_in, alpha, cand);
        dfit_threadpool_run(tp, search_rows, &S);
        double e = 0;
        for (int64_t i = 0; i < total; i++)
            e += S.row_err[i];
        if (k == 0)
            *err_plain = e;
        if (e < best) {
            best = e;
            *alpha_out = alpha;
            memcpy(s, cand, (size_t)g->n_in * sizeof *s);
        }
    }
    *err_best = best;
    free(S.row_err);
    free(S.scratch);
    free(cand);
    return 0;
}

/* ---- folding -------------------------------------------------------------- */

static void scale_cols(float *w, int64_t n_rows, int64_t n_in, const float *s)
{
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t j = 0; j < n_in; j++)
            w[r * n_in + j] *= s[j];
}

/* Row r of w (n_rows x n_in) is divided by s[r]. */
static void unscale_rows(float *w, int64_t n_rows, int64_t n_in, const float *s)
{
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t j = 0; j < n_in; j++)
            w[r * n_in + j] /= s[r];
}

enum group_kind { G_QKV, G_GATE_UP, G_DOWN, G_O, G_OUTPUT };

/* Everything one group needs: its matrices, the producer of its input, and
 * the statistics. */
struct group_spec {
    enum group_kind kind;
    struct dfit_wtensor *mat[MAX_MATS];
    int n_mats;
    struct dfit_wtensor *producer;   /* norm vector, ffn_up or attn_v */
    const struct dfit_calib_stats *st;
};

static int run_group(struct dfit_wmodel *wm, const struct group_spec *gs, const struct dfit_awq_params *p,
                     struct dfit_threadpool *tp, struct dfit_awq_result *res, struct dfit_err *err)
{
    const struct dfit_llama_hparams *hp = &wm->hp;
    struct group g = {.n_mats = gs->n_mats, .st = gs->st, .n_in = gs->mat[0]->ne[0]};
    double *mean = NULL;
    float *s = NULL, *producer = NULL;
    int rc = 0;
    for (int m = 0; m < gs->n_mats; m++) {
        if (!(g.w[m] = dfit_wmodel_f32(wm, gs->mat[m], err)))
            return DFIT_ENOMEM;
        g.n_rows[m] = (int64_t)(gs->mat[m]->n_elements / (uint64_t)gs->mat[m]->ne[0]);
    }
    if (!(producer = dfit_wmodel_f32(wm, gs->producer, err)))
        return DFIT_ENOMEM;
    if (gs->st->n_in != g.n_in || gs->st->n_rows == 0 || !gs->st->sample || gs->st->n_sample == 0)
        return dfit_err_set(err, DFIT_EINTERNAL, "awq: calibration does not match tensor '%s'", gs->mat[0]->name);
    mean = malloc((size_t)g.n_in * sizeof *mean);
    s = malloc((size_t)g.n_in * sizeof *s);
    if (!mean || !s) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "awq: out of memory");
        goto done;
    }
    for (int64_t j = 0; j < g.n_in; j++)
        mean[j] = gs->st->sum_abs[j] / (double)gs->st->n_rows;
    const uint32_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    if (gs->kind == G_O) /* one scale per KV channel: average over the group's heads */
        for (uint32_t kv = 0; kv < hp->n_head_kv; kv++)
            for (uint32_t a = 0; a < hd; a++) {
                double m = 0;
                for (uint32_t h = kv * group; h < (kv + 1) * group; h++)
                    m += mean[(size_t)h * hd + a];
                for (uint32_t h = kv * group; h < (kv + 1) * group; h++)
                    mean[(size_t)h * hd + a] = m / group;
            }
    g.mean = mean;
    double alpha = 0, e0 = 0, e1 = 0;
    if ((rc = search_group(&g, p, tp, s, &alpha, &e0, &e1, err)))
        goto done;
    res->alpha[res->n_groups++] = (float)alpha;
    res->err_plain += e0;
    res->err_awq += e1;
    if (alpha == 0)
        goto done; /* plain rounding was best: leave the weights alone */
    res->n_scaled++;
    for (int m = 0; m < gs->n_mats; m++)
        scale_cols(g.w[m], g.n_rows[m], g.n_in, s);
    switch (gs->kind) {
    case G_QKV:
    case G_GATE_UP:
    case G_OUTPUT:
        for (int64_t j = 0; j < g.n_in; j++)
            producer[j] /= s[j];
        break;
    case G_DOWN:
        unscale_rows(producer, g.n_in, gs->producer->ne[0], s);
        break;
    case G_O: {
        /* attn_v row kv*hd + a carries the scale of query channel
         * (first head of the group)*hd + a */
        float *sv = malloc((size_t)hp->n_head_kv * hd * sizeof *sv);
        if (!sv) {
            rc = dfit_err_set(err, DFIT_ENOMEM, "awq: out of memory");
            goto done;
        }
        for (uint32_t kv = 0; kv < hp->n_head_kv; kv++)
            for (uint32_t a = 0; a < hd; a++)
                sv[(size_t)kv * hd + a] = s[(size_t)kv * group * hd + a];
        unscale_rows(producer, (int64_t)hp->n_head_kv * hd, gs->producer->ne[0], sv);
        free(sv);
        break;
    }
    }
done:
    free(mean);
    free(s);
    return rc;
}

void dfit_awq_result_clear(struct dfit_awq_result *res)
{
    if (!res)
        return;
    free(res->alpha);
    memset(res, 0, sizeof *res);
}

int dfit_awq_apply(struct dfit_wmodel *wm, const struct dfit_calib *cal, const struct dfit_awq_params *p,
                   struct dfit_awq_result *res, struct dfit_err *err)
{
    struct dfit_threadpool *tp = NULL;
    const struct dfit_type_info *ti = dfit_type_info(p->qtype);
    int rc;
    memset(res, 0, sizeof *res);
    if (!ti || !ti->quantized)
        return dfit_err_set(err, DFIT_EINVAL, "awq: type '%s' is not quantized (use q4_0 or q8_0)",
                            ti ? ti->name : "?");
    if (cal->n_layer != wm->hp.n_layer)
        return dfit_err_set(err, DFIT_EINTERNAL, "awq: calibration has %" PRIu32 " layers, the model %" PRIu32,
                            cal->n_layer, wm->hp.n_layer);
    if (cal->n_layer == 0 || cal->layers[0].in[DFIT_CALIB_ATTN_IN].n_sample == 0)
        return dfit_err_set(err, DFIT_EINVAL, "awq: the calibration kept no sample rows (n_sample 0)");
    if (!(res->alpha = calloc((size_t)wm->hp.n_layer * 4 + 1, sizeof *res->alpha)))
        return dfit_err_set(err, DFIT_ENOMEM, "awq: out of memory");
    if ((rc = dfit_threadpool_create(p->n_threads, &tp, err)))
        goto fail;
    for (uint32_t il = 0; il < wm->hp.n_layer; il++) {
        const struct dfit_calib_layer *L = &cal->layers[il];
#define T(suffix) dfit_wmodel_layer(wm, il, suffix)
        const struct group_spec spec[4] = {
            {G_QKV, {T("attn_q"), T("attn_k"), T("attn_v")}, 3, T("attn_norm"), &L->in[DFIT_CALIB_ATTN_IN]},
            {G_GATE_UP, {T("ffn_gate"), T("ffn_up")}, 2, T("ffn_norm"), &L->in[DFIT_CALIB_FFN_IN]},
            {G_DOWN, {T("ffn_down")}, 1, T("ffn_up"), &L->in[DFIT_CALIB_FFN_DOWN]},
            {G_O, {T("attn_output")}, 1, T("attn_v"), &L->in[DFIT_CALIB_ATTN_OUT]},
        };
#undef T
        for (int k = 0; k < 4; k++) {
            for (int m = 0; m < spec[k].n_mats; m++)
                if (!spec[k].mat[m] || !spec[k].producer) {
                    rc = dfit_err_set(err, DFIT_EINTERNAL, "awq: layer %" PRIu32 " lacks a tensor", il);
                    goto fail;
                }
            if ((rc = run_group(wm, &spec[k], p, tp, res, err)))
                goto fail;
        }
    }
    struct dfit_wtensor *out = dfit_wmodel_find(wm, "output.weight"), *norm = dfit_wmodel_find(wm, "output_norm.weight");
    if (out && norm) {
        const struct group_spec gs = {G_OUTPUT, {out}, 1, norm, &cal->output};
        if ((rc = run_group(wm, &gs, p, tp, res, err)))
            goto fail;
    }
    dfit_threadpool_free(tp);
    return 0;
fail:
    dfit_threadpool_free(tp);
    dfit_awq_result_clear(res);
    return rc;
}
