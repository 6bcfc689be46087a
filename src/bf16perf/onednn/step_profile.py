"""Where a lone step's oneDNN time goes: its own execution times per part of the work.

Pure functions over parsed verbose output (:mod:`bf16perf.onednn.kernels`) and measured step
times; running the profiled step is :mod:`bf16perf.workloads.proof`'s.  Why oneDNN's verbose
timing and not the framework's profiler: it names the implementation and ISA of every
primitive, which is what a regression is attributed to, it is the same on TensorFlow and
PyTorch (both ship oneDNN), and it adds nothing to the measured runs, since the profiled
step runs in its own process.

The step split with it: :mod:`bf16perf.onednn.decomposition`; what changed between two profiles:
:mod:`bf16perf.onednn.attribution`; how far its compute is from the machine's peak:
:mod:`bf16perf.onednn.peak`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bf16perf.onednn.kernels import Primitive
from bf16perf.onednn.shapes import flops_of

__all__ = [
    "PARTS",
    "Part",
    "Profile",
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
    which implementations (with their ISA in the name) and how often; for convolutions
    and matmuls, the work done (:mod:`bf16perf.onednn.shapes`) and the time of the primitives
    whose work is known, so that ``gflop / flop_ms`` is the part's achieved rate."""

    name: str
    ms: float
    count: int
    impls: dict[str, int] = field(default_factory=dict)
    gflop: float = 0.0
    flop_ms: float = 0.0

    @property
    def gflops(self) -> float | None:
        """The part's achieved GFLOP/s (oneDNN's time), ``None`` where no work is known."""
        return self.gflop / (self.flop_ms / 1000.0) if self.flop_ms > 0 else None

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
        quiet_step_s: the same lone step's wall time without oneDNN's verbose timing
            (``None`` where not measured): ``step_s`` beyond it is the profiler's own cost.
    """

    parts: tuple[Part, ...]
    step_s: float | None = None
    timed: tuple[int, int] = (0, 0)
    quiet_step_s: float | None = None

    @property
    def overhead_line(self) -> str | None:
        """What oneDNN's verbose timing cost the lone step, signed; ``None`` where either
        wall time is missing."""
        if self.step_s is None or not self.quiet_step_s:
            return None
        extra = self.step_s - self.quiet_step_s
        return (
            f"the profiler's own cost: the lone step took {self.step_s:.3f} s with oneDNN's"
            f" verbose timing, {self.quiet_step_s:.3f} s without ({extra:+.3f} s,"
            f" {extra / self.quiet_step_s:+.0%})"
        )

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
                {
                    "name": p.name,
                    "ms": p.ms,
                    "count": p.count,
                    "impls": dict(p.impls),
                    "gflop": p.gflop,
                    "flop_ms": p.flop_ms,
                }
                for p in self.parts
            ],
            "step_s": self.step_s,
            "quiet_step_s": self.quiet_step_s,
            "compute_s": self.compute_s,
            "timed": list(self.timed),
            "available": self.available,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Profile:
        parts = tuple(
            Part(
                str(p["name"]),
                float(p["ms"]),
                int(p["count"]),
                dict(p.get("impls", {})),
                float(p.get("gflop", 0.0)),  # profiles stored before the work was kept: 0
                float(p.get("flop_ms", 0.0)),
            )
            for p in d.get("parts", [])
        )
        timed = tuple(d.get("timed", (0, 0)))
        step, quiet = d.get("step_s"), d.get("quiet_step_s")
        return cls(
            parts,
            None if step is None else float(step),
            (int(timed[0]), int(timed[1])),
            None if quiet is None else float(quiet),  # absent from profiles kept before it
        )


def profile_of(
    primitives: Iterable[Primitive], phase: str | None = None, step_s: float | None = None
) -> Profile:
    """The profile of the primitives (of ``phase`` only, when given)."""
    chosen = [p for p in primitives if phase is None or p.phase == phase]
    ms: dict[str, float] = {}
    counts: Counter[str] = Counter()
    impls: dict[str, Counter[str]] = {}
    work: dict[str, list[float]] = {}  # part: [GFLOP, ms of the primitives counted]
    timed = 0
    for prim in chosen:
        name = part_of(prim.kind, prim.prop_kind)
        counts[name] += 1
        impls.setdefault(name, Counter())[prim.impl or prim.kind] += 1
        if prim.time_ms is not None:
            timed += 1
            ms[name] = ms.get(name, 0.0) + prim.time_ms
            flops = flops_of(prim.kind, prim.problem)
            if flops is not None:
                done = work.setdefault(name, [0.0, 0.0])
                done[0] += flops / 1e9
                done[1] += prim.time_ms
    parts = tuple(
        Part(name, ms.get(name, 0.0), counts[name], dict(impls[name]), *work.get(name, (0.0, 0.0)))
        for name in PARTS
        if counts[name]
    )
    return Profile(parts, step_s, (timed, len(chosen)))
