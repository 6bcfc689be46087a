"""Where a lone step's oneDNN time goes: its own execution times per part of the work,
and what grew between two profiles.

Pure functions over parsed verbose output (:mod:`bf16perf.kernels`) and measured step
times; running the profiled step is :mod:`bf16perf.workload.proof`'s.  Why oneDNN's verbose
timing and not the framework's profiler: it names the implementation and ISA of every
primitive, which is what a regression is attributed to, it is the same on TensorFlow and
PyTorch (both ship oneDNN), and it adds nothing to the measured runs, since the profiled
step runs in its own process.

The step split with it: :mod:`bf16perf.decomposition`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bf16perf.kernels import Primitive

__all__ = [
    "PARTS",
    "Part",
    "Profile",
    "changed_parts",
    "grown_between",
    "part_of",
    "profile_of",
]

#: The parts of a step's oneDNN work, in the order they are shown.
PARTS = (
    "convolution forward",
    "convolution backward data",
    "convolution backward weights",
    "matmul",
    "batch norm",
    "reorder",
    "eltwise",
    "pooling",
    "other",
)

_SIMPLE = {
    "matmul": "matmul",
    "inner_product": "matmul",
    "gemm_api": "matmul",  # oneDNN's sgemm API, TensorFlow's fp32 MatMul
    "batch_normalization": "batch norm",
    "reorder": "reorder",
    "eltwise": "eltwise",
    "pooling": "pooling",
}


def part_of(kind: str, prop_kind: str) -> str:
    """The part of :data:`PARTS` a primitive of ``kind`` and ``prop_kind`` belongs to."""
    if kind in ("convolution", "deconvolution"):
        if prop_kind.startswith("backward_data"):
            return "convolution backward data"
        if prop_kind.startswith("backward_weights") or prop_kind == "backward":
            return "convolution backward weights"
        return "convolution forward"
    return _SIMPLE.get(kind, "other")


@dataclass(frozen=True)
class Part:
    """One part of the profiled step: oneDNN's time in it, how many primitives ran, and
    which implementations (with their ISA in the name) and how often."""

    name: str
    ms: float
    count: int
    impls: dict[str, int] = field(default_factory=dict)

    @property
    def main_impl(self) -> str:
        """The implementation that ran most often."""
        return max(self.impls.items(), key=lambda kv: (kv[1], kv[0]))[0] if self.impls else "-"


@dataclass(frozen=True)
class Profile:
    """oneDNN's time per part of one profiled step (one worker, the run's batch).

    Attributes:
        parts: the parts that ran, in :data:`PARTS` order.
        step_s: the profiled step's wall time (``None`` where not measured).
        timed: primitives with an execution time, of all primitives seen.
    """

    parts: tuple[Part, ...]
    step_s: float | None = None
    timed: tuple[int, int] = (0, 0)

    @property
    def compute_s(self) -> float:
        """oneDNN's total execution time in the step, in seconds."""
        return sum(p.ms for p in self.parts) / 1000.0

    @property
    def available(self) -> bool:
        """Whether the step printed timed oneDNN primitives (a program that uses no
        oneDNN, or prints nothing, has no profile: never empty bars)."""
        return bool(self.parts) and self.timed[0] > 0

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)

    def lines(self) -> list[str]:
        """A few terminal lines: each part's time, share, count and main implementation."""
        if not self.available:
            return ["profile not available: the step printed no timed oneDNN primitives"]
        total = sum(p.ms for p in self.parts) or 1.0
        return [
            f"{p.name}: {p.ms:.1f} ms ({p.ms / total:.0%}), {p.count}x, {p.main_impl}"
            for p in sorted(self.parts, key=lambda p: -p.ms)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "parts": [
                {"name": p.name, "ms": p.ms, "count": p.count, "impls": dict(p.impls)}
                for p in self.parts
            ],
            "step_s": self.step_s,
            "compute_s": self.compute_s,
            "timed": list(self.timed),
            "available": self.available,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Profile:
        parts = tuple(
            Part(str(p["name"]), float(p["ms"]), int(p["count"]), dict(p.get("impls", {})))
            for p in d.get("parts", [])
        )
        timed = tuple(d.get("timed", (0, 0)))
        step = d.get("step_s")
        return cls(parts, None if step is None else float(step), (int(timed[0]), int(timed[1])))


def profile_of(
    primitives: Iterable[Primitive], phase: str | None = None, step_s: float | None = None
) -> Profile:
    """The profile of the primitives (of ``phase`` only, when given)."""
    chosen = [p for p in primitives if phase is None or p.phase == phase]
    ms: dict[str, float] = {}
    counts: Counter[str] = Counter()
    impls: dict[str, Counter[str]] = {}
    timed = 0
    for prim in chosen:
        name = part_of(prim.kind, prim.prop_kind)
        counts[name] += 1
        impls.setdefault(name, Counter())[prim.impl or prim.kind] += 1
        if prim.time_ms is not None:
            timed += 1
            ms[name] = ms.get(name, 0.0) + prim.time_ms
    parts = tuple(
        Part(name, ms.get(name, 0.0), counts[name], dict(impls[name]))
        for name in PARTS
        if counts[name]
    )
    return Profile(parts, step_s, (timed, len(chosen)))


def changed_parts(before: Profile, now: Profile, top: int = 3) -> list[str]:
    """The parts whose lone-step time grew most from ``before`` (the baseline's profile)
    to ``now``, each with its change per step and any change of main implementation (its
    ISA in the name), e.g. ``convolution backward weights +41.0 ms/step (+38%):
    jit:avx512_core_amx -> gemm:jit``; parts that did not grow are left out."""
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
        if delta <= 0 and not switched:
            continue
        share = f" ({delta / was:+.0%})" if was > 0 else " (new)"
        impl = f": {old.main_impl} -> {new.main_impl}" if switched and old else ""
        grown.append((delta, f"{name} {delta:+.1f} ms/step{share}{impl}"))
    return [text for _, text in sorted(grown, key=lambda g: -g[0])[:top]]


def grown_between(
    before: Mapping[str, Any] | None, now: Mapping[str, Any] | None
) -> list[str] | None:
    """:func:`changed_parts` of two stored profiles (``Profile.to_dict`` shaped), or
    ``None`` where either is missing or not available: nothing to attribute with."""
    if before is None or now is None:
        return None
    old, new = Profile.from_dict(before), Profile.from_dict(now)
    if not (old.available and new.available):
        return None
    return changed_parts(old, new)
