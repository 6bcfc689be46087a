"""Workloads side by side on this machine, through the harness users run; prints Markdown.

    .venv/bin/python benchmarks/workload_compare.py [--workload resnet50-tf
        --workload resnet50-torch] [--repeats 2] [--single] [ARGS passed to pytest perf]

Each session is a real ``pytest perf/`` (default profile unless ARGS say otherwise) with
``--perf-repeats`` runs per variant and ``--perf-save-baseline`` into a scratch store, so
that nothing is judged or kept.  From its report it prints, per workload and precision, the
median run figure (images/s), the bf16/fp32 ratio of medians where both ran, and the
harness's time per run outside the program's steps (the run's wall time less every step,
warm-up included: worker start, imports, rendezvous, the barrier stage).  ``--single``
runs a second session on one worker with one core, and prints the distributed efficiency:
images/s of the cluster over workers x images/s of one worker on one core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


def session(workloads: list[str], repeats: int, extra: list[str], tmp: Path) -> dict[str, Any]:
    """One ``pytest perf`` session's report."""
    reports = tmp / "reports"
    command = [
        sys.executable, "-m", "pytest", "perf/test_training.py::test_training",
        "-p", "no:cacheprovider", "-q", "--perf-repeats", str(repeats), "--perf-save-baseline",
        "--perf-baselines", str(tmp / "baselines"), "--perf-reports", str(reports),
        "--perf-history", str(tmp / "history.jsonl"), *extra,
    ]  # fmt: skip
    for name in workloads:
        command += ["--perf-workload", name]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"pytest perf failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    report: dict[str, Any] = json.loads((reports / "latest" / "report.json").read_text())
    return report


def figures(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, float]]:
    """Per (workload, precision): median run figure and median time outside the steps."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in report["runs"]:
        key = (run["config"].get("workload", "resnet50-tf"), run["precision"])
        runs.setdefault(key, []).append(run)
    out = {}
    for key, group in runs.items():
        outside = []
        for run in group:
            steps = max(sum(w["warmup_times_s"]) + sum(w["step_times_s"]) for w in run["workers"])
            outside.append(run["wall_s"] - steps)
        out[key] = {
            "images_per_second": statistics.median(r["median_images_per_second"] for r in group),
            "runs": float(len(group)),
            "outside_s": statistics.median(outside),
            "wall_s": statistics.median(r["wall_s"] for r in group),
            "workers": float(len(group[0]["workers"])),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", action="append", default=[])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--single", action="store_true", help="also one worker on one core")
    args, extra = parser.parse_known_args()
    workloads = args.workload or ["resnet50-tf", "resnet50-torch"]
    with tempfile.TemporaryDirectory(prefix="bf16perf-wlc-") as tmp:
        cluster = figures(session(workloads, args.repeats, extra, Path(tmp, "a")))
        single = (
            figures(
                session(
                    workloads,
                    args.repeats,
                    [*extra, "--perf-workers", "1", "--perf-cores-per-worker", "1"],
                    Path(tmp, "b"),
                )
            )
            if args.single
            else {}
        )
    print(
        "| workload | precision | runs | median images/s | bf16/fp32 | run wall s |"
        " outside the steps s | 1 worker x 1 core images/s | efficiency |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (name, precision), f in sorted(cluster.items()):
        fp32 = cluster.get((name, "fp32"))
        ratio = (
            f"{f['images_per_second'] / fp32['images_per_second']:.2f}"
            if precision == "bf16" and fp32
            else ""
        )
        one = single.get((name, precision))
        eff = (
            f"{f['images_per_second'] / (f['workers'] * one['images_per_second']):.0%}"
            if one
            else ""
        )
        one_text = f"{one['images_per_second']:.2f}" if one else ""
        print(
            f"| {name} | {precision} | {f['runs']:.0f} | {f['images_per_second']:.2f} | {ratio}"
            f" | {f['wall_s']:.1f} | {f['outside_s']:.1f} | {one_text} | {eff} |"
        )


if __name__ == "__main__":
    main()
