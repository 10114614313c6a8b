#!/usr/bin/env python3
"""CKKS bootstrapping: Tessera next to OpenFHE, orion-fhe (Lattigo) and desilofhe (CPU), run in one command.

Each system bootstraps random values in [-1, 1] at N = 2^16 (2^15 slots unless --slots) and reports the median time,
the precision in bits (mean and min over slots: -log2 |error|), the levels left afterwards, key generation time and the
peak resident memory of the process that ran it. The table ends with each peer's time divided by Tessera's.

    .venv/bin/pip install desilofhe
    /path/to/python3.10 -m venv .venv-bench-openfhe && .venv-bench-openfhe/bin/pip install openfhe numpy
    python3 -m venv .venv-orion && .venv-orion/bin/pip install orion-fhe
    swift build -c release --product tessera
    .venv/bin/python examples/benchmarks/bootstrap_vs_peers.py [--threads 2] [--reps 2] [--warmup 1] [--skip desilofhe,openfhe,orion]

OpenFHE (the `openfhe` wheel, built for CPython 3.10 only) runs in a child process of --openfhe-python with
OMP_NUM_THREADS = --threads: sparse ternary secret, level budget --openfhe-budget (default 3,3), FLEXIBLEAUTO with
59-bit scaling primes, --openfhe-levels levels left after bootstrapping (default 10, the issue's >= 9), ring
dimension 2^logN with HEStd_NotSet (as in OpenFHE's own bootstrapping examples: its 128-bit table would pick the ring).

orion-fhe runs in a child process of --orion-python (default .venv-orion/bin/python, else /tmp/orion-venv/bin/python)
with GOMAXPROCS = OMP_NUM_THREADS = --threads. It drives Lattigo v6's bootstrapper directly, without compiling a
network: orion.init_scheme with Orion's ResNet parameters (configs/resnet.yml: LogQ [55, 40 x 10], LogP [61 x 3],
LogScale 40, bootstrapping LogP [61 x 8], standard ring), then bootstrapper.generate_bootstrapper(slots) (the keygen
time) and bootstrapper.bootstrap(ciphertext, slots) on a ciphertext encrypted at level 0, so 10 levels are left.
The secret has Hamming weight --orion-h, default 192 (Orion's code default, and Tessera's preset); resnet.yml itself
says H: 16384, and Lattigo bootstraps either way by switching to an ephemeral h = 32 secret. Orion's bindings pass
slot values as 32-bit floats, so the input is rounded to float32 (the reference is that rounded input) and the
error is read as Decode(Decrypt(out - Encode(input))) rather than from the decoded output, whose float32 rounding
(~2^-25) would otherwise cap the measured precision. Only real parts are bootstrapped (Lattigo decodes real parts).
The peak memory includes the power-of-two rotation keys Orion's scheme generates at init.

A peer missing from the environment is reported as such, not faked. desilofhe's CPU bootstrap at N = 2^16 takes minutes
and ~7 GB (see ../shared/ANCHORS.md).
"""
import argparse
import json
import os
import resource
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


def peak_rss_mb(who=resource.RUSAGE_SELF):
    """Peak resident set size in MiB (Linux reports ru_maxrss in KiB) of this process or of its waited-for children."""
    return resource.getrusage(who).ru_maxrss / 1024


