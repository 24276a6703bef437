/* test_args — the command-line helpers every subcommand shares (cli/args.h):
 * flag matching ("--x V", "--x=V", a missing value, a name that is a prefix
 * of another flag, short flags that never take "="), each number parser's
 * accepted and rejected inputs (signs, white space, trailing text,
 * overflow, NaN and infinities, inclusive and exclusive bounds), the two
 * usage-error forms as written to stderr, UTF-8 sequence lengths against a
 * table-driven reference, and JSON string escaping (quotes, backslashes,
 * control characters, valid and invalid UTF-8, embedded NUL).
 * Non-goals: the subcommands' own flags (tests/integration). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"

/* ---- flags ------------------------------------------------------------- */

/* Runs dfit_args_flag on argv[at]; returns its result, *val and the index
 * it leaves. */
static int match(int argc, char **argv, int at, const char *name, const char **val, int *next)
{
    int i = at;
    *val = "untouched";
    int r = dfit_args_flag(argc, argv, &i, name, val);
    *next = i;
    return r;
}

static void test_flag_separate_value(void **state)
{
    (void)state;
    char *argv[] = {"cmd", "--threads", "4", "rest"};
    const char *v;
    int next;
    assert_int_equal(match(4, argv, 1, "--threads", &v, &next), 1);
    assert_string_equal(v, "4");
    assert_int_equal(next, 2); /* the value is consumed */

    /* a value that looks like a flag is still the value */
    char *argv2[] = {"cmd", "--name", "-x"};
    assert_int_equal(match(3, argv2, 1, "--name", &v, &next), 1);
    assert_string_equal(v, "-x");
    assert_int_equal(next, 2);

    /* an empty separate value is returned as such, for the caller to reject */
    char *argv3[] = {"cmd", "--name", ""};
    assert_int_equal(match(3, argv3, 1, "--name", &v, &next), 1);
    assert_string_equal(v, "");
    assert_int_equal(next, 2);
}

static void test_flag_equals_value(void **state)
{
    (void)state;
    char *argv[] = {"cmd", "--threads=4", "next"};
    const char *v;
    int next;
    assert_int_equal(match(3, argv, 1, "--threads", &v, &next), 1);
    assert_string_equal(v, "4");
    assert_int_equal(next, 1); /* nothing else consumed */

    char *argv2[] = {"cmd", "--threads="};
    assert_int_equal(match(2, argv2, 1, "--threads", &v, &next), 1);
    assert_string_equal(v, "");
    assert_int_equal(next, 1);

    /* only the first '=' separates: the rest belongs to the value */
    char *argv3[] = {"cmd", "--name=a=b"};
    assert_int_equal(match(2, argv3, 1, "--name", &v, &next), 1);
    assert_string_equal(v, "a=b");
}

static void test_flag_missing_value(void **state)
{
    (void)state;
    char *argv[] = {"cmd", "x", "--threads"};
    const char *v;
    int next;
    assert_int_equal(match(3, argv, 2, "--threads", &v, &next), 1);
    assert_null(v);
    assert_int_equal(next, 2); /* never past argc */

    char *argv2[] = {"cmd", "-t"};
    assert_int_equal(match(2, argv2, 1, "-t", &v, &next), 1);
    assert_null(v);
    assert_int_equal(next, 1);
}

static void test_flag_other_arguments(void **state)
{
    (void)state;
    const char *v;
    int next;
    /* a name that is a prefix of the argument, and the reverse */
    char *argv[] = {"cmd", "--threads", "4"};
    assert_int_equal(match(3, argv, 1, "--thread", &v, &next), 0);
    assert_string_equal(v, "untouched");
    assert_int_equal(next, 1);
    char *argv2[] = {"cmd", "--thread", "4"};
    assert_int_equal(match(3, argv2, 1, "--threads", &v, &next), 0);
    assert_int_equal(next, 1);
    char *argv3[] = {"cmd", "--ckpt-every", "5"};
    assert_int_equal(match(3, argv3, 1, "--ckpt", &v, &next), 0);
    assert_int_equal(next, 1);
    char *argv4[] = {"cmd", "--ckpt-every=5"};
    assert_int_equal(match(2, argv4, 1, "--ckpt", &v, &next), 0);
    /* a positional argument, and a different flag */
    char *argv5[] = {"cmd", "model.gguf", "--force"};
    assert_int_equal(match(3, argv5, 1, "--output", &v, &next), 0);
    assert_int_equal(match(3, argv5, 2, "--output", &v, &next), 0);
    assert_int_equal(next, 2);
}

