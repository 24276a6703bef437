/* cuda_attn.cu — causal grouped-query attention over the device KV cache
 * (f16 or f32), one block per (token, query head), for decode and prefill
 * alike. The block's 8 warps split the cached positions round-robin, 4
 * positions per warp and step: a warp loads the 4 K rows and the 4 V rows
 * at once (lane d holds elements d, d+32, ... of a row), reduces the 4 dot
 * products with shuffles, and folds them into an online softmax
 * (cuda_layout.h) and its accumulator; the warps' partial states are then
 * merged through shared memory. Memory per block does not grow with the
 * context.
 * Non-goals: tensor-core (flash-attention) tiling for long prefill, split-K
 * over the context for long single-sequence decode, sliding windows.
 */
#include "cuda/cuda_common.cuh"

#define ATTN_WARPS 8
#define ATTN_POS 4                              /* positions per warp and step */
/* ATTN_DPL, head elements per lane, is a template parameter: 2, 4 or 8
 * for head_dim up to 64, 128 or 256 */

template <typename T> __device__ __forceinline__ float kv_to_f32(T v);
template <> __device__ __forceinline__ float kv_to_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ float kv_to_f32<__half>(__half v) { return __half2float(v); }

template <typename T, int ATTN_DPL>
__global__ void __launch_bounds__(ATTN_WARPS * 32)
    attention_kernel(float *__restrict__ out, const float *__restrict__ q,
                     const T *__restrict__ kc, const T *__restrict__ vc, uint32_t n_layer,
                     uint32_t n_ctx, uint32_t il, const int32_t *__restrict__ pos,
                     const int32_t *__restrict__ seq, int n_head, int n_head_kv, int hd, float scale)
{
    __shared__ float sm_m[ATTN_WARPS], sm_l[ATTN_WARPS];
    __shared__ float sm_acc[ATTN_WARPS][DFIT_CU_HEAD_DIM_MAX];

    const int t = blockIdx.x / n_head, h = blockIdx.x % n_head;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int kvh = h / (n_head / n_head_kv);
    const int64_t kv_dim = (int64_t)n_head_kv * hd;
    const int64_t base = (((int64_t)seq[t] * n_layer + il) * n_ctx) * kv_dim + (int64_t)kvh * hd;
    const int n_kv = pos[t] + 1;
    const float *qh = q + ((int64_t)t * n_head + h) * hd;

    float qr[ATTN_DPL], acc[ATTN_DPL];
#pragma unroll
    for (int i = 0; i < ATTN_DPL; i++) {
        const int d = lane + 32 * i;
        qr[i] = d < hd ? qh[d] : 0.0f;
        acc[i] = 0.0f;
    }
    struct dfit_cu_softmax st = {-INFINITY, 0.0f};

    for (int j0 = warp * ATTN_POS; j0 < n_kv; j0 += ATTN_WARPS * ATTN_POS) {
        float kr[ATTN_POS][ATTN_DPL], vr[ATTN_POS][ATTN_DPL];
#pragma unroll
        for (int p = 0; p < ATTN_POS; p++) {
            const bool on = j0 + p < n_kv;
            const T *krow = kc + base + (int64_t)(j0 + p) * kv_dim;
            const T *vrow = vc + base + (int64_t)(j0 + p) * kv_dim;
#pragma unroll
            for (int i = 0; i < ATTN_DPL; i++) {
                const int d = lane + 32 * i;
                const bool ok = on && d < hd;
                kr[p][i] = ok ? kv_to_f32<T>(krow[d]) : 0.0f;
                vr[p][i] = ok ? kv_to_f32<T>(vrow[d]) : 0.0f;
            }
        }
        float s[ATTN_POS];
#pragma unroll
        for (int p = 0; p < ATTN_POS; p++) {
            float part = 0.0f;
#pragma unroll
            for (int i = 0; i < ATTN_DPL; i++)
                part += qr[i] * kr[p][i];
            s[p] = part;
        }
#pragma unroll
        for (int p = 0; p < ATTN_POS; p++)
            s[p] = dfit_warp_sum(s[p]) * scale;
#pragma unroll
        for (int p = 0; p < ATTN_POS; p++) {
            if (j0 + p >= n_kv) /* warp-uniform */
                break;
            float pw;
            const float alpha = dfit_cu_softmax_add(&st, s[p], &pw);
#pragma unroll
            for (int i = 0; i < ATTN_DPL; i++)
                acc[i] = acc[i] * alpha + pw * vr[p][i];
        }
    }

    /* merge the warps' states */
    if (lane == 0) {
        sm_m[warp] = st.m;
        sm_l[warp] = st.l;
    }
#pragma unroll
    for (int i = 0; i < ATTN_DPL; i++) {
        const int d = lane + 32 * i;
        if (d < hd)
            sm_acc[warp][d] = acc[i];
    }
    __syncthreads();
    if (warp != 0)
        return;
    struct dfit_cu_softmax tot = {sm_m[0], sm_l[0]};
    float o[ATTN_DPL];
#pragma unroll
    for (int i = 0; i < ATTN_DPL; i++) {
        const int d = lane + 32 * i;
        o[i] = d < hd ? sm_acc[0][d] : 0.0f;
    }
    for (int w = 1; w < ATTN_WARPS; w++) {
        float fa, fb;
        dfit_cu_softmax_merge(&tot, (struct dfit_cu_softmax){sm_m[w], sm_l[w]}, &fa, &fb);
#pragma unroll
        for (int i = 0; i < ATTN_DPL; i++) {
            const int d = lane + 32 * i;
            if (d < hd)
                o[i] = o[i] * fa + sm_acc[w][d] * fb;
        }
    }
    const float inv = 1.0f / tot.l; /* tot.l >= 1: n_kv >= 1 and the max scores 1 */
    float *oh = out + ((int64_t)t * n_head + h) * hd;
#pragma unroll
    for (int i = 0; i < ATTN_DPL; i++) {
        const int d = lane + 32 * i;
        if (d < hd)
            oh[d] = o[i] * inv;
    }
}

