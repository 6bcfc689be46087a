"""``bf16perf compare A B``: B's runs against A's with the stored-baseline rule, worded
for someone who judges two finished sessions (:data:`bf16perf.verdicts.words.COMMAND`),
and the parts of the lone step that grew from A's profile to B's
(:mod:`bf16perf.onednn.step_profile`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bf16perf.console._common import InputError, like_the_plugin
from bf16perf.console.summary import FORMATS, document, markdown, row
from bf16perf.store.formats import DEFAULT_BASELINES
from bf16perf.store.history import history_problem
from bf16perf.store.report_json import Report, ReportError
from bf16perf.verdicts.outcomes import Decision, Outcome, session_exit_code

if TYPE_CHECKING:
    from bf16perf.stats.figures import Spread

__all__ = ["add", "as_session", "report_at", "run"]


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("compare", help="B's runs against A's, with the stored-baseline rule")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    for name, flag in (("--threshold", "--perf-max-regression"), ("--alpha", "--perf-alpha")):
        like_the_plugin(c, name, flag)
    c.add_argument(
        "--baselines",
        type=Path,
        default=None,
        help="the store whose noise file (bf16perf calibrate) gives this machine's spreads"
        f" (default: {DEFAULT_BASELINES}/ where it exists; else a conservative default)",
    )
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
    c.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default), json (bf16perf/store/schemas/verdicts.schema.json) or markdown (a"
        " table for $GITHUB_STEP_SUMMARY or a pull-request comment)",
    )
    c.set_defaults(run=run)


def report_at(given: Path) -> Report:
    """The report at ``given`` (a directory or its report.json); a history, a baseline or
    anything else is a bad input, named."""
    try:
        return Report.read(given)
    except ReportError as exc:
        path = given / "report.json" if given.is_dir() else given
        if exc.unreadable and history_problem(path) is None:  # JSON lines: a history
            raise InputError(
                f"{path}: this is a history (one line a session), not a report: compare two"
                f" sessions' report directories, or read it with bf16perf history {path}"
            ) from None
        raise InputError(str(exc)) from None


def _calibration(
    args: argparse.Namespace, report: Report, key: str
) -> tuple[Spread | None, Spread | None]:
    """This machine's measured spreads for ``key`` (between runs, between sessions) from
    the noise file ``bf16perf calibrate`` saved in the store, as a session reads them;
    ``None`` where nothing measured them (the verdict then says it uses a default)."""
    from bf16perf.store.baseline import BaselineError
    from bf16perf.store.baselines import BaselineStore

    given = args.baselines is not None
    store_dir = args.baselines if given else DEFAULT_BASELINES
    if not store_dir.is_dir():
        if given:
            raise InputError(f"--baselines {store_dir}: no such directory")
        return None, None
    slug, fid = report.slug, report.fingerprint["id"]
    store = BaselineStore(store_dir)
    try:
        return store.load_noise(slug, key, fid), store.load_sessions(slug, key, fid)
    except BaselineError as exc:
        raise InputError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Each shared workload key judged; the session's exit code of the worst."""
    from bf16perf.verdicts import SESSION_PRIOR, baseline_rule
    from bf16perf.verdicts.words import COMMAND

    report_a, report_b = report_at(args.a), report_at(args.b)
    machines = [r.fingerprint["id"] for r in (report_a, report_b)]
    if machines[0] != machines[1] and not args.allow_other_machine:
        slugs = [r.slug for r in (report_a, report_b)]
        raise InputError(
            f"A ({args.a}) ran on {slugs[0]!r} and B ({args.b}) on {slugs[1]!r}: another"
            " machine's figures say nothing about this one's speed; --allow-other-machine"
            " compares them anyway"
        )
    a, b = report_a.figures(), report_b.figures()
    shared = sorted(set(a) & set(b))
    text = args.format == "text"
    if text:
        print(f"A (the baseline): {args.a}\nB (judged against A): {args.b}")
        for side, only in (("A", set(a) - set(b)), ("B", set(b) - set(a))):
            for key in sorted(only):
                print(f"{key}: only in {side}, not compared")
    if not shared:
        raise InputError(f"{args.a} and {args.b} share no workload key: nothing to compare")
    decisions: list[Decision] = []
    rows: list[dict[str, Any]] = []
    for key in shared:
        noise, sessions = _calibration(args, report_b, key)
        verdict = baseline_rule(
            b[key],
            a[key],
            max_regression=args.threshold,
            alpha=args.alpha,
            prior=noise,
            session=sessions or SESSION_PRIOR,
            remedies=COMMAND,
        )
        outcome = as_session(verdict.outcome, args.release)
        grew = _what_grew(report_a, report_b, key)
        if text:
            print(f"{key}: {outcome.value}: {verdict.detail}")
            if grew:
                print(f"  {grew}")
        detail = f"{verdict.detail}; {grew}" if grew else verdict.detail
        rows.append(row(key, "throughput", outcome.value, verdict.to_dict(), detail))
        decisions.append(Decision(key, "throughput", outcome, verdict.detail))
    code = int(session_exit_code(decisions, 0))  # the session's order of codes
    if args.format == "json":
        doc = document({"a": str(args.a), "b": str(args.b)}, rows, code)
        doc.update(only_in_a=sorted(set(a) - set(b)), only_in_b=sorted(set(b) - set(a)))
        print(json.dumps(doc, indent=1))
    elif args.format == "markdown":
        print(markdown(f"bf16perf compare: {args.b} against {args.a}", rows, code))
    return code


def _profile(report: Report, key: str) -> Any:
    """The lone-step profile kept with the first candidate run of ``key``, or ``None``."""
    for run in report.candidate_runs():
        if run.workload_key == key:
            return run.proof.profile
    return None


def _what_grew(report_a: Report, report_b: Report, key: str) -> str:
    """The parts of the lone step whose oneDNN time grew most from A's profile to B's, in
    one line (empty where either report kept no profile, or one is unreadable)."""
    from bf16perf.onednn.attribution import grown_text

    try:
        return grown_text(_profile(report_a, key), _profile(report_b, key), "from A to B")
    except (KeyError, TypeError, ValueError):
        return "the lone-step profiles cannot be read: no attribution"


def as_session(outcome: Outcome, release: bool) -> Outcome:
    """A throughput outcome in the words and exit codes of a ``pytest perf/`` session: what
    cannot be decided is INCONCLUSIVE (exit 11) under ``--release``, and "cannot tell"
    (a notice, exit 0) in the nightly mode."""
    if outcome is Outcome.INCONCLUSIVE and not release:
        return Outcome.UNDECIDED
    return outcome
