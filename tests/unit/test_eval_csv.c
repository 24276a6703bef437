/* test_eval_csv — CSV eval sets: every kind of malformed file (unterminated
 * and stray quotes, wrong column counts, empty prompts, answers and
 * choices, bad labels, invalid UTF-8 of each kind, missing and unknown
 * headers, empty files, byte order marks, line breaks in answers, caps),
 * each error checked for the file, row, line and column it names; valid
 * files of both forms with quoted commas, quotes and line breaks, CRLF,
 * blank lines, a leading BOM; and a write/read round trip. Real files in a
 * temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/eval_csv.h"

static char g_dir[64];
static char g_path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/dfit-evalcsv-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_path, sizeof g_path, "%s/set.csv", g_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(g_path);
    char p[160];
    snprintf(p, sizeof p, "%s/round.csv", g_dir);
    unlink(p);
    rmdir(g_dir);
    return 0;
}

/* Writes len bytes to the test file and reads it back. */
static int read_bytes(const char *data, size_t len, struct dfit_eval_set **s, struct dfit_err *err)
{
    FILE *f = fopen(g_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return dfit_eval_csv_read(g_path, s, err);
}

static int read_text(const char *text, struct dfit_eval_set **s, struct dfit_err *err)
{
    return read_bytes(text, strlen(text), s, err);
}

/* The file must be rejected with code, and the message must name the file
 * and hold each of the given fragments. */
static void expect_error_n(const char *data, size_t len, int code, const char *where, const char *what)
{
    struct dfit_eval_set *s = (struct dfit_eval_set *)1;
    struct dfit_err err = {0};
    int rc = read_bytes(data, len, &s, &err);
    if (rc != code)
        fail_msg("expected code %d, got %d (%s) for %.60s", code, rc, err.msg, data);
    assert_null(s);
    if (strncmp(err.msg, g_path, strlen(g_path)) != 0)
        fail_msg("message does not start with the file: %s", err.msg);
    if (where && !strstr(err.msg, where))
        fail_msg("message lacks '%s': %s", where, err.msg);
    if (what && !strstr(err.msg, what))
        fail_msg("message lacks '%s': %s", what, err.msg);
}

static void expect_error(const char *text, int code, const char *where, const char *what)
{
    expect_error_n(text, strlen(text), code, where, what);
}

/* ---- malformed ------------------------------------------------------------------------ */

static void test_quotes(void **state)
{
    (void)state;
    expect_error("prompt,answer\n\"abc,def\n", DFIT_EINVAL, "row 2 (line 2), column 1:", "unterminated quoted field");
    /* the quote opens on line 4 of row 3 and swallows the rest of the file */
    expect_error("prompt,answer\na,b\nc,\"d\ne,f\ng,h\n", DFIT_EINVAL, "row 3 (line 3), column 2:",
                 "opened on line 3 is never closed");
    expect_error("prompt,answer\na,b\nc,d\ne,f\n\"g\nh,i\n", DFIT_EINVAL, "row 5 (line 5), column 1:",
                 "opened on line 5");
    expect_error("prompt,answer\nab\"c,d\n", DFIT_EINVAL, "row 2 (line 2), column 1:", "stray quote on line 2");
    expect_error("prompt,answer\nq,\"ab\"x\n", DFIT_EINVAL, "row 2 (line 2), column 2:", "stray quote");
    expect_error("prompt,answer\nq,\"ab\" \n", DFIT_EINVAL, "row 2 (line 2), column 2:", "stray quote");
    /* a stray quote after a multi-line quoted prompt: row starts on line 2, quote on line 3 */
    expect_error("prompt,answer\n\"x\ny\"z,a\n", DFIT_EINVAL, "row 2 (line 2), column 1:", "stray quote on line 3");
}

static void test_columns(void **state)
{
    (void)state;
    expect_error("prompt,answer\na,b,c\n", DFIT_EINVAL, "row 2 (line 2):", "3 columns, the header has 2");
    expect_error("prompt,answer\na,b\nc\n", DFIT_EINVAL, "row 3 (line 3):", "1 column, the header has 2");
    expect_error("prompt,choice_1,choice_2,label\nq,a,b\n", DFIT_EINVAL, "row 2 (line 2):",
                 "3 columns, the header has 4");
    expect_error("prompt,answer\na,b\n\"multi\nline\",x,y\n", DFIT_EINVAL, "row 3 (line 3):", "3 columns");
    expect_error("prompt,answer\na,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u\n", DFIT_EINVAL, "row 2 (line 2):",
                 "21 columns");
    /* a line of spaces is a row of one field, not a blank line */
    expect_error("prompt,answer\n   \n", DFIT_EINVAL, "row 2 (line 2):", "1 column");
}

static void test_empty_fields(void **state)
{
    (void)state;
    expect_error("prompt,answer\n,x\n", DFIT_EINVAL, "row 2 (line 2), column 1 (prompt):", "empty prompt");
    expect_error("prompt,answer\n\"\",x\n", DFIT_EINVAL, "row 2 (line 2), column 1 (prompt):", "empty prompt");
    expect_error("prompt,answer\nq,a\nq,\n", DFIT_EINVAL, "row 3 (line 3), column 2 (answer):", "empty answer");
    expect_error("prompt,answer\nq,a\nq,\"\"", DFIT_EINVAL, "row 3 (line 3), column 2 (answer):", "empty answer");
    expect_error("prompt,choice_1,choice_2,choice_3,label\nq,a,,c,1\n", DFIT_EINVAL,
                 "row 2 (line 2), column 3 (choice_2):", "empty choice");
}

static void test_labels(void **state)
{
    (void)state;
    const char *h = "prompt,choice_1,choice_2,label\n";
    char buf[256];
    struct {
        const char *row, *msg;
    } bad[] = {
        {"q,a,b,x\n", "'x' is not an integer 1..2"},
        {"q,a,b,1.5\n", "'1.5' is not an integer"},
        {"q,a,b,-1\n", "'-1' is not an integer"},
        {"q,a,b,+1\n", "'+1' is not an integer"},
        {"q,a,b, 1\n", "' 1' is not an integer"},
        {"q,a,b,\n", "'' is not an integer"},
        {"q,a,b,99999999999\n", "is not an integer"},
        {"q,a,b,0\n", "'0' is out of range 1..2"},
        {"q,a,b,3\n", "'3' is out of range 1..2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s", h, bad[i].row);
        expect_error(buf, DFIT_EINVAL, "row 2 (line 2), column 4 (label):", bad[i].msg);
    }
    expect_error("prompt,choice_1,choice_2,choice_3,label\nq,a,b,a,1\n", DFIT_EINVAL,
                 "row 2 (line 2), column 4 (choice_3):", "the same text as choice_1");
}

static void test_utf8(void **state)
{
    (void)state;
    struct {
        const char *bytes, *why;
    } bad[] = {
        {"\xC0\xAF", "overlong encoding"},
        {"\xC1\xBF", "overlong encoding"},
        {"\xE0\x80\xAF", "overlong encoding"},
        {"\xE0\x9F\xBF", "overlong encoding"},
        {"\xF0\x80\x80\xAF", "overlong encoding"},
        {"\xF0\x8F\xBF\xBF", "overlong encoding"},
        {"\xED\xA0\x80", "UTF-16 surrogate"},
        {"\xED\xBF\xBF", "UTF-16 surrogate"},
        {"\xE2\x82", "truncated sequence"},
        {"\xE2\x82x", "truncated sequence"},
        {"\xF0\x9F\x98", "truncated sequence"},
        {"\xC3", "truncated sequence"},
        {"\xF4\x90\x80\x80", "code point above U+10FFFF"},
        {"\xF5\x80\x80\x80", "code point above U+10FFFF"},
        {"\xFF", "byte 0xF8..0xFF (never in UTF-8)"},
        {"\xF8\x88\x80\x80\x80", "byte 0xF8..0xFF (never in UTF-8)"},
        {"\x80", "unexpected continuation byte"},
        {"\xBF", "unexpected continuation byte"},
    };
    char buf[128], why[96];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* in an answer (column 2), after two good bytes */
        int n = snprintf(buf, sizeof buf, "prompt,answer\nq,a\nq,ok%s\n", bad[i].bytes);
        snprintf(why, sizeof why, "invalid UTF-8 at byte 2 of the field: %s", bad[i].why);
        expect_error_n(buf, (size_t)n, DFIT_EINVAL, "row 3 (line 3), column 2 (answer):", why);
        /* in a prompt, quoted, on the first byte */
        n = snprintf(buf, sizeof buf, "prompt,answer\n\"%s\",a\n", bad[i].bytes);
        snprintf(why, sizeof why, "invalid UTF-8 at byte 0 of the field: %s", bad[i].why);
        expect_error_n(buf, (size_t)n, DFIT_EINVAL, "row 2 (line 2), column 1 (prompt):", why);
        /* in a choice and in a label */
        n = snprintf(buf, sizeof buf, "prompt,choice_1,choice_2,label\nq,a,%s,1\n", bad[i].bytes);
        expect_error_n(buf, (size_t)n, DFIT_EINVAL, "row 2 (line 2), column 3 (choice_2):", bad[i].why);
        n = snprintf(buf, sizeof buf, "prompt,choice_1,choice_2,label\nq,a,b,%s\n", bad[i].bytes);
        expect_error_n(buf, (size_t)n, DFIT_EINVAL, "row 2 (line 2), column 4 (label):", bad[i].why);
        /* in the header */
        n = snprintf(buf, sizeof buf, "prompt,answer%s\nq,a\n", bad[i].bytes);
        expect_error_n(buf, (size_t)n, DFIT_EINVAL, "row 1 (line 1), column 2:", bad[i].why);
    }
    static const char nul[] = "prompt,answer\nq,a\0b\n";
    expect_error_n(nul, sizeof nul - 1, DFIT_EINVAL, "row 2 (line 2), column 2 (answer):", "NUL byte");

    /* the largest code points of each length are fine */
    struct dfit_eval_set *s = NULL;
    struct dfit_err err = {0};
    assert_int_equal(read_text("prompt,answer\n\x7F\xDF\xBF\xEF\xBF\xBF,\xF4\x8F\xBF\xBF\xF0\x90\x80\x80\n", &s, &err),
                     0);
    assert_string_equal(s->items[0].answer, "\xF4\x8F\xBF\xBF\xF0\x90\x80\x80");
    dfit_eval_set_free(s);

    size_t at = 99;
    const char *why_s = NULL;
    assert_int_equal(dfit_utf8_check("ab\xED\xA0\x80", 5, &at, &why_s), -1);
    assert_int_equal(at, 2);
    assert_string_equal(why_s, "UTF-16 surrogate");
    const char *good = "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80";
    assert_int_equal(dfit_utf8_check(good, strlen(good), &at, &why_s), 0);
}

