"""Workload definitions: which training program a session measures, and how to run it.

A workload is a ``[tool.bf16perf.workloads.NAME]`` table in a TOML file the user keeps in
their repository (``pyproject.toml`` by default, ``--perf-workload-file`` for another):

.. code-block:: toml

    [tool.bf16perf.workloads.my-resnet]
    command = ["{python}", "train.py", "--steps", "{total_steps}", "--bf16={bf16}"]
    mode = "per-worker"        # one process per Spark barrier task; or "driver"
    format = "jsonl"           # how to read its metrics: see bf16perf.workloads.output.metrics
    env = { KMP_BLOCKTIME = "1" }
    env_bf16 = { MY_BF16 = "1" }

This module owns the schema (:data:`KEYS`, :data:`FIELDS`), the built-in workloads
(:data:`BUILTIN`), and the command line of one run (:meth:`WorkloadDef.argv`); reading the
user's tables, where every mistake is one line naming the file and the key, is
:mod:`bf16perf.workloads.tables`'s.  It runs nothing.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bf16perf.workloads.output.metrics import FORMATS

__all__ = [
    "BUILTIN",
    "DEFAULT_WORKLOAD",
    "FIELDS",
    "KEYS",
    "MODES",
    "WorkloadDef",
    "WorkloadError",
    "where_defined",
]


class WorkloadError(ValueError):
    """A workload definition that cannot be used; the message names the file and key."""


#: Launch modes: ``per-worker`` runs the command once per barrier task (a rank of a
#: data-parallel job); ``driver`` runs it once per run on this host (a Spark application).
MODES = ("per-worker", "driver")

#: ``{field}``s a command may use.
FIELDS = {
    "python": "this environment's interpreter (A/B: the reference stack's)",
    "precision": "fp32 or bf16",
    "bf16": "1 for a bf16 run, 0 for fp32",
    "master": "the Spark master URL (driver mode; per-worker: the same)",
    "workers": "workers of the run (world size)",
    "world_size": "the same as workers",
    "rank": "this process's rank (per-worker; 0 in driver mode)",
    "cores_per_worker": "CPUs each worker is pinned to",
    "batch_per_worker": "images per worker per step",
    "global_batch": "batch_per_worker x workers",
    "steps": "measured steps",
    "warmup_steps": "warm-up steps, before the measured ones",
    "total_steps": "warmup_steps + steps",
    "image_size": "square input side in pixels",
    "seed": "the session's seed",
    "data_dir": "--perf-data-dir, or an empty string (synthetic data)",
    "metrics_file": "where a jsonl workload writes its records (also $BF16PERF_METRICS)",
    "work_dir": "a private scratch directory of this process",
}

#: Keys of a workload table and what they hold.
KEYS = {
    "command": "the program as a list of arguments, with {fields}",
    "mode": f"one of {', '.join(MODES)} (default per-worker)",
    "format": f"one of {', '.join(FORMATS)} (default jsonl)",
    "regex": "a regular expression with named groups (format regex)",
    "cwd": "working directory, relative to the definition's file (default: that directory)",
    "args_fp32": "arguments added to the command of fp32 runs (with {fields})",
    "args_bf16": "arguments added to the command of bf16 runs (with {fields})",
    "env": "environment of every run (a table of strings)",
    "env_fp32": "environment of fp32 runs",
    "env_bf16": "environment of bf16 runs",
    "precisions": "the precisions the program supports (default both)",
    "timeout_s": "a run longer than this fails (default 3600)",
    "step_timeout_s": "a run that prints nothing for this long fails (default: the session's)",
    "proof": "run one step under oneDNN verbose first (default true)",
    "description": "one line for the report",
}


@dataclass(frozen=True)
class WorkloadDef:
    """One workload.

    ``command`` empty means the built-in TensorFlow ResNet-50 (:data:`DEFAULT_WORKLOAD`),
    which the harness trains itself; every other workload is a command.
    """

    name: str
    command: tuple[str, ...] = ()
    args_fp32: tuple[str, ...] = ()
    args_bf16: tuple[str, ...] = ()
    mode: str = "per-worker"
    format: str = "jsonl"
    regex: str | None = None
    cwd: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    env_fp32: tuple[tuple[str, str], ...] = ()
    env_bf16: tuple[tuple[str, str], ...] = ()
    precisions: tuple[str, ...] = ("fp32", "bf16")
    timeout_s: float = 3600.0
    step_timeout_s: float | None = None
    proof: bool = True
    description: str = ""
    source: str = "built in"

    @property
    def builtin_tf(self) -> bool:
        """The harness's own TensorFlow ResNet-50 (no command)."""
        return not self.command

    def env_for(self, precision: str) -> tuple[tuple[str, str], ...]:
        """The workload's environment for a run of ``precision``."""
        return self.env + (self.env_bf16 if precision == "bf16" else self.env_fp32)

    def argv(self, values: dict[str, Any]) -> list[str]:
        """The command, with the precision's own arguments, its ``{fields}`` filled from
        ``values``."""
        extra = self.args_bf16 if values.get("precision") == "bf16" else self.args_fp32
        strings = {k: str(v) for k, v in values.items()}
        return [part.format(**strings) for part in self.command + extra]

    def problems(self) -> list[str]:
        """What stops this workload from running here (checked when a session selects it,
        not when its file loads: a file may define workloads for other machines)."""
        out = []
        if self.cwd is not None and not Path(self.cwd).is_dir():
            out.append(f"{where_defined(self.source, self.name, 'cwd')}: no directory {self.cwd}")
        program = self.command[0] if self.command else "{python}"
        if "{" not in program:
            where = Path(self.cwd or ".") / program
            if not (shutil.which(program) or (os.sep in program and where.exists())):
                out.append(
                    f"{where_defined(self.source, self.name, 'command')}: program {program!r} not"
                    " found (not on PATH, nor a path relative to cwd)"
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        """What the report and the history say about the workload."""
        return {
            "name": self.name,
            "kind": "built-in TensorFlow" if self.builtin_tf else f"command, {self.mode}",
            "command": list(self.command),
            "format": None if self.builtin_tf else self.format,
            "source": self.source,
            "description": self.description,
        }


def where_defined(source: str, name: str, key: str | None = None) -> str:
    """Where a workload (and one of its keys) is defined, for an error message."""
    table = f"[tool.bf16perf.workloads.{name}]"
    return f"{source}: {table}" + (f" key '{key}'" if key else "")


DEFAULT_WORKLOAD = "resnet50-tf"

#: Workloads every session knows.
BUILTIN: dict[str, WorkloadDef] = {
    DEFAULT_WORKLOAD: WorkloadDef(
        DEFAULT_WORKLOAD,
        description="ResNet-50 v1.5, TensorFlow MultiWorkerMirroredStrategy (the harness's own)",
    ),
    "resnet50-torch": WorkloadDef(
        "resnet50-torch",
        command=(
            "{python}",
            "-m",
            "bf16perf.workloads.program.torch_resnet",
            "--precision",
            "{precision}",
            "--batch",
            "{batch_per_worker}",
            "--steps",
            "{total_steps}",
            "--warmup-steps",
            "{warmup_steps}",
            "--image-size",
            "{image_size}",
            "--seed",
            "{seed}",
        ),
        format="jsonl",
        description="ResNet-50 v1.5, PyTorch DistributedDataParallel on gloo, torch.autocast"
        " for bf16 (needs the torch extra)",
    ),
}
