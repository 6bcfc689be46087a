"""Statistics as pure functions over plain sequences (no pytest, no I/O).

The unit of every throughput decision is the *run*: a run's figure is the median images/s
of its measured steps (:func:`run_figure`), and decisions work on the logarithms of run
figures.  Steps of one run share that run's drift (a shared VM moves by 10% within
minutes, BENCHMARKS.md), so pooling them as independent samples reads between-run drift as
significance; nothing here does that.

* :func:`log_spread`: the between-run standard deviation of log figures, pooled over groups,
  optionally combined with a prior estimate (a saved noise file).
* :func:`unpaired_log_ratio`: current runs against baseline runs: ratio of geometric means
  with a t interval on log figures (the stored-baseline rule).
* :func:`paired_log_ratio`: per-pair log ratios of interleaved runs: mean ratio with a
  t interval (the bf16 gate).
* The exact Wilcoxon signed-rank test of A/B pairs: :mod:`bf16perf.stats.ranks`.
* The minimum detectable effect and the runs or pairs needed: :mod:`bf16perf.stats.power`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def _scipy_stats() -> Any:
    """scipy.stats, imported on first use (seconds on a busy 2-vCPU machine): a session
    start that only reads baselines does not pay for it."""
    from scipy import stats

    return stats


__all__ = [
    "LogRatio",
    "Spread",
    "log_spread",
    "paired_log_ratio",
    "run_figure",
    "sessions_log_ratio",
    "unpaired_log_ratio",
]


def run_figure(images_per_second: Sequence[float]) -> float:
    """A run's throughput figure: the median images/s of its measured steps."""
    values = [float(x) for x in images_per_second]
    if not values:
        raise ValueError("a run needs at least one measured step for its figure")
    if not all(math.isfinite(x) and x > 0 for x in values):
        raise ValueError(f"images/s must be finite and positive, got {values}")
    return statistics.median(values)


def _logs(figures: Sequence[float], what: str) -> np.ndarray:
    x = np.asarray(figures, float)
    if x.size == 0:
        raise ValueError(f"{what}: no runs")
    if not np.all(np.isfinite(x) & (x > 0)):
        raise ValueError(f"{what}: run figures must be finite and positive, got {list(x)}")
    logs: np.ndarray = np.log(x)
    return logs


@dataclass(frozen=True)
class Spread:
    """Between-run standard deviation of log run figures.

    Attributes:
        sigma: the standard deviation (0.03 is about 3% run to run); ``nan`` when unknown.
        df: its degrees of freedom (0: unknown).
        source: where it came from, in words, for the verdict's message.
    """

    sigma: float
    df: int
    source: str

    @property
    def known(self) -> bool:
        return self.df > 0 and math.isfinite(self.sigma)


def log_spread(
    groups: Sequence[Sequence[float]], prior: Spread | None = None, *, what: str = "these runs"
) -> Spread:
    """Pooled between-run spread of the log figures of ``groups`` (each group one condition).

    Each group contributes ``len - 1`` degrees of freedom.  A ``prior`` (the machine's saved
    noise estimate) is pooled in by its own degrees of freedom, so a session with few runs
    leans on it and a session with many runs outweighs it.
    """
    ss, df = 0.0, 0
    for group in groups:
        logs = _logs(group, what)
        ss += float(np.sum((logs - logs.mean()) ** 2))
        df += logs.size - 1
    parts = [f"{df + len(groups)} runs ({what})"] if df else []
    if prior is not None and prior.known:
        ss += prior.sigma**2 * prior.df
        df += prior.df
        parts.append(prior.source)
    if df == 0:
        return Spread(math.nan, 0, "unknown")
    return Spread(math.sqrt(ss / df), df, " + ".join(parts))


