"""The compiled training step of the harness's ResNet-50: the strategy
(MultiWorkerMirroredStrategy, its collective and gradient packing), forward, backward, the
all-reduce and the SGD update in one ``tf.function``, timed in the graph (:data:`STAMPS`).
Imported only by the training process (:mod:`bf16perf.workloads.worker`); TensorFlow is
imported inside the functions.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bf16perf.workloads.config import Precision, TrainConfig

__all__ = ["STAMPS", "strategy_of", "train_step"]

#: The in-graph timestamps of a step, in the order they are taken (:func:`train_step`).
STAMPS = ("start", "gradients", "reduced", "applied")


def strategy_of(config: TrainConfig) -> tuple[Any, Any]:
    """MultiWorkerMirroredStrategy with the configured collective (RING by default) and
    gradient packing (``bytes_per_pack``), and its communication options."""
    import tensorflow as tf

    intra = config.intra_op_threads or len(os.sched_getaffinity(0))
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(config.inter_op_threads)
    impl = tf.distribute.experimental.CommunicationImplementation
    comm = tf.distribute.experimental.CommunicationOptions(
        bytes_per_pack=config.bytes_per_pack,
        timeout_seconds=config.step_timeout_s,
        implementation=impl.AUTO if config.collective == "auto" else impl.RING,
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=comm), comm


def train_step(config: TrainConfig, strategy: Any, comm: Any, global_batch: int) -> Any:
    """The compiled synchronous step: forward, backward, all-reduce, SGD update.

    It returns the global loss and four in-graph timestamps (:data:`STAMPS`): the step's
    start, the last gradient computed, the last value all-reduced, the last variable
    updated.  The later stamps hang off the graph as side nodes: nothing waits on them, so
    the collectives still start as soon as their packs are ready, and ``reduced -
    gradients`` is the all-reduce the backward pass did not hide (the part that lengthens
    the step).  Only the forward pass waits for the start's stamp: a stamp no op waits for
    runs whenever the executor is idle, which with one inter-op thread is the step's end.
    TensorFlow orders stateful ops that take no resource (``Timestamp``, a
    ``py_function``) among themselves in program order, and the collectives take an
    ordering token, so the stamps are taken in this order and the collectives are not
    chained to them.  They cost four clock reads and an identity a step.
    """
    import tensorflow as tf

    from bf16perf.workloads.resnet import ResNet50

    dtype = tf.bfloat16 if config.precision is Precision.BF16 else tf.float32
    with strategy.scope():
        model = ResNet50(config.num_classes, config.seed, dtype)
    variables = model.trainable
    pause = config.inject_allreduce_sleep_s

    def after(deps: list[Any]) -> Any:
        with tf.control_dependencies(deps):
            return tf.timestamp()

    def replica_step(images: Any, labels: Any) -> Any:
        start = tf.timestamp()
        with tf.control_dependencies([start]):  # else the executor takes it when it is idle
            images = tf.identity(images)
        with tf.GradientTape() as tape:
            logits = model(images)
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        # All-reduce in the order the values become ready: the loss, then the gradients from
        # the last layer back.  TensorFlow launches collectives in the order they are created
        # and packs them in list order, so the first packs can go on the wire while the
        # backward pass still computes the early layers (BENCHMARKS.md Z3: +1-2% images/s).
        grads = tape.gradient(loss, variables)[::-1]
        computed = after([loss, *grads])
        ctx = tf.distribute.get_replica_context()
        total, reduced = _all_reduce(ctx, loss, grads, comm, config.reduces_in_bf16)
        reduced_deps = [total, *reduced]
        if pause > 0:  # self-test: a known delay on the all-reduce's path
            with tf.control_dependencies(reduced_deps):
                reduced_deps.append(tf.py_function(lambda: _sleep(pause), [], tf.float32))
        done = after(reduced_deps)
        # back in variable order
        updated = ctx.merge_call(_sgd(variables, config.learning_rate), args=(reduced[::-1],))
        return total, tf.stack([start, computed, done, after([updated])])

    @tf.function  # type: ignore[untyped-decorator]
    def step(images: Any, labels: Any) -> Any:
        return strategy.run(replica_step, args=(images, labels))

    return step


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return 0.0


def _all_reduce(ctx: Any, loss: Any, grads: list[Any], comm: Any, in_bf16: bool) -> Any:
    """The summed loss and gradients (``in_bf16``: the gradients cross in bf16, half the
    bytes on the wire; the loss stays fp32)."""
    import tensorflow as tf

    if in_bf16:
        total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, loss, options=comm)
        sent = [tf.cast(g, tf.bfloat16) for g in grads]
        summed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, sent, options=comm)
        return total, [tf.cast(g, tf.float32) for g in summed]
    total, *reduced = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [loss, *grads], options=comm)
    return total, reduced


def _sgd(variables: list[Any], learning_rate: float) -> Any:
    """The cross-replica update: plain SGD on every variable, grouped into one op."""
    import tensorflow as tf

    def apply(strategy: Any, grads: list[Any]) -> Any:
        return tf.group(
            [
                strategy.extended.update(
                    v, lambda var, gg: var.assign_sub(learning_rate * gg), args=(g,), group=False
                )
                for v, g in zip(variables, grads, strict=True)
            ]
        )

    return apply
