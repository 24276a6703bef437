/* sparse_pack.c — repacking one pruned matrix (sparse.h): the pattern
 * checks, the BITMAP / 2:4 / BLOCKS layouts, their work units, and the
 * huge-page arena a model's repacks share.
 * Non-goals: which matrices of a model to repack (sparse_model.c), the
 * kernels and the parallel driver (sparse_kern*.c).
 */
#include "cpu/sparse.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

const char *dfit_sparse_layout_name(enum dfit_sparse_layout l)
{
    switch (l) {
    case DFIT_SPARSE_BITMAP: return "bitmap";
    case DFIT_SPARSE_2_4: return "2:4";
    case DFIT_SPARSE_BLOCKS: return "blocks";
    case DFIT_SPARSE_N_LAYOUT: break;
    }
    return "?";
}

/* ---- zeros ------------------------------------------------------------------ */

static bool is_float(enum dfit_type t)
{
    return t == DFIT_TYPE_F32 || t == DFIT_TYPE_F16 || t == DFIT_TYPE_BF16;
}

static size_t elem_bytes(enum dfit_type t)
{
    return t == DFIT_TYPE_F32 ? 4 : 2;
}

static const uint8_t *row_ptr(const struct dfit_weight *w, int64_t r)
{
    return (const uint8_t *)w->data + (size_t)r * w->row_bytes;
}

/* Element k of a float-format row is non-zero (+0 and -0 are zero). */
static inline bool nz_float(const uint8_t *row, int64_t k, size_t es)
{
    if (es == 4) {
        uint32_t u;
        memcpy(&u, row + 4 * k, 4);
        return (u & 0x7fffffffu) != 0;
    }
    uint16_t h;
    memcpy(&h, row + 2 * k, 2);
    return (h & 0x7fffu) != 0;
}

/* Non-zero quants of block b of a Q8_0/Q4_0 row (0 when its scale is 0). */
static int block_nonzero(enum dfit_type t, const uint8_t *row, int64_t b)
{
    int n = 0;
    if (t == DFIT_TYPE_Q8_0) {
        const struct dfit_block_q8_0 *q = (const struct dfit_block_q8_0 *)row + b;
        if ((q->d & 0x7fffu) == 0)
            return 0;
        for (int j = 0; j < DFIT_QK; j++)
            n += q->qs[j] != 0;
    } else {
        const struct dfit_block_q4_0 *q = (const struct dfit_block_q4_0 *)row + b;
        if ((q->d & 0x7fffu) == 0)
            return 0;
        for (int j = 0; j < DFIT_QK / 2; j++)
        {
            n += (q->qs[j] & 0x0f) != 8;
            n += (q->qs[j] >> 4) != 8;
        }
    }
    return n;
}

uint64_t dfit_sparse_count_nonzero(const struct dfit_weight *w)
{
    uint64_t n = 0;
    if (is_float(w->type)) {
        const size_t es = elem_bytes(w->type);
        for (int64_t r = 0; r < w->n_out; r++)
            for (int64_t k = 0; k < w->n_in; k++)
                n += nz_float(row_ptr(w, r), k, es);
    } else {
        for (int64_t r = 0; r < w->n_out; r++)
            for (int64_t b = 0; b < w->n_in / DFIT_QK; b++)
                n += (uint64_t)block_nonzero(w->type, row_ptr(w, r), b);
    }
    return n;
}

/* ---- layouts --------------------------------------------------------------------- */

void dfit_sparse_mat_free(struct dfit_sparse_mat *s)
{
    if (!s)
        return;
    free(s->row_off);
    free(s->unit_row);
    if (!s->arena) { /* else the rest lies in the arena */
        free(s->mask);
        free(s->sel);
        free(s->blk);
        free(s->val);
    }
    free(s);
}

#define HUGE_BYTES ((size_t)2 << 20)

/* A model's repacks share one arena: an anonymous mapping of an upper
 * bound of their size (untouched pages cost nothing), 2 MiB-aligned and
 * advised into transparent huge pages, as the kernel may map the model
 * file's page cache: streamed by the kernels, the repacks should not pay
 * more TLB misses than the dense weights they replace. Matrices packed in
 * parallel take their arrays from it with an atomic bump pointer. */
