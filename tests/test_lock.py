"""One perf session per machine: the second waits, then fails naming the holder."""

import re
from pathlib import Path

import pytest

from bf16perf.lock import LockTimeout, MachineLock


def test_second_session_fails_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "bf16perf.lock"
    with MachineLock(path, timeout_s=1):
        with pytest.raises(LockTimeout) as exc:
            MachineLock(path, timeout_s=0.5).acquire()
        message = str(exc.value)
        assert re.search(r"pid \d+, started \d{4}-\d\d-\d\dT", message), message
        assert "--perf-lock-timeout" in message
    # released: the next session gets it at once
    with MachineLock(path, timeout_s=0.1):
        pass
