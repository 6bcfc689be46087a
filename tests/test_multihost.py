"""Several hosts for real: a master and two pinned workers (``bf16perf master`` and
``bf16perf worker``), each in its own network namespace, joined by veth pairs to a bridge
in a namespace of its own, with addresses that exist only inside them; the smoke suite
runs against that cluster with ``--spark-master``; a worker host that dies mid-run fails the
run naming it, and kill -9 of the driver leaves no training process on any host.  One
cluster serves the module (the host-loss test goes last: it kills a host), and everything
(namespaces, links, processes) is removed afterwards, also when a test fails.  Needs root
(CI is root).

Host-dependent (:mod:`tests.hostview`): ``test_smoke_suite_across_three_namespaces`` trains
fp32 and, on a bf16 host, bf16, whose kernels each host must prove on its own; without bf16
the bf16 variant is skipped, saying why.  The fault tests train fp32 only, on every host."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bf16perf.machine.hygiene import pids_with_env
from tests.hostview import host_has_bf16
from tests.netns import Hosts, SparkHosts, ip, namespaces, spark_hosts
from tests.perfrun import BF16, FP32, ROOT, perf_command

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None or len(os.sched_getaffinity(0)) < 2,
        reason="network namespaces need root, iproute2's ip and 2 CPUs (CI has them)",
    ),
]

MARK = "BF16PERF_TEST_MARK"


@dataclass(frozen=True)
class Cluster:
    hosts: Hosts
    spark: SparkHosts
    env: dict[str, str]

    def driver(self, tmp: Path, *args: str, tests: tuple[str, ...]) -> list[str]:
        """``pytest perf/`` in the master's namespace, a driver of this cluster."""
        (tmp / "baselines").mkdir(exist_ok=True)
        command = perf_command(
            "--spark-master", self.spark.url,
            "--perf-spark-secret-file", str(self.spark.secret),
            "--perf-workers", "2", "--perf-cores-per-worker", "1",
            "--perf-baselines", str(tmp / "baselines"), "--perf-no-probe", *args,
            tests=tests,
        )  # fmt: skip
        return self.hosts.command("m", command)

    @property
    def driver_env(self) -> dict[str, str]:
        return dict(self.env, SPARK_LOCAL_IP=self.spark.master)

    def processes(self, host: str, needle: str) -> list[int]:
        """Processes in ``host``'s namespace whose command line holds ``needle``."""
        found = []
        for pid in self.hosts.pids(host):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if needle.encode() in cmdline:
                found.append(pid)
        return found

    def training(self) -> dict[str, list[int]]:
        """Each worker host's training processes (a barrier task's worker subprocess)."""
        return {host: self.processes(host, "bf16perf-rank") for host in ("w1", "w2")}

    def start_training(self, tmp: Path, *args: str) -> subprocess.Popen[str]:
        """A long fp32 run, returned once rank 0 finished step 3 and both hosts train.

        The fault tests need a run that started; once in a full `make test` (2026-12-03,
        Zen 3) such a run failed at start-up, before any fault, with TensorFlow's
        coordination service saying a task "stopped sending heartbeats".  That start-up is
        retried once, saying so; any other failure to start fails the test."""
        proc, seen = self._start(tmp, *args)
        if proc.poll() is not None and "stopped sending heartbeats" in "".join(seen):
            print("the run failed at start-up (TensorFlow heartbeats), before any fault: again")
            proc, seen = self._start(tmp, *args)
        training = self.training()
        assert all(training.values()), (training, "".join(seen)[-3000:])
        return proc

    def _start(self, tmp: Path, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
        proc = subprocess.Popen(
            self.driver(tmp, "--perf-steps", "200", "--perf-no-report", *args, tests=(FP32,)),
            cwd=ROOT,
            env=self.driver_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        seen = []
        deadline = time.monotonic() + 240
        for line in proc.stdout:
            seen.append(line)
            if "[fp32] step 3/" in line or time.monotonic() > deadline:
                break
        else:  # its output ran out: the session ended
            proc.wait(timeout=60)
        return proc, seen


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("multihost")
    mark = f"multihost-{os.getpid()}"
    env = dict(os.environ, **{MARK: mark})
    with namespaces("a") as hosts:
        yield Cluster(hosts, spark_hosts(hosts, tmp, env), env)
    end = time.monotonic() + 15
    while pids_with_env(MARK, mark) and time.monotonic() < end:
        time.sleep(0.2)
    assert pids_with_env(MARK, mark) == []


def test_smoke_suite_across_three_namespaces(cluster: Cluster, tmp_path: Path) -> None:
    workers = cluster.spark.workers
    reports = tmp_path / "reports"
    driver = subprocess.run(
        cluster.driver(
            tmp_path, "--perf-repeats", "1", "--perf-save-baseline", "--perf-reports",
            str(reports), tests=(FP32, BF16),  # bf16 skips on a host without bf16
        ),
        cwd=ROOT,
        env=cluster.driver_env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )  # fmt: skip
    out = driver.stdout + driver.stderr
    assert driver.returncode == 0, out[-4000:]
    report = json.loads((reports / "latest" / "report.json").read_text())
    (run,) = [r for r in report["runs"] if r["precision"] == "fp32"]
    # each worker trained in its own namespace, at its own address, on its own CPU
    assert sorted(w["host"] for w in run["workers"]) == workers, run["workers"]
    assert run["workers"][0]["losses"] == run["workers"][1]["losses"]
    assert all(w["cpu_window"] and w["cpu_window"]["window_s"] > 0 for w in run["workers"])
    # every executor's host read its own cpuinfo and proved its own kernels
    hosts = report["cluster"]["hosts"]
    assert sorted(h["host"] for h in hosts) == workers, hosts
    assert len({h["capability"] for h in hosts}) == 1
    proofs = run["kernels"]["hosts"]
    assert [p["host"] for p in proofs] == workers, proofs
    assert all(p["cpu_isa"] and p["message"].startswith("fp32: ") for p in proofs), proofs
    html = (reports / "latest" / "report.html").read_text()
    assert all(f"{address}: {proofs[0]['message']}" in html for address in workers)
    # Spark RPC encrypted by default (#32), read from Spark's own launch line of each
    # executor, in its worker host's log: the network settings executors start with
    state = cluster.spark.secret.parent
    launched = [
        line
        for name in ("w1", "w2")
        for log in (state / name / "work").glob("app-*/*/stderr")
        for line in log.read_text(errors="replace").splitlines()
        if line.startswith("Spark Executor Command:")
    ]
    assert len(launched) >= 2, launched
    assert all('"-Dspark.network.crypto.enabled=true"' in line for line in launched), launched
    bf16_runs = [r for r in report["runs"] if r["precision"] == "bf16"]
    if host_has_bf16():  # bf16 trained too, each host proving its own bf16 kernels
        (bf16,) = bf16_runs
        assert [p["host"] for p in bf16["kernels"]["hosts"]] == workers, bf16["kernels"]
        assert all(p["bf16_ran"] for p in bf16["kernels"]["hosts"]), bf16["kernels"]
    else:  # skipped before the cluster was asked for anything, and said why
        assert bf16_runs == [] and "no bf16 hardware" in out, out[-3000:]


def test_kill_9_of_the_driver_leaves_no_training_process(cluster: Cluster, tmp_path: Path) -> None:
    """The driver's host dies mid-run (SIGKILL, no clean-up of its own): every worker host
    stops training, and its executor goes, within a bounded time; the workers stay."""
    proc = cluster.start_training(tmp_path)
    try:
        proc.kill()
        proc.wait()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30 and any(cluster.training().values()):
            time.sleep(0.1)
        print(f"training gone {time.monotonic() - t0:.1f} s after kill -9 of the driver")
        while time.monotonic() - t0 < 30 and (
            any(cluster.processes(h, "CoarseGrainedExecutorBackend") for h in ("w1", "w2"))
            or cluster.processes("m", "SparkSubmit")
        ):
            time.sleep(0.1)
        print(f"executors and driver JVM gone {time.monotonic() - t0:.1f} s after it")
        assert not any(cluster.training().values()), cluster.training()
        for host in ("w1", "w2"):
            assert not cluster.processes(host, "CoarseGrainedExecutorBackend"), host
            assert cluster.processes(host, "deploy.worker.Worker"), f"{host}'s worker died"
        assert not cluster.processes("m", "SparkSubmit"), "the driver's JVM outlived it"
    finally:
        if proc.poll() is None:
            proc.kill()


def _failed_naming(proc: subprocess.Popen[str], out: str, pattern: str) -> None:
    """The session failed its tests with a message matching ``pattern`` (printed)."""
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, out[-4000:]
    named = re.search(pattern, out)
    assert named, out[-4000:]
    print(out[named.start() : named.start() + 1500])


def test_a_worker_host_cut_off_mid_run_is_named_within_the_step_timeout(
    cluster: Cluster, tmp_path: Path
) -> None:
    """w2's link goes down mid-run: nothing answers there any more, and Spark would notice
    only after its network timeout (120 s).  The surviving worker's step timeout fails
    the run, and its probe of the peers names w2's address.  The link comes back after,
    and the test waits for w2's executor of that run to go."""
    cut = cluster.spark.workers[1]
    proc = cluster.start_training(tmp_path, "--perf-step-timeout", "12")  # a step is ~1 s
    try:
        t0 = time.monotonic()
        ip("-n", cluster.hosts.ns("w2"), "link", "set", "eth0", "down")
        try:
            out, _ = proc.communicate(timeout=180)
        finally:
            ip("-n", cluster.hosts.ns("w2"), "link", "set", "eth0", "up")
        failed_s = time.monotonic() - t0
        print(f"run failed {failed_s:.1f} s after host {cut} was cut off")
        _failed_naming(proc, out, rf"fp32 run failed: executor host {re.escape(cut)} stopped")
        assert failed_s < 12 + 30, out[-4000:]  # the step timeout, the probe, the exit
    finally:
        if proc.poll() is None:
            proc.kill()
    end = time.monotonic() + 120
    while any(cluster.training().values()) or cluster.processes(
        "w2", "CoarseGrainedExecutorBackend"
    ):
        assert time.monotonic() < end, "w2's executor outlived its application"
        time.sleep(0.5)


def test_a_worker_host_that_dies_mid_run_fails_the_run_naming_it(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Every process of worker host w2 is SIGKILLed mid-run (the host crashed): the run
    fails well within the step timeout, naming w2's address, and the surviving host stops
    training.  Last in the module: the cluster has lost a host afterwards."""
    lost = cluster.spark.workers[1]
    proc = cluster.start_training(tmp_path, "--perf-step-timeout", "60")
    try:
        t0 = time.monotonic()
        cluster.hosts.crash("w2")
        out, _ = proc.communicate(timeout=180)
        failed_s = time.monotonic() - t0
        print(f"run failed {failed_s:.1f} s after host {lost} died")
        _failed_naming(proc, out, rf"fp32 run failed: executor host {re.escape(lost)} left the")
        assert failed_s < 60, out[-4000:]
        end = time.monotonic() + 15
        while cluster.training()["w1"] and time.monotonic() < end:
            time.sleep(0.2)
        assert cluster.training()["w1"] == [], "the surviving host still trains"
    finally:
        if proc.poll() is None:
            proc.kill()
