/* test_report_gnuplot — the report's plots, rendered by the real gnuplot
 * from results.db (report_fixture.h), whose names attack HTML, Markdown
 * and gnuplot: report.html is self-contained with inline SVG and nothing
 * unescaped, report.md escapes its table text, the plots exist, the
 * recommendation is the expected variant, labels reach the data files and
 * never a script, and no gnuplot command hidden in a name ran. Also the
 * path without gnuplot (PATH set to an empty directory: data and scripts
 * are written, the note gives a command, and that command renders them), a
 * gnuplot that fails, and the compiled-in gnuplot templates against plots/.
 * Without gnuplot on PATH the rendering tests are left out.
 * Non-goals: the report's text and tables (test_report).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/plots.h"
#include "report/report.h"
#include "report_fixture.h"
#include "store/store.h"

extern char **environ;

static bool have_gnuplot;

/* ---- helpers ------------------------------------------------------------------------ */

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Whether every c in s follows a backslash. */
static bool all_escaped(const char *s, char c)
{
    for (const char *p = strchr(s, c); p; p = strchr(p + 1, c))
        if (p == s || p[-1] != '\\')
            return false;
    return true;
}

/* Writes the report of the latest run into tmpdir/rel. */
static struct dfit_report_outcome report_into(const char *rel, FILE *notes)
{
    char db[PATH_MAX], dir[PATH_MAX];
    path_in(db, sizeof db, "results.db");
    path_in(dir, sizeof dir, rel);
    struct dfit_store *s = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_store_open_readonly(db, &s, &err), 0);
    struct dfit_report_options opt = {.notes = notes};
    struct dfit_report_outcome out;
    int rc = dfit_report_write(s, 0, dir, &opt, &out, &err);
    dfit_store_close(s);
    if (rc)
        fail_msg("report: %s", err.msg);
    assert_int_equal(out.run_id, 1);
    return out;
}

/* ---- the compiled-in templates ------------------------------------------------------------ */

static void test_templates_match_sources(void **state)
{
    (void)state;
    const char *root = getenv("DFIT_SOURCE_ROOT");
    assert_non_null(root);
    static const char *const names[] = {"frontier.gp", "latency_cdf.gp"};
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/plots/%s", root, names[i]);
        char *file = slurp(path), *text = dfit_plots_template(names[i]);
        assert_non_null(file);
        assert_non_null(text);
        assert_string_equal(text, file);
        free(file);
        free(text);
    }
    assert_null(dfit_plots_template("other.gp"));
}

/* ---- the report with gnuplot ------------------------------------------------------------------- */

static void check_no_canary(const char *rel_dir)
{
    char p[PATH_MAX];
    assert_false(exists(canary));
    snprintf(p, sizeof p, "%s/%s/plots/CANARY", tmpdir, rel_dir);
    assert_false(exists(p));
    assert_false(exists("CANARY"));
}

