"""bf16perf master / worker: their arguments, pinning and private configuration."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from bf16perf.cluster.hosts import DaemonError, master_spec, read_secret, worker_spec
from bf16perf.console import main

SECRET = "a-secret-of-enough-length-for-the-cluster"


def secret_file(tmp_path: Path, text: str = SECRET, mode: int = 0o600) -> Path:
    path = tmp_path / "secret"
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def test_secret_file_checks(tmp_path: Path) -> None:
    assert read_secret(secret_file(tmp_path)) == SECRET
    with pytest.raises(DaemonError, match="at least 32 bytes"):
        read_secret(secret_file(tmp_path, "short-but-not-that-short-0123"))
    for mode in (0o644, 0o640, 0o604):
        with pytest.raises(DaemonError, match="readable by group or others; chmod 600"):
            read_secret(secret_file(tmp_path, mode=mode))
    with pytest.raises(DaemonError, match="cannot read it"):
        read_secret(tmp_path / "missing")


def test_master_binds_its_address_with_a_private_conf(tmp_path: Path) -> None:
    spec = master_spec("10.0.0.1", 7077, SECRET, tmp_path)
    assert spec.argv[-6:] == ["--host", "10.0.0.1", "--port", "7077", "--webui-port", "0"]
    conf = tmp_path / "conf" / "spark-defaults.conf"
    text = conf.read_text()
    assert f"spark.authenticate.secret {SECRET}" in text
    # RPC encrypted and no kill handler by default (#32); encryption can be turned off
    assert "spark.network.crypto.enabled true" in text and "spark.ui.killEnabled false" in text
    assert conf.stat().st_mode & 0o077 == 0 and (tmp_path / "conf").stat().st_mode & 0o077 == 0
    assert spec.env["SPARK_LOCAL_IP"] == "10.0.0.1"


def test_worker_is_pinned_and_offers_exactly_its_cores(tmp_path: Path) -> None:
    cpu = min(os.sched_getaffinity(0))
    spec = worker_spec("spark://10.0.0.1:7077", "10.0.0.2", SECRET, tmp_path, cpus=str(cpu))
    assert spec.argv[:3] == ["taskset", "-c", str(cpu)]
    assert spec.argv[spec.argv.index("--cores") + 1] == "1"
    assert spec.argv[-1] == "spark://10.0.0.1:7077"
    with pytest.raises(DaemonError, match="are not available here"):
        worker_spec("spark://m:7077", "h", SECRET, tmp_path, cpus="4096")
    with pytest.raises(DaemonError, match="give one of --cpus LIST or --numa-node N"):
        worker_spec("spark://m:7077", "h", SECRET, tmp_path)
    with pytest.raises(DaemonError, match="a spark://HOST:PORT URL"):
        worker_spec("m:7077", "h", SECRET, tmp_path, cpus="0")
    nodes = tmp_path / "sys" / "node" / "node1"
    nodes.mkdir(parents=True)
    (nodes / "cpulist").write_text("2-5\n")
    with pytest.raises(DaemonError, match="--numa-node 7: no such node"):
        worker_spec("spark://m:7077", "h", SECRET, tmp_path, numa_node=7, sys_root=tmp_path)


def test_numa_pinning_needs_numactl_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With numactl on PATH the worker is pinned by it; without, ``--numa-node`` is one line
    naming the missing program and the --cpus that would do, before anything starts."""
    nodes = tmp_path / "sys" / "node" / "node1"
    nodes.mkdir(parents=True)
    (nodes / "cpulist").write_text("2-5\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    numactl = bin_dir / "numactl"
    numactl.write_text("#!/bin/sh\nexit 0\n")
    numactl.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    spec = worker_spec("spark://m:7077", "h", SECRET, tmp_path, numa_node=1,
                       sys_root=tmp_path / "sys")  # fmt: skip
    assert spec.argv[:3] == ["numactl", "--cpunodebind=1", "--membind=1"]
    assert spec.argv[spec.argv.index("--cores") + 1] == "4"
    numactl.unlink()
    with pytest.raises(DaemonError, match=r"--numa-node 1: numactl is not installed") as exc:
        worker_spec("spark://m:7077", "h", SECRET, tmp_path, numa_node=1,
                    sys_root=tmp_path / "sys")  # fmt: skip
    assert "or pin with --cpus 2-5" in str(exc.value)
    secret = str(secret_file(tmp_path))
    code = main(["worker", "--master", "spark://m:7077", "--host", "h", "--numa-node", "0",
                 "--secret-file", secret, "--state", str(tmp_path / "s")])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2 and "bf16perf: " not in out  # refused before "started" is printed
    assert "numactl is not installed" in err or "no such node" in err


def test_command_line_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = secret_file(tmp_path, mode=0o644)
    code = main(["worker", "--master", "spark://m:7077", "--host", "h", "--cpus", "0",
                 "--secret-file", str(bad), "--state", str(tmp_path / "s")])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.strip().endswith("readable by group or others; chmod 600 it")


def test_a_master_port_in_use_is_refused_not_moved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Spark's master would take the next free port silently; the workers would not find it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["master", "--host", "127.0.0.1", "--port", str(port),
                     "--secret-file", str(secret_file(tmp_path)),
                     "--state", str(tmp_path / "s")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert f"--host 127.0.0.1 --port {port}: cannot listen there" in err and "\n" not in err
    assert not (tmp_path / "s").exists()  # refused before anything was written


def test_hosts_that_differ_in_bf16_capability_are_refused() -> None:
    from bf16perf.cluster.executors import HostFacts, mixed

    zen4 = HostFacts("10.0.0.2", "AMD EPYC 9R14", "avx512_bf16", [0])
    spr = HostFacts("10.0.0.3", "Intel Xeon Platinum 8488C", "amx", [0])
    assert mixed([zen4, HostFacts("10.0.0.4", "AMD EPYC 9R14", "avx512_bf16", [1])]) is None
    reason = mixed([zen4, spr])
    assert reason is not None
    assert "10.0.0.2 avx512_bf16 (AMD EPYC 9R14), 10.0.0.3 amx" in reason
    assert "--perf-allow-mixed-hosts" in reason


def test_a_failing_worker_names_the_peers_that_stopped_answering() -> None:
    """What a barrier task adds to its error when its worker dies or stalls: the peers
    whose training process no longer accepts a connection (their host is gone)."""
    import socket

    from bf16perf.workloads.task import silent_peers, unreachable_hosts

    with socket.socket() as alive, socket.socket() as closed:
        alive.bind(("127.0.0.1", 0))
        alive.listen()
        closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
        up, down = (f"127.0.0.1:{s.getsockname()[1]}" for s in (alive, closed))
        refused = f"rank 2 at {down} (refused: its training process has ended)"
        assert silent_peers([up, up, down], me=0) == [refused]
        assert silent_peers([down, up], me=0) == []  # a worker never probes itself
        # a refusal is a host that answered: not a lost host (a run failing on all ranks)
        assert unreachable_hosts(f"exited with code 1; peers not answering: {refused}") == []


def test_a_peer_whose_host_is_gone_names_the_host() -> None:
    """No answer (a cut network, a dead host) is a lost host: the run's message names it
    and the harness reads it back from there (Spark itself notices only after 120 s)."""
    from bf16perf.workloads.task import HOST_GONE, silent_peers, unreachable_hosts

    # TEST-NET-1 (RFC 5737, documentation only): no host answers there
    (gone,) = silent_peers(["127.0.0.1:1", "192.0.2.77:5000"], me=0, timeout_s=0.5)
    assert gone.startswith("rank 1 at 192.0.2.77:5000 (") and gone.endswith(f": {HOST_GONE})")
    message = f"rank 0 on 10.0.0.2: no step finished within 60 s; peers not answering: {gone}"
    assert unreachable_hosts(message) == ["192.0.2.77"]


class _Tracker:
    def __init__(self, hosts: list[str]) -> None:
        self.hosts = hosts

    def getExecutorInfos(self) -> list[object]:  # pyspark's name
        from types import SimpleNamespace

        return [SimpleNamespace(host=h) for h in self.hosts]


def test_a_host_whose_executor_left_is_named_and_stops_the_session(tmp_path: Path) -> None:
    """The executors' hosts before a failed run against after it: the host that is gone
    is named, and the cluster refuses further runs (they would wait for its slots)."""
    from types import SimpleNamespace

    from bf16perf.cluster.bringup import SparkCluster

    tracker = _Tracker(["10.0.0.1", "10.0.0.2", "10.0.0.3"])  # the driver and two executors
    context = SimpleNamespace(statusTracker=lambda: tracker)
    cluster = SparkCluster(SimpleNamespace(sparkContext=context), "spark://10.0.0.1:7077",
                           None, None, 1.0, tmp_path)  # fmt: skip
    before = cluster.executor_hosts()
    assert cluster.lost(before, wait_s=0) is None and cluster.broken is None  # nothing left
    tracker.hosts = ["10.0.0.1", "10.0.0.2"]
    lost = cluster.lost(before, wait_s=0)
    assert lost is not None and lost.startswith("executor host 10.0.0.3 left the cluster")
    assert cluster.broken == lost
