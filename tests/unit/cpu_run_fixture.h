/* cpu_run_fixture.h — one prefill-then-decode run of a model file on the
 * CPU backend, for tests that compare kernel options bit for bit or
 * within a tolerance (test_sparse, test_resident). Fails the running
 * cmocka test on any error. */
#ifndef DFIT_TESTS_CPU_RUN_FIXTURE_H
#define DFIT_TESTS_CPU_RUN_FIXTURE_H

#include "backend.h"

/* Loads path with `kernels` (2 threads, n_ctx 32, one sequence), runs an
 * n_prompt-token prefill (logits of every token) and n_decode one-token
 * decode steps, with fixed tokens. Writes the logits
 * [n_prompt + n_decode][n_vocab] to *out (allocated when *out is NULL),
 * the memory report to *mem when not NULL; returns the load report. */
struct dfit_load_report cpu_run_fixture(const char *path, const char *kernels, int n_prompt,
                                        int n_decode, float **out, struct dfit_memory *mem);

#endif
