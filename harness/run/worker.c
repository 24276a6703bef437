/* worker.c — the child process machinery of the sweep (see worker.h): fork
 * with a reply pipe, the parent's poll-based wait with a time limit, the
 * self-pipe that SIGCHLD, SIGINT and SIGTERM feed, killing a worker's
 * process group, and the address-space cap.
 * Non-goals: what a worker measures (worker_cell.c), retries.
 */
#include "run/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/clock.h"

/* Exit status of a child whose parent died before it could start. */
#define ORPHAN_EXIT 125

/* ---- signals: a self-pipe ------------------------------------------------- */

static int sig_pipe[2] = {-1, -1};
static int sig_depth;
static volatile sig_atomic_t sig_interrupt;
static struct sigaction old_int, old_term, old_chld;

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGINT || sig == SIGTERM)
        sig_interrupt = sig;
    unsigned char b = (unsigned char)sig;
    ssize_t n = write(sig_pipe[1], &b, 1); /* full pipe: a wake-up is already pending */
    (void)n;
    errno = saved;
}

int dfit_worker_signals_begin(struct dfit_err *err)
{
    if (sig_depth++ > 0)
        return 0;
    sig_interrupt = 0;
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        sig_depth = 0;
        sig_pipe[0] = sig_pipe[1] = -1;
        return dfit_err_set(err, DFIT_EIO, "worker: signal pipe: %s", strerror(errno));
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, &old_int) != 0 || sigaction(SIGTERM, &sa, &old_term) != 0) {
        int e = errno;
        sigaction(SIGINT, &old_int, NULL);
        close(sig_pipe[0]);
        close(sig_pipe[1]);
        sig_pipe[0] = sig_pipe[1] = -1;
        sig_depth = 0;
        return dfit_err_set(err, DFIT_EIO, "worker: sigaction: %s", strerror(e));
    }
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, &old_chld) != 0) {
        int e = errno;
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        close(sig_pipe[0]);
        close(sig_pipe[1]);
        sig_pipe[0] = sig_pipe[1] = -1;
        sig_depth = 0;
        return dfit_err_set(err, DFIT_EIO, "worker: sigaction: %s", strerror(e));
    }
    return 0;
}

void dfit_worker_signals_end(void)
{
    if (sig_depth <= 0 || --sig_depth > 0)
        return;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
}

int dfit_worker_interrupted(void)
{
    return (int)sig_interrupt;
}

static void drain_signals(void)
{
    unsigned char buf[64];
    while (read(sig_pipe[0], buf, sizeof buf) > 0) {
    }
}

const char *dfit_worker_signal_name(int sig, char *buf, size_t cap)
{
    const char *abbrev = sigabbrev_np(sig);
    const char *desc = strsignal(sig);
    if (abbrev)
        snprintf(buf, cap, "SIG%s (%s)", abbrev, desc ? desc : "?");
    else
        snprintf(buf, cap, "signal %d", sig);
    return buf;
}

/* ---- memory cap ----------------------------------------------------------------- */

/* Under an address-space cap the stack cannot grow past what is mapped
 * (that is a SIGSEGV, not an allocation that fails), so map 1 MiB more of
 * it first: touch each page below this frame, then give the pages back
 * (the mapping stays; the memory does not). */
#define STACK_PREGROW_BYTES (1u << 20)
static __attribute__((noinline)) void pregrow_stack(void)
{
    volatile char buf[STACK_PREGROW_BYTES];
    for (size_t i = 0; i < sizeof buf; i += 4096)
        buf[i] = 0;
    buf[sizeof buf - 1] = 0;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t p = (uintptr_t)page > 0 ? (uintptr_t)page : 4096;
    uintptr_t lo = ((uintptr_t)buf + p - 1) & ~(p - 1);
    uintptr_t hi = ((uintptr_t)buf + sizeof buf) & ~(p - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

int dfit_worker_cap_memory(double mib, uint64_t *saved, struct dfit_err *err)
{
    struct rlimit rl;
    *saved = (uint64_t)RLIM_INFINITY;
    if (!(mib > 0) || !isfinite(mib))
        return 0;
    if (getrlimit(RLIMIT_AS, &rl) != 0)
        return dfit_err_set(err, DFIT_EIO, "worker: getrlimit(RLIMIT_AS): %s", strerror(errno));
    *saved = (uint64_t)rl.rlim_cur;
    double bytes = mib * 1048576.0;
    rlim_t cap = bytes >= 1.8e19 ? RLIM_INFINITY : (rlim_t)bytes;
    if (rl.rlim_max != RLIM_INFINITY && cap > rl.rlim_max)
        cap = rl.rlim_max;
    /* per-thread malloc arenas reserve 64 MiB of address space each: with a
     * cap, that reservation and not the cell's memory would hit it */
    mallopt(M_ARENA_MAX, 1);
    pregrow_stack();
    rl.rlim_cur = cap;
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return dfit_err_set(err, DFIT_EIO, "worker: setrlimit(RLIMIT_AS, %g MiB): %s", mib,
                            strerror(errno));
    return 0;
}

void dfit_worker_uncap_memory(uint64_t saved)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0)
        return;
    rl.rlim_cur = (rlim_t)saved;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
        rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_AS, &rl);
}

/* ---- fork and wait ------------------------------------------------------------------ */

