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
    """The peak a probe measured: ``gflops`` of a ``dtype`` matmul on ``impl`` (oneDNN's
    implementation, its ISA in the name; ``gemm_api`` for oneDNN's sgemm) on ``cores``
    cores, and what the probe cost."""

    dtype: str
    impl: str
    gflops: float
    cores: int
    cost_s: float = 0.0

    def label(self) -> str:
        cores = f"{self.cores} core" + ("s" if self.cores != 1 else "")
        return f"{self.dtype} matmul on {self.impl}, {cores}: {self.gflops:.1f} GFLOP/s"

    def to_dict(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "impl": self.impl,
            "gflops": self.gflops,
            "cores": self.cores,
            "cost_s": self.cost_s,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Peak:
        return cls(
            str(d["dtype"]),
            str(d["impl"]),
            float(d["gflops"]),
            int(d["cores"]),
            float(d.get("cost_s", 0.0)),
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
    rows: list[dict[str, Any]] = []
    gflop = ms = 0.0
    for name in COMPUTE_PARTS:
        part = profile.part(name)
        if part is None or part.gflops is None:
            continue
        gflop, ms = gflop + part.gflop, ms + part.flop_ms
        rows.append(_row(name, part.gflops, peak, part.main_impl))
    if len(rows) > 1:
        rows.append(_row("all compute", gflop / (ms / 1000.0), peak, "-"))
    return rows


def _row(name: str, gflops: float, peak: Peak, impl: str) -> dict[str, Any]:
    return {"part": name, "gflops": gflops, "share": gflops / peak.gflops, "impl": impl}


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
    return [f"share of peak ({measured.label()}, {measured.cost_s:.0f} s to measure):"] + [
        f"  {r['part']}: {r['gflops']:.1f} GFLOP/s, {r['share']:.0%} of peak"
        + (f" ({r['impl']})" if r["impl"] != "-" else "")
        for r in rows
    ]


def run_shares_of_peak(stored: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """:func:`shares_of_peak` of the lone-step profile a run's kernel proof keeps (as
    stored, with its peak), or ``None`` where the run has no profile or its peak was not
    measured."""
    peak = (stored or {}).get("peak") or {}
    if stored is None or not peak.get("gflops"):
        return None
    return shares_of_peak(Profile.from_dict(stored), Peak.from_dict(peak))
