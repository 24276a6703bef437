/* cpu_backend.c — the CPU backend: a complete llama forward pass (batched
 * prefill and decode of several sequences) with an F32 KV cache per
 * sequence, run either
 *   - by the reference operators in ref_ops.c (kernels "ref"): the
 *     correctness oracle for every faster kernel and backend; or
 *   - by a fast kernel set (kernels.h; "auto", "scalar", "avx2",
 *     "avx512"), chosen at load from the CPU's features: matrix products
 *     through matmul.c's driver (Q, K and V in one parallel region, gate
 *     and up in another), RoPE angles computed once per batch, attention
 *     parallel over (token, head), and the last layer's feed-forward only
 *     for the tokens whose logits are wanted.
 * With kernels NULL the environment variable DFIT_CPU_KERNELS picks the
 * set (for benchmarks), else "auto".
 * Weights keep their own format. The reference path reads them from the
 * model's mapping; the fast path from a copy on huge pages (resident.h;
 * "SET+mmap" keeps the mapping). Q8_0/Q4_0 weights meet activations
 * quantized once per row to Q8_0, as llama.cpp does.
 * Pruned matrices may be repacked at load into sparse layouts with their
 * own kernels (sparse.h; off with kernels "SET+dense" or DFIT_CPU_SPARSE=0).
 * Kernels string: SET[+dense][+mmap].
 * Non-goals: other weight repacking at load, KV-cache quantization,
 * sequence copying or shifting.
 */
#include "backend.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "cpu/cpu_ctx.h"
#include "cpu/cpu_features.h"
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "cpu/ref_ops.h"
#include "cpu/resident.h"
#include "util/clock.h"
#include "util/fmt.h"
#include "util/threadpool.h"

/* Sanity caps on load parameters. */
#define CPU_MAX_CTX (1u << 20)
#define CPU_MAX_SEQ 4096u
#define CPU_MAX_BATCH (1u << 16)
#define CPU_MAX_THREADS 1024


/* ---- probe ----------------------------------------------------------- */

static int cpu_probe(struct dfit_device_list *out, struct dfit_err *err)
{
    (void)err;
    const struct dfit_cpu_features *f = dfit_cpu_features();
    memset(out, 0, sizeof *out);
    out->n = 1;
    snprintf(out->dev[0].name, sizeof out->dev[0].name, "%s (%s)",
             f->model[0] ? f->model : "unknown CPU", dfit_cpu_features_level(f));
    struct sysinfo si;
    if (sysinfo(&si) == 0)
        out->dev[0].memory_bytes = (uint64_t)si.totalram * si.mem_unit;
    return 0;
}

/* ---- load / unload --------------------------------------------------- */

static void cpu_unload(void *p)
{
    struct cpu_ctx *c = p;
    if (!c)
        return;
    dfit_threadpool_free(c->tp);
    free(c->k_cache);
    free(c->v_cache);
    free(c->seq_len);
    free(c->seq_next);
    free(c->x);
    free(c->xb);
    free(c->xo);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att_out);
    free(c->hb);
    free(c->hb2);
    free(c->act_q8);
    free(c->att);
    free(c->k_rows);
    free(c->v_rows);
    free(c->n_kv);
    dfit_mm_free(c->mm);
    dfit_sparse_free(c->sparse);
    dfit_resident_free(c->resident);
    free(c->rope_cs);
    free(c->out_idx);
    free(c->tiles);
    free(c->att_fast);
    free(c);
}

