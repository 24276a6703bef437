/* test_cuda_host — the CUDA backend's CPU-side parts, which run without a
 * GPU (built only when the CUDA backend is; the arithmetic shared with the
 * kernels and the repacking are tested in tests/gpu/test_cuda_layout.c):
 *   (a) the buffer plan per format and shape: sizes, alignment, no overlap,
 *       the tied output shared, the pass bytes equal the CPU backend's;
 *   (b) the cuBLAS arguments, run through a column-major GEMM written
 *       here as cuBLAS defines it, equal the reference matrix product, also
 *       in dequantization tiles;
 *   (c) kernel options, batch checks, the input block, the graph cache;
 *   (d) cuBLAS, NVML and CUPTI loaders report a missing library with its
 *       reason; probe and load without a device fail with DFIT_ENOTFOUND
 *       and CUDA's reason (on a machine with a device they succeed);
 *   (e) the roofline's fraction arithmetic.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "compress/synth.h"
#include "cpu/ref_ops.h"
#include "cuda/cuda_batch.h"
#include "cuda/cuda_blas.h"
#include "cuda/cuda_plan.h"
#include "cuda/cuda_roofline.h"
#include "cuda/cupti_loader.h"
#include "cuda/nvml_loader.h"
#include "model/llama.h"
#include "util/rng.h"

#define N_FMT 5
static const enum dfit_type fmt_type[N_FMT] = {DFIT_TYPE_F32, DFIT_TYPE_F16, DFIT_TYPE_BF16,
                                               DFIT_TYPE_Q8_0, DFIT_TYPE_Q4_0};
static char tmpdir[64];
static char fmt_path[N_FMT][128]; /* tiny, untied */
static char tied_path[128];       /* tiny, tied, Q8_0 */

static struct dfit_model *open_model(const char *path)
{
    struct dfit_model *m = NULL;
    struct dfit_err err = {0};
    if (dfit_model_open(path, &m, &err))
        fail_msg("open %s: %s", path, err.msg);
    return m;
}

static void fill_normal(float *x, int64_t n, uint64_t seed)
{
    struct dfit_rng r;
    dfit_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = dfit_rng_normal(&r);
}

/* ---- (a) the buffer plan ------------------------------------------------------------ */

struct range {
    uint64_t off, bytes;
};

static int cmp_range(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

/* Ranges sorted by offset must be aligned, in bounds and disjoint. */
static void check_ranges(struct range *r, int n, uint64_t total)
{
    qsort(r, (size_t)n, sizeof *r, cmp_range);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r[i].off % DFIT_CUDA_ALIGN, 0);
        assert_true(r[i].off + r[i].bytes <= total);
        if (i > 0)
            assert_true(r[i - 1].off + r[i - 1].bytes <= r[i].off);
    }
}

