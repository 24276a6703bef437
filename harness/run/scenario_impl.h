/* scenario_impl.h — what the scenario reader's two halves share: the
 * reader (scenario.c: sections, keys and values as libinih hands them
 * over) and the whole-file checks (scenario_check.c: required keys,
 * variant recipes and parents, files, eval sets, the base model).
 * Private to harness/run: nothing else includes it.
 */
#ifndef DFIT_RUN_SCENARIO_IMPL_H
#define DFIT_RUN_SCENARIO_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run/scenario.h"
#include "util/err.h"

#define MAX_KEYS 24

enum kind { K_SCENARIO, K_VARIANT, K_TARGET, K_WORKLOAD, K_COUNT };
extern const char *const dfit_scn_kind_names[K_COUNT];

enum vtype { V_STR, V_PATH, V_TYPE, V_MODE, V_INT, V_U32, V_U64, V_F64, V_LIST, V_TASKS };

struct keydef {
    const char *name;
    enum vtype type;
    size_t off; /* in the section's struct */
    bool required;
    double lo, hi; /* numbers: allowed range */
    bool lo_open;  /* value must be > lo */
};

/* One section as it appeared in the file. */
struct sec {
    enum kind kind;
    int index; /* into the scenario's array of that kind */
    int line;
    int key_line[MAX_KEYS]; /* line each key was set at; 0 = not set */
};

struct parser {
    struct dfit_scenario *s;
    const char *buf; /* whole file */
    size_t len, pos;
    int line; /* of the line last handed to libinih */
    struct sec *secs;
    int n_secs;
    int cur;          /* index into secs, -1 before the first */
    int scenario_sec; /* index into secs of [scenario], -1 if none */
    int err_line;     /* line of the first error; 0 = none yet */
    int err_code;     /* its code */
    struct dfit_err *err;
};

/* The keys each kind of section takes (scenario.c), NULL-name terminated. */
extern const struct keydef *const dfit_scn_key_tables[K_COUNT];

/* Records the first error, "<file>:<line>: [<kind> <name>]: <message>"
 * (sec NULL: no section part); returns 0, so callers can return it. */
int dfit_scn_fail(struct parser *p, int code, int line, const struct sec *sec, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* ", did you mean 'X'?" for the closest of names within a small edit
 * distance of word, else ""; written into buf. */
const char *dfit_scn_suggest(const char *word, const char *const *names, int n, char *buf,
                             size_t cap);
/* Index into p->secs of the section of kind k and array index `index`. */
int dfit_scn_sec_of(const struct parser *p, enum kind k, int index);
/* Why n is not printable UTF-8 text, or NULL when it is. */
const char *dfit_scn_bad_text(const char *n);
/* name made safe to show in a message (control bytes escaped, truncated). */
const char *dfit_scn_shown(const char *name, char *buf, size_t cap);
/* A strict unsigned decimal. */
bool dfit_scn_parse_u64(const char *v, uint64_t *out);

/* The checks that need the whole file; 1 when it passes, else 0 with the
 * error recorded (dfit_scn_fail). Resolves file keys against the
 * scenario's directory. */
int dfit_scn_check_all(struct parser *p);

#endif
