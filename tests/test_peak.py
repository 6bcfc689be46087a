"""Distance from the machine's limit: the work of a primitive from the shape oneDNN prints,
the peak a probe's calls show, and each compute part's share of it (captured verbose
output in tests/data/onednn); and the real peak probe on this machine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bf16perf.onednn.decomposition import summary_lines
from bf16perf.onednn.kernels import ProbeError, parse_verbose
from bf16perf.onednn.peak import Peak, peak_of, run_shares_of_peak, share_lines, shares_of_peak
from bf16perf.onednn.shapes import flops_of
from bf16perf.onednn.step_profile import Profile, profile_of
from bf16perf.workloads.config import PROFILES, Precision, TrainConfig
from bf16perf.workloads.peak_run import PEAK_N, measure_peak
from tests.hostview import host_has_bf16

DATA = Path(__file__).parent / "data" / "onednn"
RESNET = "linux-zen4-resnet50-bf16-step.txt"


def _line(kind: str, impl: str, problem: str, ms: float) -> str:
    return (
        f"onednn_verbose,v1,primitive,exec,cpu,{kind},{impl},undef,"
        f"src:f32::blocked:ab::f0 wei:f32::blocked:ab::f0 dst:f32::blocked:ab::f0,,,{problem},{ms}"
    )


def test_the_work_of_each_primitive_kind_from_its_descriptor() -> None:
    # ResNet-50's stem at 38x38 (TensorFlow pads it first): 7x7, 3 -> 64 channels, 16x16 out
    stem = "mb2_ic3oc64_ih38oh16kh7sh2dh0ph0_iw38ow16kw7sw2dw0pw0"
    assert flops_of("convolution", stem) == 2 * 2 * 64 * 3 * 16 * 16 * 7 * 7
    assert flops_of("deconvolution", stem) == flops_of("convolution", stem)
    grouped = "g32mb1_ic64oc64_ih8oh8kh3sh1dh0ph1_iw8ow8kw3sw1dw0pw1"  # 2 channels a group
    assert flops_of("convolution", grouped) == 2 * 1 * 64 * 2 * 8 * 8 * 3 * 3
    three_d = "mb1_ic4oc8_id5od3kd3sd1dd0pd0_ih5oh3kh3sh1dh0ph0_iw5ow3kw3sw1dw0pw0"
    assert flops_of("convolution", three_d) == 2 * 8 * 4 * 27 * 27
    assert flops_of("inner_product", "mb2ic2048oc10") == 2 * 2 * 2048 * 10
    assert flops_of("inner_product", "mb16ic64ih7iw7oc1000") == 2 * 16 * 64 * 49 * 1000
    assert flops_of("matmul", "2048x2:2x10") == 2 * 2048 * 2 * 10
    assert flops_of("gemm_api", "528x288:288x32") == 2 * 528 * 288 * 32
    assert flops_of("matmul", "4x1x8x16:1x3x16x2:4x3x8x2") == 2 * 12 * 8 * 16 * 2  # broadcast
    # what it cannot read is None, never a guess
    for kind, problem in (
        ("matmul", "*x16:16x2"),  # a runtime dimension
        ("matmul", "8x16:15x2"),  # inner dimensions disagree
        ("matmul", "8x16"),
        ("convolution", "ic3oc64"),  # no minibatch
        ("reorder", "32x32x3x3"),
        ("batch_normalization", "mb2ic64ih16iw16"),
        ("convolution", ""),
    ):
        assert flops_of(kind, problem) is None, (kind, problem)


def test_the_descriptor_is_kept_with_every_timed_primitive() -> None:
    summary = parse_verbose((DATA / RESNET).read_text())
    convs = [p for p in summary.primitives if p.kind == "convolution"]
    assert convs and all(p.problem.startswith("mb2_") for p in convs)
    untimed = parse_verbose(
        "onednn_verbose,exec,cpu,convolution,jit:avx2,forward_training,src_f32::blocked:abcd:f0\n"
    )
    assert untimed.primitives[0].problem == ""


def test_a_resnet_step_counts_the_work_of_its_convolutions_and_matmuls() -> None:
    profile = profile_of(parse_verbose((DATA / RESNET).read_text()).primitives)
    forward = profile.part("convolution forward")
    assert forward is not None and forward.gflop > 0 and forward.flop_ms == forward.ms
    assert forward.gflops == pytest.approx(forward.gflop / forward.ms * 1000)
    # forward, backward data and backward weights of the same layers do the same work,
    # less the stem (no gradient to its input)
    data = profile.part("convolution backward data")
    weights = profile.part("convolution backward weights")
    assert data is not None and weights is not None
    assert weights.gflop == pytest.approx(forward.gflop)
    assert data.gflop < forward.gflop
    for name in ("batch norm", "reorder"):  # memory-bound: no work counted
        part = profile.part(name)
        assert part is not None and part.gflop == 0 and part.gflops is None
    again = Profile.from_dict(profile.to_dict())
    assert again == profile
    # a profile stored before the work was kept reads back without it
    old = profile.to_dict()
    for part in old["parts"]:
        del part["gflop"], part["flop_ms"]
    assert Profile.from_dict(old).part("convolution forward").gflops is None  # type: ignore[union-attr]


def test_the_peak_is_the_fastest_of_the_largest_calls() -> None:
    text = "\n".join(
        [
            _line("gemm_api", "", "2048x2048:2048x2048", 400.0),  # warm-up, slow
            _line("gemm_api", "", "2048x2048:2048x2048", 250.0),
            _line("gemm_api", "", "2048x1024:1024x2048", 120.0),  # a panel: half the work
            _line("gemm_api", "", "64x64:64x64", 0.001),  # tiny and "fast": not the peak
            _line("reorder", "jit:uni", "2048x2048", 1.0),
        ]
    )
    peak = peak_of(parse_verbose(text).primitives, "f32", 1, cost_s=5.0)
    assert peak is not None and peak.impl == "gemm_api" and peak.cores == 1
    assert peak.gflops == pytest.approx(2 * 2048 * 1024 * 2048 / 1e9 / 0.120)
    assert Peak.from_dict(peak.to_dict()) == peak
    assert peak.label() == (
        f"oneDNN's best matmul here: f32 on gemm_api, 1 core, {peak.gflops:.1f} GFLOP/s"
    )
    reorder_only = parse_verbose(_line("reorder", "jit:uni", "8x8", 1.0)).primitives
    assert peak_of(reorder_only, "f32", 1) is None


def test_each_compute_part_is_set_against_the_peak() -> None:
    profile = profile_of(parse_verbose((DATA / RESNET).read_text()).primitives)
    peak = Peak("bf16", "brg_matmul:avx512_core_bf16", 100.0, 1, 4.0)
    rows = shares_of_peak(profile, peak)
    names = [r["part"] for r in rows]
    assert names[:3] == [
        "convolution forward",
        "convolution backward data",
        "convolution backward weights",
    ]
    assert names[-1] == "all compute"
    for row in rows:
        assert row["share"] == pytest.approx(row["gflops"] / 100.0)
    every = sum(p.gflop for p in profile.parts) / sum(p.flop_ms for p in profile.parts) * 1000
    assert rows[-1]["gflops"] == pytest.approx(every)
    lines = share_lines(profile, peak.to_dict())
    assert lines[0] == (
        "share of peak (oneDNN's best matmul here: bf16 on brg_matmul:avx512_core_bf16, 1"
        " core, 100.0 GFLOP/s, 4 s to measure):"
    )
    assert lines[1].startswith("  convolution forward: ")
    assert lines[1].endswith("% of peak (brgconv_1x1:avx512_core_bf16)")
    why = share_lines(profile, {"why": "the bf16 peak probe failed"})
    assert why == ["share of peak: not available: the bf16 peak probe failed"]
    assert share_lines(profile, None)[0].startswith("share of peak: not available: not measured")
    stored = {**profile.to_dict(), "peak": peak.to_dict()}  # as a run's kernel proof keeps it
    assert run_shares_of_peak(stored) == rows
    assert run_shares_of_peak({**profile.to_dict(), "peak": {"why": "x"}}) is None
    assert run_shares_of_peak(None) is None


def test_the_terminal_shows_the_share_of_peak_under_each_profile() -> None:
    profile = profile_of(parse_verbose((DATA / RESNET).read_text()).primitives, step_s=3.0)
    peak = Peak("bf16", "brg_matmul:avx512_core_bf16", 100.0, 1, 4.0)
    kernels = {"profile": {**profile.to_dict(), "cost_s": 9.0, "peak": peak.to_dict()}}
    lines = summary_lines([("bf16", [3.5], kernels, [])])
    assert any(line.startswith("  share of peak (oneDNN's best matmul here") for line in lines)
    assert any(line.startswith("    all compute: ") for line in lines)


def _config(precision: Precision) -> TrainConfig:
    return replace(PROFILES["smoke"], precision=precision)


@pytest.mark.slow
def test_the_real_peak_probe_measures_this_machine_once_a_session() -> None:
    """The probe on this machine's first CPU: an fp32 peak of a plausible size, measured
    once (the second call is the session's copy)."""
    pytest.importorskip("tensorflow")
    peak = measure_peak(_config(Precision.FP32), cores=1)
    assert peak.dtype == "f32" and peak.cores == 1 and peak.impl
    # one x86 core: more than a scalar loop, less than any AMX tile unit in fp32
    assert 1.0 < peak.gflops < 1000.0, peak
    assert peak.cost_s > 0
    assert measure_peak(_config(Precision.FP32), cores=1) is peak
    print(f"\nfp32 peak ({PEAK_N}^2 matmul): {peak.label()}, {peak.cost_s:.1f} s to measure")


@pytest.mark.slow
def test_the_bf16_peak_runs_on_bf16_hardware_or_says_why_not() -> None:
    """On a bf16 host the bf16 probe's matmul runs on a bf16 ISA (AVX512-BF16, AMX); on one
    without, TensorFlow's Eigen turns it into an fp32 sgemm (94 GFLOP/s on a Zen 3 core,
    the fp32 peak): the probe says so, never a bf16 peak."""
    pytest.importorskip("tensorflow")
    config = _config(Precision.BF16)
    if host_has_bf16():
        peak = measure_peak(config, cores=1)
        assert peak.dtype == "bf16" and ("bf16" in peak.impl or "amx" in peak.impl), peak
        print(f"\nbf16 peak: {peak.label()}")
        return
    with pytest.raises(ProbeError, match="peak probe's matmul printed no timed oneDNN bf16 call"):
        measure_peak(config, cores=1)


HARDWARE_CASES = [
    # (oneDNN implementation, computes in bf16, a Zen 4 core) -> the table's row
    ("brg_conv_fwd:avx512_core_amx", True, False, "amx_bf16", 1024),
    ("brgconv_1x1:avx512_core_bf16", True, False, "avx512_bf16", 128),
    ("brg_conv_fwd:avx512_core_amx", False, False, "avx512", 64),  # fp32 on an AMX host
    ("brg_conv_fwd:avx512_core", True, False, "avx512", 64),  # bf16 converted: fp32's rate
    ("brg_conv_fwd:avx512_core_bf16", True, True, "zen4_avx512_bf16", 64),
    ("jit:avx512_core", False, True, "zen4_avx512", 32),
    ("jit:avx2", False, False, "avx2", 32),
]


@pytest.mark.parametrize(("impl", "bf16", "zen4", "key", "flop"), HARDWARE_CASES)
def test_each_isa_row_of_the_hardware_peak(
    impl: str, bf16: bool, zen4: bool, key: str, flop: int
) -> None:
    from bf16perf.onednn.hardware import ISA_PEAKS, hardware_gflops, isa_row

    row = isa_row(impl, bf16, zen4)
    assert row is ISA_PEAKS[key] and row.flop_per_cycle == flop and row.source
    assert hardware_gflops(row, 2.0, 2) == flop * 4.0  # FLOP/cycle x GHz x cores


def test_every_row_has_a_case_and_unknown_isas_have_no_hardware_peak() -> None:
    from bf16perf.onednn.hardware import ISA_PEAKS, isa_row

    assert {case[3] for case in HARDWARE_CASES} == set(ISA_PEAKS)
    assert isa_row("gemm:jit:sse41", False) is None and isa_row("ref:any", True) is None


def test_the_clock_is_read_where_the_os_exposes_it(tmp_path: Path) -> None:
    from bf16perf.machine.clock import core_ghz

    for cpu, khz in ((0, 3_500_000), (1, 3_700_000)):
        freq = tmp_path / "sys" / f"cpu{cpu}" / "cpufreq"
        freq.mkdir(parents=True)
        (freq / "cpuinfo_max_freq").write_text(f"{khz}\n")
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\ncpu MHz\t\t: 2100.000\n\nprocessor\t: 1\ncpu MHz\t\t: 2300.5\n"
    )
    assert core_ghz(None, tmp_path / "sys", info) == (3.7, "cpufreq cpuinfo_max_freq")
    assert core_ghz([0], tmp_path / "sys", info) == (3.5, "cpufreq cpuinfo_max_freq")
    assert core_ghz([0], tmp_path / "none", info) == (2.1, "/proc/cpuinfo cpu MHz")
    assert core_ghz(None, tmp_path / "none", info) == (2.3005, "/proc/cpuinfo cpu MHz")
    assert core_ghz(None, tmp_path / "none", tmp_path / "missing") is None


