/* cuda_ops.cu — the elementwise and row-wise CUDA kernels of the forward
 * pass (see cuda_kernels.h): embedding lookup, fused residual add +
 * RMSNorm, RoPE with the K/V store into the caches, SwiGLU, Q8_0
 * activation quantization, f16/bf16 conversion, dequantization tiles for
 * the cuBLAS path, row gathers and benchmark fills. Arithmetic shared with
 * the host lives in cuda_layout.h.
 * Non-goals: matrix products (cuda_mmv.cu, cuBLAS), attention (cuda_attn.cu).
 */
#include "cuda/cuda_common.cuh"

/* ---- embedding ------------------------------------------------------------ */

__global__ void embed_kernel(float *out, dfit_cuda_wdev w, const int32_t *tok)
{
    const int t = blockIdx.x;
    const int64_t r = tok[t];
    for (int64_t i = threadIdx.x; i < w.n_in; i += blockDim.x)
        out[(int64_t)t * w.n_in + i] = dfit_weight_get(w, r, i);
}

extern "C" int dfit_cuk_embed(float *out, const struct dfit_cuda_wdev *w, const int32_t *tok,
                              int n_tok, void *stream)
{
    embed_kernel<<<n_tok, 256, 0, (cudaStream_t)stream>>>(out, *w, tok);
    return dfit_launch_status();
}

/* ---- residual add + RMSNorm ----------------------------------------------- */

__global__ void add_rmsnorm_kernel(float *out, float *x, const float *xo, const float *w, int n,
                                   float eps)
{
    __shared__ float red[32];
    const int64_t row = (int64_t)blockIdx.x * n;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = x[row + i];
        if (xo) {
            v += xo[row + i];
            x[row + i] = v;
        }
        ss += v * v;
    }
    ss = dfit_block_sum(ss, red);
    const float scale = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        out[row + i] = x[row + i] * scale * w[i];
}

extern "C" int dfit_cuk_add_rmsnorm(float *out, float *x, const float *xo, const float *w,
                                    int n_rows, int n, float eps, void *stream)
{
    const int threads = n >= 4096 ? 1024 : n >= 1024 ? 512 : 256;
    add_rmsnorm_kernel<<<n_rows, threads, 0, (cudaStream_t)stream>>>(out, x, xo, w, n, eps);
    return dfit_launch_status();
}

__global__ void add_kernel(float *x, const float *xo, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] += xo[i];
}

extern "C" int dfit_cuk_add(float *x, const float *xo, int64_t n, void *stream)
{
    add_kernel<<<dfit_grid_for(n, 256), 256, 0, (cudaStream_t)stream>>>(x, xo, n);
    return dfit_launch_status();
}

/* ---- RoPE and the K/V store ------------------------------------------------ */

template <typename T> __device__ __forceinline__ T kv_from_f32(float v);
template <> __device__ __forceinline__ float kv_from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __half kv_from_f32<__half>(float v)
{
    return __float2half_rn(v);
}

/* One block per token: rotate the pairs of q and k, store k and v. */
template <typename T>
__global__ void rope_store_kernel(float *q, const float *k, const float *v, T *kc, T *vc,
                                  uint32_t n_layer, uint32_t n_ctx, uint32_t il, const int32_t *pos,
                                  const int32_t *seq, int n_head, int n_head_kv, int hd,
                                  float freq_base)
{
    const int t = blockIdx.x;
    const int32_t p = pos[t];
    const int q_dim = n_head * hd, kv_dim = n_head_kv * hd;
    const int64_t row = (((int64_t)seq[t] * n_layer + il) * n_ctx + p) * kv_dim;
    for (int j = threadIdx.x; j < (q_dim + kv_dim) / 2; j += blockDim.x) {
        const bool is_q = j < q_dim / 2;
        const int e = 2 * (is_q ? j : j - q_dim / 2); /* first element of the pair */
        float c, s;
        dfit_cu_rope_cs(p, (e % hd) / 2, hd, freq_base, &c, &s);
        if (is_q) {
            float *x = q + (int64_t)t * q_dim + e;
            const float x0 = x[0], x1 = x[1];
            x[0] = x0 * c - x1 * s;
            x[1] = x0 * s + x1 * c;
        } else {
            const float *x = k + (int64_t)t * kv_dim + e;
            const float x0 = x[0], x1 = x[1];
            kc[row + e] = kv_from_f32<T>(x0 * c - x1 * s);
            kc[row + e + 1] = kv_from_f32<T>(x0 * s + x1 * c);
        }
    }
    for (int j = threadIdx.x; j < kv_dim; j += blockDim.x)
        vc[row + j] = kv_from_f32<T>(v[(int64_t)t * kv_dim + j]);
}

extern "C" int dfit_cuk_rope_store(float *q, float *k, const float *v, const struct dfit_cuda_kv *kv,
                                   uint32_t il, const int32_t *pos, const int32_t *seq, int n_tok,
                                   int n_head, int n_head_kv, int hd, float freq_base, void *stream)
{
    cudaStream_t st = (cudaStream_t)stream;
    if (kv->f32)
        rope_store_kernel<float><<<n_tok, 256, 0, st>>>(q, k, v, (float *)kv->k, (float *)kv->v,
                                                        kv->n_layer, kv->n_ctx, il, pos, seq,
                                                        n_head, n_head_kv, hd, freq_base);
    else
        rope_store_kernel<__half><<<n_tok, 256, 0, st>>>(q, k, v, (__half *)kv->k, (__half *)kv->v,
                                                         kv->n_layer, kv->n_ctx, il, pos, seq,
                                                         n_head, n_head_kv, hd, freq_base);
    return dfit_launch_status();
}

