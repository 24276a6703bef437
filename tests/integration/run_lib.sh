# run_lib.sh — shared by the `dfit run` integration scripts (sourced, not
# run): checks the environment, makes and removes the temporary directory
# (kept when KEEP is set), and the TAP helpers. The sourcing script sets
# PLAN and prints the plan line first.
# Checks are single-quoted strings that check() evals when they run:
# shellcheck disable=SC2016,SC2034,SC2317
DFIT=${DFIT_BIN:-}
SRC=${DFIT_SOURCE_ROOT:-}
if [[ -z $DFIT || ! -x $DFIT || -z $SRC ]]; then
    echo "Bail out! DFIT_BIN ('${DFIT}') or DFIT_SOURCE_ROOT ('${SRC}') is not set"
    exit 1
fi
SCEN=$SRC/tests/integration/scenarios

T=$(mktemp -d /tmp/dfit-run-XXXXXX) || { echo "Bail out! mktemp failed"; exit 1; }
trap '[[ -n ${KEEP:-} ]] || rm -rf "$T"' EXIT
cd "$T" || exit 1
unset DFIT_TEST_FAULT DFIT_CACHE_DIR

n=0
n_failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
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
has_out_F() { grep -q -F -e "$1" "$T/$last.out"; }
has_err_F() { grep -q -F -e "$1" "$T/$last.err"; }
rc_is() { [[ $rc -eq $1 ]]; }
# export_db DB DIR: every table as CSV; n_cells DIR RUN: the cells of run RUN
export_db() { rm -rf "$2" && "$DFIT" export "$1" --csv "$2" >/dev/null 2>&1; }
n_cells() { grep -c "^[0-9][0-9]*,$2,\"" "$1/cells.csv"; }
# cell_is DIR RUN VARIANT TARGET WORKLOAD STATUS [REASON-PREFIX]
cell_is() {
    grep -q -F -e "$2,\"$3\",\"$4\",\"$5\"," "$1/cells.csv" &&
        grep -F -e "$2,\"$3\",\"$4\",\"$5\"," "$1/cells.csv" | grep -q -F -e "\"$6\",${7:+\"$7}"
}
run_status() { grep "^$2," "$1/runs.csv" | grep -o '"running"\|"done"\|"failed"\|"interrupted"'; }


finish() {
    if [[ $n -ne $PLAN ]]; then
        echo "# planned $PLAN checks, ran $n"
        exit 1
    fi
    [[ $n_failed -eq 0 ]]
}
