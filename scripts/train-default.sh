#!/usr/bin/env bash
# train-default.sh — rebuilds dfit's default model in scenarios/data/ from
# nothing, with fixed seeds: the task corpus, its eval sets, a calibration
# and a fidelity text (dfit corpus), the teacher (dfit train, BF16), and a
# student with half the teacher's layers — the teacher with 2 of its 4
# blocks removed (dfit compress --prune layers:2), healed by distillation
# from the teacher (dfit distill) — then SHA256SUMS, which
# scripts/quickstart.sh checks.
#
# Wall time on the project's 2-core x86-64 VM shared with other jobs (load
# 3-6): 22 minutes for the teacher (about 2,000 tokens/s), 1 for pruning
# and 7 for the student's distillation, about 30 in all. The results do not
# depend on the thread count: the same dfit binary gives the same files,
# bit for bit.
# Usage: bash scripts/train-default.sh [OUTDIR]   (default scenarios/data)
#   DFIT=path/to/dfit (default build/dfit), THREADS=N (default: all CPUs),
#   WORK=dir for the corpus and intermediate files (default OUTDIR/.work,
#   removed at the end unless KEEP_WORK=1).
# Non-goals: tuning the recipe (docs/training.md records how it was chosen).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DFIT=${DFIT:-build/dfit}
OUT=${1:-scenarios/data}
WORK=${WORK:-$OUT/.work}
THREADS=${THREADS:-$(nproc 2>/dev/null || echo 1)}
TASKS=add,succ,max,copy,sort,word
mkdir -p "$OUT" "$WORK"
[[ -x $DFIT ]] || { echo "train-default.sh: $DFIT not found (build dfit first, or set DFIT)" >&2; exit 1; }

stamp() { date +%s; }
t0=$(stamp)

# Keeps the header and the first 200 items of levels 1-2 (the levels the
# teacher is trained on) of an eval set written by dfit corpus, which
# covers levels 1-4: two-digit numbers, five letters, three sort items,
# word problems that buy or give away one-digit amounts.
levels_1_2() {
    perl -ne '
        if ($. == 1) { print; $n = 0; next }
        next if $n >= 200;
        my $ok = 0;
        if    (/^"?add: (\d+)\+(\d+)=/)    { $ok = length($1) <= 2 && length($2) <= 2 }
        elsif (/^"?succ: (\d+)=/)          { $ok = length($1) <= 2 }
        elsif (/^"?max: (\d+),(\d+)=/)     { $ok = length($1) <= 2 }
        elsif (/^"?copy: ([a-z]+)\|/)      { $ok = length($1) <= 5 }
        elsif (/^"?sort: ([^|]*)\|/)       { $ok = ($1 =~ tr/,//) <= 2 }
        elsif (/ has (\d+) \w+ and buys /) { $ok = $1 <= 9 }
        elsif (/ and gives away (\d+)\. /) { $ok = $1 <= 9 }
        if ($ok) { print; $n++ }' "$1"
}

# 1. The corpus: 2.6 M training tokens of six tasks at levels 1-2, in rows
#    of 128 tokens (each row starts at an example, as evaluation does);
#    eval sets of held-out prompts (1,000 drawn per task, the first 200 of
#    levels 1-2 kept; succ has only 11 such prompts and ships no set);
#    64 K tokens drawn with seed 2 (held-out draws for the student's KL,
#    and the fidelity text tasks.txt) and 16 K with seed 3 (calib.txt).
echo "==> corpus"
"$DFIT" corpus -o "$WORK/corpus" --seed 1 --rows 128 --train-tokens 2600000 --max-level 2 --tasks "$TASKS" \
    --eval-items 1000
"$DFIT" corpus -o "$WORK/heldout" --seed 2 --rows 128 --train-tokens 65536 --max-level 2 --tasks "$TASKS" \
    --eval-items 1
"$DFIT" corpus -o "$WORK/calib" --seed 3 --train-tokens 16384 --max-level 2 --tasks "$TASKS" --eval-items 1
for t in add add_mc copy max max_mc sort word; do
    levels_1_2 "$WORK/corpus/eval_$t.csv" > "$OUT/eval_$t.csv"
done
head -n 400 "$WORK/heldout/train.txt" > "$OUT/tasks.txt"
cp "$WORK/calib/train.txt" "$OUT/calib.txt"

# 2. The teacher: dim 256, 4 layers, 8 query / 4 KV heads, FFN 512, the
#    320-token byte-level vocabulary, context 128, tied output: 2.44 M
#    parameters; 2,500 steps of 8 x 128 tokens (about one epoch).
echo "==> teacher"
"$DFIT" train --dim 256 --layers 4 --heads 8 --kv-heads 4 --ffn 512 --vocab 320 --ctx 128 \
    --data "$WORK/corpus/train.tok" -o "$OUT/teacher.gguf" --type bf16 \
    --steps 2500 --batch 8 --seq 128 --lr 1e-3 --lr-min 5e-5 --warmup 100 --wd 0.1 --clip 1.0 --seed 1 \
    -t "$THREADS" --ckpt "$WORK/teacher.ckpt" --ckpt-every 250 --log-every 100
t1=$(stamp)

# 3. The student: the teacher without the 2 of its 4 blocks that change the
#    residual stream least on calib.txt, healed by distillation:
#    alpha*T^2*KL + (1-alpha)*CE at T = 2, alpha = 0.5, 400 steps.
echo "==> student (layers:2, healed by distillation)"
"$DFIT" compress "$OUT/teacher.gguf" --prune layers:2 --calib "$OUT/calib.txt" --calib-tokens 4096 \
    -o "$WORK/teacher-2l.gguf" -t "$THREADS" --force
"$DFIT" distill --teacher "$OUT/teacher.gguf" --student "$WORK/teacher-2l.gguf" -o "$OUT/student-2l.gguf" \
    --data "$WORK/corpus/train.tok" --heldout "$WORK/heldout/train.tok" --heldout-windows 256 --type bf16 \
    --steps 400 --batch 8 --seq 128 --lr 1e-3 --temperature 2 --alpha 0.5 --seed 1 -t "$THREADS" --log-every 50
t2=$(stamp)

(cd "$OUT" && sha256sum teacher.gguf student-2l.gguf eval_*.csv tasks.txt calib.txt > SHA256SUMS)
[[ ${KEEP_WORK:-0} == 1 ]] || rm -rf "$WORK"
echo "==> done: teacher $((t1 - t0)) s, student $((t2 - t1)) s; files in $OUT (SHA256SUMS written)"
