/* test_cpu_features — run-time SIMD feature detection
 * (backends/cpu/cpu_features.c).
 *
 * Covers: detection runs and is cached; the flags obey the architecture's
 * implications; on Linux/x86 they agree with the kernel's /proc/cpuinfo;
 * the level string follows from the flags; DFIT_CPU_FEATURES=scalar clears
 * every SIMD flag and =avx2 clears the AVX-512 ones; the feature string is
 * well-formed (known names, single spaces, "none", truncation to whole
 * names). Non-goal: checking a particular CPU model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_features.h"

/* One entry per flag: its name in dfit's feature string, its name in
 * Linux's /proc/cpuinfo, and whether old kernels may not list it. */
struct flag {
    const char *name;
    const char *linux_name;
    bool recent;
    size_t offset;
};

#define FLAG(field, lname, recent) {#field, lname, recent, offsetof(struct dfit_cpu_features, field)}
static const struct flag flags[] = {
    FLAG(sse42, "sse4_2", false),       FLAG(avx, "avx", false),
    FLAG(avx2, "avx2", false),          FLAG(fma, "fma", false),
    FLAG(f16c, "f16c", false),          FLAG(avx512f, "avx512f", false),
    FLAG(avx512bw, "avx512bw", false),  FLAG(avx512vl, "avx512vl", false),
    FLAG(avx512dq, "avx512dq", false),  FLAG(avx512_vnni, "avx512_vnni", true),
    FLAG(avx512_bf16, "avx512_bf16", true), FLAG(avx_vnni, "avx_vnni", true),
};
#define N_FLAGS (sizeof flags / sizeof flags[0])

/* the names dfit's feature string uses, in the same order */
static const char *const str_names[N_FLAGS] = {
    "sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq",
    "avx512_vnni", "avx512_bf16", "avx_vnni",
};

static bool get(const struct dfit_cpu_features *f, size_t i)
{
    return *(const bool *)((const char *)f + flags[i].offset);
}

static void set(struct dfit_cpu_features *f, size_t i, bool v)
{
    *(bool *)((char *)f + flags[i].offset) = v;
}

static size_t n_on(const struct dfit_cpu_features *f)
{
    size_t n = 0;
    for (size_t i = 0; i < N_FLAGS; i++)
        n += get(f, i);
    return n;
}

static void detect_with(const char *cap, struct dfit_cpu_features *out)
{
    if (cap)
        assert_int_equal(setenv("DFIT_CPU_FEATURES", cap, 1), 0);
    else
        assert_int_equal(unsetenv("DFIT_CPU_FEATURES"), 0);
    dfit_cpu_features_detect(out);
    unsetenv("DFIT_CPU_FEATURES");
}

/* What the level must be, written from the definitions in the header. */
static const char *expected_level(const struct dfit_cpu_features *f)
{
    bool avx512 = f->avx512f && f->avx512bw && f->avx512vl;
    if (avx512 && f->avx512_vnni && f->avx512_bf16)
        return "avx512-vnni-bf16";
    if (avx512)
        return "avx512";
    if (f->avx2 && f->fma && f->f16c)
        return "avx2";
    return "scalar";
}

/* The feature string lists exactly the flags that are on, as whole known
 * names separated by single spaces, or "none". */
static void check_str(const struct dfit_cpu_features *f)
{
    char buf[512];
    char *ret = dfit_cpu_features_str(f, buf, sizeof buf);
    assert_ptr_equal(ret, buf);
    if (n_on(f) == 0) {
        assert_string_equal(buf, "none");
        return;
    }
    size_t len = strlen(buf);
    assert_true(len > 0);
    assert_true(buf[0] != ' ' && buf[len - 1] != ' ');
    assert_null(strstr(buf, "  "));
    bool seen[N_FLAGS] = {false};
    size_t n_tok = 0;
    char copy[512];
    memcpy(copy, buf, len + 1);
    char *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        size_t i = 0;
        while (i < N_FLAGS && strcmp(tok, str_names[i]) != 0)
            i++;
        if (i == N_FLAGS)
            fail_msg("unknown feature name '%s' in '%s'", tok, buf);
        assert_false(seen[i]);
        assert_true(get(f, i));
        seen[i] = true;
        n_tok++;
    }
    assert_int_equal(n_tok, n_on(f));
}

