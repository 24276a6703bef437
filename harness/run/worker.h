/* worker.h — running one piece of a sweep in a child process, so that its
 * peak memory, a crash or a hang belong to it alone.
 *
 * dfit_worker_run forks; the child puts itself in its own process group,
 * asks to be killed when the parent dies (PR_SET_PDEATHSIG), restores the
 * default signal dispositions and runs fn, which answers over a pipe (a
 * fixed-size reply) and returns the child's exit status. The parent waits
 * with poll(2) on the reply pipe and a self-pipe that SIGCHLD, SIGINT and
 * SIGTERM write to — no sleep loop — until the child exits, its time limit
 * passes (the whole process group gets SIGKILL) or the parent is
 * interrupted (SIGINT/SIGTERM: the child is killed the same way).
 *
 * On top of it, dfit_worker_cell measures one cell in a child (RLIMIT_AS
 * from the target's memory_limit_mib around dfit_cell_measure; the child
 * opens its own store connection and writes its cell in one transaction)
 * and, when the child cannot, writes the failure row itself (timeout,
 * crashed with the signal, OOM, failed with the exit status);
 * dfit_worker_quality measures a (variant, target) pair's fidelity to the
 * reference in a child with no memory limit.
 *
 * Fault injection (tests only): DFIT_TEST_FAULT=V/T/W:KIND[,V/T/W:KIND...]
 * with KIND crash (SIGSEGV in the worker), hang (sleeps forever), oom
 * (allocates and touches memory under the cap until it is refused) or fail
 * (reports a failure) makes the worker of cell V/T/W misbehave.
 * Non-goals: running cells in parallel, cgroups, the plan and the report
 * (runner.h).
 */
#ifndef DFIT_RUN_WORKER_H
#define DFIT_RUN_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "run/cell.h"
#include "run/quality.h"
#include "run/result.h"
#include "store/store.h"
#include "util/err.h"

/* ---- the child process machinery --------------------------------------- */

/* Runs in the child: writes at most one reply with dfit_worker_reply and
 * returns the child's exit status (0..255). */
typedef int (*dfit_worker_fn)(void *arg, int reply_fd);
/* Called in the parent while it waits, about every tick_ms. */
typedef void (*dfit_worker_tick_fn)(void *user, uint64_t elapsed_ns);

enum dfit_worker_end {
    DFIT_WORKER_EXITED = 0,      /* exited by itself: exit_status */
    DFIT_WORKER_SIGNALED = 1,    /* killed by a signal it did not get from us: signal */
    DFIT_WORKER_TIMED_OUT = 2,   /* ran past its time limit; we killed it */
    DFIT_WORKER_INTERRUPTED = 3, /* we got SIGINT/SIGTERM and killed it */
};

struct dfit_worker_opts {
    double time_limit_s;        /* > 0 */
    dfit_worker_tick_fn tick;   /* optional */
    void *tick_user;
    unsigned tick_ms;           /* 0: 250 */
};

struct dfit_worker_status {
    enum dfit_worker_end end;
    int exit_status;            /* EXITED */
    int signal;                 /* SIGNALED */
    uint64_t wall_ns;           /* fork to reaping */
    uint64_t max_rss_bytes;     /* the child's peak RSS (wait4's rusage) */
    size_t n_reply;             /* reply bytes received (the rest of reply is untouched) */
};

/* Forks and runs fn(arg, fd) in the child; collects up to reply_cap bytes
 * of its reply into reply. Installs the signal handlers for the call if
 * dfit_worker_signals_begin was not called. DFIT_EIO when pipe or fork
 * fails (nothing started); otherwise 0 whatever became of the child — see
 * st. */
int dfit_worker_run(dfit_worker_fn fn, void *arg, const struct dfit_worker_opts *o, void *reply,
                    size_t reply_cap, struct dfit_worker_status *st, struct dfit_err *err);

/* In the child: writes n bytes to fd, retrying short writes; -1 on error. */
int dfit_worker_reply(int fd, const void *buf, size_t n);

/* Installs SIGINT, SIGTERM and SIGCHLD handlers that feed the self-pipe
 * (nesting-counted). From then on an interrupt is remembered: the current
 * worker is killed and dfit_worker_interrupted() says which signal came.
 * DFIT_EIO when the pipe or sigaction fails. */
int dfit_worker_signals_begin(struct dfit_err *err);
/* Restores the previous handlers when the last begin is ended. */
void dfit_worker_signals_end(void);
/* The signal (SIGINT, SIGTERM) that interrupted the sweep, or 0. */
int dfit_worker_interrupted(void);

/* Caps this process's address space (RLIMIT_AS soft limit) at mib MiB,
 * saving the old soft limit in *saved; mib NAN or <= 0 does nothing.
 * With a cap, glibc malloc is kept to one arena (per-thread arenas reserve
 * 64 MiB of address space each) and 1 MiB more of the stack is mapped
 * first (a stack that cannot grow is a SIGSEGV, not a failed allocation).
 * DFIT_EIO when setrlimit fails. */
