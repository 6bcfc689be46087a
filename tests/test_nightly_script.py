"""scripts/nightly.sh decides a suspect drop the same night: one more session at once, whose
exit code is the night's (unless BF16PERF_CONFIRM_NOW=0).  The sessions are a stub pytest
that writes what a real session's report says; the script itself runs as shipped."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.perfrun import ROOT

STUB = """#!/usr/bin/env bash
reports=""; while [ $# -gt 0 ]; do [ "$1" = --perf-reports ] && reports="$2"; shift; done
n=$(cat "$reports/../calls" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$reports/../calls"
mkdir -p "$reports/s$n"; ln -sfn "s$n" "$reports/latest"; touch "$reports/s$n/report.html"
outcomes=(OUTCOMES); codes=(CODES)
echo "{\\"decisions\\": [{\\"outcome\\": \\"${outcomes[$n-1]}\\"}]}" > "$reports/s$n/report.json"
exit "${codes[$n-1]}"
"""


def _night(tmp_path: Path, outcomes: list[str], codes: list[int], **env: str) -> tuple[int, int]:
    """The script's exit code and how many sessions it ran."""
    tree = tmp_path / "checkout"
    (tree / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "nightly.sh", tree / "scripts")
    (tree / "Makefile").write_text(".venv/.installed:\n\t@true\n")
    stub = tree / ".venv" / "bin" / "pytest"
    stub.parent.mkdir(parents=True)
    (tree / ".venv" / ".installed").touch()
    quoted = " ".join(f'"{o}"' for o in outcomes)
    stub.write_text(STUB.replace("OUTCOMES", quoted).replace("CODES", " ".join(map(str, codes))))
    stub.chmod(0o755)
    state = tmp_path / "state"
    done = subprocess.run(
        ["bash", str(tree / "scripts" / "nightly.sh")],
        env={**os.environ, "BF16PERF_STATE": str(state), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, int((state / "calls").read_text())


@pytest.mark.parametrize(
    ("second", "code"), [("throughput regression", 10), ("ok", 0)], ids=["confirmed", "cleared"]
)
def test_a_suspect_night_runs_one_more_session_at_once(
    tmp_path: Path, second: str, code: int
) -> None:
    assert _night(tmp_path, ["suspect, unconfirmed", second], [0, code]) == (code, 2)


def test_a_quiet_night_or_an_opt_out_runs_one_session(tmp_path: Path) -> None:
    assert _night(tmp_path / "a", ["ok"], [0]) == (0, 1)
    suspect = ["suspect, unconfirmed", "throughput regression"]
    assert _night(tmp_path / "b", suspect, [0, 10], BF16PERF_CONFIRM_NOW="0") == (0, 1)
    assert _night(tmp_path / "c", ["throughput regression"], [10]) == (10, 1)
