#!/usr/bin/env bash
# Compiler-planned memory tiering, measured: ResNet-20 (client-aided ReLU, spatial layout) run encrypted with all
# values in DRAM, then with plans compiled for DRAM budgets of 100 %, 33 % and 10 % of its footprint (clamped up to
# the plan's minimum live set, which the compiler reports), each with the PMem pool on tmpfs (/dev/shm) and on disk.
# Prints time relative to the all-DRAM run, peak DRAM and bytes moved each way. Needs the release build and the .venv
# of examples/quickstart.sh. POOL_DISK_DIR=dir puts the disk pool elsewhere (default: a temp dir under $TMPDIR).
set -euo pipefail
source "$(dirname "$0")/../common.sh"
T=$TESSERA PY=$PYTHON M=$MODELS
W=$(mktemp -d)
DISK=${POOL_DISK_DIR:-$W}
SHM=/dev/shm
[ -d "$SHM" ] && [ -w "$SHM" ] || SHM=$W
trap 'rm -rf "$W" "$SHM"/tessera-tiering-*.pmem' EXIT
model resnet20
"$PY" -c "import numpy as np; np.save('$W/x.npy', np.random.default_rng(7).standard_normal((1, 3, 32, 32)).astype(np.float32))"

"$T" compile "$M/resnet20.onnx" -o "$W/base.tsp" --activations client > /dev/null
"$T" keygen "$W/base.tsp" --secret-key "$W/sk.tsk" --eval-keys "$W/ek.tek" > /dev/null
peak_bytes=$("$T" estimate "$W/base.tsp" --dram-budget 1T | sed -n 's/.*peak DRAM \([0-9.]*\) \([KMGT]\)iB.*/\1 \2/p' | head -1 \
    | awk '{ m = ($2 == "K") ? 1024 : ($2 == "M") ? 1048576 : ($2 == "G") ? 1073741824 : 1099511627776; printf "%d", $1 * m }')

# run PLAN LABEL [POOL]: prints seconds, peak DRAM and traffic
run() {
    local plan=$1 label=$2 pool=${3:-}
    "$T" encrypt "$plan" --key "$W/sk.tsk" --input "$W/x.npy" -o "$W/in.tct" > /dev/null
    rm -f "$pool"
    local out
    out=$("$T" run "$plan" --eval-keys "$W/ek.tek" --input "$W/in.tct" -o "$W/out.tct" --refresh-with "$W/sk.tsk" --threads 1 \
        ${pool:+--pmem "$pool"})
    local seconds dram moved
    seconds=$(echo "$out" | sed -n 's/^run: [0-9]* instructions in \([0-9.]*\) s.*/\1/p')
    dram=$(echo "$out" | sed -n 's/.*peak DRAM \([0-9.]* [KMGT]*i*B\).*/\1/p')
    moved=$(echo "$out" | sed -n 's/.*fetches, \(.*\) to the pool, \(.*\) back.*/\1 out, \2 in/p')
    stall=$(echo "$out" | sed -n 's/.*stall \([0-9.]*\) s.*/\1/p')
    printf '%-34s %8.2f s  %6.2fx  peak DRAM %-10s %-28s stall %s s\n' "$label" "$seconds" "$(awk -v a="$seconds" -v b="$BASE" 'BEGIN { print a / b }')" "$dram" "${moved:-no pool}" "${stall:-0}"
}

BASE=1
base_out=$("$T" encrypt "$W/base.tsp" --key "$W/sk.tsk" --input "$W/x.npy" -o "$W/in.tct" > /dev/null; \
    "$T" run "$W/base.tsp" --eval-keys "$W/ek.tek" --input "$W/in.tct" -o "$W/out.tct" --refresh-with "$W/sk.tsk" --threads 1)
BASE=$(echo "$base_out" | sed -n 's/^run: [0-9]* instructions in \([0-9.]*\) s.*/\1/p')
echo "ResNet-20 footprint (plan, values freed after last use): $((peak_bytes / 1048576)) MiB; all-DRAM run $BASE s"
printf '%-34s %10s  %7s\n' "configuration" "time" "vs DRAM"
for percent in 100 33 10; do
    budget=$((peak_bytes * percent / 100))
    if ! msg=$("$T" compile "$M/resnet20.onnx" -o "$W/b$percent.tsp" --activations client --dram-budget "$budget" 2>&1); then
        minimum=$(echo "$msg" | sed -n 's/.*minimum live set of \([0-9]*\) bytes.*/\1/p')
        [ -n "$minimum" ] || { echo "$msg"; exit 1; }
        budget=$minimum
        "$T" compile "$M/resnet20.onnx" -o "$W/b$percent.tsp" --activations client --dram-budget "$budget" > /dev/null
        note=" (clamped to the minimum)"
    else
        note=""
    fi
    label="${percent}% = $((budget / 1048576)) MiB$note"
    run "$W/b$percent.tsp" "$label, tmpfs" "$SHM/tessera-tiering-$$.pmem"
    run "$W/b$percent.tsp" "$label, disk" "$DISK/tessera-tiering-disk-$$.pmem"
done
