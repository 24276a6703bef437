/* harness/model/gguf_write.c — placeholder, to be written. */
typedef int dfit_placeholder_gguf_write;
