"""Nothing a session stores is lost or written over (#32): whole lines or none in the
history, a torn line set aside, durable atomic files with the user's umask, the previous
noise file kept, and outputs that never replace a file bf16perf did not make."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bf16perf.console._common import InputError, refuse_overwriting
from bf16perf.session.options import PerfOptions
from bf16perf.store.atomic import atomic_write
from bf16perf.store.baselines import BaselineStore
from bf16perf.store.history import append_history, history_problem, read_history_checked

LINE = {"started": "2026-12-07T00:00:00Z", "fingerprint": "m", "series": {}}


def test_a_torn_last_line_is_set_aside_whole_never_merged(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    append_history(path, LINE)
    with path.open("ab") as fh:
        fh.write(b'{"started": "2026-12-08T00:00:00Z", "tor')  # a crash cut it here
    torn = append_history(path, {**LINE, "started": "2026-12-09T00:00:00Z"})
    assert torn is not None and torn.read_bytes() == b'{"started": "2026-12-08T00:00:00Z", "tor'
    lines, problems = read_history_checked(path)
    assert [x["started"][:10] for x in lines] == ["2026-12-07", "2026-12-09"] and not problems
    assert append_history(path, LINE) is None  # a whole last line is left alone


def test_a_short_write_or_full_disk_leaves_the_history_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.jsonl"
    append_history(path, LINE)
    before = path.read_bytes()
    real_write = os.write
    calls = []

    def short_then_full(fd: int, data: bytes | memoryview) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data)[:7])  # a short write...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then a full disk

    monkeypatch.setattr(os, "write", short_then_full)
    with pytest.raises(OSError, match="No space left"):
        append_history(path, {**LINE, "started": "2026-12-08T00:00:00Z"})
    monkeypatch.undo()
    assert path.read_bytes() == before and len(calls) == 2
    append_history(path, {**LINE, "started": "2026-12-09T00:00:00Z"})  # the next one is whole
    assert len(read_history_checked(path)[0]) == 2


def test_jsonl_splits_on_newlines_only_and_numbers_are_strict(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    odd = json.dumps({**LINE, "labels": {"note": "a\u2028b"}}, ensure_ascii=False)
    huge = json.dumps({**LINE, "duration_s": 10**400})
    path.write_text(f"{odd}\n{huge}\n" + '{"started": "x", "duration_s": NaN}\n')
    lines, problems = read_history_checked(path)
    assert len(lines) == 1 and lines[0]["labels"]["note"] == "a\u2028b"
    assert "line 2: not JSON (an integer of 401 digits" in problems[0]
    assert "line 3: not JSON (NaN is not a number" in problems[1]


def test_atomic_files_get_the_umask_and_the_history_option_is_checked(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.json", "{}")
        append_history(tmp_path / "h.jsonl", LINE)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "h.jsonl").stat().st_mode) == 0o644
    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps({"schema_version": 3, "benchmarks": []}, indent=1))
    assert history_problem(tmp_path / "h.jsonl") is None
    assert history_problem(tmp_path / "new.jsonl") is None
    assert "not a bf16perf history" in (history_problem(baseline) or "")
    assert "not a regular file" in (history_problem(tmp_path) or "")
    # a history whose first line went bad (a 5,000-digit figure, a torn line) is still one
    poisoned = tmp_path / "poisoned.jsonl"
    poisoned.write_text(
        '{"started": "x", "duration_s": ' + "9" * 5000 + "}\n" + '{"started": "y", "to' + "\n"
    )
    assert history_problem(poisoned) is None
    compact = tmp_path / "compact.json"  # one line of JSON that is not a history line
    compact.write_text(json.dumps({"schema_version": 3, "benchmarks": []}))
    assert "none of its first 1 lines" in (history_problem(compact) or "")
    errors = PerfOptions(history=baseline, baselines_dir=tmp_path).input_errors()
    assert any(e.startswith(f"--perf-history {baseline}: ") for e in errors), errors
    assert baseline.read_text().startswith("{\n")  # untouched


def test_a_page_never_writes_over_a_file_bf16perf_did_not_make(tmp_path: Path) -> None:
    baseline = tmp_path / "base.json"
    baseline.write_text("{}")
    with pytest.raises(InputError, match="is not a page bf16perf wrote"):
        refuse_overwriting(baseline, [tmp_path / "history.jsonl"])
    page = tmp_path / "history.html"
    page.write_text('<!DOCTYPE html>\n<html><head><meta name="generator" content="bf16perf">')
    refuse_overwriting(page, [tmp_path / "history.jsonl"])  # its own page: fine
    refuse_overwriting(tmp_path / "new.html", [])


def test_calibrate_keeps_the_previous_noise_file(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    fid = {"id": "f"}
    path, _ = store.save_noise("m", "k", fingerprint=fid, figures=[10.0, 10.5, 9.8], command="c")
    first = path.read_bytes()
    store.save_noise("m", "k", fingerprint=fid, figures=[11.0, 11.5, 10.8], command="c")
    (previous,) = path.parent.glob("k.noise.prev-*.json")
    assert previous.read_bytes() == first and path.read_bytes() != first
    assert store.problems("m", "f") == []  # kept copies are never read as noise files


@pytest.mark.parametrize("broken", ["write_history_page", "plots"])
def test_no_reader_of_the_past_stops_the_sessions_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    import bf16perf.report as report_pkg
    from tests.test_report import _report

    def fail(*_args: object) -> None:
        raise OverflowError("int too large to convert to float")

    monkeypatch.setattr(report_pkg, broken, fail)
    problems: list[str] = []
    history = tmp_path / "history.jsonl"
    out = report_pkg.write_report(tmp_path / "r", _report(), history, [], problems)
    assert (out / "report.json").is_file() and (out / "report.html").is_file()
    assert len(read_history_checked(history)[0]) == 1
    (problem,) = problems
    assert f"from {history} (OverflowError: int too large" in problem
    assert "report.json and history line are written" in problem


def test_a_trend_that_cannot_be_judged_is_a_notice_not_a_lost_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bf16perf.verdicts.trend
    from bf16perf.session import finish
    from bf16perf.session.state import PerfSession
    from tests.test_report import CAPTURES, _report

    def fail(*_args: object, **_kw: object) -> None:
        raise ValueError("a poisoned line")

    monkeypatch.setattr(bf16perf.verdicts.trend, "trend_decisions", fail)
    from bf16perf.machine.host import detect_machine

    options = PerfOptions(reports_dir=tmp_path)
    perf = PerfSession(
        options=options, machine=detect_machine(CAPTURES / "linux-unknown-sapphirerapids")
    )
    finish.judge_trend(perf, _report())
    assert any(
        "the trend verdict not made from" in n and "a poisoned line" in n for n in perf.notices
    )


def test_training_processes_and_commands_start_without_the_cluster_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bf16perf.workloads.program.task import rank_env
    from bf16perf.workloads.task import _worker_env

    monkeypatch.setenv("_SPARK_AUTH_SECRET", "s3cret-of-the-cluster")
    monkeypatch.setenv("PYSPARK_GATEWAY_SECRET", "gateway")
    config: dict[str, object] = {
        "intra_op_threads": 1,
        "onednn_max_isa": None,
        "env": [],
        "python": None,
    }
    for env in (
        rank_env(0, ["127.0.0.1:1234"], tmp_path / "m.jsonl"),
        _worker_env(config, 0, ["127.0.0.1:1234"], tmp_path),
    ):
        assert "_SPARK_AUTH_SECRET" not in env and "PYSPARK_GATEWAY_SECRET" not in env
        assert "s3cret-of-the-cluster" not in env.values() and env["TF_CONFIG"]


def test_a_forged_or_malformed_progress_line_is_dropped_and_counted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Only lines signed with the run's key are shown: a line anyone else who reaches the
    driver's port sends (unsigned, or signed with another key) is dropped, as is a signed
    line that is not an event, and none of them is a handler traceback (#32)."""
    import socket
    import time

    from bf16perf.workloads.launch import progress_server
    from bf16perf.workloads.progress import new_key, sign

    seen: list[int] = []
    with progress_server(lambda event: seen.append(int(event["step"]))) as link:
        assert link is not None
        host, port, key = link
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.sendall(b'BF16PERF_PROGRESS {"step": 1}\n')  # unsigned: the old format
            conn.sendall(sign(new_key(), b'{"step": 2}'))  # another key
            conn.sendall(sign(key, b'{"step": 4}').replace(b'"step": 4', b'"step": 5'))
            for bad in (b'{"nostep": 1}', b"not json", b'{"step": "x"}'):
                conn.sendall(sign(key, bad))
            conn.sendall(sign(key, b'{"step": 3}'))
        end = time.monotonic() + 5
        while not seen and time.monotonic() < end:
            time.sleep(0.05)
    assert seen == [3]
    assert "6 progress line(s) dropped (unsigned, forged or malformed)" in capsys.readouterr().err


