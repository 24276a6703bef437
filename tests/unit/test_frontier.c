/* test_frontier — the Pareto frontier and the SLO-aware recommendation
 * (report/frontier.h) on hand-built points whose answers are known: ties
 * and duplicates, each SLO failing in turn, the preference and tie-break
 * rules, nothing meeting the SLOs, missing quality or price, failed and
 * INVALID cells, aggregation over workloads, and the miss texts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/frontier.h"

/* |a - b| <= tol, with both values shown when not. */
#define assert_near(a, b, tol) near_at((a), (b), (tol), __LINE__)
static void near_at(double a, double b, double tol, int line)
{
    if (!(fabs(a - b) <= tol))
        fail_msg("line %d: %.17g differs from %.17g by more than %g", line, a, b, tol);
}

/* ---- frontier ------------------------------------------------------------------ */

static void test_frontier_basic(void **state)
{
    (void)state;
    /*            A     B     C     D */
    double q[] = {0.90, 0.95, 0.92, 0.80};
    double c[] = {10, 20, 25, 5};
    bool on[4];
    int dom[4];
    assert_int_equal(dfit_frontier_compute(q, c, 4, on, dom), 3);
    assert_true(on[0]);
    assert_true(on[1]);
    assert_false(on[2]); /* B has more quality at less cost */
    assert_true(on[3]);
    assert_int_equal(dom[2], 1);
    assert_int_equal(dom[0], -1);
    assert_int_equal(dom[1], -1);
    assert_int_equal(dom[3], -1);
}

static void test_frontier_ties_and_duplicates(void **state)
{
    (void)state;
    /* E and F are the same point: neither dominates the other. G has E's
     * quality at a higher cost; H has E's cost at a lower quality. */
    double q[] = {0.9, 0.9, 0.9, 0.85};
    double c[] = {10, 10, 12, 10};
    bool on[4];
    int dom[4];
    assert_int_equal(dfit_frontier_compute(q, c, 4, on, dom), 2);
    assert_true(on[0]);
    assert_true(on[1]);
    assert_false(on[2]);
    assert_false(on[3]);
    assert_int_equal(dom[2], 0); /* equal candidates: the lowest index */
    assert_int_equal(dom[3], 0);

    /* equal quality everywhere: only the cheapest survive */
    double q2[] = {0.5, 0.5, 0.5};
    double c2[] = {3, 1, 2};
    bool on2[3];
    assert_int_equal(dfit_frontier_compute(q2, c2, 3, on2, NULL), 1);
    assert_true(on2[1]);
    assert_false(on2[0]);
    assert_false(on2[2]);

    /* the dominator reported is the cheapest frontier point that dominates */
    double q3[] = {0.99, 0.95, 0.90};
    double c3[] = {8, 4, 9};
    int dom3[3];
    bool on3[3];
    assert_int_equal(dfit_frontier_compute(q3, c3, 3, on3, dom3), 2);
    assert_int_equal(dom3[2], 1);
}

static void test_frontier_nan(void **state)
{
    (void)state;
    double q[] = {NAN, 0.9, 0.99, 0.8};
    double c[] = {1, 10, NAN, 20};
    bool on[4];
    int dom[4];
    /* neither NAN point takes part: 0 would dominate 1, 2 would dominate 3 */
    assert_int_equal(dfit_frontier_compute(q, c, 4, on, dom), 1);
    assert_false(on[0]);
    assert_true(on[1]);
    assert_false(on[2]);
    assert_false(on[3]);
    assert_int_equal(dom[0], -1);
    assert_int_equal(dom[2], -1);
    assert_int_equal(dom[3], 1);
    assert_int_equal(dfit_frontier_compute(q, c, 0, on, dom), 0);
}

/* ---- SLOs ------------------------------------------------------------------------ */

static struct dfit_slo all_slos(void)
{
    return (struct dfit_slo){.p95_ttft_ms = 50, .p95_tpot_ms = 30, .p95_e2e_ms = 1000,
                             .min_tokens_per_s = 100, .max_memory_mib = 2048,
                             .max_usd_per_mtok = 2, .min_quality = 0.9};
}

