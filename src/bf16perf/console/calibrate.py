"""``bf16perf calibrate``: A/A sessions on fresh clusters (:mod:`bf16perf.calibration.noise`), the
two spreads with intervals, the noise file, and the detectable drops."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bf16perf.console._common import InputError, like_the_plugin
from bf16perf.store.formats import DEFAULT_BASELINES

__all__ = ["add", "run"]


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cal = sub.add_parser(
        "calibrate",
        help="A/A sessions on fresh clusters: this machine's noise within and between"
        " sessions, saved beside the baselines; resumable",
    )
    cal.add_argument("--sessions", type=int, default=8, help="A/A sessions (default 8)")
    cal.add_argument("--runs", type=int, default=3, help="fp32 runs a session (default 3)")
    cal.add_argument("--state", type=Path, default=Path("reports/calibration"))
    cal.add_argument("--baselines", type=Path, default=DEFAULT_BASELINES)
    for name, flag in (("--threshold", "--perf-max-regression"), ("--alpha", "--perf-alpha")):
        like_the_plugin(cal, name, flag)
    cal.add_argument("--no-save", dest="save", action="store_false", help="print, save nothing")
    cal.add_argument(
        "--keep-disturbed",
        action="store_true",
        help="keep sessions whose runs other processes or the hypervisor disturbed (on a"
        " shared host where most are: the spreads then include the co-tenants, as nights will)",
    )
    cal.add_argument(
        "--bf16",
        action="store_true",
        help="also train as many bf16 runs, interleaved, and the release gate on them"
        " (kept in each session's file; the noise estimate stays fp32's)",
    )
    cal.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        help="after --: options of each pytest perf session, e.g. -- --perf-profile smoke",
    )
    cal.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The sessions (resumed where the state holds some), the estimate, the figures."""
    from bf16perf.calibration.noise import calibrate, estimate
    from bf16perf.calibration.replay import detectable_drops, lasting_drop_line

    if args.sessions < 2 or args.runs < 2:
        raise InputError("--sessions and --runs must each be at least 2 (two spreads to tell)")
    if not 0 < args.threshold < 1 or not 0 < args.alpha <= 0.5:
        raise InputError("--threshold must lie in (0, 1) and --alpha in (0, 0.5]")
    if not Path("perf/test_training.py").is_file():
        raise InputError("run it from the checkout that holds perf/ (pytest perf/ runs there)")
    state: Path = args.state
    try:
        extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
        sessions = calibrate(state, args.sessions, args.runs, extra, bf16=args.bf16)
    except RuntimeError as exc:
        raise InputError(f"{exc}\n(the sessions finished so far are kept in {state})") from None
    kept = [s for s in sessions if args.keep_disturbed or not s.disturbed]
    for s in sessions:
        if s.disturbed:
            fate = "kept (--keep-disturbed)" if args.keep_disturbed else "left out"
            print(f"session {s.index} {fate}, disturbed: {s.disturbed}")
    if len({(s.slug, s.workload) for s in sessions}) != 1:
        raise InputError(f"the sessions in {state} differ in machine or workload: start afresh")
    if len(kept) < 2:
        raise InputError(
            "fewer than 2 undisturbed sessions: run again on a quieter machine, or keep them"
            " with --keep-disturbed (the spreads then include what disturbed them)"
        )
    noise = estimate([s.figures for s in kept])
    print(
        f"\n{noise.sessions} sessions, {noise.runs} runs of {kept[0].workload} on {kept[0].slug}:"
        f"\n  between runs within a session: {noise.sigma:.2%} (95% CI {noise.sigma_ci[0]:.2%}"
        f" to {noise.sigma_ci[1]:.2%}, {noise.df} df)"
        f"\n  between sessions: {noise.tau:.2%} (95% CI {noise.tau_ci[0]:.2%} to"
        f" {noise.tau_ci[1]:.2%}, {noise.session_df} df)"
    )
    # the verdicts a default nightly of these sessions' tests plans: fp32's throughput (and
    # bf16's), each with its trend series
    planned = 2 * (1 + bool(args.bf16))
    for line in detectable_drops(noise, args.runs, args.threshold, args.alpha, planned=planned):
        print(f"  {line}")
    print(f"  {lasting_drop_line(kept, noise, args.threshold, args.alpha)}")
    if args.save:
        _save(args, kept, noise, kept[0].workload, [s.figures for s in kept])
    if args.bf16 and args.save and all(len(s.bf16) >= 2 for s in kept):
        bf16 = estimate([s.bf16 for s in kept])
        print(
            f"  bf16: between runs {bf16.sigma:.2%} ({bf16.df} df), between sessions"
            f" {bf16.tau:.2%} ({bf16.session_df} df)"
        )
        _save(args, kept, bf16, bf16_key(kept[0].workload), [s.bf16 for s in kept])
    return 0


def bf16_key(fp32_key: str) -> str:
    """The bf16 variant's workload key beside an fp32 one (the precision field)."""
    import re

    key, found = re.subn(r"-fp32(?=$|-)", "-bf16", fp32_key, count=1)
    if not found:
        raise InputError(f"workload key {fp32_key}: no fp32 field to name its bf16 key by")
    return key


def _save(
    args: argparse.Namespace, kept: list[Any], noise: Any, key: str, groups: list[list[float]]
) -> None:
    """The calibration of ``key`` beside the baselines: both spreads, its sessions."""
    from bf16perf.stats.figures import Spread
    from bf16perf.store.baselines import BaselineStore

    path = BaselineStore(args.baselines).save_calibration(
        kept[0].slug,
        key,
        fingerprint=kept[0].fingerprint,
        sessions=groups,
        spreads=(
            Spread(noise.sigma, noise.df, "calibration"),
            Spread(noise.tau, noise.session_df, "calibration"),
        ),
        command="bf16perf calibrate " + " ".join(sys.argv[2:]),
    )
    print(f"saved {path}: later stored verdicts of {key} on this machine use both spreads")
