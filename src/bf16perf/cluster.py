"""A pinned local Spark standalone cluster that always cleans up after itself.

This module owns every process the harness starts for Spark: the master and one worker per
CPU set of a :class:`~bf16perf.plan.ClusterPlan`, launched as direct children through
pyspark's ``bin/spark-class`` (the pip package has no sbin scripts), each pinned with
taskset/numactl, bound to 127.0.0.1 on ports chosen at run time, authenticated with a
random per-session secret kept in a private ``spark-defaults.conf`` (never on a command
line), REST submission off and web UIs on loopback.

Cleanup cannot be skipped: children get ``PR_SET_PDEATHSIG`` (they die with pytest, even on
SIGKILL), every process carries the ``BF16PERF_RUN_ID`` environment tag so that
grandchildren which left the process group (``pyspark.daemon`` does) are swept from
``/proc``, and :meth:`SparkStandaloneCluster.stop` runs from ``finally``/signal handlers.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bf16perf.fingerprint import java_version
from bf16perf.options import PinMode
from bf16perf.plan import ClusterPlan, format_cpu_list
from bf16perf.proc import pdeathsig_preexec

__all__ = [
    "RUN_TAG",
    "ClusterError",
    "SparkStandaloneCluster",
    "check_java",
    "pdeathsig_preexec",
    "pids_with_env",
    "spark_home",
    "sweep_tagged",
    "tagged_pids",
]

RUN_TAG = "BF16PERF_RUN_ID"
MIN_JAVA = 17


class ClusterError(RuntimeError):
    """The local cluster could not start, or lost a member."""


def spark_home() -> Path:
    """pyspark's own Spark distribution (``bin/spark-class``, jars)."""
    import pyspark

    return Path(pyspark.__file__).parent


def check_java() -> str:
    """Fail before anything starts when Java is missing or older than 17."""
    version, major = java_version()
    if version is None or major is None:
        raise ClusterError(
            "Java not found: Spark needs Java 17 or newer; install it (Debian:"
            " apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME"
        )
    if major < MIN_JAVA:
        raise ClusterError(
            f"Java {version} is too old: Spark 4 needs Java {MIN_JAVA} or newer; install"
            " openjdk-17 (or newer) and put it first on PATH or in JAVA_HOME"
        )
    return version


def tagged_pids(run_id: str, proc: Path = Path("/proc")) -> list[int]:
    """Pids of live processes whose environment carries ``BF16PERF_RUN_ID=run_id``."""
    return pids_with_env(RUN_TAG, run_id, proc)


