/* result.c — names of cell statuses and counter phases, and freeing a cell
 * result's arrays (see result.h). The names are the words stored in the
 * results database and shown in reports, so they never change.
 * Non-goals: computing statistics, measuring anything.
 */
#include "run/result.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {
    [DFIT_CELL_OK] = "ok",           [DFIT_CELL_FAILED] = "failed",
    [DFIT_CELL_CRASHED] = "crashed", [DFIT_CELL_TIMEOUT] = "timeout",
    [DFIT_CELL_OOM] = "oom",         [DFIT_CELL_SKIPPED] = "skipped",
};
#define N_STATUS (sizeof status_names / sizeof status_names[0])

static const char *const phase_names[DFIT_PHASE_COUNT] = {
    [DFIT_PHASE_LOAD] = "load",
    [DFIT_PHASE_PREFILL] = "prefill",
    [DFIT_PHASE_DECODE] = "decode",
};

const char *dfit_cell_status_name(enum dfit_cell_status s)
{
    return (unsigned)s < N_STATUS ? status_names[s] : "?";
}

bool dfit_cell_status_from_name(const char *name, enum dfit_cell_status *out)
{
    for (unsigned i = 0; name && i < N_STATUS; i++)
        if (strcmp(status_names[i], name) == 0) {
            *out = (enum dfit_cell_status)i;
            return true;
        }
    return false;
}

const char *dfit_phase_name(enum dfit_phase p)
{
    return (unsigned)p < DFIT_PHASE_COUNT ? phase_names[p] : "?";
}

bool dfit_phase_from_name(const char *name, enum dfit_phase *out)
{
    for (unsigned i = 0; name && i < DFIT_PHASE_COUNT; i++)
        if (strcmp(phase_names[i], name) == 0) {
            *out = (enum dfit_phase)i;
            return true;
        }
    return false;
}

void dfit_cell_result_free_samples(struct dfit_cell_result *r)
{
    if (!r)
        return;
    free(r->requests);
    free(r->gaps_ns);
    free(r->counters);
    r->requests = NULL;
    r->n_requests = 0;
    r->gaps_ns = NULL;
    r->n_gaps = 0;
    r->counters = NULL;
    r->n_counters = 0;
}
