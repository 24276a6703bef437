/* backends/cpu/ref_ops.c — placeholder, to be written. */
typedef int dfit_placeholder_ref_ops;
