"""The command line of the ``perf`` group: one declarative table, read into :class:`PerfOptions`.

Each :class:`Option` of :data:`OPTIONS` names its parser (:mod:`bf16perf.parsers`, which
reject a bad value at the command line) and the :class:`~bf16perf.options.PerfOptions`
field (or :class:`~bf16perf.workload.config.TrainConfig` override) it fills, so adding an
option is one entry.  :func:`options_from_config` fills :class:`PerfOptions`, applies the
ini defaults, and raises :class:`pytest.UsageError` for options that contradict each
other."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bf16perf import parsers as p
from bf16perf.baselines import DEFAULT_SESSIONS
from bf16perf.option import Option
from bf16perf.options import PAIRED_PAIRS, PerfOptions
from bf16perf.workload.config import PROFILES

__all__ = ["OPTIONS", "Option", "addoptions", "given", "options_from_config"]


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
    Option("--perf-no-step-profile", "prove kernels with one small step instead of"
           " profiling a lone step at the run's batch (no decomposition of the step, no"
           " explained speedup)", "step_profile", default=False, negate=True),
    # the cluster
    Option("--perf-workers", "local Spark workers (default: one per physical core group)",
           "workers", parse=p.positive_int, metavar="N"),
    Option("--perf-cores-per-worker", "CPUs pinned to each local worker", "cores_per_worker",
           parse=p.positive_int, metavar="N"),
    Option("--perf-pin", "how local workers are pinned (default: numactl if installed and"
           " NUMA > 1, else taskset)", "pin", parse=p.pin_mode,
           metavar="taskset|numactl|none"),
    Option("--spark-master", "use this existing cluster instead of starting one (pinning is"
           " then the cluster's business)", "spark_master", parse=p.master_url, metavar="URL"),
    Option("--perf-spark-secret-file", "with --spark-master: the cluster's shared secret (as"
           " given to bf16perf master/worker); the driver authenticates with it",
           "spark_secret_file", parse=Path, metavar="FILE"),
    Option("--perf-allow-mixed-hosts", "with --spark-master: measure executors whose hosts"
           " differ in bf16 capability (refused by default)", "allow_mixed_hosts",
           default=False),
    Option("--perf-lock-timeout", "wait this long for another perf session on this machine"
           " (default {default})", "lock_timeout_s", parse=p.positive_float,
           metavar="SECONDS"),
    Option("--perf-run-dir", "Spark conf, logs, work and scratch dirs (default: a temporary"
           " dir)", "run_dir", parse=Path, metavar="DIR"),
    Option("--perf-keep-run-dir", "keep the run directory even when everything passed",
           "keep_run_dir", default=False),
    # the workload
    Option("--perf-workload", "train this workload (repeatable; default resnet50-tf): a"
           " built-in one, or a [tool.bf16perf.workloads.NAME] table of --perf-workload-file",
           "workloads", parse=str, metavar="NAME", repeat=True),
    Option("--perf-workload-file", "TOML file with [tool.bf16perf.workloads.NAME] tables"
           " (default: {default})", "workload_file", parse=Path, metavar="PATH"),
    Option("--perf-profile", "workload size preset (default: {default})", "profile",
           parse=p.profile, metavar="smoke|default|full"),
    Option("--perf-image-size", "image side in pixels", train="image_size",
           parse=p.positive_int, metavar="PIXELS"),
    Option("--perf-batch-per-worker", "images per worker per step", train="batch_per_worker",
           parse=p.positive_int, metavar="N"),
    Option("--perf-warmup-steps", "unmeasured steps before the measured ones",
           train="warmup_steps", parse=p.positive_int, metavar="N"),
    Option("--perf-steps", "measured steps per run (3 or more)", train="measured_steps",
           parse=p.measured_steps, metavar="N"),
    Option("--perf-data-dir", "ImageNet-format TFRecords (default: synthetic data)",
           train="data_dir", parse=p.existing_dir, metavar="DIR"),
    Option("--perf-step-timeout", "fail a run when no step finishes within this time",
           train="step_timeout_s", parse=p.positive_float, metavar="SECONDS"),
    Option("--perf-inject-slowdown", "self-test: add this fraction of each measured step's"
           " time as delay", train="inject_slowdown", parse=p.fraction, metavar="FRACTION"),
    Option("--perf-onednn-max-isa", "cap oneDNN's ISA (ONEDNN_MAX_CPU_ISA), e.g."
           " AVX512_CORE_BF16", train="onednn_max_isa", parse=str, metavar="ISA"),
    Option("--perf-bf16-allreduce", "bf16 runs all-reduce gradients in bf16 (half the bytes;"
           " the reference recipe reduces fp32); a separate baseline key",
           train="bf16_allreduce", default=False),
    # verdicts
    Option("--perf-baselines", "baseline store (default: {default}/)", "baselines_dir",
           parse=Path, metavar="DIR"),
    Option("--perf-save-baseline", "add this session to the baseline, which keeps the last"
           " --perf-baseline-sessions sessions (the previous file is kept beside it)",
           "save_baseline", default=False),
    Option("--perf-baseline-sessions", "sessions a baseline keeps (default 7, ini"
           " perf_baseline_sessions); with 3 or more their own scatter is the between-session"
           " spread of the stored verdict", parse=p.positive_int, metavar="K"),
    Option("--perf-max-regression", "throughput drop that is a regression when significant"
           " (default {default})", "max_regression", parse=p.fraction,
           metavar="FRACTION"),
    Option("--perf-min-bf16-speedup", "release gate: minimum bf16/fp32 speedup (default 1.0;"
           " none for the smoke profile)", parse=p.positive_float, metavar="RATIO"),
    Option("--perf-repeats", "runs per variant, interleaved fp32/bf16: the unit of every"
           " verdict, and the runs a saved baseline keeps (default {default})", "repeats",
           parse=p.positive_int, metavar="N"),
    Option("--perf-extra-pairs", "fp32/bf16 pairs added when the gate is inconclusive; both"
           " looks then run at half the error (default {default}; 0: one look)", "extra_pairs",
           parse=p.non_negative_int, metavar="N"),
    Option("--perf-alpha", "one-sided false-alarm rate of the throughput verdicts (default"
           " {default})", "alpha", parse=p.alpha, metavar="P"),
    Option("--perf-release", "release mode: a throughput verdict must rule out a drop beyond"
           " --perf-max-regression, else it is inconclusive (exit 11); without it (nightly"
           " mode) only evidence of a drop fails: two sessions in a row below the baseline"
           " (this one and the history's previous), and 'cannot tell' or one session"
           " below ('suspect') is a notice",
           "release", default=False),
    Option("--perf-bf16-loss-band", "largest mean |bf16 - fp32| loss difference within a run"
           " (default {default})", "bf16_loss_band", parse=p.positive_float,
           metavar="LOSS"),
    # A/B mode and the paired nightly
    Option("--perf-reference", "the paired nightly: alternate each variant's runs with this"
           " kept reference stack (bf16perf reference create NAME; ini perf_reference) and"
           " judge tonight's pairs with the last nights'", parse=p.reference_name,
           metavar="NAME"),
    Option("--perf-references", "where kept references are (default: $BF16PERF_STATE/"
           "references, else ~/.local/share/bf16perf/references)", "references_dir",
           parse=Path, metavar="DIR"),
    Option("--perf-order-seed", "seed of this session's pair orders (default: drawn at"
           " random and recorded in the report)", "order_seed", parse=p.non_negative_int,
           metavar="N"),
    Option("--perf-reference-python", "A/B mode: alternate runs with this interpreter's stack"
           " (e.g. last release's TensorFlow) instead of comparing against a stored baseline",
           "reference_python", parse=str, metavar="PATH"),
    Option("--perf-reference-env", "A/B mode: environment of the reference runs (repeatable),"
           " e.g. a oneDNN knob; ONEDNN_MAX_CPU_ISA here wins over --perf-onednn-max-isa",
           "reference_env", parse=p.env_assignment, metavar="NAME=VALUE", repeat=True),
    Option("--perf-pairs", "A/B mode: reference/candidate pairs per variant, in balanced"
           " random order (default {default}; with --perf-reference: 2 a night)", "pairs",
           parse=p.positive_int, metavar="N"),
    # reports
    Option("--perf-reports", "report directories go here (default: {default}/)",
           "reports_dir", parse=Path, metavar="DIR"),
    Option("--perf-history", "append-only history file (default: <reports>/history.jsonl)",
           "history", parse=Path, metavar="PATH"),
    Option("--perf-label", "a label of this session's history line (repeatable), e.g."
           " commit=abc123; a change point names the labels that changed", "labels",
           parse=p.label, metavar="KEY=VALUE", repeat=True),
    Option("--perf-trend-confirm", "sessions after a drop in the history that make it a"
           " regression (default {default}; 0: no trend verdict)", "trend_confirm",
           parse=p.non_negative_int, metavar="N"),
    Option("--perf-no-report", "write no report directory and no history line", "report",
           default=False, negate=True),
)  # fmt: skip


def addoptions(parser: pytest.Parser) -> None:
    """Register the ``perf`` option group and its ini defaults."""
    group = parser.getgroup("perf", "bf16perf: bf16 training performance")
    for option in OPTIONS:
        option.add_to(group)
    parser.addini(
        "perf_require_bf16", type="bool", default=False, help="default of --perf-require-bf16"
    )
    parser.addini("perf_release", type="bool", default=False, help="default of --perf-release")
    parser.addini("perf_reference", default="", help="default of --perf-reference")
    parser.addini(
        "perf_baseline_sessions",
        default="",
        help=f"default of --perf-baseline-sessions (unset: {DEFAULT_SESSIONS})",
    )
    parser.addini(
        "perf_min_bf16_speedup",
        default="",
        help="default of --perf-min-bf16-speedup (unset: 1.0, and no gate in the smoke profile)",
    )


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
    fields["labels"] = tuple(fields["labels"])
    fields["workloads"] = tuple(fields["workloads"])
    require = values["perf_require_bf16"] or bool(config.getini("perf_require_bf16"))
    fields["require_bf16"] = require
    fields["release"] = values["perf_release"] or bool(config.getini("perf_release"))
    fields["baseline_sessions"] = _baseline_sessions(config, values["perf_baseline_sessions"])
    fields["train"] = replace(PROFILES[fields["profile"]], **overrides)
    _reference(config, values["perf_reference"], fields)
    speedup = values["perf_min_bf16_speedup"]
    fields["min_bf16_speedup"] = _min_speedup(config, speedup, fields["profile"])
    options = PerfOptions(**fields)
    _check_conflicts(options)
    return options


def given(config: pytest.Config, flag: str) -> bool:
    """Whether ``flag`` was on the command line (not left at its default)."""
    args = [*config.invocation_params.args, *config.getini("addopts")]
    return any(str(a) == flag or str(a).startswith(f"{flag}=") for a in args)


def _reference(config: pytest.Config, value: str | None, fields: dict[str, Any]) -> None:
    """``--perf-reference NAME`` (or ini ``perf_reference``): its interpreter, and the
    paired nightly's pairs unless ``--perf-pairs`` was given."""
    name = value or str(config.getini("perf_reference")).strip() or None
    if name is None:
        return
    if fields["reference_python"] or fields["reference_env"]:
        raise pytest.UsageError(
            f"--perf-reference {name} names a kept reference stack; --perf-reference-python"
            " and --perf-reference-env make an ad-hoc one: give one or the other"
        )
    from bf16perf.references import ReferenceError, reference_python

    try:
        fields["reference_python"] = reference_python(
            p.reference_name(name), fields["references_dir"]
        )
    except (ReferenceError, argparse.ArgumentTypeError) as exc:
        raise pytest.UsageError(str(exc)) from None
    fields["reference_name"] = name
    fields["pairs_given"] = given(config, "--perf-pairs")
    if not fields["pairs_given"]:
        fields["pairs"] = PAIRED_PAIRS


def _baseline_sessions(config: pytest.Config, given: int | None) -> int:
    ini = str(config.getini("perf_baseline_sessions")).strip()
    if given is not None or not ini:
        return DEFAULT_SESSIONS if given is None else given
    try:
        return p.positive_int(ini)
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"ini perf_baseline_sessions = {ini!r}: {exc}") from None


def _min_speedup(config: pytest.Config, given: float | None, profile: str) -> float:
    ini = str(config.getini("perf_min_bf16_speedup")).strip()
    if given is None and ini:
        try:
            given = p.positive_float(ini)
        except argparse.ArgumentTypeError as exc:
            raise pytest.UsageError(f"ini perf_min_bf16_speedup: {exc}") from None
    if given is not None:
        return given
    # 32x32 is overhead-bound: bf16 is no faster there (0.99x on a Zen 4), so the smoke
    # profile checks the gate's mechanics without gating
    return 0.0 if profile == "smoke" else 1.0


def _check_conflicts(options: PerfOptions) -> None:
    conflict = options.conflict()
    if conflict is not None:
        raise pytest.UsageError(conflict)
