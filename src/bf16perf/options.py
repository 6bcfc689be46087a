"""The session's options, parsed once into a frozen :class:`PerfOptions`.

The flags themselves are :data:`bf16perf.cli.OPTIONS`, a declarative table whose parsers
reject a bad value at the command line; :func:`options_from_config` fills
:class:`PerfOptions` from it, applies the ini defaults, and raises
:class:`pytest.UsageError` for options that contradict each other.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from bf16perf import cli
from bf16perf.cli import OPTIONS
from bf16perf.plan import PinMode
from bf16perf.power import min_pairs_for
from bf16perf.workload.config import PROFILES, TrainConfig

__all__ = ["PerfOptions", "options_from_config"]


@dataclass(frozen=True)
class PerfOptions:
    """Parsed ``--perf-*`` options.

    Attributes:
        cpuinfo: a cpuinfo file describing the machine (``None``: ``$BF16PERF_CPUINFO`` or
            ``/proc/cpuinfo``).
        require_bf16: turn the skip of bf16 tests on hardware without bf16 into a failure.
        allow_emulated_bf16: self-test of the harness on machines without bf16: run the
            bf16 tests anyway, marked emulated; their figures are never performance data.
        probe: run the oneDNN kernel probe for the session header.
        workers: local Spark workers (``None``: derived from the machine); with
            ``spark_master``, the executors to wait for and train on (``None``: 1).
        cores_per_worker: CPUs per worker (``None``: derived from the machine); with
            ``spark_master``, ``spark.executor.cores`` and ``spark.task.cpus``.
        pin: pinning tool for local workers (``None``: numactl where installed and NUMA > 1).
        spark_master: an existing cluster's master URL; skips the local bring-up.
        lock_timeout_s: how long to wait for another perf session on this machine.
        run_dir: where Spark's conf, logs, work and local dirs go (``None``: a temp dir).
        keep_run_dir: keep the run directory even when everything passed.
        train: the training configuration (profile plus overrides), precision fp32.
        profile: the ``--perf-profile`` it started from.
        baselines_dir: the baseline store.
        save_baseline: accept this run as the new baseline (the old one is kept beside it).
        max_regression: throughput drop (fraction) that counts as a regression when
            significant.
        min_bf16_speedup: the release gate's minimum bf16/fp32 throughput ratio (0: no
            gate, the smoke profile's default).
        repeats: runs per variant, the unit of every verdict and of a saved baseline;
            fp32 and bf16 runs interleave (fp32, bf16, fp32, bf16, ...).
        extra_pairs: fp32/bf16 pairs added when the gate's first look is inconclusive (0:
            one look); with a second look both are made at half the error.
        alpha: one-sided false-alarm rate of the throughput rules (stored baseline, A/B).
        reference_python: the interpreter of a reference stack for A/B runs (``None``:
            this one, where ``reference_env`` alone makes the difference).
        reference_env: environment of the reference runs, ``(name, value)`` pairs.
        pairs: reference/candidate pairs of runs per variant in A/B mode.
        bf16_loss_band: the largest mean |bf16 - fp32| loss difference within a run.
        report: write ``reports/<timestamp>-<slug>/`` at the end of the session.
        reports_dir: where report directories, ``latest`` and the default history go.
        history: the append-only history file (``None``: ``reports_dir/history.jsonl``).
    """

    cpuinfo: Path | None = None
    require_bf16: bool = False
    allow_emulated_bf16: bool = False
    probe: bool = True
    workers: int | None = None
    cores_per_worker: int | None = None
    pin: PinMode | None = None
    spark_master: str | None = None
    lock_timeout_s: float = 600.0
    run_dir: Path | None = None
    keep_run_dir: bool = False
    train: TrainConfig = field(default_factory=lambda: PROFILES["default"])
    profile: str = "default"
    baselines_dir: Path = Path("baselines")
    save_baseline: bool = False
    max_regression: float = 0.05
    min_bf16_speedup: float = 1.0
    repeats: int = 3
    extra_pairs: int = 2
    alpha: float = 0.01
    reference_python: str | None = None
    reference_env: tuple[tuple[str, str], ...] = ()
    pairs: int = 8
    report: bool = True
    reports_dir: Path = Path("reports")
    history: Path | None = None
    bf16_loss_band: float = 0.5

    def input_errors(self) -> list[str]:
        """Inputs that would only fail after the cluster and the first run (checked when a
        perf session activates, before the machine lock and the kernel probe)."""
        errors = []
        if not (self.ab_mode or self.save_baseline or self.baselines_dir.is_dir()):
            errors.append(
                f"--perf-baselines {self.baselines_dir}: no such directory, so no run could"
                " meet its baseline; point it at your baseline store, or create it and save"
                " one with --perf-save-baseline"
            )
        return errors

    @property
    def ab_mode(self) -> bool:
        """Runs alternate with a reference stack instead of meeting a stored baseline."""
        return self.reference_python is not None or bool(self.reference_env)

    @property
    def history_path(self) -> Path:
        """The history file: ``--perf-history`` or ``<reports>/history.jsonl``."""
        return self.history or self.reports_dir / "history.jsonl"


def options_from_config(config: pytest.Config) -> PerfOptions:
    """Build :class:`PerfOptions` from a configured pytest (values already parsed)."""
    values = {o.dest: config.getoption(o.dest) for o in OPTIONS}
    fields: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    for o in OPTIONS:
        value = values[o.dest]
        if o.fills:
            fields[o.fills] = (not value) if o.negate else value
        elif o.train and value not in (None, False):
            overrides[o.train] = str(value) if isinstance(value, Path) else value
    fields["reference_env"] = tuple(fields["reference_env"])
    require = values["perf_require_bf16"] or bool(config.getini("perf_require_bf16"))
    fields["require_bf16"] = require
    fields["train"] = replace(PROFILES[fields["profile"]], **overrides)
    speedup = values["perf_min_bf16_speedup"]
    fields["min_bf16_speedup"] = _min_speedup(config, speedup, fields["profile"])
    options = PerfOptions(**fields)
    _check_conflicts(options)
    return options


def _min_speedup(config: pytest.Config, given: float | None, profile: str) -> float:
    ini = str(config.getini("perf_min_bf16_speedup")).strip()
    if given is None and ini:
        try:
            given = cli.positive_float(ini)
        except argparse.ArgumentTypeError as exc:
            raise pytest.UsageError(f"ini perf_min_bf16_speedup: {exc}") from None
    if given is not None:
        return given
    # 32x32 is overhead-bound: bf16 is no faster there (0.99x on a Zen 4), so the smoke
    # profile checks the gate's mechanics without gating
    return 0.0 if profile == "smoke" else 1.0


def _check_conflicts(options: PerfOptions) -> None:
    if options.require_bf16 and options.allow_emulated_bf16:
        raise pytest.UsageError(
            "--perf-require-bf16 and --perf-allow-emulated-bf16 contradict each other:"
            " a nightly job needs real bf16 hardware; drop one of them"
        )
    if options.spark_master and options.pin:
        raise pytest.UsageError(
            "--spark-master uses an existing cluster whose pinning is its own business:"
            " drop --perf-pin, which only pins a local cluster"
        )
    if options.ab_mode and options.save_baseline:
        raise pytest.UsageError(
            "--perf-save-baseline saves this stack's runs; A/B mode (--perf-reference-python"
            " or --perf-reference-env) compares two stacks and saves nothing: drop one"
        )
    if options.ab_mode and 0.5**options.pairs > options.alpha:
        raise pytest.UsageError(
            f"--perf-pairs {options.pairs}: an exact signed-rank test on that many pairs"
            f" cannot reach p < {options.alpha:g} (the smallest p is 1/2^pairs); use"
            f" --perf-pairs {min_pairs_for(options.alpha)} or more, or a larger --perf-alpha"
        )
