"""The verdict rules users get, as pure functions returning typed verdicts.

Every throughput decision works on *run figures* (the median images/s of a run's measured
steps, :func:`bf16perf.stats.run_figure`), on a log scale, with between-run variance
estimated from repeated runs; steps only describe a run.  Three rules:

* :func:`baseline_rule`: this session's runs against a stored baseline's runs.  The effect
  is the ratio of geometric means with a t interval on log figures (the spread pooled from
  both sides and, where saved, the machine's measured noise).  REGRESSION when the
  one-sided test at ``alpha`` says slower *and* the estimate is worse than the threshold;
  a pass when a drop beyond the threshold is ruled out (one-sided, at ``PASS_ALPHA``);
  INCONCLUSIVE otherwise.
* :func:`ab_rule`: candidate against reference runs alternated on one cluster.  Per-pair
  log ratios, exact one-sided Wilcoxon signed-rank, Hodges-Lehmann estimate and interval;
  the same three outcomes.
* :func:`gate_rule`: the release gate on bf16/fp32 over interleaved pairs: the mean
  per-pair log ratio with a t interval; with a second look (more pairs after an
  inconclusive first one), each look is made at half the error (Bonferroni), so the
  overall error stays at the stated level.

Each verdict carries the minimum detectable effect at 80% power and, where that exceeds
the threshold, how many runs or pairs would bring it below.  :func:`loss_rule` and
:func:`bf16_loss_rule` judge the loss curves.  Nothing here touches pytest or files.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy import stats as sps

from bf16perf.decisions import Outcome
from bf16perf.stats import (
    LogRatio,
    SignedRank,
    Spread,
    detectable_drop,
    loss_curve_violations,
    min_pairs_for,
    paired_log_ratio,
    pairs_needed,
    runs_needed,
    signed_rank,
    unpaired_log_ratio,
)

__all__ = [
    "GATE_CONFIDENCE",
    "PASS_ALPHA",
    "AbVerdict",
    "GateVerdict",
    "LossVerdict",
    "ThroughputVerdict",
    "ab_rule",
    "balanced_order",
    "baseline_rule",
    "bf16_loss_rule",
    "gate_confidence",
    "gate_rule",
    "loss_rule",
]

#: One-sided level at which a pass must rule out a drop beyond the threshold (as in a
#: two one-sided tests equivalence check: a 90% two-sided interval).
PASS_ALPHA = 0.05
#: Two-sided coverage of the release gate's interval over all its looks.
GATE_CONFIDENCE = 0.95


def _pct(x: float) -> str:
    return "unbounded" if not math.isfinite(x) else f"{x:.1%}"


def _interval(low: float, high: float) -> str:
    hi = "inf" if not math.isfinite(high) else f"{high:.3f}"
    return f"[{low:.3f}, {hi}]"


def _three_way(
    significant_slower: bool,
    significant_faster: bool,
    ratio: float,
    pass_low: float,
    threshold: float,
) -> Outcome:
    if significant_slower and ratio < 1 - threshold:
        return Outcome.REGRESSION
    if significant_faster and ratio > 1 + threshold:
        return Outcome.IMPROVED
    if pass_low >= 1 - threshold:
        return Outcome.OK
    return Outcome.INCONCLUSIVE


@dataclass(frozen=True)
class ThroughputVerdict:
    """This session's runs against a stored baseline's runs.

    Attributes:
        outcome: REGRESSION, IMPROVED, OK or INCONCLUSIVE.
        estimate: the ratio of geometric means with its ``1 - 2*alpha`` interval.
        current, baseline: run figures (images/s) of each side.
        threshold, alpha: the rule's settings.
        mde: the smallest drop the data could detect (one-sided alpha, 80% power).
        runs_needed: current runs that would bring ``mde`` under ``threshold`` (``None``:
            no number would, the baseline must hold more runs; ``0``: already there).
        baseline_path: the file compared against.
        notes: what the data cannot tell, in words.
    """

    outcome: Outcome
    estimate: LogRatio
    current: list[float]
    baseline: list[float]
    threshold: float
    alpha: float
    mde: float
    runs_needed: int | None
    baseline_path: str
    notes: list[str] = field(default_factory=list)

    @property
    def detail(self) -> str:
        e = self.estimate
        text = (
            f"{statistics.median(self.current):.2f} images/s now ({len(self.current)} runs) vs"
            f" {statistics.median(self.baseline):.2f} in baseline {self.baseline_path}"
            f" ({len(self.baseline)} runs): ratio of geometric means {e.ratio:.3f}"
            f" ({e.ratio - 1:+.1%}), {e.confidence:.0%} CI {_interval(e.low, e.high)},"
            f" between-run spread {_pct(e.spread.sigma)} from {e.spread.source};"
            f" detectable drop {_pct(self.mde)} at alpha {self.alpha:g}, 80% power"
        )
        if self.mde > self.threshold:
            if self.runs_needed:
                text += (
                    f" (above the {self.threshold:.0%} threshold: {self.runs_needed} runs"
                    " per session would bring it below, --perf-repeats)"
                )
            else:
                text += (
                    f" (above the {self.threshold:.0%} threshold whatever this session runs:"
                    " save the baseline with more runs, or measure the machine's noise with"
                    " benchmarks/run.py noise)"
                )
        for note in self.notes:
            text += f"; {note}"
        if self.outcome is Outcome.IMPROVED:
            text += "; accept it with --perf-save-baseline"
        elif self.outcome is Outcome.INCONCLUSIVE:
            text += (
                f"; a drop beyond {self.threshold:.0%} is neither shown nor ruled out:"
                " run more repeats"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        e = self.estimate
        return {
            "rule": "stored baseline, run figures, t on logs",
            "ratio": e.ratio,
            "ci": [e.low, e.high if math.isfinite(e.high) else None],
            "confidence": e.confidence,
            "sigma": e.spread.sigma if e.spread.known else None,
            "sigma_source": e.spread.source,
            "current_runs": self.current,
            "baseline_runs": self.baseline,
            "mde": self.mde if math.isfinite(self.mde) else None,
            "runs_needed": self.runs_needed,
            "threshold": self.threshold,
            "alpha": self.alpha,
        }


def baseline_rule(
    current: Sequence[float],
    baseline: Sequence[float],
    *,
    max_regression: float,
    alpha: float = 0.01,
    prior: Spread | None = None,
    baseline_path: str = "",
) -> ThroughputVerdict:
    """Judge this session's run figures against a baseline's (see the module docstring)."""
    est = unpaired_log_ratio(current, baseline, confidence=1 - 2 * alpha, prior=prior)
    if est.spread.known:
        pass_low = math.exp(math.log(est.ratio) - est.se * _t(1 - PASS_ALPHA, est.df))
        slower = est.p_less < alpha
        faster = 1 - est.p_less < alpha
    else:
        pass_low, slower, faster = 0.0, False, False
    outcome = _three_way(slower, faster, est.ratio, pass_low, max_regression)
    mde = detectable_drop(est.se, est.df, alpha)
    needed: int | None = 0
    notes: list[str] = []
    if len(baseline) == 1 and (prior is None or not prior.known):
        notes.append("1 baseline run: between-run variance unknown")
    if not est.spread.known:
        notes.append(
            "with one run on each side and no saved noise estimate nothing bounds the"
            " between-run variance (--perf-repeats 3, or benchmarks/run.py noise)"
        )
    if mde > max_regression:
        prior_df = prior.df if prior is not None and prior.known else 0
        sigma = est.spread.sigma if est.spread.known else math.nan
        needed = runs_needed(sigma, len(baseline), max_regression, alpha, prior_df=prior_df)
    return ThroughputVerdict(
        outcome=outcome,
        estimate=est,
        current=list(current),
        baseline=list(baseline),
        threshold=max_regression,
        alpha=alpha,
        mde=mde,
        runs_needed=needed,
        baseline_path=baseline_path,
        notes=notes,
    )


def _t(q: float, df: int) -> float:
    return float(sps.t.ppf(q, df))


@dataclass(frozen=True)
class AbVerdict:
    """Candidate against reference, interleaved on one cluster.

    Attributes:
        outcome: REGRESSION, IMPROVED, OK or INCONCLUSIVE.
        test: the signed-rank test on per-pair log ratios (candidate/reference) with the
            Hodges-Lehmann estimate and its ``1 - 2*alpha`` interval.
        candidate, reference: run figures, pair ``i`` of one next to pair ``i`` of the other.
        order: for each pair, which side ran first (``"reference"`` or ``"candidate"``).
        threshold, alpha: the rule's settings.
        sigma: the standard deviation of the per-pair log ratios.
        mde: the smallest drop the pairs could detect (one-sided alpha, 80% power).
        pairs_needed: pairs that would bring ``mde`` under ``threshold``.
    """

    outcome: Outcome
    test: SignedRank
    candidate: list[float]
    reference: list[float]
    order: list[str]
    threshold: float
    alpha: float
    sigma: float
    mde: float
    pairs_needed: int | None

    @property
    def detail(self) -> str:
        t = self.test
        text = (
            f"candidate {statistics.median(self.candidate):.2f} vs reference"
            f" {statistics.median(self.reference):.2f} images/s over {t.pairs} interleaved"
            f" pairs: Hodges-Lehmann ratio {t.ratio:.3f} ({t.ratio - 1:+.1%}),"
            f" {t.confidence:.0%} CI {_interval(t.low, t.high)}, one-sided Wilcoxon"
            f" signed-rank p={t.p_less:.4f}; pair spread {_pct(self.sigma)}; detectable drop"
            f" {_pct(self.mde)} at alpha {self.alpha:g}, 80% power"
        )
        if t.floor > self.alpha:
            text += (
                f" ({t.pairs} pairs cannot reach p < {self.alpha:g}: at least"
                f" {min_pairs_for(self.alpha)} are needed, --perf-pairs)"
            )
        elif self.mde > self.threshold and self.pairs_needed:
            text += (
                f" (above the {self.threshold:.0%} threshold: {self.pairs_needed} pairs would"
                " bring it below, --perf-pairs)"
            )
        if self.outcome is Outcome.INCONCLUSIVE:
            text += f"; a drop beyond {self.threshold:.0%} is neither shown nor ruled out"
        return text

    def to_dict(self) -> dict[str, Any]:
        t = self.test
        return {
            "rule": "A/B interleaved pairs, Wilcoxon signed-rank, Hodges-Lehmann",
            "ratio": t.ratio,
            "ci": [t.low, t.high if math.isfinite(t.high) else None],
            "confidence": t.confidence,
            "p_value": t.p_less,
            "candidate_runs": self.candidate,
            "reference_runs": self.reference,
            "order": self.order,
            "sigma": self.sigma if math.isfinite(self.sigma) else None,
            "mde": self.mde if math.isfinite(self.mde) else None,
            "pairs_needed": self.pairs_needed,
            "threshold": self.threshold,
            "alpha": self.alpha,
        }


def balanced_order(pairs: int, seed: str) -> list[str]:
    """Which side runs first in each A/B pair: as many reference-first as candidate-first
    (one more candidate-first when odd), shuffled by a generator seeded with ``seed`` so a
    session can be repeated (Pinpoint's pairwise design)."""
    first = ["reference"] * (pairs // 2) + ["candidate"] * (pairs - pairs // 2)
    random.Random(seed).shuffle(first)
    return first


def ab_rule(
    candidate: Sequence[float],
    reference: Sequence[float],
    *,
    max_regression: float,
    alpha: float = 0.01,
    order: Sequence[str] = (),
) -> AbVerdict:
    """Judge interleaved candidate/reference pairs of run figures."""
    if len(candidate) != len(reference) or not candidate:
        raise ValueError(
            f"A/B needs equal, non-zero pair counts, got {len(candidate)} and {len(reference)}"
        )
    d = [math.log(c / r) for c, r in zip(candidate, reference, strict=True)]
    test = signed_rank(d, confidence=1 - 2 * alpha)
    faster = signed_rank([-x for x in d], confidence=1 - 2 * alpha)
    pass_low = signed_rank(d, confidence=1 - 2 * PASS_ALPHA).low
    n = len(d)
    sigma = statistics.stdev(d) if n > 1 else math.nan
    mde = math.inf if test.floor > alpha else detectable_drop(sigma / math.sqrt(n), n - 1, alpha)
    outcome = _three_way(
        test.p_less < alpha, faster.p_less < alpha, test.ratio, pass_low, max_regression
    )
    return AbVerdict(
        outcome=outcome,
        test=test,
        candidate=list(candidate),
        reference=list(reference),
        order=list(order),
        threshold=max_regression,
        alpha=alpha,
        sigma=sigma,
        mde=mde,
        pairs_needed=pairs_needed(sigma, max_regression, alpha) if mde > max_regression else 0,
    )


@dataclass(frozen=True)
class GateVerdict:
    """The release gate: bf16/fp32 over interleaved pairs of runs.

    Attributes:
        outcome: OK, GATE_FAILED or INCONCLUSIVE (OK when there is no gate).
        estimate: mean per-pair log ratio as a ratio, with its t interval at ``confidence``.
        bf16, fp32: run figures, pair ``i`` of one next to pair ``i`` of the other.
        gate: the minimum speedup (0: no gate).
        looks: how many times the data were looked at (2 after an extension).
        resolution: the smallest distance from the gate (a fraction of it) that the pairs
            decide with 80% power.
        pairs_needed: pairs that would decide the observed distance from the gate.
        emulated: bf16 ran without bf16 hardware (a self-test, never a figure).
    """

    outcome: Outcome
    estimate: LogRatio
    bf16: list[float]
    fp32: list[float]
    gate: float
    looks: int
    resolution: float
    pairs_needed: int | None
    emulated: bool = False

    @property
    def detail(self) -> str:
        e = self.estimate
        text = (
            f"bf16 speedup {e.ratio:.3f}x, {e.confidence:.1%} CI {_interval(e.low, e.high)},"
            f" gate {self.gate:.2f}x ({len(self.bf16)} interleaved fp32/bf16 pairs of runs,"
            f" t interval on per-pair log ratios"
        )
        if self.looks > 1:
            text += (
                f"; second look after more pairs: each look at {e.confidence:.1%} so that both"
                f" together keep {GATE_CONFIDENCE:.0%}"
            )
        text += f"; resolves a distance from the gate of {_pct(self.resolution)} at 80% power)"
        if len(self.bf16) == 1:
            text += "; 1 pair: between-run variance unknown (--perf-repeats 3)"
        if self.emulated:
            text = "EMULATED bf16, no bf16 hardware (harness self-test, not a figure): " + text
        if self.outcome is Outcome.INCONCLUSIVE:
            more = f" (about {self.pairs_needed} pairs would)" if self.pairs_needed else ""
            text += f"; the interval straddles the gate: run more repeats{more}"
        if self.gate == 0:
            text += (
                "; no gate in the smoke profile (32x32 is overhead-bound, bf16 is no faster"
                " there): gate with --perf-min-bf16-speedup"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        e = self.estimate
        return {
            "ratio": e.ratio,
            "ci": [e.low, e.high if math.isfinite(e.high) else None],
            "confidence": e.confidence,
            "gate": self.gate,
            "pairs": len(self.bf16),
            "bf16_runs": self.bf16,
            "fp32_runs": self.fp32,
            "looks": self.looks,
            "resolution": self.resolution if math.isfinite(self.resolution) else None,
            "pairs_needed": self.pairs_needed,
            "emulated": self.emulated,
        }


def gate_confidence(looks: int) -> float:
    """Per-look confidence that keeps the gate's overall coverage at GATE_CONFIDENCE."""
    return 1 - (1 - GATE_CONFIDENCE) / looks


def gate_rule(
    bf16: Sequence[float],
    fp32: Sequence[float],
    *,
    gate: float,
    looks: int = 1,
    emulated: bool = False,
) -> GateVerdict:
    """Judge interleaved bf16/fp32 run figures against the minimum speedup ``gate``.

    ``looks`` is the number of looks the design allows (2 where an inconclusive first
    look may be extended); every look, the first included, is made at
    :func:`gate_confidence` of it.
    """
    confidence = gate_confidence(looks)
    est = paired_log_ratio(bf16, fp32, confidence=confidence)
    if gate == 0 or est.low >= gate:
        outcome = Outcome.OK
    elif est.high < gate:
        outcome = Outcome.GATE_FAILED
    else:
        outcome = Outcome.INCONCLUSIVE
    tail = (1 - confidence) / 2
    resolution = detectable_drop(est.se, est.df, tail)
    needed = None
    if outcome is Outcome.INCONCLUSIVE and est.spread.known and gate > 0:
        distance = abs(1 - gate / est.ratio)
        needed = pairs_needed(est.spread.sigma, distance, tail, exact_floor=False)
    return GateVerdict(
        outcome=outcome,
        estimate=est,
        bf16=list(bf16),
        fp32=list(fp32),
        gate=gate,
        looks=looks,
        resolution=resolution,
        pairs_needed=needed,
        emulated=emulated,
    )


@dataclass(frozen=True)
class LossVerdict:
    """A loss curve against a reference curve.

    Attributes:
        outcome: OK or DRIFT.
        detail: the numbers and files a person needs to check it.
    """

    outcome: Outcome
    detail: str


def loss_rule(
    current: Sequence[float],
    baseline: Sequence[float],
    *,
    atol: float,
    rtol: float,
    baseline_path: str,
) -> LossVerdict:
    """With fixed seeds and synthetic data the curve is deterministic: every step must stay
    within ``atol + rtol*|baseline|`` of the baseline's."""
    bad = loss_curve_violations(current, baseline, atol=atol, rtol=rtol)
    if not bad:
        return LossVerdict(
            Outcome.OK,
            f"{len(current)} steps within {atol} + {rtol}*|baseline| of {baseline_path}",
        )
    step, now, then = bad[0]
    return LossVerdict(
        Outcome.DRIFT,
        f"{len(bad)} steps outside {atol} + {rtol}*|baseline|, first at step {step}:"
        f" {now:.5f} vs {then:.5f} in {baseline_path}",
    )


def bf16_loss_rule(
    bf16: Sequence[float],
    fp32: Sequence[float],
    *,
    band: float,
    names: tuple[str, str] = ("bf16", "fp32"),
) -> LossVerdict:
    """Within a session: the mean |bf16 - fp32| loss (or of the two curves ``names``
    names, e.g. an A/B candidate and reference) must stay within ``band``."""
    diff = statistics.fmean(abs(a - b) for a, b in zip(bf16, fp32, strict=True))
    outcome = Outcome.OK if diff <= band else Outcome.DRIFT
    a, b = names
    return LossVerdict(
        outcome, f"mean |{a} - {b}| = {diff:.3f} over {len(fp32)} steps (band {band})"
    )
