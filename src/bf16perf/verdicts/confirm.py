"""A stored regression confirmed by a second session: one session's draw is not evidence.

A session's draw (its cluster, its hour, its co-tenant) is heavy-tailed.  On a Zen 3 guest
one session in 16 ran 20% slow in all three of its runs with nothing visible to the
CPU-window sampler, and it alone failed a replayed nightly (BENCHMARKS.md Y2): a normal
prediction interval from a few baseline sessions does not cover such a draw, and no number
of runs within the session averages it away.  Two independent sessions both below the
baseline do make evidence.  So, in the nightly mode, a stored regression fails only when
the session before it (on this machine, for the same workload key, judged against the
baseline sessions saved before it started) is below the baseline too: one of the two at
the session's share of the error budget, the other at :data:`CONFIRM_ALPHA`.  Otherwise
the night is SUSPECT: a notice that the next session confirms or clears.

Under an unchanged stack two sessions are two draws, so a lone slow session cannot fail a
night, unless no session draw explains it: a drop of more than :data:`UNEXPLAINED_FLOOR`
still significant at the session's share when the between-session spread is taken at the
one-sided 95% upper confidence bound of its estimate (:func:`unexplained`; a 50% slower
session against a fresh baseline, say) fails at once, with no previous session needed.
A lasting drop otherwise fails on its second night at the earliest.  Release mode judges
one session as it is (:mod:`bf16perf.verdicts.apply`).  Nothing here reads files.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bf16perf.verdicts.baseline import ThroughputVerdict
from bf16perf.verdicts.outcomes import Outcome

#: The one-sided confidence of the between-session spread's upper bound that a drop must
#: exceed to fail without a second session.
UNEXPLAINED_CONFIDENCE = 0.95
#: The stated margin: a drop fails without a second session only beyond this too.  One
#: session in 16 of a machine whose sessions scatter by 3.7% ran 20% slow in every run
#: (BENCHMARKS.md Y2), so a normal model of the session draw does not bound its tail;
#: 25% is that draw and the default threshold beyond it.
UNEXPLAINED_FLOOR = 0.25

__all__ = ["CONFIRM_ALPHA", "Confirmation", "below", "confirm", "confirmed", "unexplained"]

#: The level at which the second of two sessions confirms the first's significant drop.
#: Under an unchanged stack the pair needs two independent draws: at most twice the
#: session's share times 5% apart from what the shared baseline correlates.
CONFIRM_ALPHA = 0.05


def below(verdict: ThroughputVerdict, alpha: float) -> bool:
    """``verdict``'s session is slower than its baseline at ``alpha`` (one-sided) and by
    more than the threshold."""
    e = verdict.estimate
    return e.spread.known and e.p_less < alpha and e.ratio < 1 - verdict.threshold


@dataclass(frozen=True)
class Confirmation:
    """What the session before this one says about this one's drop.

    Attributes:
        outcome: REGRESSION (two sessions below) or SUSPECT (one).
        reason: ``confirmed`` (this session's drop, the previous one below too),
            ``confirms-previous`` (the previous session's drop, this one below too),
            ``beyond-session-spread`` (no session draw explains it: :func:`unexplained`),
            ``no-previous`` (no earlier session to confirm with) or ``previous-not-below``.
        previous: the previous session's verdict against the baseline (``None``: none).
        started: when the previous session started (``None``: none).
        p: the decision's p on the verdict's level: of the session whose drop cleared the
            share (the other only confirmed it at :data:`CONFIRM_ALPHA`), or the
            unexplained drop's (``None``: the verdict's own).
    """

    outcome: Outcome
    reason: str
    previous: ThroughputVerdict | None
    started: str | None
    p: float | None = None

    def text(self) -> str:
        """The two-session rule's clause for a nightly throughput verdict."""
        prev = self.previous
        then = (
            f"the previous session ({self.started}: x{prev.estimate.ratio:.3f},"
            f" p={prev.estimate.p_less:.2g} against the baseline sessions saved before it)"
            if prev is not None
            else ""
        )
        if self.reason == "confirmed":
            return f"; confirmed by {then}, below at {CONFIRM_ALPHA:g} too: a lasting drop"
        if self.reason == "confirms-previous":
            return (
                f"; below at {CONFIRM_ALPHA:g}, which confirms the drop of {then}: a lasting drop"
            )
        if self.reason == "beyond-session-spread":
            return (
                f"; beyond what any session draw explains: over {UNEXPLAINED_FLOOR:.0%} and"
                f" still significant (p={self.p:.2g}) with the between-session spread at its"
                f" one-sided {UNEXPLAINED_CONFIDENCE:.0%} upper confidence bound, so it fails"
                " without a second session"
            )
        why = (
            f"{then} was not below"
            if prev is not None
            else "no earlier session of this workload on this machine since the baseline was"
            " saved is in the history (--perf-history) to confirm it"
        )
        return (
            f"; nightly mode: one session below, not yet a regression: {why}; one session's"
            " draw can be this slow (BENCHMARKS.md Y2), so the next session confirms or"
            " clears it (run pytest perf/ again to decide now)"
        )

    def to_dict(self) -> dict[str, Any]:
        prev = self.previous
        return {
            "reason": self.reason,
            "confirm_alpha": CONFIRM_ALPHA,
            "previous_started": self.started,
            "previous_ratio": prev.estimate.ratio if prev else None,
            "previous_p": prev.estimate.p_less if prev and prev.estimate.spread.known else None,
            "previous_runs": prev.current if prev else None,
            "p": self.p,
        }


def confirm(
    tonight: ThroughputVerdict,
    previous: ThroughputVerdict | None,
    started: str | None = None,
    *,
    confirm_alpha: float = CONFIRM_ALPHA,
) -> Confirmation | None:
    """The two-session rule on this session's verdict and the previous session's (both
    judged at the same ``alpha``, against the same baseline).  ``None``: nothing to confirm
    or to clear, the verdict stands as the rule gave it."""
    if tonight.outcome is Outcome.REGRESSION:
        if previous is None:
            return Confirmation(Outcome.SUSPECT, "no-previous", None, None)
        if below(previous, confirm_alpha):
            p = min(tonight.estimate.p_less, previous.estimate.p_less)
            return Confirmation(Outcome.REGRESSION, "confirmed", previous, started, p)
        return Confirmation(Outcome.SUSPECT, "previous-not-below", previous, started)
    if (
        previous is not None
        and previous.outcome is Outcome.REGRESSION
        and below(tonight, confirm_alpha)
    ):
        # the p of the decision is the previous session's, which cleared the share;
        # tonight's only cleared CONFIRM_ALPHA
        p = min(tonight.estimate.p_less, previous.estimate.p_less)
        return Confirmation(Outcome.REGRESSION, "confirms-previous", previous, started, p)
    return None


def unexplained(verdict: ThroughputVerdict) -> float:
    """The p of ``verdict``'s drop with the between-session spread it used taken at its
    one-sided :data:`UNEXPLAINED_CONFIDENCE` upper confidence bound (chi-square on its
    degrees of freedom), for a new session against the baseline's ``m`` sessions
    (``tau^2 (1 + 1/m)`` of the variance).  ``nan`` where no session spread was used."""
    from scipy import stats as sps

    e = verdict.estimate
    used = e.session
    if used is None or not used.known or not e.spread.known or not math.isfinite(e.se):
        return math.nan
    hi = used.sigma * math.sqrt(used.df / float(sps.chi2.ppf(1 - UNEXPLAINED_CONFIDENCE, used.df)))
    m = max(1, len(verdict.sessions))
    se = math.sqrt(e.se**2 + (hi**2 - used.sigma**2) * (1 + 1 / m))
    return float(sps.t.cdf(math.log(e.ratio) / se, e.df))


def confirmed(
    rule: Callable[[Sequence[float], Sequence[Sequence[float]]], ThroughputVerdict],
    current: Sequence[float],
    baseline: Sequence[Sequence[float]],
    previous: Sequence[float] | None = None,
    earlier: Sequence[Sequence[float]] = (),
    started: str | None = None,
) -> tuple[ThroughputVerdict, Confirmation | None]:
    """This session's verdict by ``rule`` against ``baseline``, and what the previous
    session's runs (``previous``, started ``started``), judged by the same rule against
    the baseline sessions saved before it (``earlier``), say of it (:func:`confirm`).  No
    previous runs or no earlier sessions: nothing to confirm with.  The one place the
    plugin and the replay of a nightly apply the two-session rule."""
    tonight = rule(current, baseline)
    before = rule(previous, earlier) if previous and earlier else None
    found = confirm(tonight, before, started if before else None)
    if found is not None and found.outcome is Outcome.SUSPECT:
        p = unexplained(tonight)
        far = tonight.estimate.ratio < 1 - UNEXPLAINED_FLOOR
        if p < tonight.alpha and far:  # no session draw explains it: it fails tonight
            return tonight, Confirmation(
                Outcome.REGRESSION, "beyond-session-spread", found.previous, found.started, p
            )
    return tonight, found
