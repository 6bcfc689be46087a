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
night; a lasting drop fails on its second night at the earliest.  Release mode judges one
session as it is (:mod:`bf16perf.judge`).  Nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bf16perf.decisions import Outcome
from bf16perf.verdicts.baseline import ThroughputVerdict

__all__ = ["CONFIRM_ALPHA", "Confirmation", "below", "confirm", "confirmed"]

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
            ``no-previous`` (no earlier session to confirm with) or ``previous-not-below``.
        previous: the previous session's verdict against the baseline (``None``: none).
        started: when the previous session started (``None``: none).
    """

    outcome: Outcome
    reason: str
    previous: ThroughputVerdict | None
    started: str | None

    def to_dict(self) -> dict[str, Any]:
        prev = self.previous
        return {
            "reason": self.reason,
            "confirm_alpha": CONFIRM_ALPHA,
            "previous_started": self.started,
            "previous_ratio": prev.estimate.ratio if prev else None,
            "previous_p": prev.estimate.p_less if prev and prev.estimate.spread.known else None,
            "previous_runs": prev.current if prev else None,
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
            return Confirmation(Outcome.REGRESSION, "confirmed", previous, started)
        return Confirmation(Outcome.SUSPECT, "previous-not-below", previous, started)
    if (
        previous is not None
        and previous.outcome is Outcome.REGRESSION
        and below(tonight, confirm_alpha)
    ):
        return Confirmation(Outcome.REGRESSION, "confirms-previous", previous, started)
    return None


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
    return tonight, confirm(tonight, before, started if before else None)
