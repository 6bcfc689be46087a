"""The real thing, small: a pinned 2-worker standalone cluster, its cleanup, and kill -9."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bf16perf.cluster import SparkStandaloneCluster, tagged_pids
from bf16perf.plan import make_plan, read_topology

pytestmark = pytest.mark.slow


def _affinity(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"Cpus_allowed_list:\s*(\S+)", status)
    assert match
    return match.group(1)


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_workers_executors_and_python_workers_are_pinned_then_gone(tmp_path: Path) -> None:
    plan = make_plan(read_topology())
    if plan.workers < 2:
        pytest.skip("needs 2 physical cores for 2 pinned workers")
    cluster = SparkStandaloneCluster(plan, tmp_path)
    try:
        cluster.start(wait_workers=False)
        spark = cluster.session()
        cluster.wait_workers()
        # run Python on every executor so that pyspark.daemon and its workers exist
        n = plan.workers
        got = (
            spark.sparkContext.parallelize(range(n), n)
            .map(lambda _: sorted(os.sched_getaffinity(0)))
            .collect()
        )
        assert sorted(map(tuple, got)) == sorted(plan.cpu_sets)
        pids = tagged_pids(cluster.run_id)
        sets = {",".join(map(str, s)) for s in plan.cpu_sets}
        workers = [p for p in pids if "deploy.worker.Worker" in _cmdline(p)]
        executors = [p for p in pids if "CoarseGrainedExecutorBackend" in _cmdline(p)]
        daemons = [p for p in pids if "pyspark.daemon" in _cmdline(p)]
        assert len(workers) == n and len(executors) == n and len(daemons) >= n
        for group in (workers, executors, daemons):
            assert {_affinity(p) for p in group} == sets, [
                (_cmdline(p)[:80], _affinity(p)) for p in group
            ]
        # the secret is in a private file, never on a command line
        conf = cluster.conf_dir / "spark-defaults.conf"
        assert conf.stat().st_mode & 0o777 == 0o600
        secret = re.search(r"spark.authenticate.secret (\S+)", conf.read_text())
        assert secret and not any(secret.group(1) in _cmdline(p) for p in pids)
        spark.stop()
    finally:
        cluster.stop()
    assert tagged_pids(cluster.run_id) == []


HOLDER = textwrap.dedent(
    """
    import sys, tempfile, pathlib, time
    from bf16perf.plan import make_plan, read_topology
    from bf16perf.cluster import SparkStandaloneCluster
    c = SparkStandaloneCluster(make_plan(read_topology()), pathlib.Path(tempfile.mkdtemp()))
    c.start(wait_workers=False)
    s = c.session()
    c.wait_workers()
    s.sparkContext.parallelize(range(2), 2).map(lambda x: x).collect()
    print("READY", c.run_id, flush=True)
    time.sleep(600)
    """
)


def test_kill_9_leaves_no_process_behind() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY"), line
        run_id = line.split()[1]
        assert len(tagged_pids(run_id)) >= 5  # master, 2 workers, 2 executors, driver, daemons
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while tagged_pids(run_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [(p, _cmdline(p)[:100]) for p in tagged_pids(run_id)]
        assert left == [], left
    finally:
        if proc.poll() is None:
            proc.kill()
