/* harness/model/gguf_read.c — placeholder, to be written. */
typedef int dfit_placeholder_gguf_read;
