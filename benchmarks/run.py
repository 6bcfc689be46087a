"""Self-validation of the harness on this machine; each command prints a Markdown table.

    .venv/bin/python benchmarks/run.py ceiling
    .venv/bin/python benchmarks/run.py distribution [--image-size 224 --batch 16 --steps 8
                                                     --repeats 3]
    .venv/bin/python benchmarks/run.py allreduce [--steps 8 --repeats 2]
    .venv/bin/python benchmarks/run.py noise [--runs 8 --steps 16 --image-size 32]
    .venv/bin/python benchmarks/run.py sensitivity [--runs 4 --steps 16 --image-size 32]

ceiling: bf16/fp32 GFLOP/s of a large matmul and a ResNet 3x3 convolution (forward +
backward), single process: the practical upper bound of the bf16 speedup.
distribution: single-process TensorFlow against the Spark run on the same cores, same
global batch, per precision; cluster bring-up; time outside measured steps.
allreduce: fp32, bf16, and bf16 with its gradients all-reduced in bf16, interleaved: what
halving the all-reduce's bytes buys the bf16 speedup.
noise: A/A runs of one workload on one cluster: step-time CV and the false-alarm rate of the
regression rule over every ordered pair of runs.
sensitivity: runs with --perf-inject-slowdown 3%, 5%, 10% against the A/A runs: detection
rate of the regression rule.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bf16perf.cluster import SparkStandaloneCluster
from bf16perf.plan import make_plan, read_topology
from bf16perf.stats import compare_throughput
from bf16perf.workload.config import PROFILES, Precision, RunResult, TrainConfig
from bf16perf.workload.launch import run_training

CEILING = r"""
import sys, time, json
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[1]))
tf.config.threading.set_inter_op_parallelism_threads(1)
out = {}
for name, dtype in (("fp32", tf.float32), ("bf16", tf.bfloat16)):
    a = tf.cast(tf.random.normal([2048, 2048]), dtype)
    b = tf.cast(tf.random.normal([2048, 2048]), dtype)
    mm = tf.function(lambda: tf.matmul(a, b))
    x = tf.cast(tf.random.normal([16, 28, 28, 128]), dtype)
    w = tf.Variable(tf.cast(tf.random.normal([3, 3, 128, 128]), dtype))
    @tf.function
    def conv():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.conv2d(x, w, 1, "SAME")
            s = tf.reduce_sum(tf.cast(y, tf.float32))
        return tape.gradient(s, [x, w])
    for label, fn, flops in (("matmul 2048", mm, 2 * 2048**3),
                             ("conv3x3 128->128 28x28 b16 fwd+bwd", conv,
                              3 * 2 * 16 * 28 * 28 * 128 * 128 * 9)):
        fn()
        times = []
        for _ in range(5):
            t0 = time.perf_counter(); r = fn()
            _ = [t.numpy() for t in (r if isinstance(r, list) else [r])]
            times.append(time.perf_counter() - t0)
        out.setdefault(label, {})[name] = flops / sorted(times)[2] / 1e9  # median of 5
print("RESULT " + json.dumps(out))
"""


def ceiling(args: argparse.Namespace) -> None:
    threads = len(os.sched_getaffinity(0))
    proc = subprocess.run(
        [sys.executable, "-c", CEILING, str(threads)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    print(f"| kernel ({threads} threads) | fp32 GFLOP/s | bf16 GFLOP/s | bf16/fp32 |")
    print("| --- | ---: | ---: | ---: |")
    for label, r in result.items():
        print(f"| {label} | {r['fp32']:.1f} | {r['bf16']:.1f} | {r['bf16'] / r['fp32']:.2f}x |")


def _cluster() -> tuple[SparkStandaloneCluster, object, float]:
    t0 = time.monotonic()
    cluster = SparkStandaloneCluster(make_plan(read_topology()), Path(tempfile.mkdtemp()))
    cluster.start(wait_workers=False)
    spark = cluster.session()
    cluster.wait_workers()
    return cluster, spark, time.monotonic() - t0


def _single_process(config: TrainConfig, batch: int) -> dict[str, float]:
    """One TF process on all this process's CPUs, at the same global batch."""
    one = replace(config, batch_per_worker=batch, intra_op_threads=len(os.sched_getaffinity(0)))
    with tempfile.TemporaryDirectory() as tmp:
        cfg, out = Path(tmp, "c.json"), Path(tmp, "r.json")
        cfg.write_text(one.to_json())
        t0 = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "bf16perf.workload.worker", str(cfg), str(out)],
            check=True,
            capture_output=True,
            env=dict(os.environ, TF_CONFIG="{}", TF_CPP_MIN_LOG_LEVEL="2"),
        )
        wall = time.monotonic() - t0
        r = json.loads(out.read_text())
    return {
        "ips": statistics.median(batch / t for t in r["step_times_s"]),
        "measured_s": sum(r["step_times_s"]),
        "wall_s": wall,
    }


