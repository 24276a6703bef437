/* harness/cli/cmd_tokenize.c — placeholder, to be written. */
typedef int dfit_placeholder_cmd_tokenize;
