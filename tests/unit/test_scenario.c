/* test_scenario — scenario files, plans and the variant cache
 * (harness/run/scenario.c, plan.c, variants.c).
 *
 * Covers: every kind of bad scenario input (each written to a real file),
 * checking the error code and that the message names the file, the line
 * and the key; names with quotes, backquotes, shell and HTML syntax and
 * UTF-8 kept byte for byte, and the names refused (control characters,
 * '/', invalid UTF-8, over 64 bytes); CSV eval sets (tasks, task_limit);
 * valid files with every key and with defaults, comments,
 * CRLF and a BOM; relative paths; both shipped scenario files; the plan's
 * cells, order, skipped targets with their reasons, build order and
 * filter; materialising a tiny synth base and a Q8_0 recipe into a cache,
 * reusing it, rebuilding a corrupted file, lineage, $DFIT_CACHE_DIR, and a
 * user-supplied file variant; AWQ and pruning recipes (method, prune,
 * calib) built through the compress pipeline, cached by recipe and
 * calibration file.
 * Non-goal: running cells (the runner's tests).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "model/gguf.h"
#include "run/plan.h"
#include "run/scenario.h"
#include "run/variants.h"
#include "util/sha256.h"

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfit-scenario-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes text to <tmpdir>/<name>; returns the path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return path;
}

/* A valid scenario of 10 lines; cases append to it from line 11. */
#define MIN_HEAD "[scenario]\nbase = synth:tiny\n"
#define MIN_VARIANT "[variant a]\ncompress = f32\n"
#define MIN_TARGET "[target t]\nbackend = cpu\n"
#define MIN_WORKLOAD "[workload w]\nmode = single-stream\nprompt_tokens = 4\noutput_tokens = 2\n"
#define MIN MIN_HEAD MIN_VARIANT MIN_TARGET MIN_WORKLOAD

struct bad_case {
    const char *what;
    const char *text;
    int code;
    int line;
    const char *needle;   /* must appear in the message (the key, mostly) */
    const char *needle2;  /* a second one, or NULL */
};

