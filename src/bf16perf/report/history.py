"""The nightly history file: one JSON line per session, appended, never rewritten.

:func:`append_history` appends with ``O_APPEND`` under an exclusive ``flock``, so concurrent
nightly jobs never interleave or rewrite a line; :func:`read_history` skips a torn or
foreign line instead of failing the report.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from pathlib import Path
from typing import Any

from bf16perf.formats import HISTORY_VERSION, problem

__all__ = [
    "HISTORY_SCHEMA_VERSION",
    "append_history",
    "is_figure",
    "line_problem",
    "read_history",
    "read_history_checked",
]

#: The version written (its history: :mod:`bf16perf.formats`).
HISTORY_SCHEMA_VERSION = HISTORY_VERSION


def append_history(path: Path, line: dict[str, Any]) -> None:
    """Append one JSON line: ``O_APPEND`` and an exclusive ``flock``; never rewrites."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(line, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_history_checked(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every readable line of the history, and one problem per line skipped (by number):
    a torn or foreign line is skipped, never rewritten or lost."""
    if not path.exists():
        return [], []
    lines: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, raw in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(f"{path} line {number}: not JSON ({exc.msg}); skipped")
            continue
        except RecursionError:
            problems.append(f"{path} line {number}: nested too deep to read; skipped")
            continue
        if not isinstance(item, dict) or "started" not in item:
            problems.append(f"{path} line {number}: not a history line; skipped")
            continue
        wrong = line_problem(item)
        if wrong:
            problems.append(f"{path} line {number}: {wrong}; skipped")
            continue
        lines.append(item)
    return lines, problems


def is_figure(value: object) -> bool:
    """A usable throughput figure: a finite positive number (not a bool)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def line_problem(item: dict[str, Any]) -> str | None:
    """What is wrong with a history line (field, what was expected, what was found), or
    ``None``: the line follows :mod:`bf16perf.formats`' history schema."""
    version = item.get("schema_version", 1)
    if type(version) is int and version > HISTORY_SCHEMA_VERSION:  # not a bool
        return f"schema_version {version} is newer than this bf16perf reads"
    return problem("history", item)


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every readable line of the history (a torn or foreign line is skipped)."""
    return read_history_checked(path)[0]
