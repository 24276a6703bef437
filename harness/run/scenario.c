/* harness/run/scenario.c — placeholder, to be written. */
typedef int dfit_placeholder_scenario;
