/* synth.c — random-weight llama GGUF files (see synth.h).
 *
 * Every tensor is generated while the writer streams the file: its fill
 * callback produces the tensor row by row as F32 and encodes each row with
 * dfit_row_from_f32, so the F32 form of a large model never exists in
 * memory, and a model synthesized as type T equals the F32 model converted
 * to T bit for bit. Each row has its own random stream, seeded by
 * (seed, tensor name, row index), so neither generation order nor thread
 * count changes a single bit.
 *
 * Initialization: every matrix is N(0, 1/n_in) with n_in = ne[0] (its row
 * length), the token embedding included. For the projections this keeps
 * every output coordinate O(1) when the input has RMS 1 (which the RMS norms
 * ensure). For the embedding the scale only sets the residual stream's start
 * (layer inputs are normalized), and with a tied output it makes the logits
 * O(1) — a std-1 embedding would give logits of std sqrt(n_embd), a nearly
 * one-hot softmax. Norm weights are 1 + N(0, 0.02^2).
 * Non-goals: trained weights, other architectures.
 */
#include "compress/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress/convert.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "util/rng.h"
#include "util/threadpool.h"

#define NORM_JITTER 0.02f
#define MAX_THREADS 32
#define PAR_MIN_ELEMENTS (1 << 16) /* smaller tensors are generated inline */

/* caps: generous for real models, small enough that products stay sane */
#define CAP_EMBD 65536u
#define CAP_LAYER 1024u
#define CAP_FF (1u << 20)
#define CAP_HEAD 1024u
#define CAP_VOCAB (1u << 22)
#define CAP_CTX (1u << 24)

struct preset {
    const char *name;
    struct dfit_synth_shape shape;
};

/* n_embd, n_layer, n_ff, n_head, n_head_kv, n_vocab, n_ctx, tied, eps, rope base */
static const struct preset presets[] = {
    {"tiny", {64, 2, 128, 4, 2, 320, 128, false, 1e-5f, 10000.0f}},
    {"15m", {288, 6, 768, 6, 6, 32000, 256, true, 1e-5f, 10000.0f}},
    {"110m", {768, 12, 2048, 12, 12, 32000, 1024, false, 1e-5f, 10000.0f}},
    {"1b", {2048, 16, 8192, 32, 8, 128256, 131072, true, 1e-5f, 500000.0f}},
};
#define N_PRESETS (sizeof presets / sizeof presets[0])

int dfit_synth_preset(const char *name, struct dfit_synth_shape *out, struct dfit_err *err)
{
    for (size_t i = 0; i < N_PRESETS; i++) {
        if (name && strcmp(name, presets[i].name) == 0) {
            *out = presets[i].shape;
            return 0;
        }
    }
    char list[128] = "";
    for (size_t i = 0; i < N_PRESETS; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, presets[i].name, sizeof list - strlen(list) - 1);
    }
    return dfit_err_set(err, DFIT_ENOTFOUND, "synth preset '%s': unknown (presets: %s)",
                        name ? name : "(null)", list);
}

const char *dfit_synth_preset_of(const struct dfit_synth_shape *s)
{
    for (size_t i = 0; i < N_PRESETS; i++) {
        const struct dfit_synth_shape *p = &presets[i].shape;
        if (p->n_embd == s->n_embd && p->n_layer == s->n_layer && p->n_ff == s->n_ff &&
            p->n_head == s->n_head && p->n_head_kv == s->n_head_kv && p->n_vocab == s->n_vocab &&
            p->n_ctx == s->n_ctx && p->tied_output == s->tied_output && p->rms_eps == s->rms_eps &&
            p->rope_freq_base == s->rope_freq_base)
            return presets[i].name;
    }
    return NULL;
}

static int check_range(const char *field, uint32_t v, uint32_t cap, struct dfit_err *err)
{
    if (v == 0 || v > cap)
        return dfit_err_set(err, DFIT_EINVAL, "synth shape: %s = %u, must be in 1..%u", field, v, cap);
    return 0;
}

