#!/usr/bin/env python3
"""Tessera's CKKS against the CKKS libraries that install from PyPI, in one command.

Peers (each measured in its own subprocess, so thread settings never leak between them):
  * Microsoft SEAL through ``tenseal.sealapi``: N = 2^15 (SEAL's largest ring under its 128-bit
    table, log QP <= 881), Q = [60, 40 x L] bits, one 60-bit special prime; SEAL switches keys
    with one digit per Q prime, so dnum = L + 1.
  * OpenFHE (``openfhe`` wheel, only built for CPython 3.10 here; run with --openfhe-python):
    N = 2^15, the same Q chain, HYBRID key switching with dnum = L + 1 (same as SEAL),
    FIXEDMANUAL scaling so rescale is its own op (ModReduce).
  * DESILO ``desilofhe``: the only knob is max_level, from which it picks N (max_level 7 gives
    N = 2^14, 24 gives N = 2^16). Its modulus layout is internal (it does not expose its primes,
    dnum or P; the ciphertext storage per level is read back and reported), so Tessera is run
    with the same N and number of levels and a Q = [60, 40 x L] chain: this pair is matched by
    ring and depth, not prime by prime.

For each peer configuration the moduli the peer actually chose are read back and their bit
sizes passed to ``tessera bench ckks --logN --q-bits --p-bits --dnum --threads --json``.

Ops (median of --reps after one warm-up, milliseconds, at the top level with N/2 slots):
  encode, encrypt (public key), add (ct+ct), mul_plain (ct x pt, no rescale),
  mul_relin (ct x ct + relinearize, no rescale), rescale, rotate (one step, its own key),
  rotate_hoisted (per rotation, 8 rotations sharing one decomposition; OpenFHE only),
  and key sizes (relinearization key, one rotation key) in MB (2^20 bytes).

Ratio = Tessera ms / peer ms (< 1: Tessera faster). "vs fastest peer" takes, for each op and
thread count, the largest ratio over the peers, i.e. the peer that is fastest relative to
Tessera on that peer's own parameters (the goal in issue 3 is <= 0.67 for mul_relin, rotate
and rescale).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

OPS = ["encode", "encrypt", "add", "mul_plain", "mul_relin", "rescale", "rotate", "rotate_hoisted"]
KEY_FIELDS = ["relin_key_mb", "rotation_key_mb"]
GOAL_OPS = ["mul_relin", "rotate", "rescale"]
MB = float(1 << 20)


# ---------------------------------------------------------------------------------------------
# Timing helpers (used inside the workers)
# ---------------------------------------------------------------------------------------------

def median_ms(fn, reps: int) -> float:
    fn()  # warm-up (allocations, lazy tables)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def slot_values(count: int):
    import random
    rng = random.Random(1234)
    return [rng.uniform(-1.0, 1.0) for _ in range(count)]


# ---------------------------------------------------------------------------------------------
# SEAL (tenseal.sealapi)
# ---------------------------------------------------------------------------------------------

def worker_seal(cfg: dict, threads: int, reps: int) -> dict:
    import tenseal.sealapi as seal

    log_n = cfg["logN"]
    n = 1 << log_n
    bits = [cfg["first_bits"]] + [cfg["scale_bits"]] * cfg["levels"] + [cfg["special_bits"]]
    parms = seal.EncryptionParameters(seal.SCHEME_TYPE.CKKS)
    parms.set_poly_modulus_degree(n)
    parms.set_coeff_modulus(seal.CoeffModulus.Create(n, bits))
    max_bits = seal.CoeffModulus.MaxBitCount(n, seal.SEC_LEVEL_TYPE.TC128)
    ctx = seal.SEALContext(parms, True, seal.SEC_LEVEL_TYPE.TC128)
    if not ctx.parameters_set():
        raise RuntimeError(f"SEAL refused the parameters {bits}: {ctx.parameter_error_message()}")
    moduli = [int(m.value()) for m in parms.coeff_modulus()]
    q_moduli, p_moduli = moduli[:-1], moduli[-1:]

    keygen = seal.KeyGenerator(ctx)
    sk = keygen.secret_key()
    pk = seal.PublicKey()
    keygen.create_public_key(pk)
    rlk = seal.RelinKeys()
    t0 = time.perf_counter()
    keygen.create_relin_keys(rlk)
    relin_keygen_ms = (time.perf_counter() - t0) * 1e3
    gk = seal.GaloisKeys()
    # tenseal binds the galois-element overload here: rotation by 1 slot is element 3^1 mod 2N.
    keygen.create_galois_keys([pow(3, 1, 2 * n)], gk)

    encoder = seal.CKKSEncoder(ctx)
    encryptor = seal.Encryptor(ctx, pk)
    evaluator = seal.Evaluator(ctx)
    decryptor = seal.Decryptor(ctx, sk)
    scale = 2.0 ** cfg["scale_bits"]
    slots = encoder.slot_count()
    values = slot_values(slots)

    pt = seal.Plaintext()
    encoder.encode(values, scale, pt)
    ct_a = seal.Ciphertext()
    encryptor.encrypt(pt, ct_a)
    ct_b = seal.Ciphertext()
    encryptor.encrypt(pt, ct_b)

    out = {}
    scratch_pt = seal.Plaintext()
    out["encode"] = median_ms(lambda: encoder.encode(values, scale, scratch_pt), reps)
    scratch = seal.Ciphertext()
    out["encrypt"] = median_ms(lambda: encryptor.encrypt(pt, scratch), reps)
    out["add"] = median_ms(lambda: evaluator.add(ct_a, ct_b, scratch), reps)
    out["mul_plain"] = median_ms(lambda: evaluator.multiply_plain(ct_a, pt, scratch), reps)

    def mul_relin():
        evaluator.multiply(ct_a, ct_b, scratch)
        evaluator.relinearize_inplace(scratch, rlk)
    out["mul_relin"] = median_ms(mul_relin, reps)

    product = seal.Ciphertext()
    evaluator.multiply(ct_a, ct_b, product)
    evaluator.relinearize_inplace(product, rlk)
    rescaled = seal.Ciphertext()
    out["rescale"] = median_ms(lambda: evaluator.rescale_to_next(product, rescaled), reps)
    out["rotate"] = median_ms(lambda: evaluator.rotate_vector(ct_a, 1, gk, scratch), reps)

    # Correctness spot check: the rotation really is by one slot.
    evaluator.rotate_vector(ct_a, 1, gk, scratch)
    dec = seal.Plaintext()
    decryptor.decrypt(scratch, dec)
    got = encoder.decode_double(dec)
    err = max(abs(got[i] - values[(i + 1) % slots]) for i in range(0, slots, max(1, slots // 64)))
    if err > 1e-3:
        raise RuntimeError(f"SEAL rotate check failed (max error {err})")

    # Key sizes as held in memory: one key per Q prime (dnum = |Q|), each 2 polynomials over Q+P.
    total_limbs = len(q_moduli) + len(p_moduli)
    one_key_bytes = len(q_moduli) * 2 * total_limbs * n * 8
    return {
        "peer": "SEAL", "library": "SEAL via tenseal.sealapi", "threads_used": 1,
        "thread_note": "SEAL runs single ops on one thread",
        "logN": log_n,
        "q_bits": [m.bit_length() for m in q_moduli], "p_bits": [m.bit_length() for m in p_moduli],
        "dnum": len(q_moduli), "q_moduli": q_moduli, "p_moduli": p_moduli,
        "log_qp": sum(math.log2(m) for m in moduli), "max_log_qp_128": max_bits,
        "ops_ms": out, "relin_key_mb": one_key_bytes / MB, "rotation_key_mb": one_key_bytes / MB,
        "relin_keygen_ms": relin_keygen_ms,
    }


# ---------------------------------------------------------------------------------------------
# OpenFHE
# ---------------------------------------------------------------------------------------------

def worker_openfhe(cfg: dict, threads: int, reps: int) -> dict:
    import openfhe as fhe  # OMP_NUM_THREADS is set by the parent before this process started

    log_n = cfg["logN"]
    n = 1 << log_n
    levels = cfg["levels"]
    dnum = cfg.get("dnum") or (levels + 1)
    p = fhe.CCParamsCKKSRNS()
    p.SetMultiplicativeDepth(levels)
    p.SetScalingModSize(cfg["scale_bits"])
    p.SetFirstModSize(cfg["first_bits"])
    p.SetRingDim(n)
    p.SetBatchSize(n // 2)
    p.SetScalingTechnique(fhe.FIXEDMANUAL)
    p.SetKeySwitchTechnique(fhe.HYBRID)
    p.SetNumLargeDigits(dnum)
    p.SetSecurityLevel(fhe.HEStd_128_classic)
    cc = fhe.GenCryptoContext(p)
    for feature in (fhe.PKESchemeFeature.PKE, fhe.PKESchemeFeature.KEYSWITCH,
                    fhe.PKESchemeFeature.LEVELEDSHE):
        cc.Enable(feature)
    if cc.GetRingDimension() != n:
        raise RuntimeError(f"OpenFHE moved the ring to {cc.GetRingDimension()}")
    log_q = math.log2(cc.GetModulus())

    keys = cc.KeyGen()
    t0 = time.perf_counter()
    cc.EvalMultKeyGen(keys.secretKey)
    relin_keygen_ms = (time.perf_counter() - t0) * 1e3
    relin_bytes = len(fhe.SerializeEvalMultKeyString(fhe.BINARY, ""))
    cc.EvalRotateKeyGen(keys.secretKey, [1])
    rot_bytes = len(fhe.SerializeEvalAutomorphismKeyString(fhe.BINARY, ""))

    values = slot_values(n // 2)
    pt = cc.MakeCKKSPackedPlaintext(values)
    ct_a = cc.Encrypt(keys.publicKey, pt)
    ct_b = cc.Encrypt(keys.publicKey, pt)
    out = {
        "encode": median_ms(lambda: cc.MakeCKKSPackedPlaintext(values), reps),
        "encrypt": median_ms(lambda: cc.Encrypt(keys.publicKey, pt), reps),
        "add": median_ms(lambda: cc.EvalAdd(ct_a, ct_b), reps),
        "mul_plain": median_ms(lambda: cc.EvalMult(ct_a, pt), reps),
        "mul_relin": median_ms(lambda: cc.EvalMult(ct_a, ct_b), reps),  # relinearizes
    }
    product = cc.EvalMult(ct_a, ct_b)
    out["rescale"] = median_ms(lambda: cc.ModReduce(product), reps)
    out["rotate"] = median_ms(lambda: cc.EvalRotate(ct_a, 1), reps)

    # Hoisted rotations (one decomposition, 8 rotations), per rotation, like Tessera's rotate_hoisted.
    try:
        cc.EvalRotateKeyGen(keys.secretKey, list(range(1, 9)))
        m = cc.GetCyclotomicOrder()

        def hoisted():
            digits = cc.EvalFastRotationPrecompute(ct_a)
            for k in range(1, 9):
                cc.EvalFastRotation(ct_a, k, m, digits)
        out["rotate_hoisted"] = median_ms(hoisted, reps) / 8
    except Exception as err:  # older wrappers: report without it
        out["rotate_hoisted_error"] = str(err)

    rotated = cc.EvalRotate(ct_a, 1)
    dec = cc.Decrypt(keys.secretKey, rotated)
    dec.SetLength(n // 2)
    got = dec.GetRealPackedValue()
    err = max(abs(got[i] - values[(i + 1) % (n // 2)]) for i in range(0, n // 2, max(1, n // 128)))
    if err > 1e-3:
        raise RuntimeError(f"OpenFHE rotate check failed (max error {err})")

    # P is not exposed by the Python wrapper: recover its limb count from the relin key
    # (dnum keys x 2 polynomials x (|Q| + |P|) limbs x N words, plus a small header).
    q_count = levels + 1
    limbs = relin_bytes / (dnum * 2 * n * 8)
    p_count = max(0, round(limbs - q_count))
    aux_bits = 60  # OpenFHE's auxiliary (P) primes for HYBRID key switching
    q_bits = [cfg["first_bits"]] + [cfg["scale_bits"]] * levels
    return {
        "peer": "OpenFHE", "library": f"openfhe {getattr(fhe, '__version__', '')}".strip(),
        "threads_used": threads, "logN": log_n, "q_bits": q_bits, "p_bits": [aux_bits] * p_count,
        "p_note": "P count inferred from the serialized relin key size (wrapper hides P)",
        "dnum": dnum, "log_q": log_q, "ops_ms": out,
        "relin_key_mb": relin_bytes / MB, "rotation_key_mb": rot_bytes / MB,
        "relin_keygen_ms": relin_keygen_ms,
    }


# ---------------------------------------------------------------------------------------------
# DESILO
# ---------------------------------------------------------------------------------------------

def worker_desilo(cfg: dict, threads: int, reps: int) -> dict:
    import numpy as np
    import desilofhe

    engine = desilofhe.Engine(max_level=cfg["levels"], mode="cpu", thread_count=threads)
    slots = engine.slot_count
    n = 2 * slots
    log_n = n.bit_length() - 1
    sk = engine.create_secret_key()
    pk = engine.create_public_key(sk)
    t0 = time.perf_counter()
    rlk = engine.create_relinearization_key(sk)
    relin_keygen_ms = (time.perf_counter() - t0) * 1e3
    rot_key = engine.create_fixed_rotation_key(sk, 1)
    values = np.array(slot_values(slots))
    pt = engine.encode(values)
    ct_a = engine.encrypt(pt, pk)
    ct_b = engine.encrypt(pt, pk)

    out = {
        "encode": median_ms(lambda: engine.encode(values), reps),
        "encrypt": median_ms(lambda: engine.encrypt(pt, pk), reps),
        "add": median_ms(lambda: engine.add(ct_a, ct_b), reps),
        "mul_plain": median_ms(lambda: engine.multiply(ct_a, pt), reps),
        "mul_relin": median_ms(lambda: engine.relinearize(engine.multiply(ct_a, ct_b), rlk), reps),
    }
    product = engine.relinearize(engine.multiply(ct_a, ct_b), rlk)
    out["rescale"] = median_ms(lambda: engine.rescale(product), reps)
    out["rotate"] = median_ms(lambda: engine.rotate(ct_a, rot_key), reps)

    got = engine.decrypt(engine.rotate(ct_a, rot_key), sk)
    err = float(np.max(np.abs(got - np.roll(values, -1))))
    if err > 1e-3:
        raise RuntimeError(f"DESILO rotate check failed (max error {err})")

    # Storage of a top-level ciphertext in 64-bit words per coefficient per polynomial:
    # the closest thing to a limb count DESILO exposes.
    words = ct_a.serialized_nbytes / (2 * n * 8)
    return {
        "peer": "DESILO", "library": "desilofhe", "threads_used": threads, "logN": log_n,
        "levels": engine.max_level, "ct_words_per_coeff": round(words, 2),
        "q_bits": None, "p_bits": None, "dnum": None,
        "moduli_note": "desilofhe does not expose its primes, P or dnum; Tessera is run with "
                       "the same N and level count and Q = [60, 40 x L]",
        "ops_ms": out,
        "relin_key_mb": rlk.serialized_nbytes / MB, "rotation_key_mb": rot_key.serialized_nbytes / MB,
        "relin_keygen_ms": relin_keygen_ms,
    }


WORKERS = {"seal": worker_seal, "openfhe": worker_openfhe, "desilo": worker_desilo}


# ---------------------------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------------------------

def run_worker(name: str, python: str, cfg: dict, threads: int, reps: int, timeout: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [python, os.path.abspath(__file__), "--worker", name, "--worker-config", json.dumps(cfg),
           "--worker-threads", str(threads), "--reps", str(reps)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"{name} timed out after {timeout} s"}
    except OSError as err:
        return {"error": f"{name}: cannot start {python}: {err}"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"{name} failed (exit {proc.returncode}): " + " | ".join(tail)}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"{name} printed no JSON: {proc.stdout[-300:]}"}


HE_STANDARD_MAX_LOG_QP_128 = {12: 109, 13: 218, 14: 438, 15: 881, 16: 1772, 17: 3544}


def desilo_matched_params(log_n: int, q_bits: list, p_prime_bits: int = 60):
    """For DESILO (whose P and dnum are hidden): the smallest dnum whose special primes P
    (60-bit, enough to cover the largest digit) keep log QP under the HE-standard 128-bit bound."""
    bound = HE_STANDARD_MAX_LOG_QP_128.get(log_n, 10 ** 9)
    count = len(q_bits)
    for dnum in range(1, count + 1):
        alpha = -(-count // dnum)
        digit_bits = max(sum(q_bits[i:i + alpha]) for i in range(0, count, alpha))
        p_count = -(-digit_bits // p_prime_bits)
        if sum(q_bits) + p_count * p_prime_bits <= bound:
            return [p_prime_bits] * p_count, dnum
    return [p_prime_bits], count


def tessera_args(result: dict, cfg: dict) -> dict:
    """The Tessera parameter set matched to what a peer actually used."""
    if result.get("q_bits"):
        return {"logN": result["logN"], "q_bits": result["q_bits"], "p_bits": result["p_bits"],
                "dnum": result["dnum"]}
    # DESILO: same N and depth, standard chain; P and dnum chosen as above unless given.
    levels = result.get("levels", cfg["levels"])
    q_bits = [cfg["first_bits"]] + [cfg["scale_bits"]] * levels
    p_bits, dnum = desilo_matched_params(result["logN"], q_bits)
    if cfg.get("desilo_dnum"):
        dnum = cfg["desilo_dnum"]
    if cfg.get("desilo_p_count"):
        p_bits = [60] * cfg["desilo_p_count"]
    return {"logN": result["logN"], "q_bits": q_bits, "p_bits": p_bits, "dnum": dnum}


def run_tessera(binary: str, params: dict, threads: int, timeout: int) -> dict:
    cmd = [binary, "bench", "ckks", "--logN", str(params["logN"]),
           "--q-bits", ",".join(map(str, params["q_bits"])),
           "--p-bits", ",".join(map(str, params["p_bits"])),
           "--dnum", str(params["dnum"]), "--threads", str(threads), "--json"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"tessera timed out after {timeout} s", "command": " ".join(cmd)}
    except OSError as err:
        return {"error": f"cannot run {binary}: {err}", "command": " ".join(cmd)}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"tessera exit {proc.returncode}: " + " | ".join(tail), "command": " ".join(cmd)}
    text = proc.stdout.strip()
    start = text.find("{")
    try:
        data = json.loads(text[start:]) if start >= 0 else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return {"error": f"tessera printed no JSON object: {text[-300:]}", "command": " ".join(cmd)}
    data["command"] = " ".join(cmd)
    return data


def fmt(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if x >= 100:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.{digits}f}"


def print_table(rows, headers):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tessera", default=".build/release/tessera", help="tessera binary")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--reps", type=int, default=10, help="timed repetitions per op (median)")
    ap.add_argument("--skip-tessera", action="store_true", help="measure the peers only")
    ap.add_argument("--json-out", help="write every number measured to this file")
    ap.add_argument("--peers", default="seal,openfhe,desilo",
                    help="subset of seal,openfhe,desilo")
    ap.add_argument("--openfhe-python",
                    default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                         ".venv-bench-openfhe", "bin", "python"),
                    help="a Python with the openfhe wheel (the wheel is built for CPython 3.10)")
    ap.add_argument("--levels", type=int, default=17, help="L for SEAL/OpenFHE (Q = 60 + L x 40)")
    ap.add_argument("--desilo-levels", default="24,7",
                    help="desilofhe max_level values (24 gives N=2^16, 7 gives N=2^14)")
    ap.add_argument("--desilo-p-count", type=int, default=0,
                    help="60-bit special primes for the Tessera run matched to DESILO "
                         "(default: enough to cover the largest digit)")
    ap.add_argument("--desilo-dnum", type=int, default=0,
                    help="dnum for that Tessera run (default: the smallest that keeps log QP "
                         "under the HE-standard 128-bit bound)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per subprocess")
    # worker mode (internal)
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--worker-config", help=argparse.SUPPRESS)
    ap.add_argument("--worker-threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        result = WORKERS[args.worker](json.loads(args.worker_config), args.worker_threads, args.reps)
        print(json.dumps(result))
        return 0

    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    base = {"first_bits": 60, "scale_bits": 40, "special_bits": 60,
            "desilo_p_count": args.desilo_p_count, "desilo_dnum": args.desilo_dnum}

    # (peer, label, python, cfg, thread counts it is run at)
    jobs = []
    if "seal" in peers:
        jobs.append(("seal", "SEAL N=2^15", sys.executable,
                     dict(base, logN=15, levels=args.levels), [1]))
    if "openfhe" in peers:
        if os.path.exists(args.openfhe_python):
            jobs.append(("openfhe", "OpenFHE N=2^15", args.openfhe_python,
                         dict(base, logN=15, levels=args.levels), threads))
        else:
            print(f"note: OpenFHE skipped: no Python with the openfhe wheel at {args.openfhe_python} "
                  "(its PyPI wheel is built for CPython 3.10 only; see README.md)")
    if "desilo" in peers:
        for lv in [int(x) for x in args.desilo_levels.split(",") if x.strip()]:
            jobs.append(("desilo", f"DESILO L={lv}", sys.executable,
                         dict(base, levels=lv), threads))

    machine = {"cpu_count": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        with open("/proc/cpuinfo") as f:
            machine["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        machine["loadavg_at_start"] = os.getloadavg()[0]
    except OSError:
        pass
    print(f"machine: {machine.get('cpu', '?')}, {machine['cpu_count']} logical CPUs; reps={args.reps}; "
          f"load average at start {machine.get('loadavg_at_start', float('nan')):.2f} "
          "(other work on the machine inflates every number)")

    tessera_ok = not args.skip_tessera
    if tessera_ok and not (os.path.exists(args.tessera) and os.access(args.tessera, os.X_OK)):
        print(f"note: tessera binary not found at {args.tessera} (build it with "
              "`swift build -c release --product tessera`); printing peer numbers only")
        tessera_ok = False

    records = []
    for name, label, python, cfg, tlist in jobs:
        for t in tlist:
            print(f"measuring {label} threads={t} ...", flush=True)
            res = run_worker(name, python, cfg, t, args.reps, args.timeout)
            rec = {"label": label, "threads": t, "peer_result": res}
            if "error" in res:
                print(f"  {label}: {res['error']}")
            elif tessera_ok:
                seal_threads = [t] if name != "seal" else threads
                rec["tessera"] = {}
                params = tessera_args(res, cfg)
                rec["tessera_params"] = params
                for tt in seal_threads:
                    tres = run_tessera(args.tessera, params, tt, args.timeout)
                    rec["tessera"][tt] = tres
                    if "error" in tres:
                        print(f"  tessera ({label}, threads={tt}): {tres['error']}\n    {tres['command']}")
            records.append(rec)

    # ----- parameter summary
    print("\nParameters read back from each peer (bits; Tessera is run with the same):")
    seen = set()
    for rec in records:
        res = rec["peer_result"]
        if "error" in res or rec["label"] in seen:
            continue
        seen.add(rec["label"])
        if res.get("q_bits"):
            q = res["q_bits"]
            print(f"  {rec['label']}: logN={res['logN']} Q={q[0]}+{len(q) - 1}x{q[1] if len(q) > 1 else '-'} "
                  f"({len(q)} primes) P={res['p_bits']} dnum={res['dnum']}"
                  + (f"  [{res['p_note']}]" if res.get("p_note") else ""))
        else:
            print(f"  {rec['label']}: logN={res['logN']} levels={res['levels']} "
                  f"ct storage={res['ct_words_per_coeff']} words/coeff/poly  [{res['moduli_note']}]")
        if rec.get("tessera_params"):
            p = rec["tessera_params"]
            print(f"      tessera: --logN {p['logN']} --q-bits {','.join(map(str, p['q_bits']))} "
                  f"--p-bits {','.join(map(str, p['p_bits']))} --dnum {p['dnum']}")

    # ----- main table
    rows = []
    ratios = {}  # (op, threads) -> list of (ratio, label)
    for rec in records:
        res = rec["peer_result"]
        if "error" in res:
            continue
        tess_by_threads = rec.get("tessera") or {}
        tlist = sorted(tess_by_threads) if tess_by_threads else [rec["threads"]]
        for tt in tlist:
            tess = tess_by_threads.get(tt, {})
            for op in OPS + KEY_FIELDS:
                peer_v = res["ops_ms"].get(op) if op in OPS else res.get(op)
                tv = tess.get(op) if "error" not in tess else None
                if peer_v is None and tv is None:
                    continue
                ratio = (tv / peer_v) if (isinstance(tv, (int, float)) and peer_v) else None
                if ratio is not None and op in GOAL_OPS:
                    ratios.setdefault((op, tt), []).append((ratio, rec["label"]))
                peer_threads = "1*" if rec["label"].startswith("SEAL") else str(rec["threads"])
                unit = "MB" if op in KEY_FIELDS else "ms"
                rows.append([op, rec["label"], f"{tt} ({peer_threads})", unit, fmt(peer_v),
                             fmt(tv) if tv is not None else "-",
                             f"{ratio:.2f}" if ratio is not None else "-"])
    print()
    if rows:
        print_table(rows, ["op", "peer", "threads (peer)", "unit", "peer", "Tessera",
                           "ratio T/peer"])
        print("  * SEAL evaluates single ops on one thread; its 1-thread numbers are compared with "
              "Tessera at every thread count.")
    else:
        print("no peer produced numbers")

    if ratios:
        print("\nGoal ops vs the fastest peer (largest Tessera/peer ratio; goal <= 0.67):")
        for (op, tt), lst in sorted(ratios.items(), key=lambda kv: (kv[0][1], GOAL_OPS.index(kv[0][0]))):
            worst = max(lst)
            mark = "meets goal" if worst[0] <= 0.67 else "misses goal"
            print(f"  threads={tt}  {op:<10} {worst[0]:.2f}  (vs {worst[1]})  {mark}")
    elif not tessera_ok:
        print("\n(no Tessera numbers: ratios not computed)")

    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"machine": machine, "reps": args.reps, "records": records}, f, indent=2,
                      default=str)
        print(f"\nwrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
