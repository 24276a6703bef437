/* membw.c — the streaming-read bandwidth probe (see membw.h): the buffer,
 * its slices on the thread pool, the read loops per ISA, the cache size.
 * Non-goals: see membw.h.
 */
#include "run/membw.h"

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/cpu_features.h"
#include "util/clock.h"
#include "util/stats.h"
#include "util/threadpool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MEMBW_X86 1
#else
#define MEMBW_X86 0
#endif

#define CHUNK_WORDS 32u                 /* 256 bytes: one step of every loop */
#define CHUNK_BYTES (CHUNK_WORDS * 8u)
#define DEFAULT_FLOOR (1ull << 30)      /* 1 GiB */
#define ALIGN_BYTES (2u << 20)          /* 2 MiB: huge-page friendly */

typedef uint64_t (*read_fn)(const uint64_t *p, size_t n_words);

/* ---- read loops: sum n_words (a multiple of CHUNK_WORDS) 64-bit words ---- */

static uint64_t read_generic(const uint64_t *p, size_t n)
{
    uint64_t a[8] = {0};
    for (size_t i = 0; i < n; i += CHUNK_WORDS)
        for (size_t j = 0; j < CHUNK_WORDS; j++)
            a[j % 8] += p[i + j];
    return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

#if MEMBW_X86
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint64_t *p, size_t n)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += CHUNK_WORDS)
        for (size_t j = 0; j < CHUNK_WORDS; j += 16) {
            a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i + j)));
            a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + j + 4)));
            a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + j + 8)));
            a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + j + 12)));
        }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t lane[4];
    _mm256_storeu_si256((__m256i *)lane, a0);
    return lane[0] + lane[1] + lane[2] + lane[3];
}

__attribute__((target("avx512f"))) static uint64_t read_avx512(const uint64_t *p, size_t n)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += CHUNK_WORDS) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *)(p + i)));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512((const void *)(p + i + 8)));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512((const void *)(p + i + 16)));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512((const void *)(p + i + 24)));
    }
    a0 = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    return (uint64_t)_mm512_reduce_add_epi64(a0);
}
#endif

/* The loop named by want ("auto"/NULL: the best this CPU runs). */
static int choose(const char *want, read_fn *fn, const char **name, struct dfit_err *err)
{
    const struct dfit_cpu_features *f = dfit_cpu_features();
    bool autos = !want || !*want || strcmp(want, "auto") == 0;
    if (!autos && strcmp(want, "generic") != 0 && strcmp(want, "avx2") != 0 &&
        strcmp(want, "avx512") != 0)
        return dfit_err_set(err, DFIT_EINVAL,
                            "memory bandwidth probe: unknown read loop '%s' (auto, avx512, avx2, "
                            "generic)", want);
#if MEMBW_X86
    if ((autos && f->avx512f) || (!autos && strcmp(want, "avx512") == 0)) {
        if (!f->avx512f)
            return dfit_err_set(err, DFIT_EUNSUPPORTED,
                                "memory bandwidth probe: this CPU has no AVX-512F");
        *fn = read_avx512;
        *name = "avx512";
        return 0;
    }
    if ((autos && f->avx2) || (!autos && strcmp(want, "avx2") == 0)) {
        if (!f->avx2)
            return dfit_err_set(err, DFIT_EUNSUPPORTED, "memory bandwidth probe: this CPU has no AVX2");
        *fn = read_avx2;
        *name = "avx2";
        return 0;
    }
#else
    (void)f;
    if (!autos && strcmp(want, "generic") != 0)
        return dfit_err_set(err, DFIT_EUNSUPPORTED,
                            "memory bandwidth probe: '%s' needs an x86 CPU", want);
#endif
    *fn = read_generic;
    *name = "generic";
    return 0;
}

/* ---- the parallel passes ------------------------------------------------------ */

struct pass {
    uint64_t *buf;          /* [n_words] word i holds i */
    size_t n_chunks;
    read_fn read;
    bool fill;              /* this pass writes the pattern instead */
    struct {
        uint64_t sum;
        char pad[56];
    } *part;                /* [nth] one cache line each */
};

