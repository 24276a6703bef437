/* plan.c — turns a scenario into cells, checks which targets this machine
 * can serve, and orders the variant builds (see plan.h).
 * Non-goals: building and running.
 */
#include "run/plan.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Copies src into dst[cap], cut to fit. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* One probe per distinct backend name. */
struct probe_memo {
    const char *name;
    const struct dfit_backend_ops *ops;
    bool ok;
    char reason[DFIT_REASON_MAX];
    struct dfit_device_list devices;
};

static void probe_backend(struct probe_memo *m, const char *name)
{
    m->name = name;
    m->ops = dfit_backend_find(name);
    m->ok = false;
    memset(&m->devices, 0, sizeof m->devices);
    if (!m->ops) {
        if (strcmp(name, "cuda") == 0) {
            snprintf(m->reason, sizeof m->reason,
                     "backend 'cuda' is not built into this dfit (configure with -Dcuda=enabled)");
            return;
        }
        char have[128] = "";
        for (size_t i = 0; i < dfit_backend_count(); i++) {
            size_t len = strlen(have);
            snprintf(have + len, sizeof have - len, "%s%s", i ? ", " : "", dfit_backend_at(i)->name);
        }
        snprintf(m->reason, sizeof m->reason, "unknown backend '%s' (this dfit has: %s)", name, have);
        return;
    }
    struct dfit_err e = {0};
    int rc = m->ops->probe(&m->devices, &e);
    if (rc != 0) {
        copy_str(m->reason, sizeof m->reason, e.msg[0] ? e.msg : dfit_err_name(rc));
        return;
    }
    if (m->devices.n < 1) {
        snprintf(m->reason, sizeof m->reason, "backend '%s' found no device", name);
        return;
    }
    m->ok = true;
    m->reason[0] = '\0';
}

/* Appends variant v after its parents, once. */
static void order_variant(const struct dfit_scenario *s, int v, bool *placed, int depth, int *order, int *n)
{
    if (placed[v] || depth > s->n_variants)
        return;
    const char *from = s->variants[v].from;
    if (from) {
        const struct dfit_variant_spec *parent = dfit_scenario_variant(s, from);
        if (parent)
            order_variant(s, (int)(parent - s->variants), placed, depth + 1, order, n);
    }
    if (!placed[v]) {
        placed[v] = true;
        order[(*n)++] = v;
    }
}

int dfit_plan_create(const struct dfit_scenario *s, const struct dfit_plan_options *opt,
                     struct dfit_plan **out, struct dfit_err *err)
{
    struct dfit_plan *p = NULL;
    struct probe_memo *memo = NULL;
    bool *wanted = NULL, *placed = NULL;
    int n_memo = 0, rc = DFIT_ENOMEM;
    const char *only = opt ? opt->only : NULL;
    *out = NULL;

    size_t max_cells = (size_t)s->n_targets * (size_t)s->n_variants * (size_t)s->n_workloads;
    if (!(p = calloc(1, sizeof *p)) ||
        !(p->targets = calloc((size_t)s->n_targets + 1, sizeof *p->targets)) ||
        !(p->cells = calloc(max_cells + 1, sizeof *p->cells)) ||
        !(p->build_order = calloc((size_t)s->n_variants + 1, sizeof *p->build_order)) ||
        !(memo = calloc((size_t)s->n_targets + 1, sizeof *memo)) ||
        !(wanted = calloc((size_t)s->n_variants + 1, sizeof *wanted)) ||
        !(placed = calloc((size_t)s->n_variants + 1, sizeof *placed)))
        goto nomem;
    p->scenario = s;
    p->n_targets = s->n_targets;

    long n_cpus = sysconf(_SC_NPROCESSORS_ONLN);
    for (int t = 0; t < s->n_targets; t++) {
        const struct dfit_target_spec *ts = &s->targets[t];
        struct dfit_plan_target *pt = &p->targets[t];
        struct probe_memo *m = NULL;
        for (int i = 0; i < n_memo && !m; i++)
            if (strcmp(memo[i].name, ts->backend) == 0)
                m = &memo[i];
        if (!m) {
            m = &memo[n_memo++];
            probe_backend(m, ts->backend);
        }
        pt->spec = ts;
        pt->runnable = m->ok;
        pt->backend = m->ok ? m->ops : NULL;
        pt->devices = m->devices;
        copy_str(pt->reason, sizeof pt->reason, m->reason);
        if (m->ok && strcmp(ts->backend, "cpu") == 0 && n_cpus > 0 && ts->threads > n_cpus)
            snprintf(pt->note, sizeof pt->note,
                     "threads = %d but %ld CPUs are online here: its timings will be oversubscribed",
                     ts->threads, n_cpus);
    }

    for (int t = 0; t < s->n_targets; t++)
        for (int v = 0; v < s->n_variants; v++)
            for (int w = 0; w < s->n_workloads; w++) {
                char *id = NULL;
                if (asprintf(&id, "%s/%s/%s", s->variants[v].name, s->targets[t].name,
                             s->workloads[w].name) < 0)
                    goto nomem;
                if (only && fnmatch(only, id, 0) != 0) {
                    free(id);
                    continue;
                }
                struct dfit_plan_cell *c = &p->cells[p->n_cells++];
                c->id = id;
                c->variant = v;
                c->target = t;
                c->workload = w;
                c->skipped = !p->targets[t].runnable;
                c->reason = p->targets[t].reason;
                p->n_runnable += !c->skipped;
                wanted[v] = true;
            }
    if (p->n_cells == 0 && max_cells > 0) {
        rc = dfit_err_set(err, DFIT_ENOTFOUND,
                          "%s: '%s' selects none of the %zu cells (ids are variant/target/workload, e.g. "
                          "'%s/%s/%s')", s->path, only ? only : "", max_cells, s->variants[0].name,
                          s->targets[0].name, s->workloads[0].name);
        goto fail;
    }

    /* the reference is scored on every run, so it is always built */
    const struct dfit_variant_spec *ref = dfit_scenario_variant(s, s->reference);
    if (ref)
        wanted[ref - s->variants] = true;
    for (int v = 0; v < s->n_variants; v++)
        if (wanted[v])
            order_variant(s, v, placed, 0, p->build_order, &p->n_build);

    free(memo);
    free(wanted);
    free(placed);
    *out = p;
    return 0;
nomem:
    rc = dfit_err_set(err, DFIT_ENOMEM, "%s: planning: out of memory", s->path);
fail:
    free(memo);
    free(wanted);
    free(placed);
    dfit_plan_free(p);
    return rc;
}

void dfit_plan_free(struct dfit_plan *p)
{
    if (!p)
        return;
    for (int i = 0; p->cells && i < p->n_cells; i++)
        free(p->cells[i].id);
    free(p->cells);
    free(p->targets);
    free(p->build_order);
    free(p);
}

const struct dfit_plan_cell *dfit_plan_find(const struct dfit_plan *p, const char *id)
{
    for (int i = 0; p && id && i < p->n_cells; i++)
        if (strcmp(p->cells[i].id, id) == 0)
            return &p->cells[i];
    return NULL;
}
