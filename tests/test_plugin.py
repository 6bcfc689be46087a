"""The plugin end to end, through pytester in a subprocess (the way users run it)."""

from pathlib import Path

import pytest

CAPTURES = Path(__file__).parent / "data" / "cpuinfo"

CONFTEST = """
from bf16perf.plugin.hooks import activate

pytest_plugins = ["fixtures.machine"]

def pytest_configure(config):
    activate(config)
"""

BF16_TEST = """
import pytest

@pytest.mark.bf16
def test_needs_bf16():
    pass
"""


@pytest.fixture
def perf_tree(pytester: pytest.Pytester) -> pytest.Pytester:
    root = Path(__file__).parent.parent
    pytester.syspathinsert(root)  # for the top-level fixtures package
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_bf16=BF16_TEST)
    pytester.mkdir("baselines")  # a user's repository keeps its baseline store
    return pytester


def _run(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    root = Path(__file__).parent.parent
    return p.runpytest_subprocess(
        "-p", "no:cacheprovider", "--rootdir", str(p.path), *args, "-o", f"pythonpath={root}"
    )


def test_header_sapphire_rapids_shows_amx(perf_tree: pytest.Pytester) -> None:
    result = _run(
        perf_tree,
        "--collect-only",
        "--perf-cpuinfo",
        str(CAPTURES / "linux-unknown-sapphirerapids"),
    )
    result.stdout.fnmatch_lines(
        [
            "bf16perf cpu: Intel(R) Xeon(R) Platinum 8480+ *",
            "bf16perf capability: amx",
            "bf16perf fingerprint: intel-xeon-platinum-8480-amx-112cpu-*",
            "bf16perf kernel proof: not run",
        ]
    )
    assert result.ret == 0
    assert not (perf_tree.path / "reports").exists(), "--collect-only measures nothing to report"


def test_cascade_lake_skips_bf16_naming_the_flag(perf_tree: pytest.Pytester) -> None:
    result = _run(
        perf_tree,
        "-rs",
        "--perf-no-probe",
        "--perf-cpuinfo",
        str(CAPTURES / "linux-centos7-cascadelake"),
    )
    result.stdout.fnmatch_lines(
        [
            "bf16perf capability: none (*lacks avx512_bf16*)",
            "SKIPPED * no bf16 hardware: *lacks avx512_bf16*",
        ]
    )
    result.assert_outcomes(skipped=1)


def test_require_bf16_turns_the_skip_into_a_failure(perf_tree: pytest.Pytester) -> None:
    result = _run(
        perf_tree,
        "--perf-no-probe",
        "--perf-require-bf16",
        "--perf-cpuinfo",
        str(CAPTURES / "linux-centos7-cascadelake"),
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*unsupported hardware: --perf-require-bf16: *lacks avx512_bf16*",
            "*test_needs_bf16*hardware*unsupported hardware*FAIL*",
            "bf16perf verdict: exit code 12 (UNSUPPORTED)",
        ]
    )
    assert result.ret == 12


VARIANT_TEST = """
import os
import pathlib

import pytest

from bf16perf.workloads.config import VARIANTS

@pytest.fixture(scope="session")
def expensive():
    # stands in for the Spark cluster: a skipped test must never bring it up
    pathlib.Path(os.environ["EXPENSIVE_MARK"]).write_text("yes")

@pytest.mark.parametrize("variant", [pytest.param(v, id=n) for n, v in VARIANTS.items()])
def test_train(variant, expensive):
    pass
"""


def _variant_tree(pytester: pytest.Pytester) -> pytest.Pytester:
    root = Path(__file__).parent.parent
    pytester.syspathinsert(root)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_variants=VARIANT_TEST)
    pytester.mkdir("baselines")
    return pytester


@pytest.mark.parametrize(
    ("capture", "outcomes", "reasons"),
    [
        (
            "linux-centos7-cascadelake",
            {"passed": 1, "skipped": 2},
            [
                "*test_train[[]bf16[]] SKIPPED (no bf16 hardware: *lacks avx512_bf16*",
                "*test_train[[]bf16-avx512[]] SKIPPED (no bf16 hardware: *",
            ],
        ),
        (
            "linux-kvm-zen4-genoa",
            {"passed": 2, "skipped": 1},
            ["*test_train[[]bf16-avx512[]] SKIPPED (no AMX: *capability is avx512_bf16*"],
        ),
        ("linux-unknown-sapphirerapids", {"passed": 3}, []),
        ("linux-firecracker-emeraldrapids", {"passed": 3}, []),
    ],
)
def test_variants_skip_before_any_fixture(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    capture: str,
    outcomes: dict[str, int],
    reasons: list[str],
) -> None:
    """fp32 always runs; bf16 needs bf16; bf16-avx512 needs AMX.  A skipped variant is
    skipped before the session fixtures, so a bf16-only selection on a machine without bf16
    never starts a cluster."""
    monkeypatch.setenv("COLUMNS", "400")  # -v lines whole, with their skip reasons
    marker = pytester.path / "expensive-was-set-up"
    monkeypatch.setenv("EXPENSIVE_MARK", str(marker))
    tree = _variant_tree(pytester)
    result = _run(tree, "-v", "--perf-no-probe", "--perf-cpuinfo", str(CAPTURES / capture))
    result.assert_outcomes(**outcomes)
    if reasons:
        result.stdout.fnmatch_lines(reasons, consecutive=False)
    marker.unlink()
    only_skipped = _run(
        tree, "-k", "bf16", "--perf-no-probe", "--perf-cpuinfo", str(CAPTURES / capture)
    )
    ran = outcomes.get("passed", 0) > 1
    assert marker.exists() is ran, only_skipped.stdout.str()


