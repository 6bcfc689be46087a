"""Run a command workload (:mod:`bf16perf.workloads.definition`) as one measured run: the
driver's side (its kernel proof: :mod:`bf16perf.workloads.program.proof`).

*per-worker* mode runs the command once per Spark barrier task
(:func:`bf16perf.workloads.program.task.command_task`), pinned where the task is, with the
rendezvous environment of a data-parallel job.  *driver* mode runs it once on this host as
a Spark application of the session's cluster: the harness's own application gives its
executors back for the run (:meth:`bf16perf.cluster.bringup.SparkCluster.released`), the program
gets the master URL, the cluster's private ``SPARK_CONF_DIR`` (the authentication secret)
and its core counts, and whatever it starts is swept with the cluster.

Either way the records its metrics format yields become a :class:`RunResult` like the
built-in workload's: warm-up records dropped, a step's time derived from the nominal batch
over the record's throughput.  A run that exits non-zero, prints no metric or reports a NaN
loss fails with the last lines it printed.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bf16perf.cluster.executors import barrier_stage
from bf16perf.workloads.config import TrainConfig
from bf16perf.workloads.definition import WorkloadDef
from bf16perf.workloads.launch import TrainingError, driver_host, progress_server, summarize
from bf16perf.workloads.output.metrics import StepMetric, has_nan_loss, split_warmup
from bf16perf.workloads.program.task import (
    METRICS_MARK,
    RANK_MARK,
    WORK_MARK,
    command_task,
    fill_process_fields,
    read_records,
    tail,
    watch,
)
from bf16perf.workloads.results import RunResult, WorkerResult
from bf16perf.workloads.stack import stack_env

__all__ = [
    "CommandFailed",
    "env_of",
    "field_values",
    "run_driver_mode",
    "run_per_worker",
    "run_program",
    "to_run",
]

if TYPE_CHECKING:
    from bf16perf.cluster.bringup import SparkCluster

ProgressCallback = Callable[[dict[str, Any]], None]


class CommandFailed(RuntimeError):
    """A command run failed; the message names the rank or program and its last lines."""


def field_values(
    config: TrainConfig, workers: int, cores_per_worker: int, master: str
) -> dict[str, Any]:
    """The ``{fields}`` of a command (``rank``, ``metrics_file`` and ``work_dir`` are filled
    where the process runs)."""
    bf16 = config.precision.value == "bf16"
    return {
        "python": config.python or sys.executable,
        "precision": config.precision.value,
        "bf16": "1" if bf16 else "0",
        "master": master,
        "workers": workers,
        "world_size": workers,
        "cores_per_worker": cores_per_worker,
        "batch_per_worker": config.batch_per_worker,
        "global_batch": config.batch_per_worker * workers,
        "steps": config.measured_steps,
        "warmup_steps": config.warmup_steps,
        "total_steps": config.warmup_steps + config.measured_steps,
        "image_size": config.image_size,
        "seed": config.seed,
        "data_dir": config.data_dir or "",
        "rank": RANK_MARK,
        "metrics_file": METRICS_MARK,
        "work_dir": WORK_MARK,
    }


def env_of(workload: WorkloadDef, config: TrainConfig, work: Path) -> dict[str, str]:
    """The workload's, the ISA cap and the session's (A/B reference knobs, last: a
    reference's own ONEDNN_MAX_CPU_ISA wins over the session's cap, as for the built-in),
    over nothing: the caller adds them to the environment the process inherits."""
    extra = list(workload.env_for(config.precision.value))
    if config.onednn_max_isa:
        extra.append(("ONEDNN_MAX_CPU_ISA", config.onednn_max_isa))
    extra += list(config.env)
    extra.append(("BF16PERF_PRECISION", config.precision.value))
    return stack_env({}, config.python, extra, work)


def to_run(
    config: TrainConfig,
    workload: WorkloadDef,
    results: list[dict[str, Any]],
    wall_s: float,
    images_per_record: int,
) -> RunResult:
    """A :class:`RunResult` of the ranks' (or the driver program's) records; raises
    :class:`CommandFailed` for no metric or a NaN loss.

    ``images_per_record`` is the nominal batch one record's throughput is about: a rank's
    batch (per-worker mode), or the global batch (driver mode).  A step's time is that
    batch over the record's throughput, so a step of the run is the slowest rank's, as in a
    synchronous data-parallel job.  Ranks that print nothing (scripts where only rank 0
    logs) are taken to keep step with those that do, and the run notes how many were silent.
    """
    if workload.mode == "driver":
        global_batch = images_per_record
    else:
        global_batch = config.batch_per_worker * max(1, len(results))
    reporting = []
    for r in sorted(results, key=lambda r: r["rank"]):
        records = [StepMetric.from_dict(d) for d in r["records"]]
        if has_nan_loss(records):
            raise CommandFailed(
                f"{workload.name} rank {r['rank']} on {r['host']}: non-finite loss in its"
                f" records. Last lines:\n{r['tail']}"
            )
        warmup, measured = split_warmup(records, config.warmup_steps)
        if measured:
            reporting.append((r, warmup, measured))
    if not reporting:
        first = min(results, key=lambda r: r["rank"]) if results else {"tail": "(none)"}
        raise CommandFailed(
            f"{workload.name}: no measured step in its output (format {workload.format};"
            f" {config.warmup_steps} warm-up steps are dropped when it does not mark them)."
            f" Last lines:\n{first['tail']}"
        )
    count = min(len(m) for _, _, m in reporting)
    workers = []
    for r, warmup, measured in reporting:
        workers.append(
            WorkerResult(
                rank=r["rank"],
                host=r["host"],
                cpus=r["cpus"],
                warmup_times_s=[images_per_record / x.images_per_second for x in warmup],
                step_times_s=[images_per_record / x.images_per_second for x in measured[:count]],
                losses=[x.loss for x in warmup + measured[:count] if x.loss is not None],
                images_per_step=global_batch,
                notes=[]
                if len(reporting) == len(results)
                else [f"{len(results) - len(reporting)} of {len(results)} ranks printed no metric"],
                cpu_window=r.get("cpu_window"),
            )
        )
    return RunResult(config=config, workers=workers, wall_s=wall_s)


def run_per_worker(
    spark: Any,
    workload: WorkloadDef,
    config: TrainConfig,
    workers: int,
    cores_per_worker: int,
    master: str,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """One run of a per-worker command: one process per barrier task."""
    with tempfile.TemporaryDirectory(prefix="bf16perf-cmd-") as tmp:
        spec = {
            "argv": workload.argv(field_values(config, workers, cores_per_worker, master)),
            "env": sorted(env_of(workload, config, Path(tmp)).items()),
            "cwd": workload.cwd,
            "format": workload.format,
            "regex": workload.regex,
            "timeout_s": workload.timeout_s,
            "quiet_timeout_s": workload.step_timeout_s or config.step_timeout_s,
            "batch": config.batch_per_worker,
        }
        t0 = time.monotonic()
        with progress_server(progress, driver_host(spark)) as addr:
            try:
                task = partial(command_task, json.dumps(spec), addr)
                raw = barrier_stage(spark, workers, task)
            except Exception as exc:  # py4j wraps everything
                raise TrainingError(summarize(exc)) from None
        results = [json.loads(r) for r in raw]
        try:
            return to_run(config, workload, results, time.monotonic() - t0, config.batch_per_worker)
        except CommandFailed as exc:
            raise TrainingError(str(exc)) from None


def run_driver_mode(
    workload: WorkloadDef,
    config: TrainConfig,
    workers: int,
    cores_per_worker: int,
    master: str,
    cluster_env: Mapping[str, str],
    progress: ProgressCallback | None = None,
) -> RunResult:
    """One run of a driver-mode command: the program is a Spark application of ``master``;
    ``cluster_env`` is the environment a driver of that cluster needs."""
    with tempfile.TemporaryDirectory(prefix="bf16perf-driver-") as tmp:
        work = Path(tmp)
        metrics, log = work / "metrics.jsonl", work / "output.log"
        env = dict(cluster_env)
        env.update(env_of(workload, config, work))
        env.update({"BF16PERF_METRICS": str(metrics), "BF16PERF_RANK": "0"})
        values = field_values(config, workers, cores_per_worker, master)
        argv = fill_process_fields(workload.argv(values), 0, metrics, work)

        def on_line(line: str) -> None:
            if progress is not None:
                progress({"rank": 0, "line": line[:200]})

        t0 = time.monotonic()
        try:
            done = watch(
                argv,
                env=env,
                cwd=workload.cwd,
                log=log,
                timeout_s=workload.timeout_s,
                quiet_timeout_s=workload.step_timeout_s or config.step_timeout_s,
                who=f"{workload.name} (driver program)",
                on_line=on_line,
            )
            if done.code != 0:
                raise CommandFailed(
                    f"{workload.name} (driver program) exited with code {done.code}:\n" + tail(log)
                )
            global_batch = config.batch_per_worker * workers
            records = read_records(workload.format, workload.regex, log, metrics, global_batch)
            result = {
                "rank": 0,
                "host": socket.gethostname(),
                "cpus": sorted(os.sched_getaffinity(0)),
                "records": records,
                "tail": tail(log),
                "cpu_window": None,  # the executors ran elsewhere: no window of their CPUs
            }
            return to_run(config, workload, [result], time.monotonic() - t0, global_batch)
        except (CommandFailed, RuntimeError) as exc:
            raise TrainingError(str(exc)) from None


def run_program(
    cluster: SparkCluster,
    workload: WorkloadDef,
    config: TrainConfig,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """One run of ``workload``'s program on ``cluster``, in its mode: once per barrier
    task, or once on this host as the cluster's application (the harness gives the
    executors back for the run)."""
    if workload.mode == "per-worker":
        return run_per_worker(
            cluster.spark,
            workload,
            config,
            cluster.workers,
            cluster.cores_per_worker,
            cluster.master_url,
            progress,
        )
    with cluster.released() as env:  # the program is the cluster's application now
        return run_driver_mode(
            workload,
            config,
            cluster.workers,
            cluster.cores_per_worker,
            cluster.master_url,
            env,
            progress,
        )
