"""CPU identity and bf16 capability, parsed from ``/proc/cpuinfo`` text.

This module owns one question: *what does the operating system say this CPU can do for
bfloat16?*  Parsing is a pure function of the text (:func:`parse_cpuinfo`), file reading is
kept apart (:func:`read_cpuinfo`), and :func:`why_not` names the flags a capability level
misses.  Whether bf16 kernels actually ran is a different question, answered by
:mod:`bf16perf.onednn.kernels` from oneDNN's own output: some hypervisors hide AVX-512 flags from
``/proc/cpuinfo`` while the instructions work (this project's own build machine does).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

from bf16perf.machine.armparts import arm_part_name

__all__ = [
    "BF16_FLAGS",
    "CPUINFO_ENV",
    "Capability",
    "CpuInfo",
    "CpuInfoError",
    "bf16_level",
    "parse_cpuinfo",
    "read_cpuinfo",
    "resolve_cpuinfo_path",
    "why_no_bf16",
    "why_not",
]

CPUINFO_ENV = "BF16PERF_CPUINFO"
DEFAULT_CPUINFO = Path("/proc/cpuinfo")


class CpuInfoError(ValueError):
    """The cpuinfo input is missing, unreadable or not ``/proc/cpuinfo`` text."""


class Capability(enum.Enum):
    """bf16 hardware levels, best first.  ``value`` is the spelling used in files and headers."""

    AMX = "amx"
    AVX512_BF16 = "avx512_bf16"
    ARM_BF16 = "arm_bf16"
    NONE = "none"


# Flags each level needs, as spelled in /proc/cpuinfo ("flags" on x86, "Features" on Arm).
_REQUIRED: dict[Capability, frozenset[str]] = {
    Capability.AMX: frozenset({"amx_bf16", "amx_tile"}),
    Capability.AVX512_BF16: frozenset({"avx512_bf16"}),
    Capability.ARM_BF16: frozenset({"bf16"}),
    Capability.NONE: frozenset(),
}
_ARCH: dict[Capability, str] = {
    Capability.AMX: "x86_64",
    Capability.AVX512_BF16: "x86_64",
    Capability.ARM_BF16: "aarch64",
    Capability.NONE: "",
}

#: Flags relevant to bf16 and its fallbacks; recorded in the machine fingerprint.
BF16_FLAGS: frozenset[str] = frozenset(
    {
        "amx_bf16",
        "amx_tile",
        "amx_int8",
        "amx_fp16",
        "avx512_bf16",
        "avx512_fp16",
        "avx512_vnni",
        "avx512f",
        "avx512bw",
        "avx_vnni",
        "bf16",
        "svebf16",
        "sve",
    }
)


@dataclass(frozen=True)
class CpuInfo:
    """What ``/proc/cpuinfo`` says about the CPU.

    Attributes:
        source: the file the text came from (for error messages and headers).
        arch: ``x86_64`` (an x86 ``flags`` line) or ``aarch64`` (an Arm ``Features`` line).
        vendor: ``GenuineIntel``, ``AuthenticAMD``, or the Arm implementer code.
        model_name: the marketing name; on Arm, which has none, the core's name from its
            implementer and part (:func:`arm_part_name`).
        family, model, stepping: x86 family/model/stepping (Arm: architecture/part/revision),
            as written in the file.
        microcode: the microcode revision, ``None`` where not shown.
        flags: every flag of the first processor block.
        logical_cpus: processor blocks in the file, or ``siblings`` x sockets where that is
            more (captures often hold the first block only).
        sockets: distinct ``physical id`` values (1 when the file has none).
        siblings: logical CPUs per socket (``siblings``), ``None`` where not shown.
        cores_per_socket: physical cores per socket (``cpu cores``), ``None`` where not shown.
    """

    source: str
    arch: str
    vendor: str
    model_name: str
    family: str
    model: str
    stepping: str
    microcode: str | None
    flags: frozenset[str]
    logical_cpus: int
    sockets: int
    siblings: int | None
    cores_per_socket: int | None

    @property
    def smt(self) -> bool | None:
        """Whether simultaneous multithreading is on (two logical CPUs per core)."""
        if self.siblings is None or self.cores_per_socket is None:
            return None
        return self.siblings > self.cores_per_socket

    @property
    def capability(self) -> Capability:
        """The best bf16 level whose flags are all present."""
        for level in (Capability.AMX, Capability.AVX512_BF16, Capability.ARM_BF16):
            if _ARCH[level] == self.arch and _REQUIRED[level] <= self.flags:
                return level
        return Capability.NONE

    @property
    def bf16_flags(self) -> frozenset[str]:
        """The bf16-related subset of :attr:`flags`."""
        return self.flags & BF16_FLAGS


def bf16_level(info: CpuInfo) -> Capability:
    """The bf16 level that counts for ``info``'s architecture (Arm ``bf16``, x86 AVX512-BF16)."""
    return Capability.ARM_BF16 if info.arch == "aarch64" else Capability.AVX512_BF16


