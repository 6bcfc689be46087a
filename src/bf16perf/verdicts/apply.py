"""From a test's runs to its recorded verdicts: which rule applies, with what inputs.

The rules themselves are pure (:mod:`bf16perf.verdicts`); this module turns typed runs and
baselines into :class:`~bf16perf.verdicts.outcomes.Decision` values for one test, so that the perf
tests read like a specification and ``benchmarks/run.py`` can call exactly the rules
users get.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bf16perf.onednn.attribution import grown_text
from bf16perf.onednn.run_proof import RunProof
from bf16perf.stats.figures import Spread
from bf16perf.stats.power import signed_rank_pairs
from bf16perf.store.baseline import Baseline
from bf16perf.verdicts import (
    SESSION_PRIOR,
    GateVerdict,
    ThroughputVerdict,
    ab_rule,
    bf16_loss_rule,
    gate_rule,
    loss_rule,
    sessions_rule,
)
from bf16perf.verdicts.confirm import confirmed
from bf16perf.verdicts.outcomes import Decision, Outcome
from bf16perf.verdicts.paired import PairNight, paired_rule
from bf16perf.verdicts.settings import VerdictSettings
from bf16perf.verdicts.trend import PreviousSession
from bf16perf.workloads.config import key_difference, nearest_keys
from bf16perf.workloads.results import RunResult

# The loss curve of a synthetic-data run is deterministic (fixed seeds): the tolerance only
# absorbs summation-order noise between runs, so it is fixed, not an option.
LOSS_ATOL = 1e-3
LOSS_RTOL = 1e-3

__all__ = [
    "LOSS_ATOL",
    "LOSS_RTOL",
    "against_baseline",
    "against_reference",
    "bf16_loss",
    "figures",
    "gate",
    "judged",
    "no_baseline",
    "paired_nightly",
]


def figures(runs: Sequence[RunResult]) -> list[float]:
    """Each run's figure (:attr:`RunResult.figure`)."""
    return [r.figure for r in runs]


def judged(
    outcome: Outcome, detail: str, settings: VerdictSettings, figures: dict[str, Any]
) -> tuple[Outcome, str]:
    """A throughput verdict's outcome in the session's mode.  Release (``--perf-release``):
    as the rule says, so "cannot rule out a drop" is INCONCLUSIVE.  Nightly (the default):
    only evidence of a drop fails; "cannot tell" is UNDECIDED, a notice that says what
    would decide it."""
    if outcome is not Outcome.INCONCLUSIVE or settings.release:
        return outcome, detail
    ways = []
    if figures.get("runs_needed"):
        ways.append(f"{figures['runs_needed']} runs a session (--perf-repeats)")
    elif figures.get("session_sigma") is not None and figures.get("runs_needed") is None:
        ways.append(
            "no number of runs, against one session's draw: a calibration of this machine's"
            " session spread (bf16perf calibrate), if its sessions agree better"
        )
    elif "runs_needed" in figures and figures["runs_needed"] is None:
        ways.append("a baseline of more runs (--perf-save-baseline with more --perf-repeats)")
    sigma = figures.get("sigma")
    if "baseline_runs" in figures and sigma:
        # a pair's log ratio has about sqrt(2) times the between-run spread
        pairs = signed_rank_pairs(sigma * math.sqrt(2), settings.max_regression, settings.alpha)
        if pairs:
            ways.append(f"A/B with {pairs} pairs (--perf-reference-python)")
    elif figures.get("pairs_needed"):
        ways.append(f"{figures['pairs_needed']} pairs (--perf-pairs)")
    if settings.trend_confirm:
        ways.append(f"a lasting drop shows in the trend after {settings.trend_confirm} sessions")
    return Outcome.UNDECIDED, (
        f"{detail}; nightly mode: not a failure, since only evidence of a drop fails"
        f" (--perf-release requires ruling it out); would decide: {'; or '.join(ways)}"
    )