static void test_detect_runs(void **state)
{
    (void)state;
    unsetenv("DFIT_CPU_FEATURES");
    const struct dfit_cpu_features *c = dfit_cpu_features();
    assert_non_null(c);
    assert_ptr_equal(dfit_cpu_features(), c); /* cached */
    assert_true(c->model[0] != '\0');
    assert_non_null(memchr(c->model, '\0', sizeof c->model));
    assert_true(c->model[0] != ' ' && c->model[strlen(c->model) - 1] != ' ');
    /* a fresh detection agrees with the cached one */
    struct dfit_cpu_features f;
    memset(&f, 0x5a, sizeof f);
    detect_with(NULL, &f);
    for (size_t i = 0; i < N_FLAGS; i++)
        assert_int_equal(get(&f, i), get(c, i));
    assert_string_equal(f.model, c->model);
    char buf[256];
    print_message("# cpu: %s; level %s; features %s\n", f.model, dfit_cpu_features_level(&f),
                  dfit_cpu_features_str(&f, buf, sizeof buf));
}

static void test_flags_consistent(void **state)
{
    (void)state;
    struct dfit_cpu_features f;
    detect_with(NULL, &f);
    /* a feature counts only with what it builds on */
    if (f.avx2 || f.fma || f.f16c)
        assert_true(f.avx);
    if (f.avx_vnni)
        assert_true(f.avx2);
    if (f.avx512bw || f.avx512vl || f.avx512dq || f.avx512_vnni || f.avx512_bf16)
        assert_true(f.avx512f);
    if (f.avx512f)
        assert_true(f.avx);
#if !defined(__x86_64__) && !defined(__i386__)
    assert_int_equal(n_on(&f), 0);
#endif
    assert_string_equal(dfit_cpu_features_level(&f), expected_level(&f));
    check_str(&f);
}

/* On Linux/x86, the kernel's view must agree: it lists a flag only when
 * the CPU has it and the OS enabled its registers. Recent flags may be
 * missing from an old kernel's list, so for those only "listed ->
 * detected" is checked. */
static void test_matches_proc_cpuinfo(void **state)
{
    (void)state;
#if defined(__x86_64__) || defined(__i386__)
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp) {
        print_message("# no /proc/cpuinfo: cross-check not possible here\n");
        return;
    }
    static char line[16384];
    bool found = false;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "flags", 5) == 0) {
            found = true;
            break;
        }
    fclose(fp);
    if (!found) {
        print_message("# /proc/cpuinfo has no flags line: cross-check not possible here\n");
        return;
    }
    char *colon = strchr(line, ':');
    assert_non_null(colon);
    struct dfit_cpu_features f;
    detect_with(NULL, &f);
    for (size_t i = 0; i < N_FLAGS; i++) {
        bool listed = false;
        char copy[sizeof line];
        snprintf(copy, sizeof copy, "%s", colon + 1);
        char *save = NULL;
        for (char *t = strtok_r(copy, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save))
            if (strcmp(t, flags[i].linux_name) == 0)
                listed = true;
        if (listed && !get(&f, i))
            fail_msg("/proc/cpuinfo lists %s but it was not detected", flags[i].linux_name);
        if (!flags[i].recent && !listed && get(&f, i))
            fail_msg("%s detected but /proc/cpuinfo does not list it", flags[i].linux_name);
    }
#else
    print_message("# not x86: nothing to cross-check\n");
#endif
}

static void test_level_from_flags(void **state)
{
    (void)state;
    /* the level is a function of the flags: check it on every combination
     * of the flags that decide it */
    static const size_t decisive[] = {2, 3, 4, 5, 6, 7, 9, 10}; /* avx2 fma f16c 512f bw vl vnni bf16 */
    const size_t nd = sizeof decisive / sizeof decisive[0];
    for (unsigned m = 0; m < (1u << nd); m++) {
        struct dfit_cpu_features f;
        memset(&f, 0, sizeof f);
        for (size_t k = 0; k < nd; k++)
            set(&f, decisive[k], (m >> k) & 1);
        assert_string_equal(dfit_cpu_features_level(&f), expected_level(&f));
    }
    struct dfit_cpu_features f;
    memset(&f, 0, sizeof f);
    assert_string_equal(dfit_cpu_features_level(&f), "scalar");
    f.sse42 = f.avx = f.avx2 = true;
    assert_string_equal(dfit_cpu_features_level(&f), "scalar"); /* avx2 without fma, f16c */
    f.fma = f.f16c = true;
    assert_string_equal(dfit_cpu_features_level(&f), "avx2");
    f.avx512f = f.avx512bw = true;
    assert_string_equal(dfit_cpu_features_level(&f), "avx2"); /* no avx512vl */
    f.avx512vl = true;
    assert_string_equal(dfit_cpu_features_level(&f), "avx512");
    f.avx512_vnni = true;
    assert_string_equal(dfit_cpu_features_level(&f), "avx512");
    f.avx512_bf16 = true;
    assert_string_equal(dfit_cpu_features_level(&f), "avx512-vnni-bf16");
}

