"""Shared by the rules: the levels, the three-way outcome, number formats."""

from __future__ import annotations

import math

from bf16perf.verdicts.outcomes import Outcome

#: One-sided level at which a pass must rule out a drop beyond the threshold (as in a
#: two one-sided tests equivalence check: a 90% two-sided interval).
PASS_ALPHA = 0.05
#: The session's error budget (``--perf-alpha``): the one default every rule and front end
#: takes.
SESSION_ALPHA = 0.01
#: Two-sided coverage of the release gate's interval over all its looks.
GATE_CONFIDENCE = 0.95


def pct(x: float) -> str:
    return "unbounded" if not math.isfinite(x) else f"{x:.1%}"


def confidence_text(confidence: float) -> str:
    """A confidence level as a percentage with the digits it needs and never a rounded
    "100%": 0.95 -> "95%", 0.995 -> "99.5%", 0.99875 -> "99.875%" (a default session on
    a bf16 host plans 4 verdicts at 0.25% each, so its intervals are 99.75%)."""
    for digits in range(5):
        text = f"{confidence * 100:.{digits}f}"
        if abs(float(text) / 100 - confidence) < 1e-9 and float(text) < 100:
            return f"{text}%"
    return f"{min(confidence * 100, 99.9999):.4f}%"


def interval_text(low: float, high: float) -> str:
    hi = "inf" if not math.isfinite(high) else f"{high:.3f}"
    return f"[{low:.3f}, {hi}]"


def three_way(
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


def t_quantile(q: float, df: int) -> float:
    from scipy import stats as sps  # 1.7 s: not on the import path of every pytest run

    return float(sps.t.ppf(q, df))