def no_baseline(
    test: str, slug: str, key: str, settings: VerdictSettings, kept: Sequence[str] = ()
) -> Decision:
    """No baseline matches: a notice in the nightly; in release mode INCONCLUSIVE (exit
    11), since a release wants proof, not absence of evidence.  Names the nearest kept
    keys on this machine and what differs."""
    near = "; ".join(f"{k} ({key_difference(key, k)})" for k in nearest_keys(key, kept))
    text = (
        f"no baseline for machine {slug}, workload {key} in {settings.baselines_dir}"
        f"{f'; nearest kept: {near}' if near else '; this machine has no baseline at all'}"
        " (save one with --perf-save-baseline)"
    )
    if not settings.release:
        return Decision(test, "throughput", Outcome.NO_BASELINE, text)
    text = f"--perf-release: no evidence, so no release verdict: {text}"
    return Decision(test, "throughput", Outcome.INCONCLUSIVE, text)


def against_baseline(
    test: str,
    runs: Sequence[RunResult],
    baseline: Baseline,
    settings: VerdictSettings,
    noise: Spread | None = None,
    sessions: Spread = SESSION_PRIOR,
    previous: PreviousSession | None = None,
) -> list[Decision]:
    """The throughput verdict (run figures against the baseline's), then, with synthetic
    data, the loss-curve verdict: both are recorded whatever the first says.  In the
    nightly mode a drop is a regression only when ``previous`` (the session before this one
    in the history) confirms it (:mod:`bf16perf.verdicts.confirm`)."""

    def rule(current: Sequence[float], kept: Sequence[Sequence[float]]) -> ThroughputVerdict:
        return sessions_rule(
            current,
            kept,
            max_regression=settings.max_regression,
            alpha=settings.alpha,
            prior=noise,
            session=sessions,  # the baseline is other sessions'
            baseline_path=str(baseline.path),
            described=baseline.described,
        )

    if settings.release:  # one session judged as it is
        verdict, confirmation = rule(figures(runs), baseline.session_figures), None
    else:
        verdict, confirmation = confirmed(
            rule,
            figures(runs),
            baseline.session_figures,
            previous.figures if previous else None,
            baseline.figures_before(previous.started) if previous else [],
            previous.started if previous else None,
        )
    found = verdict.to_dict()
    if confirmation is None:
        outcome, detail = judged(verdict.outcome, verdict.detail, settings, found)
    else:
        outcome, detail = confirmation.outcome, verdict.detail + confirmation.text()
        found["confirmation"] = confirmation.to_dict()
        if confirmation.p is not None:  # the p the session's Holm adjustment reads
            found["p_tonight"], found["p"] = found.get("p"), confirmation.p
    if Outcome.REGRESSION in (verdict.outcome, outcome):
        detail += _what_changed(runs[0].kernels, baseline.runs[0].kernels)
    out = [Decision(test, "throughput", outcome, detail, found)]
    if runs[0].config.data_dir is None:
        loss = loss_rule(
            runs[0].losses,
            baseline.losses,
            atol=LOSS_ATOL,
            rtol=LOSS_RTOL,
            baseline_path=str(baseline.path),
        )
        out.append(Decision(test, "loss curve", loss.outcome, loss.detail))
    return out


def _what_changed(
    now: dict[str, Any] | None, before: dict[str, Any] | None, where: str = "against the baseline's"
) -> str:
    """The parts of the step that grew most against the baseline's (or the reference's)
    profile, as a clause (empty where either side has no available profile)."""
    text = grown_text(RunProof.of(before).profile, RunProof.of(now).profile, where)
    return f"; {text}" if text else ""