struct dfit_sparse_arena {
    uint8_t *map;  /* the mapping */
    size_t map_bytes;
    uint8_t *base; /* 2 MiB-aligned start */
    size_t cap;
    atomic_size_t used;
};

void dfit_sparse_arena_free(struct dfit_sparse_arena *a)
{
    if (!a)
        return;
    if (a->map)
        munmap(a->map, a->map_bytes);
    free(a);
}

struct dfit_sparse_arena *dfit_sparse_arena_create(size_t cap)
{
    struct dfit_sparse_arena *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->map_bytes = cap + HUGE_BYTES;
    void *p = mmap(NULL, a->map_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        free(a);
        return NULL;
    }
    a->map = p;
    a->base = (uint8_t *)(((uintptr_t)p + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1));
    a->cap = cap;
    (void)madvise(a->base, cap, MADV_HUGEPAGE); /* advice only: 4 KiB pages otherwise */
    atomic_init(&a->used, 0);
    return a;
}

/* n zeroed bytes, 64-aligned, from s's arena, else from the heap. */
static void *alloc_big(struct dfit_sparse_mat *s, size_t n)
{
    if (!s->arena)
        return calloc(n ? n : 1, 1);
    const size_t take = (n + 63) / 64 * 64;
    const size_t off = atomic_fetch_add(&s->arena->used, take);
    return off + take <= s->arena->cap ? s->arena->base + off : NULL;
}

/* Values buffer of n bytes plus 64 zero bytes (kernels load 16 values past
 * a row's last). */
static void *alloc_val(struct dfit_sparse_mat *s, size_t n)
{
    return alloc_big(s, n + 64);
}

static int pack_bitmap(struct dfit_sparse_mat *s, const struct dfit_weight *w)
{
    const size_t es = elem_bytes(w->type);
    s->n_grp = (w->n_in + 15) / 16;
    s->row_off = malloc((size_t)(w->n_out + 1) * sizeof *s->row_off);
    s->mask = alloc_big(s, (size_t)(w->n_out * s->n_grp) * sizeof *s->mask);
    if (!s->row_off || !s->mask)
        return DFIT_ENOMEM;
    uint64_t nv = 0;
    s->row_off[0] = 0;
    for (int64_t r = 0; r < w->n_out; r++) { /* masks first: one branch-free pass */
        const uint8_t *row = row_ptr(w, r);
        uint16_t *mk = s->mask + r * s->n_grp;
        for (int64_t c = 0; c < s->n_grp; c++) {
            const int64_t k0 = 16 * c, nk = w->n_in - k0 < 16 ? w->n_in - k0 : 16;
            unsigned m = 0;
            for (int64_t j = 0; j < nk; j++)
                m |= (unsigned)nz_float(row, k0 + j, es) << j;
            mk[c] = (uint16_t)m;
            nv += (uint64_t)__builtin_popcount(m);
        }
        s->row_off[r + 1] = nv;
    }
    s->n_val = s->n_nonzero = nv;
    uint8_t *val = s->val = alloc_val(s, (size_t)nv * es);
    if (!val)
        return DFIT_ENOMEM;
    for (int64_t r = 0; r < w->n_out; r++) { /* then the values the masks name */
        const uint8_t *row = row_ptr(w, r);
        const uint16_t *mk = s->mask + r * s->n_grp;
        uint8_t *v = val + s->row_off[r] * es;
        for (int64_t c = 0; c < s->n_grp; c++)
            for (unsigned m = mk[c]; m; m &= m - 1) {
                memcpy(v, row + (size_t)(16 * c + __builtin_ctz(m)) * es, es);
                v += es;
            }
    }
    s->bytes = (uint64_t)(w->n_out + 1) * sizeof *s->row_off +
               (uint64_t)(w->n_out * s->n_grp) * sizeof *s->mask + nv * es;
    return 0;
}

