#!/usr/bin/env bash
# quickstart.sh — from a fresh checkout to a first measurement: installs
# missing Debian packages (scripts/install-deps.sh), configures build/
# (release) if needed, builds, then runs the main job. Until the scenario
# runner lands, the main job is `dfit bench` of the default model: the 15m
# synthetic llama (created on first use into .cache/models/) and its F16,
# BF16, Q8_0 and Q4_0 variants, a short run (-p 128 -n 32 -r 3) at 1 thread
# and at every CPU. Models are cached: a second run only benchmarks.
# Usage: bash scripts/quickstart.sh
# Non-goal: a full scenario sweep (see README.md for what else dfit does).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

if [[ ! -f build/build.ninja ]]; then
    meson setup build --buildtype=release
fi
meson compile -C build

DFIT=build/dfit
MODELS=.cache/models
BASE=$MODELS/15m.gguf
TYPES=(f16 bf16 q8_0 q4_0)
mkdir -p "$MODELS"

# A cached file counts only if dfit still reads it (the format may have
# moved on since it was written).
usable() { [[ -s $1 ]] && "$DFIT" inspect "$1" >/dev/null 2>&1; }

if ! usable "$BASE"; then
    echo "==> creating the default model: $BASE"
    "$DFIT" synth 15m -o "$BASE"
    for t in "${TYPES[@]}"; do rm -f "$MODELS/15m-$t.gguf"; done # made from the old one
fi
files=("$BASE")
for t in "${TYPES[@]}"; do
    f=$MODELS/15m-$t.gguf
    if ! usable "$f"; then
        echo "==> compressing to $t: $f"
        "$DFIT" compress --to "$t" "$BASE" -o "$f" --force
    fi
    files+=("$f")
done

n_cpu=$(nproc 2>/dev/null || echo 1)
threads=1
[[ $n_cpu -gt 1 ]] && threads="1,$n_cpu"

echo "==> dfit bench (prompt 128, generate 32, 3 repetitions, threads $threads)"
"$DFIT" bench "${files[@]}" -p 128 -n 32 -r 3 -t "$threads"

echo
echo "Next: the full sweep (quality, latency, memory, cost per target, and a report):"
echo "  $DFIT run scenarios/quickstart.ini"