static void test_headers(void **state)
{
    (void)state;
    expect_error("add: 1+1=,2\nadd: 2+2=,4\n", DFIT_EINVAL, "row 1 (line 1), column 1:",
                 "missing header: the first row must be 'prompt,answer' or 'prompt,choice_1,...,choice_k,label', not "
                 "'add: 1+1='");
    expect_error("Prompt,answer\nq,a\n", DFIT_EINVAL, "row 1 (line 1), column 1:", "missing header");
    expect_error("prompt,answr\nq,a\n", DFIT_EINVAL, "row 1 (line 1), column 2:",
                 "unknown header 'answr' (expected 'answer' or 'choice_1')");
    expect_error("prompt,answer,task\nq,a,add\n", DFIT_EINVAL, "row 1 (line 1), column 3:",
                 "unknown header 'task' after 'prompt,answer'");
    expect_error("prompt,choice_1,choice_3,label\nq,a,b,1\n", DFIT_EINVAL, "row 1 (line 1), column 3:",
                 "unknown header 'choice_3' (expected 'choice_2')");
    expect_error("prompt,choice_1,choice_2,answer\nq,a,b,1\n", DFIT_EINVAL, "row 1 (line 1), column 4:",
                 "expected 'label' after the choices");
    expect_error("prompt,choice_1,label\nq,a,1\n", DFIT_EINVAL, "row 1 (line 1):", "at least 2 choices");
    expect_error("prompt\nq\n", DFIT_EINVAL, "row 1 (line 1):", "header has only 'prompt'");
    expect_error(" prompt,answer\nq,a\n", DFIT_EINVAL, "row 1 (line 1), column 1:", "missing header");
    char big[512];
    size_t o = (size_t)snprintf(big, sizeof big, "prompt");
    for (int k = 1; k <= 17; k++)
        o += (size_t)snprintf(big + o, sizeof big - o, ",choice_%d", k);
    snprintf(big + o, sizeof big - o, ",label\n");
    expect_error(big, DFIT_ERANGE, "row 1 (line 1):", "at most 16 choices");
    expect_error("prompt,answer\n", DFIT_EINVAL, NULL, "no rows after the header");
    expect_error("prompt,answer\n\n\n", DFIT_EINVAL, NULL, "no rows after the header");
}

