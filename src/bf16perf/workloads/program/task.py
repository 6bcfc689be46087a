"""A command workload's process, watched: one per barrier task (per-worker mode), or one per
run on the driver's host (driver mode, :mod:`bf16perf.workloads.program.launch`).

:func:`watch` runs the program with its output (stdout and stderr, merged) going to a log
file line by line, hands each line to a callback (live progress), kills it when it prints
nothing for the step timeout or outlives the run timeout, and never lets it outlive the
harness (``PR_SET_PDEATHSIG``).  :func:`command_task` is the barrier stage's partition
function of per-worker mode: the rendezvous environment that pyspark's ``TorchDistributor``
sets (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``, ``LOCAL_RANK``) and
``TF_CONFIG``, the program, and its records read where it ran.  Imports pyspark only inside
the barrier task.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bf16perf.machine.hygiene import guarded, without_secrets
from bf16perf.machine.interference import CpuWindow, sample
from bf16perf.workloads.output.metrics import MetricsError, parse_metrics
from bf16perf.workloads.progress import ProgressLink, sign

__all__ = [
    "METRICS_MARK",
    "RANK_MARK",
    "WORK_MARK",
    "Watched",
    "command_task",
    "fill_process_fields",
    "rank_env",
    "read_records",
    "tail",
    "watch",
]

#: Markers of the fields the driver cannot fill (see :func:`fill_process_fields`).
RANK_MARK, METRICS_MARK, WORK_MARK = "\0rank\0", "\0metrics_file\0", "\0work_dir\0"


@dataclass(frozen=True)
class Watched:
    """How a watched program ended: its exit code, and the CPU window it ran in."""

    code: int
    cpu_window: dict[str, float] | None


def tail(log: Path, lines: int = 6) -> str:
    """The last ``lines`` non-empty lines of ``log``, for an error message."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no output)"
    kept = [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(kept) if kept else "(no output)"


def watch(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: str | None,
    log: Path,
    timeout_s: float,
    quiet_timeout_s: float,
    who: str,
    on_line: Callable[[str], None] | None = None,
) -> Watched:
    """Run ``argv`` to its end; raise :class:`RuntimeError` naming ``who`` (with the last
    lines it printed) when it cannot start, stays silent too long or runs too long."""
    before = sample()
    t_before = os.times()
    with open(log, "wb") as out:
        try:
            proc = subprocess.Popen(
                guarded(argv, env, cwd),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
            )
        except OSError as exc:
            raise RuntimeError(f"{who}: cannot start {argv[0]!r}: {exc}") from None
        last = [time.monotonic()]

        def pump() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                last[0] = time.monotonic()
                out.write(raw)
                out.flush()
                if on_line is not None:
                    on_line(raw.decode(errors="replace").rstrip("\n"))

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            _wait(proc, last, log, timeout_s=timeout_s, quiet_timeout_s=quiet_timeout_s, who=who)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            reader.join(timeout=5)
    after = sample()
    t_after = os.times()
    window = None
    if before is not None and after is not None and before.cpus == after.cpus:
        own = (t_after.children_user + t_after.children_system) - (
            t_before.children_user + t_before.children_system
        )
        w = CpuWindow.between(before, after)
        window = CpuWindow(w.window_s, w.cpus, own, w.busy_s, w.steal_s).to_dict()
    return Watched(proc.returncode, window)


def _wait(
    proc: subprocess.Popen[bytes],
    last: list[float],
    log: Path,
    *,
    timeout_s: float,
    quiet_timeout_s: float,
    who: str,
) -> None:
    """Until ``proc`` ends; raise when it printed nothing since ``last[0]`` for
    ``quiet_timeout_s`` or ran longer than ``timeout_s``."""
    start = time.monotonic()
    while proc.poll() is None:
        now = time.monotonic()
        if now - last[0] > quiet_timeout_s:
            raise RuntimeError(
                f"{who}: printed nothing for {quiet_timeout_s:.0f} s (a hung collective"
                " or a lost peer); raise the workload's step_timeout_s or"
                f" --perf-step-timeout if it is really this quiet. Last lines:\n" + tail(log)
            )
        if now - start > timeout_s:
            raise RuntimeError(
                f"{who}: still running after {timeout_s:.0f} s (the workload's"
                f" timeout_s). Last lines:\n" + tail(log)
            )
        time.sleep(0.05)


def read_records(
    fmt: str, regex: str | None, log: Path, metrics: Path, batch: float
) -> list[dict[str, Any]]:
    """The program's records: from ``metrics`` (format ``jsonl``) or from its output."""
    source = metrics if fmt == "jsonl" else log
    if not source.exists():
        return []
    with open(source, errors="replace") as fh:
        try:
            return [r.to_dict() for r in parse_metrics(fmt, fh, batch, regex)]
        except MetricsError as exc:
            raise RuntimeError(f"{source.name}: {exc}") from None


def fill_process_fields(argv: list[str], rank: int, metrics: Path, work: Path) -> list[str]:
    """``argv`` with the fields only the process's own place knows: ``{rank}``,
    ``{metrics_file}`` and ``{work_dir}`` (left as markers by the driver)."""
    return [
        a.replace(RANK_MARK, str(rank))
        .replace(METRICS_MARK, str(metrics))
        .replace(WORK_MARK, str(work))
        for a in argv
    ]


def rank_env(rank: int, addresses: list[str], metrics: Path) -> dict[str, str]:
    """This process's environment with the rendezvous of a data-parallel job (torch's
    ``RANK``/``MASTER_ADDR``, TensorFlow's ``TF_CONFIG``) and bf16perf's own variables;
    threads as many as the task's CPUs."""
    master_addr, master_port = addresses[0].rsplit(":", 1)
    env = without_secrets(dict(os.environ))
    env.update(
        {
            "RANK": str(rank),
            "LOCAL_RANK": "0",
            "WORLD_SIZE": str(len(addresses)),
            "LOCAL_WORLD_SIZE": "1",
            "MASTER_ADDR": master_addr,
            "MASTER_PORT": master_port,
            "TF_CONFIG": json.dumps(
                {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": rank}}
            ),
            "OMP_NUM_THREADS": str(len(os.sched_getaffinity(0))),
            "BF16PERF_METRICS": str(metrics),
            "BF16PERF_RANK": str(rank),
        }
    )
    return env


def command_task(
    spec_json: str, progress_addr: ProgressLink | None, _: Iterator[Any]
) -> Iterator[str]:
    """Per-worker mode's partition function: yields this rank's records and facts as JSON.

    ``spec_json`` holds the workload (``argv`` with every field but ``rank`` filled,
    ``env``, ``cwd``, ``format``, ``regex``), the timeouts and the batch.
    """
    from bf16perf.workloads.task import rendezvous

    rank, host, addresses = rendezvous()
    work = Path(tempfile.mkdtemp(prefix=f"bf16perf-cmd{rank}-"))
    try:
        yield _run_rank(json.loads(spec_json), progress_addr, rank, host, addresses, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # read into the result; nothing left in /tmp


def _run_rank(
    spec: dict[str, Any],
    progress_addr: ProgressLink | None,
    rank: int,
    host: str,
    addresses: list[str],
    work: Path,
) -> str:
    """One rank's program run in ``work``, its records and facts as JSON."""
    import socket

    metrics, log = work / "metrics.jsonl", work / "output.log"
    env = {**rank_env(rank, addresses, metrics), **dict(spec["env"])}
    argv = fill_process_fields(spec["argv"], rank, metrics, work)
    forward: socket.socket | None = None
    key = progress_addr[2] if progress_addr is not None else ""
    if progress_addr is not None and rank == 0:
        with contextlib.suppress(OSError):
            forward = socket.create_connection(progress_addr[:2], timeout=2)

    def on_line(line: str) -> None:
        if forward is not None:
            event = json.dumps({"rank": rank, "line": line[:200]})
            with contextlib.suppress(OSError):
                forward.sendall(sign(key, event.encode()))

    who = f"rank {rank} on {host}"
    try:
        done = watch(
            argv,
            env=env,
            cwd=spec["cwd"],
            log=log,
            timeout_s=spec["timeout_s"],
            quiet_timeout_s=spec["quiet_timeout_s"],
            who=who,
            on_line=on_line,
        )
    finally:
        if forward is not None:
            forward.close()
    if done.code != 0:
        raise RuntimeError(f"{who}: the program exited with code {done.code}:\n" + tail(log))
    records = read_records(spec["format"], spec["regex"], log, metrics, spec["batch"])
    return json.dumps(
        {
            "rank": rank,
            "host": host,
            "cpus": sorted(os.sched_getaffinity(0)),
            "records": records,
            "tail": tail(log),
            "cpu_window": done.cpu_window,
        }
    )
