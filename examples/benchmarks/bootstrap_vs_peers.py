#!/usr/bin/env python3
"""CKKS bootstrapping: Tessera next to OpenFHE and desilofhe (CPU), run in one command.

Each system bootstraps random values in [-1, 1] at N = 2^16 (2^15 slots unless --slots) and reports the median time,
the precision in bits (mean and min over slots: -log2 |error|), the levels left afterwards, and key generation time.
The table ends with each peer's time divided by Tessera's.

    .venv/bin/pip install desilofhe
    /path/to/python3.10 -m venv .venv-bench-openfhe && .venv-bench-openfhe/bin/pip install openfhe numpy
    swift build -c release --product tessera
    .venv/bin/python examples/benchmarks/bootstrap_vs_peers.py [--threads 2] [--reps 2] [--skip desilofhe,openfhe]

OpenFHE (the `openfhe` wheel, built for CPython 3.10 only) runs in a child process of --openfhe-python with
OMP_NUM_THREADS = --threads: sparse ternary secret, level budget --openfhe-budget (default 3,3), FLEXIBLEAUTO with
59-bit scaling primes, --openfhe-levels levels left after bootstrapping (default 10, the issue's >= 9), ring
dimension 2^logN with HEStd_NotSet (as in OpenFHE's own bootstrapping examples: its 128-bit table would pick the ring).
A peer missing from the environment is reported as such, not faked. desilofhe's CPU bootstrap at N = 2^16 takes minutes
and ~7 GB (see ../shared/ANCHORS.md). orion-fhe's Lattigo bootstrapper is not driven here: orion-fhe reaches it only
through a compiled network (examples/resnet20/orion_resnet20.py runs that).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def precision(got, want):
    errors = np.abs(np.asarray(got, dtype=np.complex128)[: len(want)] - np.asarray(want))
    errors = np.maximum(errors, 2.0 ** -60)
    bits = -np.log2(errors)
    return float(np.mean(bits)), float(np.min(bits))


def tessera(args):
    binary = args.tessera or os.path.join(os.path.dirname(__file__), "..", "..", ".build", "release", "tessera")
    command = [binary, "bench", "bootstrap", "--logN", str(args.logN), "--threads", str(args.threads), "--reps", str(args.reps), "--json"]
    if args.slots:
        command += ["--slots", str(args.slots)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    return {
        "time_ms": result["bootstrap_ms"], "bits_mean": result["precision_bits_mean"], "bits_min": result["precision_bits_min"],
        "levels_left": result["levels_left"], "keygen_ms": result["keygen_ms"], "key_mb": result["key_mb"],
    }


def desilo(args):
    import desilofhe

    engine = desilofhe.Engine(mode="cpu", bootstrap=True, thread_count=args.threads)
    slots = engine.slot_count
    began = time.perf_counter()
    secret = engine.create_secret_key()
    public = engine.create_public_key(secret)
    relin = engine.create_relinearization_key(secret)
    conj = engine.create_conjugation_key(secret)
    boot = engine.create_bootstrap_key(secret)
    keygen_ms = (time.perf_counter() - began) * 1e3
    rng = np.random.default_rng(1)
    values = rng.uniform(-1, 1, slots)
    ciphertext = engine.encrypt(values, public, 0)
    times = []
    out = None
    for _ in range(args.reps):
        began = time.perf_counter()
        out = engine.bootstrap(ciphertext, relin, conj, boot)
        times.append((time.perf_counter() - began) * 1e3)
    got = engine.decrypt(out, secret)
    mean, low = precision(got, values)
    return {"time_ms": statistics.median(times), "bits_mean": mean, "bits_min": low, "levels_left": out.level,
            "keygen_ms": keygen_ms, "key_mb": float("nan")}


def openfhe_worker(config):
    """Runs inside the OpenFHE Python (3.10); prints one JSON object."""
    import openfhe as fhe

    log_n, slots, budget, levels_after, reps = (config["logN"], config["slots"], config["budget"], config["levels_after"],
                                                config["reps"])
    parameters = fhe.CCParamsCKKSRNS()
    parameters.SetSecretKeyDist(fhe.SecretKeyDist.SPARSE_TERNARY)
    parameters.SetSecurityLevel(fhe.SecurityLevel.HEStd_NotSet)
    parameters.SetRingDim(1 << log_n)
    parameters.SetScalingModSize(59)
    parameters.SetFirstModSize(60)
    parameters.SetScalingTechnique(fhe.ScalingTechnique.FLEXIBLEAUTO)
    parameters.SetBatchSize(slots)
    depth = levels_after + fhe.CryptoContext.GetBootstrapDepth(budget, fhe.SecretKeyDist.SPARSE_TERNARY)
    parameters.SetMultiplicativeDepth(depth)
    context = fhe.GenCryptoContext(parameters)
    for feature in (fhe.PKESchemeFeature.PKE, fhe.PKESchemeFeature.KEYSWITCH, fhe.PKESchemeFeature.LEVELEDSHE,
                    fhe.PKESchemeFeature.ADVANCEDSHE, fhe.PKESchemeFeature.FHE):
        context.Enable(feature)
    began = time.perf_counter()
    context.EvalBootstrapSetup(budget, [0, 0], slots)
    keys = context.KeyGen()
    context.EvalMultKeyGen(keys.secretKey)
    context.EvalBootstrapKeyGen(keys.secretKey, slots)
    keygen_ms = (time.perf_counter() - began) * 1e3
    rng = np.random.default_rng(1)
    values = rng.uniform(-1, 1, slots)
    plaintext = context.MakeCKKSPackedPlaintext(values.tolist(), 1, depth - 1, None, slots)
    plaintext.SetLength(slots)
    ciphertext = context.Encrypt(keys.publicKey, plaintext)
    times, out = [], None
    for _ in range(reps):
        began = time.perf_counter()
        out = context.EvalBootstrap(ciphertext)
        times.append((time.perf_counter() - began) * 1e3)
    result = context.Decrypt(out, keys.secretKey)
    result.SetLength(slots)
    mean, low = precision(result.GetRealPackedValue(), values)
    print(json.dumps({"time_ms": statistics.median(times), "bits_mean": mean, "bits_min": low,
                      "levels_left": depth - out.GetLevel(), "keygen_ms": keygen_ms, "key_mb": float("nan")}))


def openfhe(args):
    python = args.openfhe_python
    if not os.path.exists(python):
        raise ImportError(f"no Python with the openfhe wheel at {python}")
    config = {"logN": args.logN, "slots": args.slots or 1 << (args.logN - 1), "reps": args.reps,
              "budget": [int(b) for b in args.openfhe_budget.split(",")], "levels_after": args.openfhe_levels}
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    process = subprocess.run([python, os.path.abspath(__file__), "--openfhe-worker", json.dumps(config)],
                             env=env, capture_output=True, text=True)
    if process.returncode != 0:
        raise RuntimeError(" | ".join((process.stderr or process.stdout).strip().splitlines()[-3:]))
    return json.loads(process.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logN", type=int, default=16)
    parser.add_argument("--slots", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--tessera", default=None, help="path to the tessera binary (default: .build/release/tessera)")
    parser.add_argument("--skip", default="", help="comma-separated peers to skip: openfhe,desilofhe")
    parser.add_argument("--openfhe-python", default=os.path.join(os.path.dirname(__file__), "..", "..", ".venv-bench-openfhe", "bin", "python"),
                        help="a Python with the openfhe wheel (CPython 3.10)")
    parser.add_argument("--openfhe-budget", default="3,3", help="OpenFHE level budget: CoeffToSlot,SlotToCoeff levels")
    parser.add_argument("--openfhe-levels", type=int, default=10, help="levels OpenFHE keeps after bootstrapping")
    parser.add_argument("--openfhe-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.openfhe_worker:
        return openfhe_worker(json.loads(args.openfhe_worker))
    skip = set(filter(None, args.skip.split(",")))

    rows = [("tessera", tessera(args))]
    for name, run in (("openfhe", openfhe), ("desilofhe", desilo)):
        if name in skip:
            continue
        try:
            rows.append((name, run(args)))
        except ImportError as error:
            print(f"{name}: not installed ({error}); pip install {name}", file=sys.stderr)
        except Exception as error:  # a peer's API or resources failed: say so, keep the others
            print(f"{name}: failed: {error}", file=sys.stderr)

    base = rows[0][1]["time_ms"]
    print(f"CKKS bootstrapping, N = 2^{args.logN}, {args.threads} thread(s), median of {args.reps}")
    print(f"{'system':<12} {'time':>10} {'vs tessera':>10} {'bits mean':>9} {'bits min':>8} {'levels left':>11} {'keygen':>9}")
    for name, r in rows:
        print(f"{name:<12} {r['time_ms'] / 1e3:9.2f}s {r['time_ms'] / base:9.2f}x {r['bits_mean']:9.1f} {r['bits_min']:8.1f} "
              f"{r['levels_left']:>11} {r['keygen_ms'] / 1e3:8.1f}s")


if __name__ == "__main__":
    main()
