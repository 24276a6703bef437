/* scenario.c — reads a scenario INI file with libinih and validates every
 * section, key and value, so that the runner can trust what it gets.
 *
 * libinih hands the handler only (section, key, value); line numbers come
 * from our own line reader (ini_parse_stream), which also sees each section
 * header first-hand — so empty sections, bad names and junk after ']' are
 * caught too, and libinih is handed a fixed "[s]" instead, so that a name
 * may hold what libinih would read as an inline comment — and strips
 * leading blanks so that no line is ever taken as a multi-line
 * continuation. Names are printable UTF-8 without '/' or ']' (bad_name).
 * Every error is "<file>:<line>: [<kind> <name>]: key '<key>': <what>".
 * Non-goals: planning and running (plan.h, variants.h, the runner).
 */
#include "run/scenario.h"
#include "run/scenario_impl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compress/prune.h"
#include "compress/synth.h"
#include "model/types.h"
#include "run/eval_csv.h"

#define MAX_FILE_BYTES (1u << 20)
#define STR_(x) #x
#define STR(x) STR_(x)
#define MAX_COUNTERS 32

const char *const dfit_scn_kind_names[K_COUNT] = {"scenario", "variant", "target", "workload"};

#define INF INFINITY
#define SC(f) offsetof(struct dfit_scenario, f)
#define VA(f) offsetof(struct dfit_variant_spec, f)
#define TA(f) offsetof(struct dfit_target_spec, f)
#define WO(f) offsetof(struct dfit_workload_spec, f)

static const struct keydef scenario_keys[] = {
    {"name", V_STR, SC(name), false, 0, 0, false},
    {"base", V_STR, SC(base), true, 0, 0, false},
    {"reference", V_STR, SC(reference), false, 0, 0, false},
    {"eval", V_PATH, SC(eval), false, 0, 0, false},
    {"eval_tokens", V_U32, SC(eval_tokens), false, 2, 1 << 24, false},
    {"seed", V_U64, SC(seed), false, 0, INF, false},
    {"tasks", V_TASKS, SC(tasks), false, 0, 0, false},
    {"task_limit", V_U32, SC(task_limit), false, 1, 1e9, false},
    {NULL, 0, 0, false, 0, 0, false},
};
static const struct keydef variant_keys[] = {
    {"file", V_PATH, VA(file), false, 0, 0, false},
    {"compress", V_TYPE, VA(compress), false, 0, 0, false},
    {"from", V_STR, VA(from), false, 0, 0, false},
    {"method", V_STR, VA(method), false, 0, 0, false},
    {"prune", V_STR, VA(prune), false, 0, 0, false},
    {"calib", V_STR, VA(calib), false, 0, 0, false},
    {NULL, 0, 0, false, 0, 0, false},
};
static const struct keydef target_keys[] = {
    {"backend", V_STR, TA(backend), true, 0, 0, false},
    {"threads", V_INT, TA(threads), false, 1, 4096, false},
    {"memory_limit_mib", V_F64, TA(memory_limit_mib), false, 0, 1e9, true},
    {"price_per_hour", V_F64, TA(price_per_hour), false, 0, 1e6, false},
    {"time_limit_s", V_F64, TA(time_limit_s), false, 0, 1e7, true},
    {"kernels", V_STR, TA(kernels), false, 0, 0, false},
    {"device", V_STR, TA(device), false, 0, 0, false},
    {"counters", V_LIST, TA(counters), false, 0, 0, false},
    {"p95_ttft_ms", V_F64, TA(slo.p95_ttft_ms), false, 0, INF, true},
    {"p95_tpot_ms", V_F64, TA(slo.p95_tpot_ms), false, 0, INF, true},
    {"p95_e2e_ms", V_F64, TA(slo.p95_e2e_ms), false, 0, INF, true},
    {"min_tokens_per_s", V_F64, TA(slo.min_tokens_per_s), false, 0, INF, false},
    {"max_memory_mib", V_F64, TA(slo.max_memory_mib), false, 0, INF, true},
    {"max_usd_per_mtok", V_F64, TA(slo.max_usd_per_mtok), false, 0, INF, false},
    {"min_quality", V_F64, TA(slo.min_quality), false, 0, 1, false},
    {NULL, 0, 0, false, 0, 0, false},
};
static const struct keydef workload_keys[] = {
    {"mode", V_MODE, WO(mode), true, 0, 0, false},
    {"prompt_tokens", V_U32, WO(prompt_tokens), true, 1, 1 << 20, false},
    {"output_tokens", V_U32, WO(output_tokens), true, 1, 1 << 20, false},
    {"batch", V_U32, WO(batch), false, 1, 4096, false},
    {"min_duration_ms", V_U64, WO(min_duration_ms), false, 0, 1e10, false},
    {"min_requests", V_U32, WO(min_requests), false, 1, 1e9, false},
    {"warmup_requests", V_U32, WO(warmup_requests), false, 0, 1e9, false},
    {NULL, 0, 0, false, 0, 0, false},
};
const struct keydef *const dfit_scn_key_tables[K_COUNT] = {scenario_keys, variant_keys, target_keys,
                                                           workload_keys};

