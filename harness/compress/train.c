/* train.c — the training loop (see train.h): batches, the loss, AdamW with
 * clipping and the learning-rate schedule, progress lines and checkpoints.
 * Non-goals: evaluation during training, gradient accumulation, schedules
 * other than warm-up + cosine.
 */
#include "compress/train.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress/train_pass.h"
#include "util/clock.h"
#include "util/threadpool.h"

#define NORM_CHUNK 32768 /* floats per partial sum of the gradient norm */
#define LIVE_INTERVAL_NS 200000000ull

struct dfit_trainer {
    struct dfit_train_model *m;        /* borrowed */
    const struct dfit_train_data *d;   /* borrowed */
    struct dfit_train_params p;
    struct dfit_train_recipe r;
    struct dfit_threadpool *tp;        /* owned */
    struct dfit_train_pass *pass;      /* owned */
    struct dfit_train_batcher *batcher;/* owned */
    int32_t *inputs, *targets;         /* [B][T] */
    uint8_t *mask;                     /* [B][T] */
    double *norm_parts;                /* [n_chunks] */
    size_t n_chunks;
    struct dfit_train_state st;
    struct dfit_train_step_info last;
    uint64_t steps_run;                /* by this trainer (not resumed ones) */
    uint64_t run_ns;                   /* time spent in those steps */
    uint64_t last_print_ns;
};

void dfit_trainer_free(struct dfit_trainer *t)
{
    if (!t)
        return;
    dfit_train_pass_free(t->pass);
    dfit_train_batcher_free(t->batcher);
    dfit_threadpool_free(t->tp);
    free(t->inputs);
    free(t->targets);
    free(t->mask);
    free(t->norm_parts);
    free(t);
}

static int check_recipe(const struct dfit_train_recipe *r, const struct dfit_train_model *m,
                        struct dfit_err *err)
{
    if (r->steps == 0)
        return dfit_err_set(err, DFIT_EINVAL, "train: steps (--steps) must be >= 1");
    if (r->batch == 0 || r->batch > 65536)
        return dfit_err_set(err, DFIT_EINVAL, "train: batch (--batch) = %u, must be in 1..65536", r->batch);
    if (r->seq == 0 || r->seq > m->shape.n_ctx)
        return dfit_err_set(err, DFIT_EINVAL,
                            "train: seq (--seq) = %u, must be in 1..%u (the model's context, --ctx)",
                            r->seq, m->shape.n_ctx);
    if (!(r->lr > 0.0f) || !isfinite(r->lr))
        return dfit_err_set(err, DFIT_EINVAL, "train: lr (--lr) = %g, must be finite and > 0", (double)r->lr);
    if (!(r->lr_min >= 0.0f) || r->lr_min > r->lr)
        return dfit_err_set(err, DFIT_EINVAL, "train: lr_min (--lr-min) = %g, must be in [0, lr = %g]",
                            (double)r->lr_min, (double)r->lr);
    if (!(r->weight_decay >= 0.0f) || !isfinite(r->weight_decay))
        return dfit_err_set(err, DFIT_EINVAL, "train: weight decay (--wd) = %g, must be finite and >= 0",
                            (double)r->weight_decay);
    if (!(r->clip >= 0.0f) || !isfinite(r->clip))
        return dfit_err_set(err, DFIT_EINVAL, "train: clip (--clip) = %g, must be finite and >= 0 (0: off)",
                            (double)r->clip);
    return 0;
}

