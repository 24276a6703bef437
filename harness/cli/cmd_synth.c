/* cmd_synth.c — `dfit synth`: writes a random-weight llama model of a preset
 * or custom shape (compress/synth.h) and prints its size.
 * Non-goal: trained weights (`dfit train`).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "compress/synth.h"
#include "util/fmt.h"

#define CMD "synth"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit synth PRESET -o OUT.gguf [options]\n"
            "       dfit synth --dim D --layers L --heads H [--kv-heads K] --ffn F --vocab V\n"
            "                  [--ctx C] [--tied] -o OUT.gguf [options]\n"
            "\n"
            "Writes a llama GGUF model with seeded random weights (same seed, same file).\n"
            "Presets: tiny (tests), 15m, 110m, 1b (Llama-3.2-1B shape); shape flags\n"
            "override a preset's fields one by one.\n"
            "\n"
            "  -o, --output PATH  output file (required; written atomically)\n"
            "  --seed N           random seed (default 1)\n"
            "  --type T           type of the weight matrices: f32, f16, bf16, q8_0, q4_0\n"
            "                     (default f32; norms are always f32)\n"
            "  --name NAME        general.name (default dfit-synth-PRESET)\n"
            "  --dim D            model width (n_embd)\n"
            "  --layers L         number of blocks\n"
            "  --heads H          attention heads\n"
            "  --kv-heads K       key/value heads (default: H)\n"
            "  --ffn F            FFN hidden width\n"
            "  --vocab V          vocabulary size (>= 259)\n"
            "  --ctx C            context length in metadata (default 512)\n"
            "  --tied, --untied   share the output matrix with the token embedding, or not\n"
            "  --rope-base X      RoPE frequency base (default 10000)\n"
            "  --rms-eps X        RMS norm epsilon (default 1e-5)\n"
            "  -h, --help         this text\n");
}

#define usage_error(...) dfit_args_usage_error(CMD, usage, __VA_ARGS__)

struct shape_flag {
    const char *name;
    uint32_t *field;
    bool given;
};

int dfit_cmd_synth(int argc, char **argv)
{
    struct dfit_synth_params p = {.seed = 1, .type = DFIT_TYPE_F32};
    struct dfit_synth_shape s = {.n_ctx = 512, .rms_eps = 1e-5f, .rope_freq_base = 10000.0f};
    const char *preset = NULL, *out = NULL, *val = NULL;
    int tied = -1;
    bool eps_given = false, rope_given = false;
    double eps = 0, rope = 0;
    struct shape_flag sf[] = {
        {"--dim", &s.n_embd, false},   {"--layers", &s.n_layer, false}, {"--heads", &s.n_head, false},
        {"--kv-heads", &s.n_head_kv, false}, {"--ffn", &s.n_ff, false}, {"--vocab", &s.n_vocab, false},
        {"--ctx", &s.n_ctx, false},
    };
    const size_t n_sf = sizeof sf / sizeof sf[0];
    uint32_t vals[sizeof sf / sizeof sf[0]] = {0};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool matched = false;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        for (size_t k = 0; k < n_sf && !matched; k++) {
            if (!dfit_args_flag(argc, argv, &i, sf[k].name, &val))
                continue;
            uint64_t v;
            if (dfit_args_u64(val, 1, UINT32_MAX, &v))
                return usage_error("%s: expected an integer in 1..4294967295, got '%s'", sf[k].name,
                                   val ? val : "(missing)");
            vals[k] = (uint32_t)v;
            sf[k].given = matched = true;
        }
        if (matched)
            continue;
        if (dfit_args_flag(argc, argv, &i, "-o", &val) || dfit_args_flag(argc, argv, &i, "--output", &val)) {
            if (!val || !*val)
                return usage_error("%s: missing output path", a);
            out = val;
        } else if (dfit_args_flag(argc, argv, &i, "--seed", &val)) {
            if (dfit_args_u64(val, 0, UINT64_MAX, &p.seed))
                return usage_error("--seed: expected an integer in 0..18446744073709551615, got '%s'",
                                   val ? val : "(missing)");
        } else if (dfit_args_flag(argc, argv, &i, "--type", &val)) {
            if (!val || dfit_type_from_name(val, &p.type) != 0)
                return usage_error("--type: expected f32, f16, bf16, q8_0 or q4_0, got '%s'",
                                   val ? val : "(missing)");
        } else if (dfit_args_flag(argc, argv, &i, "--name", &val)) {
            if (!val)
                return usage_error("--name: missing value");
            p.name = val;
        } else if (dfit_args_flag(argc, argv, &i, "--rope-base", &val)) {
            if (dfit_args_double_above(val, 0.0, 1e30, &rope))
                return usage_error("--rope-base: expected a positive number, got '%s'",
                                   val ? val : "(missing)");
            rope_given = true;
        } else if (dfit_args_flag(argc, argv, &i, "--rms-eps", &val)) {
            if (dfit_args_double_above(val, 0.0, 1e30, &eps))
                return usage_error("--rms-eps: expected a positive number, got '%s'",
                                   val ? val : "(missing)");
            eps_given = true;
        } else if (!strcmp(a, "--tied")) {
            tied = 1;
        } else if (!strcmp(a, "--untied")) {
            tied = 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (preset) {
            return usage_error("unexpected argument '%s' (preset is '%s')", a, preset);
        } else {
            preset = a;
        }
    }
    if (!out)
        return usage_error("missing -o OUT.gguf");

    struct dfit_err err = {0};
    if (preset) {
        if (dfit_synth_preset(preset, &s, &err))
            return usage_error("%s", err.msg);
        /* a preset with as many KV heads as heads stays so when --heads changes */
        if (sf[2].given && !sf[3].given && s.n_head_kv == s.n_head)
            s.n_head_kv = vals[2];
    } else {
        static const char *required[] = {"--dim", "--layers", "--heads", NULL, "--ffn", "--vocab"};
        for (size_t k = 0; k < 6; k++)
            if (required[k] && !sf[k].given)
                return usage_error("no preset given, so %s is required", required[k]);
        if (!sf[3].given)
            s.n_head_kv = vals[2];
    }
    for (size_t k = 0; k < n_sf; k++)
        if (sf[k].given)
            *sf[k].field = vals[k];
    if (tied >= 0)
        s.tied_output = tied;
    if (eps_given)
        s.rms_eps = (float)eps;
    if (rope_given)
        s.rope_freq_base = (float)rope;
    if (dfit_synth_shape_check(&s, &err))
        return usage_error("%s", err.msg);

    p.shape = s;
    if (dfit_synth_write(&p, out, &err)) {
        fprintf(stderr, "dfit synth: %s\n", err.msg);
        return 1;
    }
    struct stat st;
    char params[32], size[32];
    const char *pname = dfit_synth_preset_of(&s);
    printf("%s: %s, %s parameters, %s %s, %s\n", out, pname ? pname : "custom shape",
           dfit_fmt_u64(params, sizeof params, dfit_synth_n_params(&s)), dfit_type_info(p.type)->name,
           "matrices", stat(out, &st) == 0 ? dfit_fmt_bytes(size, sizeof size, (uint64_t)st.st_size) : "?");
    return 0;
}
