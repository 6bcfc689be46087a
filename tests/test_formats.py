"""One owner of the stored formats: every writer's output follows its kind's schema (so the
schemas cannot drift from the code), old baselines migrate, and a bad document is one line
naming the field, what was expected and what was found."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bf16perf.report import write_report
from bf16perf.stats.figures import Spread
from bf16perf.store import formats
from bf16perf.store.baselines import BaselineStore
from bf16perf.store.calibration_session import CalibrationSession, read_session
from bf16perf.store.formats import FormatError, migrate_baseline, problem, schema
from bf16perf.store.history import read_history
from tests.test_baselines import FP, _doc
from tests.test_report import _report

KINDS: tuple[formats.Kind, ...] = ("baseline", "noise", "history", "session", "report")


@pytest.mark.parametrize("kind", KINDS)
def test_each_schema_is_valid_and_names_its_version(kind: formats.Kind) -> None:
    doc = schema(kind)
    jsonschema.validators.validator_for(doc).check_schema(doc)
    assert doc["$id"] == f"bf16perf/{kind}.schema.json"
    version = getattr(formats, f"{kind.upper()}_VERSION")
    assert f"schema_version {version}" in doc["title"]


def test_every_writer_writes_what_its_schema_reads(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path / "b")
    path, _, _ = store.save("m", "w", _doc(10.0, 9.5))
    store.save("m", "w", _doc(10.2))  # two sessions
    assert problem("baseline", json.loads(path.read_text())) is None
    noise = store.save_calibration(
        "m", "w", fingerprint=FP, sessions=[[10.0, 10.1], [9.8, 9.9]],
        spreads=(Spread(0.01, 2, "c"), Spread(0.02, 1, "c")), command="calibrate",
    )  # fmt: skip
    assert problem("noise", json.loads(noise.read_text())) is None
    out = write_report(tmp_path / "r", _report(), tmp_path / "history.jsonl", [])
    assert problem("report", json.loads((out / "report.json").read_text())) is None
    (line,) = [json.loads(x) for x in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert line["schema_version"] == formats.HISTORY_VERSION and problem("history", line) is None
    assert "torch" in line["versions"]  # a PyTorch upgrade is a recorded difference too
    session = CalibrationSession(1, [10.0, 9.9], "w", "m", dict(FP), None, [15.0], ["fp32", "bf16"])
    assert problem("session", session.to_dict()) is None


def _v1(figure: Any) -> dict[str, Any]:
    run = {"extra_info": {"images_per_second": [figure, 10.0], "losses": [2.0, float("nan")]}}
    return {"schema_version": 1, "workload": "w", "datetime": "20261101T000000Z",
            "machine_info": {"bf16perf_fingerprint": dict(FP)}, "benchmarks": [run]}  # fmt: skip


def test_old_baselines_migrate_in_memory_to_one_session() -> None:
    old = _v1(10.5)
    data = migrate_baseline(old)
    assert data["schema_version"] == formats.BASELINE_VERSION and data["upgraded_from"] == 1
    assert len(data["sessions"]) == 1 and data["sessions"][0]["saved_at"] == "20261101T000000Z"
    assert old["schema_version"] == 1 and "sessions" not in old  # the input is not changed
    with pytest.raises(FormatError, match="schema_version 4 is newer than this bf16perf reads"):
        migrate_baseline({**old, "schema_version": 4})
    with pytest.raises(FormatError, match="field schema_version: expected a whole number"):
        migrate_baseline({**old, "schema_version": True})


@pytest.mark.parametrize(
    "figure, words",
    [
        ("fast", "expected a number, got 'fast'"),
        (True, "expected a number, got True"),
        (0, "expected a number > 0, got 0"),
        (float("nan"), "expected a finite number, got nan"),
        (math.inf, "expected a finite number, got inf"),
        ("x" * 500, "got 'xxxxxxxx"),
    ],
)
def test_a_bad_figure_is_one_line_naming_field_expected_and_found(figure: Any, words: str) -> None:
    with pytest.raises(FormatError) as exc:
        migrate_baseline(_v1(figure))
    message = str(exc.value)  # the file's own top-level copy of its last session, or that
    assert re.match(
        r"field (sessions\[0\]\.)?benchmarks\[0\]\.extra_info\.images_per_second\[0\]:", message
    )
    assert words in message and "\n" not in message and len(message) < 200


def test_a_missing_field_is_named() -> None:
    doc = migrate_baseline(_v1(10.0))
    del doc["machine_info"]["bf16perf_fingerprint"]["id"]
    assert problem("baseline", doc) == "missing field machine_info.bf16perf_fingerprint.id"
    assert problem("history", {"report": "r"}) == "missing field started"


def test_history_reader_names_each_bad_line_and_keeps_the_good(tmp_path: Path) -> None:
    good = {"schema_version": 2, "started": "s", "series": {"k": {"run_figures": [9.0]}}}
    bad = {**good, "series": {"k": {"run_figures": [9.0, "fast"]}}}
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in (good, bad, {**good, "ratios": [1]})))
    from bf16perf.store.history import read_history_checked

    lines, problems = read_history_checked(path)
    assert lines == [good] and read_history(path) == [good]
    assert problems == [
        f"{path} line 2: field series.k.run_figures[1]: expected a number, got 'fast'; skipped",
        f"{path} line 3: field ratios: expected an object or null, got [1]; skipped",
    ]


def test_a_bad_calibration_session_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "001.json"
    session = CalibrationSession(1, [10.0, 9.9], "w", "m", dict(FP), None)
    path.write_text(json.dumps({**session.to_dict(), "figures": [10.0, -1]}))
    with pytest.raises(RuntimeError, match=r"001\.json: field figures\[1\]: expected a number"):
        read_session(path)
    path.write_text("{")
    with pytest.raises(RuntimeError, match=r"not readable JSON.*delete it and calibrate again"):
        read_session(path)
    path.write_text(json.dumps(session.to_dict()))
    assert read_session(path) == session