int dfit_worker_reply(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* In the child, before fn: its own process group, dies with the parent,
 * default signals, none of the parent's pipes. */
static void child_setup(pid_t parent)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(ORPHAN_EXIT);
    /* default dispositions: a crash must end the worker with its signal,
     * whatever handlers the parent had */
    static const int sigs[] = {SIGINT, SIGTERM, SIGCHLD, SIGPIPE, SIGSEGV, SIGBUS,
                               SIGFPE, SIGILL,  SIGABRT, SIGHUP,  SIGQUIT, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (sig_pipe[0] >= 0) {
        close(sig_pipe[0]);
        close(sig_pipe[1]);
        sig_pipe[0] = sig_pipe[1] = -1;
    }
    sig_depth = 0;
}

/* Reads what the pipe has; false at EOF or error (the pipe is done). */
static bool read_reply(int fd, char *reply, size_t cap, size_t *got)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        if (n == 0)
            return false;
        size_t take = (size_t)n;
        if (take > cap - *got)
            take = cap - *got;
        memcpy(reply + *got, buf, take);
        *got += take;
    }
}

/* SIGKILL to the child's process group (and the child, in case it has not
 * made its group yet), then reap it. */
static void kill_and_reap(pid_t pid, int *status, struct rusage *ru)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (wait4(pid, status, 0, ru) < 0 && errno == EINTR) {
    }
}

int dfit_worker_run(dfit_worker_fn fn, void *arg, const struct dfit_worker_opts *o, void *reply,
                    size_t reply_cap, struct dfit_worker_status *st, struct dfit_err *err)
{
    int rp[2] = {-1, -1}, rc;
    memset(st, 0, sizeof *st);
    bool own_signals = sig_depth == 0;
    if (own_signals && (rc = dfit_worker_signals_begin(err)))
        return rc;
    if (pipe2(rp, O_CLOEXEC) != 0) {
        rc = dfit_err_set(err, DFIT_EIO, "worker: pipe: %s", strerror(errno));
        goto out;
    }
    fflush(NULL); /* the child must not flush the parent's buffers again */
    const pid_t parent = getpid();
    const uint64_t t0 = dfit_now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        rc = dfit_err_set(err, DFIT_EIO, "worker: fork: %s", strerror(errno));
        close(rp[0]);
        close(rp[1]);
        goto out;
    }
    if (pid == 0) {
        close(rp[0]);
        child_setup(parent);
        _exit(fn(arg, rp[1]) & 0xff);
    }
    close(rp[1]);
    setpgid(pid, pid); /* both sides, so a kill of the group never misses */
    fcntl(rp[0], F_SETFL, O_NONBLOCK);

    double lim_s = o && o->time_limit_s > 0 ? o->time_limit_s : 600.0;
    uint64_t limit_ns = lim_s >= 1.8e10 ? UINT64_MAX : (uint64_t)(lim_s * 1e9);
    unsigned tick_ms = o && o->tick ? (o->tick_ms ? o->tick_ms : 250) : 0;
    bool reply_open = true;
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    for (;;) {
        pid_t r = wait4(pid, &status, WNOHANG, &ru);
        if (r == pid) {
            st->end = WIFSIGNALED(status) ? DFIT_WORKER_SIGNALED : DFIT_WORKER_EXITED;
            break;
        }
        if (r < 0 && errno != EINTR) { /* cannot happen for our own child; do not spin */
            kill_and_reap(pid, &status, &ru);
            st->end = WIFSIGNALED(status) ? DFIT_WORKER_SIGNALED : DFIT_WORKER_EXITED;
            break;
        }
        if (sig_interrupt) {
            kill_and_reap(pid, &status, &ru);
            st->end = WIFSIGNALED(status) ? DFIT_WORKER_INTERRUPTED : DFIT_WORKER_EXITED;
            break;
        }
        uint64_t elapsed = dfit_now_ns() - t0;
        if (elapsed >= limit_ns) {
            kill_and_reap(pid, &status, &ru);
            st->end = WIFSIGNALED(status) ? DFIT_WORKER_TIMED_OUT : DFIT_WORKER_EXITED;
            break;
        }
        uint64_t left_ms = (limit_ns - elapsed + 999999u) / 1000000u;
        int wait_ms = left_ms > INT_MAX ? INT_MAX : (int)left_ms;
        if (tick_ms && wait_ms > (int)tick_ms)
            wait_ms = (int)tick_ms;
        struct pollfd pf[2] = {
            {.fd = sig_pipe[0], .events = POLLIN},
            {.fd = reply_open ? rp[0] : -1, .events = POLLIN},
        };
        if (poll(pf, 2, wait_ms) > 0) {
            if (pf[0].revents)
                drain_signals();
            if (pf[1].revents)
                reply_open = read_reply(rp[0], reply, reply_cap, &st->n_reply);
        }
        if (tick_ms)
            o->tick(o->tick_user, dfit_now_ns() - t0);
    }
    st->wall_ns = dfit_now_ns() - t0;
    if (reply_open)
        read_reply(rp[0], reply, reply_cap, &st->n_reply); /* what the child left in the pipe */
    close(rp[0]);
    if (WIFEXITED(status))
        st->exit_status = WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        st->signal = WTERMSIG(status);
    st->max_rss_bytes = ru.ru_maxrss > 0 ? (uint64_t)ru.ru_maxrss * 1024u : 0;
    rc = 0;
out:
    if (own_signals)
        dfit_worker_signals_end();
    return rc;
}
