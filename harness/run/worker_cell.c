/* worker_cell.c — what the sweep's workers do (see worker.h): measure one
 * cell under the target's limits and store it, or measure a (variant,
 * target) pair's fidelity; and in the parent, turn a worker that died,
 * hung or exited early into a stored cell with its reason; the quality
 * worker scores the scenario's CSV eval sets too. Also the test fault
 * injection (DFIT_TEST_FAULT).
 * Non-goals: the process machinery (worker.c), the order of cells (runner.c).
 */
#include "run/worker.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/accuracy.h"
#include "run/counters.h"
#include "util/clock.h"

/* snprintf that is allowed to cut (reasons are bounded by design). */
static void fmt_cut(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fmt_cut(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* Copies src into dst[cap], cut to fit. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void dfit_worker_blank_result(struct dfit_cell_result *r, enum dfit_cell_status st,
                              const char *reason, const struct dfit_quality *quality)
{
    struct dfit_quality q;
    if (quality)
        q = *quality; /* quality may point into *r */
    memset(r, 0, sizeof *r);
    r->status = st;
    copy_str(r->reason, sizeof r->reason, reason ? reason : "");
    r->prefill_tokens_per_s = r->decode_tokens_per_s = NAN;
    r->requests_per_s = r->output_tokens_per_s = NAN;
    r->usd_per_mtok = NAN;
    if (quality) {
        r->quality = q;
    } else {
        r->quality.available = false;
        copy_str(r->quality.reason, sizeof r->quality.reason, "not measured");
    }
    r->valid = false;
}

/* ---- fault injection ------------------------------------------------------------ */

/* Entries are "V/T/W:KIND" separated by ','. Names may hold ',' and ':'
 * themselves, so a cell's entry is looked for at the start of the list and
 * after every ',': its id, then ':KIND', then ',' or the end of the list
 * (a malformed entry does not hide the ones after it). */
const char *dfit_worker_fault(const char *variant, const char *target, const char *workload)
{
    static const char *const kinds[] = {"crash", "hang", "oom", "fail"};
    const char *env = getenv("DFIT_TEST_FAULT");
    if (!env || !*env)
        return NULL;
    char id[3 * 64 + 8];
    int n = snprintf(id, sizeof id, "%s/%s/%s", variant, target, workload);
    if (n < 0 || (size_t)n >= sizeof id)
        return NULL;
    for (const char *p = env; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (strncmp(p, id, (size_t)n) != 0 || p[n] != ':')
            continue;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            size_t kl = strlen(kinds[k]);
            const char *after = p + n + 1 + kl;
            if (strncmp(p + n + 1, kinds[k], kl) == 0 && (*after == ',' || *after == '\0'))
                return kinds[k];
        }
    }
    return NULL;
}

/* The address space this process maps now, in MiB (0 if unknown). */
static double mapped_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (double)pages * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

/* "oom": allocate and touch 1 MiB blocks under the cap (the target's, or
 * 64 MiB above what is mapped now) until malloc refuses. Never more than
 * the room the cap leaves, plus what malloc holds free already, plus 64 MiB:
 * where a cap cannot work (an AddressSanitizer build maps terabytes) that
 * is a failure, not a machine run out of memory. */
static void inject_oom(double limit_mib, struct dfit_cell_result *r)
{
    const double now = mapped_mib();
    const double cap = limit_mib > 0 && isfinite(limit_mib) ? limit_mib : now + 64.0;
    const struct mallinfo2 mi = mallinfo2();
    const double room = cap - now + (double)mi.fordblks / 1048576.0 + 64.0;
    const size_t max_blocks = room > 0 ? (size_t)room : 0;
    uint64_t saved;
    struct dfit_err e = {0};
    if (dfit_worker_cap_memory(cap, &saved, &e) != 0) {
        dfit_worker_blank_result(r, DFIT_CELL_FAILED, e.msg, &r->quality);
        return;
    }
    void **blocks = calloc(max_blocks + 1, sizeof *blocks);
    size_t n = 0;
    bool refused = blocks == NULL;
    while (!refused && n < max_blocks) {
        if (!(blocks[n] = malloc(1u << 20))) {
            refused = true;
            break;
        }
        memset(blocks[n], 0xa5, 1u << 20);
        n++;
    }
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    free(blocks);
    dfit_worker_uncap_memory(saved);
    char why[DFIT_REASON_MAX];
    if (refused) {
        fmt_cut(why, sizeof why, "injected fault (DFIT_TEST_FAULT): out of memory after %zu MiB", n);
        dfit_worker_blank_result(r, DFIT_CELL_OOM, why, &r->quality);
    } else {
        fmt_cut(why, sizeof why, "injected fault (DFIT_TEST_FAULT): %zu MiB allocated without "
                "reaching the %g MiB cap (address-space caps do not work in this build)", n, cap);
        dfit_worker_blank_result(r, DFIT_CELL_FAILED, why, &r->quality);
    }
}

/* ---- the cell worker ------------------------------------------------------------ */

#define CELL_REPLY_MAGIC 0x6466636cu /* "dfcl" */

struct cell_reply {
    uint32_t magic;
    int32_t status;       /* enum dfit_cell_status stored */
    int32_t stored;       /* the cell row was committed */
    char reason[DFIT_REASON_MAX];
};

static int exit_for(enum dfit_cell_status st)
{
    return st == DFIT_CELL_OK ? DFIT_WORKER_EXIT_OK
         : st == DFIT_CELL_OOM ? DFIT_WORKER_EXIT_OOM : DFIT_WORKER_EXIT_FAILED;
}

/* Runs in the child. */
static int cell_child(void *arg, int fd)
{
    const struct dfit_cell_job *job = arg;
    const struct dfit_cell_spec *spec = job->spec;
    const uint64_t t0 = dfit_now_ns();
    struct cell_reply rep = {.magic = CELL_REPLY_MAGIC, .status = DFIT_CELL_FAILED};
    struct dfit_err err = {0};
    struct dfit_store *s = NULL;
    struct dfit_cell_result r;
    dfit_worker_blank_result(&r, DFIT_CELL_FAILED, "", job->quality);

    if (dfit_store_open(job->db_path, &s, &err) != 0) {
        fmt_cut(rep.reason, sizeof rep.reason, "worker: %s", err.msg);
        dfit_worker_reply(fd, &rep, sizeof rep);
        return DFIT_WORKER_EXIT_NOT_STORED;
    }
    const double limit = spec->target->memory_limit_mib;
    const char *fault = job->fault;
    if (fault && strcmp(fault, "crash") == 0) {
        raise(SIGSEGV);
    } else if (fault && strcmp(fault, "hang") == 0) {
        for (;;)
            pause();
    } else if (fault && strcmp(fault, "oom") == 0) {
        inject_oom(limit, &r);
    } else if (fault && strcmp(fault, "fail") == 0) {
        dfit_worker_blank_result(&r, DFIT_CELL_FAILED, "injected fault (DFIT_TEST_FAULT)",
                                 job->quality);
    } else {
        uint64_t saved;
        /* PAPI starts before the cap: its start does not survive every
         * failed allocation (counters.h) */
        dfit_counters_init((const char *const *)spec->target->counters, spec->target->n_counters);
        if (dfit_worker_cap_memory(limit, &saved, &err) != 0) {
            dfit_worker_blank_result(&r, DFIT_CELL_FAILED, err.msg, job->quality);
        } else {
            dfit_cell_measure(spec, &r, &err); /* status and reason say how it went */
            dfit_worker_uncap_memory(saved);
            dfit_counters_shutdown();
            if (r.status == DFIT_CELL_OOM && limit > 0 && isfinite(limit)) {
                char why[DFIT_REASON_MAX];
                fmt_cut(why, sizeof why, "memory limit %g MiB reached: %s", limit, r.reason);
                copy_str(r.reason, sizeof r.reason, why);
            }
        }
    }
    r.wall_ns = dfit_now_ns() - t0;
    int rc = dfit_store_write_cell(s, job->run_id, spec->variant->name, spec->target->name,
                                   spec->workload->name, &r, &err);
    dfit_cell_result_free_samples(&r);
    dfit_store_close(s);
    rep.status = (int32_t)r.status;
    if (rc != 0) {
        fmt_cut(rep.reason, sizeof rep.reason, "worker: storing the cell: %s", err.msg);
        dfit_worker_reply(fd, &rep, sizeof rep);
        return DFIT_WORKER_EXIT_NOT_STORED;
    }
    rep.stored = 1;
    copy_str(rep.reason, sizeof rep.reason, r.reason);
    dfit_worker_reply(fd, &rep, sizeof rep);
    return exit_for(r.status);
}

/* "exceeded ..." / "killed by ..." for a worker that did not answer. */
static enum dfit_cell_status classify(const struct dfit_worker_status *st, double limit_s,
                                      double limit_mib, const struct cell_reply *rep, bool got,
                                      char *why, size_t cap)
{
    char sig[96];
    switch (st->end) {
    case DFIT_WORKER_TIMED_OUT:
        fmt_cut(why, cap, "exceeded the time limit of %g s (killed after %.1f s)", limit_s,
                 (double)st->wall_ns / 1e9);
        return DFIT_CELL_TIMEOUT;
    case DFIT_WORKER_SIGNALED: {
        double rss_mib = (double)st->max_rss_bytes / 1048576.0;
        if (st->signal == SIGKILL && limit_mib > 0 && isfinite(limit_mib) &&
            rss_mib >= 0.9 * limit_mib) {
            fmt_cut(why, cap, "killed by SIGKILL with a peak RSS of %.1f MiB, near its memory limit "
                     "of %g MiB", rss_mib, limit_mib);
            return DFIT_CELL_OOM;
        }
        fmt_cut(why, cap, "killed by %s", dfit_worker_signal_name(st->signal, sig, sizeof sig));
        return DFIT_CELL_CRASHED;
    }
    case DFIT_WORKER_INTERRUPTED:
        fmt_cut(why, cap, "interrupted");
        return DFIT_CELL_FAILED;
    case DFIT_WORKER_EXITED:
    default:
        if (got && rep->reason[0])
            fmt_cut(why, cap, "worker exited with status %d without storing its cell: %s",
                     st->exit_status, rep->reason);
        else
            fmt_cut(why, cap, "worker exited with status %d without storing its cell",
                     st->exit_status);
        return DFIT_CELL_FAILED;
    }
}

int dfit_worker_cell(const struct dfit_cell_job *job, struct dfit_cell_outcome *out,
                     struct dfit_err *err)
{
    const struct dfit_target_spec *t = job->spec->target;
    struct cell_reply rep;
    struct dfit_worker_status st;
    memset(out, 0, sizeof *out);
    memset(&rep, 0, sizeof rep);
    const struct dfit_worker_opts o = {
        .time_limit_s = t->time_limit_s, .tick = job->tick, .tick_user = job->tick_user};
    dfit_store_close(*job->store);
    *job->store = NULL;
    int rc = dfit_worker_run(cell_child, (void *)job, &o, &rep, sizeof rep, &st, err);
    struct dfit_err e2 = {0};
    int rc2 = dfit_store_open(job->db_path, job->store, rc ? &e2 : err);
    if (rc)
        return rc;
    if (rc2)
        return rc2;
    out->wall_ns = st.wall_ns;
    bool got = st.n_reply == sizeof rep && rep.magic == CELL_REPLY_MAGIC;
    if (got && rep.stored) {
        out->status = (enum dfit_cell_status)rep.status;
        copy_str(out->reason, sizeof out->reason, rep.reason);
        out->stored = true;
        return 0;
    }
    if (st.end == DFIT_WORKER_INTERRUPTED) {
        out->status = DFIT_CELL_FAILED;
        copy_str(out->reason, sizeof out->reason, "interrupted");
        out->interrupted = true;
        return 0;
    }
    out->status = classify(&st, t->time_limit_s, t->memory_limit_mib, &rep, got, out->reason,
                           sizeof out->reason);

    struct dfit_cell_result r;
    dfit_worker_blank_result(&r, out->status, out->reason, job->quality);
    r.wall_ns = st.wall_ns;
    r.peak_rss_bytes = st.max_rss_bytes;
    const struct dfit_cell_spec *spec = job->spec;
    rc = dfit_store_write_cell(*job->store, job->run_id, spec->variant->name, t->name,
                               spec->workload->name, &r, err);
    if (rc == DFIT_EEXIST) {
        /* the worker committed an ok cell before it died: that row stands */
        dfit_err_clear(err);
        out->status = DFIT_CELL_OK;
        out->reason[0] = '\0';
        rc = 0;
    }
    out->stored = rc == 0;
    return rc;
}

/* ---- the quality worker -------------------------------------------------------- */

struct quality_reply {
    struct dfit_quality q;
    uint32_t n_tasks;
    struct dfit_task_accuracy tasks[DFIT_WORKER_MAX_TASKS];
};

/* The name a set at path has (its file name without ".csv"), for a set
 * that could not be read. */
static void task_name_of(const char *path, char *dst, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 4 && strcmp(b + n - 4, ".csv") == 0)
        n -= 4;
    fmt_cut(dst, cap, "%.*s", (int)n, b);
}

