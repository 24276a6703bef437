# run_lib.sh — shared by the `dfit run` integration scripts (sourced, not
# run): tap_lib.sh, then the scenarios' directory and readers of an
# exported results database.
# shellcheck disable=SC2034
TAP_TAG=run
# shellcheck source=tap_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/tap_lib.sh"
SCEN=$SRC/tests/integration/scenarios
unset DFIT_TEST_FAULT DFIT_CACHE_DIR

# export_db DB DIR: every table as CSV; n_cells DIR RUN: the cells of run RUN
export_db() { rm -rf "$2" && "$DFIT" export "$1" --csv "$2" >/dev/null 2>&1; }
n_cells() { grep -c "^[0-9][0-9]*,$2,\"" "$1/cells.csv"; }
# cell_is DIR RUN VARIANT TARGET WORKLOAD STATUS [REASON-PREFIX]
cell_is() {
    grep -q -F -e "$2,\"$3\",\"$4\",\"$5\"," "$1/cells.csv" &&
        grep -F -e "$2,\"$3\",\"$4\",\"$5\"," "$1/cells.csv" | grep -q -F -e "\"$6\",${7:+\"$7}"
}
run_status() { grep "^$2," "$1/runs.csv" | grep -o '"running"\|"done"\|"failed"\|"interrupted"'; }

