"""The paired nightly, model-based (BENCHMARKS.md R1): simulated nights judged by exactly
the rule users get (:func:`bf16perf.verdicts.paired.paired_rule`), each night reading the
nights before it as the plugin reads them from the history.

    .venv/bin/python benchmarks/paired_sim.py [TRIALS [SPREAD ...]]   (fixed seeds)

``SPREAD``: pair spreads measured on real nights (R2), added as rows after the fixed ones.
``SPREAD`` 0 alone: R5's rows instead (the measured 8.7% and the upper end of its
interval, 12.7%, at 2 pairs and at the count the sizing gives, :mod:`paired_sizing`).

Lasting drops start after 10 nights of the series (a new user's second week) and,
in the last column, after 30.  False exits are counted over nights 5 to 14 of fresh
series.  The model of a night's log pair ratio: ``d_ij = drop_i + u_i + e_ij``.  ``e`` is the pair
noise (spread ``sigma_p``); ``u`` a candidate x night interaction, AR(1) across nights
(correlation ``rho``), spread ``sigma_u``; the session effect both stacks share cancels in
the pair and is left out.  The spreads put in: ``sigma_p`` 5.6% (32 real pairs on the
Zen 3, BENCHMARKS.md Y1) and 7.5% (the upper end of its 95% interval); ``sigma_u`` 0 and
2%; ``rho`` 0 and 0.3.  Two hosts: an fp32 host (one paired verdict at the whole
``alpha`` 0.01) and a bf16 host (fp32 and bf16 paired verdicts, each at alpha/2; in the
paired nightly the release gate is a notice and takes no share).  A last row: 3 pairs a
night (``--perf-pairs 3``) at the measured spread.

Fixed before collecting any real paired night (the analysis, the spreads, the seeds).
"""

from __future__ import annotations

import math
import sys

import numpy as np

from bf16perf.verdicts.outcomes import Outcome
from bf16perf.verdicts.paired import PairNight, paired_rule
from bf16perf.verdicts.paired_sizing import MAX_PAIRS

SEED = 20261207
ALPHA = 0.01
THRESHOLD = 0.05
PAIRS = 2
BURN_IN = 10  # nights of the series before the first one counted
HOSTS = {"fp32 host": (1, ALPHA), "bf16 host": (2, ALPHA / 2)}


def _interaction(rng: np.random.Generator, nights: int, sigma_u: float, rho: float) -> np.ndarray:
    u = np.empty(nights)
    u[0] = rng.normal(0, sigma_u)
    for i in range(1, nights):
        u[i] = rho * u[i - 1] + rng.normal(0, sigma_u * math.sqrt(1 - rho**2))
    return u


def series(
    rng: np.random.Generator,
    nights: int,
    sigma_p: float,
    sigma_u: float,
    rho: float,
    drop_from: int | None = None,
    drop: float = 0.0,
) -> list[tuple[float, ...]]:
    """One variant's nights of log pair ratios."""
    u = _interaction(rng, nights, sigma_u, rho)
    out = []
    for i in range(nights):
        shift = math.log(1 - drop) if drop_from is not None and i >= drop_from else 0.0
        out.append(tuple(shift + u[i] + rng.normal(0, sigma_p, PAIRS)))
    return out


def flags(nights: list[tuple[float, ...]], alpha: float, start: int, stop: int) -> list[bool]:
    """Whether each night from ``start`` to ``stop`` fails, judged against the nights
    before it (the whole series since its first night, as the history holds it)."""
    out = []
    for i in range(start, stop):
        before = [PairNight(str(j), nights[j]) for j in range(i)]
        v = paired_rule(nights[i], before, max_regression=THRESHOLD, alpha=alpha)
        out.append(v.outcome is Outcome.REGRESSION)
    return out


