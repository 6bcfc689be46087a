"""The host view the suite runs as, and the node ids the end-to-end tests select."""

from __future__ import annotations

import subprocess

import pytest

from bf16perf.machine.cpu import Capability, read_cpuinfo
from tests import perfrun
from tests.hostview import (
    NO_BF16_CPUINFO,
    NO_BF16_ISA,
    VIEW_ENV,
    ViewError,
    apply_view,
    header_line,
)


def test_no_bf16_view_describes_avx512_without_bf16_and_caps_onednn() -> None:
    env = {VIEW_ENV: "no-bf16"}
    assert apply_view(env) == "no-bf16"
    assert env["BF16PERF_CPUINFO"] == str(NO_BF16_CPUINFO)
    assert env["ONEDNN_MAX_CPU_ISA"] == NO_BF16_ISA == "AVX512_CORE"
    described = read_cpuinfo(NO_BF16_CPUINFO)
    # oneDNN can emulate bf16 under the cap only where the described CPU has AVX-512
    assert described.capability is Capability.NONE and "avx512f" in described.flags


def test_host_view_changes_nothing() -> None:
    for env in ({}, {VIEW_ENV: "host"}, {VIEW_ENV: " "}):
        before = dict(env)
        assert apply_view(env) == "host" and env == before


def test_unknown_view_is_named_with_the_choices() -> None:
    with pytest.raises(ViewError, match=r"BF16PERF_TEST_VIEW='nobf16' names no view: .*no-bf16"):
        apply_view({VIEW_ENV: "nobf16"})


def test_header_names_cpu_capability_and_view() -> None:
    line = header_line()
    assert line.startswith("bf16perf test host: ") and "bf16 capability " in line
    assert "; view " in line


def test_unknown_view_stops_the_test_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    pytester.makeconftest("from tests.conftest import pytest_configure  # noqa: F401\n")
    env_run = pytester.runpytest_subprocess
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(VIEW_ENV, "amx-please")
        mp.setenv("PYTHONPATH", str(perfrun.ROOT))
        result = env_run("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*BF16PERF_TEST_VIEW='amx-please' names no view*"])


TRAIN = "test_training"


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (perfrun.FP32_ONLY, ["test_all_executors_registered", f"{TRAIN}[fp32]"]),
        ((perfrun.BF16, perfrun.BF16_AVX512), [f"{TRAIN}[bf16]", f"{TRAIN}[bf16-avx512]"]),
        (
            (perfrun.BF16_SPEEDUP, perfrun.BF16_LOSS),
            ["test_bf16_speedup", "test_bf16_loss_tracks_fp32"],
        ),
        ((perfrun.TRAINING,), [f"{TRAIN}[fp32]", f"{TRAIN}[bf16]", f"{TRAIN}[bf16-avx512]"]),
    ],
)
def test_end_to_end_selections_collect_exactly_the_tests_meant(
    ids: tuple[str, ...], expected: list[str]
) -> None:
    """Node ids, not ``-k``: ``-k "test_training and fp32"`` also collects
    ``test_bf16_loss_tracks_fp32`` (the module is ``test_training.py``), which trains bf16
    on a bf16 host."""
    done = subprocess.run(
        perfrun.perf_command("--collect-only", "-q", "--perf-no-probe", tests=ids),
        cwd=perfrun.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    collected = [line.split("::")[-1] for line in done.stdout.splitlines() if "::" in line]
    assert collected == expected
