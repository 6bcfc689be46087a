"""Where a step's time goes, from captured oneDNN verbose output (tests/data/onednn): parts,
counts and implementations; the step decomposed; the bf16 speedup explained."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bf16perf.onednn.attribution import changed_parts, grown_between, grown_text, step_growth
from bf16perf.onednn.decomposition import (
    decompose,
    explain_speedup,
    median_step_parts,
    run_decomposition,
    summary_lines,
)
from bf16perf.onednn.kernels import parse_verbose
from bf16perf.onednn.step_profile import PARTS, Part, Profile, part_of, profile_of
from bf16perf.workloads.config import TrainConfig
from bf16perf.workloads.results import RunResult, WorkerResult, step_parts

DATA = Path(__file__).parent / "data" / "onednn"


def _profile(name: str, step_s: float | None = None) -> Profile:
    return profile_of(parse_verbose((DATA / name).read_text()).primitives, step_s=step_s)


def test_a_resnet50_step_splits_into_its_parts_with_every_primitive_timed() -> None:
    summary = parse_verbose((DATA / "linux-zen4-resnet50-bf16-step.txt").read_text())
    profile = profile_of(summary.primitives)
    assert profile.timed == (427, 427) and profile.available
    total_ms = sum(p.time_ms or 0 for p in summary.primitives)
    assert profile.compute_s == pytest.approx(total_ms / 1000)  # nothing lost or counted twice
    counts = {p.name: p.count for p in profile.parts}
    assert counts["convolution forward"] == 53 and counts["convolution backward data"] == 52
    assert counts["convolution backward weights"] == 53 and counts["batch norm"] == 106
    assert counts["matmul"] == 3  # matmul and inner_product
    assert [p.name for p in profile.parts] == [n for n in PARTS if n in counts]  # shown in order
    weights = profile.part("convolution backward weights")
    assert weights is not None and weights.main_impl.endswith("avx512_core_bf16")
    assert profile.lines()[0].startswith("reorder: 119.1 ms (55%), 158x, jit:uni")


def test_amx_and_avx512_parts_name_their_isa() -> None:
    amx = _profile("linux-emeraldrapids-torch-bf16.txt")
    fp32 = _profile("linux-emeraldrapids-torch-fp32.txt")
    forward = amx.part("convolution forward")
    assert forward is not None and forward.main_impl == "brg_conv_fwd:avx10_1_512_amx"
    assert fp32.part("convolution forward") is not None
    assert fp32.part("matmul") is None  # that capture ran no matmul in fp32


def test_sgemm_api_calls_are_matmul_and_untimed_output_is_no_profile() -> None:
    probe = _profile("linux-zen4-avx512-bf16-probe.txt")
    matmul = probe.part("matmul")
    assert matmul is not None and "gemm_api" in matmul.impls and probe.part("other") is None
    assert part_of("convolution", "backward_weights") == "convolution backward weights"
    assert part_of("deconvolution", "forward_inference") == "convolution forward"
    assert part_of("softmax", "forward_training") == "other"
    empty = profile_of(parse_verbose("no oneDNN here\n").primitives)
    assert not empty.available and empty.lines()[0].startswith("profile not available")
    assert decompose(1.0, empty) is None
    assert Profile.from_dict(probe.to_dict()) == probe


def _lone(compute_s: float, step_s: float) -> Profile:
    return Profile((Part("convolution forward", compute_s * 1000, 1, {"x": 1}),), step_s, (1, 1))


def test_without_timed_parts_communication_is_inferred_signed_and_said_so() -> None:
    parts = decompose(2.0, _lone(compute_s=0.8, step_s=1.2))
    assert parts is not None and parts.method == "inferred" and not parts.adds_up
    assert (parts.compute_s, parts.comm_s, parts.rest_s) == pytest.approx((0.8, 0.8, 0.4))
    assert parts.compute_s + parts.comm_s + parts.rest_s == pytest.approx(parts.step_s)
    assert "communication +0.800 s (+40%, inferred" in parts.line()
    # the lone step (under verbose timing) slower than the measured one: never clamped
    slow_lone = decompose(1.0, _lone(compute_s=0.6, step_s=1.2))
    assert slow_lone is not None and slow_lone.comm_s == pytest.approx(-0.2)
    assert slow_lone.compute_s + slow_lone.comm_s + slow_lone.rest_s == pytest.approx(1.0)
    assert "communication -0.200 s (-20%" in slow_lone.line()


def _timed(compute: float, allreduce: float, apply: float, host: float) -> dict[str, float]:
    return {"compute": compute, "allreduce": allreduce, "apply": apply, "host": host}


def test_timed_parts_add_up_to_the_median_step_with_their_signs() -> None:
    steps = [1.0, 3.0, 1.2]  # the median step is the third
    timed = [
        _timed(0.7, 0.2, 0.05, 0.05),
        _timed(1.0, 1.9, 0.05, 0.05),
        _timed(0.8, 0.3, 0.06, 0.04),
    ]
    median = median_step_parts(steps, timed)
    assert median == pytest.approx(_timed(0.8, 0.3, 0.06, 0.04))
    split = decompose(1.2, _lone(compute_s=0.9, step_s=1.3), median)
    assert split is not None and split.method == "timed" and split.adds_up
    # oneDNN's lone-step time exceeds the timed forward and backward: a negative part, kept
    assert split.framework_s == pytest.approx(-0.1) and split.comm_s == pytest.approx(0.3)
    total = split.compute_s + split.framework_s + split.comm_s + split.apply_s + split.unexplained_s
    assert total == pytest.approx(split.step_s)
    assert split.rest_s == pytest.approx(1.2 - 0.9 - 0.3)
    assert "all-reduce 0.300 s (25%, timed)" in split.line()
    assert "the framework's compute -0.100 s" in split.line() and "outside" not in split.line()
    # an even count: the mean of the two middle steps, so the parts still add up
    pair = median_step_parts([1.0, 2.0], [_timed(0.5, 0.4, 0.05, 0.05), _timed(1.0, 0.9, 0.0, 0.1)])
    assert pair is not None and sum(pair.values()) == pytest.approx(1.5)
    assert median_step_parts([1.0, 2.0], [_timed(0.5, 0.4, 0.05, 0.05)]) is None  # one short
    assert median_step_parts([1.0], [{"compute": 1.0}]) is None  # not every part
    # the host's time beyond 5% of the step is named: the timed parts do not account for it
    loose = decompose(1.0, _lone(0.5, 1.0), _timed(0.6, 0.2, 0.0, 0.2))
    assert loose is not None and not loose.adds_up and "outside the graph" in loose.line()


def test_a_run_takes_each_steps_parts_from_the_worker_whose_step_it_is() -> None:
    def worker(rank: int, times: list[float], parts: list[dict[str, float]]) -> WorkerResult:
        return WorkerResult(rank, "h", [rank], [], times, [1.0], 8, step_parts_s=parts)

    fast, slow = _timed(0.5, 0.4, 0.0, 0.1), _timed(0.9, 0.05, 0.0, 0.05)
    run = RunResult(
        TrainConfig(),
        [worker(0, [1.0, 0.9], [fast, fast]), worker(1, [0.95, 1.0], [fast, slow])],
        1.0,
    )
    assert run.step_times_s == [1.0, 1.0] and run.step_parts == [fast, slow]
    untimed = RunResult(TrainConfig(), [worker(0, [1.0], []), worker(1, [1.0], [fast])], 1.0)
    assert untimed.step_parts == []
    assert step_parts([10.0, 10.5, 10.7, 10.75], 0.8) == pytest.approx(_timed(0.5, 0.2, 0.05, 0.05))


def test_the_profile_names_what_its_own_timing_cost() -> None:
    lone = replace(_lone(0.5, 1.2), quiet_step_s=1.0)
    assert lone.overhead_line == (
        "the profiler's own cost: the lone step took 1.200 s with oneDNN's verbose timing,"
        " 1.000 s without (+0.200 s, +20%)"
    )
    assert Profile.from_dict(lone.to_dict()) == lone
    assert _lone(0.5, 1.2).overhead_line is None  # not measured: nothing said


def test_the_speedup_is_explained_part_by_part_with_its_amdahl_bound() -> None:
    fp32 = decompose(2.0, _lone(compute_s=1.0, step_s=1.15))
    bf16 = decompose(1.4, _lone(compute_s=0.4, step_s=0.55))
    assert fp32 is not None and bf16 is not None
    sentence = explain_speedup(fp32, bf16)
    assert "bf16 compute is 2.50x faster" in sentence
    assert "communication 1.00x (0.850 s, 61% of a bf16 step)" in sentence
    assert "end to end 1.43x" in sentence
    # Amdahl: the 0.85 s all-reduce and 0.15 s rest stay: 2.0 / 1.0 at best
    assert "were bf16 compute free: 2.00x" in sentence
    # the all-reduce is 61% of the bf16 step: halving its bytes saves at most 0.425 s
    assert sentence.endswith(
        "all-reducing in bf16 (--perf-bf16-allreduce, half the bytes) would give at most"
        f" {2.0 / (1.4 - 0.425):.2f}x end to end"
    )
    already = explain_speedup(fp32, bf16, bf16_allreduce=True)  # nothing left to halve
    assert already.endswith("were bf16 compute free: 2.00x")


def test_session_lines_show_each_variant_and_explain_the_speedup() -> None:
    def kernels(compute_s: float, lone_s: float) -> dict[str, object]:
        return {"profile": {**_lone(compute_s, lone_s).to_dict(), "cost_s": 12.0}}

    timed = [_timed(1.2, 0.7, 0.05, 0.05)]
    runs = [
        ("fp32", [2.0, 2.1, 1.9], kernels(1.0, 1.15), [timed[0]] * 3),
        ("bf16", [1.4, 1.5, 1.3], kernels(0.4, 0.55), []),  # untimed: inferred
        ("fp32", [2.0], None, timed),  # a later run: its steps count, its proof is the first's
        ("keras-cnn:fp32", [0.5], {"message": "not available"}, []),  # no profile: no lines
    ]
    lines = summary_lines(runs)
    assert lines[0] == "bf16perf profile fp32 (one lone step, 12 s to take):"
    assert any(line.startswith("  step 2.000 s = oneDNN compute 1.000 s (50%)") for line in lines)
    assert any("all-reduce 0.700 s (35%, timed)" in line for line in lines), lines
    assert lines[-1].startswith("bf16perf speedup explained (bf16): bf16 compute is 2.50x")
    assert not any("keras-cnn" in line for line in lines)
    assert run_decomposition([2.0], runs[0][2]) == decompose(2.0, _lone(1.0, 1.15))
    assert run_decomposition([2.0], runs[0][2], timed) == decompose(2.0, _lone(1.0, 1.15), timed[0])
    assert run_decomposition([2.0], None) is None


def test_what_grew_names_the_part_and_the_implementation_that_changed() -> None:
    amx = _profile("linux-emeraldrapids-torch-bf16.txt")
    avx512 = _profile("linux-emeraldrapids-torch-bf16-avx512.txt")
    grown = changed_parts(amx, avx512)
    assert grown, (amx.lines(), avx512.lines())
    assert any("avx10_1_512_amx -> " in line for line in grown), grown
    assert changed_parts(amx, amx) == []  # nothing grew, nothing switched
    assert changed_parts(amx, profile_of([])) == []  # no profile on one side: nothing said


def test_grown_between_stored_profiles_needs_both_available() -> None:
    def stored(conv_ms: float, timed: int = 5) -> dict[str, object]:
        part = {"name": "convolution forward", "ms": conv_ms, "count": 5, "impls": {"jit:avx2": 5}}
        return {"parts": [part], "step_s": 1.0, "timed": [timed, 5]}

    assert grown_between(None, stored(10.0)) is None
    assert grown_between(stored(10.0), stored(12.0, timed=0)) is None  # printed no times
    assert grown_between(stored(10.0), stored(10.0)) == []
    assert grown_between(stored(10.0), stored(12.0)) == ["convolution forward +2.0 ms/step (+20%)"]
    # below the floor, a part that kept its implementation is a lone step's scatter
    assert grown_between(stored(10.0), stored(10.9)) == []
    assert grown_text(stored(10.0), stored(10.9), "across it") == (
        "the lone step and its oneDNN parts did not grow across it: look beyond the kernels"
    )
    assert grown_text(None, stored(10.0), "across it") == ""


def _stored(conv_ms: float, step_s: float, impl: str = "brg_conv_fwd:avx2") -> Profile:
    return Profile((Part("convolution forward", conv_ms, 5, {impl: 5}),), step_s, (5, 5))


def test_a_slower_step_is_put_on_the_kernels_or_on_the_rest() -> None:
    # an injected sleep: the step grew 300 ms, oneDNN's parts by 1 ms
    slept = step_growth(_stored(100.0, 0.5), _stored(101.0, 0.8))
    assert slept == (
        "the step +300 ms (+60%), mostly the rest, not oneDNN's kernels"
        " (oneDNN +1 ms, the rest +299 ms)"
    )
    # a cap below the host's best ISA: the convolutions grew and changed implementation
    before, capped = _stored(100.0, 0.5), _stored(300.0, 0.7, "jit:sse41")
    assert step_growth(before, capped) == (
        "the step +200 ms (+40%), mostly oneDNN's parts (oneDNN +200 ms, the rest +0 ms)"
    )
    assert changed_parts(before, capped) == [
        "convolution forward +200.0 ms/step (+200%): brg_conv_fwd:avx2 -> jit:sse41"
    ]
    assert step_growth(before, _stored(100.0, 0.52)) is None  # within the floor
    assert step_growth(Profile((), None), capped) is None