static void test_empty_and_bom(void **state)
{
    (void)state;
    expect_error("", DFIT_EINVAL, NULL, "empty file");
    expect_error("\n\r\n\n", DFIT_EINVAL, NULL, "empty file (only blank lines)");
    expect_error("\xEF\xBB\xBF", DFIT_EINVAL, NULL, "empty file (only a byte order mark");
    expect_error("\xEF\xBB\xBF\r\n", DFIT_EINVAL, NULL, "only a byte order mark");
    expect_error("prompt,answer\n\xEF\xBB\xBF\n", DFIT_EINVAL, "row 2 (line 2):", "a row of only a byte order mark");
    expect_error("prompt,answer\nq,a\r\n\xEF\xBB\xBF\r\n", DFIT_EINVAL, "row 3 (line 3):",
                 "a row of only a byte order mark");
    expect_error("prompt,answer\n\xEF\xBB\xBFq,a\n", DFIT_EINVAL, "row 2 (line 2), column 1 (prompt):",
                 "starts with a byte order mark");
    /* a second BOM is not skipped: the header is then missing */
    expect_error("\xEF\xBB\xBF\xEF\xBB\xBFprompt,answer\nq,a\n", DFIT_EINVAL, "row 1 (line 1), column 1:",
                 "missing header");
}

