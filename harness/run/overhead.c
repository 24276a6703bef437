/* overhead.c — the bookkeeping overhead benchmark (see overhead.h).
 * Non-goals: a general benchmark (`dfit bench`), statistics beyond
 * median, minimum and maximum.
 */
#include "run/overhead.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "compress/synth.h"
#include "model/llama.h"
#include "run/counters.h"
#include "run/worker.h"
#include "run/workload.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/fmt.h"
#include "util/rng.h"

#define CLOCK_ITERS 1000000u
#define COUNTER_ITERS 2000u

struct bench {
    const struct dfit_backend_ops *ops;
    struct dfit_model *m;
    void *ctx;
    struct dfit_load_report rep;
    struct dfit_target_spec target;
    struct dfit_workload_spec workload;
    int32_t *stream;          /* [P] the prompt */
    int32_t *tok, *pos, *seq; /* [P] batch */
    int8_t *want;             /* [P] */
    float *logits;            /* [n_vocab] */
    struct dfit_counters *ctr;
    struct dfit_store *store;
    int64_t run_id;
    char dir[64];             /* temporary directory */
    char db[96];
    char synth[96];
};

static int32_t argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return (int32_t)best;
}

/* The bare loop: the same forwards and picks as one workload round, and
 * nothing else. */
static int bare_round(struct bench *b, struct dfit_err *err)
{
    const uint32_t P = b->workload.prompt_tokens, O = b->workload.output_tokens;
    const uint32_t V = b->m->hp.n_vocab;
    for (uint32_t j = 0; j < P; j++) {
        b->tok[j] = b->stream[j];
        b->pos[j] = (int32_t)j;
        b->seq[j] = 0;
        b->want[j] = j + 1 == P;
    }
    struct dfit_batch batch = {.n_tokens = P, .token = b->tok, .pos = b->pos, .seq = b->seq,
                               .want = b->want};
    int rc = b->ops->forward(b->ctx, &batch, b->logits, err);
    if (rc)
        return rc;
    if (b->ops->sync)
        b->ops->sync(b->ctx);
    int32_t next = argmax(b->logits, V);
    for (uint32_t k = 1; k < O; k++) {
        b->tok[0] = next;
        b->pos[0] = (int32_t)(P + k - 1);
        b->seq[0] = 0;
        b->want[0] = 1;
        batch.n_tokens = 1;
        if ((rc = b->ops->forward(b->ctx, &batch, b->logits, err)))
            return rc;
        if (b->ops->sync)
            b->ops->sync(b->ctx);
        next = argmax(b->logits, V);
    }
    b->ops->seq_reset(b->ctx, 0);
    return 0;
}

/* The kept loop: the runner's workload driver with counters, then the
 * cell stored; *store_ns gets the storage part. */
static int kept_round(struct bench *b, uint32_t idx, uint64_t *store_ns, struct dfit_err *err)
{
    const struct dfit_workload_io io = {
        .ops = b->ops, .ctx = b->ctx, .n_vocab = b->m->hp.n_vocab, .stream = b->stream,
        .n_stream = b->workload.prompt_tokens, .counters = b->ctr};
    struct dfit_cell_result r;
    dfit_worker_blank_result(&r, DFIT_CELL_OK, "", NULL);
    int rc = dfit_workload_drive(&io, &b->workload, &r, err);
    if (rc)
        return rc;
    char w[16];
    snprintf(w, sizeof w, "w%u", (unsigned)idx); /* a cell of its own each time */
    uint64_t t0 = dfit_now_ns();
    rc = dfit_store_write_cell(b->store, b->run_id, "v", "t", w, &r, err);
    *store_ns = dfit_now_ns() - t0;
    dfit_cell_result_free_samples(&r);
    return rc;
}

/* ns per iteration of a clock read and a gap store, as the driver does. */
static double time_clock_sample(void)
{
    enum { CAP = 4096 };
    static uint64_t gaps[CAP];
    uint64_t prev = dfit_now_ns(), t0 = prev;
    for (uint32_t i = 0; i < CLOCK_ITERS; i++) {
        uint64_t t = dfit_now_ns();
        gaps[i % CAP] = t - prev;
        prev = t;
    }
    double per = (double)(dfit_now_ns() - t0) / CLOCK_ITERS;
    volatile uint64_t sink = gaps[CLOCK_ITERS % CAP];
    (void)sink;
    return per;
}

