/* cuda_mmv.cu — matrix-vector kernels for decode (1 to 8 activation rows),
 * one per weight format, each reading the format's own device layout
 * (cuda_layout.h) with 128-bit loads, one warp per weight row, every row
 * read once for all the activation rows of the call:
 *   F32/F16/BF16  16 bytes of the row per lane and step, widened to f32 and
 *                 multiplied with f32 activations (float4 loads);
 *   Q8_0          16 quants per lane and step against the Q8_0 activation
 *                 quants with __dp4a; the two halves of a block meet by a
 *                 shuffle, so each block's integer sum is exact before it is
 *                 scaled by d_w*d_x (as the CPU reference);
 *   Q4_0          one block (16 bytes) per lane and step, nibbles unpacked
 *                 to bytes with masks, __dp4a against the activation quants,
 *                 the -8 offset applied as -8*sum(x_q) from the activation's
 *                 precomputed block sums.
 * Non-goals: large batches (cuBLAS takes those, cuda_blas.c), sparse layouts.
 */
#include "cuda/cuda_common.cuh"

#define MMV_WARPS 4 /* rows (warps) per block */

/* ---- float weights -------------------------------------------------------- */

template <typename T> struct vec_of;
template <> struct vec_of<float> {
    static constexpr int n = 4;
    static __device__ __forceinline__ void unpack(const uint4 &u, float *f)
    {
        f[0] = __uint_as_float(u.x);
        f[1] = __uint_as_float(u.y);
        f[2] = __uint_as_float(u.z);
        f[3] = __uint_as_float(u.w);
    }
    static __device__ __forceinline__ float one(const float *p) { return *p; }
};
template <> struct vec_of<__half> {
    static constexpr int n = 8;
    static __device__ __forceinline__ void unpack(const uint4 &u, float *f)
    {
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const float2 v = __half22float2(*reinterpret_cast<const __half2 *>(&w[i]));
            f[2 * i] = v.x;
            f[2 * i + 1] = v.y;
        }
    }
    static __device__ __forceinline__ float one(const __half *p) { return __half2float(*p); }
};
template <> struct vec_of<uint16_t> { /* bf16 bits */
    static constexpr int n = 8;
    static __device__ __forceinline__ void unpack(const uint4 &u, float *f)
    {
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            f[2 * i] = __uint_as_float(w[i] << 16);
            f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
        }
    }
    static __device__ __forceinline__ float one(const uint16_t *p)
    {
        return __uint_as_float((uint32_t)*p << 16);
    }
};

template <typename T, int NC, bool VEC>
__global__ void __launch_bounds__(MMV_WARPS * 32)
    mmv_float_kernel(float *__restrict__ out, int64_t ldo, const T *__restrict__ W, int64_t n_in,
                     int64_t n_out, const float *__restrict__ x, int64_t ldx)
{
    const int lane = threadIdx.x % 32;
    const int64_t row = (int64_t)blockIdx.x * MMV_WARPS + threadIdx.x / 32;
    if (row >= n_out) /* the whole warp: row is uniform in it */
        return;
    float acc[NC];
#pragma unroll
    for (int t = 0; t < NC; t++)
        acc[t] = 0.0f;
    if (VEC) { /* n_in % 8 == 0 and ldx % 4 == 0: every access 16-byte aligned */
        constexpr int EPV = vec_of<T>::n;
        const uint4 *wr = reinterpret_cast<const uint4 *>(W + row * n_in);
        const int64_t n_vec = n_in / EPV;
#pragma unroll 4
        for (int64_t c = lane; c < n_vec; c += 32) {
            float wf[EPV];
            vec_of<T>::unpack(__ldg(wr + c), wf);
#pragma unroll
            for (int t = 0; t < NC; t++) {
                const float4 *xr = reinterpret_cast<const float4 *>(x + t * ldx + c * EPV);
#pragma unroll
                for (int e = 0; e < EPV / 4; e++) {
                    const float4 xv = xr[e];
                    acc[t] += wf[4 * e] * xv.x + wf[4 * e + 1] * xv.y + wf[4 * e + 2] * xv.z +
                              wf[4 * e + 3] * xv.w;
                }
            }
        }
    } else {
        for (int64_t i = lane; i < n_in; i += 32) {
            const float wv = vec_of<T>::one(W + row * n_in + i);
#pragma unroll
            for (int t = 0; t < NC; t++)
                acc[t] += wv * x[t * ldx + i];
        }
    }
#pragma unroll
    for (int t = 0; t < NC; t++) {
        const float v = dfit_warp_sum(acc[t]);
        if (lane == 0)
            out[t * ldo + row] = v;
    }
}

