/* harness/store/store.c — placeholder, to be written. */
typedef int dfit_placeholder_store;
