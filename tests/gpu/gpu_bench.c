/* gpu_bench.c — dfit-gpu-bench, the device check's benchmark driver for
 * the CUDA backend (tests/gpu/device-check.sh runs it on the `1b` synthetic
 * shape in each format). For one model file it measures, on CUDA device 0:
 *   load     backend load wall time, prepare_ns (repack + upload), the
 *            backend's memory accounting and the device memory in use;
 *   ppN      one forward call of N prompt tokens (logits for the last),
 *            median of --reps runs after a warm-up;
 *   tgB      decode at batch B: B sequences each given a 16-token prompt,
 *            then --n-gen steps of one token per sequence (all logits
 *            wanted, as a decoder needs them); tokens/s, mean step time,
 *            the fraction of the bandwidth roofline (with --roofline or
 *            --bw), and energy per token from NVML's energy counter;
 *   roofline (with --roofline) copy bandwidth and BF16 GEMM rate.
 * Every result is one line of tab-separated key=value fields, so logs stay
 * greppable; device memory peaks are the largest cudaMemGetInfo reading.
 * Non-goals: statistics beyond median/mean (dfit bench and the runner do
 * those), CPU runs.
 */
#include <cuda_runtime_api.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cuda/cuda_roofline.h"
#include "cuda/nvml_loader.h"
#include "model/llama.h"
#include "util/clock.h"
#include "util/rng.h"

#define PROMPT 16
#define MAX_BATCHES 8

struct opts {
    const char *file, *kernels;
    uint32_t pp, n_gen, reps;
    uint32_t batch[MAX_BATCHES];
    int n_batch;
    int roofline;
    double bw; /* bytes/s for roofline fractions; 0: unknown */
};

static uint64_t peak_used;

static void note_memory(void)
{
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess && total_b - free_b > peak_used)
        peak_used = total_b - free_b;
}

static int usage(void)
{
    fprintf(stderr, "usage: dfit-gpu-bench MODEL.gguf [--kernels K] [--pp N] [--n-gen N] "
                    "[--reps N] [--batches B,B,...] [--roofline] [--bw BYTES_PER_S]\n");
    return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.pp = 512, .n_gen = 64, .reps = 3, .batch = {1, 8, 32}, .n_batch = 3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--roofline") == 0) {
            o->roofline = 1;
        } else if (a[0] == '-' && !v) {
            return usage();
        } else if (strcmp(a, "--kernels") == 0) {
            o->kernels = v, i++;
        } else if (strcmp(a, "--pp") == 0) {
            o->pp = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--n-gen") == 0) {
            o->n_gen = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--reps") == 0) {
            o->reps = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (strcmp(a, "--bw") == 0) {
            o->bw = strtod(v, NULL), i++;
        } else if (strcmp(a, "--batches") == 0) {
            o->n_batch = 0;
            for (char *s = argv[++i]; *s && o->n_batch < MAX_BATCHES;) {
                char *end;
                unsigned long b = strtoul(s, &end, 10);
                if (end == s || b == 0 || b > 4096)
                    return usage();
                o->batch[o->n_batch++] = (uint32_t)b;
                s = *end == ',' ? end + 1 : end;
            }
        } else if (a[0] != '-' && !o->file) {
            o->file = a;
        } else {
            return usage();
        }
    }
    if (!o->file || o->reps == 0 || o->reps > 1000 || o->n_gen == 0 || o->pp > 65536)
        return usage();
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Energy counter in millijoules, or -1 with why filled. */
static double energy_mj(struct dfit_nvml *nv, char *why, size_t cap)
{
    if (!nv)
        return -1.0;
    struct dfit_nvml_sample s;
    dfit_nvml_sample(nv, &s);
    if (!s.ok[DFIT_NVML_ENERGY_MJ]) {
        snprintf(why, cap, "%s", s.why[DFIT_NVML_ENERGY_MJ]);
        return -1.0;
    }
    return (double)s.value[DFIT_NVML_ENERGY_MJ];
}