static void test_line_breaks_and_caps(void **state)
{
    (void)state;
    expect_error("prompt,answer\nq,\"a\nb\"\n", DFIT_EINVAL, "row 2 (line 2), column 2 (answer):",
                 "answer contains a line break");
    expect_error("prompt,answer\nq,\"a\rb\"\n", DFIT_EINVAL, "row 2 (line 2), column 2 (answer):",
                 "carriage return");
    expect_error("prompt,choice_1,choice_2,label\nq,a,\"b\nc\",1\n", DFIT_EINVAL,
                 "row 2 (line 2), column 3 (choice_2):", "choice contains a line break");

    /* a field over 64 KiB */
    size_t n = DFIT_EVAL_CSV_MAX_FIELD_BYTES + 100;
    char *big = malloc(n + 64);
    assert_non_null(big);
    size_t o = (size_t)sprintf(big, "prompt,answer\nq,a\nq,");
    memset(big + o, 'x', DFIT_EVAL_CSV_MAX_FIELD_BYTES + 1);
    o += DFIT_EVAL_CSV_MAX_FIELD_BYTES + 1;
    big[o++] = '\n';
    expect_error_n(big, o, DFIT_ERANGE, "row 3 (line 3), column 2:", "exceeds the cap of 65536 bytes");
    free(big);

    struct dfit_eval_set *s = (struct dfit_eval_set *)1;
    struct dfit_err err = {0};
    assert_int_equal(dfit_eval_csv_read("/nonexistent/dir/x.csv", &s, &err), DFIT_EIO);
    assert_null(s);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/x.csv"));
    assert_int_equal(dfit_eval_csv_read(g_dir, &s, &err), DFIT_EIO);
    assert_non_null(strstr(err.msg, "not a regular file"));
}

