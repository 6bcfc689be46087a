"""The metric parsers on verbatim lines of the real programs (tests/data/metrics/NOTICE.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bf16perf.workloads.output.metrics import (
    MetricsError,
    StepMetric,
    check_regex,
    has_nan_loss,
    parse_metrics,
    split_warmup,
)

DATA = Path(__file__).parent / "data" / "metrics"


def lines(name: str) -> list[str]:
    return (DATA / name).read_text().splitlines()


def test_bigdl_lines_of_three_layouts() -> None:
    got = parse_metrics("bigdl", lines("bigdl.log"), batch=32)
    assert [r.step for r in got] == [24420, 48, 49, 194, 195]  # not the epoch-finished line
    assert [r.images_per_second for r in got] == [
        177.3476,
        1206.979,
        986.7625,
        133.52922,
        133.69154,
    ]
    assert got[0].loss == pytest.approx(0.82751834)
    assert got[2].loss == pytest.approx(1.0327523)


def test_bigdl_old_form_and_its_nan_loss() -> None:
    got = parse_metrics("bigdl", lines("bigdl-old.log"), batch=2000)
    assert [r.images_per_second for r in got] == [3057.5117, 3086.1519]
    assert got[0].loss == pytest.approx(0.69250727)
    assert math.isnan(got[1].loss or 0.0)
    assert has_nan_loss(got) and not has_nan_loss(got[:1])


def test_tf_cnn_benchmarks_running_means_become_interval_means() -> None:
    got = parse_metrics("tf_cnn_benchmarks", lines("tf_cnn_benchmarks.log"), batch=32)
    assert [r.step for r in got] == [1, 10, 20]
    assert [r.steps for r in got] == [1, 9, 10]
    assert got[0].images_per_second == pytest.approx(31.6)
    # steps 2..10 had mean (10 x 31.1 - 31.6) / 9
    assert got[1].images_per_second == pytest.approx((311.0 - 31.6) / 9)
    assert got[2].images_per_second == pytest.approx((630.0 - 311.0) / 10)
    assert [r.loss for r in got] == [8.318, 8.343, 8.142]
    assert all(r.warmup is False for r in got)  # its warm-up is never printed


def test_intel_hook_warmup_lines_losses_and_duplicates() -> None:
    got = parse_metrics("intel_hook", lines("intel_hook.log"), batch=256)
    assert [(r.step, r.steps, r.warmup) for r in got] == [(50, 50, True), (100, 50, False)]
    assert [r.images_per_second for r in got] == [372.306, 373.426]
    assert [r.loss for r in got] == [9.06568, 8.15804]
    warmup, measured = split_warmup(got, warmup_steps=0)
    assert [r.step for r in warmup] == [50] and [r.step for r in measured] == [100]


def test_mllog_throughput_and_train_loss() -> None:
    got = parse_metrics("mllog", lines("mllog.log"), batch=8)
    assert [r.images_per_second for r in got] == [1.9257918929116467, 5154997.267404211]
    assert [r.step for r in got] == [3072, 1211105280]
    assert got[1].loss == 11.846  # the train_loss event after it


def test_jsonl_records_and_errors() -> None:
    text = [
        '{"step": 1, "images": 32, "seconds": 2.0, "loss": 2.3, "warmup": true, "rank": 1}',
        "",
        '{"step": 2, "images_per_second": 20.5, "loss": 2.1}',
        '{"step": 3, "seconds": 4.0}',
    ]
    got = parse_metrics("jsonl", text, batch=16)
    assert got[0] == StepMetric(16.0, step=1, loss=2.3, warmup=True, rank=1)
    assert got[1].images_per_second == 20.5
    assert got[2].images_per_second == 4.0  # the batch over the time
    with pytest.raises(MetricsError, match="line 2: not JSON"):
        parse_metrics("jsonl", ['{"seconds": 1}', "images 3"], batch=1)
    with pytest.raises(MetricsError, match="line 1: needs 'images_per_second'"):
        parse_metrics("jsonl", ['{"step": 1, "loss": 2}'], batch=1)


def test_user_regex() -> None:
    pattern = r"it (?P<step>\d+): (?P<seconds>[\d.]+) s, loss (?P<loss>[\d.]+)"
    got = parse_metrics("regex", ["it 7: 0.5 s, loss 1.25", "noise"], batch=8, regex=pattern)
    assert got == [StepMetric(16.0, step=7, loss=1.25)]
    with pytest.raises(MetricsError, match="unknown"):
        check_regex(r"(?P<speed>\d+)")
    with pytest.raises(MetricsError, match="needs a named group"):
        check_regex(r"(?P<loss>\d+)")
    with pytest.raises(MetricsError, match="does not compile"):
        check_regex(r"(?P<seconds>")
    with pytest.raises(MetricsError, match="unknown metrics format 'csv'"):
        parse_metrics("csv", [], batch=1)


def test_split_warmup_by_steps_when_the_program_does_not_say() -> None:
    records = [StepMetric(10.0, steps=2), StepMetric(11.0), StepMetric(12.0)]
    warmup, measured = split_warmup(records, warmup_steps=2)
    assert len(warmup) == 1 and [r.images_per_second for r in measured] == [11.0, 12.0]
