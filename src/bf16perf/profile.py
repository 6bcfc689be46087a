"""Where a step's time goes: oneDNN's own execution times per part of the work, the step
split into compute, communication and the rest, and the bf16 speedup explained by them.

Pure functions over parsed verbose output (:mod:`bf16perf.kernels`) and measured step
times; running the profiled step is :mod:`bf16perf.workload.proof`'s.  Why oneDNN's verbose
timing and not the framework's profiler: it names the implementation and ISA of every
primitive, which is what a regression is attributed to, it is the same on TensorFlow and
PyTorch (both ship oneDNN), and it adds nothing to the measured runs, since the profiled
step runs in its own process.

The decomposition of a run's median step ``T`` (seconds), given the profiled step of one
worker alone on the same cores (wall ``S``, of which oneDNN executed ``C``):

- compute = ``C``: the oneDNN primitives (convolutions, matmuls, batch norm, reorders, ...);
- communication and synchronisation = ``max(0, T - S)``: what a multi-worker step spends
  beyond the same step alone (the all-reduce, waiting for a straggler);
- the rest = ``S - C``: the framework's own kernels (TensorFlow's Eigen convolutions
  where oneDNN does not run them: on an AVX2-only CPU oneDNN serves only their sgemm
  calls), the input pipeline, Python.

The parts add up to ``max(T, S)``; where the lone step is slower than the measured one
(``S > T``, noise or a cold cache), the gap is reported as unexplained, never hidden.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bf16perf.kernels import Primitive

__all__ = [
    "PARTS",
    "Decomposition",
    "Part",
    "Profile",
    "changed_parts",
    "decompose",
    "explain_speedup",
    "part_of",
    "profile_of",
    "run_decomposition",
    "summary_lines",
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


@dataclass(frozen=True)
class Decomposition:
    """A run's median step split into compute, communication and the rest (seconds)."""

    step_s: float
    compute_s: float
    comm_s: float
    rest_s: float
    unexplained_s: float

    @property
    def shares(self) -> dict[str, float]:
        """Each part's share of the measured step."""
        return {
            "compute": self.compute_s / self.step_s,
            "communication": self.comm_s / self.step_s,
            "rest": self.rest_s / self.step_s,
        }

    def line(self) -> str:
        s = self.shares
        text = (
            f"step {self.step_s:.3f} s = oneDNN compute {self.compute_s:.3f} s"
            f" ({s['compute']:.0%}) + communication {self.comm_s:.3f} s"
            f" ({s['communication']:.0%}) + the rest {self.rest_s:.3f} s ({s['rest']:.0%},"
            " the framework's own kernels, input, Python)"
        )
        if self.unexplained_s > 0:
            text += (
                f"; the lone step took {self.unexplained_s:.3f} s longer than the measured one"
                " (unexplained)"
            )
        return text

    def to_dict(self) -> dict[str, float]:
        return {
            "step_s": self.step_s,
            "compute_s": self.compute_s,
            "comm_s": self.comm_s,
            "rest_s": self.rest_s,
            "unexplained_s": self.unexplained_s,
        }


def decompose(step_s: float, profile: Profile) -> Decomposition | None:
    """The measured median step ``step_s`` split with ``profile`` (see the module's
    docstring); ``None`` where the profile is not available or has no wall time."""
    if not profile.available or profile.step_s is None or step_s <= 0:
        return None
    lone = profile.step_s
    compute = min(profile.compute_s, lone)
    comm = max(0.0, step_s - lone)
    rest = max(0.0, lone - compute)
    unexplained = max(0.0, lone - step_s)
    if unexplained > 0:  # the parts are then scaled to the measured step, the gap named
        scale = step_s / lone
        compute, rest = compute * scale, rest * scale
    return Decomposition(step_s, compute, comm, rest, unexplained)


def explain_speedup(fp32: Decomposition, bf16: Decomposition) -> str:
    """One sentence: how much faster each part got in bf16, and the best end-to-end
    speedup the parts that bf16 does not shrink allow (Amdahl: bf16 compute taking no
    time at all)."""

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b > 0 else "-"

    fixed = bf16.comm_s + bf16.rest_s
    best = fp32.step_s / fixed if fixed > 0 else float("inf")
    return (
        f"bf16 compute is {ratio(fp32.compute_s, bf16.compute_s)} faster than fp32's"
        f" ({fp32.compute_s:.3f} s -> {bf16.compute_s:.3f} s a step); communication"
        f" {ratio(fp32.comm_s, bf16.comm_s)} ({bf16.comm_s:.3f} s,"
        f" {bf16.shares['communication']:.0%} of a bf16 step); the rest"
        f" {ratio(fp32.rest_s, bf16.rest_s)} ({bf16.rest_s:.3f} s); end to end"
        f" {ratio(fp32.step_s, bf16.step_s)}; best possible on this cluster shape, were bf16"
        f" compute free: {best:.2f}x"
    )


def run_decomposition(
    step_times_s: Sequence[float], kernels: Mapping[str, Any] | None
) -> Decomposition | None:
    """A run's median step decomposed with the profile kept in its kernel proof, or
    ``None`` where the run has no (available) profile."""
    stored = (kernels or {}).get("profile")
    if not isinstance(stored, Mapping) or not step_times_s:
        return None
    return decompose(statistics.median(step_times_s), Profile.from_dict(stored))


def summary_lines(
    runs: Sequence[tuple[str, Sequence[float], Mapping[str, Any] | None]],
) -> list[str]:
    """The terminal's lines for a session's runs, each ``(variant label, step times,
    kernels)``: per variant (its first run's profile, every run's steps), the profile's
    parts and the decomposition of the median step; then the bf16 speedup explained."""
    seen: dict[str, tuple[Profile, float]] = {}  # the first profile of a variant, its cost
    steps: dict[str, list[float]] = {}
    for label, times, kernels in runs:
        steps.setdefault(label, []).extend(times)
        stored = (kernels or {}).get("profile")
        if label not in seen and isinstance(stored, Mapping):
            seen[label] = (Profile.from_dict(stored), float(stored.get("cost_s", 0.0)))
    lines: list[str] = []
    parts: dict[str, Decomposition] = {}
    for label, (profile, cost) in seen.items():
        lines.append(f"bf16perf profile {label} (one lone step, {cost:.0f} s to take):")
        lines += [f"  {line}" for line in profile.lines()[:6]]
        split = decompose(statistics.median(steps[label]), profile)
        if split is not None:
            parts[label] = split
            lines.append(f"  {split.line()}")
    for label, split in parts.items():
        if label.endswith("bf16") and label.replace("bf16", "fp32") in parts:
            fp32 = parts[label.replace("bf16", "fp32")]
            lines.append(f"bf16perf speedup explained ({label}): {explain_speedup(fp32, split)}")
    return lines


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
