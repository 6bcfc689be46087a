"""Reference stacks a user creates, pins and keeps: the paired nightly's other side.

A reference is an isolated virtual environment under the state directory
(``<state>/references/NAME/``) with the file that pins it (``requirements.txt``) and what
was proven of it when it was made (``reference.json``: every version, its age, the kernel
proof).  It is made from one of two sources: this environment as it is now (its installed
distributions, frozen by ``pip freeze``, bf16perf itself and editable installs left out:
the worker code always comes from the checkout, :mod:`bf16perf.workloads.stack`), or a
requirements or lock file (the last release's).  Creation is all or nothing: it builds in
a hidden directory beside the store, checks that the stack imports the training worker
and that one short oneDNN probe proves its kernels, and only then renames it into place;
anything that fails is one line naming what failed, and nothing is left behind.

This module is the store (find, list, remove; :func:`reference_python` for
``--perf-reference NAME``); :mod:`bf16perf.console.reference_create` makes one.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bf16perf.store.formats import loads

__all__ = [
    "META",
    "PINS",
    "ReferenceError",
    "ReferenceStack",
    "check_name",
    "default_references_dir",
    "list_references",
    "load_reference",
    "reference_python",
    "remove_reference",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
META = "reference.json"
PINS = "requirements.txt"


class ReferenceError(RuntimeError):
    """A reference that cannot be made, found or removed: one line naming it and the fix."""


def default_references_dir() -> Path:
    """``$BF16PERF_STATE/references``, else ``~/.local/share/bf16perf/references``."""
    state = os.environ.get("BF16PERF_STATE")
    root = Path(state) if state else Path.home() / ".local" / "share" / "bf16perf"
    return root / "references"


@dataclass(frozen=True)
class ReferenceStack:
    """A kept reference.

    Attributes:
        name: its name (``--perf-reference NAME``).
        path: its directory.
        created: when it was made (UTC, ISO 8601).
        source: what it was made from, in words.
        versions: Python, TensorFlow, oneDNN, numpy, PyTorch where present.
        proof: the kernel probe's verdict when it was made.
    """

    name: str
    path: Path
    created: str
    source: str
    versions: dict[str, str]
    proof: str

    @property
    def python(self) -> Path:
        return self.path / "venv" / "bin" / "python"

    def age_days(self, now: datetime | None = None) -> float:
        now = now or datetime.now(UTC)
        then = datetime.fromisoformat(self.created.replace("Z", "+00:00"))
        return (now - then).total_seconds() / 86400


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ReferenceError(
            f"reference name {name!r}: use letters, digits, '.', '_' or '-' (at most 64,"
            " not starting with '.' or '-'), e.g. release-2.21"
        )


def load_reference(name: str, root: Path | None = None) -> ReferenceStack:
    """Reference ``name``; :class:`ReferenceError` naming what to do where it is missing or
    broken."""
    check_name(name)
    root = root or default_references_dir()
    path = root / name
    if not (path / META).is_file():
        known = ", ".join(r.name for r in list_references(root)) or "none"
        raise ReferenceError(
            f"--perf-reference {name}: no such reference in {root} (kept: {known}); create it"
            f" with: bf16perf reference create {name}"
        )
    try:
        data = loads((path / META).read_text())
        stack = ReferenceStack(
            name=str(data["name"]),
            path=path,
            created=str(data["created"]),
            source=str(data["source"]),
            versions={str(k): str(v) for k, v in dict(data["versions"]).items()},
            proof=str(data.get("proof", "")),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReferenceError(
            f"reference {name}: {path / META} is unreadable ({exc}); remove it and create it again"
        ) from None
    if not stack.python.exists():
        raise ReferenceError(
            f"reference {name}: its interpreter {stack.python} is gone (the base Python moved?);"
            f" remove it and create it again (bf16perf reference remove {name})"
        )
    return stack


def list_references(root: Path | None = None) -> list[ReferenceStack]:
    """Every kept reference under ``root``, by name (half-made ones are not listed)."""
    root = root or default_references_dir()
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or not (path / META).is_file():
            continue
        try:
            found.append(load_reference(path.name, root))
        except ReferenceError:
            continue
    return found


def remove_reference(name: str, root: Path | None = None) -> Path:
    """Remove reference ``name``; its former path."""
    check_name(name)
    root = root or default_references_dir()
    path = root / name
    if not (path / META).is_file():
        raise ReferenceError(f"reference {name}: no such reference in {root}")
    # renamed away first, so a crash mid-removal leaves no half reference under its name
    doomed = root / f".{name}.removing-{os.getpid()}"
    os.rename(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    return path


def reference_python(name: str, root: Path | None = None) -> str:
    """The interpreter of reference ``name`` (for ``--perf-reference``)."""
    return str(load_reference(name, root).python)
