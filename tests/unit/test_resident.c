/* test_resident — the CPU fast path's resident copy of the weights
 * (backends/cpu/resident.h).
 *
 *   (a) the "+mmap" / DFIT_CPU_RESIDENT=0 switch and how it composes with
 *       "+dense";
 *   (b) every streamed matrix of every format, tied and untied output, is
 *       copied byte for byte to 64-byte-aligned memory outside the file's
 *       mapping, on 1 and 3 threads — or, asked to, a Q4_0 matrix with
 *       128-multiple rows is regrouped by 4 blocks, each block found whole
 *       at its place; norms and the token embedding stay
 *       mapped; the source still reads the same bytes after its pages are
 *       released from the process;
 *   (c) skip() keeps a matrix in the mapping;
 *   (d) a model opened from a caller's buffer is never released
 *       (MADV_DONTNEED on heap memory would zero it);
 *   (e) a forward pass (prefill then decode) from the resident copy gives
 *       logits bit-identical to the same kernels on the mapping (within a
 *       relative RMS of 1e-5 where Q4_0 was regrouped); the load
 *       report times the copy as preparation and appends "+mmap" to the
 *       kernels of a run from the mapping;
 *   (f) under an address-space cap with no room for the copy (as the
 *       runner caps a worker), the backend still loads, reads the mapping
 *       and says "+mmap" (not under ASan: sanitizer.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "compress/synth.h"
#include "cpu/kernels.h"
#include "cpu/resident.h"
#include "cpu_run_fixture.h"
#include "sanitizer.h"
#include "model/gguf.h"
#include "model/llama.h"
#include "util/threadpool.h"

#define N_FMT 5
static const enum dfit_type fmts[N_FMT] = {DFIT_TYPE_F32, DFIT_TYPE_F16, DFIT_TYPE_BF16,
                                           DFIT_TYPE_Q8_0, DFIT_TYPE_Q4_0};
static char tmpdir[64];
static char path[N_FMT][2][128]; /* [format][untied, tied] */

/* ---- (a) the switch ------------------------------------------------------------ */

static void test_wanted(void **state)
{
    (void)state;
    char set[40];
    unsetenv("DFIT_CPU_RESIDENT");
    assert_true(dfit_resident_wanted(NULL, set, sizeof set));
    assert_string_equal(set, "auto");
    assert_true(dfit_resident_wanted("avx512+dense", set, sizeof set));
    assert_string_equal(set, "avx512+dense");
    assert_false(dfit_resident_wanted("scalar+mmap", set, sizeof set));
    assert_string_equal(set, "scalar");
    assert_false(dfit_resident_wanted("avx2+dense+mmap", set, sizeof set));
    assert_string_equal(set, "avx2+dense");
    assert_true(dfit_resident_wanted("+mmap", set, sizeof set)); /* no set: left to the selector */
    setenv("DFIT_CPU_RESIDENT", "0", 1);
    assert_false(dfit_resident_wanted("auto", set, sizeof set));
    assert_string_equal(set, "auto");
    setenv("DFIT_CPU_RESIDENT", "1", 1);
    assert_true(dfit_resident_wanted("auto", set, sizeof set));
    unsetenv("DFIT_CPU_RESIDENT");
}

/* ---- (b), (c), (d) the copy ---------------------------------------------------------- */

/* The streamed matrices of m, in resident.c's order. */
static int matrices(const struct dfit_model *m, const struct dfit_weight **w)
{
    int n = 0;
    for (uint32_t il = 0; il < m->hp.n_layer; il++) {
        const struct dfit_llama_layer *L = &m->layers[il];
        const struct dfit_weight *p[7] = {&L->wq,     &L->wk,   &L->wv,    &L->wo,
                                          &L->w_gate, &L->w_up, &L->w_down};
        for (int k = 0; k < 7; k++)
            w[n++] = p[k];
    }
    w[n++] = &m->output;
    return n;
}

static bool in_map(const struct dfit_model *m, const void *p)
{
    const uint8_t *b = m->gguf->map, *q = p;
    return q >= b && q < b + m->gguf->map_bytes;
}

static bool skip_first_and_output(void *user, const struct dfit_weight *w)
{
    const struct dfit_model *m = user;
    return w == &m->layers[0].wq || w == &m->output;
}

/* Whether the Q4_0 matrix d holds s's blocks regrouped by 4 (kernels.h):
 * every block's quants and scale found at its place in the group. */
static bool same_blocks_x4(const struct dfit_weight *d, const struct dfit_weight *s)
{
    for (int64_t r = 0; r < s->n_out; r++) {
        const struct dfit_block_q4_0 *blk =
            (const struct dfit_block_q4_0 *)((const uint8_t *)s->data + r * s->row_bytes);
        const uint8_t *row = (const uint8_t *)d->data + r * d->row_bytes;
        for (int64_t b = 0; b < s->n_in / 32; b++) {
            const uint8_t *g = row + (b / 4) * DFIT_Q4_0_X4_GROUP;
            if (memcmp(g + 16 * (b % 4), blk[b].qs, 16) != 0 ||
                memcmp(g + 64 + 2 * (b % 4), &blk[b].d, 2) != 0)
                return false;
        }
    }
    return true;
}

