/* cmd_eval.c — `dfit eval MODEL.gguf --csv FILE ... [--text FILE]`: task
 * accuracy of a model on CSV eval sets, with standard errors, and the
 * perplexity of a text (run/accuracy.h), as a Markdown table or JSON.
 * Non-goals: comparing variants (the runner does that), fidelity to a
 * reference (quality), per-item dumps.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "run/accuracy.h"
#include "util/fmt.h"

#define CMD "eval"
#define MAX_CSV 256

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit eval MODEL.gguf [--csv FILE]... [--text FILE] [options]\n"
            "\n"
            "Scores MODEL's task accuracy on CSV eval sets (prompt,answer: greedy\n"
            "exact match; prompt,choice_1..choice_k,label: the most likely choice)\n"
            "and the perplexity of a text file, each with its standard error.\n"
            "\n"
            "  --csv FILE        an eval set (repeat for more)\n"
            "  --text FILE       a plain text whose perplexity to measure\n"
            "  -t, --threads N   backend threads (default 1)\n"
            "  --backend NAME    backend (default cpu)\n"
            "  --kernels K       the backend's kernel choice (default its best)\n"
            "  --limit N         score only the first N items of each set\n"
            "  --seqs N          sequences run at once (default %u)\n"
            "  --norm            multiple choice: pick by mean log-probability per token\n"
            "                    (both criteria are printed either way)\n"
            "  --ctx N           perplexity chunk length in tokens (default: the model's\n"
            "                    context, at most %u)\n"
            "  -o, --output F    md (default) or json\n"
            "  -h, --help        this text\n",
            DFIT_ACCURACY_DEFAULT_SEQ, DFIT_ACCURACY_PPL_MAX_CTX);
}

#define usage_error(...) dfit_args_usage_error(CMD, usage, __VA_ARGS__)

/* A table cell: '|' and '\' escaped, control characters as spaces. */
static void md_cell(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '|' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            putchar(' ');
        else
            putchar(*p);
    }
}

static void json_num(double v)
{
    if (isfinite(v))
        printf("%.17g", v);
    else
        fputs("null", stdout);
}

static void md_row(const struct dfit_accuracy *a, const char *form)
{
    char n[32];
    printf("| ");
    md_cell(a->name);
    printf(" | %s | %s | %.4f | %.4f |", form, dfit_fmt_u64(n, sizeof n, a->n_items), a->accuracy,
           a->accuracy_se);
    if (a->kind == DFIT_EVAL_MC)
        printf(" %.4f | %.4f | %.4f | %.4f |\n", a->accuracy_sum, a->accuracy_sum_se, a->accuracy_norm,
               a->accuracy_norm_se);
    else
        printf(" | | | |\n");
}

static void print_md(const char *model, const struct dfit_accuracy_report *r, const char *text, bool norm)
{
    printf("model: ");
    md_cell(model);
    printf("\n\n");
    if (r->n_sets) {
        printf("| eval set | form | items | accuracy | ± SE | by sum | ± SE | by mean | ± SE |\n"
               "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (uint32_t i = 0; i < r->n_sets; i++) {
            const struct dfit_accuracy *a = &r->sets[i];
            char form[32];
            if (a->kind == DFIT_EVAL_GEN)
                snprintf(form, sizeof form, "generation");
            else
                snprintf(form, sizeof form, "choice of %u", (unsigned)a->n_choices);
            md_row(a, form);
        }
        if (r->n_sets > 1) {
            char n[32];
            printf("| all | | %s | %.4f | %.4f | | | | |\n", dfit_fmt_u64(n, sizeof n, r->all.n_items),
                   r->all.accuracy, r->all.accuracy_se);
        }
        printf("\naccuracy: exact match (generation) or the most likely choice by %s\n"
               "log-probability (multiple choice); SE = sqrt(p(1-p)/n)\n",
               norm ? "mean per-token" : "total");
    }
    if (r->has_ppl) {
        char n[32];
        printf("%s| text | tokens scored | chunk | perplexity | ± SE |\n"
               "| --- | ---: | ---: | ---: | ---: |\n| ",
               r->n_sets ? "\n" : "");
        md_cell(text);
        printf(" | %s | %u | %.4f | %.4f |\n", dfit_fmt_u64(n, sizeof n, r->ppl.n_tokens), (unsigned)r->ppl.n_ctx,
               r->ppl.ppl, r->ppl.ppl_se);
    }
}

static void json_acc(const struct dfit_accuracy *a)
{
    printf("{\"name\": ");
    dfit_args_json_str(stdout, a->name);
    printf(", \"items\": %llu, \"correct\": %llu, \"accuracy\": ", (unsigned long long)a->n_items,
           (unsigned long long)a->n_correct);
    json_num(a->accuracy);
    printf(", \"accuracy_se\": ");
    json_num(a->accuracy_se);
}

