/* test_worker — the sweep's worker processes for real: replies over the
 * pipe, exit statuses, a crash (SIGSEGV), a hang past its time limit (the
 * whole process group killed), the address-space cap, an interrupt while
 * waiting, the DFIT_TEST_FAULT parser; then whole cells on a tiny synth
 * model written to a real results database: ok, crashed, timeout, a real
 * OOM (a 69 MiB model under a cap it does not fit), and a quality
 * measurement in a worker, with task accuracy on CSV eval sets (per set as
 * scored directly, pooled, a set that cannot be read, no eval tokens).
 * Under AddressSanitizer (which reserves terabytes of address space and
 * dies rather than return NULL) an address-space cap cannot work: there
 * the tests check that the cap is set and that a capped cell is recorded
 * as not ok, instead of what the allocator does under it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/resource.h>

#include "compress/synth.h"
#include "run/accuracy.h"
#include "run/worker.h"
#include "util/clock.h"

#include "sanitizer.h"
#define UNDER_ASAN DFIT_UNDER_ASAN

static char g_dir[256];
static char g_model[320];
static char g_big[320];   /* 69 MiB: the tiny shape with a 262,144-token tied vocabulary */
static char g_db[320];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/dfit_test_worker_XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_model, sizeof g_model, "%s/tiny.gguf", g_dir);
    snprintf(g_db, sizeof g_db, "%s/results.db", g_dir);
    struct dfit_synth_params p = {.seed = 3, .type = DFIT_TYPE_F32};
    struct dfit_err err = {0};
    if (dfit_synth_preset("tiny", &p.shape, &err) || dfit_synth_write(&p, g_model, &err)) {
        fprintf(stderr, "synth: %s\n", err.msg);
        return -1;
    }
    snprintf(g_big, sizeof g_big, "%s/big.gguf", g_dir);
    p.shape.n_vocab = 262144;
    p.shape.tied_output = true;
    if (dfit_synth_write(&p, g_big, &err)) {
        fprintf(stderr, "synth: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the process machinery ---------------------------------------------------- */

static int child_reply(void *arg, int fd)
{
    const char *msg = arg;
    dfit_worker_reply(fd, msg, strlen(msg) + 1);
    return 7;
}

static void test_reply_and_exit_status(void **state)
{
    (void)state;
    char reply[64];
    memset(reply, 'x', sizeof reply);
    struct dfit_worker_status st;
    const struct dfit_worker_opts o = {.time_limit_s = 10};
    assert_int_equal(dfit_worker_run(child_reply, "hello", &o, reply, sizeof reply, &st, NULL), 0);
    assert_int_equal(st.end, DFIT_WORKER_EXITED);
    assert_int_equal(st.exit_status, 7);
    assert_int_equal(st.n_reply, 6);
    assert_string_equal(reply, "hello");
    assert_true(st.max_rss_bytes > 0);
}

/* A reply longer than the buffer is cut to it, and the child is not
 * blocked by the rest. */
static int child_long_reply(void *arg, int fd)
{
    (void)arg;
    static char big[256 * 1024];
    memset(big, 'b', sizeof big);
    dfit_worker_reply(fd, big, sizeof big);
    return 0;
}

static void test_long_reply_is_cut(void **state)
{
    (void)state;
    char reply[100];
    struct dfit_worker_status st;
    const struct dfit_worker_opts o = {.time_limit_s = 10};
    assert_int_equal(dfit_worker_run(child_long_reply, NULL, &o, reply, sizeof reply, &st, NULL), 0);
    assert_int_equal(st.end, DFIT_WORKER_EXITED);
    assert_int_equal(st.exit_status, 0);
    assert_int_equal(st.n_reply, sizeof reply);
    assert_int_equal(reply[99], 'b');
}

static int child_segv(void *arg, int fd)
{
    (void)arg, (void)fd;
    raise(SIGSEGV);
    return 0;
}

static void test_crash_is_signaled(void **state)
{
    (void)state;
    struct dfit_worker_status st;
    const struct dfit_worker_opts o = {.time_limit_s = 10};
    assert_int_equal(dfit_worker_run(child_segv, NULL, &o, NULL, 0, &st, NULL), 0);
    assert_int_equal(st.end, DFIT_WORKER_SIGNALED);
    assert_int_equal(st.signal, SIGSEGV);
    char buf[96];
    assert_string_equal(dfit_worker_signal_name(SIGSEGV, buf, sizeof buf),
                        "SIGSEGV (Segmentation fault)");
}

/* Hangs after starting a grandchild that hangs too; replies the
 * grandchild's pid first. */
static int child_hang(void *arg, int fd)
{
    (void)arg;
    pid_t g = fork();
    if (g == 0) {
        for (;;)
            pause();
    }
    dfit_worker_reply(fd, &g, sizeof g);
    for (;;)
        pause();
    return 0;
}

static unsigned g_ticks;
static void count_tick(void *user, uint64_t elapsed_ns)
{
    (void)user, (void)elapsed_ns;
    g_ticks++;
}

/* Whether pid is gone or a zombie waiting for its (new) parent. */
static bool dead(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && (rp[2] == 'Z' || rp[2] == 'X');
}

static void test_hang_times_out_and_group_dies(void **state)
{
    (void)state;
    pid_t g = 0;
    struct dfit_worker_status st;
    g_ticks = 0;
    const struct dfit_worker_opts o = {.time_limit_s = 0.4, .tick = count_tick, .tick_ms = 50};
    uint64_t t0 = dfit_now_ns();
    assert_int_equal(dfit_worker_run(child_hang, NULL, &o, &g, sizeof g, &st, NULL), 0);
    double s = (double)(dfit_now_ns() - t0) / 1e9;
    assert_int_equal(st.end, DFIT_WORKER_TIMED_OUT);
    assert_int_equal(st.signal, SIGKILL);
    /* killed at the limit: not before, and well within a second after */
    assert_true(s >= 0.4 && s < 1.5);
    assert_true(g_ticks >= 3);
    assert_int_equal(st.n_reply, sizeof g);
    assert_true(g > 0);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = dead(g);
        if (!gone)
            usleep(10000);
    }
    assert_true(gone);
}

/* Caps at 64 MiB: reads the limit back and tries to allocate 256 MiB,
 * then lifts the cap and tries again (through a volatile pointer, so the
 * compiler cannot drop the allocation). */
static void *volatile g_block;

static int child_cap(void *arg, int fd)
{
    (void)arg;
    uint64_t saved;
    long long r[4] = {-1, -1, -1, -1};
    struct rlimit rl;
    if (dfit_worker_cap_memory(64, &saved, NULL) != 0)
        return 1;
    r[0] = getrlimit(RLIMIT_AS, &rl) == 0 ? (long long)rl.rlim_cur : -2;
    if (!UNDER_ASAN) {
        g_block = malloc(256u << 20);
        r[1] = g_block != NULL;
        free(g_block);
    }
    dfit_worker_uncap_memory(saved);
    r[2] = getrlimit(RLIMIT_AS, &rl) == 0 && (uint64_t)rl.rlim_cur == saved;
    g_block = malloc(256u << 20);
    r[3] = g_block != NULL;
    free(g_block);
    dfit_worker_reply(fd, r, sizeof r);
    return 0;
}

static void test_memory_cap(void **state)
{
    (void)state;
    long long r[4] = {-1, -1, -1, -1};
    struct dfit_worker_status st;
    const struct dfit_worker_opts o = {.time_limit_s = 10};
    assert_int_equal(dfit_worker_run(child_cap, NULL, &o, r, sizeof r, &st, NULL), 0);
    assert_int_equal(st.end, DFIT_WORKER_EXITED);
    assert_int_equal(st.exit_status, 0);
    assert_int_equal(r[0], 64ll << 20);  /* the soft limit is the cap */
    if (!UNDER_ASAN)
        assert_int_equal(r[1], 0);       /* refused under the cap */
    assert_int_equal(r[2], 1);           /* the old limit is back */
    assert_int_equal(r[3], 1);           /* and the allocation fine */
}

/* Sends the parent SIGINT, then hangs: the parent must kill it at once. */
static int child_interrupts_parent(void *arg, int fd)
{
    (void)arg, (void)fd;
    kill(getppid(), SIGINT);
    for (;;)
        pause();
    return 0;
}

static void test_interrupt_kills_worker(void **state)
{
    (void)state;
    struct dfit_worker_status st;
    assert_int_equal(dfit_worker_signals_begin(NULL), 0);
    const struct dfit_worker_opts o = {.time_limit_s = 30};
    uint64_t t0 = dfit_now_ns();
    assert_int_equal(dfit_worker_run(child_interrupts_parent, NULL, &o, NULL, 0, &st, NULL), 0);
    double s = (double)(dfit_now_ns() - t0) / 1e9;
    assert_int_equal(st.end, DFIT_WORKER_INTERRUPTED);
    assert_int_equal(dfit_worker_interrupted(), SIGINT);
    assert_true(s < 5);
    dfit_worker_signals_end();
    /* a new sweep starts uninterrupted */
    assert_int_equal(dfit_worker_signals_begin(NULL), 0);
    assert_int_equal(dfit_worker_interrupted(), 0);
    dfit_worker_signals_end();
}

static void test_fault_parser(void **state)
{
    (void)state;
    setenv("DFIT_TEST_FAULT", "a/b/c:crash,x/y/z:hang,broken,q/r/s:nonsense,m/n/o:oom,a/b/cc:fail", 1);
    assert_string_equal(dfit_worker_fault("a", "b", "c"), "crash");
    assert_string_equal(dfit_worker_fault("x", "y", "z"), "hang");
    assert_string_equal(dfit_worker_fault("m", "n", "o"), "oom");
    assert_string_equal(dfit_worker_fault("a", "b", "cc"), "fail");
    assert_null(dfit_worker_fault("q", "r", "s"));
    assert_null(dfit_worker_fault("a", "b", "d"));
    assert_null(dfit_worker_fault("a/b", "c", ""));
    /* names with ',', ':', quotes and the like (scenario names may hold them) */
    setenv("DFIT_TEST_FAULT", "v,1:x/t \"q\"/w:crash,q`x`$(y)/t:2/w:fail,:oom/b/c:hang", 1);
    assert_string_equal(dfit_worker_fault("v,1:x", "t \"q\"", "w"), "crash");
    assert_string_equal(dfit_worker_fault("q`x`$(y)", "t:2", "w"), "fail");
    assert_string_equal(dfit_worker_fault(":oom", "b", "c"), "hang");
    assert_null(dfit_worker_fault("v", "t \"q\"", "w"));
    assert_null(dfit_worker_fault("q`x`$(y)", "t", "2/w"));
    unsetenv("DFIT_TEST_FAULT");
    assert_null(dfit_worker_fault("a", "b", "c"));
}

/* ---- cells in workers, into a real database -------------------------------------- */

struct fixture {
    struct dfit_store *store;
    int64_t run_id;
    struct dfit_variant_spec variant;
    struct dfit_target_spec target;
    struct dfit_workload_spec workload;
    int32_t prompt[64];
    struct dfit_cell_spec spec;
    struct dfit_quality quality;
};

static void fixture_open(struct fixture *f, double memory_limit_mib, double time_limit_s)
{
    struct dfit_err err = {0};
    memset(f, 0, sizeof *f);
    unlink(g_db);
    assert_int_equal(dfit_store_open(g_db, &f->store, &err), 0);
    const struct dfit_run_info info = {
        .scenario = "t", .scenario_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
    assert_int_equal(dfit_store_create_run(f->store, &info, NULL, &f->run_id, &err), 0);
    f->variant = (struct dfit_variant_spec){.name = "f32"};
    f->target = (struct dfit_target_spec){
        .name = "edge", .backend = "cpu", .threads = 1, .memory_limit_mib = memory_limit_mib,
        .price_per_hour = NAN, .time_limit_s = time_limit_s, .slo = {NAN, NAN, NAN, NAN, NAN, NAN, NAN}};
    f->workload = (struct dfit_workload_spec){
        .name = "chat", .mode = DFIT_MODE_SINGLE_STREAM, .prompt_tokens = 8, .output_tokens = 4,
        .batch = 1, .min_duration_ms = 0, .min_requests = 2, .warmup_requests = 0};
    const struct dfit_store_variant sv = {.name = "f32", .file = g_model, .bits_per_weight = NAN};
    assert_int_equal(dfit_store_add_variant(f->store, f->run_id, &sv, &err), 0);
    assert_int_equal(dfit_store_add_target(f->store, f->run_id, &f->target, &err), 0);
    assert_int_equal(dfit_store_add_workload(f->store, f->run_id, &f->workload, &err), 0);
    for (int i = 0; i < 64; i++)
        f->prompt[i] = 100 + i;
    f->spec = (struct dfit_cell_spec){
        .variant = &f->variant, .model_path = g_model, .target = &f->target,
        .workload = &f->workload, .prompt_tokens = f->prompt, .n_prompt_tokens = 64, .seed = 1};
    f->quality.available = true;
    f->quality.top1 = 0.875;
    f->quality.n_tokens = 40;
}

/* Runs the cell with fault and returns the stored row. */
static void run_cell(struct fixture *f, const char *fault, struct dfit_cell_outcome *oc,
                     struct dfit_store_cell **cells)
{
    struct dfit_err err = {0};
    const struct dfit_cell_job job = {.store = &f->store, .db_path = g_db, .run_id = f->run_id,
                                      .spec = &f->spec, .quality = &f->quality, .fault = fault};
    int rc = dfit_worker_cell(&job, oc, &err);
    if (rc)
        fprintf(stderr, "worker_cell: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(f->store); /* closed around the fork, open again */
    assert_true(oc->stored);
    assert_false(oc->interrupted);
    size_t n = 0;
    assert_int_equal(dfit_store_load_cells(f->store, f->run_id, true, cells, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal((*cells)[0].r.status, oc->status);
    assert_string_equal((*cells)[0].r.reason, oc->reason);
    /* the pair's quality travels with every row */
    assert_true((*cells)[0].r.quality.available);
    assert_true(fabs((*cells)[0].r.quality.top1 - 0.875) < 1e-12);
}

static void test_cell_ok(void **state)
{
    (void)state;
    struct fixture f;
    struct dfit_cell_outcome oc;
    struct dfit_store_cell *cells = NULL;
    fixture_open(&f, NAN, 60);
    run_cell(&f, NULL, &oc, &cells);
    assert_int_equal(oc.status, DFIT_CELL_OK);
    assert_int_equal(cells[0].r.n_requests, 2);
    assert_int_equal(cells[0].r.n_gaps, 2 * 3);
    assert_true(cells[0].r.wall_ns > 0 && cells[0].r.wall_ns <= oc.wall_ns);
    dfit_store_cells_free(cells, 1);
    dfit_store_close(f.store);
}

static void test_cell_crash(void **state)
{
    (void)state;
    struct fixture f;
    struct dfit_cell_outcome oc;
    struct dfit_store_cell *cells = NULL;
    fixture_open(&f, NAN, 60);
    run_cell(&f, "crash", &oc, &cells);
    assert_int_equal(oc.status, DFIT_CELL_CRASHED);
    assert_non_null(strstr(oc.reason, "SIGSEGV"));
    assert_int_equal(cells[0].r.n_requests, 0);
    dfit_store_cells_free(cells, 1);
    dfit_store_close(f.store);
}

static void test_cell_hang_times_out(void **state)
{
    (void)state;
    struct fixture f;
    struct dfit_cell_outcome oc;
    struct dfit_store_cell *cells = NULL;
    fixture_open(&f, NAN, 0.5);
    run_cell(&f, "hang", &oc, &cells);
    assert_int_equal(oc.status, DFIT_CELL_TIMEOUT);
    assert_non_null(strstr(oc.reason, "time limit of 0.5 s"));
    assert_true(oc.wall_ns >= 500000000u && oc.wall_ns < 3000000000u);
    dfit_store_cells_free(cells, 1);
    dfit_store_close(f.store);
}

static void test_cell_fail_and_injected_oom(void **state)
{
    (void)state;
    struct fixture f;
    struct dfit_cell_outcome oc;
    struct dfit_store_cell *cells = NULL;
    /* short limit: under AddressSanitizer a worker that runs into its cap
     * can hang in the sanitizer's own error path */
    fixture_open(&f, NAN, 3);
    run_cell(&f, "fail", &oc, &cells);
    assert_int_equal(oc.status, DFIT_CELL_FAILED);
    assert_non_null(strstr(oc.reason, "injected"));
    dfit_store_cells_free(cells, 1);
    /* a failed cell is replaced by the next attempt */
    run_cell(&f, "oom", &oc, &cells);
    if (UNDER_ASAN) {
        assert_int_not_equal(oc.status, DFIT_CELL_OK);
    } else {
        assert_int_equal(oc.status, DFIT_CELL_OOM);
        assert_non_null(strstr(oc.reason, "out of memory"));
    }
    dfit_store_cells_free(cells, 1);
    dfit_store_close(f.store);
}

/* Address space this process maps now, in MiB. */
static double mapped_mib(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    return (double)pages * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

/* A cap 32 MiB above what a worker starts with: the 69 MiB model cannot
 * be mapped under it (an OOM, not a failure), the tiny one runs. */
static void test_cell_real_oom(void **state)
{
    (void)state;
    struct fixture f;
    struct dfit_cell_outcome oc;
    struct dfit_store_cell *cells = NULL;
    const double cap = ceil(mapped_mib()) + 32;
    fixture_open(&f, cap, 10);
    f.spec.model_path = g_big;
    run_cell(&f, NULL, &oc, &cells);
    if (UNDER_ASAN) {
        assert_int_not_equal(oc.status, DFIT_CELL_OK);
        assert_true(strlen(oc.reason) > 0);
    } else {
        char want[64];
        snprintf(want, sizeof want, "memory limit %g MiB reached", cap);
        assert_int_equal(oc.status, DFIT_CELL_OOM);
        assert_non_null(strstr(oc.reason, want));
        assert_non_null(strstr(oc.reason, "big.gguf"));
    }
    dfit_store_cells_free(cells, 1);
    /* the tiny model under the same cap is ok (it replaces the oom row) */
    if (!UNDER_ASAN) {
        f.spec.model_path = g_model;
        run_cell(&f, NULL, &oc, &cells);
        assert_int_equal(oc.status, DFIT_CELL_OK);
        dfit_store_cells_free(cells, 1);
    }
    dfit_store_close(f.store);
}

static void test_quality_in_worker(void **state)
{
    (void)state;
    int32_t tokens[48];
    for (int i = 0; i < 48; i++)
        tokens[i] = 50 + (i * 7) % 200;
    const struct dfit_quality_params qp = {.n_threads = 1};
    const struct dfit_quality_job job = {.reference_path = g_model, .variant_path = g_model,
                                         .params = &qp, .tokens = tokens, .n_tokens = 48,
                                         .time_limit_s = 30};
    struct dfit_quality q;
    bool interrupted = true;
    assert_int_equal(dfit_worker_quality(&job, &q, &interrupted, NULL), 0);
    assert_false(interrupted);
    assert_true(q.available);
    /* the model against itself: exactly KL 0, top-1 1 (quality.h) */
    assert_true(q.n_tokens > 0);
    assert_true(fabs(q.kl_mean) < 1e-9);
    assert_true(fabs(q.top1 - 1.0) < 1e-12);

    /* too few tokens: the measurement's own error comes back as the reason */
    const struct dfit_quality_job few = {.reference_path = g_model, .variant_path = g_model,
                                         .params = &qp, .tokens = tokens, .n_tokens = 3,
                                         .time_limit_s = 30};
    assert_int_equal(dfit_worker_quality(&few, &q, &interrupted, NULL), 0);
    assert_false(q.available);
    assert_true(strlen(q.reason) > 0);
}

/* Writes text to g_dir/name into path[cap]. */
static void write_in_dir(const char *name, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* CSV eval sets scored in the quality worker: each set as
 * dfit_accuracy_csv scores it here, the pooled accuracy over their items,
 * a set that cannot be read, and no eval tokens. */
static void test_quality_worker_tasks(void **state)
{
    (void)state;
    char gen[400], mc[400], missing[400];
    write_in_dir("eval_gen.csv", "prompt,answer\nab,c\nx y,z\nhello,world\nq,r\n", gen, sizeof gen);
    write_in_dir("eval_mc.csv", "prompt,choice_1,choice_2,label\na,b,c,1\nd,e,f,2\ng,h,i,1\n", mc,
                 sizeof mc);
    snprintf(missing, sizeof missing, "%s/eval_gone.csv", g_dir);
    int32_t tokens[48];
    for (int i = 0; i < 48; i++)
        tokens[i] = 50 + (i * 7) % 200;
    const struct dfit_quality_params qp = {.n_threads = 1};
    const char *paths[2] = {gen, mc};
    struct dfit_task_accuracy tasks[3];
    struct dfit_quality_job job = {.reference_path = g_model, .variant_path = g_model,
                                   .params = &qp, .tokens = tokens, .n_tokens = 48,
                                   .time_limit_s = 60, .task_paths = paths, .n_tasks = 2,
                                   .task_limit = 3, .tasks = tasks};
    struct dfit_quality q;
    bool interrupted = true;
    assert_int_equal(dfit_worker_quality(&job, &q, &interrupted, NULL), 0);
    assert_false(interrupted);
    assert_true(q.available);
    assert_true(fabs(q.top1 - 1.0) < 1e-12);
    /* each set as scored here, the first 3 items of each */
    const struct dfit_accuracy_params ap = {.n_threads = 1, .limit = 3};
    uint64_t n = 0, right = 0;
    for (int i = 0; i < 2; i++) {
        struct dfit_accuracy a;
        struct dfit_err err = {0};
        if (dfit_accuracy_csv(g_model, &ap, paths[i], &a, &err) != 0)
            fail_msg("%s", err.msg);
        assert_true(tasks[i].available);
        assert_string_equal(tasks[i].task, i ? "eval_mc" : "eval_gen");
        assert_int_equal(tasks[i].n_items, 3);
        assert_int_equal(tasks[i].n_correct, a.n_correct);
        assert_true(tasks[i].accuracy == a.accuracy && tasks[i].accuracy_se == a.accuracy_se);
        n += a.n_items;
        right += a.n_correct;
    }
    /* pooled over all 6 items, se = sqrt(p (1 - p) / n) */
    double p = (double)right / (double)n;
    assert_true(q.has_accuracy);
    assert_true(fabs(q.accuracy - p) < 1e-15);
    assert_true(fabs(q.accuracy_se - sqrt(p * (1.0 - p) / (double)n)) < 1e-15);

    /* a set that cannot be read: its reason, no pooled accuracy, the other
     * sets still scored */
    const char *paths3[3] = {gen, missing, mc};
    job.task_paths = paths3;
    job.n_tasks = 3;
    assert_int_equal(dfit_worker_quality(&job, &q, &interrupted, NULL), 0);
    assert_true(q.available);
    assert_false(q.has_accuracy);
    assert_true(tasks[0].available && tasks[2].available);
    assert_false(tasks[1].available);
    assert_string_equal(tasks[1].task, "eval_gone");
    assert_non_null(strstr(tasks[1].reason, "eval_gone.csv"));

    /* no eval tokens: fidelity unavailable with the reason given, the sets
     * scored all the same */
    job.task_paths = paths;
    job.n_tasks = 2;
    job.tokens = NULL;
    job.n_tokens = 0;
    job.no_tokens_reason = "eval data: no such file";
    assert_int_equal(dfit_worker_quality(&job, &q, &interrupted, NULL), 0);
    assert_false(q.available);
    assert_string_equal(q.reason, "eval data: no such file");
    assert_true(q.has_accuracy);
    assert_true(fabs(q.accuracy - p) < 1e-15);

    /* too many sets */
    job.n_tasks = DFIT_WORKER_MAX_TASKS + 1;
    assert_int_equal(dfit_worker_quality(&job, &q, &interrupted, NULL), DFIT_EINVAL);
    assert_false(q.available);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_and_exit_status),
        cmocka_unit_test(test_long_reply_is_cut),
        cmocka_unit_test(test_crash_is_signaled),
        cmocka_unit_test(test_hang_times_out_and_group_dies),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_interrupt_kills_worker),
        cmocka_unit_test(test_fault_parser),
        cmocka_unit_test(test_cell_ok),
        cmocka_unit_test(test_cell_crash),
        cmocka_unit_test(test_cell_hang_times_out),
        cmocka_unit_test(test_cell_fail_and_injected_oom),
        cmocka_unit_test(test_cell_real_oom),
        cmocka_unit_test(test_quality_in_worker),
        cmocka_unit_test(test_quality_worker_tasks),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
