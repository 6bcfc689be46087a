"""The kernel probe's subprocess: a tiny fp32 and bf16 convolution + matmul, forward and
backward, under ``ONEDNN_VERBOSE=1`` (set by :func:`bf16perf.onednn.capture.run_probe`).

It prints a ``BF16PERF_PHASE <precision>`` marker before each phase so that the parser can
tell which primitives belong to which precision.  It imports nothing from pytest or Spark.
"""

from __future__ import annotations

from bf16perf.onednn.marks import mark


def main() -> None:
    """Run both phases; oneDNN writes its verbose lines to stdout."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    rng = tf.random.Generator.from_seed(0)
    for name, dtype in (("fp32", tf.float32), ("bf16", tf.bfloat16)):
        mark(name)
        x = tf.cast(rng.normal([4, 16, 16, 32]), dtype)
        w = tf.Variable(tf.cast(rng.normal([3, 3, 32, 32]), dtype))
        m = tf.Variable(tf.cast(rng.normal([32, 64]), dtype))
        with tf.GradientTape() as tape:
            y = tf.nn.conv2d(x, w, strides=1, padding="SAME")
            z = tf.matmul(tf.reshape(y, [-1, 32]), m)
            loss = tf.reduce_sum(tf.cast(z, tf.float32))
        grads = tape.gradient(loss, [w, m])
        _ = [float(tf.reduce_sum(tf.cast(g, tf.float32))) for g in grads]
    mark("end")


if __name__ == "__main__":
    main()
