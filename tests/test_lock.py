"""One perf session per machine: the second waits, then fails naming the holder; the lock
file cannot be turned against its user (a planted symlink, another user's file)."""

import fcntl
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bf16perf.machine.lock import LockError, LockTimeout, MachineLock, default_lock_path


def test_second_session_fails_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "bf16perf.machine.lock"
    with MachineLock(path, timeout_s=1):
        with pytest.raises(LockTimeout) as exc:
            MachineLock(path, timeout_s=0.5).acquire()
        message = str(exc.value)
        assert re.search(r"pid \d+, user \S+, host \S+, started \d{4}-\d\d-\d\dT", message)
        assert "--perf-lock-timeout" in message
    # released: the next session gets it at once
    with MachineLock(path, timeout_s=0.1):
        pass


def _private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("BF16PERF_LOCK", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("BF16PERF_STATE", str(tmp_path / "state"))
    path, shared = default_lock_path()
    assert not shared and path == tmp_path / "state" / "lock" / "machine.lock"
    return path


def test_the_default_lock_is_in_a_private_directory_not_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _private(monkeypatch, tmp_path)
    with MachineLock(None, timeout_s=0.1) as lock:
        assert lock.path == path
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert default_lock_path() == (tmp_path / "bf16perf" / "machine.lock", False)
    monkeypatch.setenv("BF16PERF_LOCK", str(tmp_path / "shared.lock"))
    assert default_lock_path() == (tmp_path / "shared.lock", True)


def test_a_planted_symlink_truncates_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _private(monkeypatch, tmp_path)
    path.parent.mkdir(parents=True, mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    path.symlink_to(victim)
    with pytest.raises(LockError, match="symbolic link: refused"):
        MachineLock(None, timeout_s=0.1).acquire()
    assert victim.read_text() == "precious\n"
    # the same attack on a lock named explicitly: refused too
    with pytest.raises(LockError, match="symbolic link"):
        MachineLock(path, timeout_s=0.1).acquire()
    assert victim.read_text() == "precious\n"


def test_a_directory_others_can_write_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _private(monkeypatch, tmp_path)
    path.parent.mkdir(parents=True)
    path.parent.chmod(0o777)
    with pytest.raises(LockError, match="other users could replace the lock"):
        MachineLock(None, timeout_s=0.1).acquire()


@pytest.mark.skipif(os.getuid() != 0, reason="making another user's file needs root")
def test_another_users_lock_file_is_one_line_naming_the_owner(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _private(monkeypatch, tmp_path)
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text("pid 1, user nobody, host h, started 2026-12-07T00:00:00+00:00\n")
    os.chown(path, 65534, 65534)
    with pytest.raises(LockError) as exc:
        MachineLock(None, timeout_s=0.1).acquire()
    assert "belongs to" in str(exc.value) and "\n" not in str(exc.value)
    assert path.read_text().startswith("pid 1, user nobody")  # untouched


def test_a_gone_holder_is_named_as_gone(tmp_path: Path) -> None:
    path = tmp_path / "machine.lock"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    path.write_text(f"pid {dead}, user x, host h, started 2026-12-07T00:00:00+00:00\n")
    fd = os.open(path, os.O_RDWR)  # what an orphaned child that inherited it would hold
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(LockTimeout, match="that process is gone"):
            MachineLock(path, timeout_s=0.1).acquire()
    finally:
        os.close(fd)
