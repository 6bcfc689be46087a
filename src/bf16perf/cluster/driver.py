"""The driver's SparkSession on any master: the local cluster's, or a user's existing one.

It owns the session's configuration (one executor per worker, cores per task, the
registration wait) and waiting until every executor has registered.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from bf16perf.machine.hygiene import RUN_TAG

__all__ = ["ClusterError", "spark_session"]


class ClusterError(RuntimeError):
    """A cluster could not start or serve a session, or lost a member."""


@contextlib.contextmanager
def _patched_environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def spark_session(
    master_url: str,
    *,
    env: dict[str, str],
    cores_per_executor: int | None,
    executors: int | None,
    app_name: str = "bf16perf",
    timeout_s: float = 90.0,
    secret: str | None = None,
) -> Any:
    """Start a SparkSession on ``master_url`` and wait until ``executors`` registered.

    The driver JVM (pyspark's gateway) belongs to this Python process, not to a cluster: it
    is not tagged with the cluster's run id (a cluster's sweep must not kill it; it exits
    by itself when this process dies, on end of its stdin).  When the gateway is already up
    (a second cluster in one process), ``secret`` goes to the new context through py4j,
    in memory; at gateway launch it comes from ``SPARK_CONF_DIR`` in ``env``.
    """
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master_url).appName(app_name)
    builder = builder.config("spark.scheduler.minRegisteredResourcesRatio", "1.0")
    builder = builder.config(
        "spark.scheduler.maxRegisteredResourcesWaitingTime", f"{timeout_s:.0f}s"
    )
    builder = builder.config("spark.executor.memory", "1g")
    builder = builder.config("spark.python.worker.reuse", "true")
    if cores_per_executor:
        builder = builder.config("spark.executor.cores", str(cores_per_executor))
        builder = builder.config("spark.task.cpus", str(cores_per_executor))
    if executors:
        builder = builder.config("spark.cores.max", str((cores_per_executor or 1) * executors))
    if secret and SparkContext._gateway is not None:
        builder = builder.config("spark.authenticate", "true")
        builder = builder.config("spark.authenticate.secret", secret)
    driver_env = {k: v for k, v in env.items() if k != RUN_TAG}
    with _patched_environ(driver_env):
        spark = builder.getOrCreate()
    if executors:
        _wait_executors(spark, executors, timeout_s)
    return spark


def _wait_executors(spark: Any, executors: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    tracker = spark.sparkContext.statusTracker()
    while True:
        # getExecutorInfos includes the driver
        seen = len(tracker.getExecutorInfos()) - 1
        if seen >= executors:
            return
        if time.monotonic() > deadline:
            spark.stop()
            raise ClusterError(
                f"only {seen} of {executors} executors registered after {timeout_s:.0f} s;"
                " see the worker logs in the run directory"
            )
        time.sleep(0.2)
