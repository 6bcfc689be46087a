"""Launch one training run as a Spark barrier stage and collect every worker's result.

The design of Spark's own TorchDistributor: one barrier task per worker
(:mod:`bf16perf.workloads.task`, which runs the worker subprocess), results collected on the
driver, and a progress server on the driver that the tasks stream their step lines to
(best effort: progress degrades to nothing when the driver is unreachable; signed lines
only, :mod:`bf16perf.workloads.progress`).
"""

from __future__ import annotations

import contextlib
import json
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from bf16perf.cluster.executors import barrier_stage
from bf16perf.workloads.config import TrainConfig
from bf16perf.workloads.progress import ProgressLink, new_key, verify
from bf16perf.workloads.results import RunResult, WorkerResult
from bf16perf.workloads.task import barrier_task

__all__ = ["TrainingError", "driver_host", "progress_server", "run_training", "summarize"]

ProgressCallback = Callable[[dict[str, Any]], None]


class TrainingError(RuntimeError):
    """A run failed: a worker crashed, hung, was lost, or produced a non-finite loss."""


class _ProgressServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def progress_server(
    progress: ProgressCallback | None, host: str = "127.0.0.1"
) -> Iterator[ProgressLink | None]:
    """A server the tasks stream their signed progress lines to
    (:mod:`bf16perf.workloads.progress`),
    calling ``progress`` with each event; yields its address and key (``None`` and no
    server when there is no callback).  A line it cannot verify or read is dropped and
    counted, never shown."""
    if progress is None:
        yield None
        return
    callback = progress
    key = new_key()
    dropped = [0]

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for raw in self.rfile:
                body = verify(key, raw)
                try:
                    if body is None:
                        raise ValueError("not signed with this run's key")
                    callback(json.loads(body))
                except Exception:  # display only: a bad line is dropped, counted
                    dropped[0] += 1

    server = _ProgressServer((host, 0), Handler)
    addr_host, port = server.server_address[:2]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield (str(addr_host), int(port), key)
    finally:
        server.shutdown()
        server.server_close()
        if dropped[0]:
            print(
                f"bf16perf: {dropped[0]} progress line(s) dropped (unsigned, forged or malformed)",
                file=sys.stderr,
            )


def driver_host(spark: Any) -> str:
    """The address executors reach the driver at (``spark.driver.host``; loopback for the
    local cluster, another host's address in a multi-host cluster)."""
    return str(spark.sparkContext.getConf().get("spark.driver.host", "127.0.0.1"))


def run_training(
    spark: Any,
    config: TrainConfig,
    workers: int,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Train ``config`` on ``workers`` barrier tasks and return every worker's measurements."""
    t0 = time.monotonic()
    with progress_server(progress, driver_host(spark)) as addr:
        try:
            task = partial(barrier_task, config.to_json(), addr)
            raw = barrier_stage(spark, workers, task)
        except Exception as exc:  # py4j wraps everything; keep the first meaningful lines
            raise TrainingError(summarize(exc)) from None
    results = sorted((WorkerResult.from_dict(json.loads(r)) for r in raw), key=lambda w: w.rank)
    return RunResult(config=config, workers=results, wall_s=time.monotonic() - t0)


def summarize(exc: BaseException) -> str:
    """The first meaningful lines of a (py4j-wrapped) task failure."""
    try:
        text = str(exc)
    except Exception:  # py4j's str() can itself fail
        text = repr(exc)
    keep = [
        line
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(("at ", "File ", "..."))
    ]
    for marker in ("RuntimeError: ", "FloatingPointError: ", "ValueError: "):
        for i, line in enumerate(keep):
            if marker in line:
                return "\n".join(keep[i : i + 8])
    return "\n".join(keep[:8])
