"""The corpus analysis's rules and models (benchmarks/corpus.py prints them): its fixed
settings and seeds, one night under one Holm budget, the model-based rates of unchanged
nights (the single-session rule and the two-session rule), the gate's coverage and the
A/B decisions at a real slowdown.  Fixed before the data they are applied to."""

from __future__ import annotations

import math
import random
import statistics
from typing import Any

from bf16perf.calibration.noise import Noise
from bf16perf.calibration.replay import NightlyRule, nightly_exit
from bf16perf.stats.figures import Spread
from bf16perf.stats.power import pairs_needed
from bf16perf.store.calibration_session import CalibrationSession
from bf16perf.verdicts import (
    SESSION_PRIOR,
    ab_rule,
    balanced_order,
    gate_rule,
    holm,
    sessions_rule,
)
from bf16perf.verdicts.outcomes import Outcome

K = 7
ALPHA = 0.01
THRESHOLD = 0.05
SIM_SEED = 20261202
GATE_SEED = 20261203
SIM_NIGHTS = 30_000
CONFIRM_SEED = 20261204
CONFIRM_NIGHTS = 5_000


def night(
    current: dict[str, list[float]],
    baseline: list[dict[str, list[float]]],
    session: Spread,
) -> tuple[int, list[Outcome]]:
    """One night's exit code from its throughput verdicts, under one Holm budget."""
    verdicts = []
    for variant, figures in current.items():
        if not figures:
            continue
        verdicts.append(
            sessions_rule(
                figures,
                [b[variant] for b in baseline],
                max_regression=THRESHOLD,
                alpha=ALPHA,
                session=session,
            )
        )
    adjusted = holm([v.estimate.p_less for v in verdicts])
    outcomes = []
    for v, p in zip(verdicts, adjusted, strict=True):
        if v.outcome is Outcome.REGRESSION and not p < ALPHA:
            outcomes.append(Outcome.INCONCLUSIVE)
        else:
            outcomes.append(v.outcome)
    return (10 if Outcome.REGRESSION in outcomes else 0), outcomes


def simulate_confirmed(noise: Noise, runs: int, bf16: bool) -> None:
    """Model-based exit 10 rate of the two-session rule: each simulated night is judged
    with the night before it, both against one baseline of ``m`` sessions."""
    rng = random.Random(CONFIRM_SEED)
    planned = 4 if bf16 else 2
    rule = NightlyRule(SESSION_PRIOR, THRESHOLD, ALPHA, planned)
    n = CONFIRM_NIGHTS
    scenarios = (
        ("measured", noise.tau, 0.0),
        ("upper 95% of tau", noise.tau_ci[1], 0.0),
        ("measured, 1 session in 16 drawn 20% slow", noise.tau, 1 / 16),
    )
    for label, tau, tail in scenarios:
        for m in (7, 3):
            tens = 0

            def draw(tau: float = tau, tail: float = tail) -> dict[str, list[float]]:
                night = _simulated_session(rng, noise.sigma, tau, runs, bf16)
                if rng.random() < tail:
                    night = {k: [x * 0.8 for x in v] for k, v in night.items()}
                return {k: v for k, v in night.items() if v}

            for _ in range(n):
                base = [draw() for _ in range(m)]
                before, today = draw(), draw()
                tens += nightly_exit(rule, today, base, before, base) == 10
            print(
                f"  {label} ({noise.sigma:.2%} runs, {tau:.2%} sessions), {m} baseline"
                f" sessions: exit 10 on {tens / n:.2%} of {n} nights"
            )


def _simulated_session(
    rng: random.Random, sigma: float, tau: float, runs: int, bf16: bool
) -> dict[str, list[float]]:
    """One unchanged session: one session draw shared by fp32 and bf16, one per run."""
    s = rng.gauss(0, tau)
    return {
        "fp32": [math.exp(s + rng.gauss(0, sigma)) for _ in range(runs)],
        "bf16": [math.exp(s + rng.gauss(0, sigma)) for _ in range(runs)] if bf16 else [],
    }


def simulate(noise: Noise, runs: int, bf16: bool) -> None:
    rng = random.Random(SIM_SEED)
    n = SIM_NIGHTS // 6
    for label, tau in (("measured", noise.tau), ("upper 95% of tau", noise.tau_ci[1])):
        for m in (7, 3, 1):
            tens = 0
            for _ in range(n):
                base = [_simulated_session(rng, noise.sigma, tau, runs, bf16) for _ in range(m)]
                today = _simulated_session(rng, noise.sigma, tau, runs, bf16)
                tens += night(today, base, SESSION_PRIOR)[0] == 10
            print(
                f"  {label} ({noise.sigma:.2%} runs, {tau:.2%} sessions), {m} baseline"
                f" sessions: exit 10 on {tens / n:.2%} of {n} nights"
            )