/* ---- messages ----------------------------------------------------------- */

static const char *sec_name(const struct parser *p, const struct sec *sec)
{
    switch (sec->kind) {
    case K_VARIANT: return p->s->variants[sec->index].name;
    case K_TARGET: return p->s->targets[sec->index].name;
    case K_WORKLOAD: return p->s->workloads[sec->index].name;
    default: return NULL;
    }
}

/* Records the first error: "<file>:<line>: [<kind> <name>]: <msg>". Returns
 * 0, which is libinih's "handler failed". */
__attribute__((format(printf, 5, 6))) int dfit_scn_fail(struct parser *p, int code, int line,
                                                        const struct sec *sec, const char *fmt, ...)
{
    if (p->err_line)
        return 0;
    char msg[DFIT_ERR_MSG_MAX], where[128] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sec) {
        const char *name = sec_name(p, sec);
        snprintf(where, sizeof where, "[%s%s%s]: ", dfit_scn_kind_names[sec->kind], name ? " " : "",
                 name ? name : "");
    }
    p->err_line = line > 0 ? line : 1;
    p->err_code = code;
    dfit_err_set(p->err, code, "%s:%d: %s%s", p->s->path, p->err_line, where, msg);
    return 0;
}

/* Optimal string alignment distance (edits and adjacent swaps), capped. */
static int edit_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > 40 || nb > 40)
        return 99;
    int d[41][41];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[na][nb];
}

/* " (did you mean 'x'?)" for the closest of n names within distance 2. */
const char *dfit_scn_suggest(const char *word, const char *const *names, int n, char *buf,
                             size_t cap)
{
    int best = 3;
    const char *pick = NULL;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, names[i]);
        if (d < best) {
            best = d;
            pick = names[i];
        }
    }
    if (pick)
        snprintf(buf, cap, " (did you mean '%s'?)", pick);
    else
        buf[0] = '\0';
    return buf;
}

/* ---- sections ------------------------------------------------------------ */

static void *grow(void **arr, int *n, size_t elem)
{
    char *a = realloc(*arr, (size_t)(*n + 1) * elem);
    if (!a)
        return NULL;
    *arr = a;
    memset(a + (size_t)*n * elem, 0, elem);
    return a + (size_t)(*n)++ * elem;
}

static int find_index(const struct parser *p, enum kind k, const char *name)
{
    const struct dfit_scenario *s = p->s;
    int n = k == K_VARIANT ? s->n_variants : k == K_TARGET ? s->n_targets : s->n_workloads;
    for (int i = 0; i < n; i++) {
        const char *have = k == K_VARIANT ? s->variants[i].name
            : k == K_TARGET               ? s->targets[i].name
                                          : s->workloads[i].name;
        if (strcmp(have, name) == 0)
            return i;
    }
    return -1;
}

int dfit_scn_sec_of(const struct parser *p, enum kind k, int index)
{
    for (int i = 0; i < p->n_secs; i++)
        if (p->secs[i].kind == k && p->secs[i].index == index)
            return i;
    return -1;
}

