"""Command workloads end to end on the real local cluster: a per-worker Keras script (in
bf16perf's JSON lines and in tf_cnn_benchmarks's lines), a driver-mode PySpark program and
the built-in PyTorch ResNet-50 (smoke size), one pytest session to save baselines and one in
which a per-worker and the driver-mode program meet theirs, one cluster per session.

Host-dependent (:mod:`tests.hostview`): each workload trains fp32, and the Keras script bf16
too, by node id: on a bf16 host its bf16 run is proven in bf16 kernels; without bf16 it is
skipped, saying why.  (CI time, #33: every variant of every workload was 12 runs on an AMX
host, 426 s; one bf16 run shows the command workloads' bf16 path.)  The fp32 assertions are
the same everywhere."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from bf16perf.machine.hygiene import pids_with_env
from tests.hostview import host_has_bf16
from tests.perfrun import ROOT, TRAINING, run_perf

pytestmark = pytest.mark.slow

WORKLOADS = ("keras-cnn", "keras-tf-cnn", "pyspark-sgd", "resnet50-torch")
#: CI time: 1 warm-up and 3 measured steps a run (the fewest a run may have)
STEPS = ("--perf-warmup-steps", "1", "--perf-steps", "3")


def _session(
    tmp_path: Path,
    mark: str,
    *args: str,
    workloads: tuple[str, ...] = WORKLOADS,
    profile: bool = False,
) -> tuple[int, str, dict[str, Any]]:
    reports = tmp_path / "reports"
    flags = [
        "--perf-workload-file", str(ROOT / "examples" / "workloads.toml"),
        "--perf-baselines", str(tmp_path / "baselines"),
        "--perf-reports", str(reports),
        "--perf-repeats", "1",  # CI time: the rules are the built-in workload's, tested there
        *STEPS,
    ]  # fmt: skip
    for name in workloads:
        flags += ["--perf-workload", name]
    env = dict(os.environ, BF16PERF_TEST_MARK=mark)
    # bf16 too, on a bf16 host
    tests = tuple(f"{TRAINING}[{name}-fp32]" for name in workloads)
    if "keras-cnn" in workloads:  # trained on a bf16 host, skipped saying why elsewhere
        tests += (f"{TRAINING}[keras-cnn-bf16]",)
    result = run_perf(*flags, *args, tests=tests, env=env, profile=profile)
    out = result.stdout + result.stderr
    report = json.loads((reports / "latest" / "report.json").read_text())
    end = time.monotonic() + 10
    while pids_with_env("BF16PERF_TEST_MARK", mark) and time.monotonic() < end:
        time.sleep(0.1)
    left = pids_with_env("BF16PERF_TEST_MARK", mark)
    assert left == [], [Path(f"/proc/{p}/cmdline").read_bytes()[:100] for p in left]
    return result.returncode, out, report


def test_command_workloads_save_and_meet_baselines(tmp_path: Path) -> None:
    code, out, report = _session(tmp_path, "wl-save", "--perf-save-baseline", profile=True)
    assert code == 0, out[-4000:]
    saved = sorted(p.name for p in (tmp_path / "baselines").glob("*/*.json"))
    for name in WORKLOADS:  # keyed by workload name
        assert any(p.startswith(f"{name}-32px-b4-s3-") and p.endswith("fp32.json") for p in saved)
    assert [w["name"] for w in report["workloads"]] == list(WORKLOADS)
    runs = {
        name: [r for r in report["runs"] if r["config"]["workload"] == name
               and r["precision"] == "fp32"]
        for name in WORKLOADS
    }  # fmt: skip
    assert all(len(r) == 1 for r in runs.values()), {k: len(v) for k, v in runs.items()}

    torch = runs["resnet50-torch"][0]
    assert len(torch["workers"]) == 2  # one process per barrier task, gloo between them
    assert torch["workers"][0]["losses"] == torch["workers"][1]["losses"]
    assert len(torch["workers"][0]["losses"]) == 4  # 1 warm-up + 3 measured steps
    assert torch["kernels"]["available"] and torch["kernels"]["primitives"] > 0
    assert "convolution" in str(torch["kernels"]["evidence"]) or torch["kernels"]["isas"]
    # it marks its steps: a lone-step profile, decomposed, as for the built-in workload
    profile = torch["kernels"]["profile"]
    assert profile["available"] and profile["step_s"] > 0 and profile["parts"], profile
    assert torch["decomposition"] and torch["decomposition"]["compute_s"] > 0, torch
    assert "bf16perf profile resnet50-torch:fp32 (one lone step" in out, out[-4000:]
    assert "workload keras-cnn, keras-cnn:fp32: no lone-step profile: the program marks no" in out

    keras = runs["keras-cnn"][0]
    assert len(keras["workers"]) == 2 and keras["kernels"]["available"]
    assert all(len(w["step_times_s"]) == 3 for w in keras["workers"])
    # the same script printing tf_cnn_benchmarks lines (its warm-up unprinted): 8 steps
    # read back from its running means, per worker
    tf_cnn = runs["keras-tf-cnn"][0]
    assert [len(w["step_times_s"]) for w in tf_cnn["workers"]] == [3, 3]

    spark_sgd = runs["pyspark-sgd"][0]  # the driver program: one figure for the whole job
    assert len(spark_sgd["workers"]) == 1 and len(spark_sgd["step_times_s"]) == 3
    assert spark_sgd["kernels"]["message"].startswith("not available")
    html = (tmp_path / "reports" / "latest" / "report.html").read_text()
    assert "<h2>Workloads</h2>" in html and "pyspark_sgd.py" in html

    bf16 = [r for r in report["runs"] if r["variant"].endswith(":bf16")]  # not bf16-avx512
    if host_has_bf16():  # the Keras script trains bf16 too, proven in bf16 kernels
        (keras_bf16,) = bf16
        assert keras_bf16["config"]["workload"] == "keras-cnn", keras_bf16["config"]
        assert keras_bf16["kernels"]["bf16_ran"], keras_bf16["kernels"]
    else:  # skipped, each saying why
        assert not [r for r in report["runs"] if r["precision"] == "bf16"]
        assert "no bf16 hardware" in out, out[-3000:]

    # the next session meets those baselines: a verdict per workload and precision (CI
    # time: one per-worker program and the driver-mode one)
    meet = ("keras-cnn", "pyspark-sgd")
    code, out, report = _session(tmp_path, "wl-meet", "--perf-no-probe", workloads=meet)
    assert code in (0, 11), out[-4000:]
    verdicts = {d["test"].split("[")[1] for d in report["decisions"] if d["check"] == "throughput"}
    assert {f"{name}-fp32]" for name in meet} <= verdicts, verdicts
    assert "ratio of geometric means" in out
