"""Nightly and release judging, numerics as their own exit code, and the gate's pair order.

The gate's pairs: with a fixed run order (fp32 always first), any drift within a pair
biases every pair's ratio the same way.  A balanced order (half the pairs bf16-first)
makes that bias cancel (the simulation below: a 2% drift from one run to the next).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, cast

import numpy as np
import pytest

from bf16perf.session import checks
from bf16perf.session.options import PerfOptions
from bf16perf.session.runs import BF16, FP32, TrainingRuns
from bf16perf.verdicts import SESSION_PRIOR, apply, baseline_rule, gate_rule
from bf16perf.verdicts.outcomes import Decision, ExitCode, Outcome, session_exit_code
from bf16perf.workloads.config import PROFILES, VARIANTS, Variant
from bf16perf.workloads.results import RunResult, WorkerResult


class _OrderOnly(TrainingRuns):
    """The session's ordering policy alone: "training" a run records its variant."""

    def __init__(self, seed: int = 0) -> None:
        options = PerfOptions()
        super().__init__(cast(Any, None), options)
        self.config = replace(self.config, seed=seed)
        self.trained: list[str] = []

    def train(self, variant: Variant, *, reference: bool = False) -> Any:
        self.trained.append(variant.name)
        self.runs[variant.name].append(cast(Any, len(self.trained)))  # its position
        return None

    def positions(self, variant: str) -> list[int]:
        """Where each run of ``variant`` came in the training order (1-based)."""
        return [cast(int, run) for run in self.runs[variant]]


def _firsts(trained: list[str]) -> list[str]:
    assert all({a, b} == {"fp32", "bf16"} for a, b in zip(trained[::2], trained[1::2], strict=True))
    return trained[::2]


def test_fp32_and_bf16_alternate_pair_by_pair_in_balanced_seeded_order() -> None:
    runs = _OrderOnly(seed=1)
    runs.runs_of(FP32, 4)
    runs.runs_of(BF16, 4)  # already there: nothing more trains
    firsts = _firsts(runs.trained)
    assert len(runs.trained) == 8 and firsts.count("fp32") == 2  # balanced
    again = _OrderOnly(seed=1)
    again.gate_pairs(4)
    assert again.trained == runs.trained  # repeatable from the seed
    orders = {tuple(_OrderOnly(seed=s).pair_order(0)) for s in range(12)}
    assert len(orders) == 2  # and random: both orders occur across seeds


def test_gate_extension_keeps_pairs_neighbours_and_balanced() -> None:
    runs = _OrderOnly(seed=3)
    runs.gate_pairs(3)
    runs.gate_pairs(5)  # the second look's extra pairs
    runs.gate_pairs(5)
    bf16, fp32 = runs.positions("bf16"), runs.positions("fp32")
    assert len(bf16) == len(fp32) == 5
    firsts = _firsts(runs.trained)
    assert firsts[:4].count("fp32") == 2  # each block of two pairs: one of each order
    # each pair's two runs are neighbours in time
    assert all(abs(b - f) == 1 for b, f in zip(bf16, fp32, strict=True))


def test_gate_covers_the_true_ratio_under_drift_with_balanced_order() -> None:
    """Each run 2% slower than the one before (log) on top of 3% run noise, a true ratio
    of 1.5 at a gate of 1.5, the default procedure (3 pairs, 2 more on an inconclusive
    first look, each look at 97.5%): covered >= 93% and failed at most 2.5% of the time.
    With fp32 always first this gave 91% coverage and 8.7% wrong failures."""
    rng = np.random.default_rng(22)
    covered = wrong = 0
    trials = 1500
    for _ in range(trials):
        runs = _OrderOnly(seed=int(rng.integers(1 << 30)))
        noise = rng.normal(0, 0.03, 10)

        def look(pairs: int, runs: _OrderOnly = runs, noise: Any = noise) -> Any:
            runs.gate_pairs(pairs)  # run i (1-based) is 2% slower than run i - 1
            value = {i: float(np.exp(-0.02 * i + noise[i - 1])) for i in range(1, 11)}
            bf16 = [15 * value[i] for i in runs.positions("bf16")[:pairs]]
            fp32 = [10 * value[i] for i in runs.positions("fp32")[:pairs]]
            return gate_rule(bf16, fp32, gate=1.5, looks=2)

        v = look(3)
        if v.outcome is Outcome.INCONCLUSIVE:
            v = look(5)
        covered += v.estimate.low <= 1.5 <= v.estimate.high
        wrong += v.outcome is Outcome.GATE_FAILED
    assert covered / trials >= 0.93 and wrong / trials <= 0.025, (covered, wrong)


