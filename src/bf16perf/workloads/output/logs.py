"""The frameworks' own progress lines as :class:`StepMetric` records: MLPerf logging,
BigDL's optimizer (TFPark), tf_cnn_benchmarks and Intel's ``ExamplesPerSecondHook``
(formats: :mod:`bf16perf.workloads.output.metrics`).  Pure functions on text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import replace

from bf16perf.workloads.output.records import NUMBER, StepMetric

__all__ = ["bigdl", "intel_hook", "mllog", "tf_cnn"]


_MLLOG = re.compile(r":::MLLOG (\{.*\})\s*$")


def mllog(lines: Iterable[str], batch: float) -> list[StepMetric]:
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
    r"\[Iteration (\d+)\].*?(?:Trained (" + NUMBER + r") records in (" + NUMBER + r") seconds"
    r"|Train (" + NUMBER + r") in (" + NUMBER + r") ?seconds)\. Throughput is (" + NUMBER + r")"
    r" records/second\. Loss is (" + NUMBER + r")"
)


def bigdl(lines: Iterable[str], batch: float) -> list[StepMetric]:
    out = []
    for line in lines:
        m = _BIGDL.search(line)
        if m:
            out.append(StepMetric(float(m.group(6)), step=int(m.group(1)), loss=float(m.group(7))))
    return out


_TF_CNN = re.compile(
    r"(?:^|\s|\|)(\d+)\s+images/sec: ("
    + NUMBER
    + r") \+/- "
    + NUMBER
    + r" \(jitter = "
    + NUMBER
    + r"\)(?:\s+("
    + NUMBER
    + r"))?"
)


def tf_cnn(lines: Iterable[str], batch: float) -> list[StepMetric]:
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
    r"Batch \[(\d+)\]:\s+last (\d+) steps exp/sec = (" + NUMBER + r")"
    r"(?:, completed \d+/\d+ \w+ steps)?"
)
_HOOK_WARMUP = re.compile(r"completed \d+/\d+ \w+ steps")
_TF_LOSS = re.compile(r"\bloss = (" + NUMBER + r")(?:, step = \d+)? \(")
_LOG_PREFIX = re.compile(r"^(?:INFO:tensorflow:|[IWE]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] )")


def intel_hook(lines: Iterable[str], batch: float) -> list[StepMetric]:
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
