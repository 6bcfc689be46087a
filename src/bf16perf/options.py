"""Command-line options of the ``perf`` group, parsed once into a frozen :class:`PerfOptions`.

Every option is parsed by a ``type=`` function that raises ``argparse.ArgumentTypeError``
naming the bad value, so a typo fails at the command line, before any cluster starts.
Conflicting options raise :class:`pytest.UsageError` in :func:`options_from_config`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from bf16perf.plan import PinMode
from bf16perf.stats import min_pairs_for
from bf16perf.workload.config import PROFILES, TrainConfig

__all__ = ["PerfOptions", "addoptions", "options_from_config"]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _positive_int(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a fraction in [0, 1), e.g. 0.05")
    return value


def _non_negative_int(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def _measured_steps(text: str) -> int:
    value = _positive_int(text)
    if value < 3:
        raise argparse.ArgumentTypeError(
            f"{text!r} measured steps: a run's figure is the median of its steps, and fewer"
            " than 3 make it one step's noise; use 3 or more"
        )
    return value


def _alpha(text: str) -> float:
    value = _number(text)
    if not 0 < value <= 0.1:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a false-alarm rate in (0, 0.1], e.g. 0.01"
        )
    return value


def _env_assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=VALUE with NAME an environment variable name,"
            " e.g. ONEDNN_MAX_CPU_ISA=AVX2"
        )
    return name, value


def _profile(text: str) -> str:
    if text not in PROFILES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(PROFILES)}")
    return text


def _existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return path


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
        loss_atol, loss_rtol: per-step loss tolerance against the baseline curve.
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
    loss_atol: float = 1e-3
    loss_rtol: float = 1e-3
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
        "--perf-allow-emulated-bf16",
        action="store_true",
        default=False,
        help="self-test without bf16 hardware: run bf16 tests anyway, marked emulated",
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
        "--perf-profile",
        type=_profile,
        default="default",
        metavar="smoke|default|full",
        help="workload size preset (default: default)",
    )
    group.addoption("--perf-image-size", type=_positive_int, default=None, metavar="PIXELS")
    group.addoption("--perf-batch-per-worker", type=_positive_int, default=None, metavar="N")
    group.addoption("--perf-warmup-steps", type=_positive_int, default=None, metavar="N")
    group.addoption(
        "--perf-steps",
        type=_measured_steps,
        default=None,
        metavar="N",
        help="measured steps per run (3 or more)",
    )
    group.addoption(
        "--perf-data-dir",
        type=_existing_dir,
        default=None,
        metavar="DIR",
        help="ImageNet-format TFRecords (default: synthetic data)",
    )
    group.addoption(
        "--perf-step-timeout",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="fail a run when no step finishes within this time",
    )
    group.addoption(
        "--perf-inject-slowdown",
        type=_fraction,
        default=None,
        metavar="FRACTION",
        help="self-test: add this fraction of each measured step's time as delay",
    )
    group.addoption(
        "--perf-onednn-max-isa",
        default=None,
        metavar="ISA",
        help="cap oneDNN's ISA (ONEDNN_MAX_CPU_ISA), e.g. AVX512_CORE_BF16",
    )
    group.addoption(
        "--perf-bf16-allreduce",
        action="store_true",
        default=False,
        help="bf16 runs all-reduce gradients in bf16 (half the bytes; the reference recipe"
        " reduces fp32); a separate baseline key",
    )
    group.addoption(
        "--perf-baselines",
        type=Path,
        default=Path("baselines"),
        metavar="DIR",
        help="baseline store (default: baselines/)",
    )
    group.addoption(
        "--perf-save-baseline",
        action="store_true",
        default=False,
        help="accept this run as the baseline (the previous one is kept)",
    )
    group.addoption(
        "--perf-max-regression",
        type=_fraction,
        default=0.05,
        metavar="FRACTION",
        help="throughput drop that is a regression when significant (default 0.05)",
    )
    group.addoption(
        "--perf-min-bf16-speedup",
        type=_positive_float,
        default=None,
        metavar="RATIO",
        help="release gate: minimum bf16/fp32 speedup (default 1.0; none for the smoke profile)",
    )
    group.addoption(
        "--perf-repeats",
        type=_positive_int,
        default=3,
        metavar="N",
        help="runs per variant, interleaved fp32/bf16: the unit of every verdict, and the runs"
        " a saved baseline keeps (default 3)",
    )
    group.addoption(
        "--perf-extra-pairs",
        type=_non_negative_int,
        default=2,
        metavar="N",
        help="fp32/bf16 pairs added when the gate is inconclusive; both looks then run at"
        " half the error (default 2; 0: one look)",
    )
    group.addoption(
        "--perf-alpha",
        type=_alpha,
        default=0.01,
        metavar="P",
        help="one-sided false-alarm rate of the throughput verdicts (default 0.01)",
    )
    group.addoption(
        "--perf-reference-python",
        default=None,
        metavar="PATH",
        help="A/B mode: alternate runs with this interpreter's stack (e.g. last release's"
        " TensorFlow) instead of comparing against a stored baseline",
    )
    group.addoption(
        "--perf-reference-env",
        type=_env_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="A/B mode: environment of the reference runs (repeatable), e.g. a oneDNN knob",
    )
    group.addoption(
        "--perf-pairs",
        type=_positive_int,
        default=8,
        metavar="N",
        help="A/B mode: reference/candidate pairs per variant, in balanced random order"
        " (default 8)",
    )
    group.addoption(
        "--perf-bf16-loss-band",
        type=_positive_float,
        default=0.5,
        metavar="LOSS",
        help="largest mean |bf16 - fp32| loss difference within a run (default 0.5)",
    )
    group.addoption(
        "--perf-reports",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="report directories go here (default: reports/)",
    )
    group.addoption(
        "--perf-history",
        type=Path,
        default=None,
        metavar="PATH",
        help="append-only history file (default: <reports>/history.jsonl)",
    )
    group.addoption(
        "--perf-no-report",
        action="store_true",
        default=False,
        help="write no report directory and no history line",
    )
    parser.addini(
        "perf_min_bf16_speedup",
        default="",
        help="default of --perf-min-bf16-speedup (unset: 1.0, and no gate in the smoke profile)",
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
    if require and get("perf_allow_emulated_bf16"):
        raise pytest.UsageError(
            "--perf-require-bf16 and --perf-allow-emulated-bf16 contradict each other:"
            " a nightly job needs real bf16 hardware; drop one of them"
        )
    if master and get("perf_pin"):
        raise pytest.UsageError(
            "--spark-master uses an existing cluster whose pinning is its own business:"
            " drop --perf-pin, which only pins a local cluster"
        )
    reference_python, reference_env = get("perf_reference_python"), get("perf_reference_env")
    ab_mode = reference_python is not None or bool(reference_env)
    if ab_mode and get("perf_save_baseline"):
        raise pytest.UsageError(
            "--perf-save-baseline saves this stack's runs; A/B mode (--perf-reference-python"
            " or --perf-reference-env) compares two stacks and saves nothing: drop one"
        )
    alpha = get("perf_alpha")
    if ab_mode and 0.5 ** get("perf_pairs") > alpha:
        raise pytest.UsageError(
            f"--perf-pairs {get('perf_pairs')}: an exact signed-rank test on that many pairs"
            f" cannot reach p < {alpha:g} (the smallest p is 1/2^pairs); use --perf-pairs"
            f" {min_pairs_for(alpha)} or more, or a larger --perf-alpha"
        )
    baselines = get("perf_baselines")
    profile = get("perf_profile")
    overrides = {
        "image_size": get("perf_image_size"),
        "batch_per_worker": get("perf_batch_per_worker"),
        "warmup_steps": get("perf_warmup_steps"),
        "measured_steps": get("perf_steps"),
        "data_dir": str(get("perf_data_dir")) if get("perf_data_dir") else None,
        "step_timeout_s": get("perf_step_timeout"),
        "inject_slowdown": get("perf_inject_slowdown"),
        "onednn_max_isa": get("perf_onednn_max_isa"),
        "bf16_allreduce": get("perf_bf16_allreduce") or None,
    }
    train = replace(PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None})
    min_speedup = get("perf_min_bf16_speedup")
    ini_speedup = str(config.getini("perf_min_bf16_speedup")).strip()
    if min_speedup is None and ini_speedup:
        try:
            min_speedup = _positive_float(ini_speedup)
        except argparse.ArgumentTypeError as exc:
            raise pytest.UsageError(f"ini perf_min_bf16_speedup: {exc}") from None
    if min_speedup is None:
        # 32x32 is overhead-bound: bf16 is no faster there (0.99x on a Zen 4), so the
        # smoke profile checks the gate's mechanics without gating
        min_speedup = 0.0 if profile == "smoke" else 1.0
    return PerfOptions(
        train=train,
        profile=profile,
        baselines_dir=baselines,
        save_baseline=get("perf_save_baseline"),
        max_regression=get("perf_max_regression"),
        min_bf16_speedup=min_speedup,
        repeats=get("perf_repeats"),
        report=not get("perf_no_report"),
        reports_dir=get("perf_reports"),
        history=get("perf_history"),
        extra_pairs=get("perf_extra_pairs"),
        alpha=alpha,
        reference_python=reference_python,
        reference_env=tuple(reference_env),
        pairs=get("perf_pairs"),
        bf16_loss_band=get("perf_bf16_loss_band"),
        cpuinfo=get("perf_cpuinfo"),
        require_bf16=bool(require),
        allow_emulated_bf16=get("perf_allow_emulated_bf16"),
        probe=not get("perf_no_probe"),
        workers=workers,
        cores_per_worker=cores,
        pin=get("perf_pin"),
        spark_master=master,
        lock_timeout_s=get("perf_lock_timeout"),
        run_dir=get("perf_run_dir"),
        keep_run_dir=get("perf_keep_run_dir"),
    )
