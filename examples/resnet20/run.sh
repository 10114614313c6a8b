#!/usr/bin/env bash
# ResNet-20 (CIFAR shape, seeded random weights) end to end: generate the model, compile it to a CKKS plan in the
# spatial layout with client-aided ReLUs (128-bit secure parameters), print the plan's estimate, then run it
# encrypted (keygen, encrypt, run, decrypt) and compare the logits with the plaintext reference.
# Needs the release build and the .venv of examples/quickstart.sh (onnx, numpy). OUT=dir to keep the files.
set -euo pipefail
source "$(dirname "$0")/../common.sh"
model resnet20
"$PYTHON" -c "import numpy as np; np.save('$OUT/x.npy', np.random.default_rng(20).standard_normal((1, 3, 32, 32)).astype(np.float32))"

"$TESSERA" compile "$MODELS/resnet20.onnx" -o "$OUT/resnet20.tsp" --activations client --report
"$TESSERA" estimate "$OUT/resnet20.tsp"
"$TESSERA" infer "$OUT/resnet20.tsp" --input "$OUT/x.npy" --reference "$MODELS/resnet20.onnx" --quiet
