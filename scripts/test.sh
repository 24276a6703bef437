#!/usr/bin/env bash
# test.sh — the whole test suite, as CI runs it:
#   1. build-ci/   release build with warnings as errors; every test
#                  (unit, integration, and whatever else meson knows);
#   2. build-asan/ optimised debug build (-O2 -g, asserts on) with AddressSanitizer and UBSan (leaks
#                  checked, UB fatal); the unit suite.
# Installs missing Debian packages first (scripts/install-deps.sh). Runs
# every stage even after a failure, so one run shows everything, and exits
# non-zero if any stage failed. meson writes each stage's results to
# <build>/meson-logs/testlog.{txt,json}; .ci/run counts them.
# Usage: bash scripts/test.sh
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

bash scripts/install-deps.sh || exit 1

failed=()

# meson setup, or re-apply the options to an existing build directory.
configure() {
    local dir=$1
    shift
    if [[ -f "$dir/build.ninja" ]]; then
        meson configure "$dir" "$@"
    else
        meson setup "$dir" "$@"
    fi
}

# stage NAME DIR TEST_ARGS... -- SETUP_ARGS...
stage() {
    local name=$1 dir=$2
    shift 2
    local test_args=()
    while [[ $# -gt 0 && $1 != -- ]]; do test_args+=("$1"); shift; done
    shift
    echo "==> $name: $dir"
    rm -f "$dir/meson-logs/testlog.json" "$dir/meson-logs/testlog.txt"
    if ! configure "$dir" "$@"; then
        failed+=("$name (configure)")
        return
    fi
    if ! meson compile -C "$dir"; then
        failed+=("$name (build)")
        return
    fi
    if ! meson test -C "$dir" --no-rebuild --print-errorlogs "${test_args[@]}"; then
        failed+=("$name (tests)")
    fi
}

stage "release, -Werror" build-ci -- \
    -Dbuildtype=release -Dwerror=true

ASAN_OPTIONS=detect_leaks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
stage "address+undefined sanitizers" build-asan --suite unit -- \
    -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "test.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "test.sh: all stages passed"
