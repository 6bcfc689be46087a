"""Valid report.json documents for tests, made from a real smoke session's report (the
golden round trip's): only what a test sets differs, so every reader sees a report that
passes its schema, as a real session writes it."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from tests.perfrun import ROOT

GOLDEN = ROOT / "tests" / "data" / "golden" / "in" / "reports"
TEMPLATE = json.loads((GOLDEN / "roundtrip" / "report.json").read_text())
#: a real kernel proof with a lone-step profile kept in it (a paired night's candidate run)
PROFILED_KERNELS = next(
    r["kernels"]
    for r in json.loads((GOLDEN / "night-a" / "report.json").read_text())["runs"]
    if r["stack"] == "candidate"
)


def machine_id(name: str) -> str:
    """A fingerprint id (8 hex digits) for a test's machine name."""
    return hashlib.sha256(name.encode()).hexdigest()[:8]


def report_doc(
    machine: str,
    runs: list[dict[str, Any]],
    decisions: list[dict[str, Any]] | None = None,
    slug: str | None = None,
) -> dict[str, Any]:
    """A report of ``machine`` (slug ``slug-<machine>`` unless given) whose runs are the
    template's first run with each of ``runs``' fields set, and ``decisions``."""
    doc: dict[str, Any] = copy.deepcopy(TEMPLATE)
    doc["fingerprint"].update(id=machine_id(machine), slug=slug or f"slug-{machine}")
    first = doc["runs"][0]
    doc["runs"] = [{**copy.deepcopy(first), **run} for run in runs]
    doc["decisions"] = decisions or []
    doc["exit_code"] = 0
    return doc


def figure_runs(figures: dict[str, list[float]]) -> list[dict[str, Any]]:
    """One candidate run a figure, by workload key."""
    return [
        {"workload_key": key, "median_images_per_second": x, "stack": "candidate"}
        for key, xs in figures.items()
        for x in xs
    ]


def write_report(path: Path, doc: dict[str, Any]) -> Path:
    """``doc`` as ``path/report.json`` (``path`` made); the directory."""
    path.mkdir(parents=True)
    (path / "report.json").write_text(json.dumps(doc))
    return path
