"""The built-in PyTorch workload: one rank of ResNet-50 v1.5 data-parallel training.

``python -m bf16perf.workloads.program.torch_resnet --precision bf16 --batch 16 --steps 10`` is what
the ``resnet50-torch`` workload runs once per Spark barrier task, as pyspark's
``TorchDistributor`` does: ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``
come from the task, the process group is gloo, the model is wrapped in
``DistributedDataParallel`` (channels-last, oneDNN's preferred layout on CPU), and bf16 is
``torch.autocast("cpu", dtype=torch.bfloat16)`` around the forward pass and the loss
(weights and the SGD update stay fp32).  It needs no torchvision: the network is written
here.  Each step appends one JSON line to ``$BF16PERF_METRICS`` (step, images, seconds,
loss, warmup, rank) with the loss averaged over ranks, so every rank's curve is the same.
In a profiled proof step it marks each step (:mod:`bf16perf.onednn.marks`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from bf16perf.onednn.marks import mark_step


def _resnet50(num_classes: int) -> Any:
    """ResNet-50 v1.5 (stride in the 3x3 convolution of each bottleneck)."""
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, width: int, stride: int) -> None:
            super().__init__()
            cout = width * 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, width, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
            )
            self.short = (
                nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
                )
                if stride != 1 or cin != cout
                else nn.Identity()
            )
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x: Any) -> Any:
            return self.relu(self.body(x) + self.short(x))

    layers: list[Any] = [
        nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


def _batches(args: argparse.Namespace, rank: int, count: int = 4) -> list[tuple[Any, Any]]:
    """Learnable synthetic data: a fixed coarse pattern per class plus noise (NCHW)."""
    import numpy as np
    import torch

    rng = np.random.default_rng(args.seed)
    side = args.image_size
    coarse = max(2, side // 8)
    patterns = rng.normal(size=(args.num_classes, 3, coarse, coarse)).astype("float32")
    reps = -(-side // coarse)
    patterns = np.repeat(np.repeat(patterns, reps, axis=2), reps, axis=3)[:, :, :side, :side]
    data_rng = np.random.default_rng([args.seed, rank])
    out = []
    for _ in range(count):
        labels = data_rng.integers(0, args.num_classes, size=args.batch)
        noise = data_rng.normal(size=(args.batch, 3, side, side)).astype("float32")
        images = torch.from_numpy(patterns[labels] + 0.5 * noise)
        out.append((images.contiguous(memory_format=torch.channels_last), torch.from_numpy(labels)))
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--batch", type=int, default=16, help="images per rank per step")
    parser.add_argument("--steps", type=int, default=10, help="all steps, warm-up included")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.002)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Train ``--steps`` steps; one JSON record a step into ``$BF16PERF_METRICS``."""
    args = _parser().parse_args(argv)

    import torch
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(args.seed)  # every rank starts from the same weights
    if world > 1:
        dist.init_process_group("gloo", rank=rank, world_size=world)
    model = _resnet50(args.num_classes).to(memory_format=torch.channels_last)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    bf16 = args.precision == "bf16"
    batches = _batches(args, rank)
    metrics_path = os.environ.get("BF16PERF_METRICS")
    metrics = open(metrics_path, "a") if metrics_path else None  # noqa: SIM115
    try:
        for step in range(args.steps):
            images, labels = batches[step % len(batches)]
            mark_step(step + 1)  # only in a profiled proof step (bf16perf.onednn.marks)
            t0 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(model(images), labels)
            loss.backward()  # DDP all-reduces the gradients here
            optimizer.step()
            reported = loss.detach().float()
            if world > 1:
                dist.all_reduce(reported)
                reported /= world
            seconds = time.perf_counter() - t0
            record = {
                "step": step + 1,
                "images": args.batch,
                "seconds": seconds,
                "loss": float(reported),
                "warmup": step < args.warmup_steps,
                "rank": rank,
            }
            print(
                f"step {step + 1}/{args.steps}: {args.batch / seconds:.2f} images/s,"
                f" loss {record['loss']:.4f}",
                flush=True,
            )
            if metrics is not None:
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
    finally:
        if metrics is not None:
            metrics.close()
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
