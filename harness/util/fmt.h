/* fmt.h — number formatting for messages and tables. */
#ifndef DFIT_UTIL_FMT_H
#define DFIT_UTIL_FMT_H

#include <stddef.h>
#include <stdint.h>

/* "9,437,216" into buf (cap >= 32); returns buf. */
char *dfit_fmt_u64(char *buf, size_t cap, uint64_t v);
/* "1.23 GiB", "512.0 KiB", "17 B" into buf; returns buf. */
char *dfit_fmt_bytes(char *buf, size_t cap, uint64_t v);

#endif
