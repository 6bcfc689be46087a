"""A small real PySpark program for bf16perf's driver mode: logistic regression by
synchronous mini-batch SGD over the cluster's executors, logging in BigDL's optimizer format.

It stands in for a Spark application such as Analytics Zoo's Orca ``resnet-50-imagenet.py``
(which needs Python 3.7, TensorFlow 2.3 and Spark 2.4): bf16perf starts the pinned cluster,
then runs this once per measured run with the master URL, and reads the lines it prints::

    [Epoch 1 256/2048][Iteration 1][Wall Clock 0.41s] Trained 256 records in 0.41 seconds.
    Throughput is 624.3 records/second. Loss is 0.693.

``--precision bf16`` rounds the weights and gradients to bfloat16 (NumPy has no bf16
kernels: this program's kernel proof reads "not available", which is what bf16perf says of
a program that prints no oneDNN output).  Authentication comes from ``SPARK_CONF_DIR``,
which bf16perf sets to the cluster's private configuration.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np


def to_bf16(x: np.ndarray) -> np.ndarray:
    """Round float32 values to the nearest bfloat16 (kept in float32 storage)."""
    bits = x.astype(np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", required=True)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256, help="records per iteration, all")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(args.master)
        .appName("pyspark-sgd")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    sc = spark.sparkContext
    sc.setLogLevel("ERROR")
    rng = np.random.default_rng(args.seed)
    truth = rng.normal(size=args.features).astype(np.float32)
    per_part = max(1, args.batch // args.partitions)

    def shard(index: int) -> list[tuple[np.ndarray, np.ndarray]]:
        r = np.random.default_rng([args.seed, index])
        x = r.normal(size=(per_part, args.features)).astype(np.float32)
        y = (x @ truth + 0.5 * r.normal(size=per_part) > 0).astype(np.float32)
        return [(x, y)]

    data = sc.parallelize(range(args.partitions), args.partitions).flatMap(shard).cache()
    data.count()
    bf16 = args.precision == "bf16"
    w = np.zeros(args.features, dtype=np.float32)
    start = time.perf_counter()
    for it in range(1, args.iterations + 1):
        t0 = time.perf_counter()
        wb = sc.broadcast(to_bf16(w) if bf16 else w)

        def grad(
            part: tuple[np.ndarray, np.ndarray], weights: Any = wb
        ) -> tuple[np.ndarray, float, int]:
            x, y = part
            p = 1.0 / (1.0 + np.exp(-(x @ weights.value)))
            eps = 1e-7
            loss = -float(np.sum(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
            return x.T @ (p - y), loss, len(y)

        g, loss, n = data.map(grad).reduce(lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2]))
        g = g / n
        w = w - 0.5 * (to_bf16(g) if bf16 else g)
        wb.unpersist()
        seconds = time.perf_counter() - t0
        print(
            f"[Epoch 1 {it * n}/{args.iterations * n}][Iteration {it}][Wall Clock"
            f" {time.perf_counter() - start:.6f}s] Trained {n} records in {seconds:.6f} seconds."
            f" Throughput is {n / seconds:.4f} records/second. Loss is {loss / n:.6f}.",
            flush=True,
        )
    spark.stop()


if __name__ == "__main__":
    main()
