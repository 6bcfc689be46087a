"""Across network namespaces against loopback, at the same shape; prints Markdown.  Root.

    .venv/bin/python benchmarks/multihost.py [--rounds 2] [--repeats 3] [ARGS for pytest perf]

Each round runs two real ``pytest perf/`` sessions (smoke profile unless ARGS say otherwise,
fp32 training, 2 workers x 1 CPU), alternating: the multi-host cluster of
``tests/test_multihost.py`` (``bf16perf master`` and two pinned ``bf16perf worker``s, each in
its own network namespace, joined by a bridge; the driver beside the master), then the
local loopback cluster.  Per session: the median run figure, and per step the time a
worker spent not computing (its step time x (1 - busy share): the all-reduce and the wait
for the slower peer), as medians over runs and workers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))

from tests.netns import namespaces, spark_hosts  # noqa: E402
from tests.perfrun import FP32, perf_command  # noqa: E402


def figures(report: dict[str, Any]) -> tuple[float, float]:
    """(median run figure, median non-computing time per step, s) of the fp32 runs."""
    runs = [r for r in report["runs"] if r["precision"] == "fp32"]
    waits = [
        statistics.median(w["step_times_s"]) * (1 - w["busy_share"])
        for r in runs
        for w in r["workers"]
        if w.get("busy_share") is not None
    ]
    return statistics.median(r["median_images_per_second"] for r in runs), statistics.median(waits)


def perf(tmp: Path, extra: list[str], prefix: list[str], env: dict[str, str]) -> dict[str, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    reports = tmp / "reports"
    command = perf_command(
        "--perf-repeats", "3", "--perf-save-baseline", "--perf-no-probe",
        "--perf-baselines", str(tmp / "baselines"), "--perf-reports", str(reports),
        "--perf-history", str(tmp / "history.jsonl"),
        "--perf-workers", "2", "--perf-cores-per-worker", "1", *extra,
        tests=(FP32,),
    )  # fmt: skip
    done = subprocess.run(
        [*prefix, *command], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"pytest perf failed ({done.returncode}):\n{done.stdout[-3000:]}")
    report: dict[str, Any] = json.loads((reports / "latest" / "report.json").read_text())
    return report


def across_namespaces(tmp: Path, extra: list[str]) -> dict[str, Any]:
    env = dict(os.environ)
    with namespaces("b") as hosts:
        cluster = spark_hosts(hosts, tmp, env)
        return perf(
            tmp,
            [*extra, "--spark-master", cluster.url, "--perf-spark-secret-file",
             str(cluster.secret)],
            hosts.command("m", []),
            dict(env, SPARK_LOCAL_IP=cluster.master),
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args, extra = parser.parse_known_args()
    rows = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="bf16perf-mh-") as tmp:
            ns = figures(across_namespaces(Path(tmp, "ns"), extra))
            lo = figures(perf(Path(tmp, "lo"), extra, [], dict(os.environ)))
        rows += [(i + 1, "namespaces (bridge)", *ns), (i + 1, "loopback", *lo)]
    print("| round | cluster | median images/s | not computing per step, s |")
    print("| ---: | --- | ---: | ---: |")
    for r, name, ips, wait in rows:
        print(f"| {r} | {name} | {ips:.2f} | {wait:.3f} |")


if __name__ == "__main__":
    main()
