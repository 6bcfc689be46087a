"""The all-reduce alone, across network namespaces against loopback; prints Markdown.  Root.

    .venv/bin/python benchmarks/allreduce_hosts.py [--rounds 3] [--iterations 10]

Each round builds the same cluster twice, in turn: ``bf16perf master`` and two
``bf16perf worker``s pinned to CPU 0 and CPU 1, first each in its own network namespace
joined by a bridge (``tests/netns.py``, the driver beside the master), then all on loopback
in this namespace.  On each, one barrier stage starts a TensorFlow process per executor, as
the training worker does (``MultiWorkerMirroredStrategy``, RING, one intra-op thread), that
all-reduces ResNet-50's 25,557,032 fp32 gradients (one tensor, 102 MB) ``--iterations``
times after 2 untimed ones.  Reported per cluster: the median over iterations of the slower
rank's time, and the bus bandwidth that implies (a ring moves 2(n-1)/n of the bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))

from tests.netns import Loopback, namespaces, spark_hosts  # noqa: E402

PARAMETERS = 25_557_032  # ResNet-50's trainable weights

# The executor's TensorFlow process: times ITER all-reduces of one fp32 tensor of N floats.
_REDUCE = """
import json, sys, time
import tensorflow as tf
n, iterations = int(sys.argv[1]), int(sys.argv[2])
ring = tf.distribute.experimental.CommunicationImplementation.RING
strategy = tf.distribute.MultiWorkerMirroredStrategy(
    communication_options=tf.distribute.experimental.CommunicationOptions(implementation=ring))
with strategy.scope():
    grads = tf.Variable(tf.ones([n]))
@tf.function
def reduce():
    def replica():  # the gradients of a step: a tensor, not the variable itself
        return tf.distribute.get_replica_context().all_reduce("sum", grads * 1.0)
    return strategy.run(replica)
times = []
for _ in range(iterations + 2):
    t0 = time.perf_counter()
    float(strategy.experimental_local_results(reduce())[0][0])
    times.append(time.perf_counter() - t0)
print(json.dumps(times[2:]))
"""


def _task(n: int, iterations: int, _: Iterator[Any]) -> Iterator[str]:
    """Barrier task: rendezvous, then the all-reduce process with this task's TF_CONFIG."""
    from bf16perf.workloads.task import rendezvous

    rank, host, addresses = rendezvous()
    tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": rank}}
    env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), OMP_NUM_THREADS="1")
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    done = subprocess.run(
        [sys.executable, "-c", _REDUCE, str(n), str(iterations)],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"rank {rank} on {host}: {done.stderr[-2000:]}")
    times = json.loads(done.stdout.splitlines()[-1])
    yield json.dumps({"rank": rank, "host": host, "times": times})


def drive(url: str, secret_file: Path, iterations: int) -> None:
    """The driver (in the master's namespace for the bridge): one stage, JSON on stdout."""
    from bf16perf.cluster.bringup import external_driver_env
    from bf16perf.cluster.driver import spark_session
    from bf16perf.cluster.executors import barrier_stage

    with tempfile.TemporaryDirectory(prefix="bf16perf-ar-") as tmp:
        env, secret = external_driver_env(secret_file, Path(tmp))
        spark = spark_session(url, env=env, cores_per_executor=1, executors=2, secret=secret)
        try:
            raw = barrier_stage(spark, 2, partial(_task, PARAMETERS, iterations))
        finally:
            spark.stop()
    print("BF16PERF_AR " + json.dumps([json.loads(r) for r in raw]), flush=True)


def _measure(
    prefix: list[str], url: str, secret: Path, iterations: int, env: dict[str, str]
) -> Any:
    done = subprocess.run(
        [*prefix, sys.executable, __file__, "--drive", url, "--secret-file", str(secret),
         "--iterations", str(iterations)],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("BF16PERF_AR "):
            return json.loads(line.split(" ", 1)[1])
    lines = [x for x in done.stderr.splitlines() if x.strip() and not x.lstrip().startswith("at ")]
    sys.exit(f"the all-reduce stage failed ({done.returncode}):\n" + "\n".join(lines[-40:]))


def _loopback(tmp: Path, iterations: int) -> Any:
    """The same daemons on 127.0.0.1 in this namespace."""
    hosts, env = Loopback(), dict(os.environ)
    try:
        cluster = spark_hosts(hosts, tmp, env, port=7177)
        # the driver on loopback too: executors reach it, and so each other, at 127.0.0.1
        local = dict(env, SPARK_LOCAL_IP="127.0.0.1")
        return _measure([], cluster.url, cluster.secret, iterations, local)
    finally:
        hosts.teardown()


def _bridge(tmp: Path, iterations: int) -> Any:
    env = dict(os.environ)
    with namespaces("r") as hosts:
        cluster = spark_hosts(hosts, tmp, env)
        prefix = hosts.command("m", [])
        return _measure(
            prefix,
            cluster.url,
            cluster.secret,
            iterations,
            dict(env, SPARK_LOCAL_IP=cluster.master),
        )


def _figures(result: Any) -> tuple[float, float, str]:
    """(median of the slower rank's time per all-reduce s, bus GB/s, the ranks' hosts)."""
    slower = [max(pair) for pair in zip(*(r["times"] for r in result), strict=True)]
    median = statistics.median(slower)
    bus = 2 * (len(result) - 1) / len(result) * PARAMETERS * 4 / median / 1e9
    return median, bus, ", ".join(sorted(r["host"] for r in result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--secret-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive(args.drive, args.secret_file, args.iterations)
        return
    rows = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="bf16perf-arh-") as tmp:
            t0 = time.monotonic()
            rows.append(
                (i + 1, "namespaces (bridge)", *_figures(_bridge(Path(tmp, "ns"), args.iterations)))
            )
            rows.append((i + 1, "loopback", *_figures(_loopback(Path(tmp, "lo"), args.iterations))))
            print(f"round {i + 1}: {time.monotonic() - t0:.0f} s", file=sys.stderr)
    print("| round | cluster | workers at | median s per all-reduce | bus GB/s |")
    print("| ---: | --- | --- | ---: | ---: |")
    for r, name, median, bus, where in rows:
        print(f"| {r} | {name} | {where} | {median:.3f} | {bus:.2f} |")


if __name__ == "__main__":
    main()