static int pack_24(struct dfit_sparse_mat *s, const struct dfit_weight *w, struct dfit_err *err)
{
    const size_t es = elem_bytes(w->type);
    const int64_t n_in = w->n_in;
    if (n_in % 4)
        return dfit_err_set(err, DFIT_EINVAL, "row length %" PRId64 " is not a multiple of 4",
                            n_in);
    s->n_grp = (n_in + 31) / 32;
    const int64_t rv = s->n_grp * 16; /* values per row, padded */
    s->n_val = (uint64_t)(rv * w->n_out);
    s->sel = alloc_big(s, (size_t)(w->n_out * s->n_grp) * sizeof *s->sel);
    uint8_t *val = s->val = alloc_val(s, (size_t)s->n_val * es);
    if (!s->sel || !val)
        return DFIT_ENOMEM;
    uint64_t nnz = 0;
    for (int64_t r = 0; r < w->n_out; r++) {
        const uint8_t *row = row_ptr(w, r);
        for (int64_t g = 0; g < n_in / 4; g++) {
            int pos[4], n_nz = 0, n_z = 0, zpos[4];
            for (int j = 0; j < 4; j++) {
                if (nz_float(row, 4 * g + j, es))
                    pos[n_nz++] = j;
                else
                    zpos[n_z++] = j;
            }
            if (n_nz > 2)
                return dfit_err_set(err, DFIT_EINVAL,
                                    "row %" PRId64 ", columns %" PRId64 "..%" PRId64
                                    ": %d non-zeros in a group of 4 (2:4 allows 2)",
                                    r, 4 * g, 4 * g + 3, n_nz);
            nnz += (uint64_t)n_nz;
            for (int z = 0; n_nz < 2; z++) /* pad with zeros, positions increasing */
                pos[n_nz++] = zpos[z];
            if (pos[0] > pos[1]) {
                int t = pos[0];
                pos[0] = pos[1];
                pos[1] = t;
            }
            const int64_t c = g / 8, i = 2 * (g % 8);
            uint32_t *sw = s->sel + r * s->n_grp + c;
            *sw |= (uint32_t)pos[0] << (2 * i) | (uint32_t)pos[1] << (2 * i + 2);
            uint8_t *v = val + (size_t)(r * rv + c * 16 + i) * es;
            memcpy(v, row + (size_t)(4 * g + pos[0]) * es, es);
            memcpy(v + es, row + (size_t)(4 * g + pos[1]) * es, es);
        }
    }
    s->n_nonzero = nnz;
    s->bytes = (uint64_t)(w->n_out * s->n_grp) * sizeof *s->sel + s->n_val * es;
    return 0;
}

static int pack_blocks(struct dfit_sparse_mat *s, const struct dfit_weight *w,
                       struct dfit_err *err)
{
    const size_t bb = dfit_type_info(w->type)->block_bytes;
    s->n_grp = w->n_in / DFIT_QK;
    if (s->n_grp >= 65536)
        return dfit_err_set(err, DFIT_EINVAL, "rows of %" PRId64 " blocks (BLOCKS takes < 65536)",
                            s->n_grp);
    s->row_off = malloc((size_t)(w->n_out + 1) * sizeof *s->row_off);
    if (!s->row_off)
        return DFIT_ENOMEM;
    uint64_t nb = 0, nnz = 0;
    s->row_off[0] = 0;
    for (int64_t r = 0; r < w->n_out; r++) {
        for (int64_t b = 0; b < s->n_grp; b++) {
            int n = block_nonzero(w->type, row_ptr(w, r), b);
            nnz += (uint64_t)n;
            nb += n > 0;
        }
        s->row_off[r + 1] = nb;
    }
    const uint64_t total = (uint64_t)(w->n_out * s->n_grp);
    if ((double)(total - nb) < DFIT_SPARSE_MIN_ZERO_BLOCKS * (double)total)
        return dfit_err_set(err, DFIT_EINVAL,
                            "%" PRIu64 " of %" PRIu64 " blocks all zero, fewer than %.0f%%: "
                            "skipping them would not pay",
                            total - nb, total, 100.0 * DFIT_SPARSE_MIN_ZERO_BLOCKS);
    s->n_val = nb;
    s->n_nonzero = nnz;
    s->blk = alloc_big(s, (size_t)nb * sizeof *s->blk);
    uint8_t *val = s->val = alloc_val(s, (size_t)nb * bb);
    if (!s->blk || !val)
        return DFIT_ENOMEM;
    uint64_t i = 0;
    for (int64_t r = 0; r < w->n_out; r++)
        for (int64_t b = 0; b < s->n_grp; b++)
            if (block_nonzero(w->type, row_ptr(w, r), b) > 0) {
                s->blk[i] = (uint16_t)b;
                memcpy(val + i * bb, row_ptr(w, r) + (size_t)b * bb, bb);
                i++;
            }
    s->bytes = (uint64_t)(w->n_out + 1) * sizeof *s->row_off + nb * (sizeof *s->blk + bb);
    return 0;
}

