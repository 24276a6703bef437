/* distill.c — logit distillation (see distill.h): the teacher's forward
 * pass and tempered softmax per batch, the combined KL + cross-entropy loss
 * as the trainer's loss hook, and the held-out measurement of a student
 * against its teacher.
 * Non-goals: the student's file and shape (distill_export.c), the command
 * line (cli/cmd_distill.c).
 */
#include "compress/distill.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress/train_ops.h"
#include "util/threadpool.h"

#define RECENT 16

struct dfit_distill {
    const struct dfit_train_model *teacher; /* borrowed */
    struct dfit_distill_params p;
    uint32_t B_max, T_max, n_vocab;
    struct dfit_threadpool *tp;        /* owned: the teacher's pool */
    struct dfit_train_pass *tpass;     /* owned: the teacher's activations */
    float *tprobs;                     /* [B_max*T_max][n_vocab] teacher at temperature */
    float *sprobs;                     /* [B_max*T_max][n_vocab] student at temperature */
    float *kl;                         /* [B_max*T_max] per-row KL */
    float *kl_dloss;                   /* [B_max*T_max] */
    double last_kl, last_ce;
    double recent_kl[RECENT], recent_ce[RECENT];
    uint64_t n_calls;
};

void dfit_distill_free(struct dfit_distill *d)
{
    if (!d)
        return;
    dfit_train_pass_free(d->tpass);
    dfit_threadpool_free(d->tp);
    free(d->tprobs);
    free(d->sprobs);
    free(d->kl);
    free(d->kl_dloss);
    free(d);
}

int dfit_distill_create(const struct dfit_train_model *teacher, const struct dfit_distill_params *p,
                        uint32_t B, uint32_t T, struct dfit_distill **out, struct dfit_err *err)
{
    *out = NULL;
    if (!(p->temperature > 0.0f) || !(p->temperature <= 100.0f))
        return dfit_err_set(err, DFIT_EINVAL, "distill: temperature (--temperature) = %g, must be in (0, 100]",
                            (double)p->temperature);
    if (!(p->alpha >= 0.0f) || !(p->alpha <= 1.0f))
        return dfit_err_set(err, DFIT_EINVAL, "distill: alpha (--alpha) = %g, must be in [0, 1]", (double)p->alpha);
    if (B == 0 || T == 0 || T > teacher->shape.n_ctx)
        return dfit_err_set(err, DFIT_EINVAL,
                            "distill: batch %u x seq %u: seq must be in 1..%u (the teacher's context)", B, T,
                            teacher->shape.n_ctx);
    struct dfit_distill *d = calloc(1, sizeof *d);
    if (!d)
        return dfit_err_set(err, DFIT_ENOMEM, "distill: out of memory");
    d->teacher = teacher;
    d->p = *p;
    d->B_max = B;
    d->T_max = T;
    d->n_vocab = teacher->shape.n_vocab;
    d->last_kl = d->last_ce = NAN;
    const size_t rows = (size_t)B * T, cells = rows * d->n_vocab;
    int rc;
    d->tprobs = malloc(cells * sizeof(float));
    d->sprobs = malloc(cells * sizeof(float));
    d->kl = malloc(rows * sizeof(float));
    d->kl_dloss = malloc(rows * sizeof(float));
    if (!d->tprobs || !d->sprobs || !d->kl || !d->kl_dloss) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "distill: out of memory (%zu MiB of teacher and student probabilities)",
                          2 * cells * sizeof(float) >> 20);
        goto fail;
    }
    if ((rc = dfit_threadpool_create(p->n_threads, &d->tp, err)) ||
        (rc = dfit_train_pass_create(teacher, B, T, d->tp, &d->tpass, err)))
        goto fail;
    *out = d;
    return 0;
fail:
    dfit_distill_free(d);
    return rc;
}

int dfit_distill_check_student(const struct dfit_distill *d, const struct dfit_train_model *student,
                               uint32_t seq, struct dfit_err *err)
{
    const struct dfit_synth_shape *t = &d->teacher->shape, *s = &student->shape;
    if (s->n_vocab != t->n_vocab)
        return dfit_err_set(err, DFIT_EINVAL,
                            "distill: the student's vocabulary has %u tokens, the teacher's %u (logit "
                            "distillation needs the same vocabulary)",
                            s->n_vocab, t->n_vocab);
    if (seq == 0 || seq > s->n_ctx || seq > t->n_ctx || seq > d->T_max)
        return dfit_err_set(err, DFIT_EINVAL,
                            "distill: seq (--seq) = %u, must be in 1..%u (student context %u, teacher "
                            "context %u)",
                            seq, s->n_ctx < t->n_ctx ? s->n_ctx : t->n_ctx, s->n_ctx, t->n_ctx);
    return 0;
}