static int check_params(const struct dfit_backend_params *p, struct dfit_err *err)
{
    if (p->n_ctx < 1 || p->n_ctx > CPU_MAX_CTX)
        return dfit_err_set(err, DFIT_EINVAL, "cpu backend: n_ctx %" PRIu32 " not in [1, %u]",
                            p->n_ctx, CPU_MAX_CTX);
    if (p->n_seq < 1 || p->n_seq > CPU_MAX_SEQ)
        return dfit_err_set(err, DFIT_EINVAL, "cpu backend: n_seq %" PRIu32 " not in [1, %u]",
                            p->n_seq, CPU_MAX_SEQ);
    if (p->n_batch_max < 1 || p->n_batch_max > CPU_MAX_BATCH)
        return dfit_err_set(err, DFIT_EINVAL,
                            "cpu backend: n_batch_max %" PRIu32 " not in [1, %u]",
                            p->n_batch_max, CPU_MAX_BATCH);
    if (p->n_threads > CPU_MAX_THREADS)
        return dfit_err_set(err, DFIT_EINVAL, "cpu backend: n_threads %d exceeds %d",
                            p->n_threads, CPU_MAX_THREADS);
    if (p->device && p->device[0] && strcmp(p->device, "cpu") != 0 &&
        strcmp(p->device, "0") != 0 && strcmp(p->device, "cpu:0") != 0) {
        struct dfit_device_list dl;
        cpu_probe(&dl, NULL);
        if (strcmp(p->device, dl.dev[0].name) != 0)
            return dfit_err_set(err, DFIT_ENOTFOUND,
                                "cpu backend: device '%.64s' not found (choices: cpu, 0, cpu:0, "
                                "'%s')",
                                p->device, dl.dev[0].name);
    }
    return 0;
}

/* Allocates n elements of `size` bytes, adding them to *total; NULL on
 * overflow or failure. */
static void *alloc_n(uint64_t n, size_t size, uint64_t *total)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / size)
        return NULL;
    *total += n * size;
    return calloc((size_t)n, size);
}

static uint64_t weight_bytes(const struct dfit_weight *w)
{
    return (uint64_t)w->row_bytes * (uint64_t)w->n_out;
}

/* Bytes read by one forward pass over one token: every layer's tensors,
 * the final norm and the output matrix (token_embd is read one row per
 * token, so it counts only when tied as the output matrix). */
static uint64_t pass_bytes(const struct dfit_model *m)
{
    uint64_t b = weight_bytes(&m->output_norm) + weight_bytes(&m->output);
    for (uint32_t il = 0; il < m->hp.n_layer; il++) {
        const struct dfit_llama_layer *L = &m->layers[il];
        b += weight_bytes(&L->attn_norm) + weight_bytes(&L->wq) + weight_bytes(&L->wk) +
             weight_bytes(&L->wv) + weight_bytes(&L->wo) + weight_bytes(&L->ffn_norm) +
             weight_bytes(&L->w_gate) + weight_bytes(&L->w_up) + weight_bytes(&L->w_down);
    }
    return b;
}

/* The kernel choice: the parameter, else DFIT_CPU_KERNELS, else "auto". */
static const char *kernels_wanted(const struct dfit_backend_params *p)
{
    if (p->kernels && p->kernels[0])
        return p->kernels;
    const char *env = getenv("DFIT_CPU_KERNELS");
    return env && env[0] ? env : "auto";
}

/* Whether a sparse repack replaces w outright (its dense bytes are then
 * never streamed, so they are not copied into resident memory). BLOCKS
 * repacks serve decode only: prefill still reads the dense matrix. */
static bool replaced_by_repack(void *user, const struct dfit_weight *w)
{
    const struct dfit_sparse *s = user;
    const struct dfit_sparse_mat *sm = s ? dfit_sparse_find(s, w) : NULL;
    return sm && sm->layout != DFIT_SPARSE_BLOCKS;
}

static int cpu_load(const struct dfit_model *m, const struct dfit_backend_params *p, void **out,
                    struct dfit_load_report *r, struct dfit_err *err)
{
    *out = NULL;
    int rc = check_params(p, err);
    if (rc)
        return rc;
    char set_r[40], set[40]; /* the kernel set without its "+mmap", then "+dense" */
    const bool resident_on = dfit_resident_wanted(kernels_wanted(p), set_r, sizeof set_r);
    const bool sparse_on = dfit_sparse_wanted(set_r, set, sizeof set);
    const char *want = set;
    struct dfit_kern kern;
    const bool kern_on = strcmp(want, "ref") != 0;
    if (kern_on && (rc = dfit_kern_select(want, dfit_cpu_features(), &kern, err)))
        return rc;
    const struct dfit_llama_hparams *hp = &m->hp;
    struct cpu_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return dfit_err_set(err, DFIT_ENOMEM, "cpu backend: out of memory");
    c->m = m;
    c->n_ctx = p->n_ctx;
    c->n_seq = p->n_seq;
    c->n_batch_max = p->n_batch_max;
    c->observe = p->observe;
    c->observe_user = p->observe_user;
    c->q_dim = (int64_t)hp->n_head * hp->head_dim;
    c->kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    int n_threads = p->n_threads > 0 ? p->n_threads : 1;
    if ((rc = dfit_threadpool_create(n_threads, &c->tp, err)))
        goto fail;