def tessera(args):
    binary = args.tessera or os.path.join(os.path.dirname(__file__), "..", "..", ".build", "release", "tessera")
    command = [binary, "bench", "bootstrap", "--logN", str(args.logN), "--threads", str(args.threads), "--reps", str(args.reps),
               "--warmup", str(args.warmup), "--json"]
    if args.slots:
        command += ["--slots", str(args.slots)]
    if args.tessera_insecure:
        command += ["--insecure"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    return {
        "time_ms": result["bootstrap_ms"], "bits_mean": result["precision_bits_mean"], "bits_min": result["precision_bits_min"],
        "levels_left": result["levels_left"], "keygen_ms": result["keygen_ms"], "key_mb": result["key_mb"],
        # Tessera is the first child this process waits for, so the children's peak is its own.
        "peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
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
    for _ in range(args.warmup):
        engine.bootstrap(ciphertext, relin, conj, boot)
    for _ in range(args.reps):
        began = time.perf_counter()
        out = engine.bootstrap(ciphertext, relin, conj, boot)
        times.append((time.perf_counter() - began) * 1e3)
    got = engine.decrypt(out, secret)
    mean, low = precision(got, values)
    # desilofhe runs in this process, which holds nothing else large (the other systems run in children).
    return {"time_ms": statistics.median(times), "bits_mean": mean, "bits_min": low, "levels_left": out.level,
            "keygen_ms": keygen_ms, "key_mb": float("nan"), "peak_rss_mb": peak_rss_mb()}


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
    for _ in range(config["warmup"]):
        context.EvalBootstrap(ciphertext)
    for _ in range(reps):
        began = time.perf_counter()
        out = context.EvalBootstrap(ciphertext)
        times.append((time.perf_counter() - began) * 1e3)
    result = context.Decrypt(out, keys.secretKey)
    result.SetLength(slots)
    mean, low = precision(result.GetRealPackedValue(), values)
    print(json.dumps({"time_ms": statistics.median(times), "bits_mean": mean, "bits_min": low,
                      "levels_left": depth - out.GetLevel(), "keygen_ms": keygen_ms, "key_mb": float("nan"),
                      "peak_rss_mb": peak_rss_mb()}))


def orion_worker(config):
    """Runs inside the orion-fhe Python; prints one JSON object."""
    import orion

    log_n, slots, reps = config["logN"], config["slots"], config["reps"]
    began = time.perf_counter()
    scheme = orion.init_scheme({
        "ckks_params": {"LogN": log_n, "LogQ": config["logq"], "LogP": config["logp"], "LogScale": config["logscale"],
                        "H": config["h"], "RingType": "standard"},
        "boot_params": {"LogP": config["boot_logp"]},
        "orion": {"backend": "lattigo", "io_mode": "none"},
    })
    scheme_ms = (time.perf_counter() - began) * 1e3  # parameters, sk, pk, relin key, Orion's power-of-two rotation keys
    backend = scheme.backend
    began = time.perf_counter()
    scheme.bootstrapper.generate_bootstrapper(slots)  # Lattigo bootstrapping parameters, evaluation keys, evaluator
    keygen_ms = (time.perf_counter() - began) * 1e3

    # Orion's Encode takes C floats: the exact input is the float32 rounding. Fewer slots than N/2 are packed the way
    # Orion's sparse bootstrapping expects them: the first `slots` slots, zeros after.
    rng = np.random.default_rng(1)
    values = rng.uniform(-1, 1, slots).astype(np.float32).astype(np.float64)
    message = values.tolist() + [0.0] * ((1 << (log_n - 1)) - slots)
    ciphertext = backend.Encrypt(backend.Encode(message, 0, 1 << config["logscale"]))
    times, out = [], None
    for _ in range(config["warmup"]):
        backend.DeleteCiphertext(scheme.bootstrapper.bootstrap(ciphertext, slots))
    for _ in range(reps):
        if out is not None:
            backend.DeleteCiphertext(out)
        began = time.perf_counter()
        out = scheme.bootstrapper.bootstrap(ciphertext, slots)
        times.append((time.perf_counter() - began) * 1e3)
    level = backend.GetCiphertextLevel(out)
    # The decoded output is float32, whose rounding alone is up to 2^-25: read the error itself instead, out - input
    # computed on the ciphertext (the input encoded at the output's level and scale), then checked against the output.
    reference = backend.Encode(message, level, backend.GetCiphertextScale(out))
    errors = np.asarray(backend.Decode(backend.Decrypt(backend.SubPlaintextNew(out, reference))))[:slots]
    decoded = np.asarray(backend.Decode(backend.Decrypt(out)))[:slots]
    if np.max(np.abs(decoded - values)) > np.max(np.abs(errors)) + 2.0 ** -23:
        raise RuntimeError(f"orion: decoded output is {np.max(np.abs(decoded - values)):.3g} off the input but the error "
                           f"read from out - input is {np.max(np.abs(errors)):.3g}")
    mean, low = precision(errors, np.zeros(slots))
    print(json.dumps({"time_ms": statistics.median(times), "bits_mean": mean, "bits_min": low, "levels_left": level,
                      "keygen_ms": keygen_ms, "key_mb": float("nan"), "peak_rss_mb": peak_rss_mb(),
                      "scheme_ms": scheme_ms}))


def run_worker(python, flag, config, env):
    """Runs this script with `flag` under another interpreter and returns the JSON object its worker prints."""
    process = subprocess.run([python, os.path.abspath(__file__), flag, json.dumps(config)],
                             env=dict(os.environ, **env), capture_output=True, text=True)
    if process.returncode != 0:
        lines = (process.stderr or process.stdout).strip().splitlines()
        if any("ModuleNotFoundError" in line for line in lines):
            raise ImportError(lines[-1])
        # A Go panic (Lattigo) ends in goroutine traces: its message is the line that starts with "panic:".
        panics = [line for line in lines if line.startswith("panic:")]
        raise RuntimeError(" | ".join(panics[:1] + lines[-3:]) + f" (exit {process.returncode})")
    return json.loads(process.stdout.strip().splitlines()[-1])


def openfhe(args):
    python = args.openfhe_python
    if not os.path.exists(python):
        raise ImportError(f"no Python with the openfhe wheel at {python}")
    config = {"logN": args.logN, "slots": args.slots or 1 << (args.logN - 1), "reps": args.reps, "warmup": args.warmup,
              "budget": [int(b) for b in args.openfhe_budget.split(",")], "levels_after": args.openfhe_levels}
    return run_worker(python, "--openfhe-worker", config, {"OMP_NUM_THREADS": str(args.threads)})


def orion(args):
    python = args.orion_python
    if not os.path.exists(python):
        raise ImportError(f"no Python with orion-fhe at {python}")
    config = {"logN": args.logN, "slots": args.slots or 1 << (args.logN - 1), "reps": args.reps, "warmup": args.warmup, "h": args.orion_h,
              "logq": [55] + [40] * 10, "logp": [61] * 3, "logscale": 40, "boot_logp": [61] * 8}
    threads = str(args.threads)
    return run_worker(python, "--orion-worker", config, {"GOMAXPROCS": threads, "OMP_NUM_THREADS": threads})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logN", type=int, default=16)
    parser.add_argument("--slots", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed bootstraps before the timed ones, for every system (a process's first is slow)")
    parser.add_argument("--tessera", default=None, help="path to the tessera binary (default: .build/release/tessera)")
    parser.add_argument("--tessera-insecure", action="store_true",
                        help="pass --insecure to tessera bench bootstrap (test rings below 2^16; benchmarking only)")
    parser.add_argument("--skip", default="", help="comma-separated peers to skip: openfhe,orion,desilofhe")
    parser.add_argument("--openfhe-python", default=os.path.join(os.path.dirname(__file__), "..", "..", ".venv-bench-openfhe", "bin", "python"),
                        help="a Python with the openfhe wheel (CPython 3.10)")
    parser.add_argument("--openfhe-budget", default="3,3", help="OpenFHE level budget: CoeffToSlot,SlotToCoeff levels")
    parser.add_argument("--openfhe-levels", type=int, default=10, help="levels OpenFHE keeps after bootstrapping")
    parser.add_argument("--openfhe-worker", default=None, help=argparse.SUPPRESS)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    orion_python = os.path.join(root, ".venv-orion", "bin", "python")
    parser.add_argument("--orion-python", default=orion_python if os.path.exists(orion_python) else "/tmp/orion-venv/bin/python",
                        help="a Python with orion-fhe (default: .venv-orion/bin/python, else /tmp/orion-venv/bin/python)")
    parser.add_argument("--orion-h", type=int, default=192,
                        help="Hamming weight of orion-fhe's secret (default 192; Orion's resnet.yml says 16384)")
    parser.add_argument("--orion-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.openfhe_worker:
        return openfhe_worker(json.loads(args.openfhe_worker))
    if args.orion_worker:
        return orion_worker(json.loads(args.orion_worker))
    skip = set(filter(None, args.skip.split(",")))

    rows = [("tessera", tessera(args))]
    for name, run in (("openfhe", openfhe), ("orion", orion), ("desilofhe", desilo)):
        if name in skip:
            continue
        try:
            rows.append((name, run(args)))
        except ImportError as error:
            package = {"orion": "orion-fhe"}.get(name, name)
            print(f"{name}: not installed ({error}); pip install {package}", file=sys.stderr)
        except Exception as error:  # a peer's API or resources failed: say so, keep the others
            print(f"{name}: failed: {error}", file=sys.stderr)

    base = rows[0][1]["time_ms"]
    slots = args.slots or 1 << (args.logN - 1)
    print(f"CKKS bootstrapping, N = 2^{args.logN}, {slots} slots, {args.threads} thread(s), median of {args.reps} "
          f"after {args.warmup} warm-up")
    print(f"{'system':<12} {'time':>10} {'vs tessera':>10} {'bits mean':>9} {'bits min':>8} {'levels left':>11} {'keygen':>9} "
          f"{'peak RSS':>9}")
    for name, r in rows:
        rss = r.get("peak_rss_mb", float("nan"))
        print(f"{name:<12} {r['time_ms'] / 1e3:9.2f}s {r['time_ms'] / base:9.2f}x {r['bits_mean']:9.1f} {r['bits_min']:8.1f} "
              f"{r['levels_left']:>11} {r['keygen_ms'] / 1e3:8.1f}s {rss / 1024:8.2f}G")


if __name__ == "__main__":
    main()
