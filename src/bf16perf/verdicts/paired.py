"""The paired nightly rule: tonight's candidate/reference pairs, and the last nights' pairs.

Every night the candidate stack alternates with a pinned reference stack on one cluster
(P pairs, balanced random order).  The session's own draw (its cluster, hour, co-tenant)
hits both stacks of a pair alike and cancels in the pair's log ratio ``d = log(cand/ref)``;
what is left is the pair spread, which every night measures again.  The model is
``d_ij = mu_i + e_ij``: night ``i``'s level ``mu_i`` and pair noise ``e``, whose spread,
and any night level beyond it, :mod:`bf16perf.verdicts.paired_spread` estimates.

Two tests, splitting the variant's share of the session's error budget (Bonferroni):
:data:`TONIGHT_SHARE` of it for tonight's test, the rest for the lasting-drop window:

* **tonight**: the mean of tonight's log pair ratios, t test (exact under normal pair
  noise; degrees of freedom from the pooled spread, which the prior can widen but never
  narrow below the machine's own);
* **lasting drop**: the mean of the last :data:`WINDOW` nights' means (tonight and the
  nights before it against the same reference).  Pairs are runs of their own night, so
  their noise is independent from night to night; what can correlate neighbouring nights
  is the night level beyond the pairs (the excess above), and the window allows for it
  correlated at :data:`NIGHT_CORRELATION` (AR(1): two nights apart at its square).

Either is a REGRESSION only when its estimate is also below ``1 - threshold``.  The
detectable drops printed are those of the whole rule, the threshold condition included:
:func:`mde` for one test, tonight's and the window's.  Nothing here reads files.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bf16perf.stats.figures import Spread
from bf16perf.verdicts._common import PASS_ALPHA, SESSION_ALPHA, pct, t_quantile
from bf16perf.verdicts.outcomes import Outcome
from bf16perf.verdicts.paired_spread import (
    HORIZON,
    PAIR_PRIOR,
    PairNight,
    night_excess,
    pair_spread,
)

__all__ = [
    "HORIZON",
    "NIGHT_CORRELATION",
    "PAIRED_PAIRS",
    "PAIR_PRIOR",
    "TONIGHT_SHARE",
    "WINDOW",
    "PairNight",
    "PairedVerdict",
    "mde",
    "pair_spread",
    "paired_rule",
]

#: Pairs a night per variant in the paired nightly (``--perf-reference``) unless
#: ``--perf-pairs`` says otherwise: the session effect cancels within a pair, so two pairs
#: a night and the last nights' pairs watch for a lasting drop (BENCHMARKS.md R).
PAIRED_PAIRS = 2
#: Nights in the lasting-drop window (a lasting drop is to be flagged within 3 nights).
WINDOW = 3
#: The correlation between neighbouring nights' excess night level that the window's
#: level allows for (AR(1): nights two apart at its square).
NIGHT_CORRELATION = 0.3
#: Tonight's test's part of the variant's level; the lasting-drop window gets the rest.
#: Two pairs cannot show much in one night (its detectable drop is about twice the
#: window's), so most of the level goes where a lasting 10% drop is found.
TONIGHT_SHARE = 0.25


@dataclass(frozen=True)
class Test:
    """One of the two tests: its estimate (a ratio), standard error (log), df and p."""

    name: str
    ratio: float
    se: float
    df: int
    p_less: float
    nights: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "se": self.se,
            "df": self.df,
            "p": self.p_less,
            "nights": self.nights,
        }


def _cdf(x: float, df: int) -> float:
    from scipy import stats as sps

    return float(sps.t.cdf(x, df))


def mde(se: float, df: int, alpha: float, threshold: float, power: float = 0.8) -> float:
    """The smallest lasting drop (a fraction) that a test of standard error ``se`` on the
    log scale flags with ``power``: significant at ``alpha`` *and* its estimate below
    ``1 - threshold`` (the estimate must clear the larger of the two bars)."""
    if not (math.isfinite(se) and df > 0):
        return math.inf
    bar = max(t_quantile(1 - alpha, df) * se, -math.log(1 - threshold))
    return 1 - math.exp(-(bar + t_quantile(power, df) * se))


def _test(name: str, window: Sequence[PairNight], var_p: float, df_p: int,
          excess: float, df_x: int) -> Test:  # fmt: skip
    """The mean of ``window``'s night means against 0.  Each night mean's variance is its
    pairs' share plus the night-to-night ``excess``; the pairs of different nights are
    independent runs, and the excess of two nights ``k`` apart is correlated at
    ``NIGHT_CORRELATION ** k``."""
    k = len(window)
    pair_var = sum(var_p / len(n.log_ratios) for n in window) / k**2
    night_var = excess * sum(NIGHT_CORRELATION ** abs(i - j) for i in range(k) for j in range(k))
    night_var /= k**2
    var = pair_var + night_var
    # Welch-Satterthwaite over the two terms
    terms = [(pair_var, df_p), (night_var, df_x)]
    df = var**2 / sum(v**2 / d for v, d in terms if v > 0 and d > 0)
    se, mean = math.sqrt(var), statistics.fmean(n.mean for n in window)
    df_used = max(1, math.floor(df))
    return Test(name, math.exp(mean), se, df_used, _cdf(mean / se, df_used), k)


@dataclass(frozen=True)
class PairedVerdict:
    """Tonight's pairs and the last nights' against the same reference.

    Attributes:
        outcome: REGRESSION, IMPROVED, OK or INCONCLUSIVE.
        tonight: the one-night test; window: the lasting-drop test (``None``: tonight is
            the series' first night).
        spread: the pair spread used; excess: the night-to-night variance beyond it.
        threshold, alpha: the rule's settings (``alpha``: the variant's share, split
            between the two tests by :data:`TONIGHT_SHARE`).
        mde_tonight, mde_lasting: the detectable drops, threshold condition included:
            of tonight's test, and of the window's once it holds :data:`WINDOW` nights of
            the drop (at tonight's pair count).
        failed_by: which test failed (``tonight``, ``lasting drop``), if any.
        pairs: tonight's pair count; nights: the nights of the series read.
    """

    outcome: Outcome
    tonight: Test
    window: Test | None
    spread: Spread
    excess: float
    threshold: float
    alpha: float
    mde_tonight: float
    mde_lasting: float
    failed_by: list[str] = field(default_factory=list)
    pairs: int = 0
    nights: int = 1

    @property
    def p(self) -> float:
        """The verdict's p on its own level ``alpha`` (Bonferroni over its two tests: each
        test's p divided by its part of the level; the smaller, at most 1)."""
        ps = [self.tonight.p_less / TONIGHT_SHARE]
        if self.window is not None:
            ps.append(self.window.p_less / (1 - TONIGHT_SHARE))
        return min(1.0, min(ps))

    @property
    def detail(self) -> str:
        t, w = self.tonight, self.window
        text = (
            f"paired nightly: tonight {t.ratio:.3f} ({t.ratio - 1:+.1%}) over {self.pairs}"
            f" pair(s), p={t.p_less:.3g}"
        )
        if w is not None:
            text += f"; last {w.nights} nights {w.ratio:.3f} ({w.ratio - 1:+.1%}), p={w.p_less:.3g}"
        text += (
            f"; tests at {self.alpha * TONIGHT_SHARE:.3g} (tonight) and"
            f" {self.alpha * (1 - TONIGHT_SHARE):.3g} (window), each also below"
            f" -{self.threshold:.0%}; pair spread"
            f" {pct(self.spread.sigma)} ({self.spread.source})"
        )
        if self.excess > 0:
            text += f", a night level of {pct(math.sqrt(self.excess))} beyond the pairs allowed for"
        text += (
            f"; detectable drop: {pct(self.mde_tonight)} tonight, {pct(self.mde_lasting)}"
            f" lasting {WINDOW} nights (80% power)"
        )
        if self.failed_by:
            text += f"; failed by: {', '.join(self.failed_by)}"
        if self.outcome is Outcome.INCONCLUSIVE:
            text += f"; a drop beyond {self.threshold:.0%} is neither shown nor ruled out tonight"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": "paired nightly: tonight's log pair ratios (t) + the last nights' (window)",
            "ratio": self.tonight.ratio,
            "p": self.p,
            "tonight": self.tonight.to_dict(),
            "window": self.window.to_dict() if self.window else None,
            "pair_sigma": self.spread.sigma,
            "pair_df": self.spread.df,
            "night_excess_sigma": math.sqrt(self.excess),
            "mde": self.mde_tonight if math.isfinite(self.mde_tonight) else None,
            "mde_lasting": self.mde_lasting if math.isfinite(self.mde_lasting) else None,
            "failed_by": self.failed_by,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "pairs": self.pairs,
            "nights": self.nights,
        }


