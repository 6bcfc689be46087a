"""The plugin's ``perf`` option group, read from the one table
(:data:`bf16perf.session.flags.OPTIONS`) into :class:`~bf16perf.session.options.PerfOptions`:
:func:`options_from_config` applies the ini defaults and raises :class:`pytest.UsageError` for
options that contradict each other."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bf16perf.session import parsers as p
from bf16perf.session.flags import OPTIONS
from bf16perf.session.options import PAIRED_PAIRS, PerfOptions
from bf16perf.store.baseline import DEFAULT_SESSIONS
from bf16perf.workloads.config import PROFILES

__all__ = ["addoptions", "given", "options_from_config"]


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
        elif o.train and value is not None and value is not False:  # 0 is a value
            overrides[o.train] = str(value) if isinstance(value, Path) else value
    fields["reference_env"] = tuple(fields["reference_env"])
    fields["repeats_given"] = given(config, "--perf-repeats")
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
    from bf16perf.store.references import ReferenceError, reference_python

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
