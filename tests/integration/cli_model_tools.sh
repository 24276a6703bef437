#!/usr/bin/env bash
# cli_model_tools.sh — the model tools end to end through the real dfit
# binary, on real files in a temporary directory: synth -> inspect ->
# compress to every type -> inspect lineage -> tokenize -> bench in every
# output format, and with --roofline; SIGINT to train and distill (and train
# --resume); then the error paths (bad flags, missing and damaged files,
# writing over the input, a bad file among good ones). TAP output: one line
# per check; diagnostics go to stderr or "# " lines.
# Environment (set by meson): DFIT_BIN (the built binary), DFIT_SOURCE_ROOT.
# Checks are single-quoted strings that check() evals when they run:
# shellcheck disable=SC2016,SC2034,SC2317
set -u

PLAN=86
echo "1..$PLAN"

TAP_TAG=cli
# shellcheck source=tap_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/tap_lib.sh"
TAB=$'\t'

# ---- the dispatcher ------------------------------------------------------
run version "$DFIT" --version
check "dfit --version prints the version, commit and build type" \
    eval 'rc_is 0 && has_out "^dfit [0-9]" && has_out "^commit:" && has_out "^build:"'
run noargs "$DFIT"
check "dfit with no command: usage on stderr, exit 2" eval 'rc_is 2 && has_err "^usage: dfit"'
run unknown "$DFIT" frobnicate
check "dfit frobnicate: unknown command named, exit 2" eval 'rc_is 2 && has_err_F "frobnicate"'
run help "$DFIT" help
check "dfit help lists every command" \
    eval 'rc_is 0 && has_out synth && has_out compress && has_out inspect && has_out bench &&
          has_out tokenize && has_out "^  run " && has_out "^  report " && has_out "^  export "'
run help_bench "$DFIT" help bench
check "dfit help bench shows the bench flags" eval 'rc_is 0 && has_out_F "--repetitions"'

# ---- synth and inspect ---------------------------------------------------
# tiny: n_embd 64, 2 layers, n_ff 128, 4 heads, 2 KV heads (head_dim 16),
# vocab 320, untied output: per layer 64*64*2 (q, o) + 64*32*2 (k, v)
# + 3*64*128 (ffn) + 2*64 (norms) = 36,992; plus 2 * 320*64 (embedding,
# output) + 64 (output norm) = 115,008 parameters.
TINY_PARAMS=115008
run synth "$DFIT" synth tiny -o tiny.gguf
check "synth tiny writes tiny.gguf" eval 'rc_is 0 && [[ -s tiny.gguf ]]'
run synth_again "$DFIT" synth tiny -o tiny2.gguf
check "synth is deterministic (same seed, same bytes)" eval '[[ $(sha tiny.gguf) == $(sha tiny2.gguf) ]]'

run inspect "$DFIT" inspect tiny.gguf
check "inspect tiny.gguf succeeds" rc_is 0
check "inspect shows the tensor table" \
    eval 'has_out_F "token_embd.weight" && has_out_F "blk.0.attn_q.weight" && has_out_F "blk.1.ffn_down.weight" && has_out_F "output_norm.weight"'
check "inspect shows the parameter count ($TINY_PARAMS)" \
    eval 'has_out_F "115,008" || has_out_F "115008"'
check "inspect shows the llama hyper-parameters" \
    eval 'has_out "llama.embedding_length .* 64$" && has_out "llama.block_count .* 2$"'

# ---- compress to each type, lineage --------------------------------------
parent_sha=$(sha tiny.gguf)
for t in f16 bf16 q8_0 q4_0; do
    run "compress_$t" "$DFIT" compress tiny.gguf --to "$t" -o "tiny-$t.gguf"
    check "compress --to $t writes tiny-$t.gguf" eval 'rc_is 0 && [[ -s tiny-$t.gguf ]]'
    run "inspect_$t" "$DFIT" inspect "tiny-$t.gguf"
    check "inspect tiny-$t.gguf shows $t matrices and f32 norms" \
        eval 'rc_is 0 && has_out "blk.1.ffn_down.weight  *$t " && has_out "blk.1.ffn_norm.weight  *f32 "'
    check "inspect tiny-$t.gguf: lineage parent sha256 = sha256sum tiny.gguf" \
        eval '[[ -n $parent_sha ]] && has_out "parent.*$parent_sha"'