/* Scores every set of the job on the variant; the pooled accuracy goes
 * into rep->q when every set was scored. */
static void score_tasks(const struct dfit_quality_job *job, struct quality_reply *rep)
{
    const struct dfit_quality_params *qp = job->params;
    const struct dfit_accuracy_params ap = {
        .backend = qp ? qp->backend : NULL,
        .n_threads = qp ? qp->n_threads : 0,
        .kernels = qp ? qp->kernels : NULL,
        .device = qp ? qp->device : NULL,
        .limit = job->task_limit,
    };
    uint64_t n = 0, correct = 0;
    bool all = true;
    rep->n_tasks = job->n_tasks;
    for (uint32_t i = 0; i < job->n_tasks; i++) {
        struct dfit_task_accuracy *t = &rep->tasks[i];
        struct dfit_accuracy a;
        struct dfit_err e = {0};
        int rc = dfit_accuracy_csv(job->variant_path, &ap, job->task_paths[i], &a, &e);
        if (rc) {
            task_name_of(job->task_paths[i], t->task, sizeof t->task);
            t->available = false;
            copy_str(t->reason, sizeof t->reason, e.msg[0] ? e.msg : dfit_err_name(rc));
            all = false;
            continue;
        }
        copy_str(t->task, sizeof t->task, a.name);
        t->available = true;
        t->n_items = a.n_items;
        t->n_correct = a.n_correct;
        t->accuracy = a.accuracy;
        t->accuracy_se = a.accuracy_se;
        n += a.n_items;
        correct += a.n_correct;
    }
    if (all && n > 0) {
        double p = (double)correct / (double)n;
        const struct dfit_accuracy pooled = {.n_items = n, .n_correct = correct, .accuracy = p,
                                             .accuracy_se = sqrt(p * (1.0 - p) / (double)n)};
        dfit_accuracy_to_quality(&pooled, &rep->q);
    }
}