static struct dfit_slo no_slos(void)
{
    return (struct dfit_slo){NAN, NAN, NAN, NAN, NAN, NAN, NAN};
}

/* A cell that meets all_slos() with room to spare. */
static struct dfit_fit_cell good(double quality)
{
    return (struct dfit_fit_cell){.present = true, .status = DFIT_CELL_OK, .valid = true,
                                  .quality = quality, .quality_se = 0.01, .p95_ttft_ms = 20,
                                  .p95_tpot_ms = 10, .p95_e2e_ms = 500, .tokens_per_s = 200,
                                  .memory_mib = 1000, .usd_per_mtok = 1};
}

static struct dfit_fit *fit_ok(const struct dfit_slo *slo, const struct dfit_fit_cell *c, int nv,
                               int nw)
{
    struct dfit_fit *f = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_fit_compute(slo, c, nv, nw, &f, &err), 0);
    assert_non_null(f);
    return f;
}

static void test_slo_each_failing(void **state)
{
    (void)state;
    const struct dfit_slo slo = all_slos();
    static const char *const want[DFIT_SLO_COUNT] = {
        "p95 TTFT 61.5 ms > 50 ms", "p95 TPOT 41.2 ms > 30 ms", "p95 e2e 1250 ms > 1000 ms",
        "output tokens/s 80.5 tok/s < 100 tok/s", "peak memory 4096 MiB > 2048 MiB",
        "USD/Mtok 2.5 USD > 2 USD", "quality 0.853 < 0.9"};
    for (int k = 0; k < DFIT_SLO_COUNT; k++) {
        struct dfit_fit_cell c = good(0.95);
        switch (k) {
        case DFIT_SLO_P95_TTFT: c.p95_ttft_ms = 61.5; break;
        case DFIT_SLO_P95_TPOT: c.p95_tpot_ms = 41.2; break;
        case DFIT_SLO_P95_E2E: c.p95_e2e_ms = 1250; break;
        case DFIT_SLO_MIN_TOKENS_PER_S: c.tokens_per_s = 80.5; break;
        case DFIT_SLO_MAX_MEMORY: c.memory_mib = 4096; break;
        case DFIT_SLO_MAX_USD: c.usd_per_mtok = 2.5; break;
        case DFIT_SLO_MIN_QUALITY: c.quality = 0.853; break;
        }
        struct dfit_fit *f = fit_ok(&slo, &c, 1, 1);
        const struct dfit_fit_variant *v = &f->variants[0];
        assert_true(v->measured);
        assert_false(v->meets);
        assert_int_equal(f->recommended, -1);
        assert_int_equal(f->closest, 0);
        assert_int_equal(v->n_misses, 1);
        assert_int_equal(v->misses[0].kind, k);
        assert_int_equal(v->misses[0].workload, 0);
        char buf[160];
        assert_string_equal(dfit_slo_miss_text(&v->misses[0], buf, sizeof buf), want[k]);
        assert_true(v->miss > 0 && isfinite(v->miss));
        dfit_fit_free(f);
    }
}

static void test_slo_limits_met_at_equality(void **state)
{
    (void)state;
    const struct dfit_slo slo = all_slos();
    struct dfit_fit_cell c = {.present = true, .status = DFIT_CELL_OK, .valid = true,
                              .quality = 0.9, .quality_se = NAN, .p95_ttft_ms = 50,
                              .p95_tpot_ms = 30, .p95_e2e_ms = 1000, .tokens_per_s = 100,
                              .memory_mib = 2048, .usd_per_mtok = 2};
    struct dfit_fit *f = fit_ok(&slo, &c, 1, 1);
    assert_true(f->variants[0].meets);
    assert_int_equal(f->recommended, 0);
    assert_int_equal(f->closest, -1);
    assert_near(f->variants[0].miss, 0, 0);
    dfit_fit_free(f);
}

/* ---- recommendation ------------------------------------------------------------------ */

static void test_recommend_best_quality(void **state)
{
    (void)state;
    const struct dfit_slo slo = all_slos();
    struct dfit_fit_cell c[4] = {good(0.91), good(0.97), good(0.95), good(0.99)};
    c[3].p95_tpot_ms = 31; /* the best quality misses TPOT */
    struct dfit_fit *f = fit_ok(&slo, c, 4, 1);
    assert_int_equal(f->recommended, 1);
    assert_int_equal(f->variants[1].rank, 1);
    assert_int_equal(f->variants[3].rank, 0); /* ranks ignore SLOs */
    assert_false(f->variants[3].meets);
    assert_int_equal(f->variants[0].rank, 3);
    dfit_fit_free(f);
}

