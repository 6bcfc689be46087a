"""Statistics as pure functions over plain sequences (no pytest, no I/O).

* :func:`compare_throughput`: the regression rule (median shift beyond a threshold *and*
  significant by Mann-Whitney U), with effect size and a bootstrap interval of the ratio.
* :func:`speedup_interval`: bf16/fp32 ratio of medians with a seeded bootstrap interval.
* :func:`paired_runs_interval`: the same over several interleaved runs, resampling runs
  (in pairs) and then steps, so that run-to-run drift is in the interval.
* :func:`loss_curve_violations`: steps where a loss curve leaves ``atol + rtol*|baseline|``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu

__all__ = [
    "ThroughputComparison",
    "bootstrap_ratio",
    "compare_throughput",
    "loss_curve_violations",
    "paired_runs_interval",
    "speedup_interval",
]


def bootstrap_ratio(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 5000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Ratio of medians and its percentile bootstrap interval ``(ratio, low, high)``.

    Parameters
    ----------
    numerator, denominator:
        Independent samples (per-step throughputs), at least one value each.
    confidence:
        Two-sided coverage of the interval.
    """
    a, b = np.asarray(numerator, float), np.asarray(denominator, float)
    if a.size == 0 or b.size == 0:
        raise ValueError("bootstrap_ratio needs at least one sample on each side")
    rng = np.random.default_rng(seed)
    ra = np.median(rng.choice(a, size=(resamples, a.size)), axis=1)
    rb = np.median(rng.choice(b, size=(resamples, b.size)), axis=1)
    ratios = ra / rb
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return float(np.median(a) / np.median(b)), float(low), float(high)


@dataclass(frozen=True)
class ThroughputComparison:
    """Current against baseline throughput.

    Attributes:
        current_median, baseline_median: median images/s.
        change: ``current/baseline - 1`` (negative: slower).
        p_value: two-sided Mann-Whitney U p-value on the per-step samples.
        effect_size: rank-biserial correlation (-1..1; negative: current slower).
        ratio_low, ratio_high: bootstrap interval of current/baseline.
        regression: slower by more than the threshold and significant.
        improvement: faster by more than the threshold and significant.
    """

    current_median: float
    baseline_median: float
    change: float
    p_value: float
    effect_size: float
    ratio_low: float
    ratio_high: float
    regression: bool
    improvement: bool


def compare_throughput(
    current: Sequence[float],
    baseline: Sequence[float],
    *,
    max_regression: float = 0.05,
    alpha: float = 0.01,
) -> ThroughputComparison:
    """Apply the regression rule to per-step images/s samples."""
    u = mannwhitneyu(current, baseline, alternative="two-sided")
    n = len(current) * len(baseline)
    effect = 2 * float(u.statistic) / n - 1
    ratio, low, high = bootstrap_ratio(current, baseline)
    change = ratio - 1
    significant = float(u.pvalue) < alpha
    return ThroughputComparison(
        current_median=statistics.median(current),
        baseline_median=statistics.median(baseline),
        change=change,
        p_value=float(u.pvalue),
        effect_size=effect,
        ratio_low=low,
        ratio_high=high,
        regression=significant and change < -max_regression,
        improvement=significant and change > max_regression,
    )


def speedup_interval(bf16: Sequence[float], fp32: Sequence[float]) -> tuple[float, float, float]:
    """bf16/fp32 ratio of median images/s with a 95% bootstrap interval (one run each)."""
    return bootstrap_ratio(bf16, fp32)


def paired_runs_interval(
    numerator_runs: Sequence[Sequence[float]],
    denominator_runs: Sequence[Sequence[float]],
    *,
    confidence: float = 0.95,
    resamples: int = 5000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Ratio of pooled medians over several runs, with a two-level bootstrap interval.

    Steps of one run share that run's machine state, and a shared VM's speed drifts by 10%
    over minutes (BENCHMARKS.md).  Treating steps as independent ignores that: with one run
    each the interval misses run-to-run drift altogether, and with several it cannot use
    the pairing of interleaved runs.  Here each resample draws *runs* with replacement, then
    steps within each drawn run.  Where both sides have the same number of runs, run ``i``
    of one side was measured next to run ``i`` of the other (interleaved), and the pair is
    drawn together: drift that hits both cancels in the ratio, drift between pairs widens
    the interval.

    With one run per side this is :func:`bootstrap_ratio` over the steps.
    """
    a = [np.asarray(r, float) for r in numerator_runs if len(r)]
    b = [np.asarray(r, float) for r in denominator_runs if len(r)]
    if not a or not b:
        raise ValueError("paired_runs_interval needs at least one non-empty run per side")
    ratio = float(np.median(np.concatenate(a)) / np.median(np.concatenate(b)))
    if len(a) == 1 and len(b) == 1:
        _, low, high = bootstrap_ratio(
            a[0].tolist(), b[0].tolist(), confidence=confidence, seed=seed
        )
        return ratio, low, high
    rng = np.random.default_rng(seed)
    paired = len(a) == len(b)
    ratios = np.empty(resamples)
    for k in range(resamples):
        ia = rng.integers(0, len(a), len(a))
        ib = ia if paired else rng.integers(0, len(b), len(b))
        sa = np.concatenate([rng.choice(a[i], a[i].size) for i in ia])
        sb = np.concatenate([rng.choice(b[i], b[i].size) for i in ib])
        ratios[k] = np.median(sa) / np.median(sb)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return ratio, float(low), float(high)


def loss_curve_violations(
    current: Sequence[float], baseline: Sequence[float], *, atol: float, rtol: float
) -> list[tuple[int, float, float]]:
    """Steps ``(index, current, baseline)`` where ``|current - baseline| > atol + rtol*|baseline|``.

    Curves of different lengths are compared over the shorter one.
    """
    return [
        (i, c, b)
        for i, (c, b) in enumerate(zip(current, baseline, strict=False))
        if abs(c - b) > atol + rtol * abs(b)
    ]
