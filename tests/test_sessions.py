"""Sessions as the unit: the stored rule over several baseline sessions, one error budget
per session, the exact signed-rank detectable drop, and the nightly replayed over sessions.

Every simulation here draws a session effect: each session its own level (``TAU``, the
smaller of the two session effects measured on the build VM, BENCHMARKS.md W4), each run
scattered around it (``SIGMA``, V1's 5.7%).  Seeds are fixed; no test asserts a timing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bf16perf.calibration.noise import estimate
from bf16perf.calibration.replay import NightlyRule, lasting_drop, lasting_drop_line
from bf16perf.stats.figures import Spread, sessions_log_ratio, unpaired_log_ratio
from bf16perf.stats.power import signed_rank_drop, signed_rank_pairs
from bf16perf.store.calibration_session import CalibrationSession
from bf16perf.verdicts import (
    SESSION_PRIOR,
    ErrorBudget,
    ab_rule,
    baseline_rule,
    gate_rule,
    holm,
    sessions_rule,
)
from bf16perf.verdicts.outcomes import Outcome

SIGMA = 0.057
TAU = 0.044
PAIR_SPREAD = 0.091  # V1: the spread of neighbouring A/A runs' log ratio


def _session(rng: np.random.Generator, runs: int, level: float = 10.0) -> list[float]:
    return list(level * np.exp(rng.normal(0, TAU) + rng.normal(0, SIGMA, runs)))


def test_one_baseline_session_is_the_two_session_comparison() -> None:
    now, base = [9.5, 9.8, 9.6], [10.0, 10.3, 9.9]
    one = sessions_log_ratio(now, [base], session=SESSION_PRIOR)
    two = unpaired_log_ratio(now, base, session=SESSION_PRIOR)
    assert one.se == pytest.approx(two.se) and one.df == two.df
    assert one.session is SESSION_PRIOR


def test_three_or_more_sessions_bring_their_own_between_session_spread() -> None:
    rng = np.random.default_rng(1)
    sessions = [_session(rng, 3) for _ in range(7)]
    v = sessions_rule(_session(rng, 3), sessions, max_regression=0.05, session=SESSION_PRIOR)
    # the prior is pooled with their own estimate by degrees of freedom, never replaced by
    # a few-df estimate (#36)
    assert v.session is not None
    assert v.session.source.startswith("7 baseline sessions + a conservative default")
    assert v.session.df == 6 + SESSION_PRIOR.df and v.sessions == sessions
    assert len(v.baseline) == 21
    assert "7 baseline sessions" in v.detail and v.to_dict()["p"] == v.estimate.p_less
    # a calibration of this machine is pooled with them the same way
    calibration = Spread(0.03, 20, "calibration")
    pooled = sessions_rule(_session(rng, 3), sessions, max_regression=0.05, session=calibration)
    assert pooled.session is not None and pooled.session.df == 26
    assert "calibration" in pooled.session.source
    two = sessions_rule(_session(rng, 3), sessions[:2], max_regression=0.05, session=calibration)
    assert two.session is calibration  # fewer than 3: the calibration's spread alone


@pytest.mark.parametrize("baseline_sessions", [1, 3, 7])
def test_unchanged_nights_stay_within_alpha_against_a_rolling_baseline(
    baseline_sessions: int,
) -> None:
    """Every night a new session draw; the baseline its own draws.  With the prior (1
    session) or the sessions' own scatter (3 and 7), REGRESSION on at most alpha of
    nights."""
    rng = np.random.default_rng(100 + baseline_sessions)
    trials, alarms = 1500, 0
    for _ in range(trials):
        base = [_session(rng, 3) for _ in range(baseline_sessions)]
        v = sessions_rule(_session(rng, 3), base, max_regression=0.05, session=SESSION_PRIOR)
        alarms += v.outcome is Outcome.REGRESSION
    assert alarms / trials <= 0.012


def test_a_week_of_sessions_catches_a_lasting_drop_the_prior_cannot() -> None:
    rng = np.random.default_rng(7)
    hits_week = hits_prior = 0
    for _ in range(300):
        week = [_session(rng, 3) for _ in range(7)]
        slow = _session(rng, 3, level=8.0)  # 20% slower
        kwargs = {"max_regression": 0.05, "session": SESSION_PRIOR}
        hits_week += sessions_rule(slow, week, **kwargs).outcome is Outcome.REGRESSION  # type: ignore[arg-type]
        hits_prior += baseline_rule(slow, week[-1], **kwargs).outcome is Outcome.REGRESSION  # type: ignore[arg-type]
    assert hits_week > hits_prior and hits_week / 300 > 0.5


def test_holm_adjusts_in_the_given_order_and_keeps_nan() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.2, math.nan, 0.001]) == pytest.approx([0.2, math.nan, 0.002], nan_ok=True)
    assert holm([]) == []


def test_the_budget_shares_alpha_and_says_so() -> None:
    budget = ErrorBudget(0.01, 4)
    assert budget.share == pytest.approx(0.0025)
    assert "shared by the 4 verdicts" in budget.describe()
    assert ErrorBudget(0.01, 0).share == 0.01


def test_the_gate_fails_only_on_evidence_within_its_share() -> None:
    bf16, fp32 = [12.0, 14.0, 12.5], [10.0, 10.0, 10.0]
    # the 95% interval lies below 1.6, but not far enough for a share of 0.001
    loose = gate_rule(bf16, fp32, gate=1.6)
    strict = gate_rule(bf16, fp32, gate=1.6, fail_alpha=0.001)
    assert loose.outcome is Outcome.GATE_FAILED
    assert strict.outcome is Outcome.INCONCLUSIVE and strict.p_below >= 0.001
    assert strict.to_dict()["p"] == pytest.approx(strict.p_below)
    assert gate_rule(bf16, fp32, gate=6.0, fail_alpha=0.001).outcome is Outcome.GATE_FAILED


def test_the_printed_ab_drop_is_the_exact_tests_80_percent_power() -> None:
    """At the drop the rule prints, its exact signed-rank test rejects in about 80% of
    fresh draws (another seed than the figure's own), at V1's pair spread."""
    pairs, alpha = 12, 0.01
    drop = signed_rank_drop(PAIR_SPREAD, pairs, alpha)
    rng = np.random.default_rng(3)
    trials, hits = 800, 0
    for _ in range(trials):
        d = rng.normal(math.log(1 - drop), PAIR_SPREAD, pairs)
        ref = list(np.full(pairs, 10.0))
        v = ab_rule(list(10.0 * np.exp(d)), ref, max_regression=0.0, alpha=alpha)
        hits += v.outcome is Outcome.REGRESSION
    assert 0.74 <= hits / trials <= 0.86
    # t's figure is optimistic at few pairs; too few pairs detect nothing
    assert signed_rank_drop(PAIR_SPREAD, 8, 2**-7) > 0.0
    assert signed_rank_drop(PAIR_SPREAD, 6, 0.01) == math.inf
    needed = signed_rank_pairs(PAIR_SPREAD, 0.10, alpha)
    assert needed is not None and signed_rank_drop(PAIR_SPREAD, needed, alpha) <= 0.10
    assert signed_rank_drop(PAIR_SPREAD, needed - 1, alpha) > 0.10


def test_ab_rule_at_the_measured_pair_spread() -> None:
    rng = np.random.default_rng(5)
    alarms = 0
    for _ in range(1000):
        d = rng.normal(0, PAIR_SPREAD, 10)
        alarms += ab_rule(list(10 * np.exp(d)), [10.0] * 10, max_regression=0.05).outcome is (
            Outcome.REGRESSION
        )
    assert alarms / 1000 <= 0.01
    v = ab_rule([9.0] * 10, [10.0] * 10, max_regression=0.05)
    assert "exact signed-rank test" in v.detail


def _corpus(rng: np.random.Generator, nights: int) -> list[dict[str, list[float]]]:
    return [{"fp32": _session(rng, 3)} for _ in range(nights)]


def test_lasting_drop_is_replayed_over_real_order_and_found() -> None:
    rng = np.random.default_rng(9)
    sessions = _corpus(rng, 20)
    calibration = estimate([s["fp32"] for s in sessions])
    measured = Spread(calibration.tau, calibration.session_df, "calibration")
    drop, starts = lasting_drop(NightlyRule(measured, 0.05, 0.01, 2), sessions)
    assert starts == 15 and drop is not None and 0.05 < drop < 0.40
    prior = NightlyRule(SESSION_PRIOR, 0.05, 0.01, 2)
    assert lasting_drop(prior, sessions[:4]) == (None, 0)


def test_calibrate_prints_the_replayed_lasting_drop() -> None:
    rng = np.random.default_rng(10)
    sessions = [CalibrationSession(i, _session(rng, 3), "w", "m", {}, None) for i in range(1, 13)]
    noise = estimate([s.figures for s in sessions])
    line = lasting_drop_line(sessions, noise, 0.05, 0.01)
    assert "flagged within 3 nights in 90% of 7 starts" in line
    assert "alpha 0.01 shared by 2 verdicts" in line
