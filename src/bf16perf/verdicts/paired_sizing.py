"""How many pairs a night the paired nightly runs: sized from the measured pair spread.

The power of the lasting-drop window goes with ``pair spread / sqrt(pairs)``, so a machine
whose pairs scatter more needs more of them to flag the same lasting drop within the same
nights.  :func:`pairs_for` finds the fewest, by the whole rule's detectable drop
(:func:`bf16perf.verdicts.paired.mde`, threshold condition included).  Nothing here reads
files: :func:`bf16perf.session.checks.paired_pairs` finds the spread to size from.
"""

from __future__ import annotations

import math

from bf16perf.stats.figures import Spread
from bf16perf.verdicts.paired import PAIRED_PAIRS, TONIGHT_SHARE, WINDOW, mde

__all__ = ["LASTING_DROP", "MAX_PAIRS", "SIZING_POWER", "pairs_for"]

#: The lasting drop that the paired nightly's pair count is sized to flag within
#: :data:`WINDOW` nights, with :data:`SIZING_POWER` (#36: "a lasting 10% drop within 3
#: nights in at least 95% of starts").
LASTING_DROP = 0.10
SIZING_POWER = 0.95
#: The most pairs a night the sizing asks for (each pair is two runs of each variant);
#: a machine that needs more is told to lengthen its runs instead.
MAX_PAIRS = 6


def pairs_for(
    spread: Spread,
    alpha: float,
    threshold: float,
    *,
    drop: float = LASTING_DROP,
    power: float = SIZING_POWER,
    most: int = MAX_PAIRS,
) -> int | None:
    """The fewest pairs a night (at least :data:`PAIRED_PAIRS`) with which the lasting-drop
    window, once it holds :data:`WINDOW` nights of a lasting ``drop``, flags it with
    ``power`` at its part of the variant's level ``alpha``, threshold condition included,
    at the pair spread ``spread`` (its degrees of freedom in the t quantiles); ``None``
    when even ``most`` pairs cannot."""
    if not spread.known:
        return None
    level = alpha * (1 - TONIGHT_SHARE)
    for pairs in range(PAIRED_PAIRS, most + 1):
        se = spread.sigma / math.sqrt(WINDOW * pairs)
        if mde(se, spread.df, level, threshold, power) <= drop:
            return pairs
    return None
