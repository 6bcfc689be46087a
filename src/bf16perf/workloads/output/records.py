"""A program's progress record (:class:`StepMetric`) and the arithmetic its parsers share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["NUMBER", "MetricsError", "StepMetric", "images_per_second"]


class MetricsError(ValueError):
    """Metrics that cannot be read (a bad JSON line, a record without a time)."""


@dataclass(frozen=True)
class StepMetric:
    """One record of a program's progress.

    Attributes:
        images_per_second: throughput over the record (of the rank that printed it, or of
            the whole job in driver mode).
        steps: training steps the record covers (``last 50 steps``: 50).
        step: the program's step or iteration number, where it printed one.
        loss: the loss it printed with (or right after) the record.
        warmup: ``True``/``False`` where the program said; ``None``: the harness decides.
        rank: the rank that wrote it (``jsonl``), where given.
    """

    images_per_second: float
    steps: int = 1
    step: int | None = None
    loss: float | None = None
    warmup: bool | None = None
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "images_per_second": self.images_per_second,
            "steps": self.steps,
            "step": self.step,
            "loss": self.loss,
            "warmup": self.warmup,
            "rank": self.rank,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepMetric:
        return cls(**d)


#: A number as programs print it (NaN and infinities included).
NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|[Nn]a[Nn]|inf|Infinity)"


def images_per_second(images: float | None, seconds: float | None, fallback_images: float) -> float:
    """Images over seconds (``fallback_images`` where the record gave no count)."""
    if seconds is None or seconds <= 0:
        raise MetricsError(f"a step time of {seconds} s cannot give a throughput")
    return (images if images is not None else fallback_images) / seconds
