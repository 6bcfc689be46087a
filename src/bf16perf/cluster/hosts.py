"""Pinned Spark daemons for a cluster of several hosts: ``bf16perf master`` and
``bf16perf worker``, the way Analytics Zoo's ``start-worker-with-numactl.sh`` built the
reference recipe's cluster.

Each runs one Spark standalone daemon in the foreground (a service manager, ``ssh`` or a
test keeps it), bound to the given address, authenticated with the secret in
``--secret-file`` (the same file on every host and for the driver), in a private
configuration directory (mode 0700).  A worker is pinned to a CPU list or a NUMA node and
offers exactly those cores.  The daemon dies with the command (``PR_SET_PDEATHSIG``), and
SIGTERM or SIGINT stop it.  The driver side: ``pytest perf/ --spark-master spark://HOST:PORT
--perf-spark-secret-file FILE`` (and ``SPARK_LOCAL_IP`` where the driver's host has several
addresses).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bf16perf.machine.hygiene import guarded
from bf16perf.machine.java import daemon_command, scala_version, spark_home, write_conf
from bf16perf.machine.pinning import format_cpu_list, parse_cpu_list

__all__ = [
    "DaemonError",
    "DaemonSpec",
    "conf_lines",
    "master_spec",
    "read_secret",
    "run",
    "worker_spec",
]


class DaemonError(ValueError):
    """A bad daemon argument: the message names it and the fix."""


#: The shortest secret accepted, in bytes (``secrets.token_urlsafe(32)`` gives 43).
MIN_SECRET_BYTES = 32


def read_secret(path: Path) -> str:
    """The shared secret in ``path``: one line of at least :data:`MIN_SECRET_BYTES` bytes,
    in a file only its owner can read."""
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DaemonError(f"--secret-file {path}: cannot read it ({exc})") from None
    if len(text.encode()) < MIN_SECRET_BYTES or "\n" in text:
        raise DaemonError(
            f"--secret-file {path}: one line of at least {MIN_SECRET_BYTES} bytes is expected"
            " (python -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE)"
        )
    if path.stat().st_mode & 0o077:
        raise DaemonError(f"--secret-file {path}: readable by group or others; chmod 600 it")
    return text


def crypto_lines() -> dict[str, str]:
    """Spark RPC encryption (AES, keyed by the authentication), on unless
    ``BF16PERF_SPARK_CRYPTO=0``: a multi-host cluster's traffic crosses a network."""
    on = os.environ.get("BF16PERF_SPARK_CRYPTO", "1") != "0"
    return {"spark.network.crypto.enabled": "true" if on else "false"}


def conf_lines(secret: str, host: str, local_dir: Path) -> dict[str, str]:
    """``spark-defaults.conf`` of a daemon (and of the driver that talks to it): secret,
    RPC encryption, no REST server, no web UI kill handler."""
    return {
        "spark.authenticate": "true",
        "spark.authenticate.secret": secret,
        **crypto_lines(),
        "spark.ui.killEnabled": "false",
        "spark.master.rest.enabled": "false",
        "spark.ui.enabled": "false",
        "spark.local.dir": str(local_dir),
        "spark.worker.cleanup.enabled": "false",
        "spark.driver.host": host,
        "spark.executor.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    }


@dataclass(frozen=True)
class DaemonSpec:
    """One daemon: its command line (pinning prefix included) and its environment."""

    argv: list[str]
    env: dict[str, str]
    description: str


def _env(conf: Path, host: str, state: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SPARK_HOME": str(spark_home()),
            "SPARK_SCALA_VERSION": scala_version(),
            "SPARK_CONF_DIR": str(conf),
            "SPARK_LOCAL_IP": host,
            # advertise the address, not the host name: a name may resolve to loopback
            # (or to another interface) on the peers
            "SPARK_LOCAL_HOSTNAME": host,
            "SPARK_LOCAL_DIRS": str(state / "local"),
            "SPARK_WORKER_DIR": str(state / "work"),
            "SPARK_NO_DAEMONIZE": "1",
            "PYSPARK_PYTHON": sys.executable,
        }
    )
    return env


