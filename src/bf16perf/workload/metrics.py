"""Per-step throughput and loss from what a training program prints or writes.

A command workload (:mod:`bf16perf.workload.definition`) names one of :data:`FORMATS`; its
parser turns the program's lines into :class:`StepMetric` records.  Pure functions on text,
no I/O: the barrier task and the driver feed them files they read.

Formats:

- ``jsonl``: one JSON object per step in the file named by ``BF16PERF_METRICS`` (``step``,
  ``images``, ``seconds``, ``loss``, ``warmup``, ``rank``; ``images_per_second`` may replace
  ``images``/``seconds``), the format documented for users who can change their script.
- ``mllog``: MLPerf logging (``:::MLLOG {json}``): ``tracked_stats`` with ``throughput``
  (and ``step``), ``train_loss`` events.
- ``bigdl``: BigDL's optimizer (``[Epoch e n/N][Iteration i][Wall Clock ts] Trained n records
  in t seconds. Throughput is x records/second. Loss is l.``, and the older ``Train n in
  tseconds`` form), which TFPark's TFOptimizer and TFEstimator print.
- ``tf_cnn_benchmarks``: ``N\\timages/sec: x +/- y (jitter = z)\\tloss``; the figure it
  prints is the mean over all steps so far, so each record holds the mean of the steps since
  the previous line.
- ``intel_hook``: Intel's ``ExamplesPerSecondHook`` (``Batch [n]:  last k steps exp/sec =
  x, ...``; the ``completed k/K warmup steps`` lines are warm-up) with TensorFlow's ``loss =
  l (t sec)``.
- ``regex``: the workload's ``regex`` with named groups (``images_per_second``, or
  ``seconds`` with optional ``images``; optional ``step``, ``loss``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "FORMATS",
    "REGEX_GROUPS",
    "MetricsError",
    "StepMetric",
    "check_regex",
    "has_nan_loss",
    "parse_metrics",
    "split_warmup",
]


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


_NUM = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|[Nn]a[Nn]|inf|Infinity)"


def _ips(images: float | None, seconds: float | None, fallback_images: float) -> float:
    if seconds is None or seconds <= 0:
        raise MetricsError(f"a step time of {seconds} s cannot give a throughput")
    return (images if images is not None else fallback_images) / seconds


def _jsonl(lines: Iterable[str], batch: float) -> list[StepMetric]:
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MetricsError(f"line {n}: not JSON ({exc.msg}): {line.strip()[:80]}") from None
        if not isinstance(d, dict):
            raise MetricsError(f"line {n}: a JSON object per line is expected, got {line[:80]}")
        try:
            ips = d.get("images_per_second")
            if ips is None:
                ips = _ips(d.get("images"), d.get("seconds"), batch)
            loss = d.get("loss")
            out.append(
                StepMetric(
                    float(ips),
                    step=d.get("step"),
                    loss=None if loss is None else float(loss),
                    warmup=d.get("warmup"),
                    rank=d.get("rank"),
                )
            )
        except (MetricsError, TypeError, ValueError) as exc:
            raise MetricsError(
                f"line {n}: needs 'images_per_second', or 'seconds' (and 'images'): {exc}"
            ) from None
    return out


_MLLOG = re.compile(r":::MLLOG (\{.*\})\s*$")


def _mllog(lines: Iterable[str], batch: float) -> list[StepMetric]:
    out: list[StepMetric] = []
    pending: float | None = None  # a train_loss seen before its throughput record
    for line in lines:
        m = _MLLOG.search(line)
        if not m:
            continue
        try:
            event = json.loads(m.group(1))
        except json.JSONDecodeError:
            continue
        key, value = event.get("key"), event.get("value")
        meta = event.get("metadata") or {}
        if key == "tracked_stats" and isinstance(value, dict) and "throughput" in value:
            loss = value.get("loss", pending)
            pending = None
            step = meta.get("step", meta.get("epoch_num"))
            out.append(
                StepMetric(
                    float(value["throughput"]),
                    step=int(step) if isinstance(step, int | float) else None,
                    loss=None if loss is None else float(loss),
                )
            )
        elif key == "train_loss" and isinstance(value, int | float):
            if out and out[-1].loss is None:
                out[-1] = replace(out[-1], loss=float(value))
            else:
                pending = float(value)
    return out


_BIGDL = re.compile(
    r"\[Iteration (\d+)\].*?(?:Trained (" + _NUM + r") records in (" + _NUM + r") seconds"
    r"|Train (" + _NUM + r") in (" + _NUM + r") ?seconds)\. Throughput is (" + _NUM + r")"
    r" records/second\. Loss is (" + _NUM + r")"
)


def _bigdl(lines: Iterable[str], batch: float) -> list[StepMetric]:
    out = []
    for line in lines:
        m = _BIGDL.search(line)
        if m:
            out.append(StepMetric(float(m.group(6)), step=int(m.group(1)), loss=float(m.group(7))))
    return out


_TF_CNN = re.compile(
    r"(?:^|\s|\|)(\d+)\s+images/sec: ("
    + _NUM
    + r") \+/- "
    + _NUM
    + r" \(jitter = "
    + _NUM
    + r"\)(?:\s+("
    + _NUM
    + r"))?"
)


def _tf_cnn(lines: Iterable[str], batch: float) -> list[StepMetric]:
    out = []
    previous_step, previous_mean = 0, 0.0
    for line in lines:
        m = _TF_CNN.search(line)
        if not m:
            continue
        step, mean = int(m.group(1)), float(m.group(2))
        if step <= previous_step:
            continue
        # tf_cnn_benchmarks prints the mean images/sec of steps 1..N (its warm-up is not
        # printed); the steps since the last line had this mean:
        covered = step - previous_step
        ips = (step * mean - previous_step * previous_mean) / covered
        loss = m.group(3)
        out.append(
            StepMetric(
                ips if ips > 0 else mean,
                steps=covered,
                step=step,
                loss=None if loss is None else float(loss),
                warmup=False,
            )
        )
        previous_step, previous_mean = step, mean
    return out


_HOOK = re.compile(
    r"Batch \[(\d+)\]:\s+last (\d+) steps exp/sec = (" + _NUM + r")"
    r"(?:, completed \d+/\d+ \w+ steps)?"
)
_HOOK_WARMUP = re.compile(r"completed \d+/\d+ \w+ steps")
_TF_LOSS = re.compile(r"\bloss = (" + _NUM + r")(?:, step = \d+)? \(")
_LOG_PREFIX = re.compile(r"^(?:INFO:tensorflow:|[IWE]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] )")


def _intel_hook(lines: Iterable[str], batch: float) -> list[StepMetric]:
    out: list[StepMetric] = []
    previous = ""
    for line in lines:
        # absl logs each message twice (``INFO:tensorflow:`` and glog form): keep one
        body = _LOG_PREFIX.sub("", line.strip())
        if body == previous:
            continue
        previous = body
        m = _HOOK.search(body)
        if m:
            warmup = bool(_HOOK_WARMUP.search(body))
            out.append(
                StepMetric(
                    float(m.group(3)), steps=int(m.group(2)), step=int(m.group(1)), warmup=warmup
                )
            )
            continue
        loss = _TF_LOSS.search(body)
        if loss and out and out[-1].loss is None:
            out[-1] = replace(out[-1], loss=float(loss.group(1)))
    return out


#: Named groups a ``regex`` workload may use.
REGEX_GROUPS = frozenset({"images_per_second", "images", "seconds", "step", "loss"})


def check_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled, or :class:`MetricsError` saying what it lacks."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise MetricsError(f"regex {pattern!r} does not compile: {exc}") from None
    groups = set(compiled.groupindex)
    unknown = groups - REGEX_GROUPS
    if unknown:
        raise MetricsError(f"regex group(s) {sorted(unknown)} unknown; use {sorted(REGEX_GROUPS)}")
    if "images_per_second" not in groups and "seconds" not in groups:
        raise MetricsError("regex needs a named group 'images_per_second' or 'seconds'")
    return compiled


def _regex(lines: Iterable[str], batch: float, pattern: str) -> list[StepMetric]:
    compiled = check_regex(pattern)
    out = []
    for line in lines:
        m = compiled.search(line)
        if not m:
            continue
        g = m.groupdict()
        if g.get("images_per_second") is not None:
            ips = float(g["images_per_second"])
        else:
            images = float(g["images"]) if g.get("images") is not None else None
            ips = _ips(images, float(g["seconds"]), batch)
        out.append(
            StepMetric(
                ips,
                step=int(g["step"]) if g.get("step") is not None else None,
                loss=float(g["loss"]) if g.get("loss") is not None else None,
            )
        )
    return out


#: Format names a workload may give.
FORMATS = ("jsonl", "mllog", "bigdl", "tf_cnn_benchmarks", "intel_hook", "regex")


def parse_metrics(
    fmt: str, lines: Iterable[str], batch: float, regex: str | None = None
) -> list[StepMetric]:
    """The records ``lines`` hold in format ``fmt``.  ``batch`` is the images of one step,
    used where a record gives a time but no image count."""
    if fmt == "jsonl":
        return _jsonl(lines, batch)
    if fmt == "mllog":
        return _mllog(lines, batch)
    if fmt == "bigdl":
        return _bigdl(lines, batch)
    if fmt == "tf_cnn_benchmarks":
        return _tf_cnn(lines, batch)
    if fmt == "intel_hook":
        return _intel_hook(lines, batch)
    if fmt == "regex":
        if not regex:
            raise MetricsError("format 'regex' needs a 'regex'")
        return _regex(lines, batch, regex)
    raise MetricsError(f"unknown metrics format {fmt!r}; use one of {', '.join(FORMATS)}")


def split_warmup(
    records: list[StepMetric], warmup_steps: int
) -> tuple[list[StepMetric], list[StepMetric]]:
    """(warm-up, measured) records: the program's own flag where it gave one, else the
    first records until ``warmup_steps`` training steps are covered."""
    if any(r.warmup is not None for r in records):
        return [r for r in records if r.warmup], [r for r in records if not r.warmup]
    covered, i = 0, 0
    while i < len(records) and covered < warmup_steps:
        covered += records[i].steps
        i += 1
    return records[:i], records[i:]


def has_nan_loss(records: Iterable[StepMetric]) -> bool:
    """Whether any record printed a non-finite loss (the run then fails)."""
    return any(r.loss is not None and not math.isfinite(r.loss) for r in records)
