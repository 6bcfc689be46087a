"""Making a reference stack (``bf16perf reference create``): freeze or read the pins,
build the environment beside the store, check it imports the training worker, prove its
kernels with one short oneDNN probe, and only then rename it into place
(:mod:`bf16perf.store.references` is the store).  Anything that fails is one line naming what
failed, and nothing is left behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bf16perf.store.atomic import atomic_json
from bf16perf.store.references import (
    META,
    PINS,
    ReferenceError,
    ReferenceStack,
    check_name,
    default_references_dir,
    load_reference,
)

__all__ = ["create_reference", "frozen_requirements", "pip_sources"]

#: Distributions never copied from this environment into a reference: the harness itself
#: (its worker code reaches the reference through PYTHONPATH) and pip's own.
_NOT_FROZEN = ("bf16perf", "pip", "setuptools", "wheel")


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
    return str(proc.stdout)


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
    from bf16perf.workloads.stack import StackError, check_reference_stack

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
    from bf16perf.onednn.capture import run_probe
    from bf16perf.onednn.kernels import ProbeError
    from bf16perf.workloads.stack import stack_env

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


def pip_sources(python: str = sys.executable) -> tuple[list[str], dict[str, str]]:
    """Where ``python``'s pip finds distributions (its configuration files and ``PIP_*``
    variables, as ``pip config list`` reports them), as uv's arguments and environment:
    a reference installs from the same indexes, links and constraints as pip would."""
    try:
        listed = _run([python, "-m", "pip", "config", "list"], "pip config list", 60)
    except ReferenceError:
        return [], {}
    args: list[str] = []
    env: dict[str, str] = {}
    flags = {
        "index-url": "--index-url",
        "extra-index-url": "--extra-index-url",
        "find-links": "--find-links",
        "constraint": "--constraint",
    }
    seen: dict[str, str] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        seen[key.rpartition(".")[2]] = value.strip().strip("'\"")  # the last scope wins
    for key, value in seen.items():
        if key in flags:
            for one in value.split():
                args += [flags[key], one]
        elif key == "no-index" and value.lower() in ("1", "true", "yes", "on"):
            args.append("--no-index")
        elif key == "cert":
            env["SSL_CERT_FILE"] = value
    return args, env


def _uv() -> str | None:
    """uv's executable, where it is installed (a dependency of bf16perf)."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return None


def _install(
    python: str, venv_python: Path, pins: Path, frozen: bool, timeout_s: float, say: Any
) -> None:
    """Install the pins into the new environment: with uv where it is installed (seconds
    from its cache instead of pip's two minutes, BENCHMARKS.md Q4), from pip's own sources;
    with pip where uv is missing or fails.  Byte-compiled either way: with
    PYTHONDONTWRITEBYTECODE set, as on the build VM, every process of a reference without
    bytecode imported TensorFlow and PyTorch in 17 s instead of 8-10 s (BENCHMARKS.md Q1)."""
    deps = ["--no-deps"] if frozen else []  # a freeze is already closed under its needs
    uv = _uv()
    if uv is not None:
        sources, env = pip_sources(python)
        say("installing the pinned distributions (uv pip install -r requirements.txt)")
        argv = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python",
                str(venv_python), "--index-strategy", "unsafe-best-match", *sources, *deps,
                "-r", str(pins)]  # fmt: skip
        try:
            _run(argv, "uv pip install of the reference", timeout_s, env={**os.environ, **env})
            return
        except ReferenceError as exc:
            say(f"{exc}: installing with pip instead")
    say("installing the pinned distributions (pip install -r requirements.txt)")
    install = [str(venv_python), "-m", "pip", "install", "--quiet", *deps, "-r", str(pins)]
    _run([*install, "--disable-pip-version-check"], "pip install of the reference", timeout_s)


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
    check_name(name)
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
        _install(python, venv_python, work / PINS, requirements is None, timeout_s, say)
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
