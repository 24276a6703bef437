#!/usr/bin/env bash
# run_scenario.sh — `dfit run` end to end through the real binary, in a
# temporary directory, on tiny synth models: a small scenario (a CUDA
# target reported skipped with its reason where there is no CUDA or GPU),
# the database read back through `dfit export --csv`, the recommendation,
# plots and report; usage errors; --only-target and --resume; a sweep where
# one cell crashes, one hangs past its time limit and a target's cells run
# out of memory; SIGINT in the middle and a resume; hostile text in names,
# paths and labels (nothing runs, the report escapes it); --overhead.
# TAP output: one line per check; diagnostics as "# " lines.
# Environment (set by meson): DFIT_BIN (the built binary), DFIT_SOURCE_ROOT.
# Checks are single-quoted strings that check() evals when they run:
# shellcheck disable=SC2016,SC2034,SC2317
set -u

PLAN=47
echo "1..$PLAN"

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
# export DB into DIR; cells of run R: csv_cells DIR R
export_db() { rm -rf "$2" && "$DFIT" export "$1" --csv "$2" >/dev/null 2>&1; }
n_cells() { grep -c "^[0-9][0-9]*,$2,\"" "$1/cells.csv"; }
# cell_is DIR RUN VARIANT TARGET WORKLOAD STATUS [REASON-PREFIX]
cell_is() {
    grep -q -F -e "$2,\"$3\",\"$4\",\"$5\"," "$1/cells.csv" &&
        grep -F -e "$2,\"$3\",\"$4\",\"$5\"," "$1/cells.csv" | grep -q -F -e "\"$6\",${7:+\"$7}"
}
run_status() { grep "^$2," "$1/runs.csv" | grep -o '"running"\|"done"\|"failed"\|"interrupted"'; }

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

# ---- SIGINT in the middle, then --resume ---------------------------------------------------------
cp "$SCEN/slow.ini" slow.ini
last=int
last_cmd="dfit run slow.ini --db int.db (SIGINT after the first stored cell)"
"$DFIT" run slow.ini --db int.db --progress lines >"$T/int.out" 2>"$T/int.err" </dev/null &
pid=$!
for _ in $(seq 1 300); do
    grep -q ": ok in " "$T/int.out" 2>/dev/null && break
    sleep 0.05
done
kill -INT "$pid"
wait "$pid"
rc=$?
check "SIGINT: dfit run exits 130 and prints how to resume" \
    eval 'rc_is 130 && has_out "^run 1 interrupted by SIGINT" && has_out_F "dfit run --resume '"'"'slow.ini'"'"' --db '"'"'int.db'"'"'"'
export_db int.db csv5
stored_before=$(n_cells csv5 1)
check "the run is marked interrupted; the cells stored before the signal stay" \
    eval '[[ $(run_status csv5 1) == "\"interrupted\"" && $stored_before -ge 1 && $stored_before -lt 6 ]]'
check "no worker is left running" eval '! pgrep -f "run slow.ini --db int.db --progress" >/dev/null'
run int_resume "$DFIT" run slow.ini --db int.db --resume
export_db int.db csv6
check "--resume completes the run: 6 cells, each once, all ok, run done" \
    eval 'rc_is 0 && [[ $(n_cells csv6 1) -eq 6 && $(grep -c ",\"ok\"," csv6/cells.csv) -eq 6 &&
             $(run_status csv6 1) == "\"done\"" ]] && has_out "already ok"'
check "the runs table counts the resume" eval 'grep "^1," csv6/runs.csv | grep -q ",\"done\",1,"'

# ---- hostile text: quotes, backquotes, $(...), system(), <script>, newlines -------------------
evil="x\"y'z \`touch CANARY\` \$(touch CANARY) system(\"touch CANARY\") <script>alert(1)</script> &amp; & end"
evil_file="m\"q'\`touch CANARY\`\$(touch CANARY)<b>x.gguf"
"$DFIT" synth tiny --seed 9 -o "$evil_file" >/dev/null 2>&1
cat >evil.ini <<EOF
[scenario]
name = $evil
base = synth:tiny:7
reference = f32
eval_tokens = 32

[variant f32]
compress = f32

[variant vendor]
file = $evil_file

[target cpu]
backend = cpu
price_per_hour = 0.01

[workload w]
mode = single-stream
prompt_tokens = 8
output_tokens = 4
min_duration_ms = 0
min_requests = 2
warmup_requests = 0
EOF
run evil "$DFIT" run evil.ini --label $'line1\nline2 <script>alert(2)</script> `touch CANARY` $(touch CANARY)'
check "a scenario with hostile text in its name, a file path and the label runs: exit 0" rc_is 0
check "nothing in that text was executed (no CANARY file anywhere under the run)" \
    eval '[[ -z $(find "$T" -name CANARY) ]]'
db=$(ls results/*.db 2>/dev/null | grep -v "basic\|faults" | head -n 1)
check "the default database name is made of safe characters" \
    eval '[[ $db =~ ^results/[A-Za-z0-9._-]+\.db$ ]]'
rep=$(sed -n 's/^report: //p' "$T/evil.out")
check "the report escapes the text: no raw <script> in report.html or report.md" \
    eval '[[ -s $rep ]] && ! grep -q "<script>alert" "$rep" && grep -q "&lt;script&gt;alert(1)" "$rep" &&
          ! grep -q "<script>alert" "${rep%.html}.md"'
if command -v gnuplot >/dev/null; then
    check "the plots of that run rendered" \
        eval '[[ $(find "$(dirname "$rep")/plots" -name "*.svg" -size +0 | wc -l) -ge 1 ]]'
else
    skip "the plots of that run rendered" "gnuplot is not installed"
fi
check "the progress output shows control characters as ?" \
    eval '! grep -q $'"'"'\x1b'"'"' "$T/evil.out"'
export_db "$db" csv7
check "the label is stored as given, newline included" \
    eval 'grep -q "\"line1\$" csv7/runs.csv && grep -q "^line2 <script>alert(2)</script>" csv7/runs.csv'
printf '[scenario]\nbase = synth:tiny\n\n[variant q"`touch CANARY`]\ncompress = q4_0\n' >badname.ini
run badname "$DFIT" run badname.ini
check "a variant name with quotes and backquotes is refused with the file and line" \
    eval 'rc_is 1 && has_err_F "badname.ini:4" && has_err_F "bad name" && [[ -z $(find "$T" -name CANARY) ]]'

# ---- the bookkeeping overhead ----------------------------------------------------------------------
"$DFIT" synth tiny -o tiny.gguf >/dev/null 2>&1
run overhead "$DFIT" run --overhead tiny.gguf -n 16 -r 2
check "run --overhead reports ns per token with and without the bookkeeping" \
    eval 'rc_is 0 && has_out "^bare (forward + argmax) " && has_out "^with the runner.s bookkeeping " && has_out "^  total "'
run overhead_bad "$DFIT" run --overhead tiny.gguf -n 1
check "run --overhead -n 1: exit 2" eval 'rc_is 2'

if [[ $n -ne $PLAN ]]; then
    echo "# planned $PLAN checks, ran $n"
    exit 1
fi
[[ $n_failed -eq 0 ]]
