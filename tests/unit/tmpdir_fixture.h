/* tmpdir_fixture.h — one scratch directory per test program, for tests
 * that write model files: tmpdir_make("tag") creates
 * /tmp/dfit-tag-XXXXXX (its path in g_dir), tmp(name) names a file in it
 * (8 rotating buffers, so one expression may hold several names), and
 * tmpdir_remove() deletes the files in it and the directory itself. */
#ifndef DFIT_TESTS_TMPDIR_FIXTURE_H
#define DFIT_TESTS_TMPDIR_FIXTURE_H

extern char g_dir[64];

int tmpdir_make(const char *tag); /* 0, or -1 when the directory cannot be made */
const char *tmp(const char *name);
void tmpdir_remove(void);

#endif