/* Why text cannot be a name (see bad_name; no length limit), or NULL. */
const char *dfit_scn_bad_text(const char *n)
{
    size_t at;
    const char *why;
    if (dfit_utf8_check(n, strlen(n), &at, &why) != 0)
        return "it is not valid UTF-8";
    for (const unsigned char *p = (const unsigned char *)n; *p;) {
        uint32_t cp = *p;
        int k = cp < 0x80 ? 1 : cp < 0xe0 ? 2 : cp < 0xf0 ? 3 : 4;
        if (k > 1) {
            cp &= 0x3fu >> (k - 1);
            for (int i = 1; i < k; i++)
                cp = cp << 6 | (p[i] & 0x3fu);
        }
        p += k;
        if (cp == '/')
            return "it contains '/' (which separates the parts of a cell id)";
        if (cp == ']')
            return "it contains ']'";
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return "it contains a control character";
        if (cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
            (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c)
            return "it contains a line separator or a bidirectional-text control";
    }
    return NULL;
}

/* Why name cannot name a variant, target or workload, or NULL when it can:
 * 1 to DFIT_SCENARIO_NAME_MAX bytes of valid UTF-8 without '/' (it
 * separates the parts of a cell id), ']' (it ends the section header) or
 * control characters (C0, DEL, C1, the line and paragraph separators and
 * the bidirectional-text controls, which would reorder or break the lines
 * the name is printed in). Quotes, backquotes, '$', '<' and the like are
 * allowed: every place a name lands escapes it or uses an id instead. */
static const char *bad_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0)
        return "it is empty";
    if (len > DFIT_SCENARIO_NAME_MAX)
        return "it is longer than " STR(DFIT_SCENARIO_NAME_MAX) " bytes";
    return dfit_scn_bad_text(n);
}

/* name for a message: bytes that are controls, or any byte >= 0x80 when
 * name is not valid UTF-8, shown as '?'; cut at cap. */
const char *dfit_scn_shown(const char *name, char *buf, size_t cap)
{
    size_t at, n = 0;
    const char *why;
    bool utf8 = dfit_utf8_check(name, strlen(name), &at, &why) == 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && n + 1 < cap; p++) {
        size_t k = !utf8 || *p < 0xc0 ? 1 : *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : 4;
        if (n + k >= cap)
            break; /* never cut a character in two */
        buf[n++] = *p < 0x20 || *p == 0x7f || (*p >= 0x80 && !utf8) ? '?' : (char)*p;
    }
    buf[n] = '\0';
    return buf;
}

static int add_section(struct parser *p, enum kind k, const char *name)
{
    struct dfit_scenario *s = p->s;
    int index = 0;
    char *dup = name ? strdup(name) : NULL;
    if (name && !dup)
        return dfit_scn_fail(p, DFIT_ENOMEM, p->line, NULL, "out of memory");
    if (k == K_VARIANT) {
        struct dfit_variant_spec *v = grow((void **)&s->variants, &s->n_variants, sizeof *v);
        if (!v)
            goto nomem;
        *v = (struct dfit_variant_spec){.name = dup, .line = p->line};
        index = s->n_variants - 1;
    } else if (k == K_TARGET) {
        struct dfit_target_spec *t = grow((void **)&s->targets, &s->n_targets, sizeof *t);
        if (!t)
            goto nomem;
        *t = (struct dfit_target_spec){.name = dup,
                                       .threads = 1,
                                       .memory_limit_mib = NAN,
                                       .price_per_hour = NAN,
                                       .time_limit_s = 600,
                                       .line = p->line,
                                       .slo = {NAN, NAN, NAN, NAN, NAN, NAN, NAN}};
        index = s->n_targets - 1;
    } else if (k == K_WORKLOAD) {
        struct dfit_workload_spec *w = grow((void **)&s->workloads, &s->n_workloads, sizeof *w);
        if (!w)
            goto nomem;
        *w = (struct dfit_workload_spec){.name = dup,
                                         .batch = 1,
                                         .min_duration_ms = 1000,
                                         .min_requests = 8,
                                         .warmup_requests = 1,
                                         .line = p->line};
        index = s->n_workloads - 1;
    }
    struct sec *sec = grow((void **)&p->secs, &p->n_secs, sizeof *sec);
    if (!sec)
        return dfit_scn_fail(p, DFIT_ENOMEM, p->line, NULL, "out of memory");
    sec->kind = k;
    sec->index = index;
    sec->line = p->line;
    p->cur = p->n_secs - 1;
    if (k == K_SCENARIO)
        p->scenario_sec = p->cur;
    return 1;
nomem:
    free(dup);
    return dfit_scn_fail(p, DFIT_ENOMEM, p->line, NULL, "out of memory");
}

