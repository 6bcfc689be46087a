"""The baseline store: several runs per baseline, the version-1 upgrade, and refusals that
name the file and leave it untouched."""

import json
from pathlib import Path

import pytest

from bf16perf.store.baseline import SCHEMA_VERSION, BaselineError, baseline_document
from bf16perf.store.baselines import BaselineStore
from bf16perf.workloads.config import PROFILES
from bf16perf.workloads.results import RunResult, WorkerResult

FP = {"id": "abc123", "slug": "m"}


def _run(ips: float, losses: tuple[float, ...] = (3.0, 2.5)) -> RunResult:
    worker = WorkerResult(
        rank=0,
        host="127.0.0.1",
        cpus=[0],
        warmup_times_s=[5.0],
        step_times_s=[8 / ips, 8 / (ips * 1.01)],
        losses=list(losses),
        images_per_step=8,
        cpu_window={"window_s": 2.0, "cpus": 1, "own_cpu_s": 1.9, "busy_s": 1.95, "steal_s": 0},
    )
    return RunResult(PROFILES["smoke"], [worker], wall_s=20.0, kernels={"isa": "avx2"})


def _doc(*levels: float) -> dict[str, object]:
    runs = [_run(x) for x in levels or (10.0,)]
    return baseline_document(runs, fingerprint=FP, metadata={}, name="t[fp32]", fullname="p::t")


