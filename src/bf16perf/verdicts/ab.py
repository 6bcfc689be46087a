"""The A/B rule: candidate against reference runs alternated in balanced order on one cluster."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bf16perf.stats.power import min_pairs_for, signed_rank_pairs, signed_rank_whole_drop
from bf16perf.stats.ranks import SignedRank, signed_rank
from bf16perf.verdicts._common import (
    PASS_ALPHA,
    SESSION_ALPHA,
    confidence_text,
    interval_text,
    pct,
    three_way,
)
from bf16perf.verdicts.outcomes import Outcome
from bf16perf.verdicts.words import SESSION


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
        mde: the smallest drop the whole rule flags with 80% power on these pairs: the
            exact signed-rank test at ``alpha`` and the Hodges-Lehmann estimate below
            ``1 - threshold`` (:func:`bf16perf.stats.power.signed_rank_whole_drop`, simulated
            with a fixed seed).
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
            f" {confidence_text(t.confidence)} CI {interval_text(t.low, t.high)},"
            " one-sided Wilcoxon"
            f" signed-rank p={t.p_less:.4f}; pair spread {pct(self.sigma)}; detectable drop"
            f" {pct(self.mde)} at alpha {self.alpha:g}, 80% power (the exact signed-rank test"
            f" and the estimate below -{self.threshold:.0%}, simulated)"
        )
        if t.floor > self.alpha:
            text += (
                f" ({t.pairs} pairs cannot reach p < {self.alpha:g}: at least"
                f" {min_pairs_for(self.alpha)} are needed, {SESSION.more_pairs})"
            )
        elif self.mde > self.threshold and self.pairs_needed:
            text += (
                f" (above the {self.threshold:.0%} threshold: {self.pairs_needed} pairs would"
                f" bring it below, {SESSION.more_pairs})"
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
            "p": t.p_less,
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
    alpha: float = SESSION_ALPHA,
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
    mde = (
        math.inf
        if test.floor > alpha or not math.isfinite(sigma)
        else signed_rank_whole_drop(sigma, n, alpha, max_regression)
    )
    outcome = three_way(
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
        pairs_needed=(
            signed_rank_pairs(sigma, max_regression, alpha) if mde > max_regression else 0
        ),
    )
