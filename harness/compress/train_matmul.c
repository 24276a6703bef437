/* train_matmul.c — the trainer's matrix products (see train_ops.h): one
 * register-blocked kernel C += A·B whose inner loop runs along a contiguous
 * row of B and C, a form compilers vectorise at -O2/-O3 without
 * reassociating any sum; A may be read transposed through strides. Rows of
 * C are split over the workers, so no element's order of operations
 * depends on the thread count.
 * Non-goals: packing panels, SIMD intrinsics, other precisions.
 */
#include "compress/train_ops.h"

#include <string.h>

#include "compress/train_par.h"

/* ---- matrix product -------------------------------------------------------- */

#define MR 4    /* rows of C per micro-tile */
#define NR 16   /* columns of C per micro-tile (the vectorised loop) */
#define KC 256  /* depth of one pass over A and B (keeps B's panel in cache) */

/* A(m, k) = A[m*sam + k*sak]: sam = lda, sak = 1 for a row-major A, and
 * sam = 1, sak = lda for a transposed one (C += Aᵀ·B without a copy). */
struct gemm_args {
    float *C;
    const float *A, *B;
    int64_t M, N, K, sam, sak, ldb, ldc;
};

/* One full MR x NR tile over kc steps: sums start at zero, run in k order,
 * then add to C. */
static inline void kern_full(int64_t kc, const float *restrict A, int64_t sam, int64_t sak,
                      const float *restrict B, int64_t ldb, float *restrict C, int64_t ldc)
{
    float c0[NR] = {0}, c1[NR] = {0}, c2[NR] = {0}, c3[NR] = {0};
    for (int64_t k = 0; k < kc; k++) {
        const float *b = B + k * ldb;
        const float a0 = A[k * sak], a1 = A[sam + k * sak], a2 = A[2 * sam + k * sak],
                    a3 = A[3 * sam + k * sak];
        for (int j = 0; j < NR; j++) {
            c0[j] += a0 * b[j];
            c1[j] += a1 * b[j];
            c2[j] += a2 * b[j];
            c3[j] += a3 * b[j];
        }
    }
    for (int j = 0; j < NR; j++) {
        C[j] += c0[j];
        C[ldc + j] += c1[j];
        C[2 * ldc + j] += c2[j];
        C[3 * ldc + j] += c3[j];
    }
}

/* A partial tile (mr <= MR, nr <= NR), same order of operations. */
static void kern_edge(int mr, int nr, int64_t kc, const float *A, int64_t sam, int64_t sak,
                      const float *B, int64_t ldb, float *C, int64_t ldc)
{
    float acc[MR][NR] = {{0}};
    for (int64_t k = 0; k < kc; k++)
        for (int r = 0; r < mr; r++) {
            const float a = A[r * sam + k * sak];
            for (int j = 0; j < nr; j++)
                acc[r][j] += a * B[k * ldb + j];
        }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++)
            C[r * ldc + j] += acc[r][j];
}

/* Row blocks [lo, hi) of MR rows each. */
DFIT_TRAIN_VEC_CLONES static void gemm_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct gemm_args *g = arg;
    for (int64_t k0 = 0; k0 < g->K; k0 += KC) {
        const int64_t kc = g->K - k0 < KC ? g->K - k0 : KC;
        for (int64_t mb = lo; mb < hi; mb++) {
            const int64_t m0 = mb * MR;
            const int mr = (int)(g->M - m0 < MR ? g->M - m0 : MR);
            const float *A = g->A + m0 * g->sam + k0 * g->sak;
            const float *B = g->B + k0 * g->ldb;
            float *C = g->C + m0 * g->ldc;
            for (int64_t n0 = 0; n0 < g->N; n0 += NR) {
                const int nr = (int)(g->N - n0 < NR ? g->N - n0 : NR);
                if (mr == MR && nr == NR)
                    kern_full(kc, A, g->sam, g->sak, B + n0, g->ldb, C + n0, g->ldc);
                else
                    kern_edge(mr, nr, kc, A, g->sam, g->sak, B + n0, g->ldb, C + n0, g->ldc);
            }
        }
    }
}

static void gemm(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K,
                 int64_t sam, int64_t sak, int64_t ldb, int64_t ldc, struct dfit_threadpool *tp)
{
    struct gemm_args g = {C, A, B, M, N, K, sam, sak, ldb, ldc};
    /* a thread wants at least a few tiles' worth of work */
    int64_t min_blocks = (N * K < 4096) ? 64 : 2;
    dfit_train_par_for(tp, (M + MR - 1) / MR, min_blocks, gemm_range, &g);
}

void dfit_train_gemm(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K,
                     int64_t lda, int64_t ldb, int64_t ldc, struct dfit_threadpool *tp)
{
    gemm(C, A, B, M, N, K, lda, 1, ldb, ldc, tp);
}

int64_t dfit_train_matmul_scratch(int64_t N, int64_t n_in, int64_t n_out)
{
    (void)N;
    return n_in * n_out;
}

struct transpose_args {
    float *dst;        /* [cols][rows] */
    const float *src;  /* [rows][cols] */
    int64_t rows, cols;
};

/* Destination rows [lo, hi) (= source columns), in 32-row tiles. */
static void transpose_range(void *arg, int64_t lo, int64_t hi, int ith)
{
    (void)ith;
    const struct transpose_args *a = arg;
    for (int64_t r0 = 0; r0 < a->rows; r0 += 32) {
        const int64_t r1 = r0 + 32 < a->rows ? r0 + 32 : a->rows;
        for (int64_t c = lo; c < hi; c++)
            for (int64_t r = r0; r < r1; r++)
                a->dst[c * a->rows + r] = a->src[r * a->cols + c];
    }
}

void dfit_train_matmul_forward(float *out, const float *inp, const float *w, int64_t N, int64_t n_in,
                               int64_t n_out, float *scratch, struct dfit_threadpool *tp)
{
    /* out = inp · wᵀ = inp · (wᵀ as an [n_in][n_out] row-major copy) */
    struct transpose_args t = {scratch, w, n_out, n_in};
    dfit_train_par_for(tp, n_in, 64, transpose_range, &t);
    memset(out, 0, (size_t)(N * n_out) * sizeof(float));
    gemm(out, inp, scratch, N, n_out, n_in, n_in, 1, n_out, n_out, tp);
}

void dfit_train_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp,
                                const float *w, int64_t N, int64_t n_in, int64_t n_out,
                                float *scratch, struct dfit_threadpool *tp)
{
    (void)scratch;
    if (dinp) /* [N][n_in] += dout [N][n_out] · w [n_out][n_in] */
        gemm(dinp, dout, w, N, n_in, n_out, n_out, 1, n_in, n_in, tp);
    if (dw) /* [n_out][n_in] += doutᵀ [n_out][N] · inp [N][n_in] */
        gemm(dw, dout, inp, n_out, n_in, N, 1, n_out, n_in, n_in, tp);
}
