/* cmd_corpus.c — `dfit corpus -o DIR`: writes dfit's task corpus
 * (compress/corpus.h) as files: DIR/train.txt, the training examples one a
 * line (the ones dfit_corpus_fill packs for the same seed, tasks and
 * levels), DIR/train.tok, their tokens and answer mask in `dfit train`'s
 * token file format (compress/train_data.h), and the held-out eval sets
 * DIR/eval_<task>.csv (generation) and DIR/eval_<task>_mc.csv (multiple
 * choice, for max and add).
 * Non-goals: vocabularies other than dfit's byte-level one, appending to
 * an existing corpus.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "compress/corpus.h"
#include "compress/train_data.h"
#include "model/tokenizer.h"
#include "run/eval_csv.h"
#include "util/fmt.h"

#define CMD "corpus"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit corpus -o DIR [options]\n"
            "\n"
            "Writes dfit's task corpus: DIR/train.txt (training examples, one a line:\n"
            "PROMPT then ANSWER then a newline), DIR/train.tok (their tokens and answer\n"
            "mask, for `dfit train --data`) and held-out eval sets DIR/eval_TASK.csv\n"
            "(prompt,answer) and DIR/eval_max_mc.csv, DIR/eval_add_mc.csv (multiple\n"
            "choice). No training line has the prompt of any eval set, whatever the seed.\n"
            "\n"
            "  -o, --output DIR     output directory (created if missing; files replaced)\n"
            "  --seed N             random seed (default 1)\n"
            "  --train-tokens N     tokens of training data (default 1000000)\n"
            "  --eval-items N       items per eval set (default 200; fewer where a task\n"
            "                       has few distinct held-out prompts)\n"
            "  --vocab V            encode train.tok with dfit's byte-level vocabulary of\n"
            "                       V entries, the size of the model to train (default\n"
            "                       320, as `dfit train`'s teacher preset)\n"
            "  --rows T             train.tok in rows of T tokens, each starting at an\n"
            "                       example (padded with </s>, mask 0), so that windows of\n"
            "                       `dfit train --seq T` start where evaluation does\n"
            "                       (default: examples packed back to back)\n"
            "  --tasks LIST         comma-separated tasks (default all: add, sub, succ,\n"
            "                       max, copy, rev, sort, word)\n"
            "  --max-level L        hardest level, 1..4 (default 4)\n"
            "  -h, --help           this text\n");
}

#define usage_error(...) dfit_args_usage_error(CMD, usage, __VA_ARGS__)

/* "add,sub" -> bit mask; 0 and an error message on a bad name. */
static uint32_t parse_tasks(const char *list, struct dfit_err *err)
{
    uint32_t mask = 0;
    char buf[256];
    if (!list || strlen(list) >= sizeof buf) {
        dfit_err_set(err, DFIT_EINVAL, "expected a comma-separated list of tasks");
        return 0;
    }
    strcpy(buf, list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        enum dfit_task task;
        if (dfit_task_from_name(t, &task, err))
            return 0;
        mask |= 1u << task;
    }
    if (!mask)
        dfit_err_set(err, DFIT_EINVAL, "no task named");
    return mask;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Writes train.txt (the examples, one a line) and train.tok (their tokens
 * and answer mask): packed and cut at exactly n_tokens as dfit_corpus_fill
 * cuts them, or with rows > 0 in rows of that many tokens, each starting
 * at an example, padded with EOS under mask 0 (examples longer than a row
 * left out), n_tokens rounded down to whole rows. Prints the counts. */
static int write_train(const char *dir, const struct dfit_corpus_params *cp, uint32_t n_vocab, uint64_t n_tokens,
                       uint32_t rows, struct dfit_err *err)
{
    if (rows && (n_tokens -= n_tokens % rows) == 0)
        n_tokens = rows;
    struct dfit_tokenizer *tok = NULL;
    struct dfit_corpus *c = NULL;
    struct dfit_corpus_encoder enc;
    char *path = join(dir, "train.txt"), *tmp = join(dir, ".train.txt.tmp"), *tok_path = join(dir, "train.tok");
    int32_t *ids = malloc((size_t)n_tokens * sizeof *ids);
    uint8_t *mask = malloc((size_t)n_tokens);
    FILE *f = NULL;
    int rc = 0;
    if (!path || !tmp || !tok_path || !ids || !mask) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "out of memory for %llu tokens", (unsigned long long)n_tokens);
        goto done;
    }
    if ((rc = dfit_tokenizer_create_byte_vocab(n_vocab, &tok, err)) || (rc = dfit_corpus_open(cp, tok, &c, err)) ||
        (rc = dfit_corpus_encoder_init(&enc, tok, err)))
        goto done;
    if (!(f = fopen(tmp, "wb"))) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    const int32_t pad = dfit_tokenizer_eos(tok);
    uint64_t have = 0, n_answer = 0, n_examples = 0, n_pad = 0;
    unsigned skipped = 0;
    while (have < n_tokens) {
        struct dfit_corpus_example ex;
        int32_t ex_ids[1024];
        uint8_t ex_mask[1024];
        size_t n = 0;
        dfit_corpus_next(c, &ex);
        if ((rc = dfit_corpus_encode(&enc, ex.prompt, ex.answer, ex_ids, ex_mask, 1024, &n, NULL, err)))
            goto done;
        if (rows && n > rows) {
            if (++skipped > 1000) {
                rc = dfit_err_set(err, DFIT_EINVAL, "--rows %u: no example of these tasks fits a row", rows);
                goto done;
            }
            continue;
        }
        skipped = 0;
        const uint64_t room = rows ? rows - have % rows : n;
        if (n > room) { /* the row is full: pad it, the example starts the next */
            for (uint64_t i = 0; i < room; i++) {
                ids[have + i] = pad;
                mask[have + i] = 0;
            }
            have += room;
            n_pad += room;
            if (have >= n_tokens)
                break;
        }
        if (n > n_tokens - have)
            n = (size_t)(n_tokens - have);
        memcpy(ids + have, ex_ids, n * sizeof *ids);
        memcpy(mask + have, ex_mask, n);
        for (size_t i = 0; i < n; i++)
            n_answer += ex_mask[i];
        have += n;
        n_examples++;
        fprintf(f, "%s%s\n", ex.prompt, ex.answer);
    }
    int bad = ferror(f);
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    f = NULL;
    if (bad || rename(tmp, path) != 0) {
        rc = dfit_err_set(err, DFIT_EIO, "%s: cannot write: %s", path, strerror(errno));
        goto done;
    }
    if ((rc = dfit_train_data_write(tok_path, ids, mask, have, err)))
        goto done;
    char a[32], b[32];
    printf("%s: %s examples\n", path, dfit_fmt_u64(a, sizeof a, n_examples));
    printf("%s: %s tokens of a %u-entry byte-level vocabulary, %.1f%% of them answer tokens", tok_path,
           dfit_fmt_u64(b, sizeof b, have), (unsigned)n_vocab, have ? 100.0 * (double)n_answer / (double)have : 0.0);
    if (rows)
        printf(", in rows of %u (%.1f%% padding)", (unsigned)rows, have ? 100.0 * (double)n_pad / (double)have : 0.0);
    printf("\n");
