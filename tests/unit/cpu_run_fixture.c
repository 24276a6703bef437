/* cpu_run_fixture.c — see cpu_run_fixture.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "cpu_run_fixture.h"
#include "model/llama.h"

struct dfit_load_report cpu_run_fixture(const char *path, const char *kernels, int n_prompt,
                                        int n_decode, float **out, struct dfit_memory *mem)
{
    const struct dfit_backend_ops *cpu = dfit_backend_find("cpu");
    assert_non_null(cpu);
    struct dfit_err err = {0};
    struct dfit_model *m = NULL;
    if (dfit_model_open(path, &m, &err))
        fail_msg("%s", err.msg);
    struct dfit_backend_params p = {.n_threads = 2, .n_ctx = 32, .n_seq = 1,
                                    .n_batch_max = (uint32_t)n_prompt, .kernels = kernels};
    void *ctx = NULL;
    struct dfit_load_report rep;
    if (cpu->load(m, &p, &ctx, &rep, &err))
        fail_msg("%s: %s", kernels, err.msg);
    const uint32_t nv = m->hp.n_vocab;
    if (!*out)
        *out = malloc((size_t)(n_prompt + n_decode) * nv * sizeof(float));
    assert_non_null(*out);
    int32_t *tok = calloc((size_t)n_prompt, 3 * sizeof *tok);
    assert_non_null(tok);
    int32_t *pos = tok + n_prompt, *seq = pos + n_prompt;
    for (int i = 0; i < n_prompt; i++) {
        tok[i] = (int32_t)((i * 37 + 5) % (int)nv);
        pos[i] = i;
    }
    struct dfit_batch b = {.n_tokens = (uint32_t)n_prompt, .token = tok, .pos = pos, .seq = seq};
    if (cpu->forward(ctx, &b, *out, &err))
        fail_msg("%s: prefill: %s", kernels, err.msg);
    for (int i = 0; i < n_decode; i++) {
        int32_t t = (int32_t)((i * 11 + 3) % (int)nv), ps = n_prompt + i, sq = 0;
        struct dfit_batch d = {.n_tokens = 1, .token = &t, .pos = &ps, .seq = &sq};
        if (cpu->forward(ctx, &d, *out + (size_t)(n_prompt + i) * nv, &err))
            fail_msg("%s: decode step %d: %s", kernels, i, err.msg);
    }
    if (mem)
        assert_int_equal(cpu->memory(ctx, mem), 0);
    free(tok);
    cpu->unload(ctx);
    dfit_model_free(m);
    return rep;
}
