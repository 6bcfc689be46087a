"""The input pipelines: learnable deterministic synthetic data and real TFRecord JPEGs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bf16perf.workloads.config import PROFILES
from bf16perf.workloads.worker import synthetic_batches, tfrecord_dataset
from tests.tfrecords import write_tiny_imagenet


def test_synthetic_data_is_deterministic_per_rank_and_class_dependent() -> None:
    config = PROFILES["smoke"]
    a, b = synthetic_batches(config, rank=0), synthetic_batches(config, rank=0)
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b, strict=True))
    other = synthetic_batches(config, rank=1)
    assert not np.array_equal(a[0][0], other[0][0])
    images = np.concatenate([x for x, _ in a])
    labels = np.concatenate([y for _, y in a])
    means = {int(c): images[labels == c].mean(axis=0) for c in np.unique(labels)}
    # same-class images share a pattern: class means differ far beyond the noise
    first, second = list(means.values())[:2]
    assert np.abs(first - second).mean() > 0.3


@pytest.mark.slow
def test_tfrecords_decode_shard_and_batch(tmp_path: Path) -> None:
    data = write_tiny_imagenet(tmp_path / "tfr")
    config = replace(PROFILES["smoke"], data_dir=str(data), batch_per_worker=4)
    ds = tfrecord_dataset(config, rank=1, workers=2)
    images, labels = next(iter(ds))
    assert tuple(images.shape) == (4, 32, 32, 3)
    assert images.dtype.name == "float32" and float(abs(images).numpy().max()) <= 1.0 + 1e-6
    assert set(labels.numpy().tolist()) <= {0, 1, 2, 3}


def test_empty_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    config = replace(PROFILES["smoke"], data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="no TFRecord files"):
        tfrecord_dataset(config, rank=0, workers=1)


def test_the_worker_imports_tensorflow_without_matplotlib() -> None:
    """The worker keeps Keras' eager ``matplotlib.pyplot`` import out of every training
    process (BENCHMARKS.md Q1); TensorFlow must still import, and Keras take the absence."""
    import subprocess
    import sys

    code = (
        "import sys; from bf16perf.workloads.worker import without_plotting; without_plotting();"
        " import tensorflow as tf; tf.constant(1.0);"
        " assert 'matplotlib.pyplot' not in sys.modules and sys.modules['matplotlib'] is None"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
