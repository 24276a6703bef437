/* cuda_plan.c — host-side planning of the CUDA backend (see cuda_plan.h):
 * options, device buffer layout and sizes, matrix-product path, cuBLAS
 * arguments, dequantization tiles, Q8_0/Q4_0 repacking. Pure arithmetic
 * on the model's shapes: no device calls, so all of it is tested on the CPU.
 * Non-goals: allocating or touching device memory.
 */
#include "cuda/cuda_plan.h"

#include "cuda/cuda_kernels.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((int)DFIT_CUK_F32 == (int)DFIT_TYPE_F32 && (int)DFIT_CUK_F16 == (int)DFIT_TYPE_F16 &&
                   (int)DFIT_CUK_BF16 == (int)DFIT_TYPE_BF16 &&
                   (int)DFIT_CUK_Q8_0 == (int)DFIT_TYPE_Q8_0 &&
                   (int)DFIT_CUK_Q4_0 == (int)DFIT_TYPE_Q4_0,
               "cuda_kernels.h type ids are enum dfit_type's");

/* ---- options ------------------------------------------------------------ */

int dfit_cuda_options_parse(const char *s, struct dfit_cuda_options *out, struct dfit_err *err)
{
    struct dfit_cuda_options o = {.mm = DFIT_CUDA_MM_AUTO, .kv = DFIT_CUDA_KV_F16, .graphs = true};
    const char *p = s ? s : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n > 0) {
            char w[32];
            if (n >= sizeof w)
                goto bad;
            memcpy(w, p, n);
            w[n] = '\0';
            if (strcmp(w, "auto") == 0)
                o.mm = DFIT_CUDA_MM_AUTO;
            else if (strcmp(w, "mmv") == 0)
                o.mm = DFIT_CUDA_MM_MMV;
            else if (strcmp(w, "gemm") == 0)
                o.mm = DFIT_CUDA_MM_GEMM;
            else if (strcmp(w, "kv-f16") == 0)
                o.kv = DFIT_CUDA_KV_F16;
            else if (strcmp(w, "kv-f32") == 0)
                o.kv = DFIT_CUDA_KV_F32;
            else if (strcmp(w, "graphs") == 0)
                o.graphs = true;
            else if (strcmp(w, "no-graphs") == 0)
                o.graphs = false;
            else
                goto bad;
        }
        p += n;
        if (*p == ',')
            p++;
        continue;
    bad:
        *out = (struct dfit_cuda_options){0};
        return dfit_err_set(err, DFIT_EUNSUPPORTED,
                            "cuda backend: kernels word '%.*s' not supported (a comma-separated "
                            "list of: auto, mmv, gemm, kv-f16, kv-f32, graphs, no-graphs)",
                            (int)(n > 64 ? 64 : n), p);
    }
    *out = o;
    return 0;
}

void dfit_cuda_options_describe(const struct dfit_cuda_options *o, char *buf, size_t cap)
{
    const char *mm = o->mm == DFIT_CUDA_MM_MMV    ? "mmv"
                     : o->mm == DFIT_CUDA_MM_GEMM ? "cublas"
                                                  : "mmv+cublas";
    snprintf(buf, cap, "%s kv-%s%s", mm, o->kv == DFIT_CUDA_KV_F32 ? "f32" : "f16",
             o->graphs ? " graphs" : "");
}

enum dfit_cuda_mm dfit_cuda_mm_pick(const struct dfit_cuda_options *o, uint32_t n_tok)
{
    if (o->mm != DFIT_CUDA_MM_AUTO)
        return o->mm;
    return n_tok <= DFIT_CUDA_MMV_MAX_TOK ? DFIT_CUDA_MM_MMV : DFIT_CUDA_MM_GEMM;
}

/* ---- sizes -------------------------------------------------------------- */

static uint64_t align_up(uint64_t v)
{
    return (v + DFIT_CUDA_ALIGN - 1) / DFIT_CUDA_ALIGN * DFIT_CUDA_ALIGN;
}

/* *out = a * b, false on overflow. */
static bool mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return false;
    *out = a * b;
    return true;
}

static bool is_quant(enum dfit_type t)
{
    return t == DFIT_TYPE_Q8_0 || t == DFIT_TYPE_Q4_0;
}

