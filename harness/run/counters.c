/* counters.c — PAPI event counters per phase (see counters.h): one event
 * set on the perf_event component, checked event by event at start so an
 * event that cannot be counted here is kept unavailable with its reason;
 * phase totals from the differences between successive reads.
 * Non-goals: multiplexing, sampling, components other than perf_event.
 */
#include "run/counters.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <math.h>
#include <papi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

const char *const dfit_counters_default[DFIT_COUNTERS_N_DEFAULT] = {
    "PAPI_TOT_CYC",     "PAPI_TOT_INS",     "PAPI_L1_DCM",
    "PAPI_L2_DCM",      "PAPI_L3_TCM",      "PAPI_BR_MSP",
    "perf::TASK-CLOCK", "perf::PAGE-FAULTS", "perf::CONTEXT-SWITCHES",
};

struct event {
    char name[DFIT_COUNTER_NAME_MAX];
    bool available;
    int slot;                            /* index in PAPI_read's values, or -1 */
    char reason[DFIT_REASON_MAX];
    int64_t total[DFIT_PHASE_COUNT];
};

struct dfit_counters {
    int n;
    struct event *ev;                    /* [n] */
    int event_set;                       /* PAPI_NULL when none */
    bool assigned;                       /* event_set has its component: it may be
                                            cleaned up and destroyed */
    bool papi_ref;                       /* holds a reference on PAPI's init */
    bool running;
    int n_slots;
    long long *last;                     /* [n_slots] previous read */
    long long *now;                      /* [n_slots] scratch */
    bool inherit;
    char inherit_reason[DFIT_REASON_MAX];
};

/* PAPI is initialised once per process and shut down when the last set
 * closes (or dfit_counters_shutdown, after dfit_counters_init). Counters
 * are used from one thread (the worker's). */
static int papi_users;
static bool papi_preinit;        /* dfit_counters_init holds a reference */
static int papi_init_error;      /* dfit_counters_init's failure: not retried
                                    until dfit_counters_shutdown */

/* ---- why an event cannot be counted ------------------------------------- */

static long perf_open(struct perf_event_attr *a)
{
    return syscall(SYS_perf_event_open, a, 0, -1, -1, 0);
}

static int paranoid_level(void)
{
    int v = 2;
    FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 2;
        fclose(f);
    }
    return v;
}

/* Whether this process may count kernel-mode events (a software event
 * opened without exclude_kernel tells). */
static bool kernel_counting_allowed(void)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.disabled = 1;
    a.exclude_hv = 1;
    long fd = perf_open(&a);
    if (fd < 0)
        return false;
    close((int)fd);
    return true;
}

/* "" when the CPU's hardware counters can be opened; otherwise why not. */
static void hardware_context(char *buf, size_t cap)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_HARDWARE;
    a.config = PERF_COUNT_HW_INSTRUCTIONS;
    a.disabled = 1;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    long fd = perf_open(&a);
    if (fd >= 0) {
        close((int)fd);
        buf[0] = '\0';
        return;
    }
    int e = errno;
    if (e == EACCES || e == EPERM)
        snprintf(buf, cap, "this process may not count hardware events (perf_event_paranoid %d)",
                 paranoid_level());
    else
        snprintf(buf, cap,
                 "hardware counters are not exposed on this machine (perf_event_open of the "
                 "instruction counter: %s; usual in a VM without a virtual PMU)",
                 strerror(e));
}

/* Software events of the perf PMU, which need no hardware counter. */
static bool is_software_event(const char *name)
{
    static const char *const sw[] = {
        "TASK-CLOCK",       "CPU-CLOCK",        "PAGE-FAULTS",      "FAULTS",
        "CONTEXT-SWITCHES", "CS",               "CPU-MIGRATIONS",   "MIGRATIONS",
        "MINOR-FAULTS",     "MAJOR-FAULTS",     "ALIGNMENT-FAULTS", "EMULATION-FAULTS",
        "CGROUP-SWITCHES",  "PERF_COUNT_SW_",
    };
    if (strncmp(name, "perf::", 6) != 0)
        return false;
    name += 6;
    size_t len = strcspn(name, ":");
    for (size_t i = 0; i < sizeof sw / sizeof sw[0]; i++) {
        size_t n = strlen(sw[i]);
        if (sw[i][n - 1] == '_' ? strncmp(name, sw[i], n) == 0
                                : (len == n && strncmp(name, sw[i], n) == 0))
            return true;
    }
    return false;
}

