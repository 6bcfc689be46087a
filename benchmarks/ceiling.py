"""The practical upper bound of the bf16 speedup on this machine: bf16/fp32 GFLOP/s of a large
matmul and a ResNet 3x3 convolution (forward + backward), in one TensorFlow process."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

__all__ = ["ceiling"]


CEILING = r"""
import sys, time, json
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[1]))
tf.config.threading.set_inter_op_parallelism_threads(1)
out = {}
for name, dtype in (("fp32", tf.float32), ("bf16", tf.bfloat16)):
    a = tf.cast(tf.random.normal([2048, 2048]), dtype)
    b = tf.cast(tf.random.normal([2048, 2048]), dtype)
    mm = tf.function(lambda: tf.matmul(a, b))
    x = tf.cast(tf.random.normal([16, 28, 28, 128]), dtype)
    w = tf.Variable(tf.cast(tf.random.normal([3, 3, 128, 128]), dtype))
    @tf.function
    def conv():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.conv2d(x, w, 1, "SAME")
            s = tf.reduce_sum(tf.cast(y, tf.float32))
        return tape.gradient(s, [x, w])
    for label, fn, flops in (("matmul 2048", mm, 2 * 2048**3),
                             ("conv3x3 128->128 28x28 b16 fwd+bwd", conv,
                              3 * 2 * 16 * 28 * 28 * 128 * 128 * 9)):
        fn()
        times = []
        for _ in range(5):
            t0 = time.perf_counter(); r = fn()
            _ = [t.numpy() for t in (r if isinstance(r, list) else [r])]
            times.append(time.perf_counter() - t0)
        out.setdefault(label, {})[name] = flops / sorted(times)[2] / 1e9  # median of 5
print("RESULT " + json.dumps(out))
"""


def ceiling(args: argparse.Namespace) -> None:
    threads = len(os.sched_getaffinity(0))
    proc = subprocess.run(
        [sys.executable, "-c", CEILING, str(threads)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    print(f"| kernel ({threads} threads) | fp32 GFLOP/s | bf16 GFLOP/s | bf16/fp32 |")
    print("| --- | ---: | ---: | ---: |")
    for label, r in result.items():
        print(f"| {label} | {r['fp32']:.1f} | {r['bf16']:.1f} | {r['bf16'] / r['fp32']:.2f}x |")
