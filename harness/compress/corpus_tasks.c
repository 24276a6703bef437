/* corpus_tasks.c — the task generators of dfit's corpus (see corpus.h):
 * one function per task drawing a prompt and its answer at a level, and
 * the prompt hash that splits training from evaluation.
 * Non-goals: tokens (corpus.c), eval files (corpus.c, eval_csv.c).
 */
#include "compress/corpus.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const TASK_NAMES[DFIT_TASK_COUNT] = {
    "add", "sub", "succ", "max", "copy", "rev", "sort", "word",
};

const char *dfit_task_name(enum dfit_task t)
{
    return (unsigned)t < DFIT_TASK_COUNT ? TASK_NAMES[t] : "?";
}

int dfit_task_from_name(const char *name, enum dfit_task *out, struct dfit_err *err)
{
    for (int t = 0; t < DFIT_TASK_COUNT; t++)
        if (name && strcmp(name, TASK_NAMES[t]) == 0) {
            *out = (enum dfit_task)t;
            return 0;
        }
    return dfit_err_set(err, DFIT_ENOTFOUND,
                        "unknown task '%s' (tasks: add, sub, succ, max, copy, rev, sort, word)",
                        name ? name : "(null)");
}

/* ---- helpers ------------------------------------------------------------------ */

static const uint64_t POW10[] = {1, 10, 100, 1000, 10000, 100000};

/* Uniform in [lo, hi]. */
static uint64_t between(struct dfit_rng *r, uint64_t lo, uint64_t hi)
{
    return lo + dfit_rng_below(r, hi - lo + 1);
}

/* A number of exactly `digits` digits (0..9 for one digit). */
static uint64_t n_digits(struct dfit_rng *r, int digits)
{
    return digits <= 1 ? between(r, 0, 9) : between(r, POW10[digits - 1], POW10[digits] - 1);
}

/* A number of 1..digits digits: the length uniform, then the value. */
static uint64_t up_to_digits(struct dfit_rng *r, int digits)
{
    return n_digits(r, (int)between(r, 1, (uint64_t)digits));
}

static void letters(struct dfit_rng *r, char *out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (char)('a' + dfit_rng_below(r, 26));
    out[n] = '\0';
}

/* ---- tasks ------------------------------------------------------------------------- */

/* add: one operand has exactly `level` digits, the other 1..level; which
 * comes first is a coin flip. */
static void task_add(int level, struct dfit_rng *r, struct dfit_corpus_example *ex)
{
    uint64_t a = n_digits(r, level), b = up_to_digits(r, level);
    if (dfit_rng_below(r, 2)) {
        uint64_t t = a;
        a = b;
        b = t;
    }
    snprintf(ex->prompt, sizeof ex->prompt, "add: %" PRIu64 "+%" PRIu64 "=", a, b);
    snprintf(ex->answer, sizeof ex->answer, "%" PRIu64, a + b);
}

/* sub: x has exactly `level` digits, 0 <= y <= x. */
static void task_sub(int level, struct dfit_rng *r, struct dfit_corpus_example *ex)
{
    uint64_t x = n_digits(r, level), y = between(r, 0, x);
    snprintf(ex->prompt, sizeof ex->prompt, "sub: %" PRIu64 "-%" PRIu64 "=", x, y);
    snprintf(ex->answer, sizeof ex->answer, "%" PRIu64, x - y);
}

/* succ: n has exactly `level` digits; the answer is n + 1. */
static void task_succ(int level, struct dfit_rng *r, struct dfit_corpus_example *ex)
{
    uint64_t n = n_digits(r, level);
    snprintf(ex->prompt, sizeof ex->prompt, "succ: %" PRIu64 "=", n);
    snprintf(ex->answer, sizeof ex->answer, "%" PRIu64, n + 1);
}

/* max: two different numbers of exactly `level` digits. */
static void task_max(int level, struct dfit_rng *r, struct dfit_corpus_example *ex)
{
    uint64_t a = n_digits(r, level), b;
    do
        b = n_digits(r, level);
    while (b == a);
    snprintf(ex->prompt, sizeof ex->prompt, "max: %" PRIu64 ",%" PRIu64 "=", a, b);
    snprintf(ex->answer, sizeof ex->answer, "%" PRIu64, a > b ? a : b);
}

/* copy and rev: 2*level or 2*level + 1 lowercase letters. */
static void task_copy(int level, bool reverse, struct dfit_rng *r, struct dfit_corpus_example *ex)
{
    char s[16];
    int n = 2 * level + (int)dfit_rng_below(r, 2);
    letters(r, s, n);
    snprintf(ex->prompt, sizeof ex->prompt, "%s: %s|", reverse ? "rev" : "copy", s);
    for (int i = 0; i < n; i++)
        ex->answer[i] = reverse ? s[n - 1 - i] : s[i];
    ex->answer[n] = '\0';
}

