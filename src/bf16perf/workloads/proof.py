"""The kernel proof of one training configuration: one untimed step under oneDNN verbose.

oneDNN reads ``ONEDNN_VERBOSE`` once per process and TensorFlow does not export
``dnnl_set_verbose``, so verbose output cannot be switched on for one step of the timed run
without slowing every step.  Instead the same model, precision, image size and ISA cap run
one step in a separate single-worker process with verbose on, before the timed run; its
primitives are the proof stored with the run.  On a cluster of several hosts the proof
must come from where the runs train: :func:`prove_on_executors` runs the same step in one
barrier task per executor, on each executor's host, and names the host of each proof.
:func:`refusal` says whether a proof lets a variant's run count as what it claims to measure.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from bf16perf.cluster.executors import barrier_stage, task_host
from bf16perf.onednn.capture import capture_verbose
from bf16perf.onednn.kernels import KernelSummary, ProbeError, parse_verbose
from bf16perf.onednn.marks import STEP_MARKS
from bf16perf.onednn.step_profile import Profile, profile_of
from bf16perf.workloads.config import Precision, TrainConfig, Variant
from bf16perf.workloads.launch import summarize
from bf16perf.workloads.peak_run import peak_or_why
from bf16perf.workloads.stack import lone_env

__all__ = [
    "HostProof",
    "ProofRefused",
    "kept_profile",
    "proof_lines",
    "prove_and_profile",
    "prove_kernels",
    "prove_on_executors",
    "refusal",
    "variant_proof",
]


class ProofRefused(Exception):
    """A variant's kernel proof failed, or refused its runs; the message says why."""


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
    return parse_verbose(_proof_output(config, timeout_s)[0])


def prove_and_profile(
    config: TrainConfig, cores: int, timeout_s: float = 600.0
) -> tuple[KernelSummary, Profile, float]:
    """The kernel proof and the profile of one step (:mod:`bf16perf.onednn.step_profile`): a warm-up
    step and a profiled one at the run's batch, one worker alone, pinned to the first
    ``cores`` CPUs this process may use (the local cluster's first worker's), under oneDNN's
    verbose timing; then the same two steps in a second process without it, whose second
    step's wall time is the profile's ``quiet_step_s`` (what the verbose timing costs is
    the difference).  Returns the proof (both steps), the profile (the second step, with its
    wall times) and what both processes cost in seconds."""
    t0 = time.monotonic()
    text, step_s = _proof_output(config, timeout_s, cores)
    summary = parse_verbose(text)
    quiet_s = _proof_output(config, timeout_s, cores, verbose=False)[1]
    profile = profile_of(summary.primitives, phase="step-2", step_s=step_s)
    return summary, replace(profile, quiet_step_s=quiet_s), time.monotonic() - t0


def _proof_output(
    config: TrainConfig, timeout_s: float, cores: int = 0, verbose: bool = True
) -> tuple[str, float | None]:
    """What the proof step printed, and the profiled step's wall time (``cores`` > 0: two
    steps at the run's batch, pinned to ``cores`` CPUs, marked by step; else one step of
    batch 2, unpinned, ``None``); ``verbose`` false: the same steps with oneDNN's verbose
    output off (nothing to parse; only the wall time counts)."""
    profiled = cores > 0
    one_step = replace(
        config,
        warmup_steps=1 if profiled else 0,
        measured_steps=1,
        batch_per_worker=config.batch_per_worker if profiled else 2,
        data_dir=None,
        # the profiled step is the stack's own, slowdown included: it lands in "the rest"
        inject_slowdown=config.inject_slowdown if profiled else 0.0,
    )
    with tempfile.TemporaryDirectory(prefix="bf16perf-proof-") as tmp:
        env, prefix = lone_env(config, Path(tmp), cores)
        if profiled and verbose:
            env[STEP_MARKS] = "1"
        cfg, out = Path(tmp, "config.json"), Path(tmp, "out.json")
        cfg.write_text(one_step.to_json())
        quiet = "" if verbose else " (without verbose timing)"
        text = capture_verbose(
            [*prefix, config.python or sys.executable, "-m", "bf16perf.workloads.worker",
             str(cfg), str(out)],
            what=f"the {config.precision.value} kernel proof step{quiet}",
            env=env,
            timeout_s=timeout_s,
            verbose=verbose,
        )  # fmt: skip
        step_s = None
        if profiled and out.is_file():
            times = json.loads(out.read_text()).get("step_times_s") or []
            step_s = float(times[0]) if times else None
        return text, step_s


