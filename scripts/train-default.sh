#!/usr/bin/env bash
# train-default.sh — rebuilds dfit's default model in scenarios/data/ from
# nothing, with fixed seeds: the task corpus and its eval sets (dfit
# corpus), the teacher (dfit train, BF16), and a student with half the
# teacher's layers — the teacher with 2 of its 4 blocks removed
# (dfit compress --prune layers:2), healed by distillation from the teacher
# (dfit distill) — then SHA256SUMS, which scripts/quickstart.sh checks.
#
# Wall time on a 2-core x86-64 VM shared with other jobs: about 25 minutes
# for the teacher (1,500-2,200 tokens/s) and 5 for the student; on two
# idle cores about 20 in all. The results do not depend on the thread
# count: the same binary gives the same files, bit for bit.
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
mkdir -p "$OUT" "$WORK"
[[ -x $DFIT ]] || { echo "train-default.sh: $DFIT not found (build dfit first, or set DFIT)" >&2; exit 1; }

stamp() { date +%s; }
t0=$(stamp)

# 1. The corpus: 2.6 M training tokens of levels 1-3 in rows of 128 tokens
#    (each row starts at an example, as evaluation does), eval sets of 200
#    held-out prompts per task (levels 1-4), and 64 K tokens drawn with
#    another seed to measure the student's KL to the teacher on.
echo "==> corpus"
"$DFIT" corpus -o "$WORK/corpus" --seed 1 --rows 128 --train-tokens 2600000 --max-level 3 --eval-items 200
"$DFIT" corpus -o "$WORK/heldout" --seed 2 --rows 128 --train-tokens 65536 --max-level 3 --eval-items 1
cp "$WORK"/corpus/eval_*.csv "$OUT"/

# 2. The teacher: dim 256, 4 layers, 8 query / 4 KV heads, FFN 512, the
#    320-token byte-level vocabulary, context 128, tied output: 2.44 M
#    parameters; 2,500 steps of 8 x 128 tokens (about one epoch).
echo "==> teacher"
"$DFIT" train --dim 256 --layers 4 --heads 8 --kv-heads 4 --ffn 512 --vocab 320 --ctx 128 \
    --data "$WORK/corpus/train.tok" -o "$OUT/teacher.gguf" --type bf16 \
    --steps 2500 --batch 8 --seq 128 --lr 2e-3 --lr-min 1e-4 --warmup 100 --wd 0.1 --clip 1.0 --seed 1 \
    -t "$THREADS" --ckpt "$WORK/teacher.ckpt" --ckpt-every 250 --log-every 100
t1=$(stamp)

# 3. The student: the teacher without 2 of its 4 blocks (the two whose
#    output changes the residual stream least), then healed by distillation:
#    alpha*T^2*KL + (1-alpha)*CE at T = 2, alpha = 0.5.
echo "==> student (layers:2, healed by distillation)"
"$DFIT" compress "$OUT/teacher.gguf" --prune layers:2 -o "$WORK/teacher-2l.gguf" --force
"$DFIT" distill --teacher "$OUT/teacher.gguf" --student "$WORK/teacher-2l.gguf" -o "$OUT/student-2l.gguf" \
    --data "$WORK/corpus/train.tok" --heldout "$WORK/heldout/train.tok" --type bf16 \
    --steps 600 --batch 8 --seq 128 --lr 1e-3 --temperature 2 --alpha 0.5 --seed 1 -t "$THREADS" --log-every 100
t2=$(stamp)

(cd "$OUT" && sha256sum teacher.gguf student-2l.gguf eval_*.csv > SHA256SUMS)
[[ ${KEEP_WORK:-0} == 1 ]] || rm -rf "$WORK"
echo "==> done: teacher $((t1 - t0)) s, student $((t2 - t1)) s; files in $OUT (SHA256SUMS written)"
