"""The paired nightly's nights and their spreads: pair noise within and across nights,
and a night level beyond it (:mod:`bf16perf.verdicts.paired` judges with them).

The pair spread is estimated from the window's pairs within their nights and from the
nights before it (at most :data:`HORIZON`) around their common mean, pooled with
:data:`PAIR_PRIOR` by degrees of freedom, so a new machine's own nights soon outweigh the
prior.  The night means' scatter beyond what their pairs explain (a candidate x night
interaction) is estimated from the nights before the window and pooled with
:data:`EXCESS_PRIOR` the same way, so the rule never assumes the pairs cancel more than
they do, least of all on a new series' first nights.  Nothing here reads files.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bf16perf.stats.figures import Spread

__all__ = ["EXCESS_PRIOR", "HORIZON", "PAIR_PRIOR", "PairNight", "night_excess", "pair_spread"]

#: The pair spread assumed before the nights measure their own: the upper end of the 95%
#: interval of 32 real pairs' 5.6% on the build VM (BENCHMARKS.md Y1), at 4 degrees of
#: freedom, so that a machine's own nights outweigh it within a week of 2 pairs a night.
PAIR_PRIOR = Spread(0.075, 4, "prior: the build VM's pair spread, upper end, BENCHMARKS.md Y1")
#: The night level beyond the pairs assumed before the nights measure their own: the 2%
#: that BENCHMARKS.md R1 models, at 4 degrees of freedom.  Without it a new series reads
#: an unseen excess as none, and an excess correlated from night to night then made 1.25-
#: 1.5% of unchanged nights exit 10 at 5 pairs (R5); with it, 0.65-1.1%.
EXCESS_PRIOR = Spread(0.02, 4, "prior: the night level R1 models")
#: The nights before the window that the spreads are estimated from (older ones may
#: predate a change the stack has since kept).
HORIZON = 28
#: Night means before the window needed to estimate an excess night-to-night scatter.
MIN_NIGHTS_FOR_EXCESS = 4


@dataclass(frozen=True)
class PairNight:
    """One night's pairs of one variant against one reference.

    Attributes:
        started: when the session started.
        log_ratios: ``log(candidate / reference)`` of each pair, in the order run.
    """

    started: str
    log_ratios: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.log_ratios)


def pair_spread(
    nights: Sequence[PairNight], before: Sequence[PairNight] = (), prior: Spread = PAIR_PRIOR
) -> Spread:
    """The pair spread: within each night of ``nights`` (the window; a night of ``n``
    pairs gives ``n - 1`` degrees of freedom), around the common mean of the nights
    ``before`` the window (all their pairs but one give degrees of freedom: a night level
    beyond the pairs makes it larger, never smaller, and :func:`night_excess` then adds
    only the rest), and ``prior``, pooled by degrees of freedom."""
    ss, df = 0.0, 0
    for night in nights:
        if len(night.log_ratios) > 1:
            m = night.mean
            ss += sum((d - m) ** 2 for d in night.log_ratios)
            df += len(night.log_ratios) - 1
    earlier = [d for night in before for d in night.log_ratios]
    if len(earlier) > 1:
        m = statistics.fmean(earlier)
        ss += sum((d - m) ** 2 for d in earlier)
        df += len(earlier) - 1
    source = f"{df} df from {len(nights) + len(before)} night(s) of pairs"
    if prior.known:
        ss += prior.sigma**2 * prior.df
        df += prior.df
        source += f" + {prior.source}"
    return Spread(math.sqrt(ss / df) if df else math.nan, df, source)


def night_excess(
    before: Sequence[PairNight], sigma_p: float, prior: Spread = EXCESS_PRIOR
) -> tuple[float, int]:
    """The variance of a night mean beyond its pairs' share, with its degrees of freedom:
    from the nights ``before`` the window (0 when they scatter no more than their pairs
    explain; none while they are fewer than :data:`MIN_NIGHTS_FOR_EXCESS`), pooled with
    ``prior`` by degrees of freedom."""
    ss, df = 0.0, 0
    if len(before) >= MIN_NIGHTS_FOR_EXCESS:
        means = [n.mean for n in before]
        share = sigma_p**2 * statistics.fmean(1 / len(n.log_ratios) for n in before)
        df = len(before) - 1
        ss = max(0.0, statistics.variance(means) - share) * df
    if prior.known:
        ss, df = ss + prior.sigma**2 * prior.df, df + prior.df
    return (ss / df, df) if df else (0.0, 0)
