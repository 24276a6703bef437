/* checkpoint.c — training checkpoints and atomic file writes (see
 * checkpoint.h). The header is serialized field by field in little-endian
 * order; the three parameter-sized arrays are written as the host's F32
 * bytes (little-endian hosts only, checked at compile time).
 * Non-goals: reading checkpoints of another version, partial restores.
 */
#include "compress/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoints are written as little-endian F32 arrays"
#endif

/* ---- atomic files ---------------------------------------------------------- */

int dfit_ckpt_file_open(struct dfit_ckpt_file *f, const char *path, struct dfit_err *err)
{
    memset(f, 0, sizeof *f);
    size_t n = strlen(path);
    f->tmp = malloc(n + 5);
    if (!f->tmp)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", path);
    memcpy(f->tmp, path, n);
    memcpy(f->tmp + n, ".tmp", 5);
    f->path = path;
    f->f = fopen(f->tmp, "wb");
    if (!f->f) {
        int rc = dfit_err_set(err, DFIT_EIO, "%s: cannot create '%s': %s", path, f->tmp,
                              strerror(errno));
        free(f->tmp);
        f->tmp = NULL;
        return rc;
    }
    return 0;
}

void dfit_ckpt_file_write(struct dfit_ckpt_file *f, const void *p, size_t n)
{
    if (f->write_errno || n == 0)
        return;
    if (fwrite(p, 1, n, f->f) != n)
        f->write_errno = errno ? errno : EIO;
}

void dfit_ckpt_file_abort(struct dfit_ckpt_file *f)
{
    if (f->f)
        fclose(f->f);
    if (f->tmp) {
        unlink(f->tmp);
        free(f->tmp);
    }
    memset(f, 0, sizeof *f);
}

/* fsync of the directory holding path, so the rename itself is durable. */
static void sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int dfit_ckpt_file_commit(struct dfit_ckpt_file *f, struct dfit_err *err)
{
    int e = f->write_errno;
    const char *what = "write";
    if (!e && fflush(f->f) != 0)
        e = errno, what = "flush";
    if (!e && fsync(fileno(f->f)) != 0)
        e = errno, what = "fsync";
    int closed = fclose(f->f);
    f->f = NULL;
    if (!e && closed != 0)
        e = errno, what = "close";
    if (!e && rename(f->tmp, f->path) != 0)
        e = errno, what = "rename";
    if (e) {
        int rc = dfit_err_set(err, DFIT_EIO, "%s: %s failed: %s", f->path, what, strerror(e));
        dfit_ckpt_file_abort(f);
        return rc;
    }
    sync_dir(f->path);
    free(f->tmp);
    memset(f, 0, sizeof *f);
    return 0;
}

/* ---- header serialization ----------------------------------------------------- */

#define HEADER_MAX 512

struct buf {
    unsigned char b[HEADER_MAX];
    size_t n;      /* bytes written or read so far */
    int overrun;   /* a read or write went past the end */
};

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->n + n > sizeof b->b) {
        b->overrun = 1;
        return;
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void put_u32(struct buf *b, uint32_t v)
{
    unsigned char x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, 4);
}

static void put_u64(struct buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, 8);
}

static void put_f32(struct buf *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(b, v);
}

static const unsigned char *get(struct buf *b, size_t n, size_t limit)
{
    if (b->n + n > limit) {
        b->overrun = 1;
        return NULL;
    }
    const unsigned char *p = b->b + b->n;
    b->n += n;
    return p;
}

static uint32_t get_u32(struct buf *b, size_t limit)
{
    const unsigned char *p = get(b, 4, limit);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24 : 0;
}

static uint64_t get_u64(struct buf *b, size_t limit)
{
    uint64_t lo = get_u32(b, limit);
    return lo | (uint64_t)get_u32(b, limit) << 32;
}