static void test_plan_per_format(void **state)
{
    (void)state;
    const struct dfit_backend_ops *cpu = dfit_backend_find("cpu");
    for (int f = 0; f < N_FMT; f++) {
        struct dfit_model *m = open_model(fmt_path[f]);
        struct dfit_backend_params p = {.n_threads = 1, .n_ctx = 48, .n_seq = 3, .n_batch_max = 40};
        struct dfit_cuda_options o;
        struct dfit_cuda_plan pl;
        struct dfit_err err = {0};
        assert_int_equal(dfit_cuda_options_parse(f % 2 ? "kv-f32" : NULL, &o, &err), 0);
        assert_int_equal(dfit_cuda_plan_make(m, &p, &o, &pl, &err), 0);
        assert_int_equal(pl.n_slots, 3 + 9 * m->hp.n_layer);
        struct range *r = calloc(2 * pl.n_slots, sizeof *r);
        assert_non_null(r);
        int nr = 0;
        for (uint32_t s = 0; s < pl.n_slots; s++) {
            const struct dfit_cuda_wplace *wp = &pl.slot[s];
            const struct dfit_weight *w = wp->w;
            assert_false(wp->alias); /* untied model */
            uint64_t rows = (uint64_t)w->n_out, n = (uint64_t)w->n_in;
            if (w->type == DFIT_TYPE_Q8_0) {
                assert_int_equal(wp->bytes_q, rows * n);
                assert_int_equal(wp->bytes_d, rows * n / 32 * 2);
            } else if (w->type == DFIT_TYPE_Q4_0) {
                assert_int_equal(wp->bytes_q, rows * n / 2);
                assert_int_equal(wp->bytes_d, rows * n / 32 * 2);
            } else {
                assert_int_equal(wp->bytes_q, rows * w->row_bytes);
                assert_int_equal(wp->bytes_d, 0);
            }
            /* the device layout holds exactly the file's bytes */
            assert_int_equal(wp->bytes_q + wp->bytes_d, rows * w->row_bytes);
            r[nr++] = (struct range){wp->off_q, wp->bytes_q};
            if (wp->bytes_d)
                r[nr++] = (struct range){wp->off_d, wp->bytes_d};
        }
        check_ranges(r, nr, pl.weight_bytes);
        free(r);
        /* the pass bytes are what the CPU backend reports */
        void *ctx = NULL;
        struct dfit_load_report rep;
        assert_int_equal(cpu->load(m, &p, &ctx, &rep, &err), 0);
        assert_int_equal(pl.pass_bytes, rep.weight_bytes);
        cpu->unload(ctx);
        /* KV: both caches of n_seq x n_layer x n_ctx x kv_dim */
        uint64_t kv_dim = (uint64_t)m->hp.n_head_kv * m->hp.head_dim;
        assert_int_equal(pl.kv_bytes, 2ull * 3 * m->hp.n_layer * 48 * kv_dim * (f % 2 ? 4 : 2));
        /* workspace */
        struct range w[DFIT_CUDA_WS_COUNT];
        for (int i = 0; i < DFIT_CUDA_WS_COUNT; i++)
            w[i] = (struct range){pl.ws[i].off, pl.ws[i].bytes};
        check_ranges(w, DFIT_CUDA_WS_COUNT, pl.workspace_bytes);
        assert_int_equal(pl.ws[DFIT_CUDA_WS_X].bytes, 40ull * m->hp.n_embd * 4);
        assert_int_equal(pl.ws[DFIT_CUDA_WS_HB].bytes, 40ull * m->hp.n_ff * 4);
        assert_int_equal(pl.ws[DFIT_CUDA_WS_INPUTS].bytes, 4ull * 40 * 4);
        assert_int_equal(pl.logits_rows, 40);
        assert_int_equal(pl.ws[DFIT_CUDA_WS_LOGITS].bytes, 40ull * m->hp.n_vocab * 4);
        assert_true(pl.needs_gemm); /* 40 tokens > the matrix-vector limit */
        assert_int_equal(pl.ws[DFIT_CUDA_WS_BLAS].bytes, DFIT_CUDA_BLAS_WS_BYTES);
        bool quant = fmt_type[f] == DFIT_TYPE_Q8_0 || fmt_type[f] == DFIT_TYPE_Q4_0;
        assert_int_equal(pl.any_quant, quant);
        /* the tile holds the largest quantized matrix here (output: 320 x 64) */
        assert_int_equal(pl.deq_elems, quant ? (int64_t)m->hp.n_vocab * m->hp.n_embd : 0);
        assert_true(pl.ws[DFIT_CUDA_WS_ACT_Q].bytes >= 40ull * m->hp.n_ff);
        dfit_cuda_plan_free(&pl);

        /* decode-only: no cuBLAS, no tile, no 16-bit activations */
        p.n_batch_max = 8;
        assert_int_equal(dfit_cuda_plan_make(m, &p, &o, &pl, &err), 0);
        assert_false(pl.needs_gemm);
        assert_int_equal(pl.deq_elems, 0);
        assert_int_equal(pl.ws[DFIT_CUDA_WS_BLAS].bytes, 0);
        assert_int_equal(pl.ws[DFIT_CUDA_WS_ACT_H].bytes, 0);
        dfit_cuda_plan_free(&pl);
        dfit_model_free(m);
    }
}

