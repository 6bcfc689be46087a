"""The session's cluster, up and down: a pinned local standalone cluster, or the user's own.

It turns a :class:`ClusterRequest` into a running :class:`SparkCluster` and
its :class:`ClusterFacts` (what the header, notices and report say about it), and takes it
down on every exit path of the ``with`` block.  The machine lock, the run directory's fate
and pytest's signal handling stay with the fixture that calls it (``fixtures/cluster.py``).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bf16perf.cluster.driver import ClusterError, spark_session
from bf16perf.cluster.executors import HostFacts, gather, mixed
from bf16perf.cluster.standalone import SparkStandaloneCluster
from bf16perf.machine.pinning import ClusterPlan, PinMode, format_cpu_list, local_plan

__all__ = ["ClusterFacts", "ClusterRequest", "SparkCluster", "external_driver_env", "open_cluster"]


@dataclass(frozen=True)
class ClusterRequest:
    """What a session asks of the cluster layer (built by
    :meth:`bf16perf.session.options.PerfOptions.cluster_request`).

    Attributes:
        spark_master: an existing cluster's URL (``None``: bring up a local one).
        spark_secret_file: that cluster's shared secret.
        workers: local workers, or the executors asked of an existing cluster (``None``:
            the pinning plan's choice).
        cores_per_worker: CPUs each worker owns (``None``: the plan's choice).
        pin: how the local workers are pinned (``None``: the plan's default).
        allow_mixed_hosts: accept executors on hosts of different CPUs.
    """

    spark_master: str | None
    spark_secret_file: Path | None
    workers: int | None
    cores_per_worker: int | None
    pin: PinMode | None
    allow_mixed_hosts: bool

    def local_plan(self) -> ClusterPlan:
        """The local cluster's pinning plan on this machine, the one place it is made
        (the session header shows it before the cluster exists; raises
        :class:`~bf16perf.machine.pinning.PlanError`)."""
        return local_plan(self.workers, self.cores_per_worker, self.pin)


@dataclass(frozen=True)
class ClusterFacts:
    """How the session's cluster was made, for the notices and the report."""

    description: str
    master: str
    startup_s: float
    run_dir: str
    cpu_sets: list[list[int]] | None
    stop_s: float | None = None
    hosts: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "hosts": self.hosts,
            "description": self.description,
            "master": self.master,
            "startup_s": self.startup_s,
            "stop_s": self.stop_s,
            "run_dir": self.run_dir,
            "cpu_sets": self.cpu_sets,
        }


@dataclass
class SparkCluster:
    """What the training runs get: the Spark session and how the cluster was made.

    Attributes:
        spark: the SparkSession (one executor per worker).
        master_url: the master's URL.
        plan: the local pinning plan, ``None`` for an external cluster.
        local: the local cluster (``None`` when external); ``check_alive()`` names lost workers.
        startup_s: seconds from nothing to all executors registered.
        run_dir: where conf, logs, work and scratch live.
        stop_s: seconds the local cluster took to stop, once stopped.
        hosts: each executor's host facts (external cluster only).
        broken: why no run can be measured any more (a lost worker or host), once one is.
    """

    spark: Any
    master_url: str
    plan: ClusterPlan | None
    local: SparkStandaloneCluster | None
    startup_s: float
    run_dir: Path
    stop_s: float | None = None
    reopen: Callable[[], Any] | None = None
    hosts: list[HostFacts] | None = None
    broken: str | None = None

    def driver_env(self) -> dict[str, str]:
        """The environment another driver of this cluster needs (the local cluster's tag,
        so that whatever it starts is swept with the cluster, and its private
        ``SPARK_CONF_DIR`` with the secret; the user's own environment otherwise)."""
        if self.local is not None:
            return self.local.environment()
        return dict(os.environ, PYSPARK_PYTHON=sys.executable)

    @contextmanager
    def released(self) -> Iterator[dict[str, str]]:
        """The cluster's executors free for another application (a driver-mode workload)
        for the block: this session's SparkContext stops, yields :meth:`driver_env`, and
        a new one opens after the block, however it ended."""
        if self.reopen is None:
            raise RuntimeError("this cluster cannot reopen its session")
        self.spark.stop()
        try:
            yield self.driver_env()
        finally:
            self.spark = self.reopen()

    def executor_hosts(self) -> Counter[str]:
        """The hosts of the registered executors and the driver, counted (empty when the
        session cannot say, as while a driver-mode program holds the executors)."""
        try:
            infos = self.spark.sparkContext.statusTracker().getExecutorInfos()
        except Exception:  # a stopped context, a dead gateway
            return Counter()
        return Counter(str(info.host) for info in infos)

    def lost(self, before: Counter[str], wait_s: float = 3.0) -> str | None:
        """What left the cluster since ``before`` (:meth:`executor_hosts` taken as a run
        began), or ``None``: a dead local worker named with its CPUs, or the hosts whose
        executors are gone.  Waits up to ``wait_s`` for the driver to notice; once
        something is lost the cluster is :attr:`broken` for the rest of the session."""
        if self.local is not None:
            try:
                self.local.check_alive()
            except ClusterError as exc:
                self.broken = str(exc)
        elif before:
            deadline = time.monotonic() + wait_s
            while True:
                gone = before - self.executor_hosts()
                if gone or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if gone:
                self.broken = (
                    f"executor host {', '.join(sorted(gone))} left the cluster during the run"
                    " (its worker died or its network went away); the cluster is short of"
                    " executors until it comes back, so no further run is measured"
                )
        return self.broken

    @property
    def executors(self) -> int:
        """Executors registered now (the driver is not counted)."""
        return len(self.spark.sparkContext.statusTracker().getExecutorInfos()) - 1

    @property
    def workers(self) -> int:
        """Workers (local) or registered executors (external) that train."""
        return self.plan.workers if self.plan is not None else max(1, self.executors)

    @property
    def cores_per_worker(self) -> int:
        if self.plan is not None:
            return self.plan.cores_per_worker
        return int(self.spark.sparkContext.getConf().get("spark.executor.cores", "1"))

    def describe(self) -> str:
        if self.plan is None:
            text = f"external cluster {self.master_url}: pinning is the cluster's business"
            if self.hosts:
                text += "; executors on " + ", ".join(
                    f"{h.host} CPUs {format_cpu_list(h.cpus)} ({h.capability})" for h in self.hosts
                )
            return text
        return f"local cluster {self.master_url}, {self.plan.describe()}"

    def facts(self) -> ClusterFacts:
        cpu_sets = [list(c) for c in self.plan.cpu_sets] if self.plan else None
        return ClusterFacts(
            self.describe(),
            self.master_url,
            self.startup_s,
            str(self.run_dir),
            cpu_sets,
            self.stop_s,
            [h.to_dict() for h in self.hosts] if self.hosts else None,
        )


def external_driver_env(
    secret_file: Path | None, run_dir: Path
) -> tuple[dict[str, str], str | None]:
    """The driver's environment for the user's cluster, and its secret: with a secret file
    (``--perf-spark-secret-file``), a private ``SPARK_CONF_DIR`` under ``run_dir`` that
    authenticates with it (and binds to ``$SPARK_LOCAL_IP`` where set, the address the
    executors reach the driver at)."""
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    if secret_file is None:
        return env, None
    from bf16perf.cluster.hosts import crypto_lines, read_secret
    from bf16perf.machine.java import write_conf

    secret = read_secret(secret_file)
    lines = {"spark.authenticate": "true", "spark.authenticate.secret": secret, **crypto_lines()}
    if os.environ.get("SPARK_LOCAL_IP"):
        lines["spark.driver.host"] = os.environ["SPARK_LOCAL_IP"]
    env["SPARK_CONF_DIR"] = str(write_conf(run_dir / "driver-conf", lines))
    return env, secret


@contextmanager
def open_cluster(
    request: ClusterRequest, run_dir: Path, on_local: Any = None
) -> Iterator[SparkCluster]:
    """Bring the cluster up (raises :class:`~bf16perf.machine.pinning.PlanError` or
    :class:`~bf16perf.cluster.driver.ClusterError`), yield it, and stop it however the block ends.

    ``on_local`` is called with the local cluster as soon as it exists, before anything can
    fail, so that a signal handler can stop it."""
    local: SparkStandaloneCluster | None = None
    spark: Any = None
    cluster: SparkCluster | None = None
    hosts: list[HostFacts] | None = None
    t0 = time.monotonic()
    try:
        if request.spark_master:
            env, secret = external_driver_env(request.spark_secret_file, run_dir)

            def reopen() -> Any:
                assert request.spark_master is not None
                return spark_session(
                    request.spark_master,
                    env=env,
                    cores_per_executor=request.cores_per_worker,
                    executors=request.workers or 1,
                    secret=secret,
                )

            spark = reopen()
            plan, master = None, request.spark_master
            hosts = gather(spark, request.workers or 1)
            reason = mixed(hosts)
            if reason and not request.allow_mixed_hosts:
                raise ClusterError(reason)
        else:
            plan = request.local_plan()
            local = SparkStandaloneCluster(plan, run_dir)
            if on_local is not None:
                on_local(local)
            local.start(wait_workers=False)  # the driver JVM starts while workers register
            spark = local.session()
            local.wait_workers()
            assert local.master_url is not None
            master = local.master_url
            reopen = local.session
        cluster = SparkCluster(
            spark, master, plan, local, time.monotonic() - t0, run_dir, reopen=reopen, hosts=hosts
        )
        yield cluster
    finally:
        if cluster is not None:
            spark = cluster.spark  # a driver-mode run may have reopened it
        if spark is not None:
            _stop(spark, lost=cluster is not None and cluster.broken is not None)
        if local is not None:
            stop_s = local.stop()
            if cluster is not None:
                cluster.stop_s = stop_s


#: How long a driver that lost a host waits for its SparkContext to stop.
LOST_STOP_S = 15.0


def _stop(spark: Any, lost: bool) -> None:
    """Stop the driver's SparkContext; where a host was lost (its block manager never
    answers a broadcast's removal: 120 s of ``spark.rpc.askTimeout`` in CI, 2026-12-07),
    for at most :data:`LOST_STOP_S`, the driver's JVM going with the process."""
    if not lost:
        spark.stop()
        return
    import threading

    stopping = threading.Thread(target=spark.stop, name="bf16perf-stop", daemon=True)
    stopping.start()
    stopping.join(LOST_STOP_S)
