"""The local Spark standalone cluster: a master and one pinned worker per CPU set.

This module owns the daemons of a :class:`~bf16perf.machine.pinning.ClusterPlan`: launched as direct
children (the java line ``bin/spark-class`` would build; the pip package has no sbin
scripts), each pinned with taskset/numactl, bound to 127.0.0.1 on ports chosen at run time,
authenticated with a random per-session secret kept in a private ``spark-defaults.conf``
(never on a command line), REST submission off and web UIs on loopback.  Its processes never
outlive it (:mod:`bf16perf.machine.hygiene`); the driver's session is
:mod:`bf16perf.cluster.driver`'s.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bf16perf.cluster.driver import ClusterError, spark_session
from bf16perf.machine.hygiene import RUN_TAG, guarded, sweep_tagged
from bf16perf.machine.java import (
    JavaError,
    check_java,
    daemon_command,
    scala_version,
    spark_home,
    write_conf,
)
from bf16perf.machine.pinning import ClusterPlan, PinMode, format_cpu_list

__all__ = ["ClusterError", "SparkStandaloneCluster"]


# Daemons bind loopback only, on ports the kernel picks (no collisions, no silent port+1).
_LOOPBACK_ANY_PORT = ("--host", "127.0.0.1", "--port", "0", "--webui-port", "0")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    cpus: tuple[int, ...] | None


@dataclass
class SparkStandaloneCluster:
    """A local standalone cluster for one perf session.

    Attributes:
        plan: workers and their CPU sets.
        run_dir: conf, logs, work and scratch dirs live here.
        start_timeout_s: how long master + workers may take to register.
        worker_memory: memory each worker offers its executor.
    """

    plan: ClusterPlan
    run_dir: Path
    start_timeout_s: float = 90.0
    worker_memory: str = "2g"
    run_id: str = field(default_factory=lambda: secrets.token_hex(8))
    master_url: str | None = None
    children: list[_Child] = field(default_factory=list)
    _secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    _started: float = 0.0

    # -- layout -------------------------------------------------------------------------
    @property
    def conf_dir(self) -> Path:
        return self.run_dir / "conf"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def local_dir(self) -> Path:
        return self.run_dir / "local"

    def environment(self) -> dict[str, str]:
        """Environment of every process of this cluster (tagged, loopback, private conf)."""
        env = dict(os.environ)
        env.update(
            {
                RUN_TAG: self.run_id,
                "SPARK_HOME": str(spark_home()),
                "SPARK_SCALA_VERSION": scala_version(),
                "SPARK_CONF_DIR": str(self.conf_dir),
                "SPARK_LOCAL_IP": "127.0.0.1",
                "SPARK_LOCAL_DIRS": str(self.local_dir),
                "SPARK_WORKER_DIR": str(self.run_dir / "work"),
                "SPARK_LOG_DIR": str(self.log_dir),
                "SPARK_NO_DAEMONIZE": "1",
                "PYSPARK_PYTHON": sys.executable,
                "PYSPARK_DRIVER_PYTHON": sys.executable,
            }
        )
        return env

    def _write_conf(self) -> None:
        for d in (self.conf_dir, self.log_dir, self.local_dir, self.run_dir / "work"):
            d.mkdir(parents=True, exist_ok=True)
        lines = {
            "spark.authenticate": "true",
            "spark.authenticate.secret": self._secret,
            "spark.master.rest.enabled": "false",
            "spark.port.maxRetries": "16",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.local.dir": str(self.local_dir),
            "spark.worker.cleanup.enabled": "false",
            "spark.executor.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
            "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        }
        write_conf(self.conf_dir, lines)
        (self.conf_dir / "log4j2.properties").write_text(
            "rootLogger.level = info\nrootLogger.appenderRef.stdout.ref = console\n"
            "appender.console.type = Console\nappender.console.name = console\n"
            "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
            "appender.console.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n\n"
        )

    # -- processes ----------------------------------------------------------------------
    def _pin_prefix(self, cpus: tuple[int, ...]) -> list[str]:
        cpu_list = format_cpu_list(list(cpus))
        if self.plan.pin is PinMode.TASKSET:
            return ["taskset", "-c", cpu_list]
        if self.plan.pin is PinMode.NUMACTL:
            return ["numactl", f"--physcpubind={cpu_list}", "--localalloc"]
        return []

    def _spawn(self, name: str, args: list[str], cpus: tuple[int, ...] | None) -> _Child:
        log = self.log_dir / f"{name}.log"
        cmd = [*self._pin_prefix(cpus), *args] if cpus else args
        with open(log, "wb") as fh:
            env = self.environment()
            proc = subprocess.Popen(
                guarded(cmd, env),
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        child = _Child(name, proc, log, cpus)
        self.children.append(child)
        return child

    def _wait_for(self, child: _Child, pattern: str, count: int, deadline: float) -> list[str]:
        regex = re.compile(pattern)
        while True:
            text = child.log.read_text(errors="replace") if child.log.exists() else ""
            found = regex.findall(text)
            if len(found) >= count:
                return found
            if child.proc.poll() is not None:
                raise ClusterError(
                    f"Spark {child.name} exited with code {child.proc.returncode} during"
                    f" start-up; last lines of {child.log}:\n{_tail(child.log)}"
                )
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"Spark {child.name} not ready after {self.start_timeout_s:.0f} s (waiting"
                    f" for {count} x {pattern!r}); last lines of {child.log}:\n{_tail(child.log)}"
                )
            time.sleep(0.1)

    def start(self, wait_workers: bool = True) -> SparkStandaloneCluster:
        """Start master and workers; return once all workers registered.

        With ``wait_workers=False`` it returns once the master is up and the workers are
        launched, so that the driver JVM can start while they register (the session waits
        for every executor anyway); call :meth:`wait_workers` afterwards.
        """
        try:
            check_java()
        except JavaError as exc:
            raise ClusterError(str(exc)) from None
        self._write_conf()
        t0 = time.monotonic()
        deadline = t0 + self.start_timeout_s
        java = daemon_command(self.conf_dir)
        try:
            master = self._spawn(
                "master",
                [
                    *java,
                    "org.apache.spark.deploy.master.Master",
                    *_LOOPBACK_ANY_PORT,
                ],
                None,
            )
            (port,) = self._wait_for(
                master, r"Starting Spark master at spark://127\.0\.0\.1:(\d+)", 1, deadline
            )[:1]
            self.master_url = f"spark://127.0.0.1:{port}"
            for i, cpus in enumerate(self.plan.cpu_sets):
                self._spawn(
                    f"worker-{i}",
                    [
                        *java,
                        "org.apache.spark.deploy.worker.Worker",
                        *_LOOPBACK_ANY_PORT,
                        "--cores",
                        str(len(cpus)),
                        "--memory",
                        self.worker_memory,
                        "--work-dir",
                        str(self.run_dir / "work" / f"worker-{i}"),
                        self.master_url,
                    ],
                    cpus,
                )
        except BaseException:
            self.stop()
            raise
        self._started = t0
        if wait_workers:
            self.wait_workers()
        return self

    def wait_workers(self) -> None:
        """Block until every worker registered with the master (or fail with its log)."""
        deadline = self._started + self.start_timeout_s
        try:
            self._wait_for(
                self.children[0],
                r"Registering worker 127\.0\.0\.1:\d+",
                self.plan.workers,
                deadline,
            )
        except BaseException:
            self.stop()
            raise

    def check_alive(self) -> None:
        """Raise naming the lost member (and its CPUs) if a master or worker died."""
        for child in self.children:
            code = child.proc.poll()
            if code is not None:
                cpus = f" (CPUs {format_cpu_list(list(child.cpus))})" if child.cpus else ""
                raise ClusterError(
                    f"Spark {child.name}{cpus} died with code {code}; last lines of"
                    f" {child.log}:\n{_tail(child.log)}"
                )

    def stop(self, grace_s: float = 5.0) -> float:
        """Stop every process of this cluster, children and tagged grandchildren alike.

        Returns the seconds it took.  Safe to call twice.
        """
        t0 = time.monotonic()
        for child in reversed(self.children):
            if child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.terminate()
        for child in self.children:
            try:
                child.proc.wait(timeout=max(0.1, grace_s - (time.monotonic() - t0)))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
        sweep_tagged(self.run_id, grace_s=grace_s)
        elapsed = time.monotonic() - t0
        return elapsed

    # -- the application ----------------------------------------------------------------
    def session(self, app_name: str = "bf16perf", timeout_s: float = 90.0) -> Any:
        """A SparkSession with one executor per worker, returned once all registered.

        The secret reaches the driver through ``SPARK_CONF_DIR`` (set in this process while
        the JVM starts, then restored), never through ``--conf`` on its command line.
        """
        if self.master_url is None:
            raise ClusterError("start() the cluster before asking for a session")
        return spark_session(
            self.master_url,
            env=self.environment(),
            cores_per_executor=self.plan.cores_per_worker,
            executors=self.plan.workers,
            app_name=app_name,
            timeout_s=timeout_s,
            secret=self._secret,
        )
