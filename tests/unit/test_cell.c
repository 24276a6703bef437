/* test_cell — one cell measured end to end on a real tiny synth model file
 * with the CPU backend: single-stream and offline sample layouts and
 * counts, ordered percentiles, positive times and throughputs, load
 * breakdown, memory, cost, counters rows, the run-length rules
 * (min_requests exactly, min_duration), the validity rule (INVALID for a
 * debug build, short runs), FAILED with the reason, and OOM under a small
 * RLIMIT_AS in a forked child. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compress/synth.h"
#include "run/cell.h"
#include "run/counters.h"
#include "run/machine.h"
#include "sanitizer.h"

static char g_dir[64];
static char g_model[128];
static int32_t g_stream[1000];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/dfit-cell-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_model, sizeof g_model, "%s/tiny.gguf", g_dir);
    struct dfit_synth_params p = {.seed = 3, .type = DFIT_TYPE_F32};
    struct dfit_err err = {0};
    if (dfit_synth_preset("tiny", &p.shape, &err) || dfit_synth_write(&p, g_model, &err)) {
        fprintf(stderr, "synth: %s\n", err.msg);
        return -1;
    }
    for (int i = 0; i < 1000; i++)
        g_stream[i] = 3 + (int32_t)((i * 7919u) % 317u);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(g_model);
    rmdir(g_dir);
    return 0;
}

static struct dfit_target_spec target(double price)
{
    struct dfit_target_spec t;
    memset(&t, 0, sizeof t);
    t.name = (char *)"local";
    t.backend = (char *)"cpu";
    t.threads = 1;
    t.memory_limit_mib = NAN;
    t.price_per_hour = price;
    t.time_limit_s = 600;
    return t;
}

static struct dfit_workload_spec workload(enum dfit_workload_mode mode, uint32_t batch,
                                          uint32_t prompt, uint32_t output, uint64_t min_ms,
                                          uint32_t min_requests)
{
    struct dfit_workload_spec w;
    memset(&w, 0, sizeof w);
    w.name = (char *)"w";
    w.mode = mode;
    w.batch = batch;
    w.prompt_tokens = prompt;
    w.output_tokens = output;
    w.min_duration_ms = min_ms;
    w.min_requests = min_requests;
    w.warmup_requests = 1;
    return w;
}

static struct dfit_cell_spec spec(const struct dfit_target_spec *t,
                                  const struct dfit_workload_spec *w)
{
    struct dfit_cell_spec s = {.model_path = g_model,
                               .target = t,
                               .workload = w,
                               .prompt_tokens = g_stream,
                               .n_prompt_tokens = 1000,
                               .seed = 1};
    return s;
}

static void measure_ok(const struct dfit_cell_spec *s, struct dfit_cell_result *r)
{
    struct dfit_err err = {0};
    int rc = dfit_cell_measure(s, r, &err);
    if (rc)
        fail_msg("cell: %s", err.msg);
    assert_int_equal(r->status, DFIT_CELL_OK);
    assert_string_equal(r->reason, "");
}

static void check_summary(const struct dfit_summary *s, uint64_t n)
{
    assert_int_equal(s->n, n);
    assert_true(s->mean > 0);
    assert_true(s->p50 > 0);
    assert_true(s->p50 <= s->p90);
    assert_true(s->p90 <= s->p95);
    assert_true(s->p95 <= s->p99);
    assert_true(s->p99 <= s->max);
    assert_true(s->stdev >= 0);
    assert_true(fabs(s->cv - s->stdev / s->mean) < 1e-9);
}

/* What every OK cell has, whatever its workload. */
static void check_common(const struct dfit_cell_result *r, const struct dfit_workload_spec *w)
{
    /* load: cold and warm totals, the warm breakdown adds up to the warm
     * total exactly (consecutive clock readings) */
    assert_true(r->load_cold_ns > 0);
    assert_true(r->load_warm_ns > 0);
    assert_true(r->load_open_ns > 0 && r->load_validate_ns > 0 && r->load_prepare_ns > 0 &&
                r->load_first_forward_ns > 0);
    assert_int_equal(r->load_open_ns + r->load_validate_ns + r->load_prepare_ns +
                         r->load_first_forward_ns,
                     r->load_warm_ns);

    assert_true(r->n_requests >= w->min_requests);
    assert_true(r->run_ns >= w->min_duration_ms * 1000000u);
    assert_int_equal(r->n_gaps, (uint64_t)r->n_requests * (w->output_tokens - 1));
    uint64_t sum_gap_all = 0;
    for (uint32_t i = 0; i < r->n_requests; i++) {
        const struct dfit_request_sample *q = &r->requests[i];
        assert_int_equal(q->first_gap, (uint64_t)i * (w->output_tokens - 1));
        assert_int_equal(q->n_prompt, w->prompt_tokens);
        assert_int_equal(q->n_output, w->output_tokens);
        assert_true(q->ttft_ns > 0);
        uint64_t sum = 0;
        for (uint32_t k = 0; k + 1 < w->output_tokens; k++) {
            assert_true(r->gaps_ns[q->first_gap + k] > 0);
            sum += r->gaps_ns[q->first_gap + k];
        }
        /* gaps run back to back from the first token to the last */
        assert_int_equal(q->e2e_ns, q->ttft_ns + sum);
        sum_gap_all += sum;
    }
    check_summary(&r->ttft, r->n_requests);
    check_summary(&r->e2e, r->n_requests);
    check_summary(&r->tpot, r->n_gaps);
    assert_true(r->e2e.max <= (double)r->run_ns);

    assert_true(r->prefill_tokens_per_s > 0 && isfinite(r->prefill_tokens_per_s));
    assert_true(r->decode_tokens_per_s > 0 && isfinite(r->decode_tokens_per_s));
    assert_true(r->requests_per_s > 0);
    const double run_s = (double)r->run_ns / 1e9;
    assert_true(fabs(r->requests_per_s - r->n_requests / run_s) < 1e-9 * r->requests_per_s);
    assert_true(fabs(r->output_tokens_per_s - (double)r->n_requests * w->output_tokens / run_s) <
                1e-9 * r->output_tokens_per_s);
    (void)sum_gap_all;

    assert_true(r->weight_bytes > 0);
    assert_true(r->kv_bytes > 0);
    assert_true(r->workspace_bytes > 0);
    assert_true(r->peak_rss_bytes > 1000000);
    assert_int_equal(r->device_peak_bytes, 0); /* host memory backend */
    /* the target leaves kernels to the backend: whatever it chose is named */
    assert_true(strlen(r->kernels) > 0);

    /* counters: the default events, one row per phase, never a silent zero */
    assert_int_equal(r->n_counters, DFIT_COUNTERS_N_DEFAULT * DFIT_PHASE_COUNT);
    for (uint32_t i = 0; i < r->n_counters; i++) {
        const struct dfit_counter_value *c = &r->counters[i];
        assert_string_equal(c->name, dfit_counters_default[i / DFIT_PHASE_COUNT]);
        if (!c->available)
            assert_true(strlen(c->reason) > 0);
        else if (strcmp(c->name, "perf::TASK-CLOCK") == 0)
            assert_true(c->value > 0); /* every phase ran on the CPU */
    }
    assert_true(r->wall_ns >= r->run_ns);
    assert_int_equal(r->valid, dfit_build_optimized_here(NULL, 0));
    if (!r->valid)
        assert_true(strlen(r->invalid_reasons) > 0);
}

