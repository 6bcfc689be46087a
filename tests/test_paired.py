"""The paired nightly: its rule over tonight's pairs and the last nights', the nights read
back from the history, the machine's drift, the session kinds the nightly rules skip, and
the review's bugs (an unexplained drop fails at once; a confirmed drop's p; the pair order
drawn per session; the trend's threshold; the detectable drops at the share)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from bf16perf.decisions import Outcome
from bf16perf.nights import excluded_from_nightly, machine_drift, pair_nights, pairs_entry
from bf16perf.stats import Spread
from bf16perf.trend import previous_session, series_of
from bf16perf.verdicts import SESSION_PRIOR, sessions_rule
from bf16perf.verdicts.confirm import confirmed, unexplained
from bf16perf.verdicts.paired import (
    PAIR_PRIOR,
    TONIGHT_SHARE,
    WINDOW,
    PairNight,
    mde,
    pair_spread,
    paired_rule,
)

SLUG, KEY = "m", "resnet50-32px-b8-s5-2x1-synthetic-fp32"


def _nights(
    rng: np.random.Generator, count: int, sigma: float, shift: float = 0.0
) -> list[PairNight]:
    return [PairNight(f"n{i}", tuple(shift + rng.normal(0, sigma, 2))) for i in range(count)]


def test_a_lasting_drop_fails_by_the_window_an_unchanged_night_does_not() -> None:
    rng = np.random.default_rng(1)
    before = _nights(rng, 20, 0.03)
    same = paired_rule([0.01, -0.02], before, max_regression=0.05, alpha=0.01)
    assert same.outcome is not Outcome.REGRESSION and same.window is not None
    drop = math.log(0.88)
    dropped = [*before, PairNight("d1", (drop, drop + 0.01)), PairNight("d2", (drop, drop - 0.01))]
    v = paired_rule([drop, drop], dropped, max_regression=0.05, alpha=0.01)
    assert v.outcome is Outcome.REGRESSION and "lasting drop" in v.failed_by
    assert v.window is not None and v.window.ratio == pytest.approx(0.88, rel=0.01)
    assert v.p < 0.01 and "failed by: " in v.detail and "lasting drop" in v.detail
    # the same drop with the threshold above it is not a regression: the estimate must
    # also be below 1 - threshold
    assert paired_rule([drop, drop], dropped, max_regression=0.15, alpha=0.01).outcome is not (
        Outcome.REGRESSION
    )


def test_the_first_night_leans_on_the_prior_and_says_what_it_can_detect() -> None:
    v = paired_rule([0.0, 0.01], max_regression=0.05, alpha=0.01)
    assert v.window is None and v.nights == 1
    assert v.spread.df == PAIR_PRIOR.df + 1 and "prior" in v.spread.source
    assert v.outcome is Outcome.INCONCLUSIVE and math.isfinite(v.mde_tonight)
    assert v.mde_lasting < v.mde_tonight  # three nights of pairs see more than one
    assert f"lasting {WINDOW} nights" in v.detail
    # a huge drop fails on its first night by tonight's test alone
    big = paired_rule([math.log(0.5), math.log(0.52)], max_regression=0.05, alpha=0.01)
    assert big.outcome is Outcome.REGRESSION and big.failed_by == ["tonight"]


def test_mde_includes_the_threshold_condition() -> None:
    # a tiny standard error: significance is easy, the threshold is what binds
    assert mde(0.001, 100, 0.005, 0.05) == pytest.approx(
        1 - math.exp(-(-math.log(0.95) + 0.000845)), rel=0.01
    )
    assert mde(0.05, 10, 0.005, 0.05) > 0.05 * 3
    assert math.isinf(mde(math.nan, 10, 0.005, 0.05))


def test_nights_scattering_beyond_their_pairs_widen_the_test() -> None:
    rng = np.random.default_rng(2)
    calm = _nights(rng, 12, 0.02)
    wild = [
        PairNight(n.started, tuple(d + rng.normal(0, 0.08) for d in n.log_ratios)) for n in calm
    ]
    a = paired_rule([0.0, 0.0], calm, max_regression=0.05, alpha=0.01)
    b = paired_rule([0.0, 0.0], wild, max_regression=0.05, alpha=0.01)
    assert a.excess == 0.0 or a.excess < b.excess
    assert b.excess > 0 and b.tonight.se > a.tonight.se
    assert "beyond their pairs" in b.detail


def test_pair_spread_pools_within_nights_and_the_prior() -> None:
    nights = [PairNight("a", (0.1, -0.1)), PairNight("b", (0.0,))]
    none = Spread(0.0, 0, "none")
    s = pair_spread(nights, (), none)
    assert s.df == 1 and s.sigma == pytest.approx(math.sqrt(0.02))
    # the nights before the window count around their common mean: 4 pairs, 3 df
    before = [PairNight("x", (0.1, 0.0)), PairNight("y", (-0.1, 0.0))]
    both = pair_spread(nights, before, none)
    assert both.df == 4 and both.sigma == pytest.approx(math.sqrt((0.02 + 0.02) / 4))
    assert pair_spread(nights, before).df == 4 + PAIR_PRIOR.df


def _line(started: str, cand: list[float], ref: list[float], **session: Any) -> dict[str, Any]:
    return {
        "schema_version": 2,
        "started": started,
        "fingerprint": SLUG,
        "series": {KEY: {"variant": "fp32", "run_figures": cand}},
        "session": {"kind": "paired", "reference": "rel", "injected": 0.0, **session},
        "pairs": {KEY: pairs_entry(cand, ref)},
    }


def test_pair_nights_keep_one_reference_and_real_nights_apart_from_self_tests() -> None:
    lines = [
        _line("1", [10.0, 10.2], [10.0, 10.0]),
        _line("2", [9.0, 9.1], [10.0, 10.0], injected=0.1),
        _line("3", [10.0, 10.1], [10.0, 10.0], reference="other"),
        {"started": "4", "fingerprint": SLUG},  # a stored-mode line: no pairs
        _line("5", [10.1, 9.9], [10.0, 10.0]),
    ]
    nights = pair_nights(lines, SLUG, KEY, "rel")
    assert [n.started for n in nights] == ["1", "5"]
    assert nights[0].log_ratios == pytest.approx((0.0, math.log(1.02)))
    # a self-test night reads the real nights and its own kind, never the other way round
    assert [n.started for n in pair_nights(lines, SLUG, KEY, "rel", 0.1)] == ["1", "2", "5"]
    assert pair_nights(lines, "other-machine", KEY, "rel") == []


def test_both_stacks_falling_together_is_the_machine_not_the_candidate() -> None:
    lines = [_line(str(i), [10.0 + 0.05 * i, 10.0], [10.0, 10.05 - 0.02 * i]) for i in range(5)]
    slow = machine_drift(lines, SLUG, KEY, "rel", [9.2, 9.1], [9.2, 9.15], threshold=0.05)
    assert slow is not None and "the machine is slower tonight, not the candidate" in slow
    assert "reference rel ran -8" in slow and "the candidate -" in slow
    assert machine_drift(lines, SLUG, KEY, "rel", [10.0], [10.0], threshold=0.05) is None
    assert machine_drift(lines[:2], SLUG, KEY, "rel", [9.0], [9.0], threshold=0.05) is None


def test_ab_and_injected_sessions_neither_confirm_nor_enter_a_trend() -> None:
    good = {"schema_version": 2, "started": "1", "fingerprint": SLUG,
            "series": {KEY: {"run_figures": [10.0, 10.1]}}}  # fmt: skip
    ab = {**good, "started": "2", "session": {"kind": "ab"}}
    injected = {**good, "started": "3", "session": {"kind": "stored", "injected": 0.1}}
    paired = {**good, "started": "4", "session": {"kind": "paired", "reference": "r"}}
    assert excluded_from_nightly(ab) and excluded_from_nightly(injected)
    assert not excluded_from_nightly(paired) and not excluded_from_nightly(good)
    prev = previous_session([good, paired, ab, injected], SLUG, KEY)
    assert prev is not None and prev.started == "4"
    series = series_of([good, ab, injected, paired])
    assert [p.started for p in series[f"{SLUG} {KEY}"].points] == ["1", "4"]


def test_a_drop_no_session_draw_explains_fails_without_a_previous_session() -> None:
    """The review's bug: with no previous session, a 50% slower night was 'suspect' and
    exited 0 in the nightly mode."""
    base = [[14.0, 14.3, 13.8]]

    def rule(now: Any, kept: Any) -> Any:
        return sessions_rule(now, kept, max_regression=0.05, alpha=0.005, session=SESSION_PRIOR)

    _, c = confirmed(rule, [7.0, 7.1, 6.9], base)
    assert c is not None and (c.outcome, c.reason) == (Outcome.REGRESSION, "beyond-session-spread")
    assert c.p is not None and c.p < 0.005 and "upper confidence bound" in c.text()
    # a 38% drop is one session's draw as far as the prior knows: suspect, as before
    mild, c2 = confirmed(rule, [8.68, 8.77, 8.59], base)
    assert c2 is not None and c2.outcome is Outcome.SUSPECT
    assert unexplained(mild) > 0.005


def test_a_confirmed_drop_records_the_p_that_cleared_the_share() -> None:
    """The review's bug: the confirmation path recorded tonight's p, which only cleared
    CONFIRM_ALPHA, so its Holm-adjusted p could exceed alpha."""
    from bf16perf.verdicts.confirm import confirm

    spread = Spread(0.02, 9, "test")
    base = [[100.0, 101.0, 99.0], [100.0, 102.0, 98.0], [99.0, 100.0, 101.0]]

    def v(x: list[float]) -> Any:
        return sessions_rule(x, base, max_regression=0.05, alpha=0.01, session=spread)

    previous, tonight = v([80.0, 81.0, 79.0]), None
    for level in range(94, 80, -1):
        candidate = v([level - 1.0, float(level), level + 1.0])
        if candidate.outcome is not Outcome.REGRESSION and candidate.estimate.p_less < 0.05:
            tonight = candidate
            break
    assert tonight is not None and tonight.estimate.p_less > 0.01
    c = confirm(tonight, previous, "2026-12-01")
    assert c is not None and c.reason == "confirms-previous"
    assert c.p == previous.estimate.p_less < 0.01 and c.to_dict()["p"] == c.p


def test_tonight_share_and_window_split_the_level() -> None:
    v = paired_rule([math.log(0.5), math.log(0.5)], max_regression=0.05, alpha=0.01)
    assert v.p == pytest.approx(min(1.0, v.tonight.p_less / TONIGHT_SHARE))
    assert "0.0025 (tonight)" in v.detail and "0.0075 (window)" in v.detail
