"""``bf16perf history``: each series of the history, its change points and its nightly
verdict, and the offline history page beside it."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bf16perf.console._common import (
    PROBLEMS_SHOWN,
    InputError,
    like_the_plugin,
    refuse_overwriting,
)
from bf16perf.console.summary import FORMATS, document, markdown
from bf16perf.session import parsers as p
from bf16perf.store.atomic import atomic_write
from bf16perf.verdicts.outcomes import Outcome, exit_code_of, verdict_row

if TYPE_CHECKING:
    from bf16perf.verdicts.trend import Change, Series

__all__ = ["add", "run"]


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    h = sub.add_parser("history", help="series, change points and the history page")
    h.add_argument("path", nargs="?", type=Path, default=Path("reports/history.jsonl"))
    h.add_argument("--page", type=Path, default=None, help="default: history.html beside it")
    h.add_argument("--no-page", action="store_true", help="read only: write no page")
    h.add_argument("--confirm", type=p.positive_int, default=3, help="sessions that confirm a drop")
    like_the_plugin(h, "--threshold", "--perf-max-regression")
    h.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text, json (a row a series: bf16perf/store/schemas/verdicts.schema.json) or markdown"
        " (a table for $GITHUB_STEP_SUMMARY); the page is written the same",
    )
    h.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Exit 10 when a series has a new lasting drop, else 0."""
    from bf16perf.report.history_page import render_history_page
    from bf16perf.store.history import read_history_checked
    from bf16perf.verdicts.trend import changes, nightly_rule, series_of

    t0 = time.monotonic()
    path: Path = args.path
    if not path.is_file():
        raise InputError(
            f"{path}: no such history file (a perf session writes reports/history.jsonl)"
        )
    _check_is_history(path)
    page: Path | None = None
    if not args.no_page:
        page = args.page or path.with_name("history.html")
        refuse_overwriting(page, [path])  # before any work: a usage error writes nothing
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
    outcomes, rows = [], []
    text_out = args.format == "text"
    for key, series in sorted(all_series.items()):
        last = series.points[-1]
        verdict = nightly_rule(series, confirm=args.confirm, threshold=args.threshold)
        outcomes.append(Outcome.REGRESSION if verdict.status == "regression" else Outcome.OK)
        rows.append(_row(series, found[key], verdict.status, verdict.detail, args.threshold))
        if text_out:
            print(
                f"{key}: {len(series.points)} sessions, last {last.figure:.4g}"
                f" ({last.started}); {verdict.status}"
            )
            for change in found[key]:
                print(f"  change point: {change.describe()}")
    code = int(exit_code_of(outcomes))
    if args.format == "json":
        print(json.dumps(document({"history": str(path)}, rows, code), indent=1))
    elif args.format == "markdown":
        print(markdown(f"bf16perf history: {path}", rows, code))
    if page is not None:
        text = render_history_page(
            all_series, found, page, path,
            left_out=series_of(lines, left_out=True), threshold=args.threshold,
        )  # fmt: skip
        atomic_write(page, text)
        where = f"history page: {page} ({len(lines)} lines, {time.monotonic() - t0:.2f} s)"
        print(where, file=sys.stdout if text_out else sys.stderr)
    return code


def _row(
    series: Series, found: list[Change], status: str, detail: str, threshold: float
) -> dict[str, Any]:
    """A series as a verdict row: its trend status, and its last change point's shift with
    that shift's 95% interval (none where the series has no change point)."""
    from bf16perf.report.history_page import series_title

    figures: dict[str, Any] = {"threshold": threshold}
    if found:
        cp = found[-1].point
        figures.update(ratio=cp.ratio, ci=[cp.low, cp.high], confidence=0.95)
    return verdict_row(series_title(series), "trend", status, figures, detail)


def _check_is_history(path: Path) -> None:
    """Refuse, before anything is written, a file that is not a history: a report.json, a
    baseline, a README, an empty file."""
    from bf16perf.store.history import history_problem

    problem = history_problem(path)
    if problem is None:
        with path.open("rb") as fh:
            if not fh.read(1 << 16).strip():
                problem = f"{path} is empty: no session has written to it yet"
    if problem is not None:
        raise InputError(
            f"{problem}; give the history.jsonl a perf session appends to (reports/ by"
            " default, --perf-history)"
        )
