"""The release gate: bf16/fp32 over interleaved pairs, with a Bonferroni second look."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bf16perf.stats.figures import LogRatio, paired_log_ratio
from bf16perf.stats.power import detectable_drop, pairs_needed
from bf16perf.verdicts._common import GATE_CONFIDENCE, confidence_text, interval_text, pct
from bf16perf.verdicts.outcomes import Outcome
from bf16perf.verdicts.words import SESSION


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
        unproven: a command workload's bf16 kernels could not be proven (its program
            printed no oneDNN output); such a gate never passes.
        p_below: one-sided p of "the speedup is at least the gate" (small: evidence that
            it is below).
        fail_alpha: the level ``p_below`` must clear for GATE_FAILED (the session's error
            budget share, or the interval's own tail, whichever is smaller).
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
    unproven: bool = False
    p_below: float = math.nan
    fail_alpha: float = math.nan

    def without_proof(self) -> GateVerdict:
        """This verdict for bf16 runs whose kernels are unproven: a pass becomes
        INCONCLUSIVE (no verdict without the kernel proof behind it); a failure stays."""
        passed = self.outcome is Outcome.OK and self.gate > 0
        return replace(
            self, unproven=True, outcome=Outcome.INCONCLUSIVE if passed else self.outcome
        )

    @property
    def detail(self) -> str:
        e = self.estimate
        text = (
            f"bf16 speedup {e.ratio:.3f}x, {confidence_text(e.confidence)} CI"
            f" {interval_text(e.low, e.high)},"
            f" gate {self.gate:.2f}x ({len(self.bf16)} interleaved fp32/bf16 pairs of runs,"
            f" t interval on per-pair log ratios"
        )
        if self.looks > 1:
            text += (
                "; second look after more pairs: each look at"
                f" {confidence_text(e.confidence)} so that both"
                f" together keep {GATE_CONFIDENCE:.0%}"
            )
        text += f"; resolves a distance from the gate of {pct(self.resolution)} at 80% power)"
        if len(self.bf16) == 1:
            text += f"; 1 pair: between-run variance unknown ({SESSION.one_pair})"
        if self.emulated:
            text = "EMULATED bf16, no bf16 hardware (harness self-test, not a figure): " + text
        if self.unproven:
            text = "bf16 kernels UNPROVEN (the program printed no oneDNN output): " + text
        if (
            self.outcome is Outcome.INCONCLUSIVE
            and self.unproven
            and self.estimate.low >= self.gate
        ):
            text += "; a gate cannot pass on unproven bf16 kernels"
        elif self.outcome is Outcome.INCONCLUSIVE:
            more = f" (about {self.pairs_needed} pairs would)" if self.pairs_needed else ""
            text += f"; the interval straddles the gate: run more repeats{more}"
        if self.gate == 0:
            text += (
                "; no gate in the smoke profile (32x32 is overhead-bound, bf16 is no faster"
                f" there): {SESSION.set_gate}"
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
            "unproven": self.unproven,
            "resolution": self.resolution if math.isfinite(self.resolution) else None,
            "pairs_needed": self.pairs_needed,
            "emulated": self.emulated,
            "p": self.p_below if math.isfinite(self.p_below) else None,
            "alpha": self.fail_alpha if math.isfinite(self.fail_alpha) else None,
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
    fail_alpha: float = 1.0,
) -> GateVerdict:
    """Judge interleaved bf16/fp32 run figures against the minimum speedup ``gate``.

    ``looks`` is the number of looks the design allows (2 where an inconclusive first
    look may be extended); every look, the first included, is made at
    :func:`gate_confidence` of it.  It passes only when the interval's low end clears the
    gate.  It fails (GATE_FAILED, exit 10) only on evidence at the smaller of the
    interval's upper tail and ``fail_alpha`` (the session's error budget share): one-sided
    p of "at least the gate" below it.  Between the two it is INCONCLUSIVE (exit 11):
    the gate is strict, and a speedup not shown is no pass.
    """
    confidence = gate_confidence(looks)
    est = paired_log_ratio(bf16, fp32, confidence=confidence)
    tail = min((1 - confidence) / 2, fail_alpha)
    p_below = math.nan
    if gate > 0 and est.spread.known:
        p_below = (0.0 if est.ratio < gate else 1.0) if est.se == 0 else _p_at_least(est, gate)
    if gate == 0 or est.low >= gate:
        outcome = Outcome.OK
    elif est.high < gate and p_below < tail:
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
        p_below=p_below,
        fail_alpha=tail,
    )


def _p_at_least(est: LogRatio, gate: float) -> float:
    """One-sided p of "the speedup is at least ``gate``" (t on the pairs' log ratios)."""
    from scipy import stats as sps

    return float(sps.t.cdf((math.log(est.ratio) - math.log(gate)) / est.se, est.df))