def test_probe_waits_for_the_machine_lock(
    perf_tree: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The kernel probe is CPU work: a second session must not run it beside a first one's
    measurement.  It waits for the lock, then stops with a usage error naming the holder,
    before any probe or header."""
    from bf16perf.machine.lock import MachineLock

    lock_path = tmp_path / "machine.lock"
    monkeypatch.setenv("BF16PERF_LOCK", str(lock_path))
    with MachineLock(lock_path, timeout_s=1):
        result = _run(perf_tree, "--perf-lock-timeout", "1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: another perf session holds *machine.lock (pid *"])
    assert "bf16perf kernel proof" not in result.stdout.str()
    # free again: the session runs, probes, and leaves the lock free behind it
    result = _run(perf_tree, "--perf-lock-timeout", "1")
    result.stdout.fnmatch_lines(["bf16perf kernel proof: *"])
    with MachineLock(lock_path, timeout_s=0.1):
        pass


@pytest.mark.parametrize("bad", ["cpuinfo", "java", "baseline"])
def test_bad_cpuinfo_java_or_baseline_fails_before_the_lock_wait(
    perf_tree: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bad: str
) -> None:
    """Another session holds the machine lock and this one would wait 600 s for it: a bad
    cpuinfo file, a missing Java or a corrupt baseline of this machine is known at
    activation and fails at once, naming it."""
    import time

    from bf16perf.machine.lock import MachineLock

    lock_path = tmp_path / "machine.lock"
    monkeypatch.setenv("BF16PERF_LOCK", str(lock_path))
    args = ["--perf-lock-timeout", "600"]
    if bad == "cpuinfo":
        args += ["--perf-cpuinfo", str(tmp_path / "missing-cpuinfo")]
        expected = "*missing-cpuinfo*"
    else:
        monkeypatch.delenv("JAVA_HOME", raising=False)
        empty = tmp_path / "bin"
        empty.mkdir()
        python_dir = str(Path(__import__("sys").executable).parent)
        monkeypatch.setenv("PATH", f"{python_dir}:{empty}")
        expected = "ERROR: Java not found: Spark needs Java 17 or newer*"
    if bad == "baseline":
        from bf16perf.machine.cpu import read_cpuinfo
        from bf16perf.machine.host import machine_fingerprint

        capture = CAPTURES / "linux-rocky8.5-zen4"
        slug = machine_fingerprint(read_cpuinfo(capture), True).slug
        (perf_tree.path / "baselines" / slug).mkdir()
        (perf_tree.path / "baselines" / slug / "some-workload.json").write_text("{not json")
        args += ["--perf-cpuinfo", str(capture)]
        expected = "ERROR: */some-workload.json is not valid JSON*"
    with MachineLock(lock_path, timeout_s=1):
        t0 = time.monotonic()
        result = _run(perf_tree, *args)
        elapsed = time.monotonic() - t0
    print(f"{bad}: usage error after {elapsed:.1f} s, with pytest's own start-up")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines([expected])
    assert "another perf session" not in result.stderr.str()
    assert elapsed < 120  # far from the 600 s lock wait it would have been


GATE_TEST = """
import os

def test_gate(bf16perf_session):
    assert bf16perf_session.options.min_bf16_speedup == float(os.environ["EXPECT_GATE"])
"""


@pytest.mark.parametrize(
    ("args", "gate"),
    [
        (("--perf-profile", "smoke"), 0.0),
        (("--perf-profile", "smoke", "--perf-min-bf16-speedup", "1.5"), 1.5),
        (("--perf-profile", "default"), 1.0),
    ],
)
def test_smoke_profile_has_no_gate_unless_given(
    perf_tree: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], gate: float
) -> None:
    perf_tree.makepyfile(test_gate=GATE_TEST)
    monkeypatch.setenv("EXPECT_GATE", str(gate))
    result = _run(perf_tree, "--perf-no-probe", "-k", "test_gate", *args)
    result.assert_outcomes(passed=1)


def test_env_variable_selects_the_file(
    perf_tree: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BF16PERF_CPUINFO", str(CAPTURES / "linux-rocky8.5-zen4"))
    result = _run(perf_tree, "--perf-no-probe")
    result.stdout.fnmatch_lines(["bf16perf capability: avx512_bf16"])
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("content", [None, "garbage, not a cpuinfo file\n", b"\x00\xff\xfe"])
def test_bad_cpuinfo_is_one_line_error(
    perf_tree: pytest.Pytester, content: str | bytes | None
) -> None:
    path = perf_tree.path / "cpuinfo.txt"
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    result = _run(perf_tree, "--perf-no-probe", "--perf-cpuinfo", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: ") and str(path) in errors[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_bad_option_value_names_it(perf_tree: pytest.Pytester) -> None:
    result = _run(perf_tree, "--perf-workers", "zero")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--perf-workers: 'zero' is not a whole number*"])


def test_plugin_is_passive_without_a_perf_tree(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--perf-cpuinfo", "/nonexistent")
    result.assert_outcomes(passed=1)
    assert "bf16perf cpu:" not in result.stdout.str()


def test_missing_baseline_store_is_a_usage_error_not_a_green_run(
    perf_tree: pytest.Pytester,
) -> None:
    missing = perf_tree.path / "nowhere"
    result = _run(perf_tree, "--perf-no-probe", "--perf-baselines", str(missing))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --perf-baselines {missing}: no such directory*"])


def test_an_unwritable_reports_place_is_a_usage_error_at_start(
    perf_tree: pytest.Pytester,
) -> None:
    blocker = perf_tree.path / "a-file"
    blocker.write_text("not a directory")
    reports = blocker / "reports"
    result = _run(perf_tree, "--perf-no-probe", "--perf-reports", str(reports))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --perf-reports {reports}: cannot make this session's*"])


@pytest.mark.parametrize(
    "args, words",
    [
        (["--perf-steps", "2"], "fewer than 3 make it one step's noise"),
        (["--perf-extra-pairs", "-1"], "must be 0 or more"),
        (["--perf-alpha", "0.5"], "false-alarm rate in (0, 0.1]"),
        (["--perf-reference-env", "NOEQUALS"], "is not NAME=VALUE"),
        (
            ["--perf-reference-env", "A=1", "--perf-pairs", "5"],
            "cannot reach p < 0.01*--perf-pairs 7 or more",
        ),
        (
            ["--perf-reference-env", "A=1", "--perf-save-baseline"],
            "--perf-save-baseline saves this stack's runs*",
        ),
    ],
)
def test_verdict_options_fail_at_the_command_line(
    perf_tree: pytest.Pytester, args: list[str], words: str
) -> None:
    result = _run(perf_tree, "--perf-no-probe", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{words}*"])


def test_reference_stack_without_tensorflow_fails_fast_naming_it(
    perf_tree: pytest.Pytester, tmp_path: Path
) -> None:
    """A bare venv as the reference stack: one line naming the missing package, before any
    lock, probe or cluster."""
    import subprocess
    import venv

    bare = tmp_path / "bare"
    venv.EnvBuilder(with_pip=False).create(bare)
    subprocess.run([str(bare / "bin" / "python"), "-c", "pass"], check=True)
    result = _run(perf_tree, "--perf-no-probe", "--perf-reference-python", str(bare / "bin/python"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, errors
    assert "lacks 'numpy'" in errors[0] and "pip install numpy" in errors[0]
    result = _run(perf_tree, "--perf-no-probe", "--perf-reference-python", "/no/such/python")
    result.stderr.fnmatch_lines(["ERROR: --perf-reference-python /no/such/python: no such file"])


BUDGET_TEST = """
import os

import pytest

@pytest.mark.perf_verdict
@pytest.mark.parametrize("x", [1, 2])
def test_verdict(x, bf16perf_session):
    assert bf16perf_session.verdicts == int(os.environ["EXPECT_VERDICTS"])
    assert bf16perf_session.verdict_settings.alpha == pytest.approx(
        0.01 / int(os.environ["EXPECT_VERDICTS"])
    )

def test_no_verdict(bf16perf_session):
    pass
"""


@pytest.mark.parametrize(("args", "verdicts"), [((), 4), (("--perf-trend-confirm", "0"), 2)])
def test_the_session_plans_its_error_budget_from_the_selected_tests(
    perf_tree: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    verdicts: int,
) -> None:
    """Two verdict tests (and a trend series each, unless the trend is off) share
    --perf-alpha; a test without the marker takes no share."""
    perf_tree.makepyfile(test_budget=BUDGET_TEST)
    monkeypatch.setenv("EXPECT_VERDICTS", str(verdicts))
    result = _run(perf_tree, "--perf-no-probe", "-k", "verdict", *args)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([f"*alpha 0.01 shared by the {verdicts} verdicts*"])
