"""The phase markers a profiled or probed process prints between the parts of its oneDNN
verbose output, so that :func:`bf16perf.onednn.kernels.parse_verbose` can tell which primitives
belong to which step (or probe phase).

The protocol, for the harness's own programs and any command workload that wants a
lone-step profile: when :data:`STEP_MARKS` is set in its environment (only ever in the
profiled proof step, never in measured runs), print ``BF16PERF_PHASE step-N`` before step
N with :func:`mark`, which flushes Python's and C's stdio first (oneDNN prints through C
stdio, which a pipe buffers apart from ``sys.stdout``).  Imports nothing heavy.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["PHASE_MARK", "STEP_MARKS", "mark", "mark_step"]

#: The marker's first word (:mod:`bf16perf.onednn.kernels` reads it).
PHASE_MARK = "BF16PERF_PHASE"
#: Set in a profiled step's environment: mark each step.
STEP_MARKS = "BF16PERF_STEP_MARKS"


def mark(phase: str) -> None:
    """``BF16PERF_PHASE <phase>`` on stdout, after both stdio buffers are flushed, so that
    the marker lands between the oneDNN lines before and after it."""
    sys.stdout.flush()
    ctypes.CDLL(None).fflush(None)
    os.write(1, f"\n{PHASE_MARK} {phase}\n".encode())


def mark_step(step: int) -> None:
    """Mark step ``step`` (1-based) where :data:`STEP_MARKS` is set; nothing otherwise."""
    if os.environ.get(STEP_MARKS):
        mark(f"step-{step}")
