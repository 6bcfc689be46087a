"""What each executor's host is: its CPU and bf16 capability, read where it runs.

On a cluster of several hosts the driver's ``/proc/cpuinfo`` says nothing about the
executors'.  :func:`gather` runs one barrier task per executor that reads its own host's
cpuinfo; :func:`mixed` says when the hosts differ in bf16 capability, which a session
refuses unless told otherwise (a bf16 figure from a mix of AMX and AVX512-BF16 hosts, or of
bf16 and non-bf16 hosts, measures the slowest and proves nothing about the others).
:func:`barrier_stage` and :func:`task_host` are the plumbing of every job that runs once on
each executor (these facts, the kernel proofs, the training runs).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["HostFacts", "barrier_stage", "gather", "mixed", "task_host"]


@dataclass(frozen=True)
class HostFacts:
    """One executor's host: its address, CPU model, bf16 capability and CPUs."""

    host: str
    model_name: str
    capability: str
    cpus: list[int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def barrier_stage(
    spark: Any, tasks: int, fn: Callable[[Iterator[Any]], Iterator[str]]
) -> list[str]:
    """Run ``fn`` as one barrier stage of ``tasks`` tasks (one per executor: they start
    together or not at all) and collect what each yielded."""
    rdd = spark.sparkContext.parallelize(range(tasks), tasks)
    return list(rdd.barrier().mapPartitions(fn).collect())


def task_host(ctx: Any) -> str:
    """The address the driver and the peers reach this barrier task's executor at (its
    host, without the port); ``ctx`` is the task's ``BarrierTaskContext``."""
    return str(ctx.getTaskInfos()[ctx.partitionId()].address.rsplit(":", 1)[0])


def _facts_task(_: Iterator[Any]) -> Iterator[str]:
    """Barrier task: this executor's host facts, as JSON."""
    import os
    from pathlib import Path

    from pyspark import BarrierTaskContext

    from bf16perf.machine.cpu import read_cpuinfo

    host = task_host(BarrierTaskContext.get())
    info = read_cpuinfo(Path("/proc/cpuinfo"))
    facts = HostFacts(
        host, info.model_name or info.vendor or "unknown", info.capability.value,
        sorted(os.sched_getaffinity(0)),
    )  # fmt: skip
    yield json.dumps(facts.to_dict())


def gather(spark: Any, executors: int) -> list[HostFacts]:
    """Each executor's host facts (one barrier task per executor), sorted by host."""
    raw = barrier_stage(spark, executors, _facts_task)
    return sorted((HostFacts(**json.loads(r)) for r in raw), key=lambda f: (f.host, f.cpus))


def mixed(facts: list[HostFacts]) -> str | None:
    """Why these hosts must not be measured together, or ``None`` when they agree."""
    kinds = {f.capability for f in facts}
    if len(kinds) <= 1:
        return None
    listing = ", ".join(f"{f.host} {f.capability} ({f.model_name})" for f in facts)
    return (
        f"the executors' hosts differ in bf16 capability ({listing}): a bf16 figure from a"
        " mix measures the slowest host; give each kind its own cluster, or pass"
        " --perf-allow-mixed-hosts to measure the mix anyway"
    )
