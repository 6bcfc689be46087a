"""Writes a tiny ImageNet-format TFRecord set of real JPEGs (the reference imagenet_main.py
format: ``image/encoded``, ``image/class/label`` 1-based) for the data-path tests."""

from __future__ import annotations

from pathlib import Path


def write_tiny_imagenet(directory: Path, images: int = 24, files: int = 2, side: int = 40) -> Path:
    """Write ``images`` JPEGs of a few colours/classes into ``files`` TFRecord shards."""
    import numpy as np
    import tensorflow as tf

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    writers = [
        tf.io.TFRecordWriter(str(directory / f"train-{i:05d}-of-{files:05d}")) for i in range(files)
    ]
    for n in range(images):
        label = n % 4
        pixels = rng.integers(0, 60, size=(side, side + 8, 3), dtype=np.uint8)
        pixels[..., label % 3] += np.uint8(120)
        jpeg = tf.io.encode_jpeg(tf.constant(pixels)).numpy()
        example = tf.train.Example(
            features=tf.train.Features(
                feature={
                    "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg])),
                    "image/class/label": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[label + 1])
                    ),
                }
            )
        )
        writers[n % files].write(example.SerializeToString())
    for w in writers:
        w.close()
    return directory
