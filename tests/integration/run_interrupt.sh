#!/usr/bin/env bash
# run_interrupt.sh — `dfit run` interrupted and resumed, and fed hostile
# text, through the real binary in a temporary directory: SIGINT in the
# middle of a sweep (exit 130, run marked interrupted, the worker gone),
# then --resume completes it; quotes, backquotes, $(...), system(),
# <script> and newlines in the scenario name, a variant's file path and the
# label, and the same text (but '/') in variant, target and workload names:
# nothing runs, the plots render, the report escapes them, file names stay
# safe, the CSV export keeps them, --only-target and DFIT_TEST_FAULT take
# them; names with '/' or control characters refused; and
# `dfit run --overhead`.
# TAP output: one line per check; diagnostics as "# " lines.
# Environment (set by meson): DFIT_BIN (the built binary), DFIT_SOURCE_ROOT.
# Checks are single-quoted strings that check() evals when they run:
# shellcheck disable=SC2016,SC2034,SC2317
set -u

PLAN=22
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
# In the scenario's name, a variant's file path and the label; and in the
# names of variants, targets and a workload (a name may hold anything
# printable but '/' and ']', so a closing tag there is written "<\script>").
evil="x\"y'z \`touch CANARY\` \$(touch CANARY) system(\"touch CANARY\") <script>alert(1)</script> &amp; & end"
evil_file="m\"q'\`touch CANARY\`\$(touch CANARY)<b>x.gguf"
vA=$'q"\'`touch CANARY`$(touch CANARY)'
vB=$'system("touch CANARY") <script>alert(1)<\\script>'
tA=$'edge "\'`touch CANARY` $(touch CANARY) *?[x <script>alert(2)'
wA=$'w system("touch CANARY") & <b>#1 ;x'
"$DFIT" synth tiny --seed 9 -o "$evil_file" >/dev/null 2>&1
cat >evil.ini <<INI
[scenario]
name = $evil
base = synth:tiny:7
reference = $vA
eval_tokens = 32

[variant $vA]
compress = f32

[variant $vB]
compress = q8_0
from = $vA

[variant vendor]
file = $evil_file

[target $tA]
backend = cpu
price_per_hour = 0.01

[target plain]
backend = cpu

[workload $wA]
mode = single-stream
prompt_tokens = 8
output_tokens = 4
min_duration_ms = 0
min_requests = 2
warmup_requests = 0
INI
# The HTML and Markdown forms of a name, as the report writes them.
html_esc() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g' -e "s/'/\&#39;/g"; }
md_esc() { sed -e 's/[][\\`*_#|<>~&$@]/\\&/g'; }
csv_q() { printf '"%s"' "${1//\"/\"\"}"; }
no_canary() { [[ -z $(find "$T" -name CANARY) ]]; }
run evil "$DFIT" run evil.ini --label $'line1\nline2 <script>alert(2)</script> `touch CANARY` $(touch CANARY)'
check "hostile text in the scenario's name, a file path, the label and every kind of name: exit 0" \
    eval 'rc_is 0 && has_out "= 6 cells" && [[ $(grep -c ": ok in " "$T/evil.out") -eq 6 ]]'
check "nothing in that text was executed (no CANARY file anywhere under the run)" no_canary
db=$(find results -maxdepth 1 -name "*.db" 2>/dev/null | head -n 1)
check "the default database name is made of safe characters" \
    eval '[[ $db =~ ^results/[A-Za-z0-9._-]+\.db$ ]]'
rep=$(sed -n 's/^report: //p' "$T/evil.out")
check "the report escapes the text: no raw <script> in report.html or report.md" \
    eval '[[ -s $rep ]] && ! grep -q "<script>alert" "$rep" && grep -q "&lt;script&gt;alert(1)" "$rep" &&
          ! grep -q "<script>alert" "${rep%.html}.md"'
