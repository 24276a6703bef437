/* harness/model/gguf_common.c — placeholder, to be written. */
typedef int dfit_placeholder_gguf_common;