/* Checks r against its source m; skipped: whether skip_first_and_output
 * was applied; x4: whether Q4_0 regrouping was asked for. */
static void check_copy(const struct dfit_model *m, const struct dfit_resident *r, bool skipped,
                       bool x4)
{
    int n_x4 = 0;
    const struct dfit_weight *ws[8 * 7 + 1], *wd[8 * 7 + 1];
    const int n = matrices(m, ws);
    assert_int_equal(matrices(&r->model, wd), n);
    uint64_t copied = 0;
    for (int i = 0; i < n; i++) {
        const size_t nb = (size_t)ws[i]->n_out * ws[i]->row_bytes;
        const bool keep = skipped && (i == 0 || i == n - 1);
        if (keep) {
            assert_ptr_equal(wd[i]->data, ws[i]->data);
            continue;
        }
        assert_false(in_map(m, wd[i]->data));
        assert_int_equal((uintptr_t)wd[i]->data % 64, 0);
        assert_int_equal(wd[i]->row_bytes, ws[i]->row_bytes);
        if (x4 && ws[i]->type == DFIT_TYPE_Q4_0 && ws[i]->n_in % 128 == 0) {
            assert_int_equal(wd[i]->type, DFIT_TYPE_Q4_0_X4);
            assert_true(same_blocks_x4(wd[i], ws[i]));
            n_x4++;
        } else {
            assert_int_equal(wd[i]->type, ws[i]->type);
            assert_int_equal(memcmp(wd[i]->data, ws[i]->data, nb), 0);
        }
        copied += nb;
    }
    assert_int_equal(r->n_x4, n_x4);
    assert_true(r->bytes >= copied);
    assert_ptr_equal(r->model.tok_embd.data, m->tok_embd.data);
    for (uint32_t il = 0; il < m->hp.n_layer; il++)
        assert_ptr_equal(r->model.layers[il].attn_norm.data, m->layers[il].attn_norm.data);
    assert_ptr_equal(r->model.output_norm.data, m->output_norm.data);
}

static void test_copy(void **state)
{
    (void)state;
    for (int nt = 1; nt <= 3; nt += 2) {
        struct dfit_threadpool *tp = NULL;
        struct dfit_err err = {0};
        assert_int_equal(dfit_threadpool_create(nt, &tp, &err), 0);
        for (int f = 0; f < N_FMT; f++) {
            for (int tied = 0; tied < 2; tied++) {
                struct dfit_model *m = NULL;
                if (dfit_model_open(path[f][tied], &m, &err))
                    fail_msg("%s", err.msg);
                assert_true(m->gguf->file_mapped);
                for (int x4 = 0; x4 < 2; x4++) {
                    struct dfit_resident *r = NULL;
                    assert_int_equal(dfit_resident_create(m, tp, x4, NULL, NULL, &r, &err), 0);
                    check_copy(m, r, false, x4);
                    dfit_resident_free(r);
                    assert_int_equal(
                        dfit_resident_create(m, tp, x4, skip_first_and_output, m, &r, &err), 0);
                    check_copy(m, r, true, x4);
                    dfit_resident_free(r);
                }
                dfit_model_free(m);
            }
        }
        dfit_threadpool_free(tp);
    }
}