/* ---- Q8_0 ------------------------------------------------------------------ */

template <int NC>
__global__ void __launch_bounds__(MMV_WARPS * 32)
    mmv_q8_0_kernel(float *__restrict__ out, int64_t ldo, const int8_t *__restrict__ qs,
                    const uint16_t *__restrict__ dw, int64_t n_in, int64_t n_out,
                    const int8_t *__restrict__ xq, const float *__restrict__ xd, int64_t ldx)
{
    const int lane = threadIdx.x % 32;
    const int64_t row = (int64_t)blockIdx.x * MMV_WARPS + threadIdx.x / 32;
    if (row >= n_out)
        return;
    const int64_t nb = n_in / 32, n_chunks = n_in / 16, ldb = ldx / 32;
    const int4 *wr = reinterpret_cast<const int4 *>(qs + row * n_in);
    const uint16_t *dr = dw + row * nb;
    const bool even = (lane & 1) == 0;
    float acc[NC];
#pragma unroll
    for (int t = 0; t < NC; t++)
        acc[t] = 0.0f;
    /* chunk c (16 quants) is half h = c & 1 of block c / 2; since the step
     * is even, the two halves of a block are in lanes 2i and 2i+1, and both
     * or neither are in range (n_chunks is even) */
#pragma unroll 2
    for (int64_t c0 = 0; c0 < n_chunks; c0 += 32) {
        const int64_t c = c0 + lane;
        const bool on = c < n_chunks;
        const int4 w4 = on ? __ldg(wr + c) : make_int4(0, 0, 0, 0);
        const int w[4] = {w4.x, w4.y, w4.z, w4.w};
        const int64_t b = c / 2;
        const float dwv = on && even ? dfit_cu_fp16_to_f32(__ldg(dr + b)) : 0.0f;
#pragma unroll
        for (int t = 0; t < NC; t++) {
            int sumi = 0;
            if (on) {
                const int4 x4 = reinterpret_cast<const int4 *>(xq + t * ldx)[c];
                const int xv[4] = {x4.x, x4.y, x4.z, x4.w};
                sumi = dfit_cu_q8_dot16(w, xv);
            }
            sumi += __shfl_xor_sync(DFIT_FULL_MASK, sumi, 1);
            if (on && even)
                acc[t] += (float)sumi * (dwv * xd[t * ldb + b]);
        }
    }
#pragma unroll
    for (int t = 0; t < NC; t++) {
        const float v = dfit_warp_sum(acc[t]);
        if (lane == 0)
            out[t * ldo + row] = v;
    }
}

/* ---- Q4_0 ------------------------------------------------------------------ */

template <int NC>
__global__ void __launch_bounds__(MMV_WARPS * 32)
    mmv_q4_0_kernel(float *__restrict__ out, int64_t ldo, const uint8_t *__restrict__ qs,
                    const uint16_t *__restrict__ dw, int64_t n_in, int64_t n_out,
                    const int8_t *__restrict__ xq, const float *__restrict__ xd,
                    const int32_t *__restrict__ xs, int64_t ldx)
{
    const int lane = threadIdx.x % 32;
    const int64_t row = (int64_t)blockIdx.x * MMV_WARPS + threadIdx.x / 32;
    if (row >= n_out)
        return;
    const int64_t nb = n_in / 32, ldb = ldx / 32;
    const int4 *wr = reinterpret_cast<const int4 *>(qs + row * (n_in / 2));
    const uint16_t *dr = dw + row * nb;
    float acc[NC];
#pragma unroll
    for (int t = 0; t < NC; t++)
        acc[t] = 0.0f;
#pragma unroll 2
    for (int64_t b = lane; b < nb; b += 32) {
        const int4 w4 = __ldg(wr + b);
        const int w[4] = {w4.x, w4.y, w4.z, w4.w};
        const float dwv = dfit_cu_fp16_to_f32(__ldg(dr + b));
#pragma unroll
        for (int t = 0; t < NC; t++) {
            const int4 *xr = reinterpret_cast<const int4 *>(xq + t * ldx) + 2 * b;
            const int4 lo4 = xr[0], hi4 = xr[1];
            const int lo[4] = {lo4.x, lo4.y, lo4.z, lo4.w};
            const int hi[4] = {hi4.x, hi4.y, hi4.z, hi4.w};
            const int sumi = dfit_cu_q4_dot32(w, lo, hi) - 8 * xs[t * ldb + b];
            acc[t] += (float)sumi * dwv * xd[t * ldb + b];
        }
    }
#pragma unroll
    for (int t = 0; t < NC; t++) {
        const float v = dfit_warp_sum(acc[t]);
        if (lane == 0)
            out[t * ldo + row] = v;
    }
}

