/* args.h — strict command-line parsing shared by every dfit subcommand:
 * matching "--flag VALUE" / "--flag=VALUE", numbers parsed with end and
 * range checks, the usage-error convention (message naming the flag, then
 * the command's usage or a pointer to it, exit status 2), and the escaping
 * of the strings a command prints as JSON.
 * Non-goal: getopt-style option bundling ("-abc").
 */
#ifndef DFIT_CLI_ARGS_H
#define DFIT_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
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
/* A finite float in [lo, hi] (leading white space is skipped, as strtod
 * does; trailing text, overflow and underflow are refused). */
int dfit_args_double(const char *s, double lo, double hi, double *out);
/* A finite float in (lo, hi]: lo itself (and -0 for lo 0) rejected. */
int dfit_args_double_above(const char *s, double lo, double hi, double *out);

/* Prints "dfit CMD: <message>\n\n" and the usage to stderr; returns 2. */
int dfit_args_usage_error(const char *cmd, void (*usage)(FILE *), const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For commands whose usage is too long to repeat under an error: prints
 * "dfit CMD: <message>\nRun 'dfit help CMD' for usage.\n" to stderr;
 * returns 2. */
int dfit_args_usage_hint(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The arguments of the commands that read a results database into a
 * directory (dfit report, dfit export): one database path, the directory
 * flag dir_flag (or dir_alias, when not NULL), and --run ID (a positive
 * run id; run_id 0 when absent). -h/--help prints usage to stdout and sets
 * *done. A bad argument is a usage error of `cmd` (dfit_args_usage_hint),
 * dir_missing its message when the directory flag is absent. Returns 0,
 * or the exit status 2. */
struct dfit_args_db_dir {
    const char *db, *dir;
    int64_t run_id;
};
int dfit_args_db_dir(int argc, char **argv, const char *cmd, void (*usage)(FILE *),
                     const char *dir_flag, const char *dir_alias, const char *dir_missing,
                     struct dfit_args_db_dir *out, bool *done);

/* Length (2..4) of the well-formed UTF-8 sequence of a code point >= U+0080
 * at s[0..n), or 0: an ASCII byte, a stray continuation byte, an overlong
 * form, a surrogate, a code point past U+10FFFF, or a sequence cut short
 * by n. */
size_t dfit_args_utf8_len(const unsigned char *s, size_t n);

/* Writes s as a JSON string literal with its quotes: " and \ escaped, \n
 * \r \t as such, other control characters and DEL as \u00XX, well-formed
 * UTF-8 passed through, any other byte >= 0x80 as \ufffd (so the output is
 * always valid JSON). */
void dfit_args_json_str(FILE *f, const char *s);
/* The same for the len bytes at s, which may hold NUL (written \u0000). */
void dfit_args_json_strn(FILE *f, const char *s, size_t len);

#endif