done
check "q4_0 file is smaller than q8_0, smaller than f16, smaller than f32" \
    eval '[[ $(stat -c %s tiny-q4_0.gguf) -lt $(stat -c %s tiny-q8_0.gguf) &&
            $(stat -c %s tiny-q8_0.gguf) -lt $(stat -c %s tiny-f16.gguf) &&
            $(stat -c %s tiny-f16.gguf) -lt $(stat -c %s tiny.gguf) ]]'
run compress_chain "$DFIT" compress tiny-q8_0.gguf --to q4_0 -o tiny-q8-q4.gguf
run inspect_chain "$DFIT" inspect tiny-q8-q4.gguf
check "a second compression names its own parent (the q8_0 file)" \
    eval 'rc_is 0 && has_out "parent.*$(sha tiny-q8_0.gguf)"'

# ---- tokenize ------------------------------------------------------------
run tokenize "$DFIT" tokenize tiny.gguf "Hello, world"
check "tokenize lists id<TAB>piece lines, BOS (<s>, id 1) first" \
    eval 'rc_is 0 && [[ $(head -n 1 "$T/tokenize.out") == "1${TAB}<s>" ]]'
n_lines=$(grep -c "^[0-9][0-9]*${TAB}" "$T/tokenize.out")
# the pieces after <s>, decoded (▁ is a space, <0xXX> that byte), give the
# text back with the space the tokenizer puts in front
decoded=""
while IFS=$TAB read -r _ piece; do
    if [[ $piece =~ ^\<0x([0-9A-F][0-9A-F])\>$ ]]; then
        printf -v byte '%b' "\\x${BASH_REMATCH[1]}"
        decoded+=$byte
    else
        decoded+=${piece//▁/ }
    fi
done < <(grep "^[0-9][0-9]*${TAB}" "$T/tokenize.out" | tail -n +2)
check "tokenize: the pieces spell the text (\" Hello, world\")" eval '[[ $decoded == " Hello, world" ]]'
run tokenize_ids "$DFIT" tokenize tiny.gguf "Hello, world" --ids-only
check "tokenize --ids-only prints the same ids on one line" \
    eval 'rc_is 0 && [[ $(wc -l <"$T/tokenize_ids.out") -eq 1 ]] &&
          [[ $(tr " " "\n" <"$T/tokenize_ids.out" | grep -c "^[0-9][0-9]*$") -eq $n_lines ]] &&
          [[ $(cut -f1 "$T/tokenize.out" | grep "^[0-9][0-9]*$" | tr "\n" " " | sed "s/ $//") == "$(cat "$T/tokenize_ids.out")" ]]'
run tokenize_nobos "$DFIT" tokenize tiny.gguf "Hello, world" --ids-only --no-bos
check "tokenize --no-bos drops only the BOS" \
    eval 'rc_is 0 && [[ "1 $(cat "$T/tokenize_nobos.out")" == "$(cat "$T/tokenize_ids.out")" ]]'
run tokenize_empty "$DFIT" tokenize tiny.gguf "" --ids-only
check "tokenize of empty text gives just the BOS" eval 'rc_is 0 && [[ $(cat "$T/tokenize_empty.out") == 1 ]]'

# ---- bench ---------------------------------------------------------------
BENCH=(-p 16 -n 8 -r 2)
run bench_md "$DFIT" bench tiny.gguf tiny-q4_0.gguf "${BENCH[@]}" -t 1
check "bench (md) succeeds" rc_is 0
check "bench (md) prints the llama-bench table header" \
    eval 'has_out "^| model  *| *size *| *params *|" && has_out "| *t/s *|" && has_out "| *median t/s *|"'
check "bench (md) has pp16 and tg8 rows for both files" \
    eval '[[ $(grep -c "tiny.gguf .*| *pp16 " "$T/bench_md.out") -eq 1 &&
            $(grep -c "tiny.gguf .*| *tg8 " "$T/bench_md.out") -eq 1 &&
            $(grep -c "tiny-q4_0.gguf .*| *pp16 " "$T/bench_md.out") -eq 1 &&
            $(grep -c "tiny-q4_0.gguf .*| *tg8 " "$T/bench_md.out") -eq 1 ]]'
check "bench (md) shows mean ± stdev" has_out_F "±"