static int quality_child(void *arg, int fd)
{
    const struct dfit_quality_job *job = arg;
    struct quality_reply *rep = calloc(1, sizeof *rep);
    struct dfit_err err = {0};
    int rc = 0;
    if (!rep)
        return 1;
    if (job->tokens) {
        rc = dfit_quality_measure(job->reference_path, job->variant_path, job->params, job->tokens,
                                  job->n_tokens, &rep->q, &err);
        if (rc) {
            rep->q.available = false;
            copy_str(rep->q.reason, sizeof rep->q.reason, err.msg[0] ? err.msg : dfit_err_name(rc));
        }
    } else {
        copy_str(rep->q.reason, sizeof rep->q.reason,
                 job->no_tokens_reason ? job->no_tokens_reason : "no eval tokens");
    }
    score_tasks(job, rep);
    dfit_worker_reply(fd, rep, sizeof *rep);
    free(rep);
    return rc ? 1 : 0;
}

int dfit_worker_quality(const struct dfit_quality_job *job, struct dfit_quality *q,
                        bool *interrupted, struct dfit_err *err)
{
    struct quality_reply *reply = NULL;
    struct dfit_worker_status st;
    struct dfit_err local = {0};
    if (!err)
        err = &local;
    memset(q, 0, sizeof *q);
    *interrupted = false;
    if (job->n_tasks > DFIT_WORKER_MAX_TASKS || (job->n_tasks && (!job->task_paths || !job->tasks))) {
        int rc = dfit_err_set(err, DFIT_EINVAL, "quality worker: %u eval sets (at most %d, with "
                              "their paths and results)", job->n_tasks, DFIT_WORKER_MAX_TASKS);
        copy_str(q->reason, sizeof q->reason, err->msg);
        return rc;
    }
    if (!(reply = calloc(1, sizeof *reply))) {
        int rc = dfit_err_set(err, DFIT_ENOMEM, "quality worker: out of memory");
        copy_str(q->reason, sizeof q->reason, err->msg);
        return rc;
    }
    const struct dfit_worker_opts o = {
        .time_limit_s = job->time_limit_s, .tick = job->tick, .tick_user = job->tick_user};
    int rc = dfit_worker_run(quality_child, (void *)job, &o, reply, sizeof *reply, &st, err);
    if (rc) {
        copy_str(q->reason, sizeof q->reason, err->msg);
    } else if (st.n_reply == sizeof *reply && st.end == DFIT_WORKER_EXITED &&
               reply->n_tasks == job->n_tasks) {
        *q = reply->q;
        q->reason[sizeof q->reason - 1] = '\0';
        for (uint32_t i = 0; i < job->n_tasks; i++) {
            job->tasks[i] = reply->tasks[i];
            job->tasks[i].task[sizeof job->tasks[i].task - 1] = '\0';
            job->tasks[i].reason[sizeof job->tasks[i].reason - 1] = '\0';
        }
        free(reply);
        return 0;
    } else {
        char sig[96];
        q->available = false;
        switch (st.end) {
        case DFIT_WORKER_TIMED_OUT:
            fmt_cut(q->reason, sizeof q->reason, "quality measurement exceeded the time limit of %g s",
                     job->time_limit_s);
            break;
        case DFIT_WORKER_INTERRUPTED:
            fmt_cut(q->reason, sizeof q->reason, "quality measurement interrupted");
            *interrupted = true;
            break;
        case DFIT_WORKER_SIGNALED:
            fmt_cut(q->reason, sizeof q->reason, "quality measurement killed by %s",
                     dfit_worker_signal_name(st.signal, sig, sizeof sig));
            break;
        default:
            fmt_cut(q->reason, sizeof q->reason,
                     "quality measurement exited with status %d without a result", st.exit_status);
            break;
        }
    }
    for (uint32_t i = 0; i < job->n_tasks; i++) {
        struct dfit_task_accuracy *t = &job->tasks[i];
        memset(t, 0, sizeof *t);
        task_name_of(job->task_paths[i], t->task, sizeof t->task);
        copy_str(t->reason, sizeof t->reason, q->reason);
    }
    free(reply);
    return rc;
}
