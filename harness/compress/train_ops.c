/* train_ops.c — forward and backward of the llama operators in F32 (see
 * train_ops.h). Every parallel loop gives each worker whole output rows,
 * columns or (sequence, head) pairs, so no two workers write the same
 * element and no element's order of operations depends on the split.
 * The matrix products are in train_matmul.c.
 * Non-goals: SIMD intrinsics, fused kernels, mixed precision.
 */
#include "compress/train_ops.h"

#include <math.h>
#include <string.h>

#include "compress/train_par.h"

/* Dot product with eight partial sums (a form compilers vectorise). */
static inline float dot(const float *restrict a, const float *restrict b, int64_t n)
{
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += a[i + k] * b[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* y += alpha * x */
static inline void axpy(float *restrict y, float alpha, const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

/* ---- embedding ------------------------------------------------------------ */

void dfit_train_embed_forward(float *out, const int32_t *tokens, const float *wte, int64_t N, int64_t D)
{
    for (int64_t n = 0; n < N; n++)
        memcpy(out + n * D, wte + (int64_t)tokens[n] * D, (size_t)D * sizeof(float));
}

struct embed_bwd {
    float *dwte;
    const float *dout;
    const int32_t *tokens;
    int64_t N, D;
};

/* Columns [lo, hi) of every row: a token repeated in the batch accumulates
 * in row order whatever the split. */
static void embed_bwd_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct embed_bwd *a = arg;
    for (int64_t n = 0; n < a->N; n++) {
        float *d = a->dwte + (int64_t)a->tokens[n] * a->D;
        const float *g = a->dout + n * a->D;
        for (int64_t i = lo; i < hi; i++)
            d[i] += g[i];
    }
}

void dfit_train_embed_backward(float *dwte, const float *dout, const int32_t *tokens, int64_t N,
                               int64_t D, struct dfit_threadpool *tp)
{
    struct embed_bwd a = {dwte, dout, tokens, N, D};
    dfit_train_par_for(tp, D, 64, embed_bwd_range, &a);
}

/* ---- RMSNorm -------------------------------------------------------------- */

struct rms_args {
    float *out, *rstd, *dinp, *dw;
    const float *inp, *w, *dout, *rstd_in;
    int64_t N, D;
    float eps;
};

static void rms_fwd_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct rms_args *a = arg;
    for (int64_t n = lo; n < hi; n++) {
        const float *x = a->inp + n * a->D;
        float *y = a->out + n * a->D;
        double ss = 0.0;
        for (int64_t i = 0; i < a->D; i++)
            ss += (double)x[i] * x[i];
        float r = (float)(1.0 / sqrt(ss / (double)a->D + (double)a->eps));
        a->rstd[n] = r;
        for (int64_t i = 0; i < a->D; i++)
            y[i] = x[i] * r * a->w[i];
    }
}

void dfit_train_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int64_t N,
                                int64_t D, float eps, struct dfit_threadpool *tp)
{
    struct rms_args a = {.out = out, .rstd = rstd, .inp = inp, .w = w, .N = N, .D = D, .eps = eps};
    dfit_train_par_for(tp, N, 16, rms_fwd_range, &a);
}

/* dx_i = r w_i dy_i - r^3/D x_i sum_j dy_j w_j x_j, row by row. */
static void rms_bwd_dinp_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct rms_args *a = arg;
    const int64_t D = a->D;
    for (int64_t n = lo; n < hi; n++) {
        const float *x = a->inp + n * D, *dy = a->dout + n * D;
        float *dx = a->dinp + n * D;
        double s = 0.0;
        for (int64_t i = 0; i < D; i++)
            s += (double)dy[i] * a->w[i] * x[i];
        float r = a->rstd_in[n];
        float c = (float)((double)r * r * r * s / (double)D);
        for (int64_t i = 0; i < D; i++)
            dx[i] += r * a->w[i] * dy[i] - c * x[i];
    }
}

/* dw_i = sum_n dy_ni x_ni r_n, columns [lo, hi) in row order. */
static void rms_bwd_dw_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct rms_args *a = arg;
    for (int64_t n = 0; n < a->N; n++) {
        const float *x = a->inp + n * a->D, *dy = a->dout + n * a->D;
        float r = a->rstd_in[n];
        for (int64_t i = lo; i < hi; i++)
            a->dw[i] += dy[i] * x[i] * r;
    }
}

void dfit_train_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
                                 const float *w, const float *rstd, int64_t N, int64_t D,
                                 struct dfit_threadpool *tp)
{
    struct rms_args a = {.dinp = dinp, .dw = dw, .dout = dout, .inp = inp, .w = w, .rstd_in = rstd,
                         .N = N, .D = D};
    if (dinp)
        dfit_train_par_for(tp, N, 16, rms_bwd_dinp_range, &a);
    if (dw)
        dfit_train_par_for(tp, D, 64, rms_bwd_dw_range, &a);
}

