"""One line of the history (``reports/history.jsonl``), typed: :class:`HistoryLine` owns
reading a line of either version (1: one median a variant, no ``schema_version``; 2: run
figures a workload key), each value checked where it is read, so that every reader (the
trend, the paired nightly's nights, the session's planned duration, the plots) sees the
same line.  The line is built by :func:`bf16perf.report.data.history_line` and appended
whole by :mod:`bf16perf.store.history`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["HistoryLine", "LineSession", "SeriesEntry", "lines_of"]


def _figures(values: object) -> list[float]:
    """The positive finite numbers of a stored list (anything else: none)."""
    if not isinstance(values, list):
        return []
    return [float(v) for v in values if isinstance(v, int | float) and 0 < v < math.inf]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class SeriesEntry:
    """A workload key's entry: its variant, run figures, kernel ISA and lone-step
    profile."""

    variant: str | None
    figures: list[float]
    kernel_isa: str | None
    profile: Mapping[str, Any] | None


@dataclass(frozen=True)
class LineSession:
    """What kind of session wrote the line.

    Attributes:
        known: the line says (a line without a readable ``session`` object does not).
        kind: stored, save, ab or paired.
        reference: the kept reference's name, for the paired nightly.
        injected: the injected slowdown (0: none; ``None``: not a number).
    """

    known: bool = False
    kind: str | None = None
    reference: str | None = None
    injected: float | None = 0.0

    @property
    def excluded(self) -> bool:
        """An ad-hoc A/B session or a self-test: no nightly series reads it."""
        if not self.known:
            return False
        return self.kind == "ab" or (self.injected is not None and self.injected > 0)


@dataclass(frozen=True)
class HistoryLine:
    """One session's line.

    Attributes:
        version: its schema version (1: before run figures were kept).
        started: the session's start (``"?"`` where missing).
        fingerprint: the machine's slug (``None`` where missing).
        report: the session's report directory.
        series: by workload key (version 2).
        ratios: bf16/fp32 ratios by workload key, the positive ones.
        medians: version 1's images/s by variant, the positive ones.
        speedup: the gate's ratio (``None``: no gate).
        versions: the stack's versions (the set ones, as text).
        labels: the user's labels, as text.
        session: what kind of session it was.
        pairs: the paired nightly's figures by workload key: (candidate, reference).
        duration_s: how long the session took (``None``: not recorded).
    """

    version: int
    started: str
    fingerprint: str | None
    report: str | None
    series: dict[str, SeriesEntry]
    ratios: dict[str, float]
    medians: dict[str, float]
    speedup: float | None
    versions: dict[str, str]
    labels: dict[str, str]
    session: LineSession
    pairs: dict[str, tuple[list[float], list[float]]]
    duration_s: float | None

    @property
    def machine(self) -> str:
        """The slug, ``"?"`` where the line has none."""
        return self.fingerprint if self.fingerprint is not None else "?"

    def meta(self, entry: SeriesEntry | None = None) -> dict[str, str]:
        """What a change point compares across sessions: versions, kernel ISA, labels."""
        meta = dict(self.versions)
        if entry is not None and entry.kernel_isa:
            meta["kernel_isa"] = entry.kernel_isa
        meta.update({f"label {k}": v for k, v in self.labels.items()})
        return meta

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> HistoryLine:
        """The typed line of a parsed one (a line :mod:`bf16perf.store.history` read and
        checked against its schema; what is missing reads as absent)."""
        return cls(
            version=int(item.get("schema_version", 1)),
            started=str(item.get("started", "?")),
            fingerprint=str(item["fingerprint"]) if item.get("fingerprint") is not None else None,
            report=item.get("report"),
            series={str(k): _entry(e) for k, e in (item.get("series") or {}).items()},
            ratios={
                str(k): float(r)
                for k, r in (item.get("ratios") or {}).items()
                if isinstance(r, int | float) and r > 0
            },
            medians={
                str(k): float(v)
                for k, v in (item.get("images_per_second") or {}).items()
                if isinstance(v, int | float) and v > 0
            },
            speedup=_number(item.get("speedup")),
            versions={str(k): str(v) for k, v in (item.get("versions") or {}).items() if v},
            labels={str(k): str(v) for k, v in (item.get("labels") or {}).items()},
            session=_session(item.get("session")),
            pairs={
                str(k): (_figures(e.get("candidate")), _figures(e.get("reference")))
                for k, e in (item.get("pairs") or {}).items()
                if isinstance(e, Mapping)
            },
            duration_s=_number(item.get("duration_s")),
        )


def _entry(entry: Any) -> SeriesEntry:
    entry = entry if isinstance(entry, Mapping) else {}
    profile = entry.get("profile")
    return SeriesEntry(
        variant=entry.get("variant"),
        figures=_figures(entry.get("run_figures")),
        kernel_isa=str(entry["kernel_isa"]) if entry.get("kernel_isa") else None,
        profile=profile if isinstance(profile, Mapping) else None,
    )


def _session(session: Any) -> LineSession:
    if not isinstance(session, Mapping):
        return LineSession()
    injected = session.get("injected") or 0
    return LineSession(
        known=True,
        kind=session.get("kind"),
        reference=session.get("reference"),
        injected=float(injected) if isinstance(injected, int | float) else None,
    )


def lines_of(items: Iterable[Mapping[str, Any] | HistoryLine]) -> list[HistoryLine]:
    """Typed lines, in order (lines already typed pass through)."""
    return [i if isinstance(i, HistoryLine) else HistoryLine.of(i) for i in items]