/* A "[...]" line (leading blanks already gone). */
static void begin_section(struct parser *p, const char *line)
{
    const char *close = strchr(line, ']');
    if (!close) {
        dfit_scn_fail(p, DFIT_EINVAL, p->line, NULL, "section header has no closing ']'");
        return;
    }
    for (const char *t = close + 1; *t && *t != ';' && *t != '#'; t++)
        if (!isspace((unsigned char)*t)) {
            char show[96];
            dfit_scn_fail(p, DFIT_EINVAL, p->line, NULL,
                          "unexpected text after ']': '%s' (a name may not "
                          "hold ']')",
                          dfit_scn_shown(close + 1, show, sizeof show));
            return;
        }
    char text[256];
    size_t n = (size_t)(close - line - 1);
    if (n >= sizeof text)
        n = sizeof text - 1;
    memcpy(text, line + 1, n);
    text[n] = '\0';
    char *kind = text;
    while (isspace((unsigned char)*kind))
        kind++;
    char *name = kind;
    while (*name && !isspace((unsigned char)*name))
        name++;
    if (*name)
        *name++ = '\0';
    while (isspace((unsigned char)*name))
        name++;
    for (char *e = name + strlen(name); e > name && isspace((unsigned char)e[-1]);)
        *--e = '\0';

    int k = 0;
    while (k < K_COUNT && strcmp(kind, dfit_scn_kind_names[k]) != 0)
        k++;
    char show[96];
    if (k == K_COUNT) {
        char hint[96];
        dfit_scn_fail(
            p, DFIT_EINVAL, p->line, NULL,
            "unknown section kind '%s'%s; sections are [scenario], [variant NAME], [target NAME] "
            "and [workload NAME]",
            dfit_scn_shown(kind, show, sizeof show),
            dfit_scn_suggest(kind, dfit_scn_kind_names, K_COUNT, hint, sizeof hint));
        return;
    }
    if (k == K_SCENARIO) {
        if (*name) {
            dfit_scn_fail(p, DFIT_EINVAL, p->line, NULL,
                          "[scenario] takes no name (found '%s'); "
                          "set it with 'name = ...' inside the section",
                          dfit_scn_shown(name, show, sizeof show));
        } else if (p->scenario_sec >= 0) {
            dfit_scn_fail(p, DFIT_EINVAL, p->line, NULL,
                          "duplicate section [scenario] (first at line %d)",
                          p->secs[p->scenario_sec].line);
        } else {
            add_section(p, K_SCENARIO, NULL);
        }
        return;
    }
    if (!*name) {
        dfit_scn_fail(p, DFIT_EINVAL, p->line, NULL, "section [%s] needs a name: [%s NAME]", kind,
                      kind);
        return;
    }
    const char *why = bad_name(name);
    if (why) {
        dfit_scn_fail(
            p, DFIT_EINVAL, p->line, NULL,
            "[%s %s]: bad name: %s; a name is 1 to %d bytes of printable UTF-8 without '/', "
            "']' or control characters",
            kind, dfit_scn_shown(name, show, sizeof show), why, DFIT_SCENARIO_NAME_MAX);
        return;
    }
    int have = find_index(p, (enum kind)k, name);
    if (have >= 0) {
        dfit_scn_fail(p, DFIT_EINVAL, p->line, NULL, "duplicate section [%s %s] (first at line %d)",
                      kind, name, p->secs[dfit_scn_sec_of(p, (enum kind)k, have)].line);
        return;
    }
    add_section(p, (enum kind)k, name);
}