/* ---- SwiGLU -------------------------------------------------------------- */

__global__ void swiglu_kernel(float *out, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

extern "C" int dfit_cuk_swiglu(float *out, const float *gate, const float *up, int64_t n,
                               void *stream)
{
    swiglu_kernel<<<dfit_grid_for(n, 256), 256, 0, (cudaStream_t)stream>>>(out, gate, up, n);
    return dfit_launch_status();
}

/* ---- Q8_0 activations ---------------------------------------------------- */

/* One warp per block of 32 elements, one element per lane. */
__global__ void quantize_q8_kernel(int8_t *q, float *d, int32_t *s, const float *x,
                                   int64_t n_blocks)
{
    const int64_t b = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (b >= n_blocks) /* whole warps leave together: n_blocks counts warps */
        return;
    const float v = x[b * 32 + lane];
    const float amax = dfit_warp_max(fabsf(v));
    float id;
    const float db = dfit_cu_q8_scale(amax, &id);
    const int qv = dfit_cu_q8_quant(v, id);
    q[b * 32 + lane] = (int8_t)qv;
    const int sum = dfit_warp_sum_int(qv);
    if (lane == 0) {
        d[b] = db;
        s[b] = sum;
    }
}

extern "C" int dfit_cuk_quantize_q8(int8_t *q, float *d, int32_t *s, const float *x, int n_rows,
                                    int64_t n, void *stream)
{
    /* rows are contiguous and n % 32 == 0, so the blocks of all rows are
     * simply consecutive */
    const int64_t n_blocks = (int64_t)n_rows * (n / 32);
    const int64_t threads = n_blocks * 32;
    const unsigned grid = (unsigned)((threads + 255) / 256);
    quantize_q8_kernel<<<grid, 256, 0, (cudaStream_t)stream>>>(q, d, s, x, n_blocks);
    return dfit_launch_status();
}

/* ---- conversions --------------------------------------------------------- */

__global__ void to_half_kernel(uint16_t *y, int bf16, const float *x, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        y[i] = bf16 ? __bfloat16_as_ushort(__float2bfloat16_rn(x[i]))
                    : __half_as_ushort(__float2half_rn(x[i]));
}

extern "C" int dfit_cuk_to_half(uint16_t *y, int bf16, const float *x, int64_t n, void *stream)
{
    to_half_kernel<<<dfit_grid_for(n, 256), 256, 0, (cudaStream_t)stream>>>(y, bf16, x, n);
    return dfit_launch_status();
}

__global__ void dequant_f16_kernel(uint16_t *y, dfit_cuda_wdev w, int64_t r0, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = r0 + i / w.n_in, c = i % w.n_in;
        y[i] = __half_as_ushort(__float2half_rn(dfit_weight_get(w, r, c)));
    }
}

extern "C" int dfit_cuk_dequant_f16(uint16_t *y, const struct dfit_cuda_wdev *w, int64_t r0,
                                    int64_t n_rows, void *stream)
{
    const int64_t n = n_rows * w->n_in;
    dequant_f16_kernel<<<dfit_grid_for(n, 256), 256, 0, (cudaStream_t)stream>>>(y, *w, r0, n);
    return dfit_launch_status();
}

__global__ void gather_rows_kernel(float *dst, const float *src, const int32_t *idx, int64_t n)
{
    const int64_t r = blockIdx.x;
    const int64_t from = idx[r];
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        dst[r * n + i] = src[from * n + i];
}

extern "C" int dfit_cuk_gather_rows(float *dst, const float *src, const int32_t *idx, int n_rows,
                                    int64_t n, void *stream)
{
    gather_rows_kernel<<<n_rows, 256, 0, (cudaStream_t)stream>>>(dst, src, idx, n);
    return dfit_launch_status();
}

/* ---- benchmark data ------------------------------------------------------ */

__device__ __forceinline__ uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

__global__ void fill_uniform_kernel(void *y, int bf16, int64_t n, uint32_t seed)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const uint32_t h = hash32((uint32_t)i ^ hash32(seed ^ (uint32_t)(i >> 32)));
        const float v = (float)(h >> 8) * (2.0f / 16777216.0f) - 1.0f;
        if (bf16)
            ((__nv_bfloat16 *)y)[i] = __float2bfloat16_rn(v);
        else
            ((float *)y)[i] = v;
    }
}

extern "C" int dfit_cuk_fill_uniform(void *y, int bf16, int64_t n, uint32_t seed, void *stream)
{
    fill_uniform_kernel<<<dfit_grid_for(n, 256), 256, 0, (cudaStream_t)stream>>>(y, bf16, n, seed);
    return dfit_launch_status();
}

/* ---- launch check ---------------------------------------------------------- */

__global__ void noop_kernel(int *p)
{
    if (p)
        *p = 1;
}

extern "C" int dfit_cuk_check_launch(void *stream)
{
    noop_kernel<<<1, 32, 0, (cudaStream_t)stream>>>(nullptr);
    int rc = dfit_launch_status();
    if (rc == 0)
        rc = (int)cudaStreamSynchronize((cudaStream_t)stream);
    return rc;
}
