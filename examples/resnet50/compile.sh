#!/usr/bin/env bash
# ResNet-50 (ImageNet shape 1×3×224×224, seeded random weights, ~100 MB; generated, never downloaded): compile it to a
# CKKS plan in the spatial layout with client-aided ReLUs (128-bit secure parameters), report the compile time and
# peak memory, and print `tessera estimate` (ops, rotation keys, memory, predicted time). The batch layout is tried
# too: it needs one instruction per multiply-accumulate (4.1 G for ResNet-50) and is refused with a clear message.
# Needs the release build and the .venv of examples/quickstart.sh (onnx, numpy). OUT=dir to keep the plan (~400 MB).
set -euo pipefail
cd "$(dirname "$0")/../.."
TESSERA=${TESSERA:-"$(swift build -c release --show-bin-path)/tessera"}
[ -x "$TESSERA" ] || swift build -c release --product tessera
PYTHON=${PYTHON:-.venv/bin/python}
MODELS=examples/models/generated
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$MODELS" "$OUT"
[ -f "$MODELS/resnet50.onnx" ] || "$PYTHON" examples/models/make_models.py --out "$MODELS" --only resnet50

echo "== spatial layout, client-aided activations"
/usr/bin/time -f "compile: %e s wall, peak RSS %M KiB" \
    "$TESSERA" compile "$MODELS/resnet50.onnx" -o "$OUT/resnet50.spatial.tsp" --activations client --report
ls -l "$OUT/resnet50.spatial.tsp"
"$TESSERA" estimate "$OUT/resnet50.spatial.tsp" | cut -c1-240

echo "== batch layout, client-aided activations"
if ! "$TESSERA" compile "$MODELS/resnet50.onnx" -o "$OUT/resnet50.batch.tsp" --layout batch --activations client; then
    echo "(the batch layout is refused for ResNet-50; see examples/resnet50/README.md)"
fi