def false_exits(trials: int, sigma_p: float, sigma_u: float, rho: float) -> dict[str, float]:
    """Per unchanged night: the share that exits 10, on each host."""
    found = {}
    for host, (variants, alpha) in HOSTS.items():
        rng = np.random.default_rng([SEED, int(sigma_p * 1e4), int(sigma_u * 1e4), int(rho * 10)])
        nights = exits = 0
        for _ in range(trials):
            per_variant = [
                flags(series(rng, BURN_IN + 5, sigma_p, sigma_u, rho), alpha, 5, BURN_IN + 5)
                for _ in range(variants)
            ]
            for night in zip(*per_variant, strict=True):
                nights += 1
                exits += any(night)
        found[host] = exits / nights
    return found


def flagged_within(
    trials: int,
    sigma_p: float,
    sigma_u: float,
    rho: float,
    drop: float,
    alpha: float,
    burn_in: int = BURN_IN,
) -> float:
    """The share of start nights at which a lasting ``drop`` (from night ``burn_in`` on)
    is flagged within 3 nights."""
    rng = np.random.default_rng([SEED + 1, int(sigma_p * 1e4), int(drop * 100), int(rho * 10)])
    hit = 0
    for _ in range(trials):
        nights = series(rng, burn_in + 3, sigma_p, sigma_u, rho, burn_in, drop)
        hit += any(flags(nights, alpha, burn_in, burn_in + 3))
    return hit / trials


def main(trials: int = 400, measured: tuple[float, ...] = ()) -> None:
    """The table; ``measured``: pair spreads measured on this machine's real nights (and
    the upper end of their interval), added as rows at 2, 3 and 4 pairs a night."""
    global PAIRS  # series() reads it
    print(f"paired nightly, {PAIRS} pairs a night, threshold {THRESHOLD:.0%}, alpha {ALPHA}")
    print(f"seed {SEED}; {trials} series per row ({trials * 10} nights for the false exits)\n")
    print("| pairs | pair spread | night excess | rho | false exit 10 / night, fp32 host |"
          " bf16 host | lasting 5% | 10% | 20% (fp32 host) |"
          " 10% (bf16 host) | 10%, after 30 nights (fp32 / bf16 host) |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = [(2, p, u, r) for p in (0.056, 0.075) for u, r in ((0.0, 0.0), (0.02, 0.0), (0.02, 0.3))]
    rows.append((3, 0.056, 0.0, 0.0))
    for sigma in measured:
        rows += [
            (2, sigma, 0.0, 0.0),
            (2, sigma, 0.02, 0.3),
            (3, sigma, 0.0, 0.0),
            (4, sigma, 0.0, 0.0),
        ]
    if measured and measured[0] == 0:  # R5: the sized pairs and the prior's floor
        rows = [
            (pairs, sigma, u, r)
            for sigma, sized in ((0.087, 5), (0.127, MAX_PAIRS))
            for pairs in (2, sized)
            for u, r in ((0.0, 0.0), (0.02, 0.3))
        ]
    for pairs, sigma_p, sigma_u, rho in rows:
        PAIRS = pairs
        fa = false_exits(trials, sigma_p, sigma_u, rho)
        power = [flagged_within(trials, sigma_p, sigma_u, rho, d, ALPHA) for d in (0.05, 0.1, 0.2)]
        bf16 = flagged_within(trials, sigma_p, sigma_u, rho, 0.1, ALPHA / 2)
        late = [
            flagged_within(trials, sigma_p, sigma_u, rho, 0.1, a, burn_in=30)
            for a in (ALPHA, ALPHA / 2)
        ]
        print(
            f"| {pairs} | {sigma_p:.1%} | {sigma_u:.1%} | {rho} | {fa['fp32 host']:.2%} |"
            f" {fa['bf16 host']:.2%} | {power[0]:.1%} | {power[1]:.1%} | {power[2]:.1%} |"
            f" {bf16:.1%} | {late[0]:.1%} / {late[1]:.1%} |",
            flush=True,
        )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 400,
        tuple(float(x) for x in sys.argv[2:]),
    )
