"""One error budget per session: Holm's step-down adjustment of a session's verdicts.

A session makes several verdicts that can each fail it (a stored verdict per variant,
several workloads, the trend series).  Each at ``alpha`` alone, an unchanged night fails
with probability up to ``k * alpha``.  Holm's step-down (Holm 1979) keeps the chance of
any false failure at ``alpha`` under any dependence between the verdicts, and rejects
everything Bonferroni rejects and more; it needs no model of how the verdicts correlate
(fp32 and bf16 share each session's draw, so they do).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["holm"]


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given: the ``i``-th smallest raw ``p`` becomes
    ``max over j <= i of min(1, (k - j) * p_(j))`` (0-based ``j``).  Reject where the
    adjusted value is below ``alpha``.  A ``nan`` (no test possible) stays ``nan`` and does
    not count in ``k``."""
    known = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    k = len(known)
    out = [math.nan] * len(p_values)
    running = 0.0
    for j, (p, i) in enumerate(known):
        running = max(running, min(1.0, (k - j) * p))
        out[i] = running
    return out