def why_no_bf16(info: CpuInfo) -> str | None:
    """Why ``info`` has no bf16 hardware at all, naming its own architecture's flag."""
    return why_not(info, bf16_level(info))


def why_not(info: CpuInfo, level: Capability) -> str | None:
    """Say why ``info`` does not reach ``level``, or return ``None`` when it does.

    >>> # e.g. "Intel(R) Xeon(R) ... lacks avx512_bf16 (needed for avx512_bf16)"
    """
    if level is Capability.NONE:
        return None
    name = info.model_name or f"{info.vendor} CPU"
    if _ARCH[level] != info.arch:
        return f"{name} is {info.arch}; {level.value} needs an {_ARCH[level]} CPU"
    missing = sorted(_REQUIRED[level] - info.flags)
    if not missing:
        return None
    return (
        f"{name} lacks {', '.join(missing)} in {info.source} (needed for {level.value});"
        " bf16 would be emulated or fall back to fp32 kernels"
    )


def _blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "processor" and current and "processor" in current:
            blocks.append(current)
            current = {}
        current[key] = value.strip()
    if current:
        blocks.append(current)
    return [b for b in blocks if "processor" in b]


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def parse_cpuinfo(text: str, source: str = "<text>") -> CpuInfo:
    """Parse ``/proc/cpuinfo`` text.

    Parameters
    ----------
    text:
        The file's contents: one block per logical CPU, ``key : value`` lines.
    source:
        Where the text came from, used in error messages.

    Raises
    ------
    CpuInfoError
        When no processor block with a ``flags`` (x86) or ``Features`` (Arm) line is found.
    """
    blocks = _blocks(text)
    if not blocks:
        raise CpuInfoError(f"{source}: no 'processor' entries; is this a /proc/cpuinfo file?")
    first = blocks[0]
    if "flags" in first:
        arch = "x86_64"
        flags = frozenset(first["flags"].split())
        vendor = first.get("vendor_id", "")
        family = first.get("cpu family", "")
        model = first.get("model", "")
        stepping = first.get("stepping", "")
    elif "features" in first:
        arch = "aarch64"
        flags = frozenset(first["features"].split())
        vendor = first.get("cpu implementer", "")
        family = first.get("cpu architecture", "")
        model = first.get("cpu part", "")
        stepping = first.get("cpu revision", "")
    else:
        raise CpuInfoError(
            f"{source}: the first processor entry has neither a 'flags' nor a 'Features' line"
        )
    physical_ids = {b["physical id"] for b in blocks if "physical id" in b}
    sockets = max(1, len(physical_ids))
    siblings = _int_or_none(first.get("siblings"))
    # A capture of the first block only still says how many logical CPUs a socket has.
    logical_cpus = max(len(blocks), (siblings or 0) * sockets)
    return CpuInfo(
        source=source,
        arch=arch,
        vendor=vendor,
        model_name=first.get("model name", "")
        or (arm_part_name(vendor, model) if arch == "aarch64" else ""),
        family=family,
        model=model,
        stepping=stepping,
        microcode=first.get("microcode"),
        flags=flags,
        logical_cpus=logical_cpus,
        sockets=sockets,
        siblings=siblings,
        cores_per_socket=_int_or_none(first.get("cpu cores")),
    )


def resolve_cpuinfo_path(option: str | None, environ: dict[str, str] | None = None) -> Path:
    """The cpuinfo file to read: the option, else ``$BF16PERF_CPUINFO``, else ``/proc/cpuinfo``."""
    env = os.environ if environ is None else environ
    if option:
        return Path(option)
    if env.get(CPUINFO_ENV):
        return Path(env[CPUINFO_ENV])
    return DEFAULT_CPUINFO


def read_cpuinfo(path: Path) -> CpuInfo:
    """Read and parse a cpuinfo file; every failure is a one-line :class:`CpuInfoError`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CpuInfoError(
            f"cpuinfo file {path} does not exist; pass an existing file to --perf-cpuinfo"
            f" or ${CPUINFO_ENV}, or leave both unset to read /proc/cpuinfo"
        ) from None
    except OSError as exc:
        raise CpuInfoError(f"cannot read cpuinfo file {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CpuInfoError(f"{path}: not text (not a /proc/cpuinfo capture)") from None
    return parse_cpuinfo(text, source=str(path))
