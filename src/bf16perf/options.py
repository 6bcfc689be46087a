"""Command-line options of the ``perf`` group, parsed once into a frozen :class:`PerfOptions`.

Every option is parsed by a ``type=`` function that raises ``argparse.ArgumentTypeError``
naming the bad value, so a typo fails at the command line, before any cluster starts.
Conflicting options raise :class:`pytest.UsageError` in :func:`options_from_config`.
"""

from __future__ import annotations

import argparse
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["PerfOptions", "PinMode", "addoptions", "options_from_config"]


class PinMode(enum.Enum):
    """How each local Spark worker is bound to its CPUs."""

    TASKSET = "taskset"
    NUMACTL = "numactl"
    NONE = "none"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def _pin_mode(text: str) -> PinMode:
    try:
        return PinMode(text)
    except ValueError:
        choices = ", ".join(m.value for m in PinMode)
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {choices}") from None


def _master_url(text: str) -> str:
    if text.startswith(("spark://", "k8s://", "local-cluster[")) or text == "yarn":
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a Spark master URL: use spark://HOST:PORT, yarn, k8s://URL"
        " or local-cluster[N,CORES,MEM]"
    )


@dataclass(frozen=True)
class PerfOptions:
    """Parsed ``--perf-*`` options.

    Attributes:
        cpuinfo: a cpuinfo file describing the machine (``None``: ``$BF16PERF_CPUINFO`` or
            ``/proc/cpuinfo``).
        require_bf16: turn the skip of bf16 tests on hardware without bf16 into a failure.
        probe: run the oneDNN kernel probe for the session header.
        workers: local Spark workers (``None``: derived from the machine).
        cores_per_worker: CPUs per worker (``None``: derived from the machine).
        pin: pinning tool for local workers (``None``: numactl where installed and NUMA > 1).
        spark_master: an existing cluster's master URL; skips the local bring-up.
        lock_timeout_s: how long to wait for another perf session on this machine.
        run_dir: where Spark's conf, logs, work and local dirs go (``None``: a temp dir).
        keep_run_dir: keep the run directory even when everything passed.
    """

    cpuinfo: Path | None = None
    require_bf16: bool = False
    probe: bool = True
    workers: int | None = None
    cores_per_worker: int | None = None
    pin: PinMode | None = None
    spark_master: str | None = None
    lock_timeout_s: float = 600.0
    run_dir: Path | None = None
    keep_run_dir: bool = False


def addoptions(parser: pytest.Parser) -> None:
    """Register the ``perf`` option group."""
    group = parser.getgroup("perf", "bf16perf: bf16 training performance")
    group.addoption(
        "--perf-cpuinfo",
        type=Path,
        default=None,
        metavar="PATH",
        help="cpuinfo file describing the machine (default: $BF16PERF_CPUINFO or /proc/cpuinfo)",
    )
    group.addoption(
        "--perf-require-bf16",
        action="store_true",
        default=None,
        help="fail, instead of skipping, bf16 tests on hardware without bf16 (nightly jobs)",
    )
    parser.addini(
        "perf_require_bf16", type="bool", default=False, help="default of --perf-require-bf16"
    )
    group.addoption(
        "--perf-no-probe",
        action="store_true",
        default=False,
        help="do not run the oneDNN kernel probe for the session header",
    )
    group.addoption(
        "--perf-workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="local Spark workers (default: one per physical core group)",
    )
    group.addoption(
        "--perf-cores-per-worker",
        type=_positive_int,
        default=None,
        metavar="N",
        help="CPUs pinned to each local worker",
    )
    group.addoption(
        "--perf-pin",
        type=_pin_mode,
        default=None,
        metavar="taskset|numactl|none",
        help="how local workers are pinned (default: numactl if installed and NUMA > 1,"
        " else taskset)",
    )
    group.addoption(
        "--spark-master",
        type=_master_url,
        default=None,
        metavar="URL",
        help="use this existing cluster instead of starting one (pinning is then the"
        " cluster's business)",
    )
    group.addoption(
        "--perf-lock-timeout",
        type=_positive_float,
        default=600.0,
        metavar="SECONDS",
        help="wait this long for another perf session on this machine (default 600)",
    )
    group.addoption(
        "--perf-run-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="Spark conf, logs, work and scratch dirs (default: a temporary dir)",
    )
    group.addoption(
        "--perf-keep-run-dir",
        action="store_true",
        default=False,
        help="keep the run directory even when everything passed",
    )


def options_from_config(config: pytest.Config) -> PerfOptions:
    """Build :class:`PerfOptions` from a configured pytest (options already type-checked)."""
    get: Any = config.getoption
    require = get("perf_require_bf16")
    if require is None:
        require = bool(config.getini("perf_require_bf16"))
    workers, cores = get("perf_workers"), get("perf_cores_per_worker")
    master = get("spark_master")
    if master and (workers or cores or get("perf_pin")):
        raise pytest.UsageError(
            "--spark-master uses an existing cluster: drop --perf-workers,"
            " --perf-cores-per-worker and --perf-pin, which only shape a local cluster"
        )
    return PerfOptions(
        cpuinfo=get("perf_cpuinfo"),
        require_bf16=bool(require),
        probe=not get("perf_no_probe"),
        workers=workers,
        cores_per_worker=cores,
        pin=get("perf_pin"),
        spark_master=master,
        lock_timeout_s=get("perf_lock_timeout"),
        run_dir=get("perf_run_dir"),
        keep_run_dir=get("perf_keep_run_dir"),
    )
