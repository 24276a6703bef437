/* report_fixture.h — what the report's tests share (test_report,
 * test_report_gnuplot; defined in report_fixture.c): a temporary directory
 * holding results.db, a finished run built through the store API whose
 * variant and workload names attack HTML, Markdown, gnuplot and the shell
 * (each tries to create the canary file), and writers of cells with chosen
 * latencies and quality for the tests' own databases.
 * Every helper fails the running test (cmocka) when its setup step fails.
 * Non-goals: checks of the report itself (each test makes its own).
 */
#ifndef DFIT_TESTS_REPORT_FIXTURE_H
#define DFIT_TESTS_REPORT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run/scenario.h"
#include "store/store.h"

/* The temporary directory; the file no test may ever see created (every
 * hostile name tries to); the hostile variant names (a script tag; quotes,
 * a pipe, backquotes and Markdown; gnuplot's system() and a newline) and
 * the hostile workload name (backquotes and $()). */
extern char tmpdir[256];
extern char canary[300];
extern char name_script[64], name_quotes[600], name_system[600], name_batch[900];

/* Group setup: a new directory /tmp/dfit_test_report_XXXXXX and in it
 * results.db: run 1 with targets edge (cpu; SLOs p95 TTFT 200 ms, p95 TPOT
 * 30 ms, quality 0.9, memory 4096 MiB), gpu (every cell skipped) and idle
 * (no cell), the three hostile variants and the workloads chat and
 * name_batch; on edge one failed cell and one INVALID cell. Teardown
 * removes the directory, or keeps it (and says where) when DFIT_TEST_KEEP
 * is set. */
int report_fixture_setup(void **state);
int report_fixture_teardown(void **state);

/* buf = "<the temporary directory>/<rel>". */
void path_in(char *buf, size_t cap, const char *rel);
/* A file's whole text, malloc'd and NUL-terminated; NULL when it cannot
 * be opened. */
char *slurp(const char *path);
bool exists(const char *path);

/* A cell's measured figures (write_ok). */
struct cell_spec {
    double ttft_ms, tpot_ms, top1, tokens_per_s;
    uint64_t rss_mib;
    bool valid;
    double prefill_tps, decode_tps;   /* 0: 900 and 95 */
};

/* What a cell's quality holds beyond top-1 (write_ok_q). */
struct quality_spec {
    double accuracy, accuracy_se;     /* task accuracy pooled over the sets */
    bool no_fidelity;                 /* fidelity unavailable */
};

/* Writes an ok cell with 12 requests of 8 output tokens each, latencies
 * and figures from cs; with qs, task accuracy too (and fidelity missing if
 * qs says so). write_ok is write_ok_q without qs. */
void write_ok_q(struct dfit_store *s, int64_t run, const char *v, const char *t, const char *w,
                const struct cell_spec *cs, const struct quality_spec *qs);
void write_ok(struct dfit_store *s, int64_t run, const char *v, const char *t, const char *w,
              const struct cell_spec *cs);
/* A target on backend: 2 threads, a 600 s time limit, no price, no memory
 * limit, no SLO. */
struct dfit_target_spec target(const char *name, const char *backend);

#endif
