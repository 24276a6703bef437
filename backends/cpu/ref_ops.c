/* ref_ops.c — the reference operators of the llama forward pass (see
 * ref_ops.h): plain loops, one op per function, parallel only over
 * independent outputs so that results never depend on the thread count.
 * Non-goals: SIMD, blocking for caches, fused kernels.
 */
#include "cpu/ref_ops.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* Runs fn on every worker of tp, or inline when tp is NULL. */
static void run_parallel(struct dfit_threadpool *tp, dfit_task_fn fn, void *arg)
{
    if (tp)
        dfit_threadpool_run(tp, fn, arg);
    else
        fn(arg, 0, 1);
}

void dfit_ref_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (int64_t i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

void dfit_ref_rope(float *x, int n_head, int head_dim, int32_t pos, float freq_base)
{
    for (int i = 0; i < head_dim / 2; i++) {
        double theta = (double)pos * pow((double)freq_base, -2.0 * i / head_dim);
        float c = (float)cos(theta), s = (float)sin(theta);
        for (int h = 0; h < n_head; h++) {
            float *p = x + (int64_t)h * head_dim + 2 * i;
            float x0 = p[0], x1 = p[1];
            p[0] = x0 * c - x1 * s;
            p[1] = x0 * s + x1 * c;
        }
    }
}

void dfit_ref_softmax(float *x, int64_t n)
{
    float max = x[0];
    for (int64_t i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

float dfit_ref_silu(float x)
{
    return x / (1.0f + expf(-x));
}

void dfit_ref_swiglu(float *out, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = dfit_ref_silu(gate[i]) * up[i];
}

void dfit_ref_add(float *out, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] += x[i];
}

void dfit_ref_embed(float *out, const struct dfit_weight *tok_embd, int32_t token)
{
    const uint8_t *row = (const uint8_t *)tok_embd->data + (size_t)token * tok_embd->row_bytes;
    dfit_row_to_f32(tok_embd->type, row, out, tok_embd->n_in);
}

/* ---- matrix products ------------------------------------------------- */

size_t dfit_ref_act_bytes(int64_t n_tok, int64_t n_in)
{
    int64_t n_blocks = (n_in + DFIT_QK - 1) / DFIT_QK;
    return (size_t)n_tok * (size_t)n_blocks * sizeof(struct dfit_block_q8_0);
}

struct quantize_task {
    struct dfit_block_q8_0 *y; /* [n_tok][n_in/32] */
    const float *x;            /* [n_tok][n_in] */
    int64_t n_tok, n_in;
};

static void quantize_worker(void *arg, int ith, int nth)
{
    const struct quantize_task *t = arg;
    long lo, hi;
    dfit_split_range((long)t->n_tok, ith, nth, &lo, &hi);
    int64_t n_blocks = t->n_in / DFIT_QK;
    for (long r = lo; r < hi; r++)
        dfit_quantize_row_q8_0_ref(t->x + r * t->n_in, t->y + r * n_blocks, t->n_in);
}

const void *dfit_ref_prepare_act(void *act_q8, const float *x, enum dfit_type t, int64_t n_tok,
                                 int64_t n_in, struct dfit_threadpool *tp)
{
    if (!dfit_type_wants_q8_act(t))
        return x;
    assert(n_in % DFIT_QK == 0); /* guaranteed by the weight's block size */
    struct quantize_task task = {act_q8, x, n_tok, n_in};
    run_parallel(tp, quantize_worker, &task);
    return act_q8;
}

struct matmul_task {
    float *out;                  /* [n_tok][n_out] */
    const void *act;             /* [n_tok] rows of act_row_bytes */
    size_t act_row_bytes;
    const struct dfit_weight *w; /* [n_out] rows of w->row_bytes */
    int64_t n_tok;
};

static void matmul_worker(void *arg, int ith, int nth)
{
    const struct matmul_task *t = arg;
    const struct dfit_weight *w = t->w;
    long lo, hi;
    dfit_split_range((long)w->n_out, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        const void *wrow = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
        for (int64_t i = 0; i < t->n_tok; i++) {
            const void *arow = (const uint8_t *)t->act + (size_t)i * t->act_row_bytes;
            t->out[i * w->n_out + r] = dfit_vec_dot_ref(w->type, w->n_in, wrow, arow);
        }
    }
}

void dfit_ref_matmul_act(float *out, const void *act, const struct dfit_weight *w, int64_t n_tok,
                         struct dfit_threadpool *tp)
{
    size_t act_row_bytes = dfit_type_wants_q8_act(w->type)
                               ? (size_t)(w->n_in / DFIT_QK) * sizeof(struct dfit_block_q8_0)
                               : (size_t)w->n_in * sizeof(float);
    struct matmul_task task = {out, act, act_row_bytes, w, n_tok};
    run_parallel(tp, matmul_worker, &task);
}

void dfit_ref_matmul(float *out, const float *x, const struct dfit_weight *w, int64_t n_tok,
                     void *act_q8, struct dfit_threadpool *tp)
{
    const void *act = dfit_ref_prepare_act(act_q8, x, w->type, n_tok, w->n_in, tp);
    dfit_ref_matmul_act(out, act, w, n_tok, tp);
}

/* ---- attention ------------------------------------------------------- */

void dfit_ref_attention_head(float *out, const float *q, const float *k, const float *v,
                             int64_t n_kv, int64_t kv_stride, int head_dim, float *att)
{
    const double scale = 1.0 / sqrt((double)head_dim);
    for (int64_t j = 0; j < n_kv; j++) {
        const float *kj = k + j * kv_stride;
        double s = 0.0;
        for (int d = 0; d < head_dim; d++)
            s += (double)q[d] * kj[d];
        att[j] = (float)(s * scale);
    }
    dfit_ref_softmax(att, n_kv);
    memset(out, 0, (size_t)head_dim * sizeof *out);
    for (int64_t j = 0; j < n_kv; j++) {
        const float *vj = v + j * kv_stride;
        for (int d = 0; d < head_dim; d++)
            out[d] += att[j] * vj[d];
    }
}

struct attention_task {
    float *out;              /* [n_tok][n_head*head_dim] */
    const float *q;          /* [n_tok][n_head*head_dim] */
    const float *const *k;   /* [n_tok] -> [n_kv][kv_dim] */
    const float *const *v;   /* [n_tok] -> [n_kv][kv_dim] */
    const int64_t *n_kv;     /* [n_tok] */
    int64_t n_tok;
    int n_head, n_head_kv, head_dim;
    float *att;              /* [nth][att_stride] */
    int64_t att_stride;
};

static void attention_worker(void *arg, int ith, int nth)
{
    const struct attention_task *t = arg;
    const int64_t q_dim = (int64_t)t->n_head * t->head_dim;
    const int64_t kv_dim = (int64_t)t->n_head_kv * t->head_dim;
    const int group = t->n_head / t->n_head_kv;
    float *att = t->att + ith * t->att_stride;
    long lo, hi;
    dfit_split_range((long)(t->n_tok * t->n_head), ith, nth, &lo, &hi);
    for (long p = lo; p < hi; p++) {
        int64_t i = p / t->n_head;
        int h = (int)(p % t->n_head);
        int64_t off_kv = (int64_t)(h / group) * t->head_dim;
        dfit_ref_attention_head(t->out + i * q_dim + (int64_t)h * t->head_dim,
                                t->q + i * q_dim + (int64_t)h * t->head_dim, t->k[i] + off_kv,
                                t->v[i] + off_kv, t->n_kv[i], kv_dim, t->head_dim, att);
    }
}

void dfit_ref_attention(float *out, const float *q, const float *const *k, const float *const *v,
                        const int64_t *n_kv, int64_t n_tok, int n_head, int n_head_kv,
                        int head_dim, float *att, int64_t att_stride, struct dfit_threadpool *tp)
{
    struct attention_task task = {out, q, k, v, n_kv, n_tok, n_head, n_head_kv, head_dim,
                                  att, att_stride};
    run_parallel(tp, attention_worker, &task);
}
