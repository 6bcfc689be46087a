"""Change points in a series of run figures: where did it shift, by how much, how sure.

The method is Otava's (Apache Otava, formerly Hunter; after MongoDB's use of E-divisive in
Daly et al., *Change Point Detection in Software Performance Testing*, ICPE 2020):

1. **Candidates** by E-divisive means (Matteson and James, 2014): within windows of the
   series, the split that maximises the energy-distance statistic
   ``Q(tau) = m n / (m + n) * (2 E|X - Y| - E|X - X'| - E|Y - Y'|)``, applied recursively.
   Windows (of ``window`` points, half-overlapping) keep it linear in the series' length.
2. **Significance** by a two-sample t-test between the segments on either side of each
   candidate (bounded by its neighbouring candidates); the weakest insignificant candidate
   is dropped and the others re-tested until all pass.  Unlike Otava, the test accounts for
   drift: the variance of a segment mean is inflated by ``(1 + rho) / (1 - rho)`` and the
   degrees of freedom shrink alike, with ``rho`` the lag-1 autocorrelation of the residuals
   (clipped to [0, 0.9]), so an AR(1)-like machine does not read as a string of shifts.

Everything works on log figures, so a shift is a ratio.  Pure functions, numpy and scipy.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ChangePoint", "ar1_series", "detect", "residual_rho"]


@dataclass(frozen=True)
class ChangePoint:
    """A shift of the series.

    Attributes:
        index: the first point after the shift (0-based).
        ratio: geometric mean after / before (0.9: 10% lower).
        low, high: its 95% interval (drift-adjusted).
        p: two-sided p-value of the shift.
        before, after: points in the segments compared.
    """

    index: int
    ratio: float
    low: float
    high: float
    p: float
    before: int
    after: int


def _energy_split(x: np.ndarray, min_size: int) -> tuple[int, float] | None:
    """The E-divisive split of ``x`` (index of the first point after it) and its Q."""
    n = len(x)
    if n < 2 * min_size:
        return None
    d = np.abs(x[:, None] - x[None, :])
    s = np.zeros((n + 1, n + 1))
    s[1:, 1:] = d.cumsum(0).cumsum(1)  # 2-D prefix sums: any block's sum in O(1)
    tau = np.arange(min_size, n - min_size + 1)
    m, k = tau.astype(float), (n - tau).astype(float)
    between = (s[tau, n] - s[tau, tau]) / (m * k)  # rows [0, tau), columns [tau, n)
    left = s[tau, tau] / np.maximum(1.0, m * (m - 1))
    right = (s[n, n] - 2 * s[tau, n] + s[tau, tau]) / np.maximum(1.0, k * (k - 1))
    q = m * k / n * (2 * between - left - right)
    best = int(np.argmax(q))
    return int(tau[best]), float(q[best])


def _candidates(x: np.ndarray, min_size: int, window: int) -> list[int]:
    found: set[int] = set()

    def bisect(lo: int, hi: int, depth: int) -> None:
        split = _energy_split(x[lo:hi], min_size)
        if split is None or split[1] <= 0:
            return
        tau = lo + split[0]
        found.add(tau)
        if depth < 6:
            bisect(lo, tau, depth + 1)
            bisect(tau, hi, depth + 1)

    step = max(1, window // 2)
    for start in range(0, max(1, len(x) - min_size), step):
        bisect(start, min(len(x), start + window), 0)
        if start + window >= len(x):
            break
    return sorted(found)


def _refine(x: np.ndarray, cuts: list[int], min_size: int, reach: int = 3) -> list[int]:
    """Move each cut within ``reach`` points to where the mean shift between its
    neighbouring cuts is sharpest (largest ``|mean difference| / sqrt(1/m + 1/k)``): the
    energy statistic's argmax can sit a point or two off a step when the step is small."""
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    out = list(cuts)
    for i, c in enumerate(out):
        a = out[i - 1] if i else 0
        b = out[i + 1] if i + 1 < len(out) else len(x)
        taus = np.arange(max(a + min_size, c - reach), min(b - min_size, c + reach) + 1)
        if len(taus) == 0:
            continue
        m, k = (taus - a).astype(float), (b - taus).astype(float)
        diff = (c1[b] - c1[taus]) / k - (c1[taus] - c1[a]) / m
        out[i] = int(taus[int(np.argmax(np.abs(diff) / np.sqrt(1 / m + 1 / k)))])
    return sorted(set(out))