static void test_plan_tied_and_errors(void **state)
{
    (void)state;
    struct dfit_model *m = open_model(tied_path);
    struct dfit_backend_params p = {.n_ctx = 16, .n_seq = 1, .n_batch_max = 4};
    struct dfit_cuda_options o;
    struct dfit_cuda_plan pl;
    struct dfit_err err = {0};
    assert_int_equal(dfit_cuda_options_parse("gemm", &o, &err), 0);
    assert_int_equal(dfit_cuda_plan_make(m, &p, &o, &pl, &err), 0);
    const struct dfit_cuda_wplace *e = &pl.slot[DFIT_CUDA_W_TOK_EMBD], *out = &pl.slot[DFIT_CUDA_W_OUTPUT];
    assert_true(out->alias);
    assert_int_equal(out->off_q, e->off_q);
    assert_int_equal(out->off_d, e->off_d);
    assert_true(pl.needs_gemm); /* forced */
    assert_true(pl.deq_elems > 0);
    dfit_cuda_plan_free(&pl);
    dfit_cuda_plan_free(&pl); /* a zeroed plan is fine */

    struct dfit_backend_params bad[] = {
        {.n_ctx = 0, .n_seq = 1, .n_batch_max = 1},
        {.n_ctx = 1, .n_seq = 0, .n_batch_max = 1},
        {.n_ctx = 1, .n_seq = 1, .n_batch_max = 0},
        {.n_ctx = DFIT_CUDA_MAX_CTX + 1, .n_seq = 1, .n_batch_max = 1},
    };
    const char *want[] = {"n_ctx 0", "n_seq 0", "n_batch_max 0", "n_ctx 1048577"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dfit_cuda_plan_make(m, &bad[i], &o, &pl, &err), DFIT_EINVAL);
        assert_non_null(strstr(err.msg, want[i]));
        assert_null(pl.slot);
    }
    dfit_model_free(m);
}

/* ---- (b) cuBLAS arguments ------------------------------------------------------------- */

/* C = op(A)^T-form as cuBLAS defines it for transa = T, transb = N, column
 * major: C[i + j*ldc] = sum_l A[l + i*lda] * B[l + j*ldb]. */
static void gemm_tn(const struct dfit_cuda_gemm *g, const float *A, const float *B, float *C)
{
    for (int j = 0; j < g->n; j++)
        for (int i = 0; i < g->m; i++) {
            double s = 0.0;
            for (int l = 0; l < g->k; l++)
                s += (double)A[l + (int64_t)i * g->lda] * B[l + (int64_t)j * g->ldb];
            C[i + (int64_t)j * g->ldc] = (float)s;
        }
}

static void test_gemm_args(void **state)
{
    (void)state;
    enum { NOUT = 70, NIN = 96, NTOK = 5 };
    float *w = malloc(sizeof(float) * NOUT * NIN), *x = malloc(sizeof(float) * NTOK * NIN);
    float *ref = malloc(sizeof(float) * NTOK * NOUT), *got = malloc(sizeof(float) * NTOK * NOUT);
    assert_true(w && x && ref && got);
    fill_normal(w, NOUT * NIN, 1);
    fill_normal(x, NTOK * NIN, 2);
    struct dfit_weight wt = {.name = "w", .type = DFIT_TYPE_F32, .n_in = NIN, .n_out = NOUT,
                             .row_bytes = NIN * sizeof(float), .data = w};
    dfit_ref_matmul(ref, x, &wt, NTOK, NULL, NULL);
    struct dfit_cuda_gemm g;
    struct dfit_err err = {0};
    /* whole matrix */
    assert_int_equal(dfit_cuda_gemm_args(NOUT, NTOK, NIN, NIN, NOUT, &g, &err), 0);
    gemm_tn(&g, w, x, got);
    for (int i = 0; i < NTOK * NOUT; i++)
        assert_true(fabsf(got[i] - ref[i]) <= 1e-5f * (1.0f + fabsf(ref[i])));
    /* in tiles of rows, as the dequantized path runs (ldo = NOUT) */
    memset(got, 0, sizeof(float) * NTOK * NOUT);
    int64_t rows = dfit_cuda_deq_rows(NIN, NOUT, 16 * NIN + 5);
    assert_int_equal(rows, 16);
    for (int64_t r0 = 0; r0 < NOUT; r0 += rows) {
        int64_t nr = NOUT - r0 < rows ? NOUT - r0 : rows;
        assert_int_equal(dfit_cuda_gemm_args(nr, NTOK, NIN, NIN, NOUT, &g, &err), 0);
        gemm_tn(&g, w + r0 * NIN, x, got + r0);
    }
    for (int i = 0; i < NTOK * NOUT; i++)
        assert_true(fabsf(got[i] - ref[i]) <= 1e-5f * (1.0f + fabsf(ref[i])));
    assert_int_equal(dfit_cuda_deq_rows(NIN, NOUT, 10), 1);
    assert_int_equal(dfit_cuda_deq_rows(NIN, NOUT, (int64_t)1 << 30), NOUT);
    assert_int_equal(dfit_cuda_gemm_args(NOUT, NTOK, NIN, NIN - 1, NOUT, &g, &err), DFIT_EINVAL);
    assert_int_equal(dfit_cuda_gemm_args((int64_t)1 << 32, 1, 32, 32, (int64_t)1 << 32, &g, &err),
                     DFIT_ERANGE);
    free(w);
    free(x);
    free(ref);
    free(got);
}