    /* hparams are capped (llama.c), so these products fit in 64 bits */
    uint64_t kv_elems = (uint64_t)p->n_seq * hp->n_layer * p->n_ctx * (uint64_t)c->kv_dim;
    c->k_cache = alloc_n(kv_elems, sizeof(float), &c->kv_bytes);
    c->v_cache = alloc_n(kv_elems, sizeof(float), &c->kv_bytes);
    if (!c->k_cache || !c->v_cache) {
        char buf[32];
        rc = dfit_err_set(err, DFIT_ENOMEM,
                          "cpu backend: cannot allocate the KV cache (%s for n_seq %" PRIu32
                          ", n_ctx %" PRIu32 ")",
                          dfit_fmt_bytes(buf, sizeof buf, 2 * kv_elems * sizeof(float)),
                          p->n_seq, p->n_ctx);
        goto fail;
    }

    const uint64_t nb = p->n_batch_max;
    uint64_t max_in = hp->n_embd;
    if ((uint64_t)c->q_dim > max_in)
        max_in = (uint64_t)c->q_dim;
    if (hp->n_ff > max_in)
        max_in = hp->n_ff;
    uint64_t *ws = &c->workspace_bytes;
    c->seq_len = alloc_n(p->n_seq, sizeof *c->seq_len, ws);
    c->seq_next = alloc_n(p->n_seq, sizeof *c->seq_next, ws);
    c->x = alloc_n(nb * hp->n_embd, sizeof(float), ws);
    c->xb = alloc_n(nb * hp->n_embd, sizeof(float), ws);
    c->xo = alloc_n(nb * hp->n_embd, sizeof(float), ws);
    c->q = alloc_n(nb * (uint64_t)c->q_dim, sizeof(float), ws);
    c->k = alloc_n(nb * (uint64_t)c->kv_dim, sizeof(float), ws);
    c->v = alloc_n(nb * (uint64_t)c->kv_dim, sizeof(float), ws);
    c->att_out = alloc_n(nb * (uint64_t)c->q_dim, sizeof(float), ws);
    c->hb = alloc_n(nb * hp->n_ff, sizeof(float), ws);
    c->hb2 = alloc_n(nb * hp->n_ff, sizeof(float), ws);
    c->act_q8 = alloc_n(dfit_ref_act_bytes((int64_t)nb, (int64_t)max_in), 1, ws);
    c->att = alloc_n((uint64_t)n_threads * p->n_ctx, sizeof(float), ws);
    c->k_rows = alloc_n(nb, sizeof *c->k_rows, ws);
    c->v_rows = alloc_n(nb, sizeof *c->v_rows, ws);
    c->n_kv = alloc_n(nb, sizeof *c->n_kv, ws);
    if (!c->seq_len || !c->seq_next || !c->x || !c->xb || !c->xo || !c->q || !c->k || !c->v ||
        !c->att_out || !c->hb || !c->hb2 || !c->act_q8 || !c->att || !c->k_rows || !c->v_rows ||
        !c->n_kv) {
        rc = dfit_err_set(err, DFIT_ENOMEM,
                          "cpu backend: cannot allocate scratch for n_batch_max %" PRIu32,
                          p->n_batch_max);
        goto fail;
    }
    if (kern_on) {
        c->kern_on = true;
        c->kern = kern;
        uint64_t mm_bytes = 0;
        if ((rc = dfit_mm_create(&c->kern, c->tp, (int64_t)nb, (int64_t)max_in, &c->mm, &mm_bytes,
                                 err)))
            goto fail;
        c->workspace_bytes += mm_bytes;
        c->rope_cs = alloc_n(nb * hp->head_dim, sizeof(float), ws);
        c->out_idx = alloc_n(nb, sizeof *c->out_idx, ws);
        c->tiles = alloc_n(nb + 1, sizeof *c->tiles, ws);
        c->att_stride = ((int64_t)p->n_ctx + 15) / 16 * 16;
        c->att_fast = alloc_n((uint64_t)n_threads * DFIT_ATTN_QT * (uint64_t)c->att_stride,
                              sizeof(float), ws);
        if (!c->rope_cs || !c->out_idx || !c->tiles || !c->att_fast) {
            rc = dfit_err_set(err, DFIT_ENOMEM,
                              "cpu backend: cannot allocate scratch for n_batch_max %" PRIu32,
                              p->n_batch_max);
            goto fail;
        }
    }
    c->weight_bytes = pass_bytes(m);
    uint64_t prepare_ns = 0;
    if (kern_on && sparse_on) {
        /* pruned matrices repacked into sparse layouts: timed as preparation */
        const uint64_t t0 = dfit_now_ns();
        if ((rc = dfit_sparse_create(m, c->kern.name, c->tp, (int64_t)nb, (int64_t)max_in,
                                     &c->sparse, err)))
            goto fail;
        if (c->sparse) {
            prepare_ns = dfit_now_ns() - t0;
            c->weight_bytes += c->sparse->bytes - c->sparse->dense_bytes;
            c->workspace_bytes += c->sparse->scratch_bytes;
        }
    }
    if (kern_on && resident_on) {
        /* the streamed matrices copied onto huge pages (resident.h): timed too */
        const uint64_t t0 = dfit_now_ns();
        const bool q4_x4 = c->kern.fmt[DFIT_KFMT_Q4_0_X4].rows != NULL;
        rc = dfit_resident_create(m, c->tp, q4_x4, replaced_by_repack, c->sparse, &c->resident,
                                  err);
        if (rc == DFIT_ENOMEM) {
            /* no room for a second copy (a memory-capped target): read the
             * mapping, as "+mmap" would; the kernels string says so */
            dfit_err_clear(err);
            rc = 0;
        } else if (rc) {
            goto fail;
        }
        prepare_ns += dfit_now_ns() - t0;
        if (c->resident) {
            c->m = &c->resident->model;
            if (c->sparse)
                c->sparse->m = c->m; /* its lookups go by the layer array's addresses */
        }
    }

