"""The stored rule's session prior from the pooled A/A corpora (BENCHMARKS.md R4): each
corpus's between-session spread (one-way random effects,
:func:`bf16perf.calibration.noise.estimate`),
pooled by degrees of freedom, with a chi-square interval on the pooled degrees of freedom.

    .venv/bin/python benchmarks/session_prior.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from scipy import stats as sps

from bf16perf.calibration.noise import estimate

CORPORA = (
    "corpus-zen3-smoke-20261202.json",
    "corpus-zen3-smoke-20261202b.json",
    "corpus-zen4-bf16-smoke-20261202.json",
)


def main() -> None:
    ss = df = 0.0
    print("| corpus | sessions | runs a session | within | between (95% CI) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in CORPORA:
        doc = json.loads((Path(__file__).parent / "data" / name).read_text())
        groups = [s["figures"] for s in doc["sessions"]]
        noise = estimate(groups)
        lo, hi = noise.tau_ci
        print(
            f"| {name} | {len(groups)} | {len(groups[0])} | {noise.sigma:.2%} |"
            f" {noise.tau:.2%} ({lo:.2%} to {hi:.2%}) |"
        )
        ss += noise.tau**2 * noise.session_df
        df += noise.session_df
    tau = math.sqrt(ss / df)
    low = math.sqrt(ss / float(sps.chi2.ppf(0.975, df)))
    high = math.sqrt(ss / float(sps.chi2.ppf(0.025, df)))
    print(f"\npooled between-session spread: {tau:.2%}, 95% CI {low:.2%} to {high:.2%},", end="")
    print(f" {df:.0f} df")


if __name__ == "__main__":
    main()
