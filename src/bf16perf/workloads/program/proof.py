"""The kernel proof of a command workload: one step of the program alone, under oneDNN
verbose, and what it printed (or why there is no proof)."""

from __future__ import annotations

import socket
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bf16perf.onednn.capture import capture_verbose
from bf16perf.onednn.kernels import KernelSummary, ProbeError, parse_verbose, verbose_lines
from bf16perf.onednn.marks import STEP_MARKS
from bf16perf.onednn.step_profile import Profile, profile_of
from bf16perf.workloads.config import Precision, TrainConfig, Variant
from bf16perf.workloads.definition import WorkloadDef
from bf16perf.workloads.output.metrics import parse_metrics
from bf16perf.workloads.output.records import MetricsError, StepMetric
from bf16perf.workloads.program.launch import env_of, field_values
from bf16perf.workloads.program.task import fill_process_fields
from bf16perf.workloads.proof import ProofRefused, kept_profile, refusal
from bf16perf.workloads.stack import pinned

__all__ = [
    "profile_command",
    "program_proof",
    "proof_dict",
    "prove_command",
    "unavailable_proof",
]


def prove_command(
    workload: WorkloadDef, config: TrainConfig, cores_per_worker: int, timeout_s: float = 600.0
) -> KernelSummary:
    """One step of the program, alone (one worker, batch 2, driver mode on ``local[N]``),
    under ``ONEDNN_VERBOSE=1``; what oneDNN printed.  A program whose framework prints no
    oneDNN lines gives a summary without primitives: its proof is "not available"."""
    text, _ = _program_step(workload, config, cores_per_worker, timeout_s, profiled=False)
    return parse_verbose(text)


def profile_command(
    workload: WorkloadDef, config: TrainConfig, cores: int, timeout_s: float = 600.0
) -> tuple[KernelSummary, Profile | None, float]:
    """The proof and the lone-step profile of a program, as the built-in's
    (:func:`bf16perf.workloads.proof.prove_and_profile`): a warm-up step and one step at the
    run's batch, alone on the first ``cores`` CPUs (pinned), under oneDNN's verbose timing,
    with :data:`~bf16perf.onednn.marks.STEP_MARKS` set.  The profile is the second step's where
    the program marked its steps (:mod:`bf16perf.onednn.marks`; ``resnet50-torch`` does), with its
    wall time from the program's last record; ``None`` where it marks none.  Returns what
    it cost too."""
    t0 = time.monotonic()
    text, records = _program_step(workload, config, cores, timeout_s, profiled=True)
    summary = parse_verbose(text)
    if not any(p.phase == "step-2" for p in summary.primitives):
        return summary, None, time.monotonic() - t0
    step_s = config.batch_per_worker / records[-1].images_per_second if records else None
    profile = profile_of(summary.primitives, phase="step-2", step_s=step_s)
    return summary, profile, time.monotonic() - t0


def _program_step(
    workload: WorkloadDef, config: TrainConfig, cores: int, timeout_s: float, *, profiled: bool
) -> tuple[str, list[StepMetric]]:
    """The program's proof step: its oneDNN lines (and marks) and, where ``profiled``, its
    records; unprofiled: one step of batch 2, one thread, unpinned."""
    one_step = replace(
        config,
        warmup_steps=1 if profiled else 0,
        measured_steps=1,
        batch_per_worker=config.batch_per_worker if profiled else min(2, config.batch_per_worker),
    )
    with tempfile.TemporaryDirectory(prefix="bf16perf-cmdproof-") as tmp:
        work = Path(tmp)
        values = field_values(one_step, 1, cores, f"local[{cores}]")
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
                "OMP_NUM_THREADS": str(cores if profiled else 1),
                "BF16PERF_METRICS": str(work / "metrics.jsonl"),
            }
        )
        env.pop("SPARK_CONF_DIR", None)
        if profiled:
            env[STEP_MARKS] = "1"
        text = capture_verbose(
            [*(pinned(cores) if profiled else []), *argv],
            what=f"the {config.precision.value} kernel proof step of workload {workload.name}",
            env=env,
            timeout_s=timeout_s,
            cwd=workload.cwd,
            everything=profiled,
        )
        if not profiled:
            return text, []
        return verbose_lines(text), _records(workload, one_step, text, work / "metrics.jsonl")


def _records(
    workload: WorkloadDef, config: TrainConfig, output: str, metrics_file: Path
) -> list[StepMetric]:
    """The profiled step's records: from its metrics file (jsonl) or its output; none where
    they cannot be read (the profile then has no wall time, never a wrong one)."""
    jsonl = workload.format == "jsonl" and metrics_file.is_file()
    lines = metrics_file.read_text().splitlines() if jsonl else output.splitlines()
    try:
        return parse_metrics(workload.format, lines, config.batch_per_worker, workload.regex)
    except MetricsError:
        return []


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
    step_profile: bool = False,
) -> tuple[dict[str, Any], str | None]:
    """A program's proof of ``variant`` as a run keeps it (with its lone-step profile and
    peak where ``step_profile`` and the program marks its steps), and a notice where there
    is none to make ("not available", never "passed"); refusals as for the built-in
    (:class:`~bf16perf.workloads.proof.ProofRefused`)."""
    bf16 = variant.precision is Precision.BF16
    note = None
    profile: dict[str, Any] | None = None
    if not workload.proof:
        proof = unavailable_proof(f"workload {workload.name} sets proof = false")
    else:
        try:
            if step_profile:
                summary, lone, cost = profile_command(workload, config, cores)
                if lone is not None and lone.available:
                    profile = kept_profile(lone, cost, config, cores)
            else:
                summary = prove_command(workload, config, cores)
        except ProbeError as exc:
            raise ProofRefused(f"{name} kernel proof failed: {exc}") from None
        proof = proof_dict(summary, variant.precision.value)
        if profile is not None:
            proof["profile"] = profile
        if proof["available"]:
            refused = refusal(
                variant, summary, config.onednn_max_isa, allow_emulated=allow_emulated
            )
            if refused:
                raise ProofRefused(f"workload {workload.name}: {refused}")
            proof["emulated"] = bf16 and not proof["bf16_ran"]
            if step_profile and profile is None:
                note = (
                    f"workload {workload.name}, {name}: no lone-step profile: the program"
                    " marks no steps (bf16perf.onednn.marks: print 'BF16PERF_PHASE step-N' before"
                    " each step when BF16PERF_STEP_MARKS is set)"
                )
            return proof, note
        note = f"workload {workload.name}, {name}: kernel proof {proof['message']}"
    # under the self-test flag an unproven bf16 run is as good as emulated
    proof["emulated"] = bf16 and allow_emulated
    return proof, note