/* Software events that only ever occur in kernel mode: zero by
 * construction when only user mode is counted. */
static bool is_kernel_only_event(const char *name)
{
    static const char *const k[] = {
        "CONTEXT-SWITCHES",
        "CS",
        "CPU-MIGRATIONS",
        "MIGRATIONS",
        "CGROUP-SWITCHES",
        "PERF_COUNT_SW_CONTEXT_SWITCHES",
        "PERF_COUNT_SW_CPU_MIGRATIONS",
        "PERF_COUNT_SW_CGROUP_SWITCHES",
    };
    if (strncmp(name, "perf::", 6) != 0)
        return false;
    name += 6;
    if (strchr(name, ':'))
        return false; /* explicit modifiers (":k=1") are the user's choice */
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strcmp(name, k[i]) == 0)
            return true;
    return false;
}

/* PAPI's words for code (PAPI_strerror is NULL for a code it does not know). */
static const char *papi_error(int code, char *buf, size_t cap)
{
    const char *s = PAPI_strerror(code);
    if (s)
        return s;
    snprintf(buf, cap, "PAPI error %d", code);
    return buf;
}

/* "what: PAPI's words; context", or, when PAPI ran out of memory, "PAPI
 * could not allocate (what: PAPI's words)". */
static void papi_reason(char *buf, size_t cap, const char *what, int code, const char *context)
{
    char eb[32];
    const char *words = papi_error(code, eb, sizeof eb);
    if (code == PAPI_ENOMEM)
        snprintf(buf, cap, "PAPI could not allocate (%s: %s)", what, words);
    else
        snprintf(buf, cap, "%s: %s%s%s", what, words, context && context[0] ? "; " : "",
                 context ? context : "");
}

static void set_reason(struct event *e, const char *what, int code, const char *context)
{
    e->available = false;
    e->slot = -1;
    papi_reason(e->reason, sizeof e->reason, what, code, context);
}

/* ---- start and stop ------------------------------------------------------ */

/* Takes a reference on PAPI, initialising it when nobody holds one. PAPI_OK
 * or PAPI's error code. */
static int papi_acquire(void)
{
    if (papi_users == 0 && PAPI_is_initialized() == PAPI_NOT_INITED) {
        int v = PAPI_library_init(PAPI_VER_CURRENT);
        if (v != PAPI_VER_CURRENT)
            return v < 0 ? v : PAPI_EINVAL;
    }
    papi_users++;
    return PAPI_OK;
}

static void papi_release(void)
{
    if (papi_users > 0 && --papi_users == 0)
        PAPI_shutdown();
}

void dfit_counters_init(const char *const *names, int n)
{
    if (!papi_preinit && !papi_init_error) {
        int rc = papi_acquire();
        papi_preinit = rc == PAPI_OK;
        papi_init_error = papi_preinit ? 0 : rc;
    }
    if (!papi_preinit)
        return;
    if (n <= 0 || !names) {
        names = dfit_counters_default;
        n = DFIT_COUNTERS_N_DEFAULT;
    }
    /* the first look-up of an event builds PAPI's tables for it */
    for (int i = 0; i < n; i++) {
        int code = 0;
        if (names[i] && names[i][0])
            (void)PAPI_event_name_to_code(names[i], &code); /* an unknown name fails later, with its reason */
    }
}

void dfit_counters_shutdown(void)
{
    papi_init_error = 0;
    if (papi_preinit) {
        papi_preinit = false;
        papi_release();
    }
}

/* Every event that is available or not yet tried becomes unavailable with
 * this reason (those already refused keep their own). */
static void mark_all(struct dfit_counters *c, const char *what, int code)
{
    for (int i = 0; i < c->n; i++)
        if (c->ev[i].available || !c->ev[i].reason[0])
            set_reason(&c->ev[i], what, code, NULL);
    c->n_slots = 0;
}

/* Adds event e to the set and checks that the set still starts. Returns
 * false when the set is left in a state no other event can be added to
 * (then every event is marked unavailable). */