static int run_pp(const struct opts *o, const struct dfit_backend_ops *be, void *ctx,
                  const struct dfit_model *m, struct dfit_err *err)
{
    uint32_t n = o->pp;
    int32_t *tok = calloc(n, sizeof *tok), *pos = calloc(n, sizeof *pos), *seq = calloc(n, 4);
    int8_t *want = calloc(n, 1);
    float *logits = calloc(m->hp.n_vocab, sizeof *logits);
    double *ms = calloc(o->reps, sizeof *ms);
    int rc = DFIT_ENOMEM;
    if (!tok || !pos || !seq || !want || !logits || !ms)
        goto out;
    struct dfit_rng r;
    dfit_rng_seed(&r, 7);
    for (uint32_t i = 0; i < n; i++) {
        tok[i] = (int32_t)dfit_rng_below(&r, m->hp.n_vocab);
        pos[i] = (int32_t)i;
    }
    want[n - 1] = 1;
    struct dfit_batch b = {.n_tokens = n, .token = tok, .pos = pos, .seq = seq, .want = want};
    for (uint32_t k = 0; k <= o->reps; k++) { /* k == 0: warm-up */
        be->seq_reset(ctx, -1);
        uint64_t t0 = dfit_now_ns();
        if ((rc = be->forward(ctx, &b, logits, err)) || (rc = be->sync(ctx)))
            goto out;
        if (k > 0)
            ms[k - 1] = (double)(dfit_now_ns() - t0) / 1e6;
        note_memory();
    }
    qsort(ms, o->reps, sizeof *ms, cmp_double);
    double med = ms[o->reps / 2];
    printf("pp\tfile=%s\tn=%u\tms=%.3f\ttok_per_s=%.1f\n", o->file, n, med, n / (med / 1e3));
    rc = 0;
out:
    free(tok);
    free(pos);
    free(seq);
    free(want);
    free(logits);
    free(ms);
    return rc;
}

