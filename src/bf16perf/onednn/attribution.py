"""What changed between two lone-step profiles (:mod:`bf16perf.onednn.step_profile`): whether the
step's growth is oneDNN's or the rest's, and which oneDNN parts grew, naming any change
of implementation (its ISA in the name).

One reading for every place that compares two profiles: the stored-baseline verdict
("against the baseline's"), the A/B verdict ("against the reference's"), a trend change
point ("across it") and ``bf16perf compare`` ("from A to B").  Pure.

A lone step is one step: its parts scatter from session to session.  A part is named only
where its implementation changed, it is new, or it grew by :data:`PART_FLOOR` of its own
time or more (BENCHMARKS S measures the scatter this floor must clear).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bf16perf.onednn.step_profile import PARTS, Profile

__all__ = ["PART_FLOOR", "changed_parts", "grown_between", "grown_text", "step_growth"]

#: A part that kept its implementation is named when it grew by this share of its time.
PART_FLOOR = 0.10


def changed_parts(before: Profile, now: Profile, top: int = 3) -> list[str]:
    """The parts whose lone-step time grew most from ``before`` to ``now``, each with its
    change per step and any change of main implementation, e.g. ``convolution backward
    weights +41.0 ms/step (+38%): jit:avx512_core_amx -> gemm:jit``; parts below the
    floor, and parts that did not grow, are left out."""
    if not (before.available and now.available):
        return []
    grown = []
    for name in PARTS:
        old, new = before.part(name), now.part(name)
        if new is None:
            continue
        was = old.ms if old else 0.0
        delta = new.ms - was
        switched = old is not None and old.main_impl != new.main_impl
        if not switched and (delta <= 0 or (was > 0 and delta < PART_FLOOR * was)):
            continue
        share = f" ({delta / was:+.0%})" if was > 0 else " (new)"
        impl = f": {old.main_impl} -> {new.main_impl}" if switched and old else ""
        grown.append((delta, f"{name} {delta:+.1f} ms/step{share}{impl}"))
    return [text for _, text in sorted(grown, key=lambda g: -g[0])[:top]]


def step_growth(before: Profile, now: Profile) -> str | None:
    """Where the lone step's own growth went: to oneDNN's parts or to the rest (the
    framework's own kernels, the input, Python, an injected sleep); ``None`` where the
    step did not grow by :data:`PART_FLOOR` or either wall time is missing."""
    if before.step_s is None or now.step_s is None or before.step_s <= 0:
        return None
    grew = now.step_s - before.step_s
    if grew < PART_FLOOR * before.step_s:
        return None
    onednn = now.compute_s - before.compute_s
    rest = grew - onednn
    cause = "oneDNN's parts" if onednn >= rest else "the rest, not oneDNN's kernels"
    return (
        f"the step +{grew * 1000:.0f} ms ({grew / before.step_s:+.0%}), mostly {cause}"
        f" (oneDNN {_ms(onednn)} ms, the rest {_ms(rest)} ms)"
    )


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000) + 0:+d}"  # never "-0"


def grown_between(
    before: Mapping[str, Any] | None, now: Mapping[str, Any] | None
) -> list[str] | None:
    """Where the step grew (:func:`step_growth`, first where it did) and the parts that
    grew (:func:`changed_parts`) between two stored profiles (``Profile.to_dict``
    shaped), or ``None`` where either is missing or not available."""
    if before is None or now is None:
        return None
    old, new = Profile.from_dict(before), Profile.from_dict(now)
    if not (old.available and new.available):
        return None
    split = step_growth(old, new)
    return ([split] if split else []) + changed_parts(old, new)


def grown_text(before: Mapping[str, Any] | None, now: Mapping[str, Any] | None, where: str) -> str:
    """:func:`grown_between` in words (``where``: "against the baseline's", "across it",
    "from A to B"); empty where there is nothing to attribute with.  A stored profile of
    the wrong shape (a text where a time goes, a time beyond a float) says so in the
    line: attribution never stops what reads it."""
    try:
        grown = grown_between(before, now)
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        return f"the lone-step profiles cannot be read ({why}): no attribution"
    if grown is None:
        return ""
    if not grown:
        return f"the lone step and its oneDNN parts did not grow {where}: look beyond the kernels"
    return f"what grew in the lone step {where}: " + "; ".join(grown)
