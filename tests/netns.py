"""Network namespaces as hosts, for the multi-host test and benchmark: a bridge in a
namespace of its own, one namespace per host joined to it by a veth pair, addresses that
exist only inside them, and a teardown that kills whatever runs inside and deletes every
namespace (and with it every link), whatever happened.  Needs root."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Hosts", "Loopback", "SparkHosts", "ip", "namespaces", "spark_hosts", "wait_for"]


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

    def pids(self, host: str) -> list[int]:
        """The processes running in ``host``'s namespace."""
        out = subprocess.run(
            ["ip", "netns", "pids", self.ns(host)], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in out.split()]

    def crash(self, host: str) -> None:
        """``host`` dies as a machine does: SIGKILL to everything in its namespace."""
        for pid in self.pids(host):
            with suppress(ProcessLookupError):
                os.kill(pid, 9)

    def command(self, host: str, argv: list[str]) -> list[str]:
        """``argv`` run on ``host``: inside its namespace."""
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def spawn(self, host: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        with open(log, "wb") as fh:
            self.procs.append(
                subprocess.Popen(
                    self.command(host, argv), stdout=fh, stderr=subprocess.STDOUT, env=env
                )
            )

    def stop(self) -> None:
        """Stop what :meth:`spawn` started (SIGTERM, SIGKILL after 10 s)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def teardown(self) -> None:
        self.stop()
        names = [*self.addresses, "br"]
        for host in names:  # whatever still runs inside a namespace dies with it
            self.crash(host)
        for host in names:
            subprocess.run(["ip", "netns", "del", self.ns(host)], capture_output=True)


@dataclass
class Loopback(Hosts):
    """Every host at 127.0.0.1 in this namespace: the same daemons as across namespaces,
    to compare against (:func:`spark_hosts` takes either)."""

    prefix: str = "loopback"
    subnet: str = "127.0.0"

    def add(self, host: str, last_octet: int) -> str:
        self.addresses[host] = "127.0.0.1"
        return "127.0.0.1"

    def command(self, host: str, argv: list[str]) -> list[str]:
        return argv

    def teardown(self) -> None:
        self.stop()


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
    raise TimeoutError(
        f"{count} x {text!r} not in {log} after {timeout_s:.0f} s:\n"
        + (log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)")
    )


@dataclass(frozen=True)
class SparkHosts:
    """A Spark cluster across namespaces: the master's URL and address (the driver's
    namespace too), the workers' addresses, and the secret file they share."""

    url: str
    master: str
    workers: list[str]
    secret: Path


def spark_hosts(hosts: Hosts, tmp: Path, env: dict[str, str], port: int = 7077) -> SparkHosts:
    """``bf16perf master`` on host ``m`` (at ``port``) and a ``bf16perf worker`` pinned to
    CPU 0 on ``w1`` and to CPU 1 on ``w2``, all registered; state and logs under ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    secret = tmp / "secret"
    secret.write_text("namespace-cluster-secret-" + os.urandom(8).hex())
    secret.chmod(0o600)
    bf16perf = [sys.executable, "-m", "bf16perf.console"]
    master = hosts.add("m", 1)
    url = f"spark://{master}:{port}"
    hosts.spawn(
        "m",
        [*bf16perf, "master", "--host", master, "--port", str(port), "--secret-file",
         str(secret), "--state", str(tmp / "m")],
        tmp / "master.log", env,
    )  # fmt: skip
    wait_for(tmp / "master.log", f"Starting Spark master at {url}", 1, 90)
    workers = []
    for i, name in enumerate(("w1", "w2")):
        address = hosts.add(name, 2 + i)
        hosts.spawn(
            name,
            [*bf16perf, "worker", "--master", url, "--host", address, "--cpus", str(i),
             "--secret-file", str(secret), "--state", str(tmp / name)],
            tmp / f"{name}.log", env,
        )  # fmt: skip
        workers.append(address)
    wait_for(tmp / "master.log", "Registering worker", 2, 90)
    return SparkHosts(url, master, workers, secret)