/* sort: level + 1 items, all digits or all lowercase letters (repeats
 * allowed), comma separated; the answer ascending. */
static void task_sort(int level, struct dfit_rng *r, struct dfit_corpus_example *ex)
{
    const int n = level + 1;
    const bool digits = dfit_rng_below(r, 2) == 0;
    char item[8], sorted[8];
    for (int i = 0; i < n; i++)
        item[i] = digits ? (char)('0' + dfit_rng_below(r, 10)) : (char)('a' + dfit_rng_below(r, 26));
    memcpy(sorted, item, (size_t)n);
    for (int i = 1; i < n; i++) /* insertion sort */
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            char t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    size_t o = (size_t)snprintf(ex->prompt, sizeof ex->prompt, "sort: ");
    for (int i = 0; i < n; i++) {
        ex->prompt[o++] = item[i];
        ex->prompt[o++] = i + 1 < n ? ',' : '|';
        ex->answer[2 * i] = sorted[i];
        ex->answer[2 * i + 1] = ',';
    }
    ex->prompt[o] = '\0';
    ex->answer[2 * n - 1] = '\0';
}

static const char *const NAMES[] = {"Ann", "Bob", "Cal", "Dee", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jo"};
static const char *const THINGS[] = {"apples", "pears", "pens", "cups", "books", "coins", "eggs", "shells"};

/* word: level 1 "N has a T and buys b more. How many? " (a, b 1..9);
 * level 2 "N has a T and gives away b. How many are left? " (a 2..19,
 * b 1..min(9, a-1)); level 3 either form with two-digit numbers (b <= a
 * when giving away); level 4 "N has a bags with b T in each. How many T? "
 * (a 2..9, b 2..12). */
static void task_word(int level, struct dfit_rng *r, struct dfit_corpus_example *ex)
{
    const char *who = NAMES[dfit_rng_below(r, sizeof NAMES / sizeof NAMES[0])];
    const char *what = THINGS[dfit_rng_below(r, sizeof THINGS / sizeof THINGS[0])];
    uint64_t a, b, ans;
    bool give = level == 2 || (level == 3 && dfit_rng_below(r, 2));
    if (level == 4) {
        a = between(r, 2, 9);
        b = between(r, 2, 12);
        snprintf(ex->prompt, sizeof ex->prompt,
                 "%s has %" PRIu64 " bags with %" PRIu64 " %s in each. How many %s? ", who, a, b, what, what);
        ans = a * b;
    } else if (!give) {
        a = level == 1 ? between(r, 1, 9) : between(r, 10, 99);
        b = level == 1 ? between(r, 1, 9) : between(r, 10, 99);
        snprintf(ex->prompt, sizeof ex->prompt, "%s has %" PRIu64 " %s and buys %" PRIu64 " more. How many? ", who,
                 a, what, b);
        ans = a + b;
    } else {
        a = level == 2 ? between(r, 2, 19) : between(r, 10, 99);
        b = level == 2 ? between(r, 1, a - 1 < 9 ? a - 1 : 9) : between(r, 10, a);
        snprintf(ex->prompt, sizeof ex->prompt,
                 "%s has %" PRIu64 " %s and gives away %" PRIu64 ". How many are left? ", who, a, what, b);
        ans = a - b;
    }
    snprintf(ex->answer, sizeof ex->answer, "%" PRIu64, ans);
}

void dfit_corpus_draw(enum dfit_task task, int level, struct dfit_rng *rng, struct dfit_corpus_example *ex)
{
    if (level < 1)
        level = 1;
    if (level > DFIT_CORPUS_MAX_LEVEL)
        level = DFIT_CORPUS_MAX_LEVEL;
    memset(ex, 0, sizeof *ex);
    ex->task = task;
    ex->level = level;
    switch (task) {
    case DFIT_TASK_ADD: task_add(level, rng, ex); break;
    case DFIT_TASK_SUB: task_sub(level, rng, ex); break;
    case DFIT_TASK_SUCC: task_succ(level, rng, ex); break;
    case DFIT_TASK_MAX: task_max(level, rng, ex); break;
    case DFIT_TASK_COPY: task_copy(level, false, rng, ex); break;
    case DFIT_TASK_REV: task_copy(level, true, rng, ex); break;
    case DFIT_TASK_SORT: task_sort(level, rng, ex); break;
    case DFIT_TASK_WORD: task_word(level, rng, ex); break;
    default: /* not a task: an empty example */
        break;
    }
}

/* ---- the split ------------------------------------------------------------------------- */

uint64_t dfit_corpus_prompt_hash(const char *prompt)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
    for (const unsigned char *p = (const unsigned char *)prompt; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33; /* murmur3's finalizer: every input bit reaches the low bits */
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

bool dfit_corpus_is_eval(const char *prompt)
{
    return dfit_corpus_prompt_hash(prompt) % DFIT_CORPUS_EVAL_MOD == 0;
}
