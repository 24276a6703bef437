/* harness/model/llama.c — placeholder, to be written. */
typedef int dfit_placeholder_llama;