static const struct bad_case bad_cases[] = {
    /* sections */
    {"unknown section kind", MIN "[varient b]\ncompress = f16\n", DFIT_EINVAL, 11, "varient",
     "did you mean 'variant'"},
    {"section without a name", MIN "[target]\nbackend = cpu\n", DFIT_EINVAL, 11, "[target NAME]", NULL},
    {"[scenario] with a name", "[scenario main]\nbase = synth:tiny\n", DFIT_EINVAL, 1, "takes no name", NULL},
    {"duplicate section", MIN "[variant a]\ncompress = f16\n", DFIT_EINVAL, 11, "duplicate section [variant a]",
     "first at line 3"},
    {"duplicate [scenario]", MIN "[scenario]\n", DFIT_EINVAL, 11, "duplicate section [scenario]", NULL},
    {"'/' in a name", MIN "[target a/b]\nbackend = cpu\n", DFIT_EINVAL, 11, "a/b", "bad name"},
    {"a closing HTML tag in a name", MIN "[variant <script>alert(1)</script>]\ncompress = f16\n",
     DFIT_EINVAL, 11, "separates the parts of a cell id", NULL},
    {"a tab in a name", MIN "[target a\tb]\nbackend = cpu\n", DFIT_EINVAL, 11, "[target a?b]",
     "control character"},
    {"an escape in a name", MIN "[variant a\x1b[31mred]\ncompress = f16\n", DFIT_EINVAL, 11,
     "[variant a?[31mred]", "control character"},
    {"DEL in a name", MIN "[workload a\x7f]\nmode = offline\n", DFIT_EINVAL, 11, "bad name",
     "control character"},
    {"a C1 control (NEL) in a name", MIN "[target a\xc2\x85" "b]\nbackend = cpu\n", DFIT_EINVAL, 11,
     "bad name", "control character"},
    {"a right-to-left override in a name", MIN "[target a\xe2\x80\xae" "b]\nbackend = cpu\n",
     DFIT_EINVAL, 11, "bad name", "bidirectional"},
    {"a line separator in a name", MIN "[target a\xe2\x80\xa8" "b]\nbackend = cpu\n", DFIT_EINVAL, 11,
     "bad name", "line separator"},
    {"invalid UTF-8 in a name", MIN "[variant caf\xe9]\ncompress = f16\n", DFIT_EINVAL, 11,
     "[variant caf?]", "not valid UTF-8"},
    {"an overlong UTF-8 '/' in a name", MIN "[variant a\xc0\xaf" "b]\ncompress = f16\n", DFIT_EINVAL, 11,
     "bad name", "not valid UTF-8"},
    {"a name of 65 bytes", MIN "[variant "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\ncompress = f16\n", DFIT_EINVAL,
     11, "bad name", "longer than 64 bytes"},
    {"a ']' in a name", MIN "[variant a]b]\ncompress = f16\n", DFIT_EINVAL, 11, "unexpected text after ']'",
     NULL},
    {"no closing bracket", MIN "[target u\nbackend = cpu\n", DFIT_EINVAL, 11, "']'", NULL},
    {"text after bracket", MIN "[target u] extra\nbackend = cpu\n", DFIT_EINVAL, 11, "extra", NULL},
    {"syntax error", MIN "just words here\n", DFIT_EINVAL, 11, "just words here", "key = value"},
    {"key outside a section", "base = synth:tiny\n" MIN, DFIT_EINVAL, 1, "'base'", "outside"},
    {"empty key name", MIN "= 3\n", DFIT_EINVAL, 11, "no key name", NULL},
    /* keys */
    {"unknown key, close to a known one", MIN "[target u]\nbackend = cpu\nthraeds = 2\n", DFIT_EINVAL, 13,
     "'thraeds'", "did you mean 'threads'"},
    {"unknown key", MIN "[target u]\nbackend = cpu\ncolour = red\n", DFIT_EINVAL, 13, "unknown key 'colour'",
     NULL},
    {"duplicate key", MIN "[target u]\nbackend = cpu\nthreads = 2\nthreads = 3\n", DFIT_EINVAL, 14,
     "duplicate key 'threads'", "first set at line 13"},
    {"empty value", MIN "[target u]\nbackend =\n", DFIT_EINVAL, 12, "'backend'", "no value"},
    /* types */
    {"integer as a word", MIN "[target u]\nbackend = cpu\nthreads = two\n", DFIT_EINVAL, 13, "'threads'",
     "'two' is not an integer"},
    {"integer with a fraction", MIN "[target u]\nbackend = cpu\nthreads = 2.5\n", DFIT_EINVAL, 13,
     "'threads'", "not an integer"},
    {"integer with trailing junk", MIN "[workload v]\nmode = offline\nprompt_tokens = 8x\noutput_tokens = 2\n",
     DFIT_EINVAL, 13, "'prompt_tokens'", "not an integer"},
    {"integer overflow", MIN "[workload v]\nmode = offline\nprompt_tokens = 99999999999999999999\n",
     DFIT_EINVAL, 13, "'prompt_tokens'", "not an integer"},
    {"number as a word", MIN "[target u]\nbackend = cpu\nprice_per_hour = cheap\n", DFIT_EINVAL, 13,
     "'price_per_hour'", "not a finite number"},
    {"nan", MIN "[target u]\nbackend = cpu\np95_tpot_ms = nan\n", DFIT_EINVAL, 13, "'p95_tpot_ms'",
     "not a finite number"},
    {"negative seed", "[scenario]\nbase = synth:tiny\nseed = -1\n", DFIT_EINVAL, 3, "'seed'", "out of range"},
    {"seed as a word", "[scenario]\nbase = synth:tiny\nseed = abc\n", DFIT_EINVAL, 3, "'seed'",
     "not an unsigned integer"},
    {"empty counter", MIN "[target u]\nbackend = cpu\ncounters = PAPI_TOT_CYC,,PAPI_L1_DCM\n", DFIT_EINVAL,
     13, "'counters'", "empty event name"},
    {"counter listed twice", MIN "[target u]\nbackend = cpu\ncounters = PAPI_TOT_CYC, PAPI_TOT_CYC\n",
     DFIT_EINVAL, 13, "'counters'", "listed twice"},
    {"counter with a space", MIN "[target u]\nbackend = cpu\ncounters = PAPI TOT\n", DFIT_EINVAL, 13,
     "'counters'", "not a PAPI event name"},
    /* impossible values */
    {"threads 0", MIN "[target u]\nbackend = cpu\nthreads = 0\n", DFIT_EINVAL, 13, "'threads'", ">= 1"},
    {"negative price", MIN "[target u]\nbackend = cpu\nprice_per_hour = -0.5\n", DFIT_EINVAL, 13,
     "'price_per_hour'", "out of range"},
    {"negative SLO", MIN "[target u]\nbackend = cpu\np95_ttft_ms = -5\n", DFIT_EINVAL, 13, "'p95_ttft_ms'",
     "out of range"},
    {"zero latency SLO", MIN "[target u]\nbackend = cpu\np95_tpot_ms = 0\n", DFIT_EINVAL, 13, "'p95_tpot_ms'",
     "> 0"},
    {"negative throughput SLO", MIN "[target u]\nbackend = cpu\nmin_tokens_per_s = -1\n", DFIT_EINVAL, 13,
     "'min_tokens_per_s'", "out of range"},
    {"min_quality above 1", MIN "[target u]\nbackend = cpu\nmin_quality = 1.5\n", DFIT_EINVAL, 13,
     "'min_quality'", "<= 1"},
    {"min_quality below 0", MIN "[target u]\nbackend = cpu\nmin_quality = -0.1\n", DFIT_EINVAL, 13,
     "'min_quality'", "out of range"},
    {"memory limit 0", MIN "[target u]\nbackend = cpu\nmemory_limit_mib = 0\n", DFIT_EINVAL, 13,
     "'memory_limit_mib'", "out of range"},
    {"time limit 0", MIN "[target u]\nbackend = cpu\ntime_limit_s = 0\n", DFIT_EINVAL, 13, "'time_limit_s'",
     "out of range"},
    {"batch 0", MIN "[workload v]\nmode = offline\nprompt_tokens = 4\noutput_tokens = 2\nbatch = 0\n",
     DFIT_EINVAL, 15, "'batch'", ">= 1"},
    {"output_tokens 0", MIN "[workload v]\nmode = offline\nprompt_tokens = 4\noutput_tokens = 0\n",
     DFIT_EINVAL, 14, "'output_tokens'", "out of range"},
    {"unknown mode", MIN "[workload v]\nmode = interactive\n", DFIT_EINVAL, 12, "'mode'",
     "unknown mode 'interactive'"},
    {"single-stream with a batch", MIN
     "[workload v]\nmode = single-stream\nprompt_tokens = 4\noutput_tokens = 2\nbatch = 4\n", DFIT_EINVAL, 15,
     "'batch'", "single-stream"},
    {"eval_tokens 0", "[scenario]\nbase = synth:tiny\neval_tokens = 0\n", DFIT_EINVAL, 3, "'eval_tokens'",
     "out of range"},
    /* variants */
    {"variant with file and compress", MIN "[variant b]\nfile = m.gguf\ncompress = q8_0\n", DFIT_EINVAL, 13,
     "'compress'", "not both"},
    {"variant with neither", MIN "[variant b]\nfrom = a\n", DFIT_EINVAL, 11, "[variant b]", "'compress'"},
    {"unknown compress type", MIN "[variant b]\ncompress = q3_k\n", DFIT_EINVAL, 12, "'compress'",
     "unknown type 'q3_k'"},
    {"from an unknown variant", MIN "[variant b]\ncompress = q8_0\nfrom = aa\n", DFIT_EINVAL, 13, "'from'",
     "no variant named 'aa'"},
    {"from on a file variant", MIN "[variant b]\nfile = m.gguf\nfrom = a\n", DFIT_EINVAL, 13, "'from'",
     "recipe"},
    {"a cycle", MIN "[variant b]\ncompress = q8_0\nfrom = c\n[variant c]\ncompress = q4_0\nfrom = b\n",
     DFIT_EINVAL, 13, "'from'", "cycle: b -> c -> b"},
    {"a variant its own parent", MIN "[variant b]\ncompress = q8_0\nfrom = b\n", DFIT_EINVAL, 13, "'from'",
     "cycle"},
    {"unknown quantization method", MIN "[variant b]\ncompress = q4_0\nmethod = gptq\n", DFIT_EINVAL, 13,
     "'method'", "unknown method 'gptq'"},
    {"awq on an unquantized type", MIN "[variant b]\ncompress = f16\nmethod = awq\n", DFIT_EINVAL, 13,
     "'method'", "q8_0 or q4_0, not f16"},
    {"awq without compress", MIN "[variant b]\nprune = 2:4\nmethod = awq\n", DFIT_EINVAL, 13, "'method'",
     "needs compress"},
    {"a bad prune spec", MIN "[variant b]\nprune = half\n", DFIT_EINVAL, 12, "'prune'", "'half'"},
    {"a prune sparsity of 1", MIN "[variant b]\nprune = unstructured:1\n", DFIT_EINVAL, 12, "'prune'",
     "[0, 1)"},
    {"calib with nothing to use it", MIN "[variant b]\ncompress = q8_0\ncalib = synth\n", DFIT_EINVAL, 13,
     "'calib'", "nothing uses"},
    {"calib file missing", MIN "[variant b]\nprune = 2:4\ncalib = nowhere.txt\n", DFIT_EINVAL, 13, "'calib'",
     "nowhere.txt"},
    {"calib synth seed not a number", MIN "[variant b]\ncompress = q4_0\nmethod = awq\ncalib = synth:x\n",
     DFIT_EINVAL, 14, "'calib'", "seed 'x'"},
    {"method on a file variant", MIN "[variant b]\nfile = m.gguf\nmethod = awq\n", DFIT_EINVAL, 13, "'method'",
     "only a recipe"},
    {"prune on a file variant", MIN "[variant b]\nfile = m.gguf\nprune = 2:4\n", DFIT_EINVAL, 13, "'prune'",
     "only a recipe"},
    {"unknown reference", "[scenario]\nbase = synth:tiny\nreference = zz\n" MIN_VARIANT MIN_TARGET MIN_WORKLOAD,
     DFIT_EINVAL, 3, "'reference'", "no variant named 'zz'"},
    /* missing pieces */
    {"no [scenario]", MIN_VARIANT MIN_TARGET MIN_WORKLOAD, DFIT_EINVAL, 1, "[scenario]", NULL},
    {"no base", "[scenario]\nseed = 3\n" MIN_VARIANT MIN_TARGET MIN_WORKLOAD, DFIT_EINVAL, 1, "'base'",
     "missing"},
    {"no variants", MIN_HEAD MIN_TARGET MIN_WORKLOAD, DFIT_EINVAL, 1, "[variant NAME]", NULL},
    {"no targets", MIN_HEAD MIN_VARIANT MIN_WORKLOAD, DFIT_EINVAL, 1, "[target NAME]", NULL},
    {"no workloads", MIN_HEAD MIN_VARIANT MIN_TARGET, DFIT_EINVAL, 1, "[workload NAME]", NULL},
    {"target without backend", MIN "[target u]\nthreads = 2\n", DFIT_EINVAL, 11, "'backend'", "missing"},
    {"workload without mode", MIN "[workload v]\nprompt_tokens = 4\noutput_tokens = 2\n", DFIT_EINVAL, 11,
     "'mode'", "missing"},
    {"workload without output_tokens", MIN "[workload v]\nmode = offline\nprompt_tokens = 4\n", DFIT_EINVAL, 11,
     "'output_tokens'", "missing"},
    /* files */
    {"variant file missing", MIN "[variant b]\nfile = nowhere.gguf\n", DFIT_EINVAL, 12, "'file'",
     "nowhere.gguf"},
    {"eval file missing", "[scenario]\nbase = synth:tiny\neval = nowhere.txt\n" MIN_VARIANT MIN_TARGET
     MIN_WORKLOAD, DFIT_EINVAL, 3, "'eval'", "nowhere.txt"},
    {"base file missing", "[scenario]\nbase = nowhere.gguf\n" MIN_VARIANT MIN_TARGET MIN_WORKLOAD, DFIT_EINVAL,
     2, "'base'", "nowhere.gguf"},
    {"unknown synth preset", "[scenario]\nbase = synth:huge\n" MIN_VARIANT MIN_TARGET MIN_WORKLOAD,
     DFIT_EINVAL, 2, "'base'", "huge"},
    {"synth seed not a number", "[scenario]\nbase = synth:tiny:x\n" MIN_VARIANT MIN_TARGET MIN_WORKLOAD,
     DFIT_EINVAL, 2, "'base'", "seed 'x'"},
    {"synth without a preset", "[scenario]\nbase = synth:\n" MIN_VARIANT MIN_TARGET MIN_WORKLOAD, DFIT_EINVAL,
     2, "'base'", "synth:PRESET"},
};

