"""Arm cores by the names users know: cpuinfo on Arm shows only implementer and part codes."""

from __future__ import annotations

__all__ = ["ARM_PARTS", "arm_part_name"]


# Arm CPUs name no model in cpuinfo: (implementer, part) -> the name users know, from the
# vendors' technical reference manuals (MIDR_EL1 fields).
ARM_PARTS: dict[tuple[str, str], str] = {
    ("0x41", "0xd08"): "ARM Cortex-A72",
    ("0x41", "0xd0b"): "ARM Cortex-A76",
    ("0x41", "0xd0c"): "ARM Neoverse-N1",
    ("0x41", "0xd40"): "ARM Neoverse-V1",
    ("0x41", "0xd41"): "ARM Cortex-A78",
    ("0x41", "0xd49"): "ARM Neoverse-N2",
    ("0x41", "0xd4f"): "ARM Neoverse-V2",
    ("0x41", "0xd84"): "ARM Neoverse-V3",
    ("0x41", "0xd8e"): "ARM Neoverse-N3",
    ("0x46", "0x001"): "Fujitsu A64FX",
    ("0x48", "0xd01"): "HiSilicon Kunpeng-920",
    ("0xc0", "0xac3"): "Ampere AmpereOne",
}


def arm_part_name(implementer: str, part: str) -> str:
    """The name of an Arm core from cpuinfo's ``CPU implementer`` and ``CPU part``."""
    known = ARM_PARTS.get((implementer.lower(), part.lower()))
    return known or f"Arm CPU (implementer {implementer}, part {part})"
