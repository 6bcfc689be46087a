"""The nightly verdicts on simulated sessions with a session effect, calling exactly the
rules users get (BENCHMARKS.md N): how often an unchanged night fails or cannot tell
against a baseline from another session, with and without the between-session term, and
the gate's coverage under drift within a pair, fixed order against balanced order.

    .venv/bin/python benchmarks/nightly_sim.py     (fixed seeds; about a minute)

Model-based only: the figures are as good as the spreads put in (runs 5.7% around their
session, BENCHMARKS.md V1; session effects 4.4% and 8.6%, W4).
"""

from __future__ import annotations

import math

import numpy as np

from bf16perf.verdicts import SESSION_PRIOR, baseline_rule, gate_rule
from bf16perf.verdicts.outcomes import Outcome

RUN_SD = 0.057


def stored_table(trials: int = 2000, runs: int = 3) -> None:
    """Markdown: A/A nights, one-session baseline, ``runs`` runs a side."""
    print(f"A/A nights, {runs} runs a side, run sd {RUN_SD:.1%}, {trials} nights per row\n")
    print("| session effect | rule | REGRESSION (exit 10) | cannot tell | ok |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for tau in (0.0, 0.044, 0.086):
        for name, session in (("runs only", None), ("with the session prior", SESSION_PRIOR)):
            rng = np.random.default_rng(int(tau * 1000) + 1)
            counts = {o: 0 for o in Outcome}
            for _ in range(trials):
                base, now = (
                    list(np.exp(rng.normal(0, tau) + rng.normal(0, RUN_SD, runs))) for _ in range(2)
                )
                v = baseline_rule(now, base, max_regression=0.05, alpha=0.01, session=session)
                counts[v.outcome] += 1
            print(
                f"| {tau:.1%} | {name} | {counts[Outcome.REGRESSION] / trials:.2%} |"
                f" {counts[Outcome.INCONCLUSIVE] / trials:.1%} |"
                f" {counts[Outcome.OK] / trials:.1%} |",
                flush=True,
            )
    v = baseline_rule(
        [10.0, 10.6, 9.5], [10.1, 9.6, 10.5], max_regression=0.05, session=SESSION_PRIOR
    )
    print(f"\ndetectable drop, 3 vs 3 runs under the prior: {v.mde:.1%}")


def gate_table(trials: int = 1500) -> None:
    """Markdown: the default gate (3 pairs, 2 more when inconclusive) at a true ratio equal
    to the gate, each run 2% slower than the one before, 3% run noise."""
    print("\n| order within a pair | covered (95% nominal) | wrongly failed (2.5% nominal) |")
    print("| --- | ---: | ---: |")
    for name in ("fp32 always first", "balanced, seeded"):
        rng = np.random.default_rng(22)
        covered = wrong = 0
        for _ in range(trials):
            noise = rng.normal(0, 0.03, 10)
            firsts = (
                ["fp32"] * 5
                if name.startswith("fp32")
                else [p for _ in range(3) for p in rng.permutation(["fp32", "bf16"])][:5]
            )
            order = [v for f in firsts for v in ((f, "bf16") if f == "fp32" else ("bf16", "fp32"))]
            level = [math.exp(-0.02 * (i + 1) + noise[i]) for i in range(10)]
            bf16 = [15 * level[i] for i, v in enumerate(order) if v == "bf16"]
            fp32 = [10 * level[i] for i, v in enumerate(order) if v == "fp32"]
            verdict = gate_rule(bf16[:3], fp32[:3], gate=1.5, looks=2)
            if verdict.outcome is Outcome.INCONCLUSIVE:
                verdict = gate_rule(bf16, fp32, gate=1.5, looks=2)
            covered += verdict.estimate.low <= 1.5 <= verdict.estimate.high
            wrong += verdict.outcome is Outcome.GATE_FAILED
        print(f"| {name} | {covered / trials:.1%} | {wrong / trials:.1%} |", flush=True)


if __name__ == "__main__":
    stored_table()
    gate_table()
