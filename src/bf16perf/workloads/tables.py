"""The user's ``[tool.bf16perf.workloads.NAME]`` tables read into :class:`WorkloadDef`s
(:mod:`bf16perf.workloads.definition` owns the schema): every mistake is one line naming
the file and the key."""

from __future__ import annotations

import re
import string
import tomllib
from pathlib import Path
from typing import Any

from bf16perf.workloads.definition import (
    BUILTIN,
    DEFAULT_WORKLOAD,
    FIELDS,
    KEYS,
    MODES,
    WorkloadDef,
    WorkloadError,
)
from bf16perf.workloads.definition import where_defined as _where
from bf16perf.workloads.output.metrics import FORMATS, MetricsError, check_regex

__all__ = ["load_workloads", "select_workloads"]


#: A workload's name becomes part of file names (baselines, reports): no separators, no
#: dots first, nothing a shell or a file system reads specially.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: An environment variable's name, as POSIX shells accept it.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env_table(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value.values()
    ):
        raise WorkloadError(f'{where}: a table of strings is expected, like {{ NAME = "1" }}')
    for key, item in value.items():
        if not _ENV_NAME.fullmatch(key):
            raise WorkloadError(
                f"{where}: {key!r} is not an environment variable's name (letters, digits"
                " and _, not starting with a digit)"
            )
        if "\0" in str(item):
            raise WorkloadError(f"{where}.{key}: a NUL character cannot be passed to a program")
    return tuple((str(k), str(v)) for k, v in value.items())


def _string_list(value: Any, where: str, required: bool = False) -> list[str]:
    if value is None and not required:
        return []
    if not (
        isinstance(value, list) and all(isinstance(c, str) and "\0" not in c for c in value)
    ) or (required and not value):
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


def _metrics_format(table: dict[str, Any], source: str, name: str) -> tuple[str, str | None]:
    """The table's metrics format and, with ``format = "regex"``, its checked regex."""
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
    return fmt, regex


_MAX_SECONDS = 7 * 24 * 3600.0


def _seconds(table: dict[str, Any], source: str, name: str, key: str) -> float | None:
    value = table.get(key)
    if value is not None and (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= _MAX_SECONDS  # also refuses nan and inf, which TOML allows
    ):
        raise WorkloadError(
            f"{_where(source, name, key)}: a positive, finite number of seconds (at most"
            f" {_MAX_SECONDS:.0f}, a week)"
        )
    return None if value is None else float(value)


def _workdir(table: dict[str, Any], source: str, name: str) -> str:
    """The program's working directory: ``cwd`` relative to the file that defines it."""
    cwd = table.get("cwd")
    base = Path(source).parent if source != "built in" else Path.cwd()
    if cwd is not None and not isinstance(cwd, str):
        raise WorkloadError(f"{_where(source, name, 'cwd')}: a path string")
    return str((base / (cwd or ".")).resolve())


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
    fmt, regex = _metrics_format(table, source, name)
    precisions = table.get("precisions", ["fp32", "bf16"])
    if not (isinstance(precisions, list) and precisions and set(precisions) <= {"fp32", "bf16"}):
        raise WorkloadError(f'{_where(source, name, "precisions")}: a list of "fp32" and/or "bf16"')
    proof = table.get("proof", True)
    if not isinstance(proof, bool):
        raise WorkloadError(f"{_where(source, name, 'proof')}: true or false")
    return WorkloadDef(
        name,
        command=tuple(command),
        args_fp32=tuple(per_precision["args_fp32"]),
        args_bf16=tuple(per_precision["args_bf16"]),
        mode=mode,
        format=fmt,
        regex=regex,
        cwd=_workdir(table, source, name),
        env=_env_table(table.get("env", {}), _where(source, name, "env")),
        env_fp32=_env_table(table.get("env_fp32", {}), _where(source, name, "env_fp32")),
        env_bf16=_env_table(table.get("env_bf16", {}), _where(source, name, "env_bf16")),
        precisions=tuple(precisions),
        timeout_s=_seconds(table, source, name, "timeout_s") or 3600.0,
        step_timeout_s=_seconds(table, source, name, "step_timeout_s"),
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
    tables: object = doc
    for part in ("tool", "bf16perf", "workloads"):
        if not isinstance(tables, dict):
            break
        tables = tables.get(part, {})
    if not isinstance(tables, dict):
        raise WorkloadError(
            f"{path}: [tool], [tool.bf16perf] and [tool.bf16perf.workloads] must be tables"
            " (the last a table of tables); fix the file's shape"
        )
    if given and not tables:
        raise WorkloadError(
            f"{flag}: defines no [tool.bf16perf.workloads.<name>] table; is it the right file?"
        )
    for name, table in tables.items():
        if not SAFE_NAME.fullmatch(name):
            raise WorkloadError(
                f"{_where(str(path), name)}: the name becomes part of file names; use at most 64"
                " letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
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
