/* progress.c — live line or plain lines for `dfit run` (see progress.h).
 * Non-goals: anything but writing text.
 */
#include "run/progress.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1024

struct dfit_progress {
    FILE *out;
    enum dfit_progress_mode mode;
    bool live_shown;          /* a live line is on the screen */
    bool step_open;           /* a step's text is waiting for its end (live) */
    int n_total, n_to_run;
    int n_ran;                /* cells run in a worker so far */
    uint64_t ran_ns;          /* their total time */
    int k;                    /* current cell (1-based) */
    char cell[3 * 160];       /* "q4_0 × edge-1t × chat" */
    char step[LINE_MAX_BYTES];/* the open step's text */
};

int dfit_progress_create(FILE *out, enum dfit_progress_mode mode, struct dfit_progress **p,
                         struct dfit_err *err)
{
    *p = calloc(1, sizeof **p);
    if (!*p)
        return dfit_err_set(err, DFIT_ENOMEM, "progress: out of memory");
    if (mode == DFIT_PROGRESS_AUTO)
        mode = isatty(fileno(out)) ? DFIT_PROGRESS_LIVE : DFIT_PROGRESS_LINES;
    (*p)->out = out;
    (*p)->mode = mode;
    return 0;
}

enum dfit_progress_mode dfit_progress_mode_of(const struct dfit_progress *p)
{
    return p ? p->mode : DFIT_PROGRESS_QUIET;
}

/* Writes s with control characters shown as '?'. */
static void put_clean(FILE *f, const char *s, size_t max)
{
    for (size_t i = 0; s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
}

/* Terminal columns, 80 if unknown. */
static size_t columns(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* Bytes of s that fit in cols characters. */
static size_t fit(const char *s, size_t cols)
{
    size_t w = 0, i = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            if (w == cols)
                break;
            w++;
        }
    }
    return i;
}

static void clear_live(struct dfit_progress *p)
{
    if (p->mode == DFIT_PROGRESS_LIVE && p->live_shown) {
        fputs("\r\033[K", p->out);
        p->live_shown = false;
    }
}

/* Ends an open live step with a newline before anything else is printed. */
static void close_step(struct dfit_progress *p)
{
    if (p->step_open) {
        fputc('\n', p->out);
        p->step_open = false;
    }
}

void dfit_progress_free(struct dfit_progress *p)
{
    if (!p)
        return;
    clear_live(p);
    close_step(p);
    fflush(p->out);
    free(p);
}

void dfit_progress_plan(struct dfit_progress *p, int n_total, int n_to_run)
{
    if (!p)
        return;
    p->n_total = n_total;
    p->n_to_run = n_to_run;
}

static void vline(struct dfit_progress *p, const char *fmt, va_list ap)
{
    char buf[LINE_MAX_BYTES];
    vsnprintf(buf, sizeof buf, fmt, ap);
    clear_live(p);
    close_step(p);
    put_clean(p->out, buf, sizeof buf);
    fputc('\n', p->out);
    fflush(p->out);
}

void dfit_progress_note(struct dfit_progress *p, const char *fmt, ...)
{
    if (!p || p->mode == DFIT_PROGRESS_QUIET)
        return;
    va_list ap;
    va_start(ap, fmt);
    vline(p, fmt, ap);
    va_end(ap);
}

void dfit_progress_step(struct dfit_progress *p, const char *fmt, ...)
{
    if (!p || p->mode == DFIT_PROGRESS_QUIET)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->step, sizeof p->step, fmt, ap);
    va_end(ap);
    clear_live(p);
    close_step(p);
    put_clean(p->out, p->step, sizeof p->step);
    if (p->mode == DFIT_PROGRESS_LIVE)
        p->step_open = true;
    else
        fputc('\n', p->out);
    fflush(p->out);
}

/* Live: the end goes after the step's text on its line; lines: the step's
 * text is repeated with its end. */
