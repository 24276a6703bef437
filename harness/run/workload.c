/* workload.c — the workload driver: rounds of requests (one request, or a
 * batch of them) against a loaded backend, timed with the harness clock,
 * and the per-cell summaries and throughputs (see workload.h).
 * Non-goals: loading, validity, storage.
 */
#include "run/workload.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/stats.h"

struct driver {
    const struct dfit_workload_io *io;
    uint32_t B, P, O;            /* sequences per round, prompt and output tokens */
    uint64_t next_request;       /* index of the next request (prompt rotation) */
    int32_t *tok, *pos, *seq;    /* [B*P] batch */
    int8_t *want;                /* [B*P] */
    float *logits;               /* [B][n_vocab] */
    int32_t *next;               /* [B] each sequence's latest token */
    uint64_t *gaps;              /* [O-1] this round's gaps */
    /* totals over recorded rounds */
    uint64_t prefill_tokens, prefill_ns, decode_tokens, decode_ns, output_tokens;
    uint64_t cap_requests, cap_gaps;
};

static int32_t argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return (int32_t)best;
}

int dfit_workload_backend_params(const struct dfit_target_spec *t,
                                 const struct dfit_workload_spec *w,
                                 struct dfit_backend_params *bp, struct dfit_err *err)
{
    memset(bp, 0, sizeof *bp);
    if (w->prompt_tokens == 0 || w->output_tokens == 0)
        return dfit_err_set(err, DFIT_EINVAL,
                            "workload '%s': prompt_tokens and output_tokens must be >= 1", w->name);
    const uint64_t n_seq = w->mode == DFIT_MODE_OFFLINE && w->batch > 1 ? w->batch : 1;
    const uint64_t n_ctx = (uint64_t)w->prompt_tokens + w->output_tokens;
    const uint64_t n_batch = n_seq * w->prompt_tokens;
    if (n_ctx > UINT32_MAX || n_batch > UINT32_MAX)
        return dfit_err_set(err, DFIT_EINVAL, "workload '%s': context or batch too large",
                            w->name);
    bp->n_threads = t->threads;
    bp->n_ctx = (uint32_t)n_ctx;
    bp->n_seq = (uint32_t)n_seq;
    bp->n_batch_max = (uint32_t)(n_batch > n_seq ? n_batch : n_seq);
    bp->kernels = t->kernels;
    bp->device = t->device;
    return 0;
}

