/* cmd_compress.c — `dfit compress`: converts a model's weight matrices to
 * another tensor type, optionally pruning first and quantizing with
 * activation-aware scaling (compress/compress.h), and reports the size and
 * bits per weight before and after, the sparsity reached and the
 * calibration used.
 * Non-goals: the compression algorithms themselves (compress/).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "compress/compress.h"
#include "compress/convert.h"
#include "model/gguf.h"
#include "util/clock.h"
#include "util/fmt.h"

#define CMD "compress"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit compress [--to TYPE] [--prune SPEC] [--scope matrix|global|row]\n"
            "                     [--prune-output] [--calib FILE|synth[:SEED]] [--calib-tokens N]\n"
            "                     [--method plain|awq] IN.gguf -o OUT.gguf [-t THREADS] [--force]\n"
            "\n"
            "Prunes and/or re-encodes IN's weight matrices (norms stay f32) and records\n"
            "the recipe and lineage (parent SHA-256) in OUT's dfit.* metadata. Pruning\n"
            "comes first, then quantization.\n"
            "\n"
            "  --to TYPE          f32, f16, bf16, q8_0 or q4_0 (without it, with --prune,\n"
            "                     each tensor keeps its type)\n"
            "  --prune SPEC       unstructured:S   zero a fraction S in [0,1) of the weights\n"
            "                     2:4              zero 2 of every 4 consecutive weights of a row\n"
            "                     heads:F          remove a fraction F of the KV heads (each with\n"
            "                                      its query heads) in every layer\n"
            "                     ffn:F            remove a fraction F of the FFN channels in every\n"
            "                                      layer (n_ff stays a multiple of 32)\n"
            "                     layers:N         remove N whole blocks\n"
            "  --scope S          unstructured only: one threshold per matrix (default), per\n"
            "                     row, or global across all prunable matrices\n"
            "  --prune-output     unstructured and 2:4: prune the output matrix too\n"
            "  --calib SOURCE     calibration tokens: a text file (tokenized with IN's\n"
            "                     tokenizer) or synth[:SEED] (seeded random tokens); makes\n"
            "                     pruning scores activation-aware\n"
            "  --calib-tokens N   calibration tokens to run (16..1048576, default 512)\n"
            "  --method M         plain (round to nearest, default) or awq (activation-aware\n"
            "                     scaling; needs --to q4_0 or q8_0; calibrates on synth\n"
            "                     unless --calib says otherwise)\n"
            "  -o, --output PATH  output file (written atomically)\n"
            "  -t, --threads N    threads (default: all CPUs)\n"
            "  --force            overwrite OUT if it exists (never the input)\n"
            "  -h, --help         this text\n");
}

#define usage_error(...) dfit_args_usage_error(CMD, usage, __VA_ARGS__)

/* Tensor bytes and elements of a file, for bits per weight. */
static int weigh(const char *path, uint64_t *bytes, uint64_t *elements, uint64_t *file_bytes,
                 struct dfit_err *err)
{
    struct dfit_gguf *g = NULL;
    int rc = dfit_gguf_open(path, &g, err);
    if (rc)
        return rc;
    *bytes = *elements = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        *bytes += g->tensors[i].n_bytes;
        *elements += g->tensors[i].n_elements;
    }
    *file_bytes = g->map_bytes;
    dfit_gguf_close(g);
    return 0;
}

/* Prints what pruning, calibration and AWQ did. */
static void print_report(const struct dfit_compress_params *p, const struct dfit_compress_report *r)
{
    if (r->pruned) {
        printf("  pruned:          %s, %.4f of %llu prunable parameters (%s)\n",
               dfit_prune_pattern_name(p->prune.pattern), r->prune.sparsity,
               (unsigned long long)r->prune.n_considered, r->prune.score);
        if (r->prune.removed[0])
            printf("  removed:         %s\n", r->prune.removed);
    }
    if (r->calib[0])
        printf("  calibration:     %s, %u tokens\n", r->calib, r->calib_tokens);
    if (r->awq)
        printf("  awq:             %u of %u groups scaled; calibration error %.4g -> %.4g\n",
               r->awq_scaled, r->awq_groups, r->awq_err_plain, r->awq_err);
}

/* Reports a flag given twice. */
static int once(bool *seen, const char *flag_name)
{
    if (*seen)
        return usage_error("%s: given more than once", flag_name);
    *seen = true;
    return 0;
}