def test_a_stored_profile_of_the_wrong_shape_never_stops_its_reader() -> None:
    from bf16perf.onednn.attribution import grown_text

    good = {"available": True, "step_s": 1.0, "parts": [{"name": "conv", "ms": 4.0, "count": 1}]}
    bad = {"available": True, "step_s": 1.0, "parts": [{"name": "conv", "ms": "fast", "count": 1}]}
    text = grown_text(good, bad, "across it")
    assert text.startswith("the lone-step profiles cannot be read (ValueError")
    assert grown_text(bad, {**bad, "parts": "x"}, "across it").endswith("no attribution")


def test_two_sessions_started_in_the_same_second_get_their_own_reports(tmp_path: Path) -> None:
    from bf16perf.machine.host import detect_machine
    from bf16perf.session.state import PerfSession
    from tests.test_report import CAPTURES

    machine = detect_machine(CAPTURES / "linux-unknown-sapphirerapids")
    options = PerfOptions(reports_dir=tmp_path / "reports")
    same = "2026-12-07T05:00:00Z"
    a = PerfSession(options=options, machine=machine, started=same)
    b = PerfSession(options=options, machine=machine, started=same)
    assert a.report_dir != b.report_dir and a.report_dir == a.report_dir
    assert b.report_dir.name == f"{a.report_dir.name}-2" and b.report_dir.is_dir()


