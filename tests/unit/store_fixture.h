/* store_fixture.h — what the results-database tests share (test_store,
 * test_store_cells, test_store_export; defined in store_fixture.c): a
 * temporary directory per test program, stores opened in it, raw SQL on a
 * store's connection, a run with a variant, target and workload
 * registered, and a measured cell with known samples and counters.
 * Every helper fails the running test (cmocka) when its setup step fails.
 * Non-goals: checks of the store itself (each test makes its own).
 */
#ifndef DFIT_TESTS_STORE_FIXTURE_H
#define DFIT_TESTS_STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "run/result.h"
#include "store/store.h"

/* Group setup and teardown: a new directory /tmp/dfit_test_store_XXXXXX,
 * removed with everything in it. */
int store_fixture_setup(void **state);
int store_fixture_teardown(void **state);

/* buf = "<the temporary directory>/<name>". */
void path_in(char *buf, size_t cap, const char *name);
/* Opens (creating) <the temporary directory>/<name> read-write. */
struct dfit_store *open_ok(const char *name);
/* The first column of the first row of raw SQL on the store's connection:
 * an integer, or text copied into out ("(null)" for NULL). */
int64_t sql_int(struct dfit_store *s, const char *sql);
void sql_text(struct dfit_store *s, const char *sql, char *out, size_t cap);

/* Two scenario (and file) SHA-256s, 64 hex digits each. */
extern const char SHA_A[], SHA_B[];

/* Creates a run of (scenario, sha) labelled "nightly", with a machine
 * state (hostname bench-1, 8 CPUs, 4 cores, one load average unknown, the
 * available memory unknown); returns its id. */
int64_t new_run(struct dfit_store *s, const char *scenario, const char *sha);
/* Registers in run: variant v (m.gguf, SHA_A, 1234 bytes, 4.5 bits per
 * weight, no cost), target t (cpu, 4 threads, p95 TTFT 200 ms, minimum
 * quality 0.9, other SLOs unset) and workload w (offline, 64 + 16 tokens,
 * batch 4). */
void add_names(struct dfit_store *s, int64_t run, const char *v, const char *t, const char *w);

/* A measured ok cell: n_req requests, request i with i % 4 gaps (so some
 * have none), three counters (one unavailable, with its reason), quality
 * with task accuracy, INVALID with reasons; seed shifts the load and TTFT
 * times. Free with dfit_cell_result_free_samples. */
void make_result(struct dfit_cell_result *r, uint32_t n_req, uint64_t seed);
/* a and b are the same double bit for bit (a REAL stored and read back is
 * exact: tolerance 0), or both NAN (NULL). */
void assert_same_double(double a, double b);
/* dfit_store_write_cell. */
int write_cell(struct dfit_store *s, int64_t run, const char *v, const char *t, const char *w,
               const struct dfit_cell_result *r, struct dfit_err *err);

#endif