# only_escaped FILE ESCAPER NAME...: each name is in FILE escaped, never raw
only_escaped() {
    local file=$1 esc=$2 name e
    shift 2
    for name in "$@"; do
        e=$(printf '%s\n' "$name" | "$esc")
        grep -qF -- "$e" "$file" && ! grep -qF -- "$name" "$file" || return 1
    done
}
check "report.html holds the names only escaped" only_escaped "$rep" html_esc "$vA" "$vB" "$tA" "$wA"
check "report.md holds the names Markdown-escaped" \
    only_escaped "${rep%.html}.md" md_esc "$vA" "$vB" "$tA" "$wA"
plots=$(dirname "$rep")/plots
check "file names under the report and the cache come from ids and hashes, never names" \
    eval '! find "$(dirname "$rep")" .cache -mindepth 1 | sed "s|.*/||" | grep -qv "^[A-Za-z0-9._-]*$" &&
          ! grep -q "CANARY\|alert" "$plots"/*.gp'
if command -v gnuplot >/dev/null; then
    check "the plots of that run rendered, non-empty, with the names as data labels" \
        eval '[[ $(find "$plots" -name "front_*.svg" -size +0 | wc -l) -ge 3 &&
                 $(find "$plots" -name "cdf_*.png" -size +0 | wc -l) -ge 2 ]] &&
              grep -q "touch CANARY" "$plots"/front_t0_w0_e2e_pts.dat'
else
    skip "the plots of that run rendered, non-empty, with the names as data labels" "gnuplot is not installed"
fi
check "the recommendation of each target is printed under its name" \
    eval 'has_out_F "  $tA: " && has_out_F "  plain: "'
check "the progress output shows control characters as ?" \
    eval '! grep -q $'"'"'\x1b'"'"' "$T/evil.out"'
export_db "$db" csv7
check "the label is stored as given, newline included" \
    eval 'grep -q "\"line1\$" csv7/runs.csv && grep -q "^line2 <script>alert(2)</script>" csv7/runs.csv'
check "the CSV export holds the names exactly (quotes doubled)" \
    eval 'grep -qF -- "$(csv_q "$vB"),$(csv_q "$tA"),$(csv_q "$wA")," csv7/cells.csv'
run evil_only env DFIT_TEST_FAULT="$vB/$tA/$wA:fail" "$DFIT" run evil.ini --only-target "$tA" --db only.db
check "--only-target and DFIT_TEST_FAULT take such names: that target's 3 cells, the faulty one failed" \
    eval 'rc_is 1 && has_out "= 3 cells" && export_db only.db csv8 && [[ $(n_cells csv8 1) -eq 3 ]] &&
          ! grep -q ",\"plain\"," csv8/cells.csv && [[ $(grep -c "injected fault" csv8/cells.csv) -eq 1 ]] &&
          grep -F -- "$(csv_q "$vB")," csv8/cells.csv | grep -q "injected fault" && no_canary'
printf '[scenario]\nbase = synth:tiny\n\n[variant <script>alert(1)</script>]\ncompress = q4_0\n' >badname.ini
run badname "$DFIT" run badname.ini
check "a variant name with '/' is refused with the file and line" \
    eval 'rc_is 1 && has_err_F "badname.ini:4" && has_err_F "bad name" && has_err_F "cell id"'
printf '[scenario]\nbase = synth:tiny\n\n[target a\033[31mred]\nbackend = cpu\n' >ctrl.ini
run ctrl "$DFIT" run ctrl.ini
check "a target name with a control character is refused, shown without it" \
    eval 'rc_is 1 && has_err_F "ctrl.ini:4" && has_err_F "control character" && ! grep -q $'"'"'\x1b'"'"' "$T/ctrl.err"'

# ---- the bookkeeping overhead ----------------------------------------------------------------------
"$DFIT" synth tiny -o tiny.gguf >/dev/null 2>&1
run overhead "$DFIT" run --overhead tiny.gguf -n 16 -r 2
check "run --overhead reports ns per token with and without the bookkeeping" \
    eval 'rc_is 0 && has_out "^bare (forward + argmax) " && has_out "^with the runner.s bookkeeping " && has_out "^  total "'
run overhead_bad "$DFIT" run --overhead tiny.gguf -n 1
check "run --overhead -n 1: exit 2" eval 'rc_is 2'

finish