def _inconclusive() -> tuple[Outcome, str, dict[str, Any]]:
    v = baseline_rule([10.0, 10.9, 9.3], [10.2, 9.4, 10.8], max_regression=0.05)
    assert v.outcome is Outcome.INCONCLUSIVE
    return v.outcome, v.detail, v.to_dict()


def test_nightly_cannot_tell_is_a_notice_that_says_what_would_decide() -> None:
    nightly = PerfOptions().verdict_settings()
    outcome, detail = apply.judged(*_inconclusive()[:2], nightly, _inconclusive()[2])
    assert outcome is Outcome.UNDECIDED and not outcome.fails
    assert "nightly mode: not a failure" in detail and "--perf-release" in detail
    assert "a baseline of more runs" in detail and "A/B with " in detail
    assert "trend after 3 sessions" in detail
    decision = Decision("t", "throughput", outcome, detail)
    assert session_exit_code([decision], 0) is ExitCode.OK


def test_nightly_names_calibration_where_the_session_draw_is_the_limit() -> None:
    v = baseline_rule(
        [9.3, 9.4, 9.2], [10.0, 10.3, 9.8], max_regression=0.05, session=SESSION_PRIOR
    )
    nightly = PerfOptions().verdict_settings()
    outcome, detail = apply.judged(v.outcome, v.detail, nightly, v.to_dict())
    assert outcome is Outcome.UNDECIDED and "bf16perf calibrate" in detail
    assert "a baseline of more runs" not in detail


def test_release_keeps_inconclusive_exit_11() -> None:
    outcome, detail, figures = _inconclusive()
    same = apply.judged(outcome, detail, PerfOptions(release=True).verdict_settings(), figures)
    assert same == (Outcome.INCONCLUSIVE, detail)
    decision = Decision("t", "throughput", same[0], detail)
    assert session_exit_code([decision], 0) is ExitCode.INCONCLUSIVE


@pytest.mark.parametrize("outcome", [Outcome.REGRESSION, Outcome.OK, Outcome.IMPROVED])
def test_decided_verdicts_are_the_same_in_both_modes(outcome: Outcome) -> None:
    for options in (PerfOptions(), PerfOptions(release=True)):
        assert apply.judged(outcome, "d", options.verdict_settings(), {}) == (outcome, "d")


def test_numerics_have_their_own_exit_code_after_regressions() -> None:
    drift = Decision("t", "loss curve", Outcome.DRIFT, "")
    slower = Decision("t", "throughput", Outcome.REGRESSION, "")
    unsure = Decision("t", "bf16 gate", Outcome.INCONCLUSIVE, "")
    assert session_exit_code([drift], 0) is ExitCode.NUMERICS and int(ExitCode.NUMERICS) == 13
    assert session_exit_code([drift, slower], 0) is ExitCode.REGRESSION
    assert session_exit_code([drift, unsure], 0) is ExitCode.NUMERICS
    assert session_exit_code([drift], 1) is ExitCode.TESTS_FAILED


def _result(variant: str, ips: float, isa: str) -> RunResult:
    worker = WorkerResult(0, "127.0.0.1", [0], [5.0], [8 / ips] * 3, [3.0, 2.9, 2.8, 2.7], 8)
    config = VARIANTS[variant].apply(PROFILES["smoke"])
    return RunResult(config, [worker], wall_s=20.0, kernels={"isa": isa}, variant=variant)


def test_amx_figures_are_intervals_over_runs() -> None:
    runs = _OrderOnly()
    runs.runs["bf16"] = [_result("bf16", x, "avx512_core_amx") for x in (15.0, 15.6, 14.7)]
    runs.runs["fp32"] = [_result("fp32", x, "avx512_core") for x in (10.0, 10.3, 9.8)]
    capped = [_result("bf16-avx512", x, "avx512_core_bf16") for x in (9.6, 10.1, 9.4)]
    text = checks.amx_notice(capped, runs)
    assert text.startswith("bf16-avx512: 9.70 images/s against 15.10 for bf16 on avx512_core_amx")
    assert "(geometric means of 3 runs and 3 runs)" in text
    ratio = re.search(r"AMX/AVX512-BF16 = (\S+)x, 95% CI over runs \[(\S+), (\S+)\]", text)
    assert ratio, text
    est, low, high = map(float, ratio.groups())
    assert est == pytest.approx(15.10 / 9.70, abs=2e-3) and low < est < high
    assert "AVX512-BF16/fp32 = 0.967x, 95% CI over runs [" in text
    one = checks.amx_notice(capped[:1], _with_runs(runs.runs["bf16"][:1]))
    assert "no interval: one run each side" in one and runs.trained == []