/* ---- RoPE ---------------------------------------------------------------- */

void dfit_train_rope_tables(float *cos_t, float *sin_t, int64_t T, int head_dim, float freq_base)
{
    const int half = head_dim / 2;
    for (int64_t t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            double theta = (double)t * pow((double)freq_base, -2.0 * i / head_dim);
            cos_t[t * half + i] = (float)cos(theta);
            sin_t[t * half + i] = (float)sin(theta);
        }
}

/* sign +1: forward rotation; -1: its transpose. */
static void rope_apply(float *out, const float *inp, const float *cos_t, const float *sin_t,
                       int64_t N, int64_t T, int n_head, int head_dim, float sign)
{
    const int half = head_dim / 2;
    const int64_t dim = (int64_t)n_head * head_dim;
    for (int64_t n = 0; n < N; n++) {
        const float *c = cos_t + (n % T) * half, *s = sin_t + (n % T) * half;
        for (int h = 0; h < n_head; h++) {
            const float *x = inp + n * dim + (int64_t)h * head_dim;
            float *y = out + n * dim + (int64_t)h * head_dim;
            for (int i = 0; i < half; i++) {
                const float x0 = x[2 * i], x1 = x[2 * i + 1], si = sign * s[i];
                y[2 * i] = x0 * c[i] - x1 * si;
                y[2 * i + 1] = x0 * si + x1 * c[i];
            }
        }
    }
}

void dfit_train_rope_forward(float *out, const float *inp, const float *cos_t, const float *sin_t,
                             int64_t N, int64_t T, int n_head, int head_dim)
{
    rope_apply(out, inp, cos_t, sin_t, N, T, n_head, head_dim, 1.0f);
}

void dfit_train_rope_backward(float *dinp, const float *dout, const float *cos_t,
                              const float *sin_t, int64_t N, int64_t T, int n_head, int head_dim)
{
    rope_apply(dinp, dout, cos_t, sin_t, N, T, n_head, head_dim, -1.0f);
}

/* ---- attention ------------------------------------------------------------- */

struct att_args {
    float *out, *att, *dq, *dk, *dv, *scratch;
    const float *q, *k, *v, *dout, *att_in;
    int64_t B, T;
    int n_head, n_head_kv, head_dim;
};

/* (sequence, query head) pairs [lo, hi). Scores, softmax and the weighted
 * sum follow the reference backend's order (sum of exponentials in double,
 * then one multiply by the rounded inverse). */
DFIT_TRAIN_VEC_CLONES static void att_fwd_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct att_args *a = arg;
    const int64_t T = a->T, hd = a->head_dim;
    const int64_t qdim = (int64_t)a->n_head * hd, kvdim = (int64_t)a->n_head_kv * hd;
    const int group = a->n_head / a->n_head_kv;
    const float scale = (float)(1.0 / sqrt((double)hd));
    for (int64_t p = lo; p < hi; p++) {
        const int64_t b = p / a->n_head;
        const int h = (int)(p % a->n_head);
        const int64_t off_q = h * hd, off_kv = (int64_t)(h / group) * hd;
        for (int64_t t = 0; t < T; t++) {
            const float *qt = a->q + (b * T + t) * qdim + off_q;
            float *pr = a->att + ((b * a->n_head + h) * T + t) * T; /* [T] */
            float max = -INFINITY;
            for (int64_t j = 0; j <= t; j++) {
                pr[j] = dot(qt, a->k + (b * T + j) * kvdim + off_kv, hd) * scale;
                if (pr[j] > max)
                    max = pr[j];
            }
            double sum = 0.0;
            for (int64_t j = 0; j <= t; j++) {
                pr[j] = expf(pr[j] - max);
                sum += pr[j];
            }
            const float inv = (float)(1.0 / sum);
            for (int64_t j = 0; j <= t; j++)
                pr[j] *= inv;
            for (int64_t j = t + 1; j < T; j++)
                pr[j] = 0.0f;
            float *ot = a->out + (b * T + t) * qdim + off_q;
            memset(ot, 0, (size_t)hd * sizeof(float));
            for (int64_t j = 0; j <= t; j++)
                axpy(ot, pr[j], a->v + (b * T + j) * kvdim + off_kv, hd);
        }
    }
}

void dfit_train_attention_forward(float *out, float *att, const float *q, const float *k,
                                  const float *v, int64_t B, int64_t T, int n_head, int n_head_kv,
                                  int head_dim, struct dfit_threadpool *tp)
{
    struct att_args a = {.out = out, .att = att, .q = q, .k = k, .v = v, .B = B, .T = T,
                         .n_head = n_head, .n_head_kv = n_head_kv, .head_dim = head_dim};
    dfit_train_par_for(tp, B * n_head, 2, att_fwd_range, &a);
}