@dataclass(frozen=True)
class LogRatio:
    """An effect on the log scale, reported as a ratio with its interval.

    Attributes:
        ratio: the estimate (geometric mean ratio; 0.95 is 5% slower).
        low, high: the interval's bounds (0 and inf when the spread is unknown).
        confidence: the two-sided coverage of ``[low, high]``.
        spread: the between-run spread behind the interval (``se`` and ``df`` also carry
            a between-session term where the two sides came from different sessions).
        se: standard error of the log ratio (``nan`` when unknown).
        df: degrees of freedom of the t quantiles.
        p_less: one-sided p-value of "the ratio is below 1" (``nan`` when unknown).
        session: the between-session spread in ``se`` (``None``: one session).
    """

    ratio: float
    low: float
    high: float
    confidence: float
    spread: Spread
    se: float
    df: int
    p_less: float
    session: Spread | None = None


def _interval(estimate: float, se: float, df: int, confidence: float) -> tuple[float, float]:
    if df <= 0 or not math.isfinite(se):
        return 0.0, math.inf
    half = float(_scipy_stats().t.ppf(0.5 + confidence / 2, df)) * se
    top = 709.0  # exp saturates near the largest float rather than raising
    return math.exp(min(estimate - half, top)), math.exp(min(estimate + half, top))


def _p_less(estimate: float, se: float, df: int) -> float:
    if df <= 0 or not math.isfinite(se):
        return math.nan
    if se == 0:
        return 0.0 if estimate < 0 else 1.0
    return float(_scipy_stats().t.cdf(estimate / se, df))


def _log_ratio(
    estimate: float,
    se: float,
    spread: Spread,
    confidence: float,
    df: int | None = None,
    session: Spread | None = None,
) -> LogRatio:
    df = spread.df if df is None else df
    low, high = _interval(estimate, se, df, confidence)
    return LogRatio(
        ratio=math.exp(estimate),
        low=low,
        high=high,
        confidence=confidence,
        spread=spread,
        se=se,
        df=df,
        p_less=_p_less(estimate, se, df),
        session=session,
    )


def unpaired_log_ratio(
    current: Sequence[float],
    baseline: Sequence[float],
    *,
    confidence: float = 0.98,
    prior: Spread | None = None,
    session: Spread | None = None,
) -> LogRatio:
    """``current`` run figures against ``baseline`` run figures.

    The estimate is the ratio of geometric means; its t interval uses the pooled
    between-run spread of both sides (plus ``prior``), so one run against one run with no
    prior has an unknown spread and an unbounded interval, as it should.

    ``session`` is the between-session spread, where the two sides come from different
    sessions (another cluster, hour and co-tenant): each side then carries its own
    session's draw, so the variance of the difference gains ``2 * session.sigma**2`` and
    the degrees of freedom come from Welch-Satterthwaite over the two terms.  ``None``:
    both sides are from one session.
    """
    return sessions_log_ratio(
        current, [baseline], confidence=confidence, prior=prior, session=session
    )


