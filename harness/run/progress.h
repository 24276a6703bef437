/* progress.h — what `dfit run` tells the user while it works.
 *
 * On a terminal, one live line redrawn in place (\r, erase to the end):
 *   cell 7/20 q4_0 × edge-1t × chat: running 3.1 s … ETA 1m12s
 * with the ETA from the mean time of the cells run so far times the cells
 * left; finished cells and notes scroll above it as lines of their own.
 * Elsewhere (a pipe, a log file) plain lines, one per event and nothing
 * redrawn. Quiet mode prints nothing. Control characters in any text
 * (names come from user files) are printed as '?', so nothing printed can
 * move the cursor or end a line early.
 * Non-goals: colours, several live lines, reading the terminal.
 */
#ifndef DFIT_RUN_PROGRESS_H
#define DFIT_RUN_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "run/result.h"
#include "util/err.h"

enum dfit_progress_mode {
    DFIT_PROGRESS_AUTO = 0,  /* LIVE when out is a terminal, else LINES */
    DFIT_PROGRESS_LIVE = 1,
    DFIT_PROGRESS_LINES = 2,
    DFIT_PROGRESS_QUIET = 3,
};

struct dfit_progress;

/* out (borrowed, usually stdout) receives everything. DFIT_ENOMEM; on
 * failure *p is NULL. */
int dfit_progress_create(FILE *out, enum dfit_progress_mode mode, struct dfit_progress **p,
                         struct dfit_err *err);
void dfit_progress_free(struct dfit_progress *p); /* ends a live line; accepts NULL */
enum dfit_progress_mode dfit_progress_mode_of(const struct dfit_progress *p);

/* The plan: n_total cells, of which n_to_run will run (for the ETA). */
void dfit_progress_plan(struct dfit_progress *p, int n_total, int n_to_run);

/* A line of its own (not in quiet mode). */
void dfit_progress_note(struct dfit_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A step that takes a while: "building variant q4_0 (...) …", then its end
 * " 1.2 s" on the same line (live) or on a line of its own (lines). */
void dfit_progress_step(struct dfit_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void dfit_progress_step_done(struct dfit_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Cell k (1-based) of the plan starts; `what` is its first activity. */
void dfit_progress_cell_begin(struct dfit_progress *p, int k, const char *variant,
                              const char *target, const char *workload, const char *what);
/* Cell k is skipped (its target cannot run here): one line. */
void dfit_progress_cell_skipped(struct dfit_progress *p, int k, const char *variant,
                                const char *target, const char *workload, const char *reason);
/* While it runs (live mode redraws; lines mode prints nothing). */
void dfit_progress_cell_tick(struct dfit_progress *p, const char *what, uint64_t elapsed_ns);
/* It ended: a line with its status (and reason). ran: it ran in a worker
 * (counts for the ETA; false for skipped cells). */
void dfit_progress_cell_end(struct dfit_progress *p, enum dfit_cell_status st, const char *reason,
                            uint64_t wall_ns, bool ran);

/* "1m12s", "45s", "2h03m" into buf (cap >= 16); returns buf. */
char *dfit_progress_fmt_eta(char *buf, size_t cap, uint64_t ns);

#endif
