#!/usr/bin/env python3
"""Peer measurement: orion-fhe (PyTorch -> Lattigo CKKS compiler) on the ResNet-20 that Tessera runs.

Runs Orion's own ResNet-20 (orion.models.ResNet20, CIFAR-10 shape 1x3x32x32, 3 stages x 3 basic blocks, 16/32/64
channels, 10 classes) fully encrypted with Orion's polynomial ReLUs and automatic bootstrap placement, and reports the
stage timings (keygen, fit, compile, encode+encrypt, encrypted inference, decrypt), the peak RSS, the number of
bootstraps Orion placed and max |encrypted - cleartext| over the logits.

Install (Python 3.11; orion-fhe ships the Lattigo backend as a prebuilt shared library):

    python3 -m venv .venv-orion && .venv-orion/bin/pip install orion-fhe
    .venv-orion/bin/python examples/resnet20/orion_resnet20.py --memory-limit-gb 14 --timeout-s 1500

Memory guard: the Orion work runs in a child process (this script with --child-workdir). The parent samples the RSS
(+ swap) of the child and its descendants from /proc every --sample-interval seconds (every 0.1 s once above 70% of
the budget, because Orion's packing allocates several GB within a second) and kills the child's process group when it
exceeds --memory-limit-gb (1 GB = 10^9 bytes), when the machine's MemAvailable falls below --min-available-gb (other
work on the machine grew), when --timeout-s passes, or when the --spill directory outgrows --spill-limit-gb. The
child writes stage events (name, start/end timestamps) to a progress file, and Orion's own console output goes to a
log file whose markers ("Packing <layer>", "Network requires N bootstrap operations", ...) the parent follows, so a
killed run still says where it stopped. The child also raises its own oom_score_adj so that
the kernel, if it ever has to choose, kills Orion first. The script exits 0 with a report either way.

Parameters: Orion's published ResNet parameter set, configs/resnet.yml of github.com/baahl-nyu/orion (commits
bc3469f and 4055a66): LogN 16, LogQ [55, 40 x 10], LogP [61, 61, 61], LogScale 40, H 16384, RingType standard,
bootstrapping LogP [61 x 8], margin 2, embedding_method hybrid, fuse_modules true. (A fork, vboddeti/orion, and
Orion's CKKSParameters default use H 192: pass --hamming-weight 192.) --spill DIR sets Orion's io_mode "save" with
diags_path DIR/diagonals.h5 and keys_path DIR/keys.h5: packed diagonals, encoded plaintext diagonals and rotation keys
go to disk after each layer and are loaded back one block at a time during inference.

Differences from Tessera's model (examples/models/make_models.py, resnet20):
- Architecture: identical layer for layer (3x3 convs without bias, BatchNorm after every conv, 1x1 conv + BN
  shortcut where the stride or the width changes, ReLU after the first conv of a block and after the residual add,
  global average pool, Linear 64 -> 10 with bias). Orion fuses each BN into the preceding conv.
- Weights: --weights tessera (default) draws them exactly as make_models.py does (numpy default_rng(20), same order,
  same distributions), so the cleartext logits equal the ONNX model's; --weights torch uses torch.manual_seed(--seed)
  with PyTorch's default initialisation and seeded random BN statistics. BN is in eval mode either way.
- Input: numpy default_rng(20).standard_normal((1, 3, 32, 32)), the input examples/resnet20/run.sh feeds Tessera.
- ReLU: Orion evaluates it under encryption as x * sign(x) with a composite minimax sign polynomial (degrees
  15, 15, 27) fitted to the value ranges observed by orion.fit on this one input (x margin 2) and bootstraps
  wherever its level planner needs to; Tessera's run.sh uses client-aided ReLUs (exact, no bootstrapping).
- Orion's cleartext reference is the same torch module in cleartext mode (exact ReLU).
"""
import argparse
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time

GB = 1e9

# configs/resnet.yml of github.com/baahl-nyu/orion (the file's diags_path/keys_path/io_mode are replaced by --spill).
ORION_RESNET_CKKS = {
    "LogN": 16,
    "LogQ": [55] + [40] * 10,
    "LogP": [61, 61, 61],
    "LogScale": 40,
    "H": 16384,
    "RingType": "standard",
}
ORION_RESNET_BOOT_LOGP = [61] * 8
ORION_RESNET_OPTIONS = {"margin": 2, "embedding_method": "hybrid", "backend": "lattigo", "fuse_modules": True}