    if (r) {
        memset(r, 0, sizeof *r);
        r->prepare_ns = prepare_ns; /* sparse repacks and the resident copy */
        r->weight_bytes = c->weight_bytes;
        r->kv_bytes = c->kv_bytes;
        r->workspace_bytes = c->workspace_bytes;
        const int len = snprintf(r->kernels, sizeof r->kernels, "%s%s%s",
                                 kern_on ? c->kern.name : "ref", c->sparse ? c->sparse->summary : "",
                                 kern_on && !c->resident ? "+mmap" : "");
        if (len < 0 || (size_t)len >= sizeof r->kernels) /* cannot happen: 16 + 96 + 5 */
            r->kernels[sizeof r->kernels - 1] = '\0';
    }
    *out = c;
    return 0;
fail:
    cpu_unload(c);
    return rc;
}

/* ---- forward --------------------------------------------------------- */

/* Checks the whole batch before anything is computed, so a rejected batch
 * leaves every cache as it was. */
static int check_batch(struct cpu_ctx *c, const struct dfit_batch *b, const float *logits,
                       struct dfit_err *err)
{
    if (!b || b->n_tokens == 0)
        return dfit_err_set(err, DFIT_EINVAL, "cpu backend: empty batch");
    if (b->n_tokens > c->n_batch_max)
        return dfit_err_set(err, DFIT_EINVAL,
                            "cpu backend: batch of %" PRIu32 " tokens exceeds n_batch_max %" PRIu32,
                            b->n_tokens, c->n_batch_max);
    if (!b->token || !b->pos || !b->seq)
        return dfit_err_set(err, DFIT_EINVAL, "cpu backend: batch without token, pos or seq");
    const uint32_t n_vocab = c->m->hp.n_vocab;
    memcpy(c->seq_next, c->seq_len, c->n_seq * sizeof *c->seq_next);
    uint32_t n_wanted = 0;
    for (uint32_t i = 0; i < b->n_tokens; i++) {
        int32_t tok = b->token[i], pos = b->pos[i], s = b->seq[i];
        if (tok < 0 || (uint32_t)tok >= n_vocab)
            return dfit_err_set(err, DFIT_EINVAL,
                                "cpu backend: batch token %" PRIu32 ": id %" PRId32
                                " not in [0, %" PRIu32 ")",
                                i, tok, n_vocab);
        if (s < 0 || (uint32_t)s >= c->n_seq)
            return dfit_err_set(err, DFIT_EINVAL,
                                "cpu backend: batch token %" PRIu32 ": sequence %" PRId32
                                " not in [0, %" PRIu32 ")",
                                i, s, c->n_seq);
        if (pos < 0 || (uint32_t)pos != c->seq_next[s])
            return dfit_err_set(err, DFIT_EINVAL,
                                "cpu backend: batch token %" PRIu32 ": position %" PRId32
                                " of sequence %" PRId32 ", expected %" PRIu32
                                " (positions must continue the sequence contiguously)",
                                i, pos, s, c->seq_next[s]);
        if ((uint32_t)pos >= c->n_ctx)
            return dfit_err_set(err, DFIT_EINVAL,
                                "cpu backend: batch token %" PRIu32 ": position %" PRId32
                                " of sequence %" PRId32 " does not fit n_ctx %" PRIu32,
                                i, pos, s, c->n_ctx);
        c->seq_next[s]++;
        if (!b->want || b->want[i])
            n_wanted++;
    }
    if (n_wanted > 0 && !logits)
        return dfit_err_set(err, DFIT_EINVAL, "cpu backend: logits wanted but no output buffer");
    return 0;
}

