#!/usr/bin/env bash
# Encrypted accuracy of the digits CNN on the whole test split (360 images), in both layouts.
#   batch layout:   all test images in one encrypted batch (slot i = image i), one inference
#   spatial layout: each image packed across the slots, one encrypted inference per image
# Usage: examples/digits/measure_accuracy.sh [path/to/tessera] [extra infer options, e.g. --backend simulate]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tessera="${1:-$here/../../.build/release/tessera}"
shift || true
for layout in batch spatial; do
    echo "== layout $layout"
    "$tessera" infer "$here/digits.onnx" --input "$here/test_x.npy" --labels "$here/test_y.npy" --layout "$layout" --quiet "$@"
done
