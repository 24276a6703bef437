/* harness/store/store_cells.c — placeholder, to be written. */
typedef int dfit_placeholder_store_cells;
