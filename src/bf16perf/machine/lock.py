"""One perf session per machine: an advisory lock whose holder is named on contention.

Overlapping perf runs make every timing garbage, so a second session waits for the first
and, after ``timeout_s``, fails with the holder's pid, user and start time.  The lock is an
``flock`` on a file: the kernel releases it when the holder dies, even by SIGKILL, so a
holder line alone never holds the machine (a dead holder's line is only text).

Where the file lives is a security matter on a machine a team shares: a predictable name
in world-writable ``/tmp`` lets another user plant a symlink there and have the next
session truncate any file its user can write.  So the lock is in a directory only its
user can write (``$XDG_RUNTIME_DIR/bf16perf``, else ``$BF16PERF_STATE/lock``, else
``~/.local/state/bf16perf/lock``, created 0700), opened with ``O_NOFOLLOW``, and a file
another user owns is refused in one line.  To serialise the sessions of several users on
one machine, name a file in a group-shared directory with ``BF16PERF_LOCK`` (docs/reliability.md,
"The machine lock"): its owner may then be any member of the group.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
import socket
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

__all__ = ["LockError", "LockTimeout", "MachineLock", "default_lock_path"]

#: The lock file's name in its directory.
LOCK_NAME = "machine.lock"


class LockError(RuntimeError):
    """The lock file cannot be used safely; the message is one line naming the fix."""


class LockTimeout(LockError):
    """Another perf session held the machine for longer than the timeout."""


def default_lock_path() -> tuple[Path, bool]:
    """The lock file, and whether it was named explicitly (``BF16PERF_LOCK``: a shared
    lock, whose owner may be another user)."""
    named = os.environ.get("BF16PERF_LOCK")
    if named:
        return Path(named), True
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "bf16perf" / LOCK_NAME, False
    state = os.environ.get("BF16PERF_STATE")
    base = Path(state) if state else Path.home() / ".local" / "state" / "bf16perf"
    return base / "lock" / LOCK_NAME, False


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _private_dir(directory: Path) -> None:
    """Create ``directory`` 0700 if missing; refuse one another user owns or others can
    write (anyone who can write it can replace the lock file)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.stat(directory, follow_symlinks=False)
    if not stat.S_ISDIR(info.st_mode):
        raise LockError(f"lock directory {directory} is not a directory; remove it")
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise LockError(
            f"lock directory {directory} belongs to {_user(info.st_uid)} with mode"
            f" {stat.S_IMODE(info.st_mode):o}: other users could replace the lock there;"
            " make it yours with mode 0700, or name a shared lock with BF16PERF_LOCK"
        )


class MachineLock:
    """``with MachineLock(path, timeout_s):`` holds the machine for one perf session
    (``path`` ``None``: :func:`default_lock_path`; a given path is taken as named
    explicitly, so its directory is the caller's business)."""

    def __init__(self, path: Path | None = None, timeout_s: float = 600.0) -> None:
        if path is None:
            path, shared = default_lock_path()
            self._private = not shared
        else:
            self._private = False
        self.path = path
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def _open(self) -> int:
        if self._private:
            _private_dir(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LockError(
                    f"lock file {self.path} is a symbolic link: refused (someone may have"
                    " planted it to have a session truncate its target); remove it"
                ) from None
            owner = ""
            if self.path.exists():
                owner = f", owned by {_user(self.path.stat().st_uid)}"
            raise LockError(
                f"lock file {self.path} cannot be opened ({exc.strerror}{owner}); ask its"
                " owner, or give this user its own lock (unset BF16PERF_LOCK)"
            ) from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (self._private and info.st_uid != os.getuid()):
            os.close(fd)
            raise LockError(
                f"lock file {self.path} belongs to {_user(info.st_uid)} and is not a regular"
                " file of this user's; remove it"
            )
        return fd

    def acquire(self) -> None:
        fd = self._open()
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise LockTimeout(
                        f"another perf session holds {self.path} ({_holder(holder)}); waited"
                        f" {self.timeout_s:.0f} s (--perf-lock-timeout): wait for it to finish"
                        " or stop it"
                    ) from None
                time.sleep(0.2)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        line = (
            f"pid {os.getpid()}, user {_user(os.getuid())}, host {socket.gethostname()},"
            f" started {started}\n"
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, line.encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> MachineLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _holder(line: str) -> str:
    """The holder line, printable, and whether its pid still runs here: a lock whose
    named holder is gone is held by a process it left behind (an orphaned JVM or worker
    that inherited the file)."""
    shown = "".join(c if c.isprintable() else "?" for c in line[:200]) or "holder unknown"
    words = line.split(",")[0].split()
    if len(words) == 2 and words[0] == "pid" and words[1].isdigit():
        try:
            os.kill(int(words[1]), 0)
        except ProcessLookupError:
            return (
                f"{shown}; that process is gone, so a process it left holds the lock: find"
                " it with fuser or lsof on the lock file and stop it"
            )
        except PermissionError:
            pass
    return shown
