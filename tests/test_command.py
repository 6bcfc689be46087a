"""The ``bf16perf`` command as CI uses it: it never writes over its input, its exit codes
gate, and its options are the plugin's validating parsers."""

from __future__ import annotations

import argparse
import copy
import json
import os
from pathlib import Path
from typing import Any, cast

import pytest

from bf16perf.console import main
from bf16perf.console._common import PROBLEMS_SHOWN
from tests.reportdocs import PROFILED_KERNELS, figure_runs, machine_id, report_doc, write_report


def _line(i: int, figure: float) -> dict[str, Any]:
    return {
        "schema_version": 2,
        "started": f"2026-11-{i % 28 + 1:02d}T01:00:00Z",
        "fingerprint": "m",
        "series": {"w-fp32": {"run_figures": [figure, figure * 1.01]}},
        "ratios": {},
    }


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(_line(i, 10.0 + i % 3 * 0.01)) + "\n" for i in range(12)))
    return path


def test_the_page_never_overwrites_the_history(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = history.read_bytes()
    link = tmp_path / "hard.jsonl"
    os.link(history, link)
    sub = tmp_path / "sub"
    sub.mkdir()
    for page in (history, tmp_path / "sub" / ".." / "history.jsonl", link):
        assert main(["history", str(history), "--page", str(page)]) == 2
    assert main(["history", str(history), "--page", str(sub)]) == 2  # a directory
    assert main(["history", str(history), "--page", str(tmp_path / "no" / "p.html")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 5 and "would destroy the input" in err[0] and "is a directory" in err[3]
    assert "does not exist" in err[4]
    assert history.read_bytes() == before
    assert main(["history", str(history)]) == 0  # a stationary history: no regression
    assert (tmp_path / "history.html").is_file() and not list(tmp_path.glob(".tmp-*"))


def test_skipped_lines_are_named_up_to_ten_then_counted(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with history.open("a") as fh:
        fh.write("not json\n" * 30)
    assert main(["history", str(history)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == PROBLEMS_SHOWN + 1 and "20 more lines skipped (30 in all)" in err[-1]


def _report(path: Path, machine: str, figures: dict[str, list[float]]) -> Path:
    return write_report(path, report_doc(machine, figure_runs(figures)))


def test_compare_names_its_sides_and_refuses_another_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _report(tmp_path / "a", "m1", {"k": [10.0, 10.1, 9.9], "only-a": [1.0, 1.1]})
    b = _report(tmp_path / "b", "m1", {"k": [6.0, 6.1, 5.9], "only-b": [1.0, 1.1]})
    other = _report(tmp_path / "o", "m2", {"k": [10.0, 10.1, 9.9]})
    assert main(["compare", str(a), str(b)]) == 10  # 40% slower on the same machine
    out = capsys.readouterr().out
    assert f"A (the baseline): {a}" in out and f"B (judged against A): {b}" in out
    assert "only-a: only in A, not compared" in out and "only-b: only in B" in out
    assert main(["compare", str(a), str(other)]) == 2
    assert "'slug-m1' and B" in capsys.readouterr().err
    assert main(["compare", str(a), str(other), "--allow-other-machine"]) == 0


def test_compare_reads_this_machines_calibration_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a noise file compare says it uses a conservative default and whose; with the
    machine's calibration (bf16perf calibrate's file in --baselines) it says so, and the
    same report against itself can rule out far smaller drops (#34 item 3)."""
    from bf16perf.store.baselines import BaselineStore

    a = _report(tmp_path / "a", "m1", {"k": [10.0, 10.2, 9.9]})
    store = BaselineStore(tmp_path / "baselines")
    path, _ = store.save_noise(
        "slug-m1", "k", fingerprint={"id": machine_id("m1"), "slug": "slug-m1"},
        figures=[10.0, 10.2, 9.9, 10.1, 10.05, 9.95], command="calibrate",
    )  # fmt: skip
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "session_sigma": 0.02, "session_df": 11}))
    empty = tmp_path / "empty"
    empty.mkdir()
    drops = {}
    for where, words in ((empty, "a conservative default"), (store.root, "12 A/A sessions")):
        assert main(["compare", str(a), str(a), "--baselines", str(where), "--format", "json"]) == 0
        (verdict,) = json.loads(capsys.readouterr().out)["verdicts"]
        assert words in verdict["detail"], verdict["detail"]
        drops[words] = verdict["detectable_drop"]
    print(f"detectable drops of a report against itself: {drops}")
    assert drops["12 A/A sessions"] < 0.2 < drops["a conservative default"], drops
    assert main(["compare", str(a), str(a), "--baselines", str(tmp_path / "none")]) == 2
    assert "--baselines" in capsys.readouterr().err


def test_compare_says_what_it_was_given_in_place_of_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A history or a baseline given to compare is named for what it is (#34)."""
    a = _report(tmp_path / "a", "m1", {"k": [10.0, 10.1, 9.9]})
    history = tmp_path / "history.jsonl"
    history.write_text('{"started": "2026-12-01T00:00:00Z"}\n{"started": "2026-12-02T00:00:00Z"}\n')
    baseline = tmp_path / "k.json"
    baseline.write_text(json.dumps({"schema_version": 3, "benchmarks": [], "sessions": []}))
    assert main(["compare", str(a), str(history)]) == 2
    err = capsys.readouterr().err
    assert "this is a history (one line a session), not a report" in err
    assert f"bf16perf history {history}" in err
    assert main(["compare", str(baseline), str(a)]) == 2
    assert "this is a baseline, not a report" in capsys.readouterr().err


def test_compare_formats_for_ci(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--format json`` is valid against its schema, ``--format markdown`` is a table, the
    exit code is the text form's (#34)."""
    import jsonschema

    from bf16perf.store.formats import schema

    a = _report(tmp_path / "a", "m1", {"k": [10.0, 10.1, 9.9], "only-a": [1.0, 1.1]})
    b = _report(tmp_path / "b", "m1", {"k": [6.0, 6.1, 5.9]})
    assert main(["compare", str(a), str(b), "--format", "json"]) == 10
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, schema("verdicts"))
    (verdict,) = doc["verdicts"]
    assert verdict["verdict"] == "throughput regression" and verdict["change"] < -0.35
    assert doc["exit_code"] == 10 and doc["only_in_a"] == ["only-a"]
    assert main(["compare", str(a), str(a), "--format", "json"]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out), schema("verdicts"))
    assert main(["compare", str(a), str(b), "--format", "markdown"]) == 10
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| test | check | verdict | change | interval |")
    assert lines[4].startswith("| k | throughput | **throughput regression** | -40.")
    assert lines[-1] == "exit code 10"


def test_summary_of_a_session_s_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import jsonschema

    from bf16perf.store.formats import schema

    report = tmp_path / "2026-12-07T010000Z"
    decisions = [
        {"test": "perf/t.py::t[fp32]", "check": "throughput", "outcome": "cannot tell",
         "fails": False, "detail": "x | y",
         "figures": {"ratio": 0.97, "ci": [0.8, 1.17], "confidence": 0.995, "mde": 0.31,
                     "threshold": 0.05}},
        {"test": "perf/t.py::t[fp32]", "check": "loss curve", "outcome": "ok", "fails": False,
         "detail": "ok", "figures": {}},
    ]  # fmt: skip
    write_report(report, report_doc("m", figure_runs({"k": [1.0]}), decisions, slug="m"))
    assert main(["summary", str(report)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "### bf16perf on m: 2026-12-07T010000Z"
    assert out[4] == (
        "| perf/t.py::t[fp32] | throughput | cannot tell | -3.0% | [-20.0%, +17.0%] at 99.5%"
        " | 5.0% | 31.0% |"
    )
    assert main(["summary", str(report), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, schema("verdicts"))
    assert [v["check"] for v in doc["verdicts"]] == ["throughput", "loss curve"]
    assert main(["summary", str(tmp_path / "README.md")]) == 2


def test_compare_words_its_own_advice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The rule is the session's; the advice is the command's: it names what to rerun with
    pytest perf/, never a bare flag the command does not have."""
    a = _report(tmp_path / "a", "m1", {"k": [10.0, 10.1, 9.9]})
    b = _report(tmp_path / "b", "m1", {"k": [16.0, 16.1, 15.9]})
    single = _report(tmp_path / "s", "m1", {"k": [10.0]})
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "improved" in out and "save its stack's session with pytest perf/" in out
    main(["compare", str(single), str(single)])
    out = capsys.readouterr().out
    assert "rerun both sessions with 3 runs or more" in out
    assert "(--perf-" not in out and "with --perf-" not in out


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "a", "b", "--threshold", "5"],
        ["compare", "a", "b", "--alpha", "1"],
        ["history", "h", "--confirm", "0"],
        ["calibrate", "--alpha", "0.7"],
    ],
)
def test_options_are_validated_by_the_plugins_parsers(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2 and "must be" in capsys.readouterr().err


def test_help_lists_the_exit_codes_and_version_prints(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "exit codes" in text and "10  a regression" in text and "``" not in text
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("bf16perf ")


@pytest.mark.parametrize(
    "argv",
    [
        ["history"], ["compare"], ["summary"], ["side-by-side"], ["calibrate"], ["baselines"],
        ["reference"],
        ["reference", "create"], ["reference", "list"], ["reference", "remove"], ["master"],
        ["worker"],
    ],
)  # fmt: skip
def test_every_subcommands_help_has_a_description_defaults_and_exit_codes(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from bf16perf.console import COMMAND_EXITS

    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    usage, description = text.split("\n\n")[:2]
    assert usage.startswith(f"usage: bf16perf {' '.join(argv)}")
    assert description.strip() and not description.startswith(("positional", "options"))
    flat = " ".join(text.split())
    assert "exit codes: " in flat and "2 a usage error" in flat, text
    assert " ".join(COMMAND_EXITS[argv[0]].split()[:3]) in flat
    if argv[0] in ("history", "calibrate", "master"):  # options with a default say it
        assert "default" in text.split("options:")[1], text


def test_baselines_lists_sessions_and_names_unusable_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bf16perf.store.baseline import baseline_document
    from bf16perf.store.baselines import BaselineStore
    from tests.test_baselines import _run

    store = BaselineStore(tmp_path)
    doc = baseline_document(
        [_run(10.0), _run(11.0)], fingerprint={"id": "i", "slug": "m"}, metadata={}, name="t",
        fullname="p::t",
    )  # fmt: skip
    store.save("m", "w", doc, keep=7)
    store.save("m", "w", doc, keep=7)
    assert main(["baselines", str(tmp_path)]) == 0
    assert "m  w  2 sessions, 4 runs, last saved" in capsys.readouterr().out
    (tmp_path / "m" / "future.json").write_text('{"schema_version": 99}')
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "w.json").write_bytes((tmp_path / "m" / "w.json").read_bytes())
    assert main(["baselines", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "schema_version 99 is newer" in err and "saved on machine 'm' but is kept under" in err
    assert main(["baselines", str(tmp_path / "m")]) == 2
    assert "holds the files of one machine" in capsys.readouterr().err


def test_the_commands_options_are_the_plugins() -> None:
    """One table: the command's --threshold and --alpha take the plugin's parser and
    default (so a value the plugin refuses, the command refuses)."""
    from bf16perf.console import parser
    from bf16perf.session.flags import OPTIONS

    table = {o.flag: o for o in OPTIONS}
    sub = next(a for a in parser()._actions if a.dest == "command")
    commands = cast(dict[str, argparse.ArgumentParser], sub.choices)
    for command in ("compare", "calibrate"):
        actions = {a.dest: a for a in commands[command]._actions}
        for dest, flag in (("threshold", "--perf-max-regression"), ("alpha", "--perf-alpha")):
            assert actions[dest].type is table[flag].parse
            assert actions[dest].default == table[flag].value_default


def _profiled(path: Path, conv_ms: float, impl: str) -> Path:
    """A report of one key with a lone-step profile kept in its first run's proof."""
    profile = {
        "parts": [
            {"name": "convolution forward", "ms": conv_ms, "count": 53, "impls": {impl: 53}},
            {"name": "reorder", "ms": 5.0, "count": 10, "impls": {"simple:any": 10}},
        ],
        "step_s": 1.0,
        "timed": [63, 63],
    }
    runs = figure_runs({"k": [10.0, 10.1, 9.9]})
    kept = copy.deepcopy(PROFILED_KERNELS)  # a real proof, this profile in it
    kept["profile"].update(profile)
    runs[0]["kernels"] = kept
    return write_report(path, report_doc("m", runs))


def test_compare_names_what_grew_in_the_lone_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _profiled(tmp_path / "a", 100.0, "brg_conv_fwd:avx512_core_amx")
    b = _profiled(tmp_path / "b", 141.0, "jit:avx2")
    assert main(["compare", str(a), str(b)]) == 0  # same throughput: nothing to fail
    out = capsys.readouterr().out
    assert "lone step from A to B: convolution forward +41.0 ms/step (+41%):" in out
    assert "brg_conv_fwd:avx512_core_amx -> jit:avx2" in out
    assert main(["compare", str(a), str(a)]) == 0
    assert "did not grow from A to B: look beyond the kernels" in capsys.readouterr().out


def test_side_by_side_names_a_report_without_both_precisions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A session of fp32 runs only (a real one, tests/data/golden) has no bf16/fp32 row: the
    report is named, exit 2, nothing printed as a table."""
    report = Path(__file__).parent / "data" / "golden" / "in" / "reports" / "roundtrip"
    assert main(["side-by-side", str(report)]) == 2
    captured = capsys.readouterr()
    assert f"{report}: the session has no fp32 and bf16 runs" in captured.err
    assert "| row |" not in captured.out


def test_side_by_side_cells_say_what_each_row_ran() -> None:
    from bf16perf.console.sidebyside import COLUMNS, table

    row = {
        "row": "pack0", "shape": "2x1", "bf16_allreduce": True, "bytes_per_pack": 0,
        "collective": "ring", "ratio": 1.4, "ratio_ci": None, "emulated": True,
        "allreduce_share": None, "session_s": 252.0, "loss_difference": 0.0321,
    }  # fmt: skip
    head, rule, line = table([row])
    assert head.count("|") == len(COLUMNS) + 1 and rule.count("---") == len(COLUMNS)
    assert line == (
        "| pack0 | 2x1 | yes | none | ring | 1.400x (figures, no gate) emulated bf16 |"
        " not timed | 4.2 min | +0.0321 |"
    )
