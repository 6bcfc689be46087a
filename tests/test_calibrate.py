"""``bf16perf calibrate``: the two spreads recovered from simulated sessions, a killed
calibration resumed, disturbed sessions left out, and the real command on two tiny
sessions of ``pytest perf/``."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bf16perf.calibration.noise import calibrate, estimate, session_from_report
from bf16perf.calibration.replay import detectable_drops
from bf16perf.store.baselines import BaselineStore
from bf16perf.store.calibration_session import CalibrationSession
from bf16perf.store.report_json import Report
from tests.perfrun import ROOT

GOLDEN = ROOT / "tests" / "data" / "golden" / "in" / "reports"


def _sessions(
    rng: np.random.Generator, k: int, r: int, tau: float, sigma: float
) -> list[list[float]]:
    return [list(10 * np.exp(rng.normal(0, tau) + rng.normal(0, sigma, r))) for _ in range(k)]


def test_estimate_recovers_both_spreads_and_covers_them() -> None:
    rng = np.random.default_rng(5)
    covered_sigma = covered_tau = 0
    trials = 300
    for _ in range(trials):
        noise = estimate(_sessions(rng, 12, 4, tau=0.044, sigma=0.057))
        covered_sigma += noise.sigma_ci[0] <= 0.057 <= noise.sigma_ci[1]
        covered_tau += noise.tau_ci[0] <= 0.044 <= noise.tau_ci[1]
        assert noise.df == 36 and noise.session_df == 11 and noise.runs == 48
    assert covered_sigma / trials >= 0.92 and covered_tau / trials >= 0.90
    big = estimate(_sessions(rng, 400, 4, tau=0.044, sigma=0.057))
    assert big.sigma == pytest.approx(0.057, rel=0.05) and big.tau == pytest.approx(0.044, rel=0.1)
    quiet = estimate(_sessions(rng, 30, 4, tau=0.0, sigma=0.057))
    assert quiet.tau_ci[0] == 0.0 and quiet.tau < 0.03
    with pytest.raises(ValueError, match="at least 2 sessions of at least 2 runs"):
        estimate([[1.0, 2.0]])


def test_detectable_drops_name_every_way_of_judging() -> None:
    noise = estimate(_sessions(np.random.default_rng(6), 40, 3, tau=0.044, sigma=0.057))
    lines = detectable_drops(noise, runs=3, threshold=0.05, alpha=0.01)
    assert lines[0].startswith("nightly, one session of 3 runs") and "no number of runs" in lines[0]
    assert "against a baseline of 7 sessions" in lines[1]
    assert lines[2].startswith("A/B with 8 pairs") and "exact signed-rank" in lines[2]
    assert "bf16 gate at 3 pairs" in lines[3]


def _fake(figures: dict[int, list[float]], calls: list[int]) -> Any:
    def run(state: Path, index: int, runs: int, extra: Sequence[str]) -> CalibrationSession:
        calls.append(index)
        if index == 3 and len(calls) == 3:
            raise KeyboardInterrupt  # killed mid-calibration
        session = CalibrationSession(index, figures[index], "w", "m", {"id": "f"}, None)
        path = state / "sessions" / f"{index:03d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(session.to_dict()))
        return session

    return run


def test_a_killed_calibration_resumes_with_the_sessions_it_kept(tmp_path: Path) -> None:
    figures = {i: [10.0 + i, 10.1 + i] for i in range(1, 5)}
    calls: list[int] = []
    said: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        calibrate(tmp_path, 4, 2, run=_fake(figures, calls), say=said.append)
    assert calls == [1, 2, 3] and len(list((tmp_path / "sessions").glob("*.json"))) == 2
    said.clear()
    sessions = calibrate(tmp_path, 4, 2, run=_fake(figures, calls), say=said.append)
    assert calls == [1, 2, 3, 3, 4]  # only the missing sessions ran
    assert [s.index for s in sessions] == [1, 2, 3, 4]
    assert said[0] == f"resuming: 2 of 4 sessions kept in {tmp_path / 'sessions'}"
    assert any("min left" in line for line in said)  # an ETA once a session was timed


def _report(foreign: float) -> Report:
    """A real smoke session's report (two fp32 runs) with ``foreign`` CPU time in every
    worker's window."""
    window = {"window_s": 10.0, "cpus": 1.0, "own_cpu_s": 9.0, "busy_s": 9.0 + 10 * foreign,
              "steal_s": 0.0}  # fmt: skip
    doc = json.loads((GOLDEN / "roundtrip" / "report.json").read_text())
    for run in doc["runs"]:
        run.update(median_images_per_second=9.5, workload_key="k")
        for worker in run["workers"]:
            worker["cpu_window"] = window
    return Report.of(doc)


def test_a_disturbed_session_is_named() -> None:
    assert session_from_report(1, _report(0.01)).disturbed is None
    loud = session_from_report(2, _report(0.2))
    assert loud.disturbed
    assert "run 1, worker 0: other processes used 20% of its 1 CPU(s)" in loud.disturbed
    assert loud.figures == [9.5, 9.5] and loud.workload == "k"


def test_disturbed_sessions_are_refused_unless_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three sessions already kept, two of them disturbed: without ``--keep-disturbed`` one is
    too few and the refusal names the flag; with it all three make the estimate."""
    from bf16perf.console import main

    for index, disturbed in ((1, "steal 9%"), (2, None), (3, "steal 7%")):
        figures = [10.0 + index / 10, 10.1 + index / 10]
        session = CalibrationSession(index, figures, "w", "m", {"id": "f"}, disturbed)
        path = tmp_path / "state" / "sessions" / f"{index:03d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(session.to_dict()))
    monkeypatch.chdir(ROOT)
    args = ["calibrate", "--sessions", "3", "--runs", "2", "--state", str(tmp_path / "state"),
            "--no-save"]  # fmt: skip
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert "session 1 left out, disturbed: steal 9%" in out and "--keep-disturbed" in err
    assert main([*args, "--keep-disturbed"]) == 0
    out, _ = capsys.readouterr()
    assert "session 3 kept (--keep-disturbed), disturbed: steal 7%" in out
    assert "3 sessions, 6 runs of w on m" in out


@pytest.mark.slow
def test_calibrate_command_on_two_real_sessions(tmp_path: Path) -> None:
    """Two A/A smoke sessions of 2 short runs, each its own cluster: the spreads, the
    detectable drops, and a noise file that the stored verdicts then read.  A shared CI host
    disturbs some sessions (steal, co-tenants), so the disturbed are kept, and named."""
    baselines = tmp_path / "baselines"
    command = [
        sys.executable, "-m", "bf16perf.console", "calibrate", "--sessions", "2", "--runs", "2",
        "--keep-disturbed", "--state", str(tmp_path / "state"), "--baselines", str(baselines), "--",
        "--perf-profile", "smoke", "--perf-warmup-steps", "1", "--perf-steps", "3",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=540)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "session 2/2" in out and "between sessions:" in out and "nightly, one session" in out
    assert "left out" not in out and out.count("DISTURBED") == out.count("kept (--keep-disturbed)")
    (noise,) = baselines.glob("*/*.noise.json")
    doc = json.loads(noise.read_text())
    assert len(doc["sessions"]) == 2 and all(len(s) == 2 for s in doc["sessions"])
    slug, key = noise.parent.name, noise.name.removesuffix(".noise.json")
    sessions = BaselineStore(baselines).load_sessions(slug, key, doc["fingerprint"]["id"])
    assert sessions is not None and sessions.df == 1 and math.isfinite(sessions.sigma)
