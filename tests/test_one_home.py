"""One place for each fact (#33): each test fails on a second copy of its fact in the
harness's own code (``src/``, ``fixtures/``, ``perf/``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.perfrun import ROOT

PACKAGE = ROOT / "src" / "bf16perf"


def _sources() -> dict[str, str]:
    out = {}
    for folder in ("src", "fixtures", "perf"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            out[str(path.relative_to(ROOT))] = path.read_text()
    return out


SOURCES = _sources()


def _calls(name: str, methods: bool = True) -> dict[str, int]:
    """Where a function called ``name`` is called (plain, or also as an attribute)."""
    found: dict[str, int] = {}
    for where, text in SOURCES.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.id if isinstance(f, ast.Name) else None
                if methods and isinstance(f, ast.Attribute):
                    called = f.attr
                if called == name:
                    found[where] = found.get(where, 0) + 1
    return found


def _homes(pattern: str) -> set[str]:
    return {where for where, text in SOURCES.items() if re.search(pattern, text)}


def test_the_run_figure_is_computed_in_one_place() -> None:
    """``stats.figures.run_figure`` defines it; a run (``RunResult.figure``) and a stored
    run (``BaselineRun.figure``) delegate to it; nothing else takes a median of images/s."""
    assert set(_calls("run_figure")) == {
        "src/bf16perf/workloads/results.py",
        "src/bf16perf/store/baseline.py",
    }
    medians = []
    for where, text in SOURCES.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "median":
                args = ast.unparse(node)
                if re.search(r"images_per_second|\bips\b", args):
                    medians.append(f"{where}: {args}")
    assert medians == [] or all("stats/figures.py" in m for m in medians), medians


def test_outcome_to_exit_code_is_mapped_in_one_place() -> None:
    """``verdicts.outcomes.exit_code_of`` maps outcomes to 0/10/11/12/13 for the plugin,
    ``compare``, ``history`` and the replay: no literal exit code elsewhere."""
    literal = r"(code\s*=\s*|return\s+|exit\()1[0-3]\b|\b1[0-3] if\b"
    assert _homes(literal) == set()
    assert _homes(r"ExitCode\.(REGRESSION|INCONCLUSIVE|UNSUPPORTED|NUMERICS)\b") == {
        "src/bf16perf/verdicts/outcomes.py"
    }
    users = set(_calls("exit_code_of")) | set(_calls("session_exit_code"))
    assert {
        "src/bf16perf/console/compare.py",
        "src/bf16perf/console/history.py",
        "src/bf16perf/calibration/replay.py",
    } <= users


def test_the_error_budget_is_planned_once_in_the_session_core() -> None:
    """Planned verdicts and each share: ``session.budget.plan_budget`` (over
    ``verdicts.family.planned_verdicts``, which the replay shares); fixtures only wire."""
    assert set(_calls("planned_verdicts")) == {
        "src/bf16perf/session/budget.py",
        "src/bf16perf/calibration/replay.py",
    }
    assert set(_calls("plan_budget")) == {"fixtures/machine.py"}
    assert set(_calls("ErrorBudget")) == {"src/bf16perf/session/state.py"}
    assert not [w for w in _calls("min_pairs_for") if w.startswith("fixtures/")]


def test_the_pinning_plan_is_made_in_one_place() -> None:
    """The local cluster's plan comes from ``ClusterRequest.local_plan`` alone (the
    session header and the cluster read the same plan)."""
    assert set(_calls("local_plan", methods=False)) == {"src/bf16perf/cluster/bringup.py"}


def test_the_store_layout_is_known_only_to_the_store() -> None:
    """``<root>/<slug>/<key>.json``, ``.noise.json`` and the ``.prev-`` copies: only
    ``store/`` spells them."""
    spelled = _homes(r"\.noise\.json|\.prev-|glob\(f?\"\*/")
    outside = {w for w in spelled if not w.startswith("src/bf16perf/store/")}
    assert outside == set(), f"{outside} spell the store's layout: use BaselineStore"


def test_every_fact_test_reads_real_code() -> None:
    """The scans above see the package (a moved tree would make them vacuous)."""
    assert len(SOURCES) > 100 and Path(PACKAGE / "verdicts" / "outcomes.py").exists()


#: Keys only report.json has: reading one of them by hand outside ``store/`` bypasses
#: :class:`bf16perf.store.report_json.Report`.
REPORT_KEYS = frozenset(
    {
        "runs",
        "decisions",
        "median_images_per_second",
        "workload_key",
        "stopped_because",
        "kernel_proof",
        "images_per_second_ci",
        "share_of_peak",
        "decomposition",
    }
)


def _hand_reads(keys: frozenset[str]) -> list[str]:
    """``x["key"]`` (read, not written) and ``x.get("key")`` of ``keys`` outside store/."""
    found = []
    for where, text in SOURCES.items():
        if where.startswith("src/bf16perf/store/"):
            continue
        for node in ast.walk(ast.parse(text)):
            key = None
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                key = node.slice.value if isinstance(node.slice, ast.Constant) else None
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) == "get"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                key = node.args[0].value
            if key in keys:
                found.append(f"{where}:{getattr(node, 'lineno', 0)}: {ast.unparse(node)}")
    return found


def test_report_json_is_read_only_through_its_typed_model() -> None:
    """Every reader of a report (the page, the plots, the history line, compare, summary,
    accept, calibrate) goes through ``store.report_json.Report``."""
    assert _hand_reads(REPORT_KEYS) == []


#: Keys only a history line has (``run_figures``: also the report's baseline entries).
HISTORY_KEYS = frozenset({"series", "ratios", "run_figures", "kernel_isa", "fingerprint_id"})


def test_history_lines_are_read_only_through_their_typed_model() -> None:
    """The trend, the paired nightly's nights, the planned duration and the plots read
    history lines through ``store.history_line.HistoryLine``."""
    assert _hand_reads(HISTORY_KEYS) == []
