#!/usr/bin/env python3
"""Checks `tessera inspect` and `tessera reference` against onnxruntime on generated models.

Generates ResNet-50 (ImageNet shape) and ResNet-20 (CIFAR shape) with examples/models/make_models.py, then for each:
  - `tessera inspect --json` must report the expected operator counts and parameter count;
  - `tessera reference` on a seeded random input must match onnxruntime within 1e-4 relative
    (max abs error / max |expected|).
Prints timings and a closing line "N passed, N failed"; exits non-zero on any failure.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_MODELS = os.path.join(HERE, "..", "models", "make_models.py")

EXPECTED_OPS = {
    "resnet50": {"Conv": 53, "BatchNormalization": 53, "Relu": 49, "Add": 16},
    "resnet20": {"Conv": 21, "BatchNormalization": 21, "Relu": 19, "Add": 9},
}
EXPECTED_PARAMS = {"resnet50": (25.5e6, 25.7e6)}
TOLERANCE = 1e-4


def run(cmd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tessera", required=True, help="path to the tessera binary (release build)")
    parser.add_argument("--models", nargs="*", default=["resnet20", "resnet50"])
    parser.add_argument("--workdir", help="where to generate models (default: a temporary folder)")
    args = parser.parse_args()

    workdir = args.workdir or tempfile.mkdtemp(prefix="tessera-interop-")
    os.makedirs(workdir, exist_ok=True)
    passed, failed = 0, 0

    def check(name, ok, detail):
        nonlocal passed, failed
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if ok:
            passed += 1
        else:
            failed += 1

    start = time.perf_counter()
    proc = subprocess.run([sys.executable, MAKE_MODELS, "--out", workdir, "--only", *args.models],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr)
        check("generate models", False, "make_models.py failed")
        print(f"{passed} passed, {failed} failed")
        return 1
    print(f"generated {', '.join(args.models)} in {time.perf_counter() - start:.1f} s into {workdir}")

    for name in args.models:
        model = os.path.join(workdir, f"{name}.onnx")
        proc, seconds = run([args.tessera, "inspect", model, "--json"])
        if proc.returncode != 0:
            check(f"{name} inspect", False, f"exit {proc.returncode}: {proc.stderr.strip()}")
            continue
        info = json.loads(proc.stdout)
        ops = info["ops"]
        want = EXPECTED_OPS.get(name, {})
        wrong = {op: (ops.get(op), count) for op, count in want.items() if ops.get(op) != count}
        check(f"{name} inspect ops", not wrong and not info["unsupported"],
              f"{ {op: ops.get(op) for op in want} }, {info['parameters']:,} parameters, {seconds:.2f} s"
              + (f"; wrong (got, want): {wrong}" if wrong else ""))
        if name in EXPECTED_PARAMS:
            low, high = EXPECTED_PARAMS[name]
            check(f"{name} parameters", low <= info["parameters"] <= high, f"{info['parameters']:,}")

        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        meta = session.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in meta.shape]
        x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
        t0 = time.perf_counter()
        expected = session.run(None, {meta.name: x})[0]
        ort_seconds = time.perf_counter() - t0
        x_path = os.path.join(workdir, f"{name}.input.npy")
        y_path = os.path.join(workdir, f"{name}.tessera.npy")
        np.save(x_path, x)
        proc, seconds = run([args.tessera, "reference", model, "--input", x_path, "--output", y_path, "--stats"])
        if proc.returncode != 0:
            check(f"{name} reference", False, f"exit {proc.returncode}: {proc.stderr.strip()}")
            continue
        got = np.load(y_path)
        if got.shape != expected.shape:
            check(f"{name} reference", False, f"shape {got.shape} != onnxruntime {expected.shape}")
            continue
        rel = float(np.max(np.abs(got.astype(np.float64) - expected)) / max(np.max(np.abs(expected)), 1e-30))
        check(f"{name} reference vs onnxruntime", rel < TOLERANCE,
              f"relative error {rel:.2e} (limit {TOLERANCE:g}); tessera {seconds:.2f} s [{proc.stderr.strip()}], "
              f"onnxruntime {ort_seconds:.3f} s")

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
