"""Change points and the nightly rule on synthetic series with this machine's noise, the
history's series and what changed across a shift, and the ``bf16perf`` command."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bf16perf.console import main
from bf16perf.stats.changepoints import ar1_series, detect
from bf16perf.verdicts.trend import nightly_rule, series_of

# BENCHMARKS.md V: single smoke runs scatter by 5.7% (log sd) with no lag-1 correlation
# (-0.07 over 40 consecutive A/A runs); a nightly session's figure is the geometric mean of
# its 3 runs, so sessions scatter by 5.7% / sqrt(3).  rho 0.1 leaves room for drift between
# nights that minutes-apart runs cannot show.
SESSION_SD = 0.0567 / math.sqrt(3)
RHO = 0.1


def _ar1(n: int, rng: np.random.Generator, rho: float = RHO, sd: float = SESSION_SD) -> Any:
    return ar1_series(n, rho, sd, rng)


def test_stationary_series_rarely_end_in_a_change_point() -> None:
    rng = np.random.default_rng(7)
    false = sum(any(cp.index >= 24 for cp in detect(_ar1(30, rng))) for _ in range(300))
    print(f"false change points in the last 6 of 30 sessions: {false}/300")
    assert false <= 3  # at most 1%


def test_a_10_percent_step_is_found_within_three_sessions() -> None:
    rng = np.random.default_rng(8)
    found = 0
    for _ in range(300):
        series = _ar1(30, rng)
        series[27:] *= 0.9  # three sessions after the step
        cps = detect(series)
        found += any(25 <= cp.index <= 28 and cp.ratio < 1 for cp in cps)
    print(f"10% steps found with 3 sessions after them: {found}/300")
    assert found >= 270  # at least 90%


def test_the_shift_and_its_interval_are_honest() -> None:
    series = list(_ar1(40, np.random.default_rng(9)))
    series[20:] = [x * 0.8 for x in series[20:]]
    (cp,) = detect(series)
    assert cp.index == 20 and cp.low < 0.8 < cp.high and cp.high < 1


def _line(i: int, figure: float, tf: str = "2.21.0", schema: int = 2) -> dict[str, Any]:
    if schema == 1:
        return {"started": f"2026-10-{i + 1:02d}T01:00:00Z", "fingerprint": "m",
                "images_per_second": {"fp32": figure}, "report": f"/r/{i}"}  # fmt: skip
    return {
        "schema_version": 2,
        "started": f"2026-11-{i + 1:02d}T01:00:00Z",
        "fingerprint": "m",
        "report": f"/r/{i}",
        "versions": {"tensorflow": tf, "onednn": "v3.10"},
        "labels": {"commit": f"c{i}"},
        "series": {"w-fp32": {"run_figures": [figure * 0.99, figure, figure * 1.01],
                              "kernel_isa": "avx2"}},
        "ratios": {},
    }  # fmt: skip


def _drifting(n: int, seed: int) -> list[float]:
    return [float(x) for x in _ar1(n, np.random.default_rng(seed))]


def test_a_lasting_drop_names_its_first_session_and_what_changed() -> None:
    figures = _drifting(26, 3)
    lines = [_line(i, f if i < 22 else f * 0.85, "2.21.0" if i < 22 else "2.22.0")
             for i, f in enumerate(figures)]  # fmt: skip
    lines.insert(0, _line(0, 50.0, schema=1))  # an old line: its own, legacy series
    found = series_of(lines)
    assert set(found) == {"m w-fp32", "m fp32 (legacy)"} and found["m fp32 (legacy)"].legacy
    verdict = nightly_rule(found["m w-fp32"], confirm=3)
    assert verdict.status == "regression", verdict.detail
    assert "from session 2026-11-23T01:00:00Z" in verdict.detail
    assert "tensorflow 2.21.0 -> 2.22.0" in verdict.detail and "label commit c21 -> c22" in (
        verdict.detail
    )


def _profile(ms: float, impl: str) -> dict[str, Any]:
    part = {"name": "convolution forward", "ms": ms, "count": 53, "impls": {impl: 53}}
    return {"parts": [part], "step_s": 1.0, "timed": [53, 53]}


def test_a_change_point_names_the_part_of_the_lone_step_that_grew() -> None:
    figures = _drifting(26, 3)
    lines = [_line(i, f if i < 22 else f * 0.85) for i, f in enumerate(figures)]
    for i, line in enumerate(lines):
        after = i >= 22
        profile = _profile(140.0 if after else 100.0, "jit:avx2" if after else "brg:avx512_core")
        line["series"]["w-fp32"]["profile"] = profile
    verdict = nightly_rule(series_of(lines)["m w-fp32"], confirm=3)
    assert verdict.status == "regression", verdict.detail
    assert verdict.detail.endswith(
        "what grew in the lone step across it: convolution forward +40.0 ms/step (+40%):"
        " brg:avx512_core -> jit:avx2"
    ), verdict.detail
    for line in lines:  # the kernels did not change: the clause says to look elsewhere
        line["series"]["w-fp32"]["profile"] = _profile(100.0, "brg:avx512_core")
    verdict = nightly_rule(series_of(lines)["m w-fp32"], confirm=3)
    assert "oneDNN parts did not grow across it: look beyond the kernels" in verdict.detail
    for line in lines:  # a history kept before profiles were: no clause at all
        del line["series"]["w-fp32"]["profile"]
    assert "lone step" not in nightly_rule(series_of(lines)["m w-fp32"], confirm=3).detail


def test_one_slow_night_is_suspect_not_a_regression() -> None:
    figures = _drifting(20, 4)
    figures[-1] *= 0.8
    verdict = nightly_rule(series_of([_line(i, f) for i, f in enumerate(figures)])["m w-fp32"])
    assert verdict.status == "suspect", verdict.detail


def test_history_command_reports_corrupt_lines_and_writes_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 5,000-session history (the size the nightly reaches in years) with one torn and
    one foreign line: both are named by line number and skipped, the file is untouched."""
    history = tmp_path / "history.jsonl"
    figures = _drifting(5000, 5)
    lines = [json.dumps(_line(i % 28, f if i < 4990 else f * 0.8)) for i, f in enumerate(figures)]
    lines[100] = lines[100][:40]  # torn
    lines[200] = "[1, 2]"  # not a history line
    history.write_text("\n".join(lines) + "\n")
    before = history.read_bytes()
    t0 = time.monotonic()
    assert main(["history", str(history)]) == 10  # it reports a lasting regression
    elapsed = time.monotonic() - t0
    out, err = capsys.readouterr()
    print(f"bf16perf history on 5,000 lines: {elapsed:.2f} s")
    assert "line 101: not JSON" in err and "line 201: not a history line" in err
    assert history.read_bytes() == before
    assert re.search(r"m w-fp32: 4998 sessions, last [\d.]+ .*; regression", out), out
    page = (tmp_path / "history.html").read_text()
    assert 'id="s0-all-cp0"' in page and "<script src" not in page  # offline: nothing fetched


