"""The hardware's peak: each ISA's theoretical FLOP per cycle per core, times the clock and
the cores a kernel ran on.  Pure: the clock is read by :mod:`bf16perf.machine.clock`, the
ISA comes from oneDNN's implementation name (``brg_conv_fwd:avx512_core_amx``).

A kernel's share of this peak says how far it is from the machine; its share of the peak
probe's rate (:class:`bf16perf.onednn.peak.Peak`, "oneDNN's best matmul here") says how
far it is from oneDNN's own best.  Each row is an upper bound where a part exists in two
forms (AVX-512 with one FMA unit or two: two is taken), so that no share of the hardware
peak exceeds 100% on a correct clock.  The table and its sources: docs/reports.md.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ISA_PEAKS", "IsaPeak", "hardware_gflops", "isa_row"]


@dataclass(frozen=True)
class IsaPeak:
    """One ISA's theoretical peak: ``flop_per_cycle`` per core in ``dtype`` (an FMA is
    two FLOP), and where the figure comes from."""

    name: str
    dtype: str
    flop_per_cycle: int
    source: str


_INTEL = "Intel 64 and IA-32 Architectures Optimization Reference Manual"
_AMD_ZEN3 = "AMD Software Optimization Guide for AMD Family 19h Processors (pub. 56665)"
_AMD_ZEN4 = "AMD Software Optimization Guide for the AMD Zen4 Microarchitecture (pub. 57647)"

#: Every row, by key (docs/reports.md, "The hardware's peak", is this table).
ISA_PEAKS: dict[str, IsaPeak] = {
    "avx2": IsaPeak(
        "AVX2 FMA",
        "fp32",
        32,
        f"two 256-bit FMA units x 8 fp32 lanes x 2 FLOP (Haswell and later, {_INTEL};"
        f" Zen 2 and Zen 3, {_AMD_ZEN3})",
    ),
    "avx512": IsaPeak(
        "AVX-512 FMA",
        "fp32",
        64,
        f"two 512-bit FMA units x 16 lanes x 2 FLOP (Xeon Gold 6xxx and Platinum, Skylake-SP"
        f" to Sapphire Rapids; parts with one unit reach half, 32: {_INTEL})",
    ),
    "avx512_bf16": IsaPeak(
        "AVX512-BF16",
        "bf16",
        128,
        f"VDPBF16PS on two 512-bit units: 16 fp32 lanes x 2 bf16 products x 2 FLOP x 2"
        f" (Cooper Lake, Sapphire Rapids; {_INTEL})",
    ),
    "amx_bf16": IsaPeak(
        "AMX-BF16",
        "bf16",
        1024,
        "TDPBF16PS: 1,024 bf16 FLOP per cycle per core (Intel Architecture Day 2021,"
        " Sapphire Rapids' AMX; 2,048 int8 operations)",
    ),
    "zen4_avx512": IsaPeak(
        "Zen 4 AVX-512 (double-pumped)",
        "fp32",
        32,
        f"512-bit operations on two 256-bit FMA pipes: the AVX2 rate ({_AMD_ZEN4})",
    ),
    "zen4_avx512_bf16": IsaPeak(
        "Zen 4 AVX512-BF16 (double-pumped)",
        "bf16",
        64,
        f"VDPBF16PS at twice the fp32 FMA rate on 256-bit pipes ({_AMD_ZEN4})",
    ),
}


def isa_row(impl: str, bf16: bool, zen4: bool = False) -> IsaPeak | None:
    """The row a oneDNN implementation runs at: ``impl`` its name (the ISA in it),
    ``bf16`` whether the kernel computes in bf16, ``zen4`` an AMD Zen 4 core (AVX-512 on
    256-bit units).  ``None`` where the ISA is not in the table (SSE, reference code)."""
    name = impl.lower()
    if bf16 and "amx" in name:
        return ISA_PEAKS["amx_bf16"]
    if "avx512" in name or "avx10" in name or "amx" in name:
        if bf16 and ("bf16" in name or "avx10" in name):
            return ISA_PEAKS["zen4_avx512_bf16" if zen4 else "avx512_bf16"]
        return ISA_PEAKS["zen4_avx512" if zen4 else "avx512"]  # bf16 converted to fp32
    if "avx2" in name:
        return ISA_PEAKS["avx2"]
    return None


def hardware_gflops(row: IsaPeak, ghz: float, cores: int) -> float:
    """The row's peak on ``cores`` cores at ``ghz``, in GFLOP/s."""
    return row.flop_per_cycle * ghz * max(1, cores)
