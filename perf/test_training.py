"""ResNet-50 trained data-parallel on the Spark cluster, fp32 and bf16, against baselines."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict

import pytest

from bf16perf.baselines import BaselineError, BaselineStore
from bf16perf.bench import STEP_TIMER
from bf16perf.machine import Machine
from bf16perf.plugin import PerfSession
from bf16perf.stats import compare_throughput, loss_curve_violations, speedup_interval
from bf16perf.workload.config import Precision, RunResult
from fixtures.training import TrainingRuns

PRECISIONS = [pytest.param(Precision.FP32, id="fp32"), pytest.param(Precision.BF16, id="bf16")]


def _extra_info(run: RunResult, machine: Machine) -> dict[str, object]:
    config = asdict(run.config)
    config["precision"] = run.config.precision.value
    return {
        "images_per_second": run.images_per_second,
        "median_images_per_second": run.median_images_per_second,
        "step_times_s": run.step_times_s,
        "losses": run.losses,
        "workers": [asdict(w) for w in run.workers],
        "config": config,
        "kernels": run.kernels,
        "fingerprint": machine.fingerprint.to_dict(),
    }


@pytest.mark.benchmark(timer=STEP_TIMER, group="resnet50-training", min_rounds=1)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_training(
    precision: Precision,
    training_runs: TrainingRuns,
    benchmark: pytest.FixtureDef,  # type: ignore[type-arg]
    machine: Machine,
    bf16perf_session: PerfSession,
    request: pytest.FixtureRequest,
) -> None:
    if precision is Precision.BF16:
        request.getfixturevalue("bf16_hardware")
    run = training_runs.get(precision)
    curves = {w.rank: w.losses for w in run.workers}
    assert len({tuple(c) for c in curves.values()}) == 1, f"workers disagree: {curves}"
    assert all(math.isfinite(x) for x in run.losses)
    assert min(run.losses[-2:]) < run.losses[0], f"loss did not fall: {run.losses}"

    STEP_TIMER.load(run.step_times_s)
    benchmark.pedantic(lambda: None, rounds=len(run.step_times_s), iterations=1)  # type: ignore[attr-defined]
    info = _extra_info(run, machine)
    benchmark.extra_info.update(info)  # type: ignore[attr-defined]

    options = bf16perf_session.options
    store = BaselineStore(options.baselines_dir)
    slug = machine.fingerprint.slug
    key = run.config.workload_key(training_runs.workers, len(run.workers[0].cpus))
    try:
        baseline = store.load(slug, key)
    except BaselineError as exc:
        pytest.fail(str(exc), pytrace=False)
    name = request.node.nodeid
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
        bf16perf_session.notices.append(
            f"{name}: no baseline for machine {slug}, workload {key} in {options.baselines_dir}"
            " (save one with --perf-save-baseline)"
        )
        return
    cmp = compare_throughput(
        run.images_per_second, baseline.images_per_second, max_regression=options.max_regression
    )
    summary = (
        f"{cmp.current_median:.2f} images/s now vs {cmp.baseline_median:.2f} in baseline"
        f" {baseline.path} ({cmp.change:+.1%}, ratio 95% CI [{cmp.ratio_low:.3f},"
        f" {cmp.ratio_high:.3f}], Mann-Whitney p={cmp.p_value:.4f}, effect {cmp.effect_size:+.2f})"
    )
    bf16perf_session.notices.append(f"{name}: {summary}")
    if cmp.improvement:
        bf16perf_session.notices.append(
            f"{name}: faster than its baseline; accept it with --perf-save-baseline"
        )
    if not cmp.regression and cmp.change < -options.max_regression:
        bf16perf_session.notices.append(
            f"{name}: INCONCLUSIVE: {cmp.change:+.1%} below its baseline but not significant"
            f" with {len(run.images_per_second)} steps; run more steps (--perf-steps)"
        )
    if cmp.regression:
        pytest.fail(f"throughput regression in {name}: {summary}", pytrace=False)
    if run.config.data_dir is None:
        bad = loss_curve_violations(
            run.losses, baseline.losses, atol=options.loss_atol, rtol=options.loss_rtol
        )
        if bad:
            step, now, then = bad[0]
            pytest.fail(
                f"loss curve drifted in {name}: {len(bad)} steps outside"
                f" {options.loss_atol} + {options.loss_rtol}*|baseline|, first at step {step}:"
                f" {now:.5f} vs {then:.5f} in {baseline.path}",
                pytrace=False,
            )


@pytest.mark.usefixtures("bf16_hardware")
def test_bf16_speedup(training_runs: TrainingRuns, bf16perf_session: PerfSession) -> None:
    """The release gate: bf16/fp32 images/s of this session's runs, with a 95% interval."""
    fp32 = training_runs.get(Precision.FP32)
    bf16 = training_runs.get(Precision.BF16)
    ratio, low, high = speedup_interval(bf16.images_per_second, fp32.images_per_second)
    gate = bf16perf_session.options.min_bf16_speedup
    text = f"bf16 speedup {ratio:.3f}x, 95% CI [{low:.3f}, {high:.3f}], gate {gate:.2f}x"
    bf16perf_session.notices.append(text)
    if high < gate:
        pytest.fail(f"bf16 speedup below the release minimum: {text}", pytrace=False)
    if low < gate:
        pytest.fail(
            f"INCONCLUSIVE (not a pass): {text}; run more steps (--perf-steps)", pytrace=False
        )