int dfit_synth_shape_check(const struct dfit_synth_shape *s, struct dfit_err *err)
{
    int rc;
    if ((rc = check_range("n_embd (--dim)", s->n_embd, CAP_EMBD, err)) ||
        (rc = check_range("n_layer (--layers)", s->n_layer, CAP_LAYER, err)) ||
        (rc = check_range("n_ff (--ffn)", s->n_ff, CAP_FF, err)) ||
        (rc = check_range("n_head (--heads)", s->n_head, CAP_HEAD, err)) ||
        (rc = check_range("n_head_kv (--kv-heads)", s->n_head_kv, CAP_HEAD, err)) ||
        (rc = check_range("n_vocab (--vocab)", s->n_vocab, CAP_VOCAB, err)) ||
        (rc = check_range("n_ctx (--ctx)", s->n_ctx, CAP_CTX, err)))
        return rc;
    if (s->n_embd % s->n_head != 0)
        return dfit_err_set(err, DFIT_EINVAL,
                            "synth shape: n_embd (--dim) = %u is not a multiple of n_head (--heads) = %u",
                            s->n_embd, s->n_head);
    if ((s->n_embd / s->n_head) % 2 != 0)
        return dfit_err_set(err, DFIT_EINVAL,
                            "synth shape: head_dim = n_embd / n_head = %u must be even (RoPE rotates pairs)",
                            s->n_embd / s->n_head);
    if (s->n_head % s->n_head_kv != 0)
        return dfit_err_set(err, DFIT_EINVAL,
                            "synth shape: n_head (--heads) = %u is not a multiple of n_head_kv (--kv-heads) = %u",
                            s->n_head, s->n_head_kv);
    if (s->n_embd % DFIT_QK != 0)
        return dfit_err_set(err, DFIT_EINVAL,
                            "synth shape: n_embd (--dim) = %u is not a multiple of %d (quantized row blocks)",
                            s->n_embd, DFIT_QK);
    if (s->n_ff % DFIT_QK != 0)
        return dfit_err_set(err, DFIT_EINVAL,
                            "synth shape: n_ff (--ffn) = %u is not a multiple of %d (quantized row blocks)",
                            s->n_ff, DFIT_QK);
    if (s->n_vocab < 259)
        return dfit_err_set(err, DFIT_EINVAL,
                            "synth shape: n_vocab (--vocab) = %u, must be >= 259 (3 control + 256 byte tokens)",
                            s->n_vocab);
    if (!(s->rms_eps > 0.0f) || !isfinite(s->rms_eps))
        return dfit_err_set(err, DFIT_EINVAL, "synth shape: rms_eps = %g, must be finite and > 0",
                            (double)s->rms_eps);
    if (!(s->rope_freq_base > 0.0f) || !isfinite(s->rope_freq_base))
        return dfit_err_set(err, DFIT_EINVAL, "synth shape: rope_freq_base = %g, must be finite and > 0",
                            (double)s->rope_freq_base);
    return 0;
}

uint64_t dfit_synth_n_params(const struct dfit_synth_shape *s)
{
    uint64_t d = s->n_embd, hd = s->n_head ? s->n_embd / s->n_head : 0;
    uint64_t q = (uint64_t)s->n_head * hd, kv = (uint64_t)s->n_head_kv * hd;
    uint64_t layer = 2 * d                 /* attn_norm, ffn_norm */
                     + d * q + 2 * d * kv  /* attn_q, attn_k, attn_v */
                     + q * d               /* attn_output */
                     + 3 * d * s->n_ff;    /* ffn_gate, ffn_up, ffn_down */
    uint64_t embd = d * s->n_vocab;
    return embd + s->n_layer * layer + d + (s->tied_output ? 0 : embd);
}

/* ---- generation -------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The stream of one tensor: seed and FNV-1a of the name, mixed. */
static uint64_t tensor_seed(uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return mix64(mix64(seed) ^ h);
}

/* n normals of standard deviation std (Box-Muller, both outputs used). */
static void gen_normal(struct dfit_rng *r, float *x, int64_t n, float std)
{
    for (int64_t i = 0; i < n; i += 2) {
        float u1 = (float)((dfit_rng_u64(r) >> 40) + 1) * (1.0f / 16777216.0f); /* (0, 1] */
        float u2 = (float)(dfit_rng_u64(r) >> 40) * (1.0f / 16777216.0f);       /* [0, 1) */
        float rad = std * sqrtf(-2.0f * logf(u1));
        float th = 6.2831853f * u2;
        x[i] = rad * cosf(th);
        if (i + 1 < n)
            x[i + 1] = rad * sinf(th);
    }
}

