"""Feeding externally measured step times into pytest-benchmark.

pytest-benchmark times each round by calling its timer before and after the target
(``fixture._make_runner``).  :class:`ReplayTimer` is that timer: it returns cumulative
sums of the recorded step times, so that ``benchmark.pedantic(noop, rounds=N)`` turns N
measured training steps into N rounds with their real durations, without re-running
minutes of training for calibration.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["STEP_TIMER", "ReplayTimer"]


class ReplayTimer:
    """A timer that replays recorded durations, two calls (start, end) per round."""

    __name__ = "ReplayTimer"
    __module__ = __name__

    def __init__(self) -> None:
        self._values: list[float] = []

    def load(self, durations: Sequence[float]) -> None:
        values: list[float] = []
        clock = 0.0
        for d in durations:
            values += [clock, clock + d]
            clock += d
        self._values = values[::-1]

    def __call__(self) -> float:
        if not self._values:
            raise RuntimeError("ReplayTimer: more rounds than recorded steps")
        return self._values.pop()


STEP_TIMER = ReplayTimer()
