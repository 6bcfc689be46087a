"""The training process of one worker: ``python -m bf16perf.workloads.worker CONFIG OUT``.

Runs in a fresh subprocess of a barrier task (a reused Spark Python worker hangs on a second
MultiWorkerMirroredStrategy job), reads its :class:`TrainConfig` (JSON), its cluster role
from ``TF_CONFIG``, trains with the compiled step of :mod:`bf16perf.workloads.step` in a
custom loop, keeping each step's wall time, CPU time, loss and timed parts, and writes a
:class:`WorkerResult` as JSON to OUT, atomically, before it returns: the parent never waits
on a slow interpreter exit.  Progress lines (``BF16PERF_PROGRESS {...}``) go to stdout.
Imports nothing from pytest or Spark.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bf16perf.machine.interference import CpuSample, CpuWindow, sample
from bf16perf.onednn.marks import mark_step
from bf16perf.workloads.config import TrainConfig
from bf16perf.workloads.progress import TAG
from bf16perf.workloads.results import WorkerResult, step_parts
from bf16perf.workloads.step import strategy_of, train_step

PROGRESS = TAG.decode()  # the task signs each line before it leaves (bf16perf.workloads.progress)


def synthetic_batches(config: TrainConfig, rank: int, count: int = 4) -> list[tuple[Any, Any]]:
    """Learnable synthetic data: a fixed low-frequency pattern per class plus noise."""
    import numpy as np

    rng = np.random.default_rng(config.seed)
    side = config.image_size
    coarse = max(2, side // 8)
    patterns = rng.normal(size=(config.num_classes, coarse, coarse, 3)).astype("float32")
    reps = -(-side // coarse)
    patterns = np.repeat(np.repeat(patterns, reps, axis=1), reps, axis=2)[:, :side, :side]
    data_rng = np.random.default_rng([config.seed, rank])
    batches = []
    for _ in range(count):
        labels = data_rng.integers(0, config.num_classes, size=config.batch_per_worker)
        noise = data_rng.normal(size=(config.batch_per_worker, side, side, 3)).astype("float32")
        images = patterns[labels] + 0.5 * noise
        batches.append((images, labels.astype("int32")))
    return batches


def tfrecord_dataset(config: TrainConfig, rank: int, workers: int) -> Any:
    """ImageNet-format TFRecords (``image/encoded`` JPEG, ``image/class/label``), sharded."""
    import tensorflow as tf

    files = sorted(str(p) for p in Path(config.data_dir or ".").glob("*"))
    if not files:
        raise ValueError(f"--perf-data-dir {config.data_dir}: no TFRecord files in it")
    features = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    }
    side = config.image_size

    def parse(record: Any) -> tuple[Any, Any]:
        ex = tf.io.parse_single_example(record, features)
        image = tf.io.decode_jpeg(ex["image/encoded"], channels=3)
        image = tf.image.resize_with_crop_or_pad(
            image, tf.reduce_max(tf.shape(image)[:2]), tf.reduce_max(tf.shape(image)[:2])
        )
        image = tf.image.resize(image, [side, side]) / 127.5 - 1.0
        # ImageNet labels in these files are 1-based
        label = tf.cast((ex["image/class/label"] - 1) % config.num_classes, tf.int32)
        return image, label

    ds = tf.data.TFRecordDataset(files).shard(workers, rank).repeat()
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(config.batch_per_worker, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _inputs(config: TrainConfig, rank: int, workers: int) -> Any:
    """An endless iterator of (images, labels) batches for this rank."""
    import itertools

    import tensorflow as tf

    if config.data_dir:
        return iter(tfrecord_dataset(config, rank, workers))
    batches = [(tf.constant(x), tf.constant(y)) for x, y in synthetic_batches(config, rank)]
    return itertools.cycle(batches)


def _report_step(rank: int, i: int, config: TrainConfig, seconds: float, loss: float) -> None:
    """One progress line on stdout (``launch`` streams rank 0's to the terminal)."""
    total = config.warmup_steps + config.measured_steps
    _, workers = _role()
    event = {
        "rank": rank,
        "step": i + 1,
        "of": total,
        "phase": "warmup" if i < config.warmup_steps else "measured",
        "seconds": seconds,
        "loss": loss,
        "images_per_second": config.batch_per_worker * workers / seconds,
    }
    print(f"{PROGRESS} {json.dumps(event)}", flush=True)


def _role() -> tuple[int, int]:
    """(rank, workers) from ``TF_CONFIG`` (one worker where it is empty, as in the proof)."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    rank = int(tf_config.get("task", {}).get("index", 0))
    return rank, len(tf_config.get("cluster", {}).get("worker", [])) or 1


def train(config: TrainConfig, out: Path) -> WorkerResult:
    """Train and return this worker's measurements (also written to ``out``).

    Each step's wall time is the synchronous step as this worker saw it (the slowest
    worker's compute plus the all-reduce); its process CPU time is this worker's own work,
    so a worker that waits in the all-reduce for a straggler shows less CPU than wall.
    """
    rank, workers = _role()
    strategy, comm = strategy_of(config)
    step = train_step(config, strategy, comm, config.batch_per_worker * workers)
    inputs = _inputs(config, rank, workers)
    times: list[float] = []
    cpu: list[float] = []
    losses: list[float] = []
    parts: list[dict[str, float]] = []
    before: CpuSample | None = None
    for i in range(config.warmup_steps + config.measured_steps):
        mark_step(i + 1)
        if i == config.warmup_steps:
            before = sample()  # what else runs on this worker's CPUs while it is measured
        images, labels = next(inputs)
        t0, c0 = time.perf_counter(), time.process_time()
        total, stamps = step(images, labels)
        loss = float(strategy.experimental_local_results(total)[0])  # host sync
        elapsed, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        taken = [float(x) for x in strategy.experimental_local_results(stamps)[0].numpy()]
        if i >= config.warmup_steps and config.inject_slowdown > 0:
            time.sleep(elapsed * config.inject_slowdown)
            elapsed = time.perf_counter() - t0
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss is {loss} at step {i} ({config.precision.value})")
        times.append(elapsed)
        cpu.append(cpu_s)
        parts.append(step_parts(taken, elapsed))
        losses.append(loss)
        _report_step(rank, i, config, elapsed, loss)
    return _write(config, out, rank, workers, (times, cpu, losses, parts), before)


def _write(
    config: TrainConfig,
    out: Path,
    rank: int,
    workers: int,
    measured: tuple[list[float], list[float], list[float], list[dict[str, float]]],
    before: CpuSample | None,
) -> WorkerResult:
    """This worker's result (``measured``: every step's wall time, CPU time, loss and
    parts), written atomically to ``out``."""
    times, cpu, losses, parts = measured
    after = sample()
    window = None
    if before is not None and after is not None and before.cpus == after.cpus:
        window = CpuWindow.between(before, after).to_dict()
    result = WorkerResult(
        rank=rank,
        host=socket.gethostname(),
        cpus=sorted(os.sched_getaffinity(0)),
        warmup_times_s=times[: config.warmup_steps],
        step_times_s=times[config.warmup_steps :],
        losses=losses,
        images_per_step=config.batch_per_worker * workers,
        cpu_window=window,
        step_cpu_s=cpu[config.warmup_steps :],
        step_parts_s=parts[config.warmup_steps :],
    )
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(result)))
    tmp.replace(out)
    return result


def without_plotting() -> None:
    """Keep matplotlib out of this process: TensorFlow imports Keras 3 eagerly, and Keras
    imports ``matplotlib.pyplot`` wherever it is installed (this project installs it for
    its reports), which is a fifth of TensorFlow's import time in every training and proof
    process (BENCHMARKS.md Q1); Keras takes its absence as it documents (``plt = None``)."""
    sys.modules.setdefault("matplotlib", None)  # type: ignore[arg-type]


def main(argv: list[str]) -> None:
    without_plotting()
    config = TrainConfig.from_json(Path(argv[1]).read_text())
    train(config, Path(argv[2]))
    sys.stdout.flush()
    # The result is on disk: do not wait for TensorFlow's teardown (FACTS: up to 100 s).
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
