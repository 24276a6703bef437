/* prune.c — unstructured and 2:4 pruning, the --prune spec parser and the
 * dispatch to the structured patterns (see prune.h).
 *
 * Exact counts: a score is a non-negative float, so its bit pattern orders
 * like the value; the k-th smallest of any number of matrices is found with
 * two 65536-bin histogram passes over those bits (no copy of the scores),
 * then weights below the threshold are zeroed, and weights equal to it in
 * index order until exactly k are. Per-row selection sorts (bits, index)
 * keys, which gives the same tie rule.
 * Non-goals: sparse storage (weights stay dense, zeros kept), weight
 * reconstruction after pruning.
 */
#include "compress/prune.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const dfit_prune_proj[DFIT_PRUNE_N_PROJ] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};
const enum dfit_calib_input dfit_prune_proj_input[DFIT_PRUNE_N_PROJ] = {
    DFIT_CALIB_ATTN_IN, DFIT_CALIB_ATTN_IN, DFIT_CALIB_ATTN_IN, DFIT_CALIB_ATTN_OUT,
    DFIT_CALIB_FFN_IN,  DFIT_CALIB_FFN_IN,  DFIT_CALIB_FFN_DOWN,
};

const char *dfit_prune_pattern_name(enum dfit_prune_pattern p)
{
    switch (p) {
    case DFIT_PRUNE_NONE: return "none";
    case DFIT_PRUNE_UNSTRUCTURED: return "unstructured";
    case DFIT_PRUNE_2_4: return "2:4";
    case DFIT_PRUNE_HEADS: return "heads";
    case DFIT_PRUNE_FFN: return "ffn";
    case DFIT_PRUNE_LAYERS: return "layers";
    }
    return "?";
}

const char *dfit_prune_scope_name(enum dfit_prune_scope s)
{
    return s == DFIT_PRUNE_SCOPE_GLOBAL ? "global" : s == DFIT_PRUNE_SCOPE_ROW ? "row" : "matrix";
}

