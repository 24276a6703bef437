/* harness/compress/convert.c — placeholder, to be written. */
typedef int dfit_placeholder_convert;