/* ---- the teacher's tempered distribution ------------------------------------ */

struct softmax_task {
    float *probs;          /* [N][V] */
    const float *logits;   /* [N][V] */
    int64_t N, V;
    float inv_temp;
};

/* probs = softmax(logits / temp) row by row: max subtracted, the sum of the
 * exponentials in double, one multiply by its inverse. */
static void softmax_worker(void *arg, int ith, int nth)
{
    const struct softmax_task *s = arg;
    long lo, hi;
    dfit_split_range((long)s->N, ith, nth, &lo, &hi);
    for (long n = lo; n < hi; n++) {
        const float *x = s->logits + n * s->V;
        float *p = s->probs + n * s->V;
        float mx = x[0];
        for (int64_t j = 1; j < s->V; j++)
            mx = x[j] > mx ? x[j] : mx;
        double sum = 0.0;
        for (int64_t j = 0; j < s->V; j++) {
            p[j] = expf((x[j] - mx) * s->inv_temp);
            sum += p[j];
        }
        const float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < s->V; j++)
            p[j] *= inv;
    }
}

/* Runs the teacher on B x T inputs and writes its distribution at temp into
 * d->tprobs. */
static void teacher_probs(struct dfit_distill *d, const int32_t *inputs, uint32_t B, uint32_t T, float temp)
{
    dfit_train_pass_forward(d->tpass, d->teacher, inputs, B, T);
    struct softmax_task s = {d->tprobs, d->tpass->logits, (int64_t)B * T, d->n_vocab, 1.0f / temp};
    dfit_threadpool_run(d->tp, softmax_worker, &s);
}

/* ---- the loss hook ---------------------------------------------------------------- */

double dfit_distill_loss(void *user, struct dfit_train_pass *pass, const int32_t *inputs,
                         const int32_t *targets, const uint8_t *mask, uint32_t B, uint32_t T, int64_t *count)
{
    struct dfit_distill *d = user;
    const int64_t N = (int64_t)B * T, V = d->n_vocab;
    const float temp = d->p.temperature, alpha = d->p.alpha;
    teacher_probs(d, inputs, B, T, temp);

    /* (1 - alpha) * CE: the pass's own masked cross-entropy, its gradient scaled */
    int64_t n_ce = 0;
    const double ce = dfit_train_pass_ce(pass, targets, mask, &n_ce);
    if (alpha != 0.0f) {
        const float keep = 1.0f - alpha;
        for (int64_t i = 0; i < N * V; i++)
            pass->dlogits[i] *= keep;
    }

    /* alpha * T^2 * KL(teacher_T || student_T) over the same rows */
    int64_t n_kl = 0;
    dfit_train_kl_forward(d->kl, d->sprobs, pass->logits, d->tprobs, temp, N, V, d->tp);
    const double kl = dfit_train_masked_mean(d->kl_dloss, d->kl, mask, N, &n_kl);
    const float w = alpha * temp * temp;
    if (w != 0.0f) {
        for (int64_t n = 0; n < N; n++)
            d->kl_dloss[n] *= w;
        dfit_train_kl_backward(pass->dlogits, d->sprobs, d->tprobs, d->kl_dloss, temp, N, V, d->tp);
    }

    d->last_kl = kl;
    d->last_ce = ce;
    d->recent_kl[d->n_calls % RECENT] = kl;
    d->recent_ce[d->n_calls % RECENT] = ce;
    d->n_calls++;
    if (count)
        *count = n_kl;
    return (double)w * kl + (1.0 - (double)alpha) * ce;
}

void dfit_distill_last(const struct dfit_distill *d, double *kl, double *ce)
{
    *kl = d->last_kl;
    *ce = d->last_ce;
}