static void test_report_with_gnuplot(void **state)
{
    (void)state;
    struct dfit_report_outcome out = report_into("out", NULL);
    if (out.plots.status != DFIT_PLOTS_RENDERED)
        fail_msg("plots: %s", out.plots.message);
    check_no_canary("out");

    char path[PATH_MAX];
    /* the plots: target 0 on both workloads, nothing for the skipped target */
    static const char *const stems[] = {"front_t0_w0_e2e", "front_t0_w0_mem", "front_t0_w0_usd",
                                        "front_t0_w1_e2e", "front_t0_w1_mem", "front_t0_w1_usd",
                                        "cdf_t0_w0_e2e", "cdf_t0_w0_ttft", "cdf_t0_w1_e2e",
                                        "cdf_t0_w1_ttft"};
    for (size_t i = 0; i < sizeof stems / sizeof stems[0]; i++)
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s/out/plots/%s.%s", tmpdir, stems[i], k ? "png" : "svg");
            if (file_size(path) <= 0)
                fail_msg("%s: missing or empty", path);
        }
    snprintf(path, sizeof path, "%s/out/plots/front_t1_w0_e2e.svg", tmpdir);
    assert_false(exists(path));
    /* the failed cell has no latency series */
    snprintf(path, sizeof path, "%s/out/plots/cdf_t0_w1_e2e_v2.dat", tmpdir);
    assert_false(exists(path));
    snprintf(path, sizeof path, "%s/out/plots/cdf_t0_w1_e2e_v1.dat", tmpdir);
    assert_true(file_size(path) > 0);

    /* report.html: self-contained, escaped, inline SVG */
    snprintf(path, sizeof path, "%s/out/report.html", tmpdir);
    char *html = slurp(path);
    assert_non_null(html);
    assert_null(strcasestr(html, "<script"));
    assert_null(strstr(html, "\"quotes\""));
    assert_null(strstr(html, "<x86>"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(html, "q8 &quot;quotes&quot; | pipe `touch "));
    assert_non_null(strstr(html, "&#39;x&#39; newline")); /* the newline is a space */
    assert_non_null(strstr(html, "<svg"));
    assert_null(strstr(html, "<?xml"));
    assert_null(strcasestr(html, "<link"));
    assert_null(strcasestr(html, "src=\"http"));
    assert_null(strcasestr(html, "href=\"http"));
    assert_non_null(strstr(html, "Recommended: <strong>q8 &quot;quotes&quot; | pipe"));
    assert_non_null(strstr(html, "Target skipped: backend &#39;cuda&#39; is not compiled in"));
    assert_non_null(strstr(html, "failed: worker: load &lt;failed&gt; | out of memory"));
    assert_non_null(strstr(html, "INVALID: min_duration_ms not met &lt;1000&gt;"));
    assert_non_null(strstr(html, "p95 TPOT 42.4 ms &gt; 30 ms on workload chat"));
    assert_non_null(strstr(html, "n/a (&lt;not exposed&gt; &amp; &quot;vm&quot;)"));
    assert_non_null(strstr(html, "Test CPU &lt;x86&gt;"));
    assert_non_null(strstr(html, "This run measured no cell on this target"));
    assert_non_null(strstr(html, "Of the other 2 variants, 1 misses an SLO and 1 was not "
                                 "measured on every workload"));
    assert_null(strstr(html, "plots were not rendered"));
    /* the IPC of prefill: 4.8M instructions / 2.4M cycles */
    assert_non_null(strstr(html, "<td>2</td>"));
    free(html);

    /* report.md: table text escaped, one line per row */
    snprintf(path, sizeof path, "%s/out/report.md", tmpdir);
    char *md = slurp(path);
    assert_non_null(md);
    assert_true(all_escaped(md, '<'));
    assert_true(all_escaped(md, '`'));
    assert_non_null(strstr(md, "\\<script\\>alert(1)\\</script\\>"));
    assert_non_null(strstr(md, "q8 \"quotes\" \\| pipe \\`touch "));
    assert_null(strstr(md, " `touch")); /* every backquote is escaped */
    assert_null(strstr(md, "\nnewline"));
    assert_non_null(strstr(md, "Recommended: **q8 \"quotes\" \\| pipe"));
    assert_non_null(strstr(md, "(plots/front_t0_w0_e2e.png)"));
    assert_non_null(strstr(md, "(plots/cdf_t0_w1_ttft.svg)"));
    assert_non_null(strstr(md, "\\#h"));
    free(md);

    /* the temporaries were renamed away */
    snprintf(path, sizeof path, "%s/out/report.html.tmp", tmpdir);
    assert_false(exists(path));
    check_no_canary("out");
}

