"""A run's results, plain values that cross process borders: :class:`WorkerResult` comes
back from every training subprocess as JSON, :class:`RunResult` is the driver's view of one
run (all workers, its kernel proof typed as
:class:`~bf16perf.onednn.run_proof.RunProof`), with the one serialization of a run
(:meth:`RunResult.to_dict`).  Nothing here imports TensorFlow, Spark or pytest.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bf16perf.machine.interference import CpuWindow
from bf16perf.onednn.run_proof import RunProof
from bf16perf.stats.figures import run_figure
from bf16perf.workloads.config import TrainConfig

__all__ = ["RunResult", "WorkerResult", "sanity_errors", "slowest_parts", "step_parts"]


@dataclass(frozen=True)
class WorkerResult:
    """What one worker measured.

    Attributes:
        rank: barrier task rank.
        host, cpus: where it ran (``cpus``: its affinity).
        warmup_times_s, step_times_s: wall time of each warm-up and measured step.
        losses: global loss after every step, warm-up steps first.
        images_per_step: global images per step.
        notes: TensorFlow's fallback messages seen on stderr, and other evidence.
        cpu_window: what ran on the worker's CPUs during its measured steps
            (:class:`bf16perf.machine.interference.CpuWindow` as a dict), ``None`` where
            ``/proc/stat`` could not be read or the affinity changed.
        step_cpu_s: the training process's CPU time in each measured step: its own work;
            below ``step_times_s`` x its CPUs when it waited for a slower worker.
        step_parts_s: each measured step's timed parts (:func:`step_parts`; empty where
            the program does not time them, as a command workload).
    """

    rank: int
    host: str
    cpus: list[int]
    warmup_times_s: list[float]
    step_times_s: list[float]
    losses: list[float]
    images_per_step: int
    notes: list[str] = field(default_factory=list)
    cpu_window: dict[str, float] | None = None
    step_cpu_s: list[float] = field(default_factory=list)
    step_parts_s: list[dict[str, float]] = field(default_factory=list)

    @property
    def busy_share(self) -> float | None:
        """Median over measured steps of CPU time / (wall time x CPUs): 1.0 is a worker
        computing the whole step on all its CPUs, less is waiting (or fewer threads)."""
        if not self.step_cpu_s or not self.cpus:
            return None
        shares = [
            c / (t * len(self.cpus))
            for c, t in zip(self.step_cpu_s, self.step_times_s, strict=False)
        ]
        return statistics.median(shares)

    @property
    def window(self) -> CpuWindow | None:
        """:attr:`cpu_window`, typed."""
        return CpuWindow.from_dict(self.cpu_window) if self.cpu_window else None

    def to_dict(self) -> dict[str, Any]:
        """The worker as stored: its fields and its busy share (derived: dropped on read)."""
        return {**asdict(self), "busy_share": self.busy_share}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorkerResult:
        return cls(**{k: v for k, v in d.items() if k != "busy_share"})


@dataclass(frozen=True)
class RunResult:
    """One run on the cluster: the configuration, every worker's measurements, the kernel
    proof of its configuration (:mod:`bf16perf.workloads.proof`), and which stack ran it
    (``candidate``: this environment; ``reference``: A/B mode's other stack)."""

    config: TrainConfig
    workers: list[WorkerResult]
    wall_s: float
    kernels: dict[str, Any] | None = None
    variant: str | None = None
    stack: str = "candidate"

    @property
    def label(self) -> str:
        """The variant's name (its precision where no variant was recorded), after the
        workload's name for any workload but the built-in TensorFlow."""
        name = self.variant or self.config.precision.value
        return f"{self.config.workload}:{name}" if self.config.is_command else name

    @property
    def proof(self) -> RunProof:
        """:attr:`kernels`, typed."""
        return RunProof.of(self.kernels)

    @property
    def step_times_s(self) -> list[float]:
        """Per-step time of the synchronous step: the slowest worker's."""
        return [max(ts) for ts in zip(*(w.step_times_s for w in self.workers), strict=True)]

    @property
    def step_parts(self) -> list[dict[str, float]]:
        """Each measured step's timed parts as the slowest worker saw them
        (:func:`slowest_parts`)."""
        return slowest_parts(self.workers)

    @property
    def images_per_step(self) -> int:
        return self.workers[0].images_per_step

    @property
    def images_per_second(self) -> list[float]:
        """Throughput of each measured step."""
        return [self.images_per_step / t for t in self.step_times_s]

    @property
    def figure(self) -> float:
        """The run's figure, the unit of every throughput verdict
        (:func:`~bf16perf.stats.figures.run_figure`, its one definition)."""
        return run_figure(self.images_per_second)

    @property
    def losses(self) -> list[float]:
        """Rank 0's loss curve (all ranks agree when training is synchronous)."""
        return min(self.workers, key=lambda w: w.rank).losses

    def to_dict(self) -> dict[str, Any]:
        """The one serialization of a run, for a baseline's ``extra_info`` and the report:
        its fields and the figures derived from them."""
        return {
            "variant": self.label,
            "stack": self.stack,
            "precision": self.config.precision.value,
            "config": self.config.to_dict(),
            "images_per_second": self.images_per_second,
            "median_images_per_second": self.figure,
            "step_times_s": self.step_times_s,
            "losses": self.losses,
            "wall_s": self.wall_s,
            "kernels": self.kernels,
            "workers": [w.to_dict() for w in self.workers],
        }


def slowest_parts(workers: Sequence[WorkerResult]) -> list[dict[str, float]]:
    """Each synchronous step's timed parts as the worker whose wall time is the step's (the
    slowest) saw them; empty where any worker has none (a command workload)."""
    if not workers or any(len(w.step_parts_s) != len(w.step_times_s) for w in workers):
        return []
    steps = zip(*(zip(w.step_times_s, w.step_parts_s, strict=True) for w in workers), strict=True)
    return [max(step, key=lambda wall_parts: wall_parts[0])[1] for step in steps]


def step_parts(stamps: Sequence[float], wall_s: float) -> dict[str, float]:
    """A step's timed parts (seconds) from its in-graph timestamps ``stamps`` (start, last
    gradient, last value all-reduced, last variable updated; :mod:`bf16perf.workloads.step`)
    and its wall time ``wall_s``: the forward and backward pass, the all-reduce the backward
    pass did not hide, the update after it, and the host's time outside the graph."""
    start, computed, reduced, applied = stamps
    return {
        "compute": computed - start,
        "allreduce": reduced - computed,
        "apply": applied - reduced,
        "host": wall_s - (applied - start),
    }


def sanity_errors(runs: Sequence[RunResult]) -> list[str]:
    """What makes runs unusable as measurements: workers that disagree on the loss (the
    training was not synchronous), non-finite losses, or (synthetic data, fixed seeds) a
    loss that did not fall; for a command workload, only non-finite losses."""
    errors = []
    for i, run in enumerate(runs, 1):
        if run.config.is_command:
            # a program's own losses: ranks may print local ones, and its data need not be
            # learnable in a few steps; only a non-finite loss is certain trouble
            if not all(math.isfinite(x) for x in run.losses):
                errors.append(f"run {i}: non-finite loss: {run.losses}")
            continue
        curves = {w.rank: w.losses for w in run.workers}
        if len({tuple(c) for c in curves.values()}) != 1:
            errors.append(f"run {i}: workers disagree on the loss curve: {curves}")
        if not all(math.isfinite(x) for x in run.losses):
            errors.append(f"run {i}: non-finite loss: {run.losses}")
        elif run.config.data_dir is None and not min(run.losses[-2:]) < run.losses[0]:
            errors.append(f"run {i}: loss did not fall: {run.losses}")
    return errors
