"""The session's error budget, planned once when its tests are known: how many verdicts
share ``--perf-alpha`` (:func:`bf16perf.verdicts.family.planned_verdicts`), and, in an
ad-hoc A/B session, the pairs whose exact signed-rank test can reach each share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from bf16perf.stats.power import min_pairs_for
from bf16perf.verdicts.family import planned_verdicts

if TYPE_CHECKING:
    from bf16perf.session.state import PerfSession
    from bf16perf.workloads.config import Variant

__all__ = ["BudgetError", "plan_budget"]


class BudgetError(ValueError):
    """The given ``--perf-pairs`` cannot reach a verdict's share of the budget; the message
    names the fix."""


def plan_budget(session: PerfSession, tests: Iterable[Variant | None], pairs_given: bool) -> None:
    """Plan ``session``'s budget from the verdict tests that will run (a training variant,
    or ``None`` for the gate): its verdict count, a notice describing the budget, and an
    A/B session's pairs raised to the fewest that can reach each share (unless given:
    then :class:`BudgetError`)."""
    options = session.options
    session.verdicts = planned_verdicts(
        tests,
        paired=options.paired,
        release=options.release,
        save_baseline=options.save_baseline,
        gate=options.min_bf16_speedup != 0,
        trend=bool(options.trend_confirm and options.report),
    )
    if session.verdicts > 1:
        session.notices.append(session.budget.describe())
    share = session.budget.share
    if options.paired or not options.ab_mode or 0.5**options.pairs <= share:
        return  # the paired rule's t tests need no minimum pair count
    if pairs_given:
        raise BudgetError(
            f"--perf-pairs {options.pairs}: {session.budget.describe()}; an exact signed-rank"
            f" test on {options.pairs} pairs cannot reach p < {share:.3g} (the smallest p is"
            f" 1/2^pairs): use --perf-pairs {min_pairs_for(share)} or more, select fewer"
            " tests, --perf-trend-confirm 0, or a larger --perf-alpha"
        )
    # the default pairs cannot reach this share: take the fewest that can, and say so
    session.options = replace(options, pairs=min_pairs_for(share))
    session.notices.append(
        f"A/B: {session.options.pairs} pairs per variant instead of the default"
        f" {options.pairs}, the fewest whose exact signed-rank test can reach each"
        f" verdict's share of the budget ({share:.3g})"
    )
