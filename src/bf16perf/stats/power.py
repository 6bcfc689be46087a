"""Power: the smallest slowdown a verdict can detect, and how many runs or pairs it takes.

Every throughput verdict states its minimum detectable effect at :data:`POWER` and, where
that exceeds the threshold, how many runs or pairs would bring it below, so that an
INCONCLUSIVE says what would make it conclusive.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "POWER",
    "SIGNED_RANK_SEED",
    "detectable_drop",
    "min_pairs_for",
    "pairs_needed",
    "runs_needed",
    "signed_rank_drop",
    "signed_rank_pairs",
    "signed_rank_whole_drop",
    "two_sessions",
]

#: The power at which the minimum detectable effect is stated.
POWER = 0.8
#: The seed of the signed-rank power simulation: a verdict's printed figure is repeatable.
SIGNED_RANK_SEED = 20261202
_DRAWS = 4000


def detectable_drop(se: float, df: int, alpha: float, power: float = POWER) -> float:
    """The smallest slowdown (a fraction: 0.05 is 5%) that a one-sided test at ``alpha``
    detects with ``power``, given the standard error ``se`` of the log ratio and its degrees
    of freedom: ``1 - exp(-(t[1-alpha] + t[power]) * se)``.  ``inf`` when ``se`` is unknown.
    """
    from scipy import stats as sps  # not at import: the plugin's options need min_pairs_for

    if df <= 0 or not math.isfinite(se):
        return math.inf
    shift = (float(sps.t.ppf(1 - alpha, df)) + float(sps.t.ppf(power, df))) * se
    return 1 - math.exp(-shift)


def two_sessions(
    run_var: float,
    run_df: float,
    session_sigma: float,
    session_df: int,
    baseline_sessions: int = 1,
) -> tuple[float, int]:
    """A session against a baseline of ``baseline_sessions`` sessions: the standard error
    of the log ratio from the runs' variance ``run_var`` (with ``run_df``) plus the session
    draws (``session_sigma**2 * (1 + 1/m)``: today's, and the baseline's averaged over its
    ``m`` sessions), and its Welch-Satterthwaite degrees of freedom.  Without a session
    term (``session_sigma`` or ``session_df`` 0): the runs' own."""
    session_var = session_sigma**2 * (1 + 1 / baseline_sessions)
    if session_var <= 0 or session_df <= 0:
        return math.sqrt(run_var), max(1, math.floor(run_df))
    total = run_var + session_var
    df = total**2 / (run_var**2 / run_df + session_var**2 / session_df)
    return math.sqrt(total), max(1, math.floor(df))


def _smallest(ok: Callable[[int], bool], start: int, limit: int) -> int | None:
    """The smallest ``n`` in ``[start, limit]`` with ``ok(n)``, for ``ok`` monotone in ``n``."""
    if start > limit or not ok(limit):
        return None
    lo, hi = start, limit
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def runs_needed(
    sigma: float,
    baseline_runs: int,
    threshold: float,
    alpha: float,
    *,
    prior_df: int = 0,
    session_sigma: float = 0.0,
    session_df: int = 0,
    baseline_sessions: int = 1,
    limit: int = 100,
) -> int | None:
    """Current runs that bring the detectable drop against ``baseline_runs`` runs down to
    ``threshold``; ``None`` when no number up to ``limit`` does (the baseline, or the
    between-session spread ``session_sigma`` that no run of one session averages away, is
    the bottleneck); ``baseline_runs`` is the runs of each of ``baseline_sessions``."""
    if not math.isfinite(sigma):
        return None

    def ok(m: int) -> bool:
        run_var = sigma**2 * (1 / m + 1 / (baseline_runs * baseline_sessions))
        run_df = m + (baseline_runs - 1) * baseline_sessions - 1 + prior_df
        se, df = two_sessions(run_var, run_df, session_sigma, session_df, baseline_sessions)
        return detectable_drop(se, df, alpha) <= threshold

    return _smallest(ok, 1, limit)


def pairs_needed(
    sigma: float, threshold: float, alpha: float, *, exact_floor: bool = True, limit: int = 200
) -> int | None:
    """Pairs whose detectable drop (paired, ``n - 1`` df) is at most ``threshold``; with
    ``exact_floor`` also enough pairs for an exact signed-rank test to reach ``alpha``."""
    if not math.isfinite(sigma):
        return None
    start = max(2, min_pairs_for(alpha)) if exact_floor else 2
    return _smallest(
        lambda n: detectable_drop(sigma / math.sqrt(n), n - 1, alpha) <= threshold, start, limit
    )


def min_pairs_for(alpha: float) -> int:
    """The fewest pairs with which an exact one-sided signed-rank test can reach ``alpha``."""
    return max(1, math.ceil(math.log2(1 / alpha) - 1e-12))


def _critical_count(pairs: int, alpha: float) -> int:
    """The largest ``c`` whose exact one-sided signed-rank tail ``P(W+ <= c)`` is below
    ``alpha``, as the A/B rule rejects (``p < alpha``); -1 where even ``W+ = 0`` is not."""
    import numpy as np

    from bf16perf.stats.ranks import signed_rank_null

    tail = np.cumsum(signed_rank_null(pairs))
    within = np.nonzero(tail < alpha - 1e-15)[0]
    return int(within[-1]) if within.size else -1