/* Grows *p (elements of size sz, capacity *cap) to hold need elements. */
static int grow(void **p, uint64_t *cap, uint64_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    uint64_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    if (n > SIZE_MAX / sz)
        return DFIT_ENOMEM;
    void *q = realloc(*p, (size_t)(n * sz));
    if (!q)
        return DFIT_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* One round: B requests from submit to last token. When out is non-NULL
 * the round is recorded (samples, totals, counters). */
static int round_run(struct driver *d, struct dfit_cell_result *out, struct dfit_err *err)
{
    const struct dfit_workload_io *io = d->io;
    const uint32_t B = d->B, P = d->P, O = d->O, V = io->n_vocab;
    for (uint32_t s = 0; s < B; s++) {
        uint64_t off = (d->next_request + s) * (uint64_t)P % io->n_stream;
        for (uint32_t j = 0; j < P; j++) {
            size_t i = (size_t)s * P + j;
            d->tok[i] = io->stream[(off + j) % io->n_stream];
            d->pos[i] = (int32_t)j;
            d->seq[i] = (int32_t)s;
            d->want[i] = j + 1 == P;
        }
    }
    d->next_request += B;

    struct dfit_batch b = {
        .n_tokens = B * P, .token = d->tok, .pos = d->pos, .seq = d->seq, .want = d->want};
    const uint64_t t_submit = dfit_now_ns();
    int rc = io->ops->forward(io->ctx, &b, d->logits, err);
    if (rc)
        return rc;
    if (io->ops->sync)
        io->ops->sync(io->ctx);
    for (uint32_t s = 0; s < B; s++)
        d->next[s] = argmax(d->logits + (size_t)s * V, V);
    if (out && (rc = dfit_counters_mark(io->counters, DFIT_PHASE_PREFILL, err)))
        return rc;
    const uint64_t t_first = dfit_now_ns();

    uint64_t t_prev = t_first;
    for (uint32_t k = 1; k < O; k++) {
        for (uint32_t s = 0; s < B; s++) {
            d->tok[s] = d->next[s];
            d->pos[s] = (int32_t)(P + k - 1);
            d->seq[s] = (int32_t)s;
            d->want[s] = 1;
        }
        b.n_tokens = B;
        if ((rc = io->ops->forward(io->ctx, &b, d->logits, err)))
            return rc;
        if (io->ops->sync)
            io->ops->sync(io->ctx);
        for (uint32_t s = 0; s < B; s++)
            d->next[s] = argmax(d->logits + (size_t)s * V, V);
        const uint64_t t = dfit_now_ns();
        d->gaps[k - 1] = t - t_prev;
        t_prev = t;
    }
    for (uint32_t s = 0; s < B; s++)
        io->ops->seq_reset(io->ctx, (int32_t)s);
    if (!out)
        return 0;
    if ((rc = dfit_counters_mark(io->counters, DFIT_PHASE_DECODE, err)))
        return rc;

    const uint64_t n_req = (uint64_t)out->n_requests + B;
    const uint64_t n_gaps = out->n_gaps + (uint64_t)B * (O - 1);
    if (n_req > UINT32_MAX || n_gaps > UINT32_MAX ||
        grow((void **)&out->requests, &d->cap_requests, n_req, sizeof *out->requests) ||
        grow((void **)&out->gaps_ns, &d->cap_gaps, n_gaps ? n_gaps : 1, sizeof *out->gaps_ns))
        return dfit_err_set(err, DFIT_ENOMEM, "out of memory for %" PRIu64 " request samples",
                            n_req);
    for (uint32_t s = 0; s < B; s++) {
        struct dfit_request_sample *r = &out->requests[out->n_requests++];
        r->ttft_ns = t_first - t_submit;
        r->e2e_ns = t_prev - t_submit;
        r->n_prompt = P;
        r->n_output = O;
        r->first_gap = (uint32_t)out->n_gaps;
        if (O > 1)
            memcpy(out->gaps_ns + out->n_gaps, d->gaps, (size_t)(O - 1) * sizeof *d->gaps);
        out->n_gaps += O - 1;
    }
    d->prefill_tokens += (uint64_t)B * P;
    d->prefill_ns += t_first - t_submit;
    d->decode_tokens += (uint64_t)B * (O - 1);
    d->decode_ns += t_prev - t_first;
    d->output_tokens += (uint64_t)B * O;
    return 0;
}

static int summarize(struct dfit_cell_result *out, const struct driver *d, struct dfit_err *err)
{
    const uint32_t n = out->n_requests;
    uint64_t *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    if (!x)
        return dfit_err_set(err, DFIT_ENOMEM, "out of memory summarising %" PRIu32 " requests", n);
    int rc = 0;
    for (uint32_t i = 0; i < n; i++)
        x[i] = out->requests[i].ttft_ns;
    rc = dfit_stats_summarize_u64(x, n, &out->ttft);
    for (uint32_t i = 0; !rc && i < n; i++)
        x[i] = out->requests[i].e2e_ns;
    if (!rc)
        rc = dfit_stats_summarize_u64(x, n, &out->e2e);
    if (!rc)
        rc = dfit_stats_summarize_u64(out->gaps_ns, (size_t)out->n_gaps, &out->tpot);
    free(x);
    if (rc)
        return dfit_err_set(err, DFIT_ENOMEM, "out of memory summarising samples");

    const double run_s = (double)out->run_ns / 1e9;
    out->prefill_tokens_per_s =
        d->prefill_ns ? (double)d->prefill_tokens / ((double)d->prefill_ns / 1e9) : NAN;
    out->decode_tokens_per_s =
        d->decode_ns && d->decode_tokens ? (double)d->decode_tokens / ((double)d->decode_ns / 1e9)
                                         : NAN;
    out->requests_per_s = run_s > 0 ? (double)n / run_s : NAN;
    out->output_tokens_per_s = run_s > 0 ? (double)d->output_tokens / run_s : NAN;
    return 0;
}

int dfit_workload_drive(const struct dfit_workload_io *io, const struct dfit_workload_spec *w,
                        struct dfit_cell_result *out, struct dfit_err *err)
{
    struct driver d;
    memset(&d, 0, sizeof d);
    d.io = io;
    d.B = w->mode == DFIT_MODE_OFFLINE && w->batch > 1 ? w->batch : 1;
    d.P = w->prompt_tokens;
    d.O = w->output_tokens;
    int rc = 0;

    if (!io->stream || io->n_stream == 0) {
        rc = dfit_err_set(err, DFIT_EINVAL, "workload '%s': empty prompt token stream", w->name);
        goto fail;
    }
    for (uint32_t i = 0; i < io->n_stream; i++)
        if (io->stream[i] < 0 || (uint32_t)io->stream[i] >= io->n_vocab) {
            rc = dfit_err_set(err, DFIT_EINVAL,
                              "workload '%s': prompt stream token %" PRIu32 ": id %" PRId32
                              " not in the vocabulary [0, %" PRIu32 ")",
                              w->name, i, io->stream[i], io->n_vocab);
            goto fail;
        }
    if (d.P == 0 || d.O == 0) {
        rc = dfit_err_set(err, DFIT_EINVAL, "workload '%s': prompt and output tokens must be >= 1",
                          w->name);
        goto fail;
    }
    const size_t nb = (size_t)d.B * d.P;
    d.tok = malloc(nb * sizeof *d.tok);
    d.pos = malloc(nb * sizeof *d.pos);
    d.seq = malloc(nb * sizeof *d.seq);
    d.want = malloc(nb * sizeof *d.want);
    d.logits = malloc((size_t)d.B * io->n_vocab * sizeof *d.logits);
    d.next = malloc((size_t)d.B * sizeof *d.next);
    d.gaps = malloc((size_t)d.O * sizeof *d.gaps);
    if (!d.tok || !d.pos || !d.seq || !d.want || !d.logits || !d.next || !d.gaps) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "workload '%s': out of memory for a batch of %zu tokens",
                          w->name, nb);
        goto fail;
    }

    const uint32_t warm_rounds = (w->warmup_requests + d.B - 1) / d.B;
    for (uint32_t i = 0; i < warm_rounds; i++)
        if ((rc = round_run(&d, NULL, err)))
            goto fail;
    if (io->counters && (rc = dfit_counters_skip(io->counters, err)))
        goto fail;

    const uint64_t min_ns = w->min_duration_ms > UINT64_MAX / 1000000u
                                ? UINT64_MAX
                                : w->min_duration_ms * 1000000u;
    const uint64_t t0 = dfit_now_ns();
    uint64_t t_end = t0;
    do {
        if ((rc = round_run(&d, out, err)))
            goto fail;
        t_end = dfit_now_ns();
    } while (t_end - t0 < min_ns || out->n_requests < w->min_requests);
    out->run_ns = t_end - t0;

    if ((rc = summarize(out, &d, err)))
        goto fail;
    goto done;
fail:
    free(out->requests);
    free(out->gaps_ns);
    out->requests = NULL;
    out->gaps_ns = NULL;
    out->n_requests = 0;
    out->n_gaps = 0;
done:
    free(d.tok);
    free(d.pos);
    free(d.seq);
    free(d.want);
    free(d.logits);
    free(d.next);
    free(d.gaps);
    return rc;
}
