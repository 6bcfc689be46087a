"""Reports: schema-valid JSON, a self-contained HTML page checked in a real browser, and an
append-only history whose trend grows one point per run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bf16perf.machine.host import detect_machine
from bf16perf.onednn.kernels import parse_verbose
from bf16perf.onednn.peak import Peak
from bf16perf.onednn.step_profile import profile_of
from bf16perf.report import append_history, build_report, read_history, write_report
from bf16perf.report.plots import trend_series
from bf16perf.store.formats import schema
from bf16perf.verdicts import baseline_rule, gate_rule
from bf16perf.verdicts.outcomes import Decision, Outcome
from bf16perf.workloads.config import PROFILES, Precision
from bf16perf.workloads.results import RunResult, WorkerResult

ROOT = Path(__file__).parent.parent
CAPTURES = Path(__file__).parent / "data" / "cpuinfo"


def _run(precision: Precision, ips: float, kernels: dict[str, Any] | None = None) -> RunResult:
    config = PROFILES["smoke"].with_precision(precision)
    steps = [config.batch_per_worker * 2 / (ips * (1 + 0.02 * i)) for i in range(8)]
    losses = [2.5 - 0.1 * i for i in range(10)]
    workers = [
        WorkerResult(
            rank=r,
            host="vm",
            cpus=[r],
            warmup_times_s=[9.0, 1.2],
            step_times_s=steps,
            losses=losses,
            images_per_step=8,
            # worker 1 is the straggler: busy through its steps; worker 0 waits for it
            step_cpu_s=[t * (0.95 if r == 1 else 0.6) for t in steps],
            cpu_window={
                "window_s": 9.0,
                "cpus": 1.0,
                "own_cpu_s": 8.0,
                "busy_s": 8.9,
                "steal_s": 0.1,
            },
        )
        for r in range(2)
    ]
    kept = kernels or {"message": "bf16 kernels ran"}
    return RunResult(config, workers, wall_s=30.0, kernels=kept)


def _report(
    exit_code: int = 0, stopped: str | None = None, bf16_kernels: dict[str, Any] | None = None
) -> dict[str, Any]:
    machine = detect_machine(CAPTURES / "linux-unknown-sapphirerapids")
    fp32, bf16 = _run(Precision.FP32, 7.5), _run(Precision.BF16, 13.0, bf16_kernels)
    gate = gate_rule([13.0, 13.1, 12.9], [7.5, 7.45, 7.55], gate=10.0).to_dict()
    stored = baseline_rule([7.5, 7.45, 7.55], [7.4, 7.42, 7.38], max_regression=0.05).to_dict()
    return build_report(
        started="2026-11-25T16:00:00Z",
        machine=machine,
        runs=[(fp32, "w-fp32"), (bf16, "w-bf16")],
        decisions=[
            Decision(
                "perf/test_training.py::test_training[fp32]",
                "throughput",
                Outcome.OK,
                "7.50 images/s now vs 7.40",
                stored,
            ),
            Decision(
                "perf/test_training.py::test_bf16_speedup",
                "bf16 gate",
                Outcome.GATE_FAILED,
                "bf16 speedup 1.7x below 10x",
                gate,
            ),
        ],
        baselines={},
        cluster={"description": "local cluster"},
        gate=gate,  # the gate's own figures, never recomputed by the report
        exit_code=exit_code,
        stopped_because=stopped,
    )


def test_report_json_validates_against_the_schema(tmp_path: Path) -> None:
    report_schema = schema("report")
    out = write_report(tmp_path / "r1", _report(10), tmp_path / "history.jsonl", [])
    data = json.loads((out / "report.json").read_text())
    jsonschema.validate(data, report_schema)
    assert data["speedup"]["ratio"] == pytest.approx(13.0 / 7.5, rel=0.05)
    broken = dict(data, schema_version=2)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, report_schema)


def test_two_runs_two_history_lines_and_latest(tmp_path: Path) -> None:
    history = tmp_path / "shared" / "history.jsonl"
    first = write_report(tmp_path / "reports" / "a", _report(), history, [])
    second = write_report(tmp_path / "reports" / "b", _report(), history, [])
    lines = read_history(history)
    assert len(lines) == 2 and [Path(x["report"]).name for x in lines] == ["a", "b"]
    assert (tmp_path / "reports" / "latest").resolve() == second.resolve()
    html = (second / "report.html").read_text()
    assert 'id="plot-trend"' in html
    assert first.exists()
    dates, series = trend_series(lines, lines[0]["fingerprint"])
    assert dates == ["2026-11-25 16:00", "2026-11-25 16:00"]  # the x axis: session starts
    assert len(series["fp32"]) == 2 and series["speedup"][0] == pytest.approx(13.0 / 7.5, 0.05)


def test_the_page_shows_each_worker_and_the_machine_as_tables(tmp_path: Path) -> None:
    report = _report()
    report["metadata"]["threading_env"] = {"OMP_NUM_THREADS": "1"}
    out = write_report(tmp_path / "r", report, tmp_path / "h.jsonl", [])
    html = (out / "report.html").read_text()
    rows = re.findall(r'<tr class="worker" data-rank="(\d)">(.*?)</tr>', html)
    assert [rank for rank, _ in rows] == ["0", "1", "0", "1"]  # 2 runs x 2 workers
    shares = [re.findall(r'class="num">([^<]*)<', row)[4] for _, row in rows]
    assert shares == ["60%", "95%", "60%", "95%"]  # the straggler stands out
    assert "<th>threading knobs</th><td>OMP_NUM_THREADS=1</td>" in html
    assert "{" not in html.split("<h2>Machine</h2>")[1]  # a table, not a JSON dump


def test_the_share_of_peak_is_in_the_report_the_page_and_the_history(tmp_path: Path) -> None:
    verbose = Path(__file__).parent / "data" / "onednn" / "linux-zen4-resnet50-bf16-step.txt"
    profile = profile_of(parse_verbose(verbose.read_text()).primitives, step_s=0.9)
    peak = Peak("bf16", "brg_matmul:avx512_core_bf16", 400.0, 1, 5.0)
    stored: dict[str, Any] = {**profile.to_dict(), "cost_s": 9.0, "peak": peak.to_dict()}
    kernels: dict[str, Any] = {"message": "bf16 kernels ran", "profile": stored}
    history = tmp_path / "history.jsonl"
    out = write_report(tmp_path / "r", _report(bf16_kernels=kernels), history, [])
    data = json.loads((out / "report.json").read_text())
    jsonschema.validate(data, schema("report"))
    fp32, bf16 = data["runs"]
    assert fp32["share_of_peak"] is None  # no profile kept: nothing set against a peak
    assert bf16["share_of_peak"][-1]["part"] == "all compute"
    assert bf16["share_of_peak"][0]["share"] == pytest.approx(
        bf16["share_of_peak"][0]["gflops"] / 400.0
    )
    html = (out / "report.html").read_text()
    assert "<th>share of peak</th>" in html
    assert "best matmul here: bf16 on brg_matmul:avx512_core_bf16, 1 core, 400.0 GFLOP/s" in html
    (line,) = read_history(history)
    jsonschema.validate(line, schema("history"))
    kept = line["series"]["w-bf16"]["profile"]  # what a change point compares
    assert kept["parts"] == profile.to_dict()["parts"] and "profile" not in line["series"]["w-fp32"]
    failed = {**kernels, "profile": {**stored, "peak": {"why": "probe failed"}}}
    out = write_report(tmp_path / "r2", _report(bf16_kernels=failed), history, [])
    assert "not available: probe failed" in (out / "report.html").read_text()


def test_history_append_waits_for_another_writers_lock(tmp_path: Path) -> None:
    """A nightly job appending while another holds the history's lock waits for it (the
    lock, not O_APPEND's luck, keeps lines whole): nothing is written until it is free."""
    import fcntl
    import os

    path = tmp_path / "h.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    night = {"started": "2026-11-27T01:00:00Z", "night": 2}
    writer = threading.Thread(target=append_history, args=(path, night))
    try:
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and path.read_text() == ""  # blocked on the lock
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    writer.join(10)
    assert not writer.is_alive() and read_history(path) == [night]


