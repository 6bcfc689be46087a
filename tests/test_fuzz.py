"""Nothing a user stores can crash the tool or be changed by it: valid documents of every
kind, mutated (truncated, a field's type swapped, NaN and Infinity, huge and deeply nested
values, integers of 401 and 5,000 digits, Unicode separators and control characters, BOMs,
CRLF, invalid UTF-8, future schema versions, binary bytes, empty files, directories,
FIFOs), fed to every reader and to every
``bf16perf`` subcommand that reads them: history lines, reports (``compare``), baselines
and noise files (the store, ``baselines``), calibration session files (a resumed
``calibrate``) and workload files (TOML, truncated or with bytes spliced in).

Each example must end in an exit code the command documents (0, 2 or 10), or a
:class:`~bf16perf.store.baseline.BaselineError` from the store (a session turns it into one
line), never another exception; and the input must be byte-identical afterwards.  The
seeded ``ci`` profile (100 examples a reader) keeps ``make test`` in its budget;
``HYPOTHESIS_PROFILE=full`` runs 2,000 a reader.  Unreadable files (mode 000) are not
among the mutations: the suite runs as root in CI, where they read anyway.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bf16perf.console import main
from bf16perf.store.baseline import BaselineError, baseline_document
from bf16perf.store.baselines import BaselineStore
from tests.test_baselines import _run

settings.register_profile(
    "ci", max_examples=100, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
settings.register_profile(
    "full", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FP = {"id": "i", "slug": "m"}
HISTORY_LINE: dict[str, Any] = {
    "schema_version": 2,
    "started": "2026-11-01T01:00:00Z",
    "fingerprint": "m",
    "exit_code": 0,
    "series": {"w-fp32": {"run_figures": [10.0, 10.1, 9.9], "kernel_isa": "avx2"}},
    "ratios": {"w-fp32": 1.5},
    "versions": {"tensorflow": "2.21.0"},
    "labels": {"commit": "c1"},
}
REPORT: dict[str, Any] = {
    "fingerprint": FP,
    "runs": [
        {"workload_key": "w", "median_images_per_second": x, "stack": "candidate"}
        for x in (10.0, 10.2, 9.9)
    ],
}
NOISE: dict[str, Any] = {
    "schema_version": 1,
    "workload": "w",
    "fingerprint": FP,
    "figures": [10.0, 10.2],
    "sigma": 0.02,
    "df": 1,
    "session_sigma": 0.03,
    "session_df": 5,
    "datetime": "20261201T000000Z",
}


def _baseline() -> dict[str, Any]:
    doc = baseline_document(
        [_run(10.0), _run(10.5)], fingerprint=FP, metadata={}, name="t", fullname="p::t"
    )
    head = {"schema_version": 3, "workload": "w", "datetime": "20261201T000000Z"}
    session = {"saved_at": "20261201T000000Z", "metadata": {}, "benchmarks": doc["benchmarks"]}
    return {**head, **doc, "sessions": [session]}


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(doc))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


DEEP = "[" * 5000 + "1" + "]" * 5000  # deeper than json's recursion limit

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    st.just("fast"),
    st.just(0),
    # #32's classes: text with Unicode line separators and control characters, integers
    # beyond a float (placed by marker below: json.dumps cannot write them all)
    st.text(alphabet=st.sampled_from("a\u2028\u2029\x85\x00\x1b\r\n\ufeff"), max_size=8),
    st.sampled_from(["@big@", "@huge@"]),
)
#: Integers placed where a mutation put their marker: 401 digits (beyond a float) and
#: 5,000 (beyond Python's integer-parsing digit limit).
HUGE = {'"@big@"': "9" * 401, '"@huge@"': "9" * 5000}


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any]) -> bytes | str:
    """A valid document's bytes, mutated one way; or a special file kind (``"dir"``,
    ``"fifo"``)."""
    kind = draw(st.sampled_from(["swap", "swap", "swap", "truncate", "binary", "empty",
                                 "deep", "dir", "fifo", "duplicate", "bom", "crlf",
                                 "future", "utf8"]))  # fmt: skip
    text = json.dumps(valid)
    if kind == "swap":
        path = draw(st.sampled_from(_paths(valid)))
        out = json.dumps(_replace(valid, path, draw(VALUES)), allow_nan=True, ensure_ascii=False)
        for marker, digits in HUGE.items():
            out = out.replace(marker, digits)
        return out
    if kind == "bom":
        return "\ufeff" + text
    if kind == "crlf":
        return text + "\r\n"
    if kind == "future":
        return json.dumps({**valid, "schema_version": 999})
    if kind == "utf8":  # invalid UTF-8 inside a string
        return text.encode().replace(b'"', b'"\xff\xfe', 1)
    if kind == "truncate":
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    if kind == "binary":
        return draw(st.binary(max_size=200))
    if kind == "empty":
        return b""
    if kind == "deep":
        path = draw(st.sampled_from(_paths(valid)))
        return json.dumps(_replace(valid, path, "@deep@")).replace('"@deep@"', DEEP)
    if kind == "duplicate":
        return text[:-1] + ', "schema_version": "2"}' if text.endswith("}") else text
    return kind  # "dir" or "fifo"


def _place(path: Path, content: bytes | str) -> bytes | None:
    """Put ``content`` at ``path``; return the bytes to compare afterwards (``None`` for a
    directory or a FIFO, compared by kind)."""
    if content == "dir":
        path.mkdir()
        return None
    if content == "fifo":
        os.mkfifo(path)
        return None
    data = content if isinstance(content, bytes) else content.encode()
    path.write_bytes(data)
    return data


def _check(run: Callable[[], object], path: Path, before: bytes | None) -> object:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        result = run()
    assert "Traceback" not in err.getvalue()
    if before is None:
        assert path.is_dir() or path.is_fifo()
    else:
        assert path.read_bytes() == before
    return result


@given(content=mutated(HISTORY_LINE))
def test_history_reads_any_line(content: bytes | str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        good = json.dumps(HISTORY_LINE) + "\n"
        if isinstance(content, str) and content in ("dir", "fifo"):
            before = _place(path, content)
        else:
            raw = content if isinstance(content, bytes) else content.encode()
            before = _place(path, good.encode() + raw + b"\n" + good.encode())
        code = _check(lambda: main(["history", str(path)]), path, before)
        assert code in (0, 2, 10)


@given(content=mutated(REPORT))
def test_compare_reads_any_report(content: bytes | str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        good, bad = Path(tmp) / "a.json", Path(tmp) / "b.json"
        good.write_text(json.dumps(REPORT))
        before = _place(bad, content)
        code = _check(lambda: main(["compare", str(good), str(bad)]), bad, before)
        assert code in (0, 2, 10)


def _store_reads(root: Path, name: str) -> object:
    store = BaselineStore(root)
    key = name.removesuffix(".noise.json").removesuffix(".json")
    try:
        if name.endswith(".noise.json"):
            store.load_noise("m", key, "i")
            store.load_sessions("m", key, "i")
        else:
            store.load("m", key, "i")
    except BaselineError:
        pass
    return main(["baselines", str(root)])


def _store_file(name: str, content: bytes | str) -> None:
    """One mutated store file ``m/<name>``, read by the store and by ``bf16perf baselines``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m" / name
        path.parent.mkdir()
        before = _place(path, content)
        code = _check(lambda: _store_reads(Path(tmp), path.name), path, before)
        assert code in (0, 2)


