"""The kernel proof of a command workload: one step of the program alone, under oneDNN
verbose, and what it printed (or why there is no proof)."""

from __future__ import annotations

import socket
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bf16perf.kernels import KernelSummary, ProbeError
from bf16perf.probe import run_verbose
from bf16perf.program.launch import env_of, field_values
from bf16perf.program.task import fill_process_fields
from bf16perf.workload.config import Precision, TrainConfig, Variant
from bf16perf.workload.definition import WorkloadDef
from bf16perf.workload.proof import ProofRefused, refusal

__all__ = ["program_proof", "proof_dict", "prove_command", "unavailable_proof"]


def prove_command(
    workload: WorkloadDef, config: TrainConfig, cores_per_worker: int, timeout_s: float = 600.0
) -> KernelSummary:
    """One step of the program, alone (one worker, batch 2, driver mode on ``local[N]``),
    under ``ONEDNN_VERBOSE=1``; what oneDNN printed.  A program whose framework prints no
    oneDNN lines gives a summary without primitives: its proof is "not available"."""
    one_step = replace(
        config, warmup_steps=0, measured_steps=1, batch_per_worker=min(2, config.batch_per_worker)
    )
    with tempfile.TemporaryDirectory(prefix="bf16perf-cmdproof-") as tmp:
        work = Path(tmp)
        master = f"local[{cores_per_worker}]"
        values = field_values(one_step, 1, cores_per_worker, master)
        argv = fill_process_fields(workload.argv(values), 0, work / "metrics.jsonl", work)
        env = env_of(workload, one_step, work)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env.update(
            {
                "RANK": "0",
                "LOCAL_RANK": "0",
                "WORLD_SIZE": "1",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
                "TF_CONFIG": "{}",
                "OMP_NUM_THREADS": "1",
                "BF16PERF_METRICS": str(work / "metrics.jsonl"),
            }
        )
        env.pop("SPARK_CONF_DIR", None)
        return run_verbose(
            argv,
            what=f"the {config.precision.value} kernel proof step of workload {workload.name}",
            env=env,
            timeout_s=timeout_s,
            cwd=workload.cwd,
        )


def unavailable_proof(message: str) -> dict[str, Any]:
    """A proof that could not be made, shaped like :meth:`KernelSummary.to_dict`'s."""
    return {
        "available": False,
        "onednn_version": None,
        "cpu_isa": None,
        "bf16_ran": False,
        "isa": None,
        "message": f"not available: {message}",
        "isas": {},
        "bf16_counts_by_kind": {},
        "primitives": 0,
        "evidence": [],
        "emulated": False,
    }


def proof_dict(summary: KernelSummary, precision: str) -> dict[str, Any]:
    """The proof stored with a command run: oneDNN's summary, or "not available"."""
    if not summary.primitives:
        return unavailable_proof(
            "the program printed no oneDNN verbose lines (its framework may not use oneDNN,"
            " or does not honour ONEDNN_VERBOSE)"
        )
    return dict(summary.to_dict(precision), available=True)


def program_proof(
    variant: Variant,
    config: TrainConfig,
    name: str,
    workload: WorkloadDef,
    *,
    cores: int,
    allow_emulated: bool,
) -> tuple[dict[str, Any], str | None]:
    """A program's proof of ``variant`` as a run keeps it, and a notice where there is
    none to make ("not available", never "passed"); refusals as for the built-in
    (:class:`~bf16perf.workload.proof.ProofRefused`)."""
    bf16 = variant.precision is Precision.BF16
    note = None
    if not workload.proof:
        proof = unavailable_proof(f"workload {workload.name} sets proof = false")
    else:
        try:
            summary = prove_command(workload, config, cores)
        except ProbeError as exc:
            raise ProofRefused(f"{name} kernel proof failed: {exc}") from None
        proof = proof_dict(summary, variant.precision.value)
        if proof["available"]:
            refused = refusal(
                variant, summary, config.onednn_max_isa, allow_emulated=allow_emulated
            )
            if refused:
                raise ProofRefused(f"workload {workload.name}: {refused}")
            proof["emulated"] = bf16 and not proof["bf16_ran"]
            return proof, None
        note = f"workload {workload.name}, {name}: kernel proof {proof['message']}"
    # under the self-test flag an unproven bf16 run is as good as emulated
    proof["emulated"] = bf16 and allow_emulated
    return proof, note
