"""One perf session per machine: an advisory lock whose holder is named on contention.

Overlapping perf runs make every timing garbage, so a second session waits for the first
and, after ``timeout_s``, fails with the holder's pid and start time.  The lock is an
``flock`` on a file: the kernel releases it when the holder dies, even by SIGKILL.
"""

from __future__ import annotations

import fcntl
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

__all__ = ["DEFAULT_LOCK_PATH", "LockTimeout", "MachineLock"]

DEFAULT_LOCK_PATH = Path(os.environ.get("BF16PERF_LOCK", "/tmp/bf16perf.lock"))


class LockTimeout(RuntimeError):
    """Another perf session held the machine for longer than the timeout."""


class MachineLock:
    """``with MachineLock(path, timeout_s):`` holds the machine for one perf session."""

    def __init__(self, path: Path = DEFAULT_LOCK_PATH, timeout_s: float = 600.0) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise LockTimeout(
                        f"another perf session holds {self.path} ({holder}); waited"
                        f" {self.timeout_s:.0f} s (--perf-lock-timeout): wait for it to finish"
                        " or stop it"
                    ) from None
                time.sleep(0.2)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {started}\n".encode(), 0)
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