done:
    if (f) {
        fclose(f);
        unlink(tmp);
    }
    dfit_corpus_close(c);
    dfit_tokenizer_free(tok);
    free(path);
    free(tmp);
    free(tok_path);
    free(ids);
    free(mask);
    return rc;
}

static int write_set(const char *dir, struct dfit_eval_set *s, struct dfit_err *err)
{
    char name[160];
    snprintf(name, sizeof name, "%s.csv", s->name);
    char *path = join(dir, name);
    if (!path)
        return dfit_err_set(err, DFIT_ENOMEM, "out of memory");
    int rc = dfit_eval_csv_write(path, s, err);
    if (!rc)
        printf("%s: %u %s items\n", path, (unsigned)s->n_items,
               s->kind == DFIT_EVAL_GEN ? "generation" : "multiple-choice");
    free(path);
    return rc;
}

int dfit_cmd_corpus(int argc, char **argv)
{
    struct dfit_corpus_params cp = {.seed = 1};
    const char *dir = NULL, *val = NULL;
    uint64_t train_tokens = 1000000, eval_items = 200, vocab = 320, rows = 0, v;
    struct dfit_err err = {0};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (dfit_args_flag(argc, argv, &i, "-o", &val) || dfit_args_flag(argc, argv, &i, "--output", &val)) {
            if (!val || !*val)
                return usage_error("%s: missing directory", a);
            dir = val;
        } else if (dfit_args_flag(argc, argv, &i, "--seed", &val)) {
            if (dfit_args_u64(val, 0, UINT64_MAX, &cp.seed))
                return usage_error("--seed: expected an integer in 0..18446744073709551615, got '%s'",
                                   val ? val : "(missing)");
        } else if (dfit_args_flag(argc, argv, &i, "--train-tokens", &val)) {
            if (dfit_args_u64(val, 1, 1u << 28, &train_tokens))
                return usage_error("--train-tokens: expected an integer in 1..%u, got '%s'", 1u << 28,
                                   val ? val : "(missing)");
        } else if (dfit_args_flag(argc, argv, &i, "--eval-items", &val)) {
            if (dfit_args_u64(val, 1, DFIT_EVAL_CSV_MAX_ROWS, &eval_items))
                return usage_error("--eval-items: expected an integer in 1..%u, got '%s'", DFIT_EVAL_CSV_MAX_ROWS,
                                   val ? val : "(missing)");
        } else if (dfit_args_flag(argc, argv, &i, "--vocab", &val)) {
            if (dfit_args_u64(val, 259, 1u << 22, &vocab))
                return usage_error("--vocab: expected an integer in 259..%u, got '%s'", 1u << 22,
                                   val ? val : "(missing)");
        } else if (dfit_args_flag(argc, argv, &i, "--rows", &val)) {
            if (dfit_args_u64(val, 16, 1u << 16, &rows))
                return usage_error("--rows: expected an integer in 16..%u, got '%s'", 1u << 16,
                                   val ? val : "(missing)");
        } else if (dfit_args_flag(argc, argv, &i, "--tasks", &val)) {
            if (!(cp.tasks = parse_tasks(val, &err)))
                return usage_error("--tasks: %s", err.msg);
        } else if (dfit_args_flag(argc, argv, &i, "--max-level", &val)) {
            if (dfit_args_u64(val, 1, DFIT_CORPUS_MAX_LEVEL, &v))
                return usage_error("--max-level: expected 1..%d, got '%s'", DFIT_CORPUS_MAX_LEVEL,
                                   val ? val : "(missing)");
            cp.max_level = (int)v;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!dir)
        return usage_error("missing -o DIR");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "dfit corpus: %s: cannot create: %s\n", dir, strerror(errno));
        return 1;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "dfit corpus: %s: not a directory\n", dir);
        return 1;
    }

    int rc = write_train(dir, &cp, (uint32_t)vocab, train_tokens, (uint32_t)rows, &err);
    for (int t = 0; t < DFIT_TASK_COUNT && !rc; t++) {
        if (cp.tasks && !(cp.tasks >> t & 1u))
            continue;
        struct dfit_eval_set *s = NULL;
        if (!(rc = dfit_corpus_eval_gen((enum dfit_task)t, cp.seed, (uint32_t)eval_items, &s, &err)))
            rc = write_set(dir, s, &err);
        dfit_eval_set_free(s);
        s = NULL;
        if (!rc && (t == DFIT_TASK_MAX || t == DFIT_TASK_ADD) &&
            !(rc = dfit_corpus_eval_mc((enum dfit_task)t, cp.seed, (uint32_t)eval_items, &s, &err)))
            rc = write_set(dir, s, &err);
        dfit_eval_set_free(s);
    }
    if (rc) {
        fprintf(stderr, "dfit corpus: %s\n", err.msg);
        return 1;
    }
    return 0;
}
