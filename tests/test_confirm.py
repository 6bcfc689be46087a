"""The nightly's two-session rule: one slow session is a suspect notice, two in a row a
regression; release mode judges one session as it is; the previous session comes from the
history, judged against the baseline sessions saved before it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bf16perf.calibration.replay import NightlyRule, nightly_exit, replayed_exits
from bf16perf.session.options import PerfOptions
from bf16perf.stats.figures import Spread
from bf16perf.store.baseline import Baseline, baseline_document
from bf16perf.store.baselines import BaselineStore
from bf16perf.verdicts import ThroughputVerdict, apply, sessions_rule
from bf16perf.verdicts.confirm import CONFIRM_ALPHA, below, confirm
from bf16perf.verdicts.outcomes import Outcome
from bf16perf.verdicts.trend import PreviousSession, previous_session
from bf16perf.workloads.config import PROFILES
from bf16perf.workloads.results import RunResult, WorkerResult

BASE = [[100.0, 101.0, 99.0], [100.0, 102.0, 98.0], [99.0, 100.0, 101.0]]
SPREAD = Spread(0.02, 9, "test")
SLOW = [80.0, 81.0, 79.0]
NORMAL = [100.0, 99.0, 101.0]


def _verdict(figures: list[float]) -> ThroughputVerdict:
    return sessions_rule(figures, BASE, max_regression=0.05, alpha=0.01, session=SPREAD)


def _mild() -> list[float]:
    """Figures below the baseline at CONFIRM_ALPHA but not at 0.01."""
    for step in range(384, 320, -1):  # quarter steps: the band between the alphas is narrow
        level = step / 4
        figures = [level - 1.0, level, level + 1.0]
        v = _verdict(figures)
        if below(v, CONFIRM_ALPHA) and v.outcome is not Outcome.REGRESSION:
            return figures
    raise AssertionError("no level between the two alphas")


def test_one_slow_session_is_suspect_two_are_a_regression() -> None:
    slow, normal = _verdict(SLOW), _verdict(NORMAL)
    assert slow.outcome is Outcome.REGRESSION and normal.outcome is not Outcome.REGRESSION
    alone = confirm(slow, None)
    assert alone is not None and (alone.outcome, alone.reason) == (Outcome.SUSPECT, "no-previous")
    cleared = confirm(slow, normal, "2026-12-01T00:00:00Z")
    assert cleared is not None and cleared.outcome is Outcome.SUSPECT
    assert cleared.reason == "previous-not-below"
    twice = confirm(slow, _verdict([82.0, 80.0, 81.0]), "2026-12-01T00:00:00Z")
    assert twice is not None and (twice.outcome, twice.reason) == (Outcome.REGRESSION, "confirmed")
    assert twice.to_dict()["previous_started"] == "2026-12-01T00:00:00Z"
    assert confirm(normal, slow) is None  # a good night after a suspect one: nothing to say
    assert not Outcome.SUSPECT.fails


def test_a_milder_night_confirms_the_suspect_before_it() -> None:
    mild = _verdict(_mild())
    found = confirm(mild, _verdict(SLOW), "2026-12-01T00:00:00Z")
    assert found is not None and found.outcome is Outcome.REGRESSION
    assert found.reason == "confirms-previous"
    # the mild night alone, or after a normal one, stands as the rule gave it
    assert confirm(mild, _verdict(NORMAL)) is None and confirm(mild, None) is None


def _run(ips: float) -> RunResult:
    worker = WorkerResult(0, "127.0.0.1", [0], [5.0], [8 / ips] * 3, [3.0, 2.9, 2.8], 8)
    return RunResult(PROFILES["smoke"], [worker], wall_s=20.0, kernels={"isa": "avx2"})


def _baseline(tmp_path: Path) -> Baseline:
    store = BaselineStore(tmp_path)
    for session in BASE:
        runs = [_run(x) for x in session]
        fp = {"id": "abc", "slug": "m"}
        doc = baseline_document(runs, fingerprint=fp, metadata={}, name="t", fullname="p::t")
        store.save("m", "w", doc, keep=7)
    baseline = store.load("m", "w")
    assert baseline is not None and len(baseline.session_figures) == 3
    return baseline


def test_the_plugins_verdict_follows_the_mode_and_the_history(tmp_path: Path) -> None:
    baseline = _baseline(tmp_path)
    runs = [_run(x) for x in SLOW]
    nightly, release = (
        PerfOptions().verdict_settings(),
        PerfOptions(release=True).verdict_settings(),
    )
    later, earlier = "2999-01-01T00:00:00Z", "2000-01-01T00:00:00Z"
    (alone, _) = apply.against_baseline("t", runs, baseline, nightly, sessions=SPREAD)
    assert alone.outcome is Outcome.SUSPECT, alone.detail
    assert "not yet a regression" in alone.detail and "--perf-history" in alone.detail
    assert alone.figures["confirmation"]["reason"] == "no-previous"
    # a previous session from before the baseline was saved cannot confirm against it
    old = PreviousSession(earlier, [80.0, 81.0, 80.0])
    (before, _) = apply.against_baseline("t", runs, baseline, nightly, None, SPREAD, old)
    assert before.outcome is Outcome.SUSPECT
    fine = PreviousSession(later, [100.0, 101.0, 100.0])
    (cleared, _) = apply.against_baseline("t", runs, baseline, nightly, None, SPREAD, fine)
    assert cleared.outcome is Outcome.SUSPECT and f"previous session ({later}" in cleared.detail
    slow = PreviousSession(later, [81.0, 80.0, 80.0])
    (confirmed, _) = apply.against_baseline("t", runs, baseline, nightly, None, SPREAD, slow)
    assert confirmed.outcome is Outcome.REGRESSION and "confirmed by" in confirmed.detail
    (strict, _) = apply.against_baseline("t", runs, baseline, release, None, SPREAD, fine)
    assert strict.outcome is Outcome.REGRESSION and "confirmation" not in strict.figures


def test_figures_before_a_session_leave_out_what_was_saved_after_it(tmp_path: Path) -> None:
    kept = _baseline(tmp_path)
    stamps = ["20261201T020000Z", "20261202T020000Z", "20261203T020000Z"]
    sessions = [replace(s, saved_at=t) for s, t in zip(kept.sessions, stamps, strict=True)]
    baseline = replace(kept, sessions=sessions)
    assert baseline.figures_before("2026-12-03T01:00:00Z") == baseline.session_figures[:2]
    assert baseline.figures_before("2026-12-03T02:00:00Z") == baseline.session_figures[:2]
    assert baseline.figures_before("2999-01-01T00:00:00Z") == baseline.session_figures
    assert baseline.figures_before("2026-12-01T01:59:59Z") == []


def test_previous_session_is_the_newest_line_of_this_machine_and_key() -> None:
    def line(started: str, machine: str, figures: list[float]) -> dict[str, object]:
        return {
            "schema_version": 2,
            "started": started,
            "fingerprint": machine,
            "series": {"w": {"variant": "fp32", "run_figures": figures}},
        }

    lines = [
        line("2026-12-01T00:00:00Z", "m", [1.0, 2.0]),
        line("2026-12-02T00:00:00Z", "m", [3.0]),
        line("2026-12-03T00:00:00Z", "other", [5.0]),
        {"schema_version": 1, "started": "2026-12-04T00:00:00Z", "fingerprint": "m"},
    ]
    found = previous_session(lines, "m", "w")
    assert found == PreviousSession("2026-12-02T00:00:00Z", [3.0])
    assert previous_session(lines, "m", "missing") is None
    assert previous_session([], "m", "w") is None


def _night(level: float) -> dict[str, list[float]]:
    return {"fp32": [level * x for x in (1.0, 1.02, 0.98)]}


RULE = NightlyRule(SPREAD, threshold=0.05, alpha=0.01, planned=1)


def test_a_lone_slow_night_never_fails_a_replayed_nightly() -> None:
    nights = [_night(100.0) for _ in range(8)]
    nights[5] = _night(80.0)  # one heavy-tailed session draw
    assert replayed_exits(RULE, nights) == [0] * 7
    nights[6] = _night(80.0)  # and the next one: a lasting drop
    assert replayed_exits(RULE, nights)[5] == 10
    base = nights[:3]
    lone = nightly_exit(RULE, nights[5], base)
    assert lone == 0  # nothing to confirm with: a notice


@pytest.mark.parametrize("level", [80.0, 100.0])
def test_replay_confirms_only_against_sessions_saved_before(level: float) -> None:
    base = [_night(100.0) for _ in range(3)]
    code = nightly_exit(RULE, _night(80.0), base, _night(level), base)
    assert code == (10 if level == 80.0 else 0)
