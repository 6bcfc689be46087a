"""The ad-hoc A/B session's verdicts (``apply.against_reference``), on built runs: what the
``--perf-reference-python``/``--perf-reference-env`` session prints and records.  The real
oneDNN side of an attribution (a cap below the host's ISA, a reference env escaping it) is
``tests/test_perf_e2e.py``; the A/B rule's arithmetic is ``tests/test_verdicts.py``."""

from __future__ import annotations

from typing import Any

from bf16perf.session.options import PerfOptions
from bf16perf.verdicts import apply
from bf16perf.verdicts.outcomes import Outcome
from bf16perf.workloads.config import PROFILES
from bf16perf.workloads.results import RunResult, WorkerResult


def _profile(conv_ms: float, impl: str, step_s: float) -> dict[str, Any]:
    part = {"name": "convolution forward", "ms": conv_ms, "count": 53, "impls": {impl: 53}}
    return {"parts": [part], "step_s": step_s, "timed": [53, 60], "available": True}


def _run(ips: float, stack: str, profile: dict[str, Any], losses: list[float]) -> RunResult:
    worker = WorkerResult(0, "127.0.0.1", [0], [5.0], [8 / ips] * 3, losses, 8)
    kernels = {"isa": "avx2", "available": True, "profile": profile}
    return RunResult(PROFILES["smoke"], [worker], 20.0, kernels, "fp32", stack)


def _pairs(
    candidate_ips: list[float], candidate_losses: list[float]
) -> tuple[list[RunResult], list[RunResult]]:
    capped = _profile(180.0, "brg_conv_fwd:sse41", 0.40)
    free = _profile(60.0, "brg_conv_fwd:avx2", 0.28)
    losses = [3.0, 2.9, 2.8, 2.7]
    reference = [_run(ips, "reference", free, losses) for ips in (10.0, 10.2, 9.9, 10.1)]
    candidate = [_run(ips, "candidate", capped, candidate_losses) for ips in candidate_ips]
    return candidate, reference


def test_a_slower_candidate_fails_and_names_what_changed() -> None:
    candidate, reference = _pairs([6.0, 6.1, 5.9, 6.05], [3.0, 2.9, 2.8, 2.7])
    order = ["candidate", "reference", "reference", "candidate"]
    options = PerfOptions(alpha=0.1, pairs=4).verdict_settings()
    throughput, loss = apply.against_reference("t[fp32]", candidate, reference, order, options)
    assert throughput.check == "A/B throughput" and throughput.outcome is Outcome.REGRESSION
    assert "over 4 interleaved pairs" in throughput.detail
    assert "what grew in the lone step against the reference's: " in throughput.detail
    assert (
        "convolution forward +120.0 ms/step (+200%): brg_conv_fwd:avx2 -> brg_conv_fwd:sse41"
        in throughput.detail
    )
    assert throughput.figures is not None and throughput.figures["ratio"] < 0.7
    assert loss.check == "A/B loss" and loss.outcome is Outcome.OK


def test_whatever_the_outcome_the_attribution_and_a_moved_loss_are_reported() -> None:
    # the same speed: no drop, yet the profiles differ and say so; the loss moved beyond
    # the bf16 band (a different stack may move it): DRIFT, a notice of its own
    candidate, reference = _pairs([10.1, 9.95, 10.0, 10.2], [3.5, 3.6, 3.7, 3.9])
    order = ["reference", "candidate", "candidate", "reference"]
    options = PerfOptions(alpha=0.1, pairs=4).verdict_settings()
    throughput, loss = apply.against_reference("t[fp32]", candidate, reference, order, options)
    assert throughput.outcome is not Outcome.REGRESSION
    assert "brg_conv_fwd:avx2 -> brg_conv_fwd:sse41" in throughput.detail
    assert loss.outcome is Outcome.DRIFT, loss.detail
