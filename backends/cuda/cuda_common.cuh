/* cuda_common.cuh — device helpers shared by the CUDA kernel files: warp
 * reductions, the launch-status convention of cuda_kernels.h, grid sizing.
 * Non-goals: operators (cuda_ops.cu, cuda_mmv.cu, cuda_attn.cu).
 */
#ifndef DFIT_BACKENDS_CUDA_COMMON_CUH
#define DFIT_BACKENDS_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda/cuda_kernels.h"
#include "cuda/cuda_layout.h"

#define DFIT_FULL_MASK 0xffffffffu

__device__ __forceinline__ float dfit_warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(DFIT_FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ int dfit_warp_sum_int(int v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(DFIT_FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float dfit_warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(DFIT_FULL_MASK, v, o));
    return v;
}

/* Sum over a block of blockDim.x threads (a multiple of 32, <= 1024); every
 * thread gets the total. `red` is shared scratch of 32 floats. */
__device__ __forceinline__ float dfit_block_sum(float v, float *red)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int n_warps = (int)blockDim.x / 32;
    v = dfit_warp_sum(v);
    __syncthreads(); /* red may still be read from a previous call */
    if (lane == 0)
        red[warp] = v;
    __syncthreads();
    v = lane < n_warps ? red[lane] : 0.0f;
    return dfit_warp_sum(v);
}

/* The status of the launches just made: 0 or the cudaError_t. */
static inline int dfit_launch_status(void)
{
    return (int)cudaGetLastError();
}

/* Blocks for a grid-stride loop over n items, block threads each. */
static inline unsigned dfit_grid_for(int64_t n, int threads)
{
    int64_t b = (n + threads - 1) / threads;
    if (b < 1)
        b = 1;
    if (b > (1 << 20))
        b = 1 << 20;
    return (unsigned)b;
}

/* Element i of row r of weight w, any type, as f32. */
__device__ __forceinline__ float dfit_weight_get(const dfit_cuda_wdev &w, int64_t r, int64_t i)
{
    switch (w.type) {
    case DFIT_CUK_F32:
        return ((const float *)w.q)[r * w.n_in + i];
    case DFIT_CUK_F16:
        return __half2float(((const __half *)w.q)[r * w.n_in + i]);
    case DFIT_CUK_BF16:
        return dfit_cu_bf16_to_f32(((const uint16_t *)w.q)[r * w.n_in + i]);
    case DFIT_CUK_Q8_0:
        return dfit_cu_q8_0_get((const int8_t *)w.q, w.d, w.n_in, r, i);
    case DFIT_CUK_Q4_0:
        return dfit_cu_q4_0_get((const uint8_t *)w.q, w.d, w.n_in, r, i);
    default:
        return 0.0f;
    }
}

#endif
