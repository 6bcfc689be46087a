"""The stored-baseline rule: this session's runs against a baseline's runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bf16perf.stats.figures import LogRatio, Spread, sessions_log_ratio
from bf16perf.stats.power import detectable_drop, runs_needed
from bf16perf.verdicts._common import (
    PASS_ALPHA,
    SESSION_ALPHA,
    confidence_text,
    interval_text,
    pct,
    t_quantile,
    three_way,
)
from bf16perf.verdicts.outcomes import Outcome
from bf16perf.verdicts.words import SESSION, Remedies

#: The between-session spread assumed where nothing on this machine measured one: the
#: larger of the two session effects measured on the project's build VM (BENCHMARKS.md W4:
#: 10 sessions of one run scattered 10.3% against 5.7% between runs within a session, so
#: sqrt(10.3^2 - 5.7^2) = 8.6%; 4.4% without its one slow session), with that estimate's
#: 9 degrees of freedom.  Conservative on purpose: a baseline keeps its own session's
#: draw for every later night, and assuming zero made 43% of baselines raise a false
#: regression within 30 nights.  A calibration of the machine replaces it.
SESSION_PRIOR = Spread(
    0.086,
    9,
    "a conservative default, not this machine's: bf16perf calibrate measures this machine's",
)


@dataclass(frozen=True)
class ThroughputVerdict:
    """This session's runs against a stored baseline's runs.

    Attributes:
        outcome: REGRESSION, IMPROVED, OK or INCONCLUSIVE.
        estimate: the ratio of geometric means with its ``1 - 2*alpha`` interval.
        current, baseline: run figures (images/s) of each side.
        threshold, alpha: the rule's settings.
        mde: the smallest drop the data could detect (one-sided alpha, 80% power).
        runs_needed: current runs that would bring ``mde`` under ``threshold`` (``None``:
            no number would, the baseline must hold more runs; ``0``: already there).
        baseline_path: the file compared against.
        notes: what the data cannot tell, in words.
        session: the between-session spread in the interval (``None``: both sides from
            one session).
        sessions: the baseline's run figures by session, oldest first.
        described: what the baseline holds, in words (sessions, runs, an old schema).
        remedies: the front end's words for what would resolve it.
    """

    outcome: Outcome
    estimate: LogRatio
    current: list[float]
    baseline: list[float]
    threshold: float
    alpha: float
    mde: float
    runs_needed: int | None
    baseline_path: str
    notes: list[str] = field(default_factory=list)
    session: Spread | None = None
    sessions: list[list[float]] = field(default_factory=list)
    described: str = ""
    remedies: Remedies = SESSION

    @property
    def detail(self) -> str:
        e = self.estimate
        text = (
            f"{_geomean(self.current):.2f} images/s now (geometric mean of"
            f" {len(self.current)} run{'s' if len(self.current) != 1 else ''}) vs"
            f" {_geomean(self.baseline):.2f} in baseline {self.baseline_path}"
            f" ({self.described or f'{len(self.baseline)} runs'}): ratio of geometric means"
            f" {e.ratio:.3f}"
            f" ({e.ratio - 1:+.1%}), {confidence_text(e.confidence)} CI"
            f" {interval_text(e.low, e.high)},"
            f" between-run spread {pct(e.spread.sigma)} from {e.spread.source};"
        )
        if self.session is not None:
            text += f" between-session spread {pct(self.session.sigma)} ({self.session.source});"
        text += f" detectable drop {pct(self.mde)} at alpha {self.alpha:g}, 80% power"
        if self.mde > self.threshold:
            if self.runs_needed:
                text += (
                    f" (above the {self.threshold:.0%} threshold: {self.runs_needed} runs"
                    f" per session would bring it below, {self.remedies.more_runs})"
                )
            else:
                text += (
                    f" (above the {self.threshold:.0%} threshold whatever this session runs:"
                    " a baseline of more sessions"
                    + ("" if self.calibrated else ", or a calibration of this machine")
                    + " brings it down"
                    + (
                        "; a session's own draw is no run's to average away)"
                        if self.session
                        else ")"
                    )
                )
        for note in self.notes:
            text += f"; {note}"
        if self.outcome is Outcome.IMPROVED:
            text += f"; {self.remedies.accept}"
        elif self.outcome is Outcome.INCONCLUSIVE:
            text += f"; a drop beyond {self.threshold:.0%} is neither shown nor ruled out"
            if self.runs_needed:
                text += f": run {self.runs_needed} repeats"
        return text

    @property
    def calibrated(self) -> bool:
        """Whether the between-session spread is this machine's measured one, with no part
        of the default prior in it (the advice then stops recommending a calibration)."""
        return self.session is not None and SESSION_PRIOR.source not in self.session.source

    def to_dict(self) -> dict[str, Any]:
        e = self.estimate
        return {
            "rule": "stored baseline, run figures, t on logs",
            "ratio": e.ratio,
            "p": e.p_less if math.isfinite(e.p_less) else None,
            "baseline_sessions": self.sessions,
            "ci": [e.low, e.high if math.isfinite(e.high) else None],
            "confidence": e.confidence,
            "sigma": e.spread.sigma if e.spread.known else None,
            "sigma_source": e.spread.source,
            "session_sigma": self.session.sigma if self.session else None,
            "session_source": self.session.source if self.session else None,
            "current_runs": self.current,
            "baseline_runs": self.baseline,
            "mde": self.mde if math.isfinite(self.mde) else None,
            "runs_needed": self.runs_needed,
            "threshold": self.threshold,
            "alpha": self.alpha,
        }


def _geomean(figures: Sequence[float]) -> float:
    """The statistic the rule judges: the geometric mean of run figures."""
    return math.exp(statistics.fmean(math.log(x) for x in figures))


def baseline_rule(
    current: Sequence[float],
    baseline: Sequence[float],
    *,
    max_regression: float,
    alpha: float = SESSION_ALPHA,
    prior: Spread | None = None,
    session: Spread | None = None,
    baseline_path: str = "",
    remedies: Remedies = SESSION,
) -> ThroughputVerdict:
    """Judge this session's run figures against one baseline session's (see
    :func:`sessions_rule`).  ``session``: the between-session spread, where the baseline
    comes from another session (``None``: both sides from one session)."""
    return sessions_rule(
        current,
        [baseline],
        max_regression=max_regression,
        alpha=alpha,
        prior=prior,
        session=session,
        baseline_path=baseline_path,
        remedies=remedies,
    )


def sessions_rule(
    current: Sequence[float],
    sessions: Sequence[Sequence[float]],
    *,
    max_regression: float,
    alpha: float = SESSION_ALPHA,
    prior: Spread | None = None,
    session: Spread | None = None,
    baseline_path: str = "",
    described: str = "",
    remedies: Remedies = SESSION,
) -> ThroughputVerdict:
    """Judge this session's run figures against a baseline of one or more sessions'
    (:func:`bf16perf.stats.figures.sessions_log_ratio`: 3 or more sessions give their own
    between-session spread, pooled with ``session``; fewer take
    ``session``'s).  ``remedies``: the front end's words for what would resolve it."""
    session = session if session is not None and session.known else None
    est = sessions_log_ratio(
        current,
        sessions,
        confidence=1 - 2 * alpha,
        prior=prior,
        session=session,
    )
    session = est.session
    baseline = [x for s in sessions for x in s]
    if est.spread.known:
        pass_low = math.exp(math.log(est.ratio) - est.se * t_quantile(1 - PASS_ALPHA, est.df))
        slower = est.p_less < alpha
        faster = 1 - est.p_less < alpha
    else:
        pass_low, slower, faster = 0.0, False, False
    outcome = three_way(slower, faster, est.ratio, pass_low, max_regression)
    mde = detectable_drop(est.se, est.df, alpha)
    notes = _notes(len(baseline), prior, est, remedies)
    needed: int | None = 0
    if mde > max_regression:
        per_session = max(1, round(len(baseline) / len(sessions)))
        needed = _runs_needed(est, prior, per_session, len(sessions), max_regression, alpha)
    return ThroughputVerdict(
        outcome=outcome,
        estimate=est,
        current=list(current),
        baseline=baseline,
        threshold=max_regression,
        alpha=alpha,
        mde=mde,
        runs_needed=needed,
        baseline_path=baseline_path,
        notes=notes,
        session=session,
        sessions=[list(s) for s in sessions],
        described=described,
        remedies=remedies,
    )


def _notes(
    baseline_runs: int, prior: Spread | None, est: LogRatio, remedies: Remedies
) -> list[str]:
    """What the data cannot tell, in words."""
    notes = []
    if baseline_runs == 1 and (prior is None or not prior.known):
        notes.append("1 baseline run: between-run variance unknown")
    if not est.spread.known:
        notes.append(
            "with one run on each side and no saved noise estimate nothing bounds the"
            f" between-run variance ({remedies.unbounded})"
        )
    return notes


def _runs_needed(
    est: LogRatio,
    prior: Spread | None,
    per_session: int,
    sessions: int,
    max_regression: float,
    alpha: float,
) -> int | None:
    """Runs a session that would bring the detectable drop under ``max_regression``
    against a baseline of ``sessions`` of ``per_session`` runs (``None``: no number)."""
    session = est.session
    return runs_needed(
        est.spread.sigma if est.spread.known else math.nan,
        per_session,
        max_regression,
        alpha,
        prior_df=prior.df if prior is not None and prior.known else 0,
        session_sigma=session.sigma if session else 0.0,
        session_df=session.df if session else 0,
        baseline_sessions=sessions,
    )
