"""The baseline document: a machine's accepted runs of one workload, and its schema.

This module owns the document's shape (:func:`baseline_document`) and its typed reading
(:class:`Baseline`, several runs each, the unit of every throughput verdict).  Its schema,
versions and migrations are :mod:`bf16perf.store.formats`'s (a version-1 or -2 file loads as a
single-session baseline, and says so); where baselines live, how they are written and the
noise files beside them are :mod:`bf16perf.store.baselines`'s.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bf16perf.stats.figures import run_figure
from bf16perf.store.formats import (
    BASELINE_VERSION,
    NOISE_VERSION,
    FormatError,
    loads,
    migrate_baseline,
)
from bf16perf.workloads.results import RunResult

__all__ = [
    "DEFAULT_SESSIONS",
    "NOISE_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "Baseline",
    "BaselineError",
    "BaselineRun",
    "BaselineSession",
    "add_session",
    "baseline_document",
    "read_document",
    "upgrade",
]

SCHEMA_VERSION = BASELINE_VERSION
#: Sessions a baseline keeps by default (``--perf-baseline-sessions``).
DEFAULT_SESSIONS = 7
NOISE_SCHEMA_VERSION = NOISE_VERSION


class BaselineError(ValueError):
    """A baseline file exists but cannot be used."""


def read_document(path: Path) -> dict[str, Any]:
    """A kept baseline or noise file's JSON object (strict numbers); :class:`BaselineError`
    naming the file and the fix where it is not a regular file, not JSON or not an object."""
    if not path.is_file():
        raise BaselineError(f"{path} is not a regular file; move it away or delete it")
    try:
        data = loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BaselineError(
            f"{path} is not valid JSON ({exc}); restore it from version control"
            " or delete it and save a new one"
        ) from None
    if not isinstance(data, dict):
        raise BaselineError(f"baseline {path}: not a JSON object")
    return data


@dataclass(frozen=True)
class BaselineRun:
    """One accepted run.

    Attributes:
        images_per_second: per measured step.
        losses: the loss curve, warm-up steps first.
        kernels: the kernel proof it was measured under, with its variant's profile where
            one was taken (``None`` in files saved before proofs were kept).
    """

    images_per_second: list[float]
    losses: list[float]
    kernels: dict[str, Any] | None = None

    @property
    def figure(self) -> float:
        """The run's figure: its median images/s."""
        return run_figure(self.images_per_second)


@dataclass(frozen=True)
class BaselineSession:
    """One accepted session: its runs, when it was saved and what it ran on.

    Attributes:
        runs: the session's runs, in the order they were measured.
        saved_at: time of the save (``YYYYmmddTHHMMSSZ``).
        metadata: versions, threading and cluster shape of the session.
    """

    runs: list[BaselineRun]
    saved_at: str
    metadata: dict[str, Any]

    @property
    def figures(self) -> list[float]:
        return [r.figure for r in self.runs]


@dataclass(frozen=True)
class Baseline:
    """Accepted sessions of one workload on one machine.

    Attributes:
        path: the file it came from.
        fingerprint: the machine's fingerprint dict (with ``id`` and ``slug``).
        workload: the workload key it is valid for.
        runs: the latest session's runs, in the order they were measured.
        saved_at: time of the latest save.
        schema_version: the version the file was written with (1 and 2: one session).
        sessions: every kept session, oldest first (the latest holds ``runs``).
    """

    path: Path
    fingerprint: dict[str, Any]
    workload: str
    runs: list[BaselineRun]
    saved_at: str
    schema_version: int = SCHEMA_VERSION
    sessions: list[BaselineSession] = field(default_factory=list)

    @property
    def figures(self) -> list[float]:
        """The latest session's run figures (median images/s)."""
        return [r.figure for r in self.runs]

    @property
    def session_figures(self) -> list[list[float]]:
        """Each kept session's run figures, oldest first: the unit of the stored verdict."""
        return [s.figures for s in self.sessions] or [self.figures]

    def figures_before(self, started: str) -> list[list[float]]:
        """The run figures of the kept sessions saved before ``started`` (a session's
        start, ``YYYY-mm-ddTHH:MM:SSZ`` or compact): the baseline a session that started
        then was judged against, without its own runs where it was saved into it."""

        def second(stamp: str) -> str:  # compact to the second: 20261202T225442
            return stamp.replace("-", "").replace(":", "")[:15]

        kept = self.sessions or [BaselineSession(self.runs, self.saved_at, {})]
        return [s.figures for s in kept if second(s.saved_at) < second(started)]

    @property
    def described(self) -> str:
        """What the baseline holds, in words, for a verdict."""
        runs = sum(len(f) for f in self.session_figures)
        plural = "s" if runs != 1 else ""
        if self.schema_version < 3:
            return (
                f"a single-session baseline of {runs} run{plural} (schema"
                f" {self.schema_version}, saved before baselines kept sessions)"
            )
        n = len(self.session_figures)
        return f"{n} session{'s' if n != 1 else ''}, {runs} run{plural}"

    @property
    def losses(self) -> list[float]:
        """The first run's loss curve (fixed seeds make every run's curve the same)."""
        return self.runs[0].losses

    @property
    def images_per_second(self) -> list[float]:
        """Every run's steps, in order (for plots; never pooled into a verdict)."""
        return [x for r in self.runs for x in r.images_per_second]


def add_session(
    previous: dict[str, Any] | None, document: dict[str, Any], stamp: str, keep: int
) -> dict[str, Any]:
    """The baseline document after saving this session (``document``, from
    :func:`baseline_document`): the previous document's sessions (already upgraded), then
    this one, the last ``keep`` of them."""
    if keep < 1:
        raise ValueError(f"a baseline keeps at least 1 session, not {keep}")
    metadata = document["machine_info"].get("bf16perf_metadata", {})
    this = {"saved_at": stamp, "metadata": metadata, "benchmarks": document["benchmarks"]}
    kept = list((previous or {}).get("sessions", []))
    return {**document, "sessions": [*kept, this][-keep:]}


def upgrade(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """``data`` as the current version, checked (:func:`bf16perf.store.formats.migrate_baseline`);
    a problem is a :class:`BaselineError` naming the file and the fix."""
    try:
        return migrate_baseline(data)
    except FormatError as exc:
        raise BaselineError(
            f"baseline {path}: {exc}; restore it, or delete it and save a new one with"
            " --perf-save-baseline"
        ) from None


def baseline_document(
    runs: Sequence[RunResult],
    *,
    fingerprint: dict[str, Any],
    metadata: dict[str, Any],
    name: str,
    fullname: str,
) -> dict[str, Any]:
    """The baseline of ``runs`` (pytest-benchmark shaped: one ``benchmarks`` entry a run,
    each with its steps, losses, kernel proof and every worker's cpu window)."""
    if not runs:
        raise ValueError("a baseline needs at least one run")
    return {
        "machine_info": {"bf16perf_fingerprint": fingerprint, "bf16perf_metadata": metadata},
        "benchmarks": [
            {
                "name": name,
                "fullname": fullname,
                "run": i + 1,
                "stats": {
                    "median": statistics.median(run.step_times_s),
                    "rounds": len(run.step_times_s),
                    "data": run.step_times_s,
                },
                "extra_info": run.to_dict(),
            }
            for i, run in enumerate(runs)
        ],
    }
