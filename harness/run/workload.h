/* workload.h — drives a workload against a loaded backend and records
 * every request's time to first token, inter-token gaps and end-to-end
 * time, with greedy (argmax) decoding.
 *
 * single-stream: one request at a time in sequence 0. Submit, one prefill
 *   forward of the prompt (logits of its last token only), argmax = first
 *   token: TTFT = submit to first token. Then output_tokens - 1 decode
 *   forwards of one token each; each gap is the time from the previous
 *   token to this one. e2e = submit to last token.
 * offline: `batch` requests at once in sequences 0..batch-1: one prefill
 *   forward carrying every prompt, then decode forwards carrying one token
 *   per sequence. Every request of a batch shares the batch's TTFT, gaps
 *   and e2e (each request's record holds them; gaps are copied per
 *   request).
 * Prompts are cut from the prompt token stream: request i (warm-ups
 * counted) takes prompt_tokens tokens from offset i * prompt_tokens modulo
 * the stream's length, wrapping around. The backend's sync (if any) runs
 * before every time is taken; sequences are emptied between requests.
 * Warm-up: ceil(warmup_requests / batch) rounds, not recorded. Then rounds
 * run until BOTH min_duration_ms has passed and min_requests requests are
 * recorded (at least one round).
 * Counters: the counts of each round's prefill (up to the first token) go
 * to the prefill phase, the rest of the round to decode; warm-up counts are
 * dropped. The one counter read at the end of prefill lies inside TTFT (a
 * few microseconds).
 * Non-goals: sampling other than argmax, open-loop arrivals, stopping at
 * EOS (every request generates exactly output_tokens tokens).
 */
#ifndef DFIT_RUN_WORKLOAD_H
#define DFIT_RUN_WORKLOAD_H

#include <stdint.h>

#include "backend.h"
#include "run/counters.h"
#include "run/result.h"
#include "run/scenario.h"
#include "util/err.h"

struct dfit_workload_io {
    const struct dfit_backend_ops *ops;
    void *ctx;                      /* loaded for dfit_workload_backend_params */
    uint32_t n_vocab;
    const int32_t *stream;          /* [n_stream] prompt token stream */
    uint32_t n_stream;
    struct dfit_counters *counters; /* may be NULL */
};

/* The backend parameters a workload needs: n_ctx = prompt + output tokens,
 * n_seq = batch (1 for single-stream), n_batch_max = n_seq * prompt tokens,
 * threads, kernels and device from the target. DFIT_EINVAL naming the
 * workload when prompt or output tokens are 0, or the sizes overflow. */
int dfit_workload_backend_params(const struct dfit_target_spec *t,
                                 const struct dfit_workload_spec *w,
                                 struct dfit_backend_params *bp, struct dfit_err *err);

/* Drives w and fills out's requests, gaps_ns, run_ns, ttft/tpot/e2e
 * summaries and the four throughputs (decode tokens/s is NAN when output
 * tokens is 1). On failure out's sample arrays are freed; codes: DFIT_EINVAL
 * (a stream token outside the vocabulary, an empty stream), DFIT_ENOMEM,
 * the backend's forward codes. */
int dfit_workload_drive(const struct dfit_workload_io *io, const struct dfit_workload_spec *w,
                        struct dfit_cell_result *out, struct dfit_err *err);

#endif
