"""Workload definitions (bf16perf.workloads.definition) and a command's records becoming a
run (bf16perf.workloads.program.launch.to_run), without a cluster."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bf16perf.workloads.config import PROFILES, Precision
from bf16perf.workloads.definition import BUILTIN, DEFAULT_WORKLOAD, WorkloadDef, WorkloadError
from bf16perf.workloads.program.launch import CommandFailed, field_values, to_run
from bf16perf.workloads.tables import load_workloads, select_workloads

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples" / "workloads.toml"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(body)
    return path


def test_examples_load_and_builtins_are_there() -> None:
    found = load_workloads(EXAMPLES)
    assert {"keras-cnn", "keras-tf-cnn", "pyspark-sgd", "orca-resnet50"} <= set(found)
    assert set(BUILTIN) <= set(found)
    assert found["pyspark-sgd"].mode == "driver" and found["pyspark-sgd"].format == "bigdl"
    assert found["keras-cnn"].cwd == str(EXAMPLES.parent.resolve())
    # the Orca recipe needs an environment this machine lacks: it loads, but is refused
    # only when a session selects it, naming the missing program
    with pytest.raises(WorkloadError, match=r"orca-resnet50.*program '/opt/conda"):
        select_workloads(EXAMPLES, ("orca-resnet50",))


def test_select_default_and_unknown(tmp_path: Path) -> None:
    assert [w.name for w in select_workloads(tmp_path / "none.toml", ())] == [DEFAULT_WORKLOAD]
    # a file the user named must exist, be a file, and define workloads: a typo is an error
    with pytest.raises(WorkloadError, match=r"--perf-workload-file .*none\.toml: no such file"):
        select_workloads(tmp_path / "none.toml", (), given=True)
    with pytest.raises(WorkloadError, match="not a regular file"):
        select_workloads(tmp_path, (), given=True)
    (tmp_path / "empty.toml").write_text("[tool.other]\nx = 1\n")
    with pytest.raises(WorkloadError, match=r"empty\.toml: defines no \[tool\.bf16perf"):
        select_workloads(tmp_path / "empty.toml", (), given=True)
    with pytest.raises(WorkloadError, match="--perf-workload nope: not defined in"):
        select_workloads(EXAMPLES, ("nope",))
    chosen = select_workloads(EXAMPLES, ("keras-cnn", "resnet50-torch", "keras-cnn"))
    assert [w.name for w in chosen] == ["keras-cnn", "resnet50-torch"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('command = ["x"]\ncomand = 1', "key 'comand': unknown key"),
        ('mode = "driver"', "key 'command': a non-empty list of strings is required"),
        ("command = []", "key 'command': a non-empty list"),
        ('command = ["{python}", "{stepz}"]', r"unknown field \{stepz\}"),
        ('command = ["{python}", "{steps:>3}"]', r"unknown field \{steps\}"),
        ('command = ["a", "{"]', "write {{ for a brace"),
        ('command = ["a"]\nformat = "csv"', "key 'format': unknown format 'csv'"),
        ('command = ["a"]\nmode = "ranks"', "key 'mode': 'ranks'"),
        ('command = ["a"]\nformat = "regex"', "key 'regex': a regex string goes with"),
        ('command = ["a"]\nformat = "regex"\nregex = "(?P<speed>x)"', "key 'regex'.*unknown"),
        ('command = ["a"]\nenv = { A = true }', "key 'env': a table of strings"),
        ('command = ["a"]\nprecisions = ["fp16"]', "key 'precisions'"),
        ('command = ["a"]\ntimeout_s = -1', "key 'timeout_s': a positive, finite number"),
        # TOML's inf and nan, and values a program cannot be given (#32)
        ('command = ["a"]\ntimeout_s = inf', "key 'timeout_s': a positive, finite number"),
        ('command = ["a"]\nstep_timeout_s = nan', "key 'step_timeout_s': a positive, finite"),
        ('command = ["a"]\nenv = { "A=B" = "1" }', "key 'env': 'A=B' is not an environment"),
        ('command = ["a"]\nenv = { "" = "1" }', "key 'env': '' is not an environment"),
        ('command = ["a"]\nenv_bf16 = { A = "x\\u0000" }', "env_bf16.*A: a NUL character"),
        ('command = ["a\\u0000b"]', "key 'command': a non-empty list of strings"),
        ('command = ["a"]\nproof = "yes"', "key 'proof': true or false"),
        ('command = ["a"]\nargs_bf16 = "--bf16"', "key 'args_bf16': a list of strings"),
    ],
)
def test_bad_definitions_name_the_file_and_key(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, f"[tool.bf16perf.workloads.mine]\n{body}\n")
    with pytest.raises(WorkloadError, match=message) as info:
        load_workloads(path)
    assert str(path) in str(info.value) and "[tool.bf16perf.workloads.mine]" in str(info.value)


@pytest.mark.parametrize("name", ['"../x"', '"a/b"', '".hidden"', '"a b"', '"' + "n" * 65 + '"'])
def test_a_name_that_cannot_be_a_file_name_is_refused(tmp_path: Path, name: str) -> None:
    """A workload's name becomes part of baseline and report file names (#32)."""
    path = write(tmp_path, f'[tool.bf16perf.workloads.{name}]\ncommand = ["a"]\n')
    with pytest.raises(WorkloadError, match="the name becomes part of file names"):
        load_workloads(path)


