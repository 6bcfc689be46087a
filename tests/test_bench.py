"""The step timer against the real pytest-benchmark: :data:`bf16perf.plugin.steptimer.STEP_TIMER`
relies on pytest-benchmark's runner calling the timer exactly twice a round (its private
``_make_runner``); this runs the real fixture so a release that changes that fails here,
loudly, instead of recording wrong step times."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

BODY = """
import pytest
from bf16perf.plugin.steptimer import STEP_TIMER

@pytest.mark.benchmark(timer=STEP_TIMER, min_rounds=1)
def test_replayed(benchmark):
    STEP_TIMER.load([0.5, 0.25, 1.0, 0.125])
    benchmark.pedantic(lambda: None, rounds=4, iterations=1)
"""


def test_the_replayed_steps_are_the_rounds_pytest_benchmark_records(tmp_path: Path) -> None:
    major = int(version("pytest-benchmark").split(".")[0])
    assert major == 5, (
        f"pytest-benchmark {version('pytest-benchmark')}: STEP_TIMER was verified against 5.x"
        " (two timer calls a round); check steptimer.py against the new runner, then this pin"
    )
    test = tmp_path / "test_replay.py"
    test.write_text(BODY)
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:cacheprovider",
         f"--benchmark-json={out}"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (bench,) = json.loads(out.read_text())["benchmarks"]
    assert bench["stats"]["rounds"] == 4
    assert bench["stats"]["data"] == pytest.approx([0.5, 0.25, 1.0, 0.125])