@dataclass(frozen=True)
class HostProof:
    """One executor host's kernel proof: its address and what its step ran."""

    host: str
    summary: KernelSummary

    def to_dict(self, precision: str) -> dict[str, Any]:
        """What the report lists per host: the address, the verdict and its ISA."""
        full = self.summary.to_dict(precision)
        keep = ("cpu_isa", "onednn_version", "isa", "bf16_ran", "message")
        return {"host": self.host, **{k: full[k] for k in keep}}


def _proof_task(config_json: str, timeout_s: float, _: Iterator[Any]) -> Iterator[str]:
    """Barrier task: the proof step on this executor's host, as JSON (its oneDNN lines, or
    why it failed)."""
    from pyspark import BarrierTaskContext

    host = task_host(BarrierTaskContext.get())
    try:
        text = _proof_output(TrainConfig.from_json(config_json), timeout_s)[0]
    except ProbeError as exc:
        yield json.dumps({"host": host, "error": str(exc)})
        return
    yield json.dumps({"host": host, "output": text})


def prove_on_executors(
    spark: Any, config: TrainConfig, executors: int, timeout_s: float = 600.0
) -> list[HostProof]:
    """The proof step of ``config`` on every executor at once (one barrier task each), one
    :class:`HostProof` per executor, sorted by host; raises :class:`ProbeError` naming the
    host whose step failed."""
    task = partial(_proof_task, config.to_json(), timeout_s)
    try:
        raw = [json.loads(r) for r in barrier_stage(spark, executors, task)]
    except Exception as exc:  # py4j wraps everything
        raise ProbeError(f"the proof stage failed on the executors: {summarize(exc)}") from None
    failed = [r for r in raw if "error" in r]
    if failed:
        raise ProbeError("; ".join(f"on {r['host']}: {r['error']}" for r in failed))
    proofs = [HostProof(r["host"], parse_verbose(r["output"])) for r in raw]
    return sorted(proofs, key=lambda p: p.host)


def proof_lines(kernels: Mapping[str, Any] | None) -> list[str]:
    """A run's kernel proof as text: its message, or ``host: message`` for each host where
    every executor's host proved its own (an external cluster)."""
    kernels = kernels or {}
    hosts = kernels.get("hosts")
    if hosts:
        return [f"{h['host']}: {h['message']}" for h in hosts]
    return [str(kernels.get("message", "n/a"))]


def kept_profile(lone: Profile, cost_s: float, config: TrainConfig, cores: int) -> dict[str, Any]:
    """A lone-step profile as a run's proof keeps it: its parts, what it cost, and the peak
    it is set against (or why there is none)."""
    return {**lone.to_dict(), "cost_s": cost_s, "peak": peak_or_why(config, cores)}


def variant_proof(
    variant: Variant,
    config: TrainConfig,
    name: str,
    *,
    spark: Any | None,
    workers: int,
    cores: int,
    step_profile: bool,
    allow_emulated: bool,
) -> dict[str, Any]:
    """The built-in workload's proof of ``variant`` as a run keeps it: on this host for
    the local cluster (``spark`` ``None``; with a profiled lone step where
    ``step_profile``), on every executor's own host of an external one.  Raises
    :class:`ProofRefused` where the proof failed or refuses the runs."""
    profile: dict[str, Any] | None = None
    try:
        if spark is None and step_profile:
            summary, lone, cost = prove_and_profile(config, cores)
            proofs = [HostProof("", summary)]
            profile = kept_profile(lone, cost, config, cores)
        elif spark is None:
            proofs = [HostProof("", prove_kernels(config))]
        else:
            proofs = prove_on_executors(spark, config, workers)
    except ProbeError as exc:
        cap = (
            f" (under ONEDNN_MAX_CPU_ISA={config.onednn_max_isa}: oneDNN may have no"
            f" {variant.precision.value} kernels at or below that ISA)"
            if config.onednn_max_isa
            else ""
        )
        raise ProofRefused(f"{name} kernel proof failed{cap}: {exc}") from None
    for proof in proofs:
        refused = refusal(variant, proof.summary, config.onednn_max_isa, allow_emulated)
        if refused:
            where = f" on {proof.host}" if proof.host else ""
            raise ProofRefused(f"{name}{where}: {refused}")
    bf16 = variant.precision is Precision.BF16
    kept = proofs[0].summary.to_dict(variant.precision.value)
    kept["emulated"] = bf16 and not all(
        p.summary.verdict(kinds=("convolution",)).bf16_ran for p in proofs
    )
    if spark is not None:
        kept["hosts"] = [p.to_dict(variant.precision.value) for p in proofs]
    if profile is not None:
        kept["profile"] = profile
    return kept
