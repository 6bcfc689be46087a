"""Process hygiene: nothing the harness starts outlives it.

This module owns the mechanisms every launcher uses: ``PR_SET_PDEATHSIG`` before exec
(a child dies with its parent, even on SIGKILL), the ``BF16PERF_RUN_ID`` environment tag
(grandchildren that left the process group, as ``pyspark.daemon`` does, are found in
``/proc`` and swept), signal handlers that turn SIGTERM/SIGHUP into a clean stop, and
:func:`without_secrets`: the cluster's secret stays out of the training processes and
users' commands that the executors start.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "RUN_TAG",
    "install_signal_cleanup",
    "pdeathsig_preexec",
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


_PR_SET_PDEATHSIG = 1


def pdeathsig_preexec() -> None:
    """In the child before exec: die with SIGTERM when the parent dies (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


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