def test_each_part_is_set_against_the_hardware_peak_too() -> None:
    profile = profile_of(parse_verbose((DATA / RESNET).read_text()).primitives)
    peak = Peak("bf16", "brg_matmul:avx512_core_bf16", 100.0, 1, 4.0, 2.0, "test", False)
    rows = shares_of_peak(profile, peak)
    for row in rows:  # AVX512-BF16 at 2 GHz on one core: 256 GFLOP/s
        assert row["hardware_gflops"] == pytest.approx(256.0) and row["isa"] == "AVX512-BF16"
        assert row["hardware_share"] == pytest.approx(row["gflops"] / 256.0)
        assert row["hardware_share"] <= 1.0
    lines = share_lines(profile, peak.to_dict())
    assert "the hardware's at 2.00 GHz (test)" in lines[0]
    assert "% of the hardware's 256 (AVX512-BF16)" in lines[1]
    assert Peak.from_dict(peak.to_dict()) == peak


def test_a_reported_clock_below_what_ran_is_raised_never_a_share_above_100() -> None:
    """A VM reports its host's nominal clock while its cores boost: where the probe's own
    matmul beats the table's peak at that clock, the clock is the least the rates prove."""
    profile = profile_of(parse_verbose((DATA / RESNET).read_text()).primitives)
    # 300 GFLOP/s of AVX512-BF16 on one core proves at least 300 / 128 = 2.34 GHz
    peak = Peak("bf16", "brg_matmul:avx512_core_bf16", 300.0, 1, 4.0, 1.0, "test", False)
    rows = shares_of_peak(profile, peak)
    assert rows[0]["ghz"] == pytest.approx(300.0 / 128)
    assert all(r["hardware_share"] <= 1.0 + 1e-9 for r in rows)
    head = share_lines(profile, peak.to_dict())[0]
    assert "the hardware's at 2.34 GHz, the least clock these rates prove (test says 1.00" in head


def test_the_docs_table_is_the_code_s_table() -> None:
    from bf16perf.onednn.hardware import ISA_PEAKS

    docs = (Path(__file__).parent.parent / "docs" / "running.md").read_text()
    for key, row in ISA_PEAKS.items():
        assert f"| `{key}` | {row.name} | {row.dtype} | {row.flop_per_cycle:,} |" in docs, key
