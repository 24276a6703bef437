/* args.h — strict command-line parsing shared by every dfit subcommand:
 * matching "--flag VALUE" / "--flag=VALUE", numbers parsed with end and
 * range checks, and the usage-error convention (message naming the flag,
 * then the command's usage, exit status 2).
 * Non-goal: getopt-style option bundling ("-abc").
 */
#ifndef DFIT_CLI_ARGS_H
#define DFIT_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* If argv[*i] is `name` (as "--x V", or "--x=V" for long names), returns 1
 * and sets *val to the value (NULL when it is missing), advancing *i past a
 * separate value; returns 0 when argv[*i] is another argument. */
int dfit_args_flag(int argc, char **argv, int *i, const char *name, const char **val);

/* Strict decimal integers/floats in [lo, hi]: no sign for u64, no trailing
 * text, no overflow. Return 0, or -1 when s is NULL or invalid. */
int dfit_args_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
int dfit_args_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out);
int dfit_args_long(const char *s, long lo, long hi, long *out);
/* A finite float in [lo, hi]. */
int dfit_args_double(const char *s, double lo, double hi, double *out);

/* Prints "dfit CMD: <message>\n\n" and the usage to stderr; returns 2. */
int dfit_args_usage_error(const char *cmd, void (*usage)(FILE *), const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes s as a JSON string literal (quotes, escapes, control characters
 * as \u00XX; bytes >= 0x80 passed through). */
void dfit_args_json_str(FILE *f, const char *s);

#endif
