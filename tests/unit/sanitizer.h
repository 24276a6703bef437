/* sanitizer.h — for tests of address-space limits (RLIMIT_AS):
 * DFIT_UNDER_ASAN is 1 in an AddressSanitizer build, where such tests cannot
 * run (ASan reserves terabytes of shadow memory up front, so they are left
 * out of that build), and test_vm_bytes() is the process's address-space
 * size, to set a cap a known margin above it. */
#ifndef DFIT_TESTS_SANITIZER_H
#define DFIT_TESTS_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__)
#define DFIT_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DFIT_UNDER_ASAN 1
#endif
#endif
#ifndef DFIT_UNDER_ASAN
#define DFIT_UNDER_ASAN 0
#endif

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

/* Virtual size of this process in bytes (/proc/self/statm), 0 if unread. */
static inline uint64_t test_vm_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    if (f) {
        if (fscanf(f, "%llu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

#endif
