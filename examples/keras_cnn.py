"""A small Keras CNN trained data-parallel with MultiWorkerMirroredStrategy: one rank of a
bf16perf per-worker workload.

bf16perf runs it once per Spark barrier task with ``TF_CONFIG`` set, pinned where the task
is.  bf16 is Keras's ``mixed_bfloat16`` policy (float32 head).  The loop is a custom
``tf.function`` (Keras 3's ``model.fit`` fails under MultiWorkerMirroredStrategy with two
workers, keras-team/keras#20585).  It logs in one of two formats:

- ``--log jsonl``: one JSON line per step to ``$BF16PERF_METRICS`` (bf16perf's own format);
- ``--log tf_cnn``: ``tf_cnn_benchmarks``'s lines (``10\\timages/sec: 31.1 +/- 0.4 (jitter =
  0.7)\\t8.343``), its warm-up unprinted, as a program written for that tool would.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--batch", type=int, default=8, help="images per worker per step")
    parser.add_argument("--steps", type=int, default=6, help="measured steps")
    parser.add_argument("--warmup-steps", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--log", choices=("jsonl", "tf_cnn"), default="jsonl")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    if args.precision == "bf16":
        tf.keras.mixed_precision.set_global_policy("mixed_bfloat16")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    workers = strategy.num_replicas_in_sync
    rank = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0)
    global_batch = args.batch * workers
    with strategy.scope():
        tf.keras.utils.set_random_seed(args.seed)
        model = tf.keras.Sequential(
            [
                tf.keras.Input((args.image_size, args.image_size, 3)),
                tf.keras.layers.Conv2D(32, 3, activation="relu"),
                tf.keras.layers.Conv2D(64, 3, strides=2, activation="relu"),
                tf.keras.layers.GlobalAveragePooling2D(),
                tf.keras.layers.Dense(10, dtype="float32"),
            ]
        )
        optimizer = tf.keras.optimizers.SGD(0.01)

    rng = np.random.default_rng([args.seed, rank])
    images = rng.normal(size=(args.batch, args.image_size, args.image_size, 3)).astype("float32")
    labels = rng.integers(0, 10, size=args.batch).astype("int32")

    @tf.function
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        def replica(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                per = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
                loss = tf.nn.compute_average_loss(per, global_batch_size=global_batch)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

        per_replica = strategy.run(replica, args=(x, y))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    x, y = tf.constant(images), tf.constant(labels)
    metrics_path = os.environ.get("BF16PERF_METRICS")
    speeds: list[float] = []
    if args.log == "tf_cnn" and rank == 0:
        print("Running warm up", flush=True)
    for i in range(args.warmup_steps + args.steps):
        warmup = i < args.warmup_steps
        t0 = time.perf_counter()
        loss = float(step(x, y))
        seconds = time.perf_counter() - t0
        if args.log == "jsonl" and metrics_path:
            record = {
                "step": i + 1,
                "images": args.batch,
                "seconds": seconds,
                "loss": loss,
                "warmup": warmup,
                "rank": rank,
            }
            with open(metrics_path, "a") as fh:
                fh.write(json.dumps(record) + "\n")
        elif args.log == "tf_cnn" and not warmup:
            speeds.append(args.batch / seconds)  # per worker, as tf_cnn_benchmarks prints
            n = len(speeds)
            mean = statistics.fmean(speeds)
            sd = statistics.stdev(speeds) / n**0.5 if n > 1 else 0.0
            jitter = statistics.median(abs(s - statistics.median(speeds)) for s in speeds)
            print(
                f"{n}\timages/sec: {mean:.1f} +/- {sd:.1f} (jitter = {jitter:.1f})\t{loss:.3f}",
                flush=True,
            )
        print(f"step {i + 1}: loss {loss:.4f}", flush=True)
    if args.log == "tf_cnn" and speeds:
        print(f"total images/sec: {statistics.fmean(speeds) * workers:.2f}", flush=True)


if __name__ == "__main__":
    main()