/* (sequence, KV head) pairs [lo, hi); each handles its whole query group. */
DFIT_TRAIN_VEC_CLONES static void att_bwd_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    const struct att_args *a = arg;
    const int64_t T = a->T, hd = a->head_dim;
    const int64_t qdim = (int64_t)a->n_head * hd, kvdim = (int64_t)a->n_head_kv * hd;
    const int group = a->n_head / a->n_head_kv;
    const float scale = (float)(1.0 / sqrt((double)hd));
    float *datt = a->scratch + (int64_t)ith * T; /* [T] */
    for (int64_t p = lo; p < hi; p++) {
        const int64_t b = p / a->n_head_kv;
        const int kvh = (int)(p % a->n_head_kv);
        const int64_t off_kv = (int64_t)kvh * hd;
        for (int h = kvh * group; h < (kvh + 1) * group; h++) {
            const int64_t off_q = h * hd;
            for (int64_t t = 0; t < T; t++) {
                const float *pr = a->att_in + ((b * a->n_head + h) * T + t) * T;
                const float *dot_t = a->dout + (b * T + t) * qdim + off_q;
                const float *qt = a->q + (b * T + t) * qdim + off_q;
                double ds = 0.0;
                for (int64_t j = 0; j <= t; j++) {
                    const int64_t rj = (b * T + j) * kvdim + off_kv;
                    datt[j] = dot(dot_t, a->v + rj, hd);
                    ds += (double)pr[j] * datt[j];
                    if (a->dv)
                        axpy(a->dv + rj, pr[j], dot_t, hd);
                }
                float *dqt = a->dq ? a->dq + (b * T + t) * qdim + off_q : NULL;
                for (int64_t j = 0; j <= t; j++) {
                    const int64_t rj = (b * T + j) * kvdim + off_kv;
                    const float g = pr[j] * (datt[j] - (float)ds) * scale;
                    if (dqt)
                        axpy(dqt, g, a->k + rj, hd);
                    if (a->dk)
                        axpy(a->dk + rj, g, qt, hd);
                }
            }
        }
    }
}

void dfit_train_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                   const float *att, const float *q, const float *k, const float *v,
                                   int64_t B, int64_t T, int n_head, int n_head_kv, int head_dim,
                                   float *scratch, struct dfit_threadpool *tp)
{
    struct att_args a = {.dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .q = q, .k = k, .v = v,
                         .dout = dout, .att_in = att, .B = B, .T = T, .n_head = n_head,
                         .n_head_kv = n_head_kv, .head_dim = head_dim};
    dfit_train_par_for(tp, B * n_head_kv, 2, att_bwd_range, &a);
}

/* ---- SwiGLU and residual ---------------------------------------------------- */

struct swiglu_args {
    float *out, *dgate, *dup;
    const float *gate, *up, *dout;
};

static void swiglu_fwd_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct swiglu_args *a = arg;
    for (int64_t i = lo; i < hi; i++) {
        const float g = a->gate[i];
        a->out[i] = g / (1.0f + expf(-g)) * a->up[i]; /* as dfit_ref_swiglu */
    }
}

void dfit_train_swiglu_forward(float *out, const float *gate, const float *up, int64_t n,
                               struct dfit_threadpool *tp)
{
    struct swiglu_args a = {.out = out, .gate = gate, .up = up};
    dfit_train_par_for(tp, n, 8192, swiglu_fwd_range, &a);
}

static void swiglu_bwd_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct swiglu_args *a = arg;
    for (int64_t i = lo; i < hi; i++) {
        const float g = a->gate[i], sig = 1.0f / (1.0f + expf(-g)), silu = g * sig;
        if (a->dgate)
            a->dgate[i] += a->dout[i] * a->up[i] * sig * (1.0f + g * (1.0f - sig));
        if (a->dup)
            a->dup[i] += a->dout[i] * silu;
    }
}

void dfit_train_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                                const float *up, int64_t n, struct dfit_threadpool *tp)
{
    struct swiglu_args a = {.dgate = dgate, .dup = dup, .gate = gate, .up = up, .dout = dout};
    dfit_train_par_for(tp, n, 8192, swiglu_bwd_range, &a);
}

