"""Process hygiene: nothing the harness starts outlives it.

This module owns the mechanisms every launcher uses: ``PR_SET_PDEATHSIG`` set by a launcher
before exec (:func:`guarded`: a child dies with its parent, even on SIGKILL), the
``BF16PERF_RUN_ID`` environment tag (grandchildren that left the process group, as
``pyspark.daemon`` does, are found in ``/proc`` and swept), signal handlers that turn
SIGTERM/SIGHUP into a clean stop, and :func:`without_secrets`: the cluster's secret stays
out of the training processes and users' commands that the executors start.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "RUN_TAG",
    "guarded",
    "install_signal_cleanup",
    "pids_with_env",
    "sweep_tagged",
    "tagged_pids",
    "without_secrets",
]

RUN_TAG = "BF16PERF_RUN_ID"
#: What an executor's environment holds that no training process or user command needs:
#: Spark's authentication secret (a standalone worker hands it to its executors) and the
#: Py4J gateway's.
SECRET_VARIABLES = ("_SPARK_AUTH_SECRET", "PYSPARK_GATEWAY_SECRET")


def without_secrets(env: dict[str, str]) -> dict[str, str]:
    """``env`` less the cluster's secrets (:data:`SECRET_VARIABLES`)."""
    return {k: v for k, v in env.items() if k not in SECRET_VARIABLES}


#: The launcher of :func:`guarded`, run by ``python -I -S -c``: it sets PR_SET_PDEATHSIG
#: (1) on itself, dies if its parent is already gone, then execs the command, which keeps
#: the setting (exec keeps it, except for set-user-ID programs).
_GUARD = """import ctypes, os, signal, sys
try:
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit(143)
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as exc:
    sys.stderr.write(f"cannot start {sys.argv[2]!r}: {exc.strerror}\\n")
    sys.exit(127)
"""


def guarded(
    argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | Path | None = None
) -> list[str]:
    """``argv`` wrapped so that it dies with SIGTERM when the thread that starts it dies,
    even on SIGKILL of this process (Linux's PR_SET_PDEATHSIG).

    Set by a tiny launcher in the child rather than by ``preexec_fn``, which CPython
    documents as unsafe while threads run (the forked child can deadlock before exec) and
    every launcher here runs beside threads.  It costs one bare interpreter start (about
    20 ms).  A command that cannot be found raises :class:`FileNotFoundError` here, as
    ``subprocess.Popen`` would.
    """
    program = str(argv[0])
    if os.sep in program:
        found = os.access(Path(cwd or ".") / program, os.X_OK)
    else:
        path = (env if env is not None else os.environ).get("PATH", os.defpath)
        found = shutil.which(program, path=path) is not None
    if not found:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    return [sys.executable, "-I", "-S", "-c", _GUARD, str(os.getpid()), *map(str, argv)]


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