/* Sizes of w in the device layout; appends them to *arena. */
static int place(struct dfit_cuda_wplace *p, const struct dfit_weight *w, uint64_t *arena,
                 struct dfit_err *err)
{
    const uint64_t n_out = (uint64_t)w->n_out, n_in = (uint64_t)w->n_in;
    p->w = w;
    switch (w->type) {
    case DFIT_TYPE_F32:
    case DFIT_TYPE_F16:
    case DFIT_TYPE_BF16:
        p->bytes_q = (uint64_t)w->row_bytes * n_out;
        p->bytes_d = 0;
        break;
    case DFIT_TYPE_Q8_0:
    case DFIT_TYPE_Q4_0:
        if (n_in % 32 != 0) /* the model binder guarantees it; checked, not assumed */
            return dfit_err_set(err, DFIT_EINVAL,
                                "cuda backend: tensor '%s': row length %" PRId64
                                " is not a multiple of 32",
                                w->name, w->n_in);
        p->bytes_q = n_out * (w->type == DFIT_TYPE_Q8_0 ? n_in : n_in / 2);
        p->bytes_d = n_out * (n_in / 32) * 2;
        break;
    default:
        return dfit_err_set(err, DFIT_EUNSUPPORTED, "cuda backend: tensor '%s': type %u has no kernels",
                            w->name, (unsigned)w->type);
    }
    p->off_q = *arena;
    *arena = align_up(*arena + p->bytes_q);
    p->off_d = *arena;
    *arena = align_up(*arena + p->bytes_d);
    return 0;
}

static int check_params(const struct dfit_model *m, const struct dfit_backend_params *p,
                        struct dfit_err *err)
{
    if (p->n_ctx < 1 || p->n_ctx > DFIT_CUDA_MAX_CTX)
        return dfit_err_set(err, DFIT_EINVAL, "cuda backend: n_ctx %" PRIu32 " not in [1, %u]",
                            p->n_ctx, DFIT_CUDA_MAX_CTX);
    if (p->n_seq < 1 || p->n_seq > DFIT_CUDA_MAX_SEQ)
        return dfit_err_set(err, DFIT_EINVAL, "cuda backend: n_seq %" PRIu32 " not in [1, %u]",
                            p->n_seq, DFIT_CUDA_MAX_SEQ);
    if (p->n_batch_max < 1 || p->n_batch_max > DFIT_CUDA_MAX_BATCH)
        return dfit_err_set(err, DFIT_EINVAL,
                            "cuda backend: n_batch_max %" PRIu32 " not in [1, %u]", p->n_batch_max,
                            DFIT_CUDA_MAX_BATCH);
    if (m->hp.head_dim > 256)
        return dfit_err_set(err, DFIT_EUNSUPPORTED,
                            "cuda backend: head_dim %" PRIu32
                            " exceeds the attention kernel's 256",
                            m->hp.head_dim);
    if (m->hp.n_head_kv == 0 || m->hp.n_head % m->hp.n_head_kv != 0)
        return dfit_err_set(err, DFIT_EINVAL,
                            "cuda backend: n_head %" PRIu32 " is not a multiple of n_head_kv %" PRIu32,
                            m->hp.n_head, m->hp.n_head_kv);
    return 0;
}

void dfit_cuda_plan_free(struct dfit_cuda_plan *plan)
{
    if (!plan)
        return;
    free(plan->slot);
    memset(plan, 0, sizeof *plan);
}

