#!/usr/bin/env bash
# Sets up a fresh machine and runs Tessera's main job on bundled examples: generate ResNet-20 (CIFAR shape), inspect
# it, show its tensor IR, compute the plaintext reference answer (compared with onnxruntime); run the bundled digits
# CNN encrypted with `tessera infer` (compile, keygen, encrypt, run, decrypt) next to its plaintext answer; and run a
# hand-written CipherIR program encrypted through keygen, encrypt, run (values spilled to a PMem pool file), decrypt.
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
"$TESSERA" dump "$OUT/resnet20.onnx" --stage tensor -o "$OUT/resnet20.tensor.txt"
head -n 20 "$OUT/resnet20.tensor.txt"
.venv/bin/python examples/interop/check_reference.py --tessera "$TESSERA" --models resnet20 --workdir "$OUT"

# The main job: compile the bundled digits CNN to a CKKS plan (128-bit secure parameters), then keygen, encrypt,
# run and decrypt in one go, printing the encrypted prediction next to the plaintext one.
"$TESSERA" infer examples/digits/digits.onnx --input examples/digits/sample_x.npy --labels examples/digits/sample_y.npy

# Encrypted execution of a hand-written CipherIR program (an 8-slot dot product) through the client/server commands.
WORK=$(mktemp -d)
.venv/bin/python -c "import numpy as np; np.save('$WORK/x.npy', np.array([0.1,-0.2,0.3,0.4,-0.5,0.6,0.7,-0.8], np.float32))"
"$TESSERA" assemble examples/programs/dot_product.tcir -o "$WORK/dot.tsp"
"$TESSERA" keygen "$WORK/dot.tsp" --secret-key "$WORK/sk.tsk" --eval-keys "$WORK/ek.tek" --public-key "$WORK/pk.tpk"
"$TESSERA" encrypt "$WORK/dot.tsp" --key "$WORK/pk.tpk" --input "$WORK/x.npy" -o "$WORK/in.tct"
"$TESSERA" run "$WORK/dot.tsp" --eval-keys "$WORK/ek.tek" --input "$WORK/in.tct" -o "$WORK/out.tct" \
    --pmem "$WORK/pool.pmem" --pool-size 16M --dram-budget 100K
"$TESSERA" decrypt "$WORK/dot.tsp" --secret-key "$WORK/sk.tsk" --input "$WORK/out.tct" -o "$WORK/y.npy"
.venv/bin/python -c "import numpy as np; print('encrypted dot product:', np.load('$WORK/y.npy'), ' plaintext: 1.05')"