static void test_single_stream(void **state)
{
    (void)state;
    struct dfit_target_spec t = target(2.0);
    struct dfit_workload_spec w = workload(DFIT_MODE_SINGLE_STREAM, 1, 16, 8, 50, 5);
    struct dfit_cell_spec s = spec(&t, &w);
    struct dfit_cell_result r;
    memset(&r, 0, sizeof r);
    r.quality.available = true; /* handed in by the caller: kept */
    r.quality.kl_mean = 0.125;
    measure_ok(&s, &r);
    check_common(&r, &w);
    assert_true(r.quality.available);
    assert_true(r.quality.kl_mean == 0.125);
    /* cost: price per hour over output tokens per hour, per million */
    double want = 2.0 / 3600.0 / r.output_tokens_per_s * 1e6;
    assert_true(fabs(r.usd_per_mtok - want) < 1e-9 * want);
    /* single-stream: TTFT is the prefill time, so prefill throughput is
     * prompt tokens over the TTFT sum */
    double ttft_sum = 0;
    for (uint32_t i = 0; i < r.n_requests; i++)
        ttft_sum += (double)r.requests[i].ttft_ns;
    assert_true(fabs(r.prefill_tokens_per_s - 16.0 * r.n_requests / (ttft_sum / 1e9)) <
                1e-6 * r.prefill_tokens_per_s);
    dfit_cell_result_free_samples(&r);
    assert_null(r.requests);
}

