/* scenario_check.c — the scenario checks that need the whole file (see
 * scenario_impl.h): every required key present, variant recipes valid and
 * their parents acyclic, every named file readable (resolved against the
 * scenario's directory), eval sets valid and uniquely named, the base model
 * a file or a synth preset. Errors as scenario.c's, with the line of the
 * key at fault.
 */
#include "run/scenario_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compress/prune.h"
#include "compress/synth.h"
#include "run/eval_csv.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static int key_index(enum kind k, const char *name)
{
    for (int i = 0; dfit_scn_key_tables[k][i].name; i++)
        if (strcmp(dfit_scn_key_tables[k][i].name, name) == 0)
            return i;
    return -1;
}

static int key_line(const struct sec *sec, const char *name)
{
    int i = key_index(sec->kind, name);
    return i >= 0 ? sec->key_line[i] : 0;
}

/* Resolves *path against the scenario's directory and checks it is a
 * readable regular file. */
static int resolve_file(struct parser *p, const struct sec *sec, const char *key, char **path)
{
    char *r;
    if ((*path)[0] == '/') {
        r = strdup(*path);
    } else if (asprintf(&r, "%s/%s", p->s->dir, *path) < 0) {
        r = NULL;
    }
    if (!r)
        return dfit_scn_fail(p, DFIT_ENOMEM, key_line(sec, key), sec, "out of memory");
    struct stat st;
    const char *why = NULL;
    if (stat(r, &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (access(r, R_OK) != 0)
        why = strerror(errno);
    if (why) {
        int rc = dfit_scn_fail(p, DFIT_EINVAL, key_line(sec, key), sec, "key '%s': '%s' (%s): %s",
                               key, *path, r, why);
        free(r);
        return rc;
    }
    free(*path);
    *path = r;
    return 1;
}

/* method, prune and calib: only on recipes, each valid, calib only where
 * something uses it (AWQ or pruning); a calibration file is resolved. */
static int check_recipe_keys(struct parser *p, const struct sec *sec, struct dfit_variant_spec *v)
{
    static const char *const keys[] = {"method", "prune", "calib"};
    const char *vals[] = {v->method, v->prune, v->calib};
    for (int k = 0; k < 3; k++)
        if (v->file && vals[k])
            return dfit_scn_fail(
                p, DFIT_EINVAL, key_line(sec, keys[k]), sec,
                "key '%s': a 'file' variant is used as it is; only a recipe has a %s", keys[k],
                keys[k]);
    bool awq = false;
    if (v->method) {
        awq = strcmp(v->method, "awq") == 0;
        if (!awq && strcmp(v->method, "plain") != 0)
            return dfit_scn_fail(p, DFIT_EINVAL, key_line(sec, "method"), sec,
                                 "key 'method': unknown method '%s' (methods: plain, awq)",
                                 v->method);
        if (awq &&
            (!v->compress ||
             (strcmp(v->compress, "q8_0") != 0 && strcmp(v->compress, "q4_0") != 0)))
            return dfit_scn_fail(
                p, DFIT_EINVAL, key_line(sec, "method"), sec,
                "key 'method': awq scales weights for a quantized type: it needs compress = q8_0 "
                "or q4_0%s%s",
                v->compress ? ", not " : "", v->compress ? v->compress : "");
    }
    if (v->prune) {
        struct dfit_prune_params pp = {0};
        struct dfit_err e = {0};
        if (dfit_prune_parse(v->prune, &pp, &e) != 0)
            return dfit_scn_fail(p, DFIT_EINVAL, key_line(sec, "prune"), sec, "key 'prune': %s",
                                 e.msg);
    }
    if (v->calib) {
        if (!awq && !v->prune)
            return dfit_scn_fail(
                p, DFIT_EINVAL, key_line(sec, "calib"), sec,
                "key 'calib': nothing uses calibration here (it serves method = awq and prune)");
        uint64_t seed;
        if (strcmp(v->calib, "synth") == 0)
            return 1;
        if (strncmp(v->calib, "synth:", 6) == 0) {
            if (!dfit_scn_parse_u64(v->calib + 6, &seed))
                return dfit_scn_fail(p, DFIT_EINVAL, key_line(sec, "calib"), sec,
                                     "key 'calib': seed '%s' is not an unsigned integer",
                                     v->calib + 6);
            return 1;
        }
        return resolve_file(p, sec, "calib", &v->calib);
    }
    return 1;
}

static int check_variants(struct parser *p)
{
    struct dfit_scenario *s = p->s;
    for (int i = 0; i < s->n_variants; i++) {
        struct dfit_variant_spec *v = &s->variants[i];
        const struct sec *sec = &p->secs[dfit_scn_sec_of(p, K_VARIANT, i)];
        if (v->file && v->compress)
            return dfit_scn_fail(
                p, DFIT_EINVAL,
                key_line(sec, "file") > key_line(sec, "compress") ? key_line(sec, "file")
                                                                  : key_line(sec, "compress"),
                sec,
                "keys 'file' and 'compress': a variant is either a file or a recipe, not both");
        if (!check_recipe_keys(p, sec, v))
            return 0;
        if (!v->file && !v->compress && !v->prune)
            return dfit_scn_fail(p, DFIT_EINVAL, v->line, sec,
                                 "needs key 'file' (a model file) or key 'compress' "
                                 "(a recipe, e.g. compress = q8_0)");
        if (v->from && !v->compress && !v->prune)
            return dfit_scn_fail(p, DFIT_EINVAL, key_line(sec, "from"), sec,
                                 "key 'from': only a 'compress' "
                                 "recipe has a parent variant");
        if (v->from && dfit_scenario_variant(s, v->from) == NULL) {
            const char *names[64];
            int n = s->n_variants < 64 ? s->n_variants : 64;
            for (int j = 0; j < n; j++)
                names[j] = s->variants[j].name;
            char hint[96];
            return dfit_scn_fail(p, DFIT_EINVAL, key_line(sec, "from"), sec,
                                 "key 'from': no variant named '%s'%s", v->from,
                                 dfit_scn_suggest(v->from, names, n, hint, sizeof hint));
        }
        /* follow the parents; coming back to v means v is on a cycle */
        const struct dfit_variant_spec *at = v;
        for (int steps = 0; at && at->from && steps <= s->n_variants; steps++) {
            at = dfit_scenario_variant(s, at->from);
            if (at != v)
                continue;
            char chain[512] = "";
            size_t len = 0;
            const struct dfit_variant_spec *c = v;
            for (int j = 0; j <= s->n_variants && len < sizeof chain; j++) {
                len += (size_t)snprintf(chain + len, sizeof chain - len, "%s%s", j ? " -> " : "",
                                        c->name);
                if (j && c == v)
                    break;
                c = dfit_scenario_variant(s, c->from);
            }
            return dfit_scn_fail(p, DFIT_EINVAL, key_line(sec, "from"), sec,
                                 "key 'from': the variants' parents form a cycle: %s", chain);
        }
        if (v->file && !resolve_file(p, sec, "file", &v->file))
            return 0;
    }
    return 1;
}

/* Each eval set exists, reads as a valid CSV eval set (eval_csv.h), and
 * has a name (its file name without .csv) no other set has. */
static int check_tasks(struct parser *p, const struct sec *sec)
{
    struct dfit_scenario *s = p->s;
    int line = key_line(sec, "tasks");
    if (s->task_limit && !s->n_tasks)
        return dfit_scn_fail(p, DFIT_EINVAL, key_line(sec, "task_limit"), sec,
                             "key 'task_limit': there are no "
                             "eval sets to limit (set key 'tasks')");
    char **names = calloc((size_t)s->n_tasks + 1, sizeof *names);
    if (!names)
        return dfit_scn_fail(p, DFIT_ENOMEM, line, sec, "out of memory");
    int ok = 1;
    for (int i = 0; i < s->n_tasks && ok; i++) {
        struct dfit_eval_set *set = NULL;
        struct dfit_err e = {0};
        const char *why = NULL;
        char show[96];
        if (!(ok = resolve_file(p, sec, "tasks", &s->tasks[i])))
            break;
        if (dfit_eval_csv_read(s->tasks[i], &set, &e) != 0) {
            ok = dfit_scn_fail(p, e.code == DFIT_ENOMEM ? DFIT_ENOMEM : DFIT_EINVAL, line, sec,
                               "key 'tasks': %s", e.msg);
            break;
        }
        if (strlen(set->name) >= DFIT_TASK_NAME_MAX || (why = dfit_scn_bad_text(set->name)) != NULL)
            ok = dfit_scn_fail(p, DFIT_EINVAL, line, sec,
                               "key 'tasks': %s: the set's name '%s' (its file name) "
                               "%s",
                               s->tasks[i], dfit_scn_shown(set->name, show, sizeof show),
                               why ? why : "is longer than " STR(DFIT_TASK_NAME_MAX) " bytes");
        for (int j = 0; j < i && ok; j++)
            if (strcmp(names[j], set->name) == 0)
                ok = dfit_scn_fail(p, DFIT_EINVAL, line, sec,
                                   "key 'tasks': two eval sets named '%s' (%s and %s): "
                                   "a set is named by its file name, so rename one",
                                   set->name, s->tasks[j], s->tasks[i]);
        if (ok && !(names[i] = strdup(set->name)))
            ok = dfit_scn_fail(p, DFIT_ENOMEM, line, sec, "out of memory");
        dfit_eval_set_free(set);
    }
    for (int i = 0; i < s->n_tasks; i++)
        free(names[i]);
    free(names);
    return ok;
}

static int check_scenario_keys(struct parser *p, const struct sec *sec)
{
    struct dfit_scenario *s = p->s;
    static const char *const what[] = {NULL, "[variant NAME]", "[target NAME]", "[workload NAME]"};
    int counts[K_COUNT] = {1, s->n_variants, s->n_targets, s->n_workloads};
    for (int k = K_VARIANT; k < K_COUNT; k++)
        if (counts[k] == 0)
            return dfit_scn_fail(p, DFIT_EINVAL, sec->line, sec,
                                 "no %s section: a scenario needs at least one", what[k]);
    if (!s->reference && !(s->reference = strdup(s->variants[0].name)))
        return dfit_scn_fail(p, DFIT_ENOMEM, sec->line, sec, "out of memory");
    if (!dfit_scenario_variant(s, s->reference))
        return dfit_scn_fail(p, DFIT_EINVAL, key_line(sec, "reference"), sec,
                             "key 'reference': no variant named '%s'", s->reference);
    if (!s->eval && !(s->eval = strdup("synth")))
        return dfit_scn_fail(p, DFIT_ENOMEM, sec->line, sec, "out of memory");
    if (!check_tasks(p, sec))
        return 0;
    if (strcmp(s->eval, "synth") != 0 && !resolve_file(p, sec, "eval", &s->eval))
        return 0;
    if (strncmp(s->base, "synth:", 6) == 0) {
        char preset[DFIT_SYNTH_PRESET_MAX];
        uint64_t seed;
        const char *spec = s->base + 6, *colon = strchr(spec, ':');
        size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
        struct dfit_synth_shape shape;
        struct dfit_err e = {0};
        if (n == 0 || n >= sizeof preset)
            return dfit_scn_fail(p, DFIT_EINVAL, key_line(sec, "base"), sec,
                                 "key 'base': '%s' names no synth preset "
                                 "(write synth:PRESET or synth:PRESET:SEED)",
                                 s->base);
        memcpy(preset, spec, n);
        preset[n] = '\0';
        if (dfit_synth_preset(preset, &shape, &e) != 0)
            return dfit_scn_fail(p, DFIT_EINVAL, key_line(sec, "base"), sec, "key 'base': %s",
                                 e.msg);
        if (colon && !dfit_scn_parse_u64(colon + 1, &seed))
            return dfit_scn_fail(p, DFIT_EINVAL, key_line(sec, "base"), sec,
                                 "key 'base': seed '%s' is not an "
                                 "unsigned integer",
                                 colon + 1);
        return 1;
    }
    return resolve_file(p, sec, "base", &s->base);
}

int dfit_scn_check_all(struct parser *p)
{
    struct dfit_scenario *s = p->s;
    if (p->scenario_sec < 0)
        return dfit_scn_fail(p, DFIT_EINVAL, 1, NULL,
                             "no [scenario] section (it holds 'base', the model the "
                             "variants are made from)");
    for (int i = 0; i < p->n_secs; i++) {
        const struct sec *sec = &p->secs[i];
        const struct keydef *t = dfit_scn_key_tables[sec->kind];
        for (int k = 0; t[k].name; k++)
            if (t[k].required && !sec->key_line[k])
                return dfit_scn_fail(p, DFIT_EINVAL, sec->line, sec, "missing key '%s'", t[k].name);
        if (sec->kind == K_WORKLOAD) {
            const struct dfit_workload_spec *w = &s->workloads[sec->index];
            if (w->mode == DFIT_MODE_SINGLE_STREAM && w->batch > 1)
                return dfit_scn_fail(
                    p, DFIT_EINVAL, key_line(sec, "batch"), sec,
                    "key 'batch': single-stream runs "
                    "one request at a time, so batch must be 1 (got %u; use mode = offline)",
                    w->batch);
        }
    }
    if (!check_variants(p))
        return 0;
    return check_scenario_keys(p, &p->secs[p->scenario_sec]);
}
