#!/usr/bin/env bash
# ResNet-20 (CIFAR shape, seeded random weights) fully encrypted and non-interactive: polynomial ReLUs (composite sign,
# alpha = 8, ranges calibrated on 16 seeded random images) and CKKS bootstrapping at N = 2^16 (sparse secret h = 192,
# 128-bit secure). Compiles with optimized and naive bootstrap placement, prints both estimates, then runs the
# optimized plan encrypted in the client/server flow (keygen, encrypt, `tessera run` with bootstraps on the server,
# decrypt) and compares the logits with the plaintext reference executor (exact ReLU).
#
# Needs the release build and the .venv of examples/quickstart.sh (onnx, numpy). Takes ~7-10 minutes on 2 cores,
# ~12.5 GiB of memory and 7 GiB of disk for the evaluation keys (1.7 GiB of application keys trimmed to the levels
# they are used at, 5.2 GiB of bootstrapping keys).
# OUT=dir keeps the files; SKIP_RUN=1 stops after the estimates.
set -euo pipefail
KEEP=${OUT:+1}
source "$(dirname "$0")/../common.sh"
[ -n "$KEEP" ] || trap 'rm -rf "$OUT"' EXIT   # the keys take 7 GiB: a temp OUT goes away at the end
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

# Client: keys (the evaluation keys hold the bootstrapping keys) and the encrypted image. Server: the run, which never
# sees the secret key. Client: decryption, then the comparison with the reference executor (exact ReLU).
PLAN="$OUT/resnet20.optimized.tsp"
/usr/bin/time -f "keygen: %e s wall, peak RSS %M KiB" "$TESSERA" keygen "$PLAN" --secret-key "$OUT/sk.tsk" --eval-keys "$OUT/ek.tek"
"$TESSERA" encrypt "$PLAN" --key "$OUT/sk.tsk" --input "$OUT/x.npy" -o "$OUT/in.tct"
/usr/bin/time -f "server run: %e s wall, peak RSS %M KiB" "$TESSERA" run "$PLAN" --eval-keys "$OUT/ek.tek" --input "$OUT/in.tct" -o "$OUT/out.tct"
"$TESSERA" decrypt "$PLAN" --secret-key "$OUT/sk.tsk" --input "$OUT/out.tct" -o "$OUT/logits.npy"
"$TESSERA" reference "$MODELS/resnet20.onnx" --input "$OUT/x.npy" --output "$OUT/reference.npy" > /dev/null
"$PYTHON" -c "
import numpy as np
got, want = np.load('$OUT/logits.npy').ravel(), np.load('$OUT/reference.npy').ravel()
print('encrypted logits', np.round(got, 4))
print('reference logits', np.round(want, 4))
print(f'max |encrypted - reference| = {np.abs(got - want).max():.3e}; top-1 agrees: {got.argmax() == want.argmax()}')"