static bool add_event(struct dfit_counters *c, struct event *e, bool user_only,
                      const char *hw_context, const char *comp_context)
{
    int code = 0;
    int rc = PAPI_event_name_to_code(e->name, &code);
    if (rc != PAPI_OK) {
        set_reason(e, "PAPI_event_name_to_code", rc,
                   rc == PAPI_ENOEVNT ? "not an event PAPI knows here (see papi_native_avail)"
                                      : comp_context);
        return true;
    }
    if (user_only && is_kernel_only_event(e->name)) {
        e->available = false;
        e->slot = -1;
        snprintf(e->reason, sizeof e->reason,
                 "occurs only in kernel mode, and this process may count user mode only "
                 "(perf_event_paranoid %d, not root)",
                 paranoid_level());
        return true;
    }
    const char *ctx = is_software_event(e->name) ? comp_context
                      : hw_context[0]            ? hw_context
                                                 : comp_context;
    rc = PAPI_add_event(c->event_set, code);
    if (rc != PAPI_OK) {
        set_reason(e, "PAPI_add_event", rc,
                   rc == PAPI_ECNFLCT ? "more events than this CPU has counters for" : ctx);
        return true;
    }
    rc = PAPI_start(c->event_set);
    if (rc != PAPI_OK) {
        set_reason(e, "PAPI_start", rc, ctx);
        int rc2 = PAPI_remove_event(c->event_set, code);
        if (rc2 != PAPI_OK) {
            /* the event stays in the set, which would never start again */
            mark_all(c, "PAPI_remove_event", rc2);
            return false;
        }
        return true;
    }
    if ((rc = PAPI_stop(c->event_set, NULL)) != PAPI_OK) {
        c->running = true; /* still counting: dfit_counters_free stops it */
        mark_all(c, "PAPI_stop", rc);
        return false;
    }
    e->available = true;
    e->slot = c->n_slots++;
    e->reason[0] = '\0';
    return true;
}

int dfit_counters_start(const char *const *names, int n, struct dfit_counters **out,
                        struct dfit_err *err)
{
    *out = NULL;
    if (n < 0 || (n > 0 && !names))
        return dfit_err_set(err, DFIT_EINVAL, "counters: bad event list (n %d)", n);
    if (n == 0) {
        names = dfit_counters_default;
        n = DFIT_COUNTERS_N_DEFAULT;
    }
    for (int i = 0; i < n; i++) {
        if (!names[i] || !names[i][0])
            return dfit_err_set(err, DFIT_EINVAL, "counters: event %d: empty name", i);
        if (strlen(names[i]) >= DFIT_COUNTER_NAME_MAX)
            return dfit_err_set(err, DFIT_EINVAL,
                                "counters: event '%.40s...': name longer than %d bytes", names[i],
                                DFIT_COUNTER_NAME_MAX - 1);
    }
    struct dfit_counters *c = calloc(1, sizeof *c);
    if (!c)
        return dfit_err_set(err, DFIT_ENOMEM, "counters: out of memory");
    c->event_set = PAPI_NULL;
    c->ev = calloc((size_t)n, sizeof *c->ev);
    c->last = calloc((size_t)n, sizeof *c->last);
    c->now = calloc((size_t)n, sizeof *c->now);
    if (!c->ev || !c->last || !c->now) {
        dfit_counters_free(c);
        return dfit_err_set(err, DFIT_ENOMEM, "counters: out of memory");
    }
    for (int i = 0; i < n; i++) {
        bool dup = false;
        for (int j = 0; j < c->n && !dup; j++)
            dup = strcmp(c->ev[j].name, names[i]) == 0;
        if (dup)
            continue; /* counted once: a name names one row per phase */
        snprintf(c->ev[c->n].name, sizeof c->ev[c->n].name, "%s", names[i]);
        c->ev[c->n].slot = -1;
        c->n++;
    }
    n = c->n;
    snprintf(c->inherit_reason, sizeof c->inherit_reason, "PAPI is not running");

    /* after dfit_counters_init failed (perhaps under a memory cap now), PAPI
     * is not started again */
    int v = papi_init_error ? papi_init_error : papi_acquire();
    if (v != PAPI_OK) {
        mark_all(c, "PAPI_library_init", v);
        *out = c;
        return 0;
    }
    c->papi_ref = true;

    int cidx = PAPI_get_component_index("perf_event");
    char comp_context[DFIT_REASON_MAX] = "";
    const PAPI_component_info_t *ci = cidx >= 0 ? PAPI_get_component_info(cidx) : NULL;
    if (!ci) {
        mark_all(c, "PAPI component perf_event", PAPI_ECMP);
        *out = c;
        return 0;
    }
    if (ci->disabled)
        snprintf(comp_context, sizeof comp_context, "PAPI's perf_event component is disabled: %.200s",
                 ci->disabled_reason);