STAGES = [
    ("import", "import torch + orion"),
    ("model", "build model, cleartext forward"),
    ("keygen", "init_scheme (sk, pk, relin key)"),
    ("fit", "orion.fit (ranges, polynomials)"),
    ("compile", "orion.compile"),
    ("encode_encrypt", "encode + encrypt input"),
    ("inference", "encrypted inference"),
    ("decrypt", "decrypt + decode"),
]

# Markers in Orion's console output (orion/core/orion.py, core/packing.py) that locate a run inside orion.compile.
COMPILE_STEPS = [
    ("packing", re.compile(r"\{3\} Generating matrix diagonals")),
    ("bootstrap placement", re.compile(r"\{4\} Running bootstrap placement")),
    ("bootstrapper keygen", re.compile(r"Generating bootstrappers for logslots")),
    ("layer compile", re.compile(r"\{5\} Compiling network layers")),
]
PACKING_LAYER = re.compile(r"^Packing (\S+):", re.M)
COMPILING_LAYER = re.compile(r"^\W*(\S+) @ level=(\d+)", re.M)
BOOTSTRAPS = re.compile(r"Network requires (\d+) bootstrap")
BOOTSTRAP_SLOTS = re.compile(r"Generating bootstrappers for logslots = ([\d, ]+)")
DIAGONAL_COUNT = re.compile(r"# diagonals = (\d+)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Run orion-fhe's ResNet-20 (CIFAR-10 shape) fully encrypted under a memory guard and report "
                    "stage times, peak RSS, bootstraps and the logit error.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--memory-limit-gb", type=float, default=20.0,
                        help="kill the Orion child when its RSS + swap (with descendants) exceeds this (10^9 bytes)")
    parser.add_argument("--min-available-gb", type=float, default=1.0,
                        help="also kill the child when the machine's MemAvailable falls below this (protects other "
                             "work on the machine when it uses more than expected)")
    parser.add_argument("--timeout-s", type=float, default=3600.0, help="kill the Orion child after this many seconds")
    parser.add_argument("--spill", metavar="DIR",
                        help="Orion io_mode 'save': write diagonals and rotation keys to DIR/diagonals.h5 and "
                             "DIR/keys.h5 (overwritten) instead of keeping them in memory")
    parser.add_argument("--spill-limit-gb", type=float, default=30.0,
                        help="kill the child when the --spill directory grows beyond this")
    parser.add_argument("--hamming-weight", type=int, default=ORION_RESNET_CKKS["H"],
                        help="secret key Hamming weight H (Orion's resnet.yml: 16384; its code default: 192)")
    parser.add_argument("--log-n", type=int, default=ORION_RESNET_CKKS["LogN"],
                        help="ring degree log2 N; values below 16 are insecure and only for checking this script")
    parser.add_argument("--embedding-method", choices=["hybrid", "square"], default="hybrid",
                        help="Orion's diagonal embedding method")
    parser.add_argument("--weights", choices=["tessera", "torch"], default="tessera",
                        help="tessera: the weights of examples/models/make_models.py resnet20; torch: "
                             "torch.manual_seed(--seed) initialisation with random BN statistics")
    parser.add_argument("--seed", type=int, default=20, help="seed for --weights torch")
    parser.add_argument("--sample-interval", type=float, default=0.5, help="RSS sampling period in seconds")
    parser.add_argument("--log-dir", help="where the child's log and progress files go (None: a new temp dir)")
    parser.add_argument("--save-arrays", metavar="DIR",
                        help="save input.npy, clear_logits.npy and fhe_logits.npy to DIR (e.g. for tessera infer)")
    parser.add_argument("--verbose", action="store_true", help="echo Orion's console output while it runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object with all results at the end")
    parser.add_argument("--child-workdir", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def orion_config(args):
    ckks = dict(ORION_RESNET_CKKS, LogN=args.log_n, H=args.hamming_weight)
    options = dict(ORION_RESNET_OPTIONS, embedding_method=args.embedding_method, debug=False)
    if args.spill:
        spill = os.path.abspath(args.spill)
        options.update(io_mode="save", diags_path=os.path.join(spill, "diagonals.h5"),
                       keys_path=os.path.join(spill, "keys.h5"))
    else:
        options.update(io_mode="none", diags_path="", keys_path="")
    return {"ckks_params": ckks, "boot_params": {"LogP": ORION_RESNET_BOOT_LOGP}, "orion": options}


# ---------------------------------------------------------------------------------------------------
# Child: the Orion work, one stage at a time, each announced in the progress file.


class Progress:
    """Appends one JSON line per stage event to the progress file the parent follows."""

    def __init__(self, path):
        self.file = open(path, "a", buffering=1)

    def event(self, **fields):
        self.file.write(json.dumps(dict(fields, t=time.time())) + "\n")
        self.file.flush()

    def stage(self, name):
        progress = self

        class Stage:
            def __enter__(self):
                self.start = time.perf_counter()
                progress.event(stage=name, event="start")

            def __exit__(self, kind, value, traceback):
                if kind is None:
                    progress.event(stage=name, event="end", seconds=time.perf_counter() - self.start)
                return False

        return Stage()


def tessera_weights(net):
    """Sets the weights make_models.py draws for resnet20: same generator, order and distributions."""
    import numpy as np
    import torch

    rng = np.random.default_rng(20)

    def conv(module):
        cout, cin, kh, kw = module.weight.shape
        weight = rng.normal(0.0, np.sqrt(2.0 / (cin * kh * kw)), size=(cout, cin, kh, kw)).astype(np.float32)
        module.weight.data = torch.from_numpy(weight)

    def batch_norm(module, scale_range=(0.5, 1.5)):
        channels = module.num_features
        module.weight.data = torch.from_numpy(rng.uniform(*scale_range, size=channels).astype(np.float32))
        module.bias.data = torch.from_numpy(rng.normal(0.0, 0.1, size=channels).astype(np.float32))
        module.running_mean.data = torch.from_numpy(rng.normal(0.0, 0.1, size=channels).astype(np.float32))
        module.running_var.data = torch.from_numpy(rng.uniform(0.5, 1.5, size=channels).astype(np.float32))
        module.eps = 1e-5

    conv(net.conv1)
    batch_norm(net.bn1)
    for stage in net.layers:
        for block in stage:
            conv(block.conv1)
            batch_norm(block.bn1)
            conv(block.conv2)
            batch_norm(block.bn2, scale_range=(0.2, 0.5))
            if len(block.shortcut) > 0:
                conv(block.shortcut[0])
                batch_norm(block.shortcut[1])
    fan_out, fan_in = net.linear.weight.shape
    net.linear.weight.data = torch.from_numpy(
        rng.normal(0.0, np.sqrt(1.0 / fan_in), size=(fan_out, fan_in)).astype(np.float32))
    net.linear.bias.data = torch.from_numpy(rng.normal(0.0, 0.01, size=fan_out).astype(np.float32))


def torch_weights(net, seed):
    """PyTorch default initialisation under torch.manual_seed, plus seeded random BN statistics."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    for module in net.modules():
        if hasattr(module, "running_var"):
            channels = module.num_features
            module.weight.data = 0.5 + torch.rand(channels, generator=generator)
            module.bias.data = 0.1 * torch.randn(channels, generator=generator)
            module.running_mean.data = 0.1 * torch.randn(channels, generator=generator)
            module.running_var.data = 0.5 + torch.rand(channels, generator=generator)


def child_main(args):
    try:  # Let the kernel's OOM killer, should it ever run, take Orion before anything else on the machine.
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    progress = Progress(os.path.join(args.child_workdir, "progress.jsonl"))
    with progress.stage("import"):
        import numpy as np
        import torch
        import orion
        import orion.models as models

    with progress.stage("model"):
        torch.manual_seed(args.seed)
        net = models.ResNet20()
        if args.weights == "tessera":
            tessera_weights(net)
        else:
            torch_weights(net, args.seed)
        net.eval()
        x = np.random.default_rng(20).standard_normal((1, 3, 32, 32)).astype(np.float32)
        inp = torch.from_numpy(x)
        with torch.no_grad():
            clear = net(inp).detach().flatten().double()

    if args.spill:
        os.makedirs(args.spill, exist_ok=True)
    with progress.stage("keygen"):
        orion.init_scheme(orion_config(args))
    with progress.stage("fit"):
        orion.fit(net, inp)
    with progress.stage("compile"):
        input_level = orion.compile(net)
    progress.event(input_level=input_level)
    with progress.stage("encode_encrypt"):
        ctxt = orion.encrypt(orion.encode(inp, input_level))
    net.he()
    with progress.stage("inference"):
        out = net(ctxt)
    with progress.stage("decrypt"):
        fhe = out.decrypt().decode().flatten().double()[: clear.numel()]

    error = (fhe - clear).abs()
    progress.event(result={
        "input_level": input_level,
        "clear_logits": clear.tolist(),
        "fhe_logits": fhe.tolist(),
        "max_abs_error": error.max().item(),
        "mean_abs_error": error.mean().item(),
        "top1_clear": int(clear.argmax()),
        "top1_fhe": int(fhe.argmax()),
    })
    if args.save_arrays:
        os.makedirs(args.save_arrays, exist_ok=True)
        np.save(os.path.join(args.save_arrays, "input.npy"), x)
        np.save(os.path.join(args.save_arrays, "clear_logits.npy"), clear.numpy().astype(np.float32))
        np.save(os.path.join(args.save_arrays, "fhe_logits.npy"), fhe.numpy().astype(np.float32))
    return 0


# ---------------------------------------------------------------------------------------------------
# Parent: start the child, watch its memory, time and progress, report.


def memory_of_tree(root_pid):
    """RSS + swap in bytes of root_pid and all its descendants, and root_pid's own high-water mark (VmHWM)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(parent, []).append(int(entry))
    total, high_water, stack = 0, 0, [root_pid]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        kib = lambda key: int(fields.get(key, "0 kB").split()[0])  # noqa: E731
        total += (kib("VmRSS") + kib("VmSwap")) * 1024
        if pid == root_pid:
            high_water = kib("VmHWM") * 1024
    return total, high_water


def directory_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


class Watch:
    """Follows the child's progress file and log; keeps per-stage peaks and the log's compile markers."""

    def __init__(self, progress_path, log_path, echo):
        self.progress_path, self.log_path, self.echo = progress_path, log_path, echo
        self.progress_offset = self.log_offset = 0
        self.stages = {}  # name -> {"start", "end", "seconds", "peak"}
        self.current = None
        self.extra = {}
        self.log_tail = ""
        self.compile_steps = {}  # step -> time first seen
        self.orion_step = None

    def poll(self, now, usage):
        for event in self._new_progress_events():
            if "stage" in event:
                name = event["stage"]
                if event["event"] == "start":
                    self.stages[name] = {"start": event["t"], "peak": None}
                    self.current = name
                else:
                    self.stages[name].update(end=event["t"], seconds=event["seconds"])
                    self.current = None
            else:
                self.extra.update({k: v for k, v in event.items() if k != "t"})
        if self.current is not None:
            stage = self.stages[self.current]
            stage["peak"] = max(stage["peak"] or 0, usage)
        self._follow_log(now)

    def _new_progress_events(self):
        try:
            with open(self.progress_path) as f:
                f.seek(self.progress_offset)
                chunk = f.read()
        except OSError:
            return []
        complete = chunk[: chunk.rfind("\n") + 1]
        self.progress_offset += len(complete.encode())
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def _follow_log(self, now):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                data = f.read()
        except OSError:
            return
        if not data:
            return
        self.log_offset += len(data)
        text = data.decode(errors="replace")
        if self.echo:
            sys.stderr.write(text)
            sys.stderr.flush()
        self.log_tail = (self.log_tail + text)[-200_000:]
        for step, marker in COMPILE_STEPS:
            if step not in self.compile_steps and marker.search(text):
                self.compile_steps[step] = now
        # The latest marker in this chunk names the step Orion is in now.
        marks = [(m.start(), step) for step, marker in COMPILE_STEPS for m in marker.finditer(text)]
        marks += [(m.start(), f"packing {m.group(1)}") for m in PACKING_LAYER.finditer(text)]
        if "layer compile" in self.compile_steps:
            marks += [(m.start(), f"compiling {m.group(1)} at level {m.group(2)}")
                      for m in COMPILING_LAYER.finditer(text)]
        if marks:
            self.orion_step = max(marks)[1]

    def orion_log_facts(self):
        log = self.log_tail
        facts = {}
        if m := BOOTSTRAPS.search(log):
            facts["bootstraps"] = int(m.group(1))
        if m := BOOTSTRAP_SLOTS.search(log):
            facts["bootstrapper_logslots"] = [int(s) for s in m.group(1).replace(" ", "").split(",") if s]
        diagonals = [int(n) for n in DIAGONAL_COUNT.findall(log)]
        if diagonals:
            facts["layers_packed"] = len(diagonals)
            facts["diagonals_packed"] = sum(diagonals)
        return facts


def parent_main(args):
    workdir = args.log_dir or tempfile.mkdtemp(prefix="orion-resnet20-")
    os.makedirs(workdir, exist_ok=True)
    progress_path = os.path.join(workdir, "progress.jsonl")
    log_path = os.path.join(workdir, "orion.log")
    open(progress_path, "w").close()
    if args.spill:
        os.makedirs(args.spill, exist_ok=True)

    command = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--child-workdir", workdir]
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    limit = args.memory_limit_gb * GB
    watch = Watch(progress_path, log_path, args.verbose)
    peak, peak_high_water, status, reason = 0, 0, None, ""
    start = time.monotonic()
    with open(log_path, "wb") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=environment, start_new_session=True)
        while True:
            usage, high_water = memory_of_tree(child.pid)
            available = available_memory()
            now = time.monotonic()
            peak, peak_high_water = max(peak, usage), max(peak_high_water, high_water)
            watch.poll(time.time(), usage)
            if child.poll() is not None:
                break
            if usage > limit:
                status, reason = "out_of_memory", f"RSS {usage / GB:.2f} GB > budget {args.memory_limit_gb:g} GB"
            elif available < args.min_available_gb * GB:
                status, reason = "machine_memory_low", (f"machine MemAvailable {available / GB:.2f} GB < "
                                                        f"--min-available-gb {args.min_available_gb:g}")
            elif now - start > args.timeout_s:
                status, reason = "timeout", f"ran past --timeout-s {args.timeout_s:g}"
            elif args.spill and directory_size(args.spill) > args.spill_limit_gb * GB:
                status, reason = "spill_limit", f"--spill directory grew past {args.spill_limit_gb:g} GB"
            if status:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                break
            close = usage > 0.7 * limit or available < args.min_available_gb * GB + 3 * GB
            time.sleep(0.1 if close else args.sample_interval)
    elapsed = time.monotonic() - start
    watch.poll(time.time(), 0)
    if status is None:
        status = "ok" if child.returncode == 0 and "result" in watch.extra else "error"
        if status == "error":
            reason = f"child exited with status {child.returncode}"
    report = build_report(args, watch, status, reason, elapsed, peak, peak_high_water, log_path)
    print_report(report)
    if args.json:
        print(json.dumps(report))
    return 0