int dfit_trainer_create(struct dfit_train_model *m, const struct dfit_train_data *d,
                        const struct dfit_train_params *p, const struct dfit_train_state *resume,
                        struct dfit_trainer **out, struct dfit_err *err)
{
    *out = NULL;
    int rc = check_recipe(&p->recipe, m, err);
    if (rc)
        return rc;
    struct dfit_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return dfit_err_set(err, DFIT_ENOMEM, "train: out of memory");
    t->m = m;
    t->d = d;
    t->p = *p;
    t->r = p->recipe;
    memcpy(t->r.data_sha256, d->sha256, sizeof t->r.data_sha256);
    t->r.data_tokens = d->n;
    if (!d->mask)
        t->r.all_tokens = 1; /* no answer mask: every token is a target */
    if (!t->p.log)
        t->p.log = stderr;
    if (!t->p.log_every)
        t->p.log_every = 10;
    const size_t n_tok = (size_t)t->r.batch * t->r.seq;
    t->n_chunks = (m->n_params + NORM_CHUNK - 1) / NORM_CHUNK;
    t->inputs = malloc(n_tok * sizeof *t->inputs);
    t->targets = malloc(n_tok * sizeof *t->targets);
    t->mask = malloc(n_tok);
    t->norm_parts = malloc(t->n_chunks * sizeof *t->norm_parts);
    if (!t->inputs || !t->targets || !t->mask || !t->norm_parts) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "train: out of memory");
        goto fail;
    }
    if ((rc = dfit_threadpool_create(p->n_threads, &t->tp, err)) ||
        (rc = dfit_train_batcher_create(d, t->r.seq, t->r.seed, &t->batcher, err)) ||
        (rc = dfit_train_pass_create(m, t->r.batch, t->r.seq, t->tp, &t->pass, err)))
        goto fail;
    if (resume) {
        t->st = *resume;
        if ((rc = dfit_train_batcher_seek(t->batcher, &resume->cursor, err)))
            goto fail;
    }
    *out = t;
    return 0;
fail:
    dfit_trainer_free(t);
    return rc;
}

float dfit_train_lr(const struct dfit_train_recipe *r, uint64_t s)
{
    if (s < r->warmup)
        return r->lr * (float)(s + 1) / (float)r->warmup;
    const uint64_t span = r->steps > r->warmup ? r->steps - r->warmup : 1;
    double progress = (double)(s - r->warmup) / (double)span;
    if (progress > 1.0)
        progress = 1.0;
    return (float)(r->lr_min + (r->lr - r->lr_min) * 0.5 * (1.0 + cos(M_PI * progress)));
}

/* ---- gradient norm and AdamW ------------------------------------------------- */

static void norm_worker(void *arg, int ith, int nth)
{
    struct dfit_trainer *t = arg;
    long lo, hi;
    dfit_split_range((long)t->n_chunks, ith, nth, &lo, &hi);
    for (long c = lo; c < hi; c++) {
        const size_t a = (size_t)c * NORM_CHUNK;
        const size_t b = a + NORM_CHUNK < t->m->n_params ? a + NORM_CHUNK : t->m->n_params;
        double s = 0.0;
        for (size_t i = a; i < b; i++)
            s += (double)t->m->grads[i] * t->m->grads[i];
        t->norm_parts[c] = s;
    }
}

/* The global L2 norm of the gradients, summed in fixed chunks in order. */
static double grad_norm(struct dfit_trainer *t)
{
    dfit_threadpool_run(t->tp, norm_worker, t);
    double s = 0.0;
    for (size_t c = 0; c < t->n_chunks; c++)
        s += t->norm_parts[c];
    return sqrt(s);
}

struct adam_args {
    struct dfit_trainer *t;
    float lr, gscale, bc1, bc2;
};

