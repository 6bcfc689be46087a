"""Foreign and steal time on a worker's CPUs: /proc/stat parsing on a real capture, the
arithmetic, and a real intruder process pinned beside a measured one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bf16perf.machine.interference import CpuSample, CpuWindow, disturbance, parse_stat

# The first lines of /proc/stat on the Zen 4 build machine (2 vCPUs, clock ticks of 10 ms).
STAT = """\
cpu  1501639 90 231056 1017668 4319 0 6101 3970 0 0
cpu0 682925 45 105988 587222 768 0 2891 1947 0 0
cpu1 818713 45 125067 430446 3550 0 3209 2022 0 0
intr 123456 0 0
"""


def test_parse_stat_sums_busy_and_steal_of_the_cpus_asked() -> None:
    busy, steal = parse_stat(STAT, [0], 100.0)
    assert busy == pytest.approx((682925 + 45 + 105988 + 0 + 2891) / 100)
    assert steal == pytest.approx(19.47)
    both, _ = parse_stat(STAT, [0, 1], 100.0)
    assert both == pytest.approx(busy + (818713 + 45 + 125067 + 0 + 3209) / 100)


def test_parse_stat_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="no line for cpu7"):
        parse_stat(STAT, [0, 7], 100.0)
    with pytest.raises(ValueError, match="fewer than 8 counters"):
        parse_stat("cpu0 1 2 3 4\n", [0], 100.0)


def test_shares_and_the_sentence() -> None:
    quiet = CpuWindow(window_s=10.0, cpus=2, own_cpu_s=19.5, busy_s=19.8, steal_s=0.1)
    assert quiet.foreign_share == pytest.approx(0.015)
    assert disturbance(quiet, exclusive=True) is None
    shared = CpuWindow(window_s=10.0, cpus=1, own_cpu_s=8.0, busy_s=10.0, steal_s=0.0)
    assert shared.foreign_share == pytest.approx(0.2)
    text = disturbance(shared, exclusive=True)
    assert text == "other processes used 20% of its 1 CPU(s) during the 10 s measured"
    # on CPUs the worker shares with its peers, foreign time is not evidence
    assert disturbance(shared, exclusive=False) is None
    stolen = CpuWindow(window_s=10.0, cpus=1, own_cpu_s=9.0, busy_s=9.0, steal_s=1.0)
    assert disturbance(stolen, exclusive=False) == (
        "the hypervisor stole 10% of them during the 10 s measured"
    )
    assert CpuWindow.from_dict(shared.to_dict()) == shared


def test_samples_of_different_cpus_do_not_mix() -> None:
    a = CpuSample(0.0, 0.0, 0.0, 0.0, (0,))
    b = CpuSample(1.0, 1.0, 1.0, 0.0, (0, 1))
    with pytest.raises(ValueError, match="different CPUs"):
        CpuWindow.between(a, b)


_MEASURED = r"""
import json, os, subprocess, sys, time
from bf16perf.machine.interference import CpuWindow, sample
cpu = int(sys.argv[2])
os.sched_setaffinity(0, {cpu})
spin = (
    f"import os, time\nos.sched_setaffinity(0, {{{cpu}}})\n"
    "t = time.time()\nwhile time.time() - t < 2.5: pass"
)
intruder = subprocess.Popen([sys.executable, "-c", spin]) if sys.argv[1] == "yes" else None
time.sleep(0.3)  # let it start spinning
before = sample()
t = time.monotonic()
while time.monotonic() - t < 1.5:
    pass
after = sample()
if intruder:
    intruder.wait()
i = CpuWindow.between(before, after)
print(json.dumps({"foreign": i.foreign_share, "own": i.own_cpu_s, "window": i.window_s}))
"""


@pytest.mark.slow  # timing: it runs with the sessions, never beside other tests
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
@pytest.mark.parametrize("intruder", ["no", "yes"])
def test_a_process_spinning_on_the_same_cpu_is_seen(intruder: str) -> None:
    """A measured loop pinned to one CPU, alone or with a second spinning process pinned to
    the same CPU: the scheduler splits the CPU, and the foreign share shows it."""
    cpu = min(os.sched_getaffinity(0))
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, intruder, str(cpu)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    got = json.loads(done.stdout)
    if intruder == "yes":
        assert 0.3 < got["foreign"] < 0.7, got
    else:
        assert got["foreign"] < 0.2, got
        assert got["own"] > 0.8 * got["window"], got
