#!/usr/bin/env bash
# ResNet-20 (CIFAR shape, seeded random weights) fully encrypted and non-interactive: polynomial ReLUs (composite sign,
# alpha = 8, ranges calibrated on 16 seeded random images) and CKKS bootstrapping at N = 2^16 (sparse secret h = 192,
# 128-bit secure). Compiles with optimized and naive bootstrap placement, prints both estimates, then runs the
# optimized plan encrypted (keygen, encrypt, run with bootstraps, decrypt) and compares the logits with the plaintext
# reference executor (exact ReLU).
#
# Needs the release build and the .venv of examples/quickstart.sh (onnx, numpy). Takes ~15-25 minutes on 2 cores and
# ~10 GiB of memory (1.7 GiB of application keys trimmed to their levels, ~6 GiB of bootstrapping keys).
# OUT=dir keeps the files; SKIP_RUN=1 stops after the estimates.
set -euo pipefail
source "$(dirname "$0")/../common.sh"
ALPHA=${ALPHA:-8}
model resnet20
"$PYTHON" -c "
import numpy as np
np.save('$OUT/x.npy', np.random.default_rng(20).standard_normal((1, 3, 32, 32)).astype(np.float32))
np.save('$OUT/calibration.npy', np.random.default_rng(7).standard_normal((16, 3, 32, 32)).astype(np.float32))"

for placement in naive optimized; do
    "$TESSERA" compile "$MODELS/resnet20.onnx" -o "$OUT/resnet20.$placement.tsp" --relu-alpha "$ALPHA" \
        --calibration "$OUT/calibration.npy" --bootstrap-placement "$placement" --report | grep -E '^(parameters|bootstrapping|wrote)'
    "$TESSERA" estimate "$OUT/resnet20.$placement.tsp" | grep -E '^(time|memory|keys)' | cut -c1-160
done
[ "${SKIP_RUN:-0}" = 1 ] && exit 0
"$TESSERA" infer "$OUT/resnet20.optimized.tsp" --input "$OUT/x.npy" --reference "$MODELS/resnet20.onnx" \
    -o "$OUT/logits.npy" --quiet