static void pass_task(void *arg, int ith, int nth)
{
    struct pass *ps = arg;
    long lo, hi;
    dfit_split_range((long)ps->n_chunks, ith, nth, &lo, &hi);
    uint64_t *p = ps->buf + (size_t)lo * CHUNK_WORDS;
    size_t n = (size_t)(hi - lo) * CHUNK_WORDS;
    if (ps->fill) {
        uint64_t first = (uint64_t)lo * CHUNK_WORDS;
        for (size_t i = 0; i < n; i++)
            p[i] = first + i;
        ps->part[ith].sum = 0;
    } else {
        ps->part[ith].sum = n ? ps->read(p, n) : 0;
    }
}

static uint64_t run_pass(struct dfit_threadpool *tp, struct pass *ps, bool fill)
{
    ps->fill = fill;
    dfit_threadpool_run(tp, pass_task, ps);
    uint64_t s = 0;
    for (int i = 0; i < dfit_threadpool_size(tp); i++)
        s += ps->part[i].sum;
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int dfit_membw_measure(const struct dfit_membw_params *p, struct dfit_membw_result *out,
                       struct dfit_err *err)
{
    memset(out, 0, sizeof *out);
    int nth = p->n_threads > 0 ? p->n_threads : 1;
    int reps = p->reps > 0 ? p->reps : 5;
    uint64_t bytes = p->buffer_bytes ? p->buffer_bytes : dfit_membw_default_bytes();
    if (bytes < DFIT_MEMBW_MIN_BYTES)
        return dfit_err_set(err, DFIT_EINVAL,
                            "memory bandwidth probe: buffer of %llu bytes is under the %u minimum",
                            (unsigned long long)bytes, DFIT_MEMBW_MIN_BYTES);
    if (nth > DFIT_MEMBW_MAX_THREADS)
        return dfit_err_set(err, DFIT_EINVAL, "memory bandwidth probe: %d threads exceed %d", nth,
                            DFIT_MEMBW_MAX_THREADS);
    if (reps > DFIT_MEMBW_MAX_REPS)
        return dfit_err_set(err, DFIT_EINVAL,
                            "memory bandwidth probe: %d repetitions exceed %d", reps,
                            DFIT_MEMBW_MAX_REPS);
    if (bytes > SIZE_MAX / 2)
        return dfit_err_set(err, DFIT_ENOMEM, "memory bandwidth probe: buffer of %llu bytes",
                            (unsigned long long)bytes);
    bytes -= bytes % CHUNK_BYTES;
    struct pass ps = {.n_chunks = (size_t)(bytes / CHUNK_BYTES)};
    const char *simd = NULL;
    int rc = choose(p->simd, &ps.read, &simd, err);
    if (rc)
        return rc;
    struct dfit_threadpool *tp = NULL;
    double *bw = calloc((size_t)reps, sizeof *bw);
    ps.part = calloc((size_t)nth, sizeof *ps.part);
    void *mem = NULL;
    if (!bw || !ps.part || posix_memalign(&mem, ALIGN_BYTES, (size_t)bytes) != 0) {
        mem = NULL;
        rc = dfit_err_set(err, DFIT_ENOMEM,
                          "memory bandwidth probe: cannot allocate a buffer of %llu bytes",
                          (unsigned long long)bytes);
        goto fail;
    }
#ifdef MADV_HUGEPAGE
    madvise(mem, (size_t)bytes, MADV_HUGEPAGE); /* fewer TLB misses; advice only */
#endif
    ps.buf = mem;
    if ((rc = dfit_threadpool_create(nth, &tp, err))) {
        dfit_err_prefix(err, "memory bandwidth probe");
        goto fail;
    }
    run_pass(tp, &ps, true);  /* first touch by the thread that reads it */
    run_pass(tp, &ps, false); /* warm-up */
    uint64_t sum = 0;
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = dfit_now_ns();
        sum = run_pass(tp, &ps, false);
        uint64_t t1 = dfit_now_ns();
        bw[r] = (double)bytes * 1e9 / (double)(t1 > t0 ? t1 - t0 : 1);
    }
    qsort(bw, (size_t)reps, sizeof *bw, cmp_double);
    *out = (struct dfit_membw_result){
        .buffer_bytes = bytes, .llc_bytes = dfit_membw_llc_bytes(), .n_threads = nth,
        .reps = reps, .simd = simd, .bytes_per_s = dfit_stats_percentile_sorted(bw, (size_t)reps, 0.5),
        .min_bytes_per_s = bw[0], .max_bytes_per_s = bw[reps - 1], .checksum = sum};
fail:
    dfit_threadpool_free(tp);
    free(mem);
    free(ps.part);
    free(bw);
    return rc;
}