static int run_tg(const struct opts *o, const struct dfit_backend_ops *be, void *ctx,
                  const struct dfit_model *m, uint32_t B, uint64_t weight_bytes,
                  struct dfit_nvml *nv, struct dfit_err *err)
{
    uint32_t n = B * PROMPT > B ? B * PROMPT : B;
    int32_t *tok = calloc(n, sizeof *tok), *pos = calloc(n, sizeof *pos), *seq = calloc(n, 4);
    float *logits = calloc((size_t)B * m->hp.n_vocab, sizeof *logits);
    int rc = DFIT_ENOMEM;
    if (!tok || !pos || !seq || !logits)
        goto out;
    struct dfit_rng r;
    dfit_rng_seed(&r, 11);
    be->seq_reset(ctx, -1);
    /* prompts: sequence s gets positions 0..PROMPT-1, one batch per sequence */
    for (uint32_t s = 0; s < B; s++) {
        for (uint32_t i = 0; i < PROMPT; i++) {
            tok[i] = (int32_t)dfit_rng_below(&r, m->hp.n_vocab);
            pos[i] = (int32_t)i;
            seq[i] = (int32_t)s;
        }
        int8_t want[PROMPT] = {0};
        want[PROMPT - 1] = 1;
        struct dfit_batch b = {.n_tokens = PROMPT, .token = tok, .pos = pos, .seq = seq, .want = want};
        if ((rc = be->forward(ctx, &b, logits, err)))
            goto out;
    }
    char why[128] = "NVML not available";
    double e0 = -1.0, t_ns = 0.0;
    for (uint32_t step = 0; step <= o->n_gen; step++) { /* step 0: warm-up (graph capture) */
        for (uint32_t s = 0; s < B; s++) {
            tok[s] = (int32_t)dfit_rng_below(&r, m->hp.n_vocab);
            pos[s] = (int32_t)(PROMPT + step);
            seq[s] = (int32_t)s;
        }
        struct dfit_batch b = {.n_tokens = B, .token = tok, .pos = pos, .seq = seq};
        if (step == 1)
            e0 = energy_mj(nv, why, sizeof why);
        uint64_t t0 = dfit_now_ns();
        if ((rc = be->forward(ctx, &b, logits, err)))
            goto out;
        if (step > 0)
            t_ns += (double)(dfit_now_ns() - t0);
    }
    double e1 = e0 >= 0 ? energy_mj(nv, why, sizeof why) : -1.0;
    note_memory();
    const double step_ms = t_ns / 1e6 / o->n_gen, tps = B / (step_ms / 1e3);
    const uint32_t past = PROMPT + o->n_gen / 2; /* mean positions attended */
    uint64_t kv = dfit_cuda_roofline_kv_bytes(m->hp.n_layer, m->hp.n_head_kv, m->hp.head_dim,
                                              past, B, 2);
    printf("tg\tfile=%s\tbatch=%u\tn_gen=%u\tstep_ms=%.4f\ttok_per_s=%.1f", o->file, B, o->n_gen,
           step_ms, tps);
    if (o->bw > 0)
        printf("\troofline_frac=%.3f",
               dfit_cuda_roofline_decode_fraction(o->bw, weight_bytes, kv, B, tps));
    if (e0 >= 0 && e1 >= e0)
        printf("\tj_per_tok=%.5f\tavg_w=%.1f", (e1 - e0) / 1e3 / ((double)o->n_gen * B),
               (e1 - e0) / 1e3 / (t_ns / 1e9));
    else
        printf("\tenergy=unavailable (%s)", why);
    printf("\n");
    rc = 0;
out:
    free(tok);
    free(pos);
    free(seq);
    free(logits);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o))
        return 2;
    struct dfit_err err = {0};
    const struct dfit_backend_ops *be = dfit_backend_find("cuda");
    struct dfit_device_list dl;
    if (!be || be->probe(&dl, &err)) {
        printf("skip\treason=%s\n", be ? err.msg : "cuda backend not compiled in");
        return 77;
    }
    struct dfit_nvml *nv = NULL;
    char bus[32] = "";
    struct dfit_err nerr = {0};
    if (cudaDeviceGetPCIBusId(bus, sizeof bus, 0) != cudaSuccess ||
        dfit_nvml_open(NULL, bus, 0, &nv, &nerr))
        printf("nvml\tunavailable=%s\n", nerr.msg[0] ? nerr.msg : "no PCI bus id");
    if (o.roofline) {
        struct dfit_cuda_roofline_params rp = {0};
        struct dfit_cuda_roofline rr;
        if (dfit_cuda_roofline_measure(&rp, &rr, &err)) {
            printf("roofline\terror=%s\n", err.msg);
        } else {
            printf("roofline\tdevice=%s\tcopy_bytes=%" PRIu64 "\tcopy_ms=%.3f\tcopy_gb_per_s=%.1f",
                   rr.device, rr.copy_bytes, rr.copy_ms, rr.copy_bytes_per_s / 1e9);
            if (rr.gemm_ok)
                printf("\tgemm_n=%d\tgemm_ms=%.3f\tbf16_tflops=%.1f\n", rr.gemm_n, rr.gemm_ms,
                       rr.gemm_flops_per_s / 1e12);
            else
                printf("\tgemm=unavailable (%s)\n", rr.gemm_why);
            if (o.bw <= 0)
                o.bw = rr.copy_bytes_per_s;
        }
    }
    struct dfit_model *m = NULL;
    uint64_t t0 = dfit_now_ns();
    if (dfit_model_open(o.file, &m, &err)) {
        printf("error\tfile=%s\tstage=open\tmsg=%s\n", o.file, err.msg);
        dfit_nvml_close(nv);
        return 1;
    }
    const double open_ms = (double)(dfit_now_ns() - t0) / 1e6;
    uint32_t bmax = 1;
    for (int i = 0; i < o.n_batch; i++)
        bmax = o.batch[i] > bmax ? o.batch[i] : bmax;
    uint32_t nb = o.pp > bmax * PROMPT ? o.pp : bmax * PROMPT;
    if (nb < PROMPT)
        nb = PROMPT;
    struct dfit_backend_params p = {.n_ctx = (o.pp > PROMPT + o.n_gen + 1 ? o.pp : PROMPT + o.n_gen + 1),
                                    .n_seq = bmax, .n_batch_max = nb, .kernels = o.kernels};
    struct dfit_load_report rep;
    void *ctx = NULL;
    int failed = 0;
    note_memory();
    t0 = dfit_now_ns();
    if (be->load(m, &p, &ctx, &rep, &err)) {
        printf("error\tfile=%s\tstage=load\tmsg=%s\n", o.file, err.msg);
        failed = 1;
        goto out;
    }
    const double load_ms = (double)(dfit_now_ns() - t0) / 1e6;
    note_memory();
    struct dfit_memory mem;
    be->memory(ctx, &mem);
    printf("load\tfile=%s\tparams=%" PRIu64 "\topen_ms=%.1f\tload_ms=%.1f\tprepare_ms=%.1f"
           "\tpass_bytes=%" PRIu64 "\tweight_bytes=%" PRIu64 "\tkv_bytes=%" PRIu64
           "\tworkspace_bytes=%" PRIu64 "\tdevice_used=%" PRIu64 "\tkernels=%s\n",
           o.file, m->n_params, open_ms, load_ms, (double)rep.prepare_ns / 1e6, rep.weight_bytes,
           mem.weight_bytes, mem.kv_bytes, mem.workspace_bytes, mem.device_used_bytes, rep.kernels);
    fflush(stdout);
    if (o.pp > 0 && run_pp(&o, be, ctx, m, &err)) {
        printf("error\tfile=%s\tstage=pp\tmsg=%s\n", o.file, err.msg);
        failed = 1;
    }
    for (int i = 0; i < o.n_batch; i++) {
        fflush(stdout);
        if (run_tg(&o, be, ctx, m, o.batch[i], rep.weight_bytes, nv, &err)) {
            printf("error\tfile=%s\tstage=tg%u\tmsg=%s\n", o.file, o.batch[i], err.msg);
            failed = 1;
        }
    }
    printf("memory\tfile=%s\tpeak_device_used=%" PRIu64 "\n", o.file, peak_used);
out:
    be->unload(ctx);
    dfit_model_free(m);
    dfit_nvml_close(nv);
    return failed;
}
