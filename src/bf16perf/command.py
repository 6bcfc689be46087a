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
from typing import Any, cast

from bf16perf import parsers as p
from bf16perf.atomic import atomic_write
from bf16perf.decisions import Outcome

__all__ = ["main"]


#: Skipped history lines named one by one; the rest are counted.
PROBLEMS_SHOWN = 10

EXIT_CODES = """exit codes (the same as a pytest perf/ session's):
  0   all good, or nothing shown (nightly: "cannot tell" is no failure)
  2   a usage error or a bad input, named on stderr; nothing is written
  10  a regression: compare shows a drop beyond the threshold; history reports a new
      lasting drop in a series
  11  compare --release: a drop beyond the threshold is not ruled out"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bf16perf")
    except PackageNotFoundError:
        return "unknown"


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
    page: Path = args.page or path.with_name("history.html")
    _refuse_overwriting(page, [path])  # before any work: a usage error writes nothing
    try:
        lines, problems = read_history_checked(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    for problem in problems[:PROBLEMS_SHOWN]:
        print(f"bf16perf history: {problem}", file=sys.stderr)
    if len(problems) > PROBLEMS_SHOWN:
        print(
            f"bf16perf history: ... and {len(problems) - PROBLEMS_SHOWN} more lines skipped"
            f" ({len(problems)} in all)",
            file=sys.stderr,
        )
    all_series = series_of(lines)
    found = {key: changes(s, min_size=args.confirm) for key, s in all_series.items()}
    regressions = 0
    for key, series in sorted(all_series.items()):
        last = series.points[-1]
        verdict = nightly_rule(series, confirm=args.confirm)
        regressions += verdict.status == "regression"
        print(
            f"{key}: {len(series.points)} sessions, last {last.figure:.4g} ({last.started});"
            f" {verdict.status}"
        )
        for change in found[key]:
            print(f"  change point: {change.describe()}")
    atomic_write(page, render_history_page(all_series, found, page, path))
    print(f"history page: {page} ({len(lines)} lines, {time.monotonic() - t0:.2f} s)")
    return 10 if regressions else 0


def _refuse_overwriting(output: Path, inputs: list[Path]) -> None:
    """An output path that is one of the inputs (after resolving symlinks and ``..``, or a
    hard link to the same inode), a directory, or in a missing directory is a usage error:
    a command never writes over what it reads."""
    if output.is_dir():
        raise InputError(f"{output}: is a directory; give a file path for the output")
    if not output.parent.is_dir():
        raise InputError(f"{output}: its directory {output.parent} does not exist")
    for given in inputs:
        same = output.resolve() == given.resolve()
        if not same and output.exists() and given.exists():
            same = output.samefile(given)
        if same:
            raise InputError(
                f"{output} is the input {given}: writing it would destroy the input;"
                " give another output path"
            )


def _report_json(directory: Path) -> dict[str, Any]:
    path = directory / "report.json" if directory.is_dir() else directory
    if not path.exists():
        raise InputError(f"{path}: no such report (give a report directory or its report.json)")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file (a report is a report.json)")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{path}: not a readable report ({exc})") from None
    if not isinstance(data, dict) or "runs" not in data:
        raise InputError(f"{path}: not a bf16perf report.json (no 'runs')")
    return data


def _figures(report: dict[str, Any], path: Path) -> dict[str, list[float]]:
    """Candidate run figures by workload key; a run without a key or a usable figure is a
    bad input, named."""
    from bf16perf.report.history import is_figure

    out: dict[str, list[float]] = {}
    runs = report["runs"]
    if not isinstance(runs, list):
        raise InputError(f"{path}: field runs: expected a list, got {type(runs).__name__}")
    for i, run in enumerate(runs, 1):
        if not isinstance(run, dict):
            raise InputError(f"{path}: run {i}: expected an object, got {run!r:.60}")
        if run.get("stack", "candidate") != "candidate":
            continue
        key, figure = run.get("workload_key"), run.get("median_images_per_second")
        if not isinstance(key, str) or not key:
            raise InputError(f"{path}: run {i}: field workload_key: expected a name, got {key!r}")
        if not is_figure(figure):
            raise InputError(
                f"{path}: run {i}: field median_images_per_second: expected a positive"
                f" number, got {figure!r:.60}"
            )
        out.setdefault(key, []).append(float(cast(float, figure)))
    return out


def _compare(args: argparse.Namespace) -> int:
    from bf16perf.verdicts import SESSION_PRIOR, baseline_rule
    from bf16perf.verdicts.words import COMMAND

    report_a, report_b = _report_json(args.a), _report_json(args.b)
    prints = [r.get("fingerprint") for r in (report_a, report_b)]
    if not all(isinstance(f, dict) for f in prints):
        raise InputError(f"{args.a} or {args.b}: field fingerprint: expected an object")
    machines = [(r.get("fingerprint") or {}).get("id") for r in (report_a, report_b)]
    if machines[0] != machines[1] and not args.allow_other_machine:
        slugs = [(r.get("fingerprint") or {}).get("slug") for r in (report_a, report_b)]
        raise InputError(
            f"A ({args.a}) ran on {slugs[0]!r} and B ({args.b}) on {slugs[1]!r}: another"
            " machine's figures say nothing about this one's speed; --allow-other-machine"
            " compares them anyway"
        )
    a, b = _figures(report_a, args.a), _figures(report_b, args.b)
    shared = sorted(set(a) & set(b))
    print(f"A (the baseline): {args.a}\nB (judged against A): {args.b}")
    for side, only in (("A", set(a) - set(b)), ("B", set(b) - set(a))):
        for key in sorted(only):
            print(f"{key}: only in {side}, not compared")
    if not shared:
        raise InputError(f"{args.a} and {args.b} share no workload key: nothing to compare")
    codes = []
    for key in shared:
        verdict = baseline_rule(
            b[key],
            a[key],
            max_regression=args.threshold,
            alpha=args.alpha,
            session=SESSION_PRIOR,
            remedies=COMMAND,
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
    """Each machine's baselines and noise files, read as a session reads them: an unusable
    file is named with why on stderr, and the command exits 2."""
    from bf16perf.baselines import BaselineError
    from bf16perf.store import BaselineStore

    root: Path = args.dir
    if not root.is_dir():
        raise InputError(f"{root}: no such baseline store")
    if any(root.glob("*.json")) and not any(root.glob("*/*.json")):
        raise InputError(
            f"{root} holds the files of one machine: give the store above it ({root.parent})"
        )
    store, now = BaselineStore(root), datetime.now(UTC)
    rows = bad = 0
    for path in sorted(root.glob("*/*.json")):
        if ".prev-" in path.name:
            continue
        slug, noise = path.parent.name, path.name.endswith(".noise.json")
        key = path.name.removesuffix(".noise.json" if noise else ".json")
        try:
            if noise:
                spread = store.load_noise(slug, key, None)
                what = f"noise file, spread {spread.sigma:.1%} ({spread.source})" if spread else ""
            else:
                baseline = store.load(slug, key)
                if baseline is None:
                    continue
                saved_on = baseline.fingerprint.get("slug")
                if saved_on != slug:
                    raise BaselineError(
                        f"baseline {path} was saved on machine {saved_on!r} but is kept under"
                        f" {slug!r}: move it back under {saved_on}"
                    )
                age = _age(now, baseline.saved_at)
                what = f"{baseline.described}, last saved {baseline.saved_at} ({age})"
        except BaselineError as exc:
            print(f"bf16perf baselines: {exc}", file=sys.stderr)
            bad += 1
            continue
        print(f"{slug}  {key}  {what}")
        rows += 1
    if not rows and not bad:
        print(f"{root}: no baselines yet (save one with pytest perf/ --perf-save-baseline)")
    return 2 if bad else 0


def _age(now: datetime, saved: str) -> str:
    try:
        when = datetime.strptime(saved, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return "age unknown"
    return f"{(now - when).days} days old"


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
        return run(spec)
    except DaemonError as exc:
        raise InputError(str(exc)) from None


def _like_the_plugin(parser: argparse.ArgumentParser, name: str, flag: str) -> None:
    """Add ``name`` with the parser, default and help of the plugin's ``flag`` (one table,
    :data:`bf16perf.cli.OPTIONS`, for both front ends)."""
    from bf16perf.cli import OPTIONS

    (option,) = [o for o in OPTIONS if o.flag == flag]
    if option.parse is None:
        raise TypeError(f"{flag} is a switch, not a value")
    parser.add_argument(
        name, type=option.parse, default=option.default, help=f"as {flag}: {option.help}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bf16perf",
        description=__doc__.split("\n\n")[0].replace("``", "").replace(":mod:", ""),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bf16perf {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    h = sub.add_parser("history", help="series, change points and the history page")
    h.add_argument("path", nargs="?", type=Path, default=Path("reports/history.jsonl"))
    h.add_argument("--page", type=Path, default=None, help="default: history.html beside it")
    h.add_argument("--confirm", type=p.positive_int, default=3, help="sessions that confirm a drop")
    c = sub.add_parser("compare", help="B's runs against A's, with the stored-baseline rule")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    for name, flag in (("--threshold", "--perf-max-regression"), ("--alpha", "--perf-alpha")):
        _like_the_plugin(c, name, flag)
    c.add_argument(
        "--allow-other-machine",
        action="store_true",
        help="compare reports from machines with different fingerprints",
    )
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
    for name, flag in (("--threshold", "--perf-max-regression"), ("--alpha", "--perf-alpha")):
        _like_the_plugin(cal, name, flag)
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
    from bf16perf.calibrate import calibrate, detectable_drops, estimate
    from bf16perf.replay import lasting_drop_line
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
