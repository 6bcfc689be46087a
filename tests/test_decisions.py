"""The one verdict of a session: exit codes in their documented order, and the table."""

import pytest

from bf16perf.verdicts.outcomes import (
    Decision,
    ExitCode,
    Outcome,
    exit_code_for,
    format_table,
    session_exit_code,
)


def _d(outcome: Outcome, test: str = "perf/t.py::x") -> Decision:
    return Decision(test, "throughput", outcome, "detail")


@pytest.mark.parametrize(
    "outcomes, other, code",
    [
        ([Outcome.OK, Outcome.NO_BASELINE, Outcome.IMPROVED], 0, ExitCode.OK),
        ([Outcome.REGRESSION, Outcome.INCONCLUSIVE, Outcome.UNSUPPORTED], 0, ExitCode.REGRESSION),
        ([Outcome.DRIFT], 0, ExitCode.NUMERICS),
        ([Outcome.DRIFT, Outcome.UNSUPPORTED, Outcome.INCONCLUSIVE], 0, ExitCode.NUMERICS),
        ([Outcome.UNDECIDED, Outcome.OK], 0, ExitCode.OK),
        ([Outcome.GATE_FAILED], 0, ExitCode.REGRESSION),
        ([Outcome.INCONCLUSIVE, Outcome.UNSUPPORTED], 0, ExitCode.UNSUPPORTED),
        ([Outcome.INCONCLUSIVE, Outcome.OK], 0, ExitCode.INCONCLUSIVE),
        ([Outcome.REGRESSION], 1, ExitCode.TESTS_FAILED),
        ([], 0, ExitCode.OK),
    ],
)
def test_exit_code_order(outcomes: list[Outcome], other: int, code: ExitCode) -> None:
    assert session_exit_code([_d(o) for o in outcomes], other) is code


def test_codes_do_not_collide_with_pytest() -> None:
    assert {int(c) for c in ExitCode} & {2, 3, 4, 5} == set()


def test_table_marks_failures() -> None:
    lines = format_table([_d(Outcome.OK, "a"), _d(Outcome.REGRESSION, "b")])
    assert lines[0].split() == ["test", "check", "verdict", "detail"]
    assert "FAIL detail" in lines[3] and "FAIL" not in lines[2]
    assert format_table([]) == []


@pytest.mark.parametrize(
    "outcomes, failed, code",
    [
        # a test failing only by its own verdicts counts by the verdicts' code
        ([(Outcome.REGRESSION, "a")], {"a"}, ExitCode.REGRESSION),
        ([(Outcome.INCONCLUSIVE, "a")], {"a"}, ExitCode.INCONCLUSIVE),
        # a crash in another test wins over every verdict
        ([(Outcome.REGRESSION, "a")], {"a", "b"}, ExitCode.TESTS_FAILED),
        # a passing verdict does not excuse its test's failure
        ([(Outcome.OK, "a")], {"a"}, ExitCode.TESTS_FAILED),
        # a loss drift recorded under the node id (the bf16 loss test) exits 13, not 1
        (
            [(Outcome.DRIFT, "perf/test_training.py::test_bf16_loss_tracks_fp32")],
            {"perf/test_training.py::test_bf16_loss_tracks_fp32"},
            ExitCode.NUMERICS,
        ),
        ([(Outcome.UNSUPPORTED, "a"), (Outcome.INCONCLUSIVE, "b")], {"a", "b"}, 12),
        ([], set(), ExitCode.OK),
    ],
)
def test_exit_code_for_failed_tests(
    outcomes: list[tuple[Outcome, str]], failed: set[str], code: int
) -> None:
    assert exit_code_for([_d(o, t) for o, t in outcomes], failed) == code


def test_a_release_never_passes_on_a_missing_baseline() -> None:
    from pathlib import Path

    from bf16perf.session.options import PerfOptions
    from bf16perf.verdicts.apply import no_baseline
    from bf16perf.verdicts.outcomes import ExitCode, session_exit_code

    key = "resnet50-224px-b32-s20-2x1-synthetic-fp32"
    kept = ["resnet50-224px-b16-s20-2x1-synthetic-fp32", "resnet50-32px-b8-s5-2x1-synthetic-fp32"]
    nightly = no_baseline(
        "t", "m", key, PerfOptions(baselines_dir=Path("b")).verdict_settings(), kept
    )
    assert nightly.outcome is Outcome.NO_BASELINE and not nightly.outcome.fails
    release = no_baseline(
        "t", "m", key, PerfOptions(release=True, baselines_dir=Path("b")).verdict_settings(), kept
    )
    assert release.outcome is Outcome.INCONCLUSIVE
    assert session_exit_code([release], 0) is ExitCode.INCONCLUSIVE
    # the nearest kept key first, with what differs
    assert "nearest kept: resnet50-224px-b16-s20-2x1-synthetic-fp32 (b32 vs b16)" in release.detail
    assert "no evidence" in release.detail
    bare = no_baseline(
        "t", "m", key, PerfOptions(release=True, baselines_dir=Path("b")).verdict_settings()
    )
    assert "no baseline at all" in bare.detail
