"""Launch one training run as a Spark barrier stage and collect every worker's result.

The design of Spark's own TorchDistributor: each barrier task binds a port, shares
``host:port`` with ``allGather``, builds ``TF_CONFIG`` from the gathered addresses, and runs
:mod:`bf16perf.workload.worker` in a fresh subprocess (it inherits the task's pinning) with
the reference recipe's threading environment.  The task forwards the subprocess's progress
lines to the driver over a loopback/driver-host socket (best effort: progress degrades to
nothing when the driver is unreachable), kills a subprocess that finishes no step within the
step timeout, and never waits on a subprocess that is slow to exit once its result is in.
"""

from __future__ import annotations

import contextlib
import json
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from bf16perf.workload.config import RunResult, TrainConfig, WorkerResult

__all__ = ["TrainingError", "run_training"]

ProgressCallback = Callable[[dict[str, Any]], None]


class TrainingError(RuntimeError):
    """A run failed: a worker crashed, hung, was lost, or produced a non-finite loss."""


def _task(
    config_json: str, progress_addr: tuple[str, int] | None
) -> Callable[[Iterator[Any]], Iterator[str]]:
    """The barrier task (runs in a Spark Python worker; pickled by cloudpickle)."""

    def run(_: Iterator[Any]) -> Iterator[str]:
        import os
        import socket as sock
        import subprocess
        import sys
        import tempfile
        import time as t
        from pathlib import Path

        from pyspark import BarrierTaskContext

        from bf16perf.hygiene import pdeathsig_preexec
        from bf16perf.workload.stack import stack_env

        ctx = BarrierTaskContext.get()
        rank = ctx.partitionId()
        host = ctx.getTaskInfos()[rank].address.rsplit(":", 1)[0]
        with sock.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        addresses = ctx.allGather(f"{host}:{port}")
        config = json.loads(config_json)
        cores = len(os.sched_getaffinity(0))
        env = dict(os.environ)
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
        work = Path(tempfile.mkdtemp(prefix=f"bf16perf-rank{rank}-"))
        python = config.get("python")
        env = stack_env(env, python, [tuple(kv) for kv in config.get("env", ())], work)
        (work / "config.json").write_text(config_json)
        out = work / "result.json"
        stderr_path = work / "stderr.log"
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                [
                    python or sys.executable,
                    "-m",
                    "bf16perf.workload.worker",
                    str(work / "config.json"),
                    str(out),
                ],
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                preexec_fn=pdeathsig_preexec,
            )
        forward = None
        if progress_addr is not None:
            with contextlib.suppress(OSError):
                forward = sock.create_connection(progress_addr, timeout=2)
        last = t.monotonic()
        lines: list[str] = []

        def pump() -> None:
            nonlocal last
            assert proc.stdout is not None
            for raw in proc.stdout:
                last = t.monotonic()
                line = raw.decode(errors="replace")
                lines.append(line)
                if forward is not None and line.startswith("BF16PERF_PROGRESS"):
                    with contextlib.suppress(OSError):
                        forward.sendall(raw)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timeout = float(config["step_timeout_s"])
        try:
            while not out.exists():
                code = proc.poll()
                if code is not None and not out.exists():
                    tail = stderr_path.read_text(errors="replace").strip().splitlines()[-8:]
                    raise RuntimeError(
                        f"training process of rank {rank} on {host} exited with code {code}:\n"
                        + "\n".join(tail)
                    )
                if t.monotonic() - last > timeout:
                    raise RuntimeError(
                        f"rank {rank} on {host}: no step finished within {timeout:.0f} s"
                        " (a hung collective or a lost peer); raise --perf-step-timeout if"
                        " steps are really this slow"
                    )
                t.sleep(0.05)
            notes = [
                line.strip()
                for line in stderr_path.read_text(errors="replace").splitlines()
                if "DT_BFLOAT16" in line or "Falling back" in line
            ]
            result = json.loads(out.read_text())
            result["notes"] = notes
            yield json.dumps(result)
        finally:
            if proc.poll() is None:
                proc.kill()  # its result is on disk; its exit can take 100 s (FACTS)
            if forward is not None:
                forward.close()

    return run


class _ProgressServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def run_training(
    spark: Any,
    config: TrainConfig,
    workers: int,
    progress: ProgressCallback | None = None,
    progress_host: str = "127.0.0.1",
) -> RunResult:
    """Train ``config`` on ``workers`` barrier tasks and return every worker's measurements."""
    server: _ProgressServer | None = None
    addr: tuple[str, int] | None = None
    if progress is not None:
        callback = progress

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for raw in self.rfile:
                    text = raw.decode(errors="replace").partition(" ")[2]
                    with contextlib.suppress(ValueError):
                        callback(json.loads(text))

        server = _ProgressServer((progress_host, 0), Handler)
        host, port = server.server_address[:2]
        addr = (str(host), int(port))
        threading.Thread(target=server.serve_forever, daemon=True).start()
    t0 = time.monotonic()
    try:
        rdd = spark.sparkContext.parallelize(range(workers), workers)
        raw = rdd.barrier().mapPartitions(_task(config.to_json(), addr)).collect()
    except Exception as exc:  # py4j wraps everything; keep the first meaningful lines
        raise TrainingError(_summarize(exc)) from None
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    results = sorted((WorkerResult.from_dict(json.loads(r)) for r in raw), key=lambda w: w.rank)
    return RunResult(config=config, workers=results, wall_s=time.monotonic() - t0)


def _summarize(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # py4j's str() can itself fail
        text = repr(exc)
    keep = [
        line
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(("at ", "File ", "..."))
    ]
    for marker in ("RuntimeError: ", "FloatingPointError: ", "ValueError: "):
        for i, line in enumerate(keep):
            if marker in line:
                return "\n".join(keep[i : i + 8])
    return "\n".join(keep[:8])