int dfit_cmd_compress(int argc, char **argv)
{
    struct dfit_compress_params p = {.to = DFIT_TYPE_F32, .n_threads = 0};
    const char *in = NULL, *out = NULL, *val = NULL;
    bool force = false, seen_prune = false, seen_scope = false, seen_out = false, seen_calib = false,
         seen_tokens = false, seen_method = false;
    struct dfit_err err = {0};
    uint32_t n;
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (dfit_args_flag(argc, argv, &i, "--to", &val)) {
            if (!val || dfit_type_from_name(val, &p.to) != 0)
                return usage_error("--to: expected f32, f16, bf16, q8_0 or q4_0, got '%s'",
                                   val ? val : "(missing)");
            p.have_to = true;
        } else if (!strcmp(a, "--prune-output")) {
            if ((rc = once(&seen_out, "--prune-output")))
                return rc;
            p.prune.include_output = true;
        } else if (!strncmp(a, "--prune-output=", 15)) {
            return usage_error("--prune-output: takes no value");
        } else if (dfit_args_flag(argc, argv, &i, "--prune", &val)) {
            if ((rc = once(&seen_prune, "--prune")))
                return rc;
            if (dfit_prune_parse(val, &p.prune, &err))
                return usage_error("--prune: %s", err.msg);
        } else if (dfit_args_flag(argc, argv, &i, "--scope", &val)) {
            if ((rc = once(&seen_scope, "--scope")))
                return rc;
            if (dfit_prune_scope_parse(val, &p.prune.scope, &err))
                return usage_error("--scope: %s", err.msg);
        } else if (dfit_args_flag(argc, argv, &i, "--calib-tokens", &val)) {
            if ((rc = once(&seen_tokens, "--calib-tokens")))
                return rc;
            if (dfit_args_u32(val, 16, DFIT_CALIB_MAX_TOKENS, &n))
                return usage_error("--calib-tokens: expected an integer in 16..%u, got '%s'",
                                   DFIT_CALIB_MAX_TOKENS, val ? val : "(missing)");
            p.calib_tokens = n;
        } else if (dfit_args_flag(argc, argv, &i, "--calib", &val)) {
            if ((rc = once(&seen_calib, "--calib")))
                return rc;
            if (!val || !*val)
                return usage_error("--calib: expected a text file or synth[:SEED]");
            p.calib = val;
        } else if (dfit_args_flag(argc, argv, &i, "--method", &val)) {
            if ((rc = once(&seen_method, "--method")))
                return rc;
            if (val && !strcmp(val, "plain"))
                p.method = DFIT_QUANT_PLAIN;
            else if (val && !strcmp(val, "awq"))
                p.method = DFIT_QUANT_AWQ;
            else
                return usage_error("--method: expected plain or awq, got '%s'", val ? val : "(missing)");
        } else if (dfit_args_flag(argc, argv, &i, "-o", &val) || dfit_args_flag(argc, argv, &i, "--output", &val)) {
            if (!val || !*val)
                return usage_error("%s: missing output path", a);
            out = val;
        } else if (dfit_args_flag(argc, argv, &i, "-t", &val) || dfit_args_flag(argc, argv, &i, "--threads", &val)) {
            if (dfit_args_u32(val, 1, 1024, &n))
                return usage_error("%s: expected an integer in 1..1024, got '%s'", a,
                                   val ? val : "(missing)");
            p.n_threads = (int)n;
        } else if (!strcmp(a, "--force")) {
            force = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (in) {
            return usage_error("unexpected argument '%s' (input is '%s')", a, in);
        } else {
            in = a;
        }
    }
    if (!p.have_to && !seen_prune)
        return usage_error("missing --to TYPE (or --prune SPEC)");
    if (seen_scope && p.prune.pattern != DFIT_PRUNE_UNSTRUCTURED)
        return usage_error("--scope: only applies to --prune unstructured:S");
    if (seen_out && p.prune.pattern != DFIT_PRUNE_UNSTRUCTURED && p.prune.pattern != DFIT_PRUNE_2_4)
        return usage_error("--prune-output: only applies to --prune unstructured:S or 2:4");
    if (seen_tokens && !seen_calib && p.method != DFIT_QUANT_AWQ)
        return usage_error("--calib-tokens: only applies with --calib or --method awq");
    if (dfit_compress_check(&p, &err))
        return usage_error("%s", err.msg);
    if (!in)
        return usage_error("missing input IN.gguf");
    if (!out)
        return usage_error("missing -o OUT.gguf");
    if (p.n_threads == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        p.n_threads = c < 1 ? 1 : c > 64 ? 64 : (int)c;
    }

    struct stat st;
    if (!force && stat(out, &st) == 0) {
        fprintf(stderr, "dfit compress: %s exists (use --force to overwrite it)\n", out);
        return 1;
    }
    struct dfit_compress_report rep;
    uint64_t t0 = dfit_now_ns();
    if (dfit_compress_file(in, out, &p, &rep, &err)) {
        fprintf(stderr, "dfit compress: %s\n", err.msg);
        return 1;
    }
    double secs = (double)(dfit_now_ns() - t0) * 1e-9;

    uint64_t b_in, e_in, f_in, b_out, e_out, f_out;
    if (weigh(in, &b_in, &e_in, &f_in, &err) || weigh(out, &b_out, &e_out, &f_out, &err)) {
        fprintf(stderr, "dfit compress: %s\n", err.msg);
        return 1;
    }
    char s_in[32], s_out[32], s_par[32];
    printf("%s -> %s (%s%s) in %.2f s\n", in, out, p.have_to ? dfit_type_info(p.to)->name : "tensor types kept",
           p.have_to ? " matrices" : "", secs);
    printf("  parameters:      %s\n", dfit_fmt_u64(s_par, sizeof s_par, e_out));
    bool smaller = f_out <= f_in;
    double ratio = smaller ? (double)f_in / (double)(f_out ? f_out : 1) : (double)f_out / (double)(f_in ? f_in : 1);
    printf("  file size:       %s -> %s (%.2fx %s)\n", dfit_fmt_bytes(s_in, sizeof s_in, f_in),
           dfit_fmt_bytes(s_out, sizeof s_out, f_out), ratio, smaller ? "smaller" : "larger");
    printf("  bits per weight: %.3f -> %.3f\n", e_in ? 8.0 * (double)b_in / (double)e_in : 0.0,
           e_out ? 8.0 * (double)b_out / (double)e_out : 0.0);
    print_report(&p, &rep);
    return 0;
}