static void test_flag_short_never_takes_equals(void **state)
{
    (void)state;
    const char *v;
    int next;
    char *argv[] = {"cmd", "-t", "8"};
    assert_int_equal(match(3, argv, 1, "-t", &v, &next), 1);
    assert_string_equal(v, "8");
    assert_int_equal(next, 2);

    char *argv2[] = {"cmd", "-t=8", "9"};
    assert_int_equal(match(3, argv2, 1, "-t", &v, &next), 0);
    assert_string_equal(v, "untouched");
    assert_int_equal(next, 1);

    char *argv3[] = {"cmd", "-t8"};
    assert_int_equal(match(2, argv3, 1, "-t", &v, &next), 0);
    char *argv4[] = {"cmd", "-o=out.gguf"};
    assert_int_equal(match(2, argv4, 1, "-o", &v, &next), 0);
}

/* ---- integers ---------------------------------------------------------- */

static void test_u64(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(dfit_args_u64("0", 0, UINT64_MAX, &v), 0);
    assert_true(v == 0);
    assert_int_equal(dfit_args_u64("42", 0, UINT64_MAX, &v), 0);
    assert_true(v == 42);
    assert_int_equal(dfit_args_u64("007", 0, UINT64_MAX, &v), 0); /* leading zeros are decimal */
    assert_true(v == 7);
    assert_int_equal(dfit_args_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);

    static const char *const bad[] = {
        "", "-1", "+1", "-0", " 1", "1 ", "\t1", "1\n", "1x", "x1", "0x10", "1e3", "1.0",
        "18446744073709551616", "99999999999999999999999", "1,000",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        v = 123;
        assert_int_equal(dfit_args_u64(bad[k], 0, UINT64_MAX, &v), -1);
        assert_true(v == 123); /* left alone on failure */
    }
    assert_int_equal(dfit_args_u64(NULL, 0, UINT64_MAX, &v), -1);

    /* bounds are inclusive */
    assert_int_equal(dfit_args_u64("16", 16, 1024, &v), 0);
    assert_int_equal(dfit_args_u64("1024", 16, 1024, &v), 0);
    assert_true(v == 1024);
    assert_int_equal(dfit_args_u64("15", 16, 1024, &v), -1);
    assert_int_equal(dfit_args_u64("1025", 16, 1024, &v), -1);
    assert_int_equal(dfit_args_u64("0", 1, 10, &v), -1);
}

static void test_u32(void **state)
{
    (void)state;
    uint32_t v = 9;
    assert_int_equal(dfit_args_u32("4294967295", 0, UINT32_MAX, &v), 0);
    assert_true(v == UINT32_MAX);
    assert_int_equal(dfit_args_u32("1", 1, 1024, &v), 0);
    assert_true(v == 1);
    v = 9;
    assert_int_equal(dfit_args_u32("4294967296", 0, UINT32_MAX, &v), -1); /* would wrap to 0 */
    assert_int_equal(dfit_args_u32("18446744073709551617", 0, UINT32_MAX, &v), -1);
    assert_int_equal(dfit_args_u32("-1", 0, UINT32_MAX, &v), -1);
    assert_int_equal(dfit_args_u32("+1", 0, UINT32_MAX, &v), -1);
    assert_int_equal(dfit_args_u32(" 1", 0, UINT32_MAX, &v), -1);
    assert_int_equal(dfit_args_u32("1k", 0, UINT32_MAX, &v), -1);
    assert_int_equal(dfit_args_u32("", 0, UINT32_MAX, &v), -1);
    assert_int_equal(dfit_args_u32(NULL, 0, UINT32_MAX, &v), -1);
    assert_int_equal(dfit_args_u32("1025", 1, 1024, &v), -1);
    assert_int_equal(dfit_args_u32("0", 1, 1024, &v), -1);
    assert_true(v == 9);
}