def test_stored_strings_are_shown_never_obeyed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bf16perf.console import inert, main

    assert inert("a\x1b[31mred\u2028b\tc\n") == "a\\x1b[31mred\\u2028b\tc\n"
    key = "w\x1b]0;owned\x07"
    from tests.reportdocs import figure_runs, report_doc

    runs = figure_runs({key: [10.0, 10.2, 9.9]})
    (tmp_path / "a.json").write_text(json.dumps(report_doc("m", runs)))
    other = [{**r, "workload_key": "x"} for r in runs]
    (tmp_path / "b.json").write_text(json.dumps(report_doc("m", other)))
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err and "\x07" not in out.out + out.err
    assert "w\\x1b]0;owned\\x07: only in A" in out.out


class _FullDisk:
    """A file object that takes half of what it is given, then fails like a full disk."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()

    def fileno(self) -> int:
        return int(self.fh.fileno())

    def write(self, text: str) -> int:
        self.fh.write(text[: len(text) // 2])
        self.fh.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        self.fh.flush()


@pytest.mark.parametrize("fault", ["write", "fsync"])
@pytest.mark.parametrize("writer", ["baseline", "noise", "report", "page"])
def test_a_full_disk_on_any_kept_file_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, writer: str
) -> None:
    """Every file the project keeps goes through the one atomic writer: a write or fsync
    that fails (ENOSPC) leaves the file as it was and no temporary file behind, and the
    next write succeeds (#32)."""
    from bf16perf.store import atomic
    from tests.test_baselines import _doc

    store = BaselineStore(tmp_path / "baselines")
    write: Any
    if writer == "baseline":
        path, _, _ = store.save("m", "w", _doc(10.0))
        write = lambda: store.save("m", "w", _doc(11.0))  # noqa: E731
    elif writer == "noise":
        path = tmp_path / "w.noise.json"
        atomic.atomic_json(path, {"sigma": 0.05})
        write = lambda: atomic.atomic_json(path, {"sigma": 0.06})  # noqa: E731
    else:
        path = tmp_path / ("report.json" if writer == "report" else "history.html")
        atomic.atomic_write(path, "kept")
        write = lambda: atomic.atomic_write(path, "new")  # noqa: E731
    before = path.read_bytes()
    if fault == "write":
        real = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda fd, mode: _FullDisk(real(fd, mode)))
    else:

        def no_space(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space left"):
        write()
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".tmp-*"))
    monkeypatch.undo()
    write()
    assert path.read_bytes() != before


KILL_BEFORE_RENAME = """
import os, signal, sys
from bf16perf.store.baselines import BaselineStore
from tests.test_baselines import _doc
os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
from pathlib import Path
BaselineStore(Path(sys.argv[1])).save("m", "w", _doc(11.0))
"""


def test_a_kill_9_between_write_and_rename_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL after the new baseline is written and synced, before its rename: the saved
    baseline is as it was, the reader and the next save work (#32)."""
    from tests.test_baselines import _doc

    store = BaselineStore(tmp_path / "baselines")
    path, _, _ = store.save("m", "w", _doc(10.0))
    before = path.read_bytes()
    root = Path(__file__).parent.parent
    killed = subprocess.run(
        [sys.executable, "-c", KILL_BEFORE_RENAME, str(store.root)], cwd=root, check=False
    )
    assert killed.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    (left,) = path.parent.glob(".tmp-*")  # the torn temporary, never read
    assert left.stat().st_size > 0
    assert store.problems("m", "abc123") == [] and store.keys("m") == ["w"]
    _, _, held = store.save("m", "w", _doc(12.0))
    assert held == 2  # the first session was kept, the killed one never happened


def test_the_session_s_own_summary_is_inert_too(capsys: pytest.CaptureFixture[str]) -> None:
    """The pytest side prints its notices and verdict table through the same filter as
    the ``bf16perf`` command: a notice that quotes a stored string is shown escaped."""
    import time
    from types import SimpleNamespace

    from bf16perf.plugin import hooks as plugin
    from bf16perf.session.phases import Phases

    session = SimpleNamespace(
        notices=["bf16perf: history.jsonl line 3 label 'x\x1b]0;owned\x07'"],
        decisions=[], runs=[], started_at=time.time(), phases=Phases(),
    )  # fmt: skip
    config = SimpleNamespace(stash={plugin._SESSION: session})
    written: list[str] = []
    reporter = SimpleNamespace(
        config=config, stats={}, section=lambda *a, **k: None, write_line=written.append
    )
    plugin.pytest_terminal_summary(reporter)  # type: ignore[arg-type]
    assert written[0] == "bf16perf: history.jsonl line 3 label 'x\\x1b]0;owned\\x07'"
    assert not any("\x1b" in line or "\x07" in line for line in written)
