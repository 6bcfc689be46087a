"""Golden outputs: what the report, the history and the exit codes read on fixed inputs.

The inputs under ``tests/data/golden/in`` are files real smoke sessions wrote on the Zen 3
build VM (a baseline round trip whose second session failed its throughput check, two
nights of the paired nightly and their history); the expected outputs under
``expected/`` were written by the code before the package moved into its layers.  A
difference is a behaviour change: look at it, and only if it is meant, write the files
again with ``BF16PERF_GOLDEN=write .venv/bin/pytest tests/test_golden.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest

from bf16perf.console import main

GOLDEN = Path(__file__).parent / "data" / "golden"
IN = GOLDEN / "in"
WRITE = os.environ.get("BF16PERF_GOLDEN") == "write"


def _command(argv: list[str]) -> str:
    """One ``bf16perf`` command run in this process: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse's own exits
            code = int(stop.code or 0)
    text = f"exit {code}\n--- stdout\n{out.getvalue()}--- stderr\n{err.getvalue()}"
    return text.replace(str(IN), "<in>")


def _check(name: str, text: str) -> None:
    path = GOLDEN / "expected" / name
    if WRITE:
        path.write_text(text)
    assert path.exists(), f"{path} is missing: write it with BF16PERF_GOLDEN=write"
    assert text == path.read_text(), f"{name} changed: diff it against {path}"


REPORTS = {"roundtrip": "roundtrip", "night-b": "night-b"}
COMMANDS = {
    **{
        f"compare-{name}-{fmt}": [
            "compare",
            str(IN / "reports" / name),
            str(IN / "reports" / name),
            "--baselines",
            str(IN / "baselines"),
            "--format",
            fmt,
        ]
        for name in REPORTS
        for fmt in ("text", "json", "markdown")
    },
    "compare-nights-text": [
        "compare",
        str(IN / "reports" / "night-a"),
        str(IN / "reports" / "night-b"),
        "--baselines",
        str(IN / "baselines"),
    ],
    "compare-nights-release": [
        "compare",
        str(IN / "reports" / "night-a"),
        str(IN / "reports" / "night-b"),
        "--baselines",
        str(IN / "baselines"),
        "--release",
    ],
    **{
        f"history-{fmt}": ["history", str(IN / "history.jsonl"), "--no-page", "--format", fmt]
        for fmt in ("text", "json", "markdown")
    },
    **{
        f"summary-{name}-{fmt}": ["summary", str(IN / "reports" / name), "--format", fmt]
        for name in ("roundtrip", "night-b")
        for fmt in ("markdown", "json")
    },
    "baselines-list": ["baselines", "list", str(IN / "baselines")],
    "history-of-a-report": ["history", str(IN / "reports" / "roundtrip" / "report.json")],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_commands_read_as_before(name: str) -> None:
    _check(f"{name}.txt", _command(COMMANDS[name]))


@pytest.mark.parametrize("name", ["roundtrip", "night-a", "night-b"])
def test_history_line_and_card_as_before(name: str) -> None:
    from bf16perf.report.card import card_rows
    from bf16perf.report.data import history_line

    report_dir = IN / "reports" / name
    report = json.loads((report_dir / "report.json").read_text())
    made = {
        "history_line": history_line(report, Path("reports") / name),
        "card_rows": card_rows(report),
    }
    _check(f"made-{name}.json", json.dumps(made, indent=1, sort_keys=True) + "\n")


def test_exit_codes_as_before() -> None:
    from bf16perf.verdicts.outcomes import Decision, Outcome, exit_code_for, session_exit_code

    lines = []
    for outcome in Outcome:
        decisions = [Decision("perf/t.py::t", "check", outcome, "detail")]
        lines.append(
            f"{outcome.value}: session {int(session_exit_code(decisions, 0))}, with a failed"
            f" test {int(session_exit_code(decisions, 1))}, failing only by itself"
            f" {int(exit_code_for(decisions, ['perf/t.py::t']))}"
        )
    _check("exit-codes.txt", "\n".join(lines) + "\n")
