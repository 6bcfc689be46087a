"""A run's step split into compute, communication and the rest, with a profiled lone
step (:mod:`bf16perf.onednn.step_profile`), and the bf16 speedup explained by the parts.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bf16perf.onednn.peak import share_lines
from bf16perf.onednn.run_proof import RunProof
from bf16perf.onednn.step_profile import Profile

__all__ = [
    "Decomposition",
    "decompose",
    "explain_speedup",
    "run_decomposition",
    "summary_lines",
]


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


def explain_speedup(fp32: Decomposition, bf16: Decomposition, bf16_allreduce: bool = False) -> str:
    """One sentence: how much faster each part got in bf16, and the best end-to-end
    speedup the parts that bf16 does not shrink allow (Amdahl: bf16 compute taking no
    time at all); where communication is a fifth of the bf16 step or more and its gradients
    were not already all-reduced in bf16 (``bf16_allreduce``), the most that would buy."""

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b > 0 else "-"

    fixed = bf16.comm_s + bf16.rest_s
    best = fp32.step_s / fixed if fixed > 0 else float("inf")
    text = (
        f"bf16 compute is {ratio(fp32.compute_s, bf16.compute_s)} faster than fp32's"
        f" ({fp32.compute_s:.3f} s -> {bf16.compute_s:.3f} s a step); communication"
        f" {ratio(fp32.comm_s, bf16.comm_s)} ({bf16.comm_s:.3f} s,"
        f" {bf16.shares['communication']:.0%} of a bf16 step); the rest"
        f" {ratio(fp32.rest_s, bf16.rest_s)} ({bf16.rest_s:.3f} s); end to end"
        f" {ratio(fp32.step_s, bf16.step_s)}; best possible on this cluster shape, were bf16"
        f" compute free: {best:.2f}x"
    )
    if bf16.shares["communication"] >= 0.2 and not bf16_allreduce:
        # communication is the all-reduce and the waits: halving the bytes halves at most it
        halved = fp32.step_s / (bf16.step_s - bf16.comm_s / 2)
        text += (
            f"; communication is {bf16.shares['communication']:.0%} of the bf16 step:"
            f" all-reducing in bf16 (--perf-bf16-allreduce, half the bytes) would give at"
            f" most {halved:.2f}x end to end"
        )
    return text


def run_decomposition(
    step_times_s: Sequence[float], kernels: Mapping[str, Any] | None
) -> Decomposition | None:
    """A run's median step decomposed with the profile kept in its kernel proof, or
    ``None`` where the run has no (available) profile."""
    stored = RunProof.of(kernels).profile
    if stored is None or not step_times_s:
        return None
    return decompose(statistics.median(step_times_s), Profile.from_dict(stored))


def summary_lines(
    runs: Sequence[tuple[str, Sequence[float], Mapping[str, Any] | None]],
    bf16_allreduce: bool = False,
) -> list[str]:
    """The terminal's lines for a session's runs, each ``(variant label, step times,
    kernels)``: per variant (its first run's profile, every run's steps), the profile's
    parts, their share of the machine's peak and the decomposition of the median step;
    then the bf16 speedup explained."""
    seen: dict[str, dict[str, Any]] = {}  # the first stored profile of a variant
    steps: dict[str, list[float]] = {}
    for label, times, kernels in runs:
        steps.setdefault(label, []).extend(times)
        stored = RunProof.of(kernels).profile
        if label not in seen and stored is not None:
            seen[label] = stored
    lines: list[str] = []
    parts: dict[str, Decomposition] = {}
    for label, stored in seen.items():
        profile, cost = Profile.from_dict(stored), float(stored.get("cost_s", 0.0))
        lines.append(f"bf16perf profile {label} (one lone step, {cost:.0f} s to take):")
        lines += [f"  {line}" for line in profile.lines()[:6]]
        if profile.available:
            lines += [f"  {line}" for line in share_lines(profile, stored.get("peak"))]
        split = decompose(statistics.median(steps[label]), profile)
        if split is not None:
            parts[label] = split
            lines.append(f"  {split.line()}")
    for label, split in parts.items():
        if label.endswith("bf16") and label.replace("bf16", "fp32") in parts:
            fp32 = parts[label.replace("bf16", "fp32")]
            explained = explain_speedup(fp32, split, bf16_allreduce)
            lines.append(f"bf16perf speedup explained ({label}): {explained}")
    return lines
