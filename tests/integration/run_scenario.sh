#!/usr/bin/env bash
# run_scenario.sh — `dfit run` end to end through the real binary, in a
# temporary directory, on tiny synth models: a small scenario (a CUDA
# target reported skipped with its reason where there is no CUDA or GPU),
# the database read back through `dfit export --csv`, the recommendation,
# plots and report; usage errors; --only-target and --resume; a changed
# scenario file; a sweep where one cell crashes, one hangs past its time
# limit and a variant does not fit its target's memory limit; task
# accuracy on CSV eval sets (tasks.ini) as the quality axis.
# (run_interrupt.sh covers SIGINT, hostile names and --overhead.)
# TAP output: one line per check; diagnostics as "# " lines.
# Environment (set by meson): DFIT_BIN (the built binary), DFIT_SOURCE_ROOT.
# Checks are single-quoted strings that check() evals when they run:
# shellcheck disable=SC2016,SC2034,SC2317
set -u

PLAN=37
echo "1..$PLAN"
# shellcheck source=run_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_lib.sh"

# ---- a small scenario end to end ---------------------------------------------
cp "$SCEN/basic.ini" basic.ini
run basic "$DFIT" run basic.ini --label nightly
check "run basic.ini: exit 0 (every cell that ran is ok)" rc_is 0
# where dfit has CUDA and a GPU the cuda target runs; elsewhere it is skipped
if has_out "^target gpu (cuda): skipped: "; then gpu_ran=false; else gpu_ran=true; fi
n_run=$($gpu_ran && echo 8 || echo 4)
check "the cuda target is reported skipped with its reason (or, with CUDA and a GPU, runs)" \
    eval 'if $gpu_ran; then has_out "gpu × batch: ok in"; else has_out "^target gpu (cuda): skipped: ..*" &&
          has_out "gpu × batch: skipped: ..*"; fi'
check "variants are built first, with progress lines" \
    eval 'has_out_F "building variant q4_0 (compress q4_0 from base) …" && has_out "started run 1 in results/basic.db"'
check "quality is measured once per variant and target, before its cells" \
    eval '[[ $(grep -c "^quality of " "$T/basic.out") -eq $((n_run / 2)) ]] && has_out "^quality of f32 on cpu-1t: top-1 100.00%, mean KL 0,"'
check "every cell gets a progress line (plain lines: stdout is not a terminal)" \
    eval '[[ $(grep -c "^cell [1-8]/8 .*: \(ok in\|skipped\)" "$T/basic.out") -eq 8 ]] && ! grep -q $'"'"'\r'"'"' "$T/basic.out"'
check "the recommendation is printed for the cpu target" \
    eval 'has_out "^recommendation per target (run 1):" && has_out "^  cpu-1t: \(f32\|q4_0\) (meets every SLO" && has_out "^  gpu: "'
check "the report's path is printed last" \
    eval '[[ $(tail -n 1 "$T/basic.out") == "report: results/basic-run1/report.html" ]]'
check "report.html and report.md are written" \
    eval '[[ -s results/basic-run1/report.html && -s results/basic-run1/report.md ]]'
if command -v gnuplot >/dev/null; then
    check "gnuplot rendered the plots (SVG and PNG files)" \
        eval '[[ $(find results/basic-run1/plots -name "*.svg" -size +0 | wc -l) -ge 2 &&
                 $(find results/basic-run1/plots -name "*.png" -size +0 | wc -l) -ge 2 ]]'
else
    skip "gnuplot rendered the plots" "gnuplot is not installed"
fi
export_db results/basic.db csv1
check "the database holds 8 cells for run 1: $n_run ok, the rest skipped" \
    eval '[[ $(n_cells csv1 1) -eq 8 && $(grep -c ",\"ok\"," csv1/cells.csv) -eq $n_run &&
             $(grep -c ",\"skipped\"," csv1/cells.csv) -eq $((8 - n_run)) ]]'
check "the skipped cells carry the reason (cuda)" \
    eval '$gpu_ran || { cell_is csv1 1 q4_0 gpu batch skipped && grep -F "\"gpu\",\"batch\"" csv1/cells.csv | grep -q "cuda"; }'
check "run 1 is done, with its label, scenario hash and build info" \
    eval '[[ $(run_status csv1 1) == "\"done\"" ]] && grep -q "^1,\"basic\",\"$(sha256sum basic.ini | cut -c1-64)\",\"basic.ini\",\"nightly\"," csv1/runs.csv'
