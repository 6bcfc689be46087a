"""One error budget per session: Holm's step-down adjustment of a session's verdicts.

A session makes several verdicts that can each fail it with exit 10 (a throughput verdict
per variant and workload, the release gate, the trend series).  Each at ``alpha`` alone, an
unchanged night fails with probability up to ``k * alpha``.  The session plans its ``k``
verdicts when its tests are collected (:class:`ErrorBudget`) and each verdict fails only
at ``alpha / k`` (Bonferroni): a pytest test decides when it runs and cannot un-fail, so
the level must be fixed before the other verdicts' p-values exist.  At the end the report
shows every verdict's raw p and its Holm-adjusted p (Holm 1979, step-down), which is never
above Bonferroni's, so every failing verdict also has an adjusted p below ``alpha``.  Both
hold under any dependence between the verdicts (fp32 and bf16 share each session's draw).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bf16perf.workloads.config import Variant

__all__ = ["ErrorBudget", "can_fail", "holm", "planned_verdicts"]


def can_fail(variant: Variant | None, *, paired: bool, release: bool) -> bool:
    """Whether a verdict can fail the session.  In the paired nightly the fp32 and bf16
    pairs do; the bf16-avx512 variant's pairs (a figure beside AMX, BENCHMARKS.md E) and
    the bf16 gate (``variant`` ``None``: a release criterion, which bf16's own pairs
    already watch every night) are notices, so that the session's error budget goes to
    the verdicts users act on.  Every other mode, release included, gates on all."""
    if not paired or release:
        return True
    return variant is not None and not variant.needs_amx


def planned_verdicts(
    tests: Iterable[Variant | None],
    *,
    paired: bool,
    release: bool,
    save_baseline: bool,
    gate: bool,
    trend: bool,
) -> int:
    """The verdicts a session plans that can fail it with exit 10, the one count the
    plugin and the nightly replay share: for each verdict test that will run (a training
    variant, or ``None`` for the gate), a throughput verdict (none when saving a baseline),
    the gate where there is one (``gate``), and, where the trend is judged, one series
    each (the paired nightly's trend is a notice: its window rule is the trend)."""
    count = 0
    for variant in tests:
        if variant is not None and save_baseline:
            continue  # saving decides nothing
        if variant is None and not gate:
            continue  # no gate to fail (the smoke profile's default)
        if can_fail(variant, paired=paired, release=release):
            count += 1
    if trend and not paired:
        count *= 2
    return max(1, count)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given: the ``i``-th smallest raw ``p`` becomes
    ``max over j <= i of min(1, (k - j) * p_(j))`` (0-based ``j``).  Reject where the
    adjusted value is below ``alpha``.  A ``nan`` (no test possible) stays ``nan`` and does
    not count in ``k``."""
    known = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    k = len(known)
    out = [math.nan] * len(p_values)
    running = 0.0
    for j, (p, i) in enumerate(known):
        running = max(running, min(1.0, (k - j) * p))
        out[i] = running
    return out


@dataclass(frozen=True)
class ErrorBudget:
    """The session's one false-failure budget and the verdicts that share it.

    Attributes:
        alpha: the session's budget (``--perf-alpha``): the chance that an unchanged night
            exits 10.
        verdicts: the verdicts planned that can fail the session with exit 10 (at least 1).
    """

    alpha: float
    verdicts: int = 1

    @property
    def share(self) -> float:
        """Each verdict's level: ``alpha / verdicts``."""
        return self.alpha / max(1, self.verdicts)

    def describe(self) -> str:
        if self.verdicts <= 1:
            return f"error budget: alpha {self.alpha:g}, one verdict"
        return (
            f"error budget: alpha {self.alpha:g} shared by the {self.verdicts} verdicts this"
            f" session plans (throughput, gate and trend), each at {self.share:.3g}"
            " (Bonferroni); the report holds each verdict's raw and Holm-adjusted p"
        )
