# tap_lib.sh — shared by the integration scripts (sourced, not run): checks
# the environment, makes the temporary directory /tmp/dfit-$TAP_TAG-XXXXXX
# and cds into it (removed at exit unless KEEP is set), and the TAP
# helpers. The sourcing script sets PLAN (and TAP_TAG) and prints the plan
# line first, and ends with finish.
# Checks are single-quoted strings that check() evals when they run:
# shellcheck disable=SC2016,SC2034,SC2317
DFIT=${DFIT_BIN:-}
SRC=${DFIT_SOURCE_ROOT:-}
if [[ -z $DFIT || ! -x $DFIT || -z $SRC ]]; then
    echo "Bail out! DFIT_BIN ('${DFIT}') or DFIT_SOURCE_ROOT ('${SRC}') is not set"
    exit 1
fi

T=$(mktemp -d "/tmp/dfit-${TAP_TAG:-test}-XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
trap '[[ -n ${KEEP:-} ]] || rm -rf "$T"' EXIT
cd "$T" || exit 1

n=0
n_failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# a failed check shows what the last command (run) said, as TAP comments
not_ok() {
    n=$((n + 1))
    n_failed=$((n_failed + 1))
    echo "not ok $n - $1"
    if [[ -n ${last:-} ]]; then
        echo "#   command: ${last_cmd}"
        echo "#   exit status: ${rc}"
        sed -e 's/^/#   stdout: /' "$T/$last.out" | tail -n 25
        sed -e 's/^/#   stderr: /' "$T/$last.err" | tail -n 15
    fi
}
# check DESCRIPTION TEST-COMMAND...: one TAP line from the command's status
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
# run NAME COMMAND...: stdout/stderr in $T/NAME.{out,err}; status in $rc
run() {
    last=$1
    shift
    last_cmd="$*"
    "$@" >"$T/$last.out" 2>"$T/$last.err" </dev/null
    rc=$?
}
has_out() { grep -q -e "$1" "$T/$last.out"; }
has_err() { grep -q -e "$1" "$T/$last.err"; }
has_out_F() { grep -q -F -e "$1" "$T/$last.out"; }
has_err_F() { grep -q -F -e "$1" "$T/$last.err"; }
rc_is() { [[ $rc -eq $1 ]]; }
sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

# the exit status: 1 when a check failed or the count differs from PLAN
finish() {
    if [[ $n -ne $PLAN ]]; then
        echo "# planned $PLAN checks, ran $n: fix PLAN"
        exit 1
    fi
    [[ $n_failed -eq 0 ]]
}
