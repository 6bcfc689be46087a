"""Self-validation of the harness on this machine; each command prints a Markdown table.

    .venv/bin/python benchmarks/run.py ceiling
    .venv/bin/python benchmarks/run.py changepoints   (synthetic nightly series, no measurement)
    .venv/bin/python benchmarks/run.py distribution [--image-size 224 --batch 16 --steps 8
                                                     --repeats 3]
    .venv/bin/python benchmarks/run.py allreduce [--steps 8 --repeats 2]
    .venv/bin/python benchmarks/run.py noise [--sessions 8 --runs 3 --steps 8 --image-size 32]
    .venv/bin/python benchmarks/run.py noise --from-json F   (re-analyse saved figures)
    .venv/bin/python benchmarks/run.py sensitivity [--tries 2 --pairs 8 --levels 0.05 0.10]

ceiling: bf16/fp32 GFLOP/s of a large matmul and a ResNet 3x3 convolution (forward +
backward), single process: the practical upper bound of the bf16 speedup.
distribution: single-process TensorFlow against the Spark run on the same cores, same
global batch, per precision; cluster bring-up; time outside measured steps.
allreduce: fp32, bf16, and bf16 with its gradients all-reduced in bf16, interleaved: what
halving the all-reduce's bytes buys the bf16 speedup.
noise: `bf16perf calibrate` (A/A sessions on fresh clusters: the spread within and between
sessions, saved beside the baselines as <key>.noise.json, which every stored verdict
reads); with --from-json, the false alarms of the stored-baseline and A/B rules
(bf16perf.verdicts, exactly as users get them) over disjoint and sliding groups of A/A
runs measured before.
sensitivity: A/B decisions of --pairs interleaved pairs whose candidate runs with
--perf-inject-slowdown at each level: detection rate against the printed detectable drop.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from aa_rules import aa_tables  # benchmarks/ is the script's own directory
from ceiling import ceiling
from trend_sim import changepoint_table

from bf16perf.cluster.standalone import SparkStandaloneCluster
from bf16perf.machine.lock import LockError, MachineLock
from bf16perf.machine.pinning import make_plan, read_topology
from bf16perf.stats.figures import run_figure
from bf16perf.verdicts import ab_rule, balanced_order
from bf16perf.verdicts.outcomes import Outcome
from bf16perf.workloads.config import PROFILES, Precision, TrainConfig
from bf16perf.workloads.launch import run_training
from bf16perf.workloads.results import RunResult


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
            [sys.executable, "-m", "bf16perf.workloads.worker", str(cfg), str(out)],
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
                spark_ips[precision].append(run.figure)
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
    out = []
    for i in range(n):
        out.append(run_training(spark, config, workers))
        print(f"run {i + 1}/{n}: {out[-1].figure:.3f} images/s", flush=True)
    return out


def _config(args: argparse.Namespace) -> TrainConfig:
    base = PROFILES["smoke"] if args.image_size <= 64 else PROFILES["default"]
    return replace(base, image_size=args.image_size, measured_steps=args.steps)


def noise(args: argparse.Namespace) -> None:
    """This machine's noise is ``bf16perf calibrate``'s to measure (fresh-cluster A/A
    sessions: the spread within a session and between sessions, saved beside the
    baselines); ``--from-json``: the rules users get on A/A run figures measured before
    (disjoint and sliding groups)."""
    if args.from_json:
        figures = json.loads(Path(args.from_json).read_text())["figures"]
        aa_tables(figures, repeats=args.repeats, pairs=args.pairs, threshold=args.threshold)
        return
    from bf16perf.console import main as bf16perf

    argv = ["calibrate", "--sessions", str(args.sessions), "--runs", str(args.runs)]
    argv += ["--baselines", args.baselines, *([] if args.save else ["--no-save"])]
    argv += ["--", "--perf-profile", "smoke", "--perf-image-size", str(args.image_size)]
    argv += ["--perf-steps", str(args.steps)]
    raise SystemExit(bf16perf(argv))


def sensitivity(args: argparse.Namespace) -> None:
    """A/B mode as users get it: reference and candidate runs alternate in balanced random
    order, the candidate with --perf-inject-slowdown; per level, decisions of --pairs pairs."""
    config = _config(args)
    levels = [float(x) for x in args.levels]
    cluster, spark, _ = _cluster()
    workers = cluster.plan.workers
    results: dict[float, list[tuple[Outcome, float, float]]] = {lv: [] for lv in levels}
    try:
        for attempt in range(args.tries):
            for level in levels:
                order = balanced_order(args.pairs, f"sens-{attempt}-{level}")
                cand: list[float] = []
                ref: list[float] = []
                for first in order:
                    sides = (0.0, level) if first == "reference" else (level, 0.0)
                    for inj in sides:
                        run = run_training(spark, replace(config, inject_slowdown=inj), workers)
                        fig = run_figure(run.images_per_second)
                        (cand if inj == level else ref).append(fig)
                v = ab_rule(cand, ref, max_regression=args.threshold, order=order)
                print(f"try {attempt + 1}, {level:.0%}: {v.detail}", flush=True)
                results[level].append((v.outcome, v.test.ratio, v.mde))
    finally:
        spark.stop()  # type: ignore[attr-defined]
        cluster.stop()
    print(
        f"\nA/B, {args.pairs} pairs per decision, {config.image_size}x{config.image_size},"
        f" {config.measured_steps} measured steps, threshold {args.threshold:.0%}\n"
    )
    print("| injected | decisions | flagged | median HL ratio | median printed MDE |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for level, rows in results.items():
        hits = sum(o is Outcome.REGRESSION for o, _, _ in rows)
        ratio = statistics.median(r for _, r, _ in rows)
        mde = statistics.median(m for _, _, m in rows)
        print(f"| {level:.0%} | {len(rows)} | {hits} | {ratio:.3f} | {mde:.1%} |")


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
                ips[k].append(run.figure)
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
    sub.add_parser("changepoints")
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
        p.add_argument("--steps", type=int, default=8)
        p.add_argument("--image-size", type=int, default=32)
        p.add_argument("--pairs", type=int, default=8, help="A/B pairs per decision")
        p.add_argument("--threshold", type=float, default=0.05)
    n = sub.choices["noise"]
    n.add_argument("--sessions", type=int, default=8, help="A/A sessions (bf16perf calibrate)")
    n.add_argument("--runs", type=int, default=3, help="runs a session")
    n.add_argument("--repeats", type=int, default=3, help="runs per side, stored rule")
    n.add_argument("--baselines", default="baselines", help="where the noise file goes")
    n.add_argument("--no-save", dest="save", action="store_false")
    n.add_argument("--from-json", default=None, help="analyse saved figures, run nothing")
    s = sub.choices["sensitivity"]
    s.add_argument("--tries", type=int, default=2)
    s.add_argument("--levels", nargs="+", default=["0.05", "0.10"])
    args = parser.parse_args()
    commands = {
        "ceiling": ceiling,
        "changepoints": lambda _: changepoint_table(),
        "distribution": distribution,
        "allreduce": allreduce,
        "noise": noise,
        "sensitivity": sensitivity,
    }
    if args.what == "changepoints" or args.what == "noise":  # calibrate takes the lock
        commands[args.what](args)  # arithmetic only: no measurement, no lock
        return
    # the same lock as a perf session: never measure beside another session or benchmark
    try:
        with MachineLock(None, timeout_s=600):
            commands[args.what](args)
    except LockError as exc:
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    main()
