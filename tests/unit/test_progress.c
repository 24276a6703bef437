/* test_progress — what `dfit run` prints while it works, captured in a real
 * file: plain lines (one per event), the live line (\r redraws with an ETA
 * from the mean cell time), quiet mode, control characters in names shown
 * as '?', and the ETA format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/progress.h"

/* Everything written to f so far, as a malloc'd string. */
static char *contents(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    assert_true(n >= 0);
    char *s = calloc((size_t)n + 1, 1);
    assert_non_null(s);
    rewind(f);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fseek(f, 0, SEEK_END);
    return s;
}

static void test_eta_format(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(dfit_progress_fmt_eta(b, sizeof b, 0), "0s");
    assert_string_equal(dfit_progress_fmt_eta(b, sizeof b, 45000000000ull), "45s");
    assert_string_equal(dfit_progress_fmt_eta(b, sizeof b, 72000000000ull), "1m12s");
    assert_string_equal(dfit_progress_fmt_eta(b, sizeof b, 59600000000ull), "1m00s");
    assert_string_equal(dfit_progress_fmt_eta(b, sizeof b, 3723000000000ull), "1h02m");
}

static void test_lines_mode(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    struct dfit_progress *p = NULL;
    assert_int_equal(dfit_progress_create(f, DFIT_PROGRESS_AUTO, &p, NULL), 0);
    /* a file is not a terminal */
    assert_int_equal(dfit_progress_mode_of(p), DFIT_PROGRESS_LINES);
    dfit_progress_plan(p, 3, 2);
    dfit_progress_step(p, "building variant %s …", "q4_0");
    dfit_progress_step_done(p, "%.1f s", 1.25);
    dfit_progress_cell_begin(p, 1, "q4_0", "edge", "chat", "running");
    dfit_progress_cell_tick(p, "running", 500000000u); /* prints nothing in lines mode */
    dfit_progress_cell_end(p, DFIT_CELL_OK, "", 2000000000u, true);
    dfit_progress_cell_skipped(p, 2, "q4_0", "gpu", "chat", "no device");
    dfit_progress_free(p);
    char *s = contents(f);
    assert_string_equal(s, "building variant q4_0 …\n"
                           "building variant q4_0 … 1.2 s\n"
                           "cell 1/3 q4_0 × edge × chat: running\n"
                           "cell 1/3 q4_0 × edge × chat: ok in 2.0 s\n"
                           "cell 2/3 q4_0 × gpu × chat: skipped: no device\n");
    assert_null(strchr(s, '\r'));
    free(s);
    fclose(f);
}

static void test_live_mode_eta(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    struct dfit_progress *p = NULL;
    assert_int_equal(dfit_progress_create(f, DFIT_PROGRESS_LIVE, &p, NULL), 0);
    dfit_progress_plan(p, 4, 4);
    dfit_progress_cell_begin(p, 1, "a", "t", "w", "running");
    dfit_progress_cell_end(p, DFIT_CELL_OK, "", 10000000000ull, true); /* 10 s */
    dfit_progress_cell_begin(p, 2, "b", "t", "w", "running");
    /* mean 10 s, 3 cells left including this one, 4 s into it: 26 s */
    dfit_progress_cell_tick(p, "running", 4000000000ull);
    char *s = contents(f);
    const char *last = strrchr(s, '\r');
    assert_non_null(last);
    assert_string_equal(last, "\r\033[Kcell 2/4 b × t × w: running 4.0 s … ETA 26s");
    /* the finished cell got a line of its own */
    assert_non_null(strstr(s, "cell 1/4 a × t × w: ok in 10.0 s\n"));
    free(s);
    /* a note clears the live line first and is a line of its own */
    dfit_progress_note(p, "hello");
    s = contents(f);
    size_t n = strlen(s);
    assert_true(n > 10);
    assert_string_equal(s + n - 10, "\r\033[Khello\n");
    free(s);
    dfit_progress_free(p);
    fclose(f);
}

static void test_control_characters_are_shown_as_question_marks(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    struct dfit_progress *p = NULL;
    assert_int_equal(dfit_progress_create(f, DFIT_PROGRESS_LINES, &p, NULL), 0);
    dfit_progress_plan(p, 1, 1);
    dfit_progress_note(p, "name %s end", "a\nb\rc\033[2Jd\x7f");
    dfit_progress_cell_begin(p, 1, "v\n", "t\r", "w\t", "running");
    dfit_progress_free(p);
    char *s = contents(f);
    assert_string_equal(s, "name a?b?c?[2Jd? end\ncell 1/1 v? × t? × w?: running\n");
    free(s);
    fclose(f);
}

static void test_quiet_prints_nothing(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    struct dfit_progress *p = NULL;
    assert_int_equal(dfit_progress_create(f, DFIT_PROGRESS_QUIET, &p, NULL), 0);
    dfit_progress_plan(p, 2, 2);
    dfit_progress_note(p, "x");
    dfit_progress_step(p, "y");
    dfit_progress_step_done(p, "z");
    dfit_progress_cell_begin(p, 1, "a", "b", "c", "running");
    dfit_progress_cell_tick(p, "running", 1);
    dfit_progress_cell_end(p, DFIT_CELL_FAILED, "boom", 1, true);
    dfit_progress_free(p);
    fflush(f);
    assert_int_equal(ftell(f), 0);
    fclose(f);
    dfit_progress_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eta_format),
        cmocka_unit_test(test_lines_mode),
        cmocka_unit_test(test_live_mode_eta),
        cmocka_unit_test(test_control_characters_are_shown_as_question_marks),
        cmocka_unit_test(test_quiet_prints_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