void dfit_progress_step_done(struct dfit_progress *p, const char *fmt, ...)
{
    if (!p || p->mode == DFIT_PROGRESS_QUIET)
        return;
    char buf[LINE_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (p->mode == DFIT_PROGRESS_LIVE && !p->step_open)
        clear_live(p);
    if (p->mode != DFIT_PROGRESS_LIVE || !p->step_open)
        put_clean(p->out, p->step, sizeof p->step);
    fputc(' ', p->out);
    put_clean(p->out, buf, sizeof buf);
    fputc('\n', p->out);
    p->step_open = false;
    fflush(p->out);
}

char *dfit_progress_fmt_eta(char *buf, size_t cap, uint64_t ns)
{
    uint64_t s = (ns + 500000000u) / 1000000000u;
    if (s < 60)
        snprintf(buf, cap, "%us", (unsigned)s);
    else if (s < 3600)
        snprintf(buf, cap, "%um%02us", (unsigned)(s / 60), (unsigned)(s % 60));
    else
        snprintf(buf, cap, "%lluh%02um", (unsigned long long)(s / 3600), (unsigned)(s / 60 % 60));
    return buf;
}

/* The time left: the mean run cell time for every cell still to run,
 * less what the current one has used. False before any cell has run. */
static bool eta(const struct dfit_progress *p, uint64_t elapsed_ns, uint64_t *left)
{
    if (p->n_ran == 0)
        return false;
    uint64_t mean = p->ran_ns / (uint64_t)p->n_ran;
    int remaining = p->n_to_run - p->n_ran; /* includes the current cell */
    if (remaining < 1)
        remaining = 1;
    uint64_t total = mean * (uint64_t)remaining;
    *left = total > elapsed_ns ? total - elapsed_ns : 0;
    return true;
}

static void draw_live(struct dfit_progress *p, const char *what, uint64_t elapsed_ns)
{
    char buf[LINE_MAX_BYTES], e[32];
    int n = snprintf(buf, sizeof buf, "cell %d/%d %s: %s", p->k, p->n_total, p->cell, what);
    if (n > 0 && (size_t)n < sizeof buf && elapsed_ns > 0)
        n += snprintf(buf + n, sizeof buf - (size_t)n, " %.1f s", (double)elapsed_ns / 1e9);
    uint64_t left;
    if (n > 0 && (size_t)n < sizeof buf && eta(p, elapsed_ns, &left))
        snprintf(buf + n, sizeof buf - (size_t)n, " … ETA %s", dfit_progress_fmt_eta(e, sizeof e, left));
    size_t cols = columns(p->out);
    size_t keep = fit(buf, cols > 1 ? cols - 1 : cols);
    fputs("\r\033[K", p->out);
    put_clean(p->out, buf, keep);
    p->live_shown = true;
    fflush(p->out);
}

void dfit_progress_cell_begin(struct dfit_progress *p, int k, const char *variant,
                              const char *target, const char *workload, const char *what)
{
    if (!p)
        return;
    p->k = k;
    snprintf(p->cell, sizeof p->cell, "%s × %s × %s", variant, target, workload);
    if (p->mode == DFIT_PROGRESS_LIVE) {
        close_step(p);
        draw_live(p, what, 0);
    } else if (p->mode == DFIT_PROGRESS_LINES) {
        dfit_progress_note(p, "cell %d/%d %s: %s", k, p->n_total, p->cell, what);
    }
}

void dfit_progress_cell_skipped(struct dfit_progress *p, int k, const char *variant,
                                const char *target, const char *workload, const char *reason)
{
    if (!p)
        return;
    p->k = k;
    snprintf(p->cell, sizeof p->cell, "%s × %s × %s", variant, target, workload);
    dfit_progress_cell_end(p, DFIT_CELL_SKIPPED, reason, 0, false);
}

void dfit_progress_cell_tick(struct dfit_progress *p, const char *what, uint64_t elapsed_ns)
{
    if (p && p->mode == DFIT_PROGRESS_LIVE)
        draw_live(p, what, elapsed_ns);
}

void dfit_progress_cell_end(struct dfit_progress *p, enum dfit_cell_status st, const char *reason,
                            uint64_t wall_ns, bool ran)
{
    if (!p)
        return;
    if (ran) {
        p->n_ran++;
        p->ran_ns += wall_ns;
    }
    if (p->mode == DFIT_PROGRESS_QUIET)
        return;
    if (ran && reason && *reason)
        dfit_progress_note(p, "cell %d/%d %s: %s in %.1f s: %s", p->k, p->n_total, p->cell,
                           dfit_cell_status_name(st), (double)wall_ns / 1e9, reason);
    else if (ran)
        dfit_progress_note(p, "cell %d/%d %s: %s in %.1f s", p->k, p->n_total, p->cell,
                           dfit_cell_status_name(st), (double)wall_ns / 1e9);
    else
        dfit_progress_note(p, "cell %d/%d %s: %s%s%s", p->k, p->n_total, p->cell,
                           dfit_cell_status_name(st), reason && *reason ? ": " : "",
                           reason ? reason : "");
}
