"""Runs the user-facing ``pytest perf/`` (smoke profile, fp32 only) in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def perf_command(*args: str, select: str = "not bf16") -> list[str]:
    """``pytest perf -k SELECT --perf-profile smoke ARGS`` (a later ``-k`` in ARGS wins)."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "perf",
        "-p",
        "no:cacheprovider",
        "-rs",
        "--perf-profile",
        "smoke",
        "-k",
        select,
        *args,
    ]


def run_perf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run :func:`perf_command` from the repository root and capture its output."""
    return subprocess.run(
        perf_command(*args),
        cwd=ROOT,
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
