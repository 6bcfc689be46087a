"""Child processes that never outlive the harness: ``PR_SET_PDEATHSIG`` before exec."""

from __future__ import annotations

import contextlib
import ctypes
import signal

__all__ = ["pdeathsig_preexec"]

_PR_SET_PDEATHSIG = 1


def pdeathsig_preexec() -> None:
    """In the child before exec: die with SIGTERM when the parent dies (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
