"""The command line of the ``perf`` group: one declarative table, and the value parsers.

Each :class:`Option` of :data:`OPTIONS` names its parser and the
:class:`~bf16perf.options.PerfOptions` field (or :class:`~bf16perf.workload.config.TrainConfig`
override) it fills, so adding an option is one entry.  Every parser raises
``argparse.ArgumentTypeError`` naming the bad value and what would be right, so that a typo
fails at the command line, before any cluster starts."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bf16perf.plan import PinMode
from bf16perf.workload.config import PROFILES

__all__ = [
    "OPTIONS",
    "Option",
    "addoptions",
    "alpha",
    "env_assignment",
    "existing_dir",
    "fraction",
    "master_url",
    "measured_steps",
    "non_negative_int",
    "pin_mode",
    "positive_float",
    "positive_int",
    "profile",
]


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


def positive_int(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a fraction in [0, 1), e.g. 0.05")
    return value


def non_negative_int(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def measured_steps(text: str) -> int:
    value = positive_int(text)
    if value < 3:
        raise argparse.ArgumentTypeError(
            f"{text!r} measured steps: a run's figure is the median of its steps, and fewer"
            " than 3 make it one step's noise; use 3 or more"
        )
    return value


def alpha(text: str) -> float:
    value = _number(text)
    if not 0 < value <= 0.1:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a false-alarm rate in (0, 0.1], e.g. 0.01"
        )
    return value


def env_assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME=VALUE with NAME an environment variable name,"
            " e.g. ONEDNN_MAX_CPU_ISA=AVX2"
        )
    return name, value


def profile(text: str) -> str:
    if text not in PROFILES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(PROFILES)}")
    return text


def existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return path


def pin_mode(text: str) -> PinMode:
    try:
        return PinMode(text)
    except ValueError:
        choices = ", ".join(m.value for m in PinMode)
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {choices}") from None


def master_url(text: str) -> str:
    if text.startswith(("spark://", "k8s://", "local-cluster[")) or text == "yarn":
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a Spark master URL: use spark://HOST:PORT, yarn, k8s://URL"
        " or local-cluster[N,CORES,MEM]"
    )


@dataclass(frozen=True)
class Option:
    """One ``--perf-*`` flag.

    Attributes:
        flag: the command-line flag.
        help: its help line.
        fills: the :class:`PerfOptions` field it sets (``""``: none, it is read apart).
        train: the :class:`TrainConfig` field it overrides, where it is a workload knob.
        parse: the value parser (``None``: a switch).
        default: the value when the flag is absent.
        metavar: the value's name in ``--help``.
        repeat: the flag may be given several times (values collect in a list).
        negate: a ``--perf-no-*`` switch: its field is the switch's opposite.
    """

    flag: str
    help: str
    fills: str = ""
    train: str = ""
    parse: Callable[[str], Any] | None = None
    default: Any = None
    metavar: str | None = None
    repeat: bool = False
    negate: bool = False

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def add_to(self, group: Any) -> None:
        if self.parse is None:
            action = "store_true"
            group.addoption(self.flag, action=action, default=self.default, help=self.help)
            return
        group.addoption(
            self.flag,
            type=self.parse,
            default=[] if self.repeat else self.default,
            action="append" if self.repeat else "store",
            metavar=self.metavar,
            help=self.help,
        )


OPTIONS: tuple[Option, ...] = (
    # the machine and the hardware gate
    Option("--perf-cpuinfo", "cpuinfo file describing the machine (default:"
           " $BF16PERF_CPUINFO or /proc/cpuinfo)", "cpuinfo", parse=Path, metavar="PATH"),
    Option("--perf-require-bf16", "fail, instead of skipping, bf16 tests on hardware without"
           " bf16 (nightly jobs)"),
    Option("--perf-allow-emulated-bf16", "self-test without bf16 hardware: run bf16 tests"
           " anyway, marked emulated", "allow_emulated_bf16", default=False),
    Option("--perf-no-probe", "do not run the oneDNN kernel probe for the session header",
           "probe", default=False, negate=True),
    # the cluster
    Option("--perf-workers", "local Spark workers (default: one per physical core group)",
           "workers", parse=positive_int, metavar="N"),
    Option("--perf-cores-per-worker", "CPUs pinned to each local worker", "cores_per_worker",
           parse=positive_int, metavar="N"),
    Option("--perf-pin", "how local workers are pinned (default: numactl if installed and"
           " NUMA > 1, else taskset)", "pin", parse=pin_mode,
           metavar="taskset|numactl|none"),
    Option("--spark-master", "use this existing cluster instead of starting one (pinning is"
           " then the cluster's business)", "spark_master", parse=master_url, metavar="URL"),
    Option("--perf-lock-timeout", "wait this long for another perf session on this machine"
           " (default 600)", "lock_timeout_s", parse=positive_float, default=600.0,
           metavar="SECONDS"),
    Option("--perf-run-dir", "Spark conf, logs, work and scratch dirs (default: a temporary"
           " dir)", "run_dir", parse=Path, metavar="DIR"),
    Option("--perf-keep-run-dir", "keep the run directory even when everything passed",
           "keep_run_dir", default=False),
    # the workload
    Option("--perf-profile", "workload size preset (default: default)", "profile",
           parse=profile, default="default", metavar="smoke|default|full"),
    Option("--perf-image-size", "image side in pixels", train="image_size",
           parse=positive_int, metavar="PIXELS"),
    Option("--perf-batch-per-worker", "images per worker per step", train="batch_per_worker",
           parse=positive_int, metavar="N"),
    Option("--perf-warmup-steps", "unmeasured steps before the measured ones",
           train="warmup_steps", parse=positive_int, metavar="N"),
    Option("--perf-steps", "measured steps per run (3 or more)", train="measured_steps",
           parse=measured_steps, metavar="N"),
    Option("--perf-data-dir", "ImageNet-format TFRecords (default: synthetic data)",
           train="data_dir", parse=existing_dir, metavar="DIR"),
    Option("--perf-step-timeout", "fail a run when no step finishes within this time",
           train="step_timeout_s", parse=positive_float, metavar="SECONDS"),
    Option("--perf-inject-slowdown", "self-test: add this fraction of each measured step's"
           " time as delay", train="inject_slowdown", parse=fraction, metavar="FRACTION"),
    Option("--perf-onednn-max-isa", "cap oneDNN's ISA (ONEDNN_MAX_CPU_ISA), e.g."
           " AVX512_CORE_BF16", train="onednn_max_isa", parse=str, metavar="ISA"),
    Option("--perf-bf16-allreduce", "bf16 runs all-reduce gradients in bf16 (half the bytes;"
           " the reference recipe reduces fp32); a separate baseline key",
           train="bf16_allreduce", default=False),
    # verdicts
    Option("--perf-baselines", "baseline store (default: baselines/)", "baselines_dir",
           parse=Path, default=Path("baselines"), metavar="DIR"),
    Option("--perf-save-baseline", "accept this run as the baseline (the previous one is"
           " kept)", "save_baseline", default=False),
    Option("--perf-max-regression", "throughput drop that is a regression when significant"
           " (default 0.05)", "max_regression", parse=fraction, default=0.05,
           metavar="FRACTION"),
    Option("--perf-min-bf16-speedup", "release gate: minimum bf16/fp32 speedup (default 1.0;"
           " none for the smoke profile)", parse=positive_float, metavar="RATIO"),
    Option("--perf-repeats", "runs per variant, interleaved fp32/bf16: the unit of every"
           " verdict, and the runs a saved baseline keeps (default 3)", "repeats",
           parse=positive_int, default=3, metavar="N"),
    Option("--perf-extra-pairs", "fp32/bf16 pairs added when the gate is inconclusive; both"
           " looks then run at half the error (default 2; 0: one look)", "extra_pairs",
           parse=non_negative_int, default=2, metavar="N"),
    Option("--perf-alpha", "one-sided false-alarm rate of the throughput verdicts (default"
           " 0.01)", "alpha", parse=alpha, default=0.01, metavar="P"),
    Option("--perf-bf16-loss-band", "largest mean |bf16 - fp32| loss difference within a run"
           " (default 0.5)", "bf16_loss_band", parse=positive_float, default=0.5,
           metavar="LOSS"),
    # A/B mode
    Option("--perf-reference-python", "A/B mode: alternate runs with this interpreter's stack"
           " (e.g. last release's TensorFlow) instead of comparing against a stored baseline",
           "reference_python", parse=str, metavar="PATH"),
    Option("--perf-reference-env", "A/B mode: environment of the reference runs (repeatable),"
           " e.g. a oneDNN knob", "reference_env", parse=env_assignment,
           metavar="NAME=VALUE", repeat=True),
    Option("--perf-pairs", "A/B mode: reference/candidate pairs per variant, in balanced"
           " random order (default 8)", "pairs", parse=positive_int, default=8, metavar="N"),
    # reports
    Option("--perf-reports", "report directories go here (default: reports/)", "reports_dir",
           parse=Path, default=Path("reports"), metavar="DIR"),
    Option("--perf-history", "append-only history file (default: <reports>/history.jsonl)",
           "history", parse=Path, metavar="PATH"),
    Option("--perf-no-report", "write no report directory and no history line", "report",
           default=False, negate=True),
)  # fmt: skip


def addoptions(parser: pytest.Parser) -> None:
    """Register the ``perf`` option group and its two ini defaults."""
    group = parser.getgroup("perf", "bf16perf: bf16 training performance")
    for option in OPTIONS:
        option.add_to(group)
    parser.addini(
        "perf_require_bf16", type="bool", default=False, help="default of --perf-require-bf16"
    )
    parser.addini(
        "perf_min_bf16_speedup",
        default="",
        help="default of --perf-min-bf16-speedup (unset: 1.0, and no gate in the smoke profile)",
    )