/* Labels reached the data files intact (as text) and no script names them. */
static void test_plot_files_hold_no_user_text_in_scripts(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/out/plots/render.gp", tmpdir);
    char *render = slurp(path);
    assert_non_null(render);
    assert_null(strstr(render, "touch"));
    assert_null(strstr(render, tmpdir));
    assert_non_null(strstr(render, "call \"frontier.gp\" \"front_t0_w0_e2e\" \"e2e\" \"top1\" "
                                   "\"none\" \"0.9\" \"1\""));
    assert_non_null(strstr(render, "call \"latency_cdf.gp\" \"cdf_t0_w0_ttft\" \"ttft\" "
                                   "\"0 1 2\" \"200\""));
    free(render);
    snprintf(path, sizeof path, "%s/out/plots/front_t0_w0_e2e_pts.dat", tmpdir);
    char *pts = slurp(path);
    assert_non_null(pts);
    assert_non_null(strstr(pts, "\"<script>alert(1)</script>\""));
    assert_non_null(strstr(pts, "\"q8 'quotes' | pipe `touch ")); /* " became ' */
    assert_non_null(strstr(pts, "\"target edge, workload chat\""));
    free(pts);
    snprintf(path, sizeof path, "%s/out/plots/front_t0_w0_e2e.svg", tmpdir);
    char *svg = slurp(path);
    assert_non_null(svg);
    assert_null(strstr(svg, "<script"));
    assert_non_null(strstr(svg, "&lt;script>alert(1)&lt;/script>"));
    free(svg);
}

/* ---- without gnuplot ------------------------------------------------------------------------- */

