"""ResNet-50 trained data-parallel on the Spark cluster, fp32 and bf16, against baselines.

Every verdict goes through ``bf16perf_session.decide``: it is shown in the end-of-session
table and sets the session's exit code (see :mod:`bf16perf.decisions`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict
from typing import Any

import pytest

from bf16perf.baselines import Baseline, BaselineError, BaselineStore
from bf16perf.bench import STEP_TIMER
from bf16perf.decisions import Decision, Outcome
from bf16perf.machine import Machine
from bf16perf.plugin import PerfSession
from bf16perf.stats import (
    compare_throughput,
    loss_curve_violations,
    paired_runs_interval,
    speedup_interval,
)
from bf16perf.workload.config import VARIANTS, RunResult, Variant
from fixtures.training import BF16, FP32, TrainingRuns

VARIANT_PARAMS = [pytest.param(v, id=name) for name, v in VARIANTS.items()]


def _extra_info(run: RunResult, machine: Machine) -> dict[str, object]:
    config = asdict(run.config)
    config["precision"] = run.config.precision.value
    return {
        "variant": run.label,
        "images_per_second": run.images_per_second,
        "median_images_per_second": run.median_images_per_second,
        "step_times_s": run.step_times_s,
        "losses": run.losses,
        "workers": [asdict(w) for w in run.workers],
        "config": config,
        "kernels": run.kernels,
        "fingerprint": machine.fingerprint.to_dict(),
    }


def _load_baseline(
    session: PerfSession, machine: Machine, runs: TrainingRuns, variant: Variant
) -> tuple[BaselineStore, str, Baseline | None]:
    """Before any training: a corrupt baseline must not cost a run."""
    store = BaselineStore(session.options.baselines_dir)
    key = variant.apply(runs.config).workload_key(runs.workers, runs.cores_per_worker)
    try:
        baseline = store.load(machine.fingerprint.slug, key)
    except BaselineError as exc:
        pytest.fail(str(exc), pytrace=False)
    if baseline is not None:
        session.baselines[key] = baseline
    return store, key, baseline


@pytest.mark.benchmark(timer=STEP_TIMER, group="resnet50-training", min_rounds=1)
@pytest.mark.parametrize("variant", VARIANT_PARAMS)
def test_training(
    variant: Variant,
    training_runs: TrainingRuns,
    benchmark: Any,
    machine: Machine,
    bf16perf_session: PerfSession,
    request: pytest.FixtureRequest,
    record_property: Any,
) -> None:
    # bf16 and AMX variants were skipped before setup where the hardware lacks them
    # (fixtures/machine.py)
    options = bf16perf_session.options
    store, key, baseline = _load_baseline(bf16perf_session, machine, training_runs, variant)
    run = training_runs.get(variant)
    curves = {w.rank: w.losses for w in run.workers}
    assert len({tuple(c) for c in curves.values()}) == 1, f"workers disagree: {curves}"
    assert all(math.isfinite(x) for x in run.losses)
    if run.config.data_dir is None:
        assert min(run.losses[-2:]) < run.losses[0], f"loss did not fall: {run.losses}"

    STEP_TIMER.load(run.step_times_s)
    benchmark.pedantic(lambda: None, rounds=len(run.step_times_s), iterations=1)
    info = _extra_info(run, machine)
    benchmark.extra_info.update(info)
    record_property("median_images_per_second", f"{run.median_images_per_second:.4f}")
    record_property("measured_steps", len(run.step_times_s))
    record_property("workload", key)
    record_property("kernel_proof", (run.kernels or {}).get("message", "n/a"))

    name = request.node.nodeid
    slug = machine.fingerprint.slug
    if variant.needs_amx:
        fp32 = training_runs.runs[FP32.name]
        _amx_notice(bf16perf_session, run, training_runs.get(BF16), fp32[0] if fp32 else None)
    if options.save_baseline:
        doc = {
            "machine_info": {
                "bf16perf_fingerprint": machine.fingerprint.to_dict(),
                "bf16perf_metadata": machine.metadata.to_dict(),
            },
            "benchmarks": [
                {
                    "name": request.node.name,
                    "fullname": name,
                    "stats": {
                        "median": statistics.median(run.step_times_s),
                        "rounds": len(run.step_times_s),
                        "data": run.step_times_s,
                    },
                    "extra_info": info,
                }
            ],
        }
        path, previous = store.save(slug, key, doc)
        kept = f" (previous kept as {previous})" if previous else ""
        bf16perf_session.notices.append(f"{name}: baseline saved to {path}{kept}")
        return
    if baseline is None:
        bf16perf_session.decide(
            Decision(
                name,
                "throughput",
                Outcome.NO_BASELINE,
                f"no baseline for machine {slug}, workload {key} in {options.baselines_dir}"
                " (save one with --perf-save-baseline)",
            )
        )
        return
    _throughput_verdict(bf16perf_session, name, run, baseline)
    if run.config.data_dir is None:
        _loss_verdict(bf16perf_session, name, run, baseline)


def _amx_notice(
    session: PerfSession, capped: RunResult, bf16: RunResult, fp32: RunResult | None
) -> None:
    """What AMX buys over AVX512-BF16 on this machine, and, where fp32 ran in this session,
    what AVX512-BF16 alone buys over fp32 (figures, not gates: on Sapphire and Emerald Rapids
    AVX512-BF16 kernels are slower than fp32 ones, see BENCHMARKS.md section E)."""
    ratio, low, high = speedup_interval(bf16.images_per_second, capped.images_per_second)
    text = (
        f"{capped.label}: {capped.median_images_per_second:.2f} images/s against"
        f" {bf16.median_images_per_second:.2f} for bf16 on {(bf16.kernels or {}).get('isa')}:"
        f" AMX/AVX512-BF16 = {ratio:.3f}x, 95% CI [{low:.3f}, {high:.3f}]"
    )
    if fp32 is not None:
        ratio, low, high = speedup_interval(capped.images_per_second, fp32.images_per_second)
        text += f"; AVX512-BF16/fp32 = {ratio:.3f}x, 95% CI [{low:.3f}, {high:.3f}]"
    session.notices.append(text)


def _throughput_verdict(
    session: PerfSession, name: str, run: RunResult, baseline: Baseline
) -> None:
    options = session.options
    cmp = compare_throughput(
        run.images_per_second, baseline.images_per_second, max_regression=options.max_regression
    )
    detail = (
        f"{cmp.current_median:.2f} images/s now vs {cmp.baseline_median:.2f} in baseline"
        f" {baseline.path} ({cmp.change:+.1%}, ratio 95% CI [{cmp.ratio_low:.3f},"
        f" {cmp.ratio_high:.3f}], Mann-Whitney p={cmp.p_value:.4f},"
        f" effect {cmp.effect_size:+.2f})"
    )
    if cmp.regression:
        outcome = Outcome.REGRESSION
    elif cmp.improvement:
        outcome = Outcome.IMPROVED
        detail += "; accept it with --perf-save-baseline"
    elif cmp.change < -options.max_regression:
        outcome = Outcome.INCONCLUSIVE
        detail += f"; below by more than {options.max_regression:.0%} but not significant: run"
        detail += " more steps (--perf-steps)"
    else:
        outcome = Outcome.OK
    session.decide(Decision(name, "throughput", outcome, detail))


def _loss_verdict(session: PerfSession, name: str, run: RunResult, baseline: Baseline) -> None:
    options = session.options
    bad = loss_curve_violations(
        run.losses, baseline.losses, atol=options.loss_atol, rtol=options.loss_rtol
    )
    if not bad:
        session.decide(
            Decision(
                name,
                "loss curve",
                Outcome.OK,
                f"{len(run.losses)} steps within {options.loss_atol} +"
                f" {options.loss_rtol}*|baseline| of {baseline.path}",
            )
        )
        return
    step, now, then = bad[0]
    session.decide(
        Decision(
            name,
            "loss curve",
            Outcome.DRIFT,
            f"{len(bad)} steps outside {options.loss_atol} + {options.loss_rtol}*|baseline|,"
            f" first at step {step}: {now:.5f} vs {then:.5f} in {baseline.path}",
        )
    )


@pytest.mark.bf16
def test_bf16_loss_tracks_fp32(training_runs: TrainingRuns, bf16perf_session: PerfSession) -> None:
    """Within a run: both curves fall, and bf16 stays in a band around fp32.

    The band (mean |bf16 - fp32| <= 0.5 by default) is about 3x the 0.18 measured on the
    reference machine at 64x64 over 30 steps: bf16 rounding moves the curve from step 0,
    a broken bf16 path moves it by whole nats.
    """
    fp32 = training_runs.get(FP32).losses
    bf16 = training_runs.get(BF16).losses
    if training_runs.config.data_dir is None:
        assert min(fp32[-2:]) < fp32[0] and min(bf16[-2:]) < bf16[0], (fp32, bf16)
    diff = statistics.fmean(abs(a - b) for a, b in zip(bf16, fp32, strict=True))
    band = bf16perf_session.options.bf16_loss_band
    outcome = Outcome.OK if diff <= band else Outcome.DRIFT
    bf16perf_session.decide(
        Decision(
            "test_bf16_loss_tracks_fp32",
            "bf16 vs fp32 loss",
            outcome,
            f"mean |bf16 - fp32| = {diff:.3f} over {len(fp32)} steps (band {band})",
        )
    )


@pytest.mark.bf16
def test_bf16_speedup(
    training_runs: TrainingRuns, bf16perf_session: PerfSession, request: pytest.FixtureRequest
) -> None:
    """The release gate: bf16/fp32 images/s of this session's interleaved runs, 95% CI."""
    options = bf16perf_session.options
    training_runs.interleave(options.repeats)
    gate = options.min_bf16_speedup

    def measure() -> tuple[float, float, float, str]:
        bf16 = [r.images_per_second for r in training_runs.runs[BF16.name]]
        fp32 = [r.images_per_second for r in training_runs.runs[FP32.name]]
        ratio, low, high = paired_runs_interval(bf16, fp32)
        runs = len(bf16)
        text = (
            f"bf16 speedup {ratio:.3f}x, 95% CI [{low:.3f}, {high:.3f}], gate {gate:.2f}x"
            f" ({sum(map(len, bf16))} bf16 and {sum(map(len, fp32))} fp32 steps, "
            + (
                "one run each: the interval holds step noise only, not run-to-run drift;"
                " --perf-repeats 3 puts it in)"
                if runs == 1
                else f"{runs} interleaved runs each, pairs and steps resampled)"
            )
        )
        emulated = any((r.kernels or {}).get("emulated") for r in training_runs.runs[BF16.name])
        if emulated:
            text = "EMULATED bf16, no bf16 hardware (harness self-test, not a figure): " + text
        return ratio, low, high, text

    _, low, high, text = measure()
    if low < gate <= high and options.max_extra_steps > 0:
        training_runs.extend(options.max_extra_steps)
        _, low, high, text = measure()
    if high < gate:
        outcome = Outcome.GATE_FAILED
    elif low < gate:
        outcome = Outcome.INCONCLUSIVE
        text += "; the interval straddles the gate: run more steps or repeats"
    else:
        outcome = Outcome.OK
    if gate == 0:
        text += (
            "; no gate in the smoke profile (32x32 is overhead-bound, bf16 is no faster"
            " there): gate with --perf-min-bf16-speedup"
        )
    bf16perf_session.decide(Decision(request.node.nodeid, "bf16 gate", outcome, text))