/* Work of row r in a kernel's inner steps: its stored values (or block
 * quants), its mask or selector words, and a fixed cost per row. */
static uint64_t row_cost(const struct dfit_sparse_mat *s, int64_t r)
{
    switch (s->layout) {
    case DFIT_SPARSE_BITMAP:
        return s->row_off[r + 1] - s->row_off[r] + (uint64_t)s->n_grp + 16;
    case DFIT_SPARSE_2_4: return (uint64_t)s->n_grp * 17 + 16;
    default: return (s->row_off[r + 1] - s->row_off[r]) * DFIT_QK + 16;
    }
}

/* Cuts the rows into about 8 units per thread of equal work (so a unit of
 * dense rows is short and one of empty rows long), at least 4 rows each. */
static int make_units(struct dfit_sparse_mat *s, int n_threads)
{
    uint64_t total = 0;
    for (int64_t r = 0; r < s->n_out; r++)
        total += row_cost(s, r);
    const uint64_t target = total / ((uint64_t)(n_threads > 0 ? n_threads : 1) * 8) + 1;
    s->unit_row = malloc((size_t)(s->n_out + 1) * sizeof *s->unit_row);
    if (!s->unit_row)
        return DFIT_ENOMEM;
    int64_t n = 0, r0 = 0;
    uint64_t acc = 0;
    s->unit_row[0] = 0;
    for (int64_t r = 0; r < s->n_out; r++) {
        acc += row_cost(s, r);
        if ((acc >= target && r + 1 - r0 >= 4) || r + 1 == s->n_out) {
            s->unit_row[++n] = r + 1;
            r0 = r + 1;
            acc = 0;
        }
    }
    s->n_unit = n;
    return 0;
}

int dfit_sparse_pack_in(const struct dfit_weight *w, enum dfit_sparse_layout l, int n_threads,
                        struct dfit_sparse_arena *a, struct dfit_sparse_mat **out,
                        struct dfit_err *err)
{
    *out = NULL;
    const bool want_float = l != DFIT_SPARSE_BLOCKS;
    if ((want_float && !is_float(w->type)) ||
        (!want_float && w->type != DFIT_TYPE_Q8_0 && w->type != DFIT_TYPE_Q4_0) ||
        w->n_out < 1 || w->n_in < 1)
        return dfit_err_set(err, DFIT_EINVAL, "tensor '%s': a %s matrix cannot take layout %s",
                            w->name ? w->name : "?", dfit_type_info(w->type)->name,
                            dfit_sparse_layout_name(l));
    struct dfit_sparse_mat *s = calloc(1, sizeof *s);
    if (!s)
        return dfit_err_set(err, DFIT_ENOMEM, "cpu backend: out of memory repacking '%s'",
                            w->name ? w->name : "?");
    s->arena = a;
    s->layout = l;
    s->type = w->type;
    s->n_in = w->n_in;
    s->n_out = w->n_out;
    struct dfit_err e2 = {0};
    int rc = l == DFIT_SPARSE_BITMAP ? pack_bitmap(s, w)
             : l == DFIT_SPARSE_2_4  ? pack_24(s, w, &e2)
                                     : pack_blocks(s, w, &e2);
    if (!rc)
        rc = make_units(s, n_threads);
    if (rc) {
        dfit_sparse_mat_free(s);
        if (rc == DFIT_ENOMEM)
            return dfit_err_set(err, DFIT_ENOMEM, "cpu backend: out of memory repacking '%s'",
                                w->name ? w->name : "?");
        return dfit_err_set(err, rc, "tensor '%s': not %s: %s", w->name ? w->name : "?",
                            dfit_sparse_layout_name(l), e2.msg);
    }
    *out = s;
    return 0;
}

int dfit_sparse_pack(const struct dfit_weight *w, enum dfit_sparse_layout l, int n_threads,
                     struct dfit_sparse_mat **out, struct dfit_err *err)
{
    return dfit_sparse_pack_in(w, l, n_threads, NULL, out, err);
}