int dfit_worker_cap_memory(double mib, uint64_t *saved, struct dfit_err *err);
/* Restores the soft limit saved by dfit_worker_cap_memory. */
void dfit_worker_uncap_memory(uint64_t saved);

/* "SIGSEGV (Segmentation fault)" for a signal number; static or buf. */
const char *dfit_worker_signal_name(int sig, char *buf, size_t cap);

/* ---- cells and quality ------------------------------------------------------ */

/* Child exit statuses of a cell worker: its cell is written with that status. */
#define DFIT_WORKER_EXIT_OK 0
#define DFIT_WORKER_EXIT_FAILED 3
#define DFIT_WORKER_EXIT_OOM 4
/* ...or it could not write its cell (the reply says why). */
#define DFIT_WORKER_EXIT_NOT_STORED 5

/* A cell to run: where to store it, what to measure, its fidelity. */
struct dfit_cell_job {
    struct dfit_store **store;         /* the parent's connection, for failure rows:
                                          closed while the worker runs (an SQLite
                                          connection must not cross fork) and
                                          reopened from db_path */
    const char *db_path;               /* the child opens its own connection */
    int64_t run_id;
    const struct dfit_cell_spec *spec; /* variant, target, workload and model */
    const struct dfit_quality *quality;/* the pair's; copied into the result */
    const char *fault;                 /* "crash", "hang", "oom", "fail" or NULL */
    dfit_worker_tick_fn tick;          /* optional, while waiting */
    void *tick_user;
};

struct dfit_cell_outcome {
    enum dfit_cell_status status;
    char reason[DFIT_REASON_MAX];
    bool stored;                       /* a row for the cell is in the store */
    bool interrupted;                  /* SIGINT/SIGTERM: nothing stored */
    uint64_t wall_ns;
};

/* Runs job's cell in a worker under the target's time and memory limits.
 * The cell row is written by the worker, or here when the worker could not
 * (timeout, signal, exit without writing); an interrupted cell is not
 * written. Returns 0 when the cell's outcome is known and stored (whatever
 * its status) or it was interrupted; DFIT_EIO when no worker could be
 * started, or the store's code when the parent's connection cannot be
 * reopened (*job->store is NULL then) or the failure row cannot be written
 * (out->stored false). */
int dfit_worker_cell(const struct dfit_cell_job *job, struct dfit_cell_outcome *out,
                     struct dfit_err *err);

/* A result with only a status and a reason (NAN and unavailable where a
 * measurement would be), for rows the parent writes: skipped, timeout,
 * crashed, failed. quality may be NULL (unavailable). */
void dfit_worker_blank_result(struct dfit_cell_result *r, enum dfit_cell_status st,
                              const char *reason, const struct dfit_quality *quality);

/* Most CSV eval sets one quality worker scores. */
#define DFIT_WORKER_MAX_TASKS 32

struct dfit_quality_job {
    const char *reference_path;
    const char *variant_path;
    const struct dfit_quality_params *params; /* from quality.h */
    const int32_t *tokens;             /* NULL: fidelity is not measured... */
    uint32_t n_tokens;
    const char *no_tokens_reason;      /* ...and this says why */
    double time_limit_s;               /* fidelity and task accuracy together */
    dfit_worker_tick_fn tick;
    void *tick_user;
    /* Task accuracy on CSV eval sets (accuracy.h), on params' backend,
     * threads, kernels and device, after fidelity, in the same worker. */
    const char *const *task_paths;     /* [n_tasks] */
    uint32_t n_tasks;                  /* <= DFIT_WORKER_MAX_TASKS; 0: none */
    uint32_t task_limit;               /* items scored per set; 0: all */
    struct dfit_task_accuracy *tasks;  /* out: [n_tasks], one per set */
};

/* Measures fidelity in a worker (no memory limit, job's time limit) and
 * fills *q; when the worker fails, q->available is false and q->reason
 * says how ("timed out after 2 s", "killed by SIGSEGV", the measurement's
 * own error). With eval sets, the same worker then scores each set
 * (job->tasks[i]: accuracy with its standard error, or unavailable with the
 * reason) and, when every set was scored, q gets the accuracy pooled over
 * all their items (has_accuracy, accuracy, accuracy_se = sqrt(p (1-p) / n));
 * fidelity failing does not stop that. When the worker fails every set is
 * unavailable with the worker's reason. *interrupted is set on
 * SIGINT/SIGTERM. Returns 0, or DFIT_EIO when no worker could be started (q
 * says so too), DFIT_EINVAL for more than DFIT_WORKER_MAX_TASKS sets. */
int dfit_worker_quality(const struct dfit_quality_job *job, struct dfit_quality *q,
                        bool *interrupted, struct dfit_err *err);

/* The fault DFIT_TEST_FAULT asks for cell V/T/W, as a static string
 * ("crash", "hang", "oom", "fail"), or NULL. */
const char *dfit_worker_fault(const char *variant, const char *target, const char *workload);

#endif
