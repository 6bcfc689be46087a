"""``bf16perf summary`` and the machine-readable forms of ``compare``: verdicts as a table.

One row per verdict, the same fields whichever front end made it: the test, the check, the
verdict word, the change (ratio - 1) with its interval and confidence, the threshold and
the detectable drop.  Markdown is fit for ``$GITHUB_STEP_SUMMARY`` and a pull-request
comment; JSON follows ``bf16perf/store/schemas/verdicts.schema.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bf16perf.console._common import InputError
from bf16perf.report.inert import inert
from bf16perf.verdicts.outcomes import verdict_row

__all__ = ["FORMATS", "add", "document", "markdown", "row", "run"]

FORMATS = ("text", "json", "markdown")


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "summary",
        help="a finished session's verdicts as a Markdown table (or JSON), for CI",
        description="Print REPORT_DIR's verdicts as one table: for $GITHUB_STEP_SUMMARY or a"
        " pull-request comment.  Exit 0 when it could be read (the session's own exit code is"
        " in the table's last line and in the JSON), 2 when it could not.",
    )
    s.add_argument("report", type=Path, help="a session's report directory (or report.json)")
    s.add_argument("--format", choices=("markdown", "json"), default="markdown")
    s.set_defaults(run=run)


row = verdict_row  # the summary's rows are the decisions' own


def document(source: dict[str, Any], rows: list[dict[str, Any]], exit_code: int) -> dict[str, Any]:
    """The JSON form: what was read, the rows and the exit code they add up to."""
    from bf16perf.store.formats import versioned

    return versioned("verdicts", {"source": source, "verdicts": rows, "exit_code": exit_code})


def _pct(x: float | None, sign: bool = False) -> str:
    return "" if x is None else f"{x:+.1%}" if sign else f"{x:.1%}"


def _cell(text: str) -> str:
    return inert(text).replace("|", "\\|").replace("\n", " ")


def markdown(title: str, rows: list[dict[str, Any]], exit_code: int) -> str:
    """A Markdown table of ``rows``, under ``title``, with the exit code at the end."""
    lines = [
        f"### {_cell(title)}",
        "",
        "| test | check | verdict | change | interval | threshold | detectable drop |",
        "| --- | --- | --- | ---: | --- | ---: | ---: |",
    ]
    from bf16perf.verdicts._common import confidence_text  # scipy: only when printing

    for r in rows:
        interval = ""
        if r["ci"] is not None:
            low, high = r["ci"]
            hi = "inf" if high is None else f"{high - 1:+.1%}"
            level = f" at {confidence_text(r['confidence'])}" if r["confidence"] else ""
            interval = f"[{low - 1:+.1%}, {hi}]{level}"
        verdict = f"**{r['verdict']}**" if r["verdict"] in _FAILING_WORDS else r["verdict"]
        lines.append(
            f"| {_cell(r['test'])} | {_cell(r['check'])} | {verdict} |"
            f" {_pct(r['change'], True)} | {interval} | {_pct(r['threshold'])} |"
            f" {_pct(r['detectable_drop'])} |"
        )
    lines += ["", f"exit code {exit_code}"]
    return "\n".join(lines)


_FAILING_WORDS = {
    "throughput regression",
    "regression",  # a history series' trend (bf16perf history)
    "loss curve drifted",
    "bf16 speedup below minimum",
    "inconclusive",
    "unsupported hardware",
}


def run(args: argparse.Namespace) -> int:
    """Print the table; 0 when the report could be read."""
    from bf16perf.store.report_json import Report, ReportError

    path: Path = args.report / "report.json" if args.report.is_dir() else args.report
    try:
        report = Report.read(path)
    except ReportError as exc:
        raise InputError(str(exc)) from None
    rows = [row(d.test, d.check, d.outcome, dict(d.figures), d.detail) for d in report.decisions]
    if args.format == "json":
        print(json.dumps(document({"report": str(path)}, rows, report.exit_code), indent=1))
    else:
        title = f"bf16perf on {report.slug}: {path.parent.name}"
        print(markdown(title, rows, report.exit_code))
    return 0
