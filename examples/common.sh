# Shared preamble of the example scripts (sourced, not run): from the repository root, sets TESSERA (the release
# binary, built if missing), PYTHON (the .venv of examples/quickstart.sh), MODELS (generated models) and OUT (kept
# when given, else a temp dir), and defines `model NAME`, which generates examples/models/generated/NAME.onnx once.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TESSERA=${TESSERA:-"$(swift build -c release --show-bin-path)/tessera"}
[ -x "$TESSERA" ] || swift build -c release --product tessera
PYTHON=${PYTHON:-.venv/bin/python}
MODELS=examples/models/generated
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$MODELS" "$OUT"
model() { [ -f "$MODELS/$1.onnx" ] || "$PYTHON" examples/models/make_models.py --out "$MODELS" --only "$1"; }
