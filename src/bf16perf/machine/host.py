"""The machine a perf session runs on: cpuinfo, fingerprint, metadata and the kernel proof.

This module owns the decision *may bf16 tests run here?* (:meth:`Machine.why_no_bf16`), which
combines what cpuinfo declares with what oneDNN proved: the proof wins when the two disagree
on the host itself, because the proof is what actually ran.  A cpuinfo override describes
another machine, so there only the file counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bf16perf.machine.cpu import DEFAULT_CPUINFO, Capability, CpuInfo, read_cpuinfo, why_no_bf16
from bf16perf.machine.fingerprint import (
    Fingerprint,
    Metadata,
    collect_memory_gib,
    collect_metadata,
    collect_numa_nodes,
    make_fingerprint,
)

if TYPE_CHECKING:  # the proof is made above this layer (bf16perf.onednn) and handed in
    from bf16perf.onednn.kernels import KernelSummary

__all__ = ["Machine", "detect_machine", "machine_fingerprint"]


@dataclass(frozen=True)
class Machine:
    """Everything known about the machine before any training.

    Attributes:
        cpu: parsed cpuinfo.
        fingerprint: the hardware key of baselines.
        metadata: recorded beside the fingerprint.
        cpuinfo_override: the cpuinfo came from an override (``--perf-cpuinfo`` or
            ``$BF16PERF_CPUINFO``) and may describe another machine.
        probe: the oneDNN kernel probe's summary, ``None`` where it was not run.
        probe_error: why the probe failed, ``None`` where it ran or was not asked for.
    """

    cpu: CpuInfo
    fingerprint: Fingerprint
    metadata: Metadata
    cpuinfo_override: bool
    probe: KernelSummary | None = None
    probe_error: str | None = None

    @property
    def capability(self) -> Capability:
        """The cpuinfo capability level."""
        return self.cpu.capability

    def why_no_bf16(self) -> str | None:
        """Why bf16 tests cannot run here, or ``None`` when they can."""
        if self.probe is not None and not self.cpuinfo_override:
            verdict = self.probe.verdict()
            if verdict.bf16_ran:
                return None
            reason = why_no_bf16(self.cpu) or "cpuinfo declares bf16"
            if self.capability is Capability.NONE:
                return f"{reason}; oneDNN confirms: {verdict.message}"
            return f"{verdict.message}, although cpuinfo declares {self.capability.value}"
        if self.capability is not Capability.NONE:
            return None
        return why_no_bf16(self.cpu) or "no bf16 capability"

    def header_lines(self) -> list[str]:
        """The session header block."""
        fp, md = self.fingerprint, self.metadata
        cap = self.capability.value
        if self.capability is Capability.NONE:
            cap += f" ({why_no_bf16(self.cpu)})"
        lines = [
            f"bf16perf cpu: {self.cpu.model_name or self.cpu.vendor} (family {fp.family} model"
            f" {fp.model} stepping {fp.stepping}) from {self.cpu.source}",
            f"bf16perf capability: {cap}",
            f"bf16perf fingerprint: {fp.slug} ({fp.logical_cpus} logical CPUs, {fp.sockets}"
            f" socket(s), {fp.numa_nodes} NUMA node(s), SMT {_onoff(fp.smt)},"
            f" {fp.memory_gib if fp.memory_gib is not None else '?'} GiB)",
        ]
        if self.probe is not None:
            lines.append(
                f"bf16perf kernel proof: {self.probe.verdict().message}"
                f" (oneDNN {self.probe.version or '?'}, CPU ISA {self.probe.cpu_isa or '?'})"
            )
        elif self.probe_error:
            lines.append(f"bf16perf kernel proof: not available: {self.probe_error}")
        else:
            lines.append("bf16perf kernel proof: not run")
        if self.cpuinfo_override:
            lines.append(
                "bf16perf note: the cpuinfo override describes a machine; the kernel proof is"
                " this host's"
            )
        lines.append(
            f"bf16perf versions: TensorFlow {md.tensorflow or 'missing'},"
            f"{f' PyTorch {md.torch},' if md.torch else ''} oneDNN {md.onednn or '?'}, Spark"
            f" {md.pyspark or 'missing'}, Java {md.java or 'missing'}, Python {md.python}"
        )
        return lines


def _onoff(value: bool | None) -> str:
    return "unknown" if value is None else ("on" if value else "off")


def machine_fingerprint(cpu: CpuInfo, cpuinfo_override: bool) -> Fingerprint:
    """The baseline key of the machine ``cpu`` describes (NUMA and memory from this host
    unless the cpuinfo is an override, which may describe another machine)."""
    return make_fingerprint(
        cpu,
        numa_nodes=None if cpuinfo_override else collect_numa_nodes(),
        memory_gib=None if cpuinfo_override else collect_memory_gib(),
    )


def detect_machine(
    cpuinfo_path: Path,
    *,
    cpu: CpuInfo | None = None,
    fingerprint: Fingerprint | None = None,
    probe: KernelSummary | None = None,
    probe_error: str | None = None,
) -> Machine:
    """Read cpuinfo (raises :class:`bf16perf.machine.cpu.CpuInfoError`; ``cpu`` and ``fingerprint``:
    already made from ``cpuinfo_path``) and collect the rest."""
    cpu = cpu or read_cpuinfo(cpuinfo_path)
    override = cpuinfo_path != DEFAULT_CPUINFO
    metadata = collect_metadata(
        cpu,
        onednn_version=probe.version if probe else None,
        onednn_isa=probe.cpu_isa if probe else None,
    )
    return Machine(cpu, machine_fingerprint(cpu, override), metadata, override, probe, probe_error)
