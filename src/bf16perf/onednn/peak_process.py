"""The peak probe's subprocess: one large matmul in one data type, repeated, on the CPUs
and threads it is given, under ``ONEDNN_VERBOSE=1`` (set by
:mod:`bf16perf.workloads.peak_run`, which reads oneDNN's time of every call).

    python -m bf16perf.onednn.peak_process DTYPE N CALLS THREADS      (DTYPE: f32 or bf16)

It imports nothing from pytest or Spark.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    """Multiply two N x N matrices of DTYPE CALLS times (the first call warms up)."""
    dtype_name, n, calls, threads = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    dtype = {"f32": tf.float32, "bf16": tf.bfloat16}[dtype_name]
    rng = tf.random.Generator.from_seed(0)
    a = tf.cast(rng.normal([n, n]), dtype)
    b = tf.cast(rng.normal([n, n]), dtype)
    product = tf.function(lambda: tf.matmul(a, b))
    for _ in range(calls):
        _ = product().numpy()


if __name__ == "__main__":
    main(sys.argv[1:])
