"""Verdicts: what each perf check concluded, and the one exit code of the session.

Each check records a :class:`Decision`.  The session shows them all in one table at the end
and then fails once, with an exit code that says what kind of trouble it was:

====  =========================================================================
code  meaning
====  =========================================================================
0     all good (notices such as "no baseline", and in the nightly mode a throughput
      verdict that cannot tell within the threshold, or one session's drop that the
      session before it does not confirm, do not fail)
1     a test failed for a reason that is not a performance verdict (a crash, a bug)
10    performance regression: throughput, or bf16 speedup below the release minimum
11    inconclusive: too noisy to decide (never a pass): the bf16 gate always, a
      throughput verdict under ``--perf-release``
12    unsupported hardware under ``--perf-require-bf16``
13    numerics changed: a loss curve drifted from its baseline, from the reference
      stack's, or bf16's from fp32's beyond the band
====  =========================================================================

When several apply, the first in the order 1, 10, 13, 12, 11 wins.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Decision",
    "ExitCode",
    "Outcome",
    "exit_code_for",
    "exit_code_of",
    "session_exit_code",
    "verdict_row",
]


class Outcome(enum.Enum):
    """What a check concluded."""

    OK = "ok"
    IMPROVED = "improved"
    NO_BASELINE = "no baseline"
    REGRESSION = "throughput regression"
    DRIFT = "loss curve drifted"
    GATE_FAILED = "bf16 speedup below minimum"
    INCONCLUSIVE = "inconclusive"
    #: nightly mode: a throughput drop beyond the threshold is neither shown nor ruled out;
    #: a notice with the detectable drop, not a failure (``--perf-release`` fails it)
    UNDECIDED = "cannot tell"
    #: nightly mode: this session is below its baseline but the one before it is not (or
    #: there is none): one session's draw, a notice that the next session confirms or
    #: clears (:mod:`bf16perf.verdicts.confirm`)
    SUSPECT = "suspect, unconfirmed"
    #: the paired nightly: a verdict that would fail but does not gate this mode (the
    #: bf16-avx512 variant's pairs, the release gate): shown, never an exit code
    NOTICE = "notice, does not gate"
    UNSUPPORTED = "unsupported hardware"

    @property
    def fails(self) -> bool:
        return self in _FAILING


_FAILING = {
    Outcome.REGRESSION,
    Outcome.DRIFT,
    Outcome.GATE_FAILED,
    Outcome.INCONCLUSIVE,
    Outcome.UNSUPPORTED,
}


class ExitCode(enum.IntEnum):
    """Session exit codes beyond pytest's own (which end at 5)."""

    OK = 0
    TESTS_FAILED = 1
    REGRESSION = 10
    INCONCLUSIVE = 11
    UNSUPPORTED = 12
    NUMERICS = 13


@dataclass(frozen=True)
class Decision:
    """One check's verdict.

    Attributes:
        test: the test's node id.
        check: which rule (``throughput``, ``loss curve``, ``bf16 gate``, ``hardware``).
        outcome: what it concluded.
        detail: the numbers and files a person needs to check it.
        figures: the rule's typed result as JSON-ready numbers (estimate, interval,
            detectable effect, runs), for the report; empty for checks without figures.
    """

    test: str
    check: str
    outcome: Outcome
    detail: str
    figures: dict[str, Any] = field(default_factory=dict, compare=False)


def session_exit_code(decisions: Sequence[Decision], other_failures: int) -> ExitCode:
    """The one exit code of a session: see the module docstring for the order."""
    return exit_code_of((d.outcome for d in decisions), other_failures)


def exit_code_of(found: Iterable[Outcome], other_failures: int = 0) -> ExitCode:
    """The exit code of these outcomes, the one mapping the plugin, ``compare``,
    ``history`` and the nightly replay share."""
    if other_failures > 0:
        return ExitCode.TESTS_FAILED
    outcomes = set(found)
    if outcomes & {Outcome.REGRESSION, Outcome.GATE_FAILED}:
        return ExitCode.REGRESSION
    if Outcome.DRIFT in outcomes:
        return ExitCode.NUMERICS
    if Outcome.UNSUPPORTED in outcomes:
        return ExitCode.UNSUPPORTED
    if Outcome.INCONCLUSIVE in outcomes:
        return ExitCode.INCONCLUSIVE
    return ExitCode.OK


def exit_code_for(decisions: Sequence[Decision], failed_tests: Iterable[str]) -> ExitCode:
    """The session's exit code from its verdicts and the node ids of failed or errored tests:
    a test that failed only because of its own failing verdicts is not a plain failure."""
    failing = {d.test for d in decisions if d.outcome.fails}
    return session_exit_code(decisions, len(set(failed_tests) - failing))


def format_table(decisions: Sequence[Decision], width: int = 120) -> list[str]:
    """A plain-text table, one decision a row (the detail wraps under its row)."""
    if not decisions:
        return []
    test_w = min(max(len(d.test) for d in decisions), 60)
    check_w = max(len(d.check) for d in decisions)
    out_w = max(len(d.outcome.value) for d in decisions)
    lines = [f"{'test':<{test_w}}  {'check':<{check_w}}  {'verdict':<{out_w}}  detail"]
    lines.append("-" * min(width, len(lines[0]) + 40))
    for d in decisions:
        mark = "FAIL " if d.outcome.fails else ""
        lines.append(
            f"{d.test[-test_w:]:<{test_w}}  {d.check:<{check_w}}  {d.outcome.value:<{out_w}}"
            f"  {mark}{d.detail}"
        )
    return lines


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def verdict_row(
    test: str, check: str, verdict: str, figures: dict[str, Any], detail: str
) -> dict[str, Any]:
    """One verdict as a flat row from its rule's figures, absent ones ``None``: the change
    (ratio - 1), its interval and confidence, the threshold, the detectable drop and, for
    the bf16 gate, the minimum speedup.  The one reader of a verdict's figures, for the
    CI summary, ``compare`` and the report's decision card."""
    found = figures.get("tonight")
    tonight: dict[str, Any] = found if isinstance(found, dict) else {}
    ratio = _number(figures.get("ratio", tonight.get("ratio")))
    ci = figures.get("ci", tonight.get("ci"))
    interval = None
    if isinstance(ci, list) and len(ci) == 2 and _number(ci[0]) is not None:
        interval = [_number(ci[0]), _number(ci[1])]
    return {
        "test": test,
        "check": check,
        "verdict": verdict,
        "change": None if ratio is None else ratio - 1,
        "ci": interval,
        "confidence": _number(figures.get("confidence", tonight.get("confidence"))),
        "threshold": _number(figures.get("threshold")),
        "detectable_drop": _number(figures.get("mde", tonight.get("mde"))),
        "gate": _number(figures.get("gate")),
        "detail": detail,
    }
