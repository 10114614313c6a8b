#!/usr/bin/env bash
# ResNet-50 (ImageNet shape 1×3×224×224, seeded random weights, ~100 MB; generated, never downloaded): compile it to a
# CKKS plan in the spatial layout with client-aided ReLUs (128-bit secure parameters), report the compile time and
# peak memory, and print `tessera estimate` (ops, rotation keys, memory, predicted time). Then the same in the batch
# layout (slot i = image i, nGraph-HE's packing): each tensor is one lane value and each convolution one `linearMap`
# over lanes (4.1 G multiply-accumulate terms stored as 25 M weights), so the plan has ~200 instructions.
# Needs the release build and the .venv of examples/quickstart.sh (onnx, numpy). OUT=dir to keep the plans (~400 MB
# and ~220 MB).
set -euo pipefail
source "$(dirname "$0")/../common.sh"
model resnet50

echo "== spatial layout, client-aided activations"
/usr/bin/time -f "compile: %e s wall, peak RSS %M KiB" \
    "$TESSERA" compile "$MODELS/resnet50.onnx" -o "$OUT/resnet50.spatial.tsp" --activations client --report
ls -l "$OUT/resnet50.spatial.tsp"
"$TESSERA" estimate "$OUT/resnet50.spatial.tsp" | cut -c1-240

echo "== batch layout, client-aided activations"
/usr/bin/time -f "compile: %e s wall, peak RSS %M KiB" \
    "$TESSERA" compile "$MODELS/resnet50.onnx" -o "$OUT/resnet50.batch.tsp" --layout batch --activations client
ls -l "$OUT/resnet50.batch.tsp"
"$TESSERA" estimate "$OUT/resnet50.batch.tsp" | cut -c1-240
