"""The all-reduce timed where it runs (#35): a real training process's steps carry their
timed parts, they add up to the step, and a known delay on the all-reduce's path lands in
the all-reduce part, not in the compute."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bf16perf.onednn.decomposition import COVERED, median_step_parts
from bf16perf.workloads.config import PROFILES, TrainConfig
from bf16perf.workloads.results import WorkerResult

PAUSE_S = 0.25


def _train(config: TrainConfig, tmp: Path) -> WorkerResult:
    """One worker alone on the first CPU this process may use: its result."""
    cfg, out = tmp / "config.json", tmp / "out.json"
    cfg.write_text(config.to_json())
    cpu = str(min(os.sched_getaffinity(0)))
    env = {**os.environ, "TF_CONFIG": "{}", "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["taskset", "-c", cpu, sys.executable, "-m", "bf16perf.workloads.worker", str(cfg),
         str(out)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return WorkerResult.from_dict(json.loads(out.read_text()))


@pytest.mark.slow
def test_a_delay_on_the_allreduce_path_lands_in_the_allreduce_part(tmp_path: Path) -> None:
    config = replace(PROFILES["smoke"], warmup_steps=1, measured_steps=5)
    (tmp_path / "plain").mkdir()
    (tmp_path / "delayed").mkdir()
    plain = _train(config, tmp_path / "plain")
    delayed = _train(replace(config, inject_allreduce_sleep_s=PAUSE_S), tmp_path / "delayed")
    for result in (plain, delayed):
        assert len(result.step_parts_s) == len(result.step_times_s) == 5
        for wall, parts in zip(result.step_times_s, result.step_parts_s, strict=True):
            assert all(parts[k] >= 0 for k in ("compute", "allreduce", "apply")), parts
            # the graph's timed span covers the step: the host's own time is small
            assert abs(parts["host"]) <= COVERED * wall, (wall, parts)
    before = median_step_parts(plain.step_times_s, plain.step_parts_s)
    after = median_step_parts(delayed.step_times_s, delayed.step_parts_s)
    assert before is not None and after is not None
    grown = {k: after[k] - before[k] for k in before}
    assert PAUSE_S <= grown["allreduce"] < PAUSE_S + 0.05, (before, after)
    assert all(d >= PAUSE_S for d in (a["allreduce"] for a in delayed.step_parts_s)), delayed
    # it is not the compute's: the forward and backward pass did not grow by the delay
    assert abs(grown["compute"]) < PAUSE_S / 2, (before, after)
    assert statistics.median(delayed.step_times_s) - statistics.median(plain.step_times_s) > 0.2
