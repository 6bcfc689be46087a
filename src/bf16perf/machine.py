"""The machine a perf session runs on: cpuinfo, fingerprint, metadata and the kernel proof.

This module owns the decision *may bf16 tests run here?* (:meth:`Machine.bf16_block`), which
combines what cpuinfo declares with what oneDNN proved: the proof wins when the two disagree
on the host itself, because the proof is what actually ran.  A cpuinfo override describes
another machine, so there only the file counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bf16perf.cpu import DEFAULT_CPUINFO, Capability, CpuInfo, read_cpuinfo, why_not
from bf16perf.fingerprint import (
    Fingerprint,
    Metadata,
    collect_memory_gib,
    collect_metadata,
    collect_numa_nodes,
    make_fingerprint,
)
from bf16perf.kernels import KernelSummary

__all__ = ["Machine", "detect_machine"]


@dataclass(frozen=True)
class Machine:
    """Everything known about the machine before any training.

    Attributes:
        cpu: parsed cpuinfo.
        fingerprint: the hardware key of baselines.
        metadata: recorded beside the fingerprint.
        described: the cpuinfo came from an override (``--perf-cpuinfo`` or
            ``$BF16PERF_CPUINFO``) and may describe another machine.
        kernels: the oneDNN probe's summary, ``None`` where it was not run.
        probe_error: why the probe failed, ``None`` where it ran or was not asked for.
    """

    cpu: CpuInfo
    fingerprint: Fingerprint
    metadata: Metadata
    described: bool
    kernels: KernelSummary | None = None
    probe_error: str | None = None

    @property
    def capability(self) -> Capability:
        """The cpuinfo capability level."""
        return self.cpu.capability

    def bf16_block(self) -> str | None:
        """Why bf16 tests cannot run here, or ``None`` when they can."""
        if self.kernels is not None and not self.described:
            verdict = self.kernels.verdict()
            if verdict.bf16_ran:
                return None
            reason = why_not(self.cpu, Capability.AVX512_BF16) or "cpuinfo declares bf16"
            if self.capability is Capability.NONE:
                return f"{reason}; oneDNN confirms: {verdict.message}"
            return f"{verdict.message}, although cpuinfo declares {self.capability.value}"
        if self.capability is not Capability.NONE:
            return None
        return why_not(self.cpu, Capability.AVX512_BF16) or "no bf16 capability"

    def header_lines(self) -> list[str]:
        """The session header block."""
        fp, md = self.fingerprint, self.metadata
        cap = self.capability.value
        if self.capability is Capability.NONE:
            cap += f" ({why_not(self.cpu, Capability.AVX512_BF16)})"
        lines = [
            f"bf16perf cpu: {self.cpu.model_name or self.cpu.vendor} (family {fp.family} model"
            f" {fp.model} stepping {fp.stepping}) from {self.cpu.source}",
            f"bf16perf capability: {cap}",
            f"bf16perf fingerprint: {fp.slug} ({fp.logical_cpus} logical CPUs, {fp.sockets}"
            f" socket(s), {fp.numa_nodes} NUMA node(s), SMT {_onoff(fp.smt)},"
            f" {fp.memory_gib if fp.memory_gib is not None else '?'} GiB)",
        ]
        if self.kernels is not None:
            lines.append(
                f"bf16perf kernel proof: {self.kernels.verdict().message}"
                f" (oneDNN {self.kernels.version or '?'}, CPU ISA {self.kernels.cpu_isa or '?'})"
            )
        elif self.probe_error:
            lines.append(f"bf16perf kernel proof: not available: {self.probe_error}")
        else:
            lines.append("bf16perf kernel proof: not run")
        if self.described:
            lines.append(
                "bf16perf note: the cpuinfo override describes a machine; the kernel proof is"
                " this host's"
            )
        lines.append(
            f"bf16perf versions: TensorFlow {md.tensorflow or 'missing'}, oneDNN"
            f" {md.onednn or '?'}, Spark"
            f" {md.pyspark or 'missing'}, Java {md.java or 'missing'}, Python {md.python}"
        )
        return lines


def _onoff(value: bool | None) -> str:
    return "unknown" if value is None else ("on" if value else "off")


def detect_machine(
    cpuinfo_path: Path, *, kernels: KernelSummary | None = None, probe_error: str | None = None
) -> Machine:
    """Read cpuinfo (raises :class:`bf16perf.cpu.CpuInfoError`) and collect the rest."""
    cpu = read_cpuinfo(cpuinfo_path)
    described = cpuinfo_path != DEFAULT_CPUINFO
    fingerprint = make_fingerprint(
        cpu,
        numa_nodes=None if described else collect_numa_nodes(),
        memory_gib=None if described else collect_memory_gib(),
    )
    metadata = collect_metadata(
        cpu,
        onednn_version=kernels.version if kernels else None,
        onednn_isa=kernels.cpu_isa if kernels else None,
    )
    return Machine(cpu, fingerprint, metadata, described, kernels, probe_error)