static void check_bad(const struct bad_case *c)
{
    struct dfit_scenario *s = (struct dfit_scenario *)1;
    struct dfit_err err = {0};
    const char *path = write_file("bad.ini", c->text);
    int rc = dfit_scenario_load(path, &s, &err);
    char line[32];
    snprintf(line, sizeof line, ":%d: ", c->line);
    if (rc != c->code || s != NULL || err.code != c->code || !strstr(err.msg, "bad.ini") ||
        !strstr(err.msg, line) || !strstr(err.msg, c->needle) || (c->needle2 && !strstr(err.msg, c->needle2)))
        fail_msg("case '%s': rc %d (want %d), message '%s' (want 'bad.ini', '%s', '%s'%s%s%s)", c->what, rc,
                 c->code, err.msg, line, c->needle, c->needle2 ? ", '" : "", c->needle2 ? c->needle2 : "",
                 c->needle2 ? "'" : "");
}

static void test_bad_inputs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
        check_bad(&bad_cases[i]);
}

static void test_bad_lines(void **state)
{
    (void)state;
    /* a line longer than libinih's buffer */
    char text[1024];
    char pad[400];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    snprintf(text, sizeof text, MIN "[target u]\nbackend = %s\n", pad);
    struct bad_case c = {"long line", text, DFIT_EINVAL, 12, "longer than", NULL};
    check_bad(&c);
    /* unknown key without a near neighbour gets no suggestion */
    struct dfit_scenario *s = NULL;
    struct dfit_err err = {0};
    const char *path = write_file("bad.ini", MIN "[target u]\nbackend = cpu\nzzzzzz = 1\n");
    assert_int_equal(dfit_scenario_load(path, &s, &err), DFIT_EINVAL);
    assert_null(strstr(err.msg, "did you mean"));
    /* err may be NULL: the code still says what went wrong */
    s = (struct dfit_scenario *)1;
    assert_int_equal(dfit_scenario_load(path, &s, NULL), DFIT_EINVAL);
    assert_null(s);
    /* a NUL byte */
    char nul[] = "[scenario]\nbase = synth:tiny\x00x\n";
    path = write_file("nul.ini", "");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(nul, 1, sizeof nul - 1, f);
    fclose(f);
    assert_int_equal(dfit_scenario_load(path, &s, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "nul.ini:2: "));
    assert_non_null(strstr(err.msg, "NUL"));
    /* the file itself missing, or a directory */
    char missing[256];
    snprintf(missing, sizeof missing, "%s/none.ini", tmpdir);
    assert_int_equal(dfit_scenario_load(missing, &s, &err), DFIT_EIO);
    assert_null(s);
    assert_non_null(strstr(err.msg, "none.ini"));
    assert_int_equal(dfit_scenario_load(tmpdir, &s, &err), DFIT_EIO);
    assert_null(s);
}

