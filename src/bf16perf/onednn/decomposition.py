"""A run's step split into its measured parts, and the bf16 speedup explained by them.

Each measured step of the harness's own workload carries four in-graph timestamps
(:mod:`bf16perf.workloads.worker`): its start, the last gradient computed, the last value
all-reduced, the last variable updated.  The decomposition of a run's median step ``T``
(the middle step's parts, or the mean of the two middle ones, so that they add up):

- oneDNN compute ``C``: the oneDNN primitives' own time in a profiled lone step of one
  worker on the same cores (:mod:`bf16perf.onednn.step_profile`);
- the framework's compute: the timed forward and backward pass beyond ``C`` (TensorFlow's
  own kernels, waits between ops; signed: a lone step's oneDNN time can exceed it);
- the all-reduce ``A``: timed, from the last gradient to the last value reduced: the
  collective the backward pass did not hide, waiting for a slower worker included;
- the update: the SGD update after the last value was reduced;
- the host: the step's wall time outside the graph's timed span (the call, the host sync,
  Python; signed).

So ``T = C + framework + A + update + host`` exactly, and the rest is ``T - C - A``.  The
timed parts account for the step where the host part is within :data:`COVERED` of it; a
larger one is named, never hidden.  Runs without timed parts (a command workload, a report
from before they were kept) fall back to inference against the lone step
(communication = ``T`` minus the lone step, signed), and say so.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bf16perf.onednn.peak import share_lines
from bf16perf.onednn.run_proof import RunProof
from bf16perf.onednn.step_profile import Profile

__all__ = [
    "COVERED",
    "Decomposition",
    "decompose",
    "explain_speedup",
    "median_step_parts",
    "pooled_steps",
    "run_decomposition",
    "summary_lines",
]

#: The share of the step the host part may take before the timed parts are said not to
#: account for it (#35: the parts add up to the measured step within 5%).
COVERED = 0.05

#: The timed parts of a step, as a worker records them (seconds).
TIMED = ("compute", "allreduce", "apply", "host")


@dataclass(frozen=True)
class Decomposition:
    """A run's median step split into its parts (seconds; see the module's docstring).

    ``rest_s`` is ``step_s - compute_s - comm_s``; where the parts were timed
    (``method`` "timed") it is ``framework_s + apply_s + unexplained_s``, the last being
    the host part (the step outside the graph's timed span).  Inferred (``method``
    "inferred"): ``comm_s`` is the step beyond the lone one and ``rest_s`` the lone step
    beyond oneDNN's time.  No part is clamped: each keeps its sign.
    """

    step_s: float
    compute_s: float
    comm_s: float
    rest_s: float
    unexplained_s: float
    method: str = "inferred"
    framework_s: float = 0.0
    apply_s: float = 0.0

    @property
    def shares(self) -> dict[str, float]:
        """Each part's share of the measured step."""
        return {
            "compute": self.compute_s / self.step_s,
            "communication": self.comm_s / self.step_s,
            "rest": self.rest_s / self.step_s,
        }

    @property
    def adds_up(self) -> bool:
        """Whether the timed parts account for the step within :data:`COVERED`."""
        return self.method == "timed" and abs(self.unexplained_s) <= COVERED * self.step_s

    def line(self) -> str:
        s, t = self.shares, self.step_s
        if self.method != "timed":
            return (
                f"step {t:.3f} s = oneDNN compute {self.compute_s:.3f} s ({s['compute']:.0%})"
                f" + communication {self.comm_s:+.3f} s ({s['communication']:+.0%}, inferred:"
                f" the step beyond the lone one; its all-reduce is not timed) + the rest"
                f" {self.rest_s:+.3f} s ({s['rest']:+.0%}, the lone step beyond oneDNN's time)"
            )
        text = (
            f"step {t:.3f} s = oneDNN compute {self.compute_s:.3f} s ({s['compute']:.0%})"
            f" + the framework's compute {self.framework_s:+.3f} s ({self.framework_s / t:+.0%})"
            f" + all-reduce {self.comm_s:.3f} s ({s['communication']:.0%}, timed)"
            f" + update {self.apply_s:.3f} s ({self.apply_s / t:.0%})"
            f" + host {self.unexplained_s:+.3f} s ({self.unexplained_s / t:+.0%})"
        )
        if not self.adds_up:
            text += (
                f"; the timed parts leave {abs(self.unexplained_s) / t:.0%} of the step"
                f" outside the graph (more than {COVERED:.0%}: the host's own time)"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "step_s": self.step_s,
            "compute_s": self.compute_s,
            "comm_s": self.comm_s,
            "rest_s": self.rest_s,
            "unexplained_s": self.unexplained_s,
            "method": self.method,
            "framework_s": self.framework_s,
            "apply_s": self.apply_s,
            "adds_up": self.adds_up,
        }


