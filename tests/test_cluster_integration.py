"""The real thing, small: a pinned 2-worker standalone cluster, its cleanup, and kill -9."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bf16perf.cluster.standalone import SparkStandaloneCluster
from bf16perf.machine.hygiene import tagged_pids
from bf16perf.machine.pinning import make_plan, read_topology

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
    from bf16perf.machine.pinning import make_plan, read_topology
    from bf16perf.cluster.standalone import SparkStandaloneCluster
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


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkStandaloneCluster]:
    """A 2-worker cluster started apart from any perf session: it stands in for a user's
    existing cluster, and for a cluster whose worker gets killed (that test runs last)."""
    plan = make_plan(read_topology())
    if plan.workers < 2:
        pytest.skip("needs 2 physical cores for 2 pinned workers")
    cluster = SparkStandaloneCluster(plan, tmp_path_factory.mktemp("standalone"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        assert tagged_pids(cluster.run_id) == []


NO_SECRET_DRIVER = textwrap.dedent(
    """
    import sys
    from pyspark.sql import SparkSession
    SparkSession.builder.master(sys.argv[1]).config("spark.driver.host", "127.0.0.1") \\
        .config("spark.ui.enabled", "false").getOrCreate()
    """
)


def test_application_without_the_secret_is_refused(standalone: SparkStandaloneCluster) -> None:
    assert standalone.master_url
    master_log = standalone.children[0].log
    before = master_log.read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK", "BF16PERF"))}
    proc = subprocess.Popen(
        [sys.executable, "-c", NO_SECRET_DRIVER, standalone.master_url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        refused = False
        while time.monotonic() < deadline and not refused:
            new = master_log.read_text()[len(before) :]
            refused = "SaslRpcHandler" in new or "authenticat" in new.lower()
            time.sleep(0.5)
        assert refused, "the master logged no authentication failure"
        assert "Registering app" not in master_log.read_text()[len(before) :]
    finally:
        proc.kill()
        proc.wait()


def test_perf_tests_run_on_an_existing_cluster(
    standalone: SparkStandaloneCluster, tmp_path: Path
) -> None:
    """Also the real-data path: the run trains on a tiny TFRecord set of JPEGs."""
    from tests.perfrun import run_perf
    from tests.tfrecords import write_tiny_imagenet

    assert standalone.master_url
    data = write_tiny_imagenet(tmp_path / "tfrecords")
    env = dict(os.environ, SPARK_CONF_DIR=str(standalone.conf_dir))  # how users pass a secret
    before = set(Path(tempfile.gettempdir()).glob("bf16perf-rank*"))
    result = run_perf(
        "--perf-no-probe",
        "--perf-repeats",  # CI time: one run shows the path; the rules are tested elsewhere
        "1",
        "--perf-baselines",
        str(tmp_path),
        "--perf-data-dir",
        str(data),
        "--benchmark-json",
        str(tmp_path / "bench.json"),
        "--perf-reports",
        str(tmp_path / "reports"),
        "--spark-master",
        standalone.master_url,
        "--perf-workers",
        "2",
        "--perf-cores-per-worker",
        "1",
        env=env,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:]
    assert f"bf16perf cluster: external {standalone.master_url}" in out
    # each barrier task's work directory is gone once its result is read
    assert set(Path(tempfile.gettempdir()).glob("bf16perf-rank*")) == before
    assert "pinning is the cluster's business" in out
    assert "test_training[fp32]" in out and "no baseline for machine" in out
    assert "-tfrecord-fp32" in out  # the workload key names the data source
    bench = json.loads((tmp_path / "bench.json").read_text())["benchmarks"]
    (fp32,) = [b for b in bench if b["name"] == "test_training[fp32]"]
    assert fp32["extra_info"]["config"]["data_dir"] == str(data)
    assert fp32["extra_info"]["kernels"]["primitives"] > 0  # the run's own kernel proof
    # the external cluster is the user's: still running after the session
    standalone.check_alive()


def test_a_step_slower_than_the_timeout_is_cut_off(standalone: SparkStandaloneCluster) -> None:
    """The watchdog: no step within --perf-step-timeout fails the run with a clear error
    (here the first step, which traces the graph, takes far longer than 2 s; the first
    step's own allowance, 180 s by default, is cut to 2 s too)."""
    from bf16perf.workloads.config import PROFILES
    from bf16perf.workloads.launch import TrainingError, run_training

    spark = standalone.session(app_name="timeout-test")
    try:
        t0 = time.monotonic()
        with pytest.raises(TrainingError, match=r"no step finished within 2 s"):
            config = replace(PROFILES["smoke"], step_timeout_s=2.0, first_step_timeout_s=2.0)
            run_training(spark, config, 2)
        assert time.monotonic() - t0 < 60
    finally:
        spark.stop()
    standalone.check_alive()  # the cluster survives a failed run


ENV_PROBE = textwrap.dedent(
    """
    import json, os, sys, time
    rank = int(os.environ["BF16PERF_RANK"])
    parent = open(f"/proc/{os.getppid()}/environ", "rb").read().split(b"\\0")
    seen = {"mine": sorted(os.environ), "parent": sorted(v.split(b"=")[0].decode() for v in parent)}
    with open(f"{sys.argv[1]}.{rank}", "w") as fh:
        json.dump(seen, fh)
    for i in range(int(sys.argv[2])):
        t0 = time.perf_counter()
        sum(range(50000))
        record = {"step": i + 1, "images": 4, "seconds": time.perf_counter() - t0,
                  "loss": 1.0, "warmup": False, "rank": rank}
        with open(os.environ["BF16PERF_METRICS"], "a") as fh:
            fh.write(json.dumps(record) + "\\n")
        print(f"step {i + 1}", flush=True)
    """
)


def test_a_command_workload_sees_no_cluster_secret(
    standalone: SparkStandaloneCluster, tmp_path: Path
) -> None:
    """A user's program, run by the executors of an authenticated cluster, prints its
    environment: the task that started it holds Spark's secret, the program does not (#32).
    Its progress lines reach the driver signed, and are shown."""
    from bf16perf.workloads.config import PROFILES
    from bf16perf.workloads.program.launch import run_per_worker
    from bf16perf.workloads.tables import select_workloads

    (tmp_path / "env_probe.py").write_text(ENV_PROBE)
    toml = tmp_path / "workloads.toml"
    toml.write_text(
        "[tool.bf16perf.workloads.env-probe]\n"
        f'command = ["{{python}}", "env_probe.py", "{tmp_path / "env"}", "{{total_steps}}"]\n'
        'format = "jsonl"\nproof = false\n'
    )
    (workload,) = select_workloads(toml, ("env-probe",), given=True)
    config = replace(PROFILES["smoke"], workload="env-probe")
    events: list[dict[str, object]] = []
    before = set(Path(tempfile.gettempdir()).glob("bf16perf-cmd*"))
    spark = standalone.session(app_name="env-probe")
    try:
        run = run_per_worker(
            spark, workload, config, 2, 1, str(standalone.master_url), events.append
        )
    finally:
        spark.stop()
    assert len(run.workers) == 2
    for rank in (0, 1):
        seen = json.loads((tmp_path / f"env.{rank}").read_text())
        assert "_SPARK_AUTH_SECRET" in seen["parent"], seen["parent"]  # the task had it
        assert "BF16PERF_METRICS" in seen["mine"]
        assert not {"_SPARK_AUTH_SECRET", "PYSPARK_GATEWAY_SECRET"} & set(seen["mine"])
    assert any(e.get("line") == "step 1" for e in events), events[:5]
    assert set(Path(tempfile.gettempdir()).glob("bf16perf-cmd*")) == before  # none left


def test_worker_killed_mid_barrier_stage(standalone: SparkStandaloneCluster) -> None:
    """Runs last in this module: it kills a worker of the shared cluster."""
    from bf16perf.cluster.standalone import ClusterError
    from bf16perf.workloads.config import PROFILES
    from bf16perf.workloads.launch import TrainingError, run_training

    spark = standalone.session(app_name="kill-test")
    steps: list[int] = []
    outcome: list[BaseException] = []
    config = replace(PROFILES["smoke"], measured_steps=200)

    def train() -> None:
        try:
            run_training(spark, config, 2, progress=lambda e: steps.append(e["step"]))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 180
        while not any(s >= 4 for s in steps) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert steps, "training never started"
        victim = standalone.children[2]  # worker-1
        victim.proc.kill()
        killed = time.monotonic()
        thread.join(timeout=60)
        assert not thread.is_alive(), "training still running 60 s after its worker died"
        assert outcome and isinstance(outcome[0], TrainingError), outcome
        assert time.monotonic() - killed < 60
        with pytest.raises(ClusterError, match=r"Spark worker-1 \(CPUs \d+\) died"):
            standalone.check_alive()
    finally:
        spark.stop()