run bench_csv "$DFIT" bench tiny.gguf "${BENCH[@]}" -t 1,2 -o csv
check "bench (csv) succeeds" rc_is 0
check "bench (csv) has its header" eval 'head -n 1 "$T/bench_csv.out" | grep -q "^file,.*avg_ts.*samples_ts"'
check "bench (csv) has one row per thread count and test (4)" \
    eval '[[ $(wc -l <"$T/bench_csv.out") -eq 5 ]]'
check "bench (csv) rows have as many fields as the header" \
    eval '[[ $(awk -F, "{ print NF }" "$T/bench_csv.out" | sort -u | wc -l) -eq 1 ]]'
check "bench (csv) keeps both samples of each row" \
    eval '[[ $(grep -c "\"[0-9.]* [0-9.]*\",\"[0-9]* [0-9]*\"$" "$T/bench_csv.out") -eq 4 ]]'

run bench_json "$DFIT" bench tiny.gguf "${BENCH[@]}" -t 1 -o json
check "bench (json) succeeds" rc_is 0
check "bench (json) is one array" \
    eval '[[ $(head -c 1 "$T/bench_json.out") == "[" && $(tail -n 1 "$T/bench_json.out") == "]" ]]'
check "bench (json) has both tests with their keys" \
    eval '[[ $(grep -c "\"test\": \"pp16\"" "$T/bench_json.out") -eq 1 &&
            $(grep -c "\"test\": \"tg8\"" "$T/bench_json.out") -eq 1 ]] &&
          has_out "\"avg_ts\": [0-9]" && has_out "\"stddev_ts\": " && has_out "\"load_ms\": [0-9]" &&
          has_out "\"samples_ts\": \[[0-9.e+-]*, [0-9.e+-]*\]"'
if command -v python3 >/dev/null 2>&1; then
    check "bench (json) parses as JSON" python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert len(r)==2' "$T/bench_json.out"
else
    check "bench (json) brackets balance" \
        eval '[[ $(tr -cd "[" <"$T/bench_json.out" | wc -c) -eq $(tr -cd "]" <"$T/bench_json.out" | wc -c) ]]'
fi

# ---- bench --kernels: one row per kernel choice, named by what ran ----------
run bench_kern "$DFIT" bench tiny-q4_0.gguf -p 16 -n 0 -r 1 -t 1 --kernels ref,scalar,scalar+mmap -o csv
check "bench --kernels ref,scalar,scalar+mmap: three rows, each named by its kernels" \
    eval 'rc_is 0 && [[ $(wc -l <"$T/bench_kern.out") -eq 4 ]] &&
          has_out ",\"ref\"," && has_out ",\"scalar\"," && has_out ",\"scalar+mmap\","'
run bench_kern_empty "$DFIT" bench tiny.gguf --kernels auto,
check "bench --kernels with an empty element is a usage error" \
    eval 'rc_is 2 && has_err_F "--kernels: empty element"'
run bench_kern_char "$DFIT" bench tiny.gguf --kernels 'auto;rm'
check "bench --kernels with a stray character is a usage error naming it" \
    eval 'rc_is 2 && has_err_F "'"'"'auto;rm'"'"' is not a kernel choice"'
run bench_kern_unknown "$DFIT" bench tiny.gguf -p 16 -n 0 -r 1 --kernels bogus
check "bench --kernels with an unknown set: exit 1, the backend lists the choices" \
    eval 'rc_is 1 && has_err_F "kernels '"'"'bogus'"'"' not supported (choices:"'

# ---- bench --roofline (a small probe buffer keeps it fast) -----------------
run roof_md "$DFIT" bench --roofline tiny.gguf tiny-q4_0.gguf -n 8 -r 2 -t 1 --membw-mib 16
check "bench --roofline (md): bandwidth table, then tg rows beside their roofline" \
    eval 'rc_is 0 && has_out "^| threads | read GB/s |" && has_out "| *roofline t/s *| *achieved *|" &&
          [[ $(grep -c "tiny.gguf .*| *tg8 .*%" "$T/roof_md.out") -eq 1 &&
             $(grep -c "tiny-q4_0.gguf .*| *tg8 .*%" "$T/roof_md.out") -eq 1 ]] &&
          ! has_out "pp[0-9]"'
run roof_csv "$DFIT" bench --roofline tiny.gguf -n 8 -r 2 -t 1,2 --membw-mib 16 -o csv
check "bench --roofline (csv): a membw row per thread count, a tg row each, one width" \
    eval 'rc_is 0 && [[ $(grep -c ",\"membw\"," "$T/roof_csv.out") -eq 2 &&
                        $(grep -c ",\"tg8\"," "$T/roof_csv.out") -eq 2 &&
                        $(awk -F, "{ print NF }" "$T/roof_csv.out" | sort -u | wc -l) -eq 1 ]]'