struct synth_ctx {
    uint64_t seed;
    struct dfit_threadpool *tp;   /* owned */
    float *scratch;               /* [n_threads][max_row] */
    int64_t max_row;
};

struct fill_job {
    struct synth_ctx *c;
    enum dfit_type type;
    int64_t n_in;          /* row length */
    int64_t n_rows;
    size_t row_bytes;
    uint64_t tseed;
    bool is_norm;
    uint8_t *dst;          /* [n_rows][row_bytes] */
};

static void fill_rows(void *arg, int ith, int nth)
{
    struct fill_job *j = arg;
    float *row = j->c->scratch + (size_t)ith * (size_t)j->c->max_row; /* [n_in] */
    long lo, hi;
    dfit_split_range((long)j->n_rows, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        struct dfit_rng rng;
        dfit_rng_seed(&rng, mix64(j->tseed + 0x9e3779b97f4a7c15ull * (uint64_t)(r + 1)));
        if (j->is_norm) {
            gen_normal(&rng, row, j->n_in, NORM_JITTER);
            for (int64_t i = 0; i < j->n_in; i++)
                row[i] += 1.0f;
        } else {
            gen_normal(&rng, row, j->n_in, 1.0f / sqrtf((float)j->n_in));
        }
        dfit_row_from_f32(j->type, row, j->dst + (size_t)r * j->row_bytes, j->n_in);
    }
}

static int fill_tensor(void *user, const struct dfit_gguf_tensor *t, void *dst, struct dfit_err *err)
{
    struct synth_ctx *c = user;
    struct fill_job j = {
        .c = c,
        .type = t->type,
        .n_in = t->ne[0],
        .n_rows = (int64_t)(t->n_elements / (uint64_t)t->ne[0]),
        .tseed = tensor_seed(c->seed, t->name.data),
        .is_norm = t->n_dims == 1,
        .dst = dst,
    };
    if (j.n_in > c->max_row || !dfit_type_row_bytes(t->type, j.n_in, &j.row_bytes) ||
        j.row_bytes * (uint64_t)j.n_rows != t->n_bytes)
        return dfit_err_set(err, DFIT_EINTERNAL, "synth: tensor '%s': unexpected shape or size",
                            t->name.data);
    if (t->n_elements < PAR_MIN_ELEMENTS || dfit_threadpool_size(c->tp) == 1)
        fill_rows(&j, 0, 1);
    else
        dfit_threadpool_run(c->tp, fill_rows, &j);
    return 0;
}

/* ---- the file ---------------------------------------------------------- */

static int add_tensor(struct dfit_gguf_writer *w, const char *name, enum dfit_type type, int64_t ne0,
                      int64_t ne1, struct synth_ctx *c, struct dfit_err *err)
{
    int64_t ne[2] = {ne0, ne1};
    return dfit_gguf_writer_add_tensor(w, name, ne1 ? type : DFIT_TYPE_F32, ne1 ? 2 : 1, ne, NULL,
                                       fill_tensor, c, err);
}

static int add_tensors(struct dfit_gguf_writer *w, const struct dfit_synth_params *p, struct synth_ctx *c,
                       struct dfit_err *err)
{
    const struct dfit_synth_shape *s = &p->shape;
    int64_t d = s->n_embd, hd = s->n_embd / s->n_head;
    int64_t q = s->n_head * hd, kv = s->n_head_kv * hd, ff = s->n_ff, v = s->n_vocab;
    int rc;
    char name[64];
    if ((rc = add_tensor(w, "token_embd.weight", p->type, d, v, c, err)))
        return rc;
    const struct {
        const char *suffix;
        int64_t ne0, ne1; /* {n_in, n_out}; ne1 0: an F32 norm vector */
    } layer[] = {
        {"attn_norm", d, 0}, {"attn_q", d, q},   {"attn_k", d, kv},  {"attn_v", d, kv},   {"attn_output", q, d},
        {"ffn_norm", d, 0},  {"ffn_gate", d, ff}, {"ffn_up", d, ff}, {"ffn_down", ff, d},
    };
    for (uint32_t l = 0; l < s->n_layer; l++) {
        for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++) {
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, layer[i].suffix);
            if ((rc = add_tensor(w, name, p->type, layer[i].ne0, layer[i].ne1, c, err)))
                return rc;
        }
    }
    if ((rc = add_tensor(w, "output_norm.weight", p->type, d, 0, c, err)))
        return rc;
    if (!s->tied_output && (rc = add_tensor(w, "output.weight", p->type, d, v, c, err)))
        return rc;
    return 0;
}

