"""AMX check on a machine without TensorFlow: the bf16perf CPU detection and kernel proof on
real AMX hardware, and what AMX buys over AVX512-BF16, through PyTorch's bundled oneDNN.

    PYTHONPATH=src python3 benchmarks/amx_check.py --out DIR

Written for lent machines that have PyTorch but where TensorFlow and Spark cannot be installed
(no registry; a 274 MB wheel cannot travel).  TensorFlow and PyTorch both execute through
oneDNN, which prints the same verbose lines and honours the same ``ONEDNN_MAX_CPU_ISA`` cap, so
what this checks holds for the harness's own runs:

1. ``DIR/cpuinfo`` is ``/proc/cpuinfo``; :func:`bf16perf.machine.cpu.parse_cpuinfo` must read its
   capability (``amx`` on Sapphire Rapids and later).
2. ``DIR/onednn-{fp32,bf16,bf16-avx512}.txt`` are oneDNN verbose captures of a small
   convolution + matmul, forward and backward, in fp32, in bf16, and in bf16 under
   ``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16`` (the ``bf16-avx512`` variant's cap);
   :func:`bf16perf.onednn.kernels.parse_verbose` gives the verdict on each.
3. Kernel ceiling (3x3 convolution forward + backward, matmul) and a ResNet-50 training step
   (torchvision, channels-last, bf16 autocast with fp32 weights), in fp32, bf16 and
   bf16-avx512, each in its own subprocess (oneDNN reads the cap once per process).

Prints one Markdown table per part and writes ``DIR/results.json``.  Needs ``torch`` and
``torchvision``; the harness itself never imports this file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bf16perf.machine.cpu import parse_cpuinfo
from bf16perf.onednn.kernels import parse_verbose
from bf16perf.onednn.marks import mark

#: (name, autocast to bf16, oneDNN ISA cap)
MODES: tuple[tuple[str, bool, str | None], ...] = (
    ("fp32", False, None),
    ("bf16", True, None),
    ("bf16-avx512", True, "AVX512_CORE_BF16"),
)


def _worker_verbose(bf16: bool, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if bf16 else torch.float32
    x = torch.randn(4, 32, 16, 16).to(dtype).to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    conv: Any = torch.nn.Conv2d(32, 32, 3, padding=1)  # Any: the stubs lack memory_format
    conv = conv.to(dtype).to(memory_format=torch.channels_last)
    lin = torch.nn.Linear(32, 64).to(dtype)
    mkldnn: Any = torch.backends.mkldnn  # untyped in the stubs
    with mkldnn.verbose(mkldnn.VERBOSE_ON):
        mark("bf16" if bf16 else "fp32")
        y = conv(x)
        z = lin(y.permute(0, 2, 3, 1).reshape(-1, 32))
        z.float().sum().backward()
        mark("end")


def _timed(fn: Callable[[], object], reps: int) -> float:
    """Seconds per call of ``fn``, after two untimed calls."""
    for _ in range(2):
        fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def _worker_bench(bf16: bool, threads: int, steps: int, batch: int, size: int, reps: int) -> None:
    import torch
    import torchvision

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if bf16 else torch.float32
    out: dict[str, float] = {}

    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    out["matmul_gflops"] = 2 * size**3 / _timed(lambda: torch.mm(a, b), reps) / 1e9

    x = torch.randn(32, 256, 28, 28).to(dtype).to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    big: Any = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False)
    conv = big.to(dtype).to(memory_format=torch.channels_last)

    def conv_step() -> None:
        conv(x).float().sum().backward()

    flops = 3 * 2 * 32 * 28 * 28 * 256 * 256 * 9  # forward, backward data, backward weights
    out["conv_fwd_bwd_gflops"] = flops / _timed(conv_step, reps) / 1e9

    model = torchvision.models.resnet50(num_classes=1000).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9)
    images = torch.randn(batch, 3, 224, 224).to(memory_format=torch.channels_last)
    labels = torch.randint(0, 1000, (batch,))
    losses: list[float] = []

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(images)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        loss.backward()  # type: ignore[no-untyped-call,unused-ignore]
        opt.step()
        losses.append(float(loss))

    for _ in range(3):
        train_step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        train_step()
        times.append(time.perf_counter() - t0)
    times.sort()
    out["resnet50_images_per_s"] = batch / times[len(times) // 2]
    out["resnet50_first_loss"] = losses[0]
    out["resnet50_last_loss"] = losses[-1]
    print("RESULT " + json.dumps(out), flush=True)


def _spawn(args: list[str], cap: str | None, verbose: bool, timeout: float) -> str:
    env = dict(os.environ)
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    env.pop("DNNL_MAX_CPU_ISA", None)
    if cap:
        env["ONEDNN_MAX_CPU_ISA"] = cap
    if verbose:
        env["ONEDNN_VERBOSE"] = "1"
    done = subprocess.run(
        [sys.executable, __file__, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args} (cap {cap}) exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def _describe_cpu(out: Path) -> dict[str, object]:
    text = Path("/proc/cpuinfo").read_text()
    (out / "cpuinfo").write_text(text)
    info = parse_cpuinfo(text, "/proc/cpuinfo")
    print(
        f"cpu: {info.model_name} (family {info.family} model {info.model}),"
        f" {info.logical_cpus} logical CPUs, capability {info.capability.value},"
        f" bf16 flags {sorted(info.bf16_flags)}",
        flush=True,
    )
    return {
        "model_name": info.model_name,
        "family": info.family,
        "model": info.model,
        "capability": info.capability.value,
        "bf16_flags": sorted(info.bf16_flags),
        "logical_cpus": info.logical_cpus,
    }


def _proofs(out: Path) -> dict[str, object]:
    """One verbose step per mode: which oneDNN kernels each mode really ran."""
    print("\n| mode | oneDNN | cpu isa (oneDNN) | verdict | ISAs executed |\n|---|---|---|---|---|")
    proofs: dict[str, object] = {}
    for name, bf16, cap in MODES:
        args = ["--worker", "verbose", "--threads", "4"] + (["--bf16"] if bf16 else [])
        try:
            raw = _spawn(args, cap, verbose=True, timeout=300)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"| {name} | failed: {exc} | | | |", flush=True)
            continue
        (out / f"onednn-{name}.txt").write_text(raw)
        summary = parse_verbose(raw)
        message = summary.describe("bf16" if bf16 else "fp32")
        isas = ", ".join(f"{k} x{n}" for k, n in sorted(summary.isas().items()))
        proofs[name] = summary.to_dict("bf16" if bf16 else "fp32")
        print(
            f"| {name} | {summary.version} | {summary.cpu_isa} | {message} | {isas} |", flush=True
        )
    return proofs


def _bench_mode(
    ns: argparse.Namespace, name: str, bf16: bool, cap: str | None
) -> dict[str, float] | None:
    args = ["--worker", "bench", "--threads", str(ns.threads), "--steps", str(ns.steps)]
    args += ["--batch", str(ns.batch)] + (["--bf16"] if bf16 else [])
    try:
        raw = _spawn(args, cap, verbose=False, timeout=400)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"| {name} | failed: {exc} | | | |", flush=True)
        return None
    line = next((x for x in raw.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        print(f"| {name} | no RESULT line: {raw[-500:]!r} | | | |", flush=True)
        return None
    r: dict[str, float] = json.loads(line[len("RESULT ") :])
    print(
        f"| {name} | {r['matmul_gflops']:.0f} | {r['conv_fwd_bwd_gflops']:.0f} |"
        f" {r['resnet50_images_per_s']:.1f} | {r['resnet50_first_loss']:.3f} ->"
        f" {r['resnet50_last_loss']:.3f} |",
        flush=True,
    )
    return r


def _benches(ns: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Timed kernels and ResNet-50 steps per mode, then the ratios between modes."""
    print(
        f"\n| mode | matmul {ns.matmul_size} GFLOP/s | 3x3 conv fwd+bwd GFLOP/s | ResNet-50 train"
        f" images/s (batch {ns.batch}, {ns.threads} threads) | loss first -> last |"
        "\n|---|---:|---:|---:|---|"
    )
    bench: dict[str, dict[str, float]] = {}
    for name, bf16, cap in MODES:
        result = _bench_mode(ns, name, bf16, cap)
        if result is not None:
            bench[name] = result
    for num, den in (("bf16", "fp32"), ("bf16-avx512", "fp32"), ("bf16", "bf16-avx512")):
        if num in bench and den in bench:
            ratios = {
                k: bench[num][k] / bench[den][k]
                for k in ("matmul_gflops", "conv_fwd_bwd_gflops", "resnet50_images_per_s")
            }
            print(f"{num}/{den}: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    return bench


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=False, help="folder for the captures")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--steps", type=int, default=5, help="measured ResNet-50 steps")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--matmul-size", type=int, default=4096)
    parser.add_argument("--reps", type=int, default=10, help="timed kernel repetitions")
    parser.add_argument("--worker", choices=["verbose", "bench"], help=argparse.SUPPRESS)
    parser.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.worker == "verbose":
        _worker_verbose(ns.bf16, ns.threads)
        return 0
    if ns.worker == "bench":
        _worker_bench(ns.bf16, ns.threads, ns.steps, ns.batch, ns.matmul_size, ns.reps)
        return 0
    if ns.out is None:
        parser.error("--out DIR is required (the folder for the captures)")
    out: Path = ns.out
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"platform": platform.platform(), "threads": ns.threads}
    results["cpu"] = _describe_cpu(out)
    results["proof"] = _proofs(out)
    results["bench"] = _benches(ns)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