def _with_runs(bf16: list[RunResult]) -> _OrderOnly:
    runs = _OrderOnly()
    runs.runs["bf16"] = bf16
    return runs


@pytest.mark.parametrize("tau", [0.044, 0.086])
def test_stored_rule_keeps_its_false_alarm_rate_with_a_session_effect(tau: float) -> None:
    """A/A nights against a baseline from another session: each session draws its own
    level (sd ``tau``, the two session effects measured on the build VM), each run 5.7%
    around it (BENCHMARKS V1), 3 runs a side.  Under the session prior the stored rule
    says REGRESSION on at most 1% (its alpha) of unchanged nights; without the session
    term it said so far more often."""
    rng = np.random.default_rng(int(tau * 1000))
    trials, with_prior, without = 2000, 0, 0
    for _ in range(trials):
        base, now = (np.exp(rng.normal(0, tau) + rng.normal(0, 0.057, 3)) for _ in range(2))
        kwargs: dict[str, Any] = {"max_regression": 0.05, "alpha": 0.01}
        with_prior += (
            baseline_rule(list(now), list(base), session=SESSION_PRIOR, **kwargs).outcome
            is Outcome.REGRESSION
        )
        without += baseline_rule(list(now), list(base), **kwargs).outcome is Outcome.REGRESSION
    assert with_prior / trials <= 0.01
    assert without / trials > 0.02  # what the session term is for


def test_stored_rule_still_catches_a_large_drop_and_names_the_session_term() -> None:
    v = baseline_rule(
        [6.0, 6.1, 5.9], [10.0, 10.3, 9.8], max_regression=0.05, session=SESSION_PRIOR
    )
    assert v.outcome is Outcome.REGRESSION
    assert "between-session spread 8.6% (a conservative default, not this machine's" in v.detail
    assert v.to_dict()["session_sigma"] == 0.086
    small = baseline_rule(
        [9.3, 9.4, 9.2], [10.0, 10.3, 9.8], max_regression=0.05, session=SESSION_PRIOR
    )  # 7% slower: within one session's draw of another's, so no evidence
    assert small.outcome is Outcome.INCONCLUSIVE and small.runs_needed is None
    assert "a session's own draw is no run's to average away" in small.detail


class _AbOrder(_OrderOnly):
    """As :class:`_OrderOnly`, keeping reference runs apart (A/B mode)."""

    def train(self, variant: Variant, *, reference: bool = False) -> Any:
        self.trained.append(f"{variant.name}{'@ref' if reference else ''}")
        kept = self.reference if reference else self.runs
        kept[variant.name].append(cast(Any, len(self.trained)))
        return None


def test_ab_mode_trains_each_pair_of_fp32_and_bf16_in_one_block() -> None:
    """A/B mode: the gate pairs the candidate's fp32 and bf16 runs of one index; they are
    trained within one block of 4 runs, each variant's reference/candidate order its own
    balanced one, so a block shift cannot bias the gate (a 4.4% shift between separate
    test blocks gave 75% coverage of a nominal 95% interval)."""
    runs = _AbOrder(seed=2)
    pairs = runs.ab_pairs(FP32, 4)
    assert len(runs.trained) == 16  # bf16's pairs came along with fp32's
    runs.ab_pairs(BF16, 4)
    assert len(runs.trained) == 16  # nothing more to train
    fp32, bf16 = runs.positions("fp32"), runs.positions("bf16")
    assert all(abs(f - b) <= 3 for f, b in zip(fp32, bf16, strict=True))
    assert sorted(pairs.order) == ["candidate"] * 2 + ["reference"] * 2
    alone = _AbOrder(seed=2)
    alone.wanted = frozenset({"fp32"})
    alone.ab_pairs(FP32, 4)
    assert alone.trained.count("fp32") == 4 and len(alone.trained) == 8