/* ---- dispatch --------------------------------------------------------------- */

template <int NC>
static void launch_nc(float *out, int64_t ldo, const dfit_cuda_wdev &w, const dfit_cuda_act &a,
                      cudaStream_t st)
{
    const unsigned grid = (unsigned)((w.n_out + MMV_WARPS - 1) / MMV_WARPS);
    const int threads = MMV_WARPS * 32;
    const bool vec = w.n_in % 8 == 0 && a.ld % 4 == 0;
    switch (w.type) {
    case DFIT_CUK_F32:
        if (vec)
            mmv_float_kernel<float, NC, true><<<grid, threads, 0, st>>>(
                out, ldo, (const float *)w.q, w.n_in, w.n_out, a.x, a.ld);
        else
            mmv_float_kernel<float, NC, false><<<grid, threads, 0, st>>>(
                out, ldo, (const float *)w.q, w.n_in, w.n_out, a.x, a.ld);
        break;
    case DFIT_CUK_F16:
        if (vec)
            mmv_float_kernel<__half, NC, true><<<grid, threads, 0, st>>>(
                out, ldo, (const __half *)w.q, w.n_in, w.n_out, a.x, a.ld);
        else
            mmv_float_kernel<__half, NC, false><<<grid, threads, 0, st>>>(
                out, ldo, (const __half *)w.q, w.n_in, w.n_out, a.x, a.ld);
        break;
    case DFIT_CUK_BF16:
        if (vec)
            mmv_float_kernel<uint16_t, NC, true><<<grid, threads, 0, st>>>(
                out, ldo, (const uint16_t *)w.q, w.n_in, w.n_out, a.x, a.ld);
        else
            mmv_float_kernel<uint16_t, NC, false><<<grid, threads, 0, st>>>(
                out, ldo, (const uint16_t *)w.q, w.n_in, w.n_out, a.x, a.ld);
        break;
    case DFIT_CUK_Q8_0:
        mmv_q8_0_kernel<NC><<<grid, threads, 0, st>>>(out, ldo, (const int8_t *)w.q, w.d, w.n_in,
                                                      w.n_out, a.q, a.d, a.ld);
        break;
    case DFIT_CUK_Q4_0:
        mmv_q4_0_kernel<NC><<<grid, threads, 0, st>>>(out, ldo, (const uint8_t *)w.q, w.d, w.n_in,
                                                      w.n_out, a.q, a.d, a.s, a.ld);
        break;
    default:
        break;
    }
}

extern "C" int dfit_cuk_mmv(float *out, int64_t ldo, const struct dfit_cuda_wdev *w,
                            const struct dfit_cuda_act *a, int n_tok, void *stream)
{
    cudaStream_t st = (cudaStream_t)stream;
    switch (w->type) {
    case DFIT_CUK_F32:
    case DFIT_CUK_F16:
    case DFIT_CUK_BF16:
    case DFIT_CUK_Q8_0:
    case DFIT_CUK_Q4_0:
        break;
    default:
        return (int)cudaErrorInvalidValue;
    }
    switch (n_tok) {
    case 1: launch_nc<1>(out, ldo, *w, *a, st); break;
    case 2: launch_nc<2>(out, ldo, *w, *a, st); break;
    case 3: launch_nc<3>(out, ldo, *w, *a, st); break;
    case 4: launch_nc<4>(out, ldo, *w, *a, st); break;
    case 5: launch_nc<5>(out, ldo, *w, *a, st); break;
    case 6: launch_nc<6>(out, ldo, *w, *a, st); break;
    case 7: launch_nc<7>(out, ldo, *w, *a, st); break;
    case 8: launch_nc<8>(out, ldo, *w, *a, st); break;
    default: return (int)cudaErrorInvalidValue;
    }
    return dfit_launch_status();
}
