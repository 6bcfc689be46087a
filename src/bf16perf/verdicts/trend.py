"""The history as series, their change points, what changed with them, and the nightly rule.

A *series* is one machine (fingerprint slug) x workload key x variant, plus one bf16/fp32
ratio series per machine and workload: a smoke run and a default run never share one.  A
point is a session: its figure is the geometric mean of the session's run figures (three
runs by default), which is what makes a 10% step visible within three nights on a machine
whose single runs scatter by 5.7% (BENCHMARKS.md V, W).  History lines of schema 1 (before
run figures were kept) read as their own series, keyed by variant alone, marked legacy.

:func:`nightly_rule` turns the last change point into a verdict: a drop beyond the threshold
with ``confirm`` sessions after it is a REGRESSION naming its first bad session and the
recorded differences across it; one slow night is a suspect notice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bf16perf.onednn.attribution import grown_text
from bf16perf.stats.changepoints import ChangePoint, detect
from bf16perf.store.history_line import HistoryLine, lines_of
from bf16perf.verdicts.outcomes import Decision, Outcome

__all__ = [
    "Change",
    "Point",
    "PreviousSession",
    "Series",
    "TrendVerdict",
    "changes",
    "nightly_rule",
    "previous_session",
    "series_of",
    "trend_decisions",
]

#: History-line fields compared across a change point, in the order they are named.
DIFF_FIELDS = ("kernel_isa", "tensorflow", "onednn", "pyspark", "java", "python", "bf16perf")


#: The change points' level (BENCHMARKS.md W1: at most 1% false change points at the end
#: of a stationary month, a 10% step found within 3 sessions in over 90%).
MAX_P = 0.002


@dataclass(frozen=True)
class Point:
    """One session's figure in a series, with what it recorded about itself."""

    started: str
    figure: float
    runs: int
    report: str | None
    meta: dict[str, str]
    profile: dict[str, Any] | None = None


@dataclass
class Series:
    """Points of one machine x workload x variant (or ``bf16/fp32``), oldest first."""

    key: str
    machine: str
    legacy: bool = False
    points: list[Point] = field(default_factory=list)

    @property
    def figures(self) -> list[float]:
        return [p.figure for p in self.points]


@dataclass(frozen=True)
class PreviousSession:
    """The last session in the history of one machine and workload key: what confirms or
    clears a stored regression (:mod:`bf16perf.verdicts.confirm`)."""

    started: str
    figures: list[float]


def previous_session(
    lines: Sequence[Mapping[str, Any] | HistoryLine], machine: str, key: str
) -> PreviousSession | None:
    """The newest history line (``lines`` oldest first, this session's not among them) of
    ``machine`` (fingerprint slug) with run figures for workload ``key``; ``None``: none."""
    for line in reversed(lines_of(lines)):
        if line.fingerprint != machine or line.version < 2:
            continue
        if line.session.excluded:  # an ad-hoc A/B or an injected slowdown
            continue
        entry = line.series.get(key)
        if entry is not None and entry.figures:
            return PreviousSession(line.started, entry.figures)
    return None


def _geomean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _add(found: dict[str, Series], key: str, machine: str, legacy: bool, point: Point) -> None:
    series = found.setdefault(key, Series(key, machine, legacy))
    series.points.append(point)


def series_of(
    lines: Sequence[Mapping[str, Any] | HistoryLine], left_out: bool = False
) -> dict[str, Series]:
    """Every series in ``lines`` (history lines, oldest first), by key; ``left_out``: the
    sessions a series leaves out instead (ad-hoc A/B candidates, self-tests with an injected
    slowdown), under the keys they would have had, for the history page to mark apart."""
    found: dict[str, Series] = {}
    for line in lines_of(lines):
        if line.session.excluded != left_out:
            continue
        machine, started, report = line.machine, line.started, line.report
        if line.version < 2:  # one median per variant, no workload key
            for variant, value in line.medians.items():
                key = f"{machine} {variant} (legacy)"
                _add(found, key, machine, True, Point(started, value, 1, report, {}))
            continue
        for workload, entry in line.series.items():
            if entry.figures:
                meta, n = line.meta(entry), len(entry.figures)
                profile = dict(entry.profile) if entry.profile is not None else None
                point = Point(started, _geomean(entry.figures), n, report, meta, profile)
                _add(found, f"{machine} {workload}", machine, False, point)
        for workload, ratio in line.ratios.items():
            point = Point(started, ratio, 1, report, line.meta())
            _add(found, f"{machine} {workload} bf16/fp32", machine, False, point)
    return found