/* One transformer block over the n tokens of the batch, on c->x. */
static void block_forward(struct cpu_ctx *c, const struct dfit_batch *b, uint32_t il)
{
    const struct dfit_llama_hparams *hp = &c->m->hp;
    const struct dfit_llama_layer *L = &c->m->layers[il];
    const int64_t n = b->n_tokens, d = hp->n_embd;
    struct dfit_threadpool *tp = c->tp;

    /* attention */
    observe(c, il, "attn_norm", c->x, n, d);
    for (int64_t i = 0; i < n; i++)
        dfit_ref_rmsnorm(c->xb + i * d, c->x + i * d, L->attn_norm.data, d, hp->rms_eps);
    observe(c, il, "attn_q", c->xb, n, d);
    const void *act = dfit_ref_prepare_act(c->act_q8, c->xb, L->wq.type, n, d, tp);
    dfit_ref_matmul_act(c->q, act, &L->wq, n, tp);
    if (dfit_type_wants_q8_act(L->wk.type) != dfit_type_wants_q8_act(L->wq.type))
        act = dfit_ref_prepare_act(c->act_q8, c->xb, L->wk.type, n, d, tp);
    dfit_ref_matmul_act(c->k, act, &L->wk, n, tp);
    if (dfit_type_wants_q8_act(L->wv.type) != dfit_type_wants_q8_act(L->wk.type))
        act = dfit_ref_prepare_act(c->act_q8, c->xb, L->wv.type, n, d, tp);
    dfit_ref_matmul_act(c->v, act, &L->wv, n, tp);

    for (int64_t i = 0; i < n; i++) {
        dfit_ref_rope(c->q + i * c->q_dim, (int)hp->n_head, (int)hp->head_dim, b->pos[i],
                      hp->rope_freq_base);
        dfit_ref_rope(c->k + i * c->kv_dim, (int)hp->n_head_kv, (int)hp->head_dim, b->pos[i],
                      hp->rope_freq_base);
        float *kc = cache_slice(c, c->k_cache, b->seq[i], il);
        float *vc = cache_slice(c, c->v_cache, b->seq[i], il);
        memcpy(kc + (size_t)b->pos[i] * c->kv_dim, c->k + i * c->kv_dim,
               (size_t)c->kv_dim * sizeof(float));
        memcpy(vc + (size_t)b->pos[i] * c->kv_dim, c->v + i * c->kv_dim,
               (size_t)c->kv_dim * sizeof(float));
        c->k_rows[i] = kc;
        c->v_rows[i] = vc;
        c->n_kv[i] = (int64_t)b->pos[i] + 1; /* causal: positions 0..pos */
    }
    dfit_ref_attention(c->att_out, c->q, c->k_rows, c->v_rows, c->n_kv, n, (int)hp->n_head,
                       (int)hp->n_head_kv, (int)hp->head_dim, c->att, c->n_ctx, tp);
    observe(c, il, "attn_output", c->att_out, n, c->q_dim);
    dfit_ref_matmul(c->xo, c->att_out, &L->wo, n, c->act_q8, tp);
    dfit_ref_add(c->x, c->xo, n * d);

    /* feed-forward (SwiGLU) */
    for (int64_t i = 0; i < n; i++)
        dfit_ref_rmsnorm(c->xb + i * d, c->x + i * d, L->ffn_norm.data, d, hp->rms_eps);
    observe(c, il, "ffn_gate", c->xb, n, d);
    act = dfit_ref_prepare_act(c->act_q8, c->xb, L->w_gate.type, n, d, tp);
    dfit_ref_matmul_act(c->hb, act, &L->w_gate, n, tp);
    if (dfit_type_wants_q8_act(L->w_up.type) != dfit_type_wants_q8_act(L->w_gate.type))
        act = dfit_ref_prepare_act(c->act_q8, c->xb, L->w_up.type, n, d, tp);
    dfit_ref_matmul_act(c->hb2, act, &L->w_up, n, tp);
    dfit_ref_swiglu(c->hb, c->hb, c->hb2, n * hp->n_ff);
    observe(c, il, "ffn_down", c->hb, n, hp->n_ff);
    dfit_ref_matmul(c->xo, c->hb, &L->w_down, n, c->act_q8, tp);
    dfit_ref_add(c->x, c->xo, n * d);
}