def gate(sessions: list[CalibrationSession], slope: float) -> None:
    real = [s for s in sessions if s.bf16 and len(s.bf16) == len(s.figures)]
    if not real:
        print("  no bf16 runs in the corpus (a host without bf16): no real gate decisions")
        return
    pair_logs: list[float] = []
    inside = 0
    logs_all = [math.log(b / f) for s in real for b, f in zip(s.bf16, s.figures, strict=True)]
    overall = math.exp(statistics.fmean(logs_all))
    outcomes: dict[str, int] = {}
    for s in real:
        v = gate_rule(s.bf16, s.figures, gate=1.0)
        inside += v.estimate.low <= overall <= v.estimate.high
        d = [math.log(b / f) for b, f in zip(s.bf16, s.figures, strict=True)]
        m = statistics.fmean(d)
        pair_logs.extend(x - m for x in d)
        outcomes[v.outcome.value] = outcomes.get(v.outcome.value, 0) + 1
    sd = math.sqrt(sum(x * x for x in pair_logs) / (len(pair_logs) - len(real)))
    print(
        f"  {len(real)} sessions: bf16/fp32 over all pairs {overall:.3f}; gate at 1.0:"
        f" {outcomes}; {inside} of {len(real)} session intervals cover {overall:.3f};"
        f" pair spread within a session {sd:.2%}"
    )
    rng = random.Random(GATE_SEED)
    covered, n = 0, 4000
    pairs = len(real[0].figures)
    for trial in range(n):
        bf16, fp32 = [], []
        for pair in range(pairs):
            block = balanced_order(2, f"gate-{trial}-{pair // 2}")
            first_fp32 = block[pair % 2] == "reference"
            pos_fp32 = 2 * pair + (0 if first_fp32 else 1)
            pos_bf16 = 2 * pair + (1 if first_fp32 else 0)
            own = sd / math.sqrt(2)  # the pair's log ratio then scatters by sd
            fp32.append(math.exp(slope * pos_fp32 + rng.gauss(0, own)))
            bf16.append(overall * math.exp(slope * pos_bf16 + rng.gauss(0, own)))
        v = gate_rule(bf16, fp32, gate=1.0)
        covered += v.estimate.low <= overall <= v.estimate.high
    print(
        f"  simulated coverage of the gate's 95% interval at {pairs} pairs, pair spread"
        f" {sd:.2%}, position effect {slope:+.2%} a run: {covered / n:.1%} of {n}"
    )


def ab(data: dict[str, Any], pair_sd: float) -> None:
    cand, ref = data["candidate"], data["reference"]
    pairs = min(len(cand), len(ref))
    needed = pairs_needed(pair_sd, 0.10, ALPHA) or pairs
    d = [math.log(c / r) for c, r in zip(cand, ref, strict=True)]
    spread = statistics.stdev(d)
    print(
        f"  {pairs} pairs at an injected 10% slowdown: median ratio"
        f" {math.exp(statistics.median(d)):.3f}, pair spread {spread:.2%} (A/A from the"
        f" corpus: {pair_sd:.2%}); calibrate recommends {needed} pairs for 10%"
    )
    decisions = [
        ab_rule(cand[i : i + needed], ref[i : i + needed], max_regression=THRESHOLD, alpha=ALPHA)
        for i in range(0, pairs - needed + 1, needed)
    ]
    flagged = sum(v.outcome is Outcome.REGRESSION for v in decisions)
    print(f"  disjoint decisions of {needed} pairs: {flagged} of {len(decisions)} flag it")


def clopper_upper(k: int, n: int, level: float = 0.95) -> float:
    from scipy import stats as sps

    return 1.0 if k >= n else float(sps.beta.ppf(level, k + 1, n - k))


def figures_of(s: CalibrationSession, factor: float = 1.0) -> dict[str, list[float]]:
    return {"fp32": [x * factor for x in s.figures], "bf16": [x * factor for x in s.bf16]}


def single_exit(
    current: dict[str, list[float]],
    baseline: list[dict[str, list[float]]],
    session: Spread,
    planned: int,
) -> int:
    """A night's exit code under the single-session rule shipped before the two-session
    one (BENCHMARKS.md Y2): any verdict at its share of the budget fails the night."""
    for variant, figures in current.items():
        verdict = sessions_rule(
            figures,
            [b[variant] for b in baseline],
            max_regression=THRESHOLD,
            alpha=ALPHA / planned,
            session=session,
        )
        if verdict.outcome is Outcome.REGRESSION:
            return 10
    return 0


def position_effect(sessions: list[CalibrationSession]) -> float:
    """Pooled OLS slope of within-session log residuals on the run's position in its
    session (each precision's residuals against its own session mean); returns the slope
    per position."""
    from scipy import stats as sps

    xs: list[float] = []
    ys: list[float] = []
    for s in sessions:
        order = s.order or ["fp32"] * len(s.figures)
        by = {"fp32": list(s.figures), "bf16": list(s.bf16)}
        logs = {k: [math.log(x) for x in v] for k, v in by.items()}
        means = {k: statistics.fmean(v) for k, v in logs.items() if v}
        seen = {"fp32": 0, "bf16": 0}
        for pos, variant in enumerate(order):
            y = logs[variant][seen[variant]] - means[variant]
            seen[variant] += 1
            xs.append(pos - (len(order) - 1) / 2)
            ys.append(y)
    fit = sps.linregress(xs, ys)
    half = float(sps.t.ppf(0.975, len(xs) - 2)) * fit.stderr
    print(
        f"position in the session: {fit.slope:+.2%} per run (95% CI {fit.slope - half:+.2%} to"
        f" {fit.slope + half:+.2%}, {len(xs)} runs)"
    )
    return float(fit.slope)