void dfit_train_residual_forward(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void dfit_train_residual_backward(float *da, float *db, const float *dout, int64_t n)
{
    if (da)
        for (int64_t i = 0; i < n; i++)
            da[i] += dout[i];
    if (db)
        for (int64_t i = 0; i < n; i++)
            db[i] += dout[i];
}

/* ---- losses ------------------------------------------------------------------ */

struct loss_args {
    float *losses, *probs, *dlogits;
    const float *logits, *teacher, *dloss, *probs_in;
    const int32_t *targets;
    int64_t V;
    float temp;
};

static void ce_fwd_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct loss_args *a = arg;
    for (int64_t n = lo; n < hi; n++) {
        const float *l = a->logits + n * a->V;
        float *p = a->probs + n * a->V;
        float max = l[0];
        for (int64_t j = 1; j < a->V; j++)
            if (l[j] > max)
                max = l[j];
        double sum = 0.0;
        for (int64_t j = 0; j < a->V; j++) {
            p[j] = expf(l[j] - max);
            sum += p[j];
        }
        const float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < a->V; j++)
            p[j] *= inv;
        a->losses[n] = (float)(log(sum) - ((double)l[a->targets[n]] - max));
    }
}

void dfit_train_ce_forward(float *losses, float *probs, const float *logits, const int32_t *targets,
                           int64_t N, int64_t V, struct dfit_threadpool *tp)
{
    struct loss_args a = {.losses = losses, .probs = probs, .logits = logits, .targets = targets, .V = V};
    dfit_train_par_for(tp, N, 8, ce_fwd_range, &a);
}

static void ce_bwd_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct loss_args *a = arg;
    for (int64_t n = lo; n < hi; n++) {
        const float g = a->dloss[n];
        if (g == 0.0f)
            continue;
        const float *p = a->probs_in + n * a->V;
        float *d = a->dlogits + n * a->V;
        for (int64_t j = 0; j < a->V; j++)
            d[j] += g * p[j];
        d[a->targets[n]] -= g;
    }
}

void dfit_train_ce_backward(float *dlogits, const float *probs, const int32_t *targets,
                            const float *dloss, int64_t N, int64_t V, struct dfit_threadpool *tp)
{
    struct loss_args a = {.dlogits = dlogits, .probs_in = probs, .targets = targets, .dloss = dloss,
                          .V = V};
    dfit_train_par_for(tp, N, 8, ce_bwd_range, &a);
}

static void kl_fwd_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct loss_args *a = arg;
    const float it = 1.0f / a->temp;
    for (int64_t n = lo; n < hi; n++) {
        const float *l = a->logits + n * a->V, *pt = a->teacher + n * a->V;
        float *q = a->probs + n * a->V;
        float max = l[0] * it;
        for (int64_t j = 1; j < a->V; j++)
            if (l[j] * it > max)
                max = l[j] * it;
        double sum = 0.0;
        for (int64_t j = 0; j < a->V; j++) {
            q[j] = expf(l[j] * it - max);
            sum += q[j];
        }
        const double log_sum = log(sum);
        const float inv = (float)(1.0 / sum);
        double kl = 0.0;
        for (int64_t j = 0; j < a->V; j++) {
            q[j] *= inv;
            if (pt[j] > 0.0f)
                kl += (double)pt[j] * (log((double)pt[j]) - ((double)(l[j] * it) - max - log_sum));
        }
        a->losses[n] = (float)kl;
    }
}

void dfit_train_kl_forward(float *losses, float *probs, const float *logits, const float *teacher,
                           float temp, int64_t N, int64_t V, struct dfit_threadpool *tp)
{
    struct loss_args a = {.losses = losses, .probs = probs, .logits = logits, .teacher = teacher,
                          .V = V, .temp = temp};
    dfit_train_par_for(tp, N, 8, kl_fwd_range, &a);
}

static void kl_bwd_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct loss_args *a = arg;
    for (int64_t n = lo; n < hi; n++) {
        const float g = a->dloss[n] / a->temp;
        if (g == 0.0f)
            continue;
        const float *q = a->probs_in + n * a->V, *pt = a->teacher + n * a->V;
        float *d = a->dlogits + n * a->V;
        for (int64_t j = 0; j < a->V; j++)
            d[j] += g * (q[j] - pt[j]);
    }
}

void dfit_train_kl_backward(float *dlogits, const float *probs, const float *teacher,
                            const float *dloss, float temp, int64_t N, int64_t V,
                            struct dfit_threadpool *tp)
{
    struct loss_args a = {.dlogits = dlogits, .probs_in = probs, .teacher = teacher, .dloss = dloss,
                          .V = V, .temp = temp};
    dfit_train_par_for(tp, N, 8, kl_bwd_range, &a);
}

double dfit_train_masked_mean(float *dloss, const float *losses, const uint8_t *mask, int64_t N,
                              int64_t *count)
{
    int64_t c = 0;
    double sum = 0.0;
    for (int64_t n = 0; n < N; n++)
        if (!mask || mask[n]) {
            c++;
            sum += losses[n];
        }
    if (count)
        *count = c;
    const float g = c ? (float)(1.0 / (double)c) : 0.0f;
    for (int64_t n = 0; n < N; n++)
        dloss[n] = (!mask || mask[n]) ? g : 0.0f;
    return c ? sum / (double)c : 0.0;
}
