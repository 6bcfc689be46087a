"""Statistics on seeded synthetic samples: no false alarm on A/A, a 10% shift is caught."""

import numpy as np
import pytest

from bf16perf.stats import (
    bootstrap_ratio,
    compare_throughput,
    loss_curve_violations,
    paired_runs_interval,
    speedup_interval,
)


def _steps(mean: float, n: int, seed: int, cv: float = 0.02) -> list[float]:
    return list(np.random.default_rng(seed).normal(mean, mean * cv, size=n))


def test_aa_is_not_flagged() -> None:
    flagged = 0
    for seed in range(50):
        cmp = compare_throughput(_steps(10, 20, seed), _steps(10, 20, 1000 + seed))
        flagged += cmp.regression or cmp.improvement
    assert flagged == 0


def test_ten_percent_slowdown_is_a_regression() -> None:
    cmp = compare_throughput(_steps(9, 20, 1), _steps(10, 20, 2))
    assert cmp.regression and not cmp.improvement
    assert cmp.change == pytest.approx(-0.10, abs=0.02)
    assert cmp.p_value < 0.01 and cmp.effect_size < -0.8
    assert cmp.ratio_low < 0.9 < cmp.ratio_high or cmp.ratio_high < 0.93


def test_small_significant_shift_is_not_a_regression() -> None:
    cmp = compare_throughput(_steps(9.8, 40, 3, cv=0.005), _steps(10, 40, 4, cv=0.005))
    assert cmp.p_value < 0.01 and not cmp.regression  # 2% < the 5% threshold


def test_improvement() -> None:
    assert compare_throughput(_steps(11.5, 20, 5), _steps(10, 20, 6)).improvement


def test_bootstrap_interval_brackets_the_ratio() -> None:
    ratio, low, high = speedup_interval(_steps(18, 30, 7), _steps(10, 30, 8))
    assert low < ratio < high and 1.7 < ratio < 1.9
    with pytest.raises(ValueError, match="at least one sample"):
        bootstrap_ratio([], [1.0])


def test_runs_interval_pairs_interleaved_runs() -> None:
    """Three interleaved pairs whose speed drifts by 10% between pairs.  When fp32 and bf16
    drift together (the machine got slower for both), pairing cancels the drift: the
    interval is narrow around the true 1.7, where pooling the steps is twice as wide.
    When they drift apart, the interval keeps the spread of the pair ratios."""
    speeds = (10.0, 11.0, 9.5)
    fp32 = [_steps(v, 8, 10 + i, cv=0.02) for i, v in enumerate(speeds)]
    pooled_fp32 = [x for r in fp32 for x in r]
    together = [_steps(1.7 * v, 8, 20 + i, cv=0.02) for i, v in enumerate(speeds)]
    _, low, high = paired_runs_interval(together, fp32)
    _, plow, phigh = speedup_interval([x for r in together for x in r], pooled_fp32)
    assert low < 1.7 < high and 2 * (high - low) < phigh - plow
    apart = [_steps(1.7 * v, 8, 20 + i, cv=0.02) for i, v in enumerate(reversed(speeds))]
    _, low, high = paired_runs_interval(apart, fp32)
    assert low < 1.65 and high > 1.75  # pair ratios 1.62, 1.70, 1.79


def test_runs_interval_with_one_run_is_the_step_bootstrap() -> None:
    a, b = _steps(18, 30, 7), _steps(10, 30, 8)
    assert paired_runs_interval([a], [b]) == speedup_interval(a, b)
    # unequal run counts: runs are drawn independently on each side
    ratio, low, high = paired_runs_interval([a, a], [b])
    assert low <= ratio <= high
    with pytest.raises(ValueError, match="non-empty run"):
        paired_runs_interval([[]], [b])


def test_loss_curve_band() -> None:
    base = [2.0, 1.5, 1.0]
    assert loss_curve_violations(base, base, atol=1e-3, rtol=1e-3) == []
    bad = loss_curve_violations([2.0, 1.6, 1.0], base, atol=1e-3, rtol=1e-3)
    assert bad == [(1, 1.6, 1.5)]
