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

from bf16perf.atomic import atomic_write
from bf16perf.report.data import REPORT_SCHEMA_VERSION, build_report, history_line
from bf16perf.report.history import append_history, read_history
from bf16perf.report.html import render_html
from bf16perf.report.plots import plots

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "append_history",
    "build_report",
    "history_line",
    "read_history",
    "render_html",
    "write_history_page",
    "write_report",
]


def write_history_page(history: list[dict[str, Any]], history_path: Path) -> Path:
    """``history.html`` beside the history file: every series and its change points."""
    from bf16perf.report.history_page import render_history_page
    from bf16perf.trend import changes, series_of

    page = history_path.with_name("history.html")
    all_series = series_of(history)
    found = {key: changes(s) for key, s in all_series.items()}
    atomic_write(page, render_history_page(all_series, found, page, history_path))
    return page


def write_report(
    report_dir: Path, report: dict[str, Any], history_path: Path, logs: list[Path]
) -> Path:
    """Write report.json and report.html, copy logs, append history, point ``latest``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(report_dir / "report.json", json.dumps(report, indent=1, sort_keys=True))
    line = history_line(report, report_dir)
    append_history(history_path, line)
    history = read_history(history_path)
    page = write_history_page(history, history_path)
    link = os.path.relpath(page, report_dir)
    atomic_write(report_dir / "report.html", render_html(report, plots(report, history), link))
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
    return report_dir