/* ---- (c) options, batches, graph cache -------------------------------------------------- */

static void test_options(void **state)
{
    (void)state;
    struct dfit_cuda_options o;
    struct dfit_err err = {0};
    char buf[64];
    assert_int_equal(dfit_cuda_options_parse(NULL, &o, &err), 0);
    assert_int_equal(o.mm, DFIT_CUDA_MM_AUTO);
    assert_int_equal(o.kv, DFIT_CUDA_KV_F16);
    assert_true(o.graphs);
    assert_int_equal(dfit_cuda_mm_pick(&o, 1), DFIT_CUDA_MM_MMV);
    assert_int_equal(dfit_cuda_mm_pick(&o, DFIT_CUDA_MMV_MAX_TOK), DFIT_CUDA_MM_MMV);
    assert_int_equal(dfit_cuda_mm_pick(&o, DFIT_CUDA_MMV_MAX_TOK + 1), DFIT_CUDA_MM_GEMM);
    dfit_cuda_options_describe(&o, buf, sizeof buf);
    assert_string_equal(buf, "mmv+cublas kv-f16 graphs");
    assert_int_equal(dfit_cuda_options_parse("mmv,kv-f32,,no-graphs", &o, &err), 0);
    assert_int_equal(dfit_cuda_mm_pick(&o, 500), DFIT_CUDA_MM_MMV);
    dfit_cuda_options_describe(&o, buf, sizeof buf);
    assert_string_equal(buf, "mmv kv-f32");
    assert_int_equal(dfit_cuda_options_parse("gemm", &o, &err), 0);
    assert_int_equal(dfit_cuda_mm_pick(&o, 1), DFIT_CUDA_MM_GEMM);
    assert_int_equal(dfit_cuda_options_parse("auto,avx2", &o, &err), DFIT_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "'avx2'"));
    assert_non_null(strstr(err.msg, "kv-f32"));
}

static void test_batch_check_and_pack(void **state)
{
    (void)state;
    uint32_t seq_len[2] = {3, 0}, seq_next[2], nw;
    int32_t tok[] = {5, 6, 7, 8}, pos[] = {3, 0, 4, 1}, seq[] = {0, 1, 0, 1};
    int8_t want[] = {0, 1, 0, 1};
    float logits[1] = {0};
    struct dfit_batch b = {.n_tokens = 4, .token = tok, .pos = pos, .seq = seq, .want = want};
    struct dfit_err err = {0};
    assert_int_equal(dfit_cuda_batch_check(&b, logits, 8, 2, 16, 320, seq_len, seq_next, &nw, &err), 0);
    assert_int_equal(nw, 2);
    assert_int_equal(seq_next[0], 5);
    assert_int_equal(seq_next[1], 2);
    int32_t in[16];
    assert_int_equal(dfit_cuda_batch_pack(&b, in), 14);
    const int32_t expect[14] = {5, 6, 7, 8, 3, 0, 4, 1, 0, 1, 0, 1, 1, 3};
    assert_memory_equal(in, expect, sizeof expect);
    assert_int_equal(dfit_cuda_in_want(4), 12);
    /* errors name the token */
    pos[2] = 5;
    assert_int_equal(dfit_cuda_batch_check(&b, logits, 8, 2, 16, 320, seq_len, seq_next, &nw, &err),
                     DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "batch token 2: position 5 of sequence 0, expected 4"));
    pos[2] = 4;
    tok[1] = 320;
    assert_int_equal(dfit_cuda_batch_check(&b, logits, 8, 2, 16, 320, seq_len, seq_next, &nw, &err),
                     DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "id 320 not in [0, 320)"));
    tok[1] = 6;
    assert_int_equal(dfit_cuda_batch_check(&b, logits, 3, 2, 16, 320, seq_len, seq_next, &nw, &err),
                     DFIT_EINVAL);
    assert_int_equal(dfit_cuda_batch_check(&b, logits, 8, 2, 4, 320, seq_len, seq_next, &nw, &err),
                     DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "does not fit n_ctx 4"));
    assert_int_equal(dfit_cuda_batch_check(&b, NULL, 8, 2, 16, 320, seq_len, seq_next, &nw, &err),
                     DFIT_EINVAL);
    b.want = NULL;
    assert_int_equal(dfit_cuda_batch_check(&b, logits, 8, 2, 16, 320, seq_len, seq_next, &nw, &err), 0);
    assert_int_equal(nw, 4);
}

