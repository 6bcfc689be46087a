"""The training process of one worker: ``python -m bf16perf.workloads.worker CONFIG OUT``.

Runs in a fresh subprocess of a barrier task (a reused Spark Python worker hangs on a second
MultiWorkerMirroredStrategy job), reads its :class:`TrainConfig` (JSON), its cluster role
from ``TF_CONFIG``, trains with MultiWorkerMirroredStrategy (RING all-reduce, gradients
packed) in a custom ``tf.function`` loop, and writes a :class:`WorkerResult` as JSON to OUT,
atomically, before it returns: the parent never waits on a slow interpreter exit.  Progress
lines (``BF16PERF_PROGRESS {...}``) go to stdout.  Imports nothing from pytest or Spark.
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
from bf16perf.workloads.config import Precision, TrainConfig
from bf16perf.workloads.progress import TAG
from bf16perf.workloads.results import WorkerResult

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


def _strategy(config: TrainConfig) -> tuple[Any, Any]:
    """MultiWorkerMirroredStrategy on RING all-reduce (gradients packed), and its options."""
    import tensorflow as tf

    intra = config.intra_op_threads or len(os.sched_getaffinity(0))
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(config.inter_op_threads)
    comm = tf.distribute.experimental.CommunicationOptions(
        bytes_per_pack=32 * 1024 * 1024,
        timeout_seconds=config.step_timeout_s,
        implementation=tf.distribute.experimental.CommunicationImplementation.RING,
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=comm), comm


def _train_step(config: TrainConfig, strategy: Any, comm: Any, global_batch: int) -> Any:
    """The compiled synchronous step: forward, backward, all-reduce, SGD update."""
    import tensorflow as tf

    from bf16perf.workloads.resnet import ResNet50

    dtype = tf.bfloat16 if config.precision is Precision.BF16 else tf.float32
    with strategy.scope():
        model = ResNet50(config.num_classes, config.seed, dtype)
    variables = model.trainable

    def replica_step(images: Any, labels: Any) -> Any:
        with tf.GradientTape() as tape:
            logits = model(images)
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        # All-reduce in the order the values become ready: the loss, then the gradients from
        # the last layer back.  TensorFlow launches collectives in the order they are created
        # and packs them in list order, so the first packs can go on the wire while the
        # backward pass still computes the early layers (BENCHMARKS.md Z3: +1-2% images/s).
        grads = tape.gradient(loss, variables)[::-1]
        ctx = tf.distribute.get_replica_context()
        if config.reduces_in_bf16:  # half the bytes on the wire; the loss stays fp32
            total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, loss, options=comm)
            sent = [tf.cast(g, tf.bfloat16) for g in grads]
            summed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, sent, options=comm)
            reduced = [tf.cast(g, tf.float32) for g in summed]
        else:
            total, *reduced = ctx.all_reduce(
                tf.distribute.ReduceOp.SUM, [loss, *grads], options=comm
            )

        def apply(strategy: Any, grads: list[Any]) -> None:
            for v, g in zip(variables, grads, strict=True):
                strategy.extended.update(
                    v,
                    lambda var, gg: var.assign_sub(config.learning_rate * gg),
                    args=(g,),
                    group=False,
                )

        ctx.merge_call(apply, args=(reduced[::-1],))  # back in variable order
        return total

    @tf.function  # type: ignore[untyped-decorator]
    def step(images: Any, labels: Any) -> Any:
        return strategy.run(replica_step, args=(images, labels))

    return step


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
    strategy, comm = _strategy(config)
    step = _train_step(config, strategy, comm, config.batch_per_worker * workers)
    inputs = _inputs(config, rank, workers)
    times: list[float] = []
    cpu: list[float] = []
    losses: list[float] = []
    before: CpuSample | None = None
    for i in range(config.warmup_steps + config.measured_steps):
        mark_step(i + 1)
        if i == config.warmup_steps:
            before = sample()  # what else runs on this worker's CPUs while it is measured
        images, labels = next(inputs)
        t0, c0 = time.perf_counter(), time.process_time()
        loss = float(strategy.experimental_local_results(step(images, labels))[0])  # host sync
        elapsed, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        if i >= config.warmup_steps and config.inject_slowdown > 0:
            time.sleep(elapsed * config.inject_slowdown)
            elapsed = time.perf_counter() - t0
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss is {loss} at step {i} ({config.precision.value})")
        times.append(elapsed)
        cpu.append(cpu_s)
        losses.append(loss)
        _report_step(rank, i, config, elapsed, loss)
    return _write(config, out, rank, workers, times, cpu, losses, before)


def _write(
    config: TrainConfig,
    out: Path,
    rank: int,
    workers: int,
    times: list[float],
    cpu: list[float],
    losses: list[float],
    before: CpuSample | None,
) -> WorkerResult:
    """This worker's result, written atomically to ``out``."""
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