static void test_tie_breaks(void **state)
{
    (void)state;
    const struct dfit_slo slo = all_slos();
    /* equal quality: lower USD/Mtok wins */
    struct dfit_fit_cell c[3] = {good(0.95), good(0.95), good(0.95)};
    c[0].usd_per_mtok = 1.5;
    c[1].usd_per_mtok = 1.2;
    c[2].usd_per_mtok = 1.4;
    struct dfit_fit *f = fit_ok(&slo, c, 3, 1);
    assert_int_equal(f->recommended, 1);
    dfit_fit_free(f);
    /* equal USD: lower p95 e2e */
    c[1].usd_per_mtok = c[2].usd_per_mtok = c[0].usd_per_mtok;
    c[0].p95_e2e_ms = 600;
    c[1].p95_e2e_ms = 700;
    c[2].p95_e2e_ms = 550;
    f = fit_ok(&slo, c, 3, 1);
    assert_int_equal(f->recommended, 2);
    dfit_fit_free(f);
    /* equal e2e: smaller memory */
    c[0].p95_e2e_ms = c[1].p95_e2e_ms = c[2].p95_e2e_ms = 600;
    c[0].memory_mib = 900;
    c[1].memory_mib = 800;
    c[2].memory_mib = 1000;
    f = fit_ok(&slo, c, 3, 1);
    assert_int_equal(f->recommended, 1);
    dfit_fit_free(f);
    /* all equal: the first */
    c[1].memory_mib = c[2].memory_mib = c[0].memory_mib;
    f = fit_ok(&slo, c, 3, 1);
    assert_int_equal(f->recommended, 0);
    /* identical variants do not dominate each other */
    assert_int_equal(f->variants[1].dominated_by, -1);
    dfit_fit_free(f);
    /* a known price beats an unknown one at equal quality */
    c[0].usd_per_mtok = NAN;
    const struct dfit_slo none = no_slos();
    f = fit_ok(&none, c, 3, 1);
    assert_int_equal(f->recommended, 1);
    dfit_fit_free(f);
}

static void test_nothing_meets(void **state)
{
    (void)state;
    const struct dfit_slo slo = all_slos();
    struct dfit_fit_cell c[3] = {good(0.99), good(0.95), good(0.97)};
    c[0].p95_tpot_ms = 45;   /* 50% over */
    c[1].p95_tpot_ms = 33;   /* 10% over */
    c[2].p95_tpot_ms = 31.5; /* 5% over ... */
    c[2].memory_mib = 2400;  /* ... and 17% over */
    struct dfit_fit *f = fit_ok(&slo, c, 3, 1);
    assert_int_equal(f->recommended, -1);
    assert_int_equal(f->closest, 1);
    assert_near(f->variants[1].miss, 0.1, 1e-12);
    assert_near(f->variants[2].miss, 352.0 / 2048.0, 1e-12);
    assert_int_equal(f->variants[2].n_misses, 2);
    dfit_fit_free(f);

    /* equal worst misses: fewer misses wins */
    c[1].p95_tpot_ms = 33;
    c[2].p95_tpot_ms = 33;
    c[2].memory_mib = 2100;
    f = fit_ok(&slo, c, 3, 1);
    assert_int_equal(f->closest, 1);
    dfit_fit_free(f);
}

