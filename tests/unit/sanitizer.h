/* sanitizer.h — DFIT_UNDER_ASAN is 1 in an AddressSanitizer build. Tests of
 * address-space limits (RLIMIT_AS) cannot run there: ASan reserves terabytes
 * of shadow memory up front, so such cases are left out of that build. */
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

#endif