def test_page_links_stay_under_the_reports_directory(tmp_path: Path) -> None:
    """A stored report path becomes a link only as a relative path under the page's own
    directory: never a ``javascript:`` or outside URL (#32)."""
    history = tmp_path / "history.jsonl"
    reports = [
        str(tmp_path / "2026-11-01T010000Z"),  # a session's own report directory
        "javascript:alert(1)//",
        "https://example.invalid/x",
        "/etc",
        str(tmp_path / ".." / "elsewhere"),
        str(tmp_path / "a b#c?d"),
    ]
    lines = [{**_line(i, 100.0), "report": r} for i, r in enumerate(reports)]
    history.write_text("".join(json.dumps(x) + "\n" for x in lines))
    main(["history", str(history)])
    found = re.findall(r'href="([^"]*)"', (tmp_path / "history.html").read_text())
    hrefs = [h for h in found if not h.startswith("#")]  # the SVG's own references
    assert hrefs == ["./2026-11-01T010000Z/report.html", "./a%20b%23c%3Fd/report.html"], hrefs


def test_the_history_page_has_real_axes_zooms_and_marks_left_out_sessions(
    tmp_path: Path,
) -> None:
    """Each series titled in words, drawn by matplotlib with ticks, units, a grid and a
    legend; the usual scatter and the threshold; hover text for each session and change
    point; the trend's left-out sessions (an A/B, a self-test) marked apart; and a zoom that
    redraws the last 30 and 10 sessions with their own axes (#34)."""
    history = tmp_path / "history.jsonl"
    lines = [_line(i % 28, 100.0 if i < 30 else 85.0) for i in range(40)]
    for i, line in enumerate(lines):
        line["started"] = f"2026-{10 + i // 28:02d}-{i % 28 + 1:02d}T01:00:00Z"
        line["series"] = {"resnet50-32px-b4-s8-2x1-synthetic-fp32": line["series"]["w-fp32"]}
    lines[35]["session"] = {"kind": "ab"}  # an ad-hoc A/B candidate: not in the trend
    lines[36]["session"] = {"kind": "paired", "injected": 0.5}  # a self-test
    history.write_text("".join(json.dumps(x) + "\n" for x in lines))
    main(["history", str(history)])
    page = (tmp_path / "history.html").read_text()
    assert "fp32: resnet50 at 32 px, batch 4 a worker, 8 measured steps, 2 workers x 1 CPU," in page
    assert page.count('<figure class="view"') == 3  # all, last 30, last 10
    for text in ("usual scatter (median ± 2 sd since the last change)", "threshold (-5% of",
                 "A/B or self-test session (not in the trend)", "change point",
                 "images/s (geomean of its runs)", "session (its start, UTC)"):  # fmt: skip
        assert f">{text}" in page, text
    assert 'id="s0-all-ytick' in page and 'id="s0-10-xtick' in page
    hover = re.findall(r'<g id="s0-all-pt\d+"><title>([^<]*)</title>', page)
    assert len(hover) == 38 and "label commit: c1" in hover[1], hover[:2]
    assert re.search(r'<g id="s0-all-cp0"><title>[^<]*x0\.8', page), "the change's shift"