static void test_offline_batches_share_times(void **state)
{
    (void)state;
    struct dfit_target_spec t = target(NAN);
    t.threads = 2; /* counters either inherited or unavailable with the reason */
    struct dfit_workload_spec w = workload(DFIT_MODE_OFFLINE, 4, 8, 5, 20, 6);
    struct dfit_cell_spec s = spec(&t, &w);
    struct dfit_cell_result r;
    memset(&r, 0, sizeof r);
    measure_ok(&s, &r);
    check_common(&r, &w);
    assert_true(isnan(r.usd_per_mtok)); /* no price, no cost axis */
    assert_int_equal(r.n_requests % 4, 0);
    assert_true(r.n_requests >= 8);
    for (uint32_t b = 0; b < r.n_requests; b += 4)
        for (uint32_t i = b + 1; i < b + 4; i++) {
            assert_int_equal(r.requests[i].ttft_ns, r.requests[b].ttft_ns);
            assert_int_equal(r.requests[i].e2e_ns, r.requests[b].e2e_ns);
            assert_memory_equal(r.gaps_ns + r.requests[i].first_gap,
                                r.gaps_ns + r.requests[b].first_gap, 4 * sizeof(uint64_t));
        }
    dfit_cell_result_free_samples(&r);
}

static void test_min_requests_exactly(void **state)
{
    (void)state;
    struct dfit_target_spec t = target(NAN);
    struct dfit_workload_spec w = workload(DFIT_MODE_SINGLE_STREAM, 1, 4, 3, 0, 3);
    struct dfit_cell_spec s = spec(&t, &w);
    struct dfit_cell_result r;
    memset(&r, 0, sizeof r);
    measure_ok(&s, &r);
    assert_int_equal(r.n_requests, 3); /* stops as soon as both rules are met */
    assert_int_equal(r.n_gaps, 6);
    dfit_cell_result_free_samples(&r);

    /* offline: whole batches, so the first multiple of the batch */
    w = workload(DFIT_MODE_OFFLINE, 4, 4, 2, 0, 3);
    measure_ok(&s, &r);
    assert_int_equal(r.n_requests, 4);
    dfit_cell_result_free_samples(&r);

    /* one output token: no gaps, no decode rate, but still a valid layout */
    w = workload(DFIT_MODE_SINGLE_STREAM, 1, 4, 1, 0, 2);
    measure_ok(&s, &r);
    assert_int_equal(r.n_gaps, 0);
    assert_int_equal(r.tpot.n, 0);
    assert_true(isnan(r.decode_tokens_per_s));
    assert_int_equal(r.requests[1].e2e_ns, r.requests[1].ttft_ns);
    dfit_cell_result_free_samples(&r);
}

static void test_validity_rule(void **state)
{
    (void)state;
    struct dfit_workload_spec w = workload(DFIT_MODE_SINGLE_STREAM, 1, 4, 3, 100, 10);
    struct dfit_cell_result r;
    memset(&r, 0, sizeof r);
    r.run_ns = 150000000;
    r.n_requests = 10;
    dfit_cell_judge(&r, &w, "release", true);
    assert_true(r.valid);
    assert_string_equal(r.invalid_reasons, "");

    dfit_cell_judge(&r, &w, "debug", false);
    assert_false(r.valid);
    assert_non_null(strstr(r.invalid_reasons, "debug"));

    r.run_ns = 50000000;
    r.n_requests = 9;
    dfit_cell_judge(&r, &w, "release", true);
    assert_false(r.valid);
    assert_non_null(strstr(r.invalid_reasons, "min_duration_ms 100"));
    assert_non_null(strstr(r.invalid_reasons, "; "));
    assert_non_null(strstr(r.invalid_reasons, "min_requests 10"));

    dfit_cell_judge(&r, &w, "minsize", true);
    assert_non_null(strstr(r.invalid_reasons, "minsize"));
    assert_false(r.valid);
}