@given(content=mutated(_baseline()))
def test_the_store_and_baselines_read_any_baseline(content: bytes | str) -> None:
    _store_file("w.json", content)


@given(content=mutated(NOISE))
def test_the_store_and_baselines_read_any_noise_file(content: bytes | str) -> None:
    _store_file("w.noise.json", content)


SESSION: dict[str, Any] = {
    "schema_version": 1,
    "index": 2,
    "figures": [10.0, 10.2],
    "workload": "w",
    "slug": "m",
    "fingerprint": FP,
    "disturbed": None,
    "bf16": [15.0, 15.1],
    "order": ["fp32", "bf16", "bf16", "fp32"],
    "gate": None,
    "started": "2026-12-01T00:00:00Z",
}


class _WouldTrain(Exception):
    """A session file that reads but names another index: calibrate would train it."""


def _calibrate_reads(state: Path) -> object:
    from bf16perf.calibration.noise import calibrate

    def forbid(*_: object, **__: object) -> Any:
        raise _WouldTrain

    try:
        return calibrate(state, 2, 2, run=forbid, say=lambda _: None)
    except (RuntimeError, _WouldTrain):
        return None


@given(content=mutated(SESSION))
def test_calibrate_resumes_from_any_session_file(content: bytes | str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sessions = Path(tmp) / "sessions"
        sessions.mkdir()
        (sessions / "001.json").write_text(json.dumps({**SESSION, "index": 1}))
        path = sessions / "002.json"
        before = _place(path, content)
        _check(lambda: _calibrate_reads(Path(tmp)), path, before)


WORKLOADS = (Path(__file__).parent.parent / "examples" / "workloads.toml").read_text()


@st.composite
def mutated_toml(draw: st.DrawFn) -> bytes | str:
    """The example workload file, truncated, with bytes spliced in, empty, or a special
    file kind."""
    kind = draw(st.sampled_from(["truncate", "splice", "empty", "dir", "fifo"]))
    if kind == "truncate":
        return WORKLOADS[: draw(st.integers(0, len(WORKLOADS) - 1))]
    if kind == "splice":
        at = draw(st.integers(0, len(WORKLOADS)))
        return WORKLOADS.encode()[:at] + draw(st.binary(max_size=40)) + WORKLOADS.encode()[at:]
    return b"" if kind == "empty" else kind


@given(content=mutated_toml())
def test_any_workload_file_is_read_or_refused_in_one_line(content: bytes | str) -> None:
    from bf16perf.workloads.definition import WorkloadError
    from bf16perf.workloads.tables import select_workloads

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "workloads.toml"
        before = _place(path, content)

        def read() -> object:
            try:
                return select_workloads(path, (), given=True)
            except WorkloadError as exc:
                assert "\n" not in str(exc).strip() or "key" in str(exc)
                return None

        _check(read, path, before)