int dfit_cuda_plan_make(const struct dfit_model *m, const struct dfit_backend_params *p,
                        const struct dfit_cuda_options *o, struct dfit_cuda_plan *out,
                        struct dfit_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_params(m, p, err);
    if (rc)
        return rc;
    const struct dfit_llama_hparams *hp = &m->hp;
    struct dfit_cuda_plan pl = {0};
    pl.n_slots = DFIT_CUDA_W_GLOBALS + DFIT_CUDA_L_COUNT * hp->n_layer;
    pl.slot = calloc(pl.n_slots, sizeof *pl.slot);
    if (!pl.slot)
        return dfit_err_set(err, DFIT_ENOMEM, "cuda backend: out of memory");

    /* weights: each tensor once; a tied output shares the embedding */
    uint64_t arena = 0;
    int64_t max_q_elems = 0, max_q_in = 0;
    for (uint32_t s = 0; s < pl.n_slots; s++) {
        const struct dfit_weight *w;
        if (s < DFIT_CUDA_W_GLOBALS) {
            w = s == DFIT_CUDA_W_TOK_EMBD ? &m->tok_embd
                : s == DFIT_CUDA_W_OUTPUT_NORM ? &m->output_norm
                                               : &m->output;
        } else {
            const struct dfit_llama_layer *L = &m->layers[(s - DFIT_CUDA_W_GLOBALS) / DFIT_CUDA_L_COUNT];
            const struct dfit_weight *lw[DFIT_CUDA_L_COUNT] = {
                &L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo,
                &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down};
            w = lw[(s - DFIT_CUDA_W_GLOBALS) % DFIT_CUDA_L_COUNT];
        }
        if (s == DFIT_CUDA_W_OUTPUT && (m->output_tied || m->output.data == m->tok_embd.data)) {
            pl.slot[s] = pl.slot[DFIT_CUDA_W_TOK_EMBD];
            pl.slot[s].w = w;
            pl.slot[s].alias = true;
        } else if ((rc = place(&pl.slot[s], w, &arena, err))) {
            goto fail;
        }
        if (is_quant(w->type) && s != DFIT_CUDA_W_TOK_EMBD) {
            int64_t e = w->n_in * w->n_out;
            if (e > max_q_elems)
                max_q_elems = e;
            if (w->n_in > max_q_in)
                max_q_in = w->n_in;
            pl.any_quant = true;
        }
        /* bytes one pass reads: everything but the embedding table, of
         * which a pass reads one row per token (as the CPU backend counts) */
        if (s != DFIT_CUDA_W_TOK_EMBD)
            pl.pass_bytes += (uint64_t)w->row_bytes * (uint64_t)w->n_out;
    }
    pl.weight_bytes = arena;

    /* KV caches: [n_seq][n_layer][n_ctx][kv_dim] each */
    pl.kv = o->kv;
    pl.q_dim = (int64_t)hp->n_head * hp->head_dim;
    pl.kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    pl.kv_elem_bytes = o->kv == DFIT_CUDA_KV_F32 ? 4 : 2;
    uint64_t kv_elems, kv_bytes;
    if (!mul_ok((uint64_t)p->n_seq * hp->n_layer, (uint64_t)p->n_ctx, &kv_elems) ||
        !mul_ok(kv_elems, (uint64_t)pl.kv_dim, &kv_elems) ||
        !mul_ok(kv_elems, 2 * pl.kv_elem_bytes, &kv_bytes)) {
        rc = dfit_err_set(err, DFIT_ERANGE,
                          "cuda backend: KV cache size overflows (n_seq %" PRIu32 ", n_ctx %" PRIu32
                          ")",
                          p->n_seq, p->n_ctx);
        goto fail;
    }
    pl.kv_elems = kv_elems;
    pl.kv_bytes = kv_bytes;

    /* workspace; every product below is < 2^62 given the caps of llama.c
     * (n_embd, n_ff <= 2^20, n_vocab <= 2^22) and n_batch_max <= 2^16 */
    const uint64_t nb = p->n_batch_max;
    int64_t max_in = hp->n_embd;
    if (pl.q_dim > max_in)
        max_in = pl.q_dim;
    if ((int64_t)hp->n_ff > max_in)
        max_in = hp->n_ff;
    max_in = (max_in + 31) / 32 * 32;
    pl.max_in = max_in;
    pl.needs_gemm = o->mm == DFIT_CUDA_MM_GEMM ||
                    (o->mm == DFIT_CUDA_MM_AUTO && p->n_batch_max > DFIT_CUDA_MMV_MAX_TOK);
    if (pl.needs_gemm && pl.any_quant) {
        pl.deq_elems = max_q_elems < DFIT_CUDA_DEQ_MAX_ELEMS ? max_q_elems : DFIT_CUDA_DEQ_MAX_ELEMS;
        if (pl.deq_elems < max_q_in)
            pl.deq_elems = max_q_in;
    }
    pl.logits_rows = p->n_batch_max < DFIT_CUDA_LOGITS_CHUNK ? p->n_batch_max : DFIT_CUDA_LOGITS_CHUNK;
    uint64_t sz[DFIT_CUDA_WS_COUNT] = {
        [DFIT_CUDA_WS_X] = nb * hp->n_embd * 4,
        [DFIT_CUDA_WS_XB] = nb * hp->n_embd * 4,
        [DFIT_CUDA_WS_XO] = nb * hp->n_embd * 4,
        [DFIT_CUDA_WS_Q] = nb * (uint64_t)pl.q_dim * 4,
        [DFIT_CUDA_WS_K] = nb * (uint64_t)pl.kv_dim * 4,
        [DFIT_CUDA_WS_V] = nb * (uint64_t)pl.kv_dim * 4,
        [DFIT_CUDA_WS_ATT] = nb * (uint64_t)pl.q_dim * 4,
        [DFIT_CUDA_WS_HB] = nb * hp->n_ff * 4,
        [DFIT_CUDA_WS_HB2] = nb * hp->n_ff * 4,
        [DFIT_CUDA_WS_ACT_Q] = nb * (uint64_t)max_in,
        [DFIT_CUDA_WS_ACT_D] = nb * (uint64_t)(max_in / 32) * 4,
        [DFIT_CUDA_WS_ACT_S] = nb * (uint64_t)(max_in / 32) * 4,
        [DFIT_CUDA_WS_ACT_H] = pl.needs_gemm ? nb * (uint64_t)max_in * 2 : 0,
        [DFIT_CUDA_WS_DEQ] = (uint64_t)pl.deq_elems * 2,
        [DFIT_CUDA_WS_LOGITS] = (uint64_t)pl.logits_rows * hp->n_vocab * 4,
        [DFIT_CUDA_WS_INPUTS] = 4 * nb * 4,
        [DFIT_CUDA_WS_BLAS] = pl.needs_gemm ? DFIT_CUDA_BLAS_WS_BYTES : 0,
    };
    uint64_t ws = 0;
    for (int i = 0; i < DFIT_CUDA_WS_COUNT; i++) {
        pl.ws[i].off = ws;
        pl.ws[i].bytes = sz[i];
        ws = align_up(ws + sz[i]);
    }
    pl.workspace_bytes = ws;
    *out = pl;
    return 0;
fail:
    dfit_cuda_plan_free(&pl);
    return rc;
}

