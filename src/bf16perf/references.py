"""Reference stacks a user creates, pins and keeps: the paired nightly's other side.

A reference is an isolated virtual environment under the state directory
(``<state>/references/NAME/``) with the file that pins it (``requirements.txt``) and what
was proven of it when it was made (``reference.json``: every version, its age, the kernel
proof).  It is made from one of two sources: this environment as it is now (its installed
distributions, frozen by ``pip freeze``, bf16perf itself and editable installs left out:
the worker code always comes from the checkout, :mod:`bf16perf.workload.stack`), or a
requirements or lock file (the last release's).  Creation is all or nothing: it builds in
a hidden directory beside the store, checks that the stack imports the training worker
and that one short oneDNN probe proves its kernels, and only then renames it into place;
anything that fails is one line naming what failed, and nothing is left behind.

Sessions name a reference with ``--perf-reference NAME`` (:func:`reference_python`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bf16perf.atomic import atomic_json

__all__ = [
    "ReferenceError",
    "ReferenceStack",
    "create_reference",
    "default_references_dir",
    "list_references",
    "load_reference",
    "reference_python",
    "remove_reference",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: Distributions never copied from this environment into a reference: the harness itself
#: (its worker code reaches the reference through PYTHONPATH) and pip's own.
_NOT_FROZEN = ("bf16perf", "pip", "setuptools", "wheel")
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


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ReferenceError(
            f"reference name {name!r}: use letters, digits, '.', '_' or '-' (at most 64,"
            " not starting with '.' or '-'), e.g. release-2.21"
        )


def _run(argv: list[str], what: str, timeout_s: float, **kw: Any) -> str:
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, check=False, **kw
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReferenceError(f"{what}: {exc}") from None
    if proc.returncode != 0:
        lines = [x for x in (proc.stderr or proc.stdout).strip().splitlines() if x.strip()]
        errors = [x for x in lines if "error" in x.lower()] or lines
        raise ReferenceError(
            f"{what} failed (exit {proc.returncode}): {errors[-1] if errors else ''}"
        )
    return proc.stdout


def frozen_requirements(python: str = sys.executable) -> str:
    """The installed distributions of ``python``'s environment, pinned (``pip freeze``),
    without bf16perf, pip's own and editable installs."""
    out = _run(
        [python, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
        f"pip freeze of {python}",
        120,
    )
    keep = []
    for line in out.splitlines():
        name = re.split(r"[=<>@ ;\[]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        if not line.strip() or line.startswith("#") or name in _NOT_FROZEN:
            continue
        if line.startswith("-e ") or " @ file://" in line:
            continue  # a local checkout is not a pinned distribution
        keep.append(line.strip())
    return "\n".join(keep) + "\n"


def _versions_of(python: Path, work: Path) -> dict[str, str]:
    """What the stack imports for the training worker, and its versions; PyTorch too where
    it is installed."""
    from bf16perf.workload.stack import StackError, check_reference_stack

    try:
        versions = check_reference_stack(str(python), (), work, timeout_s=300)
    except StackError as exc:
        raise ReferenceError(str(exc).replace("--perf-reference-python", "the reference")) from None
    probe = "import torch, sys; sys.stdout.write(torch.__version__)"
    try:
        torch = subprocess.run(
            [str(python), "-c", probe], capture_output=True, text=True, timeout=120, check=False
        )
        if torch.returncode == 0 and torch.stdout.strip():
            versions["torch"] = torch.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return versions


def _prove(python: Path, work: Path) -> tuple[str, str | None]:
    """The oneDNN probe on the stack: fp32 kernels must have run (bf16 is what the host
    has; the probe's verdict says which)."""
    from bf16perf.kernels import ProbeError
    from bf16perf.probe import run_probe
    from bf16perf.workload.stack import stack_env

    env = stack_env({}, str(python), (), work)
    try:
        summary = run_probe(env=env, timeout_s=300, python=str(python))
    except ProbeError as exc:
        raise ReferenceError(f"the reference's kernel probe: {exc}") from None
    if not summary.primitives:
        raise ReferenceError(
            "the reference's kernel probe printed no oneDNN primitive: its TensorFlow does"
            " not run oneDNN (TF_ENABLE_ONEDNN_OPTS=0, or a build without it)"
        )
    return f"{summary.verdict().message} (oneDNN {summary.version or '?'})", summary.version


def create_reference(
    name: str,
    *,
    root: Path | None = None,
    requirements: Path | None = None,
    python: str = sys.executable,
    timeout_s: float = 1800,
    log: Any = None,
) -> ReferenceStack:
    """Make reference ``name`` under ``root`` from ``requirements`` (a requirements or
    lock file) or, without it, from ``python``'s environment as it is now; check it; keep
    it.  :class:`ReferenceError` (one line) on any failure, with nothing left behind."""
    _check_name(name)
    root = root or default_references_dir()
    target = root / name
    if target.exists():
        raise ReferenceError(
            f"reference {name} exists ({target}): remove it first (bf16perf reference"
            f" remove {name}) or choose another name"
        )
    if requirements is not None and not requirements.is_file():
        raise ReferenceError(f"--requirements {requirements}: no such file")
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=root))
    try:
        say = log or (lambda _line: None)
        if requirements is None:
            pins, source = frozen_requirements(python), f"the environment of {python}"
        else:
            pins, source = requirements.read_text(), f"requirements file {requirements.resolve()}"
        (work / PINS).write_text(pins)
        say(f"creating the environment in {work / 'venv'} from {source}")
        _run([python, "-m", "venv", str(work / "venv")], "python -m venv", 300)
        venv_python = work / "venv" / "bin" / "python"
        install = [str(venv_python), "-m", "pip", "install", "--quiet", "-r", str(work / PINS)]
        if requirements is None:
            install.insert(5, "--no-deps")  # a freeze is already closed under its needs
        say("installing the pinned distributions (pip install -r requirements.txt)")
        _run([*install, "--disable-pip-version-check"], "pip install of the reference", timeout_s)
        say("checking that it imports the training worker and proving its kernels")
        shim = work / "check"
        versions = _versions_of(venv_python, shim)
        proof, onednn = _prove(venv_python, shim)
        if onednn:
            versions["onednn"] = onednn
        shutil.rmtree(shim, ignore_errors=True)
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta = {"name": name, "created": created, "source": source, "versions": versions}
        atomic_json(work / META, {**meta, "proof": proof})
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _fsync_dir(root)
    return load_reference(name, root)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_reference(name: str, root: Path | None = None) -> ReferenceStack:
    """Reference ``name``; :class:`ReferenceError` naming what to do where it is missing or
    broken."""
    _check_name(name)
    root = root or default_references_dir()
    path = root / name
    if not (path / META).is_file():
        known = ", ".join(r.name for r in list_references(root)) or "none"
        raise ReferenceError(
            f"--perf-reference {name}: no such reference in {root} (kept: {known}); create it"
            f" with: bf16perf reference create {name}"
        )
    try:
        data = json.loads((path / META).read_text())
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
    _check_name(name)
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
