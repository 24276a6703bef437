/* cpu_features.c — CPUID/XGETBV detection (see cpu_features.h). */
#include "cpu_features.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static void detect_x86(struct dfit_cpu_features *f)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    bool osxsave = (c >> 27) & 1;
    f->sse42 = (c >> 20) & 1;
    f->fma = (c >> 12) & 1;
    f->f16c = (c >> 29) & 1;
    bool avx_hw = (c >> 28) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    bool ymm_os = (xcr0 & 0x6) == 0x6;          /* XMM and YMM state */
    bool zmm_os = (xcr0 & 0xe6) == 0xe6;        /* plus opmask, ZMM hi */
    f->avx = avx_hw && ymm_os;
    if (!f->avx)
        f->fma = f->f16c = false;
    unsigned int max_leaf = (unsigned int)__get_cpuid_max(0, NULL);
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = f->avx && ((b >> 5) & 1);
        f->avx512f = zmm_os && ((b >> 16) & 1);
        f->avx512dq = f->avx512f && ((b >> 17) & 1);
        f->avx512bw = f->avx512f && ((b >> 30) & 1);
        f->avx512vl = f->avx512f && ((b >> 31) & 1);
        f->avx512_vnni = f->avx512f && ((c >> 11) & 1);
        unsigned int max_subleaf = a;
        if (max_subleaf >= 1) { /* leaf 7 sub-leaf 1 is reserved otherwise */
            __cpuid_count(7, 1, a, b, c, d);
            f->avx_vnni = f->avx2 && ((a >> 4) & 1);
            f->avx512_bf16 = f->avx512f && ((a >> 5) & 1);
        }
    }
    unsigned int brand[12];
    if ((unsigned int)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        for (unsigned int i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &brand[4 * i], &brand[4 * i + 1], &brand[4 * i + 2],
                        &brand[4 * i + 3]);
        char s[49];
        memcpy(s, brand, 48);
        s[48] = '\0';
        char *p = s;
        while (*p == ' ')
            p++;
        size_t n = strlen(p);
        while (n > 0 && p[n - 1] == ' ')
            p[--n] = '\0';
        snprintf(f->model, sizeof f->model, "%s", p);
    }
}
#endif

static void apply_cap(struct dfit_cpu_features *f, const char *cap)
{
    if (!cap || !*cap)
        return;
    if (strcasecmp(cap, "scalar") == 0) {
        char model[sizeof f->model];
        memcpy(model, f->model, sizeof model);
        memset(f, 0, sizeof *f);
        memcpy(f->model, model, sizeof model);
    } else if (strcasecmp(cap, "avx2") == 0) {
        f->avx512f = f->avx512bw = f->avx512vl = f->avx512dq = false;
        f->avx512_vnni = f->avx512_bf16 = false;
    }
}

void dfit_cpu_features_detect(struct dfit_cpu_features *out)
{
    memset(out, 0, sizeof *out);
#if defined(__x86_64__) || defined(__i386__)
    detect_x86(out);
#endif
    if (!out->model[0])
        snprintf(out->model, sizeof out->model, "unknown CPU");
    apply_cap(out, getenv("DFIT_CPU_FEATURES"));
}

static struct dfit_cpu_features cached;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void detect_once(void)
{
    dfit_cpu_features_detect(&cached);
}

const struct dfit_cpu_features *dfit_cpu_features(void)
{
    pthread_once(&once, detect_once);
    return &cached;
}

char *dfit_cpu_features_str(const struct dfit_cpu_features *f, char *buf, size_t cap)
{
    struct {
        bool on;
        const char *name;
    } list[] = {
        {f->sse42, "sse4.2"},       {f->avx, "avx"},           {f->avx2, "avx2"},
        {f->fma, "fma"},            {f->f16c, "f16c"},         {f->avx512f, "avx512f"},
        {f->avx512bw, "avx512bw"},  {f->avx512vl, "avx512vl"}, {f->avx512dq, "avx512dq"},
        {f->avx512_vnni, "avx512_vnni"}, {f->avx512_bf16, "avx512_bf16"},
        {f->avx_vnni, "avx_vnni"},
    };
    if (cap == 0)
        return buf;
    /* whole names only: one that does not fit ends the list there */
    size_t used = 0;
    bool any = false;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        if (!list[i].on)
            continue;
        any = true;
        int n = snprintf(buf + used, cap - used, "%s%s", used ? " " : "", list[i].name);
        if (n < 0 || (size_t)n >= cap - used) {
            buf[used] = '\0';
            break;
        }
        used += (size_t)n;
    }
    if (!any)
        snprintf(buf, cap, "none");
    return buf;
}

const char *dfit_cpu_features_level(const struct dfit_cpu_features *f)
{
    if (f->avx512f && f->avx512bw && f->avx512vl && f->avx512_vnni && f->avx512_bf16)
        return "avx512-vnni-bf16";
    if (f->avx512f && f->avx512bw && f->avx512vl)
        return "avx512";
    if (f->avx2 && f->fma && f->f16c)
        return "avx2";
    return "scalar";
}
