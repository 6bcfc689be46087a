"""The pinning plan: how many local Spark workers, and which CPUs each one owns.

A pure function of the machine's topology (:class:`Topology`, read from ``/sys`` by
:func:`read_topology`) and the user's wishes.  Workers get whole physical cores (SMT
siblings stay together), CPU sets are disjoint, and with several NUMA nodes no node is ever
split across workers.
"""

from __future__ import annotations

import enum
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ClusterPlan",
    "PinMode",
    "PlanError",
    "Topology",
    "format_cpu_list",
    "local_plan",
    "make_plan",
    "parse_cpu_list",
    "read_topology",
]


class PinMode(enum.Enum):
    """How each local Spark worker is bound to its CPUs."""

    TASKSET = "taskset"
    NUMACTL = "numactl"
    NONE = "none"


class PlanError(ValueError):
    """The requested workers x cores do not fit the machine."""


def parse_cpu_list(text: str) -> list[int]:
    """Parse a kernel CPU list (``0-3,8,10-11``)."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def format_cpu_list(cpus: list[int]) -> str:
    """The inverse of :func:`parse_cpu_list` (compact ranges)."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and runs[-1][1] == cpu - 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in runs)


@dataclass(frozen=True)
class Topology:
    """Usable CPUs grouped by physical core and NUMA node.

    Attributes:
        nodes: per NUMA node, its physical cores, each a tuple of logical CPUs (SMT siblings).
    """

    nodes: tuple[tuple[tuple[int, ...], ...], ...]

    @property
    def cores(self) -> list[tuple[int, ...]]:
        """All physical cores, node by node."""
        return [core for node in self.nodes for core in node]


def read_topology(sys_root: Path = Path("/sys/devices/system")) -> Topology:
    """Topology of the CPUs this process may run on (its affinity), best effort from ``/sys``."""
    allowed = sorted(os.sched_getaffinity(0))
    node_of: dict[int, int] = {}
    for node_dir in sorted((sys_root / "node").glob("node[0-9]*")):
        try:
            cpus = parse_cpu_list((node_dir / "cpulist").read_text())
        except (OSError, ValueError):
            continue
        for cpu in cpus:
            node_of[cpu] = int(node_dir.name[4:])
    core_of: dict[int, tuple[int, ...]] = {}
    for cpu in allowed:
        path = sys_root / f"cpu/cpu{cpu}/topology/thread_siblings_list"
        try:
            siblings = tuple(c for c in parse_cpu_list(path.read_text()) if c in allowed)
        except (OSError, ValueError):
            siblings = (cpu,)
        core_of[cpu] = siblings or (cpu,)
    nodes: dict[int, list[tuple[int, ...]]] = {}
    for cpu in allowed:
        core = core_of[cpu]
        node = nodes.setdefault(node_of.get(cpu, 0), [])
        if core not in node:
            node.append(core)
    return Topology(tuple(tuple(nodes[n]) for n in sorted(nodes)))


@dataclass(frozen=True)
class ClusterPlan:
    """Local workers and their CPUs.

    Attributes:
        cpu_sets: one disjoint list of logical CPUs per worker.
        pin: the pinning tool.
    """

    cpu_sets: tuple[tuple[int, ...], ...]
    pin: PinMode

    @property
    def workers(self) -> int:
        return len(self.cpu_sets)

    @property
    def cores_per_worker(self) -> int:
        return len(self.cpu_sets[0])

    def describe(self) -> str:
        sets = "; ".join(format_cpu_list(list(s)) for s in self.cpu_sets)
        return (
            f"{self.workers} workers x {self.cores_per_worker} CPUs,"
            f" pinned by {self.pin.value}: {sets}"
        )


def default_pin(topology: Topology) -> PinMode:
    """numactl where installed and there are several NUMA nodes, else taskset."""
    if len(topology.nodes) > 1 and shutil.which("numactl"):
        return PinMode.NUMACTL
    return PinMode.TASKSET


def make_plan(
    topology: Topology,
    workers: int | None = None,
    cores_per_worker: int | None = None,
    pin: PinMode | None = None,
) -> ClusterPlan:
    """Split the machine into workers.

    Defaults: one worker per NUMA node where there are several, else two workers (so that
    the all-reduce is exercised) sharing the physical cores equally.  ``cores_per_worker``
    counts logical CPUs; a worker always receives whole physical cores.
    """
    cores = topology.cores
    logical = sum(len(c) for c in cores)
    if workers is None:
        workers = len(topology.nodes) if len(topology.nodes) > 1 else min(2, len(cores))
    if workers > len(cores):
        raise PlanError(
            f"--perf-workers {workers} needs at least {workers} physical cores; this machine"
            f" offers {len(cores)} ({logical} logical CPUs): use --perf-workers {len(cores)} or"
            " fewer"
        )
    per_core = len(cores[0])
    if cores_per_worker is None:
        cores_per_worker = (len(cores) // workers) * per_core
    if cores_per_worker % per_core:
        raise PlanError(
            f"--perf-cores-per-worker {cores_per_worker} splits a physical core of {per_core}"
            f" SMT siblings: use a multiple of {per_core}"
        )
    if cores_per_worker * workers > logical:
        raise PlanError(
            f"--perf-workers {workers} x --perf-cores-per-worker {cores_per_worker} needs"
            f" {cores_per_worker * workers} CPUs; this machine offers {logical}"
        )
    wanted = cores_per_worker // per_core
    sets: list[tuple[int, ...]] = []
    if len(topology.nodes) > 1:
        # Fill workers node by node; a worker never spans two nodes.
        for node in topology.nodes:
            for i in range(len(node) // wanted):
                if len(sets) < workers:
                    sets.append(
                        tuple(c for core in node[i * wanted : (i + 1) * wanted] for c in core)
                    )
        if len(sets) < workers:
            raise PlanError(
                f"{workers} workers of {cores_per_worker} CPUs do not fit in the NUMA nodes"
                " without splitting one: use fewer or smaller workers"
            )
    else:
        for i in range(workers):
            sets.append(tuple(c for core in cores[i * wanted : (i + 1) * wanted] for c in core))
    return ClusterPlan(tuple(sets), pin or default_pin(topology))


def local_plan(
    workers: int | None, cores_per_worker: int | None, pin: PinMode | None
) -> ClusterPlan:
    """This machine's plan for a local cluster: what the cluster starts and what the
    session's header shows (one call, so the two cannot disagree)."""
    return make_plan(read_topology(), workers, cores_per_worker, pin)