def pids_with_env(name: str, value: str, proc: Path = Path("/proc")) -> list[int]:
    """Pids of live (not zombie) processes whose environment has ``name=value``."""
    needle = f"{name}={value}".encode()
    pids: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            env = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and needle in env.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def sweep_tagged(run_id: str, grace_s: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL after ``grace_s``, every process tagged with ``run_id``."""
    pids = tagged_pids(run_id)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and tagged_pids(run_id):
        time.sleep(0.1)
    for pid in tagged_pids(run_id):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


# The daemons do little work: C1 only and the serial collector start them in about half the
# CPU time on 2 vCPUs, where start-up is CPU-bound.
DAEMON_JVM_OPTIONS = ("-Xmx512m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto")


# Daemons bind loopback only, on ports the kernel picks (no collisions, no silent port+1).
_LOOPBACK_ANY_PORT = ("--host", "127.0.0.1", "--port", "0", "--webui-port", "0")


def _java_command(conf_dir: Path) -> list[str]:
    """The ``java`` command line that ``bin/spark-class`` would build for a daemon.

    spark-class runs a launcher JVM first only to print this line; on 2 vCPUs that extra
    JVM per process is seconds of start-up, so the line is built here instead.
    """
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home, "bin", "java")) if home else "java"
    classpath = f"{conf_dir}/:{spark_home() / 'jars'}/*"
    return [java, "-cp", classpath, *DAEMON_JVM_OPTIONS]


def _scala_version() -> str:
    """Scala version of the bundled jars (the launcher asks for it when spark-class is not
    the one setting up the environment)."""
    for jar in (spark_home() / "jars").glob("spark-core_*.jar"):
        return jar.name.split("_", 1)[1].split("-", 1)[0]
    return "2.13"


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
    timings: dict[str, float] = field(default_factory=dict)
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
                "SPARK_SCALA_VERSION": _scala_version(),
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
        os.chmod(self.conf_dir, 0o700)
        conf = self.conf_dir / "spark-defaults.conf"
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
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.writelines(f"{k} {v}\n" for k, v in lines.items())
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
            proc = subprocess.Popen(
                cmd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                preexec_fn=pdeathsig_preexec,
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
        check_java()
        self._write_conf()
        t0 = time.monotonic()
        deadline = t0 + self.start_timeout_s
        java = _java_command(self.conf_dir)
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
            self.timings["master_s"] = time.monotonic() - t0
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
        self.timings.setdefault("workers_s", time.monotonic() - self._started)

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
        self.timings["stop_s"] = elapsed
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


@contextlib.contextmanager
def _patched_environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def spark_session(
    master_url: str,
    *,
    env: dict[str, str],
    cores_per_executor: int | None,
    executors: int | None,
    app_name: str = "bf16perf",
    timeout_s: float = 90.0,
    secret: str | None = None,
) -> Any:
    """Start a SparkSession on ``master_url`` and wait until ``executors`` registered.

    The driver JVM (pyspark's gateway) belongs to this Python process, not to a cluster: it
    is not tagged with the cluster's run id (a cluster's sweep must not kill it; it exits
    by itself when this process dies, on end of its stdin).  When the gateway is already up
    (a second cluster in one process), ``secret`` goes to the new context through py4j,
    in memory; at gateway launch it comes from ``SPARK_CONF_DIR`` in ``env``.
    """
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master_url).appName(app_name)
    builder = builder.config("spark.scheduler.minRegisteredResourcesRatio", "1.0")
    builder = builder.config(
        "spark.scheduler.maxRegisteredResourcesWaitingTime", f"{timeout_s:.0f}s"
    )
    builder = builder.config("spark.executor.memory", "1g")
    builder = builder.config("spark.python.worker.reuse", "true")
    if cores_per_executor:
        builder = builder.config("spark.executor.cores", str(cores_per_executor))
        builder = builder.config("spark.task.cpus", str(cores_per_executor))
    if executors:
        builder = builder.config("spark.cores.max", str((cores_per_executor or 1) * executors))
    if secret and SparkContext._gateway is not None:
        builder = builder.config("spark.authenticate", "true")
        builder = builder.config("spark.authenticate.secret", secret)
    driver_env = {k: v for k, v in env.items() if k != RUN_TAG}
    with _patched_environ(driver_env):
        spark = builder.getOrCreate()
    if executors:
        _wait_executors(spark, executors, timeout_s)
    return spark


def _wait_executors(spark: Any, executors: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    tracker = spark.sparkContext.statusTracker()
    while True:
        # getExecutorInfos includes the driver
        seen = len(tracker.getExecutorInfos()) - 1
        if seen >= executors:
            return
        if time.monotonic() > deadline:
            spark.stop()
            raise ClusterError(
                f"only {seen} of {executors} executors registered after {timeout_s:.0f} s;"
                " see the worker logs in the run directory"
            )
        time.sleep(0.2)


def install_signal_cleanup(stop: Callable[[], object]) -> Callable[[], None]:
    """Make SIGTERM and SIGHUP run ``stop`` (Python's default skips ``finally``), then
    interrupt the run like Ctrl-C, so that pytest still writes what it measured.

    Returns a function that restores the previous handlers.
    """
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: object) -> None:
        stop()
        signal.signal(signum, previous.get(signum, signal.SIG_DFL))
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    for signum in (signal.SIGTERM, signal.SIGHUP):
        previous[signum] = signal.signal(signum, handler)

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore
