"""The exact one-sided Wilcoxon signed-rank test on per-pair log ratios, with the
Hodges-Lehmann estimate and its exact distribution-free interval (Hollander and Wolfe,
ch. 3): the A/B rule's statistics (pure functions, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SignedRank", "signed_rank", "signed_rank_null"]


def signed_rank_null(n: int) -> np.ndarray:
    """Exact null distribution of the signed-rank statistic W+ for ``n`` pairs (no ties)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for r in range(1, n + 1):
        counts[r:] = counts[r:] + counts[:-r].copy()
    dist: np.ndarray = counts / counts.sum()
    return dist


@dataclass(frozen=True)
class SignedRank:
    """A one-sided Wilcoxon signed-rank test on per-pair log ratios, with its estimate.

    Attributes:
        ratio: the Hodges-Lehmann estimate (median of the Walsh averages), as a ratio.
        low, high: its exact distribution-free interval (0 and inf where ``n`` pairs are
            too few for the coverage).
        confidence: the two-sided coverage asked for.
        p_less: exact one-sided p-value of "the candidate is slower".
        pairs: how many pairs.
        floor: the smallest p-value ``pairs`` can give (``1/2**pairs``).
    """

    ratio: float
    low: float
    high: float
    confidence: float
    p_less: float
    pairs: int
    floor: float


def signed_rank(log_ratios: Sequence[float], *, confidence: float = 0.98) -> SignedRank:
    """Exact Wilcoxon signed-rank test (alternative: the log ratios are below 0) with the
    Hodges-Lehmann estimate and interval (Hollander and Wolfe, ch. 3)."""
    d = np.asarray(log_ratios, float)
    n = d.size
    if n == 0:
        raise ValueError("signed_rank needs at least one pair")
    null = signed_rank_null(n)
    cdf = np.cumsum(null)
    ranks = _rankdata(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    # P(W+ <= observed) under the null; ties in |d| (rare on real timings) use the midranks
    p_less = float(cdf[min(math.floor(w_plus + 1e-9), cdf.size - 1)])
    walsh = np.sort((d[:, None] + d[None, :])[np.triu_indices(n)] / 2)
    estimate = float(np.median(walsh))
    tail = (1 - confidence) / 2
    # [walsh[c-1], walsh[N-c]] (1-based c) covers with 1 - 2 P(W+ <= c-1)
    allowed = np.nonzero(cdf <= tail + 1e-12)[0]
    if allowed.size:
        c = int(allowed[-1]) + 1
        low, high = math.exp(walsh[c - 1]), math.exp(walsh[walsh.size - c])
    else:
        low, high = 0.0, math.inf
    return SignedRank(
        ratio=math.exp(estimate),
        low=low,
        high=high,
        confidence=confidence,
        p_less=p_less,
        pairs=n,
        floor=float(null[0]),
    )


def _rankdata(values: np.ndarray) -> np.ndarray:
    """Midranks of ``values`` (scipy, imported on first use)."""
    from scipy.stats import rankdata

    ranked: np.ndarray = rankdata(values)
    return ranked