def check_port_free(host: str, port: int) -> None:
    """Refuse a master port that is taken: Spark's master would move to the next free port
    without a word, while every worker and driver is told the one asked for."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise DaemonError(
                f"--host {host} --port {port}: cannot listen there ({exc.strerror}): another"
                " master or program holds the port (stop it, or choose another --port), or"
                f" {host} is not an address of this machine"
            ) from None


def master_spec(host: str, port: int, secret: str, state: Path) -> DaemonSpec:
    """The master, bound to ``host:port`` (check it with :func:`check_port_free` first)."""
    conf = write_conf(state / "conf", conf_lines(secret, host, state / "local"))
    argv = [
        *daemon_command(conf),
        "org.apache.spark.deploy.master.Master",
        "--host", host, "--port", str(port), "--webui-port", "0",
    ]  # fmt: skip
    return DaemonSpec(argv, _env(conf, host, state), f"master spark://{host}:{port}")


def worker_spec(
    master: str,
    host: str,
    secret: str,
    state: Path,
    cpus: str | None = None,
    numa_node: int | None = None,
    memory: str = "2g",
    sys_root: Path = Path("/sys/devices/system"),
) -> DaemonSpec:
    """A worker of ``master`` on ``host``, pinned to ``cpus`` (a CPU list) or to a NUMA
    node's CPUs and memory, offering exactly those cores."""
    if not master.startswith("spark://"):
        raise DaemonError(f"--master {master}: a spark://HOST:PORT URL is expected")
    if (cpus is None) == (numa_node is None):
        raise DaemonError("give one of --cpus LIST or --numa-node N: the worker's cores")
    if numa_node is not None:
        node = sys_root / "node" / f"node{numa_node}" / "cpulist"
        try:
            chosen = parse_cpu_list(node.read_text())
        except OSError:
            raise DaemonError(f"--numa-node {numa_node}: no such node ({node})") from None
        prefix = ["numactl", f"--cpunodebind={numa_node}", f"--membind={numa_node}"]
    else:
        try:
            chosen = parse_cpu_list(cpus or "")
        except ValueError:
            raise DaemonError(f"--cpus {cpus}: a CPU list like 0-11 or 0,2,4 is expected") from None
        allowed = os.sched_getaffinity(0)
        missing = sorted(set(chosen) - allowed)
        if missing:
            raise DaemonError(
                f"--cpus {cpus}: CPUs {format_cpu_list(missing)} are not available here"
                f" (this host offers {format_cpu_list(sorted(allowed))})"
            )
        prefix = ["taskset", "-c", format_cpu_list(chosen)]
    if shutil.which(prefix[0]) is None:
        how = f"--numa-node {numa_node}" if numa_node is not None else f"--cpus {cpus}"
        other = f"; or pin with --cpus {format_cpu_list(chosen)}" if numa_node is not None else ""
        raise DaemonError(
            f"{how}: {prefix[0]} is not installed on this host, so the worker cannot be pinned"
            f" (apt-get install {'numactl' if numa_node is not None else 'util-linux'}{other})"
        )
    conf = write_conf(state / "conf", conf_lines(secret, host, state / "local"))
    argv = [
        *prefix,
        *daemon_command(conf),
        "org.apache.spark.deploy.worker.Worker",
        "--host", host, "--port", "0", "--webui-port", "0",
        "--cores", str(len(chosen)), "--memory", memory,
        "--work-dir", str(state / "work"),
        master,
    ]  # fmt: skip
    where = f"CPUs {format_cpu_list(chosen)}" + (
        f" (NUMA node {numa_node})" if numa_node is not None else ""
    )
    return DaemonSpec(argv, _env(conf, host, state), f"worker {host} on {where} of {master}")


def run(spec: DaemonSpec) -> int:
    """Run the daemon in the foreground until it exits or this process is told to stop."""
    try:
        proc = subprocess.Popen(guarded(spec.argv, spec.env), env=spec.env)
    except OSError as exc:
        raise DaemonError(f"cannot start {spec.argv[0]}: {exc.strerror}") from None
    print(f"bf16perf: {spec.description}", flush=True)

    def stop(signum: int, _: FrameType | None) -> None:
        proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
