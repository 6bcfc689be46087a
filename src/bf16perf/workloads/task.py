"""What runs inside one Spark barrier task: rendezvous, then the worker subprocess, watched.

Imported on the executor (by reference, through :func:`barrier_task`).  The task binds a
port, shares ``host:port`` with ``allGather``, builds ``TF_CONFIG`` from the gathered
addresses, and runs :mod:`bf16perf.workloads.worker` in a fresh subprocess (it inherits the
task's pinning) with the reference recipe's threading environment.  It forwards the
subprocess's progress lines to the driver (best effort), kills a subprocess that finishes
no step within the step timeout, and never waits on one that is slow to exit once its
result is on disk.  When its worker fails or stalls it probes the peers and names those
that no longer answer (:func:`silent_peers`), so that a lost host is named even before
Spark notices it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bf16perf.cluster.executors import task_host
from bf16perf.machine.hygiene import guarded, without_secrets
from bf16perf.workloads.progress import TAG, ProgressLink, sign
from bf16perf.workloads.stack import stack_env

__all__ = ["HOST_GONE", "barrier_task", "rendezvous", "silent_peers", "unreachable_hosts"]


def rendezvous() -> tuple[int, str, list[str]]:
    """(rank, host, every task's ``host:port``) through the barrier's ``allGather``."""
    from pyspark import BarrierTaskContext

    ctx = BarrierTaskContext.get()
    rank, host = ctx.partitionId(), task_host(ctx)
    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    return rank, host, list(ctx.allGather(f"{host}:{port}"))


def _worker_env(
    config: dict[str, Any], rank: int, addresses: list[str], work: Path
) -> dict[str, str]:
    """The task's environment plus TF_CONFIG, the recipe's threading knobs and the stack's."""
    cores = len(os.sched_getaffinity(0))
    env = without_secrets(dict(os.environ))
    env.update(
        {
            "TF_CONFIG": json.dumps(
                {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": rank}}
            ),
            "OMP_NUM_THREADS": str(config["intra_op_threads"] or cores),
            "KMP_BLOCKTIME": "1",
            "KMP_AFFINITY": "granularity=fine,compact,1,0",
            "TF_CPP_MIN_LOG_LEVEL": "1",
        }
    )
    if config["onednn_max_isa"]:
        env["ONEDNN_MAX_CPU_ISA"] = config["onednn_max_isa"]
    knobs = [(str(k), str(v)) for k, v in config.get("env", ())]
    return stack_env(env, config.get("python"), knobs, work)


class _Pump:
    """Reads the worker's stdout on a thread: remembers when it last spoke, forwards its
    progress lines to the driver."""

    def __init__(self, proc: subprocess.Popen[bytes], link: ProgressLink | None):
        self.proc = proc
        self.last = time.monotonic()
        self.spoke = False  # the worker printed its first step (start-up and tracing done)
        self.forward: socket.socket | None = None
        self.key = link[2] if link is not None else ""
        if link is not None:
            with contextlib.suppress(OSError):
                self.forward = socket.create_connection(link[:2], timeout=2)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.last, self.spoke = time.monotonic(), True
            if self.forward is not None and raw.startswith(TAG + b" "):
                body = raw[len(TAG) + 1 :].rstrip(b"\r\n")
                with contextlib.suppress(OSError):
                    self.forward.sendall(sign(self.key, body))

    def close(self) -> None:
        if self.forward is not None:
            self.forward.close()


HOST_GONE = "the host or its network is gone"


def silent_peers(addresses: list[str], me: int, timeout_s: float = 3.0) -> list[str]:
    """The peers (``rank N at host:port (why)``) whose training process does not accept a
    connection now: refused (the host answered; the process has ended, as when a whole
    run fails together) or unanswered and unreachable (:data:`HOST_GONE`).  Asked when a
    worker fails, so that the error names a lost host rather than only the worker that
    noticed."""
    silent = []
    for rank, address in enumerate(addresses):
        if rank == me:
            continue
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=timeout_s).close()
        except ConnectionRefusedError:
            silent.append(f"rank {rank} at {address} (refused: its training process has ended)")
        except OSError as exc:
            why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            silent.append(f"rank {rank} at {address} ({why}: {HOST_GONE})")
    return silent


def unreachable_hosts(message: str) -> list[str]:
    """The hosts that a failed run's message (:func:`silent_peers`'s words) says are gone."""
    found = re.findall(r"rank \d+ at (\S+):\d+ \([^()]*: " + re.escape(HOST_GONE) + r"\)", message)
    return sorted(set(found))


def _peers_note(addresses: list[str], me: int) -> str:
    silent = silent_peers(addresses, me)
    return f"; peers not answering: {', '.join(silent)}" if silent else ""


def _await_result(
    proc: subprocess.Popen[bytes],
    pump: _Pump,
    out: Path,
    stderr: Path,
    timeout: float,
    rank: int,
    addresses: list[str],
    first_timeout: float = 0.0,
) -> None:
    """Return once ``out`` exists; raise naming this worker, and any peer that stopped
    answering, when the worker dies or stalls."""
    who = f"rank {rank} on {addresses[rank].rpartition(':')[0]}"
    while not out.exists():
        code = proc.poll()
        if code is not None and not out.exists():
            tail = stderr.read_text(errors="replace").strip().splitlines()[-8:]
            raise RuntimeError(
                f"training process of {who} exited with code {code}"
                f"{_peers_note(addresses, rank)}:\n" + "\n".join(tail)
            )
        limit = timeout if pump.spoke else max(timeout, first_timeout)
        if time.monotonic() - pump.last > limit:
            raise RuntimeError(
                f"{who}: no step finished within {limit:.0f} s (a hung collective or a lost"
                f" peer){_peers_note(addresses, rank)}; raise --perf-step-timeout if steps"
                " are really this slow"
            )
        time.sleep(0.05)


def barrier_task(
    config_json: str, progress_addr: ProgressLink | None, _: Iterator[Any]
) -> Iterator[str]:
    """The barrier stage's partition function: yields this worker's result as JSON."""
    rank, host, addresses = rendezvous()
    config = json.loads(config_json)
    work = Path(tempfile.mkdtemp(prefix=f"bf16perf-rank{rank}-"))
    env = _worker_env(config, rank, addresses, work)
    (work / "config.json").write_text(config_json)
    out, stderr = work / "result.json", work / "stderr.log"
    python = config.get("python") or sys.executable
    command = [python, "-m", "bf16perf.workloads.worker", str(work / "config.json"), str(out)]
    with open(stderr, "wb") as err:
        proc = subprocess.Popen(guarded(command, env), stdout=subprocess.PIPE, stderr=err, env=env)
    pump = _Pump(proc, progress_addr)
    try:
        timeout = float(config["step_timeout_s"])
        first = float(config.get("first_step_timeout_s", timeout))
        _await_result(proc, pump, out, stderr, timeout, rank, addresses, first)
        result = json.loads(out.read_text())
        result["host"] = host  # the address the peers reached it at, not its host name
        result["notes"] = [
            line.strip()
            for line in stderr.read_text(errors="replace").splitlines()
            if "DT_BFLOAT16" in line or "Falling back" in line
        ]
        yield json.dumps(result)
    finally:
        if proc.poll() is None:
            proc.kill()  # its result is on disk; its exit can take 100 s (FACTS)
        pump.close()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)  # read above; nothing left in /tmp