static void test_report_without_gnuplot(void **state)
{
    (void)state;
    char empty_bin[512], dir[512], path[PATH_MAX];
    path_in(empty_bin, sizeof empty_bin, "emptybin");
    assert_int_equal(mkdir(empty_bin, 0755), 0);
    path_in(dir, sizeof dir, "nognuplot");
    char *old_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    assert_non_null(old_path);
    assert_int_equal(setenv("PATH", empty_bin, 1), 0);

    char *notes_text = NULL;
    size_t notes_len = 0;
    FILE *notes = open_memstream(&notes_text, &notes_len);
    assert_non_null(notes);
    struct dfit_report_outcome out = report_into("nognuplot", notes);
    fclose(notes);
    assert_int_equal(setenv("PATH", old_path, 1), 0);
    free(old_path);

    assert_int_equal(out.plots.status, DFIT_PLOTS_NO_GNUPLOT);
    char want[1024];
    snprintf(want, sizeof want, "cd '%s/plots' && gnuplot render.gp", dir);
    assert_non_null(strstr(out.plots.message, want));
    assert_non_null(strstr(notes_text, want));
    assert_non_null(strstr(notes_text, "gnuplot was not found"));
    free(notes_text);

    /* data and scripts are there, images are not */
    static const char *const files[] = {"render.gp", "frontier.gp", "latency_cdf.gp",
                                        "front_t0_w0_e2e_pts.dat", "front_t0_w0_e2e_front.dat",
                                        "cdf_t0_w0_e2e_v0.dat"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/plots/%s", dir, files[i]);
        if (file_size(path) <= 0)
            fail_msg("%s: missing or empty", path);
    }
    snprintf(path, sizeof path, "%s/plots/front_t0_w0_e2e.svg", dir);
    assert_false(exists(path));
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = slurp(path);
    assert_non_null(html);
    assert_non_null(strstr(html, "The plots were not rendered: gnuplot was not found"));
    assert_null(strstr(html, "<svg"));
    free(html);
    snprintf(path, sizeof path, "%s/report.md", dir);
    char *md = slurp(path);
    assert_non_null(strstr(md, "Plots not rendered: gnuplot was not found"));
    free(md);

    /* the command the note gives renders them (gnuplot is back on PATH) */
    if (have_gnuplot) {
        char sh[] = "sh", c[] = "-c";
        char *argv[] = {sh, c, want, NULL};
        pid_t pid;
        int st = 0;
        posix_spawn_file_actions_t fa; /* gnuplot's warnings are not the test's output */
        assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
        assert_int_equal(posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0), 0);
        assert_int_equal(posix_spawn_file_actions_adddup2(&fa, 1, 2), 0);
        assert_int_equal(posix_spawnp(&pid, "sh", &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        snprintf(path, sizeof path, "%s/plots/front_t0_w0_e2e.svg", dir);
        assert_true(file_size(path) > 0);
        snprintf(path, sizeof path, "%s/plots/cdf_t0_w1_ttft.png", dir);
        assert_true(file_size(path) > 0);
    }
    check_no_canary("nognuplot");
}

/* A gnuplot that records how it was started and fails: the report is
 * still written, and says why the plots are missing. */
static void test_report_gnuplot_fails(void **state)
{
    (void)state;
    char bin[512], fake[600], path[PATH_MAX];
    path_in(bin, sizeof bin, "fakebin");
    assert_int_equal(mkdir(bin, 0755), 0);
    snprintf(fake, sizeof fake, "%s/gnuplot", bin);
    FILE *f = fopen(fake, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nprintf '%s\\n' \"$PWD\" \"$#\" \"$@\" > ../started.txt\n"
          "echo 'line 1: gnuplot broke' >&2\nexit 3\n", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(fake, 0755), 0);
    char *old_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    char new_path[2048];
    snprintf(new_path, sizeof new_path, "%s:%s", bin, old_path);
    assert_int_equal(setenv("PATH", new_path, 1), 0);
    FILE *notes = fopen("/dev/null", "w");
    struct dfit_report_outcome out = report_into("failing", notes);
    fclose(notes);
    assert_int_equal(setenv("PATH", old_path, 1), 0);
    free(old_path);

    assert_int_equal(out.plots.status, DFIT_PLOTS_FAILED);
    assert_non_null(strstr(out.plots.message, "gnuplot failed (exit status 3"));
    assert_non_null(strstr(out.plots.message, "gnuplot render.gp"));
    /* started in the plot directory with the one argument render.gp */
    snprintf(path, sizeof path, "%s/failing/started.txt", tmpdir);
    char *started = slurp(path);
    assert_non_null(started);
    char want[700];
    snprintf(want, sizeof want, "%s/failing/plots\n1\nrender.gp\n", tmpdir);
    assert_string_equal(started, want);
    free(started);
    snprintf(path, sizeof path, "%s/failing/plots/render.log", tmpdir);
    char *log = slurp(path);
    assert_non_null(strstr(log, "gnuplot broke"));
    free(log);
    snprintf(path, sizeof path, "%s/failing/report.html", tmpdir);
    char *html = slurp(path);
    assert_non_null(strstr(html, "The plots were not rendered: gnuplot failed"));
    assert_null(strstr(html, "<svg"));
    free(html);
}

/* ---- main ---------------------------------------------------------------------------------------- */

static bool gnuplot_on_path(void)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    for (const char *p = path ? path : ""; p && *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/gnuplot", (int)len, p);
        if (access(buf, X_OK) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

int main(void)
{
    have_gnuplot = gnuplot_on_path();
    const struct CMUnitTest always[] = {
        cmocka_unit_test(test_templates_match_sources),
        cmocka_unit_test(test_report_without_gnuplot),
        cmocka_unit_test(test_report_gnuplot_fails),
    };
    const struct CMUnitTest with_gnuplot[] = {
        cmocka_unit_test(test_templates_match_sources),
        cmocka_unit_test(test_report_with_gnuplot),
        cmocka_unit_test(test_plot_files_hold_no_user_text_in_scripts),
        cmocka_unit_test(test_report_without_gnuplot),
        cmocka_unit_test(test_report_gnuplot_fails),
    };
    if (!have_gnuplot) {
        fprintf(stderr, "# gnuplot is not on PATH: the rendering tests are left out\n");
        return cmocka_run_group_tests(always, report_fixture_setup, report_fixture_teardown);
    }
    return cmocka_run_group_tests(with_gnuplot, report_fixture_setup, report_fixture_teardown);
}