    /* The default domain applies to sets created afterwards; the per-set
     * option would probe a hardware event first and fail without one. */
    bool user_only = !kernel_counting_allowed();
    int rc = PAPI_set_domain(user_only ? PAPI_DOM_USER : PAPI_DOM_USER | PAPI_DOM_KERNEL);
    if (rc != PAPI_OK) {
        mark_all(c, "PAPI_set_domain", rc);
        *out = c;
        return 0;
    }
    int es = PAPI_NULL;
    if ((rc = PAPI_create_eventset(&es)) != PAPI_OK) {
        mark_all(c, "PAPI_create_eventset", rc);
        *out = c;
        return 0;
    }
    c->event_set = es;
    /* A set whose component could not be assigned (PAPI_ENOMEM under a low
     * RLIMIT_AS) is half-built: PAPI_cleanup_eventset and
     * PAPI_destroy_eventset crash on it, so it is left to PAPI_shutdown. */
    if ((rc = PAPI_assign_eventset_component(c->event_set, cidx)) != PAPI_OK) {
        mark_all(c, "PAPI_assign_eventset_component", rc);
        *out = c;
        return 0;
    }
    c->assigned = true;
    char hw_context[DFIT_REASON_MAX];
    hardware_context(hw_context, sizeof hw_context);

    PAPI_option_t opt;
    memset(&opt, 0, sizeof opt);
    opt.inherit.eventset = c->event_set;
    opt.inherit.inherit = PAPI_INHERIT_ALL;
    rc = PAPI_set_opt(PAPI_INHERIT, &opt);
    c->inherit = rc == PAPI_OK;
    if (c->inherit)
        c->inherit_reason[0] = '\0';
    else
        papi_reason(c->inherit_reason, sizeof c->inherit_reason, "PAPI_set_opt(PAPI_INHERIT)", rc,
                    hw_context);

    for (int i = 0; i < n; i++)
        if (!add_event(c, &c->ev[i], user_only, hw_context, comp_context))
            break;
    if (c->n_slots > 0) {
        rc = PAPI_start(c->event_set);
        if (rc != PAPI_OK) {
            mark_all(c, "PAPI_start", rc);
        } else {
            c->running = true;
            if ((rc = PAPI_read(c->event_set, c->last)) != PAPI_OK) /* PAPI_start zeroes */
                memset(c->last, 0, (size_t)c->n_slots * sizeof *c->last);
        }
    }
    *out = c;
    return 0;
}

void dfit_counters_free(struct dfit_counters *c)
{
    if (!c)
        return;
    /* Each step only when the one before it worked: PAPI crashes on a set
     * in a state it did not expect; whatever is left, PAPI_shutdown frees. */
    bool stopped = !c->running || PAPI_stop(c->event_set, NULL) == PAPI_OK;
    if (c->assigned && stopped && PAPI_cleanup_eventset(c->event_set) == PAPI_OK)
        PAPI_destroy_eventset(&c->event_set);
    if (c->papi_ref)
        papi_release();
    free(c->ev);
    free(c->last);
    free(c->now);
    free(c);
}

/* ---- reading ----------------------------------------------------------- */

static int read_delta(struct dfit_counters *c, int phase, struct dfit_err *err)
{
    if (!c || !c->running || c->n_slots == 0)
        return 0;
    int rc = PAPI_read(c->event_set, c->now);
    char eb[32];
    if (rc != PAPI_OK)
        return dfit_err_set(err, DFIT_EIO, "counters: PAPI_read: %s", papi_error(rc, eb, sizeof eb));
    for (int i = 0; i < c->n; i++) {
        struct event *e = &c->ev[i];
        if (!e->available)
            continue;
        if (phase >= 0)
            e->total[phase] += (int64_t)(c->now[e->slot] - c->last[e->slot]);
    }
    memcpy(c->last, c->now, (size_t)c->n_slots * sizeof *c->last);
    return 0;
}

int dfit_counters_mark(struct dfit_counters *c, enum dfit_phase p, struct dfit_err *err)
{
    if ((unsigned)p >= DFIT_PHASE_COUNT)
        return dfit_err_set(err, DFIT_EINVAL, "counters: phase %d out of range", (int)p);
    return read_delta(c, (int)p, err);
}

int dfit_counters_skip(struct dfit_counters *c, struct dfit_err *err)
{
    return read_delta(c, -1, err);
}

int dfit_counters_n_events(const struct dfit_counters *c)
{
    return c->n;
}

bool dfit_counters_available(const struct dfit_counters *c, int i)
{
    return i >= 0 && i < c->n && c->ev[i].available;
}

