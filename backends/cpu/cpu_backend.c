/* backends/cpu/cpu_backend.c — placeholder, to be written. */
typedef int dfit_placeholder_cpu_backend;