def test_history_lines_stay_whole_from_threads(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"

    def writer(i: int) -> None:
        for _ in range(20):
            append_history(path, {"i": i, "pad": "x" * 5000})

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 80 and all(json.loads(line)["pad"] for line in lines)


def test_stopped_run_still_reports_why(tmp_path: Path) -> None:
    out = write_report(
        tmp_path / "r", _report(2, "interrupted (Ctrl-C or SIGTERM)"), tmp_path / "h.jsonl", []
    )
    assert "Stopped early: interrupted" in (out / "report.html").read_text()


def test_failed_runs_carry_their_logs(tmp_path: Path) -> None:
    log = tmp_path / "worker-0.log"
    log.write_text("ERROR something")
    out = write_report(tmp_path / "r", _report(1, "1 test(s) failed"), tmp_path / "h.jsonl", [log])
    assert (out / "logs" / "worker-0.log").read_text() == "ERROR something"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_html_in_a_real_browser(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    write_report(tmp_path / "a", _report(), history, [])
    out = write_report(tmp_path / "b", _report(10), history, [])
    page = out / "report.html"
    assert CHROMIUM is not None
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    plots = re.search(r'data-plots="(\d+)"', dom)
    loaded = re.search(r'data-plots-loaded="(\d+)"', dom)
    legends = re.search(r'data-plots-legends="(\d+)"', dom)
    assert plots and loaded and legends, dom[:500]
    # every plot drawn by the browser with its axis ticks, and with its legend (#34)
    assert int(plots.group(1)) == 7 and loaded.group(1) == legends.group(1) == plots.group(1)
    for plot in ("card", "throughput", "step_times", "workers", "loss", "speedup", "trend"):
        assert f'id="plot-{plot}"' in dom
    # the decision card comes first, before the verdicts' table
    assert dom.index('id="plot-card"') < dom.index("<h2>Verdicts</h2>")
    # the per-worker view holds every worker of every run, as the browser built the page
    ranks = re.findall(r'<tr class="worker" data-rank="(\d+)">', dom)
    assert ranks == ["0", "1", "0", "1"], ranks
    assert dom.count('class="fail verdict"') == 1 and dom.count('class="ok verdict"') == 1
    assert "bf16 speedup below minimum" in dom
    console_errors = [
        line
        for line in proc.stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or ":ERROR:" in line)
    ]
    assert console_errors == []


def test_a_run_proved_on_several_hosts_lists_each_host(tmp_path: Path) -> None:
    """On an external cluster each executor's host proves its own kernels: the page shows
    one proof line per host, and the document still validates."""
    report = _report()
    proofs = [
        {"host": h, "message": f"fp32: 9 oneDNN primitives ({isa} x9)", "isa": None,
         "bf16_ran": False, "cpu_isa": isa, "onednn_version": "v3.7.3"}
        for h, isa in (("10.0.0.2", "avx2"), ("10.0.0.3", "avx512_core"))
    ]  # fmt: skip
    report["runs"][0]["kernels"] = {"message": proofs[0]["message"], "hosts": proofs}
    out = write_report(tmp_path / "r", report, tmp_path / "h.jsonl", [])
    html = (out / "report.html").read_text()
    assert "10.0.0.2: fp32: 9 oneDNN primitives (avx2 x9)<br>10.0.0.3: fp32: 9" in html
    report_schema = schema("report")
    jsonschema.validate(json.loads((out / "report.json").read_text()), report_schema)


def test_the_decision_card_draws_every_verdict_with_a_ratio() -> None:
    """One row a verdict with a ratio, each on its own axis, its word coloured by whether
    it fails; ticks, legend and words are SVG text a browser and a reader find (#34)."""
    from bf16perf.report.card import card_rows, decision_card

    report = _report(10)
    rows = card_rows(report)
    assert [(r["check"], r["kind"]) for r in rows] == [("throughput", "ok"), ("bf16 gate", "fails")]
    assert rows[1]["gate"] == 10.0 and rows[0]["threshold"] == 0.05
    card = decision_card(rows)
    assert card is not None and card.startswith("<svg")
    for found in ('id="card-xtick', 'id="card-legend', "bf16 speedup below minimum", "ok  +"):
        assert found in card, found
    for word in ("detectable drop", "threshold / gate", "interval", "no change"):
        assert f">{word}<" in card, word  # the legend, as text
    assert decision_card([]) is None


def test_a_command_workload_s_report_reads_back(tmp_path: Path) -> None:
    """A command workload's runs name their workload first (``resnet50-torch:fp32``): the
    report they make reads back through its typed model (CI, 2026-12-07: it did not)."""
    from bf16perf.store.report_json import Report

    report = _report()
    report["runs"][0]["variant"] = "resnet50-torch:fp32"
    out = write_report(tmp_path / "r", report, tmp_path / "history.jsonl", [])
    doc = Report.read(out)
    assert doc.runs[0].variant == "resnet50-torch:fp32"
    assert (out / "report.html").is_file() and (tmp_path / "latest").is_symlink()


def test_a_report_that_does_not_read_back_keeps_its_record(tmp_path: Path) -> None:
    """A writer's bug costs the page, never report.json, the logs or ``latest``: named."""
    report = _report()
    report["runs"][0]["variant"] = "no such variant"
    problems: list[str] = []
    out = write_report(tmp_path / "r", report, tmp_path / "history.jsonl", [], problems)
    assert json.loads((out / "report.json").read_text())["runs"][0]["variant"] == "no such variant"
    assert (tmp_path / "latest").is_symlink() and not (out / "report.html").exists()
    assert any("does not read back" in p and "runs[0].variant" in p for p in problems), problems
    assert not (tmp_path / "history.jsonl").exists()  # no line from a report that cannot be read
