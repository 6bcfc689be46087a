"""The report's data: the session's typed values as one JSON-ready dict, and its history line.

``report.json`` follows ``src/bf16perf/store/schemas/report.schema.json`` (versions:
:mod:`bf16perf.store.formats`).  Everything the page shows is computed here once; the plots and
the HTML only render it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bf16perf.machine.host import Machine
from bf16perf.onednn.decomposition import run_decomposition
from bf16perf.onednn.peak import run_shares_of_peak
from bf16perf.onednn.run_proof import RunProof
from bf16perf.store.baseline import Baseline
from bf16perf.store.formats import REPORT_VERSION, versioned
from bf16perf.store.report_json import Report, ReportRun
from bf16perf.verdicts.outcomes import Decision
from bf16perf.workloads.results import RunResult

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "bootstrap_ratio",
    "build_report",
    "decision_dicts",
    "history_line",
]

REPORT_SCHEMA_VERSION = REPORT_VERSION


def _run_dict(run: RunResult, workload_key: str) -> dict[str, Any]:
    """The run's own dict (:meth:`RunResult.to_dict`) with what the report adds: its key,
    the median's interval and the step's decomposition."""
    ips = run.images_per_second
    # the figure's interval: a bootstrap of the ratio to a constant 1.0
    _, low, high = bootstrap_ratio(ips, [1.0]) if ips else (0.0, 0.0, 0.0)
    split = run_decomposition(run.step_times_s, run.kernels, run.step_parts)
    return {
        **run.to_dict(),
        "workload_key": workload_key,
        "images_per_second_ci": [low, high],
        "decomposition": split.to_dict() if split else None,
        "share_of_peak": run_shares_of_peak(RunProof.of(run.kernels).profile),
    }


def build_report(
    *,
    started: str,
    machine: Machine,
    runs: list[tuple[RunResult, str]],
    decisions: list[Decision],
    baselines: dict[str, Baseline],
    cluster: dict[str, Any],
    gate: dict[str, Any] | None,
    exit_code: int,
    stopped_because: str | None,
    reference: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    workloads: list[dict[str, Any]] | None = None,
    session: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything of a session as one JSON-ready dict (see the JSON Schema)."""
    return versioned(
        "report",
        {
            "started": started,
            "exit_code": exit_code,
            "stopped_because": stopped_because,
            "fingerprint": machine.fingerprint.to_dict(),
            "metadata": machine.metadata.to_dict(),
            "kernel_proof": machine.probe.to_dict() if machine.probe else None,
            "cluster": cluster,
            "runs": [_run_dict(r, key) for r, key in runs],
            "baselines": {
                key: {
                    "path": str(b.path),
                    "images_per_second": b.images_per_second,
                    "run_figures": b.figures,
                    "session_figures": b.session_figures,
                    "described": b.described,
                    "losses": b.losses,
                    "saved_at": b.saved_at,
                }
                for key, b in baselines.items()
            },
            "speedup": gate,
            "reference": reference,
            "session": session or {},
            "labels": labels or {},
            "workloads": workloads or [],
            "decisions": decision_dicts(decisions),
        },
    )


def decision_dicts(decisions: list[Decision]) -> list[dict[str, Any]]:
    """The report's ``decisions``: every verdict, JSON-ready."""
    return [
        {
            "test": d.test,
            "check": d.check,
            "outcome": d.outcome.value,
            "fails": d.outcome.fails,
            "detail": d.detail,
            "figures": d.figures,
        }
        for d in decisions
    ]


def _bf16perf_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bf16perf")
    except PackageNotFoundError:
        return "unknown"


def history_line(report: dict[str, Any], report_dir: Path) -> dict[str, Any]:
    """The one-line summary of a report kept in the history file (schema 2): per workload
    key its run figures, kernel ISA and lone-step profile, the bf16/fp32 ratio, the stack's
    versions, the threading knobs and the user's labels, so that a change point can say
    what changed, and which part of the step grew."""
    doc = Report.of(report, str(report_dir / "report.json"))
    series: dict[str, dict[str, Any]] = {}
    medians: dict[str, float] = {}
    for run in doc.candidate_runs():  # an A/B session's reference runs are not its history
        entry = series.setdefault(run.workload_key, {"variant": run.fields.get("variant")})
        entry.setdefault("run_figures", []).append(run.figure)
        entry["kernel_isa"] = (run.kernels or {}).get("isa")
        profile = run.proof.profile
        if profile is not None and "profile" not in entry:  # what a change point compares
            entry["profile"] = {k: profile[k] for k in ("parts", "step_s", "timed") if k in profile}
        medians.setdefault(run.variant, run.figure)
    ratios = {}
    pairs = _pairs(doc.runs) if doc.reference else {}
    speedup = doc.speedup
    fp32_keys = [k for k, e in series.items() if e["variant"] == "fp32"]
    if speedup and fp32_keys:
        ratios[fp32_keys[0]] = speedup["ratio"]
    md = doc.metadata
    return versioned(
        "history",
        {
            "started": doc.started,
            "fingerprint": doc.slug,
            "fingerprint_id": doc.fingerprint["id"],
            "exit_code": doc.exit_code,
            "series": series,
            "ratios": ratios,
            "images_per_second": medians,
            "speedup": speedup["ratio"] if speedup else None,
            "versions": {
                "tensorflow": md.get("tensorflow"),
                "torch": md.get("torch"),
                "onednn": md.get("onednn"),
                "pyspark": md.get("pyspark"),
                "java": md.get("java"),
                "python": md.get("python"),
                "bf16perf": _bf16perf_version(),
            },
            "threading_env": md.get("threading_env", {}),
            "labels": dict(doc.labels),
            "session": dict(doc.session),
            "pairs": pairs,
            "duration_s": doc.duration_s,
            "verdicts": sorted({d.outcome for d in doc.decisions}),
            "report": str(report_dir),
        },
    )


def _pairs(runs: Sequence[ReportRun]) -> dict[str, dict[str, Any]]:
    """Per workload key, the paired nightly's pairs: the candidate's and the reference's
    run figures in the order trained (pair ``i`` of one beside pair ``i`` of the other)."""
    from bf16perf.verdicts.nights import pairs_entry

    sides: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        key = run.workload_key.removesuffix("@reference")
        side = "reference" if run.stack == "reference" else "candidate"
        sides.setdefault(key, {"candidate": [], "reference": []})[side].append(run.figure)
    return {
        key: pairs_entry(both["candidate"], both["reference"])
        for key, both in sides.items()
        if both["candidate"] and both["reference"]
    }


def bootstrap_ratio(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 5000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Ratio of medians of steps and its percentile bootstrap interval ``(ratio, low, high)``.

    Descriptive only (the spread of one run's steps, shown in reports); it says nothing
    about run-to-run drift and no verdict uses it.
    """
    a, b = np.asarray(numerator, float), np.asarray(denominator, float)
    if a.size == 0 or b.size == 0:
        raise ValueError("bootstrap_ratio needs at least one sample on each side")
    rng = np.random.default_rng(seed)
    ra = np.median(rng.choice(a, size=(resamples, a.size)), axis=1)
    rb = np.median(rng.choice(b, size=(resamples, b.size)), axis=1)
    ratios = ra / rb
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return float(np.median(a) / np.median(b)), float(low), float(high)
