"""Reports people read: ``report.json``, a self-contained ``report.html`` with plots, the
nightly history line, and the ``reports/latest`` link.

This package owns the files under ``reports/<timestamp>-<slug>/``: the data
(:mod:`.data`, the only place typed values become JSON), the history file
(:mod:`.history`), the plots (:mod:`.plots`) and the page (:mod:`.html`).
:func:`write_report` writes them all, each file atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bf16perf.report.card import card_rows, decision_card
from bf16perf.report.data import REPORT_SCHEMA_VERSION, build_report, history_line
from bf16perf.report.html import render_html
from bf16perf.report.plots import plots
from bf16perf.store.atomic import atomic_write, fsync_dir
from bf16perf.store.history import append_history, read_history, read_history_checked
from bf16perf.store.report_json import ReportError

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "append_history",
    "build_report",
    "history_line",
    "past_problem",
    "read_history",
    "render_html",
    "write_history_page",
    "write_report",
]


def write_history_page(
    history: list[dict[str, Any]], history_path: Path, threshold: float = 0.05
) -> Path:
    """``history.html`` beside the history file: every series and its change points, the
    sessions the trend leaves out marked apart, the threshold (``--perf-max-regression``)."""
    from bf16perf.report.history_page import render_history_page
    from bf16perf.verdicts.trend import changes, series_of

    page = history_path.with_name("history.html")
    all_series = series_of(history)
    found = {key: changes(s) for key, s in all_series.items()}
    text = render_history_page(
        all_series, found, page, history_path,
        left_out=series_of(history, left_out=True), threshold=threshold,
    )  # fmt: skip
    atomic_write(page, text)
    return page


def past_problem(what: str, path: Path, exc: BaseException) -> str:
    """One line naming what could not be made from the past, from which file, and why
    (this session's own record is written all the same)."""
    return (
        f"bf16perf: {what} not made from {path} ({type(exc).__name__}: {str(exc)[:200]});"
        " this session's report.json and history line are written; move the file aside"
        " or fix the line named above to have it back"
    )


def _figures(
    report: dict[str, Any], history: list[dict[str, Any]], history_path: Path, found: list[str]
) -> dict[str, str]:
    """The page's plots and its decision card; a failure is one line in ``found`` and the
    page goes without them."""
    try:
        figures = plots(report, history)
        card = decision_card(card_rows(report))
        if card is not None:
            figures["card"] = card
    except Exception as exc:
        found.append(past_problem("report.html's plots", history_path, exc))
        return {}
    return figures


def write_report(
    report_dir: Path,
    report: dict[str, Any],
    history_path: Path,
    logs: list[Path],
    problems: list[str] | None = None,
    threshold: float = 0.05,
) -> Path:
    """Write report.json, append the history line, then report.html, copy logs, point
    ``latest``.  What is made from the past (the history page, the plots over the history)
    cannot stop this session's own record: a failure there is one line in ``problems``
    and the page goes without it."""
    report_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(report_dir / "report.json", json.dumps(report, indent=1, sort_keys=True))
    found = problems if problems is not None else []
    try:
        _history_and_page(report_dir, report, history_path, found, threshold)
    except ReportError as exc:  # a writer's bug: report.json is kept, and the bug named
        found.append(f"bf16perf: this session's report does not read back ({exc}): no page")
    if logs:
        dest = report_dir / "logs"
        dest.mkdir(exist_ok=True)
        for log in logs:
            with contextlib.suppress(OSError):
                shutil.copy2(log, dest / log.name)
    latest = report_dir.parent / "latest"
    tmp_link = report_dir.parent / f".latest-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    tmp_link.symlink_to(report_dir.name)
    os.replace(tmp_link, latest)
    fsync_dir(report_dir.parent)
    return report_dir


def _history_and_page(
    report_dir: Path,
    report: dict[str, Any],
    history_path: Path,
    found: list[str],
    threshold: float,
) -> None:
    """Append the history line, then write the history page and report.html; a problem
    with the past is a line in ``found``.  Raises ``ReportError`` where the session's own
    report does not read back (nothing then is appended)."""
    line = history_line(report, report_dir)
    try:
        torn = append_history(history_path, line)
    except OSError as exc:
        found.append(
            f"bf16perf: this session's history line was not appended to {history_path}"
            f" ({exc}); the file is as it was, and report.json is written"
        )
    else:
        if torn is not None:
            found.append(
                f"bf16perf: {history_path} ended in a torn line (a crash or a full disk cut"
                f" it short); it was moved aside, whole, to {torn}, before this line"
            )
    history, skipped = read_history_checked(history_path)
    shown = 3  # a history full of bad lines is named by its first few
    found.extend(f"bf16perf: {line}" for line in skipped[:shown])
    if len(skipped) > shown:
        found.append(f"bf16perf: and {len(skipped) - shown} more bad lines in {history_path}")
    link = None
    try:
        page = os.path.relpath(write_history_page(history, history_path, threshold), report_dir)
        link = quote(Path(page).as_posix())  # a relative path, never a scheme
    except Exception as exc:  # any reader's failure, named
        found.append(past_problem("the history page", history_path, exc))
    figures = _figures(report, history, history_path, found)
    atomic_write(report_dir / "report.html", render_html(report, figures, link))