static int time_counter_read(struct bench *b, double *ns, struct dfit_err *err)
{
    uint64_t t0 = dfit_now_ns();
    for (uint32_t i = 0; i < COUNTER_ITERS; i++) {
        int rc = dfit_counters_mark(b->ctr, DFIT_PHASE_DECODE, err);
        if (rc)
            return rc;
    }
    *ns = (double)(dfit_now_ns() - t0) / COUNTER_ITERS;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats3(double *x, uint32_t n, double *med, double *lo, double *hi)
{
    qsort(x, n, sizeof *x, cmp_double);
    *lo = x[0];
    *hi = x[n - 1];
    *med = n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* ---- setup and teardown ------------------------------------------------------ */

static int open_store(struct bench *b, uint32_t n_cells, struct dfit_err *err)
{
    snprintf(b->db, sizeof b->db, "%s/overhead.db", b->dir);
    int rc = dfit_store_open(b->db, &b->store, err);
    if (rc)
        return rc;
    const struct dfit_run_info info = {
        .scenario = "overhead",
        .scenario_sha256 = "0000000000000000000000000000000000000000000000000000000000000000",
    };
    if ((rc = dfit_store_create_run(b->store, &info, NULL, &b->run_id, err)))
        return rc;
    const struct dfit_store_variant v = {.name = "v", .bits_per_weight = NAN};
    if ((rc = dfit_store_add_variant(b->store, b->run_id, &v, err)) ||
        (rc = dfit_store_add_target(b->store, b->run_id, &b->target, err)))
        return rc;
    for (uint32_t i = 0; i < n_cells; i++) {
        char name[16];
        struct dfit_workload_spec w = b->workload;
        snprintf(name, sizeof name, "w%u", (unsigned)i);
        w.name = name;
        if ((rc = dfit_store_add_workload(b->store, b->run_id, &w, err)))
            return rc;
    }
    return 0;
}

static int setup(struct bench *b, const struct dfit_overhead_params *p,
                 struct dfit_overhead_result *out, struct dfit_err *err)
{
    int rc;
    snprintf(b->dir, sizeof b->dir, "/tmp/dfit-overhead-XXXXXX");
    if (!mkdtemp(b->dir)) {
        b->dir[0] = '\0';
        return dfit_err_set(err, DFIT_EIO, "overhead: cannot make a temporary directory");
    }
    const char *model = p->model_path;
    if (!model) {
        struct dfit_synth_params sp = {.seed = 1, .type = DFIT_TYPE_F32};
        snprintf(b->synth, sizeof b->synth, "%s/15m.gguf", b->dir);
        if ((rc = dfit_synth_preset("15m", &sp.shape, err)) ||
            (rc = dfit_synth_write(&sp, b->synth, err)))
            return rc;
        model = b->synth;
    }
    snprintf(out->model, sizeof out->model, "%s", p->model_path ? model : "synth 15m, f32 (a temporary file)");
    if ((rc = dfit_model_open(model, &b->m, err)))
        return rc;
    out->n_params = b->m->n_params;

    b->target = (struct dfit_target_spec){
        .name = "t", .backend = "cpu", .threads = p->n_threads > 0 ? p->n_threads : 1,
        .memory_limit_mib = NAN, .price_per_hour = NAN, .time_limit_s = 600,
        .slo = {NAN, NAN, NAN, NAN, NAN, NAN, NAN}};
    b->workload = (struct dfit_workload_spec){
        .name = "w", .mode = DFIT_MODE_SINGLE_STREAM, .prompt_tokens = p->n_prompt ? p->n_prompt : 8,
        .output_tokens = p->n_tokens, .batch = 1, .min_duration_ms = 0, .min_requests = 1,
        .warmup_requests = 0};
    const uint32_t P = b->workload.prompt_tokens, V = b->m->hp.n_vocab;
    if (!(b->stream = malloc(P * sizeof *b->stream)) || !(b->tok = malloc(P * sizeof *b->tok)) ||
        !(b->pos = malloc(P * sizeof *b->pos)) || !(b->seq = malloc(P * sizeof *b->seq)) ||
        !(b->want = malloc(P)) || !(b->logits = malloc((size_t)V * sizeof *b->logits)))
        return dfit_err_set(err, DFIT_ENOMEM, "overhead: out of memory");
    struct dfit_rng rng;
    dfit_rng_seed(&rng, 1234);
    for (uint32_t i = 0; i < P; i++)
        b->stream[i] = (int32_t)dfit_rng_below(&rng, V);

    if (!(b->ops = dfit_backend_find("cpu")))
        return dfit_err_set(err, DFIT_ENOTFOUND, "overhead: no cpu backend");
    struct dfit_backend_params bp;
    if ((rc = dfit_workload_backend_params(&b->target, &b->workload, &bp, err)) ||
        (rc = b->ops->load(b->m, &bp, &b->ctx, &b->rep, err)))
        return rc;
    snprintf(out->kernels, sizeof out->kernels, "%s", b->rep.kernels);
    if ((rc = dfit_counters_start(NULL, 0, &b->ctr, err)))
        return rc;
    out->n_counters = dfit_counters_n_events(b->ctr);
    for (int i = 0; i < out->n_counters; i++)
        out->n_counters_available += dfit_counters_available(b->ctr, i);
    return open_store(b, p->n_reps + 1, err);
}

static void teardown(struct bench *b)
{
    dfit_store_close(b->store);
    dfit_counters_free(b->ctr);
    if (b->ops && b->ctx)
        b->ops->unload(b->ctx);
    dfit_model_free(b->m);
    free(b->stream);
    free(b->tok);
    free(b->pos);
    free(b->seq);
    free(b->want);
    free(b->logits);
    if (b->dir[0]) {
        static const char *const files[] = {"overhead.db", "overhead.db-wal", "overhead.db-shm",
                                            "15m.gguf"};
        char path[160];
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", b->dir, files[i]);
            unlink(path);
        }
        rmdir(b->dir);
    }
}

int dfit_overhead_measure(const struct dfit_overhead_params *p, struct dfit_overhead_result *out,
                          struct dfit_err *err)
{
    struct bench b;
    double *bare = NULL, *kept = NULL, *store = NULL;
    memset(&b, 0, sizeof b);
    memset(out, 0, sizeof *out);
    if (p->n_tokens < 2 || p->n_reps < 1)
        return dfit_err_set(err, DFIT_EINVAL, "overhead: needs at least 2 tokens and 1 repetition");
    int rc = setup(&b, p, out, err);
    if (rc)
        goto done;
    const uint32_t n = p->n_reps;
    if (!(bare = calloc(n, sizeof *bare)) || !(kept = calloc(n, sizeof *kept)) ||
        !(store = calloc(n, sizeof *store))) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "overhead: out of memory");
        goto done;
    }
    uint64_t s_ns;
    if ((rc = bare_round(&b, err)) || (rc = kept_round(&b, n, &s_ns, err))) /* warm-up */
        goto done;
    const double O = (double)p->n_tokens;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t t0 = dfit_now_ns();
        if ((rc = bare_round(&b, err)))
            goto done;
        bare[i] = (double)(dfit_now_ns() - t0) / O;
        t0 = dfit_now_ns();
        if ((rc = kept_round(&b, i, &s_ns, err)))
            goto done;
        kept[i] = (double)(dfit_now_ns() - t0) / O;
        store[i] = (double)s_ns;
    }
    stats3(bare, n, &out->bare_median, &out->bare_min, &out->bare_max);
    stats3(kept, n, &out->kept_median, &out->kept_min, &out->kept_max);
    double lo, hi;
    stats3(store, n, &out->store_cell_ns, &lo, &hi);
    out->measured_ns = out->kept_median - out->bare_median;

    out->clock_sample_ns = time_clock_sample();
    if ((rc = time_counter_read(&b, &out->counter_read_ns, err)))
        goto done;
    out->in_timed_per_token_ns = out->clock_sample_ns + 2.0 * out->counter_read_ns / O;
    out->parts_per_token_ns = out->in_timed_per_token_ns + out->store_cell_ns / O;
