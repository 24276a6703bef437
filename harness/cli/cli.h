/* cli.h — the dfit subcommands. Each takes main's argc/argv shifted so that
 * argv[0] is the subcommand name, prints its own usage on bad flags, and
 * returns the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef DFIT_CLI_H
#define DFIT_CLI_H

int dfit_cmd_synth(int argc, char **argv);
int dfit_cmd_compress(int argc, char **argv);
int dfit_cmd_inspect(int argc, char **argv);
int dfit_cmd_bench(int argc, char **argv);
int dfit_cmd_tokenize(int argc, char **argv);
int dfit_cmd_export(int argc, char **argv);
int dfit_cmd_train(int argc, char **argv);
int dfit_cmd_distill(int argc, char **argv);
int dfit_cmd_report(int argc, char **argv);
int dfit_cmd_run(int argc, char **argv);
int dfit_cmd_corpus(int argc, char **argv);
int dfit_cmd_eval(int argc, char **argv);

#endif
