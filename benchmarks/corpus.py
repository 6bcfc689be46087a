"""The A/A corpus: real fresh-cluster sessions, and the nightly rules replayed over them.

The analysis and its seeds were committed before any of the data was collected
(BENCHMARKS.md, section X).  Collect with::

    bf16perf calibrate --bf16 --sessions 24 --runs 3 --no-save \
        --state reports/corpus -- --perf-profile smoke
    python benchmarks/corpus.py --state reports/corpus --write benchmarks/data/corpus-NAME.json

(``--bf16`` only on a bf16 host), optionally an A/B session at a real injected slowdown::

    pytest perf/test_training.py::test_training[fp32] --perf-profile smoke \
        --perf-reference-python .venv/bin/python --perf-pairs 32 \
        --perf-inject-slowdown 0.1 --perf-reports reports/ab32
    python benchmarks/corpus.py --from-json benchmarks/data/corpus-NAME.json \
        --ab reports/ab32/latest/report.json --write benchmarks/data/corpus-NAME.json

and replay everything, without training, with ``--from-json FILE``.

Every session counts, disturbed or not (the undisturbed are also shown apart): amended
after the first session of the Zen 4 corpus showed hypervisor steal above the sampler's
5% mark in 7 of 8 runs, before any figure was analysed.  The same session showed a smoke
run takes about 25 s here, so the corpus is 24 sessions of 3 + 3 runs (the default
``--perf-repeats``), not 36 of 4, to fit the session's time.

What it prints (fixed before collection):

1. the within- and between-session spreads of log run figures with 95% intervals
   (:func:`bf16perf.calibration.noise.estimate`), fp32 and bf16, and the effect of a run's
   position in its session (pooled OLS slope of within-session residuals on position);
2. the default nightly replayed in time order: night ``i`` against the ``K = 7`` sessions
   before it (fewer at the start), the stored rule of :func:`bf16perf.verdicts.sessions_rule`
   with the documented prior (no calibration file), fp32 and bf16 verdicts of a night under
   one Holm budget at ``alpha = 0.01``: exit 10 nights (count, 95% Clopper-Pearson upper
   bound) and nights that are anything but exit 0; the same with a calibration estimated
   from the first 12 sessions, replayed over the other 24 (no session judges itself);
3. a lasting drop applied offline from night ``j`` on, for every start ``j`` whose
   baseline has 3 or more sessions: the share of starts flagged within 3 nights (nights
   ``j``, ``j+1``, ``j+2`` against the sessions before ``j``), at 10%, and the smallest drop
   (1% steps) flagged in 90% of starts;
4. model-based session rates: unchanged nights simulated (seed 20261202, 5,000 nights each)
   at the measured spreads and at the upper end of the between-session interval, with
   7, 3 and 1 baseline sessions, fp32 and bf16 sharing the session draw;
5. the gate: real bf16/fp32 gate decisions of every session, the share of session
   intervals that cover the corpus-wide ratio, and simulated coverage (seed 20261203) at
   the measured pair spread with the measured position effect, in the harness's own
   balanced pair order;
6. A/B at a real slowdown (``--ab``): disjoint decisions of the pairs ``calibrate``
   recommends for 10%, and the spread of the pairs against the A/A pair spread;
7. the two-session rule (added after BENCHMARKS.md Y2, before the corpus it is validated
   on was collected): the shipped nightly (each verdict at its share of the budget, a
   drop failing only when the night before confirms it, :mod:`bf16perf.calibration.replay`) beside
   the single-session rule it replaces, over the unchanged nights in time order, with the
   prior and with a calibration of the first 12 sessions replayed over the rest; a
   lasting drop (share of starts flagged within 3 nights at 10%, the smallest at 90%);
   and model-based rates (seed 20261204, 5,000 nights each, each night with the night
   before it against one baseline) at the measured spreads, at the upper end of the
   between-session interval, and with a heavy tail: one session in 16 drawn 20% slow,
   as the Zen 3 corpus of Y2 had.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from corpus_models import (  # benchmarks/ is the script's own directory
    ALPHA,
    THRESHOLD,
    K,
    ab,
    clopper_upper,
    figures_of,
    gate,
    night,
    position_effect,
    simulate,
    simulate_confirmed,
    single_exit,
)

from bf16perf.calibration.noise import Noise, estimate
from bf16perf.calibration.replay import (
    NightlyRule,
    flagged_starts,
    lasting_drop_line,
    replayed_exits,
)
from bf16perf.stats.figures import Spread
from bf16perf.store.calibration_session import CalibrationSession
from bf16perf.verdicts import (
    SESSION_PRIOR,
)
from bf16perf.verdicts.outcomes import Outcome

CALIBRATION_SESSIONS = 12


def load(args: argparse.Namespace) -> tuple[list[CalibrationSession], dict[str, Any] | None]:
    """The sessions (from a calibration state directory or a corpus file) and the A/B
    report, if any."""
    ab: dict[str, Any] | None = None
    if args.from_json:
        doc = json.loads(Path(args.from_json).read_text())
        sessions = [CalibrationSession.from_dict(s) for s in doc["sessions"]]
        ab = doc.get("ab")
    else:
        paths = sorted(Path(args.state, "sessions").glob("*.json"))
        sessions = [CalibrationSession.from_dict(json.loads(p.read_text())) for p in paths]
    if args.ab:
        report = json.loads(Path(args.ab).read_text())
        ab = {
            "reference": [
                r["median_images_per_second"] for r in report["runs"] if r["stack"] == "reference"
            ],
            "candidate": [
                r["median_images_per_second"] for r in report["runs"] if r["stack"] == "candidate"
            ],
            "order": [r["stack"] for r in report["runs"]],
            "fingerprint": report["fingerprint"]["slug"],
        }
    return sorted(sessions, key=lambda s: s.index), ab


def spreads(name: str, groups: list[list[float]]) -> Noise:
    noise = estimate(groups)
    print(
        f"{name}: {noise.sessions} sessions, {noise.runs} runs; within a session"
        f" {noise.sigma:.2%} (95% CI {noise.sigma_ci[0]:.2%} to {noise.sigma_ci[1]:.2%},"
        f" {noise.df} df); between sessions {noise.tau:.2%} (95% CI {noise.tau_ci[0]:.2%} to"
        f" {noise.tau_ci[1]:.2%}, {noise.session_df} df)"
    )
    return noise


def replay(sessions: list[CalibrationSession], session: Spread, first: int) -> None:
    codes, undecided = [], 0
    for i in range(max(1, first), len(sessions)):
        base = [figures_of(s) for s in sessions[max(first, i - K) : i]]
        if not base:
            continue
        code, outcomes = night(figures_of(sessions[i]), base, session)
        codes.append(code)
        undecided += Outcome.INCONCLUSIVE in outcomes
    n, tens = len(codes), codes.count(10)
    print(
        f"  {n} unchanged nights: exit 10 on {tens} (95% upper bound"
        f" {clopper_upper(tens, n):.1%}); anything but exit 0 on {tens}; 'cannot tell' (exit 0)"
        f" on {undecided}"
    )


def detection(sessions: list[CalibrationSession], session: Spread) -> None:
    def flagged(drop: float) -> tuple[int, int]:
        hits = starts = 0
        for j in range(3, len(sessions) - 2):
            base = [figures_of(s) for s in sessions[max(0, j - K) : j]]
            starts += 1
            hits += any(
                night(figures_of(sessions[j + d], 1 - drop), base, session)[0] == 10
                for d in range(3)
            )
        return hits, starts

    hits, starts = flagged(0.10)
    print(f"  a lasting 10% drop: flagged within 3 nights in {hits} of {starts} starts")
    for pct in range(5, 41):
        hits, starts = flagged(pct / 100)
        if hits >= 0.9 * starts:
            print(f"  the smallest lasting drop flagged within 3 nights in 90% of starts: {pct}%")
            return
    print("  no lasting drop up to 40% is flagged within 3 nights in 90% of starts")


def shipped(sessions: list[CalibrationSession], noise: Noise) -> None:
    """The nightly as the plugin runs it: the unchanged nights in time order under the
    single-session rule and the two-session rule, a lasting drop, and the line
    ``bf16perf calibrate`` prints (the same function, the same arguments)."""
    series = [figures_of(s) for s in sessions]
    series = [{k: v for k, v in f.items() if v} for f in series]
    planned = 2 * len(series[0])  # the smoke profile sets no gate
    calibration = estimate([s.figures for s in sessions[:CALIBRATION_SESSIONS]])
    measured = Spread(calibration.tau, calibration.session_df, "calibration")
    for label, spread, nights in (
        ("no calibration", SESSION_PRIOR, series),
        (f"calibrated on the first {CALIBRATION_SESSIONS}", measured, series[12:]),
    ):
        if len(nights) < 2:
            continue
        single = [
            single_exit(nights[i], nights[max(0, i - K) : i], spread, planned)
            for i in range(1, len(nights))
        ]
        rule = NightlyRule(spread, THRESHOLD, ALPHA, planned)
        two = replayed_exits(rule, nights)
        n = len(two)
        print(
            f"  {label}, {n} unchanged nights: single-session rule exit 10 on"
            f" {single.count(10)}; two-session rule exit 10 on {two.count(10)} (95% upper"
            f" bound {clopper_upper(two.count(10), n):.1%}), nights that are two-session"
            f" exits: {[i + 1 for i, c in enumerate(two) if c == 10]}"
        )
        hits, starts = flagged_starts(rule, nights, 0.10)
        print(f"    a lasting 10% drop flagged within 3 nights in {hits} of {starts} starts")
    line = lasting_drop_line(sessions, noise, THRESHOLD, ALPHA)
    print(f"  bf16perf calibrate would print: {line}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--state", help="a calibration state directory")
    source.add_argument("--from-json", help="a corpus file written by --write")
    parser.add_argument("--ab", help="report.json of an A/B session at an injected slowdown")
    parser.add_argument("--write", help="write the corpus (sessions and A/B) to this file")
    args = parser.parse_args(argv)
    sessions, ab_data = load(args)
    if len(sessions) < 4:
        print(f"only {len(sessions)} sessions: the analysis needs 4 or more", file=sys.stderr)
        return 2
    if args.write:
        doc = {"sessions": [s.to_dict() for s in sessions], "ab": ab_data}
        Path(args.write).write_text(json.dumps(doc, indent=1) + "\n")
    # Every session counts: on the Firecracker guests this runs on, the hypervisor steals
    # 5-9% of the CPUs in nearly every run (the sampler's 5% mark), and a nightly meets
    # those nights too.  The undisturbed ones are shown apart, where 4 or more exist.
    kept = sessions
    calm = [s for s in sessions if not s.disturbed]
    print(f"{len(sessions)} sessions on {sessions[0].slug}, {len(calm)} undisturbed\n")
    if len(calm) >= 4:
        spreads("fp32, undisturbed sessions only", [s.figures for s in calm])
    noise = spreads("fp32", [s.figures for s in kept])
    has_bf16 = all(s.bf16 for s in kept)
    if has_bf16:
        spreads("bf16", [s.bf16 for s in kept])
    slope = position_effect(kept)
    print("\nnightly replay, default (no calibration file: the documented prior):")
    replay(kept, SESSION_PRIOR, 0)
    print(f"nightly replay with a calibration of the first {CALIBRATION_SESSIONS} sessions:")
    calibration = estimate([s.figures for s in kept[:CALIBRATION_SESSIONS]])
    measured = Spread(calibration.tau, calibration.session_df, "calibration")
    later = [replace(s) for s in kept[CALIBRATION_SESSIONS:]]
    replay(later, measured, 0)
    print("\na lasting drop, default nightly:")
    detection(kept, SESSION_PRIOR)
    print("a lasting drop, calibrated nightly:")
    detection(later, measured)
    print("\nas shipped: each verdict at its share of the budget (Bonferroni over the planned")
    print("verdicts, trend series included), single-session against two-session rule:")
    shipped(kept, noise)
    print("\nmodel-based unchanged nights (the project's rule, Holm over fp32 and bf16):")
    simulate(noise, len(kept[0].figures), has_bf16)
    print("\nthe two-session rule, model-based (the prior, no calibration file):")
    simulate_confirmed(noise, len(kept[0].figures), has_bf16)
    print("\nthe bf16 gate:")
    gate(kept, slope)
    if ab_data:
        print("\nA/B at a real slowdown:")
        ab(ab_data, noise.sigma * math.sqrt(2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
