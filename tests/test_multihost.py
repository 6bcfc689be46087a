"""Several hosts for real: a master and two pinned workers (``bf16perf master`` and
``bf16perf worker``), each in its own network namespace, joined by veth pairs to a bridge
in a namespace of its own, with addresses that exist only inside them; the smoke suite
runs against that cluster with ``--spark-master``, and everything (namespaces, links,
processes) is removed afterwards, also when the test fails.  Needs root (CI is root)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bf16perf.hygiene import pids_with_env
from tests.perfrun import ROOT, perf_command

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or len(os.sched_getaffinity(0)) < 2,
    reason="network namespaces need root, iproute2's ip and 2 CPUs (CI has them)",
)

MARK = "BF16PERF_TEST_MARK"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Hosts:
    """Namespaces ``<prefix>-br`` (the bridge) and one per host, with its address."""

    prefix: str
    subnet: str
    addresses: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def add(self, host: str, last_octet: int) -> str:
        address = f"{self.subnet}.{last_octet}"
        ns, veth = self.ns(host), f"v{self.prefix[-6:]}{host}"
        ip("netns", "add", ns)
        ip("-n", self.ns("br"), "link", "add", veth, "type", "veth", "peer", "name", "eth0",
           "netns", ns)  # fmt: skip
        ip("-n", self.ns("br"), "link", "set", veth, "master", "br0", "up")
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "link", "set", "lo", "up")
        self.addresses[host] = address
        return address

    def spawn(self, host: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        with open(log, "wb") as fh:
            self.procs.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", self.ns(host), *argv],
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )

    def teardown(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        names = [*self.addresses, "br"]
        for host in names:  # whatever still runs inside a namespace dies with it
            pids = subprocess.run(
                ["ip", "netns", "pids", self.ns(host)], capture_output=True, text=True
            ).stdout.split()
            for pid in pids:
                with suppress(ProcessLookupError):
                    os.kill(int(pid), 9)
        for host in names:
            subprocess.run(["ip", "netns", "del", self.ns(host)], capture_output=True)


@contextmanager
def namespaces(tag: str) -> Iterator[Hosts]:
    n = os.getpid() % 200 + 20
    hosts = Hosts(prefix=f"bfp{os.getpid()}{tag}", subnet=f"10.231.{n}")
    try:
        ip("netns", "add", hosts.ns("br"))
        ip("-n", hosts.ns("br"), "link", "add", "br0", "type", "bridge")
        ip("-n", hosts.ns("br"), "link", "set", "br0", "up")
        yield hosts
    finally:
        hosts.teardown()
    ours = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert hosts.prefix not in ours, ours


def wait_for(log: Path, text: str, count: int, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        found = log.read_text(errors="replace").count(text) if log.exists() else 0
        if found >= count:
            return
        time.sleep(0.2)
    pytest.fail(
        f"{count} x {text!r} not in {log} after {timeout_s:.0f} s:\n"
        + (log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)")
    )


def test_smoke_suite_across_three_namespaces(tmp_path: Path) -> None:
    mark = f"multihost-{os.getpid()}"
    env = dict(os.environ, **{MARK: mark})
    secret = tmp_path / "secret"
    secret.write_text("multi-host-test-secret-" + os.urandom(8).hex())
    secret.chmod(0o600)
    bf16perf = [sys.executable, "-m", "bf16perf.command"]
    with namespaces("a") as hosts:
        master = hosts.add("m", 1)
        workers = [hosts.add("w1", 2), hosts.add("w2", 3)]
        url = f"spark://{master}:7077"
        hosts.spawn(
            "m",
            [*bf16perf, "master", "--host", master, "--secret-file", str(secret),
             "--state", str(tmp_path / "m")],
            tmp_path / "master.log", env,
        )  # fmt: skip
        wait_for(tmp_path / "master.log", f"Starting Spark master at {url}", 1, 90)
        for i, (name, address) in enumerate(zip(("w1", "w2"), workers, strict=True)):
            hosts.spawn(
                name,
                [*bf16perf, "worker", "--master", url, "--host", address, "--cpus", str(i),
                 "--secret-file", str(secret), "--state", str(tmp_path / name)],
                tmp_path / f"{name}.log", env,
            )  # fmt: skip
        wait_for(tmp_path / "master.log", "Registering worker", 2, 90)

        reports = tmp_path / "reports"
        command = perf_command(
            "--spark-master", url,
            "--perf-spark-secret-file", str(secret),
            "--perf-workers", "2", "--perf-cores-per-worker", "1",
            "--perf-repeats", "1", "--perf-save-baseline",
            "--perf-baselines", str(tmp_path / "baselines"),
            "--perf-reports", str(reports), "--perf-no-probe",
            select="test_training and not avx512",
        )  # fmt: skip
        driver = subprocess.run(
            ["ip", "netns", "exec", hosts.ns("m"), *command],
            cwd=ROOT,
            env=dict(env, SPARK_LOCAL_IP=master),
            capture_output=True,
            text=True,
            timeout=540,
            check=False,
        )
        out = driver.stdout + driver.stderr
        assert driver.returncode == 0, out[-4000:]
        report = json.loads((reports / "latest" / "report.json").read_text())
        (run,) = [r for r in report["runs"] if r["precision"] == "fp32"]
        # each worker trained in its own namespace, at its own address, on its own CPU
        assert sorted(w["host"] for w in run["workers"]) == workers, run["workers"]
        assert run["workers"][0]["losses"] == run["workers"][1]["losses"]
        assert all(w["cpu_window"] and w["cpu_window"]["window_s"] > 0 for w in run["workers"])
        # every executor's host read its own cpuinfo: one kind here, so no refusal
        hosts = report["cluster"]["hosts"]
        assert sorted(h["host"] for h in hosts) == workers, hosts
        assert len({h["capability"] for h in hosts}) == 1
        html = (reports / "latest" / "report.html").read_text()
        assert all(address in html for address in workers)
    end = time.monotonic() + 15
    while pids_with_env(MARK, mark) and time.monotonic() < end:
        time.sleep(0.2)
    assert pids_with_env(MARK, mark) == []
