/* harness/cli/cmd_inspect.c — placeholder, to be written. */
typedef int dfit_placeholder_cmd_inspect;