static void test_failures_are_reported(void **state)
{
    (void)state;
    struct dfit_target_spec t = target(NAN);
    struct dfit_workload_spec w = workload(DFIT_MODE_SINGLE_STREAM, 1, 4, 3, 0, 2);
    struct dfit_cell_spec s = spec(&t, &w);
    struct dfit_cell_result r;
    struct dfit_err err = {0};

    t.backend = (char *)"no-such-backend";
    assert_int_equal(dfit_cell_measure(&s, &r, &err), DFIT_ENOTFOUND);
    assert_int_equal(r.status, DFIT_CELL_FAILED);
    assert_non_null(strstr(r.reason, "no-such-backend"));
    assert_null(r.requests);
    assert_null(r.counters);

    t.backend = (char *)"cpu";
    t.kernels = (char *)"bogus";
    assert_true(dfit_cell_measure(&s, &r, &err) != 0);
    assert_int_equal(r.status, DFIT_CELL_FAILED);
    assert_non_null(strstr(r.reason, "bogus"));
    t.kernels = NULL;

    /* a prompt token outside the vocabulary */
    int32_t bad[4] = {5, 6, 7, 99999};
    s.prompt_tokens = bad;
    s.n_prompt_tokens = 4;
    assert_int_equal(dfit_cell_measure(&s, &r, &err), DFIT_EINVAL);
    assert_int_equal(r.status, DFIT_CELL_FAILED);
    assert_non_null(strstr(r.reason, "99999"));
    assert_null(r.requests);

    s.prompt_tokens = g_stream;
    s.n_prompt_tokens = 1000;
    s.model_path = "/nonexistent/model.gguf";
    assert_int_equal(dfit_cell_measure(&s, &r, &err), DFIT_EIO);
    assert_int_equal(r.status, DFIT_CELL_FAILED);
    assert_non_null(strstr(r.reason, "/nonexistent/model.gguf"));
}

#if !DFIT_UNDER_ASAN /* see sanitizer.h */
/* A cell whose KV cache and scratch (512 sequences of 100-token prompts:
 * over 150 MB) do not fit a worker capped 48 MiB above its current size:
 * OOM with the reason, in a child process as the runner would run it. */
static void test_oom_under_rlimit(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = test_vm_bytes() + (48u << 20);
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(100);
        struct dfit_target_spec t = target(NAN);
        struct dfit_workload_spec w = workload(DFIT_MODE_OFFLINE, 512, 100, 2, 0, 1);
        struct dfit_cell_spec s = spec(&t, &w);
        struct dfit_cell_result r;
        memset(&r, 0, sizeof r);
        int rc = dfit_cell_measure(&s, &r, NULL);
        ssize_t n = write(fds[1], r.reason, strlen(r.reason) + 1);
        (void)n;
        _exit(rc == DFIT_ENOMEM ? (int)r.status : 101);
    }
    close(fds[1]);
    char reason[DFIT_REASON_MAX] = "";
    ssize_t got = read(fds[0], reason, sizeof reason - 1);
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != DFIT_CELL_OOM)
        fail_msg("child exited %d: %s", WEXITSTATUS(st), got > 0 ? reason : "");
    assert_true(got > 1);
    assert_true(strlen(reason) > 0);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_stream),
        cmocka_unit_test(test_offline_batches_share_times),
        cmocka_unit_test(test_min_requests_exactly),
        cmocka_unit_test(test_validity_rule),
        cmocka_unit_test(test_failures_are_reported),
#if !DFIT_UNDER_ASAN /* see sanitizer.h */
        cmocka_unit_test(test_oom_under_rlimit),
#endif
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
