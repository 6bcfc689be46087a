"""What each perf test checks, as plain calls: ``perf/test_training.py`` is their specification.

Each function takes typed inputs (options, machine, runs, the baseline store) and returns
verdicts, notices or figures; none of them touches pytest, so ``benchmarks/run.py`` and the
unit tests call exactly what users get.  The rules are :mod:`bf16perf.verdicts`'s, wrapped
into decisions by :mod:`bf16perf.verdicts.apply`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from typing import Any

from bf16perf.machine.host import Machine
from bf16perf.session.options import PerfOptions
from bf16perf.session.runs import BF16, FP32, AbPairs, TrainingRuns
from bf16perf.stats.figures import LogRatio, Spread, unpaired_log_ratio
from bf16perf.store.baseline import Baseline, baseline_document
from bf16perf.store.baselines import BaselineStore
from bf16perf.store.history import read_history
from bf16perf.verdicts import SESSION_PRIOR, GateVerdict, apply
from bf16perf.verdicts._common import interval_text, pct
from bf16perf.verdicts.family import can_fail
from bf16perf.verdicts.nights import machine_drift, pair_nights
from bf16perf.verdicts.outcomes import Decision, Outcome
from bf16perf.verdicts.paired import PAIRED_PAIRS, WINDOW
from bf16perf.verdicts.paired_sizing import LASTING_DROP, MAX_PAIRS, SIZING_POWER, pairs_for
from bf16perf.verdicts.paired_spread import HORIZON, pair_spread
from bf16perf.verdicts.settings import VerdictSettings
from bf16perf.verdicts.trend import previous_session
from bf16perf.workloads.config import Variant
from bf16perf.workloads.proof import proof_lines
from bf16perf.workloads.results import RunResult

__all__ = [
    "BenchmarkRecord",
    "amx_notice",
    "benchmark_record",
    "expected",
    "gates",
    "paired_pairs",
    "release_gate",
    "training_verdicts",
]


def gates(variant: Variant | None, options: PerfOptions) -> bool:
    """Whether a verdict can fail this session (:func:`bf16perf.verdicts.family.can_fail`)."""
    return can_fail(variant, paired=options.paired, release=options.release)


def as_notice(decision: Decision) -> Decision:
    """A verdict that does not gate this session: a failing outcome becomes a notice."""
    if not decision.outcome.fails:
        return decision
    return replace(
        decision,
        outcome=Outcome.NOTICE,
        detail=f"{decision.detail} (was {decision.outcome.value}; a notice in the paired"
        " nightly, --perf-release gates on it)",
    )


def expected(
    options: PerfOptions, machine: Machine, key: str
) -> tuple[Baseline | None, Spread | None, Spread]:
    """The stored baseline a test is judged against, the machine's between-run noise prior,
    and its between-session spread (measured, else :data:`SESSION_PRIOR`; the baseline is
    always another session's).  The baseline and noise are ``None`` in A/B mode or when
    saving.  Raises :class:`~bf16perf.store.baseline.BaselineError` for a bad file, before any
    run is spent."""
    if options.ab_mode or options.save_baseline:
        return None, None, SESSION_PRIOR
    store = BaselineStore(options.baselines_dir)
    slug, fid = machine.fingerprint.slug, machine.fingerprint.id
    noise = store.noise(slug, key, fid)  # the noise file, read once
    measured = noise.between_sessions(store.noise_path(slug, key)) if noise else None
    return store.load(slug, key, fid), noise.runs if noise else None, measured or SESSION_PRIOR


#: The machine's own degrees of freedom a series' pair spread needs before it sizes the
#: pairs (below them: the noise file, else :data:`PAIRED_PAIRS`).
MIN_SIZING_DF = 8


def paired_pairs(
    options: PerfOptions,
    settings: VerdictSettings,
    slug: str,
    fid: str | None,
    key: str,
    variant: str,
) -> tuple[int, str | None]:
    """How many pairs ``variant`` runs tonight, and a notice saying why: ``--perf-pairs``
    when given (or outside the paired nightly); else the fewest that flag a lasting
    :data:`LASTING_DROP` within :data:`WINDOW` nights
    (:func:`~bf16perf.verdicts.paired_sizing.pairs_for`) at the pair spread this series'
    nights measured (at least :data:`MIN_SIZING_DF` degrees of freedom), else at the one the
    machine's noise file implies (a pair's log ratio is two runs of one session: sqrt(2)
    times their spread), else :data:`PAIRED_PAIRS`, at the variant's share of the error
    budget (``settings.alpha``).  Raises :class:`~bf16perf.store.baseline.BaselineError`
    for a bad noise file."""
    if not options.paired or options.pairs_given:
        return options.pairs, None
    assert options.reference_name is not None
    lines = read_history(options.history_path)
    nights = pair_nights(lines, slug, key, options.reference_name, options.train.inject_slowdown)
    none = Spread(math.nan, 0, "none")
    spread: Spread | None = pair_spread(nights[-WINDOW:], nights[:-WINDOW][-HORIZON:], none)
    if spread is not None and spread.df < MIN_SIZING_DF:
        noise = BaselineStore(options.baselines_dir).load_noise(slug, key, fid)
        spread = None
        if noise is not None:
            spread = Spread(math.sqrt(2) * noise.sigma, noise.df, f"sqrt(2) x {noise.source}")
    if spread is None:
        return PAIRED_PAIRS, (
            f"{variant}: {PAIRED_PAIRS} pairs tonight (the default): no pair spread measured"
            f" yet; {MIN_SIZING_DF} degrees of freedom of this series' nights, or bf16perf"
            " calibrate, size them"
        )
    pairs = pairs_for(spread, settings.alpha, settings.max_regression)
    aim = (
        f"flag a lasting {LASTING_DROP:.0%} drop within {WINDOW} nights at"
        f" {SIZING_POWER:.0%} power at the pair spread {pct(spread.sigma)} ({spread.source})"
    )
    if pairs is None:
        return MAX_PAIRS, (
            f"{variant}: {MAX_PAIRS} pairs tonight, the most the paired nightly runs; even"
            f" they do not {aim}: longer runs (a larger --perf-profile) scatter less"
        )
    return pairs, f"{variant}: {pairs} pairs tonight, the fewest that {aim}"


def training_verdicts(
    test: str,
    name: str,
    runs: list[RunResult],
    *,
    options: PerfOptions,
    settings: VerdictSettings,
    machine: Machine,
    key: str,
    baseline: Baseline | None,
    noise: Spread | None,
    pairs: AbPairs | None = None,
    sessions: Spread = SESSION_PRIOR,
    gating: bool = True,
) -> tuple[list[Decision], list[str]]:
    """A variant's verdicts and notices: the paired nightly's against a kept reference
    (tonight's pairs with the last nights'), an ad-hoc A/B's against the reference stack,
    else against the stored baseline; saving a baseline decides nothing and says where it
    went.  A verdict that does not ``gating`` is a notice."""
    slug = machine.fingerprint.slug
    if pairs is not None and options.reference_name is not None:
        found, notices = paired_verdicts(test, pairs, options, settings, slug, key)
        return (found if gating else [as_notice(d) for d in found]), notices
    if pairs is not None:
        found = apply.against_reference(
            test, pairs.candidate, pairs.reference, pairs.order, settings
        )
        return found, []
    if options.save_baseline:
        doc = baseline_document(
            runs,
            fingerprint=machine.fingerprint.to_dict(),
            metadata=machine.metadata.to_dict(),
            name=name,
            fullname=test,
        )
        store = BaselineStore(options.baselines_dir)
        path, previous, held = store.save(slug, key, doc, keep=options.baseline_sessions)
        kept = f" (previous kept as {previous})" if previous else ""
        return [], [
            f"{test}: baseline of {len(runs)} runs saved to {path}, which now holds {held}"
            f" session{'s' if held != 1 else ''}{kept}"
        ]
    if baseline is None:
        stored = BaselineStore(options.baselines_dir).keys(slug)
        return [apply.no_baseline(test, slug, key, settings, stored)], []
    before = None
    if not options.release:  # the nightly's two-session rule reads the session before
        before = previous_session(read_history(options.history_path), slug, key)
    return apply.against_baseline(test, runs, baseline, settings, noise, sessions, before), []


def paired_verdicts(
    test: str,
    pairs: AbPairs,
    options: PerfOptions,
    settings: VerdictSettings,
    slug: str,
    key: str,
) -> tuple[list[Decision], list[str]]:
    """The paired nightly: tonight's pairs judged with the last nights' against the same
    reference (read from the history), and the machine's own drift as a notice."""
    assert options.reference_name is not None
    lines = read_history(options.history_path)
    injected = options.train.inject_slowdown
    before = pair_nights(lines, slug, key, options.reference_name, injected)
    found = apply.paired_nightly(
        test, pairs.candidate, pairs.reference, pairs.order, settings, before
    )
    drift = machine_drift(
        lines,
        slug,
        key,
        options.reference_name,
        apply.figures(pairs.candidate),
        apply.figures(pairs.reference),
        threshold=options.max_regression,
    )
    return found, [drift] if drift else []