static int add_metadata(struct dfit_gguf_writer *w, const struct dfit_synth_params *p,
                        struct dfit_err *err)
{
    const struct dfit_synth_shape *s = &p->shape;
    const char *preset = dfit_synth_preset_of(s);
    char name[96];
    if (p->name)
        snprintf(name, sizeof name, "%s", p->name);
    else
        snprintf(name, sizeof name, "dfit-synth-%s", preset ? preset : "custom");
    int rc;
    if ((rc = dfit_gguf_writer_set_str(w, "general.architecture", "llama", err)) ||
        (rc = dfit_gguf_writer_set_str(w, "general.name", name, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "general.file_type", dfit_convert_file_type(p->type), err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.context_length", s->n_ctx, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.embedding_length", s->n_embd, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.block_count", s->n_layer, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.feed_forward_length", s->n_ff, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.rope.dimension_count", s->n_embd / s->n_head, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.attention.head_count", s->n_head, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.attention.head_count_kv", s->n_head_kv, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", s->rms_eps, err)) ||
        (rc = dfit_gguf_writer_set_f32(w, "llama.rope.freq_base", s->rope_freq_base, err)) ||
        (rc = dfit_gguf_writer_set_u32(w, "llama.vocab_size", s->n_vocab, err)))
        return rc;
    if ((rc = dfit_tokenizer_write_byte_vocab(w, s->n_vocab, err)))
        return rc;
    char shape[256];
    snprintf(shape, sizeof shape,
             "dim=%u layers=%u heads=%u kv_heads=%u ffn=%u vocab=%u ctx=%u tied=%s rms_eps=%g rope_base=%g",
             s->n_embd, s->n_layer, s->n_head, s->n_head_kv, s->n_ff, s->n_vocab, s->n_ctx,
             s->tied_output ? "true" : "false", (double)s->rms_eps, (double)s->rope_freq_base);
    if ((rc = dfit_gguf_writer_set_str(w, "dfit.recipe.method", "synth", err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.recipe.type", dfit_type_info(p->type)->name, err)) ||
        (rc = dfit_gguf_writer_set_u64(w, "dfit.synth.seed", p->seed, err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.synth.preset", preset ? preset : "custom", err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.synth.shape", shape, err)) ||
        (rc = dfit_gguf_writer_set_str(w, "dfit.synth.init",
                                       "matrices N(0, 1/n_in) incl. token_embd; norms 1 + N(0, 0.02^2)",
                                       err)))
        return rc;
    return 0;
}

static int n_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > MAX_THREADS ? MAX_THREADS : (int)n;
}

int dfit_synth_write(const struct dfit_synth_params *p, const char *path, struct dfit_err *err)
{
    struct dfit_gguf_writer *w = NULL;
    struct synth_ctx c = {.seed = p->seed};
    int rc;
    if ((rc = dfit_synth_shape_check(&p->shape, err)))
        goto fail;
    if (!dfit_type_info(p->type)) {
        rc = dfit_err_set(err, DFIT_EUNSUPPORTED, "synth: tensor type id %u is not supported",
                          (unsigned)p->type);
        goto fail;
    }
    const struct dfit_synth_shape *s = &p->shape;
    c.max_row = s->n_embd > s->n_ff ? s->n_embd : s->n_ff;
    if ((rc = dfit_threadpool_create(n_cpus(), &c.tp, err)))
        goto fail;
    c.scratch = malloc((size_t)dfit_threadpool_size(c.tp) * (size_t)c.max_row * sizeof(float));
    if (!c.scratch) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "synth: out of memory");
        goto fail;
    }
    if ((rc = dfit_gguf_writer_create(&w, err)) || (rc = add_metadata(w, p, err)) ||
        (rc = add_tensors(w, p, &c, err)) || (rc = dfit_gguf_writer_write(w, path, err)))
        goto fail;
    rc = 0;
fail:
    if (rc && err && !strstr(err->msg, path))
        dfit_err_prefix(err, "%s", path);
    dfit_gguf_writer_free(w);
    dfit_threadpool_free(c.tp);
    free(c.scratch);
    return rc;
}
