"""Per-step throughput and loss from what a training program prints or writes.

A command workload (:mod:`bf16perf.workloads.definition`) names one of :data:`FORMATS`; its
parser turns the program's lines into :class:`StepMetric` records (the frameworks' own log
formats: :mod:`bf16perf.workloads.output.logs`).  Pure functions on text,
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

from bf16perf.workloads.output.logs import bigdl, intel_hook, mllog, tf_cnn
from bf16perf.workloads.output.records import MetricsError, StepMetric, images_per_second

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
                ips = images_per_second(d.get("images"), d.get("seconds"), batch)
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
            ips = images_per_second(images, float(g["seconds"]), batch)
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
        return mllog(lines, batch)
    if fmt == "bigdl":
        return bigdl(lines, batch)
    if fmt == "tf_cnn_benchmarks":
        return tf_cnn(lines, batch)
    if fmt == "intel_hook":
        return intel_hook(lines, batch)
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