/* A whole-string decimal number; -1 if s is not one. */
static int parse_num(const char *s, double *out)
{
    if (!s || !((*s >= '0' && *s <= '9') || *s == '.'))
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int dfit_prune_parse(const char *spec, struct dfit_prune_params *out, struct dfit_err *err)
{
    static const char forms[] = "expected unstructured:S (S in [0, 1)), 2:4, heads:F, ffn:F "
                                "(F in (0, 1)) or layers:N (N >= 1)";
    const char *colon = spec ? strchr(spec, ':') : NULL;
    double v = 0;
    if (!spec)
        return dfit_err_set(err, DFIT_EINVAL, "missing value; %s", forms);
    if (strcmp(spec, "2:4") == 0) {
        out->pattern = DFIT_PRUNE_2_4;
        out->amount = 0.5;
        return 0;
    }
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    int bad = !colon || parse_num(colon + 1, &v) != 0;
    if (n == 12 && strncmp(spec, "unstructured", n) == 0) {
        if (bad || v < 0 || v >= 1)
            return dfit_err_set(err, DFIT_EINVAL, "'%s': sparsity must be a number in [0, 1)", spec);
        out->pattern = DFIT_PRUNE_UNSTRUCTURED;
    } else if ((n == 5 && strncmp(spec, "heads", n) == 0) || (n == 3 && strncmp(spec, "ffn", n) == 0)) {
        if (bad || v <= 0 || v >= 1)
            return dfit_err_set(err, DFIT_EINVAL, "'%s': fraction must be a number in (0, 1)", spec);
        out->pattern = n == 3 ? DFIT_PRUNE_FFN : DFIT_PRUNE_HEADS;
    } else if (n == 6 && strncmp(spec, "layers", n) == 0) {
        if (bad || v < 1 || v > 1e6 || v != floor(v))
            return dfit_err_set(err, DFIT_EINVAL, "'%s': the count of layers must be an integer >= 1",
                                spec);
        out->pattern = DFIT_PRUNE_LAYERS;
    } else {
        return dfit_err_set(err, DFIT_EINVAL, "'%s': %s", spec, forms);
    }
    out->amount = v;
    return 0;
}

int dfit_prune_scope_parse(const char *s, enum dfit_prune_scope *out, struct dfit_err *err)
{
    if (s && strcmp(s, "matrix") == 0)
        *out = DFIT_PRUNE_SCOPE_MATRIX;
    else if (s && strcmp(s, "global") == 0)
        *out = DFIT_PRUNE_SCOPE_GLOBAL;
    else if (s && strcmp(s, "row") == 0)
        *out = DFIT_PRUNE_SCOPE_ROW;
    else
        return dfit_err_set(err, DFIT_EINVAL, "'%s': expected matrix, global or row", s ? s : "");
    return 0;
}

bool dfit_prune_needs_head_gram(const struct dfit_prune_params *p)
{
    return p->pattern == DFIT_PRUNE_HEADS;
}

/* ---- scores ---------------------------------------------------------- */

/* One prunable matrix: weights and the optional per-input-channel factor
 * of its score (||X_j||_2). */
struct src {
    struct dfit_wtensor *t;
    float *w;          /* [n_rows][n_in] */
    int64_t n_in, n_rows;
    float *col;        /* [n_in] owned, or NULL: magnitude */
};

static inline uint32_t score_bits(float w, const float *col, int64_t j)
{
    float v = fabsf(w);
    if (col)
        v = fabsf(v * col[j]);
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* Gathers the prunable matrices of wm (and their score factors). */
static int gather(struct dfit_wmodel *wm, const struct dfit_prune_params *p, const struct dfit_calib *cal,
                  struct src **out, size_t *n_out, struct dfit_err *err)
{
    const uint32_t n_layer = wm->hp.n_layer;
    size_t cap = (size_t)n_layer * DFIT_PRUNE_N_PROJ + 1, n = 0;
    struct src *s = calloc(cap, sizeof *s);
    int rc = 0;
    if (!s)
        return dfit_err_set(err, DFIT_ENOMEM, "prune: out of memory");
    for (size_t i = 0; i < cap; i++) {
        uint32_t il = (uint32_t)(i / DFIT_PRUNE_N_PROJ);
        size_t k = i % DFIT_PRUNE_N_PROJ;
        const struct dfit_calib_stats *st = NULL;
        struct dfit_wtensor *t;
        if (il < n_layer) {
            t = dfit_wmodel_layer(wm, il, dfit_prune_proj[k]);
            if (cal)
                st = &cal->layers[il].in[dfit_prune_proj_input[k]];
        } else {
            if (!p->include_output)
                break;
            t = dfit_wmodel_find(wm, "output.weight");
            if (!t)
                t = dfit_wmodel_find(wm, "token_embd.weight");
            if (cal)
                st = &cal->output;
        }
        if (!t) {
            rc = dfit_err_set(err, DFIT_EINTERNAL, "prune: a prunable matrix of layer %" PRIu32 " is missing", il);
            goto fail;
        }
        struct src *m = &s[n++];
        m->t = t;
        m->n_in = t->ne[0];
        m->n_rows = (int64_t)(t->n_elements / (uint64_t)t->ne[0]);
        if (!(m->w = dfit_wmodel_f32(wm, t, err))) {
            rc = DFIT_ENOMEM;
            goto fail;
        }
        if (st) {
            if (!cal || st->n_in != m->n_in || st->n_rows == 0) {
                rc = dfit_err_set(err, DFIT_EINTERNAL,
                                  "prune: calibration statistics do not match tensor '%s'", t->name);
                goto fail;
            }
            if (!(m->col = malloc((size_t)m->n_in * sizeof *m->col))) {
                rc = dfit_err_set(err, DFIT_ENOMEM, "prune: out of memory");
                goto fail;
            }
            for (int64_t j = 0; j < m->n_in; j++)
                m->col[j] = (float)dfit_calib_l2(st, j);
        }
    }
    *out = s;
    *n_out = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++)
        free(s[i].col);
    free(s);
    return rc;
}

/* ---- exact k-smallest selection ------------------------------------------ */

#define BINS 65536u

/* Zeroes exactly k weights of lowest score over srcs[0..n). */
static int zero_k_smallest(struct src *srcs, size_t n, uint64_t k, struct dfit_err *err)
{
    if (k == 0)
        return 0;
    uint64_t *hist = calloc(BINS, sizeof *hist);
    if (!hist)
        return dfit_err_set(err, DFIT_ENOMEM, "prune: out of memory");
    for (size_t m = 0; m < n; m++)
        for (int64_t r = 0; r < srcs[m].n_rows; r++)
            for (int64_t j = 0; j < srcs[m].n_in; j++)
                hist[score_bits(srcs[m].w[r * srcs[m].n_in + j], srcs[m].col, j) >> 16]++;
    uint64_t below = 0;
    uint32_t hi = 0;
    while (hi < BINS - 1 && below + hist[hi] < k) /* k <= total: stops in range */
        below += hist[hi++];
    memset(hist, 0, BINS * sizeof *hist);
    for (size_t m = 0; m < n; m++)
        for (int64_t r = 0; r < srcs[m].n_rows; r++)
            for (int64_t j = 0; j < srcs[m].n_in; j++) {
                uint32_t b = score_bits(srcs[m].w[r * srcs[m].n_in + j], srcs[m].col, j);
                if (b >> 16 == hi)
                    hist[b & 0xffffu]++;
            }
    uint32_t lo = 0;
    while (lo < BINS - 1 && below + hist[lo] < k)
        below += hist[lo++];
    const uint32_t thr = hi << 16 | lo;
    uint64_t ties = k - below; /* weights equal to thr to zero, in index order */
    for (size_t m = 0; m < n; m++)
        for (int64_t r = 0; r < srcs[m].n_rows; r++)
            for (int64_t j = 0; j < srcs[m].n_in; j++) {
                float *w = &srcs[m].w[r * srcs[m].n_in + j];
                uint32_t b = score_bits(*w, srcs[m].col, j);
                if (b < thr || (b == thr && ties > 0)) {
                    if (b == thr)
                        ties--;
                    *w = 0.0f;
                }
            }
    free(hist);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Zeroes round(s * n_in) weights of lowest score in every row of m. */
static int zero_rows(struct src *m, double sparsity, struct dfit_err *err)
{
    uint64_t k = (uint64_t)llround(sparsity * (double)m->n_in);
    uint64_t *keys = malloc((size_t)m->n_in * sizeof *keys);
    if (!keys)
        return dfit_err_set(err, DFIT_ENOMEM, "prune: out of memory");
    for (int64_t r = 0; r < m->n_rows && k > 0; r++) {
        float *w = m->w + r * m->n_in;
        for (int64_t j = 0; j < m->n_in; j++)
            keys[j] = (uint64_t)score_bits(w[j], m->col, j) << 32 | (uint64_t)j;
        qsort(keys, (size_t)m->n_in, sizeof *keys, cmp_u64);
        for (uint64_t i = 0; i < k; i++)
            w[keys[i] & 0xffffffffu] = 0.0f;
    }
    free(keys);
    return 0;
}

/* In each group of 4 consecutive weights of a row, zeroes the 2 of lowest
 * score (ties: the lower index). */
static void zero_2_4(struct src *m)
{
    for (int64_t r = 0; r < m->n_rows; r++)
        for (int64_t j0 = 0; j0 < m->n_in; j0 += 4) {
            float *w = m->w + r * m->n_in + j0;
            uint32_t b[4];
            for (int i = 0; i < 4; i++)
                b[i] = score_bits(w[i], m->col, j0 + i);
            int a = 0;
            for (int i = 1; i < 4; i++)
                if (b[i] < b[a])
                    a = i;
            int c = a == 0 ? 1 : 0;
            for (int i = 0; i < 4; i++)
                if (i != a && b[i] < b[c])
                    c = i;
            w[a] = 0.0f;
            w[c] = 0.0f;
        }
}

static int prune_dense(struct dfit_wmodel *wm, const struct dfit_prune_params *p, const struct dfit_calib *cal,
                       struct dfit_prune_result *res, struct dfit_err *err)
{
    struct src *srcs = NULL;
    size_t n = 0;
    int rc = gather(wm, p, cal, &srcs, &n, err);
    if (rc)
        return rc;
    uint64_t total = 0;
    for (size_t m = 0; m < n; m++) {
        total += srcs[m].t->n_elements;
        if (p->pattern == DFIT_PRUNE_2_4 && srcs[m].n_in % 4 != 0) {
            rc = dfit_err_set(err, DFIT_EINVAL,
                              "--prune 2:4: tensor '%s': row length %" PRId64 " is not a multiple of 4",
                              srcs[m].t->name, srcs[m].n_in);
            goto done;
        }
    }
    if (p->pattern == DFIT_PRUNE_2_4) {
        for (size_t m = 0; m < n; m++)
            zero_2_4(&srcs[m]);
    } else if (p->scope == DFIT_PRUNE_SCOPE_GLOBAL) {
        rc = zero_k_smallest(srcs, n, (uint64_t)llround(p->amount * (double)total), err);
    } else {
        for (size_t m = 0; m < n && !rc; m++)
            rc = p->scope == DFIT_PRUNE_SCOPE_ROW
                     ? zero_rows(&srcs[m], p->amount, err)
                     : zero_k_smallest(&srcs[m], 1,
                                       (uint64_t)llround(p->amount * (double)srcs[m].t->n_elements), err);
    }
    if (rc)
        goto done;
    uint64_t zeros = 0;
    for (size_t m = 0; m < n; m++)
        for (uint64_t i = 0; i < srcs[m].t->n_elements; i++)
            zeros += srcs[m].w[i] == 0.0f;
    res->n_considered = total;
    res->n_pruned = zeros;
    snprintf(res->score, sizeof res->score, "%s", cal ? "|W_ij|*||X_j||_2" : "|W_ij|");
done:
    for (size_t m = 0; m < n; m++)
        free(srcs[m].col);
    free(srcs);
    return rc;
}

int dfit_prune_apply(struct dfit_wmodel *wm, const struct dfit_prune_params *p, const struct dfit_calib *cal,
                     struct dfit_prune_result *res, struct dfit_err *err)
{
    int rc;
    memset(res, 0, sizeof *res);
    if (cal && cal->n_layer != wm->hp.n_layer)
        return dfit_err_set(err, DFIT_EINTERNAL, "prune: calibration has %" PRIu32 " layers, the model %" PRIu32,
                            cal->n_layer, wm->hp.n_layer);
    switch (p->pattern) {
    case DFIT_PRUNE_UNSTRUCTURED:
    case DFIT_PRUNE_2_4: rc = prune_dense(wm, p, cal, res, err); break;
    case DFIT_PRUNE_HEADS: rc = dfit_prune_heads(wm, p->amount, cal, res, err); break;
    case DFIT_PRUNE_FFN: rc = dfit_prune_ffn(wm, p->amount, cal, res, err); break;
    case DFIT_PRUNE_LAYERS: rc = dfit_prune_layers(wm, (uint32_t)p->amount, cal, res, err); break;
    default: return dfit_err_set(err, DFIT_EINVAL, "prune: no pattern given");
    }
    if (!rc)
        res->sparsity = res->n_considered ? (double)res->n_pruned / (double)res->n_considered : 0.0;
    return rc;
}
