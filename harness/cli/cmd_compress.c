/* harness/cli/cmd_compress.c — placeholder, to be written. */
typedef int dfit_placeholder_cmd_compress;
