"""Evidence that something else used a worker's CPUs while it was being measured.

A few seconds of another process on one of a worker's CPUs slows that run by 15% and turns
an A/A comparison into a false alarm (BENCHMARKS.md Z5).  The machine lock keeps other
bf16perf sessions away, not other programs.  So each worker samples, around its measured
steps, the busy and steal time of its own CPUs (``/proc/stat``) and its own process's CPU
time (:func:`os.times`).  Busy time on the worker's CPUs that the worker did not spend is
*foreign*: another process ran there.  *Steal* is time the hypervisor gave to other guests.

This module owns the sampling, the arithmetic and the sentence (:func:`disturbance`);
:mod:`bf16perf.session.runs` turns it into a notice.  It is evidence beside the figures, not a
verdict.
Foreign time is meaningful only where the worker's CPUs are its own (a pinned local
cluster).  Elsewhere, peers sharing the CPUs count as foreign too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DISTURBED_SHARE",
    "CpuSample",
    "CpuWindow",
    "disturbance",
    "disturbance_notices",
    "parse_stat",
    "sample",
]

#: Foreign or steal time above this share of the CPUs' time marks a run as disturbed.
DISTURBED_SHARE = 0.05
_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class CpuSample:
    """Cumulative counters at one instant.

    Attributes:
        wall_s: :func:`time.monotonic`.
        own_cpu_s: this process's user + system CPU time, all threads.
        busy_s: user, nice, system, irq and softirq time of ``cpus``, all processes.
        steal_s: time the hypervisor took from ``cpus`` for other guests.
        cpus: the CPUs summed.
    """

    wall_s: float
    own_cpu_s: float
    busy_s: float
    steal_s: float
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class CpuWindow:
    """What happened on a worker's CPUs between two samples (seconds, summed over CPUs)."""

    window_s: float
    cpus: int
    own_cpu_s: float
    busy_s: float
    steal_s: float

    @property
    def capacity_s(self) -> float:
        """CPU seconds the window offered: wall time times CPUs."""
        return self.window_s * self.cpus

    @property
    def foreign_share(self) -> float:
        """Share of the CPUs' time that other processes spent on them."""
        if self.capacity_s <= 0:
            return 0.0
        return max(0.0, self.busy_s - self.own_cpu_s) / self.capacity_s

    @property
    def steal_share(self) -> float:
        """Share of the CPUs' time that the hypervisor gave to other guests."""
        return self.steal_s / self.capacity_s if self.capacity_s > 0 else 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "window_s": self.window_s,
            "cpus": float(self.cpus),
            "own_cpu_s": self.own_cpu_s,
            "busy_s": self.busy_s,
            "steal_s": self.steal_s,
        }

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> CpuWindow:
        return cls(d["window_s"], int(d["cpus"]), d["own_cpu_s"], d["busy_s"], d["steal_s"])

    @classmethod
    def between(cls, before: CpuSample, after: CpuSample) -> CpuWindow:
        """The interval from ``before`` to ``after`` (same CPUs)."""
        if before.cpus != after.cpus:
            raise ValueError(f"samples of different CPUs: {before.cpus} and {after.cpus}")
        return cls(
            window_s=after.wall_s - before.wall_s,
            cpus=len(after.cpus),
            own_cpu_s=after.own_cpu_s - before.own_cpu_s,
            busy_s=after.busy_s - before.busy_s,
            steal_s=after.steal_s - before.steal_s,
        )


def disturbance(
    interference: CpuWindow, exclusive: bool, threshold: float = DISTURBED_SHARE
) -> str | None:
    """What disturbed a measurement, in words, or ``None`` when nothing passed ``threshold``.

    ``exclusive``: the CPUs belonged to this worker alone (a pinned local cluster); only then
    is foreign time another program's.  Steal counts either way.
    """
    found = []
    if exclusive and interference.foreign_share > threshold:
        found.append(
            f"other processes used {interference.foreign_share:.0%} of its"
            f" {interference.cpus} CPU(s)"
        )
    if interference.steal_share > threshold:
        found.append(f"the hypervisor stole {interference.steal_share:.0%} of them")
    if not found:
        return None
    return " and ".join(found) + f" during the {interference.window_s:.0f} s measured"


def parse_stat(text: str, cpus: Iterable[int], ticks_per_s: float) -> tuple[float, float]:
    """Busy and steal seconds of ``cpus`` from ``/proc/stat`` text.

    Columns after ``cpuN``: user nice system idle iowait irq softirq steal guest guest_nice,
    in clock ticks.  Guest time is already inside user and nice.

    Raises:
        ValueError: a CPU of ``cpus`` has no line, or a line has fewer than 8 counters.
    """
    wanted = {f"cpu{c}" for c in cpus}
    busy = steal = 0
    seen: set[str] = set()
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] not in wanted:
            continue
        if len(fields) < 9:
            raise ValueError(f"/proc/stat line with fewer than 8 counters: {line!r}")
        user, nice, system, _idle, _iowait, irq, softirq, st = (int(x) for x in fields[1:9])
        busy += user + nice + system + irq + softirq
        steal += st
        seen.add(fields[0])
    missing = sorted(wanted - seen)
    if missing:
        raise ValueError(f"/proc/stat has no line for {', '.join(missing)}")
    return busy / ticks_per_s, steal / ticks_per_s


def sample(cpus: Iterable[int] | None = None) -> CpuSample | None:
    """Sample this process and its CPUs (default: its affinity); ``None`` where
    ``/proc/stat`` cannot be read (not Linux)."""
    chosen = tuple(sorted(cpus if cpus is not None else os.sched_getaffinity(0)))
    try:
        text = _STAT.read_text()
        busy, steal = parse_stat(text, chosen, float(os.sysconf("SC_CLK_TCK")))
    except (OSError, ValueError):
        return None
    t = os.times()
    return CpuSample(time.monotonic(), t.user + t.system, busy, steal, chosen)


def disturbance_notices(
    workers: Iterable[tuple[int, list[int], CpuWindow | None]], which: str, exclusive: bool
) -> list[str]:
    """One notice for each worker ``(rank, CPUs, window)`` of run ``which`` whose CPUs
    were shared while it was measured (:func:`disturbance`)."""
    from bf16perf.machine.pinning import format_cpu_list

    out = []
    for rank, cpus, window in workers:
        what = disturbance(window, exclusive) if window else None
        if what:
            out.append(
                f"{which}, worker {rank} (CPUs {format_cpu_list(cpus)}): {what}; its images/s"
                " may be low (BENCHMARKS.md Z5)"
            )
    return out
