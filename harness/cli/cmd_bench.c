/* harness/cli/cmd_bench.c — placeholder, to be written. */
typedef int dfit_placeholder_cmd_bench;
