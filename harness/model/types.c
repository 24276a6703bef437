/* harness/model/types.c — placeholder, to be written. */
typedef int dfit_placeholder_types;