/* libinih's fgets: one line per call, counted; leading blanks removed. */
static char *read_line(char *str, int num, void *stream)
{
    struct parser *p = stream;
    if (p->err_line || p->pos >= p->len)
        return NULL;
    const char *s = p->buf + p->pos;
    const char *nl = memchr(s, '\n', p->len - p->pos);
    size_t n = nl ? (size_t)(nl - s) : p->len - p->pos;
    p->pos += n + (nl ? 1 : 0);
    p->line++;
    if (p->line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    if (n && s[n - 1] == '\r')
        n--;
    if (memchr(s, '\0', n)) {
        dfit_scn_fail(p, DFIT_EINVAL, p->line, NULL, "line contains a NUL byte (not a text file?)");
        return NULL;
    }
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    if (n + 2 > (size_t)num) {
        dfit_scn_fail(p, DFIT_EINVAL, p->line, NULL, "line is longer than %d characters", num - 2);
        return NULL;
    }
    memcpy(str, s, n);
    str[n] = '\0';
    if (str[0] == '[') {
        begin_section(p, str);
        /* libinih needs to see a section line, not the name: a name may
         * hold " ;", which libinih would take for an inline comment */
        snprintf(str, (size_t)num, "[s]");
    }
    return str;
}

/* ---- values ------------------------------------------------------------- */

static bool parse_i64(const char *v, long long *out)
{
    char *end;
    if (!*v || isspace((unsigned char)*v))
        return false;
    errno = 0;
    *out = strtoll(v, &end, 10);
    return errno == 0 && *end == '\0';
}

bool dfit_scn_parse_u64(const char *v, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)*v))
        return false;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    *out = x;
    return errno == 0 && *end == '\0';
}

static bool parse_f64(const char *v, double *out)
{
    char *end;
    if (!*v || isspace((unsigned char)*v))
        return false;
    errno = 0;
    *out = strtod(v, &end);
    return errno == 0 && *end == '\0' && isfinite(*out);
}

static int check_range(struct parser *p, const struct sec *sec, const struct keydef *k,
                       const char *v, double x)
{
    if ((k->lo_open ? x > k->lo : x >= k->lo) && x <= k->hi)
        return 1;
    char lo[32], hi[32];
    snprintf(lo, sizeof lo, "%.15g", k->lo);
    snprintf(hi, sizeof hi, "%.15g", k->hi);
    if (isinf(k->hi))
        return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec,
                             "key '%s': %s is out of range (must be %s %s)", k->name, v,
                             k->lo_open ? ">" : ">=", lo);
    return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec,
                         "key '%s': %s is out of range (must be %s %s and <= %s)", k->name, v,
                         k->lo_open ? ">" : ">=", lo, hi);
}

static int set_list(struct parser *p, const struct sec *sec, const struct keydef *k, const char *v,
                    struct dfit_target_spec *t)
{
    const char *q = v;
    while (*q) {
        const char *c = strchr(q, ',');
        size_t n = c ? (size_t)(c - q) : strlen(q);
        while (n && isspace((unsigned char)*q)) {
            q++;
            n--;
        }
        while (n && isspace((unsigned char)q[n - 1]))
            n--;
        if (!n)
            return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec, "key '%s': empty event name in '%s'",
                                 k->name, v);
        if (n >= 64)
            return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec,
                                 "key '%s': event name '%.*s' is longer than 63 "
                                 "characters",
                                 k->name, (int)n, q);
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)q[i]) && !strchr("_:.=-", q[i]))
                return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec,
                                     "key '%s': '%.*s' is not a PAPI event name", k->name, (int)n,
                                     q);
        for (int i = 0; i < t->n_counters; i++)
            if (strlen(t->counters[i]) == n && memcmp(t->counters[i], q, n) == 0)
                return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec,
                                     "key '%s': event '%.*s' listed twice", k->name, (int)n, q);
        if (t->n_counters == MAX_COUNTERS)
            return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec, "key '%s': more than %d events",
                                 k->name, MAX_COUNTERS);
        char *name = strndup(q, n);
        char **slot = name ? grow((void **)&t->counters, &t->n_counters, sizeof *slot) : NULL;
        if (!slot) {
            free(name);
            return dfit_scn_fail(p, DFIT_ENOMEM, p->line, sec, "out of memory");
        }
        *slot = name;
        q += n;
        while (*q && *q != ',')
            q++;
        if (*q == ',') {
            q++;
            if (!*q)
                return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec,
                                     "key '%s': empty event name in '%s'", k->name, v);
        }
    }
    return 1;
}