/* ---- valid files ------------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    struct dfit_scenario *s = NULL;
    struct dfit_err err = {0};
    const char *path = write_file("minimal.ini", MIN);
    assert_int_equal(dfit_scenario_load(path, &s, &err), 0);
    assert_non_null(s);
    assert_string_equal(s->name, "minimal");
    assert_string_equal(s->base, "synth:tiny");
    assert_string_equal(s->reference, "a");
    assert_string_equal(s->eval, "synth");
    assert_string_equal(s->dir, tmpdir);
    assert_int_equal(s->eval_tokens, 512);
    assert_int_equal(s->seed, 42);
    assert_int_equal(s->n_variants, 1);
    assert_string_equal(s->variants[0].compress, "f32");
    assert_null(s->variants[0].file);
    assert_null(s->variants[0].from);
    assert_int_equal(s->variants[0].line, 3);
    assert_int_equal(s->n_targets, 1);
    const struct dfit_target_spec *t = &s->targets[0];
    assert_string_equal(t->backend, "cpu");
    assert_int_equal(t->threads, 1);
    assert_true(isnan(t->memory_limit_mib));
    assert_true(isnan(t->price_per_hour));
    assert_true(t->time_limit_s == 600.0);
    assert_null(t->kernels);
    assert_null(t->device);
    assert_int_equal(t->n_counters, 0);
    assert_true(isnan(t->slo.p95_ttft_ms) && isnan(t->slo.p95_tpot_ms) && isnan(t->slo.p95_e2e_ms));
    assert_true(isnan(t->slo.min_tokens_per_s) && isnan(t->slo.max_memory_mib));
    assert_true(isnan(t->slo.max_usd_per_mtok) && isnan(t->slo.min_quality));
    assert_int_equal(t->line, 5);
    const struct dfit_workload_spec *w = &s->workloads[0];
    assert_int_equal(w->mode, DFIT_MODE_SINGLE_STREAM);
    assert_int_equal(w->prompt_tokens, 4);
    assert_int_equal(w->output_tokens, 2);
    assert_int_equal(w->batch, 1);
    assert_int_equal(w->min_duration_ms, 1000);
    assert_int_equal(w->min_requests, 8);
    assert_int_equal(w->warmup_requests, 1);
    assert_int_equal(w->line, 7);
    char preset[DFIT_SYNTH_PRESET_MAX];
    uint64_t seed = 0;
    assert_true(dfit_scenario_synth_base(s, preset, &seed));
    assert_string_equal(preset, "tiny");
    assert_int_equal(seed, 42);
    assert_ptr_equal(dfit_scenario_variant(s, "a"), &s->variants[0]);
    assert_ptr_equal(dfit_scenario_target(s, "t"), &s->targets[0]);
    assert_ptr_equal(dfit_scenario_workload(s, "w"), &s->workloads[0]);
    assert_null(dfit_scenario_variant(s, "b"));
    dfit_scenario_free(s);
    dfit_scenario_free(NULL);
}

static void test_every_key(void **state)
{
    (void)state;
    write_file("m.gguf", "not parsed here");
    write_file("eval.txt", "Some words to score.\n");
    const char *text =
        "\xEF\xBB\xBF; a comment\r\n"
        "# another comment\r\n"
        "[scenario]\r\n"
        "  name = every key   ; trailing comment\r\n"
        "base = synth:tiny:9\r\n"
        "reference = q8\r\n"
        "eval = eval.txt\r\n"
        "eval_tokens = 64\r\n"
        "seed = 18446744073709551615\r\n"
        "\r\n"
        "[variant mine]\r\n"
        "file = m.gguf\r\n"
        "[variant q8]\r\n"
        "compress = Q8_0\r\n"
        "from = mine\r\n"
        "[target edge-1]\r\n"
        "backend = cuda\r\n"
        "threads = 3\r\n"
        "memory_limit_mib = 256.5\r\n"
        "price_per_hour = 0\r\n"
        "time_limit_s = 30\r\n"
        "kernels = ref\r\n"
        "device = 1\r\n"
        "counters = PAPI_TOT_CYC , perf::CYCLES:u=0\r\n"
        "p95_ttft_ms = 100\r\n"
        "p95_tpot_ms = 12.5\r\n"
        "p95_e2e_ms = 2e3\r\n"
        "min_tokens_per_s = 0\r\n"
        "max_memory_mib = 128\r\n"
        "max_usd_per_mtok = 0.25\r\n"
        "min_quality = 1\r\n"
        "[workload bulk]\r\n"
        "mode = offline\r\n"
        "prompt_tokens = 100\r\n"
        "output_tokens = 20\r\n"
        "batch = 16\r\n"
        "min_duration_ms = 0\r\n"
        "min_requests = 3\r\n"
        "warmup_requests = 0\r\n";
    const char *path = write_file("every.ini", text);
    struct dfit_scenario *s = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_scenario_load(path, &s, &err), 0);
    assert_string_equal(s->name, "every key");
    assert_string_equal(s->reference, "q8");
    char want[256];
    snprintf(want, sizeof want, "%s/eval.txt", tmpdir);
    assert_string_equal(s->eval, want);
    assert_int_equal(s->eval_tokens, 64);
    assert_true(s->seed == UINT64_MAX);
    char preset[DFIT_SYNTH_PRESET_MAX];
    uint64_t seed = 0;
    assert_true(dfit_scenario_synth_base(s, preset, &seed));
    assert_int_equal(seed, 9);
    snprintf(want, sizeof want, "%s/m.gguf", tmpdir);
    assert_string_equal(s->variants[0].file, want);
    assert_int_equal(s->variants[0].line, 11);
    assert_string_equal(s->variants[1].compress, "q8_0");
    assert_string_equal(s->variants[1].from, "mine");
    const struct dfit_target_spec *t = dfit_scenario_target(s, "edge-1");
    assert_non_null(t);
    assert_int_equal(t->line, 16);
    assert_string_equal(t->backend, "cuda");
    assert_int_equal(t->threads, 3);
    assert_true(t->memory_limit_mib == 256.5);
    assert_true(t->price_per_hour == 0.0);
    assert_true(t->time_limit_s == 30.0);
    assert_string_equal(t->kernels, "ref");
    assert_string_equal(t->device, "1");
    assert_int_equal(t->n_counters, 2);
    assert_string_equal(t->counters[0], "PAPI_TOT_CYC");
    assert_string_equal(t->counters[1], "perf::CYCLES:u=0");
    assert_true(t->slo.p95_ttft_ms == 100.0);
    assert_true(t->slo.p95_tpot_ms == 12.5);
    assert_true(t->slo.p95_e2e_ms == 2000.0);
    assert_true(t->slo.min_tokens_per_s == 0.0);
    assert_true(t->slo.max_memory_mib == 128.0);
    assert_true(t->slo.max_usd_per_mtok == 0.25);
    assert_true(t->slo.min_quality == 1.0);
    const struct dfit_workload_spec *w = &s->workloads[0];
    assert_int_equal(w->mode, DFIT_MODE_OFFLINE);
    assert_string_equal(dfit_workload_mode_name(w->mode), "offline");
    assert_int_equal(w->prompt_tokens, 100);
    assert_int_equal(w->output_tokens, 20);
    assert_int_equal(w->batch, 16);
    assert_int_equal(w->min_duration_ms, 0);
    assert_int_equal(w->min_requests, 3);
    assert_int_equal(w->warmup_requests, 0);
    dfit_scenario_free(s);

    /* a line number after CRLF lines and a BOM is still right */
    const char *bad = "\xEF\xBB\xBF[scenario]\r\nbase = synth:tiny\r\nseed = x\r\n";
    path = write_file("bad.ini", bad);
    assert_int_equal(dfit_scenario_load(path, &s, &err), DFIT_EINVAL);
    assert_non_null(strstr(err.msg, "bad.ini:3: [scenario]: key 'seed'"));
}

