/* harness/run/plan.c — placeholder, to be written. */
typedef int dfit_placeholder_plan;