def release_gate(
    test: str, training_runs: TrainingRuns, options: PerfOptions, settings: VerdictSettings
) -> tuple[Decision, GateVerdict]:
    """The bf16/fp32 gate over interleaved pairs; when the first look is inconclusive and
    ``--perf-extra-pairs`` allows, one more look with more pairs (both at half the error)."""
    # a gate that is a notice (the paired nightly) spends no extra runs on a second look
    looks = 2 if options.extra_pairs > 0 and gates(None, options) else 1
    count = options.pairs if options.ab_mode else options.repeats
    decision, verdict = apply.gate(test, *training_runs.gate_pairs(count), settings, looks)
    if decision.outcome is Outcome.INCONCLUSIVE and looks == 2:
        more = training_runs.gate_pairs(count + options.extra_pairs)
        decision, verdict = apply.gate(test, *more, settings, looks)
    return (decision if gates(None, options) else as_notice(decision)), verdict


def amx_notice(capped: list[RunResult], training_runs: TrainingRuns) -> str:
    """What AMX buys over AVX512-BF16 on this machine, and, where fp32 ran in this session,
    what AVX512-BF16 alone buys over fp32: ratios of geometric means of run figures with a
    95% t interval over runs, the unit of every verdict (figures, not gates: on Sapphire
    and Emerald Rapids AVX512-BF16 kernels are slower than fp32 ones, BENCHMARKS.md E)."""
    bf16 = training_runs.runs[BF16.name] or training_runs.runs_of(BF16, 1)
    amx = unpaired_log_ratio(apply.figures(bf16), apply.figures(capped), confidence=0.95)
    text = (
        f"{capped[0].label}: {_geomean(capped):.2f} images/s against {_geomean(bf16):.2f}"
        f" for bf16 on {bf16[0].proof.isa} (geometric means of"
        f" {_count(capped)} and {_count(bf16)}): AMX/AVX512-BF16 = {_ratio_text(amx)}"
    )
    fp32 = training_runs.runs[FP32.name]
    if fp32:
        alone = unpaired_log_ratio(apply.figures(capped), apply.figures(fp32), confidence=0.95)
        text += f"; AVX512-BF16/fp32 = {_ratio_text(alone)} (against {_count(fp32)} of fp32)"
    if len(capped) == 1:
        text += (
            f"; {capped[0].label} ran once (its default, the session's slowest steps):"
            " indicative ratios, --perf-repeats N for more runs"
        )
    return text


