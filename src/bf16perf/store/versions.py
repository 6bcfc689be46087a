"""A kept file's previous versions: the ``<stem>.prev-<stamp>.json`` copies that
:func:`bf16perf.store.atomic.keep_previous` leaves beside a baseline or noise file each time it is
replaced.  Listed newest first, restored (the version replaced is kept in its turn) and
pruned; every write through :mod:`bf16perf.store.atomic`.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from bf16perf.store.atomic import atomic_write, fsync_dir, keep_previous

__all__ = ["VersionError", "previous_versions", "prune", "rollback"]

_STAMP = re.compile(r"\.prev-(\d{8}T\d{6}Z)(?:-(\d+))?\.json$")


class VersionError(ValueError):
    """Nothing to restore, or a version that cannot be read: the message names the file."""


def previous_versions(path: Path) -> list[Path]:
    """``path``'s kept previous versions, newest first."""

    def order(p: Path) -> tuple[str, int]:
        found = _STAMP.search(p.name)
        return (found.group(1), int(found.group(2) or 1)) if found else ("", 0)

    found = [p for p in path.parent.glob(f"{path.stem}.prev-*.json") if _STAMP.search(p.name)]
    return sorted(found, key=order, reverse=True)


def rollback(path: Path) -> tuple[Path, Path]:
    """Restore the newest previous version of ``path`` that differs from it; the version it
    replaces is kept as a previous version in its turn.  Returns (restored from, kept as)."""
    if not path.is_file():
        raise VersionError(f"{path}: no such file to roll back")
    current = path.read_bytes()
    for candidate in previous_versions(path):
        try:
            text = candidate.read_bytes()
        except OSError as exc:
            raise VersionError(f"{candidate}: cannot be read ({exc.strerror})") from None
        if text != current:
            kept = keep_previous(path, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
            atomic_write(path, text.decode())
            return candidate, kept
    raise VersionError(f"{path}: no previous version that differs from it; nothing to restore")


def prune(path: Path, keep: int) -> list[Path]:
    """Remove ``path``'s previous versions beyond the newest ``keep``; the removed files."""
    if keep < 0:
        raise ValueError(f"keep at least 0 previous versions, not {keep}")
    gone = previous_versions(path)[keep:]
    for old in gone:
        os.unlink(old)
    if gone:
        fsync_dir(path.parent)
    return gone