/* ---- cuBLAS arguments and dequantization tiles ----------------------------- */

int dfit_cuda_gemm_args(int64_t n_rows, int64_t n_tok, int64_t n_in, int64_t ldx, int64_t ldo,
                        struct dfit_cuda_gemm *g, struct dfit_err *err)
{
    memset(g, 0, sizeof *g);
    if (n_rows < 1 || n_tok < 1 || n_in < 1 || ldx < n_in || ldo < n_rows)
        return dfit_err_set(err, DFIT_EINVAL,
                            "cuda backend: GEMM of %" PRId64 " rows x %" PRId64 " tokens x %" PRId64
                            " inputs with ldx %" PRId64 ", ldo %" PRId64 " is malformed",
                            n_rows, n_tok, n_in, ldx, ldo);
    if (n_rows > INT_MAX || n_tok > INT_MAX || ldx > INT_MAX || ldo > INT_MAX)
        return dfit_err_set(err, DFIT_ERANGE,
                            "cuda backend: GEMM dimension exceeds cuBLAS's int (%" PRId64
                            " rows, %" PRId64 " tokens, ldx %" PRId64 ", ldo %" PRId64 ")",
                            n_rows, n_tok, ldx, ldo);
    g->m = (int)n_rows;
    g->n = (int)n_tok;
    g->k = (int)n_in;
    g->lda = (int)n_in;
    g->ldb = (int)ldx;
    g->ldc = (int)ldo;
    return 0;
}

int64_t dfit_cuda_deq_rows(int64_t n_in, int64_t n_out, int64_t deq_elems)
{
    int64_t r = n_in > 0 ? deq_elems / n_in : 1;
    if (r < 1)
        r = 1;
    return r < n_out ? r : n_out;
}

/* ---- repacking ------------------------------------------------------------ */

void dfit_cuda_repack_q8_0(const struct dfit_block_q8_0 *src, int64_t n_blocks, int8_t *qs,
                           uint16_t *d)
{
    for (int64_t b = 0; b < n_blocks; b++) {
        memcpy(qs + b * DFIT_QK, src[b].qs, DFIT_QK);
        d[b] = src[b].d;
    }
}

void dfit_cuda_repack_q4_0(const struct dfit_block_q4_0 *src, int64_t n_blocks, uint8_t *qs,
                           uint16_t *d)
{
    for (int64_t b = 0; b < n_blocks; b++) {
        memcpy(qs + b * (DFIT_QK / 2), src[b].qs, DFIT_QK / 2);
        d[b] = src[b].d;
    }
}
