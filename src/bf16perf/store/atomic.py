"""The one way the project writes a file: whole or not at all.

A temp file in the same directory, flushed and fsync'd, then renamed over the target,
then the directory fsync'd (so a power cut cannot undo a file reported as saved): a
reader sees the old file or the new one, never half of one, and a crash leaves at most a
``.tmp-*`` file beside it.  Files get the user's umask (0644 by default), as any tool's
do, so a team can keep them on a shared disk.  Every report, baseline, noise file, calibration
session and history page goes through here (the history itself is appended under a lock:
:mod:`bf16perf.store.history`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_json", "atomic_write", "file_mode", "fsync_dir", "keep_previous"]


def file_mode() -> int:
    """The mode a new file gets under this process's umask (read from ``/proc``, since
    setting the umask to read it is not thread-safe; 0644 where it cannot be read)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o644


def fsync_dir(directory: Path) -> None:
    """Make a rename, a new link or a new file in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file beside it, fsync, rename, fsync
    of the directory), with the mode of a new file under the umask."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as fh:
            os.fchmod(fh.fileno(), file_mode())
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_json(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` as indented, key-sorted JSON to ``path`` atomically."""
    atomic_write(path, json.dumps(doc, indent=1, sort_keys=True))


def keep_previous(path: Path, stamp: str) -> Path:
    """Keep ``path`` as it is now beside it, as ``<stem>.prev-<stamp>.json`` (a hard link:
    no copy, and the next write replaces ``path``, never this), before it is replaced."""
    previous = path.with_name(f"{path.stem}.prev-{stamp}.json")
    n = 1
    while previous.exists():  # two saves within one second keep both
        n += 1
        previous = path.with_name(f"{path.stem}.prev-{stamp}-{n}.json")
    os.link(path, previous)
    return previous