/* Names may hold anything printable but '/' and ']': quotes, backquotes,
 * shell and gnuplot syntax, HTML, spaces, " ;" and UTF-8 are kept as they
 * are, byte for byte, and a 64-byte name is the longest. */
static void test_hostile_names(void **state)
{
    (void)state;
    const char *v1 = "q\"x'y`touch CANARY`$(touch CANARY)";
    const char *v2 = "system(\"touch CANARY\") <script>alert(1)<\\script>";
    const char *t1 = "edge ; not a comment # nor this";
    const char *t2 = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x9a\x80 & <b> \\ %s %n {x} @a *?[";
    const char *w1 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; /* 64 bytes */
    char text[2048];
    snprintf(text, sizeof text,
             "[scenario]\nbase = synth:tiny\nreference = %s\n"
             "[variant %s]\ncompress = f32\n"
             "[variant %s]\ncompress = q8_0\nfrom = %s\n"
             "[target %s]\nbackend = cpu\n"
             "[target   %s   ]\nbackend = cpu\n"
             "[workload %s]\nmode = offline\nprompt_tokens = 4\noutput_tokens = 2\n",
             v1, v1, v2, v1, t1, t2, w1);
    const char *path = write_file("hostile.ini", text);
    struct dfit_scenario *s = NULL;
    struct dfit_err err = {0};
    if (dfit_scenario_load(path, &s, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(s->n_variants, 2);
    assert_string_equal(s->variants[0].name, v1);
    assert_string_equal(s->variants[1].name, v2);
    assert_string_equal(s->variants[1].from, v1);
    assert_string_equal(s->reference, v1);
    assert_int_equal(s->n_targets, 2);
    assert_string_equal(s->targets[0].name, t1);
    assert_string_equal(s->targets[1].name, t2);
    assert_int_equal(strlen(s->workloads[0].name), 64);
    assert_string_equal(s->workloads[0].name, w1);
    /* a cell id splits back at its two '/' */
    struct dfit_plan *p = NULL;
    if (dfit_plan_create(s, NULL, &p, &err) != 0)
        fail_msg("%s", err.msg);
    char want[512];
    snprintf(want, sizeof want, "%s/%s/%s", v2, t2, w1);
    assert_non_null(dfit_plan_find(p, want));
    dfit_plan_free(p);
    dfit_scenario_free(s);

    /* the error for a refused name shows it without its control bytes */
    path = write_file("bad.ini", MIN "[target \x1b" "]0;title\x07" "x]\nbackend = cpu\n");
    assert_int_equal(dfit_scenario_load(path, &s, &err), DFIT_EINVAL);
    assert_null(strchr(err.msg, '\x1b'));
    assert_null(strchr(err.msg, '\x07'));
}

/* tasks = CSV eval sets: resolved against the scenario's directory, read
 * and validated when the scenario is; task_limit bounds the items. */
static void test_tasks(void **state)
{
    (void)state;
    write_file("eval_add.csv", "prompt,answer\nadd: 1+2=,3\nadd: 2+2=,4\n");
    write_file("eval_pick.csv", "prompt,choice_1,choice_2,label\npick: a,a,b,1\n");
    const char *path = write_file("tasks.ini", "[scenario]\nbase = synth:tiny\n"
                                  "tasks = eval_add.csv ,  eval_pick.csv\ntask_limit = 5\n"
                                  MIN_VARIANT MIN_TARGET MIN_WORKLOAD);
    struct dfit_scenario *s = NULL;
    struct dfit_err err = {0};
    if (dfit_scenario_load(path, &s, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(s->n_tasks, 2);
    char want[256];
    snprintf(want, sizeof want, "%s/eval_add.csv", tmpdir);
    assert_string_equal(s->tasks[0], want);
    snprintf(want, sizeof want, "%s/eval_pick.csv", tmpdir);
    assert_string_equal(s->tasks[1], want);
    assert_int_equal(s->task_limit, 5);
    dfit_scenario_free(s);
    /* without tasks: none, no limit */
    assert_int_equal(dfit_scenario_load(write_file("none.ini", MIN), &s, &err), 0);
    assert_int_equal(s->n_tasks, 0);
    assert_null(s->tasks);
    assert_int_equal(s->task_limit, 0);
    dfit_scenario_free(s);

    mkdir(strcat(strcpy(want, tmpdir), "/sub"), 0755);
    write_file("sub/eval_add.csv", "prompt,answer\nadd: 3+3=,6\n");
    write_file("broken.csv", "prompt,answer\nno answer here\n");
    const struct bad_case cases[] = {
        {"a missing set", "[scenario]\nbase = synth:tiny\ntasks = eval_add.csv, nowhere.csv\n" MIN_VARIANT
         MIN_TARGET MIN_WORKLOAD, DFIT_EINVAL, 3, "'tasks'", "nowhere.csv"},
        {"a malformed set", "[scenario]\nbase = synth:tiny\ntasks = broken.csv\n" MIN_VARIANT MIN_TARGET
         MIN_WORKLOAD, DFIT_EINVAL, 3, "'tasks'", "broken.csv: row 2"},
        {"two sets of one name", "[scenario]\nbase = synth:tiny\ntasks = eval_add.csv, sub/eval_add.csv\n"
         MIN_VARIANT MIN_TARGET MIN_WORKLOAD, DFIT_EINVAL, 3, "'tasks'", "two eval sets named 'eval_add'"},
        {"an empty entry", "[scenario]\nbase = synth:tiny\ntasks = eval_add.csv,,eval_pick.csv\n" MIN_VARIANT
         MIN_TARGET MIN_WORKLOAD, DFIT_EINVAL, 3, "'tasks'", "empty file name"},
        {"a trailing comma", "[scenario]\nbase = synth:tiny\ntasks = eval_add.csv,\n" MIN_VARIANT MIN_TARGET
         MIN_WORKLOAD, DFIT_EINVAL, 3, "'tasks'", "empty file name"},
        {"task_limit 0", "[scenario]\nbase = synth:tiny\ntasks = eval_add.csv\ntask_limit = 0\n" MIN_VARIANT
         MIN_TARGET MIN_WORKLOAD, DFIT_EINVAL, 4, "'task_limit'", "out of range"},
        {"task_limit without tasks", "[scenario]\nbase = synth:tiny\ntask_limit = 3\n" MIN_VARIANT MIN_TARGET
         MIN_WORKLOAD, DFIT_EINVAL, 3, "'task_limit'", "no eval sets"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_bad(&cases[i]);
}

static const char *source_root(void)
{
    const char *r = getenv("DFIT_SOURCE_ROOT");
    return r && *r ? r : DFIT_SOURCE_ROOT;
}

static void test_shipped_scenarios(void **state)
{
    (void)state;
    char path[512];
    struct dfit_scenario *s = NULL;
    struct dfit_err err = {0};
    snprintf(path, sizeof path, "%s/scenarios/quickstart.ini", source_root());
    if (dfit_scenario_load(path, &s, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(s->name, "quickstart");
    assert_non_null(strstr(s->base, "scenarios/data/teacher.gguf"));
    assert_string_equal(s->reference, "bf16");
    assert_int_equal(s->n_variants, 9);
    assert_int_equal(s->n_targets, 3);
    assert_int_equal(s->n_workloads, 2);
    assert_non_null(strstr(s->eval, "scenarios/data/tasks.txt"));
    assert_int_equal(s->n_tasks, 7);
    assert_non_null(strstr(s->tasks[0], "scenarios/data/eval_add.csv"));
    assert_int_equal(s->task_limit, 200);
    assert_string_equal(dfit_scenario_variant(s, "q4_0-awq")->method, "awq");
    assert_non_null(strstr(dfit_scenario_variant(s, "q4_0-awq")->calib, "scenarios/data/calib.txt"));
    assert_string_equal(dfit_scenario_variant(s, "2-layers")->prune, "layers:2");
    assert_non_null(strstr(dfit_scenario_variant(s, "student-2l")->file, "scenarios/data/student-2l.gguf"));
    assert_string_equal(dfit_scenario_variant(s, "student-2l-q4_0")->from, "student-2l");
    assert_string_equal(dfit_scenario_target(s, "gpu-h100")->backend, "cuda");
    assert_int_equal(dfit_scenario_target(s, "server-2t")->threads, 2);
    assert_int_equal(dfit_scenario_workload(s, "batch")->batch, 4);
    assert_int_equal(dfit_scenario_workload(s, "batch")->mode, DFIT_MODE_OFFLINE);
    struct dfit_plan *p = NULL;
    if (dfit_plan_create(s, NULL, &p, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(p->n_cells, 9 * 3 * 2);
    assert_string_equal(p->cells[0].id, "bf16/edge-1t/chat");
    assert_string_equal(p->cells[53].id, "student-2l-q4_0/gpu-h100/batch");
    assert_true(p->targets[0].runnable && p->targets[1].runnable);
    assert_int_equal(p->n_build, 9);
    dfit_plan_free(p);
    dfit_scenario_free(s);

    snprintf(path, sizeof path, "%s/scenarios/edge-110m.ini", source_root());
    if (dfit_scenario_load(path, &s, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(s->base, "synth:110m:7");
    assert_string_equal(dfit_scenario_variant(s, "q4_0-from-q8")->from, "q8_0");
    assert_int_equal(dfit_scenario_target(s, "edge-4t")->n_counters, 3);
    dfit_scenario_free(s);
}

/* ---- plan ------------------------------------------------------------------ */

static const char plan_text[] =
    "[scenario]\nbase = synth:tiny\nreference = f32\n"
    "[variant q4]\ncompress = q4_0\nfrom = q8\n"   /* declared before its parent */
    "[variant q8]\ncompress = q8_0\n"
    "[variant f32]\ncompress = f32\n"
    "[target here]\nbackend = cpu\nthreads = 1\n"
    "[target gpu]\nbackend = cuda\n"
    "[target tensor]\nbackend = tpu\n"
    "[workload chat]\nmode = single-stream\nprompt_tokens = 4\noutput_tokens = 2\n"
    "[workload bulk]\nmode = offline\nprompt_tokens = 4\noutput_tokens = 2\nbatch = 2\n";

static void test_plan(void **state)
{
    (void)state;
    struct dfit_scenario *s = NULL;
    struct dfit_plan *p = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_scenario_load(write_file("plan.ini", plan_text), &s, &err), 0);
    if (dfit_plan_create(s, NULL, &p, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(p->n_targets, 3);
    assert_int_equal(p->n_cells, 3 * 3 * 2);
    /* order: target, then variant, then workload */
    static const char *const first[] = {"q4/here/chat", "q4/here/bulk", "q8/here/chat", "q8/here/bulk",
                                        "f32/here/chat", "f32/here/bulk", "q4/gpu/chat"};
    for (int i = 0; i < 7; i++)
        assert_string_equal(p->cells[i].id, first[i]);
    assert_string_equal(p->cells[17].id, "f32/tensor/bulk");
    for (int i = 0; i < p->n_cells; i++) {
        const struct dfit_plan_cell *c = &p->cells[i];
        assert_int_equal(c->target, i / 6);
        assert_int_equal(c->variant, (i / 2) % 3);
        assert_int_equal(c->workload, i % 2);
    }
    /* the CPU target runs here; the CPU probe lists at least one device */
    assert_true(p->targets[0].runnable);
    assert_non_null(p->targets[0].backend);
    assert_true(p->targets[0].devices.n >= 1);
    assert_string_equal(p->targets[0].reason, "");
    assert_false(p->cells[0].skipped);
    /* cuda: not compiled in (or compiled in: then its probe decides) */
    if (dfit_backend_find("cuda") == NULL) {
        assert_false(p->targets[1].runnable);
        assert_null(p->targets[1].backend);
        assert_string_equal(p->targets[1].reason,
                            "backend 'cuda' is not built into this dfit (configure with -Dcuda=enabled)");
    } else {
        assert_true(p->targets[1].runnable || p->targets[1].reason[0] != '\0');
    }
    /* an unknown backend is skipped, naming the ones there are */
    assert_false(p->targets[2].runnable);
    assert_non_null(strstr(p->targets[2].reason, "unknown backend 'tpu'"));
    assert_non_null(strstr(p->targets[2].reason, "cpu"));
    const struct dfit_plan_cell *c = dfit_plan_find(p, "q8/tensor/chat");
    assert_non_null(c);
    assert_true(c->skipped);
    assert_string_equal(c->reason, p->targets[2].reason);
    assert_null(dfit_plan_find(p, "q8/nowhere/chat"));
    int runnable = 0;
    for (int i = 0; i < p->n_cells; i++)
        runnable += !p->cells[i].skipped;
    assert_int_equal(p->n_runnable, runnable);
    assert_true(p->n_runnable == 6 || p->n_runnable == 12);
    /* build order: parents first, everything once */
    assert_int_equal(p->n_build, 3);
    assert_int_equal(p->build_order[0], 1); /* q8 */
    assert_int_equal(p->build_order[1], 0); /* q4 */
    assert_int_equal(p->build_order[2], 2); /* f32 */
    dfit_plan_free(p);

    /* a filter keeps matching cells, and builds what they need plus the reference */
    struct dfit_plan_options opt = {.only = "q4/here/*"};
    assert_int_equal(dfit_plan_create(s, &opt, &p, &err), 0);
    assert_int_equal(p->n_cells, 2);
    assert_string_equal(p->cells[0].id, "q4/here/chat");
    assert_string_equal(p->cells[1].id, "q4/here/bulk");
    assert_int_equal(p->n_build, 3);
    dfit_plan_free(p);
    opt.only = "*/here/bulk";
    assert_int_equal(dfit_plan_create(s, &opt, &p, &err), 0);
    assert_int_equal(p->n_cells, 3);
    dfit_plan_free(p);
    opt.only = "nothing/*";
    p = (struct dfit_plan *)1;
    assert_int_equal(dfit_plan_create(s, &opt, &p, &err), DFIT_ENOTFOUND);
    assert_null(p);
    assert_non_null(strstr(err.msg, "nothing/*"));
    dfit_plan_free(NULL);
    dfit_scenario_free(s);
}

/* ---- variant cache ------------------------------------------------------------ */

struct events {
    int building, done;
};

static void on_progress(void *user, enum dfit_variant_event ev, const struct dfit_variant_file *f)
{
    struct events *e = user;
    assert_non_null(f->name);
    if (ev == DFIT_VARIANT_BUILDING)
        e->building++;
    else
        e->done++;
}

static void check_file(const struct dfit_variant_file *f)
{
    char hex[DFIT_SHA256_HEX_LEN + 1];
    struct stat st;
    assert_non_null(f->path);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(f->file_bytes, (uint64_t)st.st_size);
    assert_int_equal(dfit_sha256_file(f->path, hex, NULL), 0);
    assert_string_equal(f->sha256, hex);
    struct dfit_gguf *g = NULL;
    assert_int_equal(dfit_gguf_open(f->path, &g, NULL), 0);
    dfit_gguf_close(g);
}

static void test_variant_cache(void **state)
{
    (void)state;
    const char *text = "[scenario]\nbase = synth:tiny:5\n"
                       "[variant f32]\ncompress = f32\n"
                       "[variant q8]\ncompress = q8_0\n"
                       MIN_TARGET MIN_WORKLOAD;
    struct dfit_scenario *s = NULL;
    struct dfit_variant_set *vs = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_scenario_load(write_file("cache.ini", text), &s, &err), 0);
    char cache[256];
    snprintf(cache, sizeof cache, "%s/cache/models", tmpdir);
    struct events ev = {0};
    struct dfit_variant_options opt = {.cache_dir = cache, .n_threads = 2, .progress = on_progress, .user = &ev};

    /* first run: the base and the q8 recipe are built; f32 is the base itself */
    if (dfit_variants_materialize(s, &opt, &vs, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(vs->cache_dir, cache);
    assert_true(vs->base.built);
    assert_non_null(strstr(vs->base.path, cache));
    check_file(&vs->base);
    const struct dfit_variant_file *f32 = dfit_variants_find(vs, "f32");
    const struct dfit_variant_file *q8 = dfit_variants_find(vs, "q8");
    assert_non_null(f32);
    assert_non_null(q8);
    assert_null(dfit_variants_find(vs, "q4"));
    assert_true(f32->same_as_parent);
    assert_false(f32->built);
    assert_int_equal(f32->parent, -1);
    assert_string_equal(f32->path, vs->base.path);
    assert_string_equal(f32->sha256, vs->base.sha256);
    assert_true(q8->built);
    assert_false(q8->same_as_parent);
    assert_int_equal(q8->parent, -1);
    assert_true(q8->build_ns > 0);
    check_file(q8);
    assert_true(q8->file_bytes < vs->base.file_bytes);
    assert_int_equal(ev.building, 2);
    assert_int_equal(ev.done, 3);

    /* lineage: the recipe names its parent's hash */
    struct dfit_gguf *g = NULL;
    const struct dfit_gguf_str *parent = NULL;
    assert_int_equal(dfit_gguf_open(q8->path, &g, NULL), 0);
    assert_int_equal(dfit_gguf_get_str(g, "dfit.parent.sha256", &parent, NULL), 0);
    assert_string_equal(parent->data, vs->base.sha256);
    dfit_gguf_close(g);

    struct stat base_st, q8_st, st;
    assert_int_equal(stat(vs->base.path, &base_st), 0);
    assert_int_equal(stat(q8->path, &q8_st), 0);
    char base_sha[DFIT_SHA256_HEX_LEN + 1], q8_path[512];
    snprintf(base_sha, sizeof base_sha, "%s", vs->base.sha256);
    snprintf(q8_path, sizeof q8_path, "%s", q8->path);
    dfit_variants_free(vs);

    /* second run: everything reused, nothing rewritten */
    ev = (struct events){0};
    assert_int_equal(dfit_variants_materialize(s, &opt, &vs, &err), 0);
    assert_false(vs->base.built);
    assert_false(dfit_variants_find(vs, "q8")->built);
    assert_int_equal(ev.building, 0);
    assert_int_equal(ev.done, 3);
    assert_string_equal(vs->base.sha256, base_sha);
    assert_string_equal(dfit_variants_find(vs, "q8")->path, q8_path);
    assert_int_equal(stat(vs->base.path, &st), 0);
    assert_true(st.st_ino == base_st.st_ino && st.st_mtim.tv_sec == base_st.st_mtim.tv_sec &&
                st.st_mtim.tv_nsec == base_st.st_mtim.tv_nsec);
    assert_int_equal(stat(q8_path, &st), 0);
    assert_true(st.st_ino == q8_st.st_ino && st.st_mtim.tv_nsec == q8_st.st_mtim.tv_nsec);
    dfit_variants_free(vs);

    /* a corrupted cache file is rebuilt; the base is still reused */
    assert_int_equal(truncate(q8_path, 100), 0);
    assert_int_equal(dfit_variants_materialize(s, &opt, &vs, &err), 0);
    assert_false(vs->base.built);
    q8 = dfit_variants_find(vs, "q8");
    assert_true(q8->built);
    check_file(q8);
    assert_int_equal((int64_t)q8->file_bytes, (int64_t)q8_st.st_size);
    dfit_variants_free(vs);

    /* only some variants: f32 alone needs just the base */
    int only[] = {0};
    struct dfit_variant_options some = {.cache_dir = cache, .only = only, .n_only = 1};
    assert_int_equal(dfit_variants_materialize(s, &some, &vs, &err), 0);
    assert_non_null(vs->variants[0].path);
    assert_null(vs->variants[1].path);
    dfit_variants_free(vs);
    dfit_scenario_free(s);

    /* another seed is another base */
    text = "[scenario]\nbase = synth:tiny:6\n[variant f32]\ncompress = f32\n" MIN_TARGET MIN_WORKLOAD;
    assert_int_equal(dfit_scenario_load(write_file("seed6.ini", text), &s, &err), 0);
    assert_int_equal(dfit_variants_materialize(s, &opt, &vs, &err), 0);
    assert_true(vs->base.built);
    assert_string_not_equal(vs->base.sha256, base_sha);
    assert_non_null(strstr(vs->base.path, "synth-tiny-f32-"));
    dfit_variants_free(vs);
    dfit_scenario_free(s);

    /* $DFIT_CACHE_DIR when no directory is given; a `file` variant as is */
    char text2[1024], env_cache[256];
    snprintf(env_cache, sizeof env_cache, "%s/envcache", tmpdir);
    snprintf(text2, sizeof text2, "[scenario]\nbase = synth:tiny:5\n[variant mine]\nfile = %s\n"
             "[variant f16]\ncompress = f16\nfrom = mine\n" MIN_TARGET MIN_WORKLOAD, q8_path);
    assert_int_equal(dfit_scenario_load(write_file("file.ini", text2), &s, &err), 0);
    assert_int_equal(setenv("DFIT_CACHE_DIR", env_cache, 1), 0);
    if (dfit_variants_materialize(s, NULL, &vs, &err) != 0)
        fail_msg("%s", err.msg);
    unsetenv("DFIT_CACHE_DIR");
    assert_string_equal(vs->cache_dir, env_cache);
    assert_null(vs->base.path); /* no recipe started from the base */
    const struct dfit_variant_file *mine = dfit_variants_find(vs, "mine");
    assert_false(mine->built);
    assert_string_equal(mine->path, q8_path);
    check_file(mine);
    const struct dfit_variant_file *f16 = dfit_variants_find(vs, "f16");
    assert_true(f16->built);
    assert_int_equal(f16->parent, 0);
    assert_non_null(strstr(f16->path, env_cache));
    check_file(f16);
    assert_int_equal(dfit_gguf_open(f16->path, &g, NULL), 0);
    assert_int_equal(dfit_gguf_get_str(g, "dfit.parent.sha256", &parent, NULL), 0);
    assert_string_equal(parent->data, mine->sha256);
    dfit_gguf_close(g);
    dfit_variants_free(vs);
    dfit_scenario_free(s);

    /* a `file` variant that is not GGUF fails, naming the variant */
    snprintf(text2, sizeof text2, "[scenario]\nbase = synth:tiny\n[variant junk]\nfile = m.gguf\n"
             MIN_TARGET MIN_WORKLOAD);
    write_file("m.gguf", "this is not a model");
    assert_int_equal(dfit_scenario_load(write_file("junk.ini", text2), &s, &err), 0);
    vs = (struct dfit_variant_set *)1;
    assert_true(dfit_variants_materialize(s, &opt, &vs, &err) < 0);
    assert_null(vs);
    assert_non_null(strstr(err.msg, "junk"));
    dfit_variants_free(NULL);
    dfit_scenario_free(s);
}

/* method = awq, prune = ..., calib = ...: built by dfit_compress_file into
 * the cache, recorded in their metadata, reused on a second run, rebuilt
 * when the calibration file changes. */
static void test_compress_recipes(void **state)
{
    (void)state;
    char calib[256], text[2048];
    snprintf(calib, sizeof calib, "%s", write_file("calib.txt", "add: 1+2=3\ncopy: ab|ab\nmax: 4,9=9\n"));
    snprintf(text, sizeof text,
             "[scenario]\nbase = synth:tiny:5\n"
             "[variant awq]\ncompress = q4_0\nmethod = awq\ncalib = synth:3\n"
             "[variant plain]\ncompress = q4_0\nmethod = plain\n"
             "[variant sparse]\nprune = unstructured:0.5\n"
             "[variant wanda]\nprune = unstructured:0.5\ncalib = calib.txt\ncompress = q8_0\n"
             "[variant short]\nprune = layers:1\nfrom = plain\n"
             MIN_TARGET MIN_WORKLOAD);
    struct dfit_scenario *s = NULL;
    struct dfit_variant_set *vs = NULL;
    struct dfit_err err = {0};
    if (dfit_scenario_load(write_file("recipes.ini", text), &s, &err) != 0)
        fail_msg("%s", err.msg);
    const struct dfit_variant_spec *w = dfit_scenario_variant(s, "wanda");
    assert_string_equal(w->prune, "unstructured:0.5");
    assert_string_equal(w->calib, calib); /* resolved */
    assert_string_equal(dfit_scenario_variant(s, "awq")->calib, "synth:3");
    assert_string_equal(dfit_scenario_variant(s, "awq")->method, "awq");
    char cache[256];
    snprintf(cache, sizeof cache, "%s/recipe-cache", tmpdir);
    struct dfit_variant_options opt = {.cache_dir = cache, .n_threads = 1};
    if (dfit_variants_materialize(s, &opt, &vs, &err) != 0)
        fail_msg("%s", err.msg);
    static const struct {
        const char *name, *key, *value;
    } meta[] = {
        {"awq", "dfit.recipe.quant.method", "awq"},
        {"plain", "dfit.recipe.to", "q4_0"},
        {"sparse", "dfit.prune.pattern", "unstructured"},
        {"wanda", "dfit.recipe.prune.method", "activation"},
        {"short", "dfit.recipe.prune.pattern", "layers"},
    };
    char paths[5][512];
    for (size_t i = 0; i < 5; i++) {
        const struct dfit_variant_file *f = dfit_variants_find(vs, meta[i].name);
        assert_true(f->built);
        check_file(f);
        snprintf(paths[i], sizeof paths[i], "%s", f->path);
        struct dfit_gguf *g = NULL;
        const struct dfit_gguf_str *str = NULL;
        assert_int_equal(dfit_gguf_open(f->path, &g, NULL), 0);
        if (dfit_gguf_get_str(g, meta[i].key, &str, &err) != 0)
            fail_msg("%s: %s", meta[i].name, err.msg);
        assert_string_equal(str->data, meta[i].value);
        const struct dfit_variant_file *parent = f->parent >= 0 ? &vs->variants[f->parent] : &vs->base;
        assert_int_equal(dfit_gguf_get_str(g, "dfit.parent.sha256", &str, NULL), 0);
        assert_string_equal(str->data, parent->sha256);
        dfit_gguf_close(g);
    }
    assert_int_equal(dfit_variants_find(vs, "short")->parent, 1);
    assert_string_not_equal(paths[0], paths[1]); /* awq and plain q4_0 differ */
    dfit_variants_free(vs);

    /* reused; a changed calibration file makes a new wanda, nothing else */
    assert_int_equal(dfit_variants_materialize(s, &opt, &vs, &err), 0);
    for (size_t i = 0; i < 5; i++) {
        assert_false(dfit_variants_find(vs, meta[i].name)->built);
        assert_string_equal(dfit_variants_find(vs, meta[i].name)->path, paths[i]);
    }
    dfit_variants_free(vs);
    write_file("calib.txt", "sub: 9-2=7\nrev: ab|ba\n");
    assert_int_equal(dfit_variants_materialize(s, &opt, &vs, &err), 0);
    assert_true(dfit_variants_find(vs, "wanda")->built);
    assert_string_not_equal(dfit_variants_find(vs, "wanda")->path, paths[3]);
    assert_false(dfit_variants_find(vs, "sparse")->built);
    dfit_variants_free(vs);
    dfit_scenario_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_tasks),
        cmocka_unit_test(test_shipped_scenarios),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_variant_cache),
        cmocka_unit_test(test_compress_recipes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