/* tasks = a.csv, b.csv: paths kept as written; check_tasks resolves them. */
static int set_tasks(struct parser *p, const struct sec *sec, const struct keydef *k, const char *v)
{
    struct dfit_scenario *s = p->s;
    for (const char *q = v;;) {
        const char *c = strchr(q, ',');
        size_t n = c ? (size_t)(c - q) : strlen(q);
        const char *t = q;
        while (n && isspace((unsigned char)*t)) {
            t++;
            n--;
        }
        while (n && isspace((unsigned char)t[n - 1]))
            n--;
        if (!n)
            return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec, "key '%s': empty file name in '%s'",
                                 k->name, v);
        if (s->n_tasks == DFIT_SCENARIO_MAX_TASKS)
            return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec, "key '%s': more than %d eval sets",
                                 k->name, DFIT_SCENARIO_MAX_TASKS);
        char *path = strndup(t, n);
        char **slot = path ? grow((void **)&s->tasks, &s->n_tasks, sizeof *slot) : NULL;
        if (!slot) {
            free(path);
            return dfit_scn_fail(p, DFIT_ENOMEM, p->line, sec, "out of memory");
        }
        *slot = path;
        if (!c)
            return 1;
        q = c + 1;
    }
}

static int set_value(struct parser *p, const struct sec *sec, const struct keydef *k, const char *v)
{
    struct dfit_scenario *s = p->s;
    char *base = sec->kind == K_SCENARIO ? (char *)s
        : sec->kind == K_VARIANT         ? (char *)&s->variants[sec->index]
        : sec->kind == K_TARGET          ? (char *)&s->targets[sec->index]
                                         : (char *)&s->workloads[sec->index];
    void *field = base + k->off;
    long long i;
    uint64_t u;
    double f;
    enum dfit_type type;
    switch (k->type) {
    case V_STR:
    case V_PATH:
    case V_TYPE:
        if (k->type == V_TYPE) {
            if (dfit_type_from_name(v, &type) != 0)
                return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec,
                                     "key '%s': unknown type '%s' (types: f32, f16, "
                                     "bf16, q8_0, q4_0)",
                                     k->name, v);
            v = dfit_type_info(type)->name;
        }
        if (!(*(char **)field = strdup(v)))
            return dfit_scn_fail(p, DFIT_ENOMEM, p->line, sec, "out of memory");
        return 1;
    case V_MODE:
        if (strcmp(v, "single-stream") == 0)
            *(enum dfit_workload_mode *)field = DFIT_MODE_SINGLE_STREAM;
        else if (strcmp(v, "offline") == 0)
            *(enum dfit_workload_mode *)field = DFIT_MODE_OFFLINE;
        else
            return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec,
                                 "key '%s': unknown mode '%s' (modes: single-stream, "
                                 "offline)",
                                 k->name, v);
        return 1;
    case V_INT:
    case V_U32:
        if (!parse_i64(v, &i))
            return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec, "key '%s': '%s' is not an integer",
                                 k->name, v);
        if (!check_range(p, sec, k, v, (double)i))
            return 0;
        if (k->type == V_INT)
            *(int *)field = (int)i;
        else
            *(uint32_t *)field = (uint32_t)i;
        return 1;
    case V_U64:
        if (!dfit_scn_parse_u64(v, &u)) {
            if (parse_i64(v, &i) && i < 0)
                return check_range(p, sec, k, v, (double)i);
            return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec,
                                 "key '%s': '%s' is not an unsigned integer%s", k->name, v,
                                 v[0] == '-' ? "" : " below 2^64");
        }
        if (!check_range(p, sec, k, v, (double)u))
            return 0;
        *(uint64_t *)field = u;
        return 1;
    case V_F64:
        if (!parse_f64(v, &f))
            return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec,
                                 "key '%s': '%s' is not a finite number", k->name, v);
        if (!check_range(p, sec, k, v, f))
            return 0;
        *(double *)field = f;
        return 1;
    case V_LIST: return set_list(p, sec, k, v, &s->targets[sec->index]);
    case V_TASKS: return set_tasks(p, sec, k, v);
    }
    return dfit_scn_fail(p, DFIT_EINTERNAL, p->line, sec, "key '%s': no parser for its type",
                         k->name);
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
    struct parser *p = user;
    (void)section; /* we track sections ourselves (see read_line) */
    if (p->err_line)
        return 0;
    if (p->cur < 0)
        return dfit_scn_fail(p, DFIT_EINVAL, p->line, NULL,
                             "key '%s' outside any section (start with [scenario])", key);
    const struct sec *sec = &p->secs[p->cur];
    if (!*key)
        return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec, "a line with '=' but no key name");
    const struct keydef *table = dfit_scn_key_tables[sec->kind];
    int n = 0;
    while (table[n].name && strcmp(table[n].name, key) != 0)
        n++;
    if (!table[n].name) {
        const char *names[MAX_KEYS];
        int n_names = 0;
        for (; table[n_names].name; n_names++)
            names[n_names] = table[n_names].name;
        char hint[96];
        return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec, "unknown key '%s'%s", key,
                             dfit_scn_suggest(key, names, n_names, hint, sizeof hint));
    }
    if (sec->key_line[n])
        return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec,
                             "duplicate key '%s' (first set at line %d)", key, sec->key_line[n]);
    p->secs[p->cur].key_line[n] = p->line;
    if (!*value)
        return dfit_scn_fail(p, DFIT_EINVAL, p->line, sec, "key '%s' has no value", key);
    return set_value(p, sec, &table[n], value);
}

