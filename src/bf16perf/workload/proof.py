"""The kernel proof of one training configuration: one untimed step under oneDNN verbose.

oneDNN reads ``ONEDNN_VERBOSE`` once per process and TensorFlow does not export
``dnnl_set_verbose``, so verbose output cannot be switched on for one step of the timed run
without slowing every step.  Instead the same model, precision, image size and ISA cap run
one step in a separate single-worker process with verbose on, before the timed run; its
primitives are the proof stored with the run.  :func:`refusal` says whether that proof lets
a variant's run count as what it claims to measure.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bf16perf.kernels import KernelSummary, run_verbose
from bf16perf.workload.config import Precision, TrainConfig, Variant
from bf16perf.workload.stack import stack_env

__all__ = ["prove_kernels", "refusal"]


def refusal(
    variant: Variant, summary: KernelSummary, max_isa: str | None, allow_emulated: bool = False
) -> str | None:
    """Why a run of ``variant`` must not be measured given its kernel proof, or ``None``.

    A bf16 run whose convolutions did not run in bf16 hardware kernels is refused (unless
    ``allow_emulated``, the self-test mode), and so is a variant that must stay off AMX
    (``bf16-avx512``) when any primitive ran on an AMX ISA: its figure would be AMX's.
    ``max_isa`` is the ``ONEDNN_MAX_CPU_ISA`` the proof ran under, named in the message.
    """
    verdict = summary.verdict(kinds=("convolution",))
    cap = f"ONEDNN_MAX_CPU_ISA={max_isa or 'unset'}"
    if variant.precision is Precision.BF16 and not verdict.bf16_ran and not allow_emulated:
        return (
            f"{variant.name} run refused: its convolutions did not run in bf16 kernels"
            f" ({verdict.message}; {cap})\n" + "\n".join(verdict.evidence)
        )
    amx = summary.amx_primitives()
    if variant.needs_amx and amx:
        impls = ", ".join(sorted({p.impl for p in amx}))
        return (
            f"{variant.name} run refused: {cap} did not keep oneDNN off AMX ({len(amx)}"
            f" primitives ran on {impls}; {verdict.message})\n" + "\n".join(p.line for p in amx[:2])
        )
    return None


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
    with tempfile.TemporaryDirectory(prefix="bf16perf-proof-") as tmp:
        # the run's own stack and environment (A/B: the reference's), verbose on top
        env = stack_env({}, config.python, config.env, Path(tmp))
        env.update({"TF_CONFIG": "{}", "OMP_NUM_THREADS": "1"})
        if config.onednn_max_isa:
            env["ONEDNN_MAX_CPU_ISA"] = config.onednn_max_isa
        cfg = Path(tmp, "config.json")
        cfg.write_text(one_step.to_json())
        return run_verbose(
            [
                config.python or sys.executable,
                "-m",
                "bf16perf.workload.worker",
                str(cfg),
                str(Path(tmp, "out.json")),
            ],
            what=f"the {config.precision.value} kernel proof step",
            env=env,
            timeout_s=timeout_s,
        )