static void test_long(void **state)
{
    (void)state;
    long v = 5;
    assert_int_equal(dfit_args_long("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(dfit_args_long("+5", -10, 10, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(dfit_args_long("0", -10, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(dfit_args_long("9223372036854775807", LONG_MIN, LONG_MAX, &v), 0);
    assert_true(v == LONG_MAX);
    assert_int_equal(dfit_args_long("-9223372036854775808", LONG_MIN, LONG_MAX, &v), 0);
    assert_true(v == LONG_MIN);

    static const char *const bad[] = {
        "", "-", "+", " 5", "5 ", "\n5", "5x", "--5", "+-5", "5.0", "1e2", "0x5",
        "9223372036854775808", "-9223372036854775809",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        v = 77;
        assert_int_equal(dfit_args_long(bad[k], LONG_MIN, LONG_MAX, &v), -1);
        assert_int_equal(v, 77);
    }
    assert_int_equal(dfit_args_long(NULL, LONG_MIN, LONG_MAX, &v), -1);
    assert_int_equal(dfit_args_long("-11", -10, 10, &v), -1);
    assert_int_equal(dfit_args_long("11", -10, 10, &v), -1);
    assert_int_equal(dfit_args_long("-10", -10, 10, &v), 0);
    assert_int_equal(v, -10);
}

/* ---- floats ------------------------------------------------------------ */

static void test_double(void **state)
{
    (void)state;
    double v = 3;
    /* strtod and the compiler round decimal literals alike: exact compares */
    assert_int_equal(dfit_args_double("1.5", 0.0, 1e30, &v), 0);
    assert_true(v == 1.5);
    assert_int_equal(dfit_args_double("0", 0.0, 1e30, &v), 0);
    assert_true(v == 0.0);
    assert_int_equal(dfit_args_double("-2", -10.0, 10.0, &v), 0);
    assert_true(v == -2.0);
    assert_int_equal(dfit_args_double("+2.25", -10.0, 10.0, &v), 0);
    assert_true(v == 2.25);
    assert_int_equal(dfit_args_double("1e-3", 0.0, 1.0, &v), 0);
    assert_true(v == 1e-3);
    assert_int_equal(dfit_args_double(".5", 0.0, 1.0, &v), 0);
    assert_true(v == 0.5);
    assert_int_equal(dfit_args_double("1e30", 0.0, 1e30, &v), 0); /* hi is inclusive */
    assert_true(v == 1e30);
    /* strtod skips leading white space; trailing text of any kind is refused */
    assert_int_equal(dfit_args_double(" 1.5", 0.0, 10.0, &v), 0);
    assert_true(v == 1.5);

    static const char *const bad[] = {
        "", " ", "1.5 ", "1.5\n", "1.5x", "1,5", "x", "--1", "1e", "nan", "NAN", "-nan", "inf", "-inf",
        "infinity", "1e400", "-1e400", "1e-400",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        v = 42.0;
        assert_int_equal(dfit_args_double(bad[k], -1e300, 1e300, &v), -1);
        assert_true(v == 42.0);
    }
    assert_int_equal(dfit_args_double(NULL, 0.0, 1.0, &v), -1);
    assert_int_equal(dfit_args_double("-0.001", 0.0, 1.0, &v), -1);
    assert_int_equal(dfit_args_double("1.0000001", 0.0, 1.0, &v), -1);
    assert_int_equal(dfit_args_double("1.1e30", 0.0, 1e30, &v), -1);
    assert_true(v == 42.0);
}

static void test_double_above(void **state)
{
    (void)state;
    double v = 3;
    assert_int_equal(dfit_args_double_above("1e-5", 0.0, 1e30, &v), 0);
    assert_true(v == 1e-5);
    assert_int_equal(dfit_args_double_above("1e-300", 0.0, 1e30, &v), 0);
    assert_true(v > 0.0);
    assert_int_equal(dfit_args_double_above("100", 0.0, 100.0, &v), 0); /* hi inclusive */
    assert_true(v == 100.0);
    v = 3;
    assert_int_equal(dfit_args_double_above("0", 0.0, 1e30, &v), -1); /* lo exclusive */
    assert_int_equal(dfit_args_double_above("0.0", 0.0, 1e30, &v), -1);
    assert_int_equal(dfit_args_double_above("-0", 0.0, 1e30, &v), -1);
    assert_int_equal(dfit_args_double_above("-1", 0.0, 1e30, &v), -1);
    assert_int_equal(dfit_args_double_above("1e-400", 0.0, 1e30, &v), -1); /* underflows to 0 */
    assert_int_equal(dfit_args_double_above("100.5", 0.0, 100.0, &v), -1);
    assert_int_equal(dfit_args_double_above("nan", 0.0, 1e30, &v), -1);
    assert_int_equal(dfit_args_double_above("inf", 0.0, 1e30, &v), -1);
    assert_int_equal(dfit_args_double_above("2x", 0.0, 1e30, &v), -1);
    assert_int_equal(dfit_args_double_above(NULL, 0.0, 1e30, &v), -1);
    assert_true(v == 3.0);
    /* a lower bound other than 0 */
    assert_int_equal(dfit_args_double_above("1", 1.0, 2.0, &v), -1);
    assert_int_equal(dfit_args_double_above("1.5", 1.0, 2.0, &v), 0);
    assert_true(v == 1.5);
}

/* ---- usage errors ------------------------------------------------------ */

static void fake_usage(FILE *f)
{
    fputs("usage: dfit fake ARG\n", f);
}

/* Runs fn with stderr sent to a temporary file; returns what it wrote
 * (malloc'd) and its result in *rc. */
static char *capture_stderr(int (*fn)(void), int *rc)
{
    char dir[] = "/tmp/dfit-args-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/stderr", dir);
    fflush(stderr);
    int saved = dup(fileno(stderr));
    assert_true(saved >= 0);
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    assert_true(dup2(fileno(f), fileno(stderr)) >= 0);
    *rc = fn();
    fflush(stderr);
    assert_true(dup2(saved, fileno(stderr)) >= 0);
    close(saved);
    char *buf = calloc(1, 4096);
    assert_non_null(buf);
    rewind(f);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    rmdir(dir);
    return buf;
}

static int call_usage_error(void)
{
    return dfit_args_usage_error("fake", fake_usage, "--seq: expected an integer in %u..%u, got '%s'", 1u, 8u,
                                 "9");
}

static int call_usage_error_no_usage(void)
{
    return dfit_args_usage_error("fake", NULL, "missing %s", "FILE");
}

static int call_usage_hint(void)
{
    return dfit_args_usage_hint("fake", "--run: '%s' is not a positive run id", "+5");
}

static void test_usage_error(void **state)
{
    (void)state;
    int rc = 0;
    char *out = capture_stderr(call_usage_error, &rc);
    assert_int_equal(rc, 2);
    assert_string_equal(out, "dfit fake: --seq: expected an integer in 1..8, got '9'\n\nusage: dfit fake ARG\n");
    free(out);

    out = capture_stderr(call_usage_error_no_usage, &rc);
    assert_int_equal(rc, 2);
    assert_string_equal(out, "dfit fake: missing FILE\n\n");
    free(out);

    out = capture_stderr(call_usage_hint, &rc);
    assert_int_equal(rc, 2);
    assert_string_equal(out, "dfit fake: --run: '+5' is not a positive run id\nRun 'dfit help fake' for usage.\n");
    free(out);
}

/* ---- the database-and-directory arguments (dfit report, dfit export) ----- */

static char *g_argv[8];
static int g_argc;
static struct dfit_args_db_dir g_dd;
static bool g_done;

static int call_db_dir(void)
{
    return dfit_args_db_dir(g_argc, g_argv, "fake", fake_usage, "-o", "--output",
                            "-o DIR is required", &g_dd, &g_done);
}

/* Parses the NULL-terminated arguments; returns the exit status and, in
 * *err, what went to stderr (malloc'd). */
static int db_dir(char **err, ...)
{
    va_list ap;
    va_start(ap, err);
    g_argc = 0;
    g_argv[g_argc++] = "fake";
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        g_argv[g_argc++] = a;
    va_end(ap);
    int rc = 0;
    *err = capture_stderr(call_db_dir, &rc);
    return rc;
}

static void test_db_dir(void **state)
{
    (void)state;
    char *err = NULL;
    assert_int_equal(db_dir(&err, "r.db", "-o", "out", NULL), 0);
    assert_string_equal(g_dd.db, "r.db");
    assert_string_equal(g_dd.dir, "out");
    assert_int_equal(g_dd.run_id, 0);
    assert_false(g_done);
    assert_string_equal(err, "");
    free(err);
    assert_int_equal(db_dir(&err, "--output=o2", "--run", "7", "x.db", NULL), 0);
    assert_string_equal(g_dd.db, "x.db");
    assert_string_equal(g_dd.dir, "o2");
    assert_int_equal(g_dd.run_id, 7);
    free(err);

    static const struct {
        const char *args[4];
        const char *msg;
    } bad[] = {
        {{"-o", "out", NULL}, "no database given"},
        {{"r.db", NULL}, "-o DIR is required"},
        {{"r.db", "-o", NULL}, "-o needs a directory"},
        {{"r.db", "-o", "out", "--run"}, "--run needs a run id"},
        {{"r.db", "s.db", "-o", "out"}, "more than one database given ('s.db')"},
        {{"r.db", "-o", "out", "--frob"}, "unknown flag '--frob'"},
        {{"r.db", "-o", "out", "--run=0"}, "--run: '0' is not a positive run id"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = db_dir(&err, bad[i].args[0], bad[i].args[1], bad[i].args[2], bad[i].args[3], NULL);
        assert_int_equal(rc, 2);
        char want[160];
        snprintf(want, sizeof want, "dfit fake: %s\nRun 'dfit help fake' for usage.\n", bad[i].msg);
        assert_string_equal(err, want);
        free(err);
    }
    assert_int_equal(db_dir(&err, "r.db", "--help", NULL), 0);
    assert_true(g_done);
    free(err);
}

/* ---- UTF-8 ------------------------------------------------------------- */

/* The well-formed sequences of the Unicode standard's table 3-7, written
 * as byte ranges (a different formulation from the decoder under test). */
static size_t ref_utf8_len(const unsigned char *s, size_t n)
{
    static const struct {
        unsigned char lo[4], hi[4];
        size_t len;
    } rows[] = {
        {{0xc2, 0x80}, {0xdf, 0xbf}, 2},
        {{0xe0, 0xa0, 0x80}, {0xe0, 0xbf, 0xbf}, 3},
        {{0xe1, 0x80, 0x80}, {0xec, 0xbf, 0xbf}, 3},
        {{0xed, 0x80, 0x80}, {0xed, 0x9f, 0xbf}, 3},
        {{0xee, 0x80, 0x80}, {0xef, 0xbf, 0xbf}, 3},
        {{0xf0, 0x90, 0x80, 0x80}, {0xf0, 0xbf, 0xbf, 0xbf}, 4},
        {{0xf1, 0x80, 0x80, 0x80}, {0xf3, 0xbf, 0xbf, 0xbf}, 4},
        {{0xf4, 0x80, 0x80, 0x80}, {0xf4, 0x8f, 0xbf, 0xbf}, 4},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        size_t len = rows[r].len, k;
        if (len > n)
            continue;
        for (k = 0; k < len; k++)
            if (s[k] < rows[r].lo[k] || s[k] > rows[r].hi[k])
                break;
        if (k == len)
            return len;
    }
    return 0;
}

static void test_utf8_len(void **state)
{
    (void)state;
    static const unsigned char tail[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    const size_t nt = sizeof tail;
    unsigned char s[4];
    size_t checked = 0, valid = 0;
    /* every first and second byte, representative third and fourth bytes,
     * every available length */
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            for (size_t c = 0; c < nt; c++)
                for (size_t d = 0; d < nt; d++) {
                    s[0] = (unsigned char)a, s[1] = (unsigned char)b, s[2] = tail[c], s[3] = tail[d];
                    for (size_t n = 1; n <= 4; n++) {
                        size_t want = ref_utf8_len(s, n), got = dfit_args_utf8_len(s, n);
                        if (got != want)
                            fail_msg("%02x %02x %02x %02x (n %zu): got %zu, want %zu", s[0], s[1], s[2], s[3],
                                     n, got, want);
                        checked++;
                        valid += got != 0;
                    }
                }
    assert_true(checked == 256u * 256u * nt * nt * 4u);
    assert_true(valid > 0);
    /* named cases */
    assert_int_equal(dfit_args_utf8_len((const unsigned char *)"A", 1), 0);          /* ASCII */
    assert_int_equal(dfit_args_utf8_len((const unsigned char *)"\xc3\xa9", 2), 2);   /* é */
    assert_int_equal(dfit_args_utf8_len((const unsigned char *)"\xe2\x82\xac", 3), 3); /* € */
    assert_int_equal(dfit_args_utf8_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(dfit_args_utf8_len((const unsigned char *)"\xe2\x82\xac", 2), 0); /* cut short */
    assert_int_equal(dfit_args_utf8_len((const unsigned char *)"\xc0\x80", 2), 0);     /* overlong NUL */
    assert_int_equal(dfit_args_utf8_len((const unsigned char *)"\xed\xa0\x80", 3), 0); /* surrogate */
    assert_int_equal(dfit_args_utf8_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
}

/* ---- JSON strings -------------------------------------------------------- */

/* dfit_args_json_strn(s, len) into a malloc'd string. */
static char *json_of(const char *s, size_t len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    dfit_args_json_strn(f, s, len);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void check_json(const char *in, size_t len, const char *want)
{
    char *got = json_of(in, len);
    assert_string_equal(got, want);
    free(got);
}

#define CHECK_JSON(lit, want) check_json(lit, sizeof(lit) - 1, want)

static void test_json_str(void **state)
{
    (void)state;
    CHECK_JSON("", "\"\"");
    CHECK_JSON("plain text 123", "\"plain text 123\"");
    CHECK_JSON("say \"hi\"", "\"say \\\"hi\\\"\"");
    CHECK_JSON("C:\\dir\\", "\"C:\\\\dir\\\\\"");
    CHECK_JSON("\\\"", "\"\\\\\\\"\""); /* a backslash then a quote */
    CHECK_JSON("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
    CHECK_JSON("\x01\x08\x0b\x0c\x1b\x1f", "\"\\u0001\\u0008\\u000b\\u000c\\u001b\\u001f\"");
    CHECK_JSON("del\x7f", "\"del\\u007f\"");
    CHECK_JSON("a\0b", "\"a\\u0000b\""); /* length-delimited: NUL is data */
    CHECK_JSON(" ~/'<>&", "\" ~/'<>&\"");  /* nothing else is escaped */
    /* well-formed UTF-8 passes through */
    CHECK_JSON("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    CHECK_JSON("\xc2\x80", "\"\xc2\x80\""); /* C1 controls are valid JSON as they are */
    /* any other byte >= 0x80 becomes U+FFFD, one per byte */
    CHECK_JSON("\x80", "\"\\ufffd\"");
    CHECK_JSON("a\xffz", "\"a\\ufffdz\"");
    CHECK_JSON("\xc0\x80", "\"\\ufffd\\ufffd\"");
    CHECK_JSON("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
    CHECK_JSON("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    CHECK_JSON("\xe2\x82", "\"\\ufffd\\ufffd\""); /* cut short by the end */
    CHECK_JSON("\xe2\x82x", "\"\\ufffd\\ufffdx\"");
    /* a sequence is not read past len */
    check_json("\xc3\xa9", 1, "\"\\ufffd\"");

    /* the NUL-terminated form is the same */
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    dfit_args_json_str(f, "q\"\\\n\x01\xc3\xa9\xff");
    assert_int_equal(fclose(f), 0);
    assert_string_equal(buf, "\"q\\\"\\\\\\n\\u0001\xc3\xa9\\ufffd\"");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flag_separate_value),
        cmocka_unit_test(test_flag_equals_value),
        cmocka_unit_test(test_flag_missing_value),
        cmocka_unit_test(test_flag_other_arguments),
        cmocka_unit_test(test_flag_short_never_takes_equals),
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_u32),
        cmocka_unit_test(test_long),
        cmocka_unit_test(test_double),
        cmocka_unit_test(test_double_above),
        cmocka_unit_test(test_usage_error),
        cmocka_unit_test(test_db_dir),
        cmocka_unit_test(test_utf8_len),
        cmocka_unit_test(test_json_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
