/* harness/cli/cmd_synth.c — placeholder, to be written. */
typedef int dfit_placeholder_cmd_synth;