def paired_rule(
    tonight: Sequence[float],
    before: Sequence[PairNight] = (),
    *,
    max_regression: float,
    alpha: float = SESSION_ALPHA,
    prior: Spread = PAIR_PRIOR,
    started: str = "tonight",
) -> PairedVerdict:
    """Judge tonight's log pair ratios ``tonight`` with the nights ``before`` it (oldest
    first, the same machine, workload, variant and reference)."""
    if not tonight:
        raise ValueError("the paired rule needs at least one pair tonight")
    night = PairNight(started, tuple(tonight))
    nights = [*before, night]
    window, earlier = nights[-WINDOW:], nights[:-WINDOW][-HORIZON:]
    spread = pair_spread(window, earlier, prior)
    # the prior may widen the machine's own estimate, never narrow it: a prior below the
    # machine's spread would make a new series' first nights too bold (BENCHMARKS.md R5)
    own = pair_spread(window, earlier, Spread(math.nan, 0, "none"))
    if own.known and own.sigma > spread.sigma:
        spread = Spread(own.sigma, spread.df, f"{own.source}, above the prior's pooling")
    var_p, df_p = spread.sigma**2, spread.df
    excess, df_x = night_excess(earlier, spread.sigma)
    t = _test("tonight", [night], var_p, df_p, excess, df_x)
    w = _test("lasting drop", window, var_p, df_p, excess, df_x) if len(window) > 1 else None
    levels = {"tonight": alpha * TONIGHT_SHARE, "lasting drop": alpha * (1 - TONIGHT_SHARE)}
    below = math.log(1 - max_regression)
    failed = [
        x.name for x in (t, w) if x and x.p_less < levels[x.name] and math.log(x.ratio) < below
    ]
    faster = 1 - t.p_less < levels["tonight"] and t.ratio > 1 + max_regression
    pass_low = math.log(t.ratio) - t_quantile(1 - PASS_ALPHA, t.df) * t.se
    if failed:
        outcome = Outcome.REGRESSION
    elif faster:
        outcome = Outcome.IMPROVED
    elif pass_low >= below:
        outcome = Outcome.OK
    else:
        outcome = Outcome.INCONCLUSIVE
    full = [PairNight("", tuple(tonight))] * WINDOW  # a window full of the drop
    lasting = _test("lasting drop", full, var_p, df_p, excess, df_x)
    return PairedVerdict(
        outcome=outcome,
        tonight=t,
        window=w,
        spread=spread,
        excess=excess,
        threshold=max_regression,
        alpha=alpha,
        mde_tonight=mde(t.se, t.df, levels["tonight"], max_regression),
        mde_lasting=mde(lasting.se, lasting.df, levels["lasting drop"], max_regression),
        failed_by=failed,
        pairs=len(tonight),
        nights=len(nights),
    )
