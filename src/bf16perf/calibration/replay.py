"""The nightly replayed over real A/A sessions, as the plugin judges it.

``bf16perf calibrate`` and ``benchmarks/corpus.py`` replay a nightly over sessions measured
in time order: each night's run figures against a baseline of the sessions before it, with
the two-session rule (:mod:`bf16perf.verdicts.confirm`: a drop fails only when the session
before confirms it), each verdict at its share of the session's error budget.  The same
functions answer both questions a user asks of a nightly: how often does an unchanged night
fail (:func:`nightly_exit` over the sessions as they are), and which lasting drop is
flagged within 3 nights (:func:`lasting_drop`, every run slowed offline from a start on).
:func:`detectable_drops` says the same from a calibration's two spreads, by arithmetic.
Nothing here reads files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bf16perf.stats.figures import Spread
from bf16perf.stats.power import (
    detectable_drop,
    runs_needed,
    signed_rank_drop,
    signed_rank_pairs,
    two_sessions,
)
from bf16perf.store.baseline import DEFAULT_SESSIONS
from bf16perf.verdicts import ThroughputVerdict, sessions_rule
from bf16perf.verdicts.confirm import confirmed
from bf16perf.verdicts.family import planned_verdicts
from bf16perf.verdicts.outcomes import Outcome, exit_code_of
from bf16perf.workloads.config import VARIANTS

if TYPE_CHECKING:
    from bf16perf.calibration.noise import Noise
    from bf16perf.store.calibration_session import CalibrationSession

__all__ = [
    "NightlyRule",
    "detectable_drops",
    "flagged_starts",
    "lasting_drop",
    "lasting_drop_line",
    "nightly_exit",
    "replayed_exits",
]

#: One session's run figures by variant (``fp32``, ``bf16``).
Night = Mapping[str, Sequence[float]]


@dataclass(frozen=True)
class NightlyRule:
    """How a replayed nightly judges, as the plugin does: the between-session spread the
    stored rule uses (this machine's calibration or the prior, pooled with the baseline's
    own), the threshold, and ``alpha`` shared by the ``planned`` verdicts of a session."""

    session: Spread
    threshold: float
    alpha: float
    planned: int

    def judge(self, now: Sequence[float], kept: Sequence[Sequence[float]]) -> ThroughputVerdict:
        """One variant's runs ``now`` against the baseline sessions ``kept``."""
        return sessions_rule(
            now,
            kept,
            max_regression=self.threshold,
            alpha=self.alpha / self.planned,
            session=self.session,
        )


def nightly_exit(
    rule: NightlyRule,
    current: Night,
    baseline: Sequence[Night],
    previous: Night | None = None,
    previous_baseline: Sequence[Night] = (),
) -> int:
    """The exit code (10 or 0) a nightly session gets from its stored throughput verdicts:
    each variant's runs in ``current`` against the baseline's sessions, a drop failing only
    where ``previous`` (the session before, judged against ``previous_baseline``: the
    baseline sessions saved before it) confirms it."""
    for variant, figures in current.items():
        if not figures:
            continue
        _, found = confirmed(
            rule.judge,
            figures,
            [b[variant] for b in baseline],
            previous.get(variant) if previous is not None else None,
            [b[variant] for b in previous_baseline],
        )
        if found is not None and found.outcome is Outcome.REGRESSION:
            return int(exit_code_of([Outcome.REGRESSION]))
    return int(exit_code_of([]))


def replayed_exits(
    rule: NightlyRule, sessions: Sequence[Night], keep: int = DEFAULT_SESSIONS
) -> list[int]:
    """Each unchanged night's exit code, nights 1 on, in time order: night ``i`` against
    the ``keep`` sessions before it, confirmed by night ``i - 1`` against those saved
    before that one."""
    return [
        nightly_exit(
            rule,
            sessions[i],
            sessions[max(0, i - keep) : i],
            sessions[i - 1],
            sessions[max(0, i - keep) : i - 1],
        )
        for i in range(1, len(sessions))
    ]


def lasting_drop(
    rule: NightlyRule,
    sessions: Sequence[Night],
    *,
    keep: int = DEFAULT_SESSIONS,
    nights: int = 3,
    share: float = 0.9,
) -> tuple[float | None, int]:
    """The smallest lasting drop (in 1% steps up to 40%) that a nightly flags within
    ``nights`` nights in ``share`` of the possible starts, replayed over real A/A
    ``sessions`` in time order: from each start ``j`` on, every run is slowed offline, and
    nights ``j`` .. ``j + nights - 1`` are judged against the ``keep`` sessions before
    ``j`` (starts with 3 or more), each confirmed by the night before it (the first by
    the last unchanged session, against the baseline sessions before that one).  Returns
    the drop (``None``: none up to 40%) and the number of starts."""
    starts = 0
    for pct in range(1, 41):
        hits, starts = flagged_starts(rule, sessions, pct / 100, keep=keep, nights=nights)
        if not starts:
            return None, 0
        if hits >= share * starts:
            return pct / 100, starts
    return None, starts


