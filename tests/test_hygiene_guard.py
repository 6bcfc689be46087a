"""The launcher that makes a child die with its parent, without ``preexec_fn`` (#32)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bf16perf.machine.hygiene import guarded

ROOT = Path(__file__).parent.parent

PARENT = textwrap.dedent(
    """
    import subprocess, sys, threading, time
    from bf16perf.machine.hygiene import guarded
    # started beside running threads: where preexec_fn is documented unsafe
    for _ in range(4):
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    child = subprocess.Popen(guarded(["sleep", "60"]))
    print(child.pid, flush=True)
    time.sleep(60)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _argv0(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return b""


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_a_guarded_child_dies_with_its_killed_parent() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 10
        while _argv0(child) != b"sleep" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _argv0(child) == b"sleep"  # the launcher exec'd the command, pid unchanged
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the child outlived its SIGKILLed parent"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_the_command_keeps_its_environment_output_and_exit_code(tmp_path: Path) -> None:
    env = dict(os.environ, GUARD_PROBE="kept")
    done = subprocess.run(
        guarded(["sh", "-c", 'echo "$GUARD_PROBE $(pwd)"; exit 3'], env, tmp_path),
        env=env, cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 3 and done.stdout == f"kept {tmp_path}\n", done


def test_a_missing_command_is_refused_before_it_starts(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no-such-program-bf16perf"):
        guarded(["no-such-program-bf16perf"])
    with pytest.raises(FileNotFoundError):
        guarded(["./missing.sh"], cwd=tmp_path)
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o755)
    done = subprocess.run(
        guarded(["./run.sh"], cwd=tmp_path), cwd=tmp_path, capture_output=True, text=True
    )
    assert done.stdout == "ran\n"


def test_no_launcher_uses_preexec_fn() -> None:
    """CPython: preexec_fn "is not safe to use in the presence of threads"."""
    users = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "src").rglob("*.py")
        if "preexec_fn=" in p.read_text()
    ]
    assert users == []