/* ---- entry points ----------------------------------------------------------- */

static int read_file(const char *path, char **buf, size_t *len, struct dfit_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dfit_err_set(err, DFIT_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    *buf = NULL;
    if (fstat(fd, &st) != 0) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: not a regular file", path);
        goto done;
    }
    if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
        rc = dfit_err_set(err, DFIT_EINVAL,
                          "%s: %lld bytes is more than a scenario file may hold (%u)", path,
                          (long long)st.st_size, MAX_FILE_BYTES);
        goto done;
    }
    if (!(*buf = malloc((size_t)st.st_size + 1))) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, *buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = dfit_err_set(err, DFIT_EIO, "%s: read failed: %s", path,
                              r ? strerror(errno) : "file shrank");
            free(*buf);
            *buf = NULL;
            goto done;
        }
        got += (size_t)r;
    }
    (*buf)[got] = '\0';
    *len = got;
done:
    close(fd);
    return rc;
}

/* The text of line `line` (1-based) for syntax messages. */
static void line_text(const char *buf, size_t len, int line, char *out, size_t cap)
{
    const char *s = buf, *end = buf + len;
    for (int i = 1; i < line && s < end; i++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        s = nl ? nl + 1 : end;
    }
    size_t n = 0;
    while (s < end && *s != '\n' && *s != '\r' && n + 1 < cap) {
        out[n++] = isprint((unsigned char)*s) ? *s : '?';
        s++;
    }
    out[n] = '\0';
}

