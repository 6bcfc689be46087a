"""Statistics on seeded synthetic samples: no false alarm on A/A, a 10% shift is caught."""

import numpy as np
import pytest

from bf16perf.stats import (
    bootstrap_ratio,
    compare_throughput,
    loss_curve_violations,
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


def test_loss_curve_band() -> None:
    base = [2.0, 1.5, 1.0]
    assert loss_curve_violations(base, base, atol=1e-3, rtol=1e-3) == []
    bad = loss_curve_violations([2.0, 1.6, 1.0], base, atol=1e-3, rtol=1e-3)
    assert bad == [(1, 1.6, 1.5)]