def against_reference(
    test: str,
    candidate: Sequence[RunResult],
    reference: Sequence[RunResult],
    order: Sequence[str],
    settings: VerdictSettings,
) -> list[Decision]:
    """The A/B throughput verdict, then the candidate's loss curve against the reference's
    (same seeds: a different stack may move it; a different curve is a notice-worthy
    DRIFT only beyond the bf16 loss band, since kernels may legitimately round otherwise)."""
    verdict = ab_rule(
        figures(candidate),
        figures(reference),
        max_regression=settings.max_regression,
        alpha=settings.alpha,
        order=order,
    )
    outcome, detail = judged(verdict.outcome, verdict.detail, settings, verdict.to_dict())
    # whatever the outcome: what differs between the two stacks' lone steps
    detail += _what_changed(candidate[0].kernels, reference[0].kernels, "against the reference's")
    out = [Decision(test, "A/B throughput", outcome, detail, verdict.to_dict())]
    return [*out, _ab_loss(test, candidate[0], reference[0], settings)]


def _ab_loss(
    test: str, candidate: RunResult, reference: RunResult, settings: VerdictSettings
) -> Decision:
    """The candidate's loss curve against the reference's (same seeds: a different stack may
    move it; DRIFT only beyond the bf16 loss band), for the A/B and the paired verdicts."""
    loss = bf16_loss_rule(
        candidate.losses,
        reference.losses,
        band=settings.bf16_loss_band,
        names=("candidate", "reference"),
    )
    return Decision(test, "A/B loss", loss.outcome, loss.detail)


def paired_nightly(
    test: str,
    candidate: Sequence[RunResult],
    reference: Sequence[RunResult],
    order: Sequence[str],
    settings: VerdictSettings,
    before: Sequence[PairNight],
) -> list[Decision]:
    """The paired nightly's throughput verdict (tonight's pairs with the nights
    ``before``), then the candidate's loss curve against the reference's."""
    logs = [math.log(c / r) for c, r in zip(figures(candidate), figures(reference), strict=True)]
    verdict = paired_rule(
        logs, before, max_regression=settings.max_regression, alpha=settings.alpha
    )
    found = {**verdict.to_dict(), "order": list(order), "reference": settings.reference_name}
    found.update(candidate_runs=figures(candidate), reference_runs=figures(reference))
    outcome, detail = verdict.outcome, verdict.detail
    if outcome is Outcome.INCONCLUSIVE and not settings.release:
        outcome = Outcome.UNDECIDED
        detail += (
            "; nightly mode: not a failure, since only evidence of a drop fails; would"
            " decide: the next nights' pairs (a lasting drop shows in the window), or more"
            " pairs a night (--perf-pairs 3)"
        )
    detail += _what_changed(candidate[0].kernels, reference[0].kernels, "against the reference's")
    out = [Decision(test, "paired throughput", outcome, detail, found)]
    return [*out, _ab_loss(test, candidate[0], reference[0], settings)]


def gate(
    test: str,
    bf16: Sequence[RunResult],
    fp32: Sequence[RunResult],
    settings: VerdictSettings,
    looks: int,
) -> tuple[Decision, GateVerdict]:
    """The release gate over interleaved pairs; the decision and the typed verdict."""
    emulated = any(r.proof.emulated for r in bf16)
    verdict = gate_rule(
        figures(bf16),
        figures(fp32),
        gate=settings.min_bf16_speedup,
        looks=looks,
        emulated=emulated,
        fail_alpha=settings.alpha,
    )
    if not emulated and any(r.kernels and not r.proof.available for r in bf16):
        verdict = verdict.without_proof()
    decision = Decision(test, "bf16 gate", verdict.outcome, verdict.detail, verdict.to_dict())
    return decision, verdict


def bf16_loss(test: str, bf16: RunResult, fp32: RunResult, band: float) -> Decision:
    """bf16's loss curve against fp32's over the steps both printed a loss for (a command
    workload may print fewer; the built-in prints every step)."""
    n = min(len(bf16.losses), len(fp32.losses))
    verdict = bf16_loss_rule(bf16.losses[:n], fp32.losses[:n], band=band)
    return Decision(test, "bf16 vs fp32 loss", verdict.outcome, verdict.detail)
