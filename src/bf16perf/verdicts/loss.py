"""The loss rules: against the baseline curve, and bf16 against fp32 within a session."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bf16perf.verdicts.outcomes import Outcome


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
