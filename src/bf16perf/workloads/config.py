"""The typed training configuration, a plain value that crosses process borders.

:class:`TrainConfig` goes from the driver to every training subprocess as JSON; what comes
back is :mod:`bf16perf.workloads.results`'s.  Nothing here imports TensorFlow, Spark or
pytest.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = [
    "COLLECTIVES",
    "DEFAULT_PACK",
    "PROFILES",
    "VARIANTS",
    "Precision",
    "TrainConfig",
    "Variant",
    "key_difference",
    "nearest_keys",
]


#: Gradients packed into all-reduces of about 32 MiB (BENCHMARKS.md H2).
DEFAULT_PACK = 32 * 1024 * 1024
#: The collective implementations a run may ask for (``--perf-collective``).
COLLECTIVES = ("ring", "auto")


class Precision(enum.Enum):
    """Compute precision of a run."""

    FP32 = "fp32"
    BF16 = "bf16"


@dataclass(frozen=True)
class Variant:
    """What a training test measures: a precision, and optionally its own oneDNN ISA cap.

    ``bf16-avx512`` runs bf16 with oneDNN capped at AVX512-BF16, so that an AMX machine
    measures its AVX512-BF16 kernels beside AMX (elsewhere it would repeat the bf16 run).

    Attributes:
        name: test id and report label (``fp32``, ``bf16``, ``bf16-avx512``).
        precision: compute precision.
        onednn_max_isa: replaces the session's ``--perf-onednn-max-isa`` (``None``: keep it).
        needs_amx: only meaningful where AMX is present.
        runs: its runs in a session where ``--perf-repeats`` is not given (``None``: the
            session's repeats); bf16-avx512 runs once, its ratios said to be indicative:
            its steps are the session's slowest (BENCHMARKS.md H3).
    """

    name: str
    precision: Precision
    onednn_max_isa: str | None = None
    needs_amx: bool = False
    runs: int | None = None

    def apply(self, config: TrainConfig) -> TrainConfig:
        """``config`` with this variant's precision and ISA cap."""
        return replace(
            config,
            precision=self.precision,
            onednn_max_isa=self.onednn_max_isa or config.onednn_max_isa,
        )


#: The variants of the training tests, in test order.
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("fp32", Precision.FP32),
        Variant("bf16", Precision.BF16),
        Variant(
            "bf16-avx512",
            Precision.BF16,
            onednn_max_isa="AVX512_CORE_BF16",
            needs_amx=True,
            runs=1,
        ),
    )
}


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        model: network name (``resnet50``: ResNet-50 v1.5 with fused batch norm).
        image_size: square input side in pixels.
        batch_per_worker: images per worker per step (global batch = this x workers).
        warmup_steps: steps run first and never counted (graph tracing, allocation).
        measured_steps: steps whose times make the throughput.
        precision: fp32, or bf16 (fp32 variables cast to bf16 for compute, fp32 logits).
        learning_rate: plain SGD step size.
        seed: seeds weights and synthetic data; equal seeds give equal loss curves.
        num_classes: classes of the synthetic data (and width of the output layer).
        data_dir: ImageNet-format TFRecords (``None``: synthetic, generated in the worker).
        intra_op_threads: TensorFlow intra-op threads per worker (``0``: cores per worker).
        inter_op_threads: TensorFlow inter-op threads per worker.
        onednn_max_isa: ``ONEDNN_MAX_CPU_ISA`` cap (``None``: no cap).
        step_timeout_s: a step (collective included) slower than this fails the run.
        first_step_timeout_s: the least the first step has, whatever ``step_timeout_s``:
            the interpreter, TensorFlow's import, the strategy and the first step's tracing
            (10-42 s on 2 vCPUs, longer on one core) are no step to time out on.
        inject_slowdown: fraction of each measured step's time added as delay (self-test).
        bf16_allreduce: bf16 runs all-reduce their gradients in bf16 (half the bytes)
            instead of fp32, the reference recipe's choice; fp32 runs are not affected.
        bytes_per_pack: gradients are packed into all-reduces of about this many bytes
            (TensorFlow's ``CommunicationOptions``; 0: one all-reduce per gradient).
        collective: the collective implementation, ``ring`` (RING) or ``auto`` (AUTO:
            TensorFlow picks; on CPUs it is RING too, BENCHMARKS.md H2).
        inject_allreduce_sleep_s: self-test: seconds of delay on the all-reduce's path in
            every step (it must land in the step's all-reduce part).
        python: the interpreter of the training processes (``None``: the executors' own);
            A/B mode's reference stack (:mod:`bf16perf.workloads.stack`).
        env: extra environment of the training processes, ``(name, value)`` pairs.
        workload: the workload's name (:mod:`bf16perf.workloads.definition`);
            ``resnet50-tf`` is the harness's own TensorFlow ResNet-50, any other a command.
    """

    model: str = "resnet50"
    image_size: int = 224
    batch_per_worker: int = 16
    warmup_steps: int = 2
    measured_steps: int = 8
    precision: Precision = Precision.FP32
    learning_rate: float = 0.002
    seed: int = 1234
    num_classes: int = 10
    data_dir: str | None = None
    intra_op_threads: int = 0
    inter_op_threads: int = 1
    onednn_max_isa: str | None = None
    step_timeout_s: float = 600.0
    first_step_timeout_s: float = 180.0
    inject_slowdown: float = 0.0
    bf16_allreduce: bool = False
    bytes_per_pack: int = DEFAULT_PACK
    collective: str = "ring"
    inject_allreduce_sleep_s: float = 0.0
    python: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    workload: str = "resnet50-tf"

    @property
    def is_command(self) -> bool:
        """A user's (or the built-in PyTorch) program, not the harness's own TensorFlow."""
        return self.workload != "resnet50-tf"

    def with_precision(self, precision: Precision) -> TrainConfig:
        return replace(self, precision=precision)

    @property
    def reduces_in_bf16(self) -> bool:
        """Gradients cross the all-reduce in bf16 (a bf16 run with ``bf16_allreduce``)."""
        return self.bf16_allreduce and self.precision is Precision.BF16

    def workload_key(self, workers: int, cores_per_worker: int) -> str:
        """What a baseline must match besides the machine."""
        data = "synthetic" if self.data_dir is None else "tfrecord"
        isa = f"-{self.onednn_max_isa.lower()}" if self.onednn_max_isa else ""
        if self.reduces_in_bf16:
            isa += "-bf16allreduce"
        if not self.is_command and self.bytes_per_pack != DEFAULT_PACK:
            isa += f"-pack{self.bytes_per_pack}"
        if not self.is_command and self.collective != "ring":
            isa += f"-{self.collective}"
        # the built-in TensorFlow keeps the keys of earlier baselines; others lead with
        # their name
        model = self.workload if self.is_command else self.model
        return (
            f"{model}-{self.image_size}px-b{self.batch_per_worker}-s{self.measured_steps}"
            f"-{workers}x{cores_per_worker}-{data}-{self.precision.value}{isa}"
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["precision"] = self.precision.value
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        d = json.loads(text)
        d["precision"] = Precision(d["precision"])
        d["env"] = tuple((str(k), str(v)) for k, v in d.get("env", ()))
        return cls(**d)


#: ``--perf-profile`` presets; every field can still be overridden by its own option.
PROFILES: dict[str, TrainConfig] = {
    "smoke": TrainConfig(image_size=32, batch_per_worker=4, warmup_steps=2, measured_steps=8),
    "default": TrainConfig(),  # the defaults are the default profile
    "full": TrainConfig(image_size=224, batch_per_worker=128, warmup_steps=5, measured_steps=100),
}


def key_difference(key: str, other: str) -> str:
    """What differs between two workload keys, part by part (``32px vs 224px``)."""
    mine, theirs = key.split("-"), other.split("-")
    if len(mine) != len(theirs):
        return f"{other}"
    return ", ".join(f"{a} vs {b}" for a, b in zip(mine, theirs, strict=True) if a != b)


def nearest_keys(key: str, kept: Sequence[str], count: int = 2) -> list[str]:
    """The kept workload keys that differ from ``key`` in the fewest parts."""

    def parts_apart(other: str) -> int:
        mine, theirs = key.split("-"), other.split("-")
        return sum(a != b for a, b in zip(mine, theirs, strict=False)) + abs(
            len(mine) - len(theirs)
        )

    return sorted(kept, key=parts_apart)[:count]