def median_step_parts(
    step_times_s: Sequence[float], parts: Sequence[Mapping[str, float]]
) -> dict[str, float] | None:
    """The timed parts of the median step: the middle step's, or the mean of the two
    middle steps' for an even count (so that they add up to ``statistics.median``);
    ``None`` where the steps carry no timed parts."""
    if not step_times_s or len(parts) != len(step_times_s):
        return None
    if not all(all(k in p for k in TIMED) for p in parts):
        return None
    order = sorted(range(len(step_times_s)), key=lambda i: step_times_s[i])
    n = len(order)
    middle = [order[n // 2]] if n % 2 else [order[n // 2 - 1], order[n // 2]]
    return {k: statistics.fmean(float(parts[i][k]) for i in middle) for k in TIMED}


def _parts_or_untimed(
    times: Sequence[float], parts: Sequence[Mapping[str, float]]
) -> Sequence[Mapping[str, float]]:
    """A run's step parts for pooling with other runs' steps: an untimed ``{}`` a step
    where the run has no parts for each of its steps, so the pool reads as untimed."""
    return parts if len(parts) == len(times) else [{}] * len(times)


def pooled_steps(
    runs: Iterable[tuple[Sequence[float], Sequence[Mapping[str, float]]]],
) -> tuple[list[float], list[Mapping[str, float]]]:
    """Every run's ``(step times, step parts)`` pooled into one list each, aligned step by
    step (for :func:`median_step_parts`); a run without parts leaves the pool untimed."""
    times: list[float] = []
    parts: list[Mapping[str, float]] = []
    for run_times, run_parts in runs:
        times.extend(run_times)
        parts.extend(_parts_or_untimed(run_times, run_parts))
    return times, parts


def decompose(
    step_s: float, profile: Profile, parts: Mapping[str, float] | None = None
) -> Decomposition | None:
    """The measured median step ``step_s`` split with ``profile`` and, where the step was
    timed, its ``parts`` (:func:`median_step_parts`); see the module's docstring.
    ``None`` where the profile is not available or has no wall time."""
    if not profile.available or profile.step_s is None or step_s <= 0:
        return None
    compute = profile.compute_s
    if parts is None:
        lone = profile.step_s
        return Decomposition(step_s, compute, step_s - lone, lone - compute, 0.0)
    host = step_s - (parts["compute"] + parts["allreduce"] + parts["apply"])
    return Decomposition(
        step_s,
        compute,
        parts["allreduce"],
        step_s - compute - parts["allreduce"],
        host,
        method="timed",
        framework_s=parts["compute"] - compute,
        apply_s=parts["apply"],
    )


def explain_speedup(fp32: Decomposition, bf16: Decomposition, bf16_allreduce: bool = False) -> str:
    """One sentence: how much faster each part got in bf16, and the best end-to-end
    speedup the parts that bf16 does not shrink allow (Amdahl: bf16 compute taking no
    time at all); where communication is a fifth of the bf16 step or more and its gradients
    were not already all-reduced in bf16 (``bf16_allreduce``), the most that would buy."""

    def ratio(a: float, b: float) -> str:  # a part under a millisecond has no ratio
        return f"{a / b:.2f}x" if b >= 1e-3 and a >= 1e-3 else "-"

    fixed = bf16.comm_s + bf16.rest_s
    best = fp32.step_s / fixed if fixed > 0 else float("inf")
    comm = "the all-reduce" if bf16.method == "timed" else "communication"
    text = (
        f"bf16 compute is {ratio(fp32.compute_s, bf16.compute_s)} faster than fp32's"
        f" ({fp32.compute_s:.3f} s -> {bf16.compute_s:.3f} s a step); {comm}"
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
    step_times_s: Sequence[float],
    kernels: Mapping[str, Any] | None,
    step_parts: Sequence[Mapping[str, float]] = (),
) -> Decomposition | None:
    """A run's median step decomposed with the profile kept in its kernel proof and its
    steps' timed parts (where it has them), or ``None`` where the run has no (available)
    profile."""
    stored = RunProof.of(kernels).profile
    if stored is None or not step_times_s:
        return None
    parts = median_step_parts(step_times_s, step_parts)
    return decompose(statistics.median(step_times_s), Profile.from_dict(stored), parts)


def summary_lines(
    runs: Sequence[
        tuple[str, Sequence[float], Mapping[str, Any] | None, Sequence[Mapping[str, float]]]
    ],
    bf16_allreduce: bool = False,
) -> list[str]:
    """The terminal's lines for a session's runs, each ``(variant label, step times,
    kernels, the steps' timed parts)``: per variant (its first run's profile, every run's
    steps), the profile's parts, what the profiler cost, their share of the machine's peak
    and the decomposition of the median step; then the bf16 speedup explained."""
    seen: dict[str, dict[str, Any]] = {}  # the first stored profile of a variant
    steps: dict[str, list[float]] = {}
    timed: dict[str, list[Mapping[str, float]]] = {}
    for label, times, kernels, parts in runs:
        steps.setdefault(label, []).extend(times)
        timed.setdefault(label, []).extend(_parts_or_untimed(times, parts))
        stored = RunProof.of(kernels).profile
        if label not in seen and stored is not None:
            seen[label] = stored
    lines: list[str] = []
    splits: dict[str, Decomposition] = {}
    for label, stored in seen.items():
        profile, cost = Profile.from_dict(stored), float(stored.get("cost_s", 0.0))
        lines.append(f"bf16perf profile {label} (one lone step, {cost:.0f} s to take):")
        lines += [f"  {line}" for line in profile.lines()[:6]]
        if profile.overhead_line:
            lines.append(f"  {profile.overhead_line}")
        if profile.available:
            lines += [f"  {line}" for line in share_lines(profile, stored.get("peak"))]
        median = statistics.median(steps[label])
        split = decompose(median, profile, median_step_parts(steps[label], timed[label]))
        if split is not None:
            splits[label] = split
            lines.append(f"  {split.line()}")
    for label, split in splits.items():
        if label.endswith("bf16") and label.replace("bf16", "fp32") in splits:
            fp32 = splits[label.replace("bf16", "fp32")]
            explained = explain_speedup(fp32, split, bf16_allreduce)
            lines.append(f"bf16perf speedup explained ({label}): {explained}")
    return lines