def test_saves_several_runs_atomically_and_keeps_previous(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    assert store.load("m", "w") is None
    path, prev, held = store.save("m", "w", _doc(10.0, 11.0, 9.0))
    assert prev is None and held == 1
    loaded = store.load("m", "w", fingerprint_id="abc123")
    assert loaded is not None and len(loaded.runs) == 3
    assert loaded.figures == pytest.approx([10.05, 11.055, 9.045])
    assert loaded.losses == [3.0, 2.5] and loaded.schema_version == SCHEMA_VERSION
    data = json.loads(path.read_text())
    assert data["schema_version"] == 3 and len(data["benchmarks"]) == 3
    assert data["sessions"][0]["benchmarks"] == data["benchmarks"]
    window = data["benchmarks"][0]["extra_info"]["workers"][0]["cpu_window"]
    assert window["own_cpu_s"] == 1.9 and data["benchmarks"][0]["extra_info"]["kernels"]
    first = path.read_bytes()
    path2, prev2, held2 = store.save("m", "w", _doc(10.0))
    assert path2 == path and prev2 is not None and prev2.read_bytes() == first and held2 == 2
    assert not list(tmp_path.glob("m/.tmp-*"))


def test_version_1_loads_as_one_run(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    path = store.path_for("m", "w")
    path.parent.mkdir(parents=True)
    v1 = {
        "schema_version": 1,
        "workload": "w",
        "datetime": "20261125T000000Z",
        "machine_info": {"bf16perf_fingerprint": FP},
        "benchmarks": [{"extra_info": {"images_per_second": [9.0, 10.0, 11.0], "losses": [3.0]}}],
    }
    path.write_text(json.dumps(v1))
    loaded = store.load("m", "w", fingerprint_id="abc123")
    assert loaded is not None and loaded.schema_version == 1 and loaded.figures == [10.0]
    assert loaded.session_figures == [[10.0]] and "single-session" in loaded.described
    assert json.loads(path.read_text()) == v1  # upgraded in memory only


def test_saving_adds_a_session_and_keeps_the_last_k(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    for level in (10.0, 11.0, 12.0, 13.0):
        _, _, held = store.save("m", "w", _doc(level, level), keep=3)
    assert held == 3
    loaded = store.load("m", "w", fingerprint_id="abc123")
    assert loaded is not None and loaded.schema_version == SCHEMA_VERSION
    figures = loaded.session_figures  # oldest first, the oldest dropped
    assert [f[0] for f in figures] == pytest.approx([11.055, 12.06, 13.065])
    assert loaded.figures == figures[-1] and loaded.described == "3 sessions, 6 runs"
    assert all(s.saved_at for s in loaded.sessions)


def test_a_version_2_baseline_becomes_the_first_of_several_sessions(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    path = store.path_for("m", "w")
    path.parent.mkdir(parents=True)
    doc = {"schema_version": 2, "workload": "w", "datetime": "20261125T000000Z", **_doc(9.0)}
    path.write_text(json.dumps(doc))
    old = store.load("m", "w")
    assert old is not None and old.schema_version == 2 and len(old.session_figures) == 1
    assert "single-session baseline of 1 run (schema 2" in old.described
    store.save("m", "w", _doc(10.0), keep=7)
    both = store.load("m", "w")
    assert both is not None and len(both.session_figures) == 2
    assert both.sessions[0].saved_at == "20261125T000000Z"


def test_an_unreadable_or_foreign_baseline_is_kept_aside_not_added_to(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    path = store.path_for("m", "w")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    _, prev, held = store.save("m", "w", _doc(10.0))
    assert held == 1 and prev is not None and prev.read_text() == "{not json"
    foreign = _doc(10.0)
    foreign["machine_info"] = {"bf16perf_fingerprint": {"id": "other", "slug": "m"}}
    _, _, held = store.save("m", "w", foreign)
    assert held == 1  # another machine's sessions are never mixed in


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "is not valid JSON"),
        ('{"schema_version": 999}', "schema_version 999 is newer"),
        ('{"schema_version": 1}', "missing field workload; restore it"),
        ("[]", "not a JSON object"),
    ],
)
def test_bad_baseline_is_a_clear_error_and_untouched(
    tmp_path: Path, content: str, words: str
) -> None:
    store = BaselineStore(tmp_path)
    path = store.path_for("m", "w")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(BaselineError, match=words) as exc:
        store.load("m", "w")
    assert str(path) in str(exc.value)
    assert path.read_text() == content


def test_empty_run_is_a_clear_error_not_a_zero_division(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    path, _, _ = store.save("m", "w", _doc(10.0, 9.0))
    data = json.loads(path.read_text())
    data["sessions"][0]["benchmarks"][1]["extra_info"]["images_per_second"] = []
    path.write_text(json.dumps(data))
    with pytest.raises(
        BaselineError,
        match=r"field sessions\[0\]\.benchmarks\[1\]\.extra_info\.images_per_second: expected"
        r" at least 1 item\(s\), got \[\]",
    ):
        store.load("m", "w")


def test_a_baseline_from_another_machine_or_workload_is_refused(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.save("m", "w", _doc(10.0))
    with pytest.raises(BaselineError, match=r"saved on machine 'm'.*not this one"):
        store.load("m", "w", fingerprint_id="other")
    moved = store.path_for("m", "renamed")
    store.path_for("m", "w").rename(moved)
    with pytest.raises(BaselineError, match="saved for workload 'w', not 'renamed'"):
        store.load("m", "renamed")


def test_noise_file_round_trip_and_refusals(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    assert store.load_noise("m", "w", "abc123") is None
    path, spread = store.save_noise(
        "m", "w", fingerprint=FP, figures=[10.0, 10.3, 9.8, 10.1], command="noise"
    )
    loaded = store.load_noise("m", "w", "abc123")
    assert loaded is not None and loaded.df == 3 and loaded.sigma == pytest.approx(spread.sigma)
    assert "noise file" in loaded.source
    with pytest.raises(BaselineError, match="another machine"):
        store.load_noise("m", "w", "other")
    path.write_text('{"schema_version": 1, "sigma": "x"}')
    with pytest.raises(BaselineError, match=r"noise file .*: missing field workload"):
        store.load_noise("m", "w", None)
    with pytest.raises(ValueError, match="at least two runs"):
        store.save_noise("m", "w", fingerprint=FP, figures=[1.0], command="noise")


def test_noise_file_may_carry_the_between_session_spread(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    assert store.load_sessions("m", "w", "abc123") is None  # no file: the session prior
    path, _ = store.save_noise(
        "m", "w", fingerprint=FP, figures=[10.0, 10.3, 9.8, 10.1], command="noise"
    )
    assert store.load_sessions("m", "w", "abc123") is None  # runs only: the session prior
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "session_sigma": 0.021, "session_df": 11}))
    sessions = store.load_sessions("m", "w", "abc123")
    assert sessions is not None and (sessions.sigma, sessions.df) == (0.021, 11)
    assert "12 A/A sessions" in sessions.source
    path.write_text(json.dumps({**doc, "session_sigma": "x", "session_df": 11}))
    before = path.read_bytes()
    with pytest.raises(BaselineError, match=r"noise file .*: field session_sigma: expected a num"):
        store.load_sessions("m", "w", "abc123")
    assert path.read_bytes() == before  # refused, never rewritten
    path.write_text(json.dumps({**doc, "session_sigma": -1, "session_df": 11}))
    with pytest.raises(BaselineError, match=r"field session_sigma: expected a number >= 0, got -1"):
        store.load_sessions("m", "w", "abc123")


def test_a_calibration_is_saved_as_the_noise_file_both_spreads_read_back(tmp_path: Path) -> None:
    from bf16perf.stats.figures import Spread

    store = BaselineStore(tmp_path)
    path = store.save_calibration(
        "m",
        "w",
        fingerprint=FP,
        sessions=[[10.0, 10.2], [9.6, 9.7]],
        spreads=(Spread(0.015, 2, "calibration"), Spread(0.03, 1, "calibration")),
        command="calibrate",
    )
    doc = json.loads(path.read_text())
    assert doc["sessions"] == [[10.0, 10.2], [9.6, 9.7]] and len(doc["figures"]) == 4
    runs = store.load_noise("m", "w", "abc123")
    sessions = store.load_sessions("m", "w", "abc123")
    assert runs is not None and (runs.sigma, runs.df) == (0.015, 2)
    assert sessions is not None and (sessions.sigma, sessions.df) == (0.03, 1)


def test_versions_are_listed_restored_and_pruned(tmp_path: Path) -> None:
    """The previous versions a save keeps: rollback restores the newest that differs and
    keeps what it replaced; prune keeps the newest N (#34)."""
    from bf16perf.store.versions import VersionError, previous_versions, prune, rollback

    store = BaselineStore(tmp_path)
    path, _, _ = store.save("m", "w", _doc(10.0))
    first = path.read_bytes()
    with pytest.raises(VersionError, match="no previous version"):
        rollback(path)
    store.save("m", "w", _doc(11.0))
    second = path.read_bytes()
    assert [p.read_bytes() for p in previous_versions(path)] == [first]
    restored, kept = rollback(path)
    assert path.read_bytes() == first and kept.read_bytes() == second
    assert previous_versions(path)[0] == kept  # newest first
    assert prune(path, 1) == [restored] and previous_versions(path) == [kept]
    assert store.load("m", "w") is not None  # the restored file is a baseline as saved


def test_baselines_actions_name_their_mistakes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bf16perf.console import main

    store = BaselineStore(tmp_path)
    store.save("m", "w", _doc(10.0))
    store.save("other", "w", _doc(10.0))
    dirs = ["--dir", str(tmp_path)]
    assert main(["baselines", "show", "w", *dirs]) == 2
    assert "kept for several machines (m, other): name one, --machine" in capsys.readouterr().err
    assert main(["baselines", "show", "w", "--machine", "m", *dirs]) == 0
    assert "session 1: 1 runs" in capsys.readouterr().out
    assert main(["baselines", "rollback", "nope", *dirs]) == 2
    assert "no baseline 'nope'" in capsys.readouterr().err
    assert main(["baselines", "show", *dirs]) == 2
    assert "usage: bf16perf baselines" in capsys.readouterr().err
    assert main(["baselines", "accept", str(tmp_path / "missing"), *dirs]) == 2
    assert "missing: no such report" in capsys.readouterr().err
    assert main(["baselines", str(tmp_path)]) == 2  # the listing, as before: 'other' holds
    out = capsys.readouterr()  # a file saved on machine m, named on stderr
    assert out.out.count("  w  ") == 1 and "kept under 'other'" in out.err
