"""Does the lone-step profile move the measured runs? Alternating sessions, one analysis.

    .venv/bin/python benchmarks/profile_ab.py collect DIR [--pairs 16] [-- PYTEST ARGS]
    .venv/bin/python benchmarks/profile_ab.py analyse DIR
    .venv/bin/python benchmarks/profile_ab.py scatter DIR

collect runs 2 x --pairs fresh-cluster sessions of `pytest perf/test_training.py::
test_training[fp32]` in the order ABBA ABBA ... (A = "on": the default, the kernel proof
is a profiled lone step at the run's batch; B = "off": --perf-no-step-profile), each
writing its report under DIR/NN-on or DIR/NN-off. Extra arguments after `--` go to every
session (default: --perf-profile smoke).

analyse reads those reports. It was fixed before the data it is run on (BENCHMARKS S):
- the unit is the session: a session's figure is the geometric mean of its runs' median
  images/s (the run is the unit within a session);
- the effect is the ratio of the on and off sessions' geometric means, with a 95% Welch
  interval on the log scale (two-sided);
- "agree within their intervals" holds when that interval covers 1;
- equivalence at +-3% (two one-sided tests at 5% each: the 90% interval inside
  [0.97, 1.03]) says whether the data can also rule out a 3% effect.
It also prints each session's profile cost (the lone step's seconds, from the report).

scatter (added after collecting, descriptive): how much one lone step's parts and wall
time scatter between the "on" sessions of unchanged code, and how often comparing two
such sessions would name a part or the step as grown under bf16perf.onednn.attribution's floor:
the false attributions a verdict's "what grew" clause would print.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

from scipy import stats as sps

MODES = ("on", "off")
EQUIVALENCE = 0.03


def abba(pairs: int) -> list[str]:
    """on off off on, repeated: each mode equally often early and late in every block."""
    block = ["on", "off", "off", "on"]
    return [block[i % 4] for i in range(2 * pairs)]


def collect(out: Path, pairs: int, extra: list[str]) -> None:
    args = extra or ["--perf-profile", "smoke"]
    (out / "EMPTY").mkdir(exist_ok=True)  # no stored baseline: the runs only
    for i, mode in enumerate(abba(pairs)):
        reports = out / f"{i:02d}-{mode}"
        cmd = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "perf/test_training.py::test_training[fp32]", *args,
            "--perf-baselines", str(out / "EMPTY"), "--perf-trend-confirm", "0",
            "--perf-reports", str(reports),
        ]  # fmt: skip
        if mode == "off":
            cmd.append("--perf-no-step-profile")
        rc = subprocess.run(cmd, check=False).returncode
        print(f"session {i:02d} {mode}: exit {rc}", flush=True)
        if rc not in (0, 10):
            raise SystemExit(f"session {i:02d} failed (exit {rc}); see its output above")


def _session(report_dir: Path) -> tuple[float, int, float | None]:
    """(geometric mean of the runs' medians, runs, the profile's seconds if it ran)."""
    path = report_dir / "latest" / "report.json"  # the session's report
    report = json.loads(path.read_text())
    figures = [r["median_images_per_second"] for r in report["runs"]]
    logs = [math.log(f) for f in figures]
    cost = None
    for run in report["runs"]:
        profile = (run.get("kernels") or {}).get("profile") or {}
        if profile.get("cost_s") is not None:
            cost = float(profile["cost_s"])
    return math.exp(statistics.fmean(logs)), len(figures), cost


def _welch(a: list[float], b: list[float], level: float) -> tuple[float, float, float]:
    diff = statistics.fmean(a) - statistics.fmean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(sps.t.ppf(0.5 + level / 2, df)) * math.sqrt(va + vb)
    return diff, diff - half, diff + half


def analyse(out: Path) -> None:
    means: dict[str, list[float]] = {m: [] for m in MODES}
    print("| session | mode | runs | geometric mean, images/s | profile, s |")
    print("| --- | --- | ---: | ---: | ---: |")
    for d in sorted(p for p in out.iterdir() if (p / "latest" / "report.json").exists()):
        mode = d.name.split("-", 1)[1]
        gm, n, cost = _session(d)
        means[mode].append(math.log(gm))
        shown = f"{cost:.1f}" if cost is not None else "-"
        print(f"| {d.name[:2]} | {mode} | {n} | {gm:.2f} | {shown} |")
    on, off = means["on"], means["off"]
    diff, low, high = _welch(on, off, 0.95)
    _, low90, high90 = _welch(on, off, 0.90)
    agree = low <= 0.0 <= high
    equivalent = math.log(1 - EQUIVALENCE) < low90 and high90 < math.log(1 + EQUIVALENCE)
    print(f"\nsessions: {len(on)} on, {len(off)} off")
    print(
        f"on/off ratio of session geometric means: {math.exp(diff):.3f}, "
        f"95% CI [{math.exp(low):.3f}, {math.exp(high):.3f}]; 90% CI "
        f"[{math.exp(low90):.3f}, {math.exp(high90):.3f}]"
    )
    print(f"agree within their intervals (95% CI covers 1): {'yes' if agree else 'no'}")
    print(f"equivalent within +-{EQUIVALENCE:.0%} (TOST at 5%): {'yes' if equivalent else 'no'}")


def scatter(out: Path) -> None:
    from bf16perf.onednn.attribution import grown_between

    profiles = []
    for d in sorted(p for p in out.iterdir() if p.name.endswith("-on")):
        report = json.loads((d / "latest" / "report.json").read_text())
        profiles.append(report["runs"][0]["kernels"]["profile"])
    names = sorted({part["name"] for p in profiles for part in p["parts"]})
    print("| lone step | sessions | median | log sd |")
    print("| --- | ---: | ---: | ---: |")
    series = {"wall time, ms": [p["step_s"] * 1000 for p in profiles]}
    for name in names:
        series[f"{name}, ms"] = [
            next(x["ms"] for x in p["parts"] if x["name"] == name)
            for p in profiles
            if any(x["name"] == name for x in p["parts"])
        ]
    for label, values in series.items():
        logs = [math.log(v) for v in values]
        sd = statistics.stdev(logs) if len(logs) > 1 else float("nan")
        print(f"| {label} | {len(values)} | {statistics.median(values):.1f} | {sd:.3f} |")
    pairs = [(a, b) for i, a in enumerate(profiles) for b in profiles[i + 1 :]]
    named = [grown_between(a, b) for a, b in pairs] + [grown_between(b, a) for a, b in pairs]
    false = sum(1 for g in named if g)
    print(
        f"\nordered pairs of unchanged sessions where 'what grew' names something: {false}"
        f" of {len(named)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["collect", "analyse", "scatter"])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("extra", nargs="*")
    ns = parser.parse_args()
    if ns.what == "collect":
        ns.dir.mkdir(parents=True, exist_ok=True)
        collect(ns.dir, ns.pairs, ns.extra)
    if ns.what == "scatter":
        scatter(ns.dir)
    else:
        analyse(ns.dir)


if __name__ == "__main__":
    main()
