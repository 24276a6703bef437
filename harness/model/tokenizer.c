/* harness/model/tokenizer.c — placeholder, to be written. */
typedef int dfit_placeholder_tokenizer;