/* ---- sizes ------------------------------------------------------------------------ */

/* "32768K", "2M", "1024" -> bytes; 0 when unreadable. */
static uint64_t read_size(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    unsigned long long v = 0;
    char unit = 0;
    int n = fscanf(f, "%llu%c", &v, &unit);
    fclose(f);
    if (n < 1)
        return 0;
    if (unit == 'K')
        v <<= 10;
    else if (unit == 'M')
        v <<= 20;
    else if (unit == 'G')
        v <<= 30;
    return v;
}

static int read_int(const char *path)
{
    FILE *f = fopen(path, "r");
    int v = -1;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* CPUs named by a sysfs list such as "0-7,16-23". */
static long count_cpu_list(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long n = 0, a, b;
    int c;
    while (fscanf(f, "%ld", &a) == 1) {
        b = a;
        c = fgetc(f);
        if (c == '-') {
            if (fscanf(f, "%ld", &b) != 1)
                break;
            c = fgetc(f);
        }
        n += b >= a ? b - a + 1 : 0;
        if (c != ',')
            break;
    }
    fclose(f);
    return n;
}

uint64_t dfit_membw_llc_bytes(void)
{
    const char *base = "/sys/devices/system/cpu/cpu0/cache";
    int best_level = -1;
    uint64_t best = 0;
    long shared = 0;
    DIR *d = opendir(base);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strncmp(e->d_name, "index", 5) != 0)
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s/level", base, e->d_name);
            int level = read_int(path);
            snprintf(path, sizeof path, "%s/%s/size", base, e->d_name);
            uint64_t size = read_size(path);
            if (level > best_level && size > 0) {
                best_level = level;
                best = size;
                snprintf(path, sizeof path, "%s/%s/shared_cpu_list", base, e->d_name);
                shared = count_cpu_list(path);
            }
        }
        closedir(d);
    }
#ifdef _SC_LEVEL3_CACHE_SIZE
    if (best == 0) {
        long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
        best = l3 > 0 ? (uint64_t)l3 : l2 > 0 ? (uint64_t)l2 : 0;
    }
#endif
    long n_cpus = sysconf(_SC_NPROCESSORS_CONF);
    if (best && shared > 0 && n_cpus > shared)
        best *= (uint64_t)((n_cpus + shared - 1) / shared); /* one instance per group of CPUs */
    return best;
}

static uint64_t mem_available_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
            break;
    fclose(f);
    return (uint64_t)kib << 10;
}

uint64_t dfit_membw_default_bytes(void)
{
    uint64_t b = DEFAULT_FLOOR, llc = dfit_membw_llc_bytes();
    if (llc > b / 8)
        b = 8 * llc;
    uint64_t avail = mem_available_bytes();
    if (avail && b > avail / 2)
        b = avail / 2;
    return b < DFIT_MEMBW_MIN_BYTES ? DFIT_MEMBW_MIN_BYTES : b;
}

double dfit_membw_roofline_tokens_per_s(double bytes_per_s, double bytes_per_token)
{
    if (!(bytes_per_s > 0) || !(bytes_per_token > 0) || !isfinite(bytes_per_s))
        return 0.0;
    return bytes_per_s / bytes_per_token;
}
