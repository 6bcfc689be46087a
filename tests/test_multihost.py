"""Several hosts for real: a master and two pinned workers (``bf16perf master`` and
``bf16perf worker``), each in its own network namespace, joined by veth pairs to a bridge
in a namespace of its own, with addresses that exist only inside them; the smoke suite
runs against that cluster with ``--spark-master``, and everything (namespaces, links,
processes) is removed afterwards, also when the test fails.  Needs root (CI is root)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bf16perf.hygiene import pids_with_env
from tests.netns import namespaces, spark_hosts
from tests.perfrun import ROOT, perf_command

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or len(os.sched_getaffinity(0)) < 2,
    reason="network namespaces need root, iproute2's ip and 2 CPUs (CI has them)",
)

MARK = "BF16PERF_TEST_MARK"


def test_smoke_suite_across_three_namespaces(tmp_path: Path) -> None:
    mark = f"multihost-{os.getpid()}"
    env = dict(os.environ, **{MARK: mark})
    with namespaces("a") as hosts:
        cluster = spark_hosts(hosts, tmp_path, env)
        master, workers, url, secret = cluster.master, cluster.workers, cluster.url, cluster.secret

        reports = tmp_path / "reports"
        command = perf_command(
            "--spark-master", url,
            "--perf-spark-secret-file", str(secret),
            "--perf-workers", "2", "--perf-cores-per-worker", "1",
            "--perf-repeats", "1", "--perf-save-baseline",
            "--perf-baselines", str(tmp_path / "baselines"),
            "--perf-reports", str(reports), "--perf-no-probe",
            select="test_training and not avx512",
        )  # fmt: skip
        driver = subprocess.run(
            ["ip", "netns", "exec", hosts.ns("m"), *command],
            cwd=ROOT,
            env=dict(env, SPARK_LOCAL_IP=master),
            capture_output=True,
            text=True,
            timeout=540,
            check=False,
        )
        out = driver.stdout + driver.stderr
        assert driver.returncode == 0, out[-4000:]
        report = json.loads((reports / "latest" / "report.json").read_text())
        (run,) = [r for r in report["runs"] if r["precision"] == "fp32"]
        # each worker trained in its own namespace, at its own address, on its own CPU
        assert sorted(w["host"] for w in run["workers"]) == workers, run["workers"]
        assert run["workers"][0]["losses"] == run["workers"][1]["losses"]
        assert all(w["cpu_window"] and w["cpu_window"]["window_s"] > 0 for w in run["workers"])
        # every executor's host read its own cpuinfo: one kind here, so no refusal
        hosts = report["cluster"]["hosts"]
        assert sorted(h["host"] for h in hosts) == workers, hosts
        assert len({h["capability"] for h in hosts}) == 1
        html = (reports / "latest" / "report.html").read_text()
        assert all(address in html for address in workers)
    end = time.monotonic() + 15
    while pids_with_env(MARK, mark) and time.monotonic() < end:
        time.sleep(0.2)
    assert pids_with_env(MARK, mark) == []
