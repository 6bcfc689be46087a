"""The paired nightly's nights as the history holds them, and the machine's own drift.

A paired session's history line keeps, per workload key, its pairs against the named
reference (``pairs``: the candidate's and the reference's run figures, pair by pair) and
what kind of session it was (``session``: the reference, an injected slowdown).  This
module reads them back: :func:`pair_nights` is the series the paired rule judges tonight
with (same machine, workload key and reference; a self-test night with an injected
slowdown reads the real nights before it, as a real drop would, but no real night ever
reads a self-test's), and :func:`machine_drift` reads the reference's own
figures night by night: when both stacks fell together, the pairs cancel it, and the
notice says so.  Pure functions over history lines (:class:`HistoryLine`, or the dicts
it reads); nothing here reads files.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from bf16perf.store.history_line import HistoryLine, lines_of
from bf16perf.verdicts._common import t_quantile
from bf16perf.verdicts.paired import PairNight

__all__ = ["excluded_from_nightly", "machine_drift", "pair_nights", "pairs_entry"]

#: Previous nights of the reference needed before its drift is judged.
MIN_DRIFT_NIGHTS = 3


def excluded_from_nightly(line: Mapping[str, Any] | HistoryLine) -> bool:
    """Whether a history line may not confirm a stored drop or enter a trend series: an
    ad-hoc A/B session (its candidate is someone's experiment) or a self-test with an
    injected slowdown."""
    return lines_of([line])[0].session.excluded


def pairs_entry(candidate: Sequence[float], reference: Sequence[float]) -> dict[str, Any]:
    """A key's ``pairs`` entry of a history line: the two stacks' run figures, pair by
    pair, and their log ratios."""
    n = min(len(candidate), len(reference))
    return {
        "candidate": list(candidate[:n]),
        "reference": list(reference[:n]),
        "log_ratios": [math.log(c / r) for c, r in zip(candidate[:n], reference[:n], strict=True)],
    }


def _same_series(line: HistoryLine, machine: str, reference: str, injected: float) -> bool:
    """A night tonight is judged with: the same machine and reference, and either a real
    night or a self-test night of the same injected slowdown (a self-test continues the
    real series, as a real drop would; a real night never reads a self-test's)."""
    session = line.session
    if not session.known or line.fingerprint != machine or session.injected is None:
        return False
    return session.reference == reference and session.injected in (0.0, injected)


def pair_nights(
    lines: Sequence[Mapping[str, Any] | HistoryLine],
    machine: str,
    key: str,
    reference: str,
    injected: float = 0.0,
) -> list[PairNight]:
    """The nights (oldest first) of ``machine`` with pairs for workload ``key`` against
    ``reference``: real nights, and self-test nights of the same ``injected`` slowdown."""
    out = []
    for line in lines_of(lines):
        if not _same_series(line, machine, reference, injected) or key not in line.pairs:
            continue
        cand, ref = line.pairs[key]
        ratios = tuple(math.log(c / r) for c, r in zip(cand, ref, strict=False))
        if ratios:
            out.append(PairNight(line.started, ratios))
    return out


def _geomean(values: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def machine_drift(
    lines: Sequence[Mapping[str, Any] | HistoryLine],
    machine: str,
    key: str,
    reference: str,
    candidate: Sequence[float],
    tonight: Sequence[float],
    *,
    threshold: float,
    horizon: int = 7,
) -> str | None:
    """A notice when tonight's reference runs (``tonight``) are slower than the reference's
    last ``horizon`` nights by more than ``threshold`` and beyond their 95% prediction
    interval: the machine, not the candidate, changed (both stacks fell; the pairs cancel
    it).  ``None`` when it did not, or too few nights say what normal is."""
    nights = []
    for line in lines_of(lines):
        session = line.session
        if line.fingerprint == machine and session.known and session.reference == reference:
            theirs, ref = line.pairs.get(key, ([], []))
            if ref:
                nights.append((_geomean(ref), theirs))
    nights = nights[-horizon:]
    if len(nights) < MIN_DRIFT_NIGHTS or not tonight:
        return None
    logs = [math.log(g) for g, _ in nights]
    mean, sd, n = statistics.fmean(logs), statistics.stdev(logs), len(logs)
    drop = math.log(_geomean(tonight)) - mean
    bound = t_quantile(0.975, n - 1) * sd * math.sqrt(1 + 1 / n)
    if not (drop < math.log(1 - threshold) and drop < -bound):
        return None
    cand_before = [math.log(_geomean(c)) for _, c in nights if c]
    cand = ""
    if candidate and cand_before:
        moved = math.log(_geomean(candidate)) - statistics.fmean(cand_before)
        cand = f", the candidate {math.expm1(moved):+.1%}"
    return (
        f"{key}: the machine is slower tonight, not the candidate: the reference {reference}"
        f" ran {math.expm1(drop):+.1%} against its last {n} nights (95% prediction bound"
        f" {math.expm1(-bound):+.1%}){cand}; both stacks fell together, which the pairs"
        " cancel: look at the machine (its load, its firmware, its co-tenants), not the stack"
    )