static void adam_worker(void *arg, int ith, int nth)
{
    const struct adam_args *a = arg;
    const struct dfit_train_model *m = a->t->m;
    long lo, hi;
    dfit_split_range((long)m->n_params, ith, nth, &lo, &hi);
    for (size_t k = 0; k < m->n_tensors; k++) {
        const struct dfit_train_tensor *tt = &m->tensors[k];
        long b = (long)tt->offset, e = b + (long)(tt->n_in * tt->n_out);
        if (b < lo)
            b = lo;
        if (e > hi)
            e = hi;
        const float wd = tt->decay ? a->t->r.weight_decay : 0.0f;
        for (long i = b; i < e; i++) {
            const float g = m->grads[i] * a->gscale;
            const float mi = DFIT_TRAIN_BETA1 * m->adam_m[i] + (1.0f - DFIT_TRAIN_BETA1) * g;
            const float vi = DFIT_TRAIN_BETA2 * m->adam_v[i] + (1.0f - DFIT_TRAIN_BETA2) * g * g;
            m->adam_m[i] = mi;
            m->adam_v[i] = vi;
            const float mhat = mi / a->bc1, vhat = vi / a->bc2;
            m->params[i] -= a->lr * (mhat / (sqrtf(vhat) + DFIT_TRAIN_ADAM_EPS) + wd * m->params[i]);
        }
    }
}

void dfit_trainer_step(struct dfit_trainer *t, struct dfit_train_step_info *info)
{
    const uint64_t t0 = dfit_now_ns();
    const uint32_t B = t->r.batch, T = t->r.seq;
    struct dfit_train_model *m = t->m;

    dfit_train_batcher_next(t->batcher, B, t->inputs, t->targets, t->mask);
    memset(m->grads, 0, m->n_params * sizeof(float));
    dfit_train_pass_forward(t->pass, m, t->inputs, B, T);
    int64_t count = 0;
    const uint8_t *mask = t->r.all_tokens ? NULL : t->mask;
    const double loss = t->p.loss ? t->p.loss(t->p.loss_user, t->pass, t->inputs, t->targets, mask, B, T, &count)
                                  : dfit_train_pass_ce(t->pass, t->targets, mask, &count);
    dfit_train_pass_backward(t->pass, m);

    const double norm = grad_norm(t);
    const uint64_t s = t->st.step;
    struct adam_args a = {
        .t = t,
        .lr = dfit_train_lr(&t->r, s),
        .gscale = (t->r.clip > 0.0f && norm > t->r.clip) ? (float)(t->r.clip / norm) : 1.0f,
        .bc1 = (float)(1.0 - pow(DFIT_TRAIN_BETA1, (double)(s + 1))),
        .bc2 = (float)(1.0 - pow(DFIT_TRAIN_BETA2, (double)(s + 1))),
    };
    dfit_threadpool_run(t->tp, adam_worker, &a);

    t->st.losses[s % DFIT_TRAIN_LOSS_WINDOW] = (float)loss;
    if (t->st.n_losses < DFIT_TRAIN_LOSS_WINDOW)
        t->st.n_losses++;
    t->st.step = s + 1;
    t->last = (struct dfit_train_step_info){s + 1, loss, a.lr, norm, count};
    t->steps_run++;
    t->run_ns += dfit_now_ns() - t0;
    if (info)
        *info = t->last;
}

/* ---- state ---------------------------------------------------------------------- */

void dfit_trainer_state(const struct dfit_trainer *t, struct dfit_train_state *st)
{
    *st = t->st;
    dfit_train_batcher_tell(t->batcher, &st->cursor);
}

void dfit_trainer_recipe(const struct dfit_trainer *t, struct dfit_train_recipe *r)
{
    *r = t->r;
    double s = 0.0;
    for (uint32_t i = 0; i < t->st.n_losses; i++)
        s += t->st.losses[i];
    r->final_loss = t->st.n_losses ? (float)(s / t->st.n_losses) : NAN;
}

uint64_t dfit_trainer_memory_bytes(const struct dfit_trainer *t)
{
    return 4 * (uint64_t)t->m->n_params * sizeof(float) + t->pass->bytes;
}

double dfit_trainer_tokens_per_s(const struct dfit_trainer *t)
{
    if (t->run_ns == 0)
        return 0.0;
    return (double)t->steps_run * t->r.batch * t->r.seq / ((double)t->run_ns * 1e-9);
}