run roof_json "$DFIT" bench --roofline -r 2 -t 1 --membw-mib 16 -o json
if command -v python3 >/dev/null 2>&1; then
    check "bench --roofline without files (json): bandwidth only, positive" \
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["rows"]==[] and len(r["membw"])==1 and r["membw"][0]["read_bytes_per_s"]>0' "$T/roof_json.out"
else
    check "bench --roofline without files (json): bandwidth only" \
        eval 'rc_is 0 && has_out "\"membw\"" && has_out "\"rows\": \[\]"'
fi
run roof_p "$DFIT" bench --roofline tiny.gguf -p 16
check "bench --roofline with -p is a usage error naming -p" eval 'rc_is 2 && has_err_F "bench: -p: does not apply"'
run roof_mib "$DFIT" bench tiny.gguf --membw-mib 16
check "bench --membw-mib without --roofline is a usage error" eval 'rc_is 2 && has_err_F "--membw-mib"'
run roof_small "$DFIT" bench --roofline --membw-mib 0
check "bench --roofline --membw-mib 0 is a usage error" eval 'rc_is 2 && has_err_F "--membw-mib"'

# ---- train and distill: SIGINT stops at a step boundary --------------------
# SIGINT to pid once its stderr shows a step (the handler is in place by
# then), or after 20 s
interrupt_when_stepping() {
    for _ in $(seq 1 200); do
        grep -q '^step ' "$T/$last.err" 2>/dev/null && break
        sleep 0.1
    done
    kill -INT "$1"
}
for i in $(seq 1 100); do printf 'the quick brown fox jumps over the lazy dog. '; done >text.txt
last=train_int
last_cmd="dfit train --shape tiny --data text.txt -o int.gguf --steps 1000000 (SIGINT at its first step)"
"$DFIT" train --shape tiny --data text.txt -o int.gguf --steps 1000000 --batch 2 --seq 32 -t 1 \
    --log-every 1 >"$T/$last.out" 2>"$T/$last.err" </dev/null &
pid=$!
interrupt_when_stepping "$pid"
wait "$pid"
rc=$?
step=$(sed -n 's/^dfit train: stopped at step \([0-9]*\) of 1000000.*/\1/p' "$T/$last.err")
check "train: SIGINT stops it at a step, exit 1, with a checkpoint to resume and no model" \
    eval 'rc_is 1 && [[ -n $step && -s int.gguf.ckpt && ! -e int.gguf ]] &&
          has_err_F "resume with --resume int.gguf.ckpt"'
run train_resume "$DFIT" train --resume int.gguf.ckpt --data text.txt -o int.gguf \
    --steps $((${step:-0} + 2)) -t 1 -q
check "train --resume after SIGINT finishes the run and writes the model" \
    eval 'rc_is 0 && [[ -s int.gguf ]]'
last=distill_int
last_cmd="dfit distill --teacher int.gguf --student layers=1 --data text.txt --steps 1000000 (SIGINT at its first step)"
"$DFIT" distill --teacher int.gguf --student layers=1 -o st.gguf --data text.txt --steps 1000000 \
    --batch 2 --seq 32 -t 1 --log-every 1 >"$T/$last.out" 2>"$T/$last.err" </dev/null &
pid=$!
interrupt_when_stepping "$pid"
wait "$pid"
rc=$?
check "distill: SIGINT stops it, exit 1, nothing written" \
    eval 'rc_is 1 && [[ ! -e st.gguf ]] && has_err_F "interrupted; nothing written"'

# ---- error paths ---------------------------------------------------------
before=$(sha tiny.gguf)
run overwrite "$DFIT" compress tiny.gguf --to q8_0 -o tiny.gguf
check "compress over its own input is refused" eval 'rc_is 1 && has_err_F "tiny.gguf"'
run overwrite_force "$DFIT" compress tiny.gguf --to q8_0 -o tiny.gguf --force
check "compress over its own input is refused even with --force" eval 'rc_is 1 && has_err_F "tiny.gguf"'
check "... and the input is untouched" eval '[[ $(sha tiny.gguf) == "$before" ]]'
ln -sf tiny.gguf alias.gguf
run overwrite_link "$DFIT" compress alias.gguf --to q8_0 -o tiny.gguf --force
check "compress over its input by another name is refused" \
    eval '[[ $rc -ne 0 && $(sha tiny.gguf) == "$before" ]]'

