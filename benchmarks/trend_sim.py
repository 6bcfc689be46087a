"""The change-point rule on synthetic nightly series with this machine's noise: how often a
stationary series ends in a false change point, and how often a 10% step is found with 3
sessions after it (``benchmarks/run.py changepoints``; BENCHMARKS.md W)."""

from __future__ import annotations

import math

import numpy as np

from bf16perf.stats.changepoints import ar1_series as _ar1
from bf16perf.stats.changepoints import detect

__all__ = ["changepoint_table"]


def changepoint_table(
    run_sd: float = 0.0567, runs_per_session: int = 3, length: int = 30, draws: int = 600
) -> None:
    """Markdown: false change points in the last 6 sessions, and 10% steps found within
    3 sessions, per max_p and lag-1 correlation of the session figures."""
    sd = run_sd / math.sqrt(runs_per_session)
    print(
        f"sessions of {runs_per_session} runs (run sd {run_sd:.2%}: session sd {sd:.2%}),"
        f" {length} sessions, {draws} series per cell\n"
    )
    print("| rho | max_p | false change point in the last 6 | 10% step found (3 after) |")
    print("| ---: | ---: | ---: | ---: |")
    for rho in (0.0, 0.1, 0.3):
        for max_p in (0.001, 0.002, 0.005, 0.01):
            rng = np.random.default_rng(11)
            false = found = 0
            for _ in range(draws):
                quiet = detect(_ar1(length, rho, sd, rng), max_p=max_p)
                false += any(cp.index >= length - 6 for cp in quiet)
                stepped = _ar1(length, rho, sd, rng)
                stepped[length - 3 :] *= 0.9
                cps = detect(stepped, max_p=max_p)
                found += any(length - 5 <= cp.index <= length - 2 and cp.ratio < 1 for cp in cps)
            print(f"| {rho} | {max_p} | {false / draws:.1%} | {found / draws:.1%} |", flush=True)
