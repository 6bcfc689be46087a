"""The history page of docs/history.png: BENCHMARKS.md W3's 16 real smoke sessions (Zen 3,
fp32, 3 runs each, 10% slower from session 9 by --perf-inject-slowdown 0.1), one figure a
session as W3 recorded it (the geometric mean of its 3 runs), written as a history and drawn
by ``bf16perf history``.

    .venv/bin/python benchmarks/history_demo.py DIR   # DIR/history.jsonl, DIR/history.html
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bf16perf.console import main as bf16perf

#: W3's session figures, images/s, in session order
W3 = (
    10.51,
    9.84,
    10.49,
    9.86,
    9.69,
    9.10,
    9.56,
    9.28,
    9.04,
    8.23,
    8.44,
    8.76,
    8.44,
    8.32,
    8.11,
    8.66,
)


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, figure in enumerate(W3, 1):
        lines.append({
            "schema_version": 2,
            "started": f"2026-11-27T{i // 2 + 4:02d}:{(i % 2) * 30:02d}:00Z",
            "fingerprint": "amd-epyc-none-2cpu-39793c9d",
            "versions": {"tensorflow": "2.21.0", "onednn": "v3.7.3"},
            "labels": {"session": str(i), "slowdown": "0.1" if i >= 9 else "0"},
            "series": {"resnet50-32px-b4-s8-2x1-synthetic-fp32": {
                "run_figures": [figure], "kernel_isa": "avx2"}},
            "ratios": {},
        })  # fmt: skip
    history = out / "history.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return bf16perf(["history", str(history)])


if __name__ == "__main__":
    sys.exit(0 if main(Path(sys.argv[1])) in (0, 10) else 1)