static int destroyed;
static void count_destroy(void *exec)
{
    (void)exec;
    destroyed++;
}

static void test_graph_cache(void **state)
{
    (void)state;
    struct dfit_cuda_graph_cache c = {0};
    static char tag[DFIT_CUDA_GRAPH_SLOTS + 2];
    assert_null(dfit_cuda_graph_find(&c, 1, 1));
    for (int i = 0; i < DFIT_CUDA_GRAPH_SLOTS; i++)
        assert_null(dfit_cuda_graph_put(&c, (uint32_t)i + 1, 1, &tag[i]));
    assert_ptr_equal(dfit_cuda_graph_find(&c, 1, 1), &tag[0]); /* 1 is now the newest */
    assert_null(dfit_cuda_graph_find(&c, 1, 0));
    /* full: the least recently used (n_tok 2) goes */
    assert_ptr_equal(dfit_cuda_graph_put(&c, 100, 1, &tag[DFIT_CUDA_GRAPH_SLOTS]), &tag[1]);
    assert_null(dfit_cuda_graph_find(&c, 2, 1));
    assert_ptr_equal(dfit_cuda_graph_find(&c, 100, 1), &tag[DFIT_CUDA_GRAPH_SLOTS]);
    destroyed = 0;
    dfit_cuda_graph_clear(&c, count_destroy);
    assert_int_equal(destroyed, DFIT_CUDA_GRAPH_SLOTS);
    assert_null(dfit_cuda_graph_find(&c, 100, 1));
}

/* ---- (d) loaders and the device ----------------------------------------------------------- */

static void test_loaders_unavailable(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    const char *const bogus[] = {"libdfit-no-such-cublas.so.0", "/nonexistent/libcublas.so", NULL};
    const char *lib = NULL;
    assert_int_equal(dfit_cuda_blas_load(bogus, &lib, &err), DFIT_ENOTFOUND);
    assert_null(lib);
    assert_non_null(strstr(err.msg, "cuBLAS not available: "));
    assert_non_null(strstr(err.msg, "libdfit-no-such-cublas.so.0"));
    assert_non_null(strstr(err.msg, "/nonexistent/libcublas.so"));
    /* the real one: where present, every symbol dfit uses resolves */
    int rc = dfit_cuda_blas_load(NULL, &lib, &err);
    if (rc == 0)
        assert_non_null(lib);
    else
        assert_true(rc == DFIT_ENOTFOUND && strstr(err.msg, "cuBLAS not available: "));

    struct dfit_nvml *nv = NULL;
    assert_int_equal(dfit_nvml_open("libdfit-no-such-nvml.so.1", NULL, 0, &nv, &err), DFIT_ENOTFOUND);
    assert_null(nv);
    assert_non_null(strstr(err.msg, "NVML not available: libdfit-no-such-nvml.so.1"));
    rc = dfit_nvml_open(NULL, NULL, 0, &nv, &err);
    if (rc == 0) { /* a machine with the driver: every metric a value or a reason */
        struct dfit_nvml_sample s;
        dfit_nvml_sample(nv, &s);
        for (int i = 0; i < DFIT_NVML_N_METRICS; i++)
            assert_true(s.ok[i] || s.why[i][0] != '\0');
        dfit_nvml_close(nv);
    } else {
        assert_int_equal(rc, DFIT_ENOTFOUND);
        assert_null(nv);
        assert_non_null(strstr(err.msg, "NVML not available: "));
    }
    dfit_nvml_close(NULL);
    assert_string_equal(dfit_nvml_metric_name(DFIT_NVML_ENERGY_MJ), "energy_mj");

    struct dfit_cupti *cu = NULL;
    const char *const no_cupti[] = {"libdfit-no-such-cupti.so.1", NULL};
    assert_int_equal(dfit_cupti_open(no_cupti, &cu, &err), DFIT_ENOTFOUND);
    assert_null(cu);
    assert_non_null(strstr(err.msg, "CUPTI not available: libdfit-no-such-cupti.so.1"));
    rc = dfit_cupti_open(NULL, &cu, &err);
    if (rc == 0) {
        assert_true(dfit_cupti_version(cu) > 0);
        struct dfit_cupti *again = NULL;
        assert_int_equal(dfit_cupti_open(NULL, &again, &err), DFIT_EEXIST);
        dfit_cupti_close(cu);
    } else {
        assert_int_equal(rc, DFIT_ENOTFOUND);
        assert_non_null(strstr(err.msg, "CUPTI not available: "));
    }
    dfit_cupti_close(NULL);
}