int dfit_trainer_checkpoint(const struct dfit_trainer *t, const char *path, struct dfit_err *err)
{
    struct dfit_train_state st;
    struct dfit_train_recipe r;
    dfit_trainer_state(t, &st);
    dfit_trainer_recipe(t, &r);
    return dfit_ckpt_save(path, t->m, &r, &st, err);
}

/* ---- progress ---------------------------------------------------------------------- */

static void fmt_eta(char *buf, size_t cap, double s)
{
    if (!(s >= 0.0) || s > 1e8)
        snprintf(buf, cap, "?");
    else if (s >= 3600.0)
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600.0), (int)fmod(s / 60.0, 60.0));
    else if (s >= 60.0)
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60.0), (int)fmod(s, 60.0));
    else
        snprintf(buf, cap, "%ds", (int)s);
}

static void print_progress(struct dfit_trainer *t, bool force)
{
    const struct dfit_train_step_info *i = &t->last;
    const uint64_t now = dfit_now_ns();
    if (t->p.progress == DFIT_TRAIN_PROGRESS_NONE)
        return;
    if (t->p.progress == DFIT_TRAIN_PROGRESS_LIVE && !force &&
        now - t->last_print_ns < LIVE_INTERVAL_NS)
        return;
    if (t->p.progress == DFIT_TRAIN_PROGRESS_LINES && !force && i->step % t->p.log_every != 0 &&
        t->steps_run != 1)
        return;
    t->last_print_ns = now;
    char eta[32];
    const double per_step = t->steps_run ? (double)t->run_ns * 1e-9 / (double)t->steps_run : 0.0;
    fmt_eta(eta, sizeof eta, per_step * (double)(t->r.steps - i->step));
    const int w = snprintf(NULL, 0, "%" PRIu64, t->r.steps);
    fprintf(t->p.log, "%sstep %*" PRIu64 "/%" PRIu64 "  loss %.4f  lr %.2e  gnorm %.3f  %.0f tok/s  ETA %s%s",
            t->p.progress == DFIT_TRAIN_PROGRESS_LIVE ? "\r" : "", w, i->step, t->r.steps, i->loss,
            (double)i->lr, i->grad_norm, dfit_trainer_tokens_per_s(t), eta,
            t->p.progress == DFIT_TRAIN_PROGRESS_LIVE ? "\033[K" : "\n");
    fflush(t->p.log);
}

int dfit_trainer_run(struct dfit_trainer *t, int *stopped_early, struct dfit_err *err)
{
    int rc = 0;
    uint64_t last_ckpt = t->st.step;
    bool early = false;
    while (t->st.step < t->r.steps) {
        if ((t->p.stop_after && t->st.step >= t->p.stop_after) ||
            (t->p.stop_flag && *t->p.stop_flag)) {
            early = true;
            break;
        }
        dfit_trainer_step(t, NULL);
        print_progress(t, t->st.step == t->r.steps);
        if (!isfinite(t->last.loss) || !isfinite(t->last.grad_norm)) {
            rc = dfit_err_set(err, DFIT_ERANGE,
                              "train: step %" PRIu64 ": loss %g, gradient norm %g: training diverged "
                              "(lower --lr or --clip); the last checkpoint holds step %" PRIu64,
                              t->st.step, t->last.loss, t->last.grad_norm, last_ckpt);
            goto out;
        }
        if (t->p.ckpt_path && t->p.ckpt_every && t->st.step % t->p.ckpt_every == 0) {
            if ((rc = dfit_trainer_checkpoint(t, t->p.ckpt_path, err)))
                goto out;
            last_ckpt = t->st.step;
        }
    }
    if (t->p.ckpt_path && last_ckpt != t->st.step)
        rc = dfit_trainer_checkpoint(t, t->p.ckpt_path, err);
out:
    if (t->p.progress == DFIT_TRAIN_PROGRESS_LIVE && t->steps_run)
        fputc('\n', t->p.log);
    if (stopped_early)
        *stopped_early = early;
    return rc;
}
