"""Run a command workload (:mod:`bf16perf.workload.definition`) as one measured run, and
prove its kernels: the driver's side.

*per-worker* mode runs the command once per Spark barrier task
(:func:`bf16perf.workload.command_task.command_task`), pinned where the task is, with the
rendezvous environment of a data-parallel job.  *driver* mode runs it once on this host as
a Spark application of the session's cluster: the harness's own application gives its
executors back for the run (:meth:`bf16perf.bringup.SparkCluster.released`), the program
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
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from bf16perf.hostfacts import barrier_stage
from bf16perf.kernels import KernelSummary, run_verbose
from bf16perf.workload.command_task import (
    METRICS_MARK,
    RANK_MARK,
    WORK_MARK,
    command_task,
    fill_process_fields,
    read_records,
    tail,
    watch,
)
from bf16perf.workload.config import RunResult, TrainConfig, WorkerResult
from bf16perf.workload.definition import WorkloadDef
from bf16perf.workload.launch import TrainingError, driver_host, progress_server, summarize
from bf16perf.workload.metrics import StepMetric, has_nan_loss, split_warmup
from bf16perf.workload.stack import stack_env

__all__ = [
    "CommandFailed",
    "field_values",
    "proof_dict",
    "prove_command",
    "run_driver_mode",
    "run_per_worker",
    "to_run",
    "unavailable_proof",
]

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


def _env(workload: WorkloadDef, config: TrainConfig, work: Path) -> dict[str, str]:
    """The workload's, the session's (A/B reference knobs) and the ISA cap, over nothing:
    the caller adds them to the environment the process inherits."""
    extra = list(workload.env_for(config.precision.value)) + list(config.env)
    if config.onednn_max_isa:
        extra.append(("ONEDNN_MAX_CPU_ISA", config.onednn_max_isa))
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
            "env": sorted(_env(workload, config, Path(tmp)).items()),
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
        env.update(_env(workload, config, work))
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


def prove_command(
    workload: WorkloadDef, config: TrainConfig, cores_per_worker: int, timeout_s: float = 600.0
) -> KernelSummary:
    """One step of the program, alone (one worker, batch 2, driver mode on ``local[N]``),
    under ``ONEDNN_VERBOSE=1``; what oneDNN printed.  A program whose framework prints no
    oneDNN lines gives a summary without primitives: its proof is "not available"."""
    one_step = replace(
        config, warmup_steps=0, measured_steps=1, batch_per_worker=min(2, config.batch_per_worker)
    )
    with tempfile.TemporaryDirectory(prefix="bf16perf-cmdproof-") as tmp:
        work = Path(tmp)
        master = f"local[{cores_per_worker}]"
        values = field_values(one_step, 1, cores_per_worker, master)
        argv = fill_process_fields(workload.argv(values), 0, work / "metrics.jsonl", work)
        env = _env(workload, one_step, work)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env.update(
            {
                "RANK": "0",
                "LOCAL_RANK": "0",
                "WORLD_SIZE": "1",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
                "TF_CONFIG": "{}",
                "OMP_NUM_THREADS": "1",
                "BF16PERF_METRICS": str(work / "metrics.jsonl"),
            }
        )
        env.pop("SPARK_CONF_DIR", None)
        return run_verbose(
            argv,
            what=f"the {config.precision.value} kernel proof step of workload {workload.name}",
            env=env,
            timeout_s=timeout_s,
            cwd=workload.cwd,
        )


def unavailable_proof(message: str) -> dict[str, Any]:
    """A proof that could not be made, shaped like :meth:`KernelSummary.to_dict`'s."""
    return {
        "available": False,
        "onednn_version": None,
        "cpu_isa": None,
        "bf16_ran": False,
        "isa": None,
        "message": f"not available: {message}",
        "isas": {},
        "bf16_counts_by_kind": {},
        "primitives": 0,
        "evidence": [],
        "emulated": False,
    }


def proof_dict(summary: KernelSummary, precision: str) -> dict[str, Any]:
    """The proof stored with a command run: oneDNN's summary, or "not available"."""
    if not summary.primitives:
        return unavailable_proof(
            "the program printed no oneDNN verbose lines (its framework may not use oneDNN,"
            " or does not honour ONEDNN_VERBOSE)"
        )
    return dict(summary.to_dict(precision), available=True)
