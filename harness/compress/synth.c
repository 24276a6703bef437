/* harness/compress/synth.c — placeholder, to be written. */
typedef int dfit_placeholder_synth;