run missing_inspect "$DFIT" inspect missing.gguf
check "inspect of a missing file: exit 1, file named" eval 'rc_is 1 && has_err_F "missing.gguf"'
run missing_compress "$DFIT" compress missing.gguf --to q8_0 -o out.gguf
check "compress of a missing file: exit 1, file named, no output" \
    eval 'rc_is 1 && has_err_F "missing.gguf" && [[ ! -e out.gguf ]]'

head -c 20 tiny.gguf >trunc-header.gguf
run trunc_header "$DFIT" inspect trunc-header.gguf
check "a GGUF cut inside its header is rejected naming the field (n_kv)" \
    eval 'rc_is 1 && has_err_F "trunc-header.gguf" && has_err_F "n_kv"'
size=$(stat -c %s tiny.gguf)
head -c $((size - 100)) tiny.gguf >trunc-data.gguf
run trunc_data "$DFIT" inspect trunc-data.gguf
check "a GGUF cut inside its tensor data is rejected naming the tensor" \
    eval 'rc_is 1 && has_err "tensor '"'"'[a-z0-9_.]*'"'"'"'
printf 'GGUF\002\000\000\000' >v2.gguf
head -c 64 /dev/zero >>v2.gguf
run version2 "$DFIT" inspect v2.gguf
check "a GGUF version 2 file is rejected naming the version" eval 'rc_is 1 && has_err "version 2"'

run bench_bad "$DFIT" bench trunc-data.gguf tiny.gguf -p 16 -n 0 -r 1 -o csv
check "bench: a bad file is reported as 'dfit bench: <file>: <reason>', exit 1" \
    eval 'rc_is 1 && has_err "^dfit bench: trunc-data.gguf: "'
check "bench: ... and the next file still runs" eval 'has_out "^\"tiny.gguf\",.*\"pp16\""'
run bench_missing "$DFIT" bench missing.gguf -p 16 -n 0 -r 1
check "bench of a missing file: exit 1, file named" eval 'rc_is 1 && has_err "^dfit bench: missing.gguf"'

# bad flags: exit 2 and the message names the flag
bad_flag() { # DESCRIPTION FLAG-NAMED-IN-MESSAGE ARGS...
    local desc=$1 flag=$2
    shift 2
    run badflag "$DFIT" "$@"
    check "$desc: exit 2, message names $flag" eval 'rc_is 2 && has_err_F "$flag"'
}
bad_flag "bench -p abc" "-p" bench tiny.gguf -p abc
bad_flag "bench -p with an empty list" "-p" bench tiny.gguf -p ""
bad_flag "bench -p 16,,32" "-p" bench tiny.gguf -p 16,,32
bad_flag "bench -n -5" "-n" bench tiny.gguf -n -5
bad_flag "bench -t 0" "-t" bench tiny.gguf -t 0
bad_flag "bench -r 0" "-r" bench tiny.gguf -r 0
bad_flag "bench -r 99999999999999999999" "-r" bench tiny.gguf -r 99999999999999999999
bad_flag "bench -o xml" "-o" bench tiny.gguf -o xml
bad_flag "bench --backend nosuch" "--backend" bench tiny.gguf --backend nosuch
bad_flag "bench --frobnicate" "--frobnicate" bench tiny.gguf --frobnicate
bad_flag "bench -r without a value" "-r" bench tiny.gguf -r
bad_flag "synth --dim x" "--dim" synth tiny --dim x -o x.gguf
bad_flag "compress --to q5_k" "--to" compress tiny.gguf --to q5_k -o x.gguf
bad_flag "train --type q4_0" "--type" train --shape tiny --data text.txt -o x.gguf --type q4_0
bad_flag "train --log-every 0" "--log-every" train --shape tiny --data text.txt -o x.gguf --log-every 0
bad_flag "distill -t 0" "-t" distill --teacher int.gguf --student layers=1 --data text.txt -o x.gguf -t 0
bad_flag "distill --lr 0" "--lr" distill --teacher int.gguf --student layers=1 --data text.txt -o x.gguf --lr 0
check "no output file is left by the refused commands" eval '[[ ! -e x.gguf ]]'

finish
