"""The one way the project writes a file: whole or not at all.

A temp file in the same directory, flushed and fsync'd, then renamed over the target:
a reader sees the old file or the new one, never half of one, and a crash leaves at
most a ``.tmp-*`` file beside it.  Every report, baseline, noise file, calibration
session and history page goes through here (the history itself is appended under a lock:
:mod:`bf16perf.report.history`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_json", "atomic_write"]


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file beside it, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_json(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` as indented, key-sorted JSON to ``path`` atomically."""
    atomic_write(path, json.dumps(doc, indent=1, sort_keys=True))
