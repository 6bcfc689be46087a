"""The nightly history file: one JSON line per session, appended, never rewritten.

:func:`append_history` appends with ``O_APPEND`` under an exclusive ``flock``, so concurrent
nightly jobs never interleave or rewrite a line; :func:`read_history` skips a torn or
foreign line instead of failing the report.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["append_history", "read_history"]


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


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every readable line of the history (a torn or foreign line is skipped)."""
    if not path.exists():
        return []
    out = []
    for raw in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            item = json.loads(raw)
            if isinstance(item, dict):
                out.append(item)
    return out
