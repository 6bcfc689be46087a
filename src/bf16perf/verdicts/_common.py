"""Shared by the rules: the levels, the three-way outcome, number formats."""

from __future__ import annotations

import math

from scipy import stats as sps

from bf16perf.decisions import Outcome

#: One-sided level at which a pass must rule out a drop beyond the threshold (as in a
#: two one-sided tests equivalence check: a 90% two-sided interval).
PASS_ALPHA = 0.05
#: Two-sided coverage of the release gate's interval over all its looks.
GATE_CONFIDENCE = 0.95


def pct(x: float) -> str:
    return "unbounded" if not math.isfinite(x) else f"{x:.1%}"


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
    return float(sps.t.ppf(q, df))