def test_bad_file_and_builtin_name(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="not valid TOML"):
        load_workloads(write(tmp_path, "[tool.bf16perf.workloads.x\n"))
    with pytest.raises(WorkloadError, match="'resnet50-torch' is a built-in workload"):
        load_workloads(write(tmp_path, '[tool.bf16perf.workloads.resnet50-torch]\ncommand=["a"]'))


def test_missing_cwd_and_program_are_refused_when_selected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[tool.bf16perf.workloads.a]\ncommand = ["./train.sh"]\n'
        '[tool.bf16perf.workloads.b]\ncommand = ["{python}"]\ncwd = "gone"\n',
    )
    with pytest.raises(WorkloadError, match=r"program '\./train\.sh' not found"):
        select_workloads(path, ("a",))
    with pytest.raises(WorkloadError, match="key 'cwd': no directory"):
        select_workloads(path, ("b",))
    (tmp_path / "train.sh").write_text("#!/bin/sh\n")
    assert select_workloads(path, ("a",))[0].cwd == str(tmp_path.resolve())


def test_argv_fills_fields_and_the_precision_s_own_arguments() -> None:
    w = WorkloadDef(
        "w",
        command=("{python}", "t.py", "--b", "{global_batch}", "--n", "{total_steps}"),
        args_bf16=("--bf16", "--p={precision}"),
    )
    config = PROFILES["smoke"]
    values = field_values(config, workers=2, cores_per_worker=3, master="spark://m:7077")
    assert w.argv(values) == [sys.executable, "t.py", "--b", "8", "--n", "10"]
    bf16 = field_values(config.with_precision(Precision.BF16), 2, 3, "spark://m:7077")
    assert w.argv(bf16)[-2:] == ["--bf16", "--p=bf16"]


def record(
    step: int, ips: float, loss: float | None = 1.0, warmup: bool | None = None
) -> dict[str, Any]:
    return {
        "images_per_second": ips,
        "steps": 1,
        "step": step,
        "loss": loss,
        "warmup": warmup,
        "rank": None,
    }


def rank(r: int, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rank": r,
        "host": "h",
        "cpus": [r],
        "records": records,
        "tail": f"tail of {r}",
        "cpu_window": None,
    }


def test_to_run_drops_warmup_and_derives_step_times() -> None:
    config = PROFILES["smoke"]  # 2 warm-up steps, 4 images per worker
    w = WorkloadDef("w", command=("x",))
    ranks = [
        rank(1, [record(i, 8.0 + i) for i in range(1, 6)]),
        rank(0, [record(i, 4.0) for i in range(1, 5)]),
    ]
    run = to_run(config, w, ranks, wall_s=1.0, images_per_record=4)
    assert [x.rank for x in run.workers] == [0, 1]
    assert run.images_per_step == 8  # 4 per rank x 2 ranks
    assert run.workers[0].step_times_s == [1.0, 1.0]  # trimmed to the shorter rank
    assert run.workers[1].warmup_times_s == [4 / 9.0, 4 / 10.0]
    assert run.images_per_second == [8.0, 8.0]  # the slower rank sets the synchronous step


def test_to_run_refuses_nan_loss_and_no_metric_with_the_last_lines() -> None:
    config = PROFILES["smoke"]
    w = WorkloadDef("w", command=("x",), format="bigdl")
    with pytest.raises(CommandFailed, match=r"(?s)rank 0 on h: non-finite loss.*tail of 0"):
        to_run(config, w, [rank(0, [record(1, 1.0, float("nan"))])], 1.0, 4)
    with pytest.raises(CommandFailed, match=r"(?s)no measured step.*format bigdl.*tail of 0"):
        to_run(config, w, [rank(0, [record(1, 1.0)]), rank(1, [])], 1.0, 4)


