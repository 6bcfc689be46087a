"""Runs the user-facing ``pytest perf/`` (smoke profile, fp32 only) in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def run_perf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``pytest perf -k 'not bf16' --perf-profile smoke ARGS`` from the repository root."""
    return subprocess.run(
        [
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
            "not bf16",
            *args,
        ],
        cwd=ROOT,
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