def build_report(args, watch, status, reason, elapsed, peak, peak_high_water, log_path):
    config = orion_config(args)
    stages = []
    for name, description in STAGES:
        stage = watch.stages.get(name)
        if stage is None:
            continue
        entry = {"name": name, "description": description, "completed": "seconds" in stage,
                 "peak_rss_gb": None if stage["peak"] is None else round(stage["peak"] / GB, 2)}
        if "seconds" in stage:
            entry["seconds"] = round(stage["seconds"], 2)
        else:
            entry["seconds_until_stop"] = round(time.time() - stage["start"], 1) if status != "ok" else None
        stages.append(entry)
    compile_steps = []
    compile_stage = watch.stages.get("compile")
    if compile_stage:
        marks = sorted(watch.compile_steps.items(), key=lambda item: item[1])
        ends = [t for _, t in marks[1:]] + [compile_stage.get("end")]
        for (step, begun), end in zip(marks, ends):
            compile_steps.append({"step": step, "seconds": round(end - begun, 1) if end else None})
    stopped = None
    if status != "ok":
        stopped = {"stage": watch.current or "startup", "orion_step": watch.orion_step if watch.current == "compile"
                   else None, "after_s": round(elapsed, 1), "peak_rss_gb": round(peak / GB, 2), "reason": reason}
    report = {
        "tool": "orion-fhe " + orion_version(),
        "model": "ResNet-20 (orion.models.ResNet20), input 1x3x32x32, 10 classes, weights: " + args.weights,
        "parameters": config,
        "parameters_source": "github.com/baahl-nyu/orion configs/resnet.yml" + "".join(
            f" with {name} overridden to {value}" for name, value in (("H", args.hamming_weight), ("LogN", args.log_n))
            if value != ORION_RESNET_CKKS[name]),
        "machine": f"{os.cpu_count()} cores, {total_memory_gb():.1f} GB RAM, {platform.machine()}",
        "limits": {"memory_gb": args.memory_limit_gb, "timeout_s": args.timeout_s,
                   "spill": os.path.abspath(args.spill) if args.spill else None},
        "status": status,
        "stopped": stopped,
        "elapsed_s": round(elapsed, 1),
        "peak_rss_gb": round(peak / GB, 2),
        "peak_vmhwm_gb": round(peak_high_water / GB, 2),
        "stages": stages,
        "compile_steps": compile_steps,
        "log": log_path,
    }
    report.update(watch.orion_log_facts())
    if "input_level" in watch.extra:
        report["input_level"] = watch.extra["input_level"]
    if args.spill:
        report["spill_gb"] = round(directory_size(args.spill) / GB, 2)
    result = watch.extra.get("result")
    if result:
        report.update(result)
        error = result["max_abs_error"]
        report["precision_bits"] = round(-math.log2(error), 1) if error > 0 else None
    elif status == "error":
        report["log_tail"] = watch.log_tail[-2000:]
    return report