done:
    free(bare);
    free(kept);
    free(store);
    teardown(&b);
    return rc;
}

void dfit_overhead_print(FILE *f, const struct dfit_overhead_params *p,
                         const struct dfit_overhead_result *r)
{
    char np[32];
    const double O = (double)p->n_tokens;
    fprintf(f, "model:   %s, %s parameters\n", r->model, dfit_fmt_u64(np, sizeof np, r->n_params));
    fprintf(f, "backend: cpu (%s), %d thread%s; %u-token prompt, %u output tokens, %u repetitions "
            "of each loop, interleaved\n", r->kernels, p->n_threads > 0 ? p->n_threads : 1,
            p->n_threads > 1 ? "s" : "", p->n_prompt ? p->n_prompt : 8, p->n_tokens, p->n_reps);
    fprintf(f, "\n%-44s %14s %14s %14s\n", "decode loop, ns per output token", "median", "min", "max");
    fprintf(f, "%-44s %14.1f %14.1f %14.1f\n", "bare (forward + argmax)", r->bare_median,
            r->bare_min, r->bare_max);
    fprintf(f, "%-44s %14.1f %14.1f %14.1f\n", "with the runner's bookkeeping", r->kept_median,
            r->kept_min, r->kept_max);
    const double spread = r->bare_max - r->bare_min;
    fprintf(f, "%-44s %14.1f   (%s the bare loop's spread, %.1f)\n", "difference of the medians",
            r->measured_ns, fabs(r->measured_ns) < spread ? "within" : "outside", spread);
    fprintf(f, "\nthe bookkeeping's parts, timed alone              ns per output token\n");
    fprintf(f, "  %-48s %12.1f\n", "clock read + gap sample (inside every gap)", r->clock_sample_ns);
    fprintf(f, "  %-48s %12.1f   (%.0f ns a read, %d of %d events counted)\n",
            "2 counter reads per request (TTFT, last gap)", 2.0 * r->counter_read_ns / O,
            r->counter_read_ns, r->n_counters_available, r->n_counters);
    fprintf(f, "  %-48s %12.1f   (%.2f ms a cell, after the measured span)\n",
            "summary + storage in one transaction", r->store_cell_ns / O, r->store_cell_ns / 1e6);
    fprintf(f, "  %-48s %12.1f   (%.3g%% of the bare loop)\n", "total", r->parts_per_token_ns,
            r->bare_median > 0 ? 100.0 * r->parts_per_token_ns / r->bare_median : NAN);
    fprintf(f, "  %-48s %12.1f   (%.3g%% of the bare loop)\n", "of which inside measured latencies",
            r->in_timed_per_token_ns,
            r->bare_median > 0 ? 100.0 * r->in_timed_per_token_ns / r->bare_median : NAN);
}