def test_history_prints_its_series_as_verdicts_for_ci(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`history --format json|markdown`: a row a series (its trend status, its last change
    point's shift and interval, the threshold), in the document compare and summary print,
    valid against its schema; the exit code is the same (#34 item 4)."""
    import jsonschema

    from bf16perf.store.formats import schema

    history = tmp_path / "history.jsonl"
    figures = [100.0] * 20 + [92.0] * 5
    history.write_text("".join(json.dumps(_line(i, f)) + "\n" for i, f in enumerate(figures)))
    assert main(["history", str(history), "--no-page", "--format", "json"]) == 10
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, schema("verdicts"))
    (row,) = doc["verdicts"]
    assert row["check"] == "trend" and row["verdict"] == "regression" and doc["exit_code"] == 10
    assert row["change"] == pytest.approx(-0.08, abs=0.01) and row["threshold"] == 0.05
    assert main(["history", str(history), "--format", "markdown"]) == 10
    out, err = capsys.readouterr()
    assert "| trend | **regression** |" in out and out.rstrip().endswith("exit code 10")
    assert "history page: " in err and (tmp_path / "history.html").is_file()


def test_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["compare", str(tmp_path), str(tmp_path)]) == 2
    assert main(["baselines", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("bf16perf ") for line in err), err


@pytest.mark.parametrize("kind", ["report", "readme", "empty", "baseline"])
def test_history_refuses_what_is_not_a_history_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """A report.json, a README, an empty file or a baseline given to ``bf16perf history``:
    exit 2, one line, no page beside it (#34)."""
    given = tmp_path / {"report": "report.json", "readme": "README.md"}.get(kind, f"{kind}.x")
    given.write_text(
        {
            "report": json.dumps({"schema_version": 1, "runs": []}, indent=1),
            "readme": "# bf16perf\n\nA harness.\n",
            "empty": "",
            "baseline": json.dumps({"schema_version": 3, "benchmarks": []}),
        }[kind]
    )
    assert main(["history", str(given)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"bf16perf history: {given}") and "history.jsonl" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == [given.name]  # nothing written


def test_history_reads_the_sessions_threshold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`history --threshold` is the session's --perf-max-regression: an 8% lasting drop is
    a regression at the default 5%, not at 10% (#34)."""
    history = tmp_path / "history.jsonl"
    figures = [100.0] * 20 + [92.0] * 5
    history.write_text("".join(json.dumps(_line(i, f)) + "\n" for i, f in enumerate(figures)))
    assert main(["history", str(history), "--no-page"]) == 10
    assert main(["history", str(history), "--no-page", "--threshold", "0.1"]) == 0
    with pytest.raises(SystemExit, match="2"):  # a fraction, as the plugin's option
        main(["history", str(history), "--no-page", "--threshold", "5"])
    assert "--threshold: '5' must be a fraction" in capsys.readouterr().err


def test_history_reads_without_writing_a_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(_line(i, 100.0)) + "\n" for i in range(4)))
    history.chmod(0o444)
    tmp_path.chmod(0o555)  # a read-only place
    try:
        assert main(["history", str(history), "--no-page"]) == 0
    finally:
        tmp_path.chmod(0o755)
    assert "m w-fp32: 4 sessions" in capsys.readouterr().out
    assert not (tmp_path / "history.html").exists()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_history_page_in_a_real_browser_offline(tmp_path: Path) -> None:
    figures = _drifting(30, 6)
    history = tmp_path / "history.jsonl"
    history.write_text(
        "".join(
            json.dumps(_line(i, f if i < 20 else f * 0.8)) + "\n" for i, f in enumerate(figures)
        )
    )
    assert main(["history", str(history)]) in (0, 10)  # 10: a drop within its horizon
    assert CHROMIUM is not None
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}",
         "--proxy-server=127.0.0.1:9", "--virtual-time-budget=3000", "--dump-dom",
         (tmp_path / "history.html").as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'data-series="1"' in proc.stdout and 'data-changes="1"' in proc.stdout
    assert 'data-axes="1"' in proc.stdout  # the plot's axis ticks, as the browser drew them


def test_the_session_verdict_is_a_history_regression_or_a_notice() -> None:
    """What the plugin records at session end: this session's line after the history."""
    from bf16perf.verdicts.outcomes import Outcome
    from bf16perf.verdicts.trend import trend_decisions

    figures = _drifting(26, 3)
    lines = [_line(i, f if i < 22 else f * 0.85) for i, f in enumerate(figures)]
    decisions, notices = trend_decisions(lines[:-1], lines[-1], confirm=3)
    (decision,) = decisions
    assert decision.test == "history" and decision.outcome is Outcome.REGRESSION
    assert "new lasting drop" in decision.detail and notices == []
    quiet, _ = trend_decisions(lines[:4], lines[4], confirm=3)  # too short to judge
    assert quiet == []