check "variants, targets, workloads and machine state are registered" \
    eval '[[ $(grep -c "^[0-9]" csv1/variants.csv) -eq 2 && $(grep -c "^[0-9]" csv1/targets.csv) -eq 2 &&
             $(grep -c "^[0-9]" csv1/workloads.csv) -eq 2 && $(grep -c "^1," csv1/machine_state.csv) -eq 1 ]]'
check "every ok cell has its samples (requests and gaps)" \
    eval '[[ $(grep -c "^[0-9]" csv1/requests.csv) -gt 4 && $(grep -c "^[0-9]" csv1/gaps.csv) -gt 4 ]]'

run basic2 "$DFIT" run basic.ini -q
check "a second run reuses the built variants; -q prints only the report path" \
    eval 'rc_is 0 && [[ $(cat "$T/basic2.out") == "report: results/basic-run2/report.html" ]] &&
          ls .cache/models/*.gguf >/dev/null && [[ -s results/basic-run2/report.html ]]'

# ---- task accuracy on CSV eval sets -------------------------------------------------------
cp -r "$SCEN/tasks.ini" "$SCEN/tasks" .
run tasks "$DFIT" run tasks.ini
check "a scenario with tasks: exit 0; each pair's task accuracy is printed with its quality" \
    eval 'rc_is 0 && [[ $(grep -c "^quality of .* on cpu: top-1 .*; task accuracy [0-9.]* ± [0-9.]* over 2 sets (8 items)" "$T/tasks.out") -eq 2 ]]'
export_db results/tasks.db csv9
check "task_accuracy holds each set of each pair (first 4 items) and the cells the pooled accuracy" \
    eval '[[ $(grep -c "^1,\"\(f32\|q8_0\)\",\"cpu\",\"eval_\(add\|pick\)\",[01],4,[0-4],[0-9.]*,[0-9.e-]*,$" csv9/task_accuracy.csv) -eq 4 ]] &&
          col=$(head -n 1 csv9/cells.csv | tr , "\n" | grep -n "^accuracy$" | cut -d: -f1) &&
          [[ $(cut -d, -f"$col" csv9/cells.csv | grep -c "^0\.[0-9]*$\|^0$\|^1$") -eq 2 ]]'
check "the quality axis is task accuracy, in the recommendation and the report" \
    eval 'has_out "^  cpu: .* (meets every SLO; task accuracy " &&
          grep -q "Quality axis: task accuracy" results/tasks-run1/report.html'
check "the report shows the accuracy per set and pooled, in report.html and report.md" \
    eval 'grep -q "<h3>Task accuracy</h3>" results/tasks-run1/report.html &&
          grep -q "<th>eval_pick</th>" results/tasks-run1/report.html &&
          grep -q "^| f32 | [0-9.]* ± [0-9.]* (n 4) | [0-9.]* ± [0-9.]* (n 4) | [0-9.]* ± [0-9.]* |$" results/tasks-run1/report.md'
sed 's/^tasks = .*/tasks = tasks\/eval_add.csv, tasks\/nowhere.csv/' tasks.ini >tasks-bad.ini
run tasks_bad "$DFIT" run tasks-bad.ini
check "a missing eval set is refused when the scenario is read, with the file and line" \
    eval 'rc_is 1 && has_err_F "tasks-bad.ini:13: [scenario]: key '"'"'tasks'"'"'" && has_err_F "nowhere.csv"'

# ---- usage errors -------------------------------------------------------------------------
run noarg "$DFIT" run
check "run without a scenario: exit 2" eval 'rc_is 2 && has_err_F "no scenario given"'
run badflag "$DFIT" run basic.ini --frobnicate
check "an unknown flag: exit 2, the flag named" eval 'rc_is 2 && has_err_F "--frobnicate"'
run badtarget "$DFIT" run basic.ini --only-target nope --db other.db
check "--only-target with an unknown target: exit 2, the targets listed" \
    eval 'rc_is 2 && has_err_F "'"'"'nope'"'"'" && has_err_F "cpu-1t, gpu" && [[ ! -e other.db ]]'
run missing "$DFIT" run no-such.ini
check "a missing scenario file: exit 1, the file named" eval 'rc_is 1 && has_err_F "no-such.ini"'
run nothing "$DFIT" run basic.ini --resume
check "--resume when the latest run is done: exit 1, says to start a new run" \
    eval 'rc_is 1 && has_err_F "nothing to resume" && has_err_F "start a new run"'