def residual_rho(x: np.ndarray, cuts: Sequence[int]) -> float:
    """Lag-1 autocorrelation of ``x`` less its segment means: 0 unless it stands out of
    white noise's 95% band (``2 / sqrt(n)``), then bias-corrected, at most 0.9."""
    edges = [0, *cuts, len(x)]
    resid = np.concatenate([x[a:b] - x[a:b].mean() for a, b in itertools.pairwise(edges) if b > a])
    denom = float((resid * resid).sum())
    if len(resid) < 4 or denom <= 0:
        return 0.0
    rho = float((resid[1:] * resid[:-1]).sum()) / denom
    if rho < 2 / math.sqrt(len(resid)):
        return 0.0  # within white noise's 95% band: a noisy estimate would only cost power
    rho += (1 + 3 * rho) / len(resid)  # the lag-1 estimate's small-sample bias (Kendall)
    return min(0.9, rho)


def _tests(x: np.ndarray, cuts: list[int], rho: float) -> list[ChangePoint]:
    """Each cut's shift between its neighbouring segments, drift-adjusted t (vectorized:
    a long history's pruning re-tests hundreds of candidates many times)."""
    from scipy import stats

    edges = np.array([0, *cuts, len(x)])
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    a, c, b = edges[:-2], edges[1:-1], edges[2:]
    m, k = (c - a).astype(float), (b - c).astype(float)
    sum_l, sum_r = c1[c] - c1[a], c1[b] - c1[c]
    ss_l = (c2[c] - c2[a]) - sum_l**2 / m
    ss_r = (c2[b] - c2[c]) - sum_r**2 / k
    diff = sum_r / k - sum_l / m
    inflate = (1 + rho) / (1 - rho)
    pooled = np.maximum((ss_l + ss_r) / np.maximum(1.0, m + k - 2), 1e-18)
    se = np.sqrt(pooled * inflate * (1 / m + 1 / k))
    df = np.maximum(1.0, (m + k - 2) / inflate)
    p = 2 * stats.t.sf(np.abs(diff / se), df)
    half = stats.t.ppf(0.975, df) * se
    return [
        ChangePoint(
            int(c[i]),
            math.exp(diff[i]),
            math.exp(diff[i] - half[i]),
            math.exp(diff[i] + half[i]),
            float(p[i]),
            before=int(m[i]),
            after=int(k[i]),
        )
        for i in range(len(cuts))
    ]


def detect(
    figures: Sequence[float] | np.ndarray,
    *,
    max_p: float = 0.002,
    min_shift: float = 0.02,
    min_size: int = 3,
    window: int = 60,
) -> list[ChangePoint]:
    """The significant change points of a series of positive figures (run or session
    figures, oldest first).

    A candidate stays when its drift-adjusted two-sided p is below ``max_p`` and its shift
    is at least ``min_shift`` (a fraction); ``min_size`` points on each side at least.
    """
    x = np.log(np.asarray(figures, dtype=float))
    if len(x) < 2 * min_size or not np.all(np.isfinite(x)):
        return []
    cuts = _candidates(x, min_size, window)
    while cuts:
        cuts = _refine(x, cuts, min_size)
        tested = _tests(x, cuts, residual_rho(x, cuts))
        weak = [cp.p if abs(math.log(cp.ratio)) >= math.log1p(min_shift) else 1.0 for cp in tested]
        if max(weak) < max_p:
            return tested
        # drop every insignificant candidate that is the weakest of its neighbours (never
        # two neighbours at once: dropping one enlarges the other's segments), as Otava drops
        # the weakest one at a time, in far fewer rounds on a long history
        drop = {
            i
            for i, p in enumerate(weak)
            if p >= max_p
            and (i == 0 or p >= weak[i - 1])
            and (i == len(weak) - 1 or p > weak[i + 1])
        }
        cuts = [c for i, c in enumerate(cuts) if i not in drop]
    return []


def ar1_series(n: int, rho: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Synthetic figures around 10 whose logs are AR(1) with lag-1 correlation ``rho`` and
    marginal sd ``sd``: the noise model this rule is calibrated on (tests, benchmarks)."""
    e = rng.normal(0.0, sd * math.sqrt(1 - rho**2), n)
    x = np.empty(n)
    x[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + e[i]
    return np.exp(x) * 10.0