static void print_json(const char *model, const char *const *csv, const struct dfit_accuracy_report *r,
                       const char *text, bool norm)
{
    printf("{\n  \"model\": ");
    dfit_args_json_str(stdout, model);
    printf(",\n  \"mc_criterion\": \"%s\",\n  \"sets\": [", norm ? "mean" : "sum");
    for (uint32_t i = 0; i < r->n_sets; i++) {
        const struct dfit_accuracy *a = &r->sets[i];
        printf("%s\n    ", i ? "," : "");
        json_acc(a);
        printf(", \"file\": ");
        dfit_args_json_str(stdout, csv[i]);
        printf(", \"form\": \"%s\", \"choices\": %u", a->kind == DFIT_EVAL_GEN ? "generation" : "choice",
               (unsigned)a->n_choices);
        if (a->kind == DFIT_EVAL_MC) {
            printf(", \"accuracy_sum\": ");
            json_num(a->accuracy_sum);
            printf(", \"accuracy_sum_se\": ");
            json_num(a->accuracy_sum_se);
            printf(", \"accuracy_mean\": ");
            json_num(a->accuracy_norm);
            printf(", \"accuracy_mean_se\": ");
            json_num(a->accuracy_norm_se);
        }
        printf("}");
    }
    printf("%s],\n  \"all\": ", r->n_sets ? "\n  " : "");
    if (r->n_sets) {
        json_acc(&r->all);
        printf("}");
    } else {
        printf("null");
    }
    printf(",\n  \"perplexity\": ");
    if (r->has_ppl) {
        printf("{\"file\": ");
        dfit_args_json_str(stdout, text);
        printf(", \"tokens\": %llu, \"chunk\": %u, \"chunks\": %u, \"nll\": ", (unsigned long long)r->ppl.n_tokens,
               (unsigned)r->ppl.n_ctx, (unsigned)r->ppl.n_chunks);
        json_num(r->ppl.nll);
        printf(", \"nll_se\": ");
        json_num(r->ppl.nll_se);
        printf(", \"ppl\": ");
        json_num(r->ppl.ppl);
        printf(", \"ppl_se\": ");
        json_num(r->ppl.ppl_se);
        printf("}");
    } else {
        printf("null");
    }
    printf("\n}\n");
}

int dfit_cmd_eval(int argc, char **argv)
{
    struct dfit_accuracy_params p = {.n_threads = 1};
    const char *model = NULL, *text = NULL, *val = NULL, *backend = "cpu";
    const char *csv[MAX_CSV];
    uint32_t n_csv = 0, n;
    bool json = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (dfit_args_flag(argc, argv, &i, "--csv", &val)) {
            if (!val || !*val)
                return usage_error("--csv: missing file");
            if (n_csv == MAX_CSV)
                return usage_error("--csv: at most %d files", MAX_CSV);
            csv[n_csv++] = val;
        } else if (dfit_args_flag(argc, argv, &i, "--text", &val)) {
            if (!val || !*val)
                return usage_error("--text: missing file");
            text = val;
        } else if (dfit_args_flag(argc, argv, &i, "-t", &val) || dfit_args_flag(argc, argv, &i, "--threads", &val)) {
            if (dfit_args_u32(val, 1, 1024, &n))
                return usage_error("%s: expected an integer in 1..1024, got '%s'", a, val ? val : "(missing)");
            p.n_threads = (int)n;
        } else if (dfit_args_flag(argc, argv, &i, "--backend", &val)) {
            if (!val || !*val)
                return usage_error("--backend: missing name");
            backend = val;
        } else if (dfit_args_flag(argc, argv, &i, "--kernels", &val)) {
            if (!val || !*val)
                return usage_error("--kernels: missing value");
            p.kernels = val;
        } else if (dfit_args_flag(argc, argv, &i, "--limit", &val)) {
            if (dfit_args_u32(val, 1, UINT32_MAX, &p.limit))
                return usage_error("--limit: expected a positive integer, got '%s'", val ? val : "(missing)");
        } else if (dfit_args_flag(argc, argv, &i, "--seqs", &val)) {
            if (dfit_args_u32(val, 1, DFIT_ACCURACY_MAX_SEQ, &p.n_seq))
                return usage_error("--seqs: expected an integer in 1..%u, got '%s'", DFIT_ACCURACY_MAX_SEQ,
                                   val ? val : "(missing)");
        } else if (dfit_args_flag(argc, argv, &i, "--ctx", &val)) {
            if (dfit_args_u32(val, 4, 1u << 20, &p.ppl_ctx))
                return usage_error("--ctx: expected an integer in 4..%u, got '%s'", 1u << 20,
                                   val ? val : "(missing)");
        } else if (!strcmp(a, "--norm")) {
            p.length_norm = true;
        } else if (dfit_args_flag(argc, argv, &i, "-o", &val) || dfit_args_flag(argc, argv, &i, "--output", &val)) {
            if (val && !strcmp(val, "md"))
                json = false;
            else if (val && !strcmp(val, "json"))
                json = true;
            else
                return usage_error("%s: expected md or json, got '%s'", a, val ? val : "(missing)");
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (model) {
            return usage_error("unexpected argument '%s' (the model is '%s')", a, model);
        } else {
            model = a;
        }
    }
    if (!model)
        return usage_error("missing MODEL.gguf");
    if (n_csv == 0 && !text)
        return usage_error("nothing to score: give --csv FILE and/or --text FILE");
    if (!(p.backend = dfit_backend_find(backend)))
        return usage_error("--backend: no backend '%s' in this build", backend);

    struct dfit_accuracy_report r;
    struct dfit_err err = {0};
    if (dfit_accuracy_run(model, &p, csv, n_csv, text, &r, &err)) {
        fprintf(stderr, "dfit eval: %s\n", err.msg);
        return 1;
    }
    if (json)
        print_json(model, csv, &r, text, p.length_norm);
    else
        print_md(model, &r, text, p.length_norm);
    dfit_accuracy_report_clear(&r);
    return 0;
}
