/* harness/store/export_csv.c — placeholder, to be written. */
typedef int dfit_placeholder_export_csv;
