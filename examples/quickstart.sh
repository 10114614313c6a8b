#!/usr/bin/env bash
# Sets up a fresh machine and runs Tessera's main job on a bundled example: generate ResNet-20 (CIFAR shape),
# inspect it, show its tensor IR, and compute the plaintext reference answer, compared with onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null 2>&1 && ! pkg-config --exists libprotobuf-c 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq libprotobuf-c-dev protobuf-c-compiler libpmem2-dev graphviz >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check onnx onnxruntime numpy
swift build -c release --product tessera
TESSERA="$(swift build -c release --show-bin-path)/tessera"
OUT=examples/models/generated
mkdir -p "$OUT"
.venv/bin/python examples/models/make_models.py --out "$OUT" --only resnet20
"$TESSERA" inspect "$OUT/resnet20.onnx"
"$TESSERA" dump "$OUT/resnet20.onnx" --stage tensor | head -n 20
.venv/bin/python examples/interop/check_reference.py --tessera "$TESSERA" --models resnet20 --workdir "$OUT"
