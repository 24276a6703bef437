/* test_runner — the runner's promises that need a real process to break:
 * `dfit run` (the real binary, DFIT_BIN) is SIGKILLed in the middle of a
 * sweep, after at least one cell is stored; `dfit run --resume` then
 * completes the same run with every cell exactly once and ok, the cells
 * stored before the kill untouched (same ids and timestamps), and SQLite's
 * integrity check passing. Also the exit statuses and the file-name-safe
 * scenario names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run/runner.h"

static char g_dir[256];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/dfit_test_runner_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- pure helpers -------------------------------------------------------------- */

static void test_safe_name(void **state)
{
    (void)state;
    char b[80];
    assert_string_equal(dfit_runner_safe_name("quickstart", b, sizeof b), "quickstart");
    assert_string_equal(dfit_runner_safe_name("edge-110m_v2.1", b, sizeof b), "edge-110m_v2.1");
    assert_string_equal(dfit_runner_safe_name("a/../b c\n\"`$(x)`", b, sizeof b), "a_.._b_c_____x__");
    assert_string_equal(dfit_runner_safe_name("..", b, sizeof b), "_.");
    assert_string_equal(dfit_runner_safe_name("", b, sizeof b), "scenario");
    assert_string_equal(dfit_runner_safe_name(NULL, b, sizeof b), "scenario");
    char longname[200];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(strlen(dfit_runner_safe_name(longname, b, sizeof b)), 64);
    char small[4];
    assert_string_equal(dfit_runner_safe_name("abcdef", small, sizeof small), "abc");
}

static void test_exit_status(void **state)
{
    (void)state;
    struct dfit_runner_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(dfit_runner_exit_status(0, &r), 0);
    r.n_skipped = 3;
    assert_int_equal(dfit_runner_exit_status(0, &r), 0);  /* skipped cells are not failures */
    r.n_failed = 1;
    assert_int_equal(dfit_runner_exit_status(0, &r), 1);
    r.interrupted_by = SIGINT;
    assert_int_equal(dfit_runner_exit_status(0, &r), 130);
    r.interrupted_by = SIGTERM;
    assert_int_equal(dfit_runner_exit_status(0, &r), 143);
    /* interrupted before the sweep (while building variants): still 128 + signal */
    assert_int_equal(dfit_runner_exit_status(DFIT_EINVAL, &r), 143);
    r.interrupted_by = 0;
    r.usage_error = true;
    assert_int_equal(dfit_runner_exit_status(DFIT_EINVAL, &r), 2);
    r.usage_error = false;
    assert_int_equal(dfit_runner_exit_status(DFIT_EIO, &r), 1);
}

/* ---- SIGKILL in the middle, then --resume ----------------------------------------- */

/* Starts DFIT_BIN with args in g_dir, output to g_dir/NAME.log. */
static pid_t spawn(const char *name, char *const args[])
{
    char log[400];
    snprintf(log, sizeof log, "%s/%s.log", g_dir, name);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || chdir(g_dir) != 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(args[0], args);
        _exit(127);
    }
    return pid;
}

static int wait_status(pid_t pid)
{
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void show_log(const char *name)
{
    char path[400], line[512];
    snprintf(path, sizeof path, "%s/%s.log", g_dir, name);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        fprintf(stderr, "# %s: %s", name, line);
    if (f)
        fclose(f);
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* One integer from sql; -1 when the query fails (a table not made yet). */
static int64_t sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

#define MAX_CELLS 16
struct cell_row {
    int64_t id;
    char key[160];        /* variant/target/workload */
    char written_at[40];
    char status[16];
};

static int load_rows(sqlite3 *db, struct cell_row *rows)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT id, variant || '/' || target || '/' || workload, "
                                        "written_at, status FROM cells WHERE run_id = 1 ORDER BY id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW && n < MAX_CELLS) {
        rows[n].id = sqlite3_column_int64(st, 0);
        snprintf(rows[n].key, sizeof rows[n].key, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(rows[n].written_at, sizeof rows[n].written_at, "%s",
                 (const char *)sqlite3_column_text(st, 2));
        snprintf(rows[n].status, sizeof rows[n].status, "%s", (const char *)sqlite3_column_text(st, 3));
        n++;
    }
    sqlite3_finalize(st);
    return n;
}

static void test_sigkill_then_resume(void **state)
{
    (void)state;
    const char *bin = getenv("DFIT_BIN"), *src = getenv("DFIT_SOURCE_ROOT");
    assert_non_null(bin);
    assert_non_null(src);
    char scen[512], db[400];
    snprintf(scen, sizeof scen, "%s/tests/integration/scenarios/slow.ini", src);
    snprintf(db, sizeof db, "%s/kill.db", g_dir);

    char *run_args[] = {(char *)bin, "run", scen, "--db", "kill.db", "--progress", "lines", NULL};
    pid_t pid = spawn("first", run_args);
    /* wait until at least one cell is stored, then SIGKILL (no chance to clean up) */
    int64_t stored = -1;
    for (int i = 0; i < 400 && stored < 1; i++) {
        usleep(25000);
        if (access(db, F_OK) == 0) {
            sqlite3 *d = open_db(db);
            stored = sql_int(d, "SELECT count(*) FROM cells WHERE run_id = 1");
            sqlite3_close(d);
        }
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    int st = wait_status(pid);
    if (stored < 1)
        show_log("first");
    assert_true(stored >= 1);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    usleep(100000); /* its worker dies with it (PR_SET_PDEATHSIG) */

    struct cell_row before[MAX_CELLS], after[MAX_CELLS];
    sqlite3 *d = open_db(db);
    int n_before = load_rows(d, before);
    assert_true(n_before >= 1 && n_before < 6);
    char status[32] = "";
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(d, "SELECT status FROM runs WHERE id = 1", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(d);
    assert_string_equal(status, "running"); /* killed: nobody marked it */

    char *resume_args[] = {(char *)bin, "run", scen, "--db", "kill.db", "--resume", "--progress",
                           "lines", NULL};
    st = wait_status(spawn("resume", resume_args));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        show_log("resume");
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    usleep(200000); /* a stray worker of the killed run would write by now */

    d = open_db(db);
    int n_after = load_rows(d, after);
    assert_int_equal(n_after, 6);
    for (int i = 0; i < n_after; i++) {
        assert_string_equal(after[i].status, "ok");
        for (int j = 0; j < i; j++)
            assert_string_not_equal(after[i].key, after[j].key); /* each cell once */
    }
    /* the cells stored before the kill were not run again */
    for (int i = 0; i < n_before; i++) {
        bool found = false;
        for (int j = 0; j < n_after; j++)
            if (after[j].id == before[i].id) {
                found = true;
                assert_string_equal(after[j].key, before[i].key);
                assert_string_equal(after[j].written_at, before[i].written_at);
            }
        assert_true(found);
    }
    assert_int_equal(sql_int(d, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(sql_int(d, "SELECT n_resumes FROM runs WHERE id = 1"), 1);
    assert_int_equal(sql_int(d, "SELECT status = 'done' FROM runs WHERE id = 1"), 1);
    sqlite3_stmt *ic = NULL;
    assert_int_equal(sqlite3_prepare_v2(d, "PRAGMA integrity_check", -1, &ic, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(ic), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(ic, 0), "ok");
    sqlite3_finalize(ic);
    sqlite3_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safe_name),
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_sigkill_then_resume),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