/* ---- valid files ---------------------------------------------------------------------------- */

static void test_valid_generation(void **state)
{
    (void)state;
    struct dfit_eval_set *s = NULL;
    struct dfit_err err = {0};
    const char *text = "\xEF\xBB\xBFprompt,answer\r\n"
                       "add: 47+385=,432\r\n"
                       "\"a, b, and \"\"c\"\"\",\"x,y\"\r\n"
                       "\r\n"
                       "\"line one\r\nline two\nline three\",\" padded \"\r\n"
                       "  spaces kept  ,\tok\n"
                       "caf\xC3\xA9,\xE2\x82\xAC" /* no newline at the end */;
    assert_int_equal(read_text(text, &s, &err), 0);
    assert_int_equal(s->kind, DFIT_EVAL_GEN);
    assert_string_equal(s->name, "set");
    assert_int_equal(s->n_items, 5);
    assert_string_equal(s->items[0].prompt, "add: 47+385=");
    assert_string_equal(s->items[0].answer, "432");
    assert_int_equal(s->items[0].row, 2);
    assert_int_equal(s->items[0].line, 2);
    assert_string_equal(s->items[1].prompt, "a, b, and \"c\"");
    assert_string_equal(s->items[1].answer, "x,y");
    assert_string_equal(s->items[2].prompt, "line one\nline two\nline three");
    assert_string_equal(s->items[2].answer, " padded ");
    assert_int_equal(s->items[2].row, 4);
    assert_int_equal(s->items[2].line, 5); /* after a blank line */
    assert_string_equal(s->items[3].prompt, "  spaces kept  ");
    assert_string_equal(s->items[3].answer, "\tok");
    assert_int_equal(s->items[3].line, 8);
    assert_string_equal(s->items[4].prompt, "caf\xC3\xA9");
    assert_string_equal(s->items[4].answer, "\xE2\x82\xAC");
    assert_null(s->items[4].choices);
    dfit_eval_set_free(s);
    dfit_eval_set_free(NULL);
}

static void test_valid_choice(void **state)
{
    (void)state;
    struct dfit_eval_set *s = NULL;
    struct dfit_err err = {0};
    const char *text = "prompt,choice_1,choice_2,choice_3,label\n"
                       "\"max: 47,385=\",47,385,\"385 \"\"\"\"\",2\n"
                       "\"Which, if any?\",\"yes, \"\"sure\"\"\",no,\"may\nbe\",3\n";
    /* the last choice holds a line break: rejected */
    assert_int_equal(read_text(text, &s, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "row 3 (line 3), column 4 (choice_3)"));
    text = "prompt,choice_1,choice_2,choice_3,label\n"
           "max: 47,385=,47,385,385 x,2\n"
           "\"Which, if any?\nSay it.\",\"yes, \"\"sure\"\"\",no,maybe,03\n";
    assert_int_equal(read_text(text, &s, &err), DFIT_EINVAL); /* "max: 47" "385=" ... is 6 columns */
    assert_non_null(strstr(err.msg, "row 2 (line 2): 6 columns, the header has 5"));
    text = "prompt,choice_1,choice_2,choice_3,label\n"
           "\"max: 47,385=\",47,385,385 x,2\n"
           "\"Which, if any?\nSay it.\",\"yes, \"\"sure\"\"\",no,maybe,03\n";
    assert_int_equal(read_text(text, &s, &err), 0);
    assert_int_equal(s->kind, DFIT_EVAL_MC);
    assert_int_equal(s->n_choices, 3);
    assert_int_equal(s->n_items, 2);
    assert_string_equal(s->items[0].prompt, "max: 47,385=");
    assert_string_equal(s->items[0].choices[2], "385 x");
    assert_int_equal(s->items[0].label, 1);
    assert_null(s->items[0].answer);
    assert_string_equal(s->items[1].prompt, "Which, if any?\nSay it.");
    assert_string_equal(s->items[1].choices[0], "yes, \"sure\"");
    assert_int_equal(s->items[1].label, 2);
    assert_int_equal(s->items[1].row, 3);
    assert_int_equal(s->items[1].line, 3);
    dfit_eval_set_free(s);
}

