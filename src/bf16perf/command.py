"""The ``bf16perf`` command: the history, two reports compared, the stored baselines, and
the pinned daemons of a multi-host cluster (:mod:`bf16perf.hosts`).

    bf16perf history [PATH] [--page FILE] [--confirm N]
    bf16perf compare A B [--release]
    bf16perf baselines [DIR]
    bf16perf calibrate [--sessions 8] [--runs 3] [--state DIR] [-- PYTEST-PERF-OPTIONS]
    bf16perf master --host ADDR [--port 7077] --secret-file FILE [--state DIR]
    bf16perf worker --master spark://ADDR:PORT --host ADDR (--cpus LIST | --numa-node N)
                    --secret-file FILE [--memory 2g] [--state DIR]

Every missing or corrupt input is one line on stderr naming it, and exit code 2; a corrupt
history line is named by its number and skipped, never rewritten.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bf16perf.decisions import Outcome

__all__ = ["main"]


class InputError(Exception):
    """A missing or unreadable input: the message names it."""


def _history(args: argparse.Namespace) -> int:
    from bf16perf.report.history import read_history_checked
    from bf16perf.report.history_page import render_history_page
    from bf16perf.trend import changes, nightly_rule, series_of

    t0 = time.monotonic()
    path: Path = args.path
    if not path.is_file():
        raise InputError(
            f"{path}: no such history file (a perf session writes reports/history.jsonl)"
        )
    lines, problems = read_history_checked(path)
    for problem in problems:
        print(f"bf16perf history: {problem}", file=sys.stderr)
    all_series = series_of(lines)
    found = {key: changes(s, min_size=args.confirm) for key, s in all_series.items()}
    for key, series in sorted(all_series.items()):
        last = series.points[-1]
        verdict = nightly_rule(series, confirm=args.confirm)
        print(
            f"{key}: {len(series.points)} sessions, last {last.figure:.4g} ({last.started});"
            f" {verdict.status}"
        )
        for change in found[key]:
            print(f"  change point: {change.describe()}")
    page: Path = args.page or path.with_name("history.html")
    page.write_text(render_history_page(all_series, found, page, path))
    print(f"history page: {page} ({len(lines)} lines, {time.monotonic() - t0:.2f} s)")
    return 0


def _report_json(directory: Path) -> dict[str, Any]:
    path = directory / "report.json" if directory.is_dir() else directory
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(
            f"{path}: no such report (give a report directory or its report.json)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable report ({exc})") from None
    if not isinstance(data, dict) or "runs" not in data:
        raise InputError(f"{path}: not a bf16perf report.json (no 'runs')")
    return data


def _figures(report: dict[str, Any]) -> dict[str, list[float]]:
    """Candidate run figures by workload key."""
    out: dict[str, list[float]] = {}
    for run in report["runs"]:
        if run.get("stack", "candidate") == "candidate":
            out.setdefault(run["workload_key"], []).append(run["median_images_per_second"])
    return out


def _compare(args: argparse.Namespace) -> int:
    from bf16perf.verdicts import SESSION_PRIOR, baseline_rule

    a, b = _figures(_report_json(args.a)), _figures(_report_json(args.b))
    shared = sorted(set(a) & set(b))
    if not shared:
        raise InputError(f"{args.a} and {args.b} share no workload key: nothing to compare")
    codes = []
    for key in shared:
        verdict = baseline_rule(
            b[key], a[key], max_regression=args.threshold, alpha=args.alpha, session=SESSION_PRIOR
        )
        print(f"{key}: {verdict.outcome.value}: {verdict.detail}")
        codes.append(_compare_code(verdict.outcome, args.release))
    # a session's order: regression (10) before inconclusive (11)
    return 10 if 10 in codes else max(codes, default=0)


def _compare_code(outcome: Outcome, release: bool) -> int:
    """A session's exit code for a throughput outcome: 10 a regression; inconclusive is
    11 in the release mode and no failure in the nightly mode (as in ``pytest perf/``)."""
    if outcome is Outcome.REGRESSION:
        return 10
    return 11 if outcome is Outcome.INCONCLUSIVE and release else 0


def _baselines(args: argparse.Namespace) -> int:
    root: Path = args.dir
    if not root.is_dir():
        raise InputError(f"{root}: no such baseline store")
    now = datetime.now(UTC)
    rows = 0
    for path in sorted(root.glob("*/*.json")):
        if ".prev-" in path.name:
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            print(f"{path}: unreadable ({exc})", file=sys.stderr)
            continue
        if path.name.endswith(".noise.json"):
            runs, sigma = len(data.get("figures", [])), data.get("sigma", 0.0)
            what = f"noise file, {runs} A/A runs, spread {sigma:.1%}"
        else:
            runs = len(data.get("benchmarks", [])) or 1
            saved = data.get("datetime", "")
            try:
                age = f"{(now - datetime.fromisoformat(saved)).days} days old"
            except (TypeError, ValueError):
                age = "age unknown"
            what = f"{runs} runs, saved {saved} ({age})"
        print(f"{path.parent.name}  {path.name.removesuffix('.json')}  {what}")
        rows += 1
    if not rows:
        print(f"{root}: no baselines yet (save one with pytest perf/ --perf-save-baseline)")
    return 0


def _daemon(args: argparse.Namespace) -> int:
    from bf16perf.hosts import DaemonError, master_spec, read_secret, run, worker_spec

    try:
        secret = read_secret(args.secret_file)
        state = args.state or Path.home() / ".bf16perf" / f"{args.command}-{args.host}"
        if args.command == "master":
            spec = master_spec(args.host, args.port, secret, state)
        else:
            spec = worker_spec(
                args.master, args.host, secret, state, args.cpus, args.numa_node, args.memory
            )
    except DaemonError as exc:
        raise InputError(str(exc)) from None
    return run(spec)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bf16perf", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    h = sub.add_parser("history", help="series, change points and the history page")
    h.add_argument("path", nargs="?", type=Path, default=Path("reports/history.jsonl"))
    h.add_argument("--page", type=Path, default=None, help="default: history.html beside it")
    h.add_argument("--confirm", type=int, default=3, help="sessions that confirm a drop")
    c = sub.add_parser("compare", help="B's runs against A's, with the stored-baseline rule")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    c.add_argument("--threshold", type=float, default=0.05)
    c.add_argument("--alpha", type=float, default=0.01)
    c.add_argument(
        "--release",
        action="store_true",
        help="release mode: exit 11 when a drop beyond the threshold is not ruled out"
        " (default, nightly: exit 10 only on evidence of a drop)",
    )
    cal = sub.add_parser(
        "calibrate",
        help="A/A sessions on fresh clusters: this machine's noise within and between"
        " sessions, saved beside the baselines; resumable",
    )
    cal.add_argument("--sessions", type=int, default=8, help="A/A sessions (default 8)")
    cal.add_argument("--runs", type=int, default=3, help="fp32 runs a session (default 3)")
    cal.add_argument("--state", type=Path, default=Path("reports/calibration"))
    cal.add_argument("--baselines", type=Path, default=Path("baselines"))
    cal.add_argument("--threshold", type=float, default=0.05)
    cal.add_argument("--alpha", type=float, default=0.01)
    cal.add_argument("--no-save", dest="save", action="store_false", help="print, save nothing")
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
    b = sub.add_parser("baselines", help="the stored baselines: machine, workload, runs, age")
    b.add_argument("dir", nargs="?", type=Path, default=Path("baselines"))
    m = sub.add_parser("master", help="a Spark standalone master for a multi-host cluster")
    w = sub.add_parser("worker", help="a pinned Spark standalone worker of a master")
    for d in (m, w):
        d.add_argument("--host", required=True, help="the address to bind and advertise")
        d.add_argument(
            "--secret-file",
            type=Path,
            required=True,
            help="the cluster's shared secret (the same file for the driver)",
        )
        d.add_argument(
            "--state",
            type=Path,
            default=None,
            help="conf, work and scratch dirs (default ~/.bf16perf/ROLE-HOST)",
        )
    m.add_argument("--port", type=int, default=7077)
    w.add_argument("--master", required=True, help="spark://HOST:PORT")
    pin = w.add_mutually_exclusive_group(required=True)
    pin.add_argument("--cpus", help="pin to this CPU list (taskset), e.g. 0-11")
    pin.add_argument("--numa-node", type=int, help="pin to this NUMA node (numactl)")
    w.add_argument("--memory", default="2g", help="memory offered to executors")
    return parser


def _calibrate(args: argparse.Namespace) -> int:
    """A/A sessions, the two spreads with intervals, the noise file, the detectable drops."""
    from bf16perf.calibrate import calibrate, detectable_drops, estimate, lasting_drop_line
    from bf16perf.stats import Spread
    from bf16perf.store import BaselineStore

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
    kept = [s for s in sessions if not s.disturbed]
    for s in sessions:
        if s.disturbed:
            print(f"session {s.index} left out, disturbed: {s.disturbed}")
    if len({(s.slug, s.workload) for s in sessions}) != 1:
        raise InputError(f"the sessions in {state} differ in machine or workload: start afresh")
    if len(kept) < 2:
        raise InputError("fewer than 2 undisturbed sessions: run again on a quieter machine")
    noise = estimate([s.figures for s in kept])
    print(
        f"\n{noise.sessions} sessions, {noise.runs} runs of {kept[0].workload} on {kept[0].slug}:"
        f"\n  between runs within a session: {noise.sigma:.2%} (95% CI {noise.sigma_ci[0]:.2%}"
        f" to {noise.sigma_ci[1]:.2%}, {noise.df} df)"
        f"\n  between sessions: {noise.tau:.2%} (95% CI {noise.tau_ci[0]:.2%} to"
        f" {noise.tau_ci[1]:.2%}, {noise.session_df} df)"
    )
    for line in detectable_drops(noise, args.runs, args.threshold, args.alpha):
        print(f"  {line}")
    print(f"  {lasting_drop_line(kept, noise, args.threshold, args.alpha)}")
    if args.save:
        path = BaselineStore(args.baselines).save_calibration(
            kept[0].slug,
            kept[0].workload,
            fingerprint=kept[0].fingerprint,
            sessions=[s.figures for s in kept],
            spreads=(
                Spread(noise.sigma, noise.df, "calibration"),
                Spread(noise.tau, noise.session_df, "calibration"),
            ),
            command="bf16perf calibrate " + " ".join(sys.argv[2:]),
        )
        print(f"saved {path}: later stored verdicts on this machine use both spreads")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bf16perf`` console script."""
    args = _parser().parse_args(argv)
    commands = {
        "history": _history,
        "compare": _compare,
        "baselines": _baselines,
        "master": _daemon,
        "worker": _daemon,
        "calibrate": _calibrate,
    }
    try:
        return commands[args.command](args)
    except InputError as exc:
        print(f"bf16perf {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