static void test_buffer_not_released(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    FILE *f = fopen(path[0][0], "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    const size_t n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = NULL;
    assert_int_equal(posix_memalign(&buf, 4096, n), 0);
    assert_int_equal(fread(buf, 1, n, f), n);
    fclose(f);
    void *saved = malloc(n);
    memcpy(saved, buf, n);

    struct dfit_gguf *g = NULL;
    struct dfit_model *m = NULL;
    assert_int_equal(dfit_gguf_open_buffer(buf, n, "buffer", &g, &err), 0);
    assert_false(g->file_mapped);
    assert_int_equal(dfit_model_from_gguf(g, &m, &err), 0);
    struct dfit_threadpool *tp = NULL;
    assert_int_equal(dfit_threadpool_create(2, &tp, &err), 0);
    struct dfit_resident *r = NULL;
    assert_int_equal(dfit_resident_create(m, tp, false, NULL, NULL, &r, &err), 0);
    check_copy(m, r, false, false);
    assert_int_equal(memcmp(buf, saved, n), 0); /* nothing zeroed */
    dfit_resident_free(r);
    dfit_threadpool_free(tp);
    dfit_model_free(m);
    free(saved);
    free(buf);
}

/* ---- (e) the forward pass ------------------------------------------------------------ */

#define N_PROMPT 9
#define N_DECODE 3

static void test_forward_identical(void **state)
{
    (void)state;
    const size_t n = (size_t)(N_PROMPT + N_DECODE) * 320; /* tiny's vocabulary */
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    const char *sets[2] = {"auto", "scalar"};
    for (int s = 0; s < 2; s++) {
        for (int f = 0; f < N_FMT; f++) {
            for (int tied = 0; tied < 2; tied++) {
                char mm[40];
                snprintf(mm, sizeof mm, "%s+mmap", sets[s]);
                struct dfit_load_report rr =
                    cpu_run_fixture(path[f][tied], sets[s], N_PROMPT, N_DECODE, &a, NULL);
                struct dfit_load_report rm =
                    cpu_run_fixture(path[f][tied], mm, N_PROMPT, N_DECODE, &b, NULL);
                /* regrouped Q4_0 (avx512-vnni's, on tiny's 128-wide FFN
                 * down) sums the same integers in another float order */
                const bool regrouped = strstr(rr.kernels, "vnni") && fmts[f] == DFIT_TYPE_Q4_0;
                double d2 = 0, s2 = 0;
                for (size_t i = 0; i < n; i++) {
                    d2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
                    s2 += (double)b[i] * b[i];
                }
                if (regrouped ? !(sqrt(d2 / s2) < 1e-5) : memcmp(a, b, n * sizeof *a) != 0)
                    fail_msg("%s, format %d, tied %d: resident and mapped logits differ "
                             "(relative RMS %.3g)", sets[s], f, tied, sqrt(d2 / s2));
                assert_true(rr.prepare_ns > 0);
                assert_int_equal(rm.prepare_ns, 0);
                assert_int_equal(rr.weight_bytes, rm.weight_bytes);
                char want[160];
                snprintf(want, sizeof want, "%s+mmap", rr.kernels);
                assert_string_equal(rm.kernels, want);
            }
        }
    }
    free(a);
    free(b);
}

/* ---- (f) no room for the copy ------------------------------------------------------- */

#if !DFIT_UNDER_ASAN
/* A 4-layer model of about 80 MB in F32, its file mapped, then the
 * address space capped 24 MiB above what is in use: enough for the KV
 * cache and scratch of a one-thread load, not for an 80 MB copy. */
static void test_fallback_under_cap(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    char big[128];
    snprintf(big, sizeof big, "%s/big.gguf", tmpdir);
    struct dfit_synth_params sp = {.seed = 3, .name = "test", .type = DFIT_TYPE_F32};
    sp.shape = (struct dfit_synth_shape){.n_embd = 512, .n_layer = 4, .n_ff = 2048, .n_head = 8,
                                         .n_head_kv = 8, .n_vocab = 8000, .n_ctx = 64,
                                         .rms_eps = 1e-5f, .rope_freq_base = 10000.0f};
    if (dfit_synth_write(&sp, big, &err))
        fail_msg("%s", err.msg);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct dfit_model *m = NULL;
        if (dfit_model_open(big, &m, &err))
            _exit(100);
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = test_vm_bytes() + (24u << 20);
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(101);
        const struct dfit_backend_ops *cpu = dfit_backend_find("cpu");
        struct dfit_backend_params p = {.n_threads = 1, .n_ctx = 16, .n_seq = 1, .n_batch_max = 4,
                                        .kernels = "scalar"};
        void *ctx = NULL;
        struct dfit_load_report rep;
        if (cpu->load(m, &p, &ctx, &rep, &err))
            _exit(102);
        float *logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
        int32_t tok = 5, pos = 0, seq = 0;
        struct dfit_batch b = {.n_tokens = 1, .token = &tok, .pos = &pos, .seq = &seq};
        if (!logits || cpu->forward(ctx, &b, logits, &err))
            _exit(103);
        ssize_t n = write(fds[1], rep.kernels, strlen(rep.kernels) + 1);
        (void)n;
        _exit(0);
    }
    close(fds[1]);
    char kernels[160] = "";
    ssize_t got = read(fds[0], kernels, sizeof kernels - 1);
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    unlink(big);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != 0)
        fail_msg("child exited %d", WEXITSTATUS(st));
    assert_true(got > 1);
    assert_string_equal(kernels, "scalar+mmap");
}
#endif

/* ---- setup ------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    struct dfit_err err = {0};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfit-test-resident-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    struct dfit_synth_params sp = {.seed = 7, .name = "test"};
    if (dfit_synth_preset("tiny", &sp.shape, &err))
        goto fail;
    for (int f = 0; f < N_FMT; f++) {
        for (int tied = 0; tied < 2; tied++) {
            sp.type = fmts[f];
            sp.shape.tied_output = tied;
            snprintf(path[f][tied], sizeof path[f][tied], "%s/tiny-%d-%d.gguf", tmpdir, f, tied);
            if (dfit_synth_write(&sp, path[f][tied], &err))
                goto fail;
        }
    }
    return 0;
fail:
    fprintf(stderr, "setup: %s\n", err.msg);
    return -1;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int f = 0; f < N_FMT; f++)
        for (int tied = 0; tied < 2; tied++)
            unlink(path[f][tied]);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wanted),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_buffer_not_released),
        cmocka_unit_test(test_forward_identical),
#if !DFIT_UNDER_ASAN
        cmocka_unit_test(test_fallback_under_cap),
#endif
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