static void test_cap_scalar(void **state)
{
    (void)state;
    struct dfit_cpu_features real, f;
    detect_with(NULL, &real);
    memset(&f, 0x5a, sizeof f);
    detect_with("scalar", &f);
    for (size_t i = 0; i < N_FLAGS; i++)
        if (get(&f, i))
            fail_msg("DFIT_CPU_FEATURES=scalar left %s on", flags[i].name);
    assert_string_equal(f.model, real.model); /* the model name stays */
    assert_string_equal(dfit_cpu_features_level(&f), "scalar");
    char buf[64];
    assert_string_equal(dfit_cpu_features_str(&f, buf, sizeof buf), "none");
}

static void test_cap_avx2(void **state)
{
    (void)state;
    struct dfit_cpu_features real, f;
    detect_with(NULL, &real);
    detect_with("avx2", &f);
    assert_false(f.avx512f || f.avx512bw || f.avx512vl || f.avx512dq || f.avx512_vnni ||
                 f.avx512_bf16);
    /* everything below AVX-512 is kept as detected */
    assert_int_equal(f.sse42, real.sse42);
    assert_int_equal(f.avx, real.avx);
    assert_int_equal(f.avx2, real.avx2);
    assert_int_equal(f.fma, real.fma);
    assert_int_equal(f.f16c, real.f16c);
    assert_int_equal(f.avx_vnni, real.avx_vnni);
    assert_string_equal(f.model, real.model);
    const char *lvl = dfit_cpu_features_level(&f);
    assert_string_equal(lvl, real.avx2 && real.fma && real.f16c ? "avx2" : "scalar");
    check_str(&f);
    /* the cap never raises: a cap on a machine without AVX2 keeps it off */
    assert_true(!f.avx2 || real.avx2);
}

static void test_cap_other_values(void **state)
{
    (void)state;
    struct dfit_cpu_features real, f;
    detect_with(NULL, &real);
    /* empty: no cap */
    detect_with("", &f);
    for (size_t i = 0; i < N_FLAGS; i++)
        assert_int_equal(get(&f, i), get(&real, i));
    /* the cap names are case-insensitive */
    detect_with("SCALAR", &f);
    assert_int_equal(n_on(&f), 0);
    detect_with("AVX2", &f);
    assert_false(f.avx512f);
    assert_int_equal(f.avx2, real.avx2);
}

static void test_str_format(void **state)
{
    (void)state;
    struct dfit_cpu_features f;
    memset(&f, 0, sizeof f);
    char buf[256];
    assert_string_equal(dfit_cpu_features_str(&f, buf, sizeof buf), "none");
    /* all on: every name once, in table order */
    for (size_t i = 0; i < N_FLAGS; i++)
        set(&f, i, true);
    dfit_cpu_features_str(&f, buf, sizeof buf);
    assert_string_equal(buf, "sse4.2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512dq "
                             "avx512_vnni avx512_bf16 avx_vnni");
    check_str(&f);
    /* each single flag alone */
    for (size_t i = 0; i < N_FLAGS; i++) {
        memset(&f, 0, sizeof f);
        set(&f, i, true);
        assert_string_equal(dfit_cpu_features_str(&f, buf, sizeof buf), str_names[i]);
    }
    /* a small buffer: NUL-terminated, whole names only, a prefix of the
     * full string; never "none" when flags are on */
    for (size_t i = 0; i < N_FLAGS; i++)
        set(&f, i, true);
    char full[256];
    dfit_cpu_features_str(&f, full, sizeof full);
    for (size_t cap = 1; cap <= strlen(full) + 1; cap++) {
        char small[256];
        memset(small, '#', sizeof small);
        dfit_cpu_features_str(&f, small, cap);
        size_t len = strnlen(small, cap);
        assert_true(len < cap);                         /* terminated inside cap */
        assert_true(small[cap] == '#');                 /* nothing written past it */
        assert_memory_equal(small, full, len);          /* a prefix */
        assert_true(len == 0 || full[len] == ' ' || full[len] == '\0'); /* ends at a name */
        assert_true(len == 0 || small[len - 1] != ' ');
    }
    /* cap 0 writes nothing */
    char canary = '#';
    dfit_cpu_features_str(&f, &canary, 0);
    assert_int_equal(canary, '#');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_runs),
        cmocka_unit_test(test_flags_consistent),
        cmocka_unit_test(test_matches_proc_cpuinfo),
        cmocka_unit_test(test_level_from_flags),
        cmocka_unit_test(test_cap_scalar),
        cmocka_unit_test(test_cap_avx2),
        cmocka_unit_test(test_cap_other_values),
        cmocka_unit_test(test_str_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
