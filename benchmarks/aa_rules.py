"""The verdict rules on A/A run figures: false alarms, and detection of an exact drop on real
noise (``benchmarks/run.py noise`` prints these tables; BENCHMARKS.md V holds them)."""

from __future__ import annotations

import random
import statistics

from bf16perf.stats.figures import log_spread
from bf16perf.verdicts import ab_rule, balanced_order, baseline_rule
from bf16perf.verdicts.outcomes import Outcome

__all__ = ["aa_tables", "scaled_drops", "stored_with_prior"]


def _count(outcomes: list[Outcome]) -> str:
    n = len(outcomes)
    reg = sum(o is Outcome.REGRESSION for o in outcomes)
    ok = sum(o is Outcome.OK for o in outcomes)
    inc = sum(o is Outcome.INCONCLUSIVE for o in outcomes)
    imp = sum(o is Outcome.IMPROVED for o in outcomes)
    return f"{n} | {reg} ({reg / n:.1%}) | {ok} | {inc} | {imp}" if n else "0 | - | - | - | -"


def aa_tables(
    figures: list[float], *, repeats: int, pairs: int, threshold: float, alpha: float = 0.01
) -> None:
    """The stored-baseline and A/B rules on A/A run figures, as users get them."""
    k, n = repeats, len(figures)
    rng = random.Random(0)

    def stored(base: list[float], cur: list[float]) -> Outcome:
        return baseline_rule(cur, base, max_regression=threshold, alpha=alpha).outcome

    def ab(block: list[float]) -> Outcome:
        order = balanced_order(len(block) // 2, f"aa-{len(block)}-{block[0]}")
        cand, ref = [], []
        for i, first in enumerate(order):
            a, b = block[2 * i], block[2 * i + 1]
            ref.append(a if first == "reference" else b)
            cand.append(b if first == "reference" else a)
        return ab_rule(cand, ref, max_regression=threshold, alpha=alpha).outcome

    groups: dict[str, list[Outcome]] = {}
    groups[f"stored, {k} vs {k} runs, disjoint blocks in time"] = [
        stored(figures[i : i + k], figures[i + k : i + 2 * k])
        for i in range(0, n - 2 * k + 1, 2 * k)
    ]
    groups[f"stored, {k} vs {k} runs, sliding in time (overlapping)"] = [
        stored(figures[i : i + k], figures[i + k : i + 2 * k]) for i in range(n - 2 * k + 1)
    ]
    draws = []
    for _ in range(1000 if n >= 2 * k else 0):
        chosen = rng.sample(figures, 2 * k)
        draws.append(stored(chosen[:k], chosen[k:]))
    groups[f"stored, {k} vs {k} runs, random disjoint draws (dependent)"] = draws
    size = 2 * pairs
    groups[f"A/B, {pairs} pairs of neighbours, disjoint blocks"] = [
        ab(figures[i : i + size]) for i in range(0, n - size + 1, size)
    ]
    groups[f"A/B, {pairs} pairs of neighbours, sliding by one pair (overlapping)"] = [
        ab(figures[i : i + size]) for i in range(0, n - size + 1, 2)
    ]
    with_prior = [stored_with_prior(figures, k, rng, threshold, alpha, 0.0) for _ in draws]
    groups[f"stored, {k} vs {k} runs, random draws, noise prior from the other runs"] = [
        o for o, _ in with_prior
    ]
    print(
        f"| A/A decisions (threshold {threshold:.0%}, alpha {alpha:g}) | decisions |"
        " false alarms | ok | inconclusive | improved |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, outcomes in groups.items():
        print(f"| {name} | {_count(outcomes)} |")
    if with_prior:
        mde = statistics.median(m for _, m in with_prior)
        print(f"\nmedian detectable drop, stored rule with the noise prior: {mde:.1%}")
    scaled_drops(figures, k, pairs, threshold, alpha, rng)


def stored_with_prior(
    figures: list[float], k: int, rng: random.Random, threshold: float, alpha: float, drop: float
) -> tuple[Outcome, float]:
    """One stored-rule decision on 2k drawn runs, the current side scaled down by ``drop``,
    with the noise prior a session would get from a noise file: the other runs' spread."""
    idx = rng.sample(range(len(figures)), 2 * k)
    rest = [f for i, f in enumerate(figures) if i not in idx]
    prior = log_spread([rest], what="the other A/A runs")
    base = [figures[i] for i in idx[:k]]
    cur = [figures[i] * (1 - drop) for i in idx[k:]]
    v = baseline_rule(cur, base, max_regression=threshold, alpha=alpha, prior=prior)
    return v.outcome, v.mde


def scaled_drops(
    figures: list[float],
    k: int,
    pairs: int,
    threshold: float,
    alpha: float,
    rng: random.Random,
    drops: tuple[float, ...] = (0.05, 0.10, 0.15, 0.20),
) -> None:
    """Detection of an exact drop on real noise: A/A figures with one side scaled down."""
    print(
        "\n| drop (A/A figures scaled) | stored + noise prior: flagged | A/B sliding"
        f" {pairs}-pair blocks: flagged | A/B median printed MDE |"
    )
    print("| ---: | ---: | ---: | ---: |")
    size = 2 * pairs
    for drop in drops:
        stored = [stored_with_prior(figures, k, rng, threshold, alpha, drop)[0] for _ in range(500)]
        ab_hits, mdes = 0, []
        starts = range(0, len(figures) - size + 1, 2)
        for start in starts:
            block = figures[start : start + size]
            order = balanced_order(pairs, f"scaled-{start}")
            cand, ref = [], []
            for i, first in enumerate(order):
                a, b = block[2 * i], block[2 * i + 1]
                r, c = (a, b) if first == "reference" else (b, a)
                ref.append(r)
                cand.append(c * (1 - drop))
            v = ab_rule(cand, ref, max_regression=threshold, alpha=alpha)
            ab_hits += v.outcome is Outcome.REGRESSION
            mdes.append(v.mde)
        reg = sum(o is Outcome.REGRESSION for o in stored) / len(stored)
        mde = f"{statistics.median(mdes):.1%}" if mdes else "-"
        print(f"| {drop:.0%} | {reg:.1%} | {ab_hits} of {len(starts)} | {mde} |")
