"""Kept reference stacks (:mod:`bf16perf.store.references`, ``bf16perf reference``): what is
refused and that a refusal leaves nothing behind, listing and removing, and how a session
names one (``--perf-reference``).  The full creation from this environment, with its
import check and kernel probe, runs in ``tests/test_perf_e2e.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bf16perf.console import main
from bf16perf.console.reference_create import create_reference, frozen_requirements
from bf16perf.store.references import (
    ReferenceError,
    list_references,
    load_reference,
    reference_python,
    remove_reference,
)


def _kept(root: Path, name: str) -> Path:
    """A kept reference's layout, its interpreter this one (what ``create`` leaves)."""
    path = root / name
    (path / "venv" / "bin").mkdir(parents=True)
    (path / "venv" / "bin" / "python").symlink_to(sys.executable)
    meta = {
        "name": name,
        "created": "2026-12-01T00:00:00Z",
        "source": "test",
        "versions": {"python": "3.11", "tensorflow": "2.21.0"},
        "proof": "fp32 ran",
    }
    (path / "reference.json").write_text(json.dumps(meta))
    return path


def test_a_reference_that_cannot_import_the_worker_is_refused_and_nothing_is_kept(
    tmp_path: Path,
) -> None:
    """A real virtual environment from a requirements file that lacks TensorFlow: the
    import check refuses it in one line, and the half-made directory is gone."""
    pins = tmp_path / "pins.txt"
    pins.write_text("# nothing pinned\n")
    root = tmp_path / "refs"
    with pytest.raises(ReferenceError) as err:
        create_reference("bare", root=root, requirements=pins)
    message = str(err.value)
    assert "\n" not in message and "lacks 'numpy'" in message and "the reference" in message
    assert list(root.iterdir()) == []  # nothing half-made left behind
    assert list_references(root) == []


def test_bad_names_missing_files_and_existing_references_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ReferenceError, match="use letters, digits"):
        create_reference("../up", root=tmp_path)
    with pytest.raises(ReferenceError, match=r"--requirements .*: no such file"):
        create_reference("x", root=tmp_path, requirements=tmp_path / "nope.txt")
    _kept(tmp_path, "rel")
    with pytest.raises(ReferenceError, match=r"exists .*remove it first"):
        create_reference("rel", root=tmp_path)
    with pytest.raises(ReferenceError, match=r"no such reference .*kept: rel.*reference create"):
        load_reference("other", tmp_path)


def test_list_load_and_remove(tmp_path: Path) -> None:
    _kept(tmp_path, "b")
    _kept(tmp_path, "a")
    (tmp_path / ".c.partial-1").mkdir()  # a creation that died: never listed
    assert [r.name for r in list_references(tmp_path)] == ["a", "b"]
    ref = load_reference("a", tmp_path)
    assert ref.versions["tensorflow"] == "2.21.0" and ref.age_days() > 0
    assert reference_python("a", tmp_path) == str(tmp_path / "a" / "venv" / "bin" / "python")
    assert remove_reference("a", tmp_path) == tmp_path / "a"
    assert [r.name for r in list_references(tmp_path)] == ["b"]
    with pytest.raises(ReferenceError, match="no such reference"):
        remove_reference("a", tmp_path)


def test_a_broken_reference_names_the_fix(tmp_path: Path) -> None:
    path = _kept(tmp_path, "rel")
    (path / "venv" / "bin" / "python").unlink()
    with pytest.raises(ReferenceError, match=r"interpreter .* is gone.*reference remove rel"):
        load_reference("rel", tmp_path)
    (path / "reference.json").write_text("{")
    with pytest.raises(ReferenceError, match="unreadable"):
        load_reference("rel", tmp_path)


def test_the_freeze_leaves_out_the_harness_and_editable_installs() -> None:
    pins = frozen_requirements(sys.executable)
    names = {line.split("==")[0].lower().replace("_", "-") for line in pins.splitlines()}
    assert "tensorflow-cpu" in names or "tensorflow" in names
    assert "bf16perf" not in names and "pip" not in names
    assert not any(line.startswith("-e ") for line in pins.splitlines())


def test_the_command_lists_removes_and_refuses_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reference", "--dir", str(tmp_path), "list"]) == 0
    assert "no references in" in capsys.readouterr().out
    _kept(tmp_path, "rel")
    assert main(["reference", "--dir", str(tmp_path), "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rel  ") and "tensorflow 2.21.0" in out and "proof: fp32 ran" in out
    assert main(["reference", "--dir", str(tmp_path), "remove", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bf16perf reference: reference nope: no such reference")
    assert main(["reference", "--dir", str(tmp_path), "remove", "rel"]) == 0
    assert not (tmp_path / "rel").exists()


def test_a_session_names_a_kept_reference(tmp_path: Path) -> None:
    """``--perf-reference`` resolves at the command line: an unknown name or one beside an
    ad-hoc stack is a usage error (exit 4) naming the fix; a kept one sets the paired
    nightly's 2 pairs unless --perf-pairs is given."""
    _kept(tmp_path, "rel")
    base = [
        sys.executable,
        "-m",
        "pytest",
        "perf/",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    env = {**os.environ, "BF16PERF_STATE": str(tmp_path / "state")}
    root = Path(__file__).resolve().parents[1]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    unknown = run("--perf-reference", "nope", "--perf-references", str(tmp_path))
    assert unknown.returncode == 4 and "bf16perf reference create nope" in unknown.stderr
    both = run("--perf-reference", "rel", "--perf-references", str(tmp_path),
               "--perf-reference-python", sys.executable)  # fmt: skip
    assert both.returncode == 4 and "give one or the other" in both.stderr
    bad = run("--perf-reference", "a/b")
    assert bad.returncode == 4 and "is not a reference name" in bad.stderr


def test_uv_installs_from_the_same_sources_as_pip(tmp_path: Path) -> None:
    """A reference installs with uv from where this environment's pip would look: its
    configuration files and PIP_* variables (the last scope of a key wins)."""
    from bf16perf.console.reference_create import pip_sources

    config = tmp_path / "pip.conf"
    config.write_text(
        "[global]\nfind-links = /opt/wheels\nindex-url = https://mirror.example/simple\n"
        "extra-index-url = file:///a/simple file:///b/simple\ncert = /etc/ca.pem\n"
    )
    env = {**os.environ, "PIP_CONFIG_FILE": str(config), "PIP_FIND_LINKS": "/opt/env-wheels"}
    for key in (
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_CONSTRAINT",
        "PIP_NO_INDEX",
        "PIP_CERT",
    ):
        env.pop(key, None)
    code = (
        "import json, sys; from bf16perf.console.reference_create import pip_sources;"
        " print(json.dumps(pip_sources(sys.executable)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    args, extra = json.loads(done.stdout.strip().splitlines()[-1])
    assert args[args.index("--index-url") : args.index("--index-url") + 2] == [
        "--index-url",
        "https://mirror.example/simple",
    ]
    assert args.count("--extra-index-url") == 2 and "file:///b/simple" in args
    assert args[args.index("--find-links") : args.index("--find-links") + 2] == [
        "--find-links",
        "/opt/env-wheels",
    ]  # the variable over the file
    assert extra == {"SSL_CERT_FILE": "/etc/ca.pem"}
    assert pip_sources("/nonexistent/python") == ([], {})