run help "$DFIT" help run
check "dfit help run shows the flags" eval 'rc_is 0 && has_out_F "--only-target" && has_out_F "--resume"'

# ---- --only-target, then --resume completes the run -----------------------------------------
run only "$DFIT" run basic.ini --only-target cpu-1t --db only.db
check "--only-target cpu-1t runs only that target's 4 cells" \
    eval 'rc_is 0 && has_out "= 4 cells" && export_db only.db csv2 && [[ $(n_cells csv2 1) -eq 4 ]] &&
          ! grep -q "\"gpu\"" csv2/cells.csv'
check "a run that covers part of the scenario is left resumable" \
    eval '[[ $(run_status csv2 1) == "\"interrupted\"" ]] && has_out_F "dfit run --resume"'
run only_resume "$DFIT" run basic.ini --resume --db only.db
check "--resume without --only-target adds the other target's cells to the same run" \
    eval 'rc_is 0 && has_out "resuming run 1: 4 of 8 cells already ok, 4 to run" && export_db only.db csv3 &&
          [[ $(n_cells csv3 1) -eq 8 && $(run_status csv3 1) == "\"done\"" ]] && ! grep -q "^[0-9]*,2," csv3/cells.csv'

# ---- a changed scenario file cannot be resumed ------------------------------------------------
cp basic.ini changed.ini
run ch1 "$DFIT" run changed.ini --only-target cpu-1t --db changed.db
sed -i 's/^output_tokens = 8$/output_tokens = 6/' changed.ini
run ch2 "$DFIT" run changed.ini --resume --db changed.db
check "--resume after the scenario file changed: refused, says to start a new run" \
    eval 'rc_is 1 && has_err_F "scenario file changed" && has_err_F "start a new run"'

# ---- faults: a crash, a hang past the time limit, a real OOM ---------------------------------
cp "$SCEN/faults.ini" faults.ini
"$DFIT" synth tiny --vocab 262144 --tied -o big.gguf >/dev/null 2>&1 # 69 MiB, another vocabulary
start=$(date +%s%N)
DFIT_TEST_FAULT=f32/cpu/chat:crash,q8_0/cpu/chat:hang run faults "$DFIT" run faults.ini
secs=$(( ($(date +%s%N) - start) / 1000000 ))
check "a sweep with failed cells: exit 1, and the report is still written" \
    eval 'rc_is 1 && [[ -s results/faults-run1/report.html ]] && [[ $(tail -n 1 "$T/faults.out") == "report: results/faults-run1/report.html" ]]'
export_db results/faults.db csv4
check "the crashing cell is recorded crashed, with the signal" \
    eval 'cell_is csv4 1 f32 cpu chat crashed "killed by SIGSEGV"'
check "the hanging cell is recorded timeout after its 2 s limit" \
    eval 'cell_is csv4 1 q8_0 cpu chat timeout "exceeded the time limit of 2 s" && [[ $secs -ge 2000 && $secs -lt 15000 ]]'
check "a 69 MiB variant under a 64 MiB memory limit is recorded oom; the tiny ones fit" \
    eval 'cell_is csv4 1 big small chat oom "memory limit 64 MiB" && cell_is csv4 1 big small batch oom "memory limit 64 MiB" &&
          cell_is csv4 1 f32 small chat ok && cell_is csv4 1 q8_0 small batch ok'
check "the other cells complete and are ok (12 cells, 8 ok)" \
    eval 'cell_is csv4 1 f32 cpu batch ok && cell_is csv4 1 q8_0 cpu batch ok && cell_is csv4 1 big cpu chat ok &&
          [[ $(n_cells csv4 1) -eq 12 && $(grep -c ",\"ok\"," csv4/cells.csv) -eq 8 ]]'
check "quality that cannot be measured is recorded with its reason; the cells still ran" \
    eval 'has_out "^quality of big on cpu: not available: .*vocabulary" && grep -F "\"big\",\"cpu\",\"chat\"" csv4/cells.csv | grep -q "vocabulary"'
check "the failures are in the progress output with their reasons" \
    eval 'has_out "f32 × cpu × chat: crashed in .*SIGSEGV" && has_out "q8_0 × cpu × chat: timeout in " && has_out "big × small × batch: oom in .*memory limit 64 MiB"'

finish
