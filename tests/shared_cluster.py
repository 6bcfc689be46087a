"""One pinned standalone cluster for the test sessions that do not test its lifecycle.

A perf session brings up its own pinned cluster (about 14 s of a 50 s smoke session on a
2-vCPU VM); the end-to-end tests of verdicts, gates and A/B runs do not need their own, so
they pass ``--spark-master`` to this one, the way a user passes an existing cluster (CI
time, #33).  It is started by the project's own :class:`SparkStandaloneCluster` with the
plan a session would make here, so the workload key (cluster shape) is the same, and its
workers are pinned the same way.  The tests of the cluster's own bring-up, teardown and
kill -9 keep their own clusters; so do the tests that count a session's processes by its
environment (an existing cluster's executors do not carry a test's marks).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bf16perf.cluster import ClusterError, SparkStandaloneCluster
from bf16perf.hygiene import tagged_pids
from bf16perf.plan import make_plan, read_topology


class SharedCluster:
    """The session's one cluster, restarted if a test left it broken."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.starts = 0
        self.cluster: SparkStandaloneCluster | None = None

    def up(self) -> SparkStandaloneCluster:
        """The running cluster, started (again) where it is not."""
        if self.cluster is not None:
            try:
                self.cluster.check_alive()
                return self.cluster
            except ClusterError:
                self.cluster.stop()
        self.starts += 1
        cluster = SparkStandaloneCluster(
            make_plan(read_topology()), self.run_dir / f"cluster-{self.starts}"
        )
        self.cluster = cluster.start()
        return cluster

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
            assert tagged_pids(self.cluster.run_id) == []


class ClusterArgs:
    """What a perf session needs to run on the shared cluster: its flags and environment."""

    def __init__(self, cluster: SparkStandaloneCluster) -> None:
        assert cluster.master_url
        self.cluster = cluster
        self.master_url = cluster.master_url
        self.args: tuple[str, ...] = (
            "--spark-master", cluster.master_url,
            "--perf-workers", str(cluster.plan.workers),
            "--perf-cores-per-worker", str(cluster.plan.cores_per_worker),
        )  # fmt: skip

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (else this process's environment) with the cluster's conf directory:
        how a user hands a session the cluster's secret."""
        env = dict(base if base is not None else os.environ)
        env["SPARK_CONF_DIR"] = str(self.cluster.conf_dir)
        return env


@pytest.fixture(scope="session")
def _shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedCluster]:
    shared = SharedCluster(tmp_path_factory.mktemp("shared-cluster"))
    try:
        yield shared
    finally:
        shared.stop()


@pytest.fixture
def shared_cluster(_shared: SharedCluster) -> ClusterArgs:
    """The flags and environment of the shared pinned cluster (started on first use)."""
    return ClusterArgs(_shared.up())