@functools.lru_cache(maxsize=256)
def _signed_rank_shift(pairs: int, alpha: float, power: float) -> float:
    """The standardized shift (in units of the pairs' spread) at which the exact one-sided
    signed-rank test on ``pairs`` pairs at ``alpha`` rejects with ``power``: the test sees
    only signs and ranks, so this one number per ``(pairs, alpha)`` serves every spread.
    ``inf`` where nothing is detectable."""
    import numpy as np

    c = _critical_count(pairs, alpha)
    if c < 0:
        return math.inf
    noise = np.random.default_rng(SIGNED_RANK_SEED).normal(0.0, 1.0, size=(_DRAWS, pairs))

    def rejects(shift: float) -> float:
        d = noise - shift
        ranks = np.abs(d).argsort(axis=1).argsort(axis=1) + 1
        return float(np.mean(np.where(d > 0, ranks, 0).sum(axis=1) <= c))

    return _least_reaching(rejects, power, 16.0, 24)


def _least_reaching(share: Callable[[float], float], power: float, hi: float, steps: int) -> float:
    """The smallest shift in ``[0, hi]`` at which ``share`` (rising with the shift)
    reaches ``power``, by ``steps`` bisections; ``inf`` where even ``hi`` does not."""
    if share(hi) < power:
        return math.inf
    lo = 0.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        if share(mid) >= power:
            hi = mid
        else:
            lo = mid
    return hi


def signed_rank_drop(sigma: float, pairs: int, alpha: float, power: float = POWER) -> float:
    """The smallest slowdown that the exact one-sided Wilcoxon signed-rank test of the A/B
    rule detects with ``power`` from ``pairs`` pairs whose log ratios scatter by ``sigma``
    (normal): simulated with :data:`SIGNED_RANK_SEED`, so the figure is repeatable.  The
    t approximation overstates this test's power at few pairs (at 8 pairs and alpha 0.78%,
    68% at the t figure, not 80%).  ``inf`` where no drop is detectable (too few pairs
    for ``alpha``, or ``sigma`` unknown)."""
    if pairs < 1 or not math.isfinite(sigma):
        return math.inf
    shift = _signed_rank_shift(pairs, alpha, power)
    if not math.isfinite(shift):
        return math.inf
    return 1 - math.exp(-shift * sigma)


@functools.lru_cache(maxsize=64)
def _walsh_draws(pairs: int, alpha: float) -> tuple[Any, Any] | None:
    """Per standardized draw (the draws of :func:`signed_rank_drop`): the smallest shift
    at which the exact test rejects, and the Hodges-Lehmann estimate.  With ``d = z -
    s``, ``W+`` counts the Walsh averages of ``z`` above ``s`` (Tukey), so the test
    (``W+ <= c``) rejects from the ``(c+1)``-th largest Walsh average on; ``None`` where
    it never can."""
    import numpy as np

    c = _critical_count(pairs, alpha)
    if c < 0:
        return None
    z = np.random.default_rng(SIGNED_RANK_SEED).normal(0.0, 1.0, size=(_DRAWS, pairs))
    i, j = np.triu_indices(pairs)
    walsh = np.sort((z[:, i] + z[:, j]) / 2, axis=1)
    return walsh[:, -(c + 1)], np.median(walsh, axis=1)


def signed_rank_whole_drop(
    sigma: float, pairs: int, alpha: float, threshold: float, power: float = POWER
) -> float:
    """The smallest slowdown the whole A/B rule flags with ``power``: the exact one-sided
    signed-rank test at ``alpha`` *and* a Hodges-Lehmann estimate below ``1 - threshold``
    (a significant 3% drop is no REGRESSION under a 5% threshold), on the same draws as
    :func:`signed_rank_drop`.  ``inf`` where nothing is detectable."""
    import numpy as np

    draws = _walsh_draws(pairs, alpha) if pairs >= 1 else None
    if draws is None or not (math.isfinite(sigma) and sigma > 0):
        return math.inf
    rejects_from, hodges_lehmann = draws
    bar = math.log(1 - threshold)

    def flags(shift: float) -> float:
        # a drop ``shift`` (log) in pairs scattering by ``sigma``: d = sigma * z - shift
        s = shift / sigma
        return float(np.mean((s >= rejects_from) & (hodges_lehmann < (shift + bar) / sigma)))

    shift = _least_reaching(flags, power, 16.0 * sigma - bar, 40)
    return math.inf if math.isinf(shift) else 1 - math.exp(-shift)


def signed_rank_pairs(
    sigma: float, threshold: float, alpha: float, *, limit: int = 200
) -> int | None:
    """The fewest pairs whose :func:`signed_rank_drop` is at most ``threshold`` (searched
    upward by doubling, so a handful of pairs costs a handful of simulations)."""
    if not math.isfinite(sigma):
        return None

    def ok(n: int) -> bool:
        return signed_rank_drop(sigma, n, alpha) <= threshold

    lo = max(2, min_pairs_for(alpha))
    hi = lo
    while not ok(hi):
        if hi >= limit:
            return None
        lo, hi = hi + 1, min(limit, hi * 2)
    return _smallest(ok, lo, hi)
