/* harness/run/result.c — placeholder, to be written. */
typedef int dfit_placeholder_result;