const char *dfit_counters_name(const struct dfit_counters *c, int i)
{
    return i >= 0 && i < c->n ? c->ev[i].name : "";
}

const char *dfit_counters_reason(const struct dfit_counters *c, int i)
{
    return i >= 0 && i < c->n ? c->ev[i].reason : "";
}

int64_t dfit_counters_value(const struct dfit_counters *c, int i, enum dfit_phase p)
{
    if (i < 0 || i >= c->n || (unsigned)p >= DFIT_PHASE_COUNT || !c->ev[i].available)
        return 0;
    return c->ev[i].total[p];
}

bool dfit_counters_inherit(const struct dfit_counters *c, const char **why)
{
    if (why)
        *why = c->inherit_reason;
    return c->inherit;
}

int dfit_counters_export(const struct dfit_counters *c, int n_threads,
                         struct dfit_counter_value **out, uint32_t *n, struct dfit_err *err)
{
    *out = NULL;
    *n = 0;
    size_t total = (size_t)c->n * DFIT_PHASE_COUNT;
    struct dfit_counter_value *v = calloc(total ? total : 1, sizeof *v);
    if (!v)
        return dfit_err_set(err, DFIT_ENOMEM, "counters: out of memory");
    bool partial = n_threads > 1 && !c->inherit;
    for (int i = 0; i < c->n; i++) {
        const struct event *e = &c->ev[i];
        for (int p = 0; p < DFIT_PHASE_COUNT; p++) {
            struct dfit_counter_value *o = &v[(size_t)i * DFIT_PHASE_COUNT + (size_t)p];
            snprintf(o->name, sizeof o->name, "%s", e->name);
            o->phase = (enum dfit_phase)p;
            o->available = e->available && !partial;
            o->value = o->available ? e->total[p] : 0;
            if (e->available && partial)
                snprintf(o->reason, sizeof o->reason,
                         "counts would cover 1 of %d threads: %.180s", n_threads,
                         c->inherit_reason);
            else
                snprintf(o->reason, sizeof o->reason, "%s", e->reason);
        }
    }
    *out = v;
    *n = (uint32_t)total;
    return 0;
}

/* ---- derived figures ----------------------------------------------------- */

/* The value of the first available row for phase p whose name is one of
 * names[], or NAN. */
static double find(const struct dfit_counter_value *v, uint32_t n, enum dfit_phase p,
                   const char *const *names)
{
    for (const char *const *nm = names; *nm; nm++)
        for (uint32_t i = 0; i < n; i++)
            if (v[i].phase == p && v[i].available && strcmp(v[i].name, *nm) == 0)
                return (double)v[i].value;
    return NAN;
}

void dfit_counters_derived(const struct dfit_counter_value *v, uint32_t n, enum dfit_phase p,
                           uint64_t n_tokens, struct dfit_counters_derived *out)
{
    static const char *const cyc[] = {"PAPI_TOT_CYC", "perf::CYCLES", "perf::CPU-CYCLES",
                                      "perf::PERF_COUNT_HW_CPU_CYCLES", NULL};
    static const char *const ins[] = {"PAPI_TOT_INS", "perf::INSTRUCTIONS",
                                      "perf::PERF_COUNT_HW_INSTRUCTIONS", NULL};
    static const char *const l1[] = {"PAPI_L1_DCM", "perf::L1-DCACHE-LOAD-MISSES", NULL};
    static const char *const l2[] = {"PAPI_L2_DCM", NULL};
    static const char *const l3[] = {"PAPI_L3_TCM", "perf::LLC-LOAD-MISSES", NULL};
    static const char *const br[] = {"PAPI_BR_MSP", "perf::BRANCH-MISSES",
                                     "perf::PERF_COUNT_HW_BRANCH_MISSES", NULL};
    static const char *const tc[] = {"perf::TASK-CLOCK", "perf::PERF_COUNT_SW_TASK_CLOCK", NULL};
    double tok = n_tokens ? (double)n_tokens : NAN;
    double c = find(v, n, p, cyc), i = find(v, n, p, ins);
    out->ipc = c > 0 ? i / c : NAN;
    out->instructions_per_token = i / tok;
    out->cycles_per_token = c / tok;
    out->l1_dcm_per_token = find(v, n, p, l1) / tok;
    out->l2_dcm_per_token = find(v, n, p, l2) / tok;
    out->l3_tcm_per_token = find(v, n, p, l3) / tok;
    out->branch_misses_per_token = find(v, n, p, br) / tok;
    out->task_clock_ns_per_token = find(v, n, p, tc) / tok;
}
