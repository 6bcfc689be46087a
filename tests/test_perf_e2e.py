"""`pytest perf/ --perf-profile smoke` for real: save a baseline, compare, catch a regression.

Each session runs the perf tests it names by node id (:mod:`tests.perfrun`).  What depends on
the host's bf16 capability, as the harness sees it (:mod:`tests.hostview`;
``make test-no-bf16`` shows a bf16 host as one without):

- One session (the module's ``gate_session``) serves two tests (CI time, #33): fp32 and
  the bf16 gate at 100x, exit 10 everywhere, its fp32 runs saved as a baseline.
  ``test_gate_fails_with_the_measured_speedup_and_its_interval`` reads its gate: on a bf16
  host the bf16 runs are proven bf16 kernels and nothing says EMULATED; without bf16 the
  session says bf16 is EMULATED, and with no bf16 hardware at all the runs are marked
  emulated.  ``test_smoke_baseline_round_trip`` meets its baseline with a session of fp32
  runs.
- The SIGTERM and kill -9 tests, and
  ``test_paired_nightly_against_a_created_reference_flags_an_injected_slowdown`` train
  fp32 only: the same on every host (paired: exactly 3 reference and 3 candidate runs,
  exit 10).
- ``test_bf16_without_bf16_kernels_is_refused_not_a_slow_pass`` (exit 1, refused by the
  kernel proof before training), ``test_bf16_avx512_variant_on_a_described_amx_machine``
  (bf16 and bf16-avx512 trained and saved apart, the AMX figure) and
  ``test_bf16_allreduce_option_trains_in_sync_under_its_own_key``: on a bf16 host; skipped
  elsewhere, naming the missing hardware.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from bf16perf.machine.cpu import DEFAULT_CPUINFO, Capability, read_cpuinfo
from bf16perf.machine.hygiene import pids_with_env
from bf16perf.onednn.attribution import grown_text
from bf16perf.store.formats import schema
from bf16perf.workloads.config import TrainConfig
from bf16perf.workloads.proof import prove_and_profile
from tests.hostview import hardware_capability, host_has_bf16
from tests.perfrun import (
    BF16,
    BF16_AVX512,
    BF16_LOSS,
    BF16_SPEEDUP,
    FP32,
    ROOT,
    perf_command,
    run_perf,
    worker_requirements,
)

pytestmark = pytest.mark.slow

#: The shape of the shared session's runs, which the round trip's next session must match
#: (the workload key holds batch and steps): 1 warm-up and 4 measured steps of batch 2
#: (CI time: the rules' arithmetic is unit-tested; emulated bf16 steps are slow)
SHAPE = ("--perf-warmup-steps", "1", "--perf-steps", "4", "--perf-batch-per-worker", "2")


@dataclass(frozen=True)
class Shared:
    """The session two tests read (CI time, #33: one session instead of two): its output,
    where it kept its baselines, reports and benchmark JSON, and its own report directory."""

    result: subprocess.CompletedProcess[str]
    root: Path
    report_dir: Path


@pytest.fixture(scope="module")
def gate_session(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    """fp32 training and the bf16 gate at 100x in one session: 3 interleaved fp32/bf16 pairs
    (bf16 emulated where the host has none), the gate failing (exit 10), and the fp32 runs
    saved as the baseline the round trip meets next."""
    root = tmp_path_factory.mktemp("gate")
    result = run_perf(
        "--perf-repeats", "3",  # 3 pairs: a gate failure needs p < alpha on 2 df, not 1
        "--perf-allow-emulated-bf16", "--perf-min-bf16-speedup", "100", *SHAPE,
        "--perf-extra-pairs", "0",  # one look, whatever the noise (CI time)
        "--perf-trend-confirm", "0",  # the gate alone holds the error budget
        "--perf-save-baseline", "--perf-baselines", str(root / "baselines"),
        "--benchmark-json", str(root / "bench.json"), "--perf-reports", str(root / "reports"),
        tests=(FP32, BF16_SPEEDUP, BF16_LOSS),
    )  # fmt: skip
    return Shared(result, root, (root / "reports" / "latest").resolve())


def test_smoke_baseline_round_trip(
    gate_session: Shared, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A baseline saved by a real session (the gate's, whose fp32 runs it keeps), then met
    by a session whose runs are 4x slower than the doctored baseline: a confirmed
    regression, the loss drift beside it, the reports, the CI summary, and the baselines
    managed on the files those sessions wrote."""
    saved = gate_session.result
    assert "baseline of 3 runs saved to" in saved.stdout, saved.stdout[-3000:]
    # the round trip's own copies: it rewrites the baseline and the history
    store, reports = tmp_path / "baselines", tmp_path / "reports"
    shutil.copytree(gate_session.root / "baselines", store)
    reports.mkdir()
    shutil.copy2(gate_session.root / "reports" / "history.jsonl", reports / "history.jsonl")
    runs = ("--perf-repeats", "2", *SHAPE)
    (baseline,) = store.glob("*/*fp32.json")
    bench = json.loads((gate_session.root / "bench.json").read_text())["benchmarks"]
    (fp32,) = [b for b in bench if b["name"] == "test_training[fp32]"]
    # every measured step of every run is a round; each run's figure is kept apart
    assert fp32["stats"]["rounds"] == 12 and len(fp32["extra_info"]["run_figures"]) == 3
    assert fp32["extra_info"]["losses"]
    workers = fp32["extra_info"]["workers"]
    assert len(workers) == 2 and workers[0]["losses"] == workers[1]["losses"]
    assert workers[0]["cpus"] != workers[1]["cpus"]
    for w in workers:  # each worker sampled its own CPUs around its measured steps
        window = w["cpu_window"]
        assert window["cpus"] == len(w["cpus"]) and window["window_s"] > 0, window
        assert 0 < window["own_cpu_s"] <= window["busy_s"] + 0.05 * window["window_s"], window
    doc = json.loads(baseline.read_text())
    assert doc["schema_version"] == 3 and len(doc["benchmarks"]) == 3
    assert len(doc["sessions"]) == 1 and "which now holds 1 session" in saved.stdout

    # A baseline 4x faster than this machine: a regression beyond any drift here, and the
    # loss verdict of the same test is still reported (both verdicts, one failure).  (CI
    # time: no session against the unchanged baseline; on this VM it may be inconclusive
    # either way, and the A/A behaviour of the rule is a rate, BENCHMARKS.md V.)
    for bench_run in doc["sessions"][0]["benchmarks"]:  # the session the verdict reads
        info = bench_run["extra_info"]
        info["images_per_second"] = [x * 4.0 for x in info["images_per_second"]]
    doc["sessions"][0]["benchmarks"][0]["extra_info"]["losses"][3] += 1.0
    baseline.write_text(json.dumps(doc))
    # The nightly fails a drop only when the session before confirms it: a session of
    # this machine after the baseline's save, its runs as slow (the saving session's own
    # history line, started later, is one).
    history = reports / "history.jsonl"
    (first_line,) = [json.loads(x) for x in history.read_text().splitlines()]
    later = datetime.now(UTC) + timedelta(seconds=1)
    first_line["started"] = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    poisoned = json.dumps({**first_line, "duration_s": 10**400})  # beyond any float
    with history.open("a") as out:
        out.write(json.dumps(first_line) + "\n")
        out.write(poisoned + "\n")
        out.write('{"started": "2026-12-07T00:00:00Z", "torn')  # a crash cut it here
    slower = run_perf(
        "--perf-baselines",
        str(store),
        "--perf-reports",
        str(reports),
        "--perf-no-probe",
        *runs,
    )
    assert slower.returncode == 10, slower.stdout[-3000:]  # ExitCode.REGRESSION
    assert "throughput regression: " in slower.stdout
    assert "loss curve drifted: " in slower.stdout and "first at step 3" in slower.stdout
    assert "perf/test_training.py::test_training[fp32]  throughput" in slower.stdout
    assert "bf16perf verdict: exit code 10 (REGRESSION)" in slower.stdout
    assert f"confirmed by the previous session ({first_line['started']}" in slower.stdout
    # the header's probe ran in the first session; the kernel proof of each run still runs
    assert "ratio of geometric means" in slower.stdout and str(baseline) in slower.stdout
    assert "(1 session, 3 runs)" in slower.stdout and "detectable drop" in slower.stdout
    assert "[fp32] step 5/5 (measured)" in slower.stdout  # live progress
    # the report directory of each session: the four kinds of file (logs only when failing)
    report_dirs = sorted(p for p in reports.iterdir() if p.is_dir() and not p.is_symlink())
    assert len(report_dirs) == 1
    for run_dir in (gate_session.report_dir, *report_dirs):
        assert {"report.json", "report.html", "junit.xml"} <= {p.name for p in run_dir.iterdir()}
    assert (reports / "latest").resolve() == report_dirs[-1].resolve()
    # the poisoned line is named and skipped, the torn one moved aside whole, and this
    # session's line is its own (#32)
    assert "history.jsonl line 3: not JSON (an integer of 401 digits" in slower.stdout
    (torn,) = reports.glob("history.jsonl.torn-*")
    assert torn.read_text() == '{"started": "2026-12-07T00:00:00Z", "torn'
    assert f"moved aside, whole, to {torn}" in slower.stdout
    kept = history.read_text().split("\n")
    assert len(kept) == 5 and kept[2] == poisoned and kept[4] == ""
    assert json.loads(kept[3])["exit_code"] == 10
    junit = (report_dirs[-1] / "junit.xml").read_text()
    assert 'name="median_images_per_second"' in junit and 'name="run_figures"' in junit
    report = json.loads((report_dirs[-1] / "report.json").read_text())
    assert report["runs"][0]["workers"][0]["losses"] == report["runs"][0]["losses"]
    (throughput,) = [d for d in report["decisions"] if d["check"] == "throughput"]
    assert len(throughput["figures"]["current_runs"]) == 2
    jsonschema.validate(report, schema("report"))
    failed_run = (reports / "latest").resolve()
    assert list((failed_run / "logs").glob("*.log")), "a failing run carries its Spark logs"
    html = (failed_run / "report.html").read_text()
    assert "throughput regression" in html
    assert str(baseline) in slower.stdout
    # the session's verdicts as CI posts them (#34), from the report it wrote
    from bf16perf.console import main

    capsys.readouterr()
    assert main(["summary", str(reports / "latest")]) == 0
    table = capsys.readouterr().out
    assert "| perf/test_training.py::test_training[fp32] | throughput |" in table
    assert "**throughput regression**" in table and table.rstrip().endswith("exit code 10")
    # baselines managed on the files these sessions wrote (#34): accept the slower session
    # as the new level, show it, roll it back, prune the kept versions
    key, edited = baseline.name.removesuffix(".json"), baseline.read_bytes()
    store_args = ["--dir", str(store)]
    assert main(["baselines", "accept", str(reports / "latest"), *store_args]) == 0
    assert "which now holds 2 sessions (previous kept as" in capsys.readouterr().out
    assert main(["baselines", "show", key, *store_args]) == 0
    shown = capsys.readouterr().out
    assert "session 2: 2 runs, images/s" in shown and "previous versions: 1" in shown
    assert main(["baselines", "rollback", key, *store_args]) == 0
    assert "restored from" in capsys.readouterr().out and baseline.read_bytes() == edited
    assert main(["baselines", "prune", "--versions", "0", *store_args]) == 0
    assert "2 previous versions removed" in capsys.readouterr().out
    assert not list(store.glob("*/*.prev-*")) and baseline.read_bytes() == edited

    baseline.write_text('{"schema_version": 999}')
    before = baseline.read_bytes()
    bad = run_perf("--perf-baselines", str(store), "--perf-no-report")
    # refused when the session starts, before the lock, the probe and any training
    assert bad.returncode == pytest.ExitCode.USAGE_ERROR, bad.stdout[-2000:]
    assert "schema_version 999 is newer" in bad.stderr
    assert baseline.read_bytes() == before
    assert "[fp32] step" not in bad.stdout


def test_paired_nightly_against_a_created_reference_flags_an_injected_slowdown(
    tmp_path: Path,
) -> None:
    """The paired nightly for real, at smoke size: ``bf16perf reference create`` makes a
    kept reference from a lock file of what the worker needs, pinned at this environment's
    versions (its own venv, checked: it imports the worker and the probe proves its
    kernels; the whole-environment freeze is unit-tested, and takes twice as long), then one
    session against it with the candidate
    slowed by 90% over 3 pairs of 6 measured steps after 2 warm-up ones (at --perf-alpha
    0.1; a smoke step dilutes the sleep; at 3 steps after 1, the median of a reference run
    with two of its three steps slowed 2x by the machine flipped, the 2-df pair spread read
    60% and the verdict "cannot tell" at -50%, 2026-12-07; on 2 pairs a 46% spread did the
    same): tonight's paired test fails it
    (exit 10), the history keeps the pairs and the session's kind, the pair order's seed
    is the one given, and the verdict says where the candidate's lone step grew: in the
    rest (the injected sleep), not in oneDNN's kernels.  ``list`` shows the reference with
    its versions; ``remove`` removes it.  (The ad-hoc A/B verdicts, --perf-reference-python,
    are tests/test_ab_judge.py; they share these runs and this attribution.)"""
    refs = tmp_path / "references"
    made = subprocess.run(
        [str(Path(sys.executable).with_name("bf16perf")), "reference", "--dir", str(refs),
         "create", "frozen", "--requirements", str(worker_requirements(tmp_path / "lock.txt"))],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert "reference frozen kept in" in made.stdout and "tensorflow 2." in made.stdout
    assert "kernel proof: " in made.stdout and not list(refs.glob(".frozen.partial-*"))
    listed = subprocess.run(
        [str(Path(sys.executable).with_name("bf16perf")), "reference", "--dir", str(refs), "list"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert listed.returncode == 0 and listed.stdout.startswith("frozen  0.0 days old  python")
    slowed = run_perf(
        "--perf-reference", "frozen", "--perf-references", str(refs),
        "--perf-order-seed", "7", "--perf-pairs", "3",
        "--perf-warmup-steps", "2", "--perf-steps", "6", "--perf-batch-per-worker", "2",
        "--perf-no-probe", "--perf-inject-slowdown", "0.9", "--perf-alpha", "0.1",
        "--perf-reports", str(tmp_path / "reports"),
        tests=(FP32,),  # fp32 alone on every host: 3 reference and 3 candidate runs
        profile=True,  # each stack's lone step, read below
    )  # fmt: skip
    out = slowed.stdout
    assert slowed.returncode == 10, out[-3000:]
    assert "paired throughput" in out and "throughput regression: paired nightly" in out
    assert "failed by: tonight" in out and "pair orders seeded 7" in out
    assert "bf16perf paired nightly against reference frozen: 3 pairs per variant" in out
    assert "bf16perf duration: no earlier paired session" in out
    assert re.search(r"bf16perf duration: this session took \d+\.\d min", out)
    # where the time went (#35): bring-up, each stack's proof and profile, each one's runs
    assert re.search(r"bf16perf phases: bring-up \d+\.\d s; proofs and profiles", out), out
    assert "fp32 (reference) 3 x" in out and re.search(r"[(,] ?fp32 3 x", out), out[-3000:]
    report = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    assert {"bring-up", "runs fp32", "proof fp32"} <= set(report["session"]["phases_s"])
    stacks = [r["stack"] for r in report["runs"] if r["variant"] == "fp32"]
    assert stacks.count("reference") == 3 and stacks.count("candidate") == 3
    session = report["session"]
    assert (session["kind"], session["reference"], session["order_seed"]) == ("paired", "frozen", 7)
    (decision,) = [d for d in report["decisions"] if d["check"] == "paired throughput"]
    figures = decision["figures"]
    assert len(figures["order"]) == 3 and set(figures["order"]) == {"candidate", "reference"}
    # 90% more time a step, diluted by what the sleep does not cover; pairs scatter
    assert 0.3 < figures["tonight"]["ratio"] < 0.85 and "tonight" in figures["failed_by"]
    # the candidate's lone step has the sleep: the rest grew, not oneDNN's kernels
    assert "what grew in the lone step against the reference's: " in decision["detail"]
    assert "mostly the rest, not oneDNN's kernels" in decision["detail"], decision["detail"]
    # where the step goes: each stack's proof was a profiled lone step, each run decomposed
    run = next(r for r in report["runs"] if r["stack"] == "candidate")
    profile = run["kernels"]["profile"]
    assert profile["available"] and profile["step_s"] > 0 and profile["cost_s"] > 0, profile
    names = {p["name"] for p in profile["parts"]}
    assert names and all(p["count"] > 0 for p in profile["parts"]), profile
    # with AVX-512 oneDNN runs the convolutions; on AVX2 only TensorFlow's sgemm calls
    assert ("convolution forward" if host_has_bf16() else "matmul") in names, profile
    split = run["decomposition"]
    parts = split["compute_s"] + split["comm_s"] + split["rest_s"]
    assert parts == pytest.approx(split["step_s"]) and split["compute_s"] > 0, split
    # the all-reduce timed in the step (#35): the candidate's injected delay (a sleep after
    # each step, outside the graph) is the host part, named; the reference's timed parts
    # account for its step within 5%
    assert split["method"] == "timed" and split["comm_s"] >= 0, split
    assert not split["adds_up"] and split["unexplained_s"] > 0.3 * split["step_s"], split
    ref = next(r for r in report["runs"] if r["stack"] == "reference")["decomposition"]
    assert ref["method"] == "timed" and ref["adds_up"] and ref["comm_s"] >= 0, ref
    assert profile["quiet_step_s"] > 0 and "the profiler's own cost: " in out, profile
    assert "bf16perf profile fp32 (one lone step" in out
    # the hardware's peak at the clock the OS reports (#35): no share above it
    hardware = [r["hardware_share"] for r in run["share_of_peak"] or []]
    assert all(h is None or 0 < h <= 1.0 for h in hardware), run["share_of_peak"]
    html = (tmp_path / "reports" / "latest" / "report.html").read_text()
    assert "Where the step goes" in html
    (line,) = [
        json.loads(x) for x in (tmp_path / "reports" / "history.jsonl").read_text().splitlines()
    ]
    (pairs,) = line["pairs"].values()
    assert len(pairs["candidate"]) == len(pairs["reference"]) == len(pairs["log_ratios"]) == 3
    assert line["session"]["injected"] == 0.9 and line["duration_s"] > 0
    gone = subprocess.run(
        [str(Path(sys.executable).with_name("bf16perf")), "reference", "--dir", str(refs),
         "remove", "frozen"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert gone.returncode == 0 and not (refs / "frozen").exists()


def _best_isa_below_the_host() -> tuple[str, str]:
    """An ISA cap below this host's best that oneDNN still has kernels for, and the ISA
    token the capped implementations carry: AVX2 on an AVX-512 host, SSE4.1 below that."""
    flags = read_cpuinfo(DEFAULT_CPUINFO).flags
    return ("AVX2", "avx2") if "avx512f" in flags else ("SSE41", "sse41")


def test_an_isa_cap_is_named_and_a_reference_env_escapes_it() -> None:
    """A known change attributed, on real oneDNN: the lone step of a stack capped below the
    host's best ISA (the session's --perf-onednn-max-isa) against the lone step of a stack
    whose own ONEDNN_MAX_CPU_ISA=ALL wins over that cap (--perf-reference-env, applied last
    by ``lone_env`` as by the runs).  TensorFlow's convolutions go through oneDNN on every
    x86 host with TF_ENABLE_ONEDNN_OPTS=1 (on an AVX2-only host it defaults to Eigen), so
    the attribution must name convolutions and their change of implementation.

    Two profiled lone steps, the ones an A/B session keeps, instead of an A/B session's 8
    runs (CI time, #33: 30 s, not 220): the verdicts' wiring of these profiles runs for real
    in the paired nightly test above, and the A/B rule is unit-tested."""
    cap, token = _best_isa_below_the_host()
    capped = TrainConfig(
        image_size=32, batch_per_worker=4, warmup_steps=1, measured_steps=1,
        onednn_max_isa=cap, env=(("TF_ENABLE_ONEDNN_OPTS", "1"),),
    )  # fmt: skip
    reference = replace(capped, env=(*capped.env, ("ONEDNN_MAX_CPU_ISA", "ALL")))
    _, free, _ = prove_and_profile(reference, cores=1)
    _, slowed, _ = prove_and_profile(capped, cores=1)
    text = grown_text(free.to_dict(), slowed.to_dict(), "against the reference's")
    assert text.startswith("what grew in the lone step against the reference's: "), text
    grown = text.split(": ", 1)[1]
    assert re.search(rf"convolution [a-z ]+\+[\d.]+ ms/step \([^)]*\): \S+ -> \S*{token}", grown), (
        text
    )
    print(f"\ncapped at {cap}: {grown}")


def test_gate_fails_with_the_measured_speedup_and_its_interval(gate_session: Shared) -> None:
    """The gate end to end, with --perf-min-bf16-speedup 100: it must fail, exit code 10,
    with the measured speedup and its interval, on every host (2 pairs give a t interval
    on 1 df, 12.7 standard errors wide each way: a gate of 10 was within reach of a noisy
    bf16 host's interval, which then read INCONCLUSIVE; and a failure must clear the
    session's error budget, p < alpha, which 1 df rarely allows).  Where the harness sees no
    bf16 hardware the bf16 runs are emulated (--perf-allow-emulated-bf16, a self-test of
    the machinery) and marked so; where it does, they must be proven bf16 kernels."""
    result = gate_session.result
    out = result.stdout
    assert result.returncode == 10, out[-3000:]
    assert "bf16 speedup below minimum: " in out
    speedup = re.search(
        r"bf16 speedup (\d+\.\d+)x, [\d.]+% CI \[(\d+\.\d+), (\d+\.\d+)\], gate 100", out
    )
    assert speedup, out[-3000:]
    ratio, low, high = map(float, speedup.groups())
    assert low <= ratio <= high < 100
    report = json.loads((gate_session.report_dir / "report.json").read_text())
    assert report["speedup"]["gate"] == 100.0 and {r["precision"] for r in report["runs"]} == {
        "fp32",
        "bf16",
    }
    assert report["speedup"]["pairs"] == 3  # the gate's own figures: 3 interleaved pairs
    bf16_runs = [r for r in report["runs"] if r["variant"] == "bf16"]
    assert len(bf16_runs) == 3
    for bf16 in bf16_runs:  # a run without proven bf16 kernels is marked emulated, anywhere
        assert bf16["kernels"]["bf16_ran"] or bf16["kernels"]["emulated"], bf16["kernels"]
    if host_has_bf16():  # real bf16 kernels, proven, and not marked emulated
        assert all(r["kernels"]["bf16_ran"] for r in bf16_runs)
        assert "EMULATED" not in out
    else:  # the session says bf16 is emulated; on a host without bf16 kernels, so is the run
        assert "EMULATED bf16" in out
        if hardware_capability() is Capability.NONE:
            assert all(r["kernels"]["emulated"] for r in bf16_runs)
    # the harness table's row of this session (#35): its setting, the gate's own ratio and
    # interval, the timed all-reduce's share of the bf16 step, the session's time
    table = subprocess.run(
        [str(Path(sys.executable).with_name("bf16perf")), "side-by-side",
         str(gate_session.report_dir), "--format", "json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    (row,) = json.loads(table.stdout)["rows"]
    assert row["shape"] == "2x1" and row["collective"] == "ring" and not row["bf16_allreduce"]
    assert row["ratio"] == report["speedup"]["ratio"] and row["ratio_ci"] == report["speedup"]["ci"]
    assert row["emulated"] == (not host_has_bf16()) and row["session_s"] > 0, row
    assert 0 < row["allreduce_share"] < 1, row  # two workers: the all-reduce is timed


def _start_perf_and_wait_for_training(
    tmp_path: Path, mark: str, *extra: str
) -> subprocess.Popen[str]:
    env = dict(os.environ, BF16PERF_TEST_MARK=mark)
    proc = subprocess.Popen(
        perf_command(
            "--perf-steps",
            "200",
            "--perf-no-probe",
            "--perf-baselines",
            str(tmp_path),
            *extra,
            tests=(FP32,),
        ),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        if "[fp32] step 3/" in line or time.monotonic() > deadline:
            break
    assert len(pids_with_env("BF16PERF_TEST_MARK", mark)) >= 8  # the whole tree is up
    return proc


def _nothing_left(mark: str, within_s: float) -> None:
    end = time.monotonic() + within_s
    while pids_with_env("BF16PERF_TEST_MARK", mark) and time.monotonic() < end:
        time.sleep(0.1)
    left = pids_with_env("BF16PERF_TEST_MARK", mark)
    assert left == [], [Path(f"/proc/{p}/cmdline").read_bytes()[:100] for p in left]


def test_sigterm_of_pytest_cleans_up_and_still_reports(tmp_path: Path) -> None:
    mark = f"bf16perf-term-test-{os.getpid()}"
    reports = tmp_path / "reports"
    proc = _start_perf_and_wait_for_training(tmp_path, mark, "--perf-reports", str(reports))
    try:
        proc.terminate()
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-2000:]
        _nothing_left(mark, 10)
        report = json.loads((reports / "latest" / "report.json").read_text())
        assert report["stopped_because"] and "interrupted" in report["stopped_because"]
        assert "Stopped early: interrupted" in (reports / "latest" / "report.html").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_kill_9_of_pytest_mid_training_leaves_nothing(tmp_path: Path) -> None:
    """SIGKILL of a real `pytest perf/` while it trains: within 5 s no process it started
    (cluster, executors, Python workers, training subprocesses, driver) remains."""
    mark = f"bf16perf-kill-test-{os.getpid()}"
    proc = _start_perf_and_wait_for_training(tmp_path, mark, "--perf-no-report")
    try:
        proc.kill()
        proc.wait()
        _nothing_left(mark, 5)
    finally:
        if proc.poll() is None:
            proc.kill()


needs_bf16_host = pytest.mark.skipif(
    not host_has_bf16(), reason="this host has no bf16 hardware (no avx512_bf16 or AMX)"
)


@needs_bf16_host
def test_bf16_without_bf16_kernels_is_refused_not_a_slow_pass(tmp_path: Path) -> None:
    """oneDNN capped below bf16 (AVX2) on a bf16 host: TensorFlow still sends bf16 to
    oneDNN (it checks CPUID, not the cap), which then has no bf16 convolution to create.
    The run must fail on the kernel proof, before training, naming the cap."""
    result = run_perf(
        "--perf-onednn-max-isa",
        "AVX2",
        "--perf-no-probe",
        "--perf-reports",
        str(tmp_path),
        tests=(BF16,),
    )
    out = result.stdout
    assert result.returncode == 1, out[-3000:]
    assert "bf16 kernel proof failed (under ONEDNN_MAX_CPU_ISA=AVX2: oneDNN may have" in out
    assert "could not create a primitive descriptor for the convolution" in out
    assert "[bf16] step" not in out  # refused before any training


@needs_bf16_host
def test_bf16_avx512_variant_on_a_described_amx_machine(tmp_path: Path) -> None:
    """On a cpuinfo that declares AMX, the bf16-avx512 variant runs beside bf16 with oneDNN
    capped at AVX512-BF16; its kernel proof shows avx512_core_bf16 (never AMX), it has a
    baseline of its own, and the session reports what AMX bought."""
    store = tmp_path / "baselines"
    result = run_perf(
        "--perf-cpuinfo",
        str(ROOT / "tests" / "data" / "cpuinfo" / "linux-unknown-sapphirerapids"),
        "--perf-no-probe",
        "--perf-repeats",
        "1",
        "--perf-save-baseline",
        "--perf-baselines",
        str(store),
        "--perf-reports",
        str(tmp_path / "reports"),
        tests=(BF16, BF16_AVX512),
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:]
    assert "[bf16-avx512] step 10/10 (measured)" in out
    assert re.search(r"bf16-avx512: [\d.]+ images/s against [\d.]+ for bf16 on \w+", out), out
    assert "AMX/AVX512-BF16 = " in out
    saved = sorted(p.name for p in store.glob("*/*.json"))
    assert len(saved) == 2, saved
    assert [n.endswith("-bf16-avx512_core_bf16.json") for n in saved].count(True) == 1, saved
    report = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    runs = {r["variant"]: r for r in report["runs"]}
    assert set(runs) == {"bf16", "bf16-avx512"}
    capped = runs["bf16-avx512"]
    assert capped["config"]["onednn_max_isa"] == "AVX512_CORE_BF16"
    assert capped["kernels"]["bf16_ran"] and capped["kernels"]["isa"] == "avx512_core_bf16"


@needs_bf16_host
def test_bf16_allreduce_option_trains_in_sync_under_its_own_key(tmp_path: Path) -> None:
    """--perf-bf16-allreduce: bf16 gradients cross the RING all-reduce as bf16; both
    workers still agree (test_training asserts it) and the baseline key says so."""
    result = run_perf(
        "--perf-bf16-allreduce",
        "--perf-repeats",
        "1",
        "--perf-no-probe",
        "--perf-baselines",
        str(tmp_path),
        "--perf-no-report",
        tests=(BF16,),
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:]
    assert "[bf16] step 10/10 (measured)" in out
    assert "workload resnet50-32px-b4-s8-2x1-synthetic-bf16-bf16allreduce" in out
