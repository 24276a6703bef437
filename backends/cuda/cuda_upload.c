/* cuda_upload.c — copies a model's weights to the device at load: each
 * tensor, a slab of rows at a time, is copied (float types) or repacked into
 * the split Q8_0/Q4_0 layout (cuda_plan.h) in one of two pinned staging
 * buffers, and sent with an asynchronous copy while the other buffer is
 * being filled. The time from the first row to the last copy's completion is
 * the load report's prepare_ns.
 * Non-goals: sparse layouts (pruned files are uploaded dense), reading the
 * file in parallel, keeping the staging buffers after load.
 */
#include <inttypes.h>
#include <string.h>

#include "cuda/cuda_ctx.h"
#include "util/clock.h"

#define STAGE_BYTES ((size_t)64 << 20)

struct stager {
    uint8_t *buf[2];     /* pinned host buffers of STAGE_BYTES */
    cudaEvent_t done[2]; /* the copies out of buf[i] finished */
    int next;
};

/* The next free staging buffer (waits for its previous copies). */
static int stage_take(struct stager *s, uint8_t **buf, struct dfit_err *err)
{
    int i = s->next;
    cudaError_t e = cudaEventSynchronize(s->done[i]);
    if (e != cudaSuccess)
        return dfit_cuda_fail(err, (int)e, "waiting for a weight copy");
    *buf = s->buf[i];
    return 0;
}

/* Marks the current buffer's copies as enqueued and moves to the other. */
static int stage_give(struct stager *s, cudaStream_t st, struct dfit_err *err)
{
    cudaError_t e = cudaEventRecord(s->done[s->next], st);
    if (e != cudaSuccess)
        return dfit_cuda_fail(err, (int)e, "recording a weight copy");
    s->next ^= 1;
    return 0;
}

static int copy_async(struct cuda_ctx *c, uint64_t dev_off, const void *src, size_t n,
                      const char *name, struct dfit_err *err)
{
    cudaError_t e = cudaMemcpyAsync(c->d_weights + dev_off, src, n, cudaMemcpyHostToDevice, c->stream);
    if (e != cudaSuccess) {
        dfit_cuda_fail(err, (int)e, "copying a weight to the device");
        return dfit_err_prefix(err, "tensor '%s'", name);
    }
    return 0;
}

/* Uploads one tensor, slab by slab. */
static int upload_one(struct cuda_ctx *c, struct stager *s, const struct dfit_cuda_wplace *wp,
                      struct dfit_err *err)
{
    const struct dfit_weight *w = wp->w;
    const bool quant = w->type == DFIT_TYPE_Q8_0 || w->type == DFIT_TYPE_Q4_0;
    const int64_t nb = w->n_in / DFIT_QK;
    /* device bytes per row: quants (or the row) and scales */
    const size_t q_row = quant ? (size_t)(w->type == DFIT_TYPE_Q8_0 ? w->n_in : w->n_in / 2)
                               : w->row_bytes;
    const size_t d_row = quant ? (size_t)nb * 2 : 0;
    /* slab: rows whose quants, padded to 256 bytes, and scales fit a buffer
     * (one row always fits: rows are at most 4 MiB, llama.c's caps) */
    int64_t rows = (int64_t)((STAGE_BYTES - 256) / (q_row + d_row));
    if (rows < 1)
        rows = 1;
    for (int64_t r0 = 0; r0 < w->n_out; r0 += rows) {
        const int64_t nr = w->n_out - r0 < rows ? w->n_out - r0 : rows;
        uint8_t *buf = NULL;
        int rc = stage_take(s, &buf, err);
        if (rc)
            return rc;
        const uint8_t *src = (const uint8_t *)w->data + (size_t)r0 * w->row_bytes;
        const size_t qn = (size_t)nr * q_row, q_pad = (qn + 255) / 256 * 256;
        if (w->type == DFIT_TYPE_Q8_0)
            dfit_cuda_repack_q8_0((const struct dfit_block_q8_0 *)src, nr * nb, (int8_t *)buf,
                                  (uint16_t *)(buf + q_pad));
        else if (w->type == DFIT_TYPE_Q4_0)
            dfit_cuda_repack_q4_0((const struct dfit_block_q4_0 *)src, nr * nb, buf,
                                  (uint16_t *)(buf + q_pad));
        else
            memcpy(buf, src, qn);
        rc = copy_async(c, wp->off_q + (uint64_t)r0 * q_row, buf, qn, w->name, err);
        if (rc == 0 && quant)
            rc = copy_async(c, wp->off_d + (uint64_t)r0 * d_row, buf + q_pad, (size_t)nr * d_row,
                            w->name, err);
        if (rc == 0)
            rc = stage_give(s, c->stream, err);
        if (rc)
            return rc;
    }
    return 0;
}

int dfit_cuda_upload(struct cuda_ctx *c, uint64_t *ns, struct dfit_err *err)
{
    struct stager s = {0};
    int rc = 0;
    cudaError_t e;
    const uint64_t t0 = dfit_now_ns();
    for (int i = 0; i < 2; i++) {
        if ((e = cudaHostAlloc((void **)&s.buf[i], STAGE_BYTES, cudaHostAllocDefault)) != cudaSuccess) {
            s.buf[i] = NULL;
            rc = dfit_cuda_fail(err, (int)e, "allocating pinned staging memory for the upload");
            goto out;
        }
        if ((e = cudaEventCreateWithFlags(&s.done[i], cudaEventDisableTiming)) != cudaSuccess) {
            s.done[i] = NULL;
            rc = dfit_cuda_fail(err, (int)e, "creating an upload event");
            goto out;
        }
    }
    for (uint32_t i = 0; i < c->plan.n_slots; i++) {
        const struct dfit_cuda_wplace *wp = &c->plan.slot[i];
        c->wd[i] = (struct dfit_cuda_wdev){
            .type = (int)wp->w->type,
            .n_in = wp->w->n_in,
            .n_out = wp->w->n_out,
            .q = c->d_weights + wp->off_q,
            .d = wp->bytes_d ? (const uint16_t *)(c->d_weights + wp->off_d) : NULL,
        };
        if (!wp->alias && (rc = upload_one(c, &s, wp, err)) != 0)
            goto out;
    }
    if ((e = cudaStreamSynchronize(c->stream)) != cudaSuccess)
        rc = dfit_cuda_fail(err, (int)e, "waiting for the weight upload");
out:
    /* the copies must finish before their staging buffers go */
    cudaStreamSynchronize(c->stream);
    for (int i = 0; i < 2; i++) {
        if (s.done[i])
            cudaEventDestroy(s.done[i]);
        if (s.buf[i])
            cudaFreeHost(s.buf[i]);
    }
    *ns = dfit_now_ns() - t0;
    return rc;
}
