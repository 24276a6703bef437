/* main.c — the dfit program: finds the subcommand named by argv[1] in a
 * table and hands it the rest of the command line (argv shifted so that the
 * subcommand sees its own name as argv[0]). Also `dfit help [COMMAND]` and
 * `dfit --version`. Adding a command is one line in `commands` below.
 * Non-goals: option parsing for the subcommands (each parses its own flags
 * and prints its own usage), configuration files.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"

#include "cli/cli.h"
#include "cpu/cpu_features.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary; /* one line for `dfit help` */
};

static const struct command commands[] = {
    {"synth", dfit_cmd_synth, "write a random-weight llama model of a preset shape"},
    {"corpus", dfit_cmd_corpus, "write dfit's task corpus: training text and tokens, eval sets"},
    {"train", dfit_cmd_train, "train a llama model (AdamW, next-token) on a token or text file"},
    {"distill", dfit_cmd_distill, "train a smaller or pruned student on a teacher's distributions (KL + CE)"},
    {"compress", dfit_cmd_compress, "make a variant: quantize (f16, bf16, q8_0, q4_0, AWQ) and/or prune"},
    {"inspect", dfit_cmd_inspect, "show a model file's metadata, tensors, parameters and lineage"},
    {"tokenize", dfit_cmd_tokenize, "split text into a model's vocabulary ids"},
    {"eval", dfit_cmd_eval, "score a model: task accuracy on CSV eval sets, perplexity of a text"},
    {"bench", dfit_cmd_bench, "measure prompt and generation speed (tokens/s), as llama-bench does"},
    {"run", dfit_cmd_run, "run a scenario: every variant on every target and workload, into SQLite"},
    {"report", dfit_cmd_report, "write a run's report: frontier, recommendation per target, plots"},
    {"export", dfit_cmd_export, "write a results database's tables as CSV files"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dfit <command> [args]\n"
            "       dfit help [COMMAND]\n"
            "       dfit --version\n"
            "\n"
            "dfit measures compressed llama-architecture models: speed, memory and\n"
            "quality, side by side, on each serving target.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "  %-10s %s\n"
            "\n"
            "Run 'dfit help COMMAND' (or 'dfit COMMAND --help') for a command's flags.\n",
            "help", "show this list, or a command's usage");
}

static int print_version(void)
{
    const struct dfit_cpu_features *f = dfit_cpu_features();
    printf("dfit %s\n", DFIT_VERSION);
    printf("commit:   %s\n", DFIT_GIT_COMMIT);
    printf("build:    %s\n", DFIT_BUILD_TYPE);
    printf("compiler: %s\n", DFIT_COMPILER);
    printf("cuda:     %s\n", HAVE_CUDA ? "compiled in" : "not compiled in");
    printf("cpu:      %s (%s)\n", f->model[0] ? f->model : "unknown", dfit_cpu_features_level(f));
    return 0;
}

/* `dfit help` lists the commands; `dfit help COMMAND` runs COMMAND --help. */
static int run_help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    if (argc > 2) {
        fprintf(stderr, "dfit help: expected at most one COMMAND, got %d arguments\n", argc - 1);
        return 2;
    }
    if (strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    const struct command *c = find_command(argv[1]);
    if (!c) {
        fprintf(stderr, "dfit help: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return 2;
    }
    char flag[] = "--help";
    char *sub_argv[] = {argv[1], flag, NULL};
    return c->run(2, sub_argv);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
        return print_version();
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        return run_help(1, argv + 1);
    if (strcmp(name, "help") == 0)
        return run_help(argc - 1, argv + 1);

    const struct command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "dfit: unknown command '%s'\n\n", name);
        usage(stderr);
        return 2;
    }
    int rc = c->run(argc - 1, argv + 1);
    if (fflush(stdout) != 0 && rc == 0) {
        perror("dfit: writing output");
        return 1;
    }
    return rc;
}