extern "C" int dfit_cuk_attention(float *out, const float *q, const struct dfit_cuda_kv *kv,
                                  uint32_t il, const int32_t *pos, const int32_t *seq, int n_tok,
                                  int n_head, int n_head_kv, int hd, void *stream)
{
    if (hd > DFIT_CU_HEAD_DIM_MAX || hd < 1 || n_head_kv < 1 || n_head % n_head_kv != 0)
        return (int)cudaErrorInvalidValue;
    cudaStream_t st = (cudaStream_t)stream;
    const unsigned grid = (unsigned)n_tok * (unsigned)n_head;
    const float scale = (float)(1.0 / sqrt((double)hd));
    const int dpl = hd <= 64 ? 2 : hd <= 128 ? 4 : 8;
#define DFIT_ATTN_LAUNCH(T, DPL)                                                              \
    attention_kernel<T, DPL><<<grid, ATTN_WARPS * 32, 0, st>>>(                               \
        out, q, (const T *)kv->k, (const T *)kv->v, kv->n_layer, kv->n_ctx, il, pos, seq,     \
        n_head, n_head_kv, hd, scale)
    if (kv->f32) {
        if (dpl == 2)
            DFIT_ATTN_LAUNCH(float, 2);
        else if (dpl == 4)
            DFIT_ATTN_LAUNCH(float, 4);
        else
            DFIT_ATTN_LAUNCH(float, 8);
    } else {
        if (dpl == 2)
            DFIT_ATTN_LAUNCH(__half, 2);
        else if (dpl == 4)
            DFIT_ATTN_LAUNCH(__half, 4);
        else
            DFIT_ATTN_LAUNCH(__half, 8);
    }
#undef DFIT_ATTN_LAUNCH
    return dfit_launch_status();
}