static int cpu_forward(void *p, const struct dfit_batch *b, float *logits, struct dfit_err *err)
{
    struct cpu_ctx *c = p;
    int rc = check_batch(c, b, logits, err);
    if (rc)
        return rc;
    if (c->kern_on) {
        dfit_cpu_forward_fast(c, b, logits);
        memcpy(c->seq_len, c->seq_next, c->n_seq * sizeof *c->seq_len);
        return 0;
    }
    const struct dfit_model *m = c->m;
    const int64_t n = b->n_tokens, d = m->hp.n_embd;

    for (int64_t i = 0; i < n; i++)
        dfit_ref_embed(c->x + i * d, &m->tok_embd, b->token[i]);
    for (uint32_t il = 0; il < m->hp.n_layer; il++)
        block_forward(c, b, il);
    observe(c, m->hp.n_layer, "output_norm", c->x, n, d);

    /* final norm of the wanted tokens, gathered, then the output matrix */
    int64_t n_wanted = 0;
    for (int64_t i = 0; i < n; i++)
        if (!b->want || b->want[i])
            dfit_ref_rmsnorm(c->xb + (n_wanted++) * d, c->x + i * d, m->output_norm.data, d,
                             m->hp.rms_eps);
    if (n_wanted > 0)
        dfit_ref_matmul(logits, c->xb, &m->output, n_wanted, c->act_q8, c->tp);

    memcpy(c->seq_len, c->seq_next, c->n_seq * sizeof *c->seq_len);
    return 0;
}

/* ---- state ----------------------------------------------------------- */

static int cpu_seq_reset(void *p, int32_t seq)
{
    struct cpu_ctx *c = p;
    if (seq >= 0 && (uint32_t)seq >= c->n_seq)
        return DFIT_EINVAL;
    if (seq < 0)
        memset(c->seq_len, 0, c->n_seq * sizeof *c->seq_len);
    else
        c->seq_len[seq] = 0;
    return 0;
}

static int cpu_memory(void *p, struct dfit_memory *out)
{
    const struct cpu_ctx *c = p;
    memset(out, 0, sizeof *out);
    out->weight_bytes = c->m->weight_bytes; /* the whole mapping stays resident */
    if (c->sparse)
        out->weight_bytes += c->sparse->bytes; /* and the sparse repacks beside it */
    out->kv_bytes = c->kv_bytes;
    out->workspace_bytes = c->workspace_bytes;
    return 0;
}

const struct dfit_backend_ops dfit_backend_cpu = {
    .name = "cpu",
    .probe = cpu_probe,
    .load = cpu_load,
    .forward = cpu_forward,
    .seq_reset = cpu_seq_reset,
    .memory = cpu_memory,
    .sync = NULL,
    .unload = cpu_unload,
};
