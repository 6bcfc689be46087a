"""``bf16perf calibrate``: this machine's noise, within a session and between sessions.

A baseline is another session's, so every stored verdict carries the between-session
spread (:data:`bf16perf.verdicts.SESSION_PRIOR` until measured).  Calibration measures it:
N A/A sessions of ``pytest perf/`` (fp32 training, each on a fresh local cluster, each
taking the machine lock as any perf session does), r runs each.  Each finished session is
kept as one JSON file under the state directory, so a killed calibration resumes where it
stopped.  Sessions whose workers' CPUs were shared (:mod:`bf16perf.machine.interference`) are
named and left out.

The estimate is the one-way random-effects model on log run figures,
``log x_ij = mu + s_i + e_ij`` (run spread ``sigma``, session spread ``tau``): ``sigma``
from the pooled within-session variance, ``tau`` from the spread of session means
(``max(0, (MS_between - MS_within) / n0)``), each with a chi-square interval (``tau``'s by
the Williams approximation).  The result goes into the machine's noise file
(``sigma``/``df`` and ``session_sigma``/``session_df``), which every later stored verdict
reads, and the detectable drops of each way of judging are printed.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bf16perf.machine.interference import disturbance
from bf16perf.store.atomic import atomic_json
from bf16perf.store.calibration_session import CalibrationSession, read_session
from bf16perf.store.report_json import Report

__all__ = [
    "Noise",
    "calibrate",
    "estimate",
    "session_from_report",
]

PERF_TEST = "perf/test_training.py::test_training[fp32]"
#: With ``--bf16``: bf16 runs interleaved with the fp32 ones, and the release gate on them.
BF16_TESTS = (
    "perf/test_training.py::test_training[bf16]",
    "perf/test_training.py::test_bf16_speedup",
)


@dataclass(frozen=True)
class Noise:
    """The two spreads of log run figures, with 95% intervals.

    Attributes:
        sigma, sigma_ci, df: between runs within a session.
        tau, tau_ci, session_df: between sessions (``tau`` may be 0: sessions agreed
            within what their runs' spread explains).
        sessions, runs: what they were estimated from.
    """

    sigma: float
    sigma_ci: tuple[float, float]
    df: int
    tau: float
    tau_ci: tuple[float, float]
    session_df: int
    sessions: int
    runs: int


def estimate(groups: Sequence[Sequence[float]]) -> Noise:
    """The random-effects estimate from run figures grouped by session (at least 2
    sessions of at least 2 runs)."""
    from scipy import stats as sps

    logs = [[math.log(x) for x in g] for g in groups]
    if len(logs) < 2 or any(len(g) < 2 for g in logs):
        raise ValueError("calibration needs at least 2 sessions of at least 2 runs each")
    k, total = len(logs), sum(len(g) for g in logs)
    means = [sum(g) / len(g) for g in logs]
    grand = sum(sum(g) for g in logs) / total
    ss_w = sum((x - m) ** 2 for g, m in zip(logs, means, strict=True) for x in g)
    df_w, df_b = total - k, k - 1
    ms_w = ss_w / df_w
    ms_b = sum(len(g) * (m - grand) ** 2 for g, m in zip(logs, means, strict=True)) / df_b
    n0 = (total - sum(len(g) ** 2 for g in logs) / total) / df_b
    chi = sps.chi2.ppf

    def tau_at(ms_between: float) -> float:
        return math.sqrt(max(0.0, (ms_between - ms_w) / n0))

    return Noise(
        sigma=math.sqrt(ms_w),
        sigma_ci=(
            math.sqrt(ss_w / float(chi(0.975, df_w))),
            math.sqrt(ss_w / float(chi(0.025, df_w))),
        ),
        df=df_w,
        tau=tau_at(ms_b),
        tau_ci=(
            tau_at(ms_b * df_b / float(chi(0.975, df_b))),
            tau_at(ms_b * df_b / float(chi(0.025, df_b))),
        ),
        session_df=df_b,
        sessions=k,
        runs=total,
    )


def session_from_report(index: int, report: Report) -> CalibrationSession:
    """One session's fp32 (and bf16) figures, run order and disturbance from its
    ``report.json``."""
    every = [r for r in report.runs if r.variant in ("fp32", "bf16")]
    runs = [r for r in every if r.variant == "fp32"]
    if not runs:
        raise ValueError("the session's report holds no fp32 run")
    keys = {r.workload_key for r in runs}
    if len(keys) != 1:
        raise ValueError(f"the session trained several workload keys: {sorted(keys)}")
    disturbed = []
    for i, run in enumerate(every, 1):
        for worker in run.workers:
            window = worker.window
            if window is None:
                continue
            # the local cluster's workers own their CPUs: foreign time is another program's
            why = disturbance(window, exclusive=True)
            if why:
                disturbed.append(f"run {i}, worker {worker.rank}: {why}")
    return CalibrationSession(
        index,
        [r.figure for r in runs],
        keys.pop(),
        report.slug,
        dict(report.fingerprint),
        "; ".join(disturbed) or None,
        [r.figure for r in every if r not in runs],
        [r.variant for r in every],
        dict(report.speedup) if report.speedup is not None else None,
        report.started,
    )


def run_session(
    state: Path, index: int, runs: int, extra: Sequence[str], bf16: bool = False
) -> CalibrationSession:
    """One A/A ``pytest perf/`` session of ``runs`` fp32 runs (and as many bf16 runs,
    interleaved, with the gate on them); its figures, kept in ``state/sessions/NNN.json``
    (written last, atomically: a killed session leaves none).  A session whose only
    failing verdict is the gate (exit 10 at a small image size) is kept."""
    reports = state / "reports" / f"{index:03d}"
    empty = state / "no-baselines"
    empty.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pytest", PERF_TEST, *(BF16_TESTS if bf16 else ()),
        "-p", "no:cacheprovider", "-q",
        "--perf-repeats", str(runs), "--perf-no-probe", "--perf-trend-confirm", "0",
        # the lone-step profile does not move the runs (BENCHMARKS.md S1): skip its time
        "--perf-no-step-profile",
        "--perf-baselines", str(empty), "--perf-reports", str(reports),
        "--perf-history", str(state / "history.jsonl"), *extra,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    latest = reports / "latest" / "report.json"
    report = Report.read(latest) if latest.is_file() else None
    failing = {d.check for d in report.decisions if d.fails} if report else {"no report"}
    if done.returncode != 0 and not (bf16 and done.returncode == 10 and failing <= {"bf16 gate"}):
        raise RuntimeError(
            f"session {index} failed (exit {done.returncode}):\n{done.stdout[-2000:]}"
        )
    if report is None:
        raise RuntimeError(f"session {index} wrote no report:\n{done.stdout[-2000:]}")
    session = session_from_report(index, report)
    path = state / "sessions" / f"{index:03d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_json(path, session.to_dict())
    return session


def calibrate(
    state: Path,
    sessions: int,
    runs: int,
    extra: Sequence[str] = (),
    run: Callable[..., CalibrationSession] = run_session,
    say: Callable[[str], None] = print,
    bf16: bool = False,
) -> list[CalibrationSession]:
    """Run the sessions not yet kept under ``state`` (resuming a killed calibration), with
    progress and an ETA; return every session in order.  ``bf16``: bf16 runs and the gate
    too (``run`` is then called with ``bf16=True``)."""
    done: dict[int, CalibrationSession] = {}
    for path in sorted((state / "sessions").glob("*.json")):
        kept = read_session(path)
        done[kept.index] = kept
    if done:
        say(f"resuming: {len(done)} of {sessions} sessions kept in {state / 'sessions'}")
    spent: list[float] = []
    for index in range(1, sessions + 1):
        if index in done:
            continue
        left = sessions - len(done)
        eta = f", about {statistics.fmean(spent) * left / 60:.0f} min left" if spent else ""
        say(f"[{'#' * len(done)}{'.' * left}] session {index}/{sessions}{eta}")
        t0 = time.monotonic()
        done[index] = (
            run(state, index, runs, extra, bf16=True) if bf16 else run(state, index, runs, extra)
        )
        spent.append(time.monotonic() - t0)
        figures = ", ".join(f"{x:.2f}" for x in done[index].figures)
        if done[index].bf16:
            figures += "; bf16 " + ", ".join(f"{x:.2f}" for x in done[index].bf16)
        note = f"; DISTURBED: {done[index].disturbed}" if done[index].disturbed else ""
        say(f"session {index}: {figures} images/s{note}")
    return [done[i] for i in sorted(done)]
