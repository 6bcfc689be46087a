"""The machine fingerprint: the hardware identity baselines are stored and compared under.

This module owns two things kept deliberately apart:

* :class:`Fingerprint`: hardware facts that make timings comparable (CPU model,
  family/model/stepping, bf16 capability and flags, logical CPUs, sockets, NUMA nodes, SMT,
  memory in GiB).  Its :attr:`~Fingerprint.id` is a short stable hash and its
  :attr:`~Fingerprint.slug` a readable name such as ``amd-epyc-avx512bf16-2cpu-1a2b3c4d``.
* :class:`Metadata`: what is recorded beside it but never part of the key, because
  regressions come from exactly these (kernel, microcode, governor, turbo, Python,
  TensorFlow, oneDNN, Spark and Java versions, threading environment).  Every ``collect_*``
  function is best effort: missing data is recorded as ``None``, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from dataclasses import asdict, dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

from bf16perf.machine.cpu import CpuInfo
from bf16perf.machine.java import java_version

__all__ = [
    "Fingerprint",
    "Metadata",
    "collect_metadata",
    "is_threading_knob",
    "make_fingerprint",
]

# Environment variables that set how many threads run where, or which kernels oneDNN picks.
# A bare ``TF_`` prefix would catch TF_CLI_CONFIG_FILE and friends, which are not knobs.
_KNOB_PREFIXES = ("OMP_", "KMP_", "ONEDNN_", "DNNL_", "TF_NUM_", "GOMP_")
_KNOBS = frozenset(
    {"TF_ENABLE_ONEDNN_OPTS", "TF_INTRA_OP_PARALLELISM_THREADS", "TF_INTER_OP_PARALLELISM_THREADS"}
)


def is_threading_knob(name: str) -> bool:
    """Whether environment variable ``name`` is a threading or oneDNN knob worth recording."""
    return name.startswith(_KNOB_PREFIXES) or name in _KNOBS


SYS = Path("/sys/devices/system")


@dataclass(frozen=True)
class Fingerprint:
    """Hardware identity.  Two machines with equal fingerprints share baselines.

    Attributes:
        model_name, vendor, family, model, stepping: CPU identity from cpuinfo.
        capability: bf16 level (``amx``, ``avx512_bf16``, ``arm_bf16``, ``none``).
        bf16_flags: the bf16-related flags present, sorted.
        logical_cpus: logical CPUs (cpuinfo blocks, or ``os.cpu_count()`` for this host).
        sockets: CPU packages.
        numa_nodes: NUMA nodes (1 where ``/sys`` does not say).
        smt: SMT on, off, or unknown (``None``).
        memory_gib: total memory rounded to GiB (``None`` where unknown).
    """

    model_name: str
    vendor: str
    family: str
    model: str
    stepping: str
    capability: str
    bf16_flags: tuple[str, ...]
    logical_cpus: int
    sockets: int
    numa_nodes: int
    smt: bool | None
    memory_gib: int | None

    @property
    def id(self) -> str:
        """Eight hex digits of a SHA-256 over the canonical JSON of the fields."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:8]

    @property
    def slug(self) -> str:
        """Readable and file-name safe: ``<model>-<capability>-<n>cpu-<id>``."""
        name = self.model_name or f"{self.vendor}-{self.family}-{self.model}"
        name = re.sub(r"\((r|tm)\)", "", name, flags=re.IGNORECASE)
        name = re.sub(r"\b(cpu|processor|\d+-core)\b", "", name, flags=re.IGNORECASE)
        name = re.sub(r"@.*$", "", name)
        words = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        cap = self.capability.replace("_", "")
        return f"{words}-{cap}-{self.logical_cpus}cpu-{self.id}"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, with id and slug."""
        d: dict[str, object] = asdict(self)
        d["bf16_flags"] = list(self.bf16_flags)
        d["id"] = self.id
        d["slug"] = self.slug
        return d


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def collect_numa_nodes(sys_root: Path = SYS) -> int | None:
    """NUMA nodes listed under ``/sys/devices/system/node``; ``None`` where unreadable."""
    try:
        nodes = [p for p in (sys_root / "node").iterdir() if re.fullmatch(r"node\d+", p.name)]
    except OSError:
        return None
    return len(nodes) or None


def collect_memory_gib(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Total memory rounded to GiB, from ``MemTotal``."""
    text = _read(meminfo)
    if text is None:
        return None
    m = re.search(r"^MemTotal:\s+(\d+)\s+kB", text, flags=re.MULTILINE)
    return round(int(m.group(1)) / 2**20) if m else None


def make_fingerprint(
    cpu: CpuInfo,
    *,
    numa_nodes: int | None,
    memory_gib: int | None,
) -> Fingerprint:
    """Combine cpuinfo with host facts (``None``: unknown, e.g. for a cpuinfo override)."""
    return Fingerprint(
        model_name=cpu.model_name,
        vendor=cpu.vendor,
        family=cpu.family,
        model=cpu.model,
        stepping=cpu.stepping,
        capability=cpu.capability.value,
        bf16_flags=tuple(sorted(cpu.bf16_flags)),
        logical_cpus=cpu.logical_cpus,
        sockets=cpu.sockets,
        numa_nodes=numa_nodes or 1,
        smt=cpu.smt,
        memory_gib=memory_gib,
    )


@dataclass(frozen=True)
class Metadata:
    """Recorded beside the fingerprint, never part of it.  ``None`` means not readable."""

    kernel: str | None
    microcode: str | None
    governor: str | None
    turbo: str | None
    python: str
    tensorflow: str | None
    onednn: str | None
    onednn_isa: str | None
    pyspark: str | None
    java: str | None
    threading_env: dict[str, str]
    affinity: list[int] | None
    torch: str | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)


def collect_governor(sys_root: Path = SYS) -> str | None:
    """The cpu0 scaling governor, where cpufreq is exposed."""
    return _read(sys_root / "cpu/cpu0/cpufreq/scaling_governor")


def collect_turbo(sys_root: Path = SYS) -> str | None:
    """``on``/``off`` from intel_pstate's ``no_turbo`` or cpufreq's ``boost``."""
    no_turbo = _read(sys_root / "cpu/intel_pstate/no_turbo")
    if no_turbo is not None:
        return "off" if no_turbo == "1" else "on"
    boost = _read(sys_root / "cpu/cpufreq/boost")
    if boost is not None:
        return "on" if boost == "1" else "off"
    return None


def collect_package_version(name: str) -> str | None:
    """An installed distribution's version, without importing it."""
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return None


def collect_tensorflow_version() -> str | None:
    """``tensorflow-cpu`` or ``tensorflow``, whichever is installed."""
    return collect_package_version("tensorflow-cpu") or collect_package_version("tensorflow")


def collect_metadata(
    cpu: CpuInfo,
    *,
    onednn_version: str | None = None,
    onednn_isa: str | None = None,
    environ: dict[str, str] | None = None,
) -> Metadata:
    """Best-effort collection; nothing here raises."""
    env = os.environ if environ is None else environ
    try:
        affinity: list[int] | None = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return Metadata(
        kernel=platform.release() or None,
        microcode=cpu.microcode,
        governor=collect_governor(),
        turbo=collect_turbo(),
        python=platform.python_version(),
        tensorflow=collect_tensorflow_version(),
        onednn=onednn_version,
        onednn_isa=onednn_isa,
        pyspark=collect_package_version("pyspark"),
        java=java_version()[0],
        threading_env={k: v for k, v in sorted(env.items()) if is_threading_knob(k)},
        affinity=affinity,
        torch=collect_package_version("torch"),  # the PyTorch workload's framework
    )
