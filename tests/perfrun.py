"""Runs the user-facing ``pytest perf/`` (smoke profile) in a subprocess, on chosen tests.

Tests are chosen by node id, never by a ``-k`` expression: ``-k`` matches the names of a
test's parents too (the module ``test_training.py``, the ``perf`` folder), so
``-k "test_training and fp32"`` also picks ``test_bf16_loss_tracks_fp32``, which trains a
bf16 run on a bf16 host and skips elsewhere.  Which tests of a selection run or skip still
depends on the host's bf16 capability (:mod:`tests.hostview`); the tests that see it say so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent

TRAINING = "perf/test_training.py::test_training"  # every variant (and workload)
FP32 = f"{TRAINING}[fp32]"
BF16 = f"{TRAINING}[bf16]"
BF16_AVX512 = f"{TRAINING}[bf16-avx512]"
BF16_LOSS = "perf/test_training.py::test_bf16_loss_tracks_fp32"
BF16_SPEEDUP = "perf/test_training.py::test_bf16_speedup"
CLUSTER = "perf/test_cluster.py::test_all_executors_registered"
#: the cluster and fp32 training: what runs on every host
FP32_ONLY = (CLUSTER, FP32)


#: What a session skips unless its test reads it (CI time, #33): the profiled lone step and
#: its peak probe, about 25 s a session on a 2-vCPU VM; the kernel proof still runs.
NO_PROFILE = "--perf-no-step-profile"


def perf_command(
    *args: str, tests: tuple[str, ...] = FP32_ONLY, profile: bool = False
) -> list[str]:
    """``pytest TESTS --perf-profile smoke ARGS``; ``tests`` are node ids under ``perf/``;
    ``profile``: keep the lone-step profile (else :data:`NO_PROFILE`)."""
    if not profile and NO_PROFILE not in args:
        args = (*args, NO_PROFILE)
    return [
        sys.executable,
        "-m",
        "pytest",
        *tests,
        "-p",
        "no:cacheprovider",
        "-rs",
        "--perf-profile",
        "smoke",
        *args,
    ]


def run_perf(
    *args: str,
    tests: tuple[str, ...] = FP32_ONLY,
    env: dict[str, str] | None = None,
    profile: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run :func:`perf_command` from the repository root and capture its output."""
    return subprocess.run(
        perf_command(*args, tests=tests, profile=profile),
        cwd=ROOT,
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )


def worker_requirements(path: Path) -> Path:
    """Write a lock file of what the training worker needs, TensorFlow and the distributions
    it depends on, pinned at this environment's versions (a user's "last release's lock
    file"): a reference made from it installs in a fraction of a whole-environment freeze's
    time (CI time, #33)."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    todo = ["tensorflow-cpu", "tensorflow", "numpy"]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in pins:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        pins[name] = dist.version
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    assert "numpy" in pins and len(pins) > 2, pins  # TensorFlow is installed here
    path.write_text("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
    return path
