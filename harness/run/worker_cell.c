/* worker_cell.c — what the sweep's workers do (see worker.h): measure one
 * cell under the target's limits and store it, or measure a (variant,
 * target) pair's fidelity; and in the parent, turn a worker that died,
 * hung or exited early into a stored cell with its reason. Also the test
 * fault injection (DFIT_TEST_FAULT).
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
    for (const char *p = env; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (colon && (size_t)(colon - p) == (size_t)n && memcmp(p, id, (size_t)n) == 0) {
            size_t klen = len - (size_t)(colon - p) - 1;
            for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
                if (strlen(kinds[k]) == klen && memcmp(colon + 1, kinds[k], klen) == 0)
                    return kinds[k];
        }
        p += len;
        if (*p == ',')
            p++;
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
        if (dfit_worker_cap_memory(limit, &saved, &err) != 0) {
            dfit_worker_blank_result(&r, DFIT_CELL_FAILED, err.msg, job->quality);
        } else {
            dfit_cell_measure(spec, &r, &err); /* status and reason say how it went */
            dfit_worker_uncap_memory(saved);
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

static int quality_child(void *arg, int fd)
{
    const struct dfit_quality_job *job = arg;
    struct dfit_quality q;
    struct dfit_err err = {0};
    memset(&q, 0, sizeof q);
    int rc = dfit_quality_measure(job->reference_path, job->variant_path, job->params, job->tokens,
                                  job->n_tokens, &q, &err);
    if (rc) {
        q.available = false;
        copy_str(q.reason, sizeof q.reason, err.msg[0] ? err.msg : dfit_err_name(rc));
    }
    dfit_worker_reply(fd, &q, sizeof q);
    return rc ? 1 : 0;
}

int dfit_worker_quality(const struct dfit_quality_job *job, struct dfit_quality *q,
                        bool *interrupted, struct dfit_err *err)
{
    struct dfit_quality reply;
    struct dfit_worker_status st;
    struct dfit_err local = {0};
    if (!err)
        err = &local;
    memset(&reply, 0, sizeof reply);
    memset(q, 0, sizeof *q);
    *interrupted = false;
    const struct dfit_worker_opts o = {
        .time_limit_s = job->time_limit_s, .tick = job->tick, .tick_user = job->tick_user};
    int rc = dfit_worker_run(quality_child, (void *)job, &o, &reply, sizeof reply, &st, err);
    if (rc) {
        copy_str(q->reason, sizeof q->reason, err->msg);
        return rc;
    }
    if (st.n_reply == sizeof reply && st.end == DFIT_WORKER_EXITED) {
        *q = reply;
        q->reason[sizeof q->reason - 1] = '\0';
        return 0;
    }
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
    return 0;
}
