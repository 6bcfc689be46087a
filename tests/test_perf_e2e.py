"""`pytest perf/ --perf-profile smoke` for real: save a baseline, compare, catch a regression."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.perfrun import run_perf

pytestmark = pytest.mark.slow


def test_smoke_baseline_round_trip(tmp_path: Path) -> None:
    store = tmp_path / "baselines"
    reports = tmp_path / "reports"
    saved = run_perf(
        "--perf-reports",
        str(reports),
        "--perf-baselines",
        str(store),
        "--perf-save-baseline",
        "--benchmark-json",
        str(tmp_path / "bench.json"),
    )
    assert saved.returncode == 0, saved.stdout[-3000:]
    assert "baseline saved to" in saved.stdout
    (baseline,) = store.glob("*/*fp32.json")
    bench = json.loads((tmp_path / "bench.json").read_text())["benchmarks"]
    (fp32,) = [b for b in bench if b["name"] == "test_training[fp32]"]
    assert fp32["stats"]["rounds"] == 8 and fp32["extra_info"]["losses"]
    workers = fp32["extra_info"]["workers"]
    assert len(workers) == 2 and workers[0]["losses"] == workers[1]["losses"]
    assert workers[0]["cpus"] != workers[1]["cpus"]

    # Back-to-back smoke runs on this shared 2-vCPU VM drift by up to ~10-20% (measured: 8.87
    # then 8.00 images/s, p=0.0002), a real false alarm of the default 5% rule that issue 7's
    # noise study must settle; here the threshold is widened so the test checks the mechanics.
    loose = ("--perf-max-regression", "0.3")
    same = run_perf("--perf-baselines", str(store), "--perf-reports", str(reports), *loose)
    assert same.returncode == 0, same.stdout[-3000:]
    assert "images/s now vs" in same.stdout and str(baseline) in same.stdout
    assert "[fp32] step 10/10 (measured)" in same.stdout  # live progress
    # the report directory of each run: the four kinds of file (logs only when failing)
    runs = sorted(p for p in reports.iterdir() if p.is_dir() and not p.is_symlink())
    assert len(runs) == 2
    for run_dir in runs:
        assert {"report.json", "report.html", "junit.xml"} <= {p.name for p in run_dir.iterdir()}
    assert (reports / "latest").resolve() == runs[-1].resolve()
    assert len((reports / "history.jsonl").read_text().splitlines()) == 2
    junit = (runs[-1] / "junit.xml").read_text()
    assert 'name="median_images_per_second"' in junit
    report = json.loads((runs[-1] / "report.json").read_text())
    assert report["runs"][0]["workers"][0]["losses"] == report["runs"][0]["losses"]

    data = json.loads(baseline.read_text())
    info = data["benchmarks"][0]["extra_info"]
    # 2x rather than the 1.2x of the manual check: see the drift note above.
    info["images_per_second"] = [x * 2.0 for x in info["images_per_second"]]
    baseline.write_text(json.dumps(data))
    slower = run_perf("--perf-baselines", str(store), "--perf-reports", str(reports), *loose)
    assert slower.returncode == 10, slower.stdout[-3000:]  # ExitCode.REGRESSION
    assert "throughput regression: " in slower.stdout
    assert "perf/test_training.py::test_training[fp32]  throughput" in slower.stdout
    assert "bf16perf verdict: exit code 10 (REGRESSION)" in slower.stdout
    failed_run = (reports / "latest").resolve()
    assert list((failed_run / "logs").glob("*.log")), "a failing run carries its Spark logs"
    html = (failed_run / "report.html").read_text()
    assert "throughput regression" in html
    assert str(baseline) in slower.stdout

    baseline.write_text('{"schema_version": 999}')
    before = baseline.read_bytes()
    bad = run_perf("--perf-baselines", str(store), "--perf-no-report")
    assert bad.returncode == 1 and "schema_version 999 is newer" in bad.stdout
    assert baseline.read_bytes() == before
    assert "[fp32] step" not in bad.stdout  # refused before any training
