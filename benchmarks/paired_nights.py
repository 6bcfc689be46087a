"""Real paired nights at smoke size (BENCHMARKS.md R2): A/A nights against a reference made
from this environment, then nights with the candidate slowed by 10%, then nights where one
change hits both stacks; each night's exit code and paired verdict, as a user's nightly
would give them.

    .venv/bin/bf16perf reference --dir DIR/references create aa
    .venv/bin/python benchmarks/paired_nights.py collect DIR [--aa 10] [--slow 3] [--both 2]
    .venv/bin/python benchmarks/paired_nights.py table DIR

The plan and what is counted were fixed before the first night: exit codes per phase; the
night the injected 10% first fails; the machine-drift notice and the exit code on the
both-stacks nights (``TF_ENABLE_ONEDNN_OPTS=1 ONEDNN_MAX_CPU_ISA=SSE41`` in the session's
environment, which the executors and so both stacks' runs inherit: TensorFlow's fp32
convolutions then run in oneDNN's SSE4.1 kernels, BENCHMARKS.md S4).  A night is one
fresh ``pytest perf/`` session, as ``scripts/nightly.sh`` runs it (without
``--perf-require-bf16``, which a host without bf16 refuses).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BOTH = {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "SSE41"}
#: Added after the planned nights (R2 says why): a co-tenant, one busy process pinned to
#: each CPU for the whole session, which slows both stacks' runs alike.
HOG = "while True: pass"


def _night(root: Path, index: int, phase: str) -> dict[str, Any]:
    args = [
        sys.executable, "-m", "pytest", "perf/", "-p", "no:cacheprovider", "-q",
        "--perf-profile", "smoke", "--perf-reference", "aa",
        "--perf-references", str(root / "references"),
        "--perf-reports", str(root / "reports"),
        "--perf-history", str(root / "history.jsonl"),
        "--perf-baselines", str(root / "baselines"),
    ]  # fmt: skip
    env = dict(os.environ)
    if phase == "slow":
        args += ["--perf-inject-slowdown", "0.1"]
    if phase == "both":
        env.update(BOTH)
    hogs = [
        subprocess.Popen(["taskset", "-c", str(cpu), sys.executable, "-c", HOG])
        for cpu in sorted(os.sched_getaffinity(0))
        if phase == "hog"
    ]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    took = time.monotonic() - t0
    (root / "logs").mkdir(exist_ok=True)
    (root / "logs" / f"{index:03d}-{phase}.txt").write_text(proc.stdout + proc.stderr)
    report = json.loads((root / "reports" / "latest" / "report.json").read_text())
    paired = [d for d in report["decisions"] if d["check"] == "paired throughput"]
    drift = [line for line in proc.stdout.splitlines() if "the machine is slower" in line]
    return {
        "night": index,
        "phase": phase,
        "exit": proc.returncode,
        "seconds": round(took, 1),
        "outcome": paired[0]["outcome"] if paired else None,
        "tonight": paired[0]["figures"]["tonight"] if paired else None,
        "window": paired[0]["figures"]["window"] if paired else None,
        "pair_sigma": paired[0]["figures"]["pair_sigma"] if paired else None,
        "candidate": paired[0]["figures"]["candidate_runs"] if paired else None,
        "reference": paired[0]["figures"]["reference_runs"] if paired else None,
        "drift_notice": drift[0] if drift else None,
    }


def collect(root: Path, aa: int, slow: int, both: int, hog: int = 0) -> None:
    (root / "baselines").mkdir(parents=True, exist_ok=True)
    out = root / "nights.jsonl"
    done = out.read_text().splitlines() if out.exists() else []
    plan = ["aa"] * aa + ["slow"] * slow + ["both"] * both + ["hog"] * hog
    for index, phase in enumerate(plan):
        if index < len(done):
            continue
        night = _night(root, index, phase)
        with out.open("a") as fh:
            fh.write(json.dumps(night) + "\n")
        print(json.dumps(night), flush=True)


def table(root: Path) -> None:
    nights = [json.loads(x) for x in (root / "nights.jsonl").read_text().splitlines()]
    print("| night | phase | exit | verdict | tonight | last nights | pair spread | drift | s |")
    print("| ---: | --- | ---: | --- | ---: | ---: | ---: | --- | ---: |")
    for n in nights:
        t, w = n["tonight"] or {}, n["window"] or {}
        window = f"{w['ratio']:.3f} (p={w['p']:.2g})" if w else "-"
        print(
            f"| {n['night']} | {n['phase']} | {n['exit']} | {n['outcome']} |"
            f" {t.get('ratio', 0):.3f} (p={t.get('p', 1):.2g}) | {window} |"
            f" {n['pair_sigma'] or 0:.1%} | {'yes' if n['drift_notice'] else 'no'} |"
            f" {n['seconds']:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["collect", "table"])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--aa", type=int, default=10)
    parser.add_argument("--slow", type=int, default=3)
    parser.add_argument("--both", type=int, default=2)
    parser.add_argument("--hog", type=int, default=0)
    ns = parser.parse_args()
    if ns.what == "collect":
        collect(ns.dir, ns.aa, ns.slow, ns.both, ns.hog)
    else:
        table(ns.dir)


if __name__ == "__main__":
    main()