static float get_f32(struct buf *b, size_t limit)
{
    uint32_t v = get_u32(b, limit);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

/* The header: shape, recipe, state, in this order. */
static void put_header(struct buf *b, const struct dfit_synth_shape *s, const struct dfit_train_recipe *r,
                       const struct dfit_train_state *st)
{
    put_u32(b, s->n_embd);
    put_u32(b, s->n_layer);
    put_u32(b, s->n_ff);
    put_u32(b, s->n_head);
    put_u32(b, s->n_head_kv);
    put_u32(b, s->n_vocab);
    put_u32(b, s->n_ctx);
    put_u32(b, s->tied_output ? 1 : 0);
    put_f32(b, s->rms_eps);
    put_f32(b, s->rope_freq_base);

    put_u64(b, r->steps);
    put_u32(b, r->batch);
    put_u32(b, r->seq);
    put_f32(b, r->lr);
    put_f32(b, r->lr_min);
    put_u64(b, r->warmup);
    put_f32(b, r->weight_decay);
    put_f32(b, r->clip);
    put_u64(b, r->seed);
    put(b, r->data_sha256, 64);
    put_u64(b, r->data_tokens);
    put_u32(b, r->all_tokens);
    put_f32(b, r->final_loss);
    put(b, r->parent_sha256, 64);
    put(b, r->parent_name, sizeof r->parent_name);

    put_u64(b, st->step);
    put_u64(b, st->cursor.epoch);
    put_u64(b, st->cursor.index);
    for (int i = 0; i < 4; i++)
        put_u64(b, st->cursor.rng_epoch.s[i]);
    put_u32(b, st->n_losses);
    for (int i = 0; i < DFIT_TRAIN_LOSS_WINDOW; i++)
        put_f32(b, st->losses[i]);
}

static void get_header(struct buf *b, size_t limit, struct dfit_synth_shape *s,
                       struct dfit_train_recipe *r, struct dfit_train_state *st)
{
    s->n_embd = get_u32(b, limit);
    s->n_layer = get_u32(b, limit);
    s->n_ff = get_u32(b, limit);
    s->n_head = get_u32(b, limit);
    s->n_head_kv = get_u32(b, limit);
    s->n_vocab = get_u32(b, limit);
    s->n_ctx = get_u32(b, limit);
    s->tied_output = get_u32(b, limit) != 0;
    s->rms_eps = get_f32(b, limit);
    s->rope_freq_base = get_f32(b, limit);

    r->steps = get_u64(b, limit);
    r->batch = get_u32(b, limit);
    r->seq = get_u32(b, limit);
    r->lr = get_f32(b, limit);
    r->lr_min = get_f32(b, limit);
    r->warmup = get_u64(b, limit);
    r->weight_decay = get_f32(b, limit);
    r->clip = get_f32(b, limit);
    r->seed = get_u64(b, limit);
    const unsigned char *sha = get(b, 64, limit);
    if (sha)
        memcpy(r->data_sha256, sha, 64);
    r->data_sha256[64] = '\0';
    r->data_tokens = get_u64(b, limit);
    r->all_tokens = get_u32(b, limit);
    r->final_loss = get_f32(b, limit);
    const unsigned char *psha = get(b, 64, limit);
    if (psha)
        memcpy(r->parent_sha256, psha, 64);
    r->parent_sha256[64] = '\0';
    const unsigned char *pname = get(b, sizeof r->parent_name, limit);
    if (pname)
        memcpy(r->parent_name, pname, sizeof r->parent_name);
    r->parent_name[sizeof r->parent_name - 1] = '\0';

    st->step = get_u64(b, limit);
    st->cursor.epoch = get_u64(b, limit);
    st->cursor.index = get_u64(b, limit);
    for (int i = 0; i < 4; i++)
        st->cursor.rng_epoch.s[i] = get_u64(b, limit);
    st->n_losses = get_u32(b, limit);
    for (int i = 0; i < DFIT_TRAIN_LOSS_WINDOW; i++)
        st->losses[i] = get_f32(b, limit);
}

/* ---- hashing ------------------------------------------------------------------ */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

static void hashed_write(struct dfit_ckpt_file *f, uint64_t *h, const void *p, size_t n)
{
    *h = fnv1a(*h, p, n);
    dfit_ckpt_file_write(f, p, n);
}

/* ---- save / load ---------------------------------------------------------------- */

int dfit_ckpt_save(const char *path, const struct dfit_train_model *m,
                   const struct dfit_train_recipe *r, const struct dfit_train_state *st,
                   struct dfit_err *err)
{
    struct buf hb = {.n = 0};
    put_header(&hb, &m->shape, r, st);
    if (hb.overrun)
        return dfit_err_set(err, DFIT_EINTERNAL, "%s: checkpoint header too long", path);
    struct dfit_ckpt_file f;
    int rc = dfit_ckpt_file_open(&f, path, err);
    if (rc)
        return rc;
    struct buf pre = {.n = 0};
    put(&pre, DFIT_CKPT_MAGIC, 8);
    put_u32(&pre, DFIT_CKPT_VERSION);
    put_u32(&pre, (uint32_t)hb.n);
    uint64_t h = FNV_INIT;
    hashed_write(&f, &h, pre.b, pre.n);
    hashed_write(&f, &h, hb.b, hb.n);
    struct buf np = {.n = 0};
    put_u64(&np, m->n_params);
    hashed_write(&f, &h, np.b, np.n);
    const size_t bytes = m->n_params * sizeof(float);
    hashed_write(&f, &h, m->params, bytes);
    hashed_write(&f, &h, m->adam_m, bytes);
    hashed_write(&f, &h, m->adam_v, bytes);
    struct buf tail = {.n = 0};
    put_u64(&tail, h);
    dfit_ckpt_file_write(&f, tail.b, tail.n);
    return dfit_ckpt_file_commit(&f, err);
}

static int read_hashed(FILE *fp, uint64_t *h, void *p, size_t n)
{
    if (fread(p, 1, n, fp) != n)
        return -1;
    *h = fnv1a(*h, p, n);
    return 0;
}

int dfit_ckpt_load(const char *path, struct dfit_train_model **out, struct dfit_train_recipe *r,
                   struct dfit_train_state *st, struct dfit_err *err)
{
    *out = NULL;
    struct dfit_train_model *m = NULL;
    struct dfit_synth_shape s;
    int rc = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return dfit_err_set(err, DFIT_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t h = FNV_INIT;
    struct buf pre = {.n = 0}, hb = {.n = 0}, np = {.n = 0};
    if (read_hashed(fp, &h, pre.b, 16) || memcmp(pre.b, DFIT_CKPT_MAGIC, 8) != 0) {
        rc = dfit_err_set(err, DFIT_EINVAL, "%s: not a dfit training checkpoint (magic)", path);
        goto fail;
    }
    pre.n = 8;
    const uint32_t version = get_u32(&pre, 16), header_bytes = get_u32(&pre, 16);
    if (version != DFIT_CKPT_VERSION) {
        rc = dfit_err_set(err, DFIT_EUNSUPPORTED, "%s: checkpoint version %u (this dfit reads %d)",
                          path, version, DFIT_CKPT_VERSION);
        goto fail;
    }
    if (header_bytes > HEADER_MAX || read_hashed(fp, &h, hb.b, header_bytes)) {
        rc = dfit_err_set(err, DFIT_EINVAL, "%s: checkpoint header of %u bytes: truncated or too long",
                          path, header_bytes);
        goto fail;
    }
    get_header(&hb, header_bytes, &s, r, st);
    if (hb.overrun || hb.n != header_bytes || st->n_losses > DFIT_TRAIN_LOSS_WINDOW) {
        rc = dfit_err_set(err, DFIT_EINVAL, "%s: checkpoint header: %u bytes, expected %zu", path,
                          header_bytes, hb.n);
        goto fail;
    }
    if ((rc = dfit_train_model_create(&s, &m, err))) {
        dfit_err_prefix(err, "%s: checkpoint shape", path);
        goto fail;
    }
    if (read_hashed(fp, &h, np.b, 8) || get_u64(&np, 8) != m->n_params) {
        rc = dfit_err_set(err, DFIT_EINVAL, "%s: checkpoint n_params: not %zu (the shape's count)",
                          path, m->n_params);
        goto fail;
    }
    const size_t bytes = m->n_params * sizeof(float);
    unsigned char tail[8];
    struct buf tb = {.n = 0};
    if (read_hashed(fp, &h, m->params, bytes) || read_hashed(fp, &h, m->adam_m, bytes) ||
        read_hashed(fp, &h, m->adam_v, bytes) || fread(tail, 1, 8, fp) != 8) {
        rc = dfit_err_set(err, DFIT_EINVAL, "%s: checkpoint truncated (parameters or moments)", path);
        goto fail;
    }
    memcpy(tb.b, tail, 8);
    if (get_u64(&tb, 8) != h || fgetc(fp) != EOF) {
        rc = dfit_err_set(err, DFIT_EINVAL, "%s: checkpoint corrupt (hash mismatch or trailing bytes)",
                          path);
        goto fail;
    }
    fclose(fp);
    *out = m;
    return 0;
fail:
    fclose(fp);
    dfit_train_model_free(m);
    return rc;
}
