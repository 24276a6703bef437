#!/usr/bin/env bash
# run_interrupt.sh — `dfit run` interrupted and resumed, and fed hostile
# text, through the real binary in a temporary directory: SIGINT in the
# middle of a sweep (exit 130, run marked interrupted, the worker gone),
# then --resume completes it; quotes, backquotes, $(...), system(),
# <script> and newlines in the scenario name, a variant's file path and the
# label (nothing runs, the report escapes them, file names stay safe); a
# variant name with such text refused; and `dfit run --overhead`.
# TAP output: one line per check; diagnostics as "# " lines.
# Environment (set by meson): DFIT_BIN (the built binary), DFIT_SOURCE_ROOT.
# Checks are single-quoted strings that check() evals when they run:
# shellcheck disable=SC2016,SC2034,SC2317
set -u

PLAN=15
echo "1..$PLAN"
# shellcheck source=run_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_lib.sh"

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

finish