def distribution(args: argparse.Namespace) -> None:
    """Alternates single process and Spark, per precision, ``--repeats`` times: this VM's
    speed drifts by 10% over minutes, so only pairs measured side by side are compared."""
    base = replace(
        PROFILES["default"],
        image_size=args.image_size,
        batch_per_worker=args.batch,
        measured_steps=args.steps,
        warmup_steps=2,
    )
    cluster, spark, up = _cluster()
    single: dict[str, list[float]] = {p: [] for p in args.precisions}
    spark_ips: dict[str, list[float]] = {p: [] for p in args.precisions}
    walls: dict[str, list[tuple[float, float]]] = {p: [] for p in args.precisions}
    try:
        for _ in range(args.repeats):
            for precision in args.precisions:
                config = base.with_precision(Precision(precision))
                single[precision].append(
                    _single_process(config, args.batch * cluster.plan.workers)["ips"]
                )
                run = run_training(spark, config, cluster.plan.workers)
                spark_ips[precision].append(run.median_images_per_second)
                walls[precision].append((run.wall_s, sum(run.step_times_s)))
    finally:
        spark.stop()  # type: ignore[attr-defined]
        cluster.stop()
    print(
        f"cluster bring-up to all executors: {up:.1f} s;"
        f" {cluster.plan.describe()}; {base.image_size}x{base.image_size},"
        f" global batch {args.batch * cluster.plan.workers}, {args.steps} measured steps,"
        f" {args.repeats} alternating repeats (medians of per-run medians)\n"
    )
    print(
        "| precision | single process images/s | Spark images/s | efficiency (median of"
        " pairs; min..max) | Spark run wall s | of which measured steps s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    med = statistics.median
    for p in args.precisions:
        eff = [s / o for s, o in zip(spark_ips[p], single[p], strict=True)]
        print(
            f"| {p} | {med(single[p]):.2f} | {med(spark_ips[p]):.2f} |"
            f" {med(eff):.2f} ({min(eff):.2f}..{max(eff):.2f}) |"
            f" {med(w for w, _ in walls[p]):.1f} | {med(m for _, m in walls[p]):.1f} |"
        )
    if "fp32" in single and "bf16" in single:
        for label, d in (("single process", single), ("Spark", spark_ips)):
            ratios = [b / f for b, f in zip(d["bf16"], d["fp32"], strict=True)]
            print(
                f"\nbf16/fp32, {label}: {med(ratios):.3f}x"
                f" ({', '.join(f'{r:.3f}' for r in ratios)})",
                end="",
            )
        print()


def _runs(spark: object, config: TrainConfig, workers: int, n: int) -> list[RunResult]:
    return [run_training(spark, config, workers) for _ in range(n)]


def noise(args: argparse.Namespace) -> None:
    config = replace(PROFILES["smoke"], image_size=args.image_size, measured_steps=args.steps)
    cluster, spark, _ = _cluster()
    try:
        runs = _runs(spark, config, cluster.plan.workers, args.runs)
    finally:
        spark.stop()  # type: ignore[attr-defined]
        cluster.stop()
    _noise_table(runs, config)


def _noise_table(runs: list[RunResult], config: TrainConfig) -> None:
    cvs = [statistics.stdev(r.step_times_s) / statistics.mean(r.step_times_s) for r in runs]
    medians = [r.median_images_per_second for r in runs]
    pairs = list(itertools.permutations(range(len(runs)), 2))
    alarms = sum(
        compare_throughput(runs[i].images_per_second, runs[j].images_per_second).regression
        for i, j in pairs
    )
    print(
        f"{len(runs)} A/A runs, {config.image_size}x{config.image_size},"
        f" {config.measured_steps} measured steps each\n"
    )
    print(
        "| runs | median images/s (min..max) | step-time CV (median) | ordered pairs |"
        " false alarms (5%, p<0.01) | rate |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    print(
        f"| {len(runs)} | {statistics.median(medians):.2f} ({min(medians):.2f}..{max(medians):.2f})"
        f" | {statistics.median(cvs):.3f} | {len(pairs)} | {alarms} |"
        f" {alarms / len(pairs):.1%} |"
    )


def sensitivity(args: argparse.Namespace) -> None:
    """Interleaved: baseline, 3%, 5%, 10%, baseline, 3%, ... so that the machine's slow
    drift (several % over minutes here) hits every level alike."""
    config = replace(PROFILES["smoke"], image_size=args.image_size, measured_steps=args.steps)
    levels = (0.03, 0.05, 0.10)
    cluster, spark, _ = _cluster()
    workers = cluster.plan.workers
    runs: dict[float, list[RunResult]] = {0.0: [], **{level: [] for level in levels}}
    try:
        for _ in range(args.runs):
            for level in (0.0, *levels):
                runs[level].append(
                    run_training(spark, replace(config, inject_slowdown=level), workers)
                )
    finally:
        spark.stop()  # type: ignore[attr-defined]
        cluster.stop()
    base = runs[0.0]
    print(
        f"{args.runs} rounds of baseline, 3%, 5%, 10% runs, interleaved;"
        f" {config.image_size}x{config.image_size}, {config.measured_steps} measured steps\n"
    )
    print("| injected slowdown | measured change (median) | comparisons | detected | rate |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for level in (0.0, *levels):
        pairs = [(s, b) for s in runs[level] for b in base if s is not b]
        hits = sum(
            compare_throughput(s.images_per_second, b.images_per_second).regression
            for s, b in pairs
        )
        change = statistics.median(
            s.median_images_per_second / b.median_images_per_second - 1 for s, b in pairs
        )
        label = f"{level:.0%}" if level else "0% (A/A)"
        print(f"| {label} | {change:+.1%} | {len(pairs)} | {hits} | {hits / len(pairs):.0%} |")


def allreduce(args: argparse.Namespace) -> None:
    """fp32, bf16, and bf16 with gradients all-reduced in bf16, interleaved on one cluster."""
    base = replace(PROFILES["default"], measured_steps=args.steps)
    bf16 = base.with_precision(Precision.BF16)
    configs = {"fp32": base, "bf16": bf16, "bf16 allreduce": replace(bf16, bf16_allreduce=True)}
    cluster, spark, _ = _cluster()
    ips: dict[str, list[float]] = {k: [] for k in configs}
    worst_loss_gap = 0.0
    try:
        for _ in range(args.repeats):
            runs = {k: run_training(spark, c, cluster.plan.workers) for k, c in configs.items()}
            for k, run in runs.items():
                ips[k].append(run.median_images_per_second)
            gap = max(
                abs(a - b)
                for a, b in zip(runs["bf16 allreduce"].losses, runs["bf16"].losses, strict=True)
            )
            worst_loss_gap = max(worst_loss_gap, gap)
    finally:
        spark.stop()  # type: ignore[attr-defined]
        cluster.stop()
    print(
        f"{args.repeats} interleaved rounds of fp32, bf16, bf16 with bf16 all-reduce;"
        f" {base.image_size}x{base.image_size}, {base.batch_per_worker} images per worker,"
        f" {args.steps} measured steps; largest loss difference between the two bf16 runs"
        f" of a round: {worst_loss_gap:.4f}\n"
    )
    print("| round | fp32 | bf16 | bf16, bf16 all-reduce | bf16/fp32 | with bf16 all-reduce |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for i in range(args.repeats):
        f, b, r = ips["fp32"][i], ips["bf16"][i], ips["bf16 allreduce"][i]
        print(f"| {i + 1} | {f:.2f} | {b:.2f} | {r:.2f} | {b / f:.3f} | {r / f:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("ceiling")
    d = sub.add_parser("distribution")
    d.add_argument("--image-size", type=int, default=224)
    d.add_argument("--batch", type=int, default=16, help="per worker")
    d.add_argument("--steps", type=int, default=8)
    d.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    d.add_argument("--repeats", type=int, default=3)
    r = sub.add_parser("allreduce")
    r.add_argument("--steps", type=int, default=8)
    r.add_argument("--repeats", type=int, default=2)
    for name in ("noise", "sensitivity"):
        p = sub.add_parser(name)
        p.add_argument("--runs", type=int, default=8 if name == "noise" else 4)
        p.add_argument("--steps", type=int, default=16)
        p.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args()
    commands = {
        "ceiling": ceiling,
        "distribution": distribution,
        "allreduce": allreduce,
        "noise": noise,
        "sensitivity": sensitivity,
    }
    commands[args.what](args)


if __name__ == "__main__":
    main()