def test_to_run_uses_the_program_s_warmup_flags_and_notes_silent_ranks() -> None:
    config = PROFILES["smoke"]
    w = WorkloadDef("w", command=("x",))
    records = [record(1, 2.0, warmup=True)] + [record(i, 4.0, warmup=False) for i in (2, 3)]
    run = to_run(config, w, [rank(0, records), rank(1, [])], 1.0, 4)
    assert len(run.workers) == 1 and run.workers[0].step_times_s == [1.0, 1.0]
    assert run.workers[0].notes == ["1 of 2 ranks printed no metric"]


def test_watch_streams_lines_and_reports_the_exit_code(tmp_path: Path) -> None:
    from bf16perf.workloads.program.task import tail, watch

    seen: list[str] = []
    code = "print('one'); print('two', flush=True); raise SystemExit(3)"
    done = watch(
        [sys.executable, "-c", code],
        env=dict(os.environ),
        cwd=None,
        log=tmp_path / "out.log",
        timeout_s=60,
        quiet_timeout_s=60,
        who="test",
        on_line=seen.append,
    )
    assert done.code == 3 and seen == ["one", "two"]
    assert tail(tmp_path / "out.log") == "one\ntwo"


def test_watch_kills_a_silent_program_and_names_it(tmp_path: Path) -> None:
    from bf16perf.workloads.program.task import watch

    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"(?s)rank 1 on h: printed nothing for 1 s.*hello"):
        watch(
            [sys.executable, "-c", "import time; print('hello', flush=True); time.sleep(60)"],
            env=dict(os.environ),
            cwd=None,
            log=tmp_path / "out.log",
            timeout_s=60,
            quiet_timeout_s=1,
            who="rank 1 on h",
        )
    assert time.monotonic() - start < 30
    with pytest.raises(RuntimeError, match="cannot start '/no/such/program'"):
        watch(
            ["/no/such/program"],
            env={},
            cwd=None,
            log=tmp_path / "x.log",
            timeout_s=5,
            quiet_timeout_s=5,
            who="w",
        )


def test_a_gate_never_passes_on_unproven_bf16_kernels() -> None:
    from bf16perf.verdicts import gate_rule
    from bf16perf.verdicts.outcomes import Outcome

    passed = gate_rule([20.0, 20.4, 19.8], [10.0, 10.1, 9.9], gate=1.2, looks=1)
    assert passed.outcome is Outcome.OK
    unproven = passed.without_proof()
    assert unproven.outcome is Outcome.INCONCLUSIVE and unproven.to_dict()["unproven"]
    assert unproven.detail.startswith("bf16 kernels UNPROVEN")
    assert "a gate cannot pass on unproven bf16 kernels" in unproven.detail
    failed = gate_rule([10.0, 10.1, 9.9], [20.0, 20.4, 19.8], gate=1.2, looks=1)
    assert failed.without_proof().outcome is Outcome.GATE_FAILED  # a failure stays one
    no_gate = gate_rule([20.0, 20.4, 19.8], [10.0, 10.1, 9.9], gate=0.0, looks=1)
    assert no_gate.without_proof().outcome is Outcome.OK  # smoke: nothing to pass


def test_reference_stack_is_checked_for_what_the_workloads_import(tmp_path: Path) -> None:
    from bf16perf.workloads.stack import TORCH_NEEDS, StackError, check_reference_stack

    versions = check_reference_stack(sys.executable, (), tmp_path, needs=TORCH_NEEDS)
    assert versions["torch"].startswith("2.")
    with pytest.raises(StackError, match=r"lacks 'no_such_pkg'.*pip install no-such-pkg"):
        check_reference_stack(sys.executable, (), tmp_path, needs={"no_such_pkg": "no-such-pkg"})


@pytest.mark.parametrize(
    "text", ["tool = 5\n", "[tool]\nbf16perf = 'x'\n", "[tool.bf16perf]\nworkloads = [1]\n"]
)
def test_a_tool_table_of_the_wrong_shape_is_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(WorkloadError, match="must be tables") as exc:
        load_workloads(path)
    assert "\n" not in str(exc.value)