def flagged_starts(
    rule: NightlyRule,
    sessions: Sequence[Night],
    drop: float,
    *,
    keep: int = DEFAULT_SESSIONS,
    nights: int = 3,
) -> tuple[int, int]:
    """Of the starts :func:`lasting_drop` replays, how many flag a lasting ``drop``
    within ``nights`` nights, and how many starts there are."""
    starts = range(3, len(sessions) - nights + 1)
    slowed = [{v: [x * (1 - drop) for x in f] for v, f in s.items()} for s in sessions]

    def flagged(j: int) -> bool:
        base = sessions[max(0, j - keep) : j]
        return any(
            nightly_exit(
                rule,
                slowed[j + d],
                base,
                slowed[j + d - 1] if d else sessions[j - 1],
                base if d else base[:-1],
            )
            == 10
            for d in range(nights)
        )

    return sum(flagged(j) for j in starts), len(starts)


def lasting_drop_line(
    sessions: Sequence[CalibrationSession], noise: Noise, threshold: float, alpha: float
) -> str:
    """The lasting drop a default nightly flags within 3 nights, replayed over these
    sessions (:func:`lasting_drop`) with this calibration, in one line.  The verdicts
    share the budget as a nightly of the same tests would: each variant's throughput
    verdict, the gate where one was set, and a trend series for each."""
    bf16 = all(s.bf16 for s in sessions)  # judged where every session has it
    series = [{"fp32": s.figures, **({"bf16": s.bf16} if bf16 else {})} for s in sessions]
    gated = bool(sessions[0].gate and (sessions[0].gate.get("gate") or 0) > 0)
    tests = [VARIANTS[name] for name in series[0]] + [None]  # the variants, then the gate
    planned = planned_verdicts(
        tests, paired=False, release=False, save_baseline=False, gate=gated, trend=True
    )
    rule = NightlyRule(
        Spread(noise.tau, noise.session_df, "calibration"), threshold, alpha, planned
    )
    drop, starts = lasting_drop(rule, series)
    if not starts:
        return "a lasting drop over 3 nights: too few sessions to replay (6 or more tell)"
    found = f"{drop:.0%}" if drop is not None else "none up to 40%"
    return (
        f"a lasting drop flagged within 3 nights in 90% of {starts} starts replayed over these"
        f" sessions (a baseline of the {DEFAULT_SESSIONS} sessions before, this calibration,"
        f" alpha {alpha:g} shared by {planned} verdicts, a drop confirmed by the night"
        f" before it): {found}"
    )


def detectable_drops(
    noise: Noise, runs: int, threshold: float, alpha: float, pairs: int = 8, planned: int = 2
) -> list[str]:
    """What each way of judging can detect on this machine (80% power), each verdict at
    its share of the session's error budget (``alpha`` shared by the ``planned`` verdicts
    a default nightly of these tests makes, as the plugin shares it), and what the
    threshold needs, in plain lines; the paired nightly's at its default pairs a night."""
    from bf16perf.verdicts.paired import PAIRED_PAIRS, TONIGHT_SHARE, WINDOW, mde

    alpha = alpha / max(1, planned)
    sigma, tau = noise.sigma, noise.tau
    se, df = two_sessions(sigma**2 * 2 / runs, noise.df, tau, noise.session_df)
    nightly = detectable_drop(se, df, alpha)
    needed = runs_needed(
        sigma, runs, threshold, alpha, session_sigma=tau, session_df=noise.session_df
    )
    week = DEFAULT_SESSIONS
    se_week, df_week = two_sessions(
        sigma**2 * (1 / runs + 1 / (runs * week)), noise.df, tau, noise.session_df, week
    )
    against_week = detectable_drop(se_week, df_week, alpha)
    pair_sd = sigma * math.sqrt(2)
    ab = signed_rank_drop(pair_sd, pairs, alpha)
    ab_needed = signed_rank_pairs(pair_sd, threshold, alpha)
    from scipy import stats as sps

    gate_half = float(sps.t.ppf(0.975, 2)) * pair_sd / math.sqrt(3)
    lines = [
        f"nightly, one session of {runs} runs against a baseline session of {runs}: detectable"
        f" drop {nightly:.1%}"
        + (
            f" ({needed} runs a side bring it to {threshold:.0%})"
            if needed
            else f" (no number of runs brings it to {threshold:.0%}: the session draw stays)"
        ),
        f"nightly against a baseline of {week} sessions of {runs} runs: {against_week:.1%}",
        f"A/B with {pairs} pairs: {ab:.1%} (exact signed-rank test, simulated;"
        f" {ab_needed or 'over 200'} pairs for {threshold:.0%})",
        f"the bf16 gate at 3 pairs: the 95% interval is about x/ {math.exp(gate_half):.3f}"
        " around the measured speedup (fp32 spread; bf16 pairs alike)",
    ]
    se_night = pair_sd / math.sqrt(PAIRED_PAIRS)
    tonight = mde(se_night, noise.df, alpha * TONIGHT_SHARE, threshold)
    lasting = mde(se_night / math.sqrt(WINDOW), noise.df, alpha * (1 - TONIGHT_SHARE), threshold)
    lines.append(
        f"the paired nightly at {PAIRED_PAIRS} pairs a night (--perf-reference): {tonight:.1%}"
        f" in one night, {lasting:.1%} lasting {WINDOW} nights (threshold included)"
    )
    lines.append(f"(each verdict at alpha {alpha:.3g}: {planned} planned share the budget)")
    return lines