def _geomean(runs: list[RunResult]) -> float:
    return math.exp(statistics.fmean(math.log(x) for x in apply.figures(runs)))


def _count(runs: list[RunResult]) -> str:
    return f"{len(runs)} run{'s' if len(runs) != 1 else ''}"


def _ratio_text(est: LogRatio) -> str:
    if not est.spread.known:
        return f"{est.ratio:.3f}x (no interval: one run each side; --perf-repeats 2 or more)"
    return f"{est.ratio:.3f}x, 95% CI over runs {interval_text(est.low, est.high)}"


@dataclass(frozen=True)
class BenchmarkRecord:
    """What pytest-benchmark and the JUnit XML get from a test's runs: every measured step
    of every run (one round each), and the run figures, the unit of the verdicts."""

    steps: list[float]
    extra_info: dict[str, Any]
    properties: dict[str, object]


def benchmark_record(runs: list[RunResult], machine: Machine, key: str) -> BenchmarkRecord:
    figures = apply.figures(runs)
    extra = {
        **runs[0].to_dict(),
        "run_figures": figures,
        "runs": [r.to_dict() for r in runs],
        "fingerprint": machine.fingerprint.to_dict(),
    }
    properties: dict[str, object] = {
        "run_figures": " ".join(f"{x:.4f}" for x in figures),
        "median_images_per_second": f"{runs[0].figure:.4f}",
        "measured_steps": len(runs[0].step_times_s),
        "workload": key,
        "kernel_proof": "; ".join(proof_lines(runs[0].kernels)),
    }
    steps = [t for run in runs for t in run.step_times_s]
    return BenchmarkRecord(steps, extra, properties)