@dataclass(frozen=True)
class Change:
    """A change point of a series, with the recorded differences across it."""

    series: str
    point: ChangePoint
    first: Point
    last_before: Point
    differences: list[str]

    def describe(self) -> str:
        """The change, what the sessions recorded differently across it, and which parts
        of the lone step grew from the last session before it to the first after it."""
        cp = self.point
        what = "; ".join(self.differences) or "no recorded difference"
        grown = grown_text(self.last_before.profile, self.first.profile, "across it")
        parts = f"; {grown}" if grown else ""
        return (
            f"{self.series}: x{cp.ratio:.3f} (95% CI [{cp.low:.3f}, {cp.high:.3f}], p={cp.p:.1g})"
            f" from session {self.first.started} ({cp.after} sessions after, {cp.before} before);"
            f" changed: {what}{parts}"
        )


def _differences(before: Point, after: Point) -> list[str]:
    keys = [k for k in DIFF_FIELDS if k in before.meta or k in after.meta]
    keys += sorted(k for k in {*before.meta, *after.meta} if k.startswith("label "))
    out = []
    for key in keys:
        old, new = before.meta.get(key, "unknown"), after.meta.get(key, "unknown")
        if old != new:
            out.append(f"{key} {old} -> {new}")
    return out


def changes(series: Series, **detect_args: Any) -> list[Change]:
    """The change points of ``series``, each with what changed across it."""
    found = []
    for cp in detect(series.figures, **detect_args):
        before, after = series.points[cp.index - 1], series.points[cp.index]
        found.append(Change(series.key, cp, after, before, _differences(before, after)))
    return found


@dataclass(frozen=True)
class TrendVerdict:
    """The nightly rule on one series: ``regression``, ``suspect`` or ``ok``, and why."""

    series: str
    status: str
    detail: str


def nightly_rule(
    series: Series,
    *,
    confirm: int = 3,
    threshold: float = 0.05,
    horizon: int = 7,
    max_p: float = MAX_P,
) -> TrendVerdict:
    """A drop of more than ``threshold`` at the last change point, with at least ``confirm``
    and at most ``confirm + horizon`` sessions after it, is a regression (it stays one for
    ``horizon`` nights, then it is the new normal); the last session alone below the
    recent ones by more than the threshold and 3 of their standard deviations is suspect."""
    found = changes(series, max_p=max_p, min_size=confirm)
    n = len(series.points)
    if found:
        last = found[-1]
        after = n - last.point.index
        if last.point.ratio < 1 - threshold and confirm <= after <= confirm + horizon:
            return TrendVerdict(series.key, "regression", last.describe())
    recent = series.figures[-11:-1]
    if len(recent) >= 5:
        logs = [math.log(f) for f in recent]
        mean = sum(logs) / len(logs)
        sd = math.sqrt(sum((v - mean) ** 2 for v in logs) / (len(logs) - 1))
        drop = math.log(series.figures[-1]) - mean
        if drop < math.log(1 - threshold) and drop < -3 * sd:
            return TrendVerdict(
                series.key,
                "suspect",
                f"{series.key}: the last session {series.points[-1].started} is"
                f" {1 - math.exp(drop):.1%} below the {len(recent)} before it (3 sd ="
                f" {1 - math.exp(-3 * sd):.1%}); one slow night is not a regression until"
                f" {confirm} sessions confirm it",
            )
    return TrendVerdict(series.key, "ok", f"{series.key}: no new lasting drop")


def trend_decisions(
    history: Sequence[dict[str, Any]],
    line: dict[str, Any],
    *,
    confirm: int,
    alpha: float = MAX_P,
    threshold: float = 0.05,
    gating: bool = True,
) -> tuple[list[Decision], list[str]]:
    """The nightly rule on each series of this session's ``line`` (appended to
    ``history``): a regression is a failing decision of the test ``history``; a suspect
    night is a notice.  A change point counts at ``min(MAX_P, alpha)``, ``alpha`` being a
    series' share of the session's error budget; a drop counts beyond ``threshold``
    (``--perf-max-regression``).  Not ``gating`` (the paired nightly, whose window rule
    over the pairs is its trend): a new lasting drop is a notice."""
    found = series_of([*history, line])
    tonight = HistoryLine.of(line)
    keys = [f"{tonight.machine} {w}" for w in tonight.series]
    keys += [f"{tonight.machine} {w} bf16/fp32" for w in tonight.ratios]
    decisions, notices = [], []
    for key in keys:
        series = found.get(key)
        if series is None or len(series.points) < 2 * confirm:
            continue
        verdict = nightly_rule(
            series, confirm=confirm, max_p=min(MAX_P, alpha), threshold=threshold
        )
        if verdict.status == "regression" and not gating:
            notices.append(f"trend (a notice in the paired nightly): {verdict.detail}")
        elif verdict.status == "regression":
            decisions.append(
                Decision(
                    "history", "trend", Outcome.REGRESSION, f"new lasting drop: {verdict.detail}"
                )
            )
        elif verdict.status == "suspect":
            notices.append(f"trend suspect: {verdict.detail}")
    return decisions, notices
