"""Java for Spark: which one is on PATH (or in ``$JAVA_HOME``), whether it is new enough, and
the ``java`` command line of a Spark daemon, and the private configuration directory it
reads.

Checked when a perf session activates, before the machine lock and the kernel probe, so a
missing or old Java costs a second, not a wait.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

__all__ = [
    "MIN_JAVA",
    "JavaError",
    "check_java",
    "daemon_command",
    "java_version",
    "scala_version",
    "spark_home",
    "write_conf",
]

MIN_JAVA = 17


class JavaError(RuntimeError):
    """Java is missing or too old for Spark."""


def java_version(java: str | None = None) -> tuple[str | None, int | None]:
    """``(version string, major)`` of ``java`` on PATH (or ``$JAVA_HOME/bin/java``)."""
    exe = java or _java_executable()
    if exe is None:
        return None, None
    try:
        out = subprocess.run(
            [exe, "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    m = re.search(r'version "([^"]+)"', out)
    if not m:
        return None, None
    version = m.group(1)
    parts = version.split(".")
    major = (
        int(parts[1])
        if parts[0] == "1" and len(parts) > 1
        else int(re.sub(r"\D.*", "", parts[0]) or 0)
    )
    return version, major


def _java_executable() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").is_file():
        return str(Path(home, "bin", "java"))
    return shutil.which("java")


def check_java() -> str:
    """Fail before anything starts when Java is missing or older than 17."""
    version, major = java_version()
    if version is None or major is None:
        raise JavaError(
            "Java not found: Spark needs Java 17 or newer; install it (Debian:"
            " apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME"
        )
    if major < MIN_JAVA:
        raise JavaError(
            f"Java {version} is too old: Spark 4 needs Java {MIN_JAVA} or newer; install"
            " openjdk-17 (or newer) and put it first on PATH or in JAVA_HOME"
        )
    return version


def spark_home() -> Path:
    """pyspark's own Spark distribution (``bin/spark-class``, jars)."""
    import pyspark

    return Path(pyspark.__file__).parent


# The daemons do little work: C1 only and the serial collector start them in about half the
# CPU time on 2 vCPUs, where start-up is CPU-bound.
DAEMON_JVM_OPTIONS = ("-Xmx512m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto")


def daemon_command(conf_dir: Path) -> list[str]:
    """The ``java`` command line that ``bin/spark-class`` would build for a daemon.

    spark-class runs a launcher JVM first only to print this line; on 2 vCPUs that extra
    JVM per process is seconds of start-up, so the line is built here instead.
    """
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home, "bin", "java")) if home else "java"
    classpath = f"{conf_dir}/:{spark_home() / 'jars'}/*"
    return [java, "-cp", classpath, *DAEMON_JVM_OPTIONS]


def write_conf(directory: Path, lines: dict[str, str]) -> Path:
    """A private configuration directory (0700) holding ``spark-defaults.conf`` (0600):
    it may carry the authentication secret."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    conf = directory / "spark-defaults.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.writelines(f"{k} {v}\n" for k, v in lines.items())
    return directory


def scala_version() -> str:
    """Scala version of the bundled jars (the launcher asks for it when spark-class is not
    the one setting up the environment)."""
    for jar in (spark_home() / "jars").glob("spark-core_*.jar"):
        return jar.name.split("_", 1)[1].split("-", 1)[0]
    return "2.13"
