#!/usr/bin/env bash
# device-check.sh OUTDIR — the CUDA backend's check on a machine with a GPU,
# in one run that fits a short device lease (a hard budget, default 480 s,
# DFIT_DEVICE_BUDGET_S to change it). Stages, each logged and timed, each
# run even when an earlier one failed (a stage that needs a missing build
# fails fast):
#   env      GPU, driver, toolkit and library facts (nvidia-smi, nvcc, libs)
#   deps     Debian -dev packages carried in .device/ (source unpack-debs.sh)
#   build    meson setup -Dcuda=enabled into a fresh build dir, ninja
#   gpu      the GPU tests (suite gpu: kernels and whole-model logits
#            against the CPU reference; they print every error measured)
#   unit     the unit suite (includes test_cuda_host)
#   models   the `1b` synthetic shape in BF16, then F16, Q8_0 and Q4_0 by
#            `dfit compress` (about 7 GB under DFIT_DEVICE_MODELS, default
#            /tmp/dfit-device-models)
#   bench    dfit-gpu-bench on each format: load time and memory, pp512,
#            decode at batch 1, 8 and 32, roofline (copy bandwidth, BF16
#            GEMM) and each decode's fraction of the bandwidth roofline,
#            energy per token where NVML allows; then `dfit bench --backend
#            cuda` once as a cross-check
#   paths    Q8_0 and Q4_0 decode at batch 8 and 32 with the matrix-vector
#            kernels forced ("mmv") against dequantize+cuBLAS ("gemm"): the
#            data for the automatic threshold (DFIT_CUDA_MMV_MAX_TOK)
# Writes at most 8 files to OUTDIR (what a device run can bring back):
# summary.txt, env.log, build.log, gpu.log, unit.log, models.log,
# bench.log and bench.tsv (the result lines only).
# Usage: bash tests/gpu/device-check.sh OUTDIR
# shellcheck disable=SC2317 # the stage functions run through `stage`
set -u -o pipefail
OUT=${1:?usage: bash tests/gpu/device-check.sh OUTDIR}
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

BUDGET=${DFIT_DEVICE_BUDGET_S:-480}
BUILD=${DFIT_DEVICE_BUILD:-build-device}
MODELS=${DFIT_DEVICE_MODELS:-/tmp/dfit-device-models}
ARCHS=${DFIT_GPU_ARCHS:-90}
START=$(date +%s)
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
for f in env build gpu unit models bench; do : >"$OUT/$f.log"; done
: >"$OUT/bench.tsv"

left() { echo $((BUDGET - ($(date +%s) - START))); }

# stage NAME LOG LIMIT_S CMD...: runs CMD with at most LIMIT_S seconds (and
# never past the budget), appending its output to OUTDIR/LOG.log.
stage() {
    local name=$1 log=$OUT/$2.log limit=$3
    shift 3
    local rem
    rem=$(left)
    if ((rem < 15)); then
        echo "$name: SKIPPED (time budget of ${BUDGET}s spent)" | tee -a "$SUMMARY"
        return 1
    fi
    ((limit > rem)) && limit=$rem
    echo "==> $name (limit ${limit}s)" | tee -a "$log"
    local t0 rc res
    t0=$(date +%s)
    # a child bash, so that CMD may be one of the (exported) functions below
    timeout -k 5 "$limit" bash -c '"$@"' stage "$@" >>"$log" 2>&1
    rc=$?
    case $rc in
    0) res=OK ;;
    124 | 137) res="TIMEOUT after ${limit}s" ;;
    *) res="FAILED (exit $rc)" ;;
    esac
    echo "$name: $res in $(($(date +%s) - t0))s" | tee -a "$SUMMARY"
    return "$rc"
}

env_facts() {
    date -u
    uname -a
    nproc
    free -g
    df -h /tmp .
    nvidia-smi || echo "nvidia-smi: not available"
    nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,power.draw,temperature.gpu \
        --format=csv || true
    command -v nvcc && nvcc --version
    ls -la /usr/local/cuda/lib64/libcudart* /usr/local/cuda/lib64/libcublas* \
        /usr/local/cuda/lib64/libcupti* 2>&1
    ldconfig -p | grep -E 'libcuda\.so|nvidia-ml|cublas|cupti' || true
    meson --version
    ninja --version
    git log -1 --oneline 2>/dev/null || true
}
export -f env_facts
stage env env 30 env_facts

# Debian -dev packages the build needs (sqlite3, inih, papi, csv, cmocka)
if [[ -f .device/unpack-debs.sh ]]; then
    echo "==> deps: source .device/unpack-debs.sh" >>"$OUT/build.log"
    # shellcheck disable=SC1091
    if source .device/unpack-debs.sh >>"$OUT/build.log" 2>&1; then
        echo "deps: OK" | tee -a "$SUMMARY"
    else
        echo "deps: FAILED (see build.log)" | tee -a "$SUMMARY"
    fi
else
    echo "deps: no .device/unpack-debs.sh; using the machine's packages" | tee -a "$SUMMARY"
fi
export PATH=/usr/local/cuda/bin:$PATH

configure() {
    rm -rf "$BUILD"
    meson setup "$BUILD" -Dcuda=enabled -Dbuildtype=release -Dgpu_archs="$ARCHS"
}
export BUILD ARCHS
export -f configure
stage configure build 90 configure
stage build build 240 ninja -C "$BUILD" -j "$(nproc)"
DFIT=$BUILD/dfit
BENCH=$BUILD/tests/gpu/dfit-gpu-bench
export OUT BUILD MODELS DFIT BENCH

gpu_tests() {
    set -o pipefail
    local rc=0
    meson test -C "$BUILD" --no-rebuild --print-errorlogs --suite gpu -t 1 || rc=$?
    cat "$BUILD/meson-logs/testlog.txt"
    return "$rc"
}
export -f gpu_tests
stage gpu gpu 150 gpu_tests

unit_tests() {
    set -o pipefail
    local rc=0
    meson test -C "$BUILD" --no-rebuild --print-errorlogs --suite unit \
        --num-processes "$(nproc)" || rc=$?
    grep -E '^ *[0-9]+/[0-9]+ ' "$BUILD/meson-logs/testlog.txt" || true
    return "$rc"
}
export -f unit_tests
stage unit unit 120 unit_tests

make_models() {
    mkdir -p "$MODELS" || return 1
    local t
    t=$(nproc)
    [[ -f $MODELS/1b-bf16.gguf ]] || "$DFIT" synth 1b --type bf16 -o "$MODELS/1b-bf16.gguf" || return 1
    for f in f16 q8_0 q4_0; do
        [[ -f $MODELS/1b-$f.gguf ]] ||
            "$DFIT" compress --to "$f" "$MODELS/1b-bf16.gguf" -o "$MODELS/1b-$f.gguf" -t "$t" ||
            return 1
    done
    ls -la "$MODELS"
}
export -f make_models
stage models models 200 make_models

bench_all() {
    set -o pipefail
    local rc=0 roof=--roofline
    for f in bf16 f16 q8_0 q4_0; do
        echo "--- $f"
        # shellcheck disable=SC2086 # $roof and ${BW:+...} are empty or whole words
        "$BENCH" "$MODELS/1b-$f.gguf" --pp 512 --n-gen 64 --batches 1,8,32 --reps 3 \
            $roof ${BW:+--bw "$BW"} | tee -a "$OUT/bench.tsv" || rc=1
        roof=
        # the first run's copy bandwidth serves the others' roofline fractions
        if [[ -z ${BW:-} ]]; then
            BW=$(awk -F'\t' '/^roofline/ { for (i = 1; i <= NF; i++) if ($i ~ /^copy_gb_per_s=/) { sub("copy_gb_per_s=", "", $i); printf "%.0f", $i * 1e9 } }' "$OUT/bench.tsv")
        fi
    done
    echo "--- dfit bench --backend cuda (cross-check)"
    "$DFIT" bench "$MODELS/1b-q4_0.gguf" --backend cuda -p 512 -n 64 -r 2 || rc=1
    return "$rc"
}
export -f bench_all
stage bench bench 150 bench_all

paths() {
    set -o pipefail
    local rc=0
    for f in q8_0 q4_0; do
        for k in mmv gemm; do
            echo "--- $f kernels=$k"
            "$BENCH" "$MODELS/1b-$f.gguf" --kernels "$k" --pp 0 --n-gen 32 --batches 8,32 \
                ${BW:+--bw "$BW"} | sed "s/^tg\t/tg-$k\t/" | tee -a "$OUT/bench.tsv" || rc=1
        done
    done
    return "$rc"
}
BW=$(awk -F'\t' '/^roofline/ { for (i = 1; i <= NF; i++) if ($i ~ /^copy_gb_per_s=/) { sub("copy_gb_per_s=", "", $i); printf "%.0f", $i * 1e9 } }' "$OUT/bench.tsv")
export BW
export -f paths
stage paths bench 90 paths

{
    echo
    echo "results (bench.tsv):"
    cat "$OUT/bench.tsv"
    echo
    echo "total: $(($(date +%s) - START))s of a ${BUDGET}s budget"
} >>"$SUMMARY"
cat "$SUMMARY"
grep -q -E 'FAILED|TIMEOUT' "$SUMMARY" && exit 1
exit 0