static void test_missing_quality(void **state)
{
    (void)state;
    struct dfit_slo slo = no_slos();
    struct dfit_fit_cell c[3] = {good(NAN), good(0.5), good(NAN)};
    c[0].usd_per_mtok = 0.5; /* cheaper, but its quality is unknown */
    struct dfit_fit *f = fit_ok(&slo, c, 3, 1);
    assert_int_equal(f->recommended, 1);
    assert_true(isnan(f->variants[0].quality));
    assert_int_equal(f->variants[0].rank, 1);
    assert_int_equal(f->variants[2].rank, 2);
    assert_int_equal(f->variants[0].dominated_by, -1); /* unknown quality: incomparable */
    dfit_fit_free(f);

    /* with a quality SLO an unknown quality misses it, "not measured" */
    slo.min_quality = 0.4;
    f = fit_ok(&slo, c, 3, 1);
    assert_int_equal(f->recommended, 1);
    assert_false(f->variants[0].meets);
    assert_int_equal(f->variants[0].n_misses, 1);
    assert_true(isinf(f->variants[0].miss));
    char buf[128];
    assert_string_equal(dfit_slo_miss_text(&f->variants[0].misses[0], buf, sizeof buf),
                        "quality not measured (limit 0.4)");
    dfit_fit_free(f);

    /* no quality at all: the cheapest that meets the SLOs */
    struct dfit_fit_cell d[2] = {good(NAN), good(NAN)};
    d[1].usd_per_mtok = 0.7;
    const struct dfit_slo none = no_slos();
    f = fit_ok(&none, d, 2, 1);
    assert_int_equal(f->recommended, 1);
    dfit_fit_free(f);
}

static void test_missing_price(void **state)
{
    (void)state;
    struct dfit_slo slo = all_slos();
    slo.max_usd_per_mtok = NAN;
    struct dfit_fit_cell c[2] = {good(0.95), good(0.93)};
    c[0].usd_per_mtok = c[1].usd_per_mtok = NAN;
    struct dfit_fit *f = fit_ok(&slo, c, 2, 1);
    assert_int_equal(f->recommended, 0);
    assert_true(isnan(f->variants[0].usd_per_mtok));
    /* costs unknown for both on one axis count as equal: 0 dominates 1 */
    c[1].memory_mib = 1200;
    dfit_fit_free(f);
    f = fit_ok(&slo, c, 2, 1);
    assert_int_equal(f->variants[1].dominated_by, 0);
    dfit_fit_free(f);

    /* a price SLO on a target without a price cannot be met */
    slo.max_usd_per_mtok = 2;
    f = fit_ok(&slo, c, 2, 1);
    assert_int_equal(f->recommended, -1);
    assert_int_equal(f->closest, 0); /* both infinitely far: fewest misses, then rank */
    char buf[128];
    assert_string_equal(dfit_slo_miss_text(&f->variants[0].misses[0], buf, sizeof buf),
                        "USD/Mtok not measured (limit 2 USD)");
    dfit_fit_free(f);
}

static void test_failed_and_invalid_cells(void **state)
{
    (void)state;
    const struct dfit_slo slo = all_slos();
    /* 3 variants x 2 workloads */
    struct dfit_fit_cell c[6] = {good(0.99), good(0.99), good(0.95), good(0.95),
                                 good(0.90), good(0.90)};
    c[1].status = DFIT_CELL_OOM;        /* the best fails one workload */
    c[3].valid = false;                 /* the next is INVALID on one */
    struct dfit_fit *f = fit_ok(&slo, c, 3, 2);
    assert_false(f->variants[0].measured);
    assert_true(isinf(f->variants[0].miss));
    assert_int_equal(f->recommended, 1);
    assert_true(f->variants[1].invalid);
    assert_true(f->variants[1].measured);
    assert_int_equal(f->variants[0].rank, 2); /* unmeasured ranks last */
    dfit_fit_free(f);

    /* a missing cell is the same as a failed one; nothing measured: no closest */
    c[1].status = DFIT_CELL_OK;
    c[0].present = false;
    c[2].status = DFIT_CELL_SKIPPED;
    c[4].status = DFIT_CELL_CRASHED;
    f = fit_ok(&slo, c, 3, 2);
    assert_int_equal(f->recommended, -1);
    assert_int_equal(f->closest, -1);
    for (int v = 0; v < 3; v++)
        assert_false(f->variants[v].measured);
    dfit_fit_free(f);
}

