/* cuda_batch.c — batch validation, input packing and the graph cache of the
 * CUDA backend (see cuda_batch.h). Host-only code.
 * Non-goals: device calls.
 */
#include "cuda/cuda_batch.h"

#include <inttypes.h>
#include <string.h>

int dfit_cuda_batch_check(const struct dfit_batch *b, const float *logits, uint32_t n_batch_max,
                          uint32_t n_seq, uint32_t n_ctx, uint32_t n_vocab, const uint32_t *seq_len,
                          uint32_t *seq_next, uint32_t *n_wanted, struct dfit_err *err)
{
    *n_wanted = 0;
    if (!b || b->n_tokens == 0)
        return dfit_err_set(err, DFIT_EINVAL, "cuda backend: empty batch");
    if (b->n_tokens > n_batch_max)
        return dfit_err_set(err, DFIT_EINVAL,
                            "cuda backend: batch of %" PRIu32 " tokens exceeds n_batch_max %" PRIu32,
                            b->n_tokens, n_batch_max);
    if (!b->token || !b->pos || !b->seq)
        return dfit_err_set(err, DFIT_EINVAL, "cuda backend: batch without token, pos or seq");
    memcpy(seq_next, seq_len, n_seq * sizeof *seq_next);
    uint32_t nw = 0;
    for (uint32_t i = 0; i < b->n_tokens; i++) {
        int32_t tok = b->token[i], pos = b->pos[i], s = b->seq[i];
        if (tok < 0 || (uint32_t)tok >= n_vocab)
            return dfit_err_set(err, DFIT_EINVAL,
                                "cuda backend: batch token %" PRIu32 ": id %" PRId32
                                " not in [0, %" PRIu32 ")",
                                i, tok, n_vocab);
        if (s < 0 || (uint32_t)s >= n_seq)
            return dfit_err_set(err, DFIT_EINVAL,
                                "cuda backend: batch token %" PRIu32 ": sequence %" PRId32
                                " not in [0, %" PRIu32 ")",
                                i, s, n_seq);
        if (pos < 0 || (uint32_t)pos != seq_next[s])
            return dfit_err_set(err, DFIT_EINVAL,
                                "cuda backend: batch token %" PRIu32 ": position %" PRId32
                                " of sequence %" PRId32 ", expected %" PRIu32
                                " (positions must continue the sequence contiguously)",
                                i, pos, s, seq_next[s]);
        if ((uint32_t)pos >= n_ctx)
            return dfit_err_set(err, DFIT_EINVAL,
                                "cuda backend: batch token %" PRIu32 ": position %" PRId32
                                " of sequence %" PRId32 " does not fit n_ctx %" PRIu32,
                                i, pos, s, n_ctx);
        seq_next[s]++;
        if (!b->want || b->want[i])
            nw++;
    }
    if (nw > 0 && !logits)
        return dfit_err_set(err, DFIT_EINVAL, "cuda backend: logits wanted but no output buffer");
    *n_wanted = nw;
    return 0;
}

uint32_t dfit_cuda_batch_pack(const struct dfit_batch *b, int32_t *in)
{
    const uint32_t n = b->n_tokens;
    memcpy(in + dfit_cuda_in_token(n), b->token, n * sizeof *in);
    memcpy(in + dfit_cuda_in_pos(n), b->pos, n * sizeof *in);
    memcpy(in + dfit_cuda_in_seq(n), b->seq, n * sizeof *in);
    uint32_t nw = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!b->want || b->want[i])
            in[dfit_cuda_in_want(n) + nw++] = (int32_t)i;
    return 3 * n + nw;
}

void *dfit_cuda_graph_find(struct dfit_cuda_graph_cache *c, uint32_t n_tok, uint32_t n_wanted)
{
    for (int i = 0; i < DFIT_CUDA_GRAPH_SLOTS; i++) {
        struct dfit_cuda_graph_entry *e = &c->e[i];
        if (e->n_tok != 0 && e->n_tok == n_tok && e->n_wanted == n_wanted) {
            e->last_use = ++c->clock;
            return e->exec;
        }
    }
    return NULL;
}

void *dfit_cuda_graph_put(struct dfit_cuda_graph_cache *c, uint32_t n_tok, uint32_t n_wanted,
                          void *exec)
{
    int victim = 0;
    for (int i = 0; i < DFIT_CUDA_GRAPH_SLOTS; i++) {
        if (c->e[i].n_tok == 0) {
            victim = i;
            break;
        }
        if (c->e[i].last_use < c->e[victim].last_use)
            victim = i;
    }
    struct dfit_cuda_graph_entry *e = &c->e[victim];
    void *old = e->n_tok != 0 ? e->exec : NULL;
    *e = (struct dfit_cuda_graph_entry){
        .n_tok = n_tok, .n_wanted = n_wanted, .exec = exec, .last_use = ++c->clock};
    return old;
}

void dfit_cuda_graph_clear(struct dfit_cuda_graph_cache *c, void (*destroy)(void *exec))
{
    for (int i = 0; i < DFIT_CUDA_GRAPH_SLOTS; i++) {
        if (c->e[i].n_tok != 0 && destroy)
            destroy(c->e[i].exec);
        c->e[i] = (struct dfit_cuda_graph_entry){0};
    }
    c->clock = 0;
}