static void test_round_trip(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "%s/round.csv", g_dir);
    struct dfit_err err = {0};
    struct dfit_eval_set *g = NULL, *m = NULL, *back = NULL;
    assert_int_equal(dfit_eval_set_create("dir/round.csv", DFIT_EVAL_GEN, 0, &g, &err), 0);
    assert_string_equal(g->name, "round");
    const char *prompts[] = {"plain", "with, comma", "quote \" here", "two\nlines", " lead", "trail ", "tab\t"};
    for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++)
        assert_int_equal(dfit_eval_set_add_gen(g, prompts[i], prompts[(i + 1) % 3], &err), 0);
    /* the builder checks as the reader does */
    assert_int_equal(dfit_eval_set_add_gen(g, "", "x", &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "empty prompt"));
    assert_int_equal(dfit_eval_set_add_gen(g, "q", "a\nb", &err), DFIT_EINVAL);
    assert_int_equal(dfit_eval_set_add_gen(g, "q\xC0\x80", "a", &err), DFIT_EINVAL);
    assert_int_equal(g->n_items, 7);
    assert_int_equal(dfit_eval_csv_write(path, g, &err), 0);
    assert_int_equal(dfit_eval_csv_read(path, &back, &err), 0);
    assert_int_equal(back->n_items, g->n_items);
    for (uint32_t i = 0; i < g->n_items; i++) {
        assert_string_equal(back->items[i].prompt, g->items[i].prompt);
        assert_string_equal(back->items[i].answer, g->items[i].answer);
    }
    dfit_eval_set_free(back);

    assert_int_equal(dfit_eval_set_create("round", DFIT_EVAL_MC, 1, &m, &err), DFIT_EINVAL);
    assert_null(m);
    assert_int_equal(dfit_eval_set_create("round", DFIT_EVAL_MC, 3, &m, &err), 0);
    const char *c1[] = {"1", "a,b", "\"q\""};
    const char *c2[] = {"x", "y", "x"};
    assert_int_equal(dfit_eval_set_add_mc(m, "pick", c1, 2, &err), 0);
    assert_int_equal(dfit_eval_set_add_mc(m, "pick", c1, 3, &err), DFIT_EINVAL);
    assert_int_equal(dfit_eval_set_add_mc(m, "pick", c2, 0, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "the same text as choice_1"));
    assert_int_equal(dfit_eval_set_add_gen(m, "pick", "x", &err), DFIT_EINVAL);
    assert_int_equal(dfit_eval_csv_write(path, m, &err), 0);
    assert_int_equal(dfit_eval_csv_read(path, &back, &err), 0);
    assert_int_equal(back->kind, DFIT_EVAL_MC);
    assert_int_equal(back->n_choices, 3);
    assert_int_equal(back->n_items, 1);
    assert_int_equal(back->items[0].label, 2);
    for (int c = 0; c < 3; c++)
        assert_string_equal(back->items[0].choices[c], c1[c]);
    dfit_eval_set_free(back);

    /* a failed write leaves the old file */
    assert_int_equal(dfit_eval_csv_write("/nonexistent/dir/x.csv", m, &err), DFIT_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/x.csv"));
    dfit_eval_set_free(g);
    dfit_eval_set_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quotes),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_empty_fields),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_empty_and_bom),
        cmocka_unit_test(test_line_breaks_and_caps),
        cmocka_unit_test(test_valid_generation),
        cmocka_unit_test(test_valid_choice),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