static void test_aggregation_over_workloads(void **state)
{
    (void)state;
    const struct dfit_slo slo = all_slos();
    /* variant 0: fine on workload 0, TPOT miss on workload 1 */
    struct dfit_fit_cell c[4] = {good(0.97), good(0.96), good(0.95), good(0.94)};
    c[1].p95_tpot_ms = 41.2;
    c[1].memory_mib = 1500;
    c[0].p95_e2e_ms = 800;
    struct dfit_fit *f = fit_ok(&slo, c, 2, 2);
    const struct dfit_fit_variant *v = &f->variants[0];
    assert_int_equal(v->n_misses, 1);
    assert_int_equal(v->misses[0].workload, 1);
    assert_near(v->quality, 0.96, 0);    /* the lowest */
    assert_near(v->memory_mib, 1500, 0); /* the highest */
    assert_near(v->p95_e2e_ms, 800, 0);
    assert_int_equal(f->recommended, 1);
    assert_near(f->variants[1].quality, 0.94, 0);
    dfit_fit_free(f);
}

static void test_dominated_by(void **state)
{
    (void)state;
    struct dfit_fit_cell c[3] = {good(0.95), good(0.93), good(0.97)};
    c[1].memory_mib = 1100; /* worse on quality and memory than 0 */
    c[2].memory_mib = 3000; /* better quality, more memory: incomparable with 0 */
    const struct dfit_slo none = no_slos();
    struct dfit_fit *f = fit_ok(&none, c, 3, 1);
    assert_int_equal(f->recommended, 2);
    assert_int_equal(f->variants[1].dominated_by, 0);
    assert_int_equal(f->variants[0].dominated_by, -1);
    assert_int_equal(f->variants[2].dominated_by, -1);
    dfit_fit_free(f);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct dfit_fit dummy;
    struct dfit_fit *f = &dummy;
    struct dfit_err err = {0};
    const struct dfit_slo slo = no_slos();
    assert_int_equal(dfit_fit_compute(&slo, NULL, 2, 1, &f, &err), DFIT_EINVAL);
    assert_null(f);
    assert_int_equal(dfit_fit_compute(&slo, NULL, -1, 1, &f, &err), DFIT_EINVAL);
    /* no variants is an empty answer, not an error */
    assert_int_equal(dfit_fit_compute(&slo, NULL, 0, 0, &f, &err), 0);
    assert_int_equal(f->recommended, -1);
    assert_int_equal(f->closest, -1);
    dfit_fit_free(f);
    dfit_fit_free(NULL);
}

static void test_fmt_value(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(dfit_frontier_fmt_value(41.2, b, sizeof b), "41.2");
    assert_string_equal(dfit_frontier_fmt_value(30, b, sizeof b), "30");
    assert_string_equal(dfit_frontier_fmt_value(0.9531, b, sizeof b), "0.953");
    assert_string_equal(dfit_frontier_fmt_value(1250.4, b, sizeof b), "1250");
    assert_string_equal(dfit_frontier_fmt_value(0.0012, b, sizeof b), "0.0012");
    assert_string_equal(dfit_frontier_fmt_value(0, b, sizeof b), "0");
    assert_string_equal(dfit_frontier_fmt_value(-2.5, b, sizeof b), "-2.5");
    assert_string_equal(dfit_frontier_fmt_value(NAN, b, sizeof b), "n/a");
    assert_string_equal(dfit_frontier_fmt_value(2e-5, b, sizeof b), "2e-05");
    assert_string_equal(dfit_quality_axis_key(DFIT_QUALITY_ACCURACY), "accuracy");
    assert_string_equal(dfit_cost_axis_key(DFIT_COST_USD), "usd");
    assert_string_equal(dfit_slo_key(DFIT_SLO_MIN_QUALITY), "min_quality");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frontier_basic),
        cmocka_unit_test(test_frontier_ties_and_duplicates),
        cmocka_unit_test(test_frontier_nan),
        cmocka_unit_test(test_slo_each_failing),
        cmocka_unit_test(test_slo_limits_met_at_equality),
        cmocka_unit_test(test_recommend_best_quality),
        cmocka_unit_test(test_tie_breaks),
        cmocka_unit_test(test_nothing_meets),
        cmocka_unit_test(test_missing_quality),
        cmocka_unit_test(test_missing_price),
        cmocka_unit_test(test_failed_and_invalid_cells),
        cmocka_unit_test(test_aggregation_over_workloads),
        cmocka_unit_test(test_dominated_by),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_fmt_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