def sessions_log_ratio(
    current: Sequence[float],
    sessions: Sequence[Sequence[float]],
    *,
    confidence: float = 0.98,
    prior: Spread | None = None,
    session: Spread | None = None,
) -> LogRatio:
    """``current`` run figures (one session) against a baseline of several sessions' runs.

    The model is ``log x = mu + s + e``: each session draws ``s`` (spread ``tau``), each run
    ``e`` (spread ``sigma``, pooled within every session here, plus ``prior``).  The
    baseline's level is the mean of its session means, so each session counts once
    whatever its runs.  Where the baseline holds 3 or more sessions their own scatter
    ``V`` (the variance of a session mean, ``m - 1`` df) gives the between-session term,
    pooled with ``session`` (this machine's calibration, or the prior: never a few-df
    estimate alone) by degrees of freedom: the variance of today's mean against theirs is
    ``V (1 + 1/m) + sigma^2 (1/n - h)`` with ``h`` the mean of ``1/n_i``, the prediction
    interval of a new session; ``V`` is held at least at the runs' own share
    ``sigma^2 h`` (a session mean cannot scatter less than its runs), at ``V``'s own
    degrees of freedom.  With fewer sessions the term is ``session``'s
    ``tau^2 (1 + 1/m)``; ``session`` ``None`` means every side is from one session.
    Degrees of freedom come from Welch-Satterthwaite over the two terms.
    """
    if not sessions:
        raise ValueError("a baseline needs at least one session")
    a = _logs(current, "current runs")
    logs = [_logs(s, "baseline runs") for s in sessions]
    spread = log_spread([current, *sessions], prior, what="this session and the baseline")
    m = len(logs)
    means = np.array([g.mean() for g in logs])
    h = float(np.mean([1 / g.size for g in logs]))
    diff = float(a.mean() - means.mean())
    if not spread.known:
        return _log_ratio(diff, math.nan, spread, confidence)
    run_var = spread.sigma**2
    used = session if session is not None and session.known else None
    if m >= 3:
        # never a 2-df estimate alone: pooled with the prior (or this machine's
        # calibration) by degrees of freedom
        mean_var, used = _session_means_spread(means, run_var * h, used)
        terms = [(mean_var * (1 + 1 / m), used.df), (run_var * (1 / a.size - h), spread.df)]
    elif used is not None:
        terms = [
            (run_var * (1 / a.size + h / m), spread.df),
            (used.sigma**2 * (1 + 1 / m), used.df),
        ]
    else:
        terms = [(run_var * (1 / a.size + h / m), spread.df)]
    total = sum(v for v, _ in terms)
    # Welch-Satterthwaite over the positive terms; a negative correction (fewer runs today
    # than in the baseline's sessions) lowers the variance and, with it, the df
    positive = [(v, d) for v, d in terms if v > 0 and d > 0]
    df = total**2 / sum(v**2 / d for v, d in positive)
    df_used = max(1, math.floor(df))
    return _log_ratio(diff, math.sqrt(total), spread, confidence, df_used, used)


def _session_means_spread(
    means: np.ndarray, runs_share: float, calibration: Spread | None
) -> tuple[float, Spread]:
    """The variance of a session mean from 3 or more baseline sessions' ``means`` (pooled
    by degrees of freedom with this machine's ``calibration`` of the session spread, where
    given), held at least at ``runs_share`` (a session mean scatters at least by its runs'
    noise: sessions that agree better than that by chance are held to it, at their own df,
    conservatively); and the between-session spread it implies."""
    m = len(means)
    own, own_df = float(np.var(means, ddof=1)), m - 1
    source = f"{m} baseline sessions"
    if calibration is not None:
        shared = calibration.sigma**2 + runs_share
        mean_var = (own * own_df + shared * calibration.df) / (own_df + calibration.df)
        mean_df = own_df + calibration.df
        source += f" + {calibration.source}"
    else:
        mean_var, mean_df = own, own_df
    mean_var = max(mean_var, runs_share)
    return mean_var, Spread(math.sqrt(mean_var - runs_share), mean_df, source)


def paired_log_ratio(
    numerator: Sequence[float], denominator: Sequence[float], *, confidence: float = 0.95
) -> LogRatio:
    """Interleaved pairs of run figures: the mean of per-pair log ratios with a t interval.

    Run ``i`` of one side was measured next to run ``i`` of the other, so drift that hits
    both cancels in the pair's ratio and only the spread of the pair ratios is left.
    """
    a, b = _logs(numerator, "numerator runs"), _logs(denominator, "denominator runs")
    if a.size != b.size:
        raise ValueError(f"paired runs need equal counts, got {a.size} and {b.size}")
    d = a - b
    n = d.size
    sigma = float(np.std(d, ddof=1)) if n > 1 else math.nan
    spread = Spread(sigma, n - 1, f"{n} pairs") if n > 1 else Spread(math.nan, 0, "unknown")
    se = sigma / math.sqrt(n) if n > 1 else math.nan
    return _log_ratio(float(d.mean()), se, spread, confidence)
