"""Statistics on seeded synthetic data shaped like this machine's: between-run drift larger
than step noise (BENCHMARKS.md Z5: steps within a run CV 3-9%, run medians 11-14% apart)."""

import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu, wilcoxon

from bf16perf.report.data import bootstrap_ratio
from bf16perf.stats.figures import (
    Spread,
    log_spread,
    paired_log_ratio,
    run_figure,
    unpaired_log_ratio,
)
from bf16perf.stats.power import detectable_drop, min_pairs_for, pairs_needed, runs_needed
from bf16perf.stats.ranks import signed_rank
from bf16perf.verdicts.loss import loss_curve_violations


def drifting_runs(
    rng: np.random.Generator, level: float, runs: int, *, drift: float = 0.04, steps: int = 8
) -> list[list[float]]:
    """Per-step images/s of ``runs`` runs: each run's speed drifts by ``drift`` (log sd),
    its steps scatter by 3% around it."""
    out = []
    for _ in range(runs):
        run_level = level * math.exp(rng.normal(0, drift))
        out.append(list(run_level * np.exp(rng.normal(0, 0.03, steps))))
    return out


def test_run_figure_is_the_median_and_refuses_empty_runs() -> None:
    assert run_figure([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError, match="at least one measured step"):
        run_figure([])
    with pytest.raises(ValueError, match="finite and positive"):
        run_figure([1.0, math.inf])


def test_per_step_tests_read_drift_as_significance_run_figures_do_not() -> None:
    """Why the run is the unit: on A/A data with run drift, a per-step Mann-Whitney test
    between one run and another is 'significant' most of the time; the t interval on run
    figures covers 1 as often as it promises."""
    rng = np.random.default_rng(1)
    per_step_alarms = covered = 0
    trials = 400
    for _ in range(trials):
        a = drifting_runs(rng, 10, 3)
        b = drifting_runs(rng, 10, 3)
        per_step_alarms += mannwhitneyu(a[0], b[0]).pvalue < 0.01
        est = unpaired_log_ratio([run_figure(r) for r in a], [run_figure(r) for r in b])
        covered += est.low <= 1 <= est.high
    assert per_step_alarms / trials > 0.3
    assert covered / trials >= 0.96  # 98% nominal


def test_unpaired_ratio_is_the_ratio_of_geometric_means() -> None:
    est = unpaired_log_ratio([9.0, 9.0 * 1.02, 9.0 / 1.02], [10.0, 10.2, 10 / 1.02])
    assert est.ratio == pytest.approx(0.9, rel=1e-9)
    assert est.low < 0.9 < est.high and est.df == 4 and est.p_less < 0.01


def test_one_run_each_has_unknown_spread_unless_a_prior_is_given() -> None:
    est = unpaired_log_ratio([9.0], [10.0])
    assert not est.spread.known and est.low == 0 and est.high == math.inf
    assert math.isnan(est.p_less)
    prior = Spread(0.02, 20, "noise file")
    est = unpaired_log_ratio([9.0], [10.0], prior=prior)
    assert est.spread.known and est.df == 20 and est.spread.source == "noise file"
    assert est.high < 1  # 10% slower against 2% run noise: significant


def test_log_spread_pools_groups_and_prior() -> None:
    s = log_spread([[10, 10 * math.e**0.1], [5, 5 * math.e**0.1]])
    assert s.df == 2 and s.sigma == pytest.approx(math.sqrt(0.005), rel=1e-6)
    with_prior = log_spread([[10, 10]], Spread(0.1, 9, "prior"))
    assert with_prior.df == 10 and with_prior.sigma == pytest.approx(math.sqrt(0.09 / 10))
    assert not log_spread([[10.0]]).known


def test_paired_interval_cancels_drift_shared_by_the_pair() -> None:
    """Pairs whose speed drifts by 10% between pairs but not within them: the paired
    interval is narrow around the true 1.7; the same figures unpaired are far wider."""
    speeds = (10.0, 11.0, 9.5)
    fp32 = [v for v in speeds]
    bf16 = [1.7 * v * f for v, f in zip(speeds, (1.005, 0.995, 1.0), strict=True)]
    paired = paired_log_ratio(bf16, fp32)
    unpaired = unpaired_log_ratio(bf16, fp32, confidence=0.95)
    assert paired.low < 1.7 < paired.high
    assert 5 * (paired.high - paired.low) < unpaired.high - unpaired.low
    with pytest.raises(ValueError, match="equal counts"):
        paired_log_ratio([1.0, 2.0], [1.0])


def test_signed_rank_matches_scipy_and_the_floor() -> None:
    rng = np.random.default_rng(2)
    d = list(rng.normal(-0.02, 0.03, 9))
    sr = signed_rank(d)
    assert sr.p_less == pytest.approx(wilcoxon(d, alternative="less").pvalue, rel=1e-9)
    assert sr.floor == 0.5**9 and sr.low <= sr.ratio <= sr.high
    assert signed_rank([-0.1] * 3).p_less == pytest.approx(1 / 8)
    assert signed_rank([-0.1, -0.2, -0.3], confidence=0.98).high == math.inf  # too few pairs
    assert min_pairs_for(0.01) == 7 and min_pairs_for(0.05) == 5 and 0.5**7 < 0.01


def test_hodges_lehmann_interval_covers_as_stated() -> None:
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(400):
        sr = signed_rank(list(rng.standard_t(4, 10) * 0.03 + math.log(0.95)), confidence=0.9)
        covered += sr.low <= 0.95 <= sr.high
    assert 0.86 <= covered / 400 <= 0.96  # exact 90.2% at n = 10


def test_detectable_drop_matches_the_published_arithmetic() -> None:
    # VERDICTS.md: sigma 4%, 8 pairs, alpha 0.005 one-sided -> about 6%
    assert detectable_drop(0.04 / math.sqrt(8), 7, 0.005) == pytest.approx(0.06, abs=0.01)
    assert detectable_drop(math.nan, 0, 0.01) == math.inf
    assert pairs_needed(0.04, 0.04, 0.005) == 16 or pairs_needed(0.04, 0.04, 0.005) in (15, 17)
    assert pairs_needed(math.nan, 0.05, 0.01) is None


def test_runs_needed_against_a_small_baseline() -> None:
    # 3% run spread, 3 baseline runs: a 10% threshold is reachable, 2% is not
    m = runs_needed(0.03, 3, 0.10, 0.01)
    assert m is not None and 2 <= m <= 6
    assert runs_needed(0.03, 3, 0.02, 0.01) is None


def test_bootstrap_ratio_is_descriptive() -> None:
    ratio, low, high = bootstrap_ratio([18.0, 18.5, 17.5], [10.0, 10.1, 9.9])
    assert low <= ratio <= high and 1.7 < ratio < 1.9
    with pytest.raises(ValueError, match="at least one sample"):
        bootstrap_ratio([], [1.0])


def test_loss_curve_band() -> None:
    base = [2.0, 1.5, 1.0]
    assert loss_curve_violations(base, base, atol=1e-3, rtol=1e-3) == []
    bad = loss_curve_violations([2.0, 1.6, 1.0], base, atol=1e-3, rtol=1e-3)
    assert bad == [(1, 1.6, 1.5)]
