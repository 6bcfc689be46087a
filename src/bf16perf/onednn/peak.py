"""How far a profiled step's convolutions and matmuls are from this machine's peak.

Owns the peak (:class:`Peak`: the best GFLOP/s of one large matmul in a variant's data type
under its ISA cap, as a short probe measured it on the worker's cores) and each compute
part's share of it.  Pure: the probe that measures the peak is
:mod:`bf16perf.workloads.peak_run`'s, the work of a primitive :mod:`bf16perf.onednn.shapes`'.

Both sides are oneDNN's own time per primitive call: a convolution that runs on all of a
worker's cores is compared with a peak call on the same cores, and where the framework
calls oneDNN from several threads at once (TensorFlow's Eigen contractions call oneDNN's
sgemm on an AVX2 CPU), call for call as well.  A share well below 1 says the step's
shapes (small images, small batches) or its implementations leave the hardware idle; a
share that fell between two sessions says a kernel got slower, not the machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bf16perf.onednn.hardware import IsaPeak, hardware_gflops, isa_row
from bf16perf.onednn.kernels import Primitive
from bf16perf.onednn.shapes import flops_of
from bf16perf.onednn.step_profile import Profile

__all__ = [
    "COMPUTE_PARTS",
    "Peak",
    "no_share_why",
    "peak_of",
    "run_shares_of_peak",
    "share_lines",
    "shares_of_peak",
]

#: The parts of a step whose work is counted and set against the peak.
COMPUTE_PARTS = (
    "convolution forward",
    "convolution backward data",
    "convolution backward weights",
    "matmul",
)
_MATMUL_KINDS = ("matmul", "gemm_api", "inner_product")


@dataclass(frozen=True)
class Peak:
    """The peak a probe measured, "oneDNN's best matmul here": ``gflops`` of a ``dtype``
    matmul on ``impl`` (oneDNN's implementation, its ISA in the name; ``gemm_api`` for
    oneDNN's sgemm) on ``cores`` cores, and what the probe cost; with the clock the OS
    reports for those cores (``ghz``, read from ``clock``) and whether they are Zen 4's
    (``zen4``: AVX-512 on 256-bit units), for the hardware's peak
    (:mod:`bf16perf.onednn.hardware`)."""

    dtype: str
    impl: str
    gflops: float
    cores: int
    cost_s: float = 0.0
    ghz: float | None = None
    clock: str = ""
    zen4: bool = False

    def label(self) -> str:
        cores = f"{self.cores} core" + ("s" if self.cores != 1 else "")
        return (
            f"oneDNN's best matmul here: {self.dtype} on {self.impl}, {cores},"
            f" {self.gflops:.1f} GFLOP/s"
        )

    def hardware(self, impl: str, ghz: float | None = None) -> tuple[IsaPeak, float] | None:
        """The hardware's peak for a kernel of ``impl`` on these cores at ``ghz`` (this
        peak's clock by default); ``None``: no clock, or an ISA outside the table."""
        row = isa_row(impl, self.dtype == "bf16", self.zen4)
        ghz = ghz or self.ghz
        if row is None or not ghz:
            return None
        return row, hardware_gflops(row, ghz, self.cores)

    def proven_ghz(self, rates: Sequence[tuple[float, str]]) -> float | None:
        """The clock the hardware's peak is set at: the OS's, raised to the least clock
        that the measured ``rates`` (GFLOP/s, implementation) and this probe's prove at
        their ISA's FLOP per cycle (a VM reports its host's nominal clock while its cores
        boost), so that no share of the hardware's peak passes 100%."""
        if not self.ghz:
            return None
        ghz = self.ghz
        for gflops, impl in [(self.gflops, self.impl), *rates]:
            row = isa_row(impl, self.dtype == "bf16", self.zen4)
            if row is not None:
                ghz = max(ghz, gflops / (row.flop_per_cycle * max(1, self.cores)))
        return ghz

    def to_dict(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "impl": self.impl,
            "gflops": self.gflops,
            "cores": self.cores,
            "cost_s": self.cost_s,
            "ghz": self.ghz,
            "clock": self.clock,
            "zen4": self.zen4,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Peak:
        return cls(
            str(d["dtype"]),
            str(d["impl"]),
            float(d["gflops"]),
            int(d["cores"]),
            float(d.get("cost_s", 0.0)),
            float(d["ghz"]) if d.get("ghz") else None,
            str(d.get("clock") or ""),
            bool(d.get("zen4")),
        )


def peak_of(
    primitives: Iterable[Primitive], dtype: str, cores: int, cost_s: float = 0.0
) -> Peak | None:
    """The peak in a probe's primitives: among the matmul calls with the most work (at
    least half the largest's, since a framework may split one product into panels), the
    fastest; ``None`` where no timed matmul of a known shape ran in ``dtype`` (TensorFlow's
    Eigen turns a bf16 product into an fp32 sgemm where oneDNN has no bf16 kernels: not a
    bf16 peak)."""
    calls = []
    for prim in primitives:
        if prim.kind not in _MATMUL_KINDS or not prim.time_ms:
            continue
        if prim.is_bf16 != (dtype == "bf16"):
            continue
        flops = flops_of(prim.kind, prim.problem)
        if flops:
            calls.append((flops, flops / 1e9 / (prim.time_ms / 1000.0), prim.impl or prim.kind))
    if not calls:
        return None
    largest = max(f for f, _, _ in calls)
    _, gflops, impl = max((c for c in calls if c[0] >= largest / 2), key=lambda c: c[1])
    return Peak(dtype, impl, gflops, cores, cost_s)


def shares_of_peak(profile: Profile, peak: Peak) -> list[dict[str, Any]]:
    """Each compute part's achieved GFLOP/s and its share of ``peak``, in
    :data:`COMPUTE_PARTS` order, then ``all compute`` (their work over their time);
    parts whose work is unknown are left out."""
    rated: list[tuple[str, float, str]] = []
    gflop = ms = 0.0
    for name in COMPUTE_PARTS:
        part = profile.part(name)
        if part is None or part.gflops is None:
            continue
        gflop, ms = gflop + part.gflop, ms + part.flop_ms
        rated.append((name, part.gflops, part.main_impl))
    if len(rated) > 1:
        rated.append(("all compute", gflop / (ms / 1000.0), peak.impl))
    ghz = peak.proven_ghz([(g, impl) for _, g, impl in rated])
    rows = [_row(name, g, peak, impl, ghz) for name, g, impl in rated]
    if len(rows) > 1:
        rows[-1]["impl"] = "-"  # all compute: set against the probe's ISA
    return rows


def _row(name: str, gflops: float, peak: Peak, impl: str, ghz: float | None) -> dict[str, Any]:
    """A part's rate, its share of the probe's rate, and of the hardware's peak at the
    ISA its kernel ran on and the clock ``ghz`` (``None`` where not known)."""
    row: dict[str, Any] = {"part": name, "gflops": gflops, "share": gflops / peak.gflops}
    row.update(impl=impl, hardware_gflops=None, hardware_share=None, isa=None, ghz=ghz)
    hardware = peak.hardware(impl, ghz)
    if hardware is not None:
        isa, top = hardware
        row.update(hardware_gflops=top, hardware_share=gflops / top, isa=isa.name)
    return row


def no_share_why(peak: Mapping[str, Any] | None, rows: Sequence[object]) -> str | None:
    """Why a profile shows no share of peak (``peak`` as stored, ``rows`` its
    :func:`shares_of_peak`), or ``None`` where it shows one: the terminal's and the page's
    one wording."""
    if not peak or not peak.get("gflops"):
        return str((peak or {}).get("why", "not measured (no peak kept with the profile)"))
    if not rows:
        return "no convolution or matmul of a known shape in the lone step"
    return None


def share_lines(profile: Profile, peak: Mapping[str, Any] | None) -> list[str]:
    """The terminal's lines: the peak, then each compute part's rate and share of it; one
    line saying why where there is no peak or no counted work."""
    measured = Peak.from_dict(peak) if peak and peak.get("gflops") else None
    rows = shares_of_peak(profile, measured) if measured else []
    why = no_share_why(peak, rows)
    if why is not None or measured is None:
        return [f"share of peak: not available: {why}"]
    known = [r for r in rows if r.get("hardware_share") is not None]
    ghz = known[0].get("ghz") if known else None  # no ISA in the table: no hardware peak
    clock = ""
    if ghz and measured.ghz and ghz > measured.ghz * 1.001:
        clock = (
            f"; the hardware's at {ghz:.2f} GHz, the least clock these rates prove"
            f" ({measured.clock} says {measured.ghz:.2f} GHz)"
        )
    elif ghz:
        clock = f"; the hardware's at {ghz:.2f} GHz ({measured.clock})"
    head = f"share of peak ({measured.label()}, {measured.cost_s:.0f} s to measure{clock}):"
    return [head] + [f"  {r['part']}: {_share_words(r)}" for r in rows]


def _share_words(row: Mapping[str, Any]) -> str:
    """A part's rate and shares: of oneDNN's best matmul here, and of the hardware's peak."""
    words = f"{row['gflops']:.1f} GFLOP/s, {row['share']:.0%} of peak"
    if row.get("hardware_share") is not None:
        words += (
            f", {row['hardware_share']:.0%} of the hardware's {row['hardware_gflops']:.0f}"
            f" ({row['isa']})"
        )
    return words + (f" ({row['impl']})" if row["impl"] != "-" else "")


def run_shares_of_peak(stored: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """:func:`shares_of_peak` of the lone-step profile a run's kernel proof keeps (as
    stored, with its peak), or ``None`` where the run has no profile or its peak was not
    measured."""
    peak = (stored or {}).get("peak") or {}
    if stored is None or not peak.get("gflops"):
        return None
    return shares_of_peak(Profile.from_dict(stored), Peak.from_dict(peak))