def print_report(report):
    params = report["parameters"]
    ckks, orion_options = params["ckks_params"], params["orion"]
    print(f"\n== {report['tool']}: {report['model']}")
    print(f"parameters ({report['parameters_source']}): LogN {ckks['LogN']}, LogQ {ckks['LogQ']} "
          f"({len(ckks['LogQ'])} primes), LogP {ckks['LogP']}, LogScale {ckks['LogScale']}, H {ckks['H']}, "
          f"boot LogP {params['boot_params']['LogP']}; margin {orion_options['margin']}, embedding "
          f"{orion_options['embedding_method']}, io_mode {orion_options['io_mode']}")
    limits = report["limits"]
    print(f"machine: {report['machine']}; memory budget {limits['memory_gb']:g} GB, timeout {limits['timeout_s']:g} s"
          + (f", spill to {limits['spill']}" if limits["spill"] else ""))
    print(f"{'stage':<16} {'what':<34} {'seconds':>9} {'peak RSS GB':>12}  (-: shorter than one sample)")
    for stage in report["stages"]:
        seconds = f"{stage['seconds']:.2f}" if stage["completed"] else f"{stage.get('seconds_until_stop') or 0:.1f}*"
        peak = "-" if stage["peak_rss_gb"] is None else f"{stage['peak_rss_gb']:.2f}"
        print(f"{stage['name']:<16} {stage['description']:<34} {seconds:>9} {peak:>12}")
    if any(not stage["completed"] for stage in report["stages"]):
        print("  (* time spent in the stage when it was stopped)")
    for step in report["compile_steps"]:
        seconds = f"{step['seconds']:.1f}" if step["seconds"] is not None else "unfinished"
        print(f"  compile / {step['step']:<22} {seconds:>9}")
    if "layers_packed" in report:
        print(f"packed layers: {report['layers_packed']}, diagonals: {report['diagonals_packed']}")
    if "bootstraps" in report:
        slots = report.get("bootstrapper_logslots")
        print(f"bootstraps placed by Orion: {report['bootstraps']}"
              + (f" (bootstrappers for logslots {', '.join(map(str, slots))})" if slots else ""))
    if "input_level" in report:
        print(f"input level: {report['input_level']}")
    if "spill_gb" in report:
        print(f"spill directory: {report['spill_gb']:.2f} GB")
    print(f"peak RSS: {report['peak_rss_gb']:.2f} GB (child VmHWM {report['peak_vmhwm_gb']:.2f} GB), "
          f"elapsed {report['elapsed_s']:.1f} s")
    if report["status"] == "ok":
        print(f"max |encrypted - cleartext| over the logits: {report['max_abs_error']:.3e} "
              f"({report['precision_bits']} bits), mean {report['mean_abs_error']:.3e}; top-1 "
              f"{'agrees' if report['top1_clear'] == report['top1_fhe'] else 'DIFFERS'}")
    else:
        stopped = report["stopped"]
        where = stopped["stage"] + (f" ({stopped['orion_step']})" if stopped["orion_step"] else "")
        labels = {"out_of_memory": "out of memory budget", "timeout": "timed out",
                  "machine_memory_low": "stopped to leave the machine memory",
                  "spill_limit": "out of spill budget", "error": "failed"}
        print(f"RESULT: {labels[report['status']]} at stage {where} after {stopped['after_s']:.1f} s, peak RSS "
              f"{stopped['peak_rss_gb']:.2f} GB ({stopped['reason']})")
        if "log_tail" in report:
            print("last lines of the Orion log:\n" + "\n".join(report["log_tail"].splitlines()[-15:]))
    print(f"Orion log: {report['log']}")


def orion_version():
    try:
        from importlib.metadata import version
        return version("orion-fhe")
    except Exception:  # the parent may run without orion installed; the child reports failures to import it
        return "(version unknown)"


def meminfo(field):
    """A /proc/meminfo field in bytes."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def total_memory_gb():
    return meminfo("MemTotal") / GB


def available_memory():
    return meminfo("MemAvailable")


if __name__ == "__main__":
    arguments = parse_args()
    sys.exit(child_main(arguments) if arguments.child_workdir else parent_main(arguments))
