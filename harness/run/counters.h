/* counters.h — hardware and software event counters through PAPI, per
 * phase of a cell (load, prefill, decode).
 *
 * One PAPI event set, started once when the worker starts (before the
 * model is loaded) in the calling thread. Where PAPI can enable
 * inheritance (PAPI_INHERIT) the threads created afterwards — the backend's
 * workers, started at load — are counted too and their counts summed. The
 * harness marks phase boundaries: dfit_counters_mark(c, phase) reads every
 * counter and adds what was counted since the previous mark to that phase,
 * so a phase's total sums all of its intervals; dfit_counters_skip drops
 * an interval (warm-up).
 *
 * Counting domain: user and kernel mode where this process may count the
 * kernel (root, or kernel.perf_event_paranoid <= 1), else user mode only;
 * in user mode events that occur only in the kernel (context switches, CPU
 * migrations) are reported unavailable rather than as a misleading zero.
 *
 * An event that cannot be counted here is kept, unavailable, with PAPI's
 * reason and context ("hardware counters are not exposed on this machine
 * ..."); it is never reported as zero. Nothing here fails because an event
 * is unavailable, or because PAPI cannot start at all (then every event is
 * unavailable with PAPI's reason). When PAPI cannot allocate its own
 * memory (a low RLIMIT_AS), the events are unavailable with "PAPI could
 * not allocate (...)".
 * Non-goals: sampling, multiplexing, per-thread breakdowns, other PAPI
 * components (GPU counters).
 */
#ifndef DFIT_RUN_COUNTERS_H
#define DFIT_RUN_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>

#include "run/result.h"
#include "util/err.h"

/* The events counted when a target names none. */
#define DFIT_COUNTERS_N_DEFAULT 9
extern const char *const dfit_counters_default[DFIT_COUNTERS_N_DEFAULT];

struct dfit_counters;

/* Initialises PAPI (once per process, shared by open sets), builds an event
 * set of names[0..n) (n == 0: dfit_counters_default; a repeated name is
 * kept once) and starts it. Events PAPI cannot count are recorded
 * unavailable with the reason. Fails only
 * with DFIT_EINVAL (a NULL or over-long name, n < 0) or DFIT_ENOMEM; on
 * failure *out is NULL. */
int dfit_counters_start(const char *const *names, int n, struct dfit_counters **out,
                        struct dfit_err *err);
/* Stops counting and frees c; the last set closed shuts PAPI down.
 * Never crashes on a set PAPI could not build (under memory pressure PAPI
 * leaves half-built sets that its own cleanup calls crash on: those are
 * left to PAPI_shutdown). Accepts NULL. */
void dfit_counters_free(struct dfit_counters *c);

/* Initialises PAPI now, and looks up the events names[0..n) (n == 0: the
 * defaults), and keeps PAPI initialised until dfit_counters_shutdown. Call
 * it before capping the address space (RLIMIT_AS): PAPI_library_init and
 * a first PAPI_event_name_to_code do not survive every allocation failure
 * (they can crash inside PAPI), while starting and freeing a set of those
 * events afterwards, under the cap, is safe and records "PAPI could not
 * allocate (...)" when memory runs out. Nothing is reported here: the sets
 * started later record PAPI's reasons (when PAPI failed to start here, they
 * record that failure without starting PAPI again, until
 * dfit_counters_shutdown). */
void dfit_counters_init(const char *const *names, int n);
void dfit_counters_shutdown(void);

/* Reads the counters and adds the counts since the previous mark (or the
 * start) to phase p. DFIT_EIO if PAPI_read fails (nothing is added). A set
 * without available events, or a NULL c, does nothing and returns 0. */
int dfit_counters_mark(struct dfit_counters *c, enum dfit_phase p, struct dfit_err *err);
/* Like dfit_counters_mark, but the counts since the previous mark belong to
 * no phase (warm-up, the cold load). */
int dfit_counters_skip(struct dfit_counters *c, struct dfit_err *err);

int dfit_counters_n_events(const struct dfit_counters *c);
/* Whether event i is counted (false: see dfit_counters_reason). */
bool dfit_counters_available(const struct dfit_counters *c, int i);
const char *dfit_counters_name(const struct dfit_counters *c, int i);
const char *dfit_counters_reason(const struct dfit_counters *c, int i); /* "" if available */
/* Event i's total for phase p so far (0 when unavailable). */
int64_t dfit_counters_value(const struct dfit_counters *c, int i, enum dfit_phase p);
/* Whether threads created after the start are counted (PAPI_INHERIT took);
 * when false, *why (may be NULL) gets PAPI's reason. */
bool dfit_counters_inherit(const struct dfit_counters *c, const char **why);

/* The result rows: one per event and phase, event-major, in the order the
 * events were named (*n = n_events * DFIT_PHASE_COUNT), in a malloc'd array
 * the caller frees. When the work ran in n_threads > 1 threads and PAPI
 * could not inherit counters into them, every event is unavailable: its
 * counts would cover only the calling thread. DFIT_ENOMEM; on failure *out
 * is NULL and *n 0. */
int dfit_counters_export(const struct dfit_counters *c, int n_threads,
                         struct dfit_counter_value **out, uint32_t *n, struct dfit_err *err);

/* Figures derived from one phase's counters; NAN where an input is
 * unavailable (or n_tokens is 0). Recognises the PAPI presets and their
 * perf names (PAPI_TOT_CYC or perf::CYCLES, ...). */
struct dfit_counters_derived {
    double ipc;                    /* instructions / cycles */
    double instructions_per_token;
    double cycles_per_token;
    double l1_dcm_per_token;       /* L1 data cache misses */
    double l2_dcm_per_token;
    double l3_tcm_per_token;       /* last-level cache misses */
    double branch_misses_per_token;
    double task_clock_ns_per_token;
};
void dfit_counters_derived(const struct dfit_counter_value *v, uint32_t n, enum dfit_phase p,
                           uint64_t n_tokens, struct dfit_counters_derived *out);

#endif