static void test_probe_and_load_without_device(void **state)
{
    (void)state;
    const struct dfit_backend_ops *cuda = dfit_backend_find("cuda");
    assert_non_null(cuda);
    assert_string_equal(cuda->name, "cuda");
    struct dfit_device_list dl;
    struct dfit_err err = {0};
    int rc = cuda->probe(&dl, &err);
    struct dfit_model *m = open_model(fmt_path[0]);
    struct dfit_backend_params p = {.n_ctx = 16, .n_seq = 1, .n_batch_max = 4};
    void *ctx = (void *)&p;
    struct dfit_load_report rep;
    if (rc == 0) { /* a GPU machine: the GPU tests cover load */
        assert_true(dl.n >= 1 && dl.dev[0].name[0] && dl.dev[0].memory_bytes > 0);
    } else {
        assert_int_equal(rc, DFIT_ENOTFOUND);
        assert_int_equal(dl.n, 0);
        assert_non_null(strstr(err.msg, "no CUDA device (cudaGetDeviceCount: "));
        /* load says the same, and leaves nothing behind */
        assert_int_equal(cuda->load(m, &p, &ctx, &rep, &err), DFIT_ENOTFOUND);
        assert_null(ctx);
        assert_non_null(strstr(err.msg, "no CUDA device"));
    }
    /* bad options fail before the device is asked */
    p.kernels = "bogus";
    ctx = (void *)&p;
    assert_int_equal(cuda->load(m, &p, &ctx, &rep, &err), DFIT_EUNSUPPORTED);
    assert_null(ctx);
    cuda->unload(NULL);
    dfit_model_free(m);
}

/* ---- (e) roofline arithmetic ------------------------------------------------------------- */

static void test_roofline_fraction(void **state)
{
    (void)state;
    /* 1 GB of weights at 2 TB/s: at most 2000 steps/s; 1000 tokens/s at
     * batch 1 is half the roofline, and at batch 4 an eighth */
    assert_true(fabs(dfit_cuda_roofline_decode_fraction(2e12, 1000000000, 0, 1, 1000.0) - 0.5) < 1e-12);
    assert_true(fabs(dfit_cuda_roofline_decode_fraction(2e12, 1000000000, 0, 4, 1000.0) - 0.125) <
                1e-12);
    assert_true(dfit_cuda_roofline_decode_fraction(0.0, 1, 0, 1, 1.0) == 0.0);
    /* 1b shape: 16 layers, 8 KV heads of 64, 128 positions, f16 */
    assert_int_equal(dfit_cuda_roofline_kv_bytes(16, 8, 64, 128, 1, 2), 2ull * 16 * 8 * 64 * 128 * 2);
    assert_int_equal(dfit_cuda_roofline_kv_bytes(16, 8, 64, 128, 4, 4),
                     4 * 2 * dfit_cuda_roofline_kv_bytes(16, 8, 64, 128, 1, 2));
}

/* ---- setup ------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfit-test-cuda-host-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    struct dfit_synth_params sp = {.seed = 99, .name = "test"};
    if (dfit_synth_preset("tiny", &sp.shape, &err))
        goto fail;
    sp.shape.tied_output = false;
    for (int f = 0; f < N_FMT; f++) {
        sp.type = fmt_type[f];
        snprintf(fmt_path[f], sizeof fmt_path[f], "%s/tiny-%s.gguf", tmpdir,
                 dfit_type_info(fmt_type[f])->name);
        if (dfit_synth_write(&sp, fmt_path[f], &err))
            goto fail;
    }
    sp.type = DFIT_TYPE_Q8_0;
    sp.shape.tied_output = true;
    snprintf(tied_path, sizeof tied_path, "%s/tied.gguf", tmpdir);
    if (dfit_synth_write(&sp, tied_path, &err))
        goto fail;
    return 0;
fail:
    fprintf(stderr, "setup: %s\n", err.msg);
    return -1;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int f = 0; f < N_FMT; f++)
        unlink(fmt_path[f]);
    unlink(tied_path);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_per_format),
        cmocka_unit_test(test_plan_tied_and_errors),
        cmocka_unit_test(test_gemm_args),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_batch_check_and_pack),
        cmocka_unit_test(test_graph_cache),
        cmocka_unit_test(test_loaders_unavailable),
        cmocka_unit_test(test_probe_and_load_without_device),
        cmocka_unit_test(test_roofline_fraction),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