void dfit_distill_recent(const struct dfit_distill *d, double *kl, double *ce)
{
    const uint64_t n = d->n_calls < RECENT ? d->n_calls : RECENT;
    double skl = 0.0, sce = 0.0;
    for (uint64_t i = 0; i < n; i++) {
        skl += d->recent_kl[i];
        sce += d->recent_ce[i];
    }
    *kl = n ? skl / (double)n : NAN;
    *ce = n ? sce / (double)n : NAN;
}

/* ---- held-out measurement --------------------------------------------------------- */

static int64_t argmax(const float *x, int64_t V)
{
    int64_t best = 0;
    for (int64_t j = 1; j < V; j++)
        if (x[j] > x[best])
            best = j;
    return best;
}

int dfit_distill_measure(struct dfit_distill *d, const struct dfit_train_model *student,
                         const struct dfit_train_data *data, uint32_t T, uint64_t max_windows,
                         bool all_tokens, struct dfit_distill_measure *out, struct dfit_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = dfit_distill_check_student(d, student, T, err);
    if (rc)
        return rc;
    if (data->n < (uint64_t)T + 1)
        return dfit_err_set(err, DFIT_EINVAL, "distill: held-out data has %llu tokens, fewer than one window of %u",
                            (unsigned long long)data->n, T + 1);
    uint64_t n_win = (data->n - 1) / T;
    if (max_windows && n_win > max_windows)
        n_win = max_windows;
    const uint32_t B = d->B_max;
    const int64_t V = d->n_vocab;
    struct dfit_train_pass *sp = NULL;
    int32_t *inputs = malloc((size_t)B * T * sizeof *inputs);
    int32_t *targets = malloc((size_t)B * T * sizeof *targets);
    float *ce_s = malloc((size_t)B * T * sizeof *ce_s);
    float *ce_t = malloc((size_t)B * T * sizeof *ce_t);
    if (!inputs || !targets || !ce_s || !ce_t) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "distill: out of memory");
        goto out;
    }
    if ((rc = dfit_train_pass_create(student, B, T, d->tp, &sp, err)))
        goto out;
    double s_kl = 0.0, s_kl2 = 0.0, s_ces = 0.0, s_cet = 0.0;
    int64_t n = 0, agree = 0;
    for (uint64_t w0 = 0; w0 < n_win; w0 += B) {
        const uint32_t b = (uint32_t)(n_win - w0 < B ? n_win - w0 : B);
        for (uint32_t i = 0; i < b; i++) {
            const uint64_t at = (w0 + i) * T;
            memcpy(inputs + (size_t)i * T, data->tokens + at, T * sizeof *inputs);
            memcpy(targets + (size_t)i * T, data->tokens + at + 1, T * sizeof *targets);
        }
        const int64_t N = (int64_t)b * T;
        teacher_probs(d, inputs, b, T, 1.0f);
        dfit_train_pass_forward(sp, student, inputs, b, T);
        dfit_train_kl_forward(d->kl, d->sprobs, sp->logits, d->tprobs, 1.0f, N, V, d->tp);
        dfit_train_ce_forward(ce_s, sp->probs, sp->logits, targets, N, V, d->tp);
        dfit_train_ce_forward(ce_t, d->tpass->probs, d->tpass->logits, targets, N, V, d->tp);
        for (int64_t r = 0; r < N; r++) {
            const uint64_t at = (w0 + (uint64_t)(r / T)) * T + (uint64_t)(r % T) + 1;
            if (!all_tokens && data->mask && !data->mask[at])
                continue;
            s_kl += d->kl[r];
            s_kl2 += (double)d->kl[r] * d->kl[r];
            s_ces += ce_s[r];
            s_cet += ce_t[r];
            agree += argmax(sp->logits + r * V, V) == argmax(d->tpass->logits + r * V, V);
            n++;
        }
    }
    if (n == 0) {
        rc = dfit_err_set(err, DFIT_EINVAL, "distill: no held-out token counts (the data's mask is all 0)");
        goto out;
    }
    out->n_tokens = n;
    out->kl = s_kl / (double)n;
    out->kl_se = n > 1 ? sqrt(fmax(s_kl2 / (double)n - out->kl * out->kl, 0.0) / (double)(n - 1)) : 0.0;
    out->ce_student = s_ces / (double)n;
    out->ce_teacher = s_cet / (double)n;
    out->top1 = (double)agree / (double)n;
out:
    dfit_train_pass_free(sp);
    free(inputs);
    free(targets);
    free(ce_s);
    free(ce_t);
    return rc;
}
