"""The nightly history file: one JSON line per session, appended, never rewritten.

:func:`append_history` appends with ``O_APPEND`` under an exclusive ``flock``, so concurrent
nightly jobs never interleave or rewrite a line.  A line is written whole or not at all
(a short write or a full disk is cut back), and a torn last line a crash left is moved
aside to a ``.torn-*`` file before the next line goes in, never merged with it.
:func:`read_history` skips a foreign or bad line (by number, with what is wrong) instead
of failing the report.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bf16perf.store.atomic import fsync_dir
from bf16perf.store.formats import HISTORY_VERSION, loads, problem

__all__ = [
    "HISTORY_SCHEMA_VERSION",
    "append_history",
    "history_problem",
    "is_figure",
    "line_problem",
    "read_history",
    "read_history_checked",
]

#: The version written (its history: :mod:`bf16perf.store.formats`).
HISTORY_SCHEMA_VERSION = HISTORY_VERSION


def append_history(path: Path, line: dict[str, Any]) -> Path | None:
    """Append one JSON line under an exclusive ``flock``; never rewrites a kept line.
    Returns where a torn last line was moved aside, if there was one.  Raises
    :class:`OSError` (the file as it was) when the line cannot be written whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(line, sort_keys=True) + "\n").encode()
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    torn = None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            torn, size = _set_aside_torn(fd, path, size)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)  # never leave half a line for the next one to join
            raise
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    if created or torn:
        fsync_dir(path.parent)
    return torn


def history_problem(path: Path) -> str | None:
    """Why ``path`` may not be appended to as a history (``None``: it is one, or new): it
    must be a regular file one of whose first non-empty lines is a history line (or empty),
    so a history option pointed at a baseline or a report never appends to it, while a
    history whose first line went bad (a crash, a poisoned figure) is still one."""
    if not path.exists():
        return None
    if not path.is_file():
        return f"{path} is not a regular file"
    lines: list[bytes] = []
    with path.open("rb") as fh:
        while len(lines) < _LINES_TO_RECOGNISE:
            line = fh.readline(1 << 20)
            if not line:
                break
            if line.strip():
                lines.append(line)
    if not lines or any(_is_history_line(line) for line in lines):
        return None
    return (
        f"{path} is not a bf16perf history (none of its first {len(lines)} lines is a history line)"
    )


#: How many non-empty lines :func:`history_problem` reads to recognise a history.
_LINES_TO_RECOGNISE = 5


def _is_history_line(line: bytes) -> bool:
    """A JSON object with ``started``, whatever its numbers (read as text here: a figure
    beyond any float is a bad line for the readers, not a sign of another file)."""
    try:
        item = json.loads(line, parse_int=str, parse_float=str, parse_constant=str)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(item, dict) and "started" in item


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, "no byte written")
        view = view[written:]


def _set_aside_torn(fd: int, path: Path, size: int) -> tuple[Path, int]:
    """Move the torn last line (from the last newline to ``size``) to its own file beside
    the history, whole, and cut it from the history; the torn file and the new size."""
    start, block = size, 65536
    while start > 0:
        lo = max(0, start - block)
        chunk = os.pread(fd, start - lo, lo)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            start = lo + cut + 1
            break
        start = lo
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    torn = path.with_name(f"{path.name}.torn-{stamp}")
    out = os.open(torn, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        _write_all(out, os.pread(fd, size - start, start))
        os.fsync(out)
    finally:
        os.close(out)
    fsync_dir(path.parent)  # the torn line is kept before it is cut
    os.ftruncate(fd, start)
    os.fsync(fd)
    return torn, start


def read_history_checked(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every readable line of the history, and one problem per line skipped (by number):
    a torn or foreign line is skipped, never rewritten or lost."""
    if not path.exists():
        return [], []
    lines: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, raw in enumerate(path.read_text(errors="replace").split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            item = loads(raw)
        except ValueError as exc:
            problems.append(f"{path} line {number}: not JSON ({getattr(exc, 'msg', exc)}); skipped")
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


#: The range a throughput figure (images a second) can have: no CPU trains a billion
#: images a second, and a figure below a millionth is a unit mistake, not a measurement.
FIGURE_RANGE = (1e-6, 1e9)


def is_figure(value: object) -> bool:
    """A usable throughput figure: a number (not a bool) in :data:`FIGURE_RANGE`."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and FIGURE_RANGE[0] <= value <= FIGURE_RANGE[1]
    )


def line_problem(item: dict[str, Any]) -> str | None:
    """What is wrong with a history line (field, what was expected, what was found), or
    ``None``: the line follows :mod:`bf16perf.store.formats`' history schema."""
    version = item.get("schema_version", 1)
    if type(version) is int and version > HISTORY_SCHEMA_VERSION:  # not a bool
        return f"schema_version {version} is newer than this bf16perf reads"
    return problem("history", item)


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every readable line of the history (a torn or foreign line is skipped)."""
    return read_history_checked(path)[0]