int dfit_scenario_load(const char *path, struct dfit_scenario **out, struct dfit_err *err)
{
    struct parser p = {.cur = -1, .scenario_sec = -1, .err = err};
    struct dfit_scenario *s = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc;
    *out = NULL;
    dfit_err_clear(err);
    if ((rc = read_file(path, &buf, &len, err)))
        return rc;
    if (!(s = calloc(1, sizeof *s)) || !(s->path = strdup(path)))
        goto nomem;
    s->eval_tokens = 512;
    s->seed = 42;
    const char *slash = strrchr(path, '/');
    s->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!s->dir)
        goto nomem;
    p.s = s;
    p.buf = buf;
    p.len = len;

    int bad = ini_parse_stream(read_line, &p, on_key, &p);
    if (bad == -2)
        goto nomem;
    if (bad > 0 && (!p.err_line || bad < p.err_line)) {
        char text[80];
        line_text(buf, len, bad, text, sizeof text);
        p.err_line = 0;
        dfit_scn_fail(&p, DFIT_EINVAL, bad, NULL,
                      "expected '[section]' or 'key = value', found '%s'", text);
    }
    if (!p.err_line)
        dfit_scn_check_all(&p);
    if (!p.err_line && !s->name) {
        const char *b = slash ? slash + 1 : path, *dot = strrchr(b, '.');
        if (!(s->name = strndup(b, dot && dot != b ? (size_t)(dot - b) : strlen(b))))
            goto nomem;
    }
    if (p.err_line)
        goto fail;
    free(p.secs);
    free(buf);
    *out = s;
    return 0;
nomem:
    p.err_code = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", path);
fail:
    rc = p.err_code ? p.err_code : DFIT_EINVAL;
    free(p.secs);
    free(buf);
    dfit_scenario_free(s);
    return rc;
}

void dfit_scenario_free(struct dfit_scenario *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_variants; i++) {
        free(s->variants[i].name);
        free(s->variants[i].file);
        free(s->variants[i].compress);
        free(s->variants[i].from);
        free(s->variants[i].method);
        free(s->variants[i].prune);
        free(s->variants[i].calib);
    }
    for (int i = 0; i < s->n_targets; i++) {
        struct dfit_target_spec *t = &s->targets[i];
        free(t->name);
        free(t->backend);
        free(t->kernels);
        free(t->device);
        for (int j = 0; j < t->n_counters; j++)
            free(t->counters[j]);
        free(t->counters);
    }
    for (int i = 0; i < s->n_workloads; i++)
        free(s->workloads[i].name);
    free(s->variants);
    free(s->targets);
    free(s->workloads);
    free(s->path);
    free(s->dir);
    free(s->name);
    free(s->base);
    free(s->reference);
    free(s->eval);
    for (int i = 0; i < s->n_tasks; i++)
        free(s->tasks[i]);
    free(s->tasks);
    free(s);
}

const struct dfit_variant_spec *dfit_scenario_variant(const struct dfit_scenario *s,
                                                      const char *name)
{
    for (int i = 0; s && name && i < s->n_variants; i++)
        if (strcmp(s->variants[i].name, name) == 0)
            return &s->variants[i];
    return NULL;
}

const struct dfit_target_spec *dfit_scenario_target(const struct dfit_scenario *s, const char *name)
{
    for (int i = 0; s && name && i < s->n_targets; i++)
        if (strcmp(s->targets[i].name, name) == 0)
            return &s->targets[i];
    return NULL;
}

const struct dfit_workload_spec *dfit_scenario_workload(const struct dfit_scenario *s,
                                                        const char *name)
{
    for (int i = 0; s && name && i < s->n_workloads; i++)
        if (strcmp(s->workloads[i].name, name) == 0)
            return &s->workloads[i];
    return NULL;
}

const char *dfit_workload_mode_name(enum dfit_workload_mode m)
{
    return m == DFIT_MODE_OFFLINE      ? "offline"
        : m == DFIT_MODE_SINGLE_STREAM ? "single-stream"
                                       : "?";
}

bool dfit_scenario_synth_base(const struct dfit_scenario *s, char preset[DFIT_SYNTH_PRESET_MAX],
                              uint64_t *seed)
{
    if (!s || !s->base || strncmp(s->base, "synth:", 6) != 0)
        return false;
    const char *spec = s->base + 6, *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n == 0 || n >= DFIT_SYNTH_PRESET_MAX)
        return false;
    memcpy(preset, spec, n);
    preset[n] = '\0';
    *seed = s->seed;
    return !colon || dfit_scn_parse_u64(colon + 1, seed);
}
