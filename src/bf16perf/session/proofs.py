"""Each variant's kernel proof, made once per variant and stack before its first run: the
built-in workload's (a lone step, profiled, on the cluster's cores or on every executor's
host) or a command workload's (its own marked step, or "not available").  A refused proof
is a :class:`RunFailed`; the time each takes is a phase of the session."""

from __future__ import annotations

import os
import sys
from typing import Any

from bf16perf.cluster.bringup import SparkCluster
from bf16perf.session.options import PerfOptions
from bf16perf.session.phases import Phases
from bf16perf.workloads.config import TrainConfig, Variant
from bf16perf.workloads.definition import WorkloadDef
from bf16perf.workloads.program.proof import program_proof
from bf16perf.workloads.proof import ProofRefused, variant_proof

__all__ = ["Proofs", "RunFailed"]


class RunFailed(RuntimeError):
    """A run (or its kernel proof) failed; the message names the variant and why."""


class Proofs:
    """The session's proofs of one workload, by variant and stack."""

    def __init__(
        self,
        cluster: SparkCluster,
        options: PerfOptions,
        workload: WorkloadDef,
        notices: list[str],
        phases: Phases,
    ) -> None:
        self.cluster = cluster
        self.options = options
        self.workload = workload
        self.notices = notices
        self.phases = phases
        self.made: dict[str, dict[str, Any]] = {}

    def get(self, variant: Variant, config: TrainConfig, name: str) -> dict[str, Any]:
        """The proof of ``variant`` on ``config``'s stack, made on first ask."""
        # one proof per variant and stack: a reference that is this interpreter with no
        # knobs of its own (an A/A check) is the same stack and shares the proof, unless
        # the candidate's step differs (an injected slowdown: the profiled step has it)
        stack = (os.path.abspath(config.python or sys.executable), config.env)
        key = f"{variant.name} {stack} {config.onednn_max_isa} {config.inject_slowdown}"
        if key in self.made:
            return self.made[key]
        with self.phases.timed(f"proof {name}"):
            if config.is_command:
                self.made[key] = self._command(variant, config, name)
            else:
                self.made[key] = self._builtin(variant, config, name)
        return self.made[key]

    def _builtin(self, variant: Variant, config: TrainConfig, name: str) -> dict[str, Any]:
        """The built-in workload's proof: on the driver's host for the local cluster (its
        executors' host), on every executor's own host for an external cluster."""
        cluster = self.cluster
        try:
            return variant_proof(
                variant,
                config,
                name,
                spark=cluster.spark if cluster.hosts is not None else None,
                workers=cluster.workers,
                cores=cluster.cores_per_worker,
                step_profile=self.options.step_profile,
                allow_emulated=self.options.allow_emulated_bf16,
            )
        except ProofRefused as exc:
            raise RunFailed(str(exc)) from None

    def _command(self, variant: Variant, config: TrainConfig, name: str) -> dict[str, Any]:
        """A command workload's proof: its own step under oneDNN verbose, or "not
        available" where it prints none (never "passed"); refusals as for the built-in."""
        try:
            proof, note = program_proof(
                variant,
                config,
                name,
                self.workload,
                cores=self.cluster.cores_per_worker,
                allow_emulated=self.options.allow_emulated_bf16,
                # profiled where the built-in is: on the local cluster's cores
                step_profile=self.options.step_profile and self.cluster.hosts is None,
            )
        except ProofRefused as exc:
            raise RunFailed(str(exc)) from None
        if note is not None and note not in self.notices:
            self.notices.append(note)
        return proof
