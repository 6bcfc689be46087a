"""The kernel proof of one training configuration: one untimed step under oneDNN verbose.

oneDNN reads ``ONEDNN_VERBOSE`` once per process and TensorFlow does not export
``dnnl_set_verbose``, so verbose output cannot be switched on for one step of the timed run
without slowing every step.  Instead the same model, precision, image size and ISA cap run
one step in a separate single-worker process with verbose on, before the timed run; its
primitives are the proof stored with the run.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bf16perf.kernels import KernelSummary, run_verbose
from bf16perf.workload.config import TrainConfig

__all__ = ["prove_kernels"]


def prove_kernels(config: TrainConfig, timeout_s: float = 600.0) -> KernelSummary:
    """Run one step of ``config`` (batch 2, synthetic data) under ``ONEDNN_VERBOSE=1``."""
    one_step = replace(
        config,
        warmup_steps=0,
        measured_steps=1,
        batch_per_worker=2,
        data_dir=None,
        inject_slowdown=0.0,
    )
    env = {"TF_CONFIG": "{}", "OMP_NUM_THREADS": "1"}
    if config.onednn_max_isa:
        env["ONEDNN_MAX_CPU_ISA"] = config.onednn_max_isa
    with tempfile.TemporaryDirectory(prefix="bf16perf-proof-") as tmp:
        cfg = Path(tmp, "config.json")
        cfg.write_text(one_step.to_json())
        return run_verbose(
            [
                sys.executable,
                "-m",
                "bf16perf.workload.worker",
                str(cfg),
                str(Path(tmp, "out.json")),
            ],
            what=f"the {config.precision.value} kernel proof step",
            env=env,
            timeout_s=timeout_s,
        )
