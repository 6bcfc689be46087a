"""Workload definitions: which training program a session measures, and how to run it.

A workload is a ``[tool.bf16perf.workloads.NAME]`` table in a TOML file the user keeps in
their repository (``pyproject.toml`` by default, ``--perf-workload-file`` for another):

.. code-block:: toml

    [tool.bf16perf.workloads.my-resnet]
    command = ["{python}", "train.py", "--steps", "{total_steps}", "--bf16={bf16}"]
    mode = "per-worker"        # one process per Spark barrier task; or "driver"
    format = "jsonl"           # how to read its metrics: see bf16perf.workload.metrics
    env = { KMP_BLOCKTIME = "1" }
    env_bf16 = { MY_BF16 = "1" }

This module owns the schema (:data:`KEYS`, :data:`FIELDS`), the checks (every mistake is
one line naming the file and the key), the built-in workloads (:data:`BUILTIN`), and the
command line of one run (:meth:`WorkloadDef.argv`).  It runs nothing.
"""

from __future__ import annotations

import os
import shutil
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bf16perf.workload.metrics import FORMATS, MetricsError, check_regex

__all__ = [
    "BUILTIN",
    "DEFAULT_WORKLOAD",
    "FIELDS",
    "KEYS",
    "MODES",
    "WorkloadDef",
    "WorkloadError",
    "load_workloads",
    "select_workloads",
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
            out.append(f"{_where(self.source, self.name, 'cwd')}: no directory {self.cwd}")
        program = self.command[0] if self.command else "{python}"
        if "{" not in program:
            where = Path(self.cwd or ".") / program
            if not (shutil.which(program) or (os.sep in program and where.exists())):
                out.append(
                    f"{_where(self.source, self.name, 'command')}: program {program!r} not"
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
            "bf16perf.workload.torch_resnet",
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


def _where(source: str, name: str, key: str | None = None) -> str:
    table = f"[tool.bf16perf.workloads.{name}]"
    return f"{source}: {table}" + (f" key '{key}'" if key else "")


def _env_table(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value.values()
    ):
        raise WorkloadError(f'{where}: a table of strings is expected, like {{ NAME = "1" }}')
    return tuple((str(k), str(v)) for k, v in value.items())


def _string_list(value: Any, where: str, required: bool = False) -> list[str]:
    if value is None and not required:
        return []
    if not (isinstance(value, list) and all(isinstance(c, str) for c in value)) or (
        required and not value
    ):
        raise WorkloadError(
            f"{where}: a{' non-empty' if required else ''} list of strings is required,"
            ' like ["{python}", "train.py", "--steps", "{total_steps}"]'
        )
    return value


def _check_fields(command: list[str], where: str) -> None:
    for part in command:
        try:
            parsed = list(string.Formatter().parse(part))
        except ValueError as exc:
            raise WorkloadError(f"{where}: {part!r}: {exc} (write {{{{ for a brace)") from None
        for _, name, spec, conv in parsed:
            if name is None:
                continue
            if name not in FIELDS or spec or conv:
                raise WorkloadError(
                    f"{where}: unknown field {{{name}}} in {part!r}; known fields:"
                    f" {', '.join(sorted(FIELDS))}"
                )


def _parse_one(name: str, table: Any, source: str) -> WorkloadDef:
    if not isinstance(table, dict):
        raise WorkloadError(f"{_where(source, name)} must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise WorkloadError(
            f"{_where(source, name, unknown[0])}: unknown key; known keys: {', '.join(KEYS)}"
        )
    command = _string_list(table.get("command"), _where(source, name, "command"), True)
    _check_fields(command, _where(source, name, "command"))
    per_precision = {}
    for key in ("args_fp32", "args_bf16"):
        per_precision[key] = _string_list(table.get(key), _where(source, name, key))
        _check_fields(per_precision[key], _where(source, name, key))
    mode = table.get("mode", "per-worker")
    if mode not in MODES:
        raise WorkloadError(f"{_where(source, name, 'mode')}: {mode!r}; use one of {MODES}")
    fmt = table.get("format", "jsonl")
    if fmt not in FORMATS:
        raise WorkloadError(
            f"{_where(source, name, 'format')}: unknown format {fmt!r}; use one of"
            f" {', '.join(FORMATS)}"
        )
    regex = table.get("regex")
    if fmt == "regex" or regex is not None:
        if fmt != "regex" or not isinstance(regex, str):
            raise WorkloadError(
                f'{_where(source, name, "regex")}: a regex string goes with format = "regex"'
            )
        try:
            check_regex(regex)
        except MetricsError as exc:
            raise WorkloadError(f"{_where(source, name, 'regex')}: {exc}") from None
    precisions = table.get("precisions", ["fp32", "bf16"])
    if not (isinstance(precisions, list) and precisions and set(precisions) <= {"fp32", "bf16"}):
        raise WorkloadError(f'{_where(source, name, "precisions")}: a list of "fp32" and/or "bf16"')
    numbers = {}
    for key in ("timeout_s", "step_timeout_s"):
        value = table.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
        ):
            raise WorkloadError(f"{_where(source, name, key)}: a positive number of seconds")
        numbers[key] = value
    proof = table.get("proof", True)
    if not isinstance(proof, bool):
        raise WorkloadError(f"{_where(source, name, 'proof')}: true or false")
    cwd = table.get("cwd")
    base = Path(source).parent if source != "built in" else Path.cwd()
    if cwd is not None and not isinstance(cwd, str):
        raise WorkloadError(f"{_where(source, name, 'cwd')}: a path string")
    workdir = (base / (cwd or ".")).resolve()
    return WorkloadDef(
        name,
        command=tuple(command),
        args_fp32=tuple(per_precision["args_fp32"]),
        args_bf16=tuple(per_precision["args_bf16"]),
        mode=mode,
        format=fmt,
        regex=regex,
        cwd=str(workdir),
        env=_env_table(table.get("env", {}), _where(source, name, "env")),
        env_fp32=_env_table(table.get("env_fp32", {}), _where(source, name, "env_fp32")),
        env_bf16=_env_table(table.get("env_bf16", {}), _where(source, name, "env_bf16")),
        precisions=tuple(precisions),
        timeout_s=float(numbers["timeout_s"] or 3600.0),
        step_timeout_s=numbers["step_timeout_s"],
        proof=proof,
        description=str(table.get("description", "")),
        source=source,
    )


def load_workloads(path: Path, given: bool = False) -> dict[str, WorkloadDef]:
    """The built-in workloads and those ``path`` defines.  The default file (``given``
    false: ``pyproject.toml``) may be missing or define none; a file the user named
    (``--perf-workload-file``) must exist and define at least one, so that a mistyped path
    is an error, not an empty file."""
    found = dict(BUILTIN)
    flag = f"--perf-workload-file {path}"
    if not path.exists():
        if given:
            raise WorkloadError(f"{flag}: no such file; check the path")
        return found
    if not path.is_file():
        raise WorkloadError(f"{flag}: not a regular file; give the TOML file itself")
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise WorkloadError(f"{path}: not valid TOML: {exc}") from None
    tables = doc.get("tool", {}).get("bf16perf", {}).get("workloads", {})
    if not isinstance(tables, dict):
        raise WorkloadError(f"{path}: [tool.bf16perf.workloads] must be a table of tables")
    if given and not tables:
        raise WorkloadError(
            f"{flag}: defines no [tool.bf16perf.workloads.<name>] table; is it the right file?"
        )
    for name, table in tables.items():
        if name in BUILTIN:
            raise WorkloadError(
                f"{_where(str(path), name)}: '{name}' is a built-in workload; pick another name"
            )
        found[name] = _parse_one(name, table, str(path))
    return found


def select_workloads(path: Path, names: tuple[str, ...], given: bool = False) -> list[WorkloadDef]:
    """The workloads ``names`` asks for (the default workload when none), in that order;
    ``given``: the user named ``path`` (see :func:`load_workloads`)."""
    known = load_workloads(path, given)
    chosen = []
    for name in names or (DEFAULT_WORKLOAD,):
        if name not in known:
            raise WorkloadError(
                f"--perf-workload {name}: not defined in {path} nor built in; known:"
                f" {', '.join(sorted(known))}"
            )
        if known[name] not in chosen:
            chosen.append(known[name])
    problems = [p for w in chosen for p in w.problems()]
    if problems:
        raise WorkloadError("\n".join(problems))
    return chosen
